"""In-memory Keras models (Keras 3 or tf_keras) handed to the Python API: saved by their own
library to a temporary file, which is then read like any other (modelport imports neither)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelport.errors import UnsupportedError


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
    with tempfile.TemporaryDirectory(prefix="modelport_model_") as folder:
        target = Path(folder) / ("model.keras" if library == "keras3" else "model.h5")
        try:
            value.save(str(target))
        except Exception as exc:  # noqa: BLE001 - the library says why it cannot save it
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UnsupportedError(f"{library} cannot save the model: {first}",
                                   describe(value)) from None
        yield target
