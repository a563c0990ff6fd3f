"""Progress on stderr for work that takes a while: bytes of weights written, verify's stages.
Shown only when stderr is a terminal and the command line asked for it (never with --quiet),
so scripts and the Python API stay silent."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

# Set by the command line (not --quiet); the Python API leaves it off.
WANTED = False
# Below this many bytes a conversion takes well under a second: no bar.
MIN_BYTES = 32 * 1024 * 1024


def _shown() -> bool:
    return WANTED and sys.stderr.isatty()


def _size() -> tuple[int, int]:
    """stderr's terminal columns and rows; 80 x 24 where the terminal reports none (tqdm then
    draws nothing at all)."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except OSError:
        return 80, 24
    return size.columns or 80, size.lines or 24


class _Bar:
    """A byte counter over tqdm (a well-kept bar: rate, ETA, terminal width), or nothing."""

    def __init__(self, total: int, description: str):
        from tqdm import tqdm

        columns, rows = _size()
        self._bar = tqdm(total=total, desc=description, unit="B", unit_scale=True,
                         unit_divisor=1024, file=sys.stderr, leave=False, ncols=columns,
                         nrows=rows)

    def add(self, count: int) -> None:
        self._bar.update(count)

    def close(self) -> None:
        self._bar.close()


def bytes_bar(total: int, description: str) -> _Bar | None:
    """A bar for `total` bytes of work, or None when none is shown."""
    return _Bar(total, description) if _shown() and total >= MIN_BYTES else None


def counting(load: Callable[[], Any], size: int, bar: _Bar) -> Callable[[], Any]:
    """`load`, counting `size` bytes on `bar` once it has read them."""
    def counted() -> Any:
        value = load()
        bar.add(size)
        return value

    return counted


def stage(text: str) -> None:
    """One line saying what a long command is doing now (verify: loading A, running B...)."""
    if _shown():
        print(f"modelport: {text}", file=sys.stderr, flush=True)
