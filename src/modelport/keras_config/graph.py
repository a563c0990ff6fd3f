"""The call graph of a model config: tensor references, the layer order Keras itself computes
when it rebuilds the model (the order legacy HDF5 weights are matched in), and the paths Keras 3
saves a model's layers under."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from modelport.keras_config.entries import (
    has_builtin_node,
    is_keras3_op,
    is_operation,
    keras3_snake_case,
    layer_name,
)

Ref = tuple[str, int, int]  # (layer, node index as the config counts it, tensor index)
# tf_keras's mark for a constant first call argument: ["_CONSTANT_VALUE", -1, value, kwargs].
CONSTANT_VALUE = "_CONSTANT_VALUE"


def is_ref(value: Any) -> bool:
    return (isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str)
            and isinstance(value[1], int) and isinstance(value[2], int)
            and value[0] != CONSTANT_VALUE)


def node_refs(node: Any) -> Iterator[list[Any]]:
    """Tensor references of one Keras 2 node: the first argument's, then those in kwargs."""
    yield from _first_arg_refs(node)
    yield from kwarg_refs(node)


def kwarg_refs(node: Any) -> Iterator[list[Any]]:
    """Tensor references in the call kwargs of one Keras 2 node (every input tensor of the
    node carries the same kwargs)."""
    for ref in _first_arg_refs(node):
        if len(ref) == 4 and isinstance(ref[3], dict):
            yield from _kwarg_refs(ref[3])
            break


def _first_arg_refs(value: Any) -> Iterator[list[Any]]:
    if is_ref(value):
        yield value
    elif isinstance(value, dict):
        for key in value:
            yield from _first_arg_refs(value[key])
    elif isinstance(value, list):
        for item in value:
            yield from _first_arg_refs(item)


def _kwarg_refs(value: Any) -> Iterator[list[Any]]:
    if is_ref(value) and len(value) == 3:
        yield value
    elif isinstance(value, dict):
        for key in sorted(value):
            yield from _kwarg_refs(value[key])
    elif isinstance(value, list):
        for item in value:
            yield from _kwarg_refs(item)


def map_node_refs(node: Any, fn: Callable[[list[Any]], list[Any]]) -> Any:
    """A copy of a node with every tensor reference (argument and kwargs) replaced by fn(ref)."""
    if is_ref(node):
        mapped = fn(list(node[:3]))
        if len(node) == 4:
            kwargs = map_kwarg_refs(node[3], fn) if isinstance(node[3], dict) else node[3]
            return [*mapped, kwargs]
        return mapped
    if isinstance(node, dict):
        return {k: map_node_refs(v, fn) for k, v in node.items()}
    if isinstance(node, list):
        return [map_node_refs(v, fn) for v in node]
    return node


def map_kwarg_refs(value: Any, fn: Callable[[list[Any]], Any]) -> Any:
    """A copy of call kwargs with every tensor reference replaced by fn(ref)."""
    if is_ref(value) and len(value) == 3:
        return fn(list(value))
    if isinstance(value, dict):
        return {k: map_kwarg_refs(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [map_kwarg_refs(v, fn) for v in value]
    return value


def output_refs(cfg: dict[str, Any]) -> list[list[Any]]:
    return list(_first_arg_refs(cfg.get("output_layers", [])))


def keras_layer_order(model_cfg: dict[str, Any]) -> list[str]:
    """Layer names in the order Keras's `map_graph` gives `model.layers` for this config:
    by decreasing depth, ties broken by first visit in a depth-first walk from the outputs."""
    layers = {layer_name(e): e for e in model_cfg.get("layers", [])}
    offset = {name: int(has_builtin_node(e)) for name, e in layers.items()}

    def node_of(ref: list[Any]) -> tuple[str, int]:
        return ref[0], ref[1] - offset.get(ref[0], 0)

    def parents(node: tuple[str, int]) -> list[tuple[str, int]]:
        entry = layers[node[0]]
        nodes = entry.get("inbound_nodes") or []
        if node[1] >= len(nodes):
            return []
        return [node_of(r) for r in node_refs(nodes[node[1]])]

    finished: set[tuple[str, int]] = set()
    ordered: list[tuple[str, int]] = []
    first_visit: dict[str, int] = {}

    def visit(node: tuple[str, int]) -> None:
        if node in finished:
            return
        first_visit.setdefault(node[0], len(first_visit))
        for parent in parents(node):
            visit(parent)
        finished.add(node)
        ordered.append(node)

    # Keras walks `model.outputs`, the outputs flattened as tf.nest / keras.tree do: a dict
    # of outputs (tf.keras keeps it in output_layers) by sorted key.
    for ref in _kwarg_refs(model_cfg.get("output_layers", [])):
        visit(node_of(ref))
    in_graph = set(ordered)
    node_depth: dict[tuple[str, int], int] = {}
    layer_depth: dict[str, int] = {}
    for node in reversed(ordered):
        depth = max(node_depth.setdefault(node, 0), layer_depth.get(node[0], 0))
        layer_depth[node[0]] = depth
        node_depth[node] = depth
        for parent in parents(node):
            if parent in in_graph:
                node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    by_depth: dict[int, list[str]] = defaultdict(list)
    for name, depth in layer_depth.items():
        by_depth[depth].append(name)
    order: list[str] = []
    for depth in sorted(by_depth, reverse=True):
        order.extend(sorted(by_depth[depth], key=lambda n: first_visit[n]))
    # Layers no output depends on are kept by Keras too; leave them in config order.
    order.extend(name for name in layers if name not in layer_depth)
    return order


def container_paths(class_name: str, cfg: dict[str, Any], tf_op_layers: bool = False
                    ) -> list[tuple[dict[str, Any], str]]:
    """A model's layers as Keras 3 walks them when saving, each with its path
    ('layers/dense', 'layers/dense_1'): named by class, counted per container, in
    `model.layers` order (a Functional's includes its InputLayers, a Sequential's does not;
    operations are not layers). `tf_op_layers`: tf_keras's `model.layers` instead, where its
    op layers (TFOpLambda, SlicingOpLambda) are layers (a checkpoint counts them)."""
    layers = cfg.get("layers", [])
    if class_name == "Sequential":
        order = [e for e in layers if e.get("class_name") != "InputLayer"]
    else:
        by_name = {layer_name(e): e for e in layers}
        # Operations (Keras 3's, and tf_keras op layers, which Keras 3 reads as operations)
        # are not in Keras 3's `model.layers` and hold no weights.
        not_a_layer = is_keras3_op if tf_op_layers else is_operation
        order = [by_name[n] for n in keras_layer_order(cfg)
                 if n in by_name and not not_a_layer(by_name[n])]
    used: dict[str, int] = {}
    paths = []
    for entry in order:
        key = keras3_snake_case(entry.get("class_name", ""))
        used[key] = used.get(key, -1) + 1
        paths.append((entry, f"layers/{key}" + (f"_{used[key]}" if used[key] else "")))
    return paths
