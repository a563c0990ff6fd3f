"""Operations in functional graphs: tf_keras TFOpLambda / SlicingOpLambda layers and Keras 3
operation nodes, carried without loss and translated through the op table
(src/modelport/keras_config/ops.py).

Every row of the table is checked against both installed libraries (the functions, classes
and argument names exist as the row says) and exercised by a model built with the real
library that uses it, converted both ways, loaded by the other library and compared on fixed
inputs. The ops are grouped into one model per library to keep the file fast."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import modelport
from modelport.cli import main
from modelport.errors import UnsupportedError
from modelport.keras_config import ops as op_table

import harness

ROOT = Path(__file__).resolve().parent.parent
ATOL = 1e-5


# ------------------------------------------------------------------ the table vs the sources

def _tf_function(tf, name: str):
    value = tf
    for part in name.split("."):
        value = getattr(value, part)
    return value


def _parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


@pytest.mark.parametrize("op", op_table.TABLE, ids=lambda op: op.tf[0])
def test_row_matches_both_libraries(op):
    """The row's TF functions take its tf_keras argument names, the first one first; the
    Keras 3 class exists in its module, its constructor takes the config arguments and its
    call the call arguments in row order."""
    tf = harness.keras_module("tf_keras") and importlib.import_module("tensorflow")
    for name in op.tf:
        params = _parameters(_tf_function(tf, name))
        assert params[0] == op.args[0].tf, (name, params)
        for arg in op.args:
            assert arg.tf in params, (name, arg.tf, params)
        for key in op.tf_fixed:  # the names tf_keras records take them; aliases may not
            assert key in params or name != op.tf[0], (name, key, params)
    harness.keras_module("keras3")
    module = importlib.import_module(op.module)
    for class_name in op.k3:
        cls = getattr(module, class_name)
        init = _parameters(cls.__init__)
        call = [p for p in _parameters(cls.call) if p != "self"]
        for arg in op.args:
            if arg.place == "config":
                assert arg.k3 in init, (class_name, arg.k3, init)
            else:
                assert arg.k3 in call, (class_name, arg.k3, call)
        positional = [a.k3 for a in op.args if a.place == "call"]
        assert call[:len(positional)] == positional, (class_name, call)
        for key in op.k3_fixed:
            assert key in init, (class_name, key, init)


def test_docs_ops_md_is_generated_from_the_table():
    expected = subprocess.run([sys.executable, str(ROOT / "scripts" / "ops_table.py"),
                               "--stdout"], capture_output=True, text=True, check=True,
                              env={"PYTHONPATH": str(ROOT / "src")}).stdout
    assert (ROOT / "docs" / "ops.md").read_text() == expected, \
        "docs/ops.md is stale: run python scripts/ops_table.py"


# ---------------------------------------------------------------------------- the models

def _tf_outputs(keras, tf, x):
    """One tf_keras output per row (and per alias and argument form worth testing)."""
    d = keras.layers.Dense(4, name="dense")(x)
    a = x - 0.5
    f = lambda t: tf.cast(t, "float32")  # noqa: E731
    head = keras.layers.Dense(6, name="head")(x)
    return [
        # input scaling, ConvNeXt-style residual scaling, slicing heads
        x / 255.0, x + 0.1 * d, head[..., :2], head[..., 2:],
        # arithmetic
        d + x, tf.math.add(x, 1.0), a - 1.0, 1.0 - a, 2.0 * a, a * d, 3.0 / x,
        tf.math.divide(x, 2.0), x // 0.3, tf.math.floordiv(x, 0.3), x % 0.3, x ** 2,
        tf.math.pow(x, d), tf.maximum(a, 0.1), tf.minimum(a, d), -a, abs(a),
        # comparison and logic
        f(a > 0), f(a >= 0.1), f(a < 0), f(a <= 0.1), f(tf.equal(a, d)),
        f(tf.not_equal(a, 0.0)), f(tf.math.logical_and(a > 0, a < 0.3)),
        f(tf.math.logical_or(a > 0.2, a < 0)), f(tf.math.logical_not(a > 0)),
        # elementwise math
        tf.square(a), tf.sqrt(x), tf.math.rsqrt(x), tf.exp(a), tf.math.log(x),
        tf.math.log1p(x), tf.math.expm1(a), tf.sign(a), tf.floor(a * 4), tf.math.ceil(a * 4),
        tf.round(a * 4), tf.sin(a), tf.cos(a), tf.math.erf(a), tf.math.reciprocal(x),
        tf.identity(a),
        # activations
        tf.nn.relu(a), tf.nn.relu6(a * 20), tf.sigmoid(a), tf.tanh(a), tf.nn.selu(a),
        tf.nn.elu(a), tf.nn.softplus(a), tf.nn.silu(a), tf.nn.gelu(a),
        tf.nn.gelu(a, approximate=True), tf.nn.leaky_relu(a, alpha=0.1), tf.nn.leaky_relu(a),
        tf.nn.softmax(d), tf.nn.softmax(d, axis=1), tf.nn.log_softmax(d),
        # reductions
        tf.reduce_sum(x, axis=1), tf.reduce_mean(x, axis=[1, 2], keepdims=True),
        tf.reduce_max(a, axis=-1), tf.reduce_min(a, 1), tf.reduce_prod(x, axis=1),
        tf.math.reduce_std(x, axis=1), tf.math.reduce_variance(x, axis=1),
        tf.math.reduce_logsumexp(x, axis=1), f(tf.argmax(d, axis=-1)),
        f(tf.argmin(d, axis=-1)), f(tf.reduce_any(a > 0, axis=1)),
        f(tf.reduce_all(a > 0, axis=[1, 2], keepdims=True)),
        # shapes
        tf.reshape(x, (-1, 24)), tf.transpose(x, perm=[0, 2, 1, 3]), tf.expand_dims(x, axis=1),
        tf.squeeze(tf.expand_dims(x, 1), axis=1), tf.concat([x, d], axis=-1),
        tf.stack([x, d], axis=1), tf.split(x, 2, axis=-1)[1], tf.split(x, [1, 3], axis=-1)[1],
        tf.unstack(x, axis=1)[1], tf.tile(x, [1, 1, 2, 1]),
        tf.pad(x, [[0, 0], [1, 1], [0, 0], [0, 0]], constant_values=1.5),
        tf.pad(x, [[0, 0], [0, 0], [1, 1], [0, 0]], mode="REFLECT"),
        # indexing: ints, slices, negative steps, Ellipsis, newaxis; gather
        x[:, 0], x[:, :1], x[..., 1:3], x[:, tf.newaxis], x[:, ::-1], x[:, 0, 1:, ::2],
        x[:, -1, ..., tf.newaxis], tf.gather(x, [0, 2], axis=-1),
        # matmul, cast, clip, where
        tf.matmul(x, tf.transpose(x, [0, 1, 3, 2])), x @ tf.transpose(d, [0, 1, 3, 2]),
        tf.cast(x * 10, "int32"), tf.clip_by_value(a, -0.2, 0.2), tf.where(a > 0, x, 0.0),
        tf.where(a > 0, d, a),
        # array constants
        x * np.array([1.0, 2.0, 3.0, 4.0], dtype="float32"),
    ]


def _k3_outputs(keras, x):
    """The same functions written with keras.ops (one output per row and argument form)."""
    ops = keras.ops
    d = keras.layers.Dense(4, name="dense")(x)
    a = x - 0.5
    f = lambda t: ops.cast(t, "float32")  # noqa: E731
    head = keras.layers.Dense(6, name="head")(x)
    return [
        x / 255.0, x + 0.1 * d, head[..., :2], head[..., 2:],
        d + x, ops.add(x, 1.0), a - 1.0, 1.0 - a, 2.0 * a, a * d, 3.0 / x,
        ops.divide(x, 2.0), x // 0.3, ops.floor_divide(x, 0.3), x % 0.3, x ** 2,
        ops.power(x, d), ops.maximum(a, 0.1), ops.minimum(a, d), -a, abs(a),
        f(a > 0), f(a >= 0.1), f(a < 0), f(a <= 0.1), f(ops.equal(a, d)),
        f(ops.not_equal(a, 0.0)), f(ops.logical_and(a > 0, a < 0.3)),
        f(ops.logical_or(a > 0.2, a < 0)), f(ops.logical_not(a > 0)),
        ops.square(a), ops.sqrt(x), ops.rsqrt(x), ops.exp(a), ops.log(x),
        ops.log1p(x), ops.expm1(a), ops.sign(a), ops.floor(a * 4), ops.ceil(a * 4),
        ops.round(a * 4), ops.sin(a), ops.cos(a), ops.erf(a), ops.reciprocal(x),
        ops.copy(a),
        ops.relu(a), ops.relu6(a * 20), ops.sigmoid(a), ops.tanh(a), ops.selu(a),
        ops.elu(a), ops.softplus(a), ops.silu(a), ops.gelu(a, approximate=False),
        ops.gelu(a), ops.leaky_relu(a, negative_slope=0.1), ops.leaky_relu(a),
        ops.softmax(d), ops.softmax(d, axis=1), ops.log_softmax(d),
        ops.sum(x, axis=1), ops.mean(x, axis=[1, 2], keepdims=True),
        ops.max(a, axis=-1), ops.min(a, 1), ops.prod(x, axis=1),
        ops.std(x, axis=1), ops.var(x, axis=1),
        ops.logsumexp(x, axis=1), f(ops.argmax(d, axis=-1)),
        f(ops.argmin(d, axis=-1)), f(ops.any(a > 0, axis=1)),
        f(ops.all(a > 0, axis=[1, 2], keepdims=True)),
        ops.reshape(x, (-1, 24)), ops.transpose(x, axes=[0, 2, 1, 3]), ops.expand_dims(x, 1),
        ops.squeeze(ops.expand_dims(x, 1), axis=1), ops.concatenate([x, d], axis=-1),
        ops.stack([x, d], axis=1), ops.split(x, 2, axis=-1)[1], ops.split(x, [1], axis=-1)[1],
        ops.unstack(x, axis=1)[1], ops.tile(x, [1, 1, 2, 1]),
        ops.pad(x, [[0, 0], [1, 1], [0, 0], [0, 0]], constant_values=1.5),
        ops.pad(x, [[0, 0], [0, 0], [1, 1], [0, 0]], mode="reflect"),
        x[:, 0], x[:, :1], x[..., 1:3], x[:, None], x[:, ::-1], x[:, 0, 1:, ::2],
        x[:, -1, ..., None], ops.take(x, [0, 2], axis=-1),
        ops.matmul(x, ops.transpose(x, [0, 1, 3, 2])), x @ ops.transpose(d, [0, 1, 3, 2]),
        ops.cast(x * 10, "int32"), ops.clip(a, -0.2, 0.2), ops.where(a > 0, x, 0.0),
        ops.where(a > 0, d, a),
        x * np.array([1.0, 2.0, 3.0, 4.0], dtype="float32"),
    ]


def _inputs() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.uniform(0.1, 1.0, (3, 2, 3, 4)).astype("float32")]


class Built:
    def __init__(self, path: Path, outputs: list[np.ndarray], config: dict):
        self.path, self.outputs, self.config = path, outputs, config


@pytest.fixture(scope="module")
def tf_keras_model(tmp_path_factory) -> Built:
    keras = harness.keras_module("tf_keras")
    import tensorflow as tf

    x = keras.Input((2, 3, 4), name="x")
    model = keras.Model(x, _tf_outputs(keras, tf, x), name="tf_ops")
    path = tmp_path_factory.mktemp("ops") / "tf_ops.h5"
    model.save(path)
    return Built(path, harness.predict(model, _inputs()), json.loads(model.to_json()))


@pytest.fixture(scope="module")
def keras3_model(tmp_path_factory) -> Built:
    keras = harness.keras_module("keras3")
    x = keras.Input((2, 3, 4), name="x")
    model = keras.Model(x, _k3_outputs(keras, x), name="k3_ops")
    path = tmp_path_factory.mktemp("ops") / "k3_ops.keras"
    model.save(path)
    return Built(path, harness.predict(model, _inputs()), json.loads(model.to_json()))


def test_every_row_is_exercised_by_both_models(tf_keras_model, keras3_model):
    functions = {e["config"]["function"] for e in tf_keras_model.config["config"]["layers"]
                 if e["class_name"] in ("TFOpLambda", "SlicingOpLambda")}
    classes = {(e["module"], e["class_name"]) for e in keras3_model.config["config"]["layers"]
               if e["module"].startswith("keras.src.ops")}
    for op in op_table.TABLE:
        assert functions & set(op.tf), f"no tf_keras model uses {op.tf}"
        assert classes & {(op.module, k3) for k3 in op.k3}, f"no Keras 3 model uses {op.k3}"
    # Everything the models use has a row (nothing reached the writers untranslated).
    assert all(op_table.for_tf(f) for f in functions), functions
    assert all(op_table.for_keras3(*c) for c in classes), classes


def _converted(src: Path, dst: Path, **options) -> Path:
    modelport.convert(src, dst, overwrite=True, **options)
    return dst


def test_tf_keras_ops_to_keras3(tf_keras_model, tmp_path):
    out = _converted(tf_keras_model.path, tmp_path / "ops.keras")
    actual = harness.load_and_predict("keras3", out, _inputs())
    harness.assert_outputs_close(actual, tf_keras_model.outputs, ATOL, "tf_keras .h5 -> .keras")
    # and back through the table to tf_keras
    back = _converted(out, tmp_path / "back.h5")
    harness.assert_outputs_close(harness.load_and_predict("tf_keras", back, _inputs()),
                                 tf_keras_model.outputs, ATOL, ".keras -> .h5")


def test_keras3_ops_to_tf_keras(keras3_model, tmp_path):
    out = _converted(keras3_model.path, tmp_path / "ops.h5")
    actual = harness.load_and_predict("tf_keras", out, _inputs())
    harness.assert_outputs_close(actual, keras3_model.outputs, ATOL, ".keras -> tf_keras .h5")
    back = _converted(out, tmp_path / "back.keras")
    harness.assert_outputs_close(harness.load_and_predict("keras3", back, _inputs()),
                                 keras3_model.outputs, ATOL, ".h5 -> .keras")
    as_json = _converted(keras3_model.path, tmp_path / "ops.json", to_format="keras_json")
    keras = harness.keras_module("tf_keras")
    rebuilt = keras.models.model_from_json(as_json.read_text())
    assert len(rebuilt.outputs) == len(keras3_model.outputs)


def _op_entries(config: dict) -> list[dict]:
    return [e for e in config["config"]["layers"]
            if str(e.get("module")).startswith("keras.src.ops")
            or e["class_name"] in ("TFOpLambda", "SlicingOpLambda")]


def test_keras3_ops_round_trip_without_loss(keras3_model, tmp_path):
    out = _converted(keras3_model.path, tmp_path / "same.keras")
    with zipfile.ZipFile(keras3_model.path) as a, zipfile.ZipFile(out) as b:
        original = json.loads(a.read("config.json"))
        written = json.loads(b.read("config.json"))

    def strip(entry):  # Keras rebuilds tensor shapes from the graph; the rest must match
        text = json.dumps({k: entry[k] for k in ("module", "class_name", "config",
                                                 "registered_name", "inbound_nodes")})
        return json.loads(text.replace('"shape": [null, 2, 3, 4]', '"shape": []'))

    ops_a, ops_b = _op_entries(original), _op_entries(written)
    assert len(ops_a) == len(ops_b) > 100
    for a, b in zip(ops_a, ops_b, strict=True):
        for node_a, node_b in zip(a["inbound_nodes"], b["inbound_nodes"], strict=True):
            histories = [[t["config"]["keras_history"] for t in _tensors(n)]
                         for n in (node_a, node_b)]
            assert histories[0] == histories[1], a["name"]
        assert (a["module"], a["class_name"], a["config"]) == (
            b["module"], b["class_name"], b["config"])
    harness.assert_outputs_close(harness.load_and_predict("keras3", out, _inputs()),
                                 keras3_model.outputs, ATOL, ".keras -> .keras")


def _tensors(value):
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v)
    elif isinstance(value, list):
        for v in value:
            yield from _tensors(v)


def test_tf_keras_ops_h5_round_trip(tf_keras_model, tmp_path):
    out = _converted(tf_keras_model.path, tmp_path / "same.h5")
    harness.assert_outputs_close(harness.load_and_predict("tf_keras", out, _inputs()),
                                 tf_keras_model.outputs, ATOL, ".h5 -> .h5")


def test_inspect_lists_every_operation(keras3_model, tf_keras_model, capsys):
    for built in (keras3_model, tf_keras_model):
        assert main(["inspect", str(built.path)]) == 0
        text = capsys.readouterr().out
        for entry in _op_entries(built.config):
            assert entry["name"] in text


# --------------------------------------------------------------------------- refusals

def test_tf_op_without_a_row_is_refused_naming_op_layer_and_file(tmp_path):
    keras = harness.keras_module("tf_keras")
    import tensorflow as tf

    x = keras.Input((4,), name="x")
    model = keras.Model(x, tf.math.cumsum(x, axis=1))
    path = tmp_path / "cumsum.h5"
    model.save(path)
    with pytest.raises(UnsupportedError) as caught:
        modelport.convert(path, tmp_path / "out.keras")
    message = str(caught.value)
    assert "tf.math.cumsum" in message and "'tf.math.cumsum'" in message
    assert str(path) in message and "op table" in message
    assert not (tmp_path / "out.keras").exists()


def test_keras3_op_without_a_row_is_refused_naming_op_layer_and_file(tmp_path):
    keras = harness.keras_module("keras3")
    x = keras.Input((4,), name="x")
    model = keras.Model(x, keras.ops.cumsum(x, axis=1))
    path = tmp_path / "cumsum.keras"
    model.save(path)
    with pytest.raises(UnsupportedError) as caught:
        modelport.convert(path, tmp_path / "out.h5")
    message = str(caught.value)
    assert "Cumsum" in message and "'cumsum'" in message and str(path) in message
    assert not (tmp_path / "out.h5").exists()
    # the same file converts to Keras 3 formats unchanged
    out = _converted(path, tmp_path / "same.keras")
    data = np.arange(8, dtype="float32").reshape(2, 4)
    harness.assert_outputs_close(harness.load_and_predict("keras3", out, [data]),
                                 [np.cumsum(data, axis=1)], ATOL)


def test_tf_op_argument_keras3_lacks_is_refused(tmp_path):
    keras = harness.keras_module("tf_keras")
    import tensorflow as tf

    x = keras.Input((3, 3), name="x")
    model = keras.Model(x, tf.matmul(x, x, transpose_b=True))
    path = tmp_path / "matmul.h5"
    model.save(path)
    with pytest.raises(UnsupportedError, match="transpose_b=True"):
        modelport.convert(path, tmp_path / "out.keras")


# ---------------------------------------------------------------------------- TF.js

def _tfjs_exact_outputs(x, ops):
    """Operations TF.js layers computes exactly as layers: activations and x * c, x + c."""
    return [ops["relu"](x - 0.5), ops["sigmoid"](x), ops["tanh"](x), ops["softmax"](x),
            x * 2.0, 3.0 * x, x + 1.0, x - 0.25]


@pytest.mark.parametrize("library", ["tf_keras", "keras3"])
def test_exact_tfjs_layers_are_written_as_layers(library, node_tfjs, tmp_path):
    import tfjs

    keras = harness.keras_module(library)
    if library == "tf_keras":
        import tensorflow as tf

        fns = {"relu": tf.nn.relu, "sigmoid": tf.sigmoid, "tanh": tf.tanh,
               "softmax": tf.nn.softmax}
        path = tmp_path / "exact.h5"
    else:
        fns = {name: getattr(keras.ops, name) for name in ("relu", "sigmoid", "tanh",
                                                           "softmax")}
        path = tmp_path / "exact.keras"
    x = keras.Input((5,), name="x")
    model = keras.Model(x, _tfjs_exact_outputs(keras.layers.Dense(5, name="d")(x), fns))
    model.save(path)
    inputs = [np.random.default_rng(1).uniform(-1, 1, (4, 5)).astype("float32")]
    expected = harness.predict(model, inputs)
    out = _converted(path, tmp_path / "web")
    topology = json.loads((out / "model.json").read_text())["modelTopology"]["model_config"]
    classes = [e["class_name"] for e in topology["config"]["layers"]]
    assert classes.count("Activation") == 4 and classes.count("Rescaling") == 5, classes
    harness.assert_outputs_close(tfjs.run_tfjs(out / "model.json", inputs), expected, ATOL,
                                 "TF.js layers")


@pytest.mark.parametrize("library", ["tf_keras", "keras3"])
def test_other_ops_are_refused_for_tfjs_layers_naming_the_graph_model_route(library, tmp_path,
                                                                            capsys):
    keras = harness.keras_module(library)
    x = keras.Input((5,), name="x")
    model = keras.Model(x, (x / 255.0)[:, :2])
    path = tmp_path / ("scaled.h5" if library == "tf_keras" else "scaled.keras")
    model.save(path)
    assert main(["convert", str(path), str(tmp_path / "web")]) == 2
    message = capsys.readouterr().err
    shown = "tf.math.truediv" if library == "tf_keras" else "keras.ops.numpy.TrueDivide"
    assert shown in message and "--to tfjs_graph_model" in message, message
    assert str(path) in message
    assert not (tmp_path / "web").exists()


def _route_model(library: str):
    """Input scaling, residual scaling, slicing heads and the common shape ops, in `library`."""
    keras = harness.keras_module(library)
    if library == "tf_keras":
        import tensorflow as tf

        concat, mean, transpose, where, clip = (tf.concat, tf.reduce_mean, tf.transpose,
                                                tf.where, tf.clip_by_value)
        reshape, matmul, gelu = tf.reshape, tf.matmul, lambda t: tf.nn.gelu(t, approximate=True)
    else:
        o = keras.ops
        concat, mean, transpose, where, clip = (o.concatenate, o.mean, o.transpose, o.where,
                                                o.clip)
        reshape, matmul, gelu = o.reshape, o.matmul, o.gelu
    x = keras.Input((2, 3, 4), name="x")
    scaled = x / 255.0 * 2.0 - 0.5
    d = keras.layers.Dense(4, name="dense")(scaled)
    residual = scaled + 0.1 * gelu(d)
    head = keras.layers.Dense(6, name="head")(residual)
    t = transpose(residual, [0, 1, 3, 2])
    outputs = [head[..., :2], head[..., 2:], concat([residual, d], axis=-1),
               mean(residual, axis=[1, 2]), reshape(matmul(residual, t), (-1, 18)),
               where(d > 0, d, 0.0), clip(d, -0.3, 0.3), residual[:, ::-1, None, 1:]]
    return keras.Model(x, outputs, name="route")


@pytest.mark.parametrize("library", ["tf_keras", "keras3"])
def test_graph_model_and_saved_model_routes_run_the_ops(library, node_tfjs, tmp_path):
    import tensorflow as tf
    from test_graph_model import run_graph_model

    model = _route_model(library)
    path = tmp_path / ("route.h5" if library == "tf_keras" else "route.keras")
    model.save(path)
    inputs = [np.random.default_rng(2).uniform(0, 255, (3, 2, 3, 4)).astype("float32")]
    expected = harness.predict(model, inputs)
    web = _converted(path, tmp_path / "graph", to_format="tfjs_graph_model")
    # Signature keys are output names, not in model order: match outputs by value.
    _assert_matched(run_graph_model(web, inputs), expected, 2e-5)
    saved = _converted(path, tmp_path / "saved", to_format="tf_saved_model")
    signature = tf.saved_model.load(str(saved)).signatures["serving_default"]
    (key,) = signature.structured_input_signature[1]
    result = signature(**{key: tf.constant(inputs[0])})
    _assert_matched([v.numpy() for v in result.values()], expected, 2e-5)


def _assert_matched(actual: list[np.ndarray], expected: list[np.ndarray], atol: float) -> None:
    """Every expected output equals (within atol) a distinct actual one."""
    assert len(actual) == len(expected)
    unused = list(actual)
    for index, e in enumerate(expected):
        match = next((i for i, a in enumerate(unused) if a.shape == e.shape
                      and np.abs(a.astype(np.float64) - e).max() <= atol), None)
        assert match is not None, f"output {index} {e.shape}: no equal output"
        unused.pop(match)


# ------------------------------------------------------------------ nested models, .h5

def _nested_model(library: str):
    """Operations inside a nested functional model and around its call."""
    keras = harness.keras_module(library)
    if library == "tf_keras":
        import tensorflow as tf

        tanh, concat = tf.tanh, tf.concat
    else:
        tanh, concat = keras.ops.tanh, keras.ops.concatenate
    xi = keras.Input((4,), name="inner_x")
    inner = keras.Model(xi, concat([tanh(xi) * 2.0, xi[:, :1]], axis=-1), name="inner")
    x = keras.Input((4,), name="x")
    h = keras.layers.Dense(4, name="dense")(x / 255.0)
    return keras.Model(x, [inner(h) + 1.0, inner(x)[:, 1:] - h[:, :1]], name="outer")


@pytest.mark.parametrize("library", ["tf_keras", "keras3"])
def test_operations_inside_nested_models_convert_both_ways(library, tmp_path):
    model = _nested_model(library)
    path = tmp_path / ("nested.h5" if library == "tf_keras" else "nested.keras")
    model.save(path)
    inputs = [np.random.default_rng(3).uniform(0, 255, (4, 4)).astype("float32")]
    expected = harness.predict(model, inputs)
    other, out = ("keras3", tmp_path / "out.keras") if library == "tf_keras" else (
        "tf_keras", tmp_path / "out.h5")
    _converted(path, out)
    harness.assert_outputs_close(harness.load_and_predict(other, out, inputs), expected, ATOL,
                                 f"{path.name} -> {out.name}")


def test_keras3_dialect_h5_with_operations_is_refused_and_keras2_h5_warns(keras3_model,
                                                                          tmp_path):
    with pytest.raises(UnsupportedError) as caught:
        modelport.convert(keras3_model.path, tmp_path / "k3.h5", keras=3)
    assert "Keras 3 cannot load operations from a legacy .h5" in str(caught.value)
    assert str(keras3_model.path) in str(caught.value)
    assert not (tmp_path / "k3.h5").exists()
    result = modelport.convert(keras3_model.path, tmp_path / "k2.h5")
    assert any("Keras 3 cannot load operations" in w for w in result.warnings), result.warnings


def test_keras3_own_h5_with_operations_converts(tmp_path):
    """Keras 3's legacy .h5 writer drops an operation's module (and Keras 3 cannot load the
    file back): the table knows the class, so modelport reads it, for tf_keras and .keras."""
    keras = harness.keras_module("keras3")
    x = keras.Input((4,), name="x")
    model = keras.Model(x, [x * 2.0 + 1.0, keras.ops.tanh(x)[:, :2],
                            keras.ops.any(keras.ops.not_equal(x, 0.5), axis=-1)])
    path = tmp_path / "own.h5"
    model.save(path)
    inputs = [np.array([[0.5, 1.0, -2.0, 0.0], [0.5] * 4], dtype="float32")]
    expected = harness.predict(model, inputs)
    for library, out in (("tf_keras", tmp_path / "k2.h5"), ("keras3", tmp_path / "k3.keras")):
        _converted(path, out)
        harness.assert_outputs_close(harness.load_and_predict(library, out, inputs), expected,
                                     ATOL, f"Keras 3 .h5 -> {out.name}")
