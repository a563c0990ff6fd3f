"""Verification: prove a conversion by running both models in real runtimes (Keras 3, tf_keras,
TensorFlow, TF.js on Node) on the same inputs and comparing every output."""

from __future__ import annotations

from modelport.keras_objects import load_custom_objects
from modelport.verification.compare import OutputComparison, Tolerance
from modelport.verification.core import verify
from modelport.verification.result import InputInfo, Side, VerifyResult

__all__ = ["InputInfo", "OutputComparison", "Side", "Tolerance", "VerifyResult",
           "load_custom_objects", "verify"]
