"""TF.js layers models: `model.json` (topology + weights manifest) and its weight shards, as
written by tensorflowjs_converter (any version) and by tfjs-layers' own `model.save`; and bare
weights manifests (`weights_manifest.json` + shards, what `tf.io.loadWeights` reads)."""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from modelport._version import __version__
from modelport.errors import FormatError, UnsupportedError
from modelport.fileio import atomic_files
from modelport.formats.common import TFJS_DTYPE_MAP, TFJS_DTYPES, read_json
from modelport.keras_config.dialects import (
    KERAS2_VERSION,
    from_tfjs,
    portable_keras2,
    snake_case,
    to_canonical,
)
from modelport.keras_config.layouts import layer_layout, layer_name, tfjs_lookup_name
from modelport.keras_config.targets import (
    TFJS_LAYERS,
    check_dialect_semantics,
    missing_layers,
    tfjs_argument_problems,
)
from modelport.model import Metadata, Model, Weight
from modelport.quantize import (
    QUANTIZED_DTYPES,
    QuantizationPlan,
    QuantizedWeight,
    dequantize,
    quantize,
    storage_dtype,
    summarise,
)

NAME = "tfjs_layers_model"
WEIGHTS_NAME = "tfjs_weights"
WEIGHTS_MANIFEST = "weights_manifest.json"
DEFAULT_SHARD_SIZE = 4 * 1024 * 1024
_STORAGE = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4"), "bool": np.dtype("u1"),
            "complex64": np.dtype("<c8")}


def model_json_path(path: Path) -> Path:
    return path / "model.json" if path.is_dir() else path


def json_kind(data: Any) -> str | None:
    """'layers', 'graph' or 'weights' for a parsed TF.js JSON file, None if it is none."""
    if isinstance(data, list):
        if data and all(isinstance(g, dict) and "paths" in g and "weights" in g for g in data):
            return "weights"
        return None
    if not isinstance(data, dict) or "modelTopology" not in data:
        return None
    topology = data["modelTopology"]
    if data.get("format") == "graph-model" or (isinstance(topology, dict) and "node" in topology):
        return "graph"
    if isinstance(topology, dict) and ("model_config" in topology or "class_name" in topology):
        return "layers"
    return None


def _json_file_kind(target: Path) -> str | None:
    if target.suffix != ".json" or not target.is_file():
        return None
    try:
        with open(target, encoding="utf-8") as handle:
            return json_kind(json.load(handle))
    except (OSError, ValueError):
        return None


def detect(path: Path) -> bool:
    return _json_file_kind(model_json_path(path)) == "layers"


def weights_manifest_path(path: Path) -> Path:
    return path / WEIGHTS_MANIFEST if path.is_dir() else path


def detect_weights(path: Path) -> bool:
    return _json_file_kind(weights_manifest_path(path)) == "weights"


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
        self.total = sum(self.sizes)

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


def _decode_strings(raw: bytes, count: int) -> np.ndarray:
    values, position = [], 0
    for _ in range(count):
        (length,) = struct.unpack_from("<I", raw, position)
        position += 4
        values.append(raw[position:position + length])
        position += length
    return np.array(values, dtype=object)


def _weight_loader(stream: _ShardedBytes, offset: int, length: int, spec: dict[str, Any],
                   shape: tuple[int, ...], count: int):
    def load() -> np.ndarray:
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
                  ) -> list[tuple[Weight, str | None]]:
    """Every weight of a manifest (with its `group` tag), byte ranges checked against shards."""
    weights: list[tuple[Weight, str | None]] = []
    for group in manifest:
        stream = _ShardedBytes([base / p for p in group.get("paths", [])], source)
        offset = 0
        for spec in group.get("weights", []):
            try:
                name, dtype, shape = spec["name"], spec["dtype"], tuple(spec["shape"])
            except (KeyError, TypeError):
                raise FormatError(f"malformed weight entry {spec!r} in the manifest",
                                  source) from None
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
                length = count * _STORAGE[dtype].itemsize
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
            weights.append((Weight(name, shape, out_dtype, loader), spec.get("group")))
            offset += length
    return weights


def _assign_to_layers(model_config: dict[str, Any], weights: list[Weight], source: Path
                      ) -> dict[str, list[Weight]]:
    """Map manifest weights to top-level layers by name, as TF.js does (an exact name, or the
    name without its second-to-last part), and order them the Keras way."""
    by_name = {w.name: w for w in weights}
    by_lookup: dict[str, Weight] = {}
    for w in weights:
        by_lookup.setdefault(tfjs_lookup_name(w.name), w)
    used: set[str] = set()
    result: dict[str, list[Weight]] = {}
    for entry in model_config.get("config", {}).get("layers", []):
        name = layer_name(entry)
        layout = layer_layout(entry)
        group: list[Weight] = []
        if layout is None:
            group = [w for w in weights if w.name.startswith(name + "/") and w.name not in used]
        else:
            for expected, trainable in layout:
                found = by_name.get(expected) or by_lookup.get(tfjs_lookup_name(expected))
                if found is None or found.name in used:
                    raise FormatError(
                        f"layer '{name}' needs weight '{expected}', which the weights manifest "
                        "does not have", source)
                group.append(Weight(expected, found.shape, found.dtype, found.load, trainable))
                used.add(found.name)
        used.update(w.name for w in group)
        result[name] = group
    extra = [w.name for w in weights if w.name not in used]
    if extra:
        raise FormatError(
            f"the weights manifest has weights no layer of the model uses: {', '.join(extra)}",
            source)
    return result


def _unwrap_topology(data: dict[str, Any], source: Path
                     ) -> tuple[dict[str, Any], dict[str, Any] | None, str | None, str | None]:
    topology = data["modelTopology"]
    if "model_config" in topology:
        config = topology["model_config"]
        training = topology.get("training_config")
    else:
        config = {k: v for k, v in topology.items() if k not in ("keras_version", "backend")}
        training = None
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise FormatError("modelTopology holds no Keras model config", source)
    return config, training, topology.get("keras_version"), topology.get("backend")


def _training_from_tfjs(training: dict[str, Any]) -> dict[str, Any]:
    """tfjs-layers' top-level trainingConfig uses camelCase optimizer keys; Keras snake_case."""
    out = from_tfjs(training)
    optimizer = out.get("optimizer_config")
    if isinstance(optimizer, dict):
        cfg = optimizer.get("config", {})
        for js, py in (("beta1", "beta_1"), ("beta2", "beta_2")):
            if js in cfg:
                cfg[py] = cfg.pop(js)
    loss = out.get("loss")
    if isinstance(loss, str):
        out["loss"] = snake_case(loss)
    return out


def read_architecture(path: Path) -> Model:
    """The model of a `model.json` without its weights (the shards need not exist)."""
    source = model_json_path(path)
    return _architecture(read_json(source), source)


def _architecture(data: Any, source: Path) -> Model:
    kind = json_kind(data)
    if kind == "graph":
        raise UnsupportedError("this is a TF.js graph model; modelport reads TF.js layers "
                               "models so far", source)
    if kind != "layers":
        raise FormatError("not a TF.js layers model (no modelTopology with a Keras model "
                          "config)", source)
    config, training, keras_version, backend = _unwrap_topology(data, source)
    warnings: list[str] = []
    if (keras_version or "").startswith("tfjs") or data.get("generatedBy", "").startswith(
            "TensorFlow.js tfjs-layers"):
        config = from_tfjs(config)
    config = to_canonical(config, warnings.append)
    if data.get("trainingConfig"):
        training = _training_from_tfjs(data["trainingConfig"])
    return Model(
        config=config,
        training_config=training,
        metadata=Metadata(
            source_format=NAME, keras_version=keras_version, backend=backend,
            generated_by=data.get("generatedBy"), converted_by=data.get("convertedBy"),
            user_defined_metadata=data.get("userDefinedMetadata"),
        ),
        warnings=warnings,
    )


def read(path: Path) -> Model:
    source = model_json_path(path)
    data = read_json(source)
    model = _architecture(data, source)
    assert model.config is not None
    manifest = data.get("weightsManifest") or []
    weights = read_manifest(manifest, source.parent, source)
    model.weights = _assign_to_layers(model.config, [w for w, g in weights if g != "optimizer"],
                                      source)
    model.optimizer_weights = [w for w, group in weights if group == "optimizer"]
    return model


def read_weights(path: Path) -> Model:
    """A bare weights manifest: one group per top-level name ('dense/kernel' -> 'dense'), in
    manifest order; optimizer weights apart."""
    source = weights_manifest_path(path)
    manifest = read_json(source)
    if json_kind(manifest) != "weights":
        raise FormatError("not a TF.js weights manifest (a JSON list of {paths, weights})",
                          source)
    model = Model(config=None, metadata=Metadata(source_format=WEIGHTS_NAME))
    for weight, group in read_manifest(manifest, source.parent, source):
        if group == "optimizer":
            model.optimizer_weights.append(weight)
        else:
            model.weights.setdefault(weight.name.split("/")[0], []).append(weight)
    return model


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
            raw = item if isinstance(item, bytes) else str(item).encode("utf-8")
            parts.append(struct.pack("<I", len(raw)) + raw)
        return b"".join(parts)
    return memoryview(np.ascontiguousarray(array)).cast("B")


def _byte_length(weight: Weight, plan: QuantizationPlan | None = None) -> int:
    if weight.dtype == "string":
        return len(_encode(weight.read(), "string"))
    dtype = TFJS_DTYPE_MAP.get(weight.dtype, weight.dtype)
    quantized = plan.dtype_for(weight.name, dtype) if plan else None
    if quantized:
        return weight.size * storage_dtype(quantized).itemsize
    return weight.size * _STORAGE[dtype].itemsize


class _ShardWriter:
    """Streams weight bytes into consecutive shard files of a fixed size."""

    def __init__(self, directory: Path, group: int, total: int, shard_size: int):
        self.directory = directory
        self.names = shard_names(total, shard_size, group)
        self.count = len(self.names)
        self.shard_size = shard_size
        self.index = 0
        self.written = 0
        self.handle = open(directory / self.names[0], "wb")  # noqa: SIM115

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            room = self.shard_size - self.written
            if room == 0 and self.index + 1 < self.count:
                self.handle.close()
                self.index += 1
                self.handle = open(self.directory / self.names[self.index], "wb")  # noqa: SIM115
                self.written = 0
                room = self.shard_size
            chunk = view[:room] if self.index + 1 < self.count else view
            self.handle.write(chunk)
            self.written += len(chunk)
            view = view[len(chunk):]

    def close(self) -> None:
        self.handle.close()


def check_target(model: Model) -> None:
    if model.config is None:
        raise UnsupportedError("a TF.js layers model needs an architecture; this input holds "
                               "weights only")
    missing = missing_layers(model.config, TFJS_LAYERS)
    if missing:
        listed = ", ".join(f"{cls} ('{where}')" for where, cls in missing)
        raise UnsupportedError(f"TF.js has no layer class {listed}; the model cannot be "
                               "converted to a TF.js layers model")
    problems = tfjs_argument_problems(model.config)
    if problems:
        raise UnsupportedError("TF.js cannot run " + "; ".join(problems))
    check_dialect_semantics(model, "keras2")


def shard_names(total_bytes: int, shard_size: int, group: int = 1) -> list[str]:
    count = max(1, math.ceil(total_bytes / shard_size))
    return [f"group{group}-shard{i + 1}of{count}.bin" for i in range(count)]


def write_weight_group(entries: list[tuple[Weight, str | None]], directory: Path,
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
            array, dtype = tfjs_array(weight)
            spec: dict[str, Any] = {"name": weight.name, "shape": list(weight.shape),
                                    "dtype": dtype}
            quantized = plan.dtype_for(weight.name, dtype) if plan else None
            if quantized:
                stored, spec["quantization"] = quantize(array, quantized)
                writer.write(_encode(stored, quantized))
                if summary is not None:
                    summary.append(summarise(array, stored, spec["quantization"], weight.name))
            else:
                encoded = _encode(array, dtype)
                writer.write(encoded)
                if summary is not None:
                    summary.append(QuantizedWeight(weight.name, dtype, len(encoded),
                                                   len(encoded), 0.0))
            if tag:
                spec["group"] = tag
            specs.append(spec)
    finally:
        writer.close()
    return {"paths": writer.names, "weights": specs}


def _weight_groups(model: Model, by_layer: bool, with_optimizer: bool
                   ) -> list[list[tuple[Weight, str | None]]]:
    """The manifest's groups: one for all weights, or one per layer with weights
    (--split-weights-by-layer); optimizer weights (tagged) last, in a group of their own when
    split."""
    optimizer = [(w, "optimizer") for w in model.optimizer_weights] if with_optimizer else []
    if by_layer:
        groups = [[(w, None) for w in weights] for weights in model.weights.values() if weights]
        return [*groups, optimizer] if optimizer else groups or [[]]
    entries: list[tuple[Weight, str | None]] = [(w, None) for w in model.all_weights()]
    return [entries + optimizer]


def _write_manifest_files(model: Model, path: Path, default_name: str, overwrite: bool,
                          shard_size: int, plan: QuantizationPlan | None, by_layer: bool,
                          document: Callable[[list[dict[str, Any]]], Any] | None
                          ) -> list[Path]:
    """Shards of every group plus the JSON file `document(manifest)` (in the folder `path`,
    or named by `path` when it ends in .json). The quantization summary goes to
    `model.quantization`. No `document`: a bare weights manifest, without optimizer weights."""
    if path.suffix == ".json":
        directory, json_name = path.parent, path.name
    else:
        directory, json_name = path, default_name
    if shard_size <= 0:
        raise UnsupportedError("--shard-size must be a positive number of bytes")
    groups = _weight_groups(model, by_layer, with_optimizer=document is not None)
    totals = [sum(_byte_length(w, plan) for w, _ in group) for group in groups]
    names = [n for i, total in enumerate(totals) for n in shard_names(total, shard_size, i + 1)]
    summary: list[QuantizedWeight] = []
    with atomic_files(directory, [json_name, *names], overwrite) as tmp:
        manifest = [write_weight_group(group, tmp, shard_size, i + 1, total, plan, summary)
                    for i, (group, total) in enumerate(zip(groups, totals, strict=True))]
        with open(tmp / json_name, "w", encoding="utf-8") as handle:
            json.dump(manifest if document is None else document(manifest), handle)
    if plan is not None:
        model.quantization = summary
    return [directory / json_name] + [directory / n for n in names]


def write(model: Model, path: Path, overwrite: bool = False,
          shard_size: int = DEFAULT_SHARD_SIZE, quantize: QuantizationPlan | None = None,
          split_weights_by_layer: bool = False,
          metadata: dict[str, Any] | None = None) -> list[Path]:
    """Write `model.json` and `group*-shard*.bin` into the folder `path` (or beside `path`
    when it names a .json file). `metadata` entries go into `userDefinedMetadata`. Returns
    the files written."""
    check_target(model)
    assert model.config is not None
    return _write_manifest_files(
        model, path, "model.json", overwrite, shard_size, quantize, split_weights_by_layer,
        lambda manifest: _model_json(model, manifest, metadata))


def write_weights(model: Model, path: Path, overwrite: bool = False,
                  shard_size: int = DEFAULT_SHARD_SIZE, quantize: QuantizationPlan | None = None,
                  split_weights_by_layer: bool = False) -> list[Path]:
    """A bare weights manifest (`weights_manifest.json`, or the `.json` name given) and its
    shards: the weights alone, as `tf.io.loadWeights` reads them."""
    return _write_manifest_files(model, path, WEIGHTS_MANIFEST, overwrite, shard_size,
                                 quantize, split_weights_by_layer, None)


def _model_json(model: Model, manifest: list[dict[str, Any]],
                metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    assert model.config is not None
    keras_version = model.metadata.keras_version or ""
    if not keras_version.startswith("2."):
        keras_version = KERAS2_VERSION
    topology: dict[str, Any] = {
        "keras_version": keras_version,
        "backend": "tensorflow",
        "model_config": portable_keras2(model.config),
    }
    if model.training_config:
        topology["training_config"] = model.training_config
    document: dict[str, Any] = {
        "format": "layers-model",
        "generatedBy": model.metadata.generated_by or f"keras v{keras_version}",
        "convertedBy": f"modelport v{__version__}",
        "modelTopology": topology,
        "weightsManifest": manifest,
    }
    user_metadata = dict(model.metadata.user_defined_metadata or {})
    user_metadata.update(metadata or {})
    if user_metadata:
        document["userDefinedMetadata"] = user_metadata
    return document
