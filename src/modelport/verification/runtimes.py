"""The runtimes verify runs models in - Keras 3 (KERAS_BACKEND honoured), tf_keras, TensorFlow
(SavedModel signatures) and TF.js on Node - which one each format gets by default, and how a
runtime that cannot read a format itself is handed the model (converted by modelport)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelport import registry
from modelport.errors import MissingExtraError, ModelportError, UnsupportedError
from modelport.formats.record import Format, Probe
from modelport.keras_objects import unknown_class
from modelport.model import Model
from modelport.tensorflow.loading import native_stderr_silenced
from modelport.verification.inputs import InputSpec

Run = Callable[[list[tuple[str, np.ndarray]]], tuple[list[str], list[np.ndarray]]]


@dataclass
class Loaded:
    """A model ready to run: `run` takes (input name, array) pairs in model-input order and
    returns output names and arrays in model-output order."""

    run: Run
    version: str
    via: str = ""
    # What the runtime itself says the inputs are (TensorFlow signatures), when known.
    input_specs: list[Any] | None = None
    # Every layer's output by layer name, in the model's layer order, for a layers model.
    run_layers: Run | None = None


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def available(runtime: str) -> bool:
    if runtime == "keras3":
        return _installed("keras") and _keras3_version() is not None
    if runtime == "tf_keras":
        return _installed("tf_keras")
    if runtime == "tensorflow":
        return _installed("tensorflow")
    return True  # tfjs: Node is looked for when it is used


def _keras3_version() -> str | None:
    try:
        from importlib.metadata import version

        found = version("keras")
    except Exception:  # noqa: BLE001 - any metadata problem means "not usable"
        return None
    return found if found.split(".")[0].isdigit() and int(found.split(".")[0]) >= 3 else None


def native(fmt: Format, runtime: str, model: Model | None) -> bool:
    """Whether `runtime`'s own loader reads a file of `fmt` (else it gets a converted copy).
    A file in old Keras forms that today's runtimes read with another meaning (an Embedding
    dtype of Keras 2.0.2, a GRU from before reset_after, a CuDNNLSTM) is run as modelport
    translates it, in every runtime: its own loader would build another model, or none."""
    if model is not None and model.metadata.translations:
        return False
    keras_version = model.metadata.keras_version if model is not None else None
    has_config = model is not None and model.config is not None
    return fmt.native_in is not None and fmt.native_in(runtime, keras_version, has_config)


def default_runtime(fmt: Format, keras_version: str | None) -> str:
    """The runtime a file of this format is meant for: TF.js files -> tfjs, SavedModels ->
    tensorflow, Keras files -> the Keras that wrote them (the other one if that one is not
    installed)."""
    if fmt.runtime == "keras":
        wrote = "keras3" if (keras_version or "").startswith("3") else "tf_keras"
        other = "tf_keras" if wrote == "keras3" else "keras3"
        return wrote if available(wrote) or not available(other) else other
    if fmt.runtime is not None:
        return fmt.runtime
    if fmt.holds == "graph":
        raise UnsupportedError(f"verify does not run {fmt.name} files: verify the SavedModel "
                               "or graph model it came from")
    raise UnsupportedError(f"verify needs a full model (architecture and weights); a "
                           f"{fmt.name} file has none - convert it with --architecture "
                           "first")


EXTRA = "pip install 'modelport[verify]'"


def _import(module: str, runtime: str) -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with native_stderr_silenced():
            mod = importlib.import_module(module)
    except ImportError as exc:
        backend = os.environ.get("KERAS_BACKEND")
        hint = f" (KERAS_BACKEND={backend})" if runtime == "keras3" and backend else ""
        raise MissingExtraError(f"the {runtime} runtime needs {module}{hint}, which cannot be "
                                f"imported ({exc}): {EXTRA}") from None
    if module in ("tensorflow", "tf_keras"):
        import logging

        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return mod


# ---------------------------------------------------------------------------------------------
# Keras 3 and tf_keras


def _keras_load_error(exc: Exception, runtime: str, path: Path) -> ModelportError:
    text = str(exc)
    unknown = unknown_class(text)
    if unknown:
        return UnsupportedError(f"{runtime} cannot build class '{unknown}' (not a Keras "
                                "built-in): pass --custom-objects FILE.py, a module that "
                                "defines it", path)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return ModelportError(f"{runtime} could not load the model: {first[:400]}", path)


def _as_list(value: Any, names: list[str]) -> list[Any]:
    if isinstance(value, dict):
        if all(n in value for n in names) and len(names) == len(value):
            return [value[n] for n in names]
        return list(value.values())
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _keras_runner(model: Any, to_numpy: Callable[[Any], np.ndarray], names: list[str]) -> Run:
    def run(inputs: list[tuple[str, np.ndarray]]) -> tuple[list[str], list[np.ndarray]]:
        arrays = [a for _, a in inputs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outputs = model(arrays[0] if len(arrays) == 1 else arrays, training=False)
        values = [np.asarray(to_numpy(v)) for v in _as_list(outputs, names)]
        shown = names if len(names) == len(values) else [f"output_{i}"
                                                         for i in range(len(values))]
        return shown, values
    return run


def _keras_layers_runner(model: Any, keras: Any, to_numpy: Callable[[Any], np.ndarray]
                         ) -> Run:
    """Every layer's output (layers with one output tensor, called once) by layer name."""
    def run(inputs: list[tuple[str, np.ndarray]]) -> tuple[list[str], list[np.ndarray]]:
        names, tensors = [], []
        for layer in model.layers:
            if type(layer).__name__ == "InputLayer":
                continue
            try:
                output = layer.output
            except (AttributeError, ValueError, RuntimeError):
                continue  # called more than once, or never: no single output to compare
            if isinstance(output, (list, tuple, dict)):
                continue
            names.append(layer.name)
            tensors.append(output)
        if not tensors:
            return [], []
        probe = keras.Model(inputs=model.inputs, outputs=tensors)
        values = probe([array for _, array in inputs] if len(inputs) > 1 else inputs[0][1],
                       training=False)
        values = values if isinstance(values, (list, tuple)) else [values]
        return names, [np.asarray(to_numpy(v)) for v in values]

    return run


def _why(model: Model) -> str:
    """Why a runtime got modelport's translation of a file it could read itself, if so."""
    if not model.metadata.translations:
        return ""
    version = model.metadata.keras_version
    who = f"Keras {version}" if version else "the Keras that wrote it"
    return (f", read as {who} meant it ({len(model.metadata.translations)} translation(s), "
            f"the first: {model.metadata.translations[0]})")


def _converted(model: Model, suffix: str, keras: int | None, workdir: Path) -> Path:
    target = workdir / f"model{suffix}"
    options = {"keras": keras} if keras is not None else {}
    registry.write(model, target, **options)
    return target


def load_keras(runtime: str, path: Path, fmt: Format, model: Model | None,
               output_names: list[str], custom_objects: dict[str, Any],
               allow_lambda: bool, workdir: Path) -> Loaded:
    """Load with Keras 3 or tf_keras: its own loader for the files it reads, else a file
    modelport converts the model to (.keras for Keras 3, Keras 2 .h5 for tf_keras)."""
    via = ""
    if runtime == "keras3":
        keras = _import("keras", runtime)
        version = f"Keras {keras.__version__} ({keras.backend.backend()} backend)"
        # Keras 3 reads Keras 2 .h5 files only partly (an LSTM's time_major stops it): those
        # it gets translated by modelport, as it gets every format it cannot read.
        if not native(fmt, runtime, model):
            if model is None or model.config is None:
                raise UnsupportedError(f"keras3 cannot run a {fmt.name} file", path)
            path = _converted(model, ".keras", None, workdir)
            via = "given to Keras 3 as a .keras file written by modelport" + _why(model)
        kwargs = {"safe_mode": False} if allow_lambda else {}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the library's advice to model authors
                loaded = keras.saving.load_model(str(path), compile=False,
                                                 custom_objects=custom_objects, **kwargs)
        except Exception as exc:  # noqa: BLE001 - Keras raises many types for bad files
            raise _keras_load_error(exc, runtime, path) from None
        return Loaded(_keras_runner(loaded, keras.ops.convert_to_numpy, output_names), version,
                      via, run_layers=_keras_layers_runner(loaded, keras,
                                                           keras.ops.convert_to_numpy))
    tf_keras = _import("tf_keras", runtime)
    version = f"tf_keras {tf_keras.__version__}"
    if not native(fmt, runtime, model):
        if model is None or model.config is None:
            raise UnsupportedError(f"tf_keras cannot run a {fmt.name} file", path)
        path = _converted(model, ".h5", 2, workdir)
        via = "given to tf_keras as a Keras 2 .h5 written by modelport" + _why(model)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = tf_keras.models.load_model(str(path), compile=False,
                                                custom_objects=custom_objects)
    except Exception as exc:  # noqa: BLE001
        raise _keras_load_error(exc, runtime, path) from None
    def to_numpy(tensor: Any) -> np.ndarray:
        return tensor.numpy() if hasattr(tensor, "numpy") else tensor

    return Loaded(_keras_runner(loaded, to_numpy, output_names), version, via,
                  run_layers=_keras_layers_runner(loaded, tf_keras, to_numpy))


# ---------------------------------------------------------------------------------------------
# TensorFlow: SavedModel signatures


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def load_tensorflow(path: Path, fmt: Format, model: Model | None, workdir: Path,
                    signature: str = "serving_default",
                    custom_objects: dict[str, Any] | None = None) -> Loaded:
    """Run a SavedModel's serving signature with TensorFlow (other formats are written as a
    SavedModel by modelport first, building custom layers from `custom_objects`)."""
    tf = _import("tensorflow", "tensorflow")
    via = ""
    if not native(fmt, "tensorflow", model):
        if model is None or model.config is None:
            raise UnsupportedError(f"tensorflow cannot run a {fmt.name} file", path)
        target = workdir / "saved_model"
        registry.write(model, target, registry.format_for_runtime("tensorflow"),
                       custom_objects=custom_objects or None)
        path, via = target, ("given to TensorFlow as a SavedModel written by modelport"
                             + _why(model))
    from modelport.tensorflow.loading import load_saved_model

    serving = load_saved_model(path, signature)
    if serving.loader != "tf.saved_model.load":
        via = "loaded with the TF1 loader (tf.saved_model.load refused it)"
    specs = serving.inputs
    keys = list(specs)

    def run(inputs: list[tuple[str, np.ndarray]]) -> tuple[list[str], list[np.ndarray]]:
        names = [n for n, _ in inputs]
        if set(names) != set(keys):
            if len(inputs) != 1 or len(keys) != 1:
                raise UnsupportedError(f"the signature's inputs are {keys}, the inputs are "
                                       f"{names}: name the arrays of --inputs after the "
                                       "signature's inputs", path)
            names = keys
        feed = {n: tf.constant(a, dtype=specs[n].dtype) for n, (_, a) in
                zip(names, inputs, strict=True)}
        result = serving(**feed)  # through `serving`, which keeps the variables alive
        # A signature's outputs come back as a dict in no particular order; Keras 3's export
        # names them output_0, output_1, ... in the model's order, so count numbers as numbers.
        order = sorted(result, key=_natural_key)
        return order, [np.asarray(result[k].numpy()) for k in order]

    input_specs = [InputSpec(k, tuple(specs[k].shape.as_list()) if specs[k].shape.rank
                             is not None else None, specs[k].dtype.name) for k in keys]
    return Loaded(run, f"TensorFlow {tf.__version__}", via, input_specs)


# ---------------------------------------------------------------------------------------------
# TF.js on Node


def load_tfjs(path: Path, fmt: Format, model: Model | None, workdir: Path) -> Loaded:
    """Run with the pure-JS @tensorflow/tfjs on Node (Keras files are written as a TF.js
    layers model by modelport first)."""
    from modelport.verification import node

    via = ""
    graph_route = [name for name in fmt.conversions
                   if registry.get_format(name).runtime == "tfjs"]
    if graph_route and (model is None or model.config is None):
        target = workdir / "graph"
        registry.convert(path, target, from_format=fmt.name, to_format=graph_route[0])
        path, via = target, "given to TF.js as a graph model written by modelport"
    elif not native(fmt, "tfjs", model):
        if model is None or model.config is None:
            raise UnsupportedError(f"TF.js cannot run a {fmt.name} file", path)
        target = workdir / "tfjs"
        registry.write(model, target, registry.format_for_runtime("tfjs"))
        path, via = target, ("given to TF.js as a layers model written by modelport"
                             + _why(model))
    model_json = Probe(path).json_path or path

    def run(inputs: list[tuple[str, np.ndarray]]) -> tuple[list[str], list[np.ndarray]]:
        try:
            names, outputs, _ = node.run(model_json, inputs)
        except node.TfjsRunError as exc:
            if exc.stage == "load" and "Unknown layer" in exc.message:
                raise UnsupportedError(f"TF.js cannot load the model ({exc.message}); a custom "
                                       "layer needs its JS class - run this side in Keras "
                                       "with --runtime-a/--runtime-b keras3 and "
                                       "--custom-objects", model_json) from None
            raise ModelportError(f"TF.js could not {exc.stage} the model: {exc.message}",
                                 model_json) from None
        return names, outputs

    def run_layers(inputs: list[tuple[str, np.ndarray]]) -> tuple[list[str], list[np.ndarray]]:
        names, outputs, _ = node.run(model_json, inputs, layers=True)
        return names, outputs

    is_layers = registry.detect_input(model_json).holds == "model"  # not a graph model
    return Loaded(run, f"TF.js {node.TFJS_VERSION} (pure JS) on Node", via,
                  run_layers=run_layers if is_layers else None)


def make_workdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="modelport_verify_")
