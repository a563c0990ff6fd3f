"""The public Python API, re-exported: read, write, convert, assemble, inspect, formats and
verify. Nothing inside the package imports this module; each function lives with what it does."""

from __future__ import annotations

from modelport.assemble import assemble_files as assemble
from modelport.conversion import convert
from modelport.inspection import inspect
from modelport.registry import format_table as formats
from modelport.registry import read, write
from modelport.verification.core import verify

__all__ = ["assemble", "convert", "formats", "inspect", "read", "verify", "write"]
