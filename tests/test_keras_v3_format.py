"""Keras 3 native formats and the Keras 2 <-> Keras 3 bridge on the zoo, judged by the real
loaders: `.keras` (from Keras 3 and from tf_keras) <-> `.h5` in both dialects, `.weights.h5`
(single and sharded) with architecture JSON, bit-identical round trips, and the refusals."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import modelport

import zoo
from harness import (
    LIBRARIES,
    assert_outputs_close,
    keras_module,
    link_first_dataset_elsewhere,
    predict,
)

ZOO_CASES = [pytest.param(lib, name, id=f"{lib}-{name}") for lib in LIBRARIES for name in zoo.ZOO]
# Keras 3 cannot load MultiHeadAttention from a Keras 2 dialect file (no zoo model has one).


def _load(library, path, **kwargs):
    return keras_module(library).models.load_model(str(path), compile=False, **kwargs)


@pytest.mark.parametrize("library, name", ZOO_CASES)
def test_library_keras_file_to_keras_and_h5(library, name, zoo_cache, tmp_path):
    """The library's own .keras -> .keras (Keras 3) and -> .h5 (both Keras)."""
    case = zoo_cache.get(library, name)
    modelport.convert(case.keras_path, tmp_path / "out.keras")
    assert_outputs_close(predict(_load("keras3", tmp_path / "out.keras"), case.inputs),
                         case.outputs, what="Keras 3 on .keras")
    modelport.convert(case.keras_path, tmp_path / "out.h5")
    for consumer in LIBRARIES:
        assert_outputs_close(predict(_load(consumer, tmp_path / "out.h5"), case.inputs),
                             case.outputs, what=f"{consumer} on .h5")


@pytest.mark.parametrize("library, name", ZOO_CASES)
def test_h5_to_keras_and_keras3_dialect_h5(library, name, zoo_cache, tmp_path):
    case = zoo_cache.get(library, name)
    modelport.convert(case.path, tmp_path / "out.keras")
    assert_outputs_close(predict(_load("keras3", tmp_path / "out.keras"), case.inputs),
                         case.outputs, what="Keras 3 on .keras")
    modelport.convert(case.path, tmp_path / "k3.h5", keras=3)
    assert_outputs_close(predict(_load("keras3", tmp_path / "k3.h5"), case.inputs),
                         case.outputs, what="Keras 3 on --keras 3 .h5")


@pytest.mark.parametrize("library, name", ZOO_CASES)
def test_architecture_json_with_weights(library, name, zoo_cache, tmp_path):
    """JSON (Keras 2 dialect) + legacy weights for tf_keras; JSON (Keras 3) + .weights.h5 and
    sharded .weights.json for Keras 3: loaded with model_from_json + load_weights."""
    case = zoo_cache.get(library, name)
    modelport.convert(case.path, tmp_path / "k2.json", to_format="keras_json", keras=2)
    modelport.convert(case.path, tmp_path / "legacy.h5", to_format="keras_weights_h5")
    tf_keras = keras_module("tf_keras")
    model = tf_keras.models.model_from_json((tmp_path / "k2.json").read_text())
    model.load_weights(str(tmp_path / "legacy.h5"))
    assert_outputs_close(predict(model, case.inputs), case.outputs, what="tf_keras")

    modelport.convert(case.path, tmp_path / "k3.json", to_format="keras_json", keras=3)
    modelport.convert(case.path, tmp_path / "w.weights.h5")
    written = modelport.convert(case.path, tmp_path / "s.weights.json", shard_size=200)
    assert len(written) >= 2 and all(p.is_file() for p in written)
    keras3 = keras_module("keras3")
    for weights in ("w.weights.h5", "s.weights.json"):
        model = keras3.models.model_from_json((tmp_path / "k3.json").read_text())
        model.load_weights(str(tmp_path / weights))
        assert_outputs_close(predict(model, case.inputs), case.outputs, what=f"Keras 3 {weights}")


def _weights_tree(path):
    """{dataset path: array} of a .keras archive's model.weights.h5."""
    with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as raw:
        data = raw.read()
    import io

    found = {}
    with h5py.File(io.BytesIO(data), "r") as f:
        f.visititems(lambda n, o: found.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset)
                     else None)
    return found


@pytest.mark.parametrize("h5_dialect", [2, 3])
@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_keras_h5_tfjs_keras_round_trip_is_bit_identical(name, h5_dialect, zoo_cache,
                                                         tmp_path):
    """.keras -> .h5 -> model.json -> .keras keeps every weight bit for bit. Through a Keras 3
    dialect .h5 every weight comes back at its own path; the default .h5 inlines called
    nested models (so that all runtimes load it), which moves their weights to the outer
    model's layers with the same bits."""
    case = zoo_cache.get("keras3", name)
    modelport.convert(case.keras_path, tmp_path / "a.h5", keras=h5_dialect)
    if case.tfjs_skip:
        modelport.convert(tmp_path / "a.h5", tmp_path / "back.keras")
    else:
        modelport.convert(tmp_path / "a.h5", tmp_path / "web")
        modelport.convert(tmp_path / "web" / "model.json", tmp_path / "back.keras")
    original, back = _weights_tree(case.keras_path), _weights_tree(tmp_path / "back.keras")
    # The zoo compiles its models; optimizer state is not part of this round trip.
    original = {k: v for k, v in original.items() if not k.startswith("optimizer/")}
    inlined = h5_dialect == 2 and "nested" in name
    if inlined:
        original, back = (dict(enumerate(sorted(tree.values(), key=lambda a: a.tobytes())))
                          for tree in (original, back))
    assert sorted(back) == sorted(original)
    for key, value in original.items():
        assert back[key].dtype == value.dtype and back[key].tobytes() == value.tobytes(), key
    assert_outputs_close(predict(_load("keras3", tmp_path / "back.keras"), case.inputs),
                         case.outputs, what="Keras 3")


def test_sharded_weights_layout(zoo_cache, tmp_path):
    case = zoo_cache.get("keras3", "cnn")
    written = modelport.convert(case.path, tmp_path / "cnn.weights.json", shard_size=1000)
    document = json.loads((tmp_path / "cnn.weights.json").read_text())
    shards = [p.name for p in written[1:]]
    assert shards == [f"cnn_{i:05d}.weights.h5" for i in range(len(shards))]
    assert set(sum(document["weight_map"].values(), [])) == set(shards)
    total = 0
    for shard in shards:
        with h5py.File(tmp_path / shard) as f:
            f.visititems(lambda n, o: None)
            sizes = []
            f.visititems(lambda n, o, s=sizes: s.append(o.nbytes)
                         if isinstance(o, h5py.Dataset) else None)
            total += sum(sizes)
    assert document["metadata"]["total_size"] == total
    # read back by modelport as well, sharded and single-file: the same weights as the source
    modelport.convert(case.path, tmp_path / "one.weights.h5")
    for weights in ("cnn.weights.json", "one.weights.h5"):
        with modelport.read(tmp_path / weights) as back, modelport.read(case.path) as source:
            assert back.weight_count == source.weight_count > 0
            assert sorted(w.read().tobytes() for w in back.all_weights()) == sorted(
                w.read().tobytes() for w in source.all_weights())
        assert modelport.inspect(tmp_path / weights)["format"] == "keras_v3_weights"


def _hard_sigmoid_model(keras):
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(3, activation="hard_sigmoid")(inputs)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("library", LIBRARIES)
def test_hard_sigmoid_is_refused_across_dialects(library, tmp_path):
    """Keras 2 / TF.js: 0.2x+0.5; Keras 3: x/6+0.5. Crossing dialects would change outputs."""
    keras = keras_module(library)
    model = _hard_sigmoid_model(keras)
    src = tmp_path / "hs.h5"
    model.save(str(src))
    x = np.linspace(-3, 3, 8, dtype="float32").reshape(2, 4)
    other = "keras3" if library == "tf_keras" else "tf_keras"
    theirs = _hard_sigmoid_model(keras_module(other))
    theirs.set_weights(model.get_weights())
    assert np.abs(predict(model, [x])[0] - predict(theirs, [x])[0]).max() > 1e-3
    crossing = [("out.keras", {})] if library == "tf_keras" else [("out.h5", {}), ("web", {})]
    for dst, options in crossing:
        with pytest.raises(modelport.UnsupportedError, match="hard_sigmoid"):
            modelport.convert(src, tmp_path / dst, **options)
        assert not (tmp_path / dst).exists()
    same = "out.h5" if library == "tf_keras" else "out.keras"
    # The refusal names the outputs that keep the model's own hard_sigmoid.
    with pytest.raises(modelport.UnsupportedError, match=f"own Keras \\(`{Path(same).suffix}`"):
        modelport.convert(src, tmp_path / crossing[0][0], **crossing[0][1])
    modelport.convert(src, tmp_path / same)
    assert_outputs_close(predict(_load(library, tmp_path / same), [x]), predict(model, [x]),
                         what=library)


def test_thresholded_relu_becomes_keras3_relu(tmp_path):
    tf_keras = keras_module("tf_keras")
    inputs = tf_keras.Input((5,))
    outputs = tf_keras.layers.ThresholdedReLU(theta=0.25)(tf_keras.layers.Dense(5)(inputs))
    model = tf_keras.Model(inputs, outputs)
    zoo.seed_weights(model, 3)
    model.save(str(tmp_path / "t.h5"))
    x = np.random.default_rng(1).uniform(-1, 1, (4, 5)).astype("float32")
    modelport.convert(tmp_path / "t.h5", tmp_path / "t.keras")
    assert_outputs_close(predict(_load("keras3", tmp_path / "t.keras"), [x]),
                         predict(model, [x]), what="Keras 3")


def test_embedding_input_length_is_dropped_where_the_input_fixes_it(tmp_path):
    """Keras 2's Embedding(input_length=N) only restates (or fills in) the input's length;
    Keras 3 ignores the argument. Dropped where every call's input already has that length
    (a Sequential's, a shared layer's two inputs), refused where the input's length is open
    (Keras 2 put N into the static shape there)."""
    tf_keras = keras_module("tf_keras")
    layers = tf_keras.layers
    sequential = tf_keras.Sequential([
        tf_keras.Input((6,)), layers.Embedding(20, 4, input_length=6, name="embedding"),
        layers.LSTM(3, name="lstm"), layers.Dense(2, name="dense")])
    a, b = tf_keras.Input((5,), name="a"), tf_keras.Input((5,), name="b")
    shared = layers.Embedding(30, 3, input_length=5, name="shared")
    merged = layers.Concatenate()([layers.Flatten()(shared(a)), layers.Flatten()(shared(b))])
    functional = tf_keras.Model([a, b], layers.Dense(2, name="out")(merged))
    rng = np.random.default_rng(3)
    for index, (model, vocabulary) in enumerate(((sequential, 20), (functional, 30))):
        zoo.seed_weights(model, index)
        src = tmp_path / f"m{index}.h5"
        model.save(str(src))
        with h5py.File(src) as f:
            assert "input_length" in f.attrs["model_config"]
        x = [rng.integers(0, vocabulary, (4, int(i.shape[1]))).astype("float32")
             for i in model.inputs]
        for dst, options in ((f"m{index}.keras", {}), (f"m{index}_k3.h5", {"keras": 3})):
            modelport.convert(src, tmp_path / dst, **options)
            assert_outputs_close(predict(_load("keras3", tmp_path / dst), x),
                                 predict(model, x), what=f"Keras 3 on {dst}")
    inputs = tf_keras.Input((None,))
    embedded = layers.Embedding(20, 4, input_length=6, name="open")(inputs)
    open_length = tf_keras.Model(inputs, layers.GlobalAveragePooling1D()(embedded))
    open_length.save(str(tmp_path / "open.h5"))
    with pytest.raises(modelport.UnsupportedError, match="'open' .*input_length=6"):
        modelport.convert(tmp_path / "open.h5", tmp_path / "open.keras")
    assert not (tmp_path / "open.keras").exists()


def test_custom_layer_is_carried_with_a_warning(tmp_path):
    keras = keras_module("keras3")

    @keras.saving.register_keras_serializable(package="modelport_tests")
    class Scale(keras.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.w

    inputs = keras.Input((3,))
    model = keras.Model(inputs, Scale(name="scale")(keras.layers.Dense(3)(inputs)))
    zoo.seed_weights(model, 5)
    model.save(tmp_path / "c.keras")
    x = np.random.default_rng(2).normal(size=(2, 3)).astype("float32")
    with modelport.read(tmp_path / "c.keras") as read:
        written = modelport.write(read, tmp_path / "c.h5", keras=3)
        assert any("custom class (modelport_tests>Scale)" in w for w in written.warnings)
    modelport.convert(tmp_path / "c.h5", tmp_path / "back.keras")
    loaded = keras.models.load_model(tmp_path / "back.keras", custom_objects={"Scale": Scale})
    assert_outputs_close(predict(loaded, [x]), predict(model, [x]), what="Keras 3")


def test_keras_option_is_refused_where_it_does_not_apply(zoo_cache, tmp_path):
    case = zoo_cache.get("keras3", "mlp")
    with pytest.raises(modelport.UnsupportedError, match="--keras does not apply"):
        modelport.convert(case.path, tmp_path / "web", keras=3)
    with pytest.raises(modelport.UnsupportedError, match="architecture without weights"):
        modelport.convert(case.path, tmp_path / "a.json", to_format="keras_json")
        modelport.convert(tmp_path / "a.json", tmp_path / "x.h5")
    assert not (tmp_path / "web").exists() and not (tmp_path / "x.h5").exists()


def _rewritten(source, target, extra=(), damage=None):
    """A copy of a real .keras archive with members added (name, bytes, compression)."""
    import zipfile

    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info.filename))
        for name, data, method in extra:
            dst.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    if damage is not None:
        raw = bytearray(target.read_bytes())
        damage(raw)
        target.write_bytes(bytes(raw))
    return target


@pytest.mark.parametrize("case_name, expected", [
    ("slip", "leads outside the archive"),
    ("absolute", "leads outside the archive"),
    ("bomb", "zip bomb"),
    ("bzip2", "compression method"),
    ("flipped", "damaged .keras archive"),
])
def test_hostile_keras_archives_are_refused(zoo_cache, tmp_path, case_name, expected):
    """Names leading outside the archive, a member inflating 1000x, an unsupported method, a
    damaged member: one FormatError/UnsupportedError naming the file, nothing written (the
    real archive itself converts)."""
    import zipfile

    source = zoo_cache.get("keras3", "mlp").keras_path
    modelport.convert(source, tmp_path / "fine.h5")
    extra = {
        "slip": [("assets/../../evil.txt", b"x", zipfile.ZIP_STORED)],
        "absolute": [("/etc/evil.txt", b"x", zipfile.ZIP_STORED)],
        "bomb": [("assets/zeros.bin", bytes(20 << 20), zipfile.ZIP_DEFLATED)],
        "bzip2": [("assets/b.txt", b"abc" * 100, zipfile.ZIP_BZIP2)],
    }.get(case_name, [])

    def flip(raw):
        at = raw.find(b'"class_name"')  # inside config.json's stored bytes
        raw[at + 3] ^= 0xFF

    hostile = _rewritten(source, tmp_path / "hostile.keras", extra,
                         flip if case_name == "flipped" else None)
    with pytest.raises(modelport.ModelportError, match=expected) as raised:
        modelport.convert(hostile, tmp_path / "out.h5")
    assert str(hostile) in str(raised.value)
    assert not (tmp_path / "out.h5").exists()


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_weight_map_cannot_lead_outside_its_folder(zoo_cache, tmp_path, kind):
    """A sharded .weights.json naming '../x', an absolute path, or a shard that is a link to a
    file elsewhere: refused naming the path; nothing outside is read."""
    case = zoo_cache.get("keras3", "cnn")
    folder = tmp_path / "model"
    written = modelport.convert(case.path, folder / "cnn.weights.json", shard_size=1000)
    shards = [p.name for p in written[1:]]
    outside = tmp_path / "elsewhere.weights.h5"
    outside.write_bytes((folder / shards[0]).read_bytes())
    document = json.loads((folder / "cnn.weights.json").read_text())
    if kind == "symlink":
        (folder / shards[0]).unlink()
        (folder / shards[0]).symlink_to(outside)
    else:
        name = "../elsewhere.weights.h5" if kind == "dotdot" else str(outside)
        document["weight_map"] = {k: [name if v == [shards[0]] else v[0]]
                                  for k, v in document["weight_map"].items()}
        (folder / "cnn.weights.json").write_text(json.dumps(document))
    with pytest.raises(modelport.FormatError, match="outside the model's folder"):
        modelport.convert(folder / "cnn.weights.json", tmp_path / "out.weights.h5")
    assert not (tmp_path / "out.weights.h5").exists()


def test_hdf5_external_links_are_refused(zoo_cache, tmp_path):
    """A .weights.h5 whose dataset is an external link into another file: refused naming the
    link; the other file is never opened."""
    case = zoo_cache.get("keras3", "mlp")
    weights = tmp_path / "w.weights.h5"
    modelport.convert(case.keras_path, weights)
    link_first_dataset_elsewhere(weights, "/", tmp_path / "elsewhere.h5")
    with pytest.raises(modelport.FormatError, match="external link"):
        modelport.convert(weights, tmp_path / "out.weights.h5")
