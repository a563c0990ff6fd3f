"""TF.js graph models with TensorFlow: SavedModel (or any Keras model) -> graph model (freeze,
grappler, batch-norm folding, TF.js fusions, op check), and graph model -> SavedModel / frozen
GraphDef `.pb`. The GraphDef surgery itself is in `graph_rewrite` (numpy only)."""

from __future__ import annotations

import inspect
import json
import keyword
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from modelport.errors import FormatError, ModelportError, UnsupportedError
from modelport.fileio import atomic_file, atomic_folder, check_writable
from modelport.formats import saved_model, tfjs_graph
from modelport.formats.record import Probe, WriteResult
from modelport.model import Model, array_weight
from modelport.quantize import QuantizationPlan
from modelport.tensorflow import graph_rewrite
from modelport.tensorflow.loading import import_tensorflow
from modelport.tensorflow.saved_model_export import write as export_saved_model

DEFAULT_SIGNATURE = "serving_default"
_OPS_FILE = Path(__file__).with_name("tfjs_ops.json")
# Passes of the first grappler run, as the incumbent orders them. The remapper is left out on
# purpose: with oneDNN (the default on x86) it emits ops TF.js lacks (_MklLayerNorm,
# _FusedBatchNormEx, _FusedMatMul with Tanh); graph_rewrite fuses what TF.js can run instead.
_GRAPPLER_PASSES = ["debug_stripper", "pruning", "constfold", "arithmetic", "dependency",
                    "pruning"]
_GRAPPLER_CLEANUP = ["constfold", "arithmetic", "dependency", "pruning"]


def _tensorflow() -> Any:
    return import_tensorflow()


def tfjs_supported_ops() -> frozenset[str]:
    """The ops @tensorflow/tfjs-converter's graph executor maps (scripts/tfjs_ops.py)."""
    with open(_OPS_FILE, encoding="utf-8") as handle:
        return frozenset(json.load(handle)["ops"])


# ------------------------------------------------------------------ SavedModel -> graph model

def _signature_function(tf: Any, src: Path, name: str) -> tuple[Any, Any]:
    """The ConcreteFunction of signature `name` of the SavedModel `src`, and the object that
    keeps its variables alive while it is used."""
    if not saved_model.detect(Probe(src)):
        raise FormatError("not a SavedModel folder (no saved_model.pb)", src)
    try:
        from modelport.tensorflow.loading import load_saved_model  # with the TF1 fallback
    except ImportError:
        load_saved_model = None
    if load_saved_model is not None:
        serving = load_saved_model(src, name)
        return serving.function, serving.owner
    try:
        loaded = tf.saved_model.load(str(src))
    except Exception as exc:  # TensorFlow raises many types for unreadable SavedModels
        raise FormatError(f"TensorFlow cannot load this SavedModel ({type(exc).__name__})",
                          src) from None
    signatures = getattr(loaded, "signatures", None) or {}
    if name not in signatures:
        known = ", ".join(sorted(signatures)) or "none"
        raise FormatError(f"the SavedModel has no signature '{name}' (it has: {known})", src)
    return signatures[name], loaded


def _freeze(tf: Any, function: Any) -> tuple[Any, list[tuple[str, Any]], list[tuple[str, Any]]]:
    """The frozen GraphDef of a signature function (variables as Consts, functions inlined,
    control flow lowered to the Switch/Merge form TF.js runs), with (key, tensor) pairs for the
    signature's inputs and outputs in the frozen graph."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    frozen = convert_variables_to_constants_v2(function, lower_control_flow=True,
                                               aggressive_inlining=True)
    _, input_specs = function.structured_input_signature
    # Flattening a dict orders it by key: the order of the function's flat inputs/outputs.
    input_keys = tf.nest.flatten({key: key for key in input_specs})
    outputs = function.structured_outputs
    output_keys = (tf.nest.flatten({key: key for key in outputs}) if isinstance(outputs, dict)
                   else [f"output_{i}" for i in range(len(frozen.outputs))])
    if len(input_keys) != len(frozen.inputs) or len(output_keys) != len(frozen.outputs):
        raise UnsupportedError("the signature's inputs/outputs do not match its function's "
                               f"({len(input_keys)} keys for {len(frozen.inputs)} inputs)")
    return (frozen.graph.as_graph_def(), list(zip(input_keys, frozen.inputs, strict=True)),
            list(zip(output_keys, frozen.outputs, strict=True)))


def _grappler(tf: Any, graph_def: Any, fetches: list[str], passes: list[str]) -> Any:
    from tensorflow.core.protobuf import config_pb2, meta_graph_pb2
    from tensorflow.python.grappler import tf_optimizer

    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    meta_graph = tf.compat.v1.train.export_meta_graph(graph_def=graph_def, graph=graph)
    # Grappler keeps the nodes of the 'train_op' collection: the signature's outputs.
    fetch = meta_graph_pb2.CollectionDef()
    fetch.node_list.value.extend(fetches)
    meta_graph.collection_def["train_op"].CopyFrom(fetch)
    config = config_pb2.ConfigProto()
    rewrite = config.graph_options.rewrite_options
    rewrite.optimizers[:] = passes
    rewrite.min_graph_nodes = -1  # tiny models too
    return tf_optimizer.OptimizeGraph(config, meta_graph)


def _check_ops(graph_def: Any, supported: frozenset[str], src: Path) -> None:
    first_user: dict[str, str] = {}
    nodes = list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]
    for node in nodes:
        if node.op not in supported:
            first_user.setdefault(node.op, node.name)
    if first_user:
        listed = ", ".join(f"{op} (node '{name}')" for op, name in sorted(first_user.items()))
        raise UnsupportedError(f"TF.js cannot run op{'s' if len(first_user) > 1 else ''} "
                               f"{listed}; no graph model written", src)


def _tensor_info(tf: Any, tensor: Any) -> dict[str, Any]:
    from google.protobuf import json_format
    from tensorflow.core.protobuf import meta_graph_pb2

    info = meta_graph_pb2.TensorInfo(name=tensor.name, dtype=tensor.dtype.as_datatype_enum,
                                     tensor_shape=tensor.shape.as_proto())
    return json_format.MessageToDict(info)


def _extract_constants(tf: Any, graph_def: Any) -> list[Any]:
    """Const tensors of the main graph as weights named by node, their contents removed from
    the GraphDef (dtype and shape stay, as TF.js reads them)."""
    weights = []
    for node in graph_def.node:
        if node.op != "Const":
            continue
        tensor = node.attr["value"].tensor
        weights.append(array_weight(node.name, tf.make_ndarray(tensor)))
        for field, _ in tensor.ListFields():
            if field.name not in ("dtype", "tensor_shape", "version_number"):
                tensor.ClearField(field.name)
    return weights


def saved_model_to_graph_model(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                               overwrite: bool = False, signature: str = DEFAULT_SIGNATURE,
                               quantize: QuantizationPlan | None = None,
                               shard_size: int | None = None,
                               metadata: dict[str, Any] | None = None) -> WriteResult:
    """Convert the SavedModel folder `src` (its `signature`) to a TF.js graph model in `dst`
    (folder, or a .json name). Every op is checked against TF.js before anything is written.
    Returns the files written and what quantizing each weight cost."""
    src, dst = Path(src), Path(dst)
    json_path = dst if dst.suffix == ".json" else dst / "model.json"
    check_writable(json_path, overwrite)
    tf = _tensorflow()
    function, _owner = _signature_function(tf, src, signature)
    try:
        graph_def, inputs, outputs = _freeze(tf, function)
    except ModelportError as exc:
        raise exc.about(src) from None
    fetches = [tensor.name.split(":")[0] for _, tensor in outputs]
    graph_def = graph_rewrite.prune(graph_def, fetches)
    graph_def = _grappler(tf, graph_def, fetches, _GRAPPLER_PASSES)
    graph_def = graph_rewrite.fold_batch_norms(graph_def, fetches, tf.make_ndarray,
                                               tf.make_tensor_proto)
    graph_def = _grappler(tf, graph_def, fetches, _GRAPPLER_CLEANUP)
    graph_def = graph_rewrite.fuse_for_tfjs(graph_def, fetches, tf.make_ndarray,
                                            tf.make_tensor_proto)
    graph_def = graph_rewrite.drop_control_inputs(graph_def, fetches)
    _check_ops(graph_def, tfjs_supported_ops(), src)

    from google.protobuf import json_format

    signature_def = {
        "inputs": {key: _tensor_info(tf, tensor) for key, tensor in inputs},
        "outputs": {key: _tensor_info(tf, tensor) for key, tensor in outputs},
        "methodName": "tensorflow/serving/predict",
    }
    weights = _extract_constants(tf, graph_def)
    topology = json_format.MessageToDict(graph_def)
    topology.setdefault("node", [])
    try:
        return tfjs_graph.write(dst, topology, weights, signature_def,
                                generated_by=tf.__version__, overwrite=overwrite,
                                shard_size=shard_size, quantize=quantize, metadata=metadata)
    except ModelportError as exc:
        raise exc.about(src) from None


def write_graph_model(model: Model, path: Path, overwrite: bool = False,
                      quantize: QuantizationPlan | None = None, shard_size: int | None = None,
                      metadata: dict[str, Any] | None = None,
                      custom_objects: str | Path | dict[str, Any] | None = None) -> WriteResult:
    """Any Keras model modelport reads -> a temporary SavedModel -> a TF.js graph model
    (`custom_objects` as the SavedModel writer takes it). Errors name the user's files,
    never the temporary SavedModel."""
    path = Path(path)
    check_writable(path if path.suffix == ".json" else path / "model.json", overwrite)
    _tensorflow()
    if model.config is None:
        raise UnsupportedError("a graph model needs an architecture; this input holds weights "
                               "only")
    with tempfile.TemporaryDirectory(prefix="modelport_graph_") as tmp:
        saved = Path(tmp) / "saved_model"
        try:
            exported = export_saved_model(model, saved, True, custom_objects=custom_objects)
            result = saved_model_to_graph_model(saved, path, overwrite=overwrite,
                                                quantize=quantize, shard_size=shard_size,
                                                metadata=metadata)
        except ModelportError as exc:
            raise _without_scratch(exc, Path(tmp)) from None
    result.warnings[:0] = exported.warnings
    return result


def _without_scratch(exc: ModelportError, scratch: Path) -> ModelportError:
    """The error about the user's model: a temporary path it names is dropped (the caller
    then names the input file)."""
    if exc.path is not None and Path(exc.path).is_relative_to(scratch):
        exc.path = None
    exc.message = exc.message.replace(str(scratch / "saved_model"), "the model").replace(
        str(scratch), "a temporary folder")
    exc.args = (exc.message,)
    return exc


# ------------------------------------------------------ graph model -> SavedModel / frozen pb

def _graph_def(tf: Any, src: Path) -> tuple[Any, dict[str, Any]]:
    """The GraphDef of a graph model with its Const tensors put back, TF.js-only ops expanded
    into TensorFlow ones, and the model's parsed JSON."""
    from google.protobuf import json_format

    data, constants = tfjs_graph.constants(src)
    source = tfjs_graph.model_json_path(src)
    graph_def = tf.compat.v1.GraphDef()
    try:
        json_format.ParseDict(data["modelTopology"], graph_def, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise FormatError(f"modelTopology is not a GraphDef ({exc})", source) from None
    for node in graph_def.node:
        if node.op != "Const":
            continue
        if node.name not in constants:
            if node.attr["value"].tensor.ByteSize() and _has_content(node.attr["value"].tensor):
                continue  # a Const kept inline
            raise FormatError(f"Const node '{node.name}' has no tensor in the weights "
                              "manifest", source)
        dtype = tf.as_dtype(node.attr["dtype"].type)
        array = constants[node.name]
        if dtype != tf.string:
            array = np.asarray(array).astype(dtype.as_numpy_dtype)
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(array, dtype=dtype,
                                                                shape=array.shape))
    graph_rewrite.expand_tfjs_ops(graph_def, tf.make_ndarray, tf.make_tensor_proto)
    from tensorflow.python.framework import op_def_registry

    graph_rewrite.add_missing_type_attrs(graph_def, op_def_registry.get)
    graph_rewrite.put_constants_in_loop_frames(graph_def)
    return graph_def, data


def _has_content(tensor: Any) -> bool:
    return any(field.name not in ("dtype", "tensor_shape", "version_number")
               for field, _ in tensor.ListFields())


def _signature_entries(data: dict[str, Any], source: Path
                       ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Inputs and outputs {key, name, dtype, shape}: from the signature, else the graph's
    Placeholders and the nodes nothing consumes (`tfjs_graph.graph_tensors`)."""
    inputs = tfjs_graph.graph_tensors(data, "inputs")
    outputs = tfjs_graph.graph_tensors(data, "outputs")
    for entry in inputs + outputs:
        if ":" not in entry["name"]:
            entry["name"] += ":0"
    if not outputs:
        raise FormatError("the graph model has no outputs", source)
    return inputs, outputs


def input_keys(keys: list[str]) -> list[str]:
    """The serving signature's input keys for the graph model's signature `keys`, in order:
    each key itself when it is a Python name (signature functions are called by keyword and
    TensorFlow names the input's op after it), else the closest one that is: every character
    other than a letter, digit or `_` becomes `_` (`input:0` -> `input_0`, as TensorFlow
    itself sanitises `input.0`), with `input_` in front of one starting with a digit or
    being a Python keyword, and `_1`, `_2`, ... after one that would repeat an earlier key."""
    taken: set[str] = set()
    out = []
    for key in keys:
        name = key if key.isidentifier() and key.isascii() else re.sub(r"[^A-Za-z0-9_]", "_",
                                                                        key)
        if not name.isidentifier() or keyword.iskeyword(name):
            name = "input_" + name
        unique, i = name, 1
        while unique in taken:
            unique, i = f"{name}_{i}", i + 1
        taken.add(unique)
        out.append(unique)
    return out


def _op_names(keys: list[str]) -> list[str]:
    """Names for the Identity ops giving the outputs `keys` (which stay the signature's output
    keys as they are: `age_pred/Softmax:0` is a valid key, not a valid op name)."""
    names = [re.sub(r"[^A-Za-z0-9_.-]", "_", key) for key in keys]
    return [name if re.match(r"[A-Za-z0-9.]", name) else "output" + name for name in names]


def _serving_function(tf: Any, graph_def: Any, inputs: list[dict[str, Any]],
                      outputs: list[dict[str, Any]], source: Path) -> Any:
    """A concrete function taking the signature's inputs by key and returning a dict of its
    outputs by key, computing the imported graph."""

    output_keys = [entry["key"] for entry in outputs]
    by_node = {node.name: node for node in graph_def.node}
    specs = {}
    for entry in inputs:
        node = by_node.get(entry["name"].split(":")[0])
        if node is None:
            raise FormatError(f"signature input '{entry['key']}' names tensor "
                              f"'{entry['name']}', which the graph does not have", source)
        dtype = (tf.as_dtype(node.attr["dtype"].type) if "dtype" in node.attr
                 else tf.as_dtype(entry["dtype"] or "float32"))
        shape = (tf.TensorShape(node.attr["shape"].shape) if "shape" in node.attr
                 else tf.TensorShape(entry["shape"]))
        specs[entry["key"]] = tf.TensorSpec(shape, dtype, name=entry["key"])

    # The input Placeholders leave the imported graph: the arguments take their place, and a
    # Placeholder left in a function graph unbound makes TensorFlow refuse to save it.
    # Control edges from them (`^input`, which converters 1.x left on ReadVariableOp and
    # PReLU nodes) go too: a Placeholder has no side effect to wait for.
    fed = {entry["name"].split(":")[0] for entry in inputs}
    fed = {name for name in fed if getattr(by_node.get(name), "op", "") == "Placeholder"}
    body = type(graph_def)()
    body.CopyFrom(graph_def)
    del body.node[:]
    for node in graph_def.node:
        if node.name in fed:
            continue
        kept = body.node.add()
        kept.CopyFrom(node)
        if any(ref.startswith("^") and ref[1:] in fed for ref in node.input):
            del kept.input[:]
            kept.input.extend(ref for ref in node.input
                              if not (ref.startswith("^") and ref[1:] in fed))

    names = input_keys(list(specs))
    op_names = _op_names(output_keys)

    def serve(*args: Any, **kwargs: Any) -> dict[str, Any]:
        feeds = list(args) + [kwargs[name] for name in names[len(args):]]
        # The graph imported into the signature function, its inputs fed by the arguments.
        results = tf.graph_util.import_graph_def(
            body, input_map={entry["name"]: feed
                             for entry, feed in zip(inputs, feeds, strict=True)},
            return_elements=[entry["name"] for entry in outputs], name="graph")
        return {key: tf.identity(tensor, name=name)
                for key, name, tensor in zip(output_keys, op_names, results, strict=True)}

    serve.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names])
    try:
        # The graph is imported by wrap_function, which adds no control edges: tf.function
        # would make its outputs wait for every stateful op, those inside a while loop's frame
        # too, which TensorFlow refuses. The signature is a tf.function calling it.
        arg_specs = [tf.TensorSpec(spec.shape, spec.dtype, name=name)
                     for spec, name in zip(specs.values(), names, strict=True)]
        imported = tf.compat.v1.wrap_function(serve, arg_specs)

        def call(*args: Any, **kwargs: Any) -> dict[str, Any]:
            return imported(*(list(args) + [kwargs[name] for name in names[len(args):]]))

        call.__signature__ = serve.__signature__  # type: ignore[attr-defined]
        return tf.function(call, autograph=False).get_concrete_function(*arg_specs)
    except (ValueError, KeyError, TypeError, tf.errors.OpError) as exc:
        raise FormatError(f"TensorFlow cannot import the graph ({type(exc).__name__}: "
                          f"{str(exc).strip().splitlines()[0]})", source) from None


def _imported(src: Path, dst: Path, overwrite: bool) -> tuple[Any, Any, Any]:
    """TensorFlow, the graph model's rebuilt GraphDef and the signature function computing
    it, after refusing an existing `dst` (before any TensorFlow work)."""
    check_writable(dst, overwrite)
    tf = _tensorflow()
    source = tfjs_graph.model_json_path(src)
    graph_def, data = _graph_def(tf, src)
    inputs, outputs = _signature_entries(data, source)
    return tf, graph_def, _serving_function(tf, graph_def, inputs, outputs, source)


def graph_model_to_saved_model(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                               overwrite: bool = False) -> WriteResult:
    """Convert a TF.js graph model to a SavedModel folder whose `serving_default` signature
    has the graph model's input and output keys (without a signature: its Placeholders' and
    sink nodes' names). Output keys stay exactly as the graph model says (`age_pred/Softmax:0`
    too); an input key that is no Python name becomes the closest one that is, as
    `input_keys` says (`input:0` -> `input_0`). Returns the files written."""
    src, dst = Path(src), Path(dst)
    tf, _, serving = _imported(src, dst, overwrite)
    with atomic_folder(dst, overwrite) as tmp:
        tf.saved_model.save(tf.Module(), str(tmp), signatures={DEFAULT_SIGNATURE: serving})
    return WriteResult(sorted(p for p in dst.rglob("*") if p.is_file()))


def graph_model_to_frozen_pb(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                             overwrite: bool = False) -> WriteResult:
    """Convert a TF.js graph model to a frozen GraphDef `.pb` (Consts inline; the signature's
    tensor names name its inputs and outputs). Returns the file written."""
    src, dst = Path(src), Path(dst)
    _, graph_def, _ = _imported(src, dst, overwrite)  # refuses graphs TF cannot run
    with atomic_file(dst, overwrite) as tmp:
        tmp.write_bytes(graph_def.SerializeToString())
    return WriteResult([dst])
