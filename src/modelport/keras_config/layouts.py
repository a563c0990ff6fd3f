"""Weight layouts: the names each format gives a layer's weights (Keras 2 / TF.js names in Keras
order, Keras 3 paths), read off the layer records, and TF.js's fallback for names it misses."""

from __future__ import annotations

from typing import Any

from modelport.keras_config.applications import record_class
from modelport.keras_config.entries import MODEL_CLASSES, is_operation, layer_name
from modelport.keras_config.layer_records import placed_weights

# One weight of a layer: its Keras 2 / TF.js name relative to the layer ('kernel',
# 'lstm_cell/kernel'), trainable by kind, and its Keras 3 path relative to the layer
# ('vars/0', 'cell/vars/1'): the key it has in a `.keras` / `.weights.h5` file. A tensor
# Keras 3 tracks twice has both paths, joined by '|'.
Slot = tuple[str, bool, str]
Layout = list[tuple[str, bool]]


def relative_slots(class_name: str, cfg: dict[str, Any], keras_order: bool = True
                   ) -> list[Slot] | None:
    """Weights of one layer in Keras order (`keras_order=False`: in the order the layer
    creates them, which TF checkpoints keep), with names relative to the layer and Keras 3
    paths relative to the layer's own path; None when the class is not known."""
    weights = placed_weights(class_name, cfg, keras_order)
    return None if weights is None else [(w.name, w.trainable, w.keras3_path) for w in weights]


def relative_layout(class_name: str, cfg: dict[str, Any]) -> Layout | None:
    """Weights of one layer with names relative to the layer ('kernel',
    'forward_lstm/lstm_cell/kernel'), in Keras order; None when the class is not known."""
    slots = relative_slots(class_name, cfg)
    return None if slots is None else [(name, trainable) for name, trainable, _ in slots]


def layer_slots(entry: dict[str, Any], keras_order: bool = True) -> list[Slot] | None:
    """Full Keras 2 / TF.js weight names of a layer entry (as a Keras 2 `.h5` layer group and a
    TF.js manifest have them; a nested model's weights carry its sub-layers' names), with
    Keras 3 paths relative to the layer."""
    if is_operation(entry):
        return []  # operations hold no weights (Keras 3 ops share class names with layers)
    class_name = record_class(entry)
    slots = relative_slots(class_name, entry.get("config", {}), keras_order)
    if slots is None or class_name in MODEL_CLASSES:
        return slots
    name = layer_name(entry)
    return [(f"{name}/{short}", trainable, path) for short, trainable, path in slots]


def layer_layout(entry: dict[str, Any]) -> Layout | None:
    """`layer_slots` without the Keras 3 paths."""
    slots = layer_slots(entry)
    return None if slots is None else [(name, trainable) for name, trainable, _ in slots]


def tfjs_lookup_name(name: str) -> str:
    """The name TF.js falls back to when a manifest name has no exact match: it drops the
    second-to-last part ('lstm/lstm_cell/kernel' -> 'lstm/kernel')."""
    parts = name.split("/")
    if len(parts) < 3:
        return name
    return "/".join(parts[:-2] + parts[-1:])
