"""Shared test helpers: the two Keras runtimes, predicting, comparing, and the per-session
cache of zoo models saved as legacy .h5 by each library.

Import TensorFlow-related modules only through ``keras_module`` so that TF_CPP_MIN_LOG_LEVEL
and KERAS_BACKEND are set first.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import importlib  # noqa: E402
import logging  # noqa: E402
import threading  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import zoo  # noqa: E402

LIBRARIES = ["tf_keras", "keras3"]
_MODULES = {"tf_keras": "tf_keras", "keras3": "keras"}

ATOL = 1e-5


def keras_module(library: str):
    """The module for ``library``: "tf_keras" -> tf_keras, "keras3" -> keras (3.x)."""
    mod = importlib.import_module(_MODULES[library])
    if library == "keras3":
        assert int(mod.__version__.split(".")[0]) >= 3, mod.__version__
    _quiet()
    return mod


_quieted = False


def _quiet() -> None:
    global _quieted
    if _quieted:
        return
    _quieted = True
    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)


def _as_list(y) -> list[np.ndarray]:
    if isinstance(y, dict):
        y = list(y.values())
    if not isinstance(y, (list, tuple)):
        y = [y]
    return [np.asarray(v) for v in y]


def predict(model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Run ``model`` in inference mode on ``inputs`` (model-input order); list of outputs.

    Calls the model eagerly (``model(x, training=False)``): the library's own layer code, and
    much faster for tiny models than ``predict`` (which traces a tf.function per model)."""
    x = list(inputs)
    return _as_list(model(x[0] if len(x) == 1 else x, training=False))


def load_and_predict(library: str, path: Path | str, inputs: list[np.ndarray]):
    """Load ``path`` with ``library``'s ``load_model(path, compile=False)`` and predict."""
    keras = keras_module(library)
    model = keras.models.load_model(str(path), compile=False)
    return predict(model, inputs)


def assert_outputs_close(actual, expected, atol: float = ATOL, what: str = "") -> None:
    """Same number of outputs, same shapes, elementwise |actual - expected| <= atol."""
    actual = _as_list(actual)
    expected = _as_list(expected)
    prefix = f"{what}: " if what else ""
    assert len(actual) == len(expected), f"{prefix}{len(actual)} outputs, expected {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert tuple(a.shape) == tuple(e.shape), (
            f"{prefix}output {i}: shape {tuple(a.shape)}, expected {tuple(e.shape)}"
        )
        np.testing.assert_allclose(
            a.astype(np.float64),
            e.astype(np.float64),
            rtol=0,
            atol=atol,
            err_msg=f"{prefix}output {i}",
        )


@dataclass
class SavedZooModel:
    library: str
    name: str
    path: Path  # legacy .h5 written by the library's own model.save(path)
    inputs: list[np.ndarray]
    outputs: list[np.ndarray]  # the in-memory model's outputs on inputs
    tfjs_skip: str | None = None

    @property
    def keras_path(self) -> Path:
        """The same model saved by the library's own `model.save("x.keras")`."""
        return self.path.with_suffix(".keras")


@dataclass
class ZooCache:
    """Builds and saves each (library, zoo name) at most once per session."""

    root: Path
    _cache: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, library: str, name: str) -> SavedZooModel:
        key = (library, name)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self._build(library, name)
            return self._cache[key]

    def _build(self, library: str, name: str) -> SavedZooModel:
        keras = keras_module(library)
        model = zoo.build(name, keras)
        inputs = zoo.make_inputs(model)
        outputs = predict(model, inputs)
        path = self.root / library / f"{name}.h5"
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(str(path))  # legacy HDF5 (chosen by the .h5 suffix in both libraries)
        model.save(str(path.with_suffix(".keras")))
        return SavedZooModel(library, name, path, inputs, outputs, zoo.TFJS_SKIP.get(name))


def as_old_sequential(path: Path, keras_version: str, *, list_form: bool = True,
                      first: dict | None = None, drop: tuple[str, ...] = ()) -> None:
    """Rewrite a tf_keras Sequential .h5 in place as Keras <= 2.2 wrote it: no InputLayer (its
    batch_input_shape on the first layer), the layers as a bare list (Keras <= 2.2.4) or under
    config, `first` set on the first layer's config, `drop` removed from every layer's."""
    import json

    import h5py

    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        entries = config["config"]["layers"]
        assert entries[0]["class_name"] == "InputLayer"
        layers = entries[1:]
        layers[0]["config"]["batch_input_shape"] = entries[0]["config"]["batch_input_shape"]
        layers[0]["config"].update(first or {})
        for entry in layers:
            for key in drop:
                entry["config"].pop(key, None)
        config["config"]["layers"] = layers
        f.attrs["model_config"] = json.dumps(
            {"class_name": "Sequential", "config": layers} if list_form else config)
        f.attrs["keras_version"] = keras_version


def link_first_dataset_elsewhere(path: Path, group: str, other: Path) -> None:
    """Move the first dataset under `group` of the HDF5 file `path` into the file `other` and
    leave an external link to it in its place (a file whose data lives elsewhere)."""
    import h5py

    with h5py.File(path, "r+") as f, h5py.File(other, "w") as g:
        names: list[str] = []
        f[group].visititems(
            lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        target = f"{group.rstrip('/')}/{names[0]}"
        g["data"] = f[target][()]
        del f[target]
        f[target] = h5py.ExternalLink(str(other), "/data")
