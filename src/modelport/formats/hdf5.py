"""HDF5 files opened for reading as model files: only links that stay inside the file (an
external link would make h5py open another file, anywhere, on access)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from modelport.errors import FormatError

if TYPE_CHECKING:
    import h5py


def open_inside(path: Path, fileobj: BinaryIO | None = None) -> h5py.File:
    """The file open for reading, refused when any of its links points into another file.
    `fileobj`: read the HDF5 bytes from it (e.g. an archive member read in place) instead;
    `path` names them in messages."""
    import h5py  # only where an HDF5 file is opened: start-up stays light

    try:
        handle = h5py.File(path if fileobj is None else fileobj, "r")
    except (OSError, ValueError) as exc:
        raise FormatError(f"not a readable HDF5 file ({exc})", path) from None
    found: list[str] = []

    def visit(name: str, link: Any) -> None:
        if isinstance(link, h5py.ExternalLink) and not found:
            found.append(f"'{name}' -> {link.filename}:{link.path}")

    try:
        handle.visititems_links(visit)
    except (RuntimeError, KeyError, ValueError) as exc:
        handle.close()
        raise FormatError(f"damaged HDF5 structure ({exc})", path) from None
    if found:
        handle.close()
        raise FormatError(f"HDF5 external link {found[0]} leads outside the file; model files "
                          "must hold their own data", path)
    return handle
