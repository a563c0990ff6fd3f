"""Rendering of the canonical (Keras 2) config in the Keras 3 dialect, as Keras 3 writes it in
`.keras` archives and `to_json()`: module-qualified objects, DTypePolicy, `batch_shape`, Keras 3
argument names, node indices of nested models counted from 0."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from modelport.errors import UnsupportedError
from modelport.keras_config import dialects, ops
from modelport.keras_config.applications import application_layer
from modelport.keras_config.entries import (
    has_builtin_node,
    is_keras3_op,
    is_model_entry,
    is_operation,
    layer_name,
)
from modelport.keras_config.graph import is_ref, kwarg_refs, map_kwarg_refs, map_node_refs
from modelport.keras_config.operations import canonical_call_to_keras3
from modelport.keras_config.shapes import call_inputs
from modelport.keras_config.targets import BUILTIN_LAYERS, KERAS2_ONLY_LAYERS
from modelport.keras_config.tensor_shapes import Tensor

KERAS3_VERSION = "3.15.1"  # what Keras 3 dialect output claims when the source was not Keras 3

# Keras 2 arguments Keras 3 does not have: the value at which dropping one changes nothing.
_KERAS2_ONLY_ARGS: dict[str, dict[str, Any]] = {
    **dialects.KERAS2_ONLY_DEFAULTS,
    "MultiHeadAttention": {"softmax_robust_masking": False},
}
# Keras 2 arguments Keras 3 derives by itself (shapes it learns when the layer is called).
_DERIVED_ARGS = {"MultiHeadAttention": ("query_shape", "key_shape", "value_shape")}
_OBJECT_MODULES = {"_initializer": "keras.initializers", "_regularizer": "keras.regularizers",
                   "_constraint": "keras.constraints"}


def _policy(name: Any) -> dict[str, Any]:
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name},
            "registered_name": None}


def _object(key: str, value: Any) -> Any:
    """Initializer/regularizer/constraint objects get the module Keras 3 expects."""
    if not isinstance(value, dict) or "class_name" not in value:
        return value
    module = next((m for suffix, m in _OBJECT_MODULES.items() if key.endswith(suffix)), None)
    if module is None or value.get("registered_name"):
        return value
    return {"module": module, "class_name": value["class_name"],
            "config": value.get("config") or {}, "registered_name": None}


def _lambda_function(cfg: dict[str, Any], key: str, type_key: str, module_key: str) -> Any:
    value = cfg.pop(key, None)
    kind = cfg.pop(type_key, None)
    module = cfg.pop(module_key, None)
    if kind == "lambda" and isinstance(value, list | tuple) and len(value) == 3:
        code, defaults, closure = value
        return {"class_name": "__lambda__",
                "config": {"code": code, "defaults": defaults, "closure": closure}}
    if kind == "function" and isinstance(value, str):
        return {"module": module, "class_name": "function", "config": value,
                "registered_name": "function"}
    return value


def _lambda_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Keras 2 spells a Lambda's function as [code, defaults, closure] + function_type;
    Keras 3 as a `__lambda__` object. The bytecode is carried as data, never run."""
    function = _lambda_function(cfg, "function", "function_type", "module")
    output_shape = _lambda_function(cfg, "output_shape", "output_shape_type",
                                    "output_shape_module")
    cfg["function"] = function
    if output_shape is not None:
        cfg["output_shape"] = output_shape
    return cfg


def _refuse(name: str, class_name: str, what: str) -> UnsupportedError:
    return UnsupportedError(f"layer '{name}' ({class_name}) {what}, which Keras 3 cannot "
                            "represent")


def _input_length_is_implied(input_length: Any, inputs: list[Tensor] | None) -> bool:
    """Whether an Embedding's Keras 2 `input_length` says nothing its inputs do not: Keras 2
    checks it against the input's shape and puts it into the static output shape where the
    input's length is unknown; Keras 3 ignores it. So it can be dropped when every call's
    input has that shape already."""
    if input_length is None:
        return True
    lengths = list(input_length) if isinstance(input_length, list | tuple) else [input_length]
    if not inputs:
        return False
    for x in inputs:
        if x is None or len(x) != len(lengths) + 1:
            return False
        if any(n is not None and n != d for n, d in zip(lengths, x[1:], strict=True)):
            return False
    return True


def _layer_config(class_name: str, cfg: dict[str, Any], inputs: list[Tensor] | None = None
                  ) -> tuple[str, dict[str, Any]]:
    cfg = dict(cfg)
    name = cfg.get("name", class_name)
    if class_name == "Embedding":
        if not _input_length_is_implied(cfg.get("input_length"), inputs):
            raise _refuse(name, class_name, f"sets input_length={cfg['input_length']!r} for "
                          "an input whose shape does not fix that length")
        cfg.pop("input_length", None)
    if class_name == "InputLayer":
        if "batch_input_shape" in cfg:
            cfg["batch_shape"] = cfg.pop("batch_input_shape")
        return class_name, cfg
    # Only InputLayers carry shapes in Keras 3 (a Sequential's first layer got one above).
    cfg.pop("batch_input_shape", None)
    if "dtype" in cfg and cfg["dtype"] is not None:
        cfg["dtype"] = _policy(dialects.policy_name(cfg["dtype"]))
    if cfg.get("rng_type", "") in dialects.KERAS2_RNG_TYPES:
        del cfg["rng_type"]
    for key, default in _KERAS2_ONLY_ARGS.get(class_name, {}).items():
        if key in cfg and cfg[key] != default:
            raise _refuse(name, class_name, f"sets {key}={cfg[key]!r}")
        cfg.pop(key, None)
    for key in (*_DERIVED_ARGS.get(class_name, ()), *dialects.IGNORED_BY_KERAS.get(class_name, ())):
        cfg.pop(key, None)
    if class_name == "LeakyReLU" and "alpha" in cfg:
        cfg["negative_slope"] = cfg.pop("alpha")
    if class_name == "ThresholdedReLU":
        # Keras 3's ReLU with a threshold is the same function: x where x > theta, else 0.
        class_name = "ReLU"
        cfg = {"name": name, "trainable": cfg.get("trainable", True), "dtype": cfg.get("dtype"),
               "max_value": None, "negative_slope": 0.0, "threshold": cfg.get("theta", 1.0)}
    if class_name == "BatchNormalization" and isinstance(cfg.get("axis"), list):
        if len(cfg["axis"]) != 1:
            raise _refuse(name, class_name, f"normalises over several axes {cfg['axis']}")
        cfg["axis"] = cfg["axis"][0]
    if class_name == "Lambda":
        cfg = _lambda_config(cfg)
    for key, value in list(cfg.items()):
        if key in ("layer", "backward_layer", "cell") and isinstance(value, dict):
            cfg[key] = layer_entry(value)
        elif key == "cells" and isinstance(value, list):
            cfg[key] = [layer_entry(v) if isinstance(v, dict) else v for v in value]
        else:
            cfg[key] = _object(key, value)
    return class_name, cfg


def layer_entry(entry: dict[str, Any], inputs: list[Tensor] | None = None) -> dict[str, Any]:
    """One layer (or nested model) entry in the Keras 3 dialect, without its nodes (`inputs`:
    the shapes of its main input in each call, where known)."""
    if is_model_entry(entry):
        return _model(entry)
    if entry["class_name"] in KERAS2_ONLY_LAYERS and entry["class_name"] != "ThresholdedReLU":
        raise UnsupportedError(f"layer '{layer_name(entry)}' ({entry['class_name']}): Keras 3 "
                               "has no such layer and no exact equivalent")
    class_name, cfg = _layer_config(entry["class_name"], entry.get("config", {}), inputs)
    registered = entry.get("registered_name")
    module = entry.get("module") if registered else "keras.layers"
    if not registered and entry["class_name"] not in BUILTIN_LAYERS:
        # A custom class a Keras 2 file names by class alone: Keras 3 writes an unregistered
        # class under its name, which is what its loader looks up in custom_objects first
        # (a null one finds nothing there); "keras.layers" stays the fallback, which Keras 3
        # allows a registered name equal to the class name with.
        registered = entry["class_name"]
    application = application_layer(entry)
    if application is not None:  # keras.applications' own classes: where Keras 3 has them
        module, registered = f"keras.src.applications.{application[0]}", application[1]
    return {"module": module, "class_name": class_name, "config": cfg,
            "registered_name": registered}


def _tensor(ref: list[Any], shapes: dict[str, Any]) -> dict[str, Any]:
    # Keras 3 rebuilds the tensor from keras_history and discards this shape and dtype;
    # they are exact for model inputs and placeholders of unknown rank elsewhere.
    shape, dtype = shapes.get(ref[0], ([], "float32"))
    return {"class_name": "__keras_tensor__",
            "config": {"shape": shape, "dtype": dtype, "keras_history": list(ref[:3])}}


def _node(node: Any, shift: Callable[[list[Any]], list[Any]], shapes: dict[str, Any]) -> Any:
    """A Keras 2 node. Keras 3 reads the Keras 2 list form itself, except that it does not
    turn references in call kwargs into tensors; such nodes get the Keras 3 form."""
    if not any(True for _ in kwarg_refs(node)):
        return map_node_refs(node, shift)
    kwargs: dict[str, Any] = {}

    def arg(value: Any) -> Any:
        if is_ref(value):
            if len(value) == 4 and value[3]:
                kwargs.update(value[3])
            return _tensor(shift(value[:3]), shapes)
        if isinstance(value, dict):
            return {k: arg(v) for k, v in value.items()}
        return [arg(v) for v in value]

    first = arg(node)
    if isinstance(first, list) and len(first) == 1:
        first = first[0]

    return {"args": [first],
            "kwargs": map_kwarg_refs(kwargs, lambda ref: _tensor(shift(ref), shapes))}


def _operation(entry: dict[str, Any], tensor: Callable[[list[Any]], Any]) -> dict[str, Any]:
    """An operation node as Keras 3 writes it (a tf_keras op layer through the op table)."""
    if not is_keras3_op(entry):
        entry = ops.tf_to_keras3(entry)
    out = {"module": entry["module"], "class_name": entry["class_name"],
           "config": copy.deepcopy(entry.get("config") or {}),
           "registered_name": entry.get("registered_name"), "name": layer_name(entry)}
    out["inbound_nodes"] = [canonical_call_to_keras3(node, tensor)
                            for node in entry.get("inbound_nodes") or []]
    return out


def _single(refs: Any) -> Any:
    return refs[0] if isinstance(refs, list) and len(refs) == 1 and is_ref(refs[0]) else refs


def _model(model_config: dict[str, Any]) -> dict[str, Any]:
    class_name = model_config["class_name"]
    cfg = dict(model_config["config"])
    layers = cfg.get("layers", [])
    # Shapes are inferred only where a layer's output depends on them.
    inputs = call_inputs(model_config) if any(
        e.get("class_name") == "Embedding" and e.get("config", {}).get("input_length")
        is not None for e in layers) else {}
    if class_name == "Sequential":
        layers = dialects.explicit_input_layer(layers)
        cfg["layers"] = [layer_entry(e, inputs.get(layer_name(e))) for e in layers]
        cfg.pop("build_input_shape", None)
        cfg["trainable"] = cfg.get("trainable", True)
        return {"module": "keras", "class_name": "Sequential", "config": cfg,
                "registered_name": None}
    builtin = {layer_name(e) for e in layers if has_builtin_node(e)}
    sequential = {layer_name(e) for e in layers
                  if layer_name(e) in builtin and e["class_name"] == "Sequential"}
    shapes = {layer_name(e): (e["config"].get("batch_input_shape"),
                              e["config"].get("dtype") or "float32")
              for e in layers if e.get("class_name") == "InputLayer"}

    def node_shift(ref: list[Any]) -> list[Any]:
        return [ref[0], ref[1] - (ref[0] in builtin), ref[2]]

    def output_shift(ref: list[Any]) -> list[Any]:
        # Keras 3 subtracts 1 itself for nested Functional models in input/output_layers.
        return [ref[0], ref[1] - (ref[0] in sequential), ref[2]]

    new_layers = []
    for entry in layers:
        if is_operation(entry):
            new_layers.append(_operation(entry, lambda ref: _tensor(node_shift(ref), shapes)))
            continue
        converted = layer_entry(entry, inputs.get(layer_name(entry)))
        converted["name"] = layer_name(entry)
        converted["inbound_nodes"] = [_node(n, node_shift, shapes)
                                      for n in entry.get("inbound_nodes") or []]
        new_layers.append(converted)
    cfg["layers"] = new_layers
    cfg["trainable"] = cfg.get("trainable", True)
    for key in ("input_layers", "output_layers"):
        if key in cfg:
            cfg[key] = _single(map_node_refs(cfg[key], output_shift))
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": cfg, "registered_name": "Functional"}


def to_keras3(model_config: dict[str, Any]) -> dict[str, Any]:
    """The canonical config as Keras 3 writes it (raises UnsupportedError, naming the layer,
    for what Keras 3 cannot represent)."""
    return _model(copy.deepcopy(model_config))
