"""HDF5 files opened for reading as model files: only links that stay inside the file (an
external link would make h5py open another file, anywhere, on access), and datasets checked
for kind, type and size before anything is read from them."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from modelport.errors import FormatError

if TYPE_CHECKING:
    import h5py


def open_inside(path: Path, fileobj: BinaryIO | None = None, source: Path | None = None
                ) -> h5py.File:
    """The file open for reading, refused when any of its links points into another file.
    `fileobj`: read the HDF5 bytes from it (e.g. an archive member read in place) instead;
    `path` names them in messages. `source`: the user's file to name in errors when `path`
    was extracted from it."""
    import h5py  # only where an HDF5 file is opened: start-up stays light

    try:
        handle = h5py.File(path if fileobj is None else fileobj, "r")
    except (OSError, ValueError) as exc:
        raise FormatError(f"not a readable HDF5 file ({exc})", source or path) from None
    found: list[str] = []

    def visit(name: str, link: Any) -> None:
        if isinstance(link, h5py.ExternalLink) and not found:
            found.append(f"'{name}' -> {link.filename}:{link.path}")

    try:
        handle.visititems_links(visit)
    except (RuntimeError, KeyError, ValueError, SystemError) as exc:  # h5py on broken links
        handle.close()
        raise FormatError(f"damaged HDF5 structure ({exc})", source or path) from None
    if found:
        handle.close()
        raise FormatError(f"HDF5 external link {found[0]} leads outside the file; model files "
                          "must hold their own data", source or path)
    return handle


# What h5py raises on a damaged or lying file: a broken B-tree or heap, a type it cannot map,
# a dataset whose declared size exceeds the bytes the file holds.
DAMAGE = (RuntimeError, KeyError, ValueError, OSError, TypeError, IndexError, OverflowError,
          SystemError)
# Deflate inflates at most ~1032:1; a filtered dataset declaring more is lying.
_MAX_FILTER_RATIO = 1100


@contextlib.contextmanager
def damage_refused(path: Path | None) -> Iterator[None]:
    """Turn what h5py raises on a damaged file into one FormatError naming `path`."""
    try:
        yield
    except FormatError:
        raise
    except DAMAGE as exc:
        raise FormatError(f"damaged HDF5 content ({type(exc).__name__}: {exc})", path) from None


def checked_dataset(obj: object, what: str, path: Path) -> h5py.Dataset:
    """`obj` as a weight dataset: a dataset (not a group or a link to nothing), numeric, a
    string, or Keras 3's 2-byte bfloat16 words, declaring no more bytes than the file can give
    it - so that nothing is allocated for data that is not there."""
    import h5py

    if not isinstance(obj, h5py.Dataset):
        kind = "a group" if isinstance(obj, h5py.Group) else "not a dataset"
        raise FormatError(f"{what} is {kind}, where a weight's dataset belongs", path)
    with damage_refused(path):
        dtype = obj.dtype
        shape = obj.shape
        string = h5py.check_string_dtype(dtype) is not None or dtype.kind in "SU"
        bfloat16 = dtype.kind == "V" and dtype.itemsize == 2 and not dtype.fields
        if shape is None or not (string or bfloat16 or dtype.kind in "biufc"):
            raise FormatError(f"{what} holds {dtype} data, not numbers or strings", path)
        declared = math.prod(shape) * max(dtype.itemsize, 1)
        stored = obj.id.get_storage_size()
        filtered = obj.id.get_create_plist().get_nfilters() > 0
        limit = stored * _MAX_FILTER_RATIO if filtered else stored
        if declared and not string and declared > limit:
            raise FormatError(f"{what} declares shape {shape} ({declared} bytes) but the file "
                              f"holds {stored} bytes for it", path)
        if string and math.prod(shape) > max(stored, 1) * _MAX_FILTER_RATIO:
            raise FormatError(f"{what} declares {math.prod(shape)} strings in {stored} bytes",
                              path)
    return obj
