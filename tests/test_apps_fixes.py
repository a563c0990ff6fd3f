"""What keras.applications models ran into (issue 14, items 6 and 9), each with the real
libraries: layer names Keras 3 forbids, Normalization from checkpoints, the applications' own
custom layers in the TF-backed writers, --custom-objects for convert, the user's file (never a
temporary folder) in errors, refusals that name the route that works, and Keras 2.0-2.3
CuDNNLSTM / CuDNNGRU files."""

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
