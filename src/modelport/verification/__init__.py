"""Verification: prove a conversion by running both models in real runtimes (Keras 3, tf_keras,
TensorFlow, TF.js on Node) on the same inputs and comparing every output.

The names are imported on first use (module __getattr__): the command line reads the defaults
in `verification.defaults` for its help without loading numpy or the runtimes."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelport.keras_objects import load_custom_objects
    from modelport.verification.compare import OutputComparison, Tolerance
    from modelport.verification.core import verify
    from modelport.verification.result import InputInfo, Side, VerifyResult

# Public name -> the module that owns it.
_EXPORTS = {
    "OutputComparison": "modelport.verification.compare",
    "Tolerance": "modelport.verification.compare",
    "load_custom_objects": "modelport.keras_objects",
    "verify": "modelport.verification.core",
    "InputInfo": "modelport.verification.result",
    "Side": "modelport.verification.result",
    "VerifyResult": "modelport.verification.result",
}

__all__ = ["InputInfo", "OutputComparison", "Side", "Tolerance", "VerifyResult",
           "load_custom_objects", "verify"]


def __getattr__(name: str) -> Any:
    owner = _EXPORTS.get(name)
    if owner is None:
        raise AttributeError(f"module 'modelport.verification' has no attribute '{name}'")
    value = getattr(importlib.import_module(owner), name)
    globals()[name] = value  # later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
