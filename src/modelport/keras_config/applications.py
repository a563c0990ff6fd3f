"""The layer classes keras.applications defines for itself (not in keras.layers): the same class
names in tf_keras (tf_keras/src/applications/) and Keras 3 (keras/src/applications/). A config
entry is taken for one when its class name, its module (when the file names one) and its
arguments are those of the applications' class, so that a user's own class of the same name is
not replaced by the library's."""

from __future__ import annotations

from typing import Any

# class name -> (module under <library>.src.applications, the arguments its get_config adds)
APPLICATION_LAYERS: dict[str, tuple[str, frozenset[str]]] = {
    "LayerScale": ("convnext", frozenset({"init_values", "projection_dim"})),  # x * gamma
    "StochasticDepth": ("convnext", frozenset({"drop_path_rate"})),  # identity at inference
    # tf_keras registers it as "Custom>CustomScaleLayer"; Keras 3 does not register it.
    "CustomScaleLayer": ("inception_resnet_v2", frozenset({"scale"})),
}
_BASE_ARGUMENTS = frozenset({"name", "trainable", "dtype", "batch_input_shape", "batch_shape"})


def application_class(module: str, cls: str) -> str:
    """The name the layer records and shape rules file one of these classes under: qualified,
    so that a user's class of the same name finds none of them."""
    return f"applications.{module}.{cls}"


def application_layer(entry: dict[str, Any]) -> tuple[str, str] | None:
    """(applications module, class name) when the layer entry is one of keras.applications'
    own layers, else None."""
    for name in (entry.get("class_name"), entry.get("registered_name")):
        cls = str(name or "").split(">")[-1]
        if cls not in APPLICATION_LAYERS:
            continue
        module, arguments = APPLICATION_LAYERS[cls]
        declared = entry.get("module")
        if declared and not str(declared).endswith(f"applications.{module}"):
            return None
        if set(entry.get("config", {})) - _BASE_ARGUMENTS != arguments:
            return None
        return module, cls
    return None


def record_class(entry: dict[str, Any]) -> str:
    """The class name under which a layer entry's weights and shapes are looked up: its own,
    or `application_class(...)` when it is one of keras.applications' layers."""
    application = application_layer(entry)
    if application is not None:
        return application_class(*application)
    return str(entry.get("class_name", ""))
