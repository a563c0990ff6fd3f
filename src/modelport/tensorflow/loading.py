"""Loading any SavedModel's serving signature with TensorFlow, falling back to the TF1 loader
for old SavedModels that `tf.saved_model.load` rejects in current TensorFlow."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelport.errors import FormatError, MissingExtraError

DEFAULT_SIGNATURE = "serving_default"
TF2_LOADER = "tf.saved_model.load"
TF1_LOADER = "tf1"


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """TensorFlow's C++ start-up lines (absl, oneDNN, CUDA drivers) ignore
    TF_CPP_MIN_LOG_LEVEL and go straight to file descriptor 2; they are not about the user's
    model. Silenced while TensorFlow's libraries load, unless MODELPORT_DEBUG is set (as
    --debug does). Python errors are raised, not printed, so nothing the user needs is lost."""
    if os.environ.get("MODELPORT_DEBUG"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def import_tensorflow() -> Any:
    """The tensorflow module, or MissingExtraError naming the extra that brings it (its C++
    start-up lines silenced)."""
    try:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with native_stderr_silenced():
            import tensorflow as tf
    except ImportError:
        raise MissingExtraError("TensorFlow is not installed: pip install "
                                "'modelport[tensorflow]'") from None
    return tf


@dataclass
class ServingFunction:
    """A SavedModel signature ready to call.

    `function` is a ConcreteFunction: call it with keyword tensors named as `inputs`
    (`function(**{name: tf.constant(x)})`); it returns a dict output name -> tensor.
    `inputs` maps each input name to its tf.TensorSpec, `outputs` lists the output names.
    `loader` says which loader succeeded ("tf.saved_model.load" or "tf1"); `owner` keeps the
    loaded object (and with it the variables) alive as long as the function is used.
    """

    function: Any
    inputs: dict[str, Any]
    outputs: list[str]
    loader: str
    owner: Any = None

    def __call__(self, **inputs: Any) -> dict[str, Any]:
        return self.function(**inputs)


def load_saved_model(path: str | os.PathLike[str], signature: str = DEFAULT_SIGNATURE,
                     tags: list[str] | None = None) -> ServingFunction:
    """The `signature` of the SavedModel at `path` (its folder), loaded with
    `tf.saved_model.load`; when that fails (SavedModels whose object graph current TensorFlow
    cannot revive, e.g. "'_UserObject' object has no attribute 'add_slot'" for an optimizer
    saved by TF 2.x-era Keras when tf_keras is absent), with the TF1 loader, which reads only
    the MetaGraphDef and the variables, as the incumbent converter does. `tags` selects the
    MetaGraphDef for the TF1 loader (default: "serve").

    Raises FormatError (one line, naming the folder) when neither loader can load it or the
    signature is missing, MissingExtraError when TensorFlow is not installed."""
    tf = import_tensorflow()
    folder = Path(path)
    if folder.name == "saved_model.pb":
        folder = folder.parent
    try:
        loaded = tf.saved_model.load(str(folder), tags=tags)
        loader = TF2_LOADER
    except Exception as first:  # any failure of the TF2 loader means: try TF1
        try:
            loaded = _load_tf1(folder, tags or ["serve"])
            loader = TF1_LOADER
        except Exception as second:
            raise FormatError(f"TensorFlow cannot load this SavedModel: "
                              f"{_first_line(first)}; the TF1 loader neither: "
                              f"{_first_line(second)}", folder) from None
    signatures = getattr(loaded, "signatures", {})
    if signature not in signatures:
        available = ", ".join(sorted(signatures)) or "none"
        raise FormatError(f"the SavedModel has no signature '{signature}' (it has: "
                          f"{available})", folder)
    function = signatures[signature]
    _, input_specs = function.structured_input_signature
    outputs = function.structured_outputs
    output_names = list(outputs) if isinstance(outputs, dict) else [
        f"output_{i}" for i in range(len(tf.nest.flatten(outputs)))]
    return ServingFunction(function, dict(input_specs), output_names, loader, loaded)


def _load_tf1(folder: Path, tags: list[str]) -> Any:
    # load_v1_in_v2 is what tf.saved_model.load itself uses for SavedModels without an object
    # graph: it imports the MetaGraphDef, restores the variables and wraps every signature as
    # a ConcreteFunction, ignoring the object graph that the TF2 loader failed on.
    from tensorflow.python.saved_model import load_v1_in_v2

    return load_v1_in_v2.load(str(folder), tags)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
