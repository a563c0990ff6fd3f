"""In-memory Keras models (Keras 3 or tf_keras) handed to the Python API: saved by their own
library to a temporary file, which is then read like any other (modelport imports neither);
and the code the Keras loaders need for classes outside keras.layers: the user's module
(--custom-objects) and keras.applications' own layers."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelport.errors import FormatError, ModelportError, UnsupportedError
from modelport.keras_config.applications import application_layer
from modelport.keras_config.targets import iter_layer_entries

PathLike = str | Path


def library_of(value: Any) -> str | None:
    """'keras3' or 'tf_keras' for a Keras model object, None for anything else (a path)."""
    if isinstance(value, (str, Path)) or not hasattr(value, "save"):
        return None
    for cls in type(value).__mro__:
        module = cls.__module__ or ""
        if module.startswith("tf_keras") or module.startswith("keras.src.legacy") or (
                module.startswith("tensorflow.python.keras")):
            return "tf_keras"
        if module.startswith("keras"):
            return "keras3"
    return None


def describe(value: Any) -> str:
    """How an error names an in-memory model instead of the temporary file it was saved to."""
    return f"<in-memory Keras model '{getattr(value, 'name', 'model')}'>"


@contextlib.contextmanager
def saved(value: Any) -> Iterator[Path]:
    """The model saved as its library saves it (.keras for Keras 3, .h5 for tf_keras) in a
    temporary folder removed afterwards; a path is passed through."""
    library = library_of(value)
    if library is None:
        yield Path(value)
        return
    import tempfile  # imported where used: start-up stays light

    with tempfile.TemporaryDirectory(prefix="modelport_model_") as folder:
        target = Path(folder) / ("model.keras" if library == "keras3" else "model.h5")
        try:
            value.save(str(target))
        except Exception as exc:  # noqa: BLE001 - the library says why it cannot save it
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UnsupportedError(f"{library} cannot save the model: {first}",
                                   describe(value)) from None
        yield target


def load_custom_objects(path: PathLike) -> dict[str, Any]:
    """Import the user's module (they asked for it by naming it) and take its
    `custom_objects` dict, or else every public class and function it defines."""
    path = Path(path)
    if not path.is_file():
        raise FormatError("no such file (--custom-objects takes a .py file defining your "
                          "layers)", path)
    name = f"modelport_custom_objects_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FormatError("not a Python module", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the user's code may raise anything
        del sys.modules[name]
        raise ModelportError(f"importing it failed: {type(exc).__name__}: {exc}", path) from None
    explicit = getattr(module, "custom_objects", None)
    if isinstance(explicit, dict):
        return dict(explicit)
    return {key: value for key, value in vars(module).items()
            if not key.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
            and getattr(value, "__module__", None) == name}


def custom_objects(given: PathLike | dict[str, Any] | None) -> dict[str, Any]:
    """--custom-objects as a dict: a .py file imported, a dict as it is, None as {}."""
    if isinstance(given, (str, Path)):
        return load_custom_objects(given)
    return dict(given or {})


def application_objects(model_config: dict[str, Any] | None, library: str) -> dict[str, Any]:
    """keras.applications' own layer classes the config uses, from `library` ("tf_keras" or
    "keras3"), keyed by the names the config gives them (what a loader's custom_objects needs)."""
    if not model_config:
        return {}
    package = "tf_keras" if library == "tf_keras" else "keras"
    objects = {}
    for _, entry in iter_layer_entries(model_config):
        found = application_layer(entry)
        if found is None:
            continue
        module, cls = found
        try:
            value = getattr(importlib.import_module(f"{package}.src.applications.{module}"), cls)
        except (ImportError, AttributeError):  # another version of the library: not ours
            continue
        for name in (entry.get("class_name"), entry.get("registered_name")):
            if name:
                objects[str(name)] = value
    return objects
