"""Keras legacy HDF5: full models (`model.save("x.h5")`) and weights-only files
(`save_weights("x.h5")`), as written by Keras 1/2 (tf.keras, tf_keras) and Keras 3."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelport.errors import FormatError, UnsupportedError
from modelport.fileio import SourceFiles, atomic_file, copy_range
from modelport.formats.common import name_layer_weights
from modelport.formats.hdf5 import checked_dataset, damage_refused, open_inside
from modelport.formats.record import HDF5_SIGNATURE, Format, Probe, WriteResult
from modelport.keras_config.cudnn import replace_cudnn_layers
from modelport.keras_config.dialects import KERAS2_VERSION, portable_keras2, to_canonical
from modelport.keras_config.entries import is_keras3_op, is_operation, layer_name
from modelport.keras_config.graph import container_paths
from modelport.keras_config.inline import inline_nested_models
from modelport.keras_config.keras3 import KERAS3_VERSION, to_keras3
from modelport.keras_config.layouts import layer_layout
from modelport.keras_config.names import keras3_layer_names, slashed_layer_names
from modelport.keras_config.targets import (
    KERAS2_ONLY_LAYERS,
    KERAS3_ONLY_LAYERS,
    check_dialect_semantics,
    custom_layer_warnings,
    hard_sigmoid_users,
    iter_layer_entries,
)
from modelport.model import ByteRange, Metadata, Model, Weight
from modelport.text import is_utf8_text

if TYPE_CHECKING:  # h5py and numpy are imported where used: start-up does not pay for them
    import h5py
    import numpy as np

NAME = "keras_h5"
WEIGHTS_NAME = "keras_weights_h5"
_ATTR_LIMIT = 64512  # HDF5 object header limit Keras splits long attributes at


def _is_hdf5(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(8) == HDF5_SIGNATURE
    except OSError:
        return False


def detect(probe: Probe) -> bool:
    """A legacy full model: the model_config attribute and the model_weights group."""
    keys = probe.hdf5_keys or frozenset()
    return "model_config" in keys and "model_weights" in keys


def detect_weights(probe: Probe) -> bool:
    """A legacy save_weights file: layer_names (split into layer_names0, ... when long)."""
    keys = probe.hdf5_keys or frozenset()
    return "layer_names" in keys or "layer_names0" in keys


def _text(value: Any) -> str:
    """An attribute as text; bytes that are not UTF-8 (or lone surrogates) are damage."""
    text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
    text.encode("utf-8")  # a UnicodeEncodeError here is a ValueError: damage_refused says so
    return text


def read_split_attr(obj: h5py.Group, name: str, source: Path | None = None) -> list[str]:
    """A list attribute of names, joined back from `name0`, `name1`, ... when Keras split it."""
    with damage_refused(source):
        if name in obj.attrs:
            return _names(obj.attrs[name], name, source)
        values: list[str] = []
        index = 0
        while f"{name}{index}" in obj.attrs:
            values.extend(_names(obj.attrs[f"{name}{index}"], name, source))
            index += 1
        return values


def _names(value: Any, attr: str, source: Path | None) -> list[str]:
    import numpy as np

    array = np.asarray(value)
    if array.ndim != 1 or not (array.dtype.kind in "SUO" or array.size == 0):
        raise FormatError(f"attribute '{attr}' is not a list of names", source)
    names = [_text(v) for v in array]
    if not all(isinstance(v, (str, bytes)) for v in array) or not all(names):
        raise FormatError(f"attribute '{attr}' is not a list of names", source)
    return names


def write_split_attr(obj: h5py.Group, name: str, values: list[str]) -> None:
    import numpy as np

    if not values:
        obj.attrs[name] = np.array([], dtype="S1")
        return
    try:
        encoded = np.array([v.encode("utf-8") for v in values])
    except UnicodeEncodeError:
        bad = next(v for v in values if not is_utf8_text(v))
        raise UnsupportedError(f"name {bad!r} is not text (lone UTF-16 surrogates): an HDF5 "
                               "file cannot hold it") from None
    if encoded.itemsize > _ATTR_LIMIT:
        longest = max(values, key=len)
        raise UnsupportedError(f"name '{longest[:40]}...' is {encoded.itemsize} bytes long: an "
                               f"HDF5 attribute holds names up to {_ATTR_LIMIT} bytes")
    if encoded.nbytes <= _ATTR_LIMIT:
        obj.attrs[name] = encoded
        return
    chunks = int(np.ceil(encoded.nbytes / _ATTR_LIMIT))
    while True:
        parts = np.array_split(encoded, chunks)
        if all(part.nbytes <= _ATTR_LIMIT for part in parts):
            break
        chunks += 1
    for index, part in enumerate(parts):
        obj.attrs[f"{name}{index}"] = part


def dataset_weight(obj: object, name: str, source: Path) -> Weight:
    """The weight a dataset holds, read when asked (a damaged read is a FormatError naming
    `source`)."""
    dataset = checked_dataset(obj, f"weight '{name}'", source)

    def read() -> np.ndarray:
        with damage_refused(source):
            return dataset[()]

    with damage_refused(source):
        bfloat16 = dataset.attrs.get("dtype") in ("bfloat16", b"bfloat16")
        if bfloat16 or dataset.dtype.kind == "V":
            if not bfloat16 or dataset.dtype.itemsize != 2:
                raise FormatError(f"weight '{name}' holds opaque {dataset.dtype.itemsize}-byte "
                                  "values that are not Keras 3's bfloat16", source)

            # Keras 3 stores bfloat16 as opaque 2-byte words: widen exactly to float32.
            def widen() -> np.ndarray:
                import numpy as np

                raw = np.asarray(read()).view("<u2").astype("<u4") << 16
                return raw.view("<f4")

            return Weight(name, tuple(dataset.shape), "float32", widen)
        string = dataset.dtype.kind in "OSU"
        return Weight(name, tuple(dataset.shape), "string" if string else dataset.dtype.name,
                      read, source=None if string else dataset_range(dataset))


def dataset_range(dataset: h5py.Dataset) -> ByteRange | None:
    """Where a dataset's bytes lie in its file, when they are one run exactly as the array
    holds them: contiguous (not chunked), unfiltered, numeric, allocated and in no external
    file; None otherwise (then the bytes are read through HDF5)."""
    if dataset.dtype.kind not in "biufc" or dataset.chunks is not None:
        return None
    plist = dataset.id.get_create_plist()
    if plist.get_nfilters() or plist.get_external_count():
        return None
    offset = dataset.id.get_offset()
    length = dataset.size * dataset.dtype.itemsize
    if offset is None or length == 0 or dataset.id.get_storage_size() != length:
        return None
    return ByteRange.at(dataset.file.filename, offset, length, dataset.dtype.str)


def _group_weights(group: object, source: Path) -> list[Weight]:
    """The weights a group lists in `weight_names`, named without tf.keras's ':0'."""
    import h5py

    if not isinstance(group, h5py.Group):
        raise FormatError(f"'{getattr(group, 'name', group)}' is not a weight group", source)
    weights = []
    for weight_name in read_split_attr(group, "weight_names", source):
        with damage_refused(source):
            present = weight_name in group
        if not present:
            raise FormatError(f"weight '{weight_name}' listed in group '{group.name}' is "
                              "missing", source)
        name = weight_name[:-2] if weight_name.endswith(":0") else weight_name
        with damage_refused(source):
            item = group[weight_name]
        weights.append(dataset_weight(item, name, source))
    return weights


def _read_weight_groups(root: h5py.Group, source: Path) -> dict[str, list[Weight]]:
    groups = {}
    for name in read_split_attr(root, "layer_names", source):
        with damage_refused(source):
            item = root.get(name)
        if item is not None:
            groups[name] = _group_weights(item, source)
    return groups


def _json_attr(f: h5py.File, key: str, source: Path) -> Any:
    if key not in f.attrs:
        return None
    try:
        return json.loads(_text(f.attrs[key]))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"attribute '{key}' is not valid JSON ({exc})", source) from None
    except RecursionError:
        raise FormatError(f"attribute '{key}' is JSON nested too deeply to be a model",
                          source) from None


def read(path: Path) -> Model:
    if not _is_hdf5(path):
        raise FormatError("not an HDF5 file", path)
    handle = open_inside(path)
    model = Model(config=None)
    model.keep_open(handle)
    try:
        with damage_refused(path):
            _read_into(model, handle, path)
    except BaseException:
        model.close()
        raise
    return model


def _read_into(model: Model, f: h5py.File, source: Path) -> None:
    keras_version = _text(f.attrs["keras_version"]) if "keras_version" in f.attrs else None
    config = _json_attr(f, "model_config", source)
    if config is None:
        if "layer_names" not in f.attrs and "layer_names0" not in f.attrs:
            raise FormatError("HDF5 file holds no Keras model (no model_config attribute and "
                              "no layer_names)", source)
        model.metadata = Metadata(source_format=WEIGHTS_NAME, keras_version=keras_version,
                                  backend=_text(f.attrs.get("backend", "")) or None)
        model.weights = _read_weight_groups(f, source)
        return
    if "model_weights" not in f:
        raise FormatError("HDF5 model has no 'model_weights' group", source)
    if not isinstance(config, dict) or "class_name" not in config:
        raise FormatError("model_config is not a Keras model config", source)
    if keras_version is None:
        raise UnsupportedError("written by Keras 1 (no keras_version attribute), whose weight "
                               "layouts differ; load and re-save it with Keras 2", source)
    keras3 = keras_version.startswith("3")
    model.metadata = Metadata(source_format=NAME, keras_version=keras_version,
                              backend=_text(f.attrs.get("backend", "")) or None)
    model.config = to_canonical(config, model.warnings.append, keras_version,
                                model.metadata.translations)
    model.training_config = _json_attr(f, "training_config", source)
    groups = _read_weight_groups(f["model_weights"], source)
    cudnn = replace_cudnn_layers(model.config, groups)
    model.warnings += cudnn
    model.metadata.translations += cudnn
    for entry in model.layers:
        name = layer_name(entry)
        if name in groups:
            model.weights[name] = name_layer_weights(entry, groups[name], keras3)
        elif layer_layout(entry) == []:
            model.weights[name] = []  # Sequential's InputLayer has no group
        else:
            raise FormatError(f"layer '{name}' has no weight group in 'model_weights'", source)
    if "optimizer_weights" in f:
        model.optimizer_weights = _group_weights(f["optimizer_weights"], source)


def _write_groups(root: h5py.Group, groups: dict[str, list[Weight]], fills: DatasetFills,
                  suffix: str = ":0") -> None:
    write_split_attr(root, "layer_names", list(groups))
    for layer, weights in groups.items():
        try:
            group = root.create_group(layer)
        except ValueError:  # "a" and "a/b": HDF5 paths, not names
            raise UnsupportedError(f"layer name '{layer}' clashes with another layer's in an "
                                   "HDF5 file (names with '/' are paths there)") from None
        _write_weight_group(group, weights, fills, suffix)


def _write_weight_group(group: h5py.Group, weights: list[Weight], fills: DatasetFills,
                        suffix: str = ":0") -> None:
    """`weight_names` (with tf.keras's ':0', as every Keras 2 file has; Keras 3 writes none)
    and the datasets."""
    names = [f"{w.name}{suffix}" for w in weights]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UnsupportedError(f"two weights of '{group.name.lstrip('/')}' are named "
                               f"'{twice[0]}': an HDF5 group holds one of each name")
    write_split_attr(group, "weight_names", names)
    for name, weight in zip(names, weights, strict=True):
        write_dataset(group, name, weight, fills)


class DatasetFills:
    """Datasets created without their data, whose bytes are copied in file to file (no array
    in between) once HDF5 has closed their file: `copy` them then. The file is byte for byte
    what writing the arrays gives: same datasets, created in the same order, their storage
    allocated at the same moment (its first write)."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, int, ByteRange]] = []

    def add(self, dataset: h5py.Dataset, source: ByteRange) -> None:
        offset = dataset.id.get_offset()
        assert offset is not None, "a written contiguous dataset has its storage"
        self.pending.append((dataset.file.filename, offset, source))

    def copy(self) -> None:
        """Copy every pending dataset's bytes into its (closed) file."""
        with SourceFiles() as sources:
            for target in dict.fromkeys(file for file, _, _ in self.pending):
                fd = os.open(target, os.O_WRONLY)
                try:
                    for file, offset, source in self.pending:
                        if file != target:
                            continue
                        os.lseek(fd, offset, os.SEEK_SET)
                        check = source.check() if source.check is not None else None
                        for path, start, length in source.pieces:
                            copy_range(sources.fd(path), fd, start, length,
                                       update=check.update if check is not None else None)
                        if check is not None:
                            check.finish()
                finally:
                    os.close(fd)
        self.pending.clear()


def _fillable(weight: Weight) -> ByteRange | None:
    """The weight's byte range when it is exactly the array `weight.read()` gives."""
    source = weight.source
    if source is None or weight.dtype == "string" or weight.size == 0:
        return None
    import numpy as np

    dtype = np.dtype(source.dtype)
    if dtype.kind not in "biufc" or source.length != weight.size * dtype.itemsize:
        return None
    return source


def write_dataset(group: h5py.Group, name: str, weight: Weight,
                  fills: DatasetFills | None = None) -> None:
    """The weight as dataset `name` of `group`; with `fills`, a weight whose bytes lie in a
    file is created empty and its bytes left to `fills` to copy."""
    import numpy as np

    source = _fillable(weight) if fills is not None else None
    if source is not None:
        assert fills is not None
        dtype = np.dtype(source.dtype)
        dataset = group.create_dataset(name, shape=weight.shape, dtype=dtype)
        # HDF5 allocates a contiguous dataset's storage at its first write (as when the
        # array is written whole): one element places it; the copy overwrites it.
        corner = tuple(slice(0, 1) for _ in weight.shape)
        dataset[corner] = np.zeros((1,) * len(weight.shape), dtype)
        fills.add(dataset, source)
        return
    array = weight.read()
    if weight.dtype == "string" or array.dtype.kind in "OSU":
        data = np.array([v if isinstance(v, bytes) else str(v).encode() for v in
                         array.reshape(-1)], dtype=object).reshape(array.shape)
        import h5py

        group.create_dataset(name, data=data, dtype=h5py.string_dtype())
    else:
        group.create_dataset(name, data=array)


def _layer_groups(model: Model) -> dict[str, list[Weight]]:
    """One group per layer of `model.layers` in the order Keras lists them (a Functional's
    InputLayers included, a Sequential's not): legacy weights load by that position."""
    assert model.config is not None
    return {layer_name(e): model.weights.get(layer_name(e), [])
            for e, _ in container_paths(model.class_name or "", model.config["config"])}


def _loadability_warnings(model: Model, keras: int) -> list[str]:
    """What one of the runtimes that read a legacy file will not load or computes otherwise."""
    assert model.config is not None
    warnings = []
    for classes, runtimes in ((KERAS2_ONLY_LAYERS, "Keras 3"),
                              (KERAS3_ONLY_LAYERS, "tf_keras and TF.js")):
        found = [(where, entry.get("class_name")) for where, entry in
                 iter_layer_entries(model.config) if entry.get("class_name") in classes]
        if found and (keras == 2 or runtimes == "Keras 3"):
            listed = ", ".join(f"'{where}' ({cls})" for where, cls in found)
            warnings.append(f"{runtimes} has no layer class for {listed}: the file will not "
                            "load there")
    operations = [where for where, entry in iter_layer_entries(model.config)
                  if is_keras3_op(entry)]
    if operations and keras == 2:
        warnings.append(f"Keras 3 cannot load operations ('{operations[0]}', written as "
                        "tf_keras TFOpLambda layers) from a legacy .h5: for Keras 3 write .keras")
    attention = [where for where, entry in iter_layer_entries(model.config)
                 if entry.get("class_name") == "MultiHeadAttention"]
    if attention and keras == 2:
        warnings.append(f"Keras 3 cannot load MultiHeadAttention ('{attention[0]}') from a "
                        "Keras 2 dialect file (tf_keras requires query_shape, Keras 3 rejects "
                        "it): for Keras 3 write .keras or --keras 3")
    slashed = slashed_layer_names(model.config)
    if slashed and keras == 2:
        warnings.append(f"Keras 3 refuses layer names containing '/' ('{slashed[0]}'"
                        + (f" and {len(slashed) - 1} more" if len(slashed) > 1 else "")
                        + "): this file loads in tf_keras and TF.js; for Keras 3 write .keras "
                        "or --keras 3, which rename them")
    users = hard_sigmoid_users(model.config)
    if users and keras == 2:
        warnings.append(f"layer '{users[0]}' uses hard_sigmoid: tf_keras and TF.js compute it "
                        "as 0.2x+0.5, Keras 3 as x/6+0.5, so Keras 3 will compute this file "
                        "differently")
    return warnings + custom_layer_warnings(model.config)


def write(model: Model, path: Path, overwrite: bool = False, keras: int = 2) -> WriteResult:
    """A legacy full-model file. keras=2 (default): the portable Keras 2 dialect every runtime
    loads (nested models inlined); keras=3: the Keras 3 dialect, as Keras 3 writes it."""
    if model.config is None:
        return write_weights(model, path, overwrite)
    if keras not in (2, 3):
        raise UnsupportedError(f"--keras must be 2 or 3, not {keras}")
    check_dialect_semantics(model, f"keras{keras}")
    operations = [where for where, entry in iter_layer_entries(model.config)
                  if is_operation(entry)]
    if operations and keras == 3:
        # Keras 3's legacy loader builds layers only: its own .h5 of such a model fails.
        raise UnsupportedError(f"operation '{operations[0]}': Keras 3 cannot load operations "
                               "from a legacy .h5 file; write .keras for Keras 3, or --keras 2 "
                               "for tf_keras")
    warnings = _loadability_warnings(model, keras)
    version = model.metadata.keras_version or ""
    if keras == 3:
        flat, renamed = keras3_layer_names(model)
        warnings += renamed
        assert flat.config is not None
        config = to_keras3(flat.config)
        keras_version = version if version.startswith("3.") else KERAS3_VERSION
    else:
        flat = inline_nested_models(model)
        assert flat.config is not None
        config = portable_keras2(flat.config)
        keras_version = version if version.startswith("2.") else KERAS2_VERSION
    import h5py

    fills = DatasetFills()
    with atomic_file(path, overwrite) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["backend"] = "tensorflow"
            f.attrs["keras_version"] = keras_version
            f.attrs["model_config"] = json.dumps(config)
            if model.training_config and keras == 2:
                f.attrs["training_config"] = json.dumps(model.training_config)
            root = f.create_group("model_weights")
            root.attrs["backend"] = "tensorflow"
            root.attrs["keras_version"] = keras_version
            _write_groups(root, _layer_groups(flat), fills, suffix=":0" if keras == 2 else "")
            if model.optimizer_weights and keras == 2:
                _write_weight_group(f.create_group("optimizer_weights"),
                                    model.optimizer_weights, fills)
        fills.copy()
    if keras == 3 and (model.training_config or model.optimizer_weights):
        warnings.append("the training config and optimizer weights are not written in the "
                        "Keras 3 dialect")
    return WriteResult([path], warnings)


def write_weights(model: Model, path: Path, overwrite: bool = False) -> WriteResult:
    """Legacy `save_weights` layout: the `model_weights` group at the file's root."""
    keras_version = model.metadata.keras_version or KERAS2_VERSION
    import h5py

    fills = DatasetFills()
    with atomic_file(path, overwrite) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["backend"] = "tensorflow"
            f.attrs["keras_version"] = keras_version
            _write_groups(f, _layer_groups(model) if model.config is not None else
                          model.weights, fills)
        fills.copy()
    return WriteResult([path])


def _native_in(runtime: str, keras_version: str | None, has_config: bool) -> bool:
    """Keras 3 reads the .h5 files it wrote (a Keras 2 file stops it at e.g. an LSTM's
    time_major); tf_keras reads every Keras 2 file."""
    wrote_keras3 = (keras_version or "").startswith("3")
    if runtime == "keras3":
        return keras_version is None or wrote_keras3
    return runtime == "tf_keras" and not wrote_keras3


FORMATS = (
    Format(NAME, "Keras legacy HDF5 full model (model.save('x.h5'))", detect,
           extensions=(".h5", ".hdf5", ".keras.h5"), read=read, write=write,
           weights_only=WEIGHTS_NAME, runtime="keras", native_in=_native_in,
           aliases=("keras", "h5")),
    Format(WEIGHTS_NAME, "Keras legacy HDF5 weights (save_weights('x.h5'))", detect_weights,
           extensions=(".h5", ".hdf5"), read=read, write=write_weights, holds="weights",
           keyed_by="layer", aliases=("keras_weights",)),
)
