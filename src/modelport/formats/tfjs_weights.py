"""The TF.js weights container shared by layers models, graph models and bare weights manifests:
the manifest (groups of shard paths + weight specs), its shards, TF.js's dtype rules, telling
the kinds of TF.js JSON apart, and the `tfjs_weights` format (what `tf.io.loadWeights` reads)."""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelport.errors import FormatError, UnsupportedError
from modelport.fileio import SourceFiles, atomic_files, copy_range, inside, read_range
from modelport.formats.common import read_json
from modelport.formats.record import FOLDER, Format, Probe, WriteResult
from modelport.keras_config.object_paths import grouped_in_layer_order, is_variable_path
from modelport.model import ByteRange, Metadata, Model, Weight
from modelport.quantize import (
    QUANTIZED_DTYPES,
    QuantizationPlan,
    QuantizedWeight,
    Quantizer,
    dequantize,
    storage_dtype,
)

if TYPE_CHECKING:  # numpy is imported where arrays are: listing the formats needs none
    import numpy as np

NAME = "tfjs_weights"
MANIFEST_FILE = "weights_manifest.json"
LAYERS_MODEL_FORMAT = "layers-model"  # model.json's "format" for layers models
DEFAULT_SHARD_SIZE = 4 * 1024 * 1024

# dtypes TF.js can decode, and what others are widened or narrowed to (as the incumbent does).
TFJS_DTYPES = {"float32", "int32", "bool", "string", "complex64"}
TFJS_DTYPE_MAP = {
    "float64": "float32", "float16": "float32", "bfloat16": "float32",
    "int64": "int32", "int16": "int32", "int8": "int32", "uint8": "int32", "uint16": "int32",
    "uint32": "int32", "uint64": "int32", "complex128": "complex64",
}
# How TF.js stores each (numpy dtype strings), and the bytes of one element.
_STORAGE = {"float32": "<f4", "int32": "<i4", "bool": "|u1", "complex64": "<c8"}
_ITEMSIZE = {"float32": 4, "int32": 4, "bool": 1, "complex64": 8}

# A weight and its manifest `group` tag (None, or "optimizer" for optimizer weights).
ManifestEntry = tuple[Weight, str | None]


# ------------------------------------------------------------------------ kinds of TF.js JSON

def model_json_path(path: Path) -> Path:
    """The model.json of a TF.js model given as its folder or as the JSON file itself."""
    return path / "model.json" if path.is_dir() else path


def manifest_path(path: Path) -> Path:
    """The weights manifest given as its folder or as the JSON file itself; a folder without
    weights_manifest.json may hold a weights-only model.json (modelTopology null)."""
    if not path.is_dir():
        return path
    bare = path / MANIFEST_FILE
    if not bare.is_file() and (path / "model.json").is_file():
        return path / "model.json"
    return bare


def json_kind(data: Any) -> str | None:
    """'layers', 'graph' or 'weights' for a parsed TF.js JSON file, None if it is none.
    'weights' is a bare manifest (a list of groups) or tensorflowjs_converter's weights-only
    model.json: a layers-model document whose modelTopology is null."""
    if isinstance(data, list):
        if data and all(isinstance(g, dict) and "paths" in g and "weights" in g for g in data):
            return "weights"
        return None
    if not isinstance(data, dict) or "modelTopology" not in data:
        return None
    topology = data["modelTopology"]
    if topology is None:
        if data.get("format", LAYERS_MODEL_FORMAT) == LAYERS_MODEL_FORMAT and isinstance(
                data.get("weightsManifest"), list):
            return "weights"
        return None
    if data.get("format") == "graph-model" or (isinstance(topology, dict) and "node" in topology):
        return "graph"
    if isinstance(topology, dict) and ("model_config" in topology or "class_name" in topology):
        return "layers"
    return None



# ------------------------------------------------------------------------------------ reading

class _ShardedBytes:
    """The bytes of one weight group: its shard files seen as one concatenated stream."""

    def __init__(self, files: list[Path], manifest: Path):
        self.files = files
        self.sizes = []
        for file in files:
            try:
                self.sizes.append(file.stat().st_size)
            except FileNotFoundError:
                raise FormatError(
                    f"weight shard '{file.name}' listed in the manifest is missing", manifest
                ) from None
            except OSError as exc:  # a name too long, a link loop
                raise FormatError(f"weight shard '{file.name}' cannot be read "
                                  f"({exc.strerror})", manifest) from None
        self.total = sum(self.sizes)

    def pieces(self, offset: int, length: int) -> tuple[tuple[str, int, int], ...]:
        """Where `length` bytes from `offset` lie: (shard path, offset in it, length) runs."""
        found = []
        start = 0
        for file, size in zip(self.files, self.sizes, strict=True):
            end = start + size
            if offset < end and offset + length > start:
                lo, hi = max(offset, start), min(offset + length, end)
                found.append((str(file), lo - start, hi - lo))
            start = end
        return tuple(found)

    def read(self, offset: int, length: int) -> bytearray:
        """`length` bytes from `offset`, read straight into one buffer (no extra copies)."""
        out = bytearray(length)
        view = memoryview(out)
        start = 0
        for file, size in zip(self.files, self.sizes, strict=True):
            end = start + size
            if offset < end and offset + length > start:
                lo = max(offset, start)
                hi = min(offset + length, end)
                with open(file, "rb") as handle:
                    handle.seek(lo - start)
                    handle.readinto(view[lo - offset:hi - offset])
            start = end
        return out


def _string_bytes(stream: _ShardedBytes, offset: int, count: int) -> int:
    position = offset
    for _ in range(count):
        (length,) = struct.unpack("<I", stream.read(position, 4))
        position += 4 + length
    return position - offset


def _decode_strings(raw: bytes | bytearray, count: int) -> np.ndarray:
    import numpy as np

    # Filled element by element: np.array of equal-length byte strings would make a 2-D array.
    values = np.empty(count, dtype=object)
    position = 0
    for index in range(count):
        (length,) = struct.unpack_from("<I", raw, position)
        position += 4
        values[index] = bytes(raw[position:position + length])
        position += length
    return values


def _weight_loader(stream: _ShardedBytes, offset: int, length: int, spec: dict[str, Any],
                   shape: tuple[int, ...], count: int):
    def load() -> np.ndarray:
        import numpy as np

        raw = stream.read(offset, length)
        if spec["dtype"] == "string":
            return _decode_strings(raw, count).reshape(shape)
        quant = spec.get("quantization")
        if quant:
            values = np.frombuffer(raw, storage_dtype(quant["dtype"]))
            return dequantize(values, quant, spec["dtype"]).reshape(shape)
        array = np.frombuffer(raw, _STORAGE[spec["dtype"]]).reshape(shape)
        return array.astype(bool) if spec["dtype"] == "bool" else array

    return load


def read_manifest(manifest: list[dict[str, Any]], base: Path, source: Path
                  ) -> list[ManifestEntry]:
    """Every weight of a manifest (with its `group` tag), byte ranges checked against shards."""
    weights: list[ManifestEntry] = []
    if not isinstance(manifest, list) or not all(isinstance(g, dict) for g in manifest):
        raise FormatError("weightsManifest is not a list of weight groups", source)
    for group in manifest:
        paths = group.get("paths", [])
        specs = group.get("weights", [])
        if not isinstance(paths, list) or not isinstance(specs, list):
            raise FormatError("a weight group's paths and weights must be lists", source)
        stream = _ShardedBytes([inside(base, p, source) for p in paths], source)
        offset = 0
        for spec in specs:
            try:
                name, dtype, shape = spec["name"], spec["dtype"], tuple(spec["shape"])
            except (KeyError, TypeError):
                raise FormatError(f"malformed weight entry {spec!r} in the manifest",
                                  source) from None
            if not isinstance(name, str) or not isinstance(dtype, str) or not all(
                    isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
                raise FormatError(f"weight entry {name!r} has a malformed name, dtype or "
                                  f"shape {list(shape)!r}", source)
            count = math.prod(shape)
            quant = spec.get("quantization")
            if dtype == "string":
                if offset + 4 * count > stream.total:
                    length = 4 * count
                else:
                    length = _string_bytes(stream, offset, count)
            elif quant:
                if quant.get("dtype") not in QUANTIZED_DTYPES:
                    raise FormatError(f"weight '{name}' has unknown quantization "
                                      f"{quant.get('dtype')!r}", source)
                length = count * storage_dtype(quant["dtype"]).itemsize
            elif dtype in _STORAGE:
                length = count * _ITEMSIZE[dtype]
            else:
                raise FormatError(f"weight '{name}' has dtype {dtype!r}, which TF.js files "
                                  "cannot hold", source)
            if offset + length > stream.total:
                raise FormatError(
                    f"weight shards of group {group.get('paths')} hold {stream.total} bytes "
                    f"but the manifest needs at least {offset + length} (a shard is truncated)",
                    source,
                )
            out_dtype = "float32" if quant and dtype not in ("int32",) else dtype
            loader = _weight_loader(stream, offset, length, spec, shape, count)
            on_disk = None
            if not quant and dtype in _STORAGE and dtype != "bool" and length:
                on_disk = ByteRange(stream.pieces(offset, length), _STORAGE[dtype])
            weights.append((Weight(name, shape, out_dtype, loader, source=on_disk),
                            spec.get("group")))
            offset += length
    return weights


# ------------------------------------------------------------------------------------ writing

def tfjs_array(weight: Weight) -> tuple[np.ndarray, str]:
    """The array as TF.js stores it and its manifest dtype."""
    array = weight.read()
    if weight.dtype == "string" or array.dtype.kind in "OSU":
        return array, "string"
    dtype = TFJS_DTYPE_MAP.get(array.dtype.name, array.dtype.name)
    if dtype not in TFJS_DTYPES:
        raise UnsupportedError(f"weight '{weight.name}' has dtype {array.dtype.name}, which "
                               "TF.js cannot hold")
    return array.astype(_STORAGE[dtype], copy=False), dtype


def _encode(array: np.ndarray, dtype: str) -> bytes | memoryview:
    if dtype == "string":
        parts = []
        for item in array.reshape(-1):
            raw = bytes(item) if isinstance(item, (bytes, bytearray, memoryview)) else (
                str(item).encode("utf-8"))
            parts.append(struct.pack("<I", len(raw)) + raw)
        return b"".join(parts)
    return _raw_bytes(array)


def _raw_bytes(array: np.ndarray) -> bytes | memoryview:
    """An array's bytes without a copy (an empty one has none: memoryview cannot cast it)."""
    import numpy as np

    return memoryview(np.ascontiguousarray(array)).cast("B") if array.size else b""


def _quantized_dtype(plan: QuantizationPlan | None, weight: Weight, dtype: str,
                     array: np.ndarray | None = None) -> str | None:
    """The dtype `plan` stores the weight as (an int32 weight's values decide whether it can
    be quantized exactly; they are read here unless given)."""
    if plan is None:
        return None
    if dtype == "int32" and array is None:
        array = weight.read()
    return plan.dtype_for(weight.name, dtype, array if dtype == "int32" else None)


def _byte_length(weight: Weight, plan: QuantizationPlan | None = None) -> int:
    if weight.dtype == "string":
        return len(_encode(weight.read(), "string"))
    dtype = TFJS_DTYPE_MAP.get(weight.dtype, weight.dtype)
    quantized = _quantized_dtype(plan, weight, dtype)
    if quantized:
        return weight.size * storage_dtype(quantized).itemsize
    return weight.size * _ITEMSIZE[dtype]


def shard_names(total_bytes: int, shard_size: int, group: int = 1) -> list[str]:
    count = max(1, math.ceil(total_bytes / shard_size))
    return [f"group{group}-shard{i + 1}of{count}.bin" for i in range(count)]


class _ShardWriter:
    """Streams weight bytes into consecutive shard files of a fixed size: arrays' bytes, or
    byte ranges copied file to file (a range straddling shards is copied in pieces)."""

    def __init__(self, directory: Path, group: int, total: int, shard_size: int):
        self.directory = directory
        self.names = shard_names(total, shard_size, group)
        self.count = len(self.names)
        self.shard_size = shard_size
        self.index = 0
        self.written = 0
        self.handle = open(directory / self.names[0], "wb")  # noqa: SIM115
        self.sources = SourceFiles()

    def _room(self, wanted: int) -> int:
        """How much of `wanted` bytes goes into the current shard (moving to the next shard
        when this one is full; the last one takes the rest)."""
        room = self.shard_size - self.written
        if room == 0 and self.index + 1 < self.count:
            self.handle.close()
            self.index += 1
            self.handle = open(self.directory / self.names[self.index], "wb")  # noqa: SIM115
            self.written = 0
            room = self.shard_size
        return min(room, wanted) if self.index + 1 < self.count else wanted

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            chunk = view[:self._room(len(view))]
            self.handle.write(chunk)
            self.written += len(chunk)
            view = view[len(chunk):]

    def copy(self, source: ByteRange) -> None:
        """Append `source`'s bytes, copied from its files without reading them into memory
        (through a buffer when they are checked on the way)."""
        check = source.check() if source.check is not None else None
        for path, offset, remaining in source.pieces:
            src = self.sources.fd(path)
            while remaining:
                piece = self._room(remaining)
                self.handle.flush()
                copy_range(src, self.handle.fileno(), offset, piece,
                           update=check.update if check is not None else None)
                self.handle.seek(0, os.SEEK_END)  # the buffered handle follows the descriptor
                self.written += piece
                offset += piece
                remaining -= piece
        if check is not None:
            check.finish()

    def close(self) -> None:
        self.handle.close()
        self.sources.close()


def _copyable(weight: Weight, dtype: str) -> ByteRange | None:
    """The weight's byte range when its bytes on disk are exactly what TF.js stores."""
    source = weight.source
    if source is None or dtype not in _STORAGE or weight.dtype == "string":
        return None
    import numpy as np

    storage = np.dtype(_STORAGE[dtype])
    if np.dtype(source.dtype) != storage or source.length != weight.size * storage.itemsize:
        return None
    return source


# Elements of a weight quantized at a time: 1 MiB of float32 (and 2 MiB of float64 scratch)
# stays in the CPU caches between passes; larger chunks measured slower, smaller ones pay
# more per-call overhead.
QUANTIZE_CHUNK = 1 << 18


def _float32_chunks(weight: Weight, sources: SourceFiles
                    ) -> Callable[..., Iterator[np.ndarray]]:
    """A way to go through a weight's values as flat float32 chunks of at most QUANTIZE_CHUNK
    elements, as often as needed: read from its byte range through one reused buffer (with
    `checked=True`, the bytes pass the range's check once all are read), or (no byte range)
    from its array, read once."""
    import numpy as np

    source = weight.source
    size = weight.size
    if source is not None and np.dtype(source.dtype).kind == "f" and (
            source.length == size * np.dtype(source.dtype).itemsize):
        dtype = np.dtype(source.dtype)

        def from_file(checked: bool = False) -> Iterator[np.ndarray]:
            check = source.check() if checked and source.check is not None else None
            buffer = bytearray(min(QUANTIZE_CHUNK, size) * dtype.itemsize)
            for start in range(0, size, QUANTIZE_CHUNK):
                view = memoryview(buffer)[:min(QUANTIZE_CHUNK, size - start) * dtype.itemsize]
                read_range(sources, source.pieces, start * dtype.itemsize, view)
                if check is not None:
                    check.update(bytes(view))
                yield np.frombuffer(view, dtype).astype(_STORAGE["float32"], copy=False)
            if check is not None:
                check.finish()

        return from_file
    array = weight.read().astype(_STORAGE["float32"], copy=False).reshape(-1)
    return lambda checked=False: (array[i:i + QUANTIZE_CHUNK]
                                  for i in range(0, array.size, QUANTIZE_CHUNK))


def _write_quantized(weight: Weight, dtype: str, writer: _ShardWriter,
                     summary: list[QuantizedWeight] | None) -> dict[str, object]:
    """Quantize a float32 weight into the shards in two passes over bounded chunks (min/max,
    then encode); returns its manifest `quantization` entry."""
    chunks = _float32_chunks(weight, writer.sources)
    quantizer = Quantizer(dtype, weight.name)
    for values in chunks(checked=True):
        quantizer.observe(values)
    entry = quantizer.entry()
    errors = []
    for values in chunks():
        stored = quantizer.encode(values)
        writer.write(_raw_bytes(stored))
        if summary is not None:
            errors.append(quantizer.error(values, stored))
    if summary is not None:
        import numpy as np

        error = float(np.max(np.array(errors))) if errors else 0.0
        summary.append(QuantizedWeight(weight.name, dtype, weight.size * 4,
                                       weight.size * storage_dtype(dtype).itemsize, error))
    return entry


def _write_quantized_ints(weight: Weight, dtype: str, writer: _ShardWriter,
                          summary: list[QuantizedWeight] | None) -> dict[str, object]:
    """Quantize an int32 weight (whose range `dtype` holds exactly) from its array."""
    values = weight.read()
    quantizer = Quantizer(dtype, weight.name, original="int32")
    quantizer.observe(values)
    entry = quantizer.entry()
    stored = quantizer.encode(values)
    writer.write(_raw_bytes(stored))
    if summary is not None:
        summary.append(QuantizedWeight(weight.name, dtype, weight.size * 4, stored.nbytes,
                                       quantizer.error(values, stored)))
    return entry


def _write_weight(weight: Weight, writer: _ShardWriter, plan: QuantizationPlan | None,
                  summary: list[QuantizedWeight] | None) -> dict[str, Any]:
    """Append one weight's bytes to the shards: copied file to file when they are already
    TF.js's, quantized in chunks when `plan` says so, else through its array; returns its
    manifest entry."""
    if weight.dtype != "string":
        dtype = TFJS_DTYPE_MAP.get(weight.dtype, weight.dtype)
        spec: dict[str, Any] = {"name": weight.name, "shape": list(weight.shape),
                                "dtype": dtype}
        quantized = _quantized_dtype(plan, weight, dtype)
        if quantized and dtype == "int32":  # small index tables: through their array
            spec["quantization"] = _write_quantized_ints(weight, quantized, writer, summary)
            return spec
        if quantized:
            spec["quantization"] = _write_quantized(weight, quantized, writer, summary)
            return spec
        copyable = _copyable(weight, dtype)
        if copyable is not None:
            writer.copy(copyable)
            if summary is not None:
                summary.append(QuantizedWeight(weight.name, dtype, copyable.length,
                                               copyable.length, 0.0))
            return spec
    array, dtype = tfjs_array(weight)
    encoded = _encode(array, dtype)
    writer.write(encoded)
    if summary is not None:
        summary.append(QuantizedWeight(weight.name, dtype, len(encoded), len(encoded), 0.0))
    return {"name": weight.name, "shape": list(weight.shape), "dtype": dtype}


def write_weight_group(entries: list[ManifestEntry], directory: Path,
                       shard_size: int = DEFAULT_SHARD_SIZE, group: int = 1,
                       total: int | None = None, plan: QuantizationPlan | None = None,
                       summary: list[QuantizedWeight] | None = None) -> dict[str, Any]:
    """Stream weights into `group{group}-shard*of*.bin` in `directory`, one tensor in memory
    at a time; returns the manifest group. `entries` pairs a weight with its `group` tag;
    `total` is their byte length when the caller has counted it already. Weights `plan`
    selects are quantized; `summary` collects what each weight cost."""
    if total is None:
        total = sum(_byte_length(w, plan) for w, _ in entries)
    writer = _ShardWriter(directory, group, total, shard_size)
    specs = []
    try:
        for weight, tag in entries:
            spec = _write_weight(weight, writer, plan, summary)
            if tag:
                spec["group"] = tag
            specs.append(spec)
    finally:
        writer.close()
    return {"paths": writer.names, "weights": specs}


def weight_groups(model: Model, by_layer: bool, with_optimizer: bool
                  ) -> list[list[ManifestEntry]]:
    """A model's manifest groups: one for all weights, or one per layer with weights
    (--split-weights-by-layer); optimizer weights (tagged) last, in a group of their own when
    split."""
    optimizer = [(w, "optimizer") for w in model.optimizer_weights] if with_optimizer else []
    if by_layer:
        groups = [[(w, None) for w in weights] for weights in model.weights.values() if weights]
        return [*groups, optimizer] if optimizer else groups or [[]]
    entries: list[ManifestEntry] = [(w, None) for w in model.all_weights()]
    return [entries + optimizer]


@dataclass(frozen=True)
class WrittenManifest:
    """What `write_manifest` wrote: the JSON file then the shards, the manifest's groups, and
    per weight what quantizing it cost (empty when no plan was given)."""

    files: list[Path]
    manifest: list[dict[str, Any]]
    quantization: list[QuantizedWeight] = field(default_factory=list)


def write_manifest(path: Path, groups: list[list[ManifestEntry]], *, default_name: str,
                   document: Callable[[list[dict[str, Any]]], Any] | None = None,
                   overwrite: bool = False, shard_size: int = DEFAULT_SHARD_SIZE,
                   plan: QuantizationPlan | None = None) -> WrittenManifest:
    """The shards of every group (`group{i}-shard*of*.bin`) and the JSON file holding
    `document(manifest)` (the bare manifest without `document`), in the folder `path` or
    beside `path` when it names a .json file (then named by it, else `default_name`); all
    written atomically."""
    if path.suffix == ".json":
        directory, json_name = path.parent, path.name
    else:
        directory, json_name = path, default_name
    if shard_size <= 0:
        raise UnsupportedError("--shard-size must be a positive number of bytes")
    seen: set[str] = set()
    for weight, _ in (entry for group in groups for entry in group):
        if weight.name in seen:
            raise UnsupportedError(f"two weights are named '{weight.name}': TF.js finds "
                                   "weights by name, so one manifest cannot hold both", path)
        seen.add(weight.name)
    totals = [sum(_byte_length(w, plan) for w, _ in group) for group in groups]
    names = [n for i, total in enumerate(totals) for n in shard_names(total, shard_size, i + 1)]
    summary: list[QuantizedWeight] = []
    with atomic_files(directory, [json_name, *names], overwrite,
                      whole=path.suffix != ".json") as tmp:
        manifest = [write_weight_group(group, tmp, shard_size, i + 1, total, plan, summary)
                    for i, (group, total) in enumerate(zip(groups, totals, strict=True))]
        with open(tmp / json_name, "w", encoding="utf-8") as handle:
            json.dump(manifest if document is None else document(manifest), handle)
    return WrittenManifest([directory / json_name] + [directory / n for n in names], manifest,
                           summary if plan is not None else [])


# ------------------------------------------------------- the format: a bare weights manifest

def detect(probe: Probe) -> bool:
    if probe.is_dir and json_kind(probe.json_in_folder(MANIFEST_FILE)) == "weights":
        return True
    return json_kind(probe.json) == "weights"  # a file, or a folder's weights-only model.json


def read(path: Path, probe: Probe | None = None) -> Model:
    """A bare weights manifest, or a weights-only model.json (modelTopology null, as
    tensorflowjs_converter writes a save_weights .h5): one group per top-level name
    ('dense/kernel' -> 'dense'), in manifest order; optimizer weights apart."""
    source = manifest_path(path)
    document = read_json(source, probe)
    if json_kind(document) != "weights":
        raise FormatError("not a TF.js weights manifest (a JSON list of {paths, weights}, or "
                          "a model.json whose modelTopology is null)", source)
    if isinstance(document, dict):
        manifest = document["weightsManifest"]
        user = document.get("userDefinedMetadata")
        metadata = Metadata(source_format=NAME, converted_by=document.get("convertedBy"),
                            user_defined_metadata=user if isinstance(user, dict) else None)
    else:
        manifest, metadata = document, Metadata(source_format=NAME)
    model = Model(config=None, metadata=metadata)
    weights = []
    for weight, group in read_manifest(manifest, source.parent, source):
        if group == "optimizer":
            model.optimizer_weights.append(weight)
        else:
            weights.append(weight)
    if weights and all(is_variable_path(w.name) for w in weights):
        # Named by Keras 3 object paths (written from a .weights.h5): grouped by layer object,
        # with the little they tell of the layers' order.
        model.weights, model.layer_order_known = grouped_in_layer_order(
            [(w.name, w) for w in weights])
        return model
    for weight in weights:
        model.weights.setdefault(weight.name.split("/")[0], []).append(weight)
    return model


def write_weights(model: Model, path: Path, *, default_name: str = MANIFEST_FILE,
                  document: Callable[[list[dict[str, Any]]], Any] | None = None,
                  overwrite: bool = False, shard_size: int = DEFAULT_SHARD_SIZE,
                  quantize: QuantizationPlan | None = None,
                  split_weights_by_layer: bool = False,
                  include_optimizer: bool = False) -> WriteResult:
    """A model's weights alone and the JSON file holding `document(manifest)` (the bare
    manifest without `document`); refused when there is no weight to write."""
    groups = weight_groups(model, split_weights_by_layer, with_optimizer=include_optimizer)
    if not any(groups):
        raise UnsupportedError("the input holds no weights: a weights manifest lists at least "
                               "one", path)
    written = write_manifest(path, groups, default_name=default_name, document=document,
                             overwrite=overwrite, shard_size=shard_size, plan=quantize)
    return WriteResult(written.files, quantization=written.quantization)


def write(model: Model, path: Path, overwrite: bool = False,
          shard_size: int = DEFAULT_SHARD_SIZE, quantize: QuantizationPlan | None = None,
          split_weights_by_layer: bool = False) -> WriteResult:
    """A bare weights manifest (`weights_manifest.json`, or the `.json` name given) and its
    shards: the weights alone, without optimizer weights, as `tf.io.loadWeights` reads them.
    Returns the files written and what quantizing each weight cost."""
    return write_weights(model, path, overwrite=overwrite, shard_size=shard_size,
                         quantize=quantize, split_weights_by_layer=split_weights_by_layer)


FORMATS = (
    Format(NAME, "TF.js weights manifest (weights_manifest.json + group*-shard*.bin, as "
           "tf.io.loadWeights reads)", detect, extensions=(".json", FOLDER), read=read,
           write=write, holds="weights", keyed_by="weight"),
)
