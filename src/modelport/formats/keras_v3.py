"""Keras 3 native files: `.keras` archives (config.json, metadata.json, model.weights.h5,
assets/) and weights alone (`.weights.h5`, sharded `.weights.json` + shards), as Keras 3 and
tf_keras write them. Weight paths come from the layout table (keras_config.layouts)."""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from modelport.errors import FormatError, UnsupportedError
from modelport.fileio import atomic_file, atomic_files, inside, regular_file
from modelport.formats.common import read_json
from modelport.formats.hdf5 import damage_refused, open_inside
from modelport.formats.keras_h5 import DatasetFills, dataset_weight, write_dataset
from modelport.formats.record import Format, Probe, WriteResult
from modelport.keras_config.dialects import to_canonical
from modelport.keras_config.entries import MODEL_CLASSES, layer_name
from modelport.keras_config.graph import container_paths
from modelport.keras_config.keras3 import KERAS3_VERSION, to_keras3
from modelport.keras_config.layouts import layer_slots
from modelport.keras_config.names import keras3_layer_names
from modelport.keras_config.object_paths import grouped_in_layer_order
from modelport.keras_config.targets import check_dialect_semantics, custom_layer_warnings
from modelport.model import ByteRange, Metadata, Model, Weight

if TYPE_CHECKING:  # h5py and zipfile (with shutil, bz2, lzma) are imported where a file is
    import zipfile  # opened: start-up does not pay for them

    import h5py

NAME = "keras_v3"
WEIGHTS_NAME = "keras_v3_weights"
WEIGHTS_MEMBER = "model.weights.h5"
_VARS = re.compile(r"^(?:(.*)/)?vars/(\d+)$")


# ----------------------------------------------------------------------------------- detection

def detect(probe: Probe) -> bool:
    """A zip archive with a config.json member."""
    return probe.zip_members is not None and "config.json" in probe.zip_members


def _is_sharded_map(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("weight_map"), dict)


def detect_weights(probe: Probe) -> bool:
    """A `.weights.h5` (an HDF5 file of Keras 3 object paths, not a legacy file) or the JSON map
    of a sharded one."""
    if probe.is_file and probe.json_path is not None:
        return _is_sharded_map(probe.json)
    keys = probe.hdf5_keys
    if keys is None:
        return False
    legacy = any(k in keys for k in ("model_config", "layer_names", "layer_names0"))
    return not legacy and ("layers" in keys or "vars" in keys
                           or "_layer_checkpoint_dependencies" in keys)


# --------------------------------------------------------------------------- the weights tree

@dataclass
class _Tree:
    """Datasets of a Keras 3 weights store (one file or several shards) by object path."""

    files: dict[str, h5py.File]
    weight_map: dict[str, list[str]] | None = None
    source: Path = field(default_factory=Path)

    def _groups(self, obj: str) -> Iterator[h5py.Group]:
        import h5py

        key = f"{obj}/vars" if obj else "vars"
        names = list(self.files) if self.weight_map is None else self.weight_map.get(
            f"/{key}", [])
        for name in names:
            group = self.files[name].get(key)
            if isinstance(group, h5py.Group):
                yield group

    def variables(self, obj: str) -> list[h5py.Dataset]:
        import h5py

        found: dict[int, h5py.Dataset] = {}
        for group in self._groups(obj):
            for key, item in group.items():
                if key.isdigit() and isinstance(item, h5py.Dataset):
                    found[int(key)] = item
        return [found[i] for i in sorted(found)]

    def objects_under(self, prefix: str) -> list[str]:
        """Object paths at or below `prefix` that hold variables, in the order Keras walks
        them (an object's own variables, then its children by attribute name)."""
        import h5py

        paths: set[str] = set()
        if self.weight_map is not None:
            for key in self.weight_map:
                obj = key.strip("/")[: -len("/vars")] if key.endswith("/vars") else None
                if obj is not None and (not prefix or obj == prefix
                                        or obj.startswith(prefix + "/")):
                    paths.add(obj)
        else:
            for f in self.files.values():
                root = f.get(prefix) if prefix else f
                if not isinstance(root, h5py.Group):
                    continue
                found: list[str] = []
                root.visit(found.append)
                candidates = ["vars", *(n for n in found if n == "vars" or n.endswith("/vars"))]
                for name in candidates:
                    group = root.get(name)
                    if isinstance(group, h5py.Group) and len(group):
                        relative = name[: -len("vars")].rstrip("/")
                        paths.add("/".join(p for p in (prefix, relative) if p))
        return sorted(paths, key=lambda p: [(part != "vars", part) for part in p.split("/")])

    def dataset(self, path: str) -> h5py.Dataset | None:
        match = _VARS.match(path)
        if not match:
            return None
        variables = {int(k): d for g in self._groups(match.group(1) or "")
                     for k, d in g.items() if k.isdigit()}
        return variables.get(int(match.group(2)))


def _open_tree(path: Path, model: Model) -> _Tree:
    """A `.weights.h5` file or a sharded `.weights.json` map, kept open by `model`."""

    data = read_json(path) if path.name.lower().endswith(".json") else None
    if _is_sharded_map(data):
        weight_map = {k: v if isinstance(v, list) else [v] for k, v in data["weight_map"].items()}
        if not all(isinstance(n, str) for names in weight_map.values() for n in names):
            raise FormatError("the weight map's values are not shard file names", path)
        files = {}
        for name in sorted({n for names in weight_map.values() for n in names}):
            shard = inside(path.parent, name, path)
            if not regular_file(shard):
                raise FormatError(f"shard '{name}' listed in the weight map is missing", path)
            files[name] = model.keep_open(open_inside(shard))
        return _Tree(files, weight_map, path)
    return _Tree({path.name: model.keep_open(open_inside(path))}, None, path)


# ------------------------------------------------------------------------------------ reading

def _file_order_weights(tree: _Tree, layer: str, path: str) -> list[Weight]:
    """Weights of a layer the table does not know, in file order, named by their path."""
    weights = []
    for obj in tree.objects_under(path):
        relative = obj[len(path):].strip("/")
        for index, dataset in enumerate(tree.variables(obj)):
            name = "/".join(p for p in (layer, relative, f"vars/{index}") if p)
            weights.append(dataset_weight(dataset, name, tree.source))
    return weights


def _layer_weights(entry: dict[str, Any], path: str, tree: _Tree, warn: Callable[[str], None]
                   ) -> list[Weight]:
    name = layer_name(entry)
    slots = layer_slots(entry)
    in_file = _file_order_weights(tree, "" if entry.get("class_name") in MODEL_CLASSES
                                  else name, path)
    if slots is None:
        return in_file
    expected = sum(len(relative.split("|")) for _, _, relative in slots)
    if expected != len(in_file):
        warn(f"layer '{name}' ({entry.get('class_name')}) has {len(in_file)} weights under "
             f"'{path}', the layout table expects {expected}: kept in file order")
        return in_file
    weights = []
    for weight_name, trainable, relatives in slots:
        relative = relatives.split("|")[0]  # the others hold the same tensor
        dataset = tree.dataset(f"{path}/{relative}") or tree.dataset(
            f"{path}/{tf_keras_spelling(relative)}")
        if dataset is None:
            raise FormatError(f"weights of layer '{name}' are not where Keras puts them: "
                              f"'{path}/{relative}' is missing", tree.source)
        weight = dataset_weight(dataset, weight_name, tree.source)
        weights.append(weight.relabelled(weight.name, trainable))
    return weights


def tf_keras_spelling(relative: str) -> str:
    """tf_keras names some sub-layers with a leading underscore (MultiHeadAttention's
    `_query_dense`) where Keras 3 has none."""
    parts = relative.split("/")
    return "/".join(p if p in ("vars", "cell", "layer", "layers", "forward_layer",
                               "backward_layer") or p.isdigit() else f"_{p}" for p in parts)


def read_tree_into(model: Model, tree: _Tree) -> None:
    """Fill `model.weights` from a Keras 3 weights tree using `model.config`'s layers."""
    assert model.config is not None
    warn = model.warnings.append
    paths = {layer_name(e): p for e, p in container_paths(model.class_name or "",
                                                          model.config.get("config", {}))}
    for entry in model.layers:
        name = layer_name(entry)
        model.weights[name] = _layer_weights(entry, paths[name], tree, warn) if (
            name in paths) else []


def _tree_weights(tree: _Tree) -> tuple[dict[str, list[Weight]], bool]:
    """Weights alone (no architecture): one group per top-level object path, in the model's
    layer order when the paths tell it, and whether they do (object_paths)."""
    named = [(f"{obj}/vars/{index}", dataset_weight(dataset, f"{obj}/vars/{index}",
                                                    tree.source))
             for obj in tree.objects_under("")
             for index, dataset in enumerate(tree.variables(obj))]
    return grouped_in_layer_order(named)


# What a .keras archive may hold before it is refused as hostile rather than read: Keras writes
# three members plus assets, deflated or stored, never encrypted, never with '..' in a name.
MAX_MEMBERS = 10_000
MAX_RATIO = 100  # a deflated member over 1 MiB this many times its compressed size: a bomb


def _damaged() -> tuple[type[BaseException], ...]:
    """What zipfile and zlib raise on a damaged archive (evaluated only when one is raised)."""
    import zipfile

    return (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError,
            ValueError, OSError)


def _safe_name(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return bool(parts) and not name.startswith(("/", "\\")) and ".." not in parts and (
        "\\" not in name) and ":" not in parts[0]


def _checked_members(archive: zipfile.ZipFile, path: Path) -> list[str]:
    """The member names, each checked before anything is extracted: count, names that would
    lead outside the archive, compression method, encryption, and size against the bytes the
    archive really holds (a zip bomb declares little and inflates to much)."""
    import zipfile

    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise FormatError(f"archive has {len(infos)} members (a .keras file has a few; over "
                          f"{MAX_MEMBERS} is refused)", path)
    for info in infos:
        if not _safe_name(info.filename):
            raise FormatError(f"member name '{info.filename}' leads outside the archive", path)
        if info.flag_bits & 0x1:
            raise UnsupportedError(f"member '{info.filename}' is encrypted", path)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise UnsupportedError(f"member '{info.filename}' uses compression method "
                                   f"{info.compress_type}; Keras writes stored or deflated "
                                   "members", path)
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise FormatError(f"member '{info.filename}' is stored but declares "
                              f"{info.file_size} bytes in {info.compress_size}", path)
        if info.file_size > (1 << 20) and info.file_size > MAX_RATIO * max(info.compress_size,
                                                                           1):
            raise FormatError(f"member '{info.filename}' inflates {info.compress_size} bytes "
                              f"to {info.file_size} (over {MAX_RATIO}x): refused as a zip "
                              "bomb", path)
    return [info.filename for info in infos]


class _MemberWindow(io.RawIOBase):
    """A stored (uncompressed) archive member read in place as a file of its own: HDF5 opens
    the weights where they lie, so their byte ranges point into the archive itself."""

    def __init__(self, path: Path, start: int, size: int):
        super().__init__()
        self.raw = open(path, "rb")  # noqa: SIM115 (closed with the window)
        self.start, self.size, self.position = start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: Any) -> int:
        wanted = max(0, min(len(buffer), self.size - self.position))
        self.raw.seek(self.start + self.position)
        got = self.raw.readinto(memoryview(buffer).cast("B")[:wanted]) or 0
        self.position += got
        return got

    def close(self) -> None:
        self.raw.close()
        super().close()


def _stored_member(archive: zipfile.ZipFile, member: str, path: Path) -> _MemberWindow | None:
    """A stored member as a window into the archive, once its CRC-32 has been checked over
    its bytes (read once through a 1 MiB buffer: nothing is extracted); None when it is
    deflated."""
    import zipfile

    info = archive.getinfo(member)
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        header = handle.read(30)
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise FormatError(f"damaged .keras archive: member '{member}' has no local "
                              "header where the directory says", path)
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        start = info.header_offset + 30 + name_length + extra_length
        handle.seek(start)
        crc, left = 0, info.file_size
        while left:
            chunk = handle.read(min(left, 1 << 20))
            if not chunk:
                raise FormatError(f"damaged .keras archive: member '{member}' is cut short",
                                  path)
            crc = zlib.crc32(chunk, crc)
            left -= len(chunk)
    if crc != info.CRC:
        raise FormatError(f"damaged .keras archive: member '{member}' fails its CRC-32 "
                          "check", path)
    return _MemberWindow(path, start, info.file_size)


def _in_archive(weight: Weight, name: str, window: _MemberWindow, path: Path) -> Weight:
    """The weight with its byte range moved from the member read in place (`name`, as HDF5
    calls that file) to the archive, where the bytes are (none when it leaves the member)."""
    source = weight.source
    if source is None or any(p != name for p, _, _ in source.pieces):
        return weight
    inside_member = all(0 <= at and at + n <= window.size for _, at, n in source.pieces)
    moved = ByteRange(tuple((str(path), window.start + at, n) for _, at, n in source.pieces),
                      source.dtype) if inside_member else None
    return Weight(weight.name, weight.shape, weight.dtype, weight.load, weight.trainable,
                  moved)


def _extract(archive: zipfile.ZipFile, member: str, model: Model) -> Path:
    """Stream one archive member to a temporary file that lives as long as the model."""
    import shutil
    import tempfile  # with shutil, imported where used: start-up stays light

    tmp = Path(model.keep_open(tempfile.TemporaryDirectory(prefix="modelport-keras-")))
    target = tmp / Path(member).name
    with archive.open(member) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return target


def read(path: Path) -> Model:
    import zipfile

    model = Model(config=None)
    try:
        # Open once and kept: assets are read from it later, and re-reading the central
        # directory of a many-member archive per asset would be quadratic.
        archive = model.keep_open(zipfile.ZipFile(path))
        members = _checked_members(archive, path)
        if "config.json" not in members:
            raise FormatError("archive has no config.json: not a .keras model", path)
        _read_archive(model, archive, members, path)
    except _damaged() as exc:
        model.close()
        raise FormatError(f"damaged .keras archive ({type(exc).__name__}: {exc})",
                          path) from None
    except BaseException:
        model.close()
        raise
    return model


def _read_archive(model: Model, archive: zipfile.ZipFile, members: list[str], path: Path
                  ) -> None:

    try:
        config = json.loads(archive.read("config.json"))
        metadata = json.loads(archive.read("metadata.json")) if (
            "metadata.json" in members) else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"config.json or metadata.json is not valid JSON ({exc})",
                          path) from None
    except RecursionError:
        raise FormatError("config.json or metadata.json is nested too deeply to be a model",
                          path) from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise FormatError("config.json is not a Keras model config", path)
    if not isinstance(metadata, dict):
        raise FormatError("metadata.json is not a JSON object", path)
    keras_version = str(metadata.get("keras_version") or "")
    model.config = to_canonical(config, model.warnings.append)
    model.metadata = Metadata(source_format=NAME, keras_version=keras_version or None)
    if config.get("compile_config"):
        model.warnings.append("the compile config of the .keras file is not carried over")
    model.assets = {m[len("assets/"):]: _member_loader(archive, m, path) for m in members
                    if m.startswith("assets/") and not m.endswith("/")}
    window = None
    if WEIGHTS_MEMBER in members:
        window = _stored_member(archive, WEIGHTS_MEMBER, path)
        if window is None:  # deflated: inflated into a temporary file
            weights = open_inside(_extract(archive, WEIGHTS_MEMBER, model), source=path)
        else:
            model.keep_open(window)
            weights = open_inside(path, fileobj=window)
        tree = _Tree({WEIGHTS_MEMBER: model.keep_open(weights)}, None, path)
    elif "model.weights.json" in members:
        raise UnsupportedError("sharded weights inside a .keras archive are not supported",
                               path)
    elif "model.weights.npz" in members:
        raise UnsupportedError("weights stored as model.weights.npz (pickled numpy objects) "
                               "are never loaded", path)
    else:
        tree = _Tree({}, None, path)
    with damage_refused(path):
        if "_layer_checkpoint_dependencies" in tree.files.get(WEIGHTS_MEMBER, {}):
            raise UnsupportedError("written by Keras 2.12-2.14, whose .keras weight paths "
                                   "modelport does not read; re-save it with tf_keras >= 2.15 "
                                   "or as .h5", path)
        read_tree_into(model, tree)
    if window is not None:
        name = tree.files[WEIGHTS_MEMBER].filename
        model.weights = {layer: [_in_archive(w, name, window, path) for w in group]
                         for layer, group in model.weights.items()}


def _member_loader(archive: zipfile.ZipFile, member: str, path: Path) -> Callable[[], bytes]:
    def load() -> bytes:
        try:
            return archive.read(member)
        except _damaged() as exc:
            raise FormatError(f"damaged .keras archive member '{member}' "
                              f"({type(exc).__name__}: {exc})", path) from None

    return load


def read_weights(path: Path) -> Model:
    model = Model(config=None)
    try:
        with damage_refused(path):
            tree = _open_tree(path, model)
            model.metadata = Metadata(source_format=WEIGHTS_NAME)
            model.weights, model.layer_order_known = _tree_weights(tree)
    except BaseException:
        model.close()
        raise
    return model


# ------------------------------------------------------------------------------------ writing

@dataclass
class _Object:
    name: str | None
    variables: dict[int, Weight] = field(default_factory=dict)


def keras3_objects(model: Model, warn: Callable[[str], None]) -> dict[str, _Object]:
    """Every object path of the Keras 3 weights tree with its variables by index."""
    objects: dict[str, _Object] = {"": _Object(model.name)}
    if model.config is None:
        for weight in model.all_weights():
            match = _VARS.match(weight.name)
            if not match:
                raise UnsupportedError(f"weight '{weight.name}' has no Keras 3 path (Keras 3 "
                                       "files place weights by object path); pass "
                                       "--architecture ARCH to place them")
            objects.setdefault(match.group(1) or "", _Object(None)).variables[
                int(match.group(2))] = weight
        return objects
    for entry, path in container_paths(model.class_name or "", model.config["config"]):
        name = layer_name(entry)
        weights = model.weights.get(name, [])
        objects.setdefault(path, _Object(name))
        for relatives, weight in zip(_relative_paths(entry, weights, warn),
                                     weights, strict=True):
            for relative in relatives.split("|"):
                match = _VARS.match(f"{path}/{relative}")
                assert match is not None
                owner = match.group(1) or ""
                parts = weight.name.split("/")
                objects.setdefault(owner, _Object(parts[-2] if len(parts) > 1 else name))
                objects[owner].variables[int(match.group(2))] = weight
    return objects


def _relative_paths(entry: dict[str, Any], weights: list[Weight], warn: Callable[[str], None]
                    ) -> list[str]:
    slots = layer_slots(entry)
    if slots is not None and len(slots) == len(weights):
        return [relative for _, _, relative in slots]
    name = layer_name(entry)
    prefix = "" if entry.get("class_name") in MODEL_CLASSES else f"{name}/"
    relative = [w.name[len(prefix):] if w.name.startswith(prefix) else w.name for w in weights]
    if all(_VARS.match(r) for r in relative):
        return relative  # read from a Keras 3 file in file order: the paths it had
    if weights:
        warn(f"layer '{name}' ({entry.get('class_name')}): weights placed in file order "
             "as vars/0, vars/1, ...")
    return [f"vars/{i}" for i in range(len(weights))]


def _write_objects(files: list[h5py.File], objects: dict[str, _Object],
                   assign: Callable[[str], int], fills: DatasetFills) -> None:
    for path, obj in objects.items():
        f = files[assign(path)]
        group = f.require_group(f"{path}/vars" if path else "vars")
        if obj.name is not None:
            group.attrs["name"] = obj.name
        for index, weight in sorted(obj.variables.items()):
            write_dataset(group, str(index), weight, fills)


def _check_target(model: Model) -> list[str]:
    """What a Keras 3 file of `model` cannot hold: refused, or said in the returned warnings."""
    warnings = []
    if model.config is not None:
        check_dialect_semantics(model, "keras3")
        warnings += custom_layer_warnings(model.config)
    if model.optimizer_weights or model.training_config:
        warnings.append("the training config and optimizer weights are not written to Keras 3 "
                        "files")
    return warnings


def write(model: Model, path: Path, overwrite: bool = False) -> WriteResult:
    """A `.keras` archive as Keras 3 writes it."""
    import h5py

    if model.config is None:
        raise UnsupportedError("a .keras file needs an architecture; this input holds weights "
                               "only", path)
    warnings = _check_target(model)
    model, renamed = keras3_layer_names(model)
    warnings += renamed
    config = to_keras3(model.config)
    objects = keras3_objects(model, warnings.append)
    version = model.metadata.keras_version or ""
    metadata = {"keras_version": version if version.startswith("3.") else KERAS3_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    with contextlib.ExitStack() as stack:
        import tempfile

        tmp_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="modelport-")))
        weights_file = tmp_dir / WEIGHTS_MEMBER
        fills = DatasetFills()
        with h5py.File(weights_file, "w") as f:
            _write_objects([f], objects, lambda _: 0, fills)
        fills.copy()
        tmp = stack.enter_context(atomic_file(path, overwrite))
        import zipfile

        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr("metadata.json", json.dumps(metadata))
            archive.writestr("config.json", json.dumps(config))
            archive.write(weights_file, WEIGHTS_MEMBER)
            for name, load in sorted(model.assets.items()):
                if not _safe_name(f"assets/{name}"):
                    raise UnsupportedError(f"asset name '{name}' would lead outside the "
                                           "archive", path)
                archive.writestr(f"assets/{name}", load())
    return WriteResult([path], warnings)


def _shard_plan(objects: dict[str, _Object], shard_size: int) -> list[list[str]]:
    """Object paths per shard: an object's variables stay together; a shard is closed once
    adding the next object would exceed `shard_size` (an object larger than that gets a
    shard of its own)."""
    shards: list[list[str]] = [[]]
    size = 0
    for path, obj in objects.items():
        nbytes = sum(w.nbytes for w in obj.variables.values())
        if shards[-1] and size + nbytes > shard_size:
            shards.append([])
            size = 0
        shards[-1].append(path)
        size += nbytes
    return shards


def write_weights(model: Model, path: Path, overwrite: bool = False,
                  shard_size: int | None = None) -> WriteResult:
    """Keras 3 `save_weights`: one `.weights.h5`, or with `shard_size` (or a `.json` path) a
    `.weights.json` map plus `<base>_00000.weights.h5` shards."""
    import h5py

    warnings = _check_target(model) if model.config is not None else []
    objects = keras3_objects(model, warnings.append)
    if shard_size is None and not path.name.endswith(".json"):
        fills = DatasetFills()
        with atomic_file(path, overwrite) as tmp:
            with h5py.File(tmp, "w") as f:
                _write_objects([f], objects, lambda _: 0, fills)
            fills.copy()
        return WriteResult([path], warnings)
    if not path.name.endswith(".json"):
        path = path.with_suffix(".json")
    base = path.name[: -len(".weights.json")] if path.name.endswith(".weights.json") else (
        path.stem)
    plan = _shard_plan({p: o for p, o in objects.items() if o.variables} or objects,
                       shard_size or 5 * 1024**3)
    names = [f"{base}_{i:05d}.weights.h5" for i in range(len(plan))]
    shard_of = {obj: i for i, paths in enumerate(plan) for obj in paths}
    with atomic_files(path.parent, [path.name, *names], overwrite) as tmp:
        fills = DatasetFills()
        with contextlib.ExitStack() as stack:
            files = [stack.enter_context(h5py.File(tmp / n, "w")) for n in names]
            _write_objects(files, {p: o for p, o in objects.items() if p in shard_of},
                           lambda p: shard_of[p], fills)
        fills.copy()
        weight_map = {f"/{p}/vars" if p else "/vars": [names[shard_of[p]]]
                      for p, o in objects.items() if p in shard_of and o.variables}
        total = float(sum(w.nbytes for o in objects.values() for w in o.variables.values()))
        (tmp / path.name).write_text(json.dumps(
            {"metadata": {"total_size": total}, "weight_map": weight_map}, indent=4),
            encoding="utf-8")
    return WriteResult([path] + [path.parent / n for n in names], warnings)


def _native_in(runtime: str, keras_version: str | None, has_config: bool) -> bool:
    """Keras 3 reads its own archives; tf_keras reads the .keras files tf_keras wrote."""
    if runtime == "keras3":
        return (keras_version or "3").startswith("3")
    return runtime == "tf_keras" and (keras_version or "").startswith("2")


FORMATS = (
    Format(NAME, "Keras 3 archive (model.save('x.keras'); also tf_keras's)", detect,
           extensions=(".keras",), read=read, write=write, weights_only=WEIGHTS_NAME,
           runtime="keras", native_in=_native_in, aliases=("keras_keras",)),
    Format(WEIGHTS_NAME, "Keras 3 weights (save_weights('x.weights.h5'), sharded "
           "x.weights.json)", detect_weights, extensions=(".weights.h5", ".weights.json"),
           read=read_weights, write=write_weights, holds="weights", keyed_by="path"),
)
