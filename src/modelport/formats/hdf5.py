"""HDF5 files opened for reading as model files: only links that stay inside the file (an
external link would make h5py open another file, anywhere, on access), no global heap that
libhdf5 would walk forever, and datasets checked for kind, type and size before anything is
read from them."""

from __future__ import annotations

import contextlib
import math
import os
import struct
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
    try:
        _refuse_what_libhdf5_mishandles(handle, path if fileobj is None else fileobj,
                                        source or path)
    except BaseException:
        handle.close()
        raise
    return handle


# The global heap collections ("GCOL") hold every variable-length string: the attributes Keras
# writes (layer_names, weight_names, model_config ...). libhdf5 (1.14) decodes a collection by
# stepping from object to object by each one's declared size; a free-space object of size 0, or
# a size that wraps the pointer around, makes it step in place forever (uninterruptibly, the
# GIL held), on the first read of any string. So the collections are walked here first, the same
# way, and a file with such a step is refused before libhdf5 sees it.
_HEAP_SIGNATURE = b"GCOL"
_HEAP_VERSION = 1
_SCAN_BLOCK = 8 << 20
# Up to this size the whole file is scanned for collections; above, only what lies outside the
# contiguous datasets (the weights), so that the scan costs nothing that grows with the model.
_SCAN_WHOLE_FILE = 64 << 20


def _refuse_what_libhdf5_mishandles(handle: h5py.File, data: Path | BinaryIO, source: Path) -> None:
    import h5py

    length_size = handle.id.get_create_plist().get_sizes()[1]
    with contextlib.ExitStack() as stack:
        if isinstance(data, Path):
            stream: BinaryIO = stack.enter_context(open(data, "rb"))
        else:
            stream = data
        end = stream.seek(0, os.SEEK_END)
        skipped: list[tuple[int, int]] = []

        def visit(name: str, obj: Any) -> None:
            _refuse_odd_attributes(obj, name, source)
            if end > _SCAN_WHOLE_FILE and isinstance(obj, h5py.Dataset):
                offset = obj.id.get_offset()
                if offset is not None:
                    skipped.append((offset, offset + obj.id.get_storage_size()))

        with damage_refused(source):
            _refuse_odd_attributes(handle, "/", source)
            handle.visititems(visit)
        for start in _heap_candidates(stream, end, sorted(skipped)):
            if _heap_walk_is_endless(stream, start, length_size):
                raise FormatError(
                    f"damaged HDF5 global heap at byte {start}: an object in it has a size "
                    "that would make the HDF5 library read it forever; the file cannot be read "
                    "safely", source)


# The attribute types Keras writes: text (fixed or variable length), numbers, h5py's booleans
# (an enum); libhdf5 has crashed converting others (a variable-length sequence in place of a
# string), so they are refused before any attribute is read.
_ATTRIBUTE_CLASSES = frozenset({0, 1, 3, 8})  # H5T_INTEGER, H5T_FLOAT, H5T_STRING, H5T_ENUM


def _refuse_odd_attributes(obj: Any, name: str, source: Path) -> None:
    for key in obj.attrs:
        kind = obj.attrs.get_id(key).get_type()
        while kind.get_class() == 10:  # H5T_ARRAY: the class of its elements counts
            kind = kind.get_super()
        if kind.get_class() not in _ATTRIBUTE_CLASSES:
            raise FormatError(f"attribute '{key}' of '{name}' has an HDF5 type (class "
                              f"{kind.get_class()}) that no Keras writes: the file is damaged",
                              source)


def _heap_candidates(stream: BinaryIO, end: int, skipped: list[tuple[int, int]]
                     ) -> Iterator[int]:
    """Offsets of every collection signature outside the `skipped` byte ranges."""
    position = 0
    for skip_start, skip_end in [*skipped, (end, end)]:
        while position < min(skip_start, end):
            stream.seek(position)
            block = stream.read(min(_SCAN_BLOCK, skip_start - position) + 3)
            found = block.find(_HEAP_SIGNATURE)
            while found >= 0:
                yield position + found
                found = block.find(_HEAP_SIGNATURE, found + 1)
            if len(block) <= 3:
                break
            position += len(block) - 3
        position = max(position, skip_end)


def _heap_walk_is_endless(stream: BinaryIO, start: int, length_size: int) -> bool:
    """Whether libhdf5's walk over the collection at `start` would never end: the header is
    signature, version, 3 reserved bytes, the collection's size; each object is index (2 bytes),
    reference count (2), reserved (4), size, then its data padded to 8 bytes. The free-space
    object (index 0) is not padded. Bytes past the file's end read as zeros, as libhdf5's. An
    index is 16 bits, so a walk of more objects than that is no collection libhdf5 wrote."""
    if length_size not in (2, 4, 8):
        return False
    length = {2: "<H", 4: "<I", 8: "<Q"}[length_size]
    wrap = 1 << 64
    stream.seek(start + 4)
    header = stream.read(4 + length_size)
    if len(header) < 4 + length_size or header[0] != _HEAP_VERSION:
        return False  # libhdf5 refuses such a collection by itself
    (size,) = struct.unpack_from(length, header, 4)
    object_header = 8 + length_size
    position, stop = start + 8 + length_size, start + size
    block_start, block = position, b""
    for _ in range((1 << 16) + 1):
        if not (position < stop and position + object_header <= stop):
            return False
        if not block_start <= position <= block_start + len(block) - object_header:
            stream.seek(position)
            block_start, block = position, stream.read(_SCAN_BLOCK >> 3)
        at = position - block_start
        raw = block[at:at + object_header].ljust(object_header, b"\0")
        (index,) = struct.unpack_from("<H", raw)
        (declared,) = struct.unpack_from(length, raw, 8)
        step = declared if index == 0 else (object_header + (declared + 7) // 8 * 8) % wrap
        if step == 0 or step >= wrap // 2:
            return True
        position += step
    return True


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
