"""The public Python API, re-exported: read, write, convert, assemble, inspect, formats and
verify. Nothing inside the package imports this module; each function lives with what it does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelport.assemble import assemble_files as assemble
from modelport.conversion import convert, write
from modelport.inspection import inspect
from modelport.registry import format_table as formats
from modelport.registry import read

if TYPE_CHECKING:
    from modelport.verification.core import verify


def __getattr__(name: str) -> Any:
    """`verify`, imported on first use: a conversion does not load the verification code."""
    if name == "verify":
        from modelport.verification.core import verify

        return verify
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["assemble", "convert", "formats", "inspect", "read", "verify", "write"]
