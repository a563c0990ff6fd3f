"""`modelport verify` and `convert --verify`: zoo conversions verified across every pair of
runtimes (tf_keras, Keras 3, TF.js on Node), failures when one weight of the converted file is
corrupted, inputs, tolerances, custom code, and the TF.js runtime's first-use install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

import modelport
from modelport import cli
from modelport.errors import ModelportError, UnsupportedError
from modelport.verification import node as verify_node

import harness
import zoo

TFJS_NAMES = [n for n in zoo.ZOO if n not in zoo.TFJS_SKIP]


@pytest.fixture(scope="session")
def tfjs_runtime(tmp_path_factory):
    """One TF.js runtime install for the session, in a cache folder of its own (the first
    verify with TF.js installs it)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("the TF.js runtime needs node and npm on PATH")
    cache = tmp_path_factory.mktemp("modelport_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELPORT_CACHE_DIR", str(cache))
        yield cache


def _convert(src: Path, dst: Path, **options) -> Path:
    modelport.convert(src, dst, **options)
    return dst


def _target(tmp_path: Path, kind: str) -> tuple[Path, dict]:
    """Output path and convert options for each kind of converted file."""
    return {
        "tfjs": (tmp_path / "web", {}),
        "keras3": (tmp_path / "converted.keras", {}),
        "tf_keras": (tmp_path / "converted.h5", {"keras": 2}),
    }[kind]


def _source(case: harness.SavedZooModel) -> Path:
    # Each library's own favourite file: tf_keras's .h5, Keras 3's .keras.
    return case.path if case.library == "tf_keras" else case.keras_path


def _assert_passed(result: modelport.VerifyResult, runtimes: tuple[str, str]) -> None:
    assert (result.a.runtime, result.b.runtime) == runtimes
    assert result.passed, result.render()
    assert result.outputs and all(o.max_abs_error <= 1e-5 for o in result.outputs)


# ---------------------------------------------------------------------------------------------
# Every zoo conversion, verified in the runtimes each file is meant for.


@pytest.mark.parametrize("name", TFJS_NAMES)
@pytest.mark.parametrize("library", harness.LIBRARIES)
def test_keras_to_tfjs_verifies(zoo_cache, tfjs_runtime, tmp_path, library, name):
    case = zoo_cache.get(library, name)
    web = _convert(_source(case), tmp_path / "web")
    result = modelport.verify(_source(case), web)
    _assert_passed(result, (library, "tfjs"))
    # The same numbers the library itself computed on its own inputs.
    again = modelport.verify(_source(case), web, inputs=case.inputs)
    _assert_passed(again, (library, "tfjs"))


@pytest.mark.parametrize("name", list(zoo.ZOO))
@pytest.mark.parametrize("library", harness.LIBRARIES)
def test_keras_between_libraries_verifies(zoo_cache, tmp_path, library, name):
    case = zoo_cache.get(library, name)
    other = "keras3" if library == "tf_keras" else "tf_keras"
    path, options = _target(tmp_path, other)
    try:
        converted = _convert(_source(case), path, **options)
    except UnsupportedError as exc:  # refused on purpose (e.g. a Keras-3-only computation)
        pytest.skip(f"conversion refused: {exc}")
    result = modelport.verify(_source(case), converted)
    _assert_passed(result, (library, other))


@pytest.mark.parametrize("name", ["mlp", "multi_io_shared", "embedding_lstm"])
def test_tfjs_native_models_verify_against_keras(tfjs_models, tfjs_runtime, tmp_path, name):
    """TF.js-written models as A (runtime tfjs) against their .h5 in both Keras runtimes."""
    names = {"multi_io_shared": "two_input_concat"}
    model_dir, inputs, _ = tfjs_models[names.get(name, name)]
    h5 = _convert(model_dir / "model.json", tmp_path / "back.h5")
    for runtime in ("tf_keras", "keras3"):
        result = modelport.verify(model_dir, h5, inputs=inputs, runtime_b=runtime)
        _assert_passed(result, ("tfjs", runtime))


def test_every_runtime_pair_on_one_model(zoo_cache, tfjs_runtime, tmp_path):
    """Each runtime on each side, runtimes forced: files a runtime cannot read itself are
    handed to it by modelport (and the table says so)."""
    case = zoo_cache.get("tf_keras", "multi_io_shared")
    web = _convert(case.path, tmp_path / "web")
    outputs = [o["name"] for o in modelport.inspect(case.path)["outputs"]]
    for runtime_a in ("tf_keras", "keras3", "tfjs"):
        for runtime_b in ("tf_keras", "keras3", "tfjs"):
            result = modelport.verify(case.path, web, runtime_a=runtime_a, runtime_b=runtime_b)
            _assert_passed(result, (runtime_a, runtime_b))
            assert [o.name for o in result.outputs] == outputs
            if runtime_a == "keras3":  # a Keras 2 .h5 goes to Keras 3 as a .keras file
                assert "written by modelport" in result.a.via
            if runtime_b == "tfjs":
                assert result.b.via == ""


# ---------------------------------------------------------------------------------------------
# Corrupted weights fail, naming the output.


def _corrupt_tfjs_weight(model_dir: Path, weight_name: str) -> None:
    document = json.loads((model_dir / "model.json").read_text())
    group = document["weightsManifest"][0]
    offset = 0
    for spec in group["weights"]:
        size = int(np.prod(spec["shape"])) * 4
        if spec["name"] == weight_name:
            break
        offset += size
    else:
        raise AssertionError(f"{weight_name} not in the manifest")
    shard = model_dir / group["paths"][0]
    data = bytearray(shard.read_bytes())
    value = np.frombuffer(bytes(data[offset:offset + 4]), "<f4")[0]
    data[offset:offset + 4] = np.float32(value + 0.5).tobytes()
    shard.write_bytes(bytes(data))


def _layer_weight(model: modelport.Model, layer_index: int, suffix: str) -> str:
    layer = list(model.weights)[layer_index]
    return next(w.name for w in model.weights[layer] if w.name.endswith(suffix))


@pytest.mark.parametrize("library", harness.LIBRARIES)
def test_corrupted_tfjs_weight_fails_naming_the_output(zoo_cache, tfjs_runtime, tmp_path,
                                                       library, capsys):
    case = zoo_cache.get(library, "multi_io_shared")
    web = _convert(_source(case), tmp_path / "web")
    with modelport.read(web) as model:
        # The last Dense (out2 = Dense(1)(mult)) feeds the second output only.
        outputs = [o["name"] for o in modelport.inspect(web)["outputs"]]
        kernel = next(w.name for layer in model.weights if layer == outputs[1]
                      for w in model.weights[layer] if w.name.endswith("kernel"))
    _corrupt_tfjs_weight(web, kernel)
    code = cli.main(["verify", str(_source(case)), str(web)])
    out = capsys.readouterr().out
    assert code == 1, out
    rows = {line.split()[0]: line for line in out.splitlines()
            if line.split() and line.split()[0] in outputs}
    assert rows[outputs[1]].rstrip().endswith("FAIL"), out
    assert rows[outputs[0]].rstrip().endswith("pass"), out
    assert f"FAIL: 1 of 2 output(s) differ: {outputs[1]}" in out
    # Where they part: the corrupted layer itself, found with every layer's output exposed.
    assert f"first layer whose outputs differ: '{outputs[1]}'" in out, out
    code = cli.main(["verify", str(_source(case)), str(web), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1 and document["first_diverging_layer"]["name"] == outputs[1]


def test_corrupted_h5_weight_fails(zoo_cache, tmp_path, capsys):
    case = zoo_cache.get("keras3", "cnn")
    h5 = _convert(case.keras_path, tmp_path / "cnn.h5", keras=2)
    with h5py.File(h5, "r+") as f:
        names = []
        f["model_weights"].visit(names.append)
        kernel = next(n for n in names if n.endswith("kernel:0") and "conv" in n)
        dataset = f["model_weights"][kernel]
        values = dataset[...]
        values.flat[0] += 1.0
        dataset[...] = values
    code = cli.main(["verify", str(case.keras_path), str(h5)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "FAIL" in out and out.strip().endswith(f"differ: {case_output(case)}"), out
    # The corrupted convolution, not the layers after it that inherit its error.
    assert f"first layer whose outputs differ: '{kernel.split('/')[0]}'" in out, out


def case_output(case: harness.SavedZooModel) -> str:
    return modelport.inspect(case.keras_path)["outputs"][0]["name"]


# ---------------------------------------------------------------------------------------------
# Inputs.


def test_inputs_from_npz_and_npy(zoo_cache, tmp_path):
    case = zoo_cache.get("tf_keras", "multi_io_shared")
    h5 = _convert(case.path, tmp_path / "k.keras")
    names = [i["name"] for i in modelport.inspect(case.path)["inputs"]]
    np.savez(tmp_path / "named.npz", **{names[1]: case.inputs[1], names[0]: case.inputs[0]})
    result = modelport.verify(case.path, h5, tmp_path / "named.npz")
    assert result.passed
    assert [i.shape for i in result.inputs] == [x.shape for x in case.inputs]
    assert result.inputs[0].source == f"named.npz['{names[0]}']"
    # Computed on exactly these arrays: A's outputs are the library's own on them.
    assert result.outputs[0].max_abs_error <= 1e-5
    np.savez(tmp_path / "positional.npz", *case.inputs)
    assert modelport.verify(case.path, h5, tmp_path / "positional.npz").passed

    single = zoo_cache.get("tf_keras", "cnn")
    np.save(tmp_path / "x.npy", single.inputs[0])
    result = modelport.verify(single.path, _convert(single.path, tmp_path / "c.keras"),
                              tmp_path / "x.npy")
    assert result.passed and result.inputs[0].shape == single.inputs[0].shape

    np.save(tmp_path / "wrong.npy", np.zeros((2, 3), np.float32))
    with pytest.raises(ModelportError, match=r"wrong.npy.*shape \(2, 3\).*takes"):
        modelport.verify(single.path, single.path, tmp_path / "wrong.npy")
    with pytest.raises(ModelportError, match="one array but the model has 2 inputs"):
        modelport.verify(case.path, case.path, tmp_path / "x.npy")


def test_generated_inputs_respect_vocabulary_batch_and_seed(zoo_cache, tmp_path):
    case = zoo_cache.get("keras3", "embedding_lstm")
    converted = _convert(case.keras_path, tmp_path / "e.h5", keras=2)
    result = modelport.verify(case.keras_path, converted, batch_size=64, seed=7)
    assert result.passed
    (info,) = result.inputs
    assert info.shape == (64, 6) and info.dtype == "int32"
    assert "integers in [0, 12)" in info.source and "seed 7" in info.source
    from modelport.verification.inputs import generate, specs_from_model

    with modelport.read(case.keras_path) as model:
        specs = specs_from_model(model)
    (values,), _ = generate(specs, 500, 7)
    assert values.min() == 0 and values.max() == 11  # the whole vocabulary, nothing beyond
    (again,), _ = generate(specs, 500, 7)
    assert np.array_equal(values, again)


# ---------------------------------------------------------------------------------------------
# Tolerances.


def test_quantized_tfjs_widens_the_tolerance(zoo_cache, tfjs_runtime, tmp_path, capsys):
    case = zoo_cache.get("tf_keras", "cnn")
    web = _convert(case.path, tmp_path / "web", quantize=_plan("uint8"))
    code = cli.main(["verify", str(case.path), str(web)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "widened because B has uint8-quantized weights" in out
    result = modelport.verify(case.path, web)
    assert result.tolerance.rtol > 1e-4
    # Quantization did move the outputs: at float32's tolerance they differ.
    assert result.outputs[0].max_abs_error > 1e-4
    assert cli.main(["verify", str(case.path), str(web), "--atol", "1e-5", "--rtol", "1e-4"]) == 1
    assert "tolerances as given, not widened" in capsys.readouterr().out


@pytest.mark.parametrize("dtype, names", [("uint8", TFJS_NAMES), ("uint16", ["cnn", "layer_norm"]),
                                          ("float16", ["cnn", "layer_norm"])])
def test_quantized_zoo_conversions_verify(zoo_cache, tfjs_runtime, tmp_path, dtype, names):
    """The widened tolerance admits what quantization does to every TF.js-runnable zoo model
    (the worst, cnn with uint8, uses about half of it), and not a corrupted weight."""
    for name in names:
        case = zoo_cache.get("tf_keras", name)
        web = _convert(case.path, tmp_path / name, quantize=_plan(dtype))
        result = modelport.verify(case.path, web, batch_size=32)
        assert result.passed, result.render()
        assert dtype in result.tolerance.widened_because
        assert all(o.max_abs_error <= 0.75 * o.atol for o in result.outputs), (
            result.render())
    with modelport.read(web) as model:
        first = next(model.all_weights()).name
    _corrupt_tfjs_weight(web, first)
    assert not modelport.verify(case.path, web, batch_size=32).passed


def _plan(dtype: str):
    from modelport.quantize import plan_from_flags

    return plan_from_flags({dtype: True})


# ---------------------------------------------------------------------------------------------
# Custom layers and Lambda.

CUSTOM_LAYER = textwrap.dedent("""
    import tf_keras as keras

    class Scale(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}
""")


def test_custom_objects(tmp_path, capsys):
    module = tmp_path / "my_layers.py"
    module.write_text(CUSTOM_LAYER)
    keras = harness.keras_module("tf_keras")
    namespace: dict = {}
    exec(compile(CUSTOM_LAYER, str(module), "exec"), namespace)  # the test's own code
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2),
                              namespace["Scale"](3.0)])
    model.save(tmp_path / "custom.h5")
    converted = _convert(tmp_path / "custom.h5", tmp_path / "custom.keras")
    code = cli.main(["verify", str(tmp_path / "custom.h5"), str(converted)])
    err = capsys.readouterr().err
    assert code == 2
    assert "custom class 'Scale'" in err and "--custom-objects" in err
    assert "Traceback" not in err
    code = cli.main(["verify", str(tmp_path / "custom.h5"), str(tmp_path / "custom.h5"),
                     "--custom-objects", str(module)])
    assert code == 0, capsys.readouterr()
    code = cli.main(["verify", str(tmp_path / "custom.h5"), str(tmp_path / "custom.h5"),
                     "--custom-objects", str(module), "--runtime-b", "tfjs"])
    err = capsys.readouterr().err
    assert code == 2 and "'Scale', which TF.js cannot build" in err


# Written as real packages write their layers: against `tensorflow.keras`, with its backend
# functions (textgenrnn's AttentionWeightedAverage is one).
TENSORFLOW_KERAS_LAYER = textwrap.dedent("""
    import tensorflow as tf
    from tensorflow.keras import backend as K
    from tensorflow.keras.layers import Layer

    class Attend(Layer):
        def build(self, input_shape):
            # tf.keras looked up when the layer is built, long after the module's import
            self.input_spec = tf.keras.layers.InputSpec(ndim=3)
            self.w = self.add_weight(shape=(input_shape[-1], 1), name="w",
                                     initializer="uniform")

        def call(self, x):
            weights = K.softmax(K.squeeze(K.dot(x, self.w), -1))
            return K.sum(x * K.expand_dims(weights), axis=1)
""")


def test_one_tensorflow_keras_module_serves_both_kerases(tmp_path):
    """A module written against `tensorflow.keras` is imported for each Keras verify runs (as
    TensorFlow resolves tf.keras by TF_USE_LEGACY_KERAS), so a tf_keras .h5 and its .keras
    copy verify with one --custom-objects; a module written on tf_keras's own classes is
    refused for the Keras 3 side in one line, before anything is loaded."""
    from modelport import keras_objects

    module = tmp_path / "attend.py"
    module.write_text(TENSORFLOW_KERAS_LAYER)
    import tensorflow

    before = sorted(k for k in sys.modules if k.startswith("tensorflow.keras"))
    attribute = tensorflow.__dict__.get("keras")
    classes = {lib: keras_objects.load_custom_objects(module, lib)["Attend"]
               for lib in ("tf_keras", "keras3")}
    assert {lib: keras_objects.class_library(c) for lib, c in classes.items()} == {
        "tf_keras": "tf_keras", "keras3": "keras3"}
    # The process's own tensorflow.keras is left as it was.
    assert sorted(k for k in sys.modules if k.startswith("tensorflow.keras")) == before
    assert sys.modules["tensorflow"] is tensorflow
    assert tensorflow.__dict__.get("keras") is attribute
    keras = harness.keras_module("tf_keras")
    model = keras.Sequential([keras.Input((5, 4)), keras.layers.Dense(4, name="d"),
                              classes["tf_keras"](name="attend")])
    zoo.seed_weights(model, 5)
    model.save(tmp_path / "attend.h5")
    x = np.random.default_rng(1).uniform(-1, 1, (3, 5, 4)).astype("float32")
    modelport.convert(tmp_path / "attend.h5", tmp_path / "attend.keras")
    # The SavedModel writer builds the model in tf_keras from the same module.
    modelport.convert(tmp_path / "attend.h5", tmp_path / "attend_saved",
                      to_format="tf_saved_model", custom_objects=module)
    for out, runtime in ((tmp_path / "attend.keras", "keras3"),
                         (tmp_path / "attend_saved", "tensorflow")):
        result = modelport.verify(tmp_path / "attend.h5", out, inputs=[x],
                                  custom_objects=module)
        _assert_passed(result, ("tf_keras", runtime))
    harness.assert_outputs_close(
        [np.asarray(keras.models.load_model(tmp_path / "attend.h5", compile=False,
                                            custom_objects={"Attend": classes["tf_keras"]})(x))],
        [harness.predict(model, [x])[0]], what="tf_keras")
    only_tf_keras = tmp_path / "tf_keras_layers.py"
    only_tf_keras.write_text(TENSORFLOW_KERAS_LAYER.replace("tensorflow.keras", "tf_keras"))
    with pytest.raises(UnsupportedError, match="define it on tf_keras's classes, which "
                       "keras3 cannot build from.*--runtime-b tf_keras"):
        modelport.verify(tmp_path / "attend.h5", tmp_path / "attend.keras",
                         custom_objects=only_tf_keras)


def test_lambda_needs_permission(tmp_path, capsys):
    keras = harness.keras_module("tf_keras")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda x: x * 2.0)])
    model.save(tmp_path / "lam.h5")
    code = cli.main(["verify", str(tmp_path / "lam.h5"), str(tmp_path / "lam.h5")])
    err = capsys.readouterr().err
    assert code == 2 and "is a Lambda" in err and "--allow-lambda" in err
    code = cli.main(["verify", str(tmp_path / "lam.h5"), str(tmp_path / "lam.h5"),
                     "--allow-lambda"])
    assert code == 0, capsys.readouterr()
    # A SavedModel's signature is traced: TensorFlow runs it without the Lambda's bytecode.
    model.save(str(tmp_path / "lam_saved"), save_format="tf")
    code = cli.main(["verify", str(tmp_path / "lam_saved"), str(tmp_path / "lam_saved")])
    assert code == 0, capsys.readouterr()


# ---------------------------------------------------------------------------------------------
# convert --verify, the CLI's refusals, Keras 3 backends, the TF.js runtime's install.


def test_convert_with_verify(zoo_cache, tfjs_runtime, tmp_path, capsys):
    case = zoo_cache.get("tf_keras", "gru")
    code = cli.main(["convert", str(case.path), str(tmp_path / "web"), "--verify"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "wrote" in out and "PASS: all 1 output(s)" in out
    code = cli.main(["convert", str(case.path), str(tmp_path / "w.h5"), "--verify",
                     "--weights-only"])
    assert code == 2 and "--verify" in capsys.readouterr().err
    assert not (tmp_path / "w.h5").exists()


def test_refusals(zoo_cache, tmp_path, capsys):
    case = zoo_cache.get("tf_keras", "mlp")
    _convert(case.path, tmp_path / "weights.h5", weights_only=True)
    assert cli.main(["verify", str(case.path), str(tmp_path / "weights.h5")]) == 2
    err = capsys.readouterr().err
    assert "weights.h5" in err and "needs a full model" in err
    assert cli.main(["verify", str(case.path), str(tmp_path / "missing.h5")]) == 2
    assert "missing.h5: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["verify", str(case.path), str(case.path), "--runtime-a", "pytorch"])
    assert cli.main(["verify", str(case.path), str(case.path), "--batch-size", "0"]) == 2


def test_keras3_backend_is_honoured(zoo_cache, tmp_path):
    """KERAS_BACKEND chooses Keras 3's backend: tensorflow runs; numpy (which needs jax, not
    installed here) is tried and refused in one line naming the variable."""
    case = zoo_cache.get("keras3", "mlp")
    command = [sys.executable, "-m", "modelport", "verify", str(case.keras_path),
               str(case.keras_path), "--runtime-b", "tf_keras", "--json"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, KERAS_BACKEND="tensorflow"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["a"]["runtime_version"].endswith("(tensorflow backend)")
    assert result["passed"] and result["outputs"][0]["max_abs_error"] <= 1e-5
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, KERAS_BACKEND="numpy"))
    assert proc.returncode == 2
    assert "KERAS_BACKEND=numpy" in proc.stderr and "Traceback" not in proc.stderr


def test_tfjs_runtime_installs_from_a_clean_cache(zoo_cache, tmp_path):
    """First use: @tensorflow/tfjs is installed into the cache with npm, then used."""
    case = zoo_cache.get("tf_keras", "conv1d")
    web = _convert(case.path, tmp_path / "web")
    cache = tmp_path / "fresh_cache"
    env = dict(os.environ, MODELPORT_CACHE_DIR=str(cache))
    command = [sys.executable, "-m", "modelport", "verify", str(case.path), str(web)]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"installing @tensorflow/tfjs {verify_node.TFJS_VERSION} into {cache}" in proc.stderr
    package = cache / f"tfjs-{verify_node.TFJS_VERSION}" / "node_modules" / "@tensorflow" / "tfjs"
    assert json.loads((package / "package.json").read_text())["version"] == \
        verify_node.TFJS_VERSION
    assert not [p for p in cache.iterdir() if p.name.endswith(".part")]
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0 and "installing" not in again.stderr
    assert "PASS" in again.stdout


def test_missing_node_is_one_line(zoo_cache, tmp_path):
    case = zoo_cache.get("tf_keras", "conv1d")
    web = _convert(case.path, tmp_path / "web")
    env = dict(os.environ, PATH=str(tmp_path / "empty"), MODELPORT_CACHE_DIR=str(tmp_path / "c"))
    proc = subprocess.run([sys.executable, "-m", "modelport", "verify", str(case.path),
                           str(web)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2
    assert "needs Node.js (node not found on PATH)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_report_from_the_command_line(zoo_cache, tmp_path, capsys):
    case = zoo_cache.get("tf_keras", "multi_io_shared")
    converted = _convert(case.path, tmp_path / "m.keras")
    report = tmp_path / "report.html"
    assert cli.main(["verify", str(case.path), str(converted), "--report", str(report)]) == 0
    page = report.read_text()
    outputs = [o["name"] for o in modelport.inspect(case.path)["outputs"]]
    assert "modelport verify: PASS" in page
    assert all(name in page for name in outputs)
    result = modelport.verify(case.path, converted)
    plotted = [o for o in result.outputs if o.max_abs_error > 0]
    assert page.count("data:image/png;base64,") == len(plotted)
    assert page.count("elements equal") == len(outputs) - len(plotted)
    capsys.readouterr()
    # An existing report is refused before any model runs.
    assert cli.main(["verify", str(case.path), str(converted), "--report", str(report)]) == 2
    captured = capsys.readouterr()
    assert "already exists" in captured.err and "PASS" not in captured.out


SAVED_MODEL_NAMES = ["mlp", "cnn", "multi_io_shared", "embedding_lstm"]


@pytest.mark.parametrize("name", SAVED_MODEL_NAMES)
@pytest.mark.parametrize("library", harness.LIBRARIES)
def test_saved_models_verify_in_tensorflow(zoo_cache, tfjs_runtime, tmp_path, library, name):
    """SavedModels written by each library (tf_keras `save(save_format="tf")`, Keras 3
    `export`) run through their serving signature in TensorFlow, against the Keras file and
    against the TF.js conversion."""
    case = zoo_cache.get(library, name)
    keras = harness.keras_module(library)
    model = keras.models.load_model(str(_source(case)), compile=False)
    saved = tmp_path / "saved_model"
    if library == "tf_keras":
        model.save(str(saved), save_format="tf")
    else:
        model.export(str(saved), verbose=False)
    result = modelport.verify(_source(case), saved)
    _assert_passed(result, (library, "tensorflow"))
    web = _convert(_source(case), tmp_path / "web")
    result = modelport.verify(saved, web, runtime_a="tensorflow")
    _assert_passed(result, ("tensorflow", "tfjs"))
    # modelport's own SavedModel output, and a Keras file handed to TensorFlow by modelport.
    written = _convert(_source(case), tmp_path / "written", to_format="tf_saved_model")
    _assert_passed(modelport.verify(_source(case), written), (library, "tensorflow"))
    forced = modelport.verify(web, _source(case), runtime_b="tensorflow")
    _assert_passed(forced, ("tfjs", "tensorflow"))
    assert "SavedModel written by modelport" in forced.b.via


@pytest.mark.parametrize("name", ["cnn", "multi_io_shared", "gru_reset_after"])
def test_graph_models_verify(zoo_cache, tfjs_runtime, tmp_path, name, capsys):
    """SavedModel -> graph model -> SavedModel, each step verified across TensorFlow and
    TF.js (graph models run with tf.loadGraphModel, inputs fed by signature key)."""
    case = zoo_cache.get("keras3", name)
    keras = harness.keras_module("keras3")
    saved = tmp_path / "exported"
    keras.models.load_model(str(case.keras_path), compile=False).export(str(saved),
                                                                         verbose=False)
    code = cli.main(["convert", str(saved), str(tmp_path / "graph"), "--to", "tfjs_graph_model",
                     "--verify"])
    out = capsys.readouterr().out
    assert code == 0 and "PASS" in out, out
    assert "in TensorFlow" in out and "(tfjs_graph_model) in TF.js" in out
    graph = tmp_path / "graph"
    _assert_passed(modelport.verify(case.keras_path, graph), ("keras3", "tfjs"))
    back = _convert(graph, tmp_path / "back")
    _assert_passed(modelport.verify(graph, back), ("tfjs", "tensorflow"))
    # A SavedModel without Keras metadata reaches TF.js as a graph model modelport writes.
    forced = modelport.verify(saved, case.keras_path, runtime_a="tfjs")
    _assert_passed(forced, ("tfjs", "keras3"))
    assert "graph model written by modelport" in forced.a.via
    quantized = _convert(saved, tmp_path / "graph8", to_format="tfjs_graph_model",
                         quantize=_plan("uint8"))
    result = modelport.verify(saved, quantized)
    assert result.passed and "uint8" in result.tolerance.widened_because, result.render()


def test_open_dimensions_too_small_suggest_inputs(tmp_path, capsys):
    """Five poolings shrink a generated 16x16 input to nothing: the runtime's failure comes
    with the size verify guessed and the way out (--inputs); with --inputs it passes."""
    import tf_keras

    layers = [tf_keras.Input((None, None, 3))]
    for _ in range(5):
        layers += [tf_keras.layers.Conv2D(2, 3, padding="same"), tf_keras.layers.MaxPool2D()]
    model = tf_keras.Sequential([*layers, tf_keras.layers.GlobalAveragePooling2D()])
    zoo.seed_weights(model, 1)
    model.save(tmp_path / "deep.h5")
    modelport.convert(tmp_path / "deep.h5", tmp_path / "deep.keras")
    args = ["verify", str(tmp_path / "deep.h5"), str(tmp_path / "deep.keras")]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "open dimensions 16" in err and "--inputs" in err, err
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((2, 64, 64, 3), "float32"))
    assert cli.main([*args, "--inputs", str(tmp_path / "x.npy")]) == 0, capsys.readouterr()


def test_a_fixed_batch_is_taken_from_the_model(tfjs_runtime, tmp_path):
    """A model whose inputs fix the batch (graph models often say [1, ...]) is fed that batch,
    not the default 8 that TF.js would refuse."""
    import tf_keras

    model = tf_keras.Sequential([tf_keras.Input((4,), batch_size=1),
                                 tf_keras.layers.Dense(3, name="d")])
    zoo.seed_weights(model, 4)
    model.save(tmp_path / "fixed.h5")
    modelport.convert(tmp_path / "fixed.h5", tmp_path / "web")
    result = modelport.verify(tmp_path / "fixed.h5", tmp_path / "web")
    assert result.passed and result.inputs[0].shape == (1, 4), result.render()


def test_sequential_without_input_layer_verifies(tfjs_runtime, tmp_path):
    """A Sequential saved by Keras <= 2.2 has no InputLayer: its first layer carries
    batch_input_shape and Keras names the implicit input `<first layer>_input`, as the graph
    model modelport writes does. verify feeds that name to every conversion."""
    import tf_keras

    model = tf_keras.Sequential([
        tf_keras.Input((7,)), tf_keras.layers.Embedding(30, 4, name="embedding_1"),
        tf_keras.layers.LSTM(5, name="lstm_1"), tf_keras.layers.Dense(3, name="dense_1")])
    zoo.seed_weights(model, 5)
    old = tmp_path / "old.h5"
    model.save(old)
    harness.as_old_sequential(old, "2.2.4", list_form=False)
    assert [i["name"] for i in modelport.inspect(old)["inputs"]] == ["embedding_1_input"]
    for target, options in ((tmp_path / "graph", {"to_format": "tfjs_graph_model"}),
                            (tmp_path / "web", {}), (tmp_path / "new.keras", {})):
        converted = _convert(old, target, **options)
        runtime = "keras3" if target.suffix == ".keras" else "tfjs"
        _assert_passed(modelport.verify(old, converted), ("tf_keras", runtime))
    x = np.random.default_rng(1).integers(0, 30, (4, 7)).astype("float32")
    np.savez(tmp_path / "x.npz", embedding_1_input=x)
    result = modelport.verify(old, tmp_path / "graph", inputs=tmp_path / "x.npz")
    _assert_passed(result, ("tf_keras", "tfjs"))
    assert [i.name for i in result.inputs] == ["embedding_1_input"]
