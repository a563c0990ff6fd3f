"""TF.js layers model files in all the shapes the wild has: weight shards of any size, weights
straddling shards, several groups, non-float dtypes, both modelTopology shapes, 1.x files
without a format key, and tfjs-layers' own single weights.bin. Decoding is judged by tfjs-core
itself (tf.io.decodeWeights) and models by Keras and TF.js outputs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import modelport
from modelport.formats import tfjs_weights
from modelport.model import array_weight

from harness import assert_outputs_close


def _odd_weights():
    rng = np.random.default_rng(7)
    return [
        array_weight("a/kernel", rng.standard_normal((7, 5)).astype("float32")),
        array_weight("a/count", np.arange(-6, 6, dtype="int32").reshape(3, 4)),
        array_weight("b/mask", np.array([True, False, True, True, False])),
        array_weight("b/vocab", np.array([b"cat", "caf\u00e9".encode(), b"", b"x" * 300],
                                         dtype=object)),
        array_weight("c/wide", rng.standard_normal((3, 3)).astype("float64")),
        array_weight("c/long", np.array([2**40 // 2**20, -3, 7], dtype="int64")),
        array_weight("d/big", rng.standard_normal((40, 33)).astype("float32")),
        array_weight("d/scalar", np.array(1.5, dtype="float32")),
    ]


@pytest.mark.parametrize("shard_size", [1, 64, 100, 5000, 4 * 1024 * 1024])
def test_shards_decoded_by_tfjs(shard_size, tmp_path, node_tfjs):
    import tfjs

    weights = _odd_weights()
    group = tfjs_weights.write_weight_group([(w, None) for w in weights], tmp_path, shard_size)
    sizes = [(tmp_path / p).stat().st_size for p in group["paths"]]
    expected_total = (7 * 5 * 4 + 12 * 4 + 5 + (4 + 3) + (4 + 5) + 4 + (4 + 300) + 9 * 4
                      + 3 * 4 + 40 * 33 * 4 + 4)
    assert sum(sizes) == expected_total
    assert len(sizes) == max(1, -(-expected_total // shard_size))
    assert all(size == shard_size for size in sizes[:-1]) and 0 < sizes[-1] <= shard_size
    count = len(sizes)
    assert group["paths"] == [f"group1-shard{i}of{count}.bin" for i in range(1, count + 1)]
    assert [s["dtype"] for s in group["weights"]] == [
        "float32", "int32", "bool", "string", "float32", "int32", "float32", "float32"]
    (tmp_path / "model.json").write_text(json.dumps({"weightsManifest": [group]}))

    ours = {w.name: w.read() for w, _ in tfjs_weights.read_manifest([group], tmp_path,
                                                                   tmp_path / "model.json")}
    theirs = tfjs.decode_weights(tmp_path / "model.json")
    for weight in weights:
        original = weight.read()
        if original.dtype == object:
            assert list(ours[weight.name].reshape(-1)) == list(original.reshape(-1))
            assert list(theirs[weight.name].reshape(-1)) == list(original.reshape(-1))
            continue
        cast = original.astype({"f": "float32", "i": "int32", "b": "bool"}[original.dtype.kind])
        np.testing.assert_array_equal(ours[weight.name], cast)
        np.testing.assert_array_equal(theirs[weight.name].astype(cast.dtype), cast)
        assert theirs[weight.name].shape == original.shape


@pytest.mark.parametrize("strings", [[b"\xd0\xb0\xd0\xb1"], [b"ab", b"cd", b"ef"],
                                     [b"", b"", b""], b"scalar"])
def test_string_weights_of_one_length_round_trip(strings, tmp_path, node_tfjs):
    """Strings all of one length (a single string, a scalar, all empty) come back as bytes
    with the weight's shape; tfjs-core decodes the same."""
    import tfjs

    array = np.empty((), dtype=object) if isinstance(strings, bytes) else np.empty(
        len(strings), dtype=object)
    if isinstance(strings, bytes):
        array[()] = strings
    else:
        array[:] = strings
    source = modelport.Model(config=None, weights={"t": [array_weight("t/vocab", array)]})
    modelport.write(source, tmp_path / "web", "tfjs_weights")
    with modelport.read(tmp_path / "web") as back:
        (weight,) = back.all_weights()
        values = weight.read()
        assert values.shape == array.shape and values.dtype == object
        assert [type(v) for v in values.reshape(-1)] == [bytes] * array.size
        assert list(values.reshape(-1)) == list(array.reshape(-1))
    theirs = tfjs.decode_weights(tmp_path / "web" / "weights_manifest.json")
    assert list(np.asarray(theirs["t/vocab"]).reshape(-1)) == list(array.reshape(-1))


def test_weights_only_model_json_round_trip(tmp_path, node_tfjs):
    """Weights alone written as a TF.js layers model: model.json with modelTopology null (as
    tensorflowjs_converter writes a save_weights .h5), read back by modelport as weights
    only (detected, by folder or file, also under --from tfjs_layers_model), decoded by
    tfjs-core; --weights-only and the default for a folder keep the bare manifest."""
    import tfjs

    weights = _odd_weights()
    source = modelport.Model(config=None, weights={"a": weights[:2], "b": weights[2:]})
    written = modelport.write(source, tmp_path / "web", "tfjs_layers_model",
                              metadata={"key": {"a": 1}})
    assert sorted(p.name for p in written) == ["group1-shard1of1.bin", "model.json"]
    document = json.loads((tmp_path / "web" / "model.json").read_text())
    assert list(document) == ["format", "generatedBy", "convertedBy", "userDefinedMetadata",
                              "modelTopology", "weightsManifest"]
    assert document["format"] == "layers-model" and document["generatedBy"] is None
    assert document["modelTopology"] is None
    assert document["userDefinedMetadata"] == {"key": {"a": 1}}
    expected = {w.name: w.read() for w in weights}
    for given, fmt in ((tmp_path / "web", None), (tmp_path / "web" / "model.json", None),
                       (tmp_path / "web", "tfjs_layers_model")):
        assert modelport.inspect(given)["format"] == "tfjs_weights"
        with modelport.read(given, fmt) as back:
            assert back.config is None
            assert back.metadata.user_defined_metadata == {"key": {"a": 1}}
            got = {w.name: w.read() for w in back.all_weights()}
        assert list(got) == list(expected)
        for name, value in expected.items():
            if value.dtype == object:
                assert list(got[name].reshape(-1)) == list(value.reshape(-1))
            else:
                np.testing.assert_array_equal(got[name], value.astype(got[name].dtype))
    theirs = tfjs.decode_weights(tmp_path / "web" / "model.json")
    np.testing.assert_array_equal(theirs["d/big"], expected["d/big"])
    assert list(theirs) == list(expected)
    modelport.write(source, tmp_path / "bare")
    modelport.write(source, tmp_path / "only", "tfjs_layers_model", weights_only=True)
    for folder in ("bare", "only"):
        assert sorted(p.name for p in (tmp_path / folder).iterdir()) == [
            "group1-shard1of1.bin", "weights_manifest.json"]
    with pytest.raises(modelport.UnsupportedError, match="holds no weights"):
        modelport.write(modelport.Model(config=None), tmp_path / "none", "tfjs_layers_model")
    assert not (tmp_path / "none").exists()


def test_duplicate_and_missing_weights_are_refused(tmp_path):
    one = np.ones(2, "float32")
    twice = modelport.Model(config=None, weights={
        "a": [array_weight("a/w", one)], "b": [array_weight("a/w", one)]})
    with pytest.raises(modelport.UnsupportedError, match="two weights are named 'a/w'"):
        modelport.write(twice, tmp_path / "dup", "tfjs_weights")
    with pytest.raises(modelport.UnsupportedError, match="holds no weights"):
        modelport.write(modelport.Model(config=None), tmp_path / "none", "tfjs_weights")
    assert sorted(tmp_path.iterdir()) == []


def _variant(src_dir, dst_dir, change):
    shutil.copytree(src_dir, dst_dir)
    document = json.loads((dst_dir / "model.json").read_text())
    change(document, dst_dir)
    (dst_dir / "model.json").write_text(json.dumps(document))
    return dst_dir / "model.json"


def _bare_topology(document, _):
    """tfjs-layers' model.save shape: the model config itself as modelTopology."""
    topology = document["modelTopology"]
    config = topology["model_config"]
    document["modelTopology"] = {**config, "keras_version": "tfjs-layers 4.22.0",
                                 "backend": "tensor_flow.js"}


def _no_format_keys(document, _):
    """tensorflowjs 1.x output: no format, generatedBy or convertedBy."""
    for key in ("format", "generatedBy", "convertedBy"):
        document.pop(key, None)


def _two_groups(document, directory):
    """Several weight groups (the converter's per-layer grouping), each with its own shards."""
    (group,) = document["weightsManifest"]
    data = b"".join((directory / p).read_bytes() for p in group["paths"])
    for p in group["paths"]:
        (directory / p).unlink()
    half = len(group["weights"]) // 2
    offsets, position = [], 0
    for spec in group["weights"]:
        offsets.append(position)
        position += 4 * int(np.prod(spec["shape"], dtype=np.int64))
    cut = offsets[half]
    (directory / "group1-shard1of1.bin").write_bytes(data[:cut])
    (directory / "group2-shard1of2.bin").write_bytes(data[cut:cut + 10])
    (directory / "group2-shard2of2.bin").write_bytes(data[cut + 10:])
    document["weightsManifest"] = [
        {"paths": ["group1-shard1of1.bin"], "weights": group["weights"][:half]},
        {"paths": ["group2-shard1of2.bin", "group2-shard2of2.bin"],
         "weights": group["weights"][half:]},
    ]


def _single_weights_bin(document, directory):
    """tfjs-layers' model.save writes one weights.bin."""
    (group,) = document["weightsManifest"]
    data = b"".join((directory / p).read_bytes() for p in group["paths"])
    for p in group["paths"]:
        (directory / p).unlink()
    (directory / "weights.bin").write_bytes(data)
    group["paths"] = ["weights.bin"]


@pytest.mark.parametrize("change", [_bare_topology, _no_format_keys, _two_groups,
                                    _single_weights_bin])
@pytest.mark.parametrize("name", ["mlp", "multi_io_shared", "bidirectional_lstm"])
def test_model_json_variants(name, change, zoo_cache, run_tfjs, load_and_predict, tmp_path):
    case = zoo_cache.get("tf_keras", name)
    modelport.convert(case.path, tmp_path / "web", shard_size=256)
    model_json = _variant(tmp_path / "web", tmp_path / "variant", change)
    # The variant is a real TF.js file: TF.js itself loads it and computes the original.
    assert_outputs_close(run_tfjs(model_json, case.inputs), case.outputs, what="TF.js variant")
    modelport.convert(model_json, tmp_path / "back.h5")
    for consumer in ("keras3", "tf_keras"):
        assert_outputs_close(load_and_predict(consumer, tmp_path / "back.h5", case.inputs),
                             case.outputs, what=f"{consumer} after {change.__name__}")


def test_weights_bit_identical_through_round_trip(zoo_cache, tmp_path):
    case = zoo_cache.get("keras3", "cnn")
    modelport.convert(case.path, tmp_path / "web", shard_size=100)
    modelport.convert(tmp_path / "web", tmp_path / "back.h5")
    with modelport.read(case.path) as a, modelport.read(tmp_path / "back.h5") as b:
        left = [(w.name, w.read()) for w in a.all_weights()]
        right = [(w.name, w.read()) for w in b.all_weights()]
    assert [n for n, _ in left] == [n for n, _ in right]
    for (name, x), (_, y) in zip(left, right, strict=True):
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), name


def test_bundled_example_runs_in_tfjs_and_keras(run_tfjs, load_and_predict, tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "examples" / "digits"
    sample = np.load(example / "sample.npz")
    outputs = run_tfjs(example / "model.json", [sample["x"]])
    assert_outputs_close(outputs, [sample["probabilities"]], what="TF.js on the example")
    assert (outputs[0].argmax(axis=1) == sample["y"]).mean() >= 0.8
    modelport.convert(example, tmp_path / "digits.h5")
    for consumer in ("keras3", "tf_keras"):
        assert_outputs_close(load_and_predict(consumer, tmp_path / "digits.h5", [sample["x"]]),
                             [sample["probabilities"]], what=consumer)


def test_inspect_json_carries_its_schema(capsys):
    """--json output says what it is and which schema version, before the summary itself."""
    from pathlib import Path

    from modelport.cli import main

    example = Path(__file__).resolve().parents[1] / "examples" / "digits"
    assert main(["inspect", str(example), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert list(document)[:3] == ["schema", "schema_version", "modelport_version"]
    assert document["schema"] == "modelport.inspect" and document["schema_version"] == 1
    assert document["modelport_version"] == modelport.__version__
    assert document["format"] == "tfjs_layers_model" and document["layers"]
