"""The conversion core runs without any ML framework: converting and inspecting must not
import TensorFlow, Keras, tf_keras, JAX or torch (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

FRAMEWORKS = {"tensorflow", "keras", "tf_keras", "jax", "jaxlib", "torch", "flax"}

SCRIPT = """
import json, sys
import modelport
from modelport.cli import main
src, work = sys.argv[1], sys.argv[2]
modelport.convert(src, work + "/web")
modelport.convert(work + "/web/model.json", work + "/back.h5")
modelport.inspect(work + "/back.h5")
assert main(["convert", work + "/back.h5", work + "/web2"]) == 0
assert main(["inspect", work + "/web2"]) == 0
loaded = sorted(m for m in sys.modules if m.split(".")[0] in set(json.loads(sys.argv[3])))
print("LOADED=" + json.dumps(loaded))
"""


def test_conversion_imports_no_framework(zoo_cache, tmp_path):
    case = zoo_cache.get("keras3", "bidirectional_lstm")
    args = [str(case.path), str(tmp_path), json.dumps(sorted(FRAMEWORKS))]
    proc = subprocess.run([sys.executable, "-c", SCRIPT, *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = [x for x in proc.stdout.splitlines() if x.startswith("LOADED=")][-1]
    assert json.loads(line[len("LOADED="):]) == []
    assert (tmp_path / "web2" / "model.json").is_file()
