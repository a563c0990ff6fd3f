"""The vocabulary of a Keras config's layer entries, shared by every keras_config module: model
classes, layer names, nested models' built-in nodes, the names Keras 3 gives layer objects."""

from __future__ import annotations

import re
from typing import Any

MODEL_CLASSES = frozenset({"Functional", "Model", "Sequential"})

# Classes keras.layers (3.x) exports, and Keras 3 serialises, under another name than the one
# legacy .h5 files and the canonical config use.
KERAS3_EXPORTED_NAMES = {"GroupQueryAttention": "GroupedQueryAttention"}


def layer_name(entry: dict[str, Any]) -> str:
    return str(entry.get("name") or entry.get("config", {}).get("name"))


def is_model_entry(entry: dict[str, Any]) -> bool:
    class_name, cfg = entry.get("class_name"), entry.get("config")
    return isinstance(class_name, str) and class_name in MODEL_CLASSES and isinstance(
        cfg, (dict, list)) and "layers" in cfg


def has_builtin_node(entry: dict[str, Any]) -> bool:
    """Keras 2 and TF.js count a nested model's calls from 1 when the model was built with an
    input: its node 0 is the internal one."""
    if not is_model_entry(entry):
        return False
    if entry["class_name"] != "Sequential":
        return True
    layers = entry["config"].get("layers") or []
    if not layers:
        return False
    first = layers[0]
    return first.get("class_name") == "InputLayer" or any(
        key in first.get("config", {}) for key in ("batch_input_shape", "batch_shape")
    )


def keras3_snake_case(class_name: str) -> str:
    """The name Keras 3 gives an object of this class in a weights file (Conv2D -> conv2d,
    PReLU -> p_re_lu)."""
    name = re.sub(r"\W+", "", KERAS3_EXPORTED_NAMES.get(class_name, class_name))
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
