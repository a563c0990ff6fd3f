"""HDF5 files opened for reading as model files: only links that stay inside the file (an
external link would make h5py open another file, anywhere, on access)."""

from __future__ import annotations

from pathlib import Path

import h5py

from modelport.errors import FormatError


def open_inside(path: Path) -> h5py.File:
    """The file open for reading, refused when any of its links points into another file."""
    try:
        handle = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise FormatError(f"not a readable HDF5 file ({exc})", path) from None
    found: list[str] = []

    def visit(name: str, link: h5py.HLObject) -> None:
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
