"""A minimal protocol-buffer wire-format decoder, so TensorFlow's protos (checkpoint bundles,
object graphs, SavedModels) can be read without the protobuf package or TensorFlow.

It knows nothing about schemas: callers name fields by number and choose how to read them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

VARINT = 0
FIXED64 = 1
BYTES = 2
FIXED32 = 5

Value = int | bytes


class DecodeError(ValueError):
    """The bytes are not a well-formed protocol-buffer message."""


def decode_varint(data: bytes | memoryview, pos: int = 0) -> tuple[int, int]:
    """The unsigned varint at `pos` and the position after it. Negative int32/int64 values
    arrive as 10-byte varints of their two's complement; see `as_int64` / `as_int32`."""
    result = 0
    shift = 0
    end = len(data)
    while True:
        if pos >= end:
            raise DecodeError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise DecodeError("varint longer than 10 bytes")


def encode_varint(value: int) -> bytes:
    """The varint encoding of `value` (negative values as 64-bit two's complement)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def as_int64(value: int) -> int:
    """Reinterpret a decoded varint (or fixed64) as a signed int64."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >> 63 else value


def as_int32(value: int) -> int:
    """Reinterpret a decoded varint (or fixed32) as a signed int32: protobuf sign-extends
    negative int32s to 64 bits on the wire, so only the low 32 bits matter."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


def zigzag(value: int) -> int:
    """Decode a sint32/sint64 varint."""
    return (value >> 1) ^ -(value & 1)


def as_float(value: int) -> float:
    """A fixed32 field read as a float."""
    return struct.unpack("<f", struct.pack("<I", value))[0]


def as_double(value: int) -> float:
    """A fixed64 field read as a double."""
    return struct.unpack("<d", struct.pack("<Q", value))[0]


def iter_fields(data: bytes | memoryview) -> Iterator[tuple[int, int, Value]]:
    """(field number, wire type, value) for every field in wire order. Varints and fixed
    fields come back as unsigned ints, length-delimited fields as bytes."""
    pos = 0
    end = len(data)
    while pos < end:
        tag, pos = decode_varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise DecodeError("field number 0")
        value: Value
        if wire == VARINT:
            value, pos = decode_varint(data, pos)
        elif wire == BYTES:
            length, pos = decode_varint(data, pos)
            if pos + length > end:
                raise DecodeError(f"field {number} runs past the end of the message")
            value = bytes(data[pos:pos + length])
            pos += length
        elif wire == FIXED32:
            if pos + 4 > end:
                raise DecodeError(f"truncated fixed32 field {number}")
            value = int.from_bytes(data[pos:pos + 4], "little")
            pos += 4
        elif wire == FIXED64:
            if pos + 8 > end:
                raise DecodeError(f"truncated fixed64 field {number}")
            value = int.from_bytes(data[pos:pos + 8], "little")
            pos += 8
        else:
            # Groups (3/4) are deprecated proto2 syntax no TensorFlow proto uses.
            raise DecodeError(f"unsupported wire type {wire} in field {number}")
        yield number, wire, value


def fields(data: bytes | memoryview) -> list[tuple[int, int, Value]]:
    """All fields of a message as (field number, wire type, value); see `iter_fields`."""
    return list(iter_fields(data))


def packed_varints(data: bytes) -> list[int]:
    """The unsigned varints of a packed repeated field."""
    values = []
    pos = 0
    while pos < len(data):
        value, pos = decode_varint(data, pos)
        values.append(value)
    return values


class Message:
    """One decoded message: field number -> values in wire order. Accessors follow protobuf's
    rules: the last occurrence of a scalar wins, repeated occurrences of a message field merge
    (which for the wire format means concatenating them), absent fields read as defaults."""

    __slots__ = ("_fields",)

    def __init__(self, data: bytes | memoryview = b""):
        self._fields: dict[int, list[tuple[int, Value]]] = {}
        for number, wire, value in iter_fields(data):
            self._fields.setdefault(number, []).append((wire, value))

    def __contains__(self, number: int) -> bool:
        return number in self._fields

    def numbers(self) -> list[int]:
        """The field numbers present."""
        return list(self._fields)

    def values(self, number: int) -> list[Value]:
        """Every raw value of a field, in wire order."""
        return [value for _, value in self._fields.get(number, ())]

    def _ints(self, number: int, wire: int) -> list[int]:
        out = []
        for got, value in self._fields.get(number, ()):
            if got != wire or not isinstance(value, int):
                raise DecodeError(f"field {number} has wire type {got}, expected {wire}")
            out.append(value)
        return out

    def _blobs(self, number: int) -> list[bytes]:
        out = []
        for got, value in self._fields.get(number, ()):
            if got != BYTES or not isinstance(value, bytes):
                raise DecodeError(f"field {number} has wire type {got}, expected {BYTES}")
            out.append(value)
        return out

    def uint(self, number: int, default: int = 0) -> int:
        """A uint32/uint64/enum varint field."""
        found = self._ints(number, VARINT)
        return found[-1] if found else default

    def int64(self, number: int, default: int = 0) -> int:
        return as_int64(self.uint(number, default))

    def int32(self, number: int, default: int = 0) -> int:
        return as_int32(self.uint(number, default))

    def boolean(self, number: int, default: bool = False) -> bool:
        return self.uint(number, int(default)) != 0

    def fixed32(self, number: int, default: int = 0) -> int:
        found = self._ints(number, FIXED32)
        return found[-1] if found else default

    def fixed64(self, number: int, default: int = 0) -> int:
        found = self._ints(number, FIXED64)
        return found[-1] if found else default

    def float32(self, number: int, default: float = 0.0) -> float:
        found = self._ints(number, FIXED32)
        return as_float(found[-1]) if found else default

    def float64(self, number: int, default: float = 0.0) -> float:
        found = self._ints(number, FIXED64)
        return as_double(found[-1]) if found else default

    def blob(self, number: int, default: bytes = b"") -> bytes:
        """A bytes field."""
        found = self._blobs(number)
        return found[-1] if found else default

    def string(self, number: int, default: str = "") -> str:
        found = self._blobs(number)
        return _utf8(found[-1], number) if found else default

    def strings(self, number: int) -> list[str]:
        return [_utf8(value, number) for value in self._blobs(number)]

    def message(self, number: int) -> Message | None:
        """An embedded message field, or None when absent."""
        parts = self._blobs(number)
        return Message(b"".join(parts)) if parts else None

    def messages(self, number: int) -> list[Message]:
        """A repeated embedded message field."""
        return [Message(part) for part in self._blobs(number)]

    def repeated_uint(self, number: int) -> list[int]:
        """A repeated varint field, packed or not (parsers must accept both)."""
        out: list[int] = []
        for wire, value in self._fields.get(number, ()):
            if isinstance(value, bytes):
                out.extend(packed_varints(value))
            elif wire == VARINT:
                out.append(value)
            else:
                raise DecodeError(f"field {number} has wire type {wire}, expected a varint")
        return out

    def repeated_int64(self, number: int) -> list[int]:
        return [as_int64(v) for v in self.repeated_uint(number)]

    def repeated_fixed(self, number: int, size: int) -> list[int]:
        """A repeated fixed32 (size 4) or fixed64 (size 8) field, packed or not."""
        wire = FIXED32 if size == 4 else FIXED64
        out: list[int] = []
        for got, value in self._fields.get(number, ()):
            if isinstance(value, bytes):
                if len(value) % size:
                    raise DecodeError(f"packed field {number} is not a multiple of {size} bytes")
                out.extend(int.from_bytes(value[i:i + size], "little")
                           for i in range(0, len(value), size))
            elif got == wire:
                out.append(value)
            else:
                raise DecodeError(f"field {number} has wire type {got}, expected {wire}")
        return out


def _utf8(value: bytes, number: int) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"field {number} is not valid UTF-8") from exc
