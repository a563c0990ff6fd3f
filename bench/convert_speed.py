"""Wall time and peak memory of one conversion of the largest zoo model (tf_keras .h5 ->
TF.js and back), each as a ratio to `python -c "import tensorflow"` run in the same script:
the least any TensorFlow-based converter pays before it converts anything."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from common import measure  # noqa: E402

BUILD = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, sys.argv[2])
import tf_keras, zoo
best = max(zoo.ZOO, key=lambda n: zoo.ZOO[n](tf_keras).count_params())
model = zoo.ZOO[best](tf_keras)
model.save(sys.argv[1])
print(best, model.count_params())
"""


def main() -> None:
    import subprocess

    tests = Path(__file__).resolve().parent.parent / "tests"
    with tempfile.TemporaryDirectory() as tmp:
        h5 = Path(tmp) / "largest.h5"
        built = subprocess.run([sys.executable, "-c", BUILD, str(h5), str(tests)],
                               capture_output=True, text=True, check=True)
        name, params = built.stdout.split()[-2:]
        py = sys.executable
        rows = [
            ("python -c 'import tensorflow' (baseline)", [py, "-c", "import tensorflow"]),
            ("modelport convert .h5 -> TF.js",
             [py, "-m", "modelport", "convert", str(h5), f"{tmp}/web", "--overwrite"]),
            ("modelport convert TF.js -> .h5",
             [py, "-m", "modelport", "convert", f"{tmp}/web", f"{tmp}/back.h5", "--overwrite"]),
        ]
        print(f"largest zoo model: {name} ({params} parameters, {h5.stat().st_size} bytes)")
        base_wall = base_rss = None
        for label, command in rows:
            if label.startswith("modelport convert TF.js"):
                measure(rows[1][1], runs=1)  # make sure the TF.js input exists
            wall, rss = measure(command)
            base_wall = base_wall or wall
            base_rss = base_rss or rss
            print(f"{label:<45} wall {wall:6.3f} s ({wall / base_wall:5.2f}x)   "
                  f"peak RSS {rss:7.1f} MiB ({rss / base_rss:5.2f}x)")


if __name__ == "__main__":
    main()
