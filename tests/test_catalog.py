"""Checks the layer catalog (tests/catalog.py) against the real libraries: every exported layer
class is built or has a reason, each model predicts finite varying outputs, each library
reloads its own .keras and .h5 files exactly except where SELF_ROUNDTRIP_FAILS says it cannot,
and a class in both libraries is the same model in both except where CROSS_LIBRARY_DIFFERS says.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import catalog
import harness

FORMATS = ("keras", "h5")

_BUILT = [
    (library, name)
    for library in catalog.LIBRARIES
    for name in catalog.canonical_classes(library)
    if catalog.unbuildable(library, name) is None
]


class _Built:
    """Each (library, class) model built and predicted at most once per session."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], tuple] = {}

    def get(self, library: str, name: str) -> tuple[Any, Any, list[np.ndarray], list[np.ndarray]]:
        """(keras module, model, inputs, outputs of the in-memory model)."""
        key = (library, name)
        if key not in self._cache:
            keras = harness.keras_module(library)
            model, inputs = catalog.build(library, name, keras)
            self._cache[key] = (keras, model, inputs, harness.predict(model, inputs))
        return self._cache[key]


@pytest.fixture(scope="session")
def built() -> _Built:
    return _Built()


def roundtrip(keras: Any, model: Any, inputs: list[np.ndarray], path: Path) -> list[np.ndarray]:
    """``model.save(path)`` then ``load_model(path, compile=False)`` and predict; the format
    follows the suffix in both libraries (.keras zip, .h5 legacy HDF5).

    A library error is re-raised as RoundTripError saying the stage ("save" or "load") and
    the root cause in one line (catalog.one_line_error)."""
    try:
        model.save(str(path))
    except Exception as exc:
        raise RoundTripError(f"save: {catalog.one_line_error(exc)}") from exc
    try:
        with _default_safe_mode(keras):
            reloaded = keras.models.load_model(str(path), compile=False)
        return harness.predict(reloaded, inputs)
    except Exception as exc:
        raise RoundTripError(f"load: {catalog.one_line_error(exc)}") from exc


def _default_safe_mode(keras: Any):
    """Safe mode as in a fresh process, for the duration of one load.

    enable_unsafe_deserialization() is process-global and sticky (tf_keras's clear_session
    keeps it), and other tests in the session call it (the matrix runner does); the Lambda
    facts in SELF_ROUNDTRIP_FAILS are about the default. Only the libraries' private
    SafeModeScope can set the flag back to "unset" (None): an explicit load_model(safe_mode=True)
    does not override the global flag, and SafeModeScope(True) would also refuse the Lambda in a
    tf_keras .h5, which the default accepts."""
    if int(keras.__version__.split(".")[0]) >= 3:
        from keras.src.saving.serialization_lib import SafeModeScope
    else:
        from tf_keras.src.saving.serialization_lib import SafeModeScope
    return SafeModeScope(None)


class RoundTripError(Exception):
    """A library failed to save or reload its own file; the message is the one-line fact."""


def _sublayers(layer):
    # Wrapped layers and RNN cells are not in model.layers; the class under test may be one.
    yield layer
    for attr in ("layers", "cells"):
        for sub in getattr(layer, attr, None) or []:
            yield from _sublayers(sub)
    for attr in ("layer", "forward_layer", "backward_layer", "cell"):
        sub = getattr(layer, attr, None)
        if sub is not None and sub is not layer:
            yield from _sublayers(sub)


def test_every_class_is_built_or_has_a_reason():
    for library in catalog.LIBRARIES:
        classes = catalog.layer_classes(library)
        assert classes, library
        for alias, canonical in classes.items():
            assert classes[canonical] == canonical, (library, alias, canonical)
            reason = catalog.unbuildable(library, alias)
            if reason is not None:
                # A class without a case gets "no catalog case ..."; that is a gap, not a reason.
                assert "\n" not in reason and not reason.startswith("no catalog case"), (
                    library,
                    canonical,
                    reason,
                )
                with pytest.raises(ValueError, match=re.escape(reason)):
                    catalog.build(library, alias, harness.keras_module(library))
    # The documented folds, and the only class exported under another name than its own.
    assert catalog.layer_classes("tf_keras")["AvgPool2D"] == "AveragePooling2D"
    assert catalog.layer_classes("keras3")["Convolution2D"] == "Conv2D"
    assert catalog.layer_classes("keras3")["GroupQueryAttention"] == "GroupQueryAttention"
    assert "LocallyConnected2D" in catalog.layer_classes("tf_keras")
    assert "LocallyConnected2D" not in catalog.layer_classes("keras3")
    keras = harness.keras_module("keras3")
    model, _ = catalog.build("keras3", "AvgPool2D", keras)
    assert isinstance(model.layers[-1], keras.layers.AveragePooling2D)


def test_known_failures_refer_to_built_classes():
    for library, name, fmt in catalog.SELF_ROUNDTRIP_FAILS:
        assert (library, name) in _BUILT and fmt in FORMATS, (library, name, fmt)
    for name in catalog.CROSS_LIBRARY_DIFFERS:
        assert ("tf_keras", name) in _BUILT and ("keras3", name) in _BUILT, name


@pytest.mark.parametrize(("library", "name"), _BUILT, ids=[f"{lib}-{n}" for lib, n in _BUILT])
def test_builds_and_predicts(built, library, name):
    keras, model, inputs, outputs = built.get(library, name)
    assert model.__class__.__name__ == "Functional", model.__class__
    cls = getattr(keras.layers, name)
    assert any(isinstance(s, cls) for layer in model.layers for s in _sublayers(layer)), name
    assert len(inputs) == len(model.inputs)
    for x in inputs:
        assert x.shape[0] == catalog.BATCH
    for i, y in enumerate(outputs):
        assert y.shape[0] == catalog.BATCH, (i, y.shape)
        values = y.astype(np.float64)
        assert np.all(np.isfinite(values)), f"output {i} not finite"
        assert not np.all(values == values[:1]), f"output {i} is the same for every sample"


def test_build_is_deterministic():
    for library in catalog.LIBRARIES:
        keras = harness.keras_module(library)
        for name in ("BatchNormalization", "LSTM", "TextVectorization"):
            (m1, x1), (m2, x2) = (catalog.build(library, name, keras) for _ in range(2))
            for a, b in zip(m1.get_weights() + x1, m2.get_weights() + x2, strict=True):
                np.testing.assert_array_equal(a, b)


_IN_BOTH = sorted(
    {name for lib, name in _BUILT if lib == "tf_keras"}
    & {name for lib, name in _BUILT if lib == "keras3"}
)


@pytest.mark.parametrize("name", _IN_BOTH)
def test_same_model_in_both_libraries(built, name):
    """Same seeds give the same inputs and weights in both libraries; outputs then agree
    unless CROSS_LIBRARY_DIFFERS says why not."""
    _, tk_model, tk_inputs, tk_outputs = built.get("tf_keras", name)
    _, k3_model, k3_inputs, k3_outputs = built.get("keras3", name)
    for a, b in zip(tk_inputs, k3_inputs, strict=True):
        np.testing.assert_array_equal(a, b)
    tk_weights, k3_weights = tk_model.get_weights(), k3_model.get_weights()
    assert [w.shape for w in tk_weights] == [w.shape for w in k3_weights]
    for a, b in zip(tk_weights, k3_weights, strict=True):
        np.testing.assert_array_equal(a, b)
    reason = catalog.CROSS_LIBRARY_DIFFERS.get(name)
    if reason is None:
        harness.assert_outputs_close(k3_outputs, tk_outputs, what=f"{name} keras3 vs tf_keras")
    else:
        with pytest.raises(AssertionError):
            harness.assert_outputs_close(k3_outputs, tk_outputs)


_ROUNDTRIPS = [(lib, n, fmt) for lib, n in _BUILT for fmt in FORMATS]


@pytest.mark.parametrize(
    ("library", "name", "fmt"), _ROUNDTRIPS, ids=[f"{a}-{b}-{c}" for a, b, c in _ROUNDTRIPS]
)
def test_self_roundtrip(built, tmp_path, library, name, fmt):
    keras, model, inputs, outputs = built.get(library, name)
    expected_failure = catalog.SELF_ROUNDTRIP_FAILS.get((library, name, fmt))
    try:
        reloaded = roundtrip(keras, model, inputs, tmp_path / f"x.{fmt}")
    except RoundTripError as exc:
        assert str(exc) == expected_failure, f"{library} {name} .{fmt}: {exc}"
        return
    assert expected_failure is None, "now round trips: drop its SELF_ROUNDTRIP_FAILS entry"
    harness.assert_outputs_close(reloaded, outputs, what=f"{library} {name} .{fmt}")
