"""The public Python API, re-exported: read, write, convert, assemble, inspect, formats and
verify. Nothing inside the package imports this module; each function lives with what it does."""

from __future__ import annotations

from modelport.assemble import assemble_files as assemble
from modelport.conversion import convert, write
from modelport.inspection import inspect
from modelport.registry import format_table as formats
from modelport.registry import read
from modelport.verification.core import verify

__all__ = ["assemble", "convert", "formats", "inspect", "read", "verify", "write"]
