"""Structure-aware mutators: JSON, HDF5 (through h5py), zip, protobuf, LevelDB tables, checkpoint
state text, raw bytes and the file system. Each takes a random.Random and mutates one file."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"


class Context:
    """Where a case lives: `in_dir` is the input, `case_dir/canary.bin` and `outside/` are
    the files a mutation may point at from inside the input (they must never be read)."""

    def __init__(self, case_dir: Path, in_dir: Path):
        self.case_dir = case_dir
        self.in_dir = in_dir
        self.canary = case_dir / "canary.bin"
        self.outside = case_dir / "outside"

    def outside_copy(self, path: Path) -> Path:
        """A copy of the input file `path` outside the input folder (so that a reader that
        follows a path out of its folder succeeds, and the harness sees the escape)."""
        rel = path.relative_to(self.in_dir)
        target = self.outside / rel
        if not target.exists() and path.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        return target

    def escape_paths(self, path: Path, rng: random.Random) -> str:
        """A path, as written in file `path`, that leaves the input folder."""
        here = path.parent
        choice = rng.randrange(5)
        if choice == 0:
            return os.path.relpath(self.canary, here)
        if choice == 1:
            return str(self.canary)
        if choice == 2:
            return os.path.relpath(self.outside_copy(path), here)
        if choice == 3:
            return str(self.outside_copy(path))
        return "../" * rng.randint(1, 12) + "canary.bin"


# ---------------------------------------------------------------------------------------------
# JSON


def _json_nodes(value: Any, path: tuple = ()) -> list[tuple]:
    nodes = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            nodes.extend(_json_nodes(child, path + (key,)))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            nodes.extend(_json_nodes(child, path + (i,)))
    return nodes


def _get(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _set(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


HUGE_NUMBERS = [2**31, 2**32 + 1, 2**63, 2**64, -1, -2**31, 10**12, 1e308, -1e308, 0.5, 1.5,
                float("nan"), float("inf"), float("-inf"), -0.0, 0, 10**100]
LONG_STRINGS = ["A" * 1_000_000, "\ud800", "a\x00b", "", " ", "../" * 50, "\u202e", "%s%n"]
DEEP_TOKEN = "@@DEEP@@"


def _swap_value(rng: random.Random, value: Any, doc: Any) -> Any:
    """A value of another JSON type (or the same type, out of range)."""
    kinds = [None, True, False, 0, -1, 1.5, "x", [], {}, [value], {"a": value}, str(value)[:50],
             rng.choice(HUGE_NUMBERS), rng.choice(LONG_STRINGS)]
    nodes = _json_nodes(doc)
    other = _get(doc, rng.choice(nodes))  # a value from elsewhere in the same document
    kinds.append(json.loads(json.dumps(other)) if other is not doc else None)
    return rng.choice(kinds)


def _is_pathish(value: Any) -> bool:
    return isinstance(value, str) and (value.endswith((".bin", ".h5", ".index", ".json"))
                                       or "shard" in value or "/" in value)


def mutate_json_doc(rng: random.Random, doc: Any, file: Path | None, ctx: Context | None
                    ) -> tuple[Any, str]:
    """Mutate a parsed JSON document; returns the new document and what was done."""
    nodes = _json_nodes(doc)
    paths = [p for p in nodes if _is_pathish(_get(doc, p))]
    dicts = [p for p in nodes if isinstance(_get(doc, p), dict) and _get(doc, p)]
    lists = [p for p in nodes if isinstance(_get(doc, p), list) and _get(doc, p)]
    numbers = [p for p in nodes if isinstance(_get(doc, p), int | float)
               and not isinstance(_get(doc, p), bool)]
    kind = rng.choice(["swap", "swap", "number", "deep", "string", "duplicate", "path", "path",
                       "drop", "add", "list"])
    if kind == "path" and paths and ctx is not None and file is not None:
        target = rng.choice(paths)
        return _set(doc, target, ctx.escape_paths(file, rng)), f"json-path {list(target)}"
    if kind == "number" and numbers:
        target = rng.choice(numbers)
        return _set(doc, target, rng.choice(HUGE_NUMBERS)), f"json-number {list(target)}"
    if kind == "deep":
        target = rng.choice(nodes)
        return _set(doc, target, DEEP_TOKEN), f"json-deep {list(target)}"
    if kind == "string":
        target = rng.choice(nodes)
        return _set(doc, target, rng.choice(LONG_STRINGS)), f"json-string {list(target)}"
    if kind == "duplicate" and (dicts or lists):
        named = [p for p in dicts if "name" in _get(doc, p)]
        if named and rng.random() < 0.5:
            a, b = rng.choice(named), rng.choice(named)
            _get(doc, a)["name"] = _get(doc, b)["name"]
            return doc, f"json-duplicate-name {list(a)}"
        if lists:
            target = rng.choice(lists)
            items = _get(doc, target)
            items.insert(rng.randrange(len(items) + 1), json.loads(json.dumps(rng.choice(items))))
            return doc, f"json-duplicate-item {list(target)}"
    if kind == "drop" and dicts:
        target = rng.choice(dicts)
        key = rng.choice(list(_get(doc, target)))
        del _get(doc, target)[key]
        return doc, f"json-drop {list(target) + [key]}"
    if kind == "add" and dicts:
        target = rng.choice(dicts)
        _get(doc, target)[rng.choice(["name", "class_name", "config", "dtype", "shape", "x",
                                      "paths", "weights", "__proto__"])] = _swap_value(rng, 1, doc)
        return doc, f"json-add {list(target)}"
    if kind == "list" and lists:
        target = rng.choice(lists)
        items = _get(doc, target)
        if rng.random() < 0.5:
            del items[rng.randrange(len(items))]
        else:
            items.reverse()
        return doc, f"json-list {list(target)}"
    target = rng.choice(nodes)
    return _set(doc, target, _swap_value(rng, _get(doc, target), doc)), f"json-swap {list(target)}"


def dump_json(doc: Any) -> str:
    text = json.dumps(doc)
    if DEEP_TOKEN in text:
        depth = 100_000
        text = text.replace(json.dumps(DEEP_TOKEN), "[" * depth + "]" * depth, 1)
    return text


def mutate_json_file(rng: random.Random, path: Path, ctx: Context) -> str:
    try:
        doc = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError, RecursionError):  # a step before broke it
        return mutate_raw(rng, path, ctx)
    if rng.random() < 0.08:  # duplicate keys cannot live in a dict: write them as text
        text = path.read_text()
        at = text.find("{")
        if at >= 0:
            path.write_text(text[:at + 1] + '"name": "dup", "name": 0, ' + text[at + 1:])
            return "json-duplicate-key"
    doc, what = mutate_json_doc(rng, doc, path, ctx)
    path.write_text(dump_json(doc))
    return what


# ---------------------------------------------------------------------------------------------
# HDF5


def _h5_objects(f) -> tuple[list[str], list[str]]:
    import h5py

    groups, datasets = ["/"], []

    def visit(name, obj):
        (datasets if isinstance(obj, h5py.Dataset) else groups).append("/" + name)

    f.visititems(visit)
    return groups, datasets


def _attr_value(rng: random.Random, old: Any) -> Any:
    import numpy as np

    choices = [np.int64(7), np.float64("nan"), b"\xff\xfe", "x", np.array([], dtype="S1"),
               np.array([b"a", b"a"]), np.array([1, 2, 3]), np.zeros((3, 3)), "[]", "{}", "null",
               "\ud800".encode("utf-8", "surrogatepass"), np.array([-1], dtype=np.int64),
               np.array([2**40], dtype=np.int64)]
    text = old.decode("utf-8", "replace") if isinstance(old, bytes) else old
    if isinstance(text, str):
        try:
            doc = json.loads(text)
            choices.append(dump_json(mutate_json_doc(rng, doc, None, None)[0]))
            choices.append(dump_json(mutate_json_doc(rng, doc, None, None)[0]))
        except ValueError:
            pass
    if isinstance(old, np.ndarray) and old.size:
        items = list(old)
        rng.shuffle(items)
        choices += [np.array(items[:-1]) if len(items) > 1 else np.array([], dtype=old.dtype),
                    np.array(items + [items[0]]), np.array(items + [b"nope/x:0"])]
    return rng.choice(choices)


def mutate_hdf5(rng: random.Random, path: Path, ctx: Context) -> str:
    import h5py
    import numpy as np

    kind = rng.choice(["attr", "attr", "attr", "delattr", "external", "soft", "group-for-dataset",
                       "dataset-for-group", "huge-shape", "dtype", "shape", "truncate", "delete"])
    if kind == "truncate":
        size = path.stat().st_size
        with open(path, "r+b") as fh:
            fh.truncate(rng.randrange(max(size, 1)))
        return "h5-truncate"
    external_target = ctx.outside_copy(path) if kind == "external" else None
    try:
        f = h5py.File(path, "r+")
    except Exception:
        return mutate_raw(rng, path, ctx)
    with f:
        groups, datasets = _h5_objects(f)
        if kind in ("attr", "delattr"):
            owners = [n for n in groups + datasets if len(f[n].attrs)]
            if owners:
                owner = rng.choice(owners)
                name = rng.choice(sorted(f[owner].attrs))
                if kind == "delattr":
                    del f[owner].attrs[name]
                    return f"h5-delattr {owner}@{name}"
                value = _attr_value(rng, f[owner].attrs[name])
                del f[owner].attrs[name]
                try:
                    f[owner].attrs[name] = value
                except (TypeError, ValueError):
                    f[owner].attrs[name] = np.float64(1.5)
                return f"h5-attr {owner}@{name}"
        objects = [n for n in groups + datasets if n != "/"]
        if not objects:
            return "h5-nothing"
        target = rng.choice(objects)
        if kind == "external":
            del f[target]
            f[target] = h5py.ExternalLink(str(external_target) if rng.random() < 0.5 else
                                          os.path.relpath(external_target, path.parent), target)
            return f"h5-external-link {target}"
        if kind == "soft":
            dest = rng.choice([target, "/", "/nowhere", rng.choice(objects),
                               target.rsplit("/", 1)[0] or "/"])
            del f[target]
            f[target] = h5py.SoftLink(dest)
            return f"h5-soft-link {target}->{dest}"
        if kind == "delete":
            del f[target]
            return f"h5-delete {target}"
        if kind == "group-for-dataset" and datasets:
            target = rng.choice(datasets)
            del f[target]
            f.create_group(target)
            return f"h5-group-for-dataset {target}"
        if kind == "dataset-for-group" and len(groups) > 1:
            target = rng.choice(groups[1:])
            del f[target]
            f.create_dataset(target, data=np.zeros(3, np.float32))
            return f"h5-dataset-for-group {target}"
        if datasets:
            target = rng.choice(datasets)
            ds = f[target]
            attrs = dict(ds.attrs)
            data = ds[()]
            del f[target]
            if kind == "huge-shape":
                shape = rng.choice([(2**31,), (2**20, 2**20), (2**33, 4), (1, 2**40), (0,)])
                chunks = tuple(min(s, 64) for s in shape) if all(shape) else None
                f.create_dataset(target, shape=shape, dtype=np.float32, chunks=chunks)
                what = f"h5-huge-shape {target} {shape}"
            elif kind == "dtype":
                new = rng.choice(["f2", "f8", "i8", "u1", "?", "S4", "c8", "compound", "vlen"])
                if new == "compound":
                    arr = np.zeros(np.shape(data), dtype=[("a", "f4"), ("b", "i4")])
                elif new == "vlen":
                    arr = np.array(["x"] * max(np.size(data), 1), dtype=h5py.string_dtype())
                else:
                    arr = np.asarray(data).astype(new)
                f.create_dataset(target, data=arr)
                what = f"h5-dtype {target} {new}"
            else:
                arr = np.asarray(data)
                shapes = [(), (0,), arr.shape[::-1], arr.shape + (1,), (arr.size + 1,),
                          (1,) * 40 if arr.size == 1 else arr.shape[:-1]]
                shape = rng.choice(shapes)
                f.create_dataset(target, data=np.resize(arr, shape) if shape else arr.flat[0]
                                 if arr.size else 0.0)
                what = f"h5-shape {target} {shape}"
            for key, value in attrs.items():
                f[target].attrs[key] = value
            return what
    return "h5-nothing"


# ---------------------------------------------------------------------------------------------
# zip (.keras)


def _zip_members(data: bytes) -> list[dict]:
    import zipfile

    members = []
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for info in z.infolist():
            members.append({"name": info.filename, "data": z.read(info)})
    return members


_BOMB: dict[int, bytes] = {}


def bomb_stream(size: int = 1 << 30) -> bytes:
    """Raw deflate of `size` zero bytes (about 1 MB for 1 GB), computed once per process."""
    if size not in _BOMB:
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        chunk = bytes(1 << 20)
        parts = [comp.compress(chunk) for _ in range(size >> 20)]
        parts.append(comp.flush())
        _BOMB[size] = b"".join(parts)
    return _BOMB[size]


def write_zip(members: list[dict]) -> bytes:
    """A zip written field by field, so that sizes, methods and flags can lie."""
    out = io.BytesIO()
    central = []
    for m in members:
        name = m["name"].encode("utf-8", "surrogatepass")
        data = m["data"]
        method = m.get("method", 8)
        if "raw" in m:
            payload = m["raw"]
        elif method == 8:
            comp = zlib.compressobj(6, zlib.DEFLATED, -15)
            payload = comp.compress(data) + comp.flush()
        else:
            payload = data
        crc = m.get("crc", zlib.crc32(data))
        csize = m.get("csize", len(payload))
        usize = m.get("usize", len(data))
        flags = m.get("flags", 0x800)
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, m.get("lmethod", method), 0,
                              0x21, crc, csize & 0xFFFFFFFF, usize & 0xFFFFFFFF, len(name), 0))
        out.write(name)
        out.write(payload)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, method, 0,
                                   0x21, crc, csize & 0xFFFFFFFF, usize & 0xFFFFFFFF, len(name),
                                   0, 0, 0, 0, 0, offset) + name)
    start = out.tell()
    for entry in central:
        out.write(entry)
    size = out.tell() - start
    count = len(central) & 0xFFFF
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, size, start, 0))
    return out.getvalue()


def mutate_zip(rng: random.Random, path: Path, ctx: Context) -> str:
    data = path.read_bytes()
    try:
        members = _zip_members(data)
    except Exception:
        return mutate_raw(rng, path, ctx)
    if not members:
        return mutate_raw(rng, path, ctx)
    kind = rng.choice(["slip", "slip", "absolute", "many", "lying-size", "method", "encrypted",
                       "truncate", "bomb", "declared-bomb", "inner", "inner", "inner", "drop",
                       "duplicate", "crc"])
    victim = rng.choice(members)
    what = f"zip-{kind} {victim['name']}"
    if kind == "slip":
        prefix = rng.choice(["../", "../../../../../../../../", "assets/../../", "..\\"])
        if rng.random() < 0.5:
            victim["name"] = prefix + victim["name"]
        else:
            members.append({"name": prefix + "outside/slip_payload", "data": b"payload"})
    elif kind == "absolute":
        members.append({"name": str(ctx.outside / "abs_payload"), "data": b"payload"})
        if rng.random() < 0.5:
            victim["name"] = "/" + victim["name"]
    elif kind == "many":
        members += [{"name": f"assets/m{i}", "data": b"", "method": 0} for i in range(5000)]
    elif kind == "lying-size":
        victim[rng.choice(["usize", "csize"])] = rng.choice([0, 1, 2**31, 2**32 - 1,
                                                             len(victim["data"]) // 2])
    elif kind == "method":
        victim["method"] = rng.choice([1, 6, 9, 12, 14, 93, 99, 0xFFFF])
        victim["raw"] = zlib.compress(victim["data"])[2:-4]
    elif kind == "encrypted":
        victim["flags"] = 0x801
    elif kind == "crc":
        victim["crc"] = zlib.crc32(victim["data"]) ^ 1
    elif kind == "bomb":
        victim["raw"] = bomb_stream()
        victim["data"] = b""
        victim["usize"], victim["crc"] = 1 << 30, 0
    elif kind == "declared-bomb":
        victim["usize"] = 10 * (1 << 30)
    elif kind == "drop":
        members.remove(victim)
    elif kind == "duplicate":
        members.append(dict(victim))
    elif kind == "inner":
        scratch = ctx.case_dir / "tmp" / ("inner-" + Path(victim["name"]).name)
        scratch.parent.mkdir(parents=True, exist_ok=True)
        scratch.write_bytes(victim["data"])
        what = "zip-inner " + victim["name"] + ": " + mutate_file(rng, scratch, ctx, inner=True)
        victim["data"] = scratch.read_bytes()
        scratch.unlink()
    rebuilt = write_zip(members)
    if kind == "truncate":
        rebuilt = rebuilt[:rng.randrange(len(rebuilt))]
    path.write_bytes(rebuilt)
    return what


# ---------------------------------------------------------------------------------------------
# protobuf


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("bad varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def parse_fields(data: bytes) -> list[list] | None:
    """[field, wire type, value] triples, or None when `data` is not a clean message."""
    fields, pos = [], 0
    try:
        while pos < len(data):
            key, pos = read_varint(data, pos)
            field, wire = key >> 3, key & 7
            if field == 0:
                return None
            if wire == 0:
                value, pos = read_varint(data, pos)
            elif wire == 1:
                value, pos = data[pos:pos + 8], pos + 8
            elif wire == 5:
                value, pos = data[pos:pos + 4], pos + 4
            elif wire == 2:
                n, pos = read_varint(data, pos)
                if pos + n > len(data):
                    return None
                value, pos = data[pos:pos + n], pos + n
            else:
                return None
            fields.append([field, wire, value])
    except ValueError:
        return None
    return fields if pos == len(data) else None


def write_fields(fields: list[list]) -> bytes:
    out = bytearray()
    for field, wire, value in fields:
        out += varint(field << 3 | wire)
        if wire == 0:
            out += varint(value)
        elif wire == 2:
            out += varint(len(value)) + value
        else:
            out += value
    return bytes(out)


def mutate_protobuf(rng: random.Random, data: bytes, depth: int = 0) -> tuple[bytes, str]:
    fields = parse_fields(data)
    if not fields:
        return _raw_bytes(rng, data), "pb-raw"
    index = rng.randrange(len(fields))
    field, wire, value = fields[index]
    if wire == 2 and depth < 12 and rng.random() < 0.7:
        inner = parse_fields(value)
        if inner:
            new, what = mutate_protobuf(rng, value, depth + 1)
            fields[index][2] = new
            return write_fields(fields), f"{field}.{what}"
    kind = rng.choice(["varint", "length", "wire", "duplicate", "delete", "garbage", "nest"])
    if kind == "varint" and wire == 0:
        fields[index][2] = rng.choice([2**63, 2**64 - 1, 2**31, 2**32, 0, 1, 10**12, 19, 2**62])
        return write_fields(fields), f"pb-varint {field}"
    if kind == "length" and wire == 2:
        head = write_fields(fields[:index])
        tail = write_fields(fields[index + 1:])
        lie = rng.choice([len(value) + 1, len(value) * 1000 + 7, 2**31, 2**63, 0,
                          max(len(value) - 1, 0)])
        return head + varint(field << 3 | 2) + varint(lie) + value + tail, f"pb-length {field}"
    if kind == "wire":
        fields[index][1] = rng.choice([w for w in (0, 1, 2, 5) if w != wire])
        if fields[index][1] == 0:
            fields[index][2] = 1
        elif fields[index][1] == 1:
            fields[index][2] = bytes(8)
        elif fields[index][1] == 5:
            fields[index][2] = bytes(4)
        else:
            fields[index][2] = b"\x08\x01"
        return write_fields(fields), f"pb-wire {field}"
    if kind == "duplicate":
        fields.insert(index, list(fields[index]))
        return write_fields(fields), f"pb-duplicate {field}"
    if kind == "delete":
        del fields[index]
        return write_fields(fields), f"pb-delete {field}"
    if kind == "nest" and wire == 2:
        nested = value
        for _ in range(rng.choice([100, 3000])):
            nested = varint(field << 3 | 2) + varint(len(nested)) + nested
        fields[index][2] = nested
        return write_fields(fields), f"pb-nest {field}"
    if wire == 2:
        fields[index][2] = _raw_bytes(rng, value) if value else b"\xff" * 5
    return write_fields(fields), f"pb-garbage {field}"


def mutate_pb_file(rng: random.Random, path: Path, ctx: Context) -> str:
    data, what = mutate_protobuf(rng, path.read_bytes())
    path.write_bytes(data)
    return what


# ---------------------------------------------------------------------------------------------
# LevelDB table (TF checkpoint .index)

TABLE_MAGIC = 0xDB4775248B80FB57


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 - 4 * restarts
    entries, pos, last = [], 0, b""
    while pos < end:
        shared, pos = read_varint(block, pos)
        unshared, pos = read_varint(block, pos)
        vlen, pos = read_varint(block, pos)
        key = last[:shared] + block[pos:pos + unshared]
        pos += unshared
        entries.append((key, block[pos:pos + vlen]))
        pos += vlen
        last = key
    return entries


def read_table(data: bytes) -> list[tuple[bytes, bytes]]:
    footer = data[-48:]
    _meta_off, p = read_varint(footer, 0)
    _meta_size, p = read_varint(footer, p)
    index_off, p = read_varint(footer, p)
    index_size, p = read_varint(footer, p)
    entries = []
    for _key, handle in _block_entries(data[index_off:index_off + index_size]):
        off, q = read_varint(handle, 0)
        size, _ = read_varint(handle, q)
        entries += _block_entries(data[off:off + size])
    return entries


def _block(entries: list[tuple[bytes, bytes]]) -> bytes:
    out = bytearray()
    restarts = []
    for key, value in entries:
        restarts.append(len(out))
        out += varint(0) + varint(len(key)) + varint(len(value)) + key + value
    for r in restarts or [0]:
        out += struct.pack("<I", r)
    out += struct.pack("<I", len(restarts or [0]))
    return bytes(out)


def write_table(entries: list[tuple[bytes, bytes]], lie: dict | None = None) -> bytes:
    from modelport.formats.tensor_bundle import masked_crc32c

    lie = lie or {}
    out = bytearray()

    def put(block: bytes) -> tuple[int, int]:
        offset = len(out)
        kind = lie.get("compression", 0)
        trailer = bytes([kind])
        crc = masked_crc32c(block + trailer) ^ lie.get("crc", 0)
        out.extend(block + trailer + struct.pack("<I", crc))
        return offset, len(block)

    data_off, data_size = put(_block(entries))
    meta_off, meta_size = put(_block([]))
    last_key = entries[-1][0] if entries else b""
    handle = varint(lie.get("data_off", data_off)) + varint(lie.get("data_size", data_size))
    index_off, index_size = put(_block([(last_key + b"\xff", handle)]))
    footer = varint(meta_off) + varint(meta_size) + varint(index_off) + varint(
        lie.get("index_size", index_size))
    footer += bytes(40 - len(footer)) + struct.pack("<Q", lie.get("magic", TABLE_MAGIC))
    return bytes(out + footer)


def mutate_table(rng: random.Random, path: Path, ctx: Context) -> str:
    data = path.read_bytes()
    try:
        entries = read_table(data)
    except Exception:
        return mutate_raw(rng, path, ctx)
    kind = rng.choice(["value", "value", "value", "key", "drop", "duplicate", "handle",
                       "compression", "crc", "magic", "restarts"])
    lie: dict = {}
    what = f"table-{kind}"
    if kind == "value" and entries:
        i = rng.randrange(len(entries))
        key, value = entries[i]
        new, inner = mutate_protobuf(rng, value)
        entries[i] = (key, new)
        what += f" {key[:40]!r} {inner}"
    elif kind == "key" and entries:
        i = rng.randrange(len(entries))
        key, value = entries[i]
        entries[i] = (rng.choice([b"", key + b"\x00", key[:1], b"\xff" * 300, b"../x"]), value)
    elif kind == "drop" and entries:
        del entries[rng.randrange(len(entries))]
    elif kind == "duplicate" and entries:
        i = rng.randrange(len(entries))
        entries.insert(i, entries[i])
    elif kind == "handle":
        lie[rng.choice(["data_off", "data_size", "index_size"])] = rng.choice(
            [2**40, 2**63, len(data) * 2, 0, 1])
    elif kind == "compression":
        lie["compression"] = rng.choice([1, 2, 7, 255])
    elif kind == "crc":
        lie["crc"] = 1
    elif kind == "magic":
        lie["magic"] = TABLE_MAGIC ^ 1
    rebuilt = write_table(entries, lie)
    if kind == "restarts":
        # num_restarts of the data block set huge: offsets would point far before the block.
        block_size = read_varint(rebuilt[-48:], read_varint(rebuilt[-48:], 0)[1])[0]
        rebuilt = bytearray(rebuilt)
        struct.pack_into("<I", rebuilt, max(block_size - 4, 0), 2**31)
        rebuilt = bytes(rebuilt)
    path.write_bytes(rebuilt)
    return what


# ---------------------------------------------------------------------------------------------
# checkpoint state text, raw bytes, file system


def mutate_state_text(rng: random.Random, path: Path, ctx: Context) -> str:
    text = path.read_text(errors="replace")
    prefix = rng.choice([
        os.path.relpath(ctx.outside_copy(path).parent / "ckpt", path.parent),
        str(ctx.outside_copy(path).parent / "ckpt"), str(ctx.canary), "../canary.bin",
        "../" * 10 + "etc/ckpt", "", "A" * 100_000, "ckpt\x00x", "\"", "/"])
    # the outside copy of the whole checkpoint, so that following the path succeeds
    for sibling in path.parent.iterdir():
        if sibling.is_file():
            ctx.outside_copy(sibling)
    lines = [f'model_checkpoint_path: "{prefix}"', f'all_model_checkpoint_paths: "{prefix}"']
    if rng.random() < 0.3:
        lines = [text.replace("ckpt", prefix, 1)]
    path.write_text("\n".join(lines) + "\n")
    return "text-state-path"


def _raw_bytes(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    kind = rng.choice(["flip", "flip", "set", "insert", "delete", "truncate", "repeat"])
    if not buf:
        return bytes(rng.randrange(256) for _ in range(8))
    at = rng.randrange(len(buf))
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif kind == "set":
        value = rng.choice([0, 0xFF, 0x7F, 0x80])
        for i in range(at, min(at + rng.randint(1, 16), len(buf))):
            buf[i] = value
    elif kind == "insert":
        buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    elif kind == "delete":
        del buf[at:at + rng.randint(1, 64)]
    elif kind == "truncate":
        del buf[at:]
    else:
        chunk = buf[at:at + rng.randint(1, 256)]
        buf[at:at] = chunk * rng.randint(2, 50)
    return bytes(buf)


def mutate_raw(rng: random.Random, path: Path, ctx: Context) -> str:
    path.write_bytes(_raw_bytes(rng, path.read_bytes()))
    return "raw"


def mutate_fs(rng: random.Random, path: Path, ctx: Context) -> str:
    kind = rng.choice(["symlink-outside", "symlink-outside", "fifo", "directory", "delete",
                       "symlink-loop", "symlink-dev-zero", "symlink-relative-outside"])
    outside = ctx.outside_copy(path)
    path.unlink()
    if kind == "symlink-outside":
        path.symlink_to(outside)
    elif kind == "symlink-relative-outside":
        path.symlink_to(os.path.relpath(outside, path.parent))
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "symlink-loop":
        path.symlink_to(path.name)
    elif kind == "symlink-dev-zero":
        path.symlink_to("/dev/zero")
    return f"fs-{kind}"


def file_kind(path: Path) -> str:
    name = path.name
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head == HDF5_MAGIC:
        return "hdf5"
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if name.endswith(".json"):
        return "json"
    if name.endswith(".index"):
        return "table"
    if name.endswith(".pb"):
        return "protobuf"
    if name == "checkpoint":
        return "state"
    return "raw"


MUTATORS: dict[str, Callable[[random.Random, Path, Context], str]] = {
    "hdf5": mutate_hdf5, "zip": mutate_zip, "json": mutate_json_file, "table": mutate_table,
    "protobuf": mutate_pb_file, "state": mutate_state_text, "raw": mutate_raw,
}


def mutate_file(rng: random.Random, path: Path, ctx: Context, inner: bool = False) -> str:
    """One structure-aware mutation of `path` (sometimes a raw one, whatever the kind)."""
    kind = file_kind(path)
    if not inner and rng.random() < 0.08:
        return f"{path.relative_to(ctx.in_dir)}: " + mutate_fs(rng, path, ctx)
    if rng.random() < 0.12:
        kind = "raw"
    what = MUTATORS[kind](rng, path, ctx)
    return what if inner else f"{path.relative_to(ctx.in_dir)}: {what}"


def mutation_targets(in_dir: Path) -> list[Path]:
    """The regular files of an input, in a stable order."""
    return sorted(p for p in in_dir.rglob("*") if p.is_file() and not p.is_symlink())


def mutate(rng: random.Random, ctx: Context, entry: Path) -> str:
    """One mutation step on the input folder: the entry file is picked more often, since
    every reader starts there."""
    targets = mutation_targets(ctx.in_dir)
    if not targets:
        return "nothing"
    weights = [4 if t == entry else 1 for t in targets]
    target = rng.choices(targets, weights)[0]
    return mutate_file(rng, target, ctx)
