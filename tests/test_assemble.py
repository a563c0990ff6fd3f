"""Weights-only files + an architecture -> a complete model, judged by Keras itself: the same
weights file loaded by the library's own `load_weights` (topological and by name in tf_keras,
Keras 3's `.weights.h5` and legacy loaders) and by modelport + architecture gives identical
weights and outputs; mismatched architectures give the errors, reports and partial results
Keras gives. Also the reverse (weights extracted from a model) and inspect on weights files."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import modelport
from modelport.cli import main

import tfjs
import zoo
from harness import assert_outputs_close, keras_module, predict

ZOO_NAMES = list(zoo.ZOO)


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["convert", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _fresh(library: str, architecture: str):
    return keras_module(library).models.model_from_json(architecture)


def _load(library: str, path):
    return keras_module(library).models.load_model(str(path), compile=False)


def _assert_same_weights(actual_model, expected_model, what: str) -> None:
    actual = actual_model.get_weights()
    expected = expected_model.get_weights()
    assert len(actual) == len(expected), what
    for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert a.shape == e.shape and np.array_equal(a, e), f"{what}: weight {index} differs"


def _saved(library: str, name: str, tmp_path):
    keras = keras_module(library)
    model = zoo.build(name, keras)
    inputs = zoo.make_inputs(model)
    architecture = model.to_json()
    (tmp_path / "arch.json").write_text(architecture)
    return model, inputs, predict(model, inputs), architecture


# ------------------------------------------------------------------ Keras is the judge: tf_keras

@pytest.mark.parametrize("name", ZOO_NAMES)
def test_tf_keras_save_weights_h5_as_keras_loads_it(name, tmp_path, capsys):
    """tf_keras `save_weights("w.h5")` + `to_json()`: modelport's model has exactly the weights
    of `load_weights(w.h5)` (topological) and `load_weights(w.h5, by_name=True)`."""
    model, inputs, outputs, architecture = _saved("tf_keras", name, tmp_path)
    weights = tmp_path / "w.h5"
    model.save_weights(str(weights))
    topological = _fresh("tf_keras", architecture)
    topological.load_weights(str(weights))
    by_name = _fresh("tf_keras", architecture)
    by_name.load_weights(str(weights), by_name=True)
    for match, judge in ((None, topological), ("order", topological), ("name", by_name)):
        out = tmp_path / f"out-{match}.h5"
        flags = ["--match", match] if match else []
        code, _, err = _cli(capsys, weights, "--architecture", tmp_path / "arch.json", out,
                            *flags)
        assert code == 0, err
        expected_mode = match or "name"
        assert f"matched by {expected_mode}" in err
        loaded = _load("tf_keras", out)
        _assert_same_weights(loaded, judge, f"--match {match}")
        assert_outputs_close(predict(loaded, inputs), outputs, what=f"--match {match}")


@pytest.mark.parametrize("name", ["mlp", "cnn", "embedding_lstm", "bidirectional_lstm",
                                  "nested_sequential", "multi_io_shared"])
def test_tf_keras_weights_into_keras3(name, tmp_path, capsys):
    """The same tf_keras weights file assembled into .keras loads in Keras 3 with the
    original's outputs."""
    model, inputs, outputs, _ = _saved("tf_keras", name, tmp_path)
    model.save_weights(str(tmp_path / "w.h5"))
    code, _, err = _cli(capsys, tmp_path / "w.h5", "--architecture", tmp_path / "arch.json",
                        tmp_path / "out.keras")
    assert code == 0, err
    assert_outputs_close(predict(_load("keras3", tmp_path / "out.keras"), inputs), outputs)


# ------------------------------------------------------------------ TF checkpoints (no TF needed)

@pytest.mark.parametrize("name", ZOO_NAMES)
def test_tf_keras_checkpoint_as_tf_keras_restores_it(name, tmp_path, capsys):
    """tf_keras `save_weights("ckpt")` (the TF checkpoint format) + `to_json()`: modelport
    reads the checkpoint without TensorFlow and its model has exactly the weights tf_keras
    restores from it, and the original's outputs."""
    model, inputs, outputs, architecture = _saved("tf_keras", name, tmp_path)
    model.save_weights(str(tmp_path / "ckpt" / "ckpt"))
    judge = _fresh("tf_keras", architecture)
    judge.load_weights(str(tmp_path / "ckpt" / "ckpt")).expect_partial()
    for source in (tmp_path / "ckpt", tmp_path / "ckpt" / "ckpt.index"):
        out = tmp_path / f"out-{source.name}.h5"
        code, _, err = _cli(capsys, source, "--architecture", tmp_path / "arch.json", out)
        assert code == 0, err
        assert "matched by order (a TF checkpoint holds no layer names)" in err
        loaded = _load("tf_keras", out)
        _assert_same_weights(loaded, judge, "tf_keras checkpoint restore")
        assert_outputs_close(predict(loaded, inputs), outputs)


def _frozen_first_nested(keras):
    """A nested model whose first layer's weights are not trainable: Keras lists the nested
    model's weights trainable-first, a checkpoint in creation order."""
    layers = keras.layers
    inner = keras.Sequential([keras.Input(shape=(4,)), layers.BatchNormalization(name="bn"),
                              layers.Dense(3, name="inner_dense")], name="inner")
    inner.get_layer("bn").trainable = False
    x = keras.Input(shape=(4,))
    model = keras.Model(x, layers.Dense(2, name="top")(inner(x)))
    zoo.seed_weights(model, 11)
    return model


def test_checkpoint_of_nested_model_with_frozen_layer(tmp_path, capsys):
    keras = keras_module("tf_keras")
    model = _frozen_first_nested(keras)
    inputs = [np.linspace(-1, 1, 12, dtype="float32").reshape(3, 4)]
    (tmp_path / "arch.json").write_text(model.to_json())
    import tensorflow as tf

    tf.train.Checkpoint(model=model).write(str(tmp_path / "tfckpt" / "ckpt"))
    model.save_weights(str(tmp_path / "ckpt"))
    for source in (tmp_path / "ckpt.index", tmp_path / "tfckpt" / "ckpt"):
        out = tmp_path / f"out-{source.parent.name}.h5"
        code, _, err = _cli(capsys, source, "--architecture", tmp_path / "arch.json", out)
        assert code == 0, err
        loaded = _load("tf_keras", out)
        _assert_same_weights(loaded, model, str(source))
        assert_outputs_close(predict(loaded, inputs), predict(model, inputs))


# ------------------------------------------------------------------ Keras is the judge: Keras 3

@pytest.mark.parametrize("name", ZOO_NAMES)
@pytest.mark.parametrize("sharded", [False, True], ids=["weights.h5", "sharded"])
def test_keras3_save_weights_as_keras3_loads_it(name, sharded, tmp_path, capsys):
    """Keras 3 `save_weights` (`.weights.h5`, or sharded `.weights.json`) + `to_json()`:
    modelport's `.keras` holds exactly what Keras 3's `load_weights` loads."""
    model, inputs, outputs, architecture = _saved("keras3", name, tmp_path)
    if sharded:
        weights = tmp_path / "w.weights.json"
        model.save_weights(str(weights), max_shard_size=0.0005)  # in GB: several shards
        assert len(json.loads(weights.read_text())["weight_map"]) > 1 or len(
            model.weights) <= 2
    else:
        weights = tmp_path / "w.weights.h5"
        model.save_weights(str(weights))
    judge = _fresh("keras3", architecture)
    judge.load_weights(str(weights))
    code, _, err = _cli(capsys, weights, "--architecture", tmp_path / "arch.json",
                        tmp_path / "out.keras")
    assert code == 0, err
    assert "matched by path" in err
    loaded = _load("keras3", tmp_path / "out.keras")
    _assert_same_weights(loaded, judge, "Keras 3 load_weights")
    assert_outputs_close(predict(loaded, inputs), outputs)


@pytest.mark.parametrize("name", ["mlp", "cnn", "embedding_lstm", "bidirectional_lstm",
                                  "nested_sequential", "layer_norm"])
def test_keras3_legacy_weights_loader(name, tmp_path, capsys):
    """Weights extracted as a legacy `.h5` from a Keras 3 model: Keras 3's own legacy loader
    (topological and by_name) and modelport + architecture agree."""
    model, inputs, outputs, architecture = _saved("keras3", name, tmp_path)
    model.save(str(tmp_path / "model.keras"))
    code, _, err = _cli(capsys, tmp_path / "model.keras", tmp_path / "w.h5", "--weights-only")
    assert code == 0, err
    for by_name in (False, True):
        judge = _fresh("keras3", architecture)
        judge.load_weights(str(tmp_path / "w.h5"), by_name=by_name)
        assert_outputs_close(predict(judge, inputs), outputs, what=f"by_name={by_name}")
        out = tmp_path / f"out-{by_name}.keras"
        match = "name" if by_name else "order"
        code, _, err = _cli(capsys, tmp_path / "w.h5", "--architecture",
                            tmp_path / "arch.json", out, "--match", match)
        assert code == 0, err
        _assert_same_weights(_load("keras3", out), judge, f"by_name={by_name}")


# ------------------------------------------------------------------ architecture from any file

@pytest.mark.parametrize("arch_kind", ["h5", "keras", "tfjs", "json"])
def test_architecture_from_any_model_file(arch_kind, tmp_path, capsys):
    """The architecture may come from a full .h5, a .keras, a TF.js model.json (whose shards
    need not exist) or to_json() JSON; the weights from any model file too."""
    model, inputs, outputs, _ = _saved("tf_keras", "cnn", tmp_path)
    model.save(str(tmp_path / "model.h5"))
    model.save_weights(str(tmp_path / "w.h5"))
    architecture = {"h5": tmp_path / "model.h5", "json": tmp_path / "arch.json"}.get(arch_kind)
    if arch_kind == "keras":
        architecture = tmp_path / "model.keras"
        modelport.convert(tmp_path / "model.h5", architecture)
    elif arch_kind == "tfjs":
        modelport.convert(tmp_path / "model.h5", tmp_path / "web")
        for shard in (tmp_path / "web").glob("*.bin"):
            shard.unlink()
        architecture = tmp_path / "web" / "model.json"
    for weights in (tmp_path / "w.h5", tmp_path / "model.h5"):
        out = tmp_path / f"out-{weights.stem}.h5"
        code, _, err = _cli(capsys, weights, "--architecture", architecture, out)
        assert code == 0, err
        assert_outputs_close(predict(_load("tf_keras", out), inputs), outputs)


# ------------------------------------------------------------------ TF.js weights manifests

@pytest.mark.parametrize("name", ["mlp", "cnn", "embedding_lstm", "bidirectional_lstm",
                                  "nested_sequential"])
def test_tfjs_weights_manifest_both_ways(name, tmp_path, capsys, node_tfjs):
    """`--weights-only` to a folder writes a bare weights manifest that tfjs-core decodes to
    the model's weights; assembled with the architecture it gives the original's outputs."""
    model, inputs, outputs, _ = _saved("tf_keras", name, tmp_path)
    model.save(str(tmp_path / "model.h5"))
    code, _, err = _cli(capsys, tmp_path / "model.h5", tmp_path / "web", "--weights-only")
    assert code == 0, err
    manifest = tmp_path / "web" / "weights_manifest.json"
    assert not (tmp_path / "web" / "model.json").exists()
    decoded = tfjs.decode_weights(manifest)
    originals = {w.name.removesuffix(":0"): w.numpy() for w in model.weights}
    assert len(decoded) == len(originals)
    for key, value in decoded.items():
        assert np.array_equal(value, originals[key]), key
    for source in (manifest, tmp_path / "web"):
        out = tmp_path / f"out-{source.name}.h5"
        code, _, err = _cli(capsys, source, "--architecture", tmp_path / "arch.json", out)
        assert code == 0, err
        assert "matched by name" in err
        assert_outputs_close(predict(_load("tf_keras", out), inputs), outputs)


# ------------------------------------------------------------------ the reverse: extraction

def test_weights_extracted_from_models_load_in_keras(tmp_path, capsys):
    """`convert model.h5 w.weights.h5` and `--weights-only` .h5: what Keras's own
    load_weights reads back into the architecture."""
    model, inputs, outputs, _ = _saved("tf_keras", "cnn", tmp_path)
    model.save(str(tmp_path / "model.h5"))
    assert _cli(capsys, tmp_path / "model.h5", tmp_path / "w.h5", "--weights-only")[0] == 0
    judge = _fresh("tf_keras", model.to_json())
    judge.load_weights(str(tmp_path / "w.h5"))
    _assert_same_weights(judge, model, "tf_keras load_weights of extracted .h5")
    (tmp_path / "k3").mkdir()
    _, _, _, k3_arch = _saved("keras3", "cnn", tmp_path / "k3")
    modelport.convert(tmp_path / "model.h5", tmp_path / "model.keras")
    assert _cli(capsys, tmp_path / "model.keras", tmp_path / "w.weights.h5")[0] == 0
    judge3 = _fresh("keras3", k3_arch)
    judge3.load_weights(str(tmp_path / "w.weights.h5"))
    assert_outputs_close(predict(judge3, inputs), outputs)
    code, _, err = _cli(capsys, tmp_path / "model.h5", tmp_path / "x.keras", "--weights-only")
    assert code == 2 and ".weights.h5" in err


# ------------------------------------------------------------------ mismatched architectures

def _mlp(keras, widths=(8, 5), names=("hidden", "middle", "head")):
    layers = keras.layers
    model = keras.Sequential([keras.Input(shape=(6,))] + [
        layers.Dense(width, activation="relu", name=layer) for width, layer
        in zip((*widths, 3), names, strict=False)])
    zoo.seed_weights(model, 7)
    return model


@pytest.fixture()
def mlp_weights(tmp_path):
    keras = keras_module("tf_keras")
    model = _mlp(keras)
    model.save_weights(str(tmp_path / "w.h5"))
    return model, tmp_path / "w.h5"


def _architecture(tmp_path, model, name: str):
    path = tmp_path / f"{name}.json"
    path.write_text(model.to_json())
    return path


def _report(path):
    return json.loads(path.read_text())


def test_wider_layer_is_refused_naming_layer_and_shapes(mlp_weights, tmp_path, capsys):
    keras = keras_module("tf_keras")
    _, weights = mlp_weights
    wider = _mlp(keras, widths=(16, 5))
    arch = _architecture(tmp_path, wider, "wider")
    out = tmp_path / "out.h5"
    code, _, err = _cli(capsys, weights, "--architecture", arch, out, "--report",
                        tmp_path / "map.json")
    assert code == 2
    assert "layer 'hidden'" in err and "(6, 16)" in err and "(6, 8)" in err
    assert "--skip-mismatch" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".out.h5*"))
    report = _report(tmp_path / "map.json")
    statuses = {(r["layer"], r["weight"]): r["status"] for r in report["rows"]}
    assert statuses[("hidden", "hidden/kernel")] == "shape_mismatch"
    assert statuses[("hidden", "hidden/bias")] == "shape_mismatch"
    assert statuses[("middle", "middle/kernel")] == "shape_mismatch"  # (16, 5) vs (8, 5)
    assert statuses[("middle", "middle/bias")] == "loaded"
    assert statuses[("head", "head/kernel")] == "loaded"


def test_wider_layer_skip_mismatch_gives_keras_partial_result(mlp_weights, tmp_path, capsys):
    """tf_keras `load_weights(by_name=True, skip_mismatch=True)` skips exactly the weights
    whose shapes differ; modelport loads the same ones and initialises the rest as the
    layer's initializers do (zeros for biases, so those are equal too)."""
    keras = keras_module("tf_keras")
    _, weights = mlp_weights
    wider = _mlp(keras, widths=(16, 5))
    arch = _architecture(tmp_path, wider, "wider")
    judge = _fresh("tf_keras", arch.read_text())
    judge.load_weights(str(weights), by_name=True, skip_mismatch=True)
    out = tmp_path / "out.h5"
    code, _, err = _cli(capsys, weights, "--architecture", arch, out, "--skip-mismatch",
                        "--report", tmp_path / "map.json")
    assert code == 0, err
    loaded = _load("tf_keras", out)
    report = _report(tmp_path / "map.json")
    for row in report["rows"]:
        layer = loaded.get_layer(row["layer"])
        ours = {w.name.removesuffix(":0"): w.numpy() for w in layer.weights}[row["weight"]]
        theirs = {w.name.removesuffix(":0"): w.numpy() for w in judge.get_layer(
            row["layer"]).weights}[row["weight"]]
        if row["status"] == "loaded" or row["weight"].endswith("bias"):
            assert np.array_equal(ours, theirs), row
        else:
            assert row["value"] == "initialised"
            assert ours.shape == theirs.shape and not np.array_equal(ours, theirs)
            bound = np.sqrt(6 / sum(ours.shape))  # glorot_uniform
            assert np.abs(ours).max() <= bound


def test_missing_layer_by_order_is_a_count_mismatch_by_name_is_fine(tmp_path, capsys):
    """The architecture lacks one layer: Keras's topological load refuses ('Layer count
    mismatch'), by name it loads the others; modelport does the same."""
    keras = keras_module("tf_keras")
    full = _mlp(keras)
    full.save_weights(str(tmp_path / "w.h5"))
    shorter = _mlp(keras, widths=(8,), names=("hidden", "head"))
    arch = _architecture(tmp_path, shorter, "shorter")
    judge = _fresh("tf_keras", arch.read_text())
    with pytest.raises(ValueError, match="Layer count mismatch"):
        judge.load_weights(str(tmp_path / "w.h5"))
    code, _, err = _cli(capsys, tmp_path / "w.h5", "--architecture", arch,
                        tmp_path / "order.h5", "--match", "order")
    assert code == 2 and "layer count mismatch" in err
    assert "2 layers with weights" in err and "3 groups" in err
    assert not (tmp_path / "order.h5").exists()
    code, _, err = _cli(capsys, tmp_path / "w.h5", "--architecture", arch,
                        tmp_path / "order.h5", "--match", "order", "--skip-mismatch")
    assert code == 2 and "layer count mismatch" in err  # as in Keras: not skippable
    # By name: 'head' (8 -> 3) differs from the file's 'head' (5 -> 3): Keras skips it.
    judge.load_weights(str(tmp_path / "w.h5"), by_name=True, skip_mismatch=True)
    code, _, err = _cli(capsys, tmp_path / "w.h5", "--architecture", arch,
                        tmp_path / "name.h5", "--match", "name", "--skip-mismatch")
    assert code == 0, err
    assert "unused" in err  # the file's 'middle'
    loaded = _load("tf_keras", tmp_path / "name.h5")
    assert np.array_equal(loaded.get_layer("hidden").get_weights()[0],
                          judge.get_layer("hidden").get_weights()[0])
    assert np.array_equal(loaded.get_layer("head").get_weights()[1],
                          judge.get_layer("head").get_weights()[1])


def test_renamed_layers_default_to_order_and_name_is_refused(mlp_weights, tmp_path, capsys):
    keras = keras_module("tf_keras")
    original, weights = mlp_weights
    renamed = _mlp(keras, names=("a", "b", "c"))
    arch = _architecture(tmp_path, renamed, "renamed")
    judge = _fresh("tf_keras", arch.read_text())
    judge.load_weights(str(weights))  # topological: names do not matter
    code, _, err = _cli(capsys, weights, "--architecture", arch, tmp_path / "out.h5")
    assert code == 0, err
    assert "matched by order (the layer names differ)" in err
    _assert_same_weights(_load("tf_keras", tmp_path / "out.h5"), judge, "renamed, by order")
    _assert_same_weights(judge, original, "Keras topological")
    code, _, err = _cli(capsys, weights, "--architecture", arch, tmp_path / "name.h5",
                        "--match", "name")
    assert code == 2 and "layer 'a' (Dense) has no weights in the file" in err
    assert not (tmp_path / "name.h5").exists()
    # Keras by name loads nothing into renamed layers; modelport with --skip-mismatch neither.
    by_name = _fresh("tf_keras", arch.read_text())
    by_name.load_weights(str(weights), by_name=True)
    code, _, err = _cli(capsys, weights, "--architecture", arch, tmp_path / "name.h5",
                        "--match", "name", "--skip-mismatch", "--report", tmp_path / "m.json")
    assert code == 0, err
    report = _report(tmp_path / "m.json")
    assert {r["status"] for r in report["rows"]} == {"missing", "unused"}
    for layer in ("a", "b", "c"):
        kernel = _load("tf_keras", tmp_path / "name.h5").get_layer(layer).get_weights()[0]
        assert not np.array_equal(kernel, original.get_layer(
            {"a": "hidden", "b": "middle", "c": "head"}[layer]).get_weights()[0])


def test_keras3_skip_mismatch_matches_keras3_load_weights(tmp_path, capsys):
    """Keras 3 `.weights.h5` with a wider layer: Keras 3 refuses, and with skip_mismatch
    stops loading each object at its first mismatching variable; so does modelport."""
    keras = keras_module("keras3")
    model = _mlp(keras)
    model.save_weights(str(tmp_path / "w.weights.h5"))
    wider = _mlp(keras, widths=(16, 5))
    arch = _architecture(tmp_path, wider, "wider")
    judge = _fresh("keras3", arch.read_text())
    with pytest.raises(ValueError):
        judge.load_weights(str(tmp_path / "w.weights.h5"))
    judge = _fresh("keras3", arch.read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        judge.load_weights(str(tmp_path / "w.weights.h5"), skip_mismatch=True)
    code, _, err = _cli(capsys, tmp_path / "w.weights.h5", "--architecture", arch,
                        tmp_path / "refused.keras")
    assert code == 2 and "layer 'hidden'" in err
    code, _, err = _cli(capsys, tmp_path / "w.weights.h5", "--architecture", arch,
                        tmp_path / "out.keras", "--skip-mismatch", "--report",
                        tmp_path / "m.json")
    assert code == 0, err
    loaded = _load("keras3", tmp_path / "out.keras")
    report = _report(tmp_path / "m.json")
    for row in report["rows"]:
        index = 0 if row["weight"].endswith("kernel") else 1
        ours = loaded.get_layer(row["layer"]).get_weights()[index]
        theirs = judge.get_layer(row["layer"]).get_weights()[index]
        if row["status"] == "loaded" or row["weight"].endswith("bias"):
            assert np.array_equal(ours, theirs), row
        else:
            assert row["status"] in ("shape_mismatch", "skipped"), row
            assert not np.array_equal(ours, theirs), row
    assert any(r["status"] == "skipped" for r in report["rows"])  # middle's bias


def test_match_flags_that_do_not_apply(tmp_path, capsys):
    keras = keras_module("keras3")
    model = _mlp(keras)
    model.save_weights(str(tmp_path / "w.weights.h5"))
    arch = _architecture(tmp_path, model, "arch")
    code, _, err = _cli(capsys, tmp_path / "w.weights.h5", "--architecture", arch,
                        tmp_path / "o.keras", "--match", "order")
    assert code == 2 and "matched by object path" in err
    code, _, err = _cli(capsys, arch, tmp_path / "o.h5", "--match", "order")
    assert code == 2 and "--match applies only with --architecture" in err
    code, _, err = _cli(capsys, tmp_path / "w.weights.h5", "--architecture",
                        tmp_path / "w.weights.h5", tmp_path / "o.keras")
    assert code == 2 and "holds weights only" in err


# ------------------------------------------------------------------ inspect on weights files

def test_inspect_lists_every_weight_of_weights_only_files(mlp_weights, tmp_path, capsys):
    model, weights = mlp_weights
    modelport.convert(weights, tmp_path / "web", weights_only=True)
    for path in (weights, tmp_path / "web"):
        summary = modelport.inspect(path)
        listed = {w["name"]: (tuple(w["shape"]), w["dtype"]) for layer in summary["layers"]
                  for w in layer["weights"]}
        expected = {w.name.removesuffix(":0"): (tuple(w.shape), "float32")
                    for w in model.weights}
        assert listed == expected, path


def test_corrupt_checkpoint_is_one_line_error_and_nothing_written(tmp_path, capsys):
    keras = keras_module("tf_keras")
    model = _mlp(keras)
    model.save_weights(str(tmp_path / "ckpt"))
    arch = _architecture(tmp_path, model, "arch")
    data = next(tmp_path.glob("ckpt.data-*"))
    raw = bytearray(data.read_bytes())
    entry = modelport.read(tmp_path / "ckpt").weights["layer-0"][0]
    assert entry.name == "layer_with_weights-0/kernel"
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    code, _, err = _cli(capsys, tmp_path / "ckpt", "--architecture", arch, tmp_path / "o.h5")
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("modelport: error: ")
    assert "crc" in err.lower()
    assert not (tmp_path / "o.h5").exists() and not list(tmp_path.glob(".o.h5*"))


# ------------------------------------------------------------------ classes modelport does not know

_CUSTOM = {}


def _custom_classes():
    """A weightless and a weighted custom layer, registered with tf_keras (built once)."""
    if not _CUSTOM:
        keras = keras_module("tf_keras")

        @keras.utils.register_keras_serializable(package="mp_test")
        class Swish(keras.layers.Layer):
            def call(self, x):
                return x * keras.activations.sigmoid(x)

        @keras.utils.register_keras_serializable(package="mp_test")
        class Scale(keras.layers.Layer):
            def build(self, shape):
                self.count = self.add_weight(name="count", shape=(), trainable=False,
                                             initializer="zeros")
                self.w = self.add_weight(name="w", shape=(), initializer="ones")

            def call(self, x):
                return x * self.w + self.count

        _CUSTOM.update(Swish=Swish, Scale=Scale)
    return _CUSTOM


def _custom_model(with_scale: bool):
    keras = keras_module("tf_keras")
    classes = _custom_classes()
    layers = [keras.Input(shape=(4,)), keras.layers.Dense(3, name="a"), classes["Swish"](name="sw")]
    if with_scale:
        layers.append(classes["Scale"](name="sc"))
    layers.append(keras.layers.Dense(2, name="b"))
    model = keras.Sequential(layers)
    zoo.seed_weights(model, 5)
    return model


def test_custom_weightless_layer_is_no_obstacle(tmp_path, capsys):
    """A custom layer without weights: tf_keras's loaders and modelport both assemble the model
    by name, by order and from a checkpoint."""
    model = _custom_model(with_scale=False)
    inputs = [np.linspace(-2, 2, 12, dtype="float32").reshape(3, 4)]
    arch = _architecture(tmp_path, model, "arch")
    model.save_weights(str(tmp_path / "w.h5"))
    model.save_weights(str(tmp_path / "ckpt"))
    for source, flags in ((tmp_path / "w.h5", []), (tmp_path / "w.h5", ["--match", "order"]),
                          (tmp_path / "ckpt", [])):
        out = tmp_path / f"out-{source.name}-{len(flags)}.h5"
        code, _, err = _cli(capsys, source, "--architecture", arch, out, *flags)
        assert code == 0, err
        loaded = keras_module("tf_keras").models.load_model(
            str(out), compile=False, custom_objects=_custom_classes())
        _assert_same_weights(loaded, model, f"{source.name} {flags}")
        assert_outputs_close(predict(loaded, inputs), predict(model, inputs))


def test_custom_weighted_layer_by_name_and_refused_from_checkpoint(tmp_path, capsys):
    """A custom layer with weights takes its group as it is (reported unchecked); from a
    checkpoint, whose order is creation order without trainable flags, it is refused."""
    model = _custom_model(with_scale=True)
    model.get_layer("sc").set_weights([np.float32(3.0), np.float32(7.0)])
    arch = _architecture(tmp_path, model, "arch")
    model.save_weights(str(tmp_path / "w.h5"))
    code, _, err = _cli(capsys, tmp_path / "w.h5", "--architecture", arch, tmp_path / "o.h5")
    assert code == 0, err
    assert "unchecked" in err
    loaded = keras_module("tf_keras").models.load_model(
        str(tmp_path / "o.h5"), compile=False, custom_objects=_custom_classes())
    _assert_same_weights(loaded, model, "custom layer by name")
    model.save_weights(str(tmp_path / "ckpt"))
    code, _, err = _cli(capsys, tmp_path / "ckpt", "--architecture", arch, tmp_path / "c.h5")
    assert code == 2 and "layer 'sc' (Scale)" in err and "trainable" in err
    assert not (tmp_path / "c.h5").exists()


def test_report_and_output_flags_that_clash(mlp_weights, tmp_path, capsys):
    model, weights = mlp_weights
    arch = _architecture(tmp_path, model, "arch")
    out = tmp_path / "o.h5"
    code, _, err = _cli(capsys, weights, "--architecture", arch, out, "--report", out)
    assert code == 2 and "--report must name a file other than" in err
    assert not out.exists()
    code, _, err = _cli(capsys, weights, "--architecture", arch, out, "--report",
                        tmp_path / "new" / "dir" / "map.json")
    assert code == 0, err
    assert _report(tmp_path / "new" / "dir" / "map.json")["match"] == "name"
    code, _, err = _cli(capsys, tmp_path / "o.h5", tmp_path / "web", "--weights-only",
                        "--to", "tfjs_layers_model")
    assert code == 0, err
    assert (tmp_path / "web" / "weights_manifest.json").is_file()
    model.save_weights(str(tmp_path / "ckpt"))
    code, _, err = _cli(capsys, tmp_path / "ckpt", tmp_path / "w2.h5")
    assert code == 2 and "--architecture" in err


def test_cudnn_rnn_weights_load_into_lstm_and_gru_as_tf_keras_loads_them(tmp_path):
    """Keras 2's CuDNNLSTM / CuDNNGRU save their weights in cuDNN's layout (textgenrnn's
    save_weights file is one): tf_keras's load_weights converts them for LSTM and
    GRU(reset_after=True), and so does modelport."""
    from tf_keras.src.layers.rnn.cudnn_gru import CuDNNGRU
    from tf_keras.src.layers.rnn.cudnn_lstm import CuDNNLSTM

    tf_keras = keras_module("tf_keras")

    def build(lstm, gru):
        x = tf_keras.Input((5, 3))
        return tf_keras.Model(x, gru(4, name="gru")(lstm(6, return_sequences=True,
                                                         name="lstm")(x)))

    cudnn = build(CuDNNLSTM, CuDNNGRU)  # built, never run (that needs a GPU)
    rng = np.random.default_rng(0)
    cudnn.set_weights([rng.uniform(-1, 1, w.shape).astype("float32")
                       for w in cudnn.get_weights()])
    cudnn.save_weights(str(tmp_path / "cudnn.h5"))
    native = build(tf_keras.layers.LSTM, tf_keras.layers.GRU)
    (tmp_path / "arch.json").write_text(native.to_json())
    native.load_weights(str(tmp_path / "cudnn.h5"))  # tf_keras converts the layout
    modelport.convert(tmp_path / "cudnn.h5", tmp_path / "m.h5",
                      architecture=tmp_path / "arch.json")
    ours = _load("tf_keras", tmp_path / "m.h5")
    _assert_same_weights(ours, native, "cuDNN weights")
    x = [rng.uniform(-1, 1, (2, 5, 3)).astype("float32")]
    assert_outputs_close(predict(ours, x), predict(native, x), what="cuDNN weights")
    # Copied without an architecture, the weights keep cuDNN's layout in whatever format
    # they now sit in; each format's matching rule converts them when they meet the LSTM /
    # GRU (TF.js's by weight name, a .h5's by layer name).
    for target in ("tfjs_weights", "keras_weights_h5"):
        copy = tmp_path / f"copy_{target}"
        modelport.convert(tmp_path / "cudnn.h5", copy, to_format=target, weights_only=True)
        rebuilt = tmp_path / f"rebuilt_{target}.h5"
        modelport.convert(copy, rebuilt, architecture=tmp_path / "arch.json")
        _assert_same_weights(_load("tf_keras", rebuilt), native, f"cuDNN weights via {target}")
