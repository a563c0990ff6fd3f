"""TensorFlow's tensor bundle (PREFIX.index + PREFIX.data-?????-of-?????): the LevelDB-format
table index, its entries, and tensors read one at a time and checked against their CRC32C."""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelport.errors import FormatError, UnsupportedError
from modelport.fileio import contained, lexists, regular_file
from modelport.model import ByteRange, Weight
from modelport.protobuf import DecodeError, Message, decode_varint

# --------------------------------------------------------------------------------------------
# CRC32C (Castagnoli), as the index blocks and the tensors are checksummed.
# --------------------------------------------------------------------------------------------

if TYPE_CHECKING:  # numpy and google_crc32c are imported where tensors are read or checked
    import numpy as np

    Buffer = bytes | bytearray | memoryview | np.ndarray

_MASK_DELTA = 0xA282EAD8
# google_crc32c accepts only bytes; other buffers go through in copies of this size, so a large
# tensor costs no second full-size copy and each copy is still in cache when it is checksummed.
_COPY_CHUNK = 1 << 20


def _as_bytes_array(data: Buffer) -> np.ndarray:
    import numpy as np

    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def crc32c_extend(crc: int, data: Buffer) -> int:
    """The CRC32C of the concatenation of what `crc` was computed over and `data`."""
    import google_crc32c

    if isinstance(data, bytes):
        return google_crc32c.extend(crc, data)
    buf = _as_bytes_array(data)
    for start in range(0, buf.size, _COPY_CHUNK):
        crc = google_crc32c.extend(crc, buf[start:start + _COPY_CHUNK].tobytes())
    return crc


def crc32c(data: Buffer) -> int:
    """CRC-32C (Castagnoli) of a bytes-like object or of an array's raw bytes."""
    return crc32c_extend(0, data)


def mask_crc32c(crc: int) -> int:
    """The masked form TensorFlow and LevelDB store (so CRCs of CRCs stay well distributed)."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def unmask_crc32c(masked: int) -> int:
    """The CRC a masked value was made from (the inverse of `mask_crc32c`)."""
    rotated = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rotated >> 17) | (rotated << 15)) & 0xFFFFFFFF


def masked_crc32c(data: Buffer) -> int:
    """The masked CRC32C of `data`, as TensorFlow stores it."""
    return mask_crc32c(crc32c(data))


# --------------------------------------------------------------------------------------------
# The .index file: a LevelDB-format table (TensorFlow's copy of it) of key -> BundleEntryProto.
# --------------------------------------------------------------------------------------------

_FOOTER_SIZE = 48
_TABLE_MAGIC = 0xDB4775248B80FB57
_TRAILER_SIZE = 5  # compression type byte + masked CRC32C


class _BadIndex(Exception):
    """A problem inside the index (the whole message), reported with its path by the caller."""


def _block_handle(data: bytes, pos: int = 0) -> tuple[int, int, int]:
    offset, pos = decode_varint(data, pos)
    size, pos = decode_varint(data, pos)
    return offset, size, pos


def _read_block(table: bytes, offset: int, size: int, what: str) -> bytes:
    end = offset + size
    if end + _TRAILER_SIZE > len(table) - _FOOTER_SIZE:
        raise _BadIndex(f"corrupt checkpoint index: {what} at byte {offset} runs past the end "
                        "of the file (truncated?)")
    stored = int.from_bytes(table[end + 1:end + _TRAILER_SIZE], "little")
    # The checksum covers the block and its compression-type byte.
    actual = masked_crc32c(table[offset:end + 1])
    if stored != actual:
        raise _BadIndex(f"corrupt checkpoint index: {what} at byte {offset} fails its crc32c "
                        f"check (stored {stored:#010x}, computed {actual:#010x})")
    kind = table[end]
    if kind != 0:
        name = {1: "snappy", 2: "zlib"}.get(kind, f"type {kind}")
        raise _BadIndex(f"checkpoint index {what} is {name}-compressed; TensorFlow writes "
                        "checkpoint indexes uncompressed and modelport reads only those")
    return table[offset:end]


def _block_entries(block: bytes, what: str) -> Iterator[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise _BadIndex(f"corrupt checkpoint index: {what} is shorter than its restart count")
    restarts = int.from_bytes(block[-4:], "little")
    limit = len(block) - 4 * (restarts + 1)
    if limit < 0:
        raise _BadIndex(f"corrupt checkpoint index: {what} has an impossible restart count "
                        f"{restarts}")
    key = b""
    pos = 0
    while pos < limit:
        shared, pos = decode_varint(block, pos)
        unshared, pos = decode_varint(block, pos)
        value_len, pos = decode_varint(block, pos)
        if shared > len(key) or pos + unshared + value_len > limit:
            raise _BadIndex(f"corrupt checkpoint index: {what} has a malformed entry at byte "
                            f"{pos}")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        yield key, block[pos:pos + value_len]
        pos += value_len


# TensorFlow writes one data shard per device that held variables; more than this is a lie.
_MAX_SHARDS = 100_000


def _read_table(path: Path) -> list[tuple[bytes, bytes]]:
    if not regular_file(path):
        raise FormatError("checkpoint index is not a regular file", path)
    try:
        table = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read checkpoint index ({exc.strerror})", path) from None
    if len(table) < _FOOTER_SIZE:
        raise FormatError(f"checkpoint index is {len(table)} bytes, shorter than the "
                          f"{_FOOTER_SIZE}-byte table footer (truncated or not an index)", path)
    if int.from_bytes(table[-8:], "little") != _TABLE_MAGIC:
        raise FormatError("not a TensorFlow checkpoint index: the table magic number is "
                          "missing from the last 8 bytes (truncated or another format)", path)
    try:
        footer = table[-_FOOTER_SIZE:-8]
        _, _, pos = _block_handle(footer)  # metaindex: TensorFlow stores nothing there
        index_offset, index_size, _ = _block_handle(footer, pos)
        index = _read_block(table, index_offset, index_size, "index block")
        entries: list[tuple[bytes, bytes]] = []
        for n, (_, handle) in enumerate(_block_entries(index, "index block")):
            offset, size, _ = _block_handle(handle)
            block = _read_block(table, offset, size, f"data block {n}")
            entries.extend(_block_entries(block, f"data block {n}"))
    except _BadIndex as exc:
        raise FormatError(str(exc), path) from None
    except DecodeError as exc:
        raise FormatError(f"corrupt checkpoint index: {exc}", path) from None
    for (before, _), (after, _) in zip(entries, entries[1:], strict=False):
        if before >= after:
            raise FormatError(f"corrupt checkpoint index: keys out of order ({before!r} before "
                              f"{after!r})", path)
    return entries


def is_table(path: Path) -> bool:
    """Whether the file `path` ends with the table magic number (reads only its last bytes)."""
    if not regular_file(path):
        return False
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            if handle.tell() < _FOOTER_SIZE:
                return False
            handle.seek(-8, 2)
            return int.from_bytes(handle.read(8), "little") == _TABLE_MAGIC
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# Bundle files, entries and tensors.
# --------------------------------------------------------------------------------------------

# tensorflow/core/framework/types.proto DataType -> name (numpy's name where numpy has one).
DTYPE_NAMES = {
    1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "string",
    8: "complex64", 9: "int64", 10: "bool", 11: "qint8", 12: "quint8", 13: "qint32",
    14: "bfloat16", 15: "qint16", 16: "quint16", 17: "uint16", 18: "complex128", 19: "float16",
    20: "resource", 21: "variant", 22: "uint32", 23: "uint64", 24: "float8_e5m2",
    25: "float8_e4m3fn", 26: "float8_e4m3fnuz", 27: "float8_e4m3b11fnuz", 28: "float8_e5m2fnuz",
    29: "int4", 30: "uint4", 31: "int2", 32: "uint2", 33: "float4_e2m1fn",
}
# How each dtype read() supports is stored: little-endian numpy types; bfloat16 as raw 16-bit
# words, which read() widens to float32.
_NUMPY_DTYPES = {
    "float32": "<f4", "float64": "<f8", "int32": "<i4", "uint8": "|u1", "int16": "<i2",
    "int8": "|i1", "complex64": "<c8", "int64": "<i8", "bool": "|b1", "uint16": "<u2",
    "complex128": "<c16", "float16": "<f2", "uint32": "<u4", "uint64": "<u8", "bfloat16": "<u2",
}


def _numpy_dtype(name: str) -> np.dtype:
    import numpy as np

    return np.dtype(_NUMPY_DTYPES[name])

HEADER_KEY = ""
_SUPPORTED_VERSION = 1  # TensorFlow's kTensorBundleVersion
_DATA_SUFFIX = re.compile(r"\.data-\d{5}-of-\d{5}$")


class DirectoryPrefix(type(Path())):  # type: ignore[misc]
    """A bundle prefix that ends in a separator (`run/`), as a TF1 Saver given a directory
    name writes: `run/.index`, `run/.data-00000-of-00001`. pathlib drops an empty last
    component, so this path keeps it: its name is empty, its parent the directory, and its
    text ends in the separator, as TensorFlow spells the prefix."""

    @property
    def name(self) -> str:
        return ""

    @property
    def parent(self) -> Path:
        return Path(super().__str__())

    def __str__(self) -> str:
        return os.path.join(super().__str__(), "")


def index_file(prefix: Path) -> Path:
    """The index of the bundle `prefix`: PREFIX.index."""
    return prefix.parent / (prefix.name + ".index")


def prefix_of(path: Path) -> Path:
    """The bundle prefix a file of the bundle names (``p.index``, ``p.data-00000-of-00002``:
    ``p``); any other path is taken for a prefix itself."""
    if path.name.endswith(".index"):
        stem = path.name[:-len(".index")]
    elif _DATA_SUFFIX.search(path.name):
        stem = _DATA_SUFFIX.sub("", path.name)
    else:
        return path
    return path.with_name(stem) if stem else DirectoryPrefix(path.parent)


Extents = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Entry:
    """Where and what one tensor is. `dtype` is TensorFlow's type name ("float32",
    "bfloat16", "string", ...; "dtype_<n>" for enum values this module does not know);
    `crc32c` is the masked checksum as stored. A tensor saved in slices (a partitioned
    variable, or one split across shards by a size-based sharding policy) lists each slice's
    (start, length) per dimension in `slices` and has no bytes of its own."""

    key: str
    dtype: str
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int
    slices: tuple[Extents, ...] = ()

    @property
    def readable(self) -> bool:
        """Whether `Bundle.read` can return this tensor."""
        return self.dtype in _NUMPY_DTYPES or self.dtype == "string"



def _parse_entry(key: str, value: bytes) -> Entry:
    proto = Message(value)
    dtype_enum = proto.uint(1)
    shape_proto = proto.message(2) or Message()
    if shape_proto.boolean(3):
        raise DecodeError(f"'{key}' has unknown rank")
    shape = tuple(dim.int64(1) for dim in shape_proto.messages(2))
    if any(size < 0 for size in shape):
        raise DecodeError(f"'{key}' has a shape with unknown dimensions {shape}")
    slices = []
    for slice_proto in proto.messages(7):  # TensorSliceProto
        extents = slice_proto.messages(1)
        # An empty slice, or an extent without a length, means the whole dimension.
        slices.append(_normal_extents(
            shape, [(e.int64(1), e.int64(2) if 2 in e else -1) for e in extents]))
    return Entry(
        key=key,
        dtype=DTYPE_NAMES.get(dtype_enum, f"dtype_{dtype_enum}"),
        shape=shape,
        shard_id=proto.int32(3),
        offset=proto.int64(4),
        size=proto.int64(5),
        crc32c=proto.fixed32(6),
        slices=tuple(slices),
    )


def _normal_extents(shape: tuple[int, ...], extents: list[tuple[int, int]]) -> Extents:
    if not extents:
        return tuple((0, size) for size in shape)
    if len(extents) != len(shape):
        raise DecodeError(f"a {len(extents)}-D slice of a {len(shape)}-D tensor")
    out = []
    for size, (start, length) in zip(shape, extents, strict=True):
        if length == -1:
            start, length = 0, size
        if start < 0 or length < 0 or start + length > size:
            raise DecodeError(f"slice {start}:{start + length} outside a dimension of {size}")
        out.append((start, length))
    return tuple(out)


# Slices of a tensor are stored under keys made with TensorFlow's OrderedCode:
# NumIncreasing(0), String(tensor name), NumIncreasing(rank), then SignedNumIncreasing(start)
# and SignedNumIncreasing(length) per dimension (length -1: the whole dimension).

def _ordered_unsigned(key: bytes, pos: int) -> tuple[int, int]:
    length = key[pos] if pos < len(key) else 0xFF
    if length > 8 or pos + 1 + length > len(key):
        raise DecodeError("malformed number in a slice key")
    return int.from_bytes(key[pos + 1:pos + 1 + length], "big"), pos + 1 + length


def _ordered_signed(key: bytes, pos: int) -> tuple[int, int]:
    # The encoded length is the count of leading bits equal to the number's sign bit negated:
    # 1s for numbers >= 0, 0s for negative ones, running into the second byte for long numbers.
    if pos >= len(key):
        raise DecodeError("slice key ends inside a number")
    flip = 0 if key[pos] & 0x80 else 0xFF
    head = key[pos] ^ flip
    length = 8 - (~head & 0xFF).bit_length()
    if head == 0xFF and pos + 1 < len(key):
        length = 8 + 8 - (~(key[pos + 1] ^ flip) & 0xFF).bit_length()
    if not 1 <= length <= 10 or pos + length > len(key):
        raise DecodeError("malformed signed number in a slice key")
    raw = int.from_bytes(key[pos:pos + length], "big")
    bits = 8 * length
    raw ^= ((1 << length) - 1) << (bits - length)  # undo the length header
    if raw >> (bits - 1):
        raw -= 1 << bits
    return raw, pos + length


def _ordered_string(key: bytes, pos: int) -> tuple[bytes, int]:
    out = bytearray()
    while pos + 1 < len(key):
        byte, after = key[pos], key[pos + 1]
        if byte == 0x00 and after == 0x01:
            return bytes(out), pos + 2
        if byte == 0x00 and after == 0xFF:
            out.append(0x00)
            pos += 2
        elif byte == 0xFF and after == 0x00:
            out.append(0xFF)
            pos += 2
        elif byte in (0x00, 0xFF):
            break
        else:
            out.append(byte)
            pos += 1
    raise DecodeError("unterminated name in a slice key")


def _parse_slice_key(key: bytes) -> tuple[str, list[tuple[int, int]]]:
    """(tensor name, [(start, length) per dimension]) of a slice entry's key."""
    zero, pos = _ordered_unsigned(key, 0)
    if zero != 0:
        raise DecodeError("slice key does not start with 0")
    name, pos = _ordered_string(key, pos)
    rank, pos = _ordered_unsigned(key, pos)
    extents = []
    for _ in range(rank):
        start, pos = _ordered_signed(key, pos)
        length, pos = _ordered_signed(key, pos)
        extents.append((start, length))
    if pos != len(key):
        raise DecodeError("trailing bytes in a slice key")
    return name.decode("utf-8"), extents


class _EntryCrc:
    """A tensor's crc32c, computed over its bytes as they are copied out of the data file."""

    def __init__(self, bundle: Bundle, entry: Entry, path: Path):
        self.bundle, self.entry, self.path = bundle, entry, path
        self.crc = 0

    def update(self, data: bytes) -> None:
        self.crc = crc32c_extend(self.crc, data)

    def finish(self) -> None:
        self.bundle.check_crc(self.crc, self.entry, self.path)


class Bundle:
    """An opened bundle: `entries` (key -> Entry, in key order, header excluded; the same
    keys `tf.train.load_checkpoint` lists) and `read(key)` for one tensor at a time. No file
    handle stays open."""

    def __init__(self, prefix: Path):
        self.prefix = prefix
        self.index_path = contained(index_file(prefix), prefix.parent, index_file(prefix))
        records = _read_table(self.index_path)
        if not records or records[0][0] != HEADER_KEY.encode():
            raise FormatError("not a TensorFlow checkpoint index: no bundle header entry",
                              self.index_path)
        self.entries: dict[str, Entry] = {}
        # Slices of sliced tensors: name -> normalised extents -> the slice's own entry.
        self._pieces: dict[str, dict[Extents, Entry]] = {}
        try:
            header = Message(records[0][1])
            self.num_shards = header.int32(1)
            endianness = header.uint(2)
            version = header.message(3) or Message()
            for raw_key, value in records[1:]:
                if raw_key.startswith(b"\x00"):
                    name, extents = _parse_slice_key(raw_key)
                    label = f"{name}[" + ", ".join(
                        f"{s}:{s + n}" if n >= 0 else ":" for s, n in extents) + "]"
                    piece = _parse_entry(label, value)
                    self._pieces.setdefault(name, {})[tuple(extents)] = piece
                else:
                    key = raw_key.decode("utf-8")
                    self.entries[key] = _parse_entry(key, value)
            self._match_pieces()
        except (DecodeError, UnicodeDecodeError) as exc:
            raise FormatError(f"corrupt checkpoint index entry: {exc}", self.index_path) from None
        if not 1 <= self.num_shards <= _MAX_SHARDS:
            raise FormatError(f"corrupt checkpoint index: {self.num_shards} data shards",
                              self.index_path)
        if endianness != 0:
            raise UnsupportedError("big-endian checkpoint; only little-endian checkpoints are "
                                   "supported", self.index_path)
        if version.int32(2) > _SUPPORTED_VERSION:
            raise UnsupportedError(f"checkpoint format version {version.int32(1)} needs a reader "
                                   f"of version >= {version.int32(2)} (modelport reads version "
                                   f"{_SUPPORTED_VERSION})", self.index_path)
        self._check_shards()

    def _match_pieces(self) -> None:
        """Key every slice by the extents its tensor's entry lists, and check they agree."""
        for name, pieces in list(self._pieces.items()):
            whole = self.entries.get(name)
            if whole is None or not whole.slices:
                raise DecodeError(f"slices of '{name}', which is not a sliced tensor")
            normal = {_normal_extents(whole.shape, list(e)): piece for e, piece in pieces.items()}
            if set(normal) != set(whole.slices):
                missing = len(set(whole.slices) - set(normal))
                raise DecodeError(f"'{name}' lists {len(whole.slices)} slices but {missing} of "
                                  "them are missing or differ")
            self._pieces[name] = normal
        for entry in self.entries.values():
            if entry.slices and entry.key not in self._pieces:
                raise DecodeError(f"none of the {len(entry.slices)} slices of '{entry.key}' is "
                                  "in the index")

    def _stored(self) -> Iterator[Entry]:
        """Every entry that owns bytes in a data file."""
        for entry in self.entries.values():
            if entry.slices:
                yield from self._pieces[entry.key].values()
            else:
                yield entry

    def _check_shards(self) -> None:
        sizes = {}
        for shard in range(self.num_shards):
            path = contained(self.data_path(shard), self.prefix.parent, self.index_path)
            if lexists(path) and not regular_file(path):
                raise FormatError("checkpoint data shard is not a regular file", path)
            try:
                sizes[shard] = path.stat().st_size
            except OSError:
                raise FormatError(f"data shard {shard + 1} of {self.num_shards} of checkpoint "
                                  f"'{self.prefix.name}' is missing", path) from None
        for entry in self._stored():
            if not 0 <= entry.shard_id < self.num_shards:
                raise FormatError(f"entry '{entry.key}' names data shard {entry.shard_id} of "
                                  f"{self.num_shards}", self.index_path)
            if entry.offset < 0 or entry.size < 0 or (
                    entry.offset + entry.size > sizes[entry.shard_id]):
                raise FormatError(f"tensor '{entry.key}' (bytes {entry.offset}.."
                                  f"{entry.offset + entry.size}) lies beyond the end of the "
                                  f"file ({sizes[entry.shard_id]} bytes): truncated data file",
                                  self.data_path(entry.shard_id))

    def __repr__(self) -> str:
        return f"Bundle({str(self.prefix)!r}, {len(self.entries)} entries)"

    def data_path(self, shard: int) -> Path:
        return self.prefix.parent / f"{self.prefix.name}.data-{shard:05d}-of-{self.num_shards:05d}"

    def keys(self) -> list[str]:
        return list(self.entries)

    def weight(self, key: str, name: str, trainable: bool = True) -> Weight:
        """The tensor under `key` as a lazily read Weight named `name` (bfloat16 is read
        widened to float32, so that is its dtype)."""
        entry = self.entries[key]
        if entry.dtype not in _NUMPY_DTYPES and entry.dtype != "string":
            raise UnsupportedError(f"tensor '{key}' has dtype {entry.dtype}, which no Keras "
                                   "weight has (quantized or unknown)", self.index_path)
        dtype = "float32" if entry.dtype == "bfloat16" else entry.dtype
        return Weight(name, entry.shape, dtype, functools.partial(self.read, key), trainable,
                      source=self._byte_range(entry))

    def _byte_range(self, entry: Entry) -> ByteRange | None:
        """Where a tensor's bytes lie in its data file, when they are what `read` returns
        (little-endian, one run, not sliced, not bfloat16 or strings), with their crc32c
        checked as they are copied."""
        if entry.dtype not in _NUMPY_DTYPES:
            return None
        dtype = _numpy_dtype(entry.dtype)
        if entry.slices or entry.dtype == "bfloat16" or entry.size == 0 or (
                math.prod(entry.shape) * dtype.itemsize != entry.size):
            return None
        path = self.data_path(entry.shard_id)
        return ByteRange.at(str(path), entry.offset, entry.size, dtype.str).checked(
            functools.partial(_EntryCrc, self, entry, path))

    def read(self, key: str) -> np.ndarray:
        """The tensor stored under `key`, checked against its crc32c(s). bfloat16 comes back
        widened (exactly) to float32, strings as an object array of bytes. Sliced tensors are
        assembled from their slices."""
        entry = self.entries[key]
        if not entry.readable:
            raise UnsupportedError(f"tensor '{key}' has dtype {entry.dtype}, which modelport "
                                   "does not read", self.index_path)
        if not entry.slices:
            return self._read_entry(entry)
        import numpy as np

        out = np.empty(entry.shape, dtype=object if entry.dtype == "string" else (
            np.dtype("<f4") if entry.dtype == "bfloat16" else _numpy_dtype(entry.dtype)))
        for extents, piece in self._pieces[key].items():
            lengths = tuple(length for _, length in extents)
            if piece.dtype != entry.dtype or piece.shape != lengths:
                raise FormatError(f"slice '{piece.key}' is {piece.dtype}{list(piece.shape)}, "
                                  f"not {entry.dtype}{list(lengths)}", self.index_path)
            out[tuple(slice(start, start + length) for start, length in extents)] = (
                self._read_entry(piece))
        return out

    def _read_entry(self, entry: Entry) -> np.ndarray:
        import numpy as np

        path = self.data_path(entry.shard_id)
        count = math.prod(entry.shape)
        if entry.dtype == "string":
            raw = self._read_range(path, entry, np.empty(entry.size, dtype=np.uint8))
            return self._decode_strings(raw.tobytes(), entry, count, path)
        dtype = _numpy_dtype(entry.dtype)
        if count * dtype.itemsize != entry.size:
            raise FormatError(f"tensor '{entry.key}' has {entry.size} bytes, but shape "
                              f"{entry.shape} of {entry.dtype} needs {count * dtype.itemsize}",
                              self.index_path)
        array = np.empty(count, dtype=dtype)
        self._read_range(path, entry, array)
        self.check_crc(crc32c(array), entry, path)
        if entry.dtype == "bfloat16":
            # bfloat16 is the top half of a float32: shifting the bits up is exact.
            array = (array.astype("<u4") << np.uint32(16)).view("<f4")
        return array.reshape(entry.shape)

    def _read_range(self, path: Path, entry: Entry, out: np.ndarray) -> np.ndarray:
        try:
            with open(path, "rb") as handle:
                handle.seek(entry.offset)
                got = handle.readinto(memoryview(out.view("u1")))
        except OSError as exc:
            raise FormatError(f"cannot read data shard ({exc.strerror})", path) from None
        if got != entry.size:
            raise FormatError(f"tensor '{entry.key}' is cut short: {got} of {entry.size} bytes "
                              "(truncated data file)", path)
        return out

    def check_crc(self, crc: int, entry: Entry, path: Path) -> None:
        if mask_crc32c(crc) != entry.crc32c:
            raise FormatError(f"tensor '{entry.key}' fails its crc32c check (stored "
                              f"{entry.crc32c:#010x}, computed {mask_crc32c(crc):#010x}): the "
                              "data file is corrupt", path)

    def _decode_strings(self, data: bytes, entry: Entry, count: int, path: Path) -> np.ndarray:
        # Layout: varint64 length of every element, the masked crc32c of those lengths (each
        # hashed as a little-endian uint32, or uint64 when it does not fit), then the bytes.
        # The entry checksum covers the hashed lengths, the length checksum and the bytes.
        lengths = []
        pos = 0
        try:
            for _ in range(count):
                length, pos = decode_varint(data, pos)
                lengths.append(length)
        except DecodeError:
            raise FormatError(f"string tensor '{entry.key}' has corrupt lengths", path) from None
        if any(n > len(data) for n in lengths):
            raise FormatError(f"string tensor '{entry.key}' has a string longer than its "
                              f"{len(data)} bytes: the data file is corrupt", path)
        hashed = b"".join(n.to_bytes(4 if n <= 0xFFFFFFFF else 8, "little") for n in lengths)
        crc = crc32c(hashed)
        if pos + 4 + sum(lengths) != len(data):
            raise FormatError(f"string tensor '{entry.key}' has lengths that do not add up to "
                              f"its {len(data)} bytes: the data file is corrupt", path)
        length_crc = data[pos:pos + 4]
        if int.from_bytes(length_crc, "little") != mask_crc32c(crc):
            raise FormatError(f"string tensor '{entry.key}' fails the crc32c check of its "
                              "lengths: the data file is corrupt", path)
        pos += 4
        crc = crc32c_extend(crc32c_extend(crc, length_crc), data[pos:])
        self.check_crc(crc, entry, path)
        import numpy as np

        out = np.empty(count, dtype=object)
        for i, length in enumerate(lengths):
            out[i] = data[pos:pos + length]
            pos += length
        return out.reshape(entry.shape)
