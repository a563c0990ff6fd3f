"""TF.js graph models (`model.json` with format "graph-model" + weight shards), without
TensorFlow: detection, the JSON document, its signature, its Const tensors as numpy arrays, the
summary `modelport inspect` shows, and writing a document + shards from a GraphDef as JSON."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelport._version import __version__
from modelport.errors import FormatError, UnsupportedError
from modelport.formats.common import read_json
from modelport.formats.record import FOLDER, Format, Probe, WriteResult
from modelport.formats.tfjs_weights import (
    DEFAULT_SHARD_SIZE,
    MANIFEST_FILE,
    json_kind,
    model_json_path,
    read_manifest,
    write_manifest,
)
from modelport.model import Model, Weight
from modelport.quantize import QuantizationPlan
from modelport.text import shape_text, table_lines

if TYPE_CHECKING:  # numpy is imported by the code that reads the constants
    import numpy as np

NAME = "tfjs_graph_model"
# A frozen TensorFlow GraphDef (`.pb`); modelport writes it from graph models only.
FROZEN_NAME = "tf_frozen_graph"

# SignatureDef dtype names (DataType enum names) and the numpy dtype each holds.
DTYPES = {
    "DT_FLOAT": "float32", "DT_DOUBLE": "float64", "DT_HALF": "float16", "DT_INT32": "int32",
    "DT_INT64": "int64", "DT_INT16": "int16", "DT_INT8": "int8", "DT_UINT8": "uint8",
    "DT_UINT16": "uint16", "DT_UINT32": "uint32", "DT_UINT64": "uint64", "DT_BOOL": "bool",
    "DT_STRING": "string", "DT_COMPLEX64": "complex64", "DT_BFLOAT16": "bfloat16",
}


def detect(probe: Probe) -> bool:
    return json_kind(probe.json) == "graph"


def detect_frozen(probe: Probe) -> bool:
    """Frozen GraphDefs are written, not read: never detected as an input."""
    return False


def read_document(path: Path) -> tuple[dict[str, Any], Path]:
    """The parsed model.json of a graph model (file or folder) and the JSON file's path."""
    source = model_json_path(path)
    data = read_json(source)
    if json_kind(data) != "graph":
        raise FormatError("not a TF.js graph model (no modelTopology with GraphDef nodes)",
                          source)
    topology = data["modelTopology"]
    if not isinstance(topology, dict):
        raise FormatError("modelTopology is not a GraphDef object", source)
    if not isinstance(topology.get("node", []), list):
        raise FormatError("modelTopology.node is not a list of nodes", source)
    library = topology.get("library") or {}
    functions = (library.get("function") or []) if isinstance(library, dict) else None
    if not isinstance(functions, list) or not all(
            isinstance(f, dict) and isinstance(f.get("nodeDef", []), list) for f in functions):
        raise FormatError("modelTopology.library is not a function library", source)
    for node in all_nodes(topology):
        if not isinstance(node, dict) or not isinstance(node.get("op", ""), str) or (
                not isinstance(node.get("name", ""), str)) or not isinstance(
                node.get("attr") or {}, dict) or not _strings(node.get("input", [])):
            raise FormatError(f"modelTopology holds a node that is not a NodeDef: "
                              f"{str(node)[:60]}", source)
        if node.get("op") == "Placeholder":
            attr = node.get("attr") or {}
            shape = attr.get("shape") or {}
            dtype = attr.get("dtype") or {}
            if not isinstance(shape, dict) or not isinstance(dtype, dict) or not isinstance(
                    dtype.get("type", ""), str):
                raise FormatError(f"Placeholder '{node.get('name')}' has a shape or dtype "
                                  "attribute that is not an AttrValue", source)
            _check_shape(shape.get("shape") or {}, f"Placeholder '{node.get('name')}'", source)
    _check_signature(data, source)
    return data, source


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _check_signature(data: dict[str, Any], source: Path) -> None:
    """The SignatureDef's inputs and outputs are TensorInfos: a name, a dtype name, a shape."""
    for side in ("inputs", "outputs"):
        entries = signature(data).get(side) or {}
        if not isinstance(entries, dict):
            raise FormatError(f"signature {side} are not an object of tensors", source)
        for key, info in entries.items():
            where = f"signature {side[:-1]} '{key}'"
            if not isinstance(info, dict) or not isinstance(info.get("name", ""), str) or (
                    not isinstance(info.get("dtype", ""), str)):
                raise FormatError(f"{where} is not a tensor (name, dtype, tensorShape)", source)
            _check_shape(info.get("tensorShape") or {}, where, source)


def _check_shape(shape: Any, where: str, source: Path) -> None:
    """A TensorShapeProto as JSON: {"dim": [{"size": "3"}, ...]} or {"unknownRank": true};
    sizes are int64s, which protobuf's JSON writes as strings."""
    dims = shape.get("dim", []) if isinstance(shape, dict) else None
    if not isinstance(dims, list):
        raise FormatError(f"{where} has a shape that is not a TensorShape", source)
    for dim in dims:
        size = dim.get("size", -1) if isinstance(dim, dict) else None
        if isinstance(size, bool) or not (isinstance(size, int) or (
                isinstance(size, str) and re.fullmatch(r"-?[0-9]{1,19}", size))):
            raise FormatError(f"{where} has a dimension {str(dim)[:40]} that is not a size",
                              source)


def signature(data: dict[str, Any]) -> dict[str, Any]:
    """The SignatureDef as JSON ({inputs, outputs, methodName?}); files of converter 1.x keep
    it in userDefinedMetadata.signature. Empty dict when the model has none."""
    found = data.get("signature")
    if not found:
        found = (data.get("userDefinedMetadata") or {}).get("signature")
    return found if isinstance(found, dict) else {}


def tensor_shape(info: dict[str, Any]) -> list[int | None] | None:
    """A TensorInfo's shape: None for unknown rank, None entries for unknown dimensions."""
    shape = info.get("tensorShape") or {}
    if shape.get("unknownRank"):
        return None
    dims = []
    for dim in shape.get("dim", []):
        size = int(dim.get("size", -1))
        dims.append(None if size < 0 else size)
    return dims


def tensor_dtype(info: dict[str, Any]) -> str:
    name = info.get("dtype", "DT_FLOAT")
    return DTYPES.get(name, name)


def signature_tensors(data: dict[str, Any], side: str) -> list[dict[str, Any]]:
    """The signature's inputs or outputs: key, tensor name, dtype and shape, in key order."""
    entries = signature(data).get(side) or {}
    return [{"key": key, "name": info.get("name", key), "dtype": tensor_dtype(info),
             "shape": tensor_shape(info)} for key, info in sorted(entries.items())]


def _shape_attr(shape: dict[str, Any]) -> list[int | None] | None:
    return tensor_shape({"tensorShape": shape})


def graph_tensors(data: dict[str, Any], side: str) -> list[dict[str, Any]]:
    """The model's inputs or outputs as `signature_tensors` gives them; for a graph model
    without a signature (tfjs-converter 1.1 and older), what TF.js takes instead: every
    Placeholder node as an input (keyed by its node name, dtype and shape from its attrs), and
    as outputs the nodes nothing reads, neither by data nor by control edge (Consts, NoOps and
    Placeholders left out), keyed by node name, in graph order."""
    found = signature_tensors(data, side)
    if found:
        return found
    nodes = data.get("modelTopology", {}).get("node", [])
    if side == "inputs":
        return [{"key": n["name"], "name": f"{n['name']}:0",
                 "dtype": DTYPES.get(str(((n.get("attr") or {}).get("dtype") or {}).get(
                     "type", "DT_FLOAT")), "float32"),
                 "shape": _shape_attr(((n.get("attr") or {}).get("shape") or {}).get("shape")
                                      or {"unknownRank": True})}
                for n in nodes if n.get("op") == "Placeholder"]
    consumed = {str(i).lstrip("^").split(":")[0] for n in nodes for i in n.get("input", [])}
    return [{"key": n["name"], "name": f"{n['name']}:0", "dtype": None, "shape": None}
            for n in nodes if n.get("name") not in consumed
            and n.get("op") not in ("Const", "NoOp", "Placeholder")]


def all_nodes(topology: dict[str, Any]) -> list[dict[str, Any]]:
    """The graph's nodes and those of its function library's bodies."""
    nodes = list(topology.get("node", []))
    for function in (topology.get("library") or {}).get("function", []):
        nodes.extend(function.get("nodeDef", []))
    return nodes


def read_weights(data: dict[str, Any], source: Path) -> list[Weight]:
    """The manifest's tensors (Const node contents by node name), dequantized as TF.js does."""
    return [weight for weight, _ in read_manifest(data.get("weightsManifest") or [],
                                                  source.parent, source)]


def constants(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The document and every Const tensor by node name, read from the shards."""
    data, source = read_document(path)
    return data, {w.name: w.read() for w in read_weights(data, source)}


def read(path: Path) -> Model:
    """Graph models hold a TensorFlow graph, not a Keras model: they convert to TensorFlow
    formats only, through `saved_model_to_graph_model`'s inverse."""
    raise UnsupportedError("a TF.js graph model holds a TensorFlow graph, not a Keras model; "
                           "it converts to a SavedModel folder (--to tf_saved_model) or a "
                           "frozen GraphDef .pb (--to tf_frozen_graph)", model_json_path(path))


def summarise(path: Path) -> dict[str, Any]:
    """What `modelport inspect` shows for a graph model."""
    data, source = read_document(path)
    weights = read_weights(data, source)
    specs = [spec for group in data.get("weightsManifest") or []
             for spec in group.get("weights", [])]
    quantized = Counter(str((spec.get("quantization") or {}).get("dtype"))
                        for spec in specs if spec.get("quantization"))
    topology = data["modelTopology"]
    ops = Counter(node.get("op", "?") for node in all_nodes(topology))
    stored = sum(source.parent.joinpath(p).stat().st_size
                 for group in data.get("weightsManifest") or [] for p in group.get("paths", [])
                 if source.parent.joinpath(p).is_file())
    return {
        "path": str(path),
        "format": NAME,
        "generated_by": data.get("generatedBy"),
        "converted_by": data.get("convertedBy"),
        "signature_in_metadata": not data.get("signature") and bool(signature(data)),
        "inputs": signature_tensors(data, "inputs"),
        "outputs": signature_tensors(data, "outputs"),
        "node_count": len(topology.get("node", [])),
        "function_count": len((topology.get("library") or {}).get("function", [])),
        "ops": dict(sorted(ops.items(), key=lambda item: (-item[1], item[0]))),
        "weight_count": len(weights),
        "param_count": sum(w.size for w in weights),
        "weight_bytes": stored,
        "quantization": dict(quantized),
        "has_initializer": "modelInitializer" in data,
        "user_defined_metadata": sorted((data.get("userDefinedMetadata") or {}).keys()),
        "warnings": [],
    }


def render(summary: dict[str, Any]) -> str:
    """The text `modelport inspect` prints for a graph model."""
    lines = [summary["path"], f"  format:   {summary['format']}"]
    if summary.get("generated_by"):
        lines.append(f"  producer: TensorFlow {summary['generated_by']}"
                     + (f" (converted by {summary['converted_by']})"
                        if summary.get("converted_by") else ""))
    where = " (from userDefinedMetadata)" if summary.get("signature_in_metadata") else ""
    lines.append(f"  signature{where}:")
    rows = [("", "key", "tensor", "dtype", "shape")]
    for side in ("inputs", "outputs"):
        for item in summary[side]:
            rows.append((side[:-1], item["key"], item["name"], item["dtype"],
                         shape_text(item["shape"])))
    if len(rows) > 1:
        lines += ["  " + line for line in table_lines(rows)]
    else:
        lines.append("    (none: TF.js takes the graph's Placeholders and sink nodes)")
    lines.append(f"  graph:    {summary['node_count']} nodes"
                 + (f", {summary['function_count']} functions"
                    if summary["function_count"] else ""))
    lines += table_lines([("op", "count")] + [(op, str(n)) for op, n in summary["ops"].items()],
                         right=(1,))
    quantized = ", ".join(f"{k} x{v}" for k, v in summary["quantization"].items())
    lines.append(f"  weights:  {summary['weight_count']} tensors, {summary['param_count']:,} "
                 f"parameters, {summary['weight_bytes']:,} bytes in shards"
                 + (f" (quantized: {quantized})" if quantized else ""))
    return "\n".join(lines)


def write(path: Path, topology: dict[str, Any], weights: list[Weight],
          signature_def: dict[str, Any], *, generated_by: str, overwrite: bool = False,
          shard_size: int | None = None, quantize: QuantizationPlan | None = None,
          metadata: dict[str, Any] | None = None) -> WriteResult:
    """Write model.json (GraphDef `topology` as JSON, Const contents stripped) and the shards of
    `weights` (one per Const node, named by the node) into the folder `path`, or beside
    `path` when it names a .json file, atomically. Returns the files written and what
    quantizing each weight cost."""

    def document(manifest: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": "graph-model",
            "generatedBy": generated_by,
            "convertedBy": f"modelport {__version__}",
            "modelTopology": topology,
            "weightsManifest": manifest,
        }
        if signature_def:
            out["signature"] = signature_def
        if metadata:
            out["userDefinedMetadata"] = dict(metadata)
        return out

    written = write_manifest(path, [[(weight, None) for weight in weights]],
                             default_name="model.json", document=document, overwrite=overwrite,
                             shard_size=shard_size or DEFAULT_SHARD_SIZE, plan=quantize)
    return WriteResult(written.files, quantization=written.quantization)


def signature_inputs(path: Path) -> list[tuple[str, tuple[int | None, ...] | None, str]]:
    """(key, shape, dtype) of each input the signature names (model.json's, or in old files
    its userDefinedMetadata's), for verify's generated inputs; without a signature, of each
    Placeholder node (`graph_tensors`), which TF.js feeds by node name."""
    data, _ = read_document(path)
    found = signature(data).get("inputs") or {}
    if not found:
        return [(entry["key"], None if entry["shape"] is None else tuple(entry["shape"]),
                 entry["dtype"]) for entry in graph_tensors(data, "inputs")]
    specs = []
    for key, tensor in found.items():
        dims = (tensor.get("tensorShape") or {}).get("dim")
        shape = None if dims is None else tuple(
            None if int(d.get("size", -1)) < 0 else int(d["size"]) for d in dims)
        dtype = str(tensor.get("dtype", "DT_FLOAT")).removeprefix("DT_").lower()
        specs.append((key, shape, {"float": "float32", "double": "float64"}.get(dtype, dtype)))
    return specs


# tfjs-converter 0.x wrote the GraphDef as a binary protobuf beside a bare weights manifest;
# 1.0 replaced both with model.json.
LEGACY_NAME = "tfjs_graph_model_0x"
LEGACY_GRAPH_FILE = "tensorflowjs_model.pb"


def detect_legacy(probe: Probe) -> bool:
    if probe.is_dir:
        return (probe.path / LEGACY_GRAPH_FILE).is_file()
    return probe.is_file and (probe.name == LEGACY_GRAPH_FILE or (
        probe.name == MANIFEST_FILE and (probe.path.parent / LEGACY_GRAPH_FILE).is_file()))


def read_legacy(path: Path) -> Model:
    raise UnsupportedError(f"a graph model of tfjs-converter 0.x ({LEGACY_GRAPH_FILE} + "
                           f"{MANIFEST_FILE}), which modelport does not read: convert the "
                           "model it came from (SavedModel or frozen graph) again with "
                           "--to tfjs_graph_model", path)


_TENSORFLOW = "modelport.tensorflow.graph_model"


def _native_in(runtime: str, keras_version: str | None, has_config: bool) -> bool:
    return runtime == "tfjs"


FORMATS = (
    Format(NAME, "TF.js graph model (model.json format graph-model + shards); from "
           "SavedModels and Keras files, to SavedModels and .pb (tensorflow extra)", detect,
           extensions=(".json", FOLDER), read=read, write=f"{_TENSORFLOW}:write_graph_model",
           holds="graph", graph=True, runtime="tfjs", native_in=_native_in,
           summarise=summarise, render=render,
           conversions={"tf_saved_model": f"{_TENSORFLOW}:graph_model_to_saved_model",
                        FROZEN_NAME: f"{_TENSORFLOW}:graph_model_to_frozen_pb"},
           input_specs=signature_inputs),
    Format(FROZEN_NAME, "TensorFlow frozen GraphDef (.pb), from TF.js graph models "
           "(tensorflow extra)", detect_frozen, extensions=(".pb",), holds="graph", graph=True),
    Format(LEGACY_NAME, f"TF.js graph model of tfjs-converter 0.x ({LEGACY_GRAPH_FILE} + "
           f"{MANIFEST_FILE}): recognised, not read", detect_legacy, read=read_legacy,
           holds="graph", graph=True),
)
