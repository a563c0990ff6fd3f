"""Layer names one Keras refuses: Keras 3 forbids '/' in a layer's name (keras.src.ops.operation:
"Argument `name` must be a string and cannot contain character `/`"), which tf_keras allows and
its applications use (DenseNet121's `conv1/conv`). Files for Keras 3 get such layers renamed."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from modelport.keras_config.entries import is_model_entry, layer_name
from modelport.keras_config.graph import map_node_refs
from modelport.model import Model


def _free_name(name: str, taken: set[str]) -> str:
    base = name.replace("/", "_")
    candidate, n = base, 1
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _rename_in(model_config: dict[str, Any], renamed: list[tuple[str, str]]) -> dict[str, str]:
    """Rename, in place, the layers of one model config (and of the models nested in it) whose
    names hold '/'; returns this level's old -> new names."""
    cfg = model_config.get("config", {})
    layers = cfg.get("layers") or []
    taken = {layer_name(e) for e in layers}
    mapping = {name: _free_name(name, taken) for name in (layer_name(e) for e in layers)
               if "/" in name}
    renamed.extend(mapping.items())

    def ref(value: list[Any]) -> list[Any]:
        return [mapping.get(value[0], value[0]), *value[1:]]

    for entry in layers:
        if is_model_entry(entry):
            _rename_in(entry, renamed)
        old = layer_name(entry)
        if old in mapping:
            if "name" in entry:
                entry["name"] = mapping[old]
            entry.setdefault("config", {})["name"] = mapping[old]
        if entry.get("inbound_nodes"):
            entry["inbound_nodes"] = [map_node_refs(node, ref) for node in entry["inbound_nodes"]]
    for key in ("input_layers", "output_layers"):
        if key in cfg:
            cfg[key] = map_node_refs(cfg[key], ref)
    return mapping


def keras3_layer_names(model: Model) -> tuple[Model, list[str]]:
    """`model` with every layer name Keras 3 refuses ('/' in it) made loadable ('/' -> '_',
    then a numeric suffix while the name is taken), and the warning saying so. A Keras 3 file
    keys weights by object path, so they follow the layers unchanged."""
    if model.config is None:
        return model, []
    config = copy.deepcopy(model.config)
    renamed: list[tuple[str, str]] = []
    top = _rename_in(config, renamed)
    if not renamed:
        return model, []
    listed = ", ".join(f"'{old}' -> '{new}'" for old, new in renamed[:3])
    more = f" and {len(renamed) - 3} more" if len(renamed) > 3 else ""
    warning = (f"Keras 3 forbids '/' in layer names: {len(renamed)} layer(s) renamed for it "
               f"({listed}{more}); the weights are unchanged")
    weights = {top.get(name, name): group for name, group in model.weights.items()}
    return dataclasses.replace(model, config=config, weights=weights), [warning]


def slashed_layer_names(model_config: dict[str, Any]) -> list[str]:
    """Names of the layers (nested models' included) that Keras 3 would refuse."""
    renamed: list[tuple[str, str]] = []
    _rename_in(copy.deepcopy(model_config), renamed)
    return [old for old, _ in renamed]
