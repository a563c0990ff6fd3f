"""Operations in functional graphs, as the canonical config carries them.

Functional models are not only layers. Keras 3 records every `keras.ops` call and every Python
operator on a tensor as an *operation node*; tf_keras records TensorFlow functions called on
Keras tensors as TFOpLambda / SlicingOpLambda *layers*. The canonical config keeps each in its
own Keras's form, without loss, and `keras_config.ops` (the op table) translates one into the
other when a writer renders the other dialect.

Canonical entry of a Keras 3 operation (`entries.is_keras3_op`)::

    {"module": "keras.src.ops.numpy", "class_name": "Multiply", "registered_name": "Multiply",
     "name": "multiply", "config": {"name": "multiply", ...constructor arguments...},
     "inbound_nodes": [CALL, ...]}

`config` is the operation's own config as Keras 3 wrote it (e.g. Mean: axis, keepdims;
Reshape: newshape). Each call is a *call node*, the neutral node form::

    CALL = {"args": [ARG, ...], "kwargs": {"key": ARG, ...}}

where an ARG is a tree (lists, dicts) of

- tensor references `[layer, node_index, tensor_index]`, node indices counted as the canonical
  (Keras 2) dialect counts them (a nested model's calls from 1), exactly as in list-form nodes;
- constants: JSON numbers, strings, booleans, null (also `newaxis` in an indexing key), and
  Keras 3's tagged constants kept as Keras 3 wrote them: `{"class_name": "__slice__",
  "config": {"start", "stop", "step"}}`, `{"class_name": "__ellipsis__", "config": {}}`,
  `{"class_name": "__numpy__", "config": {"value", "dtype"}}`.

Every graph walker (`graph.node_refs`, `graph.map_node_refs`, shape inference) finds the
references of a call node as it finds those of a list-form node: a call node is a dict whose
values hold references. Only operations have call nodes; layers keep list-form nodes.

tf_keras op layers (`entries.is_tf_op`) stay as tf_keras writes them: `config.function` is the
TF API name without `tf.` ('math.multiply', '__operators__.getitem'), their nodes are list-form
with the first argument's structure kept (a single reference for one tensor, a list for a list
of tensors), every other argument by name in the kwargs of the references, and a constant
first argument written `["_CONSTANT_VALUE", -1, value, kwargs]`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelport.keras_config.graph import CONSTANT_VALUE, is_ref

ARGS, KWARGS = "args", "kwargs"


def is_call_node(node: Any) -> bool:
    return isinstance(node, dict) and set(node) == {ARGS, KWARGS}


def call_node(args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    return {ARGS: list(args), KWARGS: dict(kwargs)}


def map_tree(value: Any, leaf: Callable[[Any], Any | None]) -> Any:
    """A copy of an argument tree with every value for which `leaf` returns non-None replaced
    by that result (lists and dicts are walked otherwise)."""
    found = leaf(value)
    if found is not None:
        return found
    if isinstance(value, dict):
        return {k: map_tree(v, leaf) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [map_tree(v, leaf) for v in value]
    return value


def is_keras3_tensor(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def keras3_call_to_canonical(node: dict[str, Any], ref: Callable[[list[Any]], list[Any]]
                             ) -> dict[str, Any]:
    """A Keras 3 node `{"args", "kwargs"}` of an operation as a canonical call node; `ref`
    turns a keras_history into a canonical reference."""

    def leaf(value: Any) -> Any:
        if is_keras3_tensor(value):
            return ref(list(value["config"]["keras_history"]))
        return None

    return call_node(map_tree(list(node.get(ARGS) or []), leaf),
                     map_tree(dict(node.get(KWARGS) or {}), leaf))


def canonical_call_to_keras3(node: dict[str, Any], tensor: Callable[[list[Any]], Any]
                             ) -> dict[str, Any]:
    """A canonical call node in the Keras 3 form; `tensor` renders a reference."""

    def leaf(value: Any) -> Any:
        return tensor(list(value[:3])) if is_ref(value) else None

    return {ARGS: map_tree(node[ARGS], leaf), KWARGS: map_tree(node[KWARGS], leaf)}


# ------------------------------------------------------------------- tf_keras op layer nodes

def tf_node_to_call(node: Any) -> tuple[Any, dict[str, Any]]:
    """A tf_keras op layer's list-form node as (first argument, other arguments by name), the
    first argument's structure kept, references as `[layer, node, tensor]`."""
    kwargs: dict[str, Any] = {}

    def first(value: Any) -> Any:
        if isinstance(value, list) and len(value) in (3, 4) and value[0] == CONSTANT_VALUE:
            if len(value) == 4 and isinstance(value[3], dict):
                kwargs.update(value[3])
            return value[2]
        if is_ref(value):
            if len(value) == 4 and isinstance(value[3], dict):
                kwargs.update(value[3])
            return list(value[:3])
        if isinstance(value, dict):
            return {k: first(v) for k, v in value.items()}
        if isinstance(value, list):
            return [first(v) for v in value]
        return value

    return first(node), kwargs


def call_to_tf_node(first_arg: Any, kwargs: dict[str, Any]) -> Any:
    """The list-form node tf_keras writes for an op layer called as fn(first_arg, **kwargs)."""

    def leaf(value: Any) -> Any:
        if is_ref(value):
            return [*value[:3], kwargs]
        if isinstance(value, dict | list):
            return None
        return [CONSTANT_VALUE, -1, value, kwargs]

    # A list of tensors (tf.concat): each element carries the kwargs.
    return map_tree(first_arg, leaf)
