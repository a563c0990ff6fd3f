"""modelport: convert models between the TensorFlow family's formats without TensorFlow.

Public API: read, write, convert, assemble, inspect, formats, verify.

The names are imported on first use (module __getattr__), so `import modelport` and the
command line's `--help` do not load every format module and h5py.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from modelport._version import __version__

if TYPE_CHECKING:
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

# Public name -> the module that owns it.
_EXPORTS = {
    "assemble": "modelport.api",
    "convert": "modelport.api",
    "formats": "modelport.api",
    "inspect": "modelport.api",
    "read": "modelport.api",
    "write": "modelport.api",
    "MappingReport": "modelport.assemble",
    "MismatchError": "modelport.assemble",
    "FormatError": "modelport.errors",
    "MissingExtraError": "modelport.errors",
    "ModelportError": "modelport.errors",
    "OutputExistsError": "modelport.errors",
    "UnsupportedError": "modelport.errors",
    "Model": "modelport.model",
    "Weight": "modelport.model",
    "VerifyResult": "modelport.verification",
    "verify": "modelport.verification",
}

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


class _Package(types.ModuleType):
    """`modelport.assemble` and `modelport.formats` are both submodules and API functions;
    the functions win, as when this module imported the API eagerly: importing a submodule
    binds it on its package, which this ignores for those names."""

    def __setattr__(self, name: str, value: Any) -> None:
        if (name in _EXPORTS and isinstance(value, types.ModuleType)
                and value.__name__ == f"{__name__}.{name}"):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    owner = _EXPORTS.get(name)
    if owner is None:
        raise AttributeError(f"module 'modelport' has no attribute '{name}'")
    value = getattr(importlib.import_module(owner), name)
    globals()[name] = value  # later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
