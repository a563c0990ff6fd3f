"""What keras.applications models ran into (issue 14, items 6 and 9), each with the real
libraries: layer names Keras 3 forbids, Normalization from checkpoints, the applications' own
custom layers in the TF-backed writers and through every route (weights files included),
--custom-objects for convert, the user's file (never a temporary folder) in errors, refusals
that name the route that works, Keras 2.0-2.3 CuDNNLSTM / CuDNNGRU files, and Keras 3 weights
files (which record no layer order) written as a save_weights .h5."""

from __future__ import annotations

import numpy as np
import pytest

import modelport

import harness


def _outputs(library: str, path, x: np.ndarray) -> list[np.ndarray]:
    return harness.load_and_predict(library, path, [x])


# ---------------------------------------------------------------- a. '/' in layer names


@pytest.fixture(scope="module")
def slashed_h5(tmp_path_factory):
    """A tf_keras model whose layer names hold '/' (as DenseNet121's `conv1/conv` do), one of
    them colliding with the name '/' -> '_' would give."""
    keras = harness.keras_module("tf_keras")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,), name="x")
    h = keras.layers.Dense(5, activation="tanh", name="block1/dense")(inputs)
    h = keras.layers.Dense(4, name="block1_dense")(h)
    out = keras.layers.Dense(3, name="head/logits")(h)
    model = keras.Model(inputs, out)
    path = tmp_path_factory.mktemp("slashed") / "model.h5"
    model.save(str(path))
    x = np.random.default_rng(0).uniform(-1, 1, (4, 6)).astype(np.float32)
    return path, x, harness.predict(model, [x])


@pytest.mark.parametrize("target", ["model.keras", "model_k3.h5"])
def test_slashed_names_are_renamed_for_keras3(slashed_h5, tmp_path, target):
    path, x, expected = slashed_h5
    out = tmp_path / target
    keras = 3 if target.endswith(".h5") else None
    result = modelport.convert(path, out, **({"keras": keras} if keras else {}))
    warning = [w for w in result.warnings if "forbids '/'" in w]
    assert warning and "'block1/dense' -> 'block1_dense_1'" in warning[0], result.warnings
    assert "'head/logits' -> 'head_logits'" in warning[0]
    harness.assert_outputs_close(_outputs("keras3", out, x), expected, what=target)
    keras3 = harness.keras_module("keras3")
    names = [layer.name for layer in keras3.models.load_model(str(out), compile=False).layers]
    assert names == ["x", "block1_dense_1", "block1_dense", "head_logits"]


def test_slashed_names_keras2_h5_warns_and_keeps_them(slashed_h5, tmp_path):
    path, x, expected = slashed_h5
    out = tmp_path / "model.h5"
    result = modelport.convert(path, out)
    assert any("Keras 3 refuses layer names containing '/' ('block1/dense' and 1 more)" in w
               for w in result.warnings), result.warnings
    harness.assert_outputs_close(_outputs("tf_keras", out, x), expected)


# ---------------------------------------------------------------- b. Normalization in checkpoints


def test_normalization_weights_from_a_checkpoint(tmp_path):
    keras = harness.keras_module("tf_keras")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5, 3))
    h = keras.layers.Normalization(axis=-1)(inputs)
    h = keras.layers.Normalization(axis=None, name="scalar_norm")(h)
    out = keras.layers.Dense(2)(keras.layers.Flatten()(h))
    model = keras.Model(inputs, out)
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Normalization):
            mean, variance, count = layer.get_weights()
            layer.set_weights([rng.normal(size=mean.shape).astype(np.float32),
                               rng.uniform(0.5, 2, variance.shape).astype(np.float32),
                               np.int64(7)])
    arch = tmp_path / "arch.json"
    arch.write_text(model.to_json())
    model.save_weights(str(tmp_path / "ckpt" / "ckpt"))
    x = rng.uniform(-1, 1, (2, 5, 3)).astype(np.float32)
    expected = harness.predict(model, [x])
    for out in (tmp_path / "m.h5", tmp_path / "m.keras"):
        modelport.convert(tmp_path / "ckpt" / "ckpt", out, architecture=arch)
        harness.assert_outputs_close(
            _outputs("tf_keras" if out.suffix == ".h5" else "keras3", out, x), expected,
            what=out.name)


# ------------------------------------------- c. keras.applications' own layers, TF-backed writers


def _scaled_model(library: str):
    """Dense -> ConvNeXt's LayerScale (gamma set) -> ConvNeXt's StochasticDepth, from the
    library's own applications module."""
    keras = harness.keras_module(library)
    package = "tf_keras" if library == "tf_keras" else "keras"
    convnext = __import__(f"{package}.src.applications.convnext", fromlist=["LayerScale"])
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,), name="x")
    h = keras.layers.Dense(3, name="dense")(inputs)
    h = convnext.LayerScale(1e-6, 3, name="scale")(h)
    out = convnext.StochasticDepth(0.1, name="drop_path")(h)
    model = keras.Model(inputs, out)
    model.get_layer("scale").set_weights([np.array([0.5, -2.0, 3.0], np.float32)])
    return model


@pytest.mark.parametrize("library", harness.LIBRARIES)
def test_application_layers_in_tf_backed_writers(library, tmp_path):
    model = _scaled_model(library)
    src = tmp_path / ("model.h5" if library == "tf_keras" else "model.keras")
    model.save(str(src))
    x = np.random.default_rng(0).uniform(-1, 1, (3, 4)).astype(np.float32)
    expected = harness.predict(model, [x])[0]
    saved = tmp_path / "saved"
    result = modelport.convert(src, saved, to_format="tf_saved_model")
    assert not [w for w in result.warnings if "custom class" in w], result.warnings
    import tensorflow as tf

    serving = tf.saved_model.load(str(saved)).signatures["serving_default"]
    (got,) = serving(x=tf.constant(x)).values()
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-6)
    graph = tmp_path / "graph"
    modelport.convert(src, graph, to_format="tfjs_graph_model")
    check = modelport.verify(src, graph)
    assert check.passed, check.render()
    assert check.outputs[0].max_abs_error < 1e-5


def test_same_named_user_class_is_not_taken_for_the_applications(tmp_path):
    """A LayerScale with other arguments is the user's: no class of the library is used."""
    import h5py

    model = _scaled_model("tf_keras")
    src = tmp_path / "model.h5"
    model.save(str(src))
    with h5py.File(src, "r+") as f:
        f.attrs["model_config"] = f.attrs["model_config"].replace(
            '"projection_dim": 3', '"projection_dim": 3, "axis": -1')
    with pytest.raises(modelport.UnsupportedError,
                       match="cannot build custom class 'LayerScale' without its code"):
        modelport.convert(src, tmp_path / "saved", to_format="tf_saved_model")


# ------------------------------------------- d. --custom-objects for convert; e. no temp folders

USER_MODULE = '''
import tf_keras


class Offset(tf_keras.layers.Layer):
    def __init__(self, offset, **kwargs):
        super().__init__(**kwargs)
        self.offset = offset

    def call(self, x):
        return x + self.offset

    def get_config(self):
        return {**super().get_config(), "offset": self.offset}
'''


@pytest.fixture(scope="module")
def user_layer_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("user_layer")
    module = root / "my_layers.py"
    module.write_text(USER_MODULE)
    from modelport.keras_objects import load_custom_objects

    objects = load_custom_objects(module)
    keras = harness.keras_module("tf_keras")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,), name="x")
    out = objects["Offset"](1.5, name="offset")(keras.layers.Dense(2, name="dense")(inputs))
    model = keras.Model(inputs, out)
    src = root / "model.h5"
    model.save(str(src))
    return src, module


def _cli(capsys, *args) -> tuple[int, str, str]:
    from modelport.cli import main

    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("to", ["tf_saved_model", "tfjs_graph_model"])
def test_convert_takes_custom_objects_for_tf_backed_outputs(user_layer_model, tmp_path, capsys,
                                                            to):
    src, module = user_layer_model
    out = tmp_path / "out"
    code, _, err = _cli(capsys, "convert", src, out, "--to", to)
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("modelport: error")]
    assert len(lines) == 1, err
    # e: the user's file is named, never the temporary SavedModel the route goes through
    assert lines[0] == (f"modelport: error: {src}: tf_keras cannot build custom class "
                        "'Offset' without its code: pass --custom-objects FILE.py, a module "
                        "defining it"), lines[0]
    assert "--custom-objects" in lines[0] and "/tmp/modelport" not in lines[0]
    assert not out.exists()
    code, stdout, err = _cli(capsys, "convert", src, out, "--to", to, "--custom-objects",
                             module, "--verify")
    assert code == 0, err
    assert "PASS" in stdout
    code, _, err = _cli(capsys, "convert", src, tmp_path / "m.keras", "--custom-objects",
                        module)
    assert code == 2 and "--custom-objects does not apply to" in err


def test_verify_names_the_user_file_when_the_runtime_copy_fails(user_layer_model):
    """verify gives TensorFlow a SavedModel written in a scratch folder: a failure there is
    about the user's file."""
    src, _ = user_layer_model

    class Broken:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("this class cannot be built")

    with pytest.raises(modelport.ModelportError) as caught:
        modelport.verify(src, src, runtime_a="tensorflow", runtime_b="tensorflow",
                         custom_objects={"Offset": Broken})
    assert caught.value.path == str(src), str(caught.value)
    assert "tf_keras cannot build the model" in str(caught.value)
    assert "modelport_verify_" not in str(caught.value)


# ------------------------------------------- f. refusals name the route that works


def test_tfjs_layers_refusal_names_the_graph_model_route(tmp_path):
    keras = harness.keras_module("tf_keras")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5, 2), name="x")
    h = keras.layers.ZeroPadding1D(1, name="pad")(inputs)
    h = keras.layers.ZeroPadding1D(2, name="pad_more")(h)
    out = keras.layers.Dense(3, name="dense")(keras.layers.Flatten()(h))
    model = keras.Model(inputs, out, name="m")
    src = tmp_path / "model.h5"
    model.save(str(src))
    with pytest.raises(modelport.UnsupportedError) as caught:
        modelport.convert(src, tmp_path / "web")
    # A class used by several layers is named once, so the route stays on the line.
    assert "TF.js has no layer class ZeroPadding1D ('m/pad' and 1 more); " in str(caught.value)
    assert "--to tfjs_graph_model runs it" in str(caught.value)
    assert not (tmp_path / "web").exists()
    # ... and that route does run it
    modelport.convert(src, tmp_path / "graph", to_format="tfjs_graph_model")
    check = modelport.verify(src, tmp_path / "graph")
    assert check.passed, check.render()


def test_tfjs_layers_refusal_of_a_lambda_offers_no_route(tmp_path):
    keras = harness.keras_module("tf_keras")
    inputs = keras.Input((3,), name="x")
    out = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    src = tmp_path / "model.h5"
    keras.Model(inputs, out, name="m").save(str(src))
    with pytest.raises(modelport.UnsupportedError) as caught:
        modelport.convert(src, tmp_path / "web")
    assert "Lambda ('m/double')" in str(caught.value)
    assert "tfjs_graph_model" not in str(caught.value)


# ------------------------------------------- g. Keras 2.0-2.3 CuDNNLSTM / CuDNNGRU

_CUDNN_CONFIG_KEYS = ("name", "trainable", "dtype", "units", "kernel_initializer",
                      "recurrent_initializer", "bias_initializer", "kernel_regularizer",
                      "recurrent_regularizer", "bias_regularizer", "activity_regularizer",
                      "kernel_constraint", "recurrent_constraint", "bias_constraint",
                      "return_sequences", "return_state", "go_backwards", "stateful")


def _as_keras22_cudnn(path, cudnn: dict[str, tuple[str, list[np.ndarray]]]) -> None:
    """Rewrite a tf_keras .h5 in place as Keras 2.2 wrote a model with CuDNN layers: the
    layers named in `cudnn` (name -> (CuDNN class, weights in the cuDNN layout)) get the CuDNN
    class, its get_config keys and Keras 2.2's weight names."""
    import json

    import h5py

    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        for outer in config["config"]["layers"]:
            if outer["config"]["name"] not in cudnn:
                continue
            cls, _ = cudnn[outer["config"]["name"]]
            entry = outer["config"]["layer"] if outer["class_name"] == "Bidirectional" else outer
            old = entry["config"]
            entry["class_name"] = cls
            entry["config"] = {k: old[k] for k in _CUDNN_CONFIG_KEYS if k in old}
            if cls == "CuDNNLSTM":
                entry["config"]["unit_forget_bias"] = True
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.2.4"
        f["model_weights"].attrs["keras_version"] = "2.2.4"
        for name, (_, arrays) in cudnn.items():
            group = f["model_weights"][name]
            for key in list(group):
                del group[key]
            names = [f"{name}/{side}{w}:0" for side in (
                ("forward_", "backward_") if len(arrays) == 6 else ("",))
                for w in ("kernel", "recurrent_kernel", "bias")]
            group.attrs["weight_names"] = np.array([n.encode() for n in names])
            for weight_name, array in zip(names, arrays, strict=True):
                group[weight_name] = array


def test_keras22_cudnn_layers_read_as_lstm_and_gru(tmp_path):
    from tf_keras.src.saving.legacy import hdf5_format

    keras = harness.keras_module("tf_keras")
    keras.utils.set_random_seed(0)
    units, features = 4, 3
    model = keras.Sequential([
        keras.Input((5, features), name="x"),
        keras.layers.LSTM(units, recurrent_activation="sigmoid", return_sequences=True,
                          name="cu_dnnlstm_1"),
        keras.layers.Bidirectional(keras.layers.LSTM(
            units, recurrent_activation="sigmoid", return_sequences=True),
            name="bidirectional_1"),
        keras.layers.GRU(units, recurrent_activation="sigmoid", reset_after=True,
                         name="cu_dnngru_1"),
        keras.layers.Dense(2, name="dense_1"),
    ], name="sequential_1")
    rng = np.random.default_rng(3)
    cudnn = {}
    for layer, cls, gates, dim, sides in ((model.layers[0], "CuDNNLSTM", 4, features, 1),
                                          (model.layers[1], "CuDNNLSTM", 4, units, 2),
                                          (model.layers[2], "CuDNNGRU", 3, 2 * units, 1)):
        arrays = [array for _ in range(sides) for array in (
            rng.normal(0, 0.5, (dim, gates * units)).astype(np.float32),
            rng.normal(0, 0.5, (units, gates * units)).astype(np.float32),
            rng.normal(0, 0.5, (2 * gates * units,)).astype(np.float32))]
        cudnn[layer.name] = (cls, arrays)
        # The reference: the layer holds what Keras's own loader makes of those weights.
        layer.set_weights(hdf5_format.preprocess_weights_for_loading(layer, list(arrays)))
    src = tmp_path / "keras22.h5"
    model.save(str(src))
    _as_keras22_cudnn(src, cudnn)
    harness.as_old_sequential(src, "2.2.4")  # a bare list of layers, no InputLayer
    x = rng.uniform(-1, 1, (2, 5, features)).astype(np.float32)
    expected = harness.predict(model, [x])
    summary = modelport.inspect(src)
    assert [layer["class_name"] for layer in summary["layers"]] == [
        "LSTM", "Bidirectional", "GRU", "Dense"]
    for out, library in ((tmp_path / "m.h5", "tf_keras"), (tmp_path / "m.keras", "keras3")):
        result = modelport.convert(src, out)
        assert any("'bidirectional_1' (Bidirectional CuDNNLSTM)" in w and "read as LSTM / GRU"
                   in w for w in result.warnings), result.warnings
        harness.assert_outputs_close(_outputs(library, out, x), expected, what=out.name)
        # tf_keras has no CuDNN layers to load the file with: verify runs the original as
        # modelport reads it.
        checked = modelport.verify(src, out, inputs=[x])
        assert checked.passed and "read as Keras 2.2.4 meant it" in checked.a.via, checked.a


# ------------------------------------------- h. keras.applications' own layers, every route


def _application_layers_model(library: str, seed: int = 0):
    """Dense -> LayerScale -> StochasticDepth (ConvNeXt) -> CustomScaleLayer (Inception-ResNet)
    -> Dense, from the library's own applications modules; LayerScale's gamma drawn."""
    keras = harness.keras_module(library)
    package = "tf_keras" if library == "tf_keras" else "keras"
    convnext = __import__(f"{package}.src.applications.convnext", fromlist=["LayerScale"])
    resnet = __import__(f"{package}.src.applications.inception_resnet_v2",
                        fromlist=["CustomScaleLayer"])
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,), name="x")
    h = keras.layers.Dense(3, name="dense")(inputs)
    scaled = convnext.LayerScale(1e-6, 3, name="scale")(h)
    scaled = convnext.StochasticDepth(0.1, name="drop_path")(scaled)
    h = resnet.CustomScaleLayer(0.25, name="residual")([h, scaled])
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(h))
    gamma = np.random.default_rng(seed).normal(size=3).astype(np.float32)
    model.get_layer("scale").set_weights([gamma])
    return model


def _saved_every_way(model, library: str, folder) -> dict[str, object]:
    """The library's saves of `model`: form -> path (weights-only forms end in 'weights')."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"h5": folder / "model.h5", "keras": folder / "model.keras"}
    if library == "keras3":
        files["weights"] = folder / "model.weights.h5"
    else:
        files["save_weights"] = folder / "weights.h5"
        files["checkpoint weights"] = folder / "ckpt" / "ckpt"
    for form, path in files.items():
        (model.save_weights if "weights" in form else model.save)(str(path))
    return files


@pytest.mark.parametrize("library", harness.LIBRARIES)
def test_application_layers_through_every_route(library, tmp_path):
    """Each saved form of a model using LayerScale, StochasticDepth and CustomScaleLayer, to
    each output, loaded by its runtime: the outputs are the original's. (ConvNeXtTiny's Keras 3
    .weights.h5 + architecture -> .keras put every gamma under the layer's path twice, and
    Keras 3 left 18 LayerScales unloaded.)"""
    import json

    import tensorflow as tf

    from modelport.keras_objects import application_objects

    model = _application_layers_model(library)
    config = json.loads(model.to_json())
    architecture = tmp_path / "arch.json"
    architecture.write_text(model.to_json())
    x = np.random.default_rng(5).uniform(-1, 1, (3, 4)).astype(np.float32)
    expected = harness.predict(model, [x])
    files = _saved_every_way(model, library, tmp_path / "saved")

    def loaded(loader: str, path):
        keras = harness.keras_module(loader)
        return keras.models.load_model(str(path), compile=False,
                                       custom_objects=application_objects(config, loader))

    def weights_into_fresh(loader: str, path):
        fresh = _application_layers_model(loader, seed=1)
        fresh.load_weights(str(path))
        return fresh

    checked = 0
    for form, src in files.items():
        options = {"architecture": architecture} if "weights" in form else {}
        outputs = {
            "m.keras": lambda p: harness.predict(loaded("keras3", p), [x]),
            "m.h5": lambda p: harness.predict(loaded("tf_keras", p), [x]),
            "w.weights.h5": lambda p: harness.predict(weights_into_fresh("keras3", p), [x]),
            "w.h5": lambda p: harness.predict(weights_into_fresh(library, p), [x]),
            "saved": lambda p: list(tf.saved_model.load(str(p)).signatures[
                "serving_default"](x=tf.constant(x)).values()),
        }
        for name, run in outputs.items():
            out = tmp_path / form.replace(" ", "_") / name
            to = {"saved": {"to_format": "tf_saved_model"},
                  "w.h5": {"weights_only": True}}.get(name, {})
            modelport.convert(src, out, **options, **to)
            harness.assert_outputs_close(run(out), expected, what=f"{form} -> {name}")
            checked += 1
        with pytest.raises(modelport.UnsupportedError, match="--to tfjs_graph_model runs it"):
            modelport.convert(src, tmp_path / form.replace(" ", "_") / "web", **options)
    assert checked == 5 * len(files)
    graph = tmp_path / "graph"
    modelport.convert(files["h5"], graph, to_format="tfjs_graph_model")
    check = modelport.verify(files["h5"], graph)
    assert check.passed, check.render()


def test_user_layer_from_a_keras3_weights_file_goes_under_its_own_path(tmp_path):
    """A layer class modelport does not know, its weights taken from a .weights.h5 by object
    path: the .keras written holds them where Keras 3 looks (layers/<layer>/vars/N), not
    under that path twice."""
    import zipfile

    import h5py

    keras = harness.keras_module("keras3")
    module = tmp_path / "user_layers.py"
    module.write_text(USER_KERAS3_MODULE)
    from modelport.keras_objects import load_custom_objects

    objects = load_custom_objects(module)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,), name="x")
    h = objects["Affine"](name="affine")(keras.layers.Dense(3, name="dense")(inputs))
    model = keras.Model(inputs, h)
    model.get_layer("affine").set_weights([np.array([0.5, -2.0, 3.0], np.float32),
                                           np.array([1.0, 0.0, -1.0], np.float32)])
    (tmp_path / "arch.json").write_text(model.to_json())
    model.save_weights(str(tmp_path / "w.weights.h5"))
    x = np.random.default_rng(0).uniform(-1, 1, (3, 4)).astype(np.float32)
    out = tmp_path / "m.keras"
    modelport.convert(tmp_path / "w.weights.h5", out, architecture=tmp_path / "arch.json")
    with zipfile.ZipFile(out) as archive, archive.open("model.weights.h5") as raw, \
            h5py.File(raw, "r") as f:
        assert sorted(f["layers/affine/vars"]) == ["0", "1"]
        assert "layers" not in f["layers/affine"]
    loaded = keras.models.load_model(str(out), compile=False, custom_objects=objects)
    harness.assert_outputs_close(harness.predict(loaded, [x]), harness.predict(model, [x]))


USER_KERAS3_MODULE = '''
import keras


class Affine(keras.layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")
        self.offset = self.add_weight(shape=(input_shape[-1],), initializer="zeros")

    def call(self, x):
        return x * self.scale + self.offset
'''


# ------------------------------------------- i. Keras 3 weights files: no layer order


def _mixed_model(library: str = "keras3", seed: int = 0):
    """Dense, BatchNormalization, Dense: by name, Keras 3's weights file lists
    'layers/batch_normalization' first."""
    keras = harness.keras_module(library)
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,), name="x")
    h = keras.layers.Dense(5, name="first")(inputs)
    h = keras.layers.BatchNormalization(name="norm")(h)
    return keras.Model(inputs, keras.layers.Dense(3, name="last")(h))


def test_keras3_weights_to_save_weights_h5_needs_the_layer_order(tmp_path, capsys):
    """A save_weights .h5 is loaded by layer position and a .weights.h5 records no layer
    order: refused before writing, naming the file and --architecture; with it, Keras 3 and
    tf_keras load the .h5 into their own model and compute the original's outputs."""
    model = _mixed_model()
    weights = tmp_path / "model.weights.h5"
    model.save_weights(str(weights))
    (tmp_path / "arch.json").write_text(model.to_json())
    out = tmp_path / "w.h5"
    code, _, err = _cli(capsys, "convert", weights, out)
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("modelport: error")]
    assert len(lines) == 1 and lines[0].startswith(f"modelport: error: {weights}: "), err
    assert "does not record the order of the model's layers" in lines[0]
    assert "--architecture FILE to give the layer order" in lines[0]
    assert not out.exists()
    manifest = tmp_path / "web"
    assert _cli(capsys, "convert", weights, manifest, "--weights-only")[0] == 0
    code, _, err = _cli(capsys, "convert", manifest, tmp_path / "w2.h5", "--weights-only")
    assert code == 2 and "--architecture FILE" in err and not (tmp_path / "w2.h5").exists()

    code, _, err = _cli(capsys, "convert", weights, out, "--architecture",
                        tmp_path / "arch.json", "--weights-only")
    assert code == 0, err
    x = np.random.default_rng(1).uniform(-1, 1, (4, 6)).astype(np.float32)
    expected = harness.predict(model, [x])
    judge = _mixed_model(seed=1)
    judge.load_weights(str(out))
    harness.assert_outputs_close(harness.predict(judge, [x]), expected, what="Keras 3")
    judge2 = _mixed_model("tf_keras", seed=1)
    judge2.load_weights(str(out))
    harness.assert_outputs_close(harness.predict(judge2, [x]), expected, what="tf_keras")
    # The manifest holds object paths: read back by path, into the architecture.
    assert _cli(capsys, "convert", manifest, tmp_path / "m.keras", "--architecture",
                tmp_path / "arch.json")[0] == 0
    harness.assert_outputs_close(_outputs("keras3", tmp_path / "m.keras", x), expected,
                                 what="manifest -> .keras")


def test_keras3_weights_of_one_layer_class_keep_their_order(tmp_path):
    """Twelve Dense layers: their counters (dense, dense_1, ..., dense_11; by name dense_10
    comes before dense_2) are the model's order, so the save_weights .h5 is written without
    an architecture, and Keras 3 loads it right."""
    keras = harness.keras_module("keras3")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,))] + [
        keras.layers.Dense(3 + (i % 3), activation="tanh") for i in range(12)])
    weights = tmp_path / "model.weights.h5"
    model.save_weights(str(weights))
    out = tmp_path / "w.h5"
    modelport.convert(weights, out)
    keras.utils.set_random_seed(1)
    judge = keras.models.clone_model(model)
    judge.load_weights(str(out))
    x = np.random.default_rng(2).uniform(-1, 1, (4, 3)).astype(np.float32)
    harness.assert_outputs_close(harness.predict(judge, [x]), harness.predict(model, [x]))


@pytest.mark.parametrize("bidirectional", [False, True], ids=["lstm", "bidirectional"])
def test_keras3_weights_of_layers_made_of_parts(tmp_path, bidirectional):
    """Two LSTMs keep their variables in one object each ('layers/lstm/cell'): written, and
    loaded right. Bidirectional's forward_layer and backward_layer come by name (backward
    first), not in Keras's order: refused."""
    keras = harness.keras_module("keras3")

    def build(seed: int):
        keras.utils.set_random_seed(seed)

        def recurrent():
            lstm = keras.layers.LSTM(3, return_sequences=True)
            return keras.layers.Bidirectional(lstm) if bidirectional else lstm

        return keras.Sequential([keras.Input((5, 2)), recurrent(), recurrent()])

    model = build(0)
    weights = tmp_path / "model.weights.h5"
    model.save_weights(str(weights))
    out = tmp_path / "w.h5"
    if bidirectional:
        with pytest.raises(modelport.UnsupportedError, match="--architecture FILE"):
            modelport.convert(weights, out)
        assert not out.exists()
        return
    modelport.convert(weights, out)
    judge = build(1)
    judge.load_weights(str(out))
    x = np.random.default_rng(2).uniform(-1, 1, (2, 5, 2)).astype(np.float32)
    harness.assert_outputs_close(harness.predict(judge, [x]), harness.predict(model, [x]))
