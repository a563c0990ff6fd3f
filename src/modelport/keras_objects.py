"""In-memory Keras models (Keras 3 or tf_keras) handed to the Python API: saved by their own
library to a temporary file, which is then read like any other (modelport imports neither);
and the code the Keras loaders need for classes outside keras.layers: the user's module
(--custom-objects) and keras.applications' own layers."""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.util
import inspect
import re
import sys
import types
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


# What `tensorflow.keras` is for each Keras runtime: TensorFlow itself resolves it to tf_keras's
# v2 API under TF_USE_LEGACY_KERAS=1 and to Keras 3's tf.keras namespace (which keeps the
# legacy backend functions such code calls) otherwise.
_TENSORFLOW_KERAS = "tensorflow.keras"
_TENSORFLOW_KERAS_IN = {"tf_keras": "tf_keras.api._v2.keras", "keras3": "keras._tf_keras.keras"}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports of `tensorflow.keras[.x]` answered by fresh modules holding what
    `target[.x]` holds (as TensorFlow builds tensorflow.keras from an API package)."""

    def __init__(self, target: str):
        self.target = target

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if not _is_tensorflow_keras(fullname):
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=True)

    def create_module(self, spec: Any) -> Any:
        return None  # a fresh module object: the library's own modules are left untouched

    def exec_module(self, module: Any) -> None:
        source = importlib.import_module(self.target + module.__name__[len(_TENSORFLOW_KERAS):])
        module.__dict__.update({k: v for k, v in vars(source).items()
                                if not k.startswith("__")})


class _TensorFlowWith(types.ModuleType):
    """`tensorflow` as the user's module sees it: the real module, but for `keras`."""

    def __init__(self, real: types.ModuleType, keras: types.ModuleType):
        super().__init__(real.__name__, real.__doc__)
        self.__path__ = list(getattr(real, "__path__", []))
        self.__dict__["_real"] = real
        self.keras = keras

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_real"], name)


def _is_tensorflow_keras(name: str) -> bool:
    return name == _TENSORFLOW_KERAS or name.startswith(_TENSORFLOW_KERAS + ".")


@contextlib.contextmanager
def _tensorflow_keras_is(library: str) -> Iterator[None]:
    """While the user's module is imported, `tensorflow.keras` is `library`'s Keras: imports
    of it (`from tensorflow.keras...`) get modules holding that Keras, and `import tensorflow`
    gets a stand-in whose `keras` it is, which the module keeps for its calls (`tf.keras.x`
    inside a layer's call). The process's own modules are restored after."""
    import tensorflow

    stashed = {k: sys.modules.pop(k) for k in list(sys.modules) if _is_tensorflow_keras(k)}
    # TensorFlow's own `keras` attribute (a lazy loader until first used), which importing
    # a submodule would replace.
    attribute = tensorflow.__dict__.get("keras")
    finder = _Alias(_TENSORFLOW_KERAS_IN[library])
    sys.meta_path.insert(0, finder)
    try:
        keras = importlib.import_module(_TENSORFLOW_KERAS)
        sys.modules["tensorflow"] = _TensorFlowWith(tensorflow, keras)
        yield
    finally:
        sys.modules["tensorflow"] = tensorflow
        sys.meta_path.remove(finder)
        for key in [k for k in sys.modules if _is_tensorflow_keras(k)]:
            del sys.modules[key]
        sys.modules.update(stashed)
        if attribute is None:
            tensorflow.__dict__.pop("keras", None)
        else:
            tensorflow.keras = attribute


def _has_tensorflow() -> bool:
    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):
        return False


def load_custom_objects(path: PathLike, library: str | None = None) -> dict[str, Any]:
    """Import the user's module (they asked for it by naming it) and take its
    `custom_objects` dict, or else every public class and function it defines. With `library`
    ("tf_keras" or "keras3", the runtime the classes are for), code written against
    `tensorflow.keras` gets that library's Keras, as TensorFlow gives it by
    TF_USE_LEGACY_KERAS: one module serves both runtimes."""
    path = Path(path)
    if not path.is_file():
        raise FormatError("no such file (--custom-objects takes a .py file defining your "
                          "layers)", path)
    name = f"modelport_custom_objects_{library or 'any'}_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FormatError("not a Python module", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # Whatever the module imports while it runs (a package's own modules too) sees it.
    flavour = (_tensorflow_keras_is(library) if library in _TENSORFLOW_KERAS_IN
               and _has_tensorflow() else contextlib.nullcontext())
    try:
        with flavour:
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


def custom_objects(given: PathLike | dict[str, Any] | None, library: str | None = None
                   ) -> dict[str, Any]:
    """--custom-objects as a dict: a .py file imported (for `library`, see
    `load_custom_objects`), a dict as it is, None as {}."""
    if isinstance(given, (str, Path)):
        return load_custom_objects(given, library)
    return dict(given or {})


_UNKNOWN_CLASS = re.compile(r"(?:Unknown (?:layer|object)|Could not locate (?:class|function))"
                            r"[:\s]+'?([\w.>]+)'?")


def unknown_class(message: str) -> str | None:
    """The class a Keras loader's error says it could not find without its code, if any."""
    match = _UNKNOWN_CLASS.search(message)
    return match.group(1) if match else None


def class_library(value: Any) -> str | None:
    """'tf_keras' or 'keras3' for a class built on that library's Keras classes, else None."""
    if not inspect.isclass(value):
        return None
    for cls in value.__mro__:
        module = cls.__module__ or ""
        if module.startswith(("tf_keras", "tensorflow.python.keras")):
            return "tf_keras"
        if module.startswith("keras.") and not module.startswith("keras.src.legacy"):
            return "keras3"
    return None


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
