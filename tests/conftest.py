"""Session fixtures: zoo models saved once per session by tf_keras and Keras 3, the TF.js
runtime, and the tfjs-layers-native models.

TF.js legs need Node and ``npm ci --prefix tests/node``. Without them those tests fail (so CI
cannot pass silently without TF.js) unless MODELPORT_SKIP_TFJS=1 is set, which skips them.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

import harness  # noqa: E402
import tfjs  # noqa: E402


def pytest_configure(config):
    # Noise from the libraries under test, not from modelport.
    for line in (
        "ignore:You are saving your model as an HDF5 file:UserWarning",
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",
    ):
        config.addinivalue_line("filterwarnings", line)


@pytest.fixture(scope="session")
def zoo_cache(tmp_path_factory) -> harness.ZooCache:
    """``zoo_cache.get(library, name)`` -> SavedZooModel (built + saved once per session)."""
    return harness.ZooCache(tmp_path_factory.mktemp("zoo"))


@pytest.fixture(scope="session")
def load_and_predict():
    """``load_and_predict(library, path, inputs)`` -> list of outputs (compile=False load)."""
    return harness.load_and_predict


@pytest.fixture(scope="session")
def node_tfjs() -> None:
    """Require the Node + @tensorflow/tfjs runtime (see module docstring)."""
    if tfjs.node_available():
        return
    msg = (
        "TF.js runtime missing: need `node` on PATH and `npm ci --prefix tests/node` "
        f"({tfjs.NODE_MODULES} has no @tensorflow/tfjs)"
    )
    if os.environ.get("MODELPORT_SKIP_TFJS") == "1":
        pytest.skip(msg + "; MODELPORT_SKIP_TFJS=1")
    pytest.fail(msg + "; set MODELPORT_SKIP_TFJS=1 to skip TF.js tests")


@pytest.fixture(scope="session")
def tfjs_models(node_tfjs, tmp_path_factory):
    """{name: (model_dir, inputs, outputs)} for models built and saved by tfjs-layers."""
    return tfjs.make_tfjs_models(tmp_path_factory.mktemp("tfjs_native"))


@pytest.fixture(scope="session")
def run_tfjs(node_tfjs):
    """``run_tfjs(model_json, inputs)`` -> outputs computed by TF.js."""
    return tfjs.run_tfjs
