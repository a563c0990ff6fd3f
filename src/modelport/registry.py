"""Format names, file extensions and detection by content: which module reads and writes what."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modelport.errors import FormatError, UnsupportedError
from modelport.formats import (
    keras_h5,
    keras_json,
    keras_v3,
    saved_model,
    tf_checkpoint,
    tfjs_graph,
    tfjs_layers,
)
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
        Format(tfjs_layers.WEIGHTS_NAME, "TF.js weights manifest (weights_manifest.json + "
               "group*-shard*.bin, as tf.io.loadWeights reads)", (".json",),
               tfjs_layers.detect_weights, tfjs_layers.read_weights, tfjs_layers.write_weights),
        Format(tf_checkpoint.NAME, "TF checkpoint (ckpt.index + ckpt.data-*; tf_keras "
               "save_weights('ckpt'), tf.train.Checkpoint), read without TensorFlow",
               (".index",), tf_checkpoint.detect, tf_checkpoint.read, None),
        Format(saved_model.NAME, "TensorFlow SavedModel (saved_model.pb + variables/): tf.keras "
               "SavedModels read without TensorFlow; written with the tensorflow extra", (),
               saved_model.detect, saved_model.read, saved_model.write),
        # Graph formats convert graph to graph with TensorFlow (modelport.tensorflow.
        # graph_model), outside the in-memory Model: api.convert routes them.
        Format(tfjs_graph.NAME, "TF.js graph model (model.json format graph-model + shards); "
               "from SavedModels and Keras files, to SavedModels and .pb (tensorflow extra)",
               (".json",), tfjs_graph.detect, tfjs_graph.read, None),
        Format(tfjs_graph.FROZEN_NAME, "TensorFlow frozen GraphDef (.pb), from TF.js graph "
               "models (tensorflow extra)", (".pb",), tfjs_graph.detect_frozen, None, None),
    )
}

# What the incumbent's --input_format/--output_format call these.
ALIASES = {
    "tfjs": "tfjs_layers_model",
    "keras": "keras_h5",
    "h5": "keras_h5",
    "keras_weights": "keras_weights_h5",
    "keras_keras": "keras_v3",
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
        if tf_checkpoint.detect(path):  # a checkpoint prefix: 'dir/ckpt' names ckpt.index
            return FORMATS[tf_checkpoint.NAME]
        raise FormatError("no such file or folder", path)
    for fmt in FORMATS.values():
        if fmt.detect(path):
            return fmt
    target = path / "model.json" if path.is_dir() else path
    if target.suffix == ".json" and target.is_file():
        from modelport.formats.common import read_json

        read_json(target)  # invalid JSON says so
        raise FormatError("JSON file is not a model modelport knows (no modelTopology)", target)
    if path.is_dir():
        raise FormatError("folder holds no model modelport recognises (no model.json)", path)
    if path.suffix in (".h5", ".hdf5"):
        raise FormatError("HDF5 file holds no Keras model (no model_config and no "
                          "layer_names)", path)
    raise FormatError("not a model file modelport recognises", path)


# Each full-model format and the format holding its weights alone (--weights-only).
WEIGHTS_OF = {
    keras_h5.NAME: keras_h5.WEIGHTS_NAME,
    tfjs_layers.NAME: tfjs_layers.WEIGHTS_NAME,
}


def output_format(path: Path, model: Model, weights_only: bool = False) -> Format:
    """The format to write to `path`, from its extension (a folder means TF.js)."""
    suffix = path.suffix.lower()
    name = path.name.lower()
    if name.endswith((".weights.h5", ".weights.json")):
        return FORMATS[keras_v3.WEIGHTS_NAME]
    if suffix == ".keras":
        chosen = keras_v3.NAME
    elif suffix in (".h5", ".hdf5"):
        chosen = keras_h5.NAME if model.config is not None else keras_h5.WEIGHTS_NAME
    elif suffix == ".json" or suffix == "" or path.is_dir():
        chosen = tfjs_layers.NAME if model.config is not None else tfjs_layers.WEIGHTS_NAME
    else:
        raise UnsupportedError(f"cannot tell the output format from the extension "
                               f"'{suffix}'; pass --to FORMAT", path)
    return FORMATS[weights_format(chosen, path) if weights_only else chosen]


def weights_format(name: str, path: Path | None = None) -> str:
    """The weights-only counterpart of output format `name` (itself if it is one)."""
    if name in WEIGHTS_OF.values() or name == keras_v3.WEIGHTS_NAME:
        return name
    if name == keras_v3.NAME:
        raise UnsupportedError("--weights-only output of a Keras 3 model is a .weights.h5 "
                               "file; name the output x.weights.h5", path)
    if name not in WEIGHTS_OF:
        raise UnsupportedError(f"--weights-only does not apply to {name} output", path)
    return WEIGHTS_OF[name]
