"""The vocabulary of a Keras config's layer entries, shared by every keras_config module: model
classes, layer names, nested models' built-in nodes, the names Keras 3 gives layer objects."""

from __future__ import annotations

import re
from typing import Any

MODEL_CLASSES = frozenset({"Functional", "Model", "Sequential"})

# Classes keras.layers (3.x) exports, and Keras 3 serialises, under another name than the one
# legacy .h5 files and the canonical config use.
KERAS3_EXPORTED_NAMES = {"GroupQueryAttention": "GroupedQueryAttention"}


# tf_keras records a TensorFlow function called on Keras tensors as one of these layers
# (`function`: the TF API name without `tf.`, e.g. 'math.multiply', '__operators__.getitem').
TF_OP_CLASSES = frozenset({"TFOpLambda", "SlicingOpLambda"})
# Keras 3 records a `keras.ops` call (or a Python operator on a tensor) as an Operation whose
# module is one of these: keras.src.ops.numpy, keras.src.ops.nn, keras.src.ops.math, ...
KERAS3_OP_MODULE = "keras.src.ops"


def is_keras3_op(entry: Any) -> bool:
    """A Keras 3 operation node (not a layer): Keras 3 keeps it out of `model.layers`."""
    return isinstance(entry, dict) and str(entry.get("module") or "").startswith(
        KERAS3_OP_MODULE)


def is_tf_op(entry: Any) -> bool:
    """A tf_keras TFOpLambda / SlicingOpLambda layer."""
    return isinstance(entry, dict) and entry.get("class_name") in TF_OP_CLASSES


def is_operation(entry: Any) -> bool:
    """An operation node of either Keras: no weights, rendered through the ops table."""
    return is_keras3_op(entry) or is_tf_op(entry)


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
