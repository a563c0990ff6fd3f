"""TensorFlow SavedModels (modelport.formats.saved_model, modelport.tensorflow): tf.keras
SavedModels converted without TensorFlow (to .h5 judged by Keras 3 and tf_keras, to TF.js judged
by TF.js), Keras files -> SavedModel judged by tf.saved_model.load, inspect on every kind of
SavedModel, the TF1-loader fallback, and the refusals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import modelport
from modelport.cli import main
from modelport.errors import UnsupportedError
from modelport.formats import saved_model

import tfjs
import zoo
from harness import ATOL, assert_outputs_close, keras_module, predict
from matrix import TfjsBatch

FRAMEWORKS = ["flax", "jax", "jaxlib", "keras", "tensorflow", "tf_keras", "torch"]
TFJS_NAMES = [name for name in zoo.ZOO if name not in zoo.TFJS_SKIP]
SRC = str(Path(__file__).resolve().parents[1] / "src")


def _tf():
    keras_module("tf_keras")  # sets the environment and quiets TensorFlow first
    import tensorflow as tf

    return tf


def _layer_names(tensors) -> list[str]:
    """The layers that produce `tensors` (model inputs: the InputLayers), in both Keras."""
    return [t._keras_history[0].name for t in tensors]


def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line, got: {err!r}"
    assert lines[0].startswith("modelport: error: "), lines[0]
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------------------ fixtures

class KerasSavedModels:
    """Zoo models saved by tf_keras as SavedModels (`model.save(dir, save_format="tf")` of the
    model loaded from the zoo's .h5), at most once per session."""

    def __init__(self, zoo_cache, root: Path):
        self.zoo_cache = zoo_cache
        self.root = root
        self._done: dict[str, Path] = {}
        self._lock = threading.Lock()

    def get(self, name: str):
        case = self.zoo_cache.get("tf_keras", name)
        with self._lock:
            if name not in self._done:
                tf_keras = keras_module("tf_keras")
                model = tf_keras.models.load_model(str(case.path), compile=False)
                folder = self.root / name
                # The traces of a bidirectional LSTM take 14 s to save and change nothing
                # modelport reads (same object graph, metadata and variables).
                model.save(str(folder), save_format="tf",
                           save_traces=name != "bidirectional_lstm")
                self._done[name] = folder
        return self._done[name], case


@pytest.fixture(scope="session")
def keras_saved_models(zoo_cache, tmp_path_factory) -> KerasSavedModels:
    return KerasSavedModels(zoo_cache, tmp_path_factory.mktemp("keras_saved_models"))


CONVERT_ALL = """
import json, sys
import modelport
jobs, frameworks = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
errors = {}
for name, src, out, to_tfjs in jobs:
    try:
        modelport.convert(src, out + "/model.h5")
        if to_tfjs:
            modelport.convert(src, out + "/web")
    except modelport.ModelportError as exc:
        errors[name] = str(exc)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in frameworks)
print("RESULT=" + json.dumps({"errors": errors, "loaded": loaded}))
"""


@pytest.fixture(scope="session")
def tf_free_conversions(keras_saved_models, tmp_path_factory):
    """Every zoo SavedModel converted to .h5 and (when TF.js can run it) to a TF.js folder in
    one fresh interpreter that must not import any ML framework: {name: output folder}, and
    the errors and frameworks seen there."""
    out_root = tmp_path_factory.mktemp("from_saved_model")
    jobs = []
    for name in zoo.ZOO:
        folder, _ = keras_saved_models.get(name)
        jobs.append((name, str(folder), str(out_root / name), name in TFJS_NAMES))
    proc = subprocess.run([sys.executable, "-c", CONVERT_ALL, json.dumps(jobs),
                           json.dumps(FRAMEWORKS)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT=")][-1]
    result = json.loads(line[len("RESULT="):])
    return {name: out_root / name for name in zoo.ZOO}, result


@pytest.fixture(scope="session")
def tfjs_outputs(tf_free_conversions, keras_saved_models, node_tfjs, tmp_path_factory):
    """TF.js's outputs for every TF.js-runnable zoo model converted from its SavedModel (one
    Node process for all)."""
    folders, _ = tf_free_conversions
    batch = TfjsBatch(tmp_path_factory.mktemp("tfjs_batch"), "saved_model")
    for name in TFJS_NAMES:
        _, case = keras_saved_models.get(name)
        batch.add(folders[name] / "web" / "model.json", case.inputs)
    batch.start()
    return dict(zip(TFJS_NAMES, batch.wait(), strict=True))


# ------------------------------------------------------------------------------ SavedModel -> Keras

def test_keras_saved_models_convert_without_any_framework(tf_free_conversions):
    _, result = tf_free_conversions
    assert result["errors"] == {}
    assert result["loaded"] == []


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_keras_saved_model_to_h5(name, tf_free_conversions, keras_saved_models):
    """tf.keras SavedModel -> .h5 (converted without TensorFlow): Keras 3 and tf_keras compute
    what the original tf_keras model did."""
    folders, result = tf_free_conversions
    assert name not in result["errors"], result["errors"][name]
    _, case = keras_saved_models.get(name)
    for consumer in ("keras3", "tf_keras"):
        model = keras_module(consumer).models.load_model(str(folders[name] / "model.h5"),
                                                          compile=False)
        assert_outputs_close(predict(model, case.inputs), case.outputs, ATOL,
                             what=f"{consumer} on .h5 from the SavedModel")


@pytest.mark.parametrize("name", TFJS_NAMES)
def test_keras_saved_model_to_tfjs(name, tfjs_outputs, keras_saved_models):
    result = tfjs_outputs[name]
    assert "error" not in result, result["error"]
    _, case = keras_saved_models.get(name)
    outputs = [tfjs._decode(entry) for entry in result["outputs"]]
    assert_outputs_close(outputs, case.outputs, 1e-4, what="TF.js on the converted model")


def test_read_gives_keras_names_and_order(keras_saved_models):
    """Weights come out named and ordered as the .h5 of the same model has them (trainable
    first: BatchNormalization's moving statistics last), with the same values."""
    folder, case = keras_saved_models.get("cnn")
    with modelport.read(case.path) as reference, modelport.read(folder) as model:
        assert model.metadata.source_format == "tf_saved_model"
        assert list(model.weights) == list(reference.weights)
        for layer, weights in reference.weights.items():
            got = model.weights[layer]
            assert [w.name for w in got] == [w.name for w in weights]
            assert [w.trainable for w in got] == [w.trainable for w in weights]
            for mine, theirs in zip(got, weights, strict=True):
                np.testing.assert_array_equal(mine.read(), theirs.read())


@pytest.mark.parametrize("save_traces", [True, False], ids=["traces", "no_traces"])
def test_nested_model_weight_order(save_traces, tmp_path):
    """A nested model whose BatchNormalization precedes a Dense: Keras lists the Dense's
    weights before the moving statistics, a checkpoint (save_traces=False) in creation order."""
    tf_keras = keras_module("tf_keras")
    layers = tf_keras.layers
    inner = tf_keras.Sequential([tf_keras.Input((4,)), layers.Dense(5), layers.BatchNormalization(),
                                 layers.Dense(3)], name="inner")
    inputs = tf_keras.Input((4,))
    model = tf_keras.Model(inputs, layers.Dense(2)(inner(inputs)))
    zoo.seed_weights(model, 7)
    x = zoo.make_inputs(model)
    model.save(str(tmp_path / "sm"), save_format="tf", save_traces=save_traces)
    modelport.convert(tmp_path / "sm", tmp_path / "out.h5")
    for consumer in ("tf_keras", "keras3"):
        loaded = keras_module(consumer).models.load_model(str(tmp_path / "out.h5"),
                                                          compile=False)
        assert_outputs_close(predict(loaded, x), predict(model, x), what=consumer)


def _by_name(outputs, names: list[str]) -> list[np.ndarray]:
    """A dict-output model's outputs in `names` order (a list: already in model order)."""
    return [np.asarray(outputs[n]) for n in names] if isinstance(outputs, dict) else [
        np.asarray(o) for o in outputs]


def test_object_graph_numbered_differently_from_the_config(tmp_path):
    """tf_keras numbers the root's 'layer-N' objects in its `model.layers` order; with dict
    outputs (keys flattened sorted) that differs from the config's output order that
    modelport's layer order follows. Layers are found by the object graph's own names:
    inspect and every conversion work, and compute what the model did."""
    tf_keras = keras_module("tf_keras")
    layers = tf_keras.layers
    inputs = tf_keras.Input((4,), name="x")
    hidden = layers.Dense(5, name="hidden")(inputs)
    model = tf_keras.Model(inputs, {"zeta": layers.Dense(2, name="zeta")(hidden),
                                    "alpha": layers.Dense(3, name="alpha")(hidden)})
    zoo.seed_weights(model, 4)
    assert [layer.name for layer in model.layers][2:] == ["alpha", "zeta"]
    model.save(str(tmp_path / "sm"), save_format="tf")
    x = np.random.default_rng(0).standard_normal((3, 4)).astype("float32")
    expected = _by_name(model(x, training=False), ["zeta", "alpha"])
    summary = modelport.inspect(tmp_path / "sm")
    assert [o["name"] for o in summary["outputs"]] == ["zeta", "alpha"]
    params = {layer["name"]: layer["params"] for layer in summary["layers"]}
    assert params == {"x": 0, "hidden": 25, "zeta": 12, "alpha": 18}
    modelport.convert(tmp_path / "sm", tmp_path / "out.h5")
    for consumer in ("tf_keras", "keras3"):
        loaded = keras_module(consumer).models.load_model(str(tmp_path / "out.h5"),
                                                          compile=False)
        assert_outputs_close(_by_name(loaded(x, training=False), ["zeta", "alpha"]),
                             expected, what=consumer)
    modelport.convert(tmp_path / "sm", tmp_path / "out.keras")
    loaded = keras_module("keras3").models.load_model(str(tmp_path / "out.keras"))
    assert_outputs_close(_by_name(loaded(x, training=False), ["zeta", "alpha"]), expected,
                         what="Keras 3 on .keras")


def _reverse_outputs_in_metadata(folder: Path) -> None:
    """Reverse the root's output_layers in keras_metadata.pb: the config now orders the
    layers (by Keras's own rule, `map_graph` from the outputs) differently from the object
    graph's 'layer-N' numbering, as a TF 2.4 SavedModel can."""
    _tf()
    from tf_keras.protobuf import saved_metadata_pb2

    metadata = saved_metadata_pb2.SavedMetadata()
    metadata.ParseFromString((folder / "keras_metadata.pb").read_bytes())
    root = next(node for node in metadata.nodes if node.node_id == 0)
    info = json.loads(root.metadata)
    for config in (info.get("config"), (info.get("model_config") or {}).get("config")):
        if config is not None:
            config["output_layers"] = config["output_layers"][::-1]
    root.metadata = json.dumps(info)
    (folder / "keras_metadata.pb").write_bytes(metadata.SerializeToString())


def test_layers_are_found_by_the_object_graphs_names(tmp_path):
    """The root's 'layer-N' children are matched to the config's layers by the name in each
    object's metadata, not by position: a config whose layer order differs from the
    numbering reads with every layer's own weights."""
    tf_keras = keras_module("tf_keras")
    layers = tf_keras.layers
    inputs = tf_keras.Input((4,), name="x")
    hidden = layers.Dense(5, name="hidden")(inputs)
    model = tf_keras.Model(inputs, [layers.Dense(2, name="zeta")(hidden),
                                    layers.Dense(3, name="alpha")(hidden)])
    zoo.seed_weights(model, 6)
    assert [layer.name for layer in model.layers][2:] == ["zeta", "alpha"]
    model.save(str(tmp_path / "sm"), save_format="tf")
    _reverse_outputs_in_metadata(tmp_path / "sm")
    x = np.random.default_rng(1).standard_normal((3, 4)).astype("float32")
    zeta, alpha = predict(model, [x])
    summary = modelport.inspect(tmp_path / "sm")
    assert [o["name"] for o in summary["outputs"]] == ["alpha", "zeta"]
    for target in ("out.h5", "out.keras"):
        modelport.convert(tmp_path / "sm", tmp_path / target)
        consumers = ("tf_keras", "keras3") if target.endswith(".h5") else ("keras3",)
        for consumer in consumers:
            loaded = keras_module(consumer).models.load_model(str(tmp_path / target),
                                                              compile=False)
            assert_outputs_close(predict(loaded, [x]), [alpha, zeta],
                                 what=f"{consumer} on {target}")


def _move_metadata_into_saved_model_pb(folder: Path) -> None:
    """Rewrite a tf_keras SavedModel into the form tf.keras wrote before TF 2.5: each Keras
    object's metadata in its SavedUserObject.metadata, and no keras_metadata.pb."""
    _tf()
    from tensorflow.core.protobuf import saved_model_pb2
    from tf_keras.protobuf import saved_metadata_pb2

    metadata = saved_metadata_pb2.SavedMetadata()
    metadata.ParseFromString((folder / "keras_metadata.pb").read_bytes())
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((folder / "saved_model.pb").read_bytes())
    nodes = proto.meta_graphs[0].object_graph_def.nodes
    for node in metadata.nodes:
        assert nodes[node.node_id].user_object.identifier == node.identifier
        nodes[node.node_id].user_object.metadata = node.metadata
    (folder / "saved_model.pb").write_bytes(proto.SerializeToString())
    (folder / "keras_metadata.pb").unlink()


@pytest.mark.parametrize("name", ["multi_io_shared", "nested_sequential"])
def test_metadata_inside_saved_model_pb(name, keras_saved_models, tmp_path):
    """The pre-TF 2.5 form (no TF that writes it installs on Python 3.11, so a real tf_keras
    SavedModel is rewritten into it; tf_keras's own loader for that form must accept it)."""
    folder, case = keras_saved_models.get(name)
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    _move_metadata_into_saved_model_pb(old)
    tf_keras = keras_module("tf_keras")
    assert_outputs_close(predict(tf_keras.models.load_model(str(old), compile=False),
                                 case.inputs), case.outputs, what="tf_keras on the old form")
    assert modelport.inspect(old)["saved_model"]["keras_metadata"] == "saved_model.pb"
    modelport.convert(old, tmp_path / "out.h5")
    model = keras_module("keras3").models.load_model(str(tmp_path / "out.h5"), compile=False)
    assert_outputs_close(predict(model, case.inputs), case.outputs, what="Keras 3")


# ------------------------------------------------------------------------------ Keras -> SavedModel

TO_SAVED_MODEL = (
    [pytest.param("tf_keras", name, ".h5", id=f"tf_keras-{name}-h5") for name in zoo.ZOO]
    + [pytest.param("keras3", name, ".keras", id=f"keras3-{name}-keras") for name in zoo.ZOO]
    + [pytest.param(lib, name, ext, id=f"{lib}-{name}-{ext[1:]}")
       for lib, ext in (("keras3", ".h5"), ("tf_keras", ".keras"))
       for name in ("multi_io_shared", "nested_sequential_twice", "embedding_lstm")]
)


@pytest.mark.parametrize("library, name, ext", TO_SAVED_MODEL)
def test_keras_to_saved_model(library, name, ext, zoo_cache, tmp_path):
    """The serving_default signature takes the model's inputs by input layer name, returns its
    outputs by output layer name, and computes what the original did."""
    tf = _tf()
    case = zoo_cache.get(library, name)
    source = case.path.with_suffix(ext)
    original = keras_module(library).models.load_model(str(source), compile=False)
    input_names = _layer_names(original.inputs)
    output_names = _layer_names(original.outputs)
    dst = tmp_path / "serving"
    written = modelport.convert(source, dst, to_format="tf_saved_model")
    assert (dst / "saved_model.pb").is_file() and (dst / "variables").is_dir()
    assert set(written) == {p for p in dst.rglob("*") if p.is_file()}
    assert not [p for p in tmp_path.iterdir() if p.name != "serving"], "temporary left over"
    function = tf.saved_model.load(str(dst)).signatures["serving_default"]
    assert sorted(function.structured_input_signature[1]) == sorted(input_names)
    assert sorted(function.structured_outputs) == sorted(output_names)
    outputs = function(**{n: tf.constant(x) for n, x in zip(input_names, case.inputs,
                                                             strict=True)})
    assert_outputs_close([outputs[n].numpy() for n in output_names], case.outputs,
                         what="tf.saved_model.load")


def test_dict_outputs_keep_their_keys(tmp_path):
    """A model built with a dict of outputs (basic-pitch's: contour / note / onset) returns
    that dict: the signature is keyed by it, and each output computes what the original's
    does."""
    tf = _tf()
    tf_keras = keras_module("tf_keras")
    x = tf_keras.Input((4,), name="x")
    hidden = tf_keras.layers.Dense(3, name="hidden")(x)
    model = tf_keras.Model(x, {"onset": tf_keras.layers.Dense(2, name="onset_head")(hidden),
                               "note": tf_keras.layers.Dense(1, name="note_head")(hidden)})
    zoo.seed_weights(model, 4)
    model.save(tmp_path / "dict.h5")
    modelport.convert(tmp_path / "dict.h5", tmp_path / "sm", to_format="tf_saved_model")
    function = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"]
    assert sorted(function.structured_outputs) == ["note", "onset"]
    data = np.random.default_rng(0).uniform(-1, 1, (3, 4)).astype("float32")
    got = function(x=tf.constant(data))
    expected = model(data)
    for key in ("note", "onset"):
        assert_outputs_close([got[key].numpy()], [expected[key].numpy()], what=key)
    assert modelport.verify(tmp_path / "dict.h5", tmp_path / "sm").passed


def test_written_saved_model_reads_back_as_keras(zoo_cache, tmp_path):
    """modelport's SavedModel keeps the Keras metadata: tf_keras loads it as a Keras model and
    modelport converts it back to .h5 without TensorFlow."""
    case = zoo_cache.get("keras3", "multi_io_shared")
    modelport.convert(case.keras_path, tmp_path / "sm", to_format="tf_saved_model")
    model = keras_module("tf_keras").models.load_model(str(tmp_path / "sm"), compile=False)
    assert_outputs_close(predict(model, case.inputs), case.outputs, what="tf_keras")
    modelport.convert(tmp_path / "sm", tmp_path / "back.h5")
    back = keras_module("keras3").models.load_model(str(tmp_path / "back.h5"), compile=False)
    assert_outputs_close(predict(back, case.inputs), case.outputs, what="Keras 3")


def test_existing_output_needs_overwrite(zoo_cache, tmp_path, capsys):
    case = zoo_cache.get("tf_keras", "mlp")
    dst = tmp_path / "sm"
    dst.mkdir()
    (dst / "keep.txt").write_text("mine")
    code, _, err = _cli(["convert", str(case.path), str(dst), "--to", "tf_saved_model"], capsys)
    assert code == 2
    assert "already exists" in _error_line(err) and "--overwrite" in err
    assert [p.name for p in dst.iterdir()] == ["keep.txt"]
    code, _, err = _cli(["convert", str(case.path), str(dst), "--to", "tf_saved_model",
                         "--overwrite"], capsys)
    assert code == 0, err
    assert not (dst / "keep.txt").exists() and (dst / "saved_model.pb").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sm"], "temporary left over"


def test_lambda_layer_is_refused(tmp_path, capsys):
    tf_keras = keras_module("tf_keras")
    inputs = tf_keras.Input((3,))
    outputs = tf_keras.layers.Lambda(lambda x: x * 2.0, name="double")(inputs)
    tf_keras.Model(inputs, outputs).save(str(tmp_path / "lambda.h5"))
    code, _, err = _cli(["convert", str(tmp_path / "lambda.h5"), str(tmp_path / "sm"),
                         "--to", "tf_saved_model"], capsys)
    assert code == 2
    line = _error_line(err)
    assert "'double' is a Lambda layer" in line and "never executes code" in line
    assert not (tmp_path / "sm").exists()


MISSING_TF = """
import sys
sys.modules["tensorflow"] = None  # as if TensorFlow were not installed
import modelport
try:
    modelport.convert(sys.argv[1], sys.argv[2], to_format="tf_saved_model")
except modelport.MissingExtraError as exc:
    print("MISSING=" + str(exc))
"""


def test_missing_tensorflow_names_the_extra(zoo_cache, tmp_path):
    case = zoo_cache.get("tf_keras", "mlp")
    proc = subprocess.run([sys.executable, "-c", MISSING_TF, str(case.path),
                           str(tmp_path / "sm")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("MISSING=")
    assert proc.stdout.rstrip().endswith(
        "TensorFlow is not installed: pip install 'modelport[tensorflow]'")
    assert not (tmp_path / "sm").exists()


# ------------------------------------------------------------------------------ other SavedModels

def _module_saved_model(folder: Path) -> None:
    """A plain tf.Module with a serving signature: no Keras anywhere."""
    tf = _tf()

    class Affine(tf.Module):
        def __init__(self):
            super().__init__()
            self.kernel = tf.Variable(np.arange(6, dtype=np.float32).reshape(3, 2) / 10)
            self.bias = tf.Variable(np.array([0.5, -0.5], dtype=np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="features")])
        def serve(self, features):
            return {"scores": tf.nn.relu(tf.matmul(features, self.kernel) + self.bias)}

    module = Affine()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})


def _tf1_saved_model(folder: Path) -> np.ndarray:
    """A TF1-style SavedModel (graph mode, SavedModelBuilder): no object graph at all.
    Returns its weight."""
    tf = _tf()
    weight = np.array([[1.0, -2.0], [0.5, 0.25], [-1.0, 3.0]], dtype=np.float32)
    with tf.Graph().as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
        w = tf.compat.v1.get_variable("w", initializer=weight)
        y = tf.nn.relu(tf.matmul(x, w), name="y")
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(str(folder))
            signature = tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"y": y})
            builder.add_meta_graph_and_variables(
                session, ["serve"], signature_def_map={"serving_default": signature})
            builder.save()
    return weight


def _signature(summary: dict, name: str) -> dict:
    return next(s for s in summary["saved_model"]["signatures"] if s["name"] == name)


def test_inspect_tf_keras_saved_model(keras_saved_models, capsys):
    folder, case = keras_saved_models.get("mlp")
    tf_keras = keras_module("tf_keras")
    original = tf_keras.models.load_model(str(case.path), compile=False)
    summary = modelport.inspect(folder)
    details = summary["saved_model"]
    assert details["keras_metadata"] == "keras_metadata.pb" and details["tags"] == ["serve"]
    assert summary["model_class"] == "Sequential"
    serving = _signature(summary, "serving_default")
    assert [(t["name"], t["dtype"], t["shape"]) for t in serving["inputs"]] == [
        (_layer_names(original.inputs)[0], "float32", [None, 6])]
    assert [(t["name"], t["shape"]) for t in serving["outputs"]] == [
        (_layer_names(original.outputs)[0], [None, 3])]
    assert details["ops"]["MatMul"] >= 3 and details["ops"]["Softmax"] >= 1
    assert details["variable_count"] == 6  # loaded without compiling: no optimizer state
    code, out, err = _cli(["inspect", str(folder)], capsys)
    assert code == 0, err
    assert "serving_default  input" in out and "MatMul" in out and "(?, 6)" in out
    assert "Dense" in out  # the Keras layer table too


def test_inspect_keras3_export(zoo_cache, tmp_path, capsys):
    case = zoo_cache.get("keras3", "cnn")
    model = keras_module("keras3").models.load_model(str(case.keras_path), compile=False)
    model.export(str(tmp_path / "exported"), verbose=False)
    summary = modelport.inspect(tmp_path / "exported")
    details = summary["saved_model"]
    assert details["keras_metadata"] is None and summary["model_class"] is None
    for name in ("serve", "serving_default"):
        signature = _signature(summary, name)
        assert [t["shape"] for t in signature["inputs"]] == [[None, 8, 8, 2]]
        assert [t["shape"] for t in signature["outputs"]] == [[None, 3]]
    assert details["ops"].get("Conv2D", 0) >= 2 and details["ops"].get("MatMul", 0) >= 1
    code, out, err = _cli(["inspect", str(tmp_path / "exported")], capsys)
    assert code == 0, err
    assert "Keras metadata: none" in out and "Conv2D" in out
    code, _, err = _cli(["convert", str(tmp_path / "exported"), str(tmp_path / "out.h5")],
                        capsys)
    assert code == 2
    line = _error_line(err)
    assert "not a Keras SavedModel" in line and "--to tfjs_graph_model" in line
    assert not (tmp_path / "out.h5").exists()


def test_tf_module_saved_model(tmp_path, capsys):
    folder = tmp_path / "module"
    _module_saved_model(folder)
    summary = modelport.inspect(folder)
    serving = _signature(summary, "serving_default")
    assert [(t["name"], t["dtype"], t["shape"]) for t in serving["inputs"]] == [
        ("features", "float32", [None, 3])]
    assert [(t["name"], t["shape"]) for t in serving["outputs"]] == [("scores", [None, 2])]
    details = summary["saved_model"]
    assert details["ops"]["MatMul"] == 1 and details["ops"]["Relu"] == 1
    assert (details["variable_count"], details["variable_bytes"]) == (2, 24 + 8)
    code, _, err = _cli(["convert", str(folder), str(tmp_path / "out.h5")], capsys)
    assert code == 2
    assert "not a Keras SavedModel" in _error_line(err)
    with pytest.raises(UnsupportedError, match="tfjs_graph_model"):
        modelport.read(folder / "saved_model.pb")


def test_keras_model_saved_by_tf_saved_model_save(zoo_cache, tmp_path, capsys):
    case = zoo_cache.get("tf_keras", "mlp")
    tf = _tf()
    model = keras_module("tf_keras").models.load_model(str(case.path), compile=False)
    tf.saved_model.save(model, str(tmp_path / "plain"))
    code, _, err = _cli(["convert", str(tmp_path / "plain"), str(tmp_path / "out.h5")], capsys)
    assert code == 2
    assert "tf.saved_model.save" in _error_line(err) and "tfjs_graph_model" in err


def test_tf1_saved_model(tmp_path):
    """SavedModelBuilder output: inspect reads it, load_saved_model runs it, and it is not a
    Keras model."""
    from modelport.tensorflow.loading import load_saved_model

    weight = _tf1_saved_model(tmp_path / "tf1")
    details = modelport.inspect(tmp_path / "tf1")["saved_model"]
    assert details["object_graph"] is False and details["keras_metadata"] is None
    assert details["ops"]["MatMul"] == 1 and details["ops"]["Relu"] == 1
    assert (details["variable_count"], details["variable_bytes"]) == (1, weight.nbytes)
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]], dtype=np.float32)
    serving = load_saved_model(tmp_path / "tf1")
    assert list(serving.inputs) == ["x"] and serving.outputs == ["y"]
    np.testing.assert_allclose(serving(x=_tf().constant(x))["y"].numpy(),
                               np.maximum(x @ weight, 0), atol=1e-6)
    with pytest.raises(UnsupportedError, match="not a Keras SavedModel"):
        modelport.read(tmp_path / "tf1")


FALLBACK = """
import sys
import numpy as np
sys.modules["tf_keras"] = None  # TensorFlow with Keras 3 only, as pip install tensorflow gives
import tensorflow as tf
from modelport.tensorflow.loading import load_saved_model
folder, data = sys.argv[1], np.load(sys.argv[2])
try:
    tf.saved_model.load(folder)
    raise SystemExit("tf.saved_model.load accepted the SavedModel; the fallback is not tested")
except AttributeError as exc:
    assert "add_slot" in str(exc), exc
serving = load_saved_model(folder)
out = serving(**{list(serving.inputs)[0]: tf.constant(data["x"])})
assert serving.loader == "tf1", serving.loader
np.testing.assert_allclose(out[serving.outputs[0]].numpy(), data["y"], atol=1e-6)
print("FALLBACK_OK")
"""


def test_tf1_loader_fallback(tmp_path):
    """A SavedModel whose optimizer slots current TensorFlow cannot revive without tf_keras
    ("'_UserObject' object has no attribute 'add_slot'"): load_saved_model falls back to the
    TF1 loader and computes what the model does."""
    tf_keras = keras_module("tf_keras")
    model = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(2)])
    model.compile(optimizer=tf_keras.optimizers.legacy.Adam(), loss="mse")
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(4, 4)), rng.normal(size=(4, 2)), verbose=0)  # creates slots
    model.save(str(tmp_path / "old"), save_format="tf")
    x = rng.normal(size=(3, 4)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x, y=model(x).numpy())
    proc = subprocess.run([sys.executable, "-c", FALLBACK, str(tmp_path / "old"),
                           str(tmp_path / "data.npz")], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0 and "FALLBACK_OK" in proc.stdout, proc.stderr[-3000:]


# ------------------------------------------------------------------------------ damaged files

def _copy(keras_saved_models, tmp_path: Path) -> Path:
    folder, _ = keras_saved_models.get("mlp")
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    return copy


def test_corrupt_variables_give_one_line(keras_saved_models, tmp_path, capsys):
    copy = _copy(keras_saved_models, tmp_path)
    data = copy / "variables" / "variables.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    with modelport.read(copy) as model:
        assert all(w.read().size for w in model.all_weights())  # fine before the damage
    index = saved_model.tf_checkpoint.open_bundle(copy / "variables" / "variables")
    entry = index.entries["layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"]
    raw[entry.offset + 5] ^= 0xFF
    data.write_bytes(bytes(raw))
    code, _, err = _cli(["convert", str(copy), str(tmp_path / "out.h5")], capsys)
    assert code == 2
    line = _error_line(err)
    assert "variables.data-00000-of-00001" in line and "crc32c" in line
    assert not (tmp_path / "out.h5").exists()
    data.write_bytes(bytes(raw[:entry.offset]))  # truncated
    code, _, err = _cli(["convert", str(copy), str(tmp_path / "out.h5")], capsys)
    assert code == 2 and "truncated" in _error_line(err)


@pytest.mark.parametrize("damaged", ["saved_model.pb", "keras_metadata.pb"])
def test_truncated_protobufs_give_one_line(damaged, keras_saved_models, tmp_path, capsys):
    copy = _copy(keras_saved_models, tmp_path)
    target = copy / damaged
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    for args in (["convert", str(copy), str(tmp_path / "out.h5")], ["inspect", str(copy)]):
        code, _, err = _cli(args, capsys)
        assert code == 2
        line = _error_line(err)
        assert damaged in line and ("corrupt" in line or "truncated" in line), line
