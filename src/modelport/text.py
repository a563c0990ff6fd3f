"""Plain-text helpers shared by every table modelport prints: shapes as text and rows as aligned
columns (inspect, the assembly mapping report, the quantization summary, verify's results)."""

from __future__ import annotations

from collections.abc import Sequence


def is_utf8_text(text: str) -> bool:
    """Whether `text` can be written as UTF-8 (JSON may decode lone UTF-16 surrogates, which
    no file format's text can hold)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shape_text(shape: Sequence[int | None] | None, unknown: str = "?") -> str:
    """A shape as the tables print it: (6, 8), (8,), and `unknown` for unknown dimensions
    ((?, 16); inspect's layer view says None as Keras does). '?' for an unknown rank."""
    if shape is None:
        return "?"
    dims = [unknown if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def table_lines(rows: list[tuple[str, ...]], right: tuple[int, ...] = ()) -> list[str]:
    """Rows (the first a header) as aligned text lines: columns padded to their widest cell,
    `right` ones to the right; the last column left ragged."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.rjust(width) if i in right else cell.ljust(width)
                 for i, (cell, width) in enumerate(zip(row, widths, strict=True))]
        if len(row) - 1 not in right:
            cells[-1] = row[-1]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines
