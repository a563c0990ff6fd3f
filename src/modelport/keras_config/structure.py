"""The shape a model config must have before anything interprets it: field types, layer names
unique in their container, tensor references naming layers that exist. A config read from a file
is untrusted JSON; this check turns its first wrong fact into one FormatError."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from modelport.errors import FormatError, UnsupportedError
from modelport.keras_config.entries import MODEL_CLASSES
from modelport.keras_config.graph import is_ref
from modelport.text import is_utf8_text

# tf_keras TFOpLambda nodes spell a constant positional argument as a reference to this name.
_CONSTANT = "_CONSTANT_VALUE"
_KERAS3_TENSOR = "__keras_tensor__"


# JSON nesting a model config may have: a layer inside a wrapper inside a nested model takes
# about six levels; real configs stay under 60.
MAX_DEPTH = 200


def check_model_config(config: Any) -> None:
    """Raise FormatError at the first fact of `config` (a Keras 2 / Keras 3 / TF.js model
    config) that no Keras could have written."""
    if _depth(config) > MAX_DEPTH:
        raise _fail("the model config", f"nests deeper than {MAX_DEPTH} levels")
    _check_entry(config, "the model config")


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in `value` (without recursion: a hostile file may nest
    deeper than Python's stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def _fail(where: str, what: str) -> FormatError:
    return FormatError(f"{where} {what}: the model's config is damaged")


def _check_entry(entry: Any, where: str) -> None:
    if not isinstance(entry, dict):
        raise _fail(where, f"is a {type(entry).__name__}, not a layer entry")
    class_name = entry.get("class_name")
    if not isinstance(class_name, str) or not class_name:
        raise _fail(where, f"has class_name {class_name!r}, not a class name")
    cfg = entry.get("config")
    if class_name == "Sequential" and isinstance(cfg, list):  # Keras <= 2.2
        cfg = {"layers": cfg}
    if not isinstance(cfg, dict):
        raise _fail(where, f"has a config that is a {type(cfg).__name__}, not an object")
    for key in ("name", "module", "registered_name"):
        value = entry.get(key, cfg.get(key) if key == "name" else None)
        if value is not None and not isinstance(value, str):
            raise _fail(where, f"has a {key} that is a {type(value).__name__}, not a string")
        if isinstance(value, str) and (not is_utf8_text(value) or "\x00" in value):
            raise _fail(where, f"has a {key} that is not text (a NUL or lone UTF-16 "
                        "surrogates)")
    _check_dtype(cfg.get("dtype"), where)
    if class_name in MODEL_CLASSES and "layers" in cfg:
        _check_container(class_name, cfg, where)
    inner = cfg.get("layer")
    if inner is not None:  # wrappers: TimeDistributed, Bidirectional
        _check_entry(inner, f"{where}'s wrapped layer")


def _check_dtype(dtype: Any, where: str) -> None:
    """A dtype name, or a dtype policy object (Keras 3 DTypePolicy, tf_keras Policy)."""
    if dtype is None or isinstance(dtype, str):
        return
    policy = dtype.get("config") if isinstance(dtype, dict) else None
    if not isinstance(policy, dict) or not isinstance(policy.get("name", ""), str):
        raise _fail(where, f"has dtype {dtype!r}, neither a dtype name nor a dtype policy")


def _check_container(class_name: str, cfg: dict[str, Any], where: str) -> None:
    layers = cfg["layers"]
    if not isinstance(layers, list):
        raise _fail(where, f"lists its layers as a {type(layers).__name__}, not a list")
    names: set[str] = set()
    for index, entry in enumerate(layers):
        _check_entry(entry, f"layer {index} of {where}")
        name = entry.get("name") or (entry.get("config") or {}).get("name")
        if name is None and class_name == "Sequential":
            continue  # Keras names it
        if not isinstance(name, str) or not name:
            raise _fail(f"layer {index} of {where}", f"has name {name!r}, not a layer name")
        if name in names:
            raise _fail(where, f"has two layers named '{name}'")
        names.add(name)
    if class_name == "Sequential":
        return
    # How many nodes each layer has: one per call, and a model's (or an input's) own node 0
    # that Keras 2 counts before its calls; Keras 3 counts calls from 0.
    calls: dict[str, int] = {}
    for entry in layers:
        nodes = entry.get("inbound_nodes")
        if "inbound_nodes" in entry and not isinstance(nodes, list):
            raise _fail(f"layer '{entry.get('name')}'", "has inbound_nodes that are not a list")
        calls[entry.get("name") or (entry.get("config") or {}).get("name")] = len(nodes or [])
    for entry in layers:
        for node in entry.get("inbound_nodes") or []:
            where_node = f"an inbound node of layer '{entry.get('name')}'"
            _check_node(node, where_node)
            for ref in _references(node):
                _check_ref(ref, calls, where_node)
    for key in ("input_layers", "output_layers"):
        if key not in cfg:  # Keras 2 and 3 both read them to rebuild the graph
            raise _fail(where, f"has no {key}")
        value = cfg.get(key)
        if value is not None and not isinstance(value, (list, dict)):
            raise _fail(where, f"has {key} that are not a list")
        if value is not None and not _ref_tree(value):
            raise _fail(where, f"has {key} that are not [layer, node index, tensor index] "
                        "references")
        if isinstance(value, (list, dict)) and not is_ref(value) and any(
                not is_ref(item) for item in (value.values() if isinstance(value, dict)
                                              else value)):
            raise UnsupportedError(f"{where} has {key} nested in lists or objects (a Keras 3 "
                                   "input structure); modelport converts models whose inputs "
                                   "and outputs are one tensor, a list or an object of them")
        for ref in _references(value or []):
            _check_ref(ref, calls, f"{key} of {where}")


def _ref_tree(value: Any) -> bool:
    """References, alone or in lists and objects (Keras 3 keeps the structure of the inputs);
    a model's inputs and outputs are [layer, node, tensor], with no call arguments."""
    if is_ref(value):
        return len(value) == 3
    if isinstance(value, (list, dict)):
        return all(_ref_tree(item) for item in (value.values() if isinstance(value, dict)
                                                 else value))
    return False


def _check_node(node: Any, where: str) -> None:
    """A Keras 3 node ({"args": [...], "kwargs": {...}}) or a Keras 2 / TF.js one: a reference,
    or lists of references (a reference's fourth item holds the call's kwargs)."""
    if isinstance(node, dict):
        if not isinstance(node.get("args", []), list) or not isinstance(
                node.get("kwargs") or {}, dict):
            raise _fail(where, "has args that are not a list or kwargs that are not an object")
        return
    if not _keras2_node_part(node):
        raise _fail(where, f"is {_json_kind(node)}, not a list of tensor references")
    if not node:
        raise _fail(where, "is a call with no input tensors")


def _keras2_node_part(value: Any) -> bool:
    if not isinstance(value, list):
        return False
    if value and isinstance(value[0], str):
        # a reference, or tf_keras's constant ['_CONSTANT_VALUE', -1, value]
        return value[0] == _CONSTANT or is_ref(value)
    return all(_keras2_node_part(item) for item in value)


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return "null" if value is None else "a number"


def _references(value: Any) -> Iterator[list[Any]]:
    """Every tensor reference in a node (Keras 2 and TF.js lists, Keras 3 `__keras_tensor__`
    objects inside args and kwargs), as [layer, node index, tensor index]."""
    if isinstance(value, dict):
        if value.get("class_name") == _KERAS3_TENSOR:
            history = (value.get("config") or {}).get("keras_history") if isinstance(
                value.get("config"), dict) else None
            if not is_ref(history):
                raise _fail("a Keras 3 tensor", f"has keras_history {history!r}, not "
                            "[layer, node index, tensor index]")
            yield history
            return
        for item in value.values():
            yield from _references(item)
    elif isinstance(value, list):
        if is_ref(value):
            yield value
            if len(value) == 4:
                yield from _references(value[3])
            return
        for item in value:
            yield from _references(item)


def _check_ref(ref: list[Any], calls: dict[str, int], where: str) -> None:
    if ref[0] == _CONSTANT:
        return
    if ref[0] not in calls:
        raise _fail(where, f"refers to layer '{ref[0]}', which the model does not have")
    if ref[1] < 0 or ref[2] < 0 or ref[1] > calls[ref[0]]:
        raise _fail(where, f"refers to node {ref[1]}, tensor {ref[2]} of layer '{ref[0]}', "
                    f"which is called {calls[ref[0]]} times")
