"""modelport: convert models between the TensorFlow family's formats without TensorFlow.

Public API: read, write, convert, assemble, inspect, formats, verify.
"""

from __future__ import annotations

from modelport._version import __version__
from modelport.api import assemble, convert, formats, inspect, read, write
from modelport.assemble import MappingReport, MismatchError
from modelport.errors import (
    FormatError,
    MissingExtraError,
    ModelportError,
    OutputExistsError,
    UnsupportedError,
)
from modelport.model import Model, Weight
from modelport.verification import VerifyResult, verify

__all__ = [
    "__version__",
    "FormatError",
    "MappingReport",
    "MismatchError",
    "MissingExtraError",
    "Model",
    "ModelportError",
    "OutputExistsError",
    "UnsupportedError",
    "VerifyResult",
    "Weight",
    "assemble",
    "convert",
    "formats",
    "inspect",
    "read",
    "verify",
    "write",
]
