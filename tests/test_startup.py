"""Start-up stays light: the command line's help and the format list import neither numpy nor
h5py; TF.js -> TF.js and architecture-JSON work import neither h5py nor a framework (checked
in a fresh interpreter, where `import modelport` used to pull in every format module and
h5py)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from harness import assert_outputs_close, keras_module

HEAVY = {"h5py", "tensorflow", "keras", "tf_keras", "jax", "torch"}

# Runs argv lists through `python -m modelport` (runpy, as the console does), then reports
# which of the heavy modules got imported.
SCRIPT = """
import json, runpy, sys
heavy = set(json.loads(sys.argv[1]))
for argv in json.loads(sys.argv[2]):
    sys.argv = ["modelport", *argv]
    try:
        runpy.run_module("modelport", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        assert exc.code in (0, None), (argv, exc.code)
print("LOADED=" + json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def _loaded(*commands: list[str], heavy: set[str] = HEAVY) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(sorted(heavy)),
                           json.dumps(list(commands))],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = [x for x in proc.stdout.splitlines() if x.startswith("LOADED=")][-1]
    return json.loads(line[len("LOADED="):])


def test_import_and_help_load_nothing_heavy():
    proc = subprocess.run([sys.executable, "-c",
                           "import sys, modelport, modelport.cli; "
                           f"print(sorted(m for m in sys.modules if m.split('.')[0] in "
                           f"{sorted(HEAVY)!r}))"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert _loaded(["--help"], ["convert", "--help"], ["formats"]) == []


def test_help_and_formats_load_no_numpy():
    """`modelport --help` (and a command's) and `modelport formats` import numpy neither:
    the command line reads verify's defaults and the quantized dtypes from modules that need
    no array, and the format modules import numpy (and google_crc32c) where they use it."""
    loaded = _loaded(["--help"], ["convert", "--help"], ["verify", "--help"],
                     ["inspect", "--help"], ["formats"],
                     heavy={"numpy", "h5py", "google_crc32c"})
    assert loaded == []


def test_public_names_still_resolve():
    """The lazy package keeps `modelport.X`, `from modelport import X` and __all__."""
    import modelport
    from modelport import api, errors, model, verification
    from modelport import assemble as assemble_function
    from modelport import formats as formats_function
    from modelport.assemble import MismatchError

    assert formats_function is api.formats and modelport.formats is api.formats
    assert assemble_function is api.assemble and modelport.assemble is api.assemble
    for name in modelport.__all__:
        assert hasattr(modelport, name), name
    assert modelport.read is api.read and modelport.convert is api.convert
    assert modelport.MismatchError is MismatchError
    assert modelport.UnsupportedError is errors.UnsupportedError
    assert modelport.Weight is model.Weight and modelport.verify is verification.verify
    assert {row["name"] for row in modelport.formats()} >= {"tfjs_layers_model", "keras_h5"}


def test_tfjs_and_json_work_load_no_h5py(zoo_cache, tmp_path, run_tfjs):
    case = zoo_cache.get("tf_keras", "mlp")
    import modelport

    modelport.convert(case.path, tmp_path / "web")  # .h5 input: h5py, in this process
    tf_keras = keras_module("tf_keras")
    arch = tmp_path / "arch.json"
    arch.write_text(tf_keras.models.load_model(case.path, compile=False).to_json())
    loaded = _loaded(
        ["convert", str(tmp_path / "web" / "model.json"), str(tmp_path / "web2")],
        ["inspect", str(tmp_path / "web2")],
        ["convert", str(arch), str(tmp_path / "arch3.json"), "--to", "keras_json",
         "--keras", "3"],
        ["inspect", str(arch)],
    )
    assert loaded == []
    assert_outputs_close(run_tfjs(tmp_path / "web2" / "model.json", case.inputs), case.outputs,
                         what="TF.js")
    keras3 = keras_module("keras3")
    rebuilt = keras3.models.model_from_json((tmp_path / "arch3.json").read_text())
    assert [w.shape for w in rebuilt.weights] == [
        tuple(w.shape) for w in tf_keras.models.model_from_json(arch.read_text()).weights]
    assert np.isfinite(rebuilt.predict(case.inputs[0], verbose=0)).all()


def test_api_functions_win_over_submodules_of_the_same_name():
    """`modelport.assemble` and `modelport.formats` stay the API functions after the
    submodules of those names are imported (as when the package imported the API eagerly)."""
    script = ("import modelport, modelport.assemble, modelport.formats.record, "
              "modelport.registry, types; "
              "assert not isinstance(modelport.assemble, types.ModuleType), modelport.assemble; "
              "assert not isinstance(modelport.formats, types.ModuleType), modelport.formats; "
              "from modelport import assemble, formats; "
              "assert callable(assemble) and formats()[0]['name']; print('ok')")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_tensorflow_start_up_lines_are_silenced_unless_debug(tmp_path):
    """TensorFlow's C++ start-up lines (absl, oneDNN, CUDA drivers) go to file descriptor 2
    whatever TF_CPP_MIN_LOG_LEVEL says: a TF-backed convert (SavedModel -> graph model) shows
    none of them; --debug shows them."""
    import os

    import tensorflow as tf

    class Double(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
        def serve(self, x):
            return {"y": x * 2.0}

    module = Double()
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures={"serving_default": module.serve})
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",
                                                             "MODELPORT_DEBUG")}
    runs = {}
    for name, extra in (("quiet", []), ("debug", ["--debug"])):
        runs[name] = subprocess.run(
            [sys.executable, "-m", "modelport", "convert", str(tmp_path / "sm"),
             str(tmp_path / name), "--to", "tfjs_graph_model", *extra],
            capture_output=True, text=True, env=env, timeout=300)
        assert runs[name].returncode == 0, runs[name].stderr
        assert (tmp_path / name / "model.json").is_file()
    assert runs["quiet"].stderr == "", runs["quiet"].stderr
    assert runs["debug"].stderr.strip(), "--debug should let TensorFlow's start-up lines through"
