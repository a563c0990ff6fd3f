"""`inspect`: a summary of any model file as a dict, and the text view the CLI prints; each
format's record says how it summarises and renders itself when it is not read into a Model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from modelport import registry, summary

PathLike = str | os.PathLike[str]


def inspect(path: PathLike, format: str | None = None) -> dict[str, Any]:
    """A summary of a model file: format, producer, inputs, outputs, layers and weights."""
    path = Path(path)
    fmt = registry.source_format(path, format)
    if fmt.summarise is not None:
        return fmt.call("summarise", path)
    with registry.read(path, fmt) as model:
        return summary.summarise(model, fmt.name, path)


def render(found: dict[str, Any]) -> str:
    """The text view of an `inspect` summary."""
    fmt = registry.formats().get(found.get("format", ""))
    if fmt is not None and fmt.render is not None:
        return fmt.call("render", found)
    return summary.render(found)
