"""Weights copied as bytes, file to file, where the layouts agree: .h5 -> TF.js copies
contiguous, unfiltered little-endian float32 datasets into the shards (chunked, compressed or
big-endian ones go through arrays, with the same shards); TF.js and checkpoints -> HDF5 create
the datasets first and fill them by file offset (byte-identical to writing the arrays); a
checkpoint's tensors are crc32c-checked on the way. The runtimes compute the original's
outputs from what is written."""

from __future__ import annotations

import os
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

import modelport
from modelport.fileio import COPY_METHODS, copy_range
from modelport.formats import keras_h5, tfjs_weights
from modelport.quantize import plan_from_flags

from harness import assert_outputs_close, keras_module

# Small shards: most tensors straddle two or more (copied as several ranges).
SHARD_SIZE = 100


def _rewrite(src: Path, dst: Path, **dataset_options) -> None:
    """`src` (a tf_keras .h5) with every dataset rewritten with `dataset_options` (chunks,
    compression, dtype), as h5repack or another writer would store the same weights."""
    with h5py.File(src, "r") as fin, h5py.File(dst, "w") as fout:
        fout.attrs.update(fin.attrs)

        def copy(name: str, item) -> None:
            if isinstance(item, h5py.Group):
                fout.require_group(name).attrs.update(item.attrs)
                return
            options = dict(dataset_options)
            if item.dtype.kind != "f":
                options.pop("dtype", None)
            data = item[()]
            if item.shape == () or item.size == 0:
                options = {}
            created = fout.create_dataset(name, data=data, **options)
            created.attrs.update(item.attrs)

        fin.visititems(copy)


def _shards(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("shard_size", [SHARD_SIZE, tfjs_weights.DEFAULT_SHARD_SIZE])
def test_copied_shards_equal_the_array_path(zoo_cache, run_tfjs, tmp_path, shard_size):
    case = zoo_cache.get("tf_keras", "mlp")
    variants = {"contiguous": case.path}
    for name, options in (("chunked", {"chunks": True}),
                          ("compressed", {"chunks": True, "compression": "gzip",
                                          "shuffle": True}),
                          ("big_endian", {"dtype": ">f4"})):
        variants[name] = tmp_path / f"{name}.h5"
        _rewrite(case.path, variants[name], **options)

    with modelport.read(case.path) as model:
        sources = [w.source for w in model.all_weights()]
    assert sources and all(s is not None for s in sources)  # tf_keras writes contiguous
    for name in ("chunked", "compressed"):
        with modelport.read(variants[name]) as model:
            assert all(w.source is None for w in model.all_weights()), name
    with modelport.read(variants["big_endian"]) as model:  # contiguous, not TF.js's bytes
        assert {w.source.dtype for w in model.all_weights()} == {">f4"}

    outputs = {}
    for name, path in variants.items():
        modelport.convert(path, tmp_path / name, shard_size=shard_size)
        outputs[name] = _shards(tmp_path / name)
    if shard_size == SHARD_SIZE:  # tensors straddle shards
        assert len([n for n in outputs["contiguous"] if n.endswith(".bin")]) > 3
    for name in ("chunked", "compressed", "big_endian"):
        assert outputs[name] == outputs["contiguous"], name
    assert_outputs_close(run_tfjs(tmp_path / "contiguous" / "model.json", case.inputs),
                         case.outputs, what="TF.js")


@pytest.mark.parametrize("method", COPY_METHODS)
def test_every_copy_method_copies_the_range(method, tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 3 * (1 << 20) + 17, np.uint8).tobytes()
    (tmp_path / "src").write_bytes(data)
    src = os.open(tmp_path / "src", os.O_RDONLY)
    try:
        with open(tmp_path / "dst", "wb") as handle:
            handle.write(b"head")
            handle.flush()
            copy_range(src, handle.fileno(), 5, len(data) - 9, methods=(method,))
            handle.seek(0, os.SEEK_END)
            handle.write(b"tail")
        with pytest.raises(OSError, match="ended"):
            with open(tmp_path / "short", "wb") as handle:
                copy_range(src, handle.fileno(), len(data) - 3, 10, methods=(method,))
    finally:
        os.close(src)
    assert (tmp_path / "dst").read_bytes() == b"head" + data[5:-4] + b"tail"


def _without_sources(model: modelport.Model) -> modelport.Model:
    """`model` with no weight's byte range known: every weight goes through its array."""
    weights = {layer: [replace(w, source=None) for w in group]
               for layer, group in model.weights.items()}
    return replace(model, weights=weights)


@pytest.mark.parametrize("target", ["model.h5", "weights.h5", "model.weights.h5",
                                    "sharded.weights.json", "model.keras"])
def test_hdf5_filled_by_offset_equals_the_array_path(zoo_cache, load_and_predict, tmp_path,
                                                     monkeypatch, target):
    """TF.js -> HDF5: datasets are created first and their bytes copied from the shards by
    file offset (a tensor straddling shards as several ranges); the files are byte for byte
    those written from arrays, and tf_keras and Keras 3 (.keras: Keras 3) compute the original's
    outputs."""
    case = zoo_cache.get("tf_keras", "cnn")
    tfjs = tmp_path / "tfjs"
    modelport.convert(case.path, tfjs, shard_size=SHARD_SIZE)
    with modelport.read(tfjs) as model:
        pieces = [len(w.source.pieces) for w in model.all_weights()]
        assert max(pieces) > 1  # straddling tensors
        copies = []
        monkeypatch.setattr(keras_h5, "copy_range",
                            lambda *args, **kw: copies.append(args) or copy_range(*args, **kw))
        options = {"shard_size": 3000} if target.endswith(".json") else {}
        weights_only = target == "weights.h5"
        copied = modelport.write(model, tmp_path / "copied" / target,
                                 weights_only=weights_only, **options)
        arrays = modelport.write(_without_sources(model), tmp_path / "arrays" / target,
                                 weights_only=weights_only, **options)
    assert len(copies) == sum(pieces)  # every piece of every tensor copied, once
    assert len(copied.files) == len(arrays.files) >= 1
    for mine, theirs in zip(copied.files, arrays.files, strict=True):
        if mine.suffix == ".keras":
            with zipfile.ZipFile(mine) as a, zipfile.ZipFile(theirs) as b:
                assert a.read("model.weights.h5") == b.read("model.weights.h5")
        else:
            assert mine.read_bytes() == theirs.read_bytes(), mine.name
    if target in ("model.h5", "model.keras"):
        path = tmp_path / "copied" / target
        for library in ("tf_keras", "keras3") if target == "model.h5" else ("keras3",):
            assert_outputs_close(load_and_predict(library, path, case.inputs), case.outputs,
                                 what=library)


@pytest.fixture(scope="module")
def checkpoint(zoo_cache, tmp_path_factory):
    """The zoo cnn saved by tf_keras as a checkpoint (`save_weights("ckpt")`)."""
    case = zoo_cache.get("tf_keras", "cnn")
    keras = keras_module("tf_keras")
    prefix = tmp_path_factory.mktemp("ckpt") / "ckpt"
    keras.models.load_model(case.path, compile=False).save_weights(str(prefix))
    return case, prefix


@pytest.mark.parametrize("target", ["model.h5", "tfjs", "quantized"])
def test_checkpoint_copied_by_range_with_its_crc_checked(checkpoint, load_and_predict,
                                                         run_tfjs, tmp_path, target):
    """Checkpoint -> .h5 / TF.js copies each tensor's bytes from the .data file (crc32c
    checked on the way, through a buffer; quantization reads them in chunks) and writes what
    the array path writes; a flipped byte fails the conversion naming the tensor, and leaves
    no output."""
    case, prefix = checkpoint
    options = {"quantize": plan_from_flags({"uint8": True})} if target == "quantized" else {}
    name = "model.h5" if target == "model.h5" else "web"
    model, _ = modelport.assemble(prefix, case.path)
    with model:
        assert sum(w.source is not None for w in model.all_weights()) == model.weight_count
        copied = modelport.write(model, tmp_path / "copied" / name, shard_size=SHARD_SIZE,
                                 **options) if name == "web" else (
            modelport.write(model, tmp_path / "copied" / name))
        arrays = modelport.write(_without_sources(model), tmp_path / "arrays" / name,
                                 **({"shard_size": SHARD_SIZE, **options}
                                    if name == "web" else {}))
    assert len(copied.files) == len(arrays.files)
    for mine, theirs in zip(copied.files, arrays.files, strict=True):
        assert mine.read_bytes() == theirs.read_bytes(), mine.name
    if target == "model.h5":
        assert_outputs_close(load_and_predict("tf_keras", copied.files[0], case.inputs),
                             case.outputs, what="tf_keras")
    elif target == "tfjs":
        assert_outputs_close(run_tfjs(copied.files[0], case.inputs), case.outputs,
                             what="TF.js")

    broken = tmp_path / "broken" / "ckpt"
    shutil.copytree(prefix.parent, broken.parent)
    with modelport.read(broken) as weights:
        key = max(weights.all_weights(), key=lambda w: w.nbytes)
        data = broken.parent / f"{broken.name}.data-00000-of-00001"
        position = key.source.pieces[0][1] + key.source.length - 1
    raw = bytearray(data.read_bytes())
    raw[position] ^= 0x01
    data.write_bytes(bytes(raw))
    out = tmp_path / "out" / name
    with pytest.raises(modelport.FormatError, match=r"fails its crc32c check") as err:
        modelport.convert(broken, out, architecture=case.path, **options)
    assert err.value.path == str(data)
    assert not out.exists() and not any((tmp_path / "out").iterdir())


def test_stored_keras_weights_are_read_in_place(zoo_cache, run_tfjs, tmp_path):
    """A .keras archive's stored model.weights.h5 is opened where it lies (its CRC-32 checked
    once, nothing extracted): the weights' byte ranges point into the archive, the shards and
    .h5 written from them are those of the array path, and TF.js computes Keras 3's outputs;
    a flipped byte inside the member is refused as damage, naming the archive."""
    case = zoo_cache.get("keras3", "cnn")
    with zipfile.ZipFile(case.keras_path) as archive:
        assert archive.getinfo("model.weights.h5").compress_type == zipfile.ZIP_STORED
    with modelport.read(case.keras_path) as model:
        sources = [w.source for w in model.all_weights()]
        assert sources and all(s is not None and {p for p, _, _ in s.pieces} == {
            str(case.keras_path)} for s in sources)
        for name in ("web", "model.h5"):
            copied = modelport.write(model, tmp_path / "copied" / name)
            arrays = modelport.write(_without_sources(model), tmp_path / "arrays" / name)
            assert [p.read_bytes() for p in copied.files] == [
                p.read_bytes() for p in arrays.files], name
    assert_outputs_close(run_tfjs(tmp_path / "copied" / "web" / "model.json", case.inputs),
                         case.outputs, what="TF.js")

    raw = bytearray(case.keras_path.read_bytes())
    largest = max(sources, key=lambda s: s.length)
    raw[largest.pieces[0][1] + 7] ^= 0x01
    damaged = tmp_path / "damaged.keras"
    damaged.write_bytes(bytes(raw))
    with pytest.raises(modelport.FormatError, match="fails its CRC-32 check") as err:
        modelport.convert(damaged, tmp_path / "out")
    assert str(damaged) in str(err.value) and not (tmp_path / "out").exists()
