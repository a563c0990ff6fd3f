"""TensorFlow SavedModels without TensorFlow: tf.keras SavedModels read as Keras models (config
from the Keras metadata, weights from variables/), and a description of any SavedModel."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.errors import FormatError, UnsupportedError
from modelport.fileio import contained, lexists, regular_file
from modelport.formats import tensor_bundle, tf_checkpoint
from modelport.formats.common import name_layer_weights
from modelport.formats.record import FOLDER, Format, Probe
from modelport.keras_config.dialects import to_canonical
from modelport.keras_config.entries import MODEL_CLASSES, layer_name
from modelport.keras_config.graph import container_paths
from modelport.keras_config.layouts import layer_layout, layer_slots
from modelport.model import Metadata, Model, Weight
from modelport.protobuf import DecodeError, Message
from modelport.summary import header_lines
from modelport.summary import render as render_model
from modelport.summary import summarise as summarise_model
from modelport.text import shape_text, table_lines

NAME = "tf_saved_model"
SAVED_MODEL_FILE = "saved_model.pb"
KERAS_METADATA_FILE = "keras_metadata.pb"
SERVING_TAG = "serve"
# Identifiers tf_keras gives the root object of a model (Functional, Sequential, subclassed).
KERAS_MODEL_IDENTIFIERS = ("_tf_keras_network", "_tf_keras_sequential", "_tf_keras_model")
KERAS_IDENTIFIER_PREFIX = "_tf_keras_"
_TO_GRAPH_MODEL = ("convert it to a TF.js graph model with --to tfjs_graph_model (needs "
                   "pip install 'modelport[tensorflow]')")


def _saved_model_file(path: Path) -> Path:
    """saved_model.pb of a SavedModel folder (or the file named), a regular file inside it."""
    pb_path = contained(path / SAVED_MODEL_FILE, path, path) if path.is_dir() else path
    if lexists(pb_path) and not regular_file(pb_path):
        raise FormatError("is not a regular file", pb_path)
    return pb_path


def _in_folder(folder: Path, name: str) -> Path:
    """A file of the SavedModel folder, refused when a link leads it outside."""
    return contained(folder / name, folder, folder)


def detect(probe: Probe) -> bool:
    """A folder holding saved_model.pb, or the saved_model.pb file itself."""
    if probe.is_dir:
        return (probe.path / SAVED_MODEL_FILE).is_file()
    return probe.name == SAVED_MODEL_FILE and probe.is_file


# ------------------------------------------------------------------------------ the protobufs

@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature: its key, dtype and shape (None: unknown rank;
    None dimensions: unknown size)."""

    name: str
    dtype: str
    shape: list[int | None] | None
    tensor: str  # the graph tensor it binds ('serving_default_input_1:0')


@dataclass(frozen=True)
class Signature:
    name: str
    method: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]


@dataclass(frozen=True)
class SavedObject:
    """One node of the SavedObjectGraph, with the fields modelport uses."""

    children: tuple[tuple[int, str], ...]  # (node id, local name)
    kind: str  # 'user_object', 'variable', 'function', ...
    identifier: str = ""  # user objects: '_tf_keras_layer', 'optimizer', ...
    metadata: str = ""  # user objects of TF <= 2.4 tf.keras SavedModels: the Keras metadata
    variable_name: str = ""
    trainable: bool = True

    def child(self, local_name: str) -> int | None:
        return next((node for node, name in self.children if name == local_name), None)


# SavedObject's `kind` oneof: field number -> name (saved_object_graph.proto).
_OBJECT_KINDS = {4: "user_object", 5: "asset", 6: "function", 7: "variable",
                 8: "bare_concrete_function", 9: "constant", 10: "resource",
                 11: "saveable_objects", 12: "captured_tensor"}


@dataclass
class MetaGraph:
    """The parts of a SavedModel's MetaGraphDef modelport reads."""

    path: Path  # saved_model.pb
    tags: list[str]
    tensorflow_version: str
    signatures: list[Signature]
    objects: list[SavedObject] | None  # None: a TF1 SavedModel without an object graph
    graph: Message = field(repr=False)

    @property
    def folder(self) -> Path:
        return self.path.parent


def _shape(proto: Message | None) -> list[int | None] | None:
    if proto is None:
        return []
    if proto.boolean(3):  # unknown_rank
        return None
    return [None if (size := dim.int64(1)) < 0 else size for dim in proto.messages(2)]


def _dtype(enum: int) -> str:
    return tensor_bundle.DTYPE_NAMES.get(enum, f"dtype_{enum}")


def _tensor_specs(entries: list[Message]) -> list[TensorSpec]:
    specs = []
    for entry in entries:  # map<string, TensorInfo> entries: key 1, value 2
        info = entry.message(2) or Message()
        specs.append(TensorSpec(entry.string(1), _dtype(info.uint(2)), _shape(info.message(3)),
                                info.string(1)))
    return specs


def _signature(entry: Message) -> Signature:
    proto = entry.message(2) or Message()
    return Signature(entry.string(1), proto.string(3), _tensor_specs(proto.messages(1)),
                     _tensor_specs(proto.messages(2)))


def _saved_object(proto: Message) -> SavedObject:
    children = tuple((ref.int32(1), ref.string(2)) for ref in proto.messages(1))
    kind = next((name for number, name in _OBJECT_KINDS.items() if number in proto), "")
    if kind == "user_object":
        user = proto.message(4) or Message()
        return SavedObject(children, kind, identifier=user.string(1),
                           metadata=user.string(3))
    if kind == "variable":
        variable = proto.message(7) or Message()
        return SavedObject(children, kind, variable_name=variable.string(6),
                           trainable=variable.boolean(3))
    return SavedObject(children, kind)


def read_meta_graph(path: Path) -> MetaGraph:
    """The serving MetaGraphDef (tag 'serve'; the only one when there is one) of the SavedModel
    at `path` (its folder or its saved_model.pb). Raises FormatError naming the file when the
    protobuf is damaged."""
    pb_path = _saved_model_file(Path(path))
    try:
        data = pb_path.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read the SavedModel ({exc.strerror})", pb_path) from None
    try:
        candidates = []
        for meta in Message(data).messages(2):
            info = meta.message(1) or Message()
            candidates.append((info.strings(4), info.string(5), meta))
        if not candidates:
            raise FormatError("not a SavedModel: saved_model.pb holds no MetaGraphDef "
                              "(empty, truncated or another file)", pb_path)
        tags, version, meta = next(
            (c for c in candidates if SERVING_TAG in c[0]), candidates[0])
        signatures = [_signature(entry) for entry in meta.messages(5)]
        object_graph = meta.message(7)
        objects = None if object_graph is None else [
            _saved_object(node) for node in object_graph.messages(1)]
        graph = meta.message(2) or Message()
    except DecodeError as exc:
        raise FormatError(f"corrupt or truncated saved_model.pb ({exc})", pb_path) from None
    if objects is not None:
        for node in objects:
            if any(not 0 <= child < len(objects) for child, _ in node.children):
                raise FormatError("corrupt saved_model.pb: the object graph refers to a node "
                                  "it does not hold", pb_path)
    return MetaGraph(pb_path, tags, version, signatures, objects, graph)


def op_histogram(meta: MetaGraph) -> tuple[Counter[str], int]:
    """How often each op occurs in the graph and in every function of its library, and the
    number of functions."""
    counts: Counter[str] = Counter()
    try:
        for node in meta.graph.messages(1):
            counts[node.string(2)] += 1
        library = meta.graph.message(2) or Message()
        functions = library.messages(1)
        for function in functions:
            for node in function.messages(3):
                counts[node.string(2)] += 1
    except DecodeError as exc:
        raise FormatError(f"corrupt graph in saved_model.pb ({exc})", meta.path) from None
    return counts, len(functions)


# ------------------------------------------------------------------------------ Keras metadata

@dataclass(frozen=True)
class KerasNode:
    node_id: int
    node_path: str
    identifier: str
    metadata: str


def keras_metadata(meta: MetaGraph) -> tuple[list[KerasNode], str | None]:
    """The tf.keras metadata of each Keras object, and where it was found: keras_metadata.pb
    (TF >= 2.5), saved_model.pb (older tf.keras put it in the object graph's user objects), or
    None when the SavedModel has none."""
    metadata_path = _in_folder(meta.folder, KERAS_METADATA_FILE)
    if regular_file(metadata_path):
        try:
            nodes = [KerasNode(node.int32(2), node.string(3), node.string(4), node.string(5))
                     for node in Message(metadata_path.read_bytes()).messages(1)]
        except DecodeError as exc:
            raise FormatError(f"corrupt or truncated Keras metadata ({exc})",
                              metadata_path) from None
        except OSError as exc:
            raise FormatError(f"cannot read the Keras metadata ({exc.strerror})",
                              metadata_path) from None
        return nodes, KERAS_METADATA_FILE
    if meta.objects is None:
        return [], None
    nodes = [KerasNode(node_id, "", node.identifier, node.metadata)
             for node_id, node in enumerate(meta.objects)
             if node.identifier.startswith(KERAS_IDENTIFIER_PREFIX) and node.metadata]
    return nodes, (SAVED_MODEL_FILE if nodes else None)


def _json(node: KerasNode, source: Path) -> dict[str, Any]:
    try:
        value = json.loads(node.metadata)
    except json.JSONDecodeError as exc:
        raise FormatError(f"the Keras metadata of object {node.node_id} is not valid JSON "
                          f"({exc})", source) from None
    if not isinstance(value, dict):
        raise FormatError(f"the Keras metadata of object {node.node_id} is not a JSON object",
                          source)
    return value


def _plain_config(value: Any) -> Any:
    """The metadata's JSON as a `.h5` model_config has it: tf.keras's SavedModel encoder
    writes tuples and TensorShapes as {"class_name": "__tuple__" / "TensorShape", "items"}
    (plain lists in `.h5`) and marks objects it saved once with 'shared_object_id' (sharing is
    expressed by layer names in a config)."""
    if isinstance(value, dict):
        if value.get("class_name") in ("__tuple__", "TensorShape") and "items" in value:
            items = value["items"]
            return None if items is None else [_plain_config(v) for v in items]
        return {k: _plain_config(v) for k, v in value.items() if k != "shared_object_id"}
    if isinstance(value, list):
        return [_plain_config(v) for v in value]
    return value


def _not_keras(meta: MetaGraph) -> UnsupportedError:
    root = meta.objects[0] if meta.objects else None
    if root is not None and root.identifier.startswith(KERAS_IDENTIFIER_PREFIX):
        return UnsupportedError("a Keras model saved with tf.saved_model.save: it has no Keras "
                                "metadata (keras_metadata.pb), only TensorFlow functions, so "
                                f"no Keras architecture can be read from it; {_TO_GRAPH_MODEL}",
                                meta.folder)
    return UnsupportedError("not a Keras SavedModel (no keras_metadata.pb and no Keras "
                            "metadata in saved_model.pb): it holds TensorFlow functions, not "
                            f"a Keras architecture; {_TO_GRAPH_MODEL}", meta.folder)


# ------------------------------------------------------------------------------ reading

def read(path: Path) -> Model:
    """A tf.keras SavedModel (tf_keras / tf.keras `model.save(dir, save_format="tf")`) as a
    Keras model: the Keras 2 config of its root object and its layers' weights in Keras order.
    Other SavedModels raise UnsupportedError naming what they can be converted to."""
    meta = read_meta_graph(Path(path))
    nodes, found_in = keras_metadata(meta)
    root = next((n for n in nodes if n.node_id == 0), None)
    if found_in is None or root is None or meta.objects is None:
        raise _not_keras(meta)
    source = meta.folder / found_in
    if root.identifier not in KERAS_MODEL_IDENTIFIERS:
        raise UnsupportedError(f"the SavedModel holds a single Keras layer ({root.identifier}),"
                               " not a model; " + _TO_GRAPH_MODEL, meta.folder)
    info = _json(root, source)
    config = info.get("model_config")
    if config is None and isinstance(info.get("config"), dict):
        config = {"class_name": info.get("class_name"), "config": info["config"]}
    if not isinstance(config, dict) or config.get("class_name") not in MODEL_CLASSES | {
            "Model"} or not isinstance(config.get("config", {}).get("layers"), list):
        raise UnsupportedError(f"a subclassed Keras model ({info.get('class_name')}): its "
                               "architecture is Python code, not a config modelport can "
                               f"carry; {_TO_GRAPH_MODEL}", meta.folder)
    model = Model(config=None, metadata=Metadata(
        source_format=NAME, keras_version=info.get("keras_version"),
        backend=info.get("backend")))
    model.config = to_canonical(_plain_config(config), model.warnings.append)
    training_config = info.get("training_config")
    if isinstance(training_config, dict):
        model.training_config = _plain_config(training_config)
    names = {n.node_id: _json(n, source).get("name") for n in nodes}
    model.weights = _layer_weights(meta, model, names)
    if meta.objects[0].child("optimizer") is not None:
        model.warnings.append("the SavedModel's optimizer state is not carried over")
    return model


def _variables_bundle(meta: MetaGraph) -> tf_checkpoint.Checkpoint:
    prefix = meta.folder / "variables" / "variables"
    if not regular_file(_in_folder(meta.folder, "variables/variables.index")):
        raise FormatError("the SavedModel has no variables/variables.index, yet its model has "
                          "weights", meta.folder)
    return tf_checkpoint.open_bundle(prefix)


# Children tf_keras adds to every layer of a SavedModel saved with traces (the default), beside
# the layer's own dependencies: lists of its variables, the call functions, and `keras_api`.
# Skipped so that variables are met through their owners, in creation order. `optimizer`: a
# nested model compiled on its own keeps its optimizer's variables (iteration, learning rate,
# slots) under it; they are no weights of its layers (the root's optimizer is met apart).
_TRACE_EXTRAS = frozenset({"optimizer",
    "variables", "trainable_variables", "non_trainable_variables", "regularization_losses",
    "keras_api", "__call__", "call_and_return_conditional_losses",
    "call_and_return_all_conditional_losses", "_default_save_signature", "signatures",
    "layers", "metrics", "layer_regularization_losses", "layer_metrics"})

ObjectPath = tuple[str, ...]


def _created_variables(objects: list[SavedObject], node_id: int, path: ObjectPath,
                       seen: set[int]) -> list[tuple[ObjectPath, int]]:
    """(path, node id) of the variables under a layer, depth first in child order: the order
    the layer created them in, as in a checkpoint (a nested model: its layers in order)."""
    if node_id in seen:
        return []
    seen.add(node_id)
    node = objects[node_id]
    if node.kind == "variable":
        return [(path, node_id)]
    found = []
    for child, local_name in node.children:
        if local_name not in _TRACE_EXTRAS and local_name != "root":
            found += _created_variables(objects, child, path + (local_name,), seen)
    return found


def _keras_order(entry: dict[str, Any], created: list[Weight]) -> list[Weight]:
    """A layer's weights in creation order, put in Keras's order (trainable ones of every
    sub-layer first), by the layout table; for classes it does not know, by the variables'
    own trainable flags."""
    keras_slots = layer_slots(entry)
    created_slots = layer_slots(entry, keras_order=False)
    if keras_slots is None or created_slots is None or len(created_slots) != len(created):
        if entry.get("config", {}).get("trainable", True) is False:
            return created
        return [w for w in created if w.trainable] + [w for w in created if not w.trainable]
    position = {(name, path): index for index, (name, _, path) in enumerate(created_slots)}
    return [created[position[(name, path)]] for name, _, path in keras_slots]


def _layer_weights(meta: MetaGraph, model: Model, names: dict[int, Any]
                   ) -> dict[str, list[Weight]]:
    """Each top-level layer's weights, found through the object graph: the root's child
    'layer-N' is the N-th layer of `model.layers`; its variables are found as a checkpoint
    holds them, in creation order, and put in the order a Keras 2 `.h5` lists them. (The
    'variables' list tf_keras adds when saving traces is `layer.weights`, which for a nested
    model is per sub-layer, not the `.h5`'s trainable-first order, and is absent without
    traces.)"""
    assert meta.objects is not None and model.config is not None
    objects = meta.objects
    if not objects:
        raise FormatError("the SavedModel's object graph has no root object", meta.path)
    root = objects[0]
    layers = container_paths(model.class_name or "", model.config["config"])
    bundle = None
    checkpoint_nodes: list[tf_checkpoint.Node] = []
    if any(layer_layout(entry) != [] for entry, _ in layers):
        bundle = _variables_bundle(meta)
        checkpoint_nodes = bundle.object_graph() or []
        if not checkpoint_nodes:
            raise FormatError("the SavedModel's variables have no object graph",
                              bundle.index_path)
    # The root's 'layer-N' children, by the name each layer object's own metadata gives:
    # the numbering follows the saving Keras's `model.layers`, which older versions ordered
    # differently from the config (TF 2.4 with custom layers).
    named: dict[str, tuple[str, int]] = {}
    for child, local_name in root.children:
        if local_name.startswith("layer-") and isinstance(names.get(child), str):
            named.setdefault(names[child], (local_name, child))
    weights: dict[str, list[Weight]] = {}
    for index, (entry, _) in enumerate(layers):
        name = layer_name(entry)
        local_name, found_id = named.get(name, (f"layer-{index}", None))
        layer_path = (local_name,)
        node_id = root.child(local_name) if found_id is None else found_id
        if node_id is None:
            raise FormatError(f"the object graph has no '{layer_path[0]}' for layer '{name}' "
                              f"(the config has {len(layers)} layers)", meta.path)
        if names.get(node_id, name) != name:
            raise FormatError(f"the object graph's '{layer_path[0]}' is layer "
                              f"'{names[node_id]}', the config's is '{name}'", meta.path)
        variables = _created_variables(objects, node_id, (), set())
        if bundle is None:
            weights[name] = []
            continue
        found = []
        for path, variable_id in variables:
            key = _checkpoint_key(checkpoint_nodes, layer_path + path)
            variable = objects[variable_id]
            if variable.kind != "variable" or key is None or key not in bundle.entries:
                raise FormatError(f"variable '{'/'.join(path)}' of layer '{name}' is not in "
                                  "the SavedModel's variables", bundle.index_path)
            found.append(bundle.weight(key, variable.variable_name.removesuffix(":0"),
                                       variable.trainable))
        found = _keras_order(entry, found)
        layout = layer_layout(entry)
        if layout is not None and len(layout) != len(found):
            raise FormatError(f"layer '{name}' ({entry.get('class_name')}) has {len(found)} "
                              f"variables in the SavedModel; its class has {len(layout)}",
                              meta.path)
        weights[name] = name_layer_weights(entry, found, keras3_source=False)
    # Keyed in config order, as the other readers do (a Sequential's InputLayer, which is not
    # one of `model.layers`, has an empty group).
    return {layer_name(entry): weights.get(layer_name(entry), []) for entry in model.layers}


def _checkpoint_key(nodes: list[tf_checkpoint.Node], path: ObjectPath) -> str | None:
    """The checkpoint key of the variable at `path` from the root of the checkpoint's object
    graph: walked by name rather than assuming it numbers its nodes as the SavedObjectGraph."""
    node_id = 0
    for local_name in path:
        child = next((c.node_id for c in nodes[node_id].children
                      if c.local_name == local_name), None)
        if child is None:
            return None
        node_id = child
    return next((a.checkpoint_key for a in nodes[node_id].attributes
                 if a.name == "VARIABLE_VALUE"), None)


# ------------------------------------------------------------------------------ inspect

def describe(path: Path) -> dict[str, Any]:
    """What any SavedModel holds, for `modelport inspect`: tags, TensorFlow version,
    signatures, the op histogram of its graph and functions, its variables and whether it
    carries tf.keras metadata."""
    meta = read_meta_graph(Path(path))
    ops, function_count = op_histogram(meta)
    _, keras_found_in = keras_metadata(meta)
    variable_count, variable_bytes = 0, 0
    if regular_file(_in_folder(meta.folder, "variables/variables.index")):
        bundle = tf_checkpoint.open_bundle(meta.folder / "variables" / "variables")
        stored = [e for k, e in bundle.entries.items() if k != tf_checkpoint.OBJECT_GRAPH_KEY]
        variable_count = len(stored)
        # A sliced (partitioned) variable's entry owns no bytes; its slices hold its tensor.
        variable_bytes = sum(e.size if not e.slices or e.dtype == "string"
                             else math.prod(e.shape) * _itemsize(e.dtype) for e in stored)
    return {
        "tags": meta.tags,
        "tensorflow_version": meta.tensorflow_version or None,
        "signatures": [
            {"name": s.name, "method": s.method,
             "inputs": [{"name": t.name, "dtype": t.dtype, "shape": t.shape} for t in s.inputs],
             "outputs": [{"name": t.name, "dtype": t.dtype, "shape": t.shape}
                         for t in s.outputs]}
            for s in meta.signatures if not s.name.startswith("__")],
        "ops": dict(ops.most_common()),
        "node_count": sum(ops.values()),
        "function_count": function_count,
        "variable_count": variable_count,
        "variable_bytes": variable_bytes,
        "object_graph": meta.objects is not None,
        "keras_metadata": keras_found_in,
    }


def _itemsize(dtype: str) -> int:
    import numpy as np

    try:
        return np.dtype(dtype).itemsize
    except TypeError:
        return 2 if dtype == "bfloat16" else 0


# ------------------------------------------------------------------------------------ inspect

def summarise(path: Path) -> dict[str, Any]:
    """inspect's summary: the SavedModel's signatures, op histogram and variables (under
    "saved_model"), with the Keras summary when it is a tf.keras SavedModel. Reads no
    TensorFlow."""
    details = describe(path)
    summary = None
    warnings = []
    if details["keras_metadata"]:
        try:
            with read(path) as model:
                summary = summarise_model(model, NAME, path)
        except UnsupportedError as exc:
            warnings.append(exc.message)
    if summary is None:
        summary = summarise_model(Model(config=None), NAME, path)
        summary["warnings"] += warnings
    summary["saved_model"] = details
    return summary


_TOP_OPS = 20  # op types listed in the text view; --json has them all


def saved_model_lines(details: dict[str, Any]) -> list[str]:
    """The SavedModel part of `render`: signatures, variables and the commonest ops."""
    lines = [f"  saved model: tags {', '.join(details['tags']) or 'none'}, TensorFlow "
             f"{details['tensorflow_version'] or '?'}, Keras metadata: "
             f"{details['keras_metadata'] or 'none'}"]
    rows = [("signature", "", "name", "dtype", "shape")]
    for signature in details["signatures"]:
        for kind in ("inputs", "outputs"):
            rows += [(signature["name"], kind[:-1], t["name"], t["dtype"], shape_text(t["shape"]))
                     for t in signature[kind]]
    lines += table_lines(rows) if len(rows) > 1 else ["  signatures: none"]
    lines.append("")
    lines.append(f"  variables: {details['variable_count']} tensors, "
                 f"{details['variable_bytes']:,} bytes")
    ops = details["ops"]
    lines.append(f"  ops:      {details['node_count']:,} nodes of {len(ops)} op types in the "
                 f"graph and its {details['function_count']} functions")
    lines += table_lines([("op", "count")] + [(op, f"{count:,}") for op, count
                                              in list(ops.items())[:_TOP_OPS]], right=(1,))
    if len(ops) > _TOP_OPS:
        lines.append(f"  ... and {len(ops) - _TOP_OPS} more op types (--json lists them all)")
    return lines


def render(summary: dict[str, Any]) -> str:
    """inspect's text view: the Keras model's (when there is one), then the SavedModel's own."""
    details = saved_model_lines(summary["saved_model"])
    if summary.get("model_class") is None:
        return "\n".join(header_lines(summary) + details)
    return render_model(summary) + "\n\n" + "\n".join(details)


def _native_in(runtime: str, keras_version: str | None, has_config: bool) -> bool:
    """TensorFlow runs any SavedModel's signature; tf_keras loads tf.keras SavedModels."""
    return runtime == "tensorflow" or (runtime == "tf_keras" and has_config)


FORMATS = (
    Format(NAME, "TensorFlow SavedModel (saved_model.pb + variables/): tf.keras SavedModels "
           "read without TensorFlow; written with the tensorflow extra", detect,
           extensions=(FOLDER,), read=read,
           write="modelport.tensorflow.saved_model_export:write", holds="model",
           runtime="tensorflow", native_in=_native_in, summarise=summarise, render=render,
           conversions={
               "tfjs_graph_model": "modelport.tensorflow.graph_model:saved_model_to_graph_model"},
           conversion_options={
               "tfjs_graph_model": ("quantize", "shard_size", "metadata", "signature")},
           graph=True, aliases=("keras_saved_model",)),
)
