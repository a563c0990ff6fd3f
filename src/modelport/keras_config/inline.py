"""Inlining of nested models into the outer Functional graph. Keras 2 and TF.js count a nested
model's calls from 1 and Keras 3 from 0 when reading legacy node lists, so no single legacy
file with a called nested model loads in both; the same graph with the nested model's layers
inlined (shared when it is called more than once) computes the same and loads everywhere."""

from __future__ import annotations

import copy
from typing import Any

from modelport.errors import FormatError
from modelport.keras_config.entries import has_builtin_node, layer_name
from modelport.keras_config.graph import keras_layer_order, map_node_refs, output_refs
from modelport.keras_config.layouts import layer_layout
from modelport.model import Model, Weight


def _as_functional(entry: dict[str, Any]) -> dict[str, Any] | None:
    """A nested model's config as a Functional config (Sequential chains spelled out); None
    when the Sequential does not say its input shape or name its layers (Keras would)."""
    cfg = copy.deepcopy(entry["config"])
    if entry["class_name"] != "Sequential":
        return cfg
    layers = cfg["layers"]
    if not layers or not all(isinstance(e["config"].get("name"), str) for e in layers):
        return None
    if layers[0]["class_name"] != "InputLayer":
        first = layers[0]["config"]
        if first.get("batch_input_shape") is None:
            return None
        input_cfg = {"batch_input_shape": first["batch_input_shape"],
                     "dtype": first.get("dtype") or "float32", "sparse": False,
                     "ragged": False, "name": f"{first['name']}_input"}
        layers = [{"class_name": "InputLayer", "config": input_cfg}, *layers]
    chained = []
    previous: list[Any] | None = None
    for layer in layers:
        name = layer["config"]["name"]
        new = {"class_name": layer["class_name"], "config": layer["config"], "name": name,
               "inbound_nodes": [] if previous is None else [[[*previous, {}]]]}
        chained.append(new)
        previous = [name, int(has_builtin_node(layer)), 0]
    return {"name": cfg.get("name") or layer_name(entry), "layers": chained,
            "input_layers": [[chained[0]["name"], 0, 0]], "output_layers": [previous]}


def _split_weights(inner: dict[str, Any], weights: list[Weight]
                   ) -> dict[str, list[Weight]] | None:
    """A nested model's weight group split back per sub-layer, using the layout table."""
    result: dict[str, list[Weight]] = {layer_name(e): [] for e in inner["layers"]}
    if not weights:
        return result  # an architecture without weights
    owner_of: dict[str, str] = {}
    for sub in inner["layers"]:
        layout = layer_layout(sub)
        if layout is None:
            return None
        for name, _ in layout:
            owner_of[name] = layer_name(sub)
    if len(owner_of) != len(weights):
        return None
    for weight in weights:
        owner = owner_of.get(weight.name)
        if owner is None:
            return None
        result[owner].append(weight)
    return result


def _inline_one(outer: dict[str, Any], weights: dict[str, list[Weight]], nested_name: str
                ) -> bool:
    layers = outer["layers"]
    index = next(i for i, e in enumerate(layers) if layer_name(e) == nested_name)
    entry = layers[index]
    inner = _as_functional(entry)
    if inner is None:
        return False
    groups = _split_weights(inner, weights.get(nested_name, []))
    outer_names = {layer_name(e) for e in layers} - {nested_name}
    inner_inputs = [ref[0] for ref in inner["input_layers"]]
    body = [e for e in inner["layers"] if layer_name(e) not in inner_inputs]
    if groups is None or any(layer_name(e) in outer_names for e in body):
        return False
    node_counts = {layer_name(e): len(e.get("inbound_nodes") or []) for e in body}
    merged = {layer_name(e): {**e, "name": layer_name(e), "inbound_nodes": []} for e in body}
    call_outputs: list[list[list[Any]]] = []

    def redirect(ref: list[Any]) -> list[Any]:
        if ref[0] != nested_name:
            return ref
        # Keras 2 counts a nested model's calls from 1 (node 0 is its own graph).
        if not (1 <= ref[1] <= len(call_outputs) and 0 <= ref[2] < len(call_outputs[ref[1] - 1])):
            raise FormatError(f"a tensor reference names output {ref[2]} of call {ref[1]} of "
                              f"nested model '{nested_name}', which has no such output: the "
                              "model's config is damaged")
        return call_outputs[ref[1] - 1][ref[2]]

    for call, node in enumerate(entry.get("inbound_nodes") or []):
        # A later call may take an earlier call's output (inner(inner(x))).
        arguments = [redirect(list(a)) for a in _call_arguments(node)]
        if len(arguments) < len(inner_inputs):
            raise FormatError(f"nested model '{nested_name}' has {len(inner_inputs)} inputs but "
                              f"call {call + 1} gives it {len(arguments)}: the model's config "
                              "is damaged")
        mapping = dict(zip(inner_inputs, arguments, strict=False))

        def translate(ref: list[Any], call: int = call, mapping: dict = mapping) -> list[Any]:
            if ref[0] in mapping:
                return list(mapping[ref[0]])
            return [ref[0], call * node_counts[ref[0]] + ref[1], ref[2]]

        for sub in body:
            for sub_node in sub.get("inbound_nodes") or []:
                merged[layer_name(sub)]["inbound_nodes"].append(map_node_refs(sub_node,
                                                                              translate))
        call_outputs.append([translate(list(r)) for r in output_refs(inner)])

    for other in layers:
        if other is not entry and other.get("inbound_nodes"):
            other["inbound_nodes"] = [map_node_refs(n, redirect) for n in other["inbound_nodes"]]
    for key in ("input_layers", "output_layers"):
        outer[key] = map_node_refs(outer[key], redirect)
    layers[index:index + 1] = list(merged.values())
    del weights[nested_name]
    for name, group in groups.items():
        if name in merged:
            weights[name] = group
    return True


def _call_arguments(node: Any) -> list[list[Any]]:
    """The input tensors of one call of a nested model, in its inputs' order."""
    if isinstance(node, list) and node and isinstance(node[0], str):
        return [node[:3]]
    return [ref[:3] for ref in node]


def inline_nested_models(model: Model) -> Model:
    """A copy of `model` whose top-level Functional graph holds no called nested model, with
    layers in the order Keras rebuilds them. Models it cannot inline stay nested, with a
    warning that Keras 3 cannot load them from legacy HDF5."""
    if model.config is None or model.config.get("class_name") != "Functional":
        return model
    config = copy.deepcopy(model.config)
    outer = config["config"]
    weights = dict(model.weights)
    kept_nested: set[str] = set()
    changed = True
    while changed:
        changed = False
        for entry in list(outer["layers"]):
            name = layer_name(entry)
            if name in kept_nested or not (has_builtin_node(entry) and entry.get("inbound_nodes")):
                continue
            if _inline_one(outer, weights, name):
                changed = True
                break
            kept_nested.add(name)
            model.warnings.append(
                f"nested model '{name}' could not be inlined (layer names clash or unknown "
                "layers): Keras 3 cannot load this legacy HDF5 file")
    order = keras_layer_order(outer)
    position = {name: i for i, name in enumerate(order)}
    outer["layers"].sort(key=lambda e: position.get(layer_name(e), len(position)))
    flat = Model(config=config, weights={layer_name(e): weights.get(layer_name(e), [])
                                         for e in outer["layers"]},
                 training_config=model.training_config,
                 optimizer_weights=model.optimizer_weights, metadata=model.metadata,
                 warnings=model.warnings)
    return flat
