"""Format names, file extensions and detection by content: which module reads and writes what."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modelport.errors import FormatError, UnsupportedError
from modelport.formats import keras_h5, keras_json, keras_v3, tfjs_layers
from modelport.model import Model


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    extensions: tuple[str, ...]
    detect: Callable[[Path], bool]
    reader: Callable[[Path], Model] | None
    writer: Callable[..., list[Path]] | None


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(tfjs_layers.NAME, "TF.js layers model (model.json + group*-shard*.bin)",
               (".json",), tfjs_layers.detect, tfjs_layers.read, tfjs_layers.write),
        Format(keras_h5.NAME, "Keras legacy HDF5 full model (model.save('x.h5'))",
               (".h5", ".hdf5", ".keras.h5"), keras_h5.detect, keras_h5.read, keras_h5.write),
        Format(keras_h5.WEIGHTS_NAME, "Keras legacy HDF5 weights (save_weights('x.h5'))",
               (".h5", ".hdf5"), keras_h5.detect_weights, keras_h5.read,
               keras_h5.write_weights),
        Format(keras_v3.NAME, "Keras 3 archive (model.save('x.keras'); also tf_keras's)",
               (".keras",), keras_v3.detect, keras_v3.read, keras_v3.write),
        Format(keras_v3.WEIGHTS_NAME, "Keras 3 weights (save_weights('x.weights.h5'), "
               "sharded x.weights.json)", (".weights.h5", ".weights.json"),
               keras_v3.detect_weights, keras_v3.read_weights, keras_v3.write_weights),
        Format(keras_json.NAME, "Keras architecture JSON (model.to_json())", (".json",),
               keras_json.detect, keras_json.read, keras_json.write),
    )
}

# What the incumbent's --input_format/--output_format call these.
ALIASES = {
    "tfjs": "tfjs_layers_model",
    "keras": "keras_h5",
    "h5": "keras_h5",
    "keras_weights": "keras_weights_h5",
}


def get_format(name: str) -> Format:
    canonical = ALIASES.get(name, name)
    if canonical not in FORMATS:
        known = ", ".join(FORMATS)
        raise UnsupportedError(f"unknown format '{name}'; known formats: {known}")
    return FORMATS[canonical]


def detect_input(path: Path) -> Format:
    """The format of an existing file or folder, by content."""
    if not path.exists():
        raise FormatError("no such file or folder", path)
    for fmt in FORMATS.values():
        if fmt.detect(path):
            return fmt
    target = path / "model.json" if path.is_dir() else path
    if target.suffix == ".json" and target.is_file():
        from modelport.formats.common import read_json

        kind = tfjs_layers.json_kind(read_json(target))
        if kind == "graph":
            raise UnsupportedError("TF.js graph models are not supported yet", target)
        if kind == "weights":
            raise UnsupportedError("a TF.js weights manifest holds no architecture; reading "
                                   "weights-only manifests is not supported yet", target)
        raise FormatError("JSON file is not a model modelport knows (no modelTopology)", target)
    if path.is_dir():
        raise FormatError("folder holds no model modelport recognises (no model.json)", path)
    if path.suffix in (".h5", ".hdf5"):
        raise FormatError("HDF5 file holds no Keras model (no model_config and no "
                          "layer_names)", path)
    raise FormatError("not a model file modelport recognises", path)


def output_format(path: Path, model: Model) -> Format:
    """The format to write to `path`, from its extension (a folder means TF.js)."""
    suffix = path.suffix.lower()
    name = path.name.lower()
    if suffix == ".keras":
        return FORMATS[keras_v3.NAME]
    if name.endswith((".weights.h5", ".weights.json")):
        return FORMATS[keras_v3.WEIGHTS_NAME]
    if suffix in (".h5", ".hdf5"):
        return FORMATS[keras_h5.NAME if model.config is not None else keras_h5.WEIGHTS_NAME]
    if suffix == ".json" or suffix == "" or path.is_dir():
        return FORMATS[tfjs_layers.NAME]
    raise UnsupportedError(f"cannot tell the output format from the extension '{suffix}'; "
                           "pass --to FORMAT", path)
