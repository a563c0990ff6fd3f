"""Keras legacy HDF5 files in the shapes older and larger models have: class `Model` with
`_1` weight-name suffixes (Keras 2 before 2.3), attributes split into `layer_names0`,
`layer_names1`... (over 64 KB), string attributes; training config and optimizer weights
carried through. Every variant is also loaded by tf_keras itself, so it is a real file."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

import modelport
from modelport.formats.keras_h5 import read_split_attr, write_split_attr

import zoo
from harness import as_old_sequential, assert_outputs_close, link_first_dataset_elsewhere


def _old_keras2(path):
    """Keras 2.0-2.2: class `Model`, weights named after a rebuilt graph (`dense_1/kernel:0`)."""
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        if config["class_name"] == "Functional":
            config["class_name"] = "Model"
            f.attrs["model_config"] = json.dumps(config)
        root = f["model_weights"]
        for layer in read_split_attr(root, "layer_names"):
            group = root[layer]
            names = read_split_attr(group, "weight_names")
            renamed = []
            for name in names:
                head, _, tail = name.partition("/")
                new = f"{head}_1/{tail}"
                group.move(name, new) if name in group else None
                renamed.append(new)
            del group.attrs["weight_names"]
            write_split_attr(group, "weight_names", renamed)


def _split_attributes(path):
    """What Keras does for attributes over 64 KB, forced on a small model."""
    with h5py.File(path, "r+") as f:
        root = f["model_weights"]
        names = [n.encode() for n in read_split_attr(root, "layer_names")]
        del root.attrs["layer_names"]
        for index, start in enumerate(range(0, len(names), 2)):
            root.attrs[f"layer_names{index}"] = np.array(names[start:start + 2])
        for layer in read_split_attr(root, "layer_names"):
            group = root[layer]
            weights = [n.encode() for n in read_split_attr(group, "weight_names")]
            if len(weights) > 1:
                del group.attrs["weight_names"]
                group.attrs["weight_names0"] = np.array(weights[:1])
                group.attrs["weight_names1"] = np.array(weights[1:])


def _str_attributes(path):
    """Some writers store attribute strings as str, not bytes."""
    with h5py.File(path, "r+") as f:
        root = f["model_weights"]
        names = read_split_attr(root, "layer_names")
        root.attrs["layer_names"] = np.array(names, dtype=h5py.string_dtype())


@pytest.mark.parametrize("change", [_old_keras2, _split_attributes, _str_attributes])
@pytest.mark.parametrize("name", ["cnn", "multi_io_shared", "nested_sequential",
                                  "bidirectional_lstm"])
def test_h5_variants(name, change, zoo_cache, load_and_predict, run_tfjs, tmp_path):
    case = zoo_cache.get("tf_keras", name)
    variant = tmp_path / "variant.h5"
    shutil.copy(case.path, variant)
    change(variant)
    assert_outputs_close(load_and_predict("tf_keras", variant, case.inputs), case.outputs,
                         what="tf_keras on the variant itself")
    modelport.convert(variant, tmp_path / "web")
    assert_outputs_close(run_tfjs(tmp_path / "web" / "model.json", case.inputs), case.outputs,
                         what="TF.js")
    modelport.convert(variant, tmp_path / "out.h5")
    for consumer in ("keras3", "tf_keras"):
        assert_outputs_close(load_and_predict(consumer, tmp_path / "out.h5", case.inputs),
                             case.outputs, what=consumer)


def test_long_attributes_are_split_as_keras_does(tmp_path):
    path = tmp_path / "attrs.h5"
    names = [f"layer_with_a_rather_long_name_{i:05d}" * 3 for i in range(1000)]
    with h5py.File(path, "w") as f:
        write_split_attr(f, "layer_names", names)
    with h5py.File(path, "r") as f:
        assert "layer_names" not in f.attrs and "layer_names1" in f.attrs
        assert all(f.attrs[k].nbytes <= 64512 for k in f.attrs)
        assert read_split_attr(f, "layer_names") == names


def test_training_config_and_optimizer_weights_carried(tmp_path):
    import tf_keras

    tf_keras.utils.set_random_seed(1)
    model = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(3, name="d")])
    model.compile(tf_keras.optimizers.Adam(0.003), "mse", metrics=["mae"])
    x = np.random.default_rng(0).standard_normal((16, 4)).astype("float32")
    model.fit(x, x[:, :3], epochs=2, verbose=0)
    src = tmp_path / "trained.h5"
    model.save(src)
    modelport.convert(src, tmp_path / "web", include_optimizer=True)
    modelport.convert(tmp_path / "web", tmp_path / "back.h5")
    for path in (tmp_path / "web", tmp_path / "back.h5"):
        with modelport.read(path) as copy, modelport.read(src) as original:
            assert copy.training_config == original.training_config
            assert len(copy.optimizer_weights) == len(original.optimizer_weights) > 0
            for a, b in zip(copy.optimizer_weights, original.optimizer_weights, strict=True):
                np.testing.assert_array_equal(a.read(), b.read())
    reloaded = tf_keras.models.load_model(tmp_path / "back.h5")  # compiled from the config
    assert reloaded.optimizer.get_config()["learning_rate"] == pytest.approx(0.003)
    np.testing.assert_allclose(reloaded.evaluate(x, x[:, :3], verbose=0),
                               model.evaluate(x, x[:, :3], verbose=0), rtol=1e-6)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


@pytest.mark.parametrize("library", ["tf_keras", "keras3"])
def test_weights_only_output_loads_with_load_weights(library, zoo_cache, tmp_path):
    from harness import keras_module, predict

    case = zoo_cache.get(library, "cnn")
    out = tmp_path / "weights_only.h5"
    modelport.convert(case.path, out, to_format="keras_weights_h5")
    assert modelport.inspect(out)["format"] == "keras_weights_h5"
    keras = keras_module(library)
    fresh = keras.models.load_model(case.path, compile=False)
    for weight in fresh.weights:
        weight.assign(np.zeros(tuple(weight.shape), "float32"))
    fresh.load_weights(out)
    assert_outputs_close(predict(fresh, case.inputs), case.outputs, what=library)


def _assert_routes_compute(old, inputs, expected, load_and_predict, run_tfjs, tmp_path):
    """`old` converted to .h5 (loaded by tf_keras and Keras 3) and to TF.js computes
    `expected`."""
    modelport.convert(old, tmp_path / "new.h5")
    for consumer in ("tf_keras", "keras3"):
        assert_outputs_close(load_and_predict(consumer, tmp_path / "new.h5", inputs), expected,
                             what=consumer)
    modelport.convert(old, tmp_path / "web")
    assert_outputs_close(run_tfjs(tmp_path / "web" / "model.json", inputs), expected,
                         what="TF.js")


def test_keras22_sequential_with_old_gru(load_and_predict, run_tfjs, tmp_path):
    """Every route of a Keras 2.1-style file computes what the model did: the list-form
    config is read, and the GRU keeps reset_after=False (tf_keras 2.21 would read the missing
    key as True and refuse the weights)."""
    import tf_keras

    from harness import predict

    tf_keras.utils.set_random_seed(3)
    model = tf_keras.Sequential([
        tf_keras.Input((5, 3)), tf_keras.layers.GRU(4, reset_after=False, name="gru"),
        tf_keras.layers.Dense(2, name="head")])
    x = np.random.default_rng(4).standard_normal((6, 5, 3)).astype("float32")
    expected = predict(model, [x])
    old = tmp_path / "old.h5"
    model.save(old)
    as_old_sequential(old, "2.1.6", drop=("reset_after",))  # from before reset_after existed
    with h5py.File(old) as f:
        assert isinstance(json.loads(f.attrs["model_config"])["config"], list)
    summary = modelport.inspect(old)
    assert summary["model_class"] == "Sequential" and summary["inputs"][0]["shape"] == [
        None, 5, 3]
    _assert_routes_compute(old, [x], expected, load_and_predict, run_tfjs, tmp_path)
    # tf_keras's own loader refuses the file (it reads reset_after as True): verify runs the
    # original as modelport reads it.
    with pytest.raises(Exception, match="reset_after=False"):
        tf_keras.models.load_model(old, compile=False)
    result = modelport.verify(old, tmp_path / "new.h5", inputs=[x])
    assert result.passed and "'gru' (GRU): reset_after=False" in result.a.via, result.a


def test_old_keras_translations_follow_the_writers_version(tmp_path):
    """The Embedding dtype of Keras 2.0.0-2.0.6 is its input's; from 2.0.7 on (and in tf.keras)
    it is the weights' dtype, as today: a float32 Embedding of Keras 2.1.6 is read as written
    and verify gives the file to tf_keras itself."""
    import tf_keras

    from modelport.keras_config.dialects import keras2_release

    assert keras2_release("2.0.2") == (2, 0, 2) and keras2_release("2.0.6") < (2, 0, 7)
    assert keras2_release("2.1.6-tf") is None and keras2_release("3.3.3") is None
    assert keras2_release(None) is None and keras2_release("tfjs-layers 4.22.0") is None
    model = tf_keras.Sequential([tf_keras.Input((6,)), tf_keras.layers.Embedding(40, 4),
                                 tf_keras.layers.Flatten()])
    zoo.seed_weights(model, 3)
    newer = tmp_path / "newer.h5"
    model.save(newer)
    as_old_sequential(newer, "2.1.6")
    with modelport.read(newer) as read:
        assert read.metadata.translations == []
    result = modelport.verify(newer, newer)
    assert result.passed and result.a.via == "" and result.a.runtime == "tf_keras"


def test_keras20_embedding_dtype_is_its_inputs(load_and_predict, run_tfjs, tmp_path):
    """Keras 2.0 forced dtype='int32' on Embedding, meaning its input's dtype (the weights
    were float32); tf_keras 2.21 reads it as the weights' dtype and cannot build the model.
    modelport's outputs take an int32 input and float32 embeddings, and compute what the
    model did in every consumer."""
    import tf_keras

    from harness import predict

    model = tf_keras.Sequential([
        tf_keras.Input((6,)), tf_keras.layers.Embedding(40, 4, name="embedding_1"),
        tf_keras.layers.LSTM(3, name="lstm_1"), tf_keras.layers.Dense(2, name="dense_1")])
    zoo.seed_weights(model, 8)
    old = tmp_path / "old.h5"
    model.save(old)
    as_old_sequential(old, "2.0.2", first={"dtype": "int32"})
    with pytest.raises(Exception, match="int32"):
        tf_keras.models.load_model(old, compile=False)
    x = np.random.default_rng(2).integers(0, 40, (5, 6)).astype("int32")
    expected = predict(model, [x])
    summary = modelport.inspect(old)
    assert [(i["name"], i["dtype"]) for i in summary["inputs"]] == [("embedding_1_input",
                                                                    "int32")]
    _assert_routes_compute(old, [x], expected, load_and_predict, run_tfjs, tmp_path)
    # verify runs the original as modelport reads it (tf_keras's own loader cannot build
    # it), and that computes what the model did.
    with modelport.read(old) as read:
        assert len(read.metadata.translations) == 1
        assert "'embedding_1' (Embedding): dtype 'int32'" in read.metadata.translations[0]
    result = modelport.verify(old, tmp_path / "web", inputs=[x])
    assert result.passed and "read as Keras 2.0.2 meant it" in result.a.via, result.a


def test_tfjs_output_leaves_the_optimizer_out_by_default(run_tfjs, tmp_path):
    """A trained model's TF.js shards hold its own weights only (TF.js's model.save without
    includeOptimizer): the browser downloads no Adam slots; --include-optimizer keeps them."""
    import tf_keras

    from harness import predict

    tf_keras.utils.set_random_seed(2)
    model = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(8, name="d"),
                                 tf_keras.layers.Dense(3, name="out")])
    model.compile(tf_keras.optimizers.Adam(), "mse")
    x = np.random.default_rng(0).standard_normal((16, 4)).astype("float32")
    model.fit(x, x[:, :3], epochs=1, verbose=0)
    model.save(tmp_path / "trained.h5")
    model_bytes = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    for flags, optimizer in (([], False), (["--include-optimizer"], True)):
        web = tmp_path / f"web{len(flags)}"
        from modelport.cli import main

        assert main(["convert", str(tmp_path / "trained.h5"), str(web), *flags]) == 0
        shards = sum(p.stat().st_size for p in web.glob("*.bin"))
        groups = json.loads((web / "model.json").read_text())["weightsManifest"]
        tagged = [w for g in groups for w in g["weights"] if w.get("group") == "optimizer"]
        assert (shards > model_bytes and tagged) if optimizer else (
            shards == model_bytes and not tagged), (flags, shards, model_bytes)
        assert_outputs_close(run_tfjs(web / "model.json", [x]), predict(model, [x]),
                             what=f"TF.js {flags}")


def test_external_links_in_a_legacy_h5_are_refused(zoo_cache, tmp_path):
    """A legacy .h5 whose kernel is an external link to another file: refused naming it."""
    case = zoo_cache.get("tf_keras", "mlp")
    linked = tmp_path / "linked.h5"
    shutil.copy(case.path, linked)
    link_first_dataset_elsewhere(linked, "model_weights", tmp_path / "elsewhere.h5")
    with pytest.raises(modelport.FormatError, match="external link"):
        modelport.convert(linked, tmp_path / "web")
    assert not (tmp_path / "web").exists()
