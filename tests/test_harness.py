"""Self-tests of the test harness (no modelport needed): the zoo builds and round-trips in both
Keras libraries, the TF.js runner and the tfjs-native models work, TF.js-skip reasons are
real, and the comparison helpers can fail."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import tfjs
import zoo
from harness import LIBRARIES, assert_outputs_close, keras_module, predict

ZOO_CASES = [pytest.param(lib, name, id=f"{lib}-{name}") for lib in LIBRARIES for name in zoo.ZOO]

# What TF.js says when it meets each zoo case marked tfjs_skip.
TFJS_SKIP_ERRORS = {
    "conv1d_causal": "CAUSAL padding mode in conv1dWithBias is not implemented yet",
    "gru_reset_after": "GRUCell does not support reset_after parameter set to true",
    "elu_alpha": "is not supported by the ELU layer yet",
}


@pytest.mark.parametrize("library, name", ZOO_CASES)
def test_zoo_h5_reloads_in_own_library(library, name, zoo_cache, load_and_predict):
    case = zoo_cache.get(library, name)
    with h5py.File(case.path, "r") as f:
        assert "model_config" in f.attrs and "model_weights" in f
    assert_outputs_close(load_and_predict(library, case.path, case.inputs), case.outputs)


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_zoo_is_the_same_model_in_both_libraries(name, zoo_cache):
    a = zoo_cache.get("tf_keras", name)
    b = zoo_cache.get("keras3", name)
    for x, y in zip(a.inputs, b.inputs, strict=True):
        np.testing.assert_array_equal(x, y)
    assert_outputs_close(a.outputs, b.outputs)


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_zoo_outputs_vary_over_the_batch(name, zoo_cache):
    """Degenerate outputs (saturated, constant) would let wrong conversions pass."""
    case = zoo_cache.get("tf_keras", name)
    assert len(case.inputs[0]) == zoo.BATCH
    for y in case.outputs:
        assert np.all(np.isfinite(y))
        assert float(np.ptp(y, axis=0).max()) > 1e-2, f"{name}: outputs barely vary"


def test_zoo_int_inputs_within_vocabulary():
    keras = keras_module("keras3")
    model = zoo.build("embedding_lstm", keras)
    (x,) = zoo.make_inputs(model)
    assert x.dtype == np.int32 and x.min() >= 0 and x.max() < 12
    assert len(np.unique(x)) > 3


def test_batchnorm_moving_statistics_matter():
    keras = keras_module("tf_keras")
    model = zoo.build("cnn", keras)
    inputs = zoo.make_inputs(model)
    before = predict(model, inputs)
    bn = next(layer for layer in model.layers if "batch_normalization" in layer.name)
    gamma, beta, mean, var = bn.get_weights()
    assert not np.allclose(mean, 0) and not np.allclose(var, 1)
    bn.set_weights([gamma, beta, np.zeros_like(mean), np.ones_like(var)])
    with pytest.raises(AssertionError):
        assert_outputs_close(predict(model, inputs), before)


def test_assert_outputs_close_can_fail():
    y = [np.zeros((3, 2), np.float32)]
    assert_outputs_close([y[0] + 9e-6], y)
    with pytest.raises(AssertionError):
        assert_outputs_close([y[0] + 2e-5], y)
    with pytest.raises(AssertionError):
        assert_outputs_close([y[0].reshape(2, 3)], y)
    with pytest.raises(AssertionError):
        assert_outputs_close(y + y, y)


# --- TF.js runtime -----------------------------------------------------------------------------


def _s(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def tf_keras_h5_to_tfjs(h5_path, outdir):
    """Minimal reference conversion of a tf_keras legacy .h5 into a TF.js layers model, used
    only to check the harness: the Keras 2 config is wrapped as the Python converter does,
    weights go to one shard in model_weights order with names minus ':0'."""
    outdir.mkdir(parents=True, exist_ok=True)
    with h5py.File(h5_path, "r") as f:
        config = json.loads(_s(f.attrs["model_config"]))
        keras_version = _s(f.attrs["keras_version"])
        backend = _s(f.attrs["backend"])
        groups = f["model_weights"]
        specs, chunks = [], []
        for layer_name in groups.attrs["layer_names"]:
            group = groups[_s(layer_name)]
            for weight_name in group.attrs["weight_names"]:
                weight_name = _s(weight_name)
                value = np.asarray(group[weight_name][()], dtype="<f4")
                specs.append(
                    {
                        "name": weight_name.removesuffix(":0"),
                        "shape": list(value.shape),
                        "dtype": "float32",
                    }
                )
                chunks.append(value.tobytes())
    # tfjs-layers rejects SeparableConv2D configs carrying kernel_* keys, which tf_keras writes
    # ("Fields kernelInitializer, kernelRegularizer and kernelConstraint are invalid for
    # SeparableConv2D").
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "SeparableConv2D":
            for key in ("kernel_initializer", "kernel_regularizer", "kernel_constraint"):
                layer["config"].pop(key, None)
    (outdir / "group1-shard1of1.bin").write_bytes(b"".join(chunks))
    model_json = {
        "format": "layers-model",
        "generatedBy": f"keras v{keras_version}",
        "convertedBy": "modelport test harness",
        "modelTopology": {
            "keras_version": keras_version,
            "backend": backend,
            "model_config": config,
        },
        "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": specs}],
    }
    (outdir / "model.json").write_text(json.dumps(model_json))
    return outdir / "model.json"


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_tfjs_runs_reference_conversion_of_tf_keras_zoo(name, zoo_cache, run_tfjs, tmp_path):
    """TF.js runs every zoo model not marked tfjs_skip, and fails on those marked, with the
    message the skip reason quotes."""
    case = zoo_cache.get("tf_keras", name)
    model_json = tf_keras_h5_to_tfjs(case.path, tmp_path / "web")
    if name in zoo.TFJS_SKIP:
        with pytest.raises(tfjs.TfjsError, match=TFJS_SKIP_ERRORS[name]):
            run_tfjs(model_json, case.inputs)
    else:
        assert_outputs_close(run_tfjs(model_json, case.inputs), case.outputs)


def test_tfjs_skip_reasons_are_checked():
    assert set(TFJS_SKIP_ERRORS) == set(zoo.TFJS_SKIP)


def test_tfjs_native_models(tfjs_models, run_tfjs):
    """make_tfjs_models.js wrote what tfjs-node's file handler writes, and run_layers_model.js
    reproduces the outputs TF.js recorded."""
    assert sorted(tfjs_models) == sorted(tfjs.TFJS_NATIVE_MODELS)
    for name, (model_dir, inputs, expected) in tfjs_models.items():
        model_json = json.loads((model_dir / "model.json").read_text())
        assert model_json["format"] == "layers-model"
        assert model_json["weightsManifest"][0]["paths"] == ["weights.bin"]
        assert model_json["modelTopology"]["backend"] == "tensor_flow.js"
        assert (model_dir / "weights.bin").stat().st_size > 0
        if name == "mlp":
            assert model_json["trainingConfig"]["optimizer_config"]["class_name"] == "Adam"
            groups = {w.get("group") for w in model_json["weightsManifest"][0]["weights"]}
            assert "optimizer" in groups
        for y in expected:
            assert np.all(np.isfinite(y))
        # bitwise: same runtime, same weights, same inputs
        assert_outputs_close(run_tfjs(model_dir / "model.json", inputs), expected, atol=0)


def test_run_tfjs_reports_errors(tfjs_models, run_tfjs, tmp_path):
    model_dir, inputs, _ = tfjs_models["mlp"]
    model_json = json.loads((model_dir / "model.json").read_text())
    # one weight missing from the manifest: TF.js must refuse, and we must see why
    model_json["weightsManifest"][0]["weights"] = model_json["weightsManifest"][0]["weights"][1:]
    bad = tmp_path / "model.json"
    bad.write_text(json.dumps(model_json))
    (tmp_path / "weights.bin").write_bytes((model_dir / "weights.bin").read_bytes())
    with pytest.raises(tfjs.TfjsError, match="not set|no target variable|weight"):
        run_tfjs(bad, inputs)
    with pytest.raises(tfjs.TfjsError, match="inputs"):
        run_tfjs(model_dir / "model.json", inputs + inputs)
