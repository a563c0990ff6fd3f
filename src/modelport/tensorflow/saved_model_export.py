"""Keras model -> TensorFlow SavedModel with a `serving_default` signature named after the
model's input and output layers, written through tf_keras (extra `modelport[tensorflow]`)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from modelport import keras_objects
from modelport.errors import MissingExtraError, UnsupportedError
from modelport.fileio import atomic_folder
from modelport.formats import keras_h5
from modelport.formats.record import WriteResult
from modelport.model import Model
from modelport.tensorflow.loading import (
    DEFAULT_SIGNATURE,
    import_tensorflow,
    native_stderr_silenced,
)


def _import_tf_keras() -> Any:
    import_tensorflow()
    try:
        with native_stderr_silenced():
            import tf_keras
    except ImportError:
        raise MissingExtraError("tf_keras is not installed: pip install "
                                "'modelport[tensorflow]'") from None
    return tf_keras


def _lambda_layers(value: Any) -> list[str]:
    """Names of the Lambda layers anywhere in a config (nested models and wrappers too)."""
    found = []
    if isinstance(value, dict):
        if value.get("class_name") == "Lambda":
            found.append(str(value.get("config", {}).get("name") or value.get("name")))
        for item in value.values():
            found += _lambda_layers(item)
    elif isinstance(value, list):
        for item in value:
            found += _lambda_layers(item)
    return found


def write(model: Model, path: Path, overwrite: bool = False,
          custom_objects: str | Path | dict[str, Any] | None = None) -> WriteResult:
    """Write `model` as a SavedModel folder at `path` (TF Serving layout: the folder itself;
    name a version folder like `models/name/1` yourself). The folder also holds tf_keras's
    keras_metadata.pb, so modelport and tf_keras read it back as Keras. `custom_objects` (a
    .py file or a dict, as verify takes it) builds custom layers; keras.applications' own
    (ConvNeXt's LayerScale) are found in tf_keras. Returns its files."""
    path = Path(path)
    if model.config is None:
        raise UnsupportedError("a SavedModel needs an architecture and the input holds "
                               "weights only; pass --architecture ARCH", path)
    lambdas = _lambda_layers(model.config)
    if lambdas:
        raise UnsupportedError(f"layer '{lambdas[0]}' is a Lambda layer: writing a SavedModel "
                               "means loading the model in tf_keras, which runs the Python "
                               "bytecode stored in the layer, and modelport never executes "
                               "code from model files", path)
    objects = keras_objects.custom_objects(custom_objects, "tf_keras")
    tf = import_tensorflow()
    tf_keras = _import_tf_keras()
    objects = {**keras_objects.application_objects(model.config, "tf_keras"), **objects}
    scratch = Path(tempfile.mkdtemp(prefix="modelport-savedmodel-"))
    try:
        h5_path = scratch / "model.h5"
        # The Keras 2 dialect is what tf_keras loads; nested models come out inlined.
        warnings = keras_h5.write(model, h5_path, keras=2).warnings
        try:
            keras_model = tf_keras.models.load_model(str(h5_path), compile=False,
                                                     custom_objects=objects)
        except Exception as exc:  # whatever tf_keras refuses, say it in one line
            # (about the model, not the scratch file it was given as)
            reason = _first_line(exc).replace(str(h5_path), "the model")
            unknown = keras_objects.unknown_class(reason)
            if unknown:
                # The route first: tf_keras's own advice after it is long.
                raise UnsupportedError(f"tf_keras cannot build custom class '{unknown}' "
                                       "without its code: pass --custom-objects FILE.py, a "
                                       "module defining it") from None
            raise UnsupportedError(f"tf_keras cannot build the model: {reason}") from None
        serving = _serving_function(tf, keras_model)
        with atomic_folder(path, overwrite) as folder:
            # save_traces=False: no per-layer call traces (tf_keras rebuilds layers from their
            # configs), which takes 0.3 s instead of 13 s for a bidirectional LSTM; the
            # explicit signature keeps the serving function that would otherwise be dropped.
            keras_model.save(str(folder), save_format="tf", overwrite=True,
                             include_optimizer=False, save_traces=False,
                             signatures={DEFAULT_SIGNATURE: serving})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if model.training_config or model.optimizer_weights:
        warnings.append("the training config and optimizer state are not written to the "
                        "SavedModel")
    return WriteResult(sorted(p for p in path.rglob("*") if p.is_file()), warnings)


def _serving_function(tf: Any, keras_model: Any) -> Any:
    """A concrete function taking the model's inputs by input layer name and returning a dict
    output layer name (or the model's own output key) -> tensor, as tf.keras's own default
    serving signature names them."""
    input_names = list(keras_model.input_names)
    output_names = list(keras_model.output_names)
    specs = [tf.TensorSpec(tensor.shape, tensor.dtype, name=name)
             for tensor, name in zip(keras_model.inputs, input_names, strict=True)]

    @tf.function(input_signature=specs)
    def serve(*inputs: Any) -> dict[str, Any]:
        outputs = keras_model(inputs[0] if len(inputs) == 1 else list(inputs), training=False)
        if isinstance(outputs, dict):
            # A model built with a dict of outputs returns it, keyed as its signature is.
            return dict(outputs)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return dict(zip(output_names, outputs, strict=True))

    return serve.get_concrete_function()


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__

