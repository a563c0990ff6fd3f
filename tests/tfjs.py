"""Run TF.js layers models with the real (pure-JS) @tensorflow/tfjs 4.22 under Node.

``tests/node`` holds the npm project (``npm ci --prefix tests/node``) and two scripts:
``run_layers_model.js`` (load model.json + weight files from disk, predict) and
``make_tfjs_models.js`` (models built and saved by tfjs-layers itself).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

NODE_DIR = Path(__file__).resolve().parent / "node"
NODE_MODULES = NODE_DIR / "node_modules"
RUN_SCRIPT = NODE_DIR / "run_layers_model.js"
MAKE_SCRIPT = NODE_DIR / "make_tfjs_models.js"

TIMEOUT = 300

# The models make_tfjs_models.js writes (kept in sync by a test).
TFJS_NATIVE_MODELS = [
    "mlp",  # compiled + trained one step, saved with includeOptimizer, userDefinedMetadata
    "cnn",  # Conv2D + BatchNormalization + MaxPooling2D + Flatten + Dense, compiled (SGD)
    "embedding_lstm",  # float input feeding Embedding, LSTM(recurrentActivation sigmoid)
    "gru_timedistributed",  # GRU (resetAfter false) + TimeDistributed(Dense)
    "two_input_concat",  # functional, 2 inputs / 2 outputs, shared Dense, Concatenate, Add
    "nested_sequential",  # a Sequential called twice inside a functional model
]


class TfjsError(RuntimeError):
    """TF.js (node) failed; the message carries its stderr."""


def node_available() -> bool:
    """True when ``node`` is on PATH and tests/node/node_modules has @tensorflow/tfjs."""
    return (
        shutil.which("node") is not None
        and (NODE_MODULES / "@tensorflow" / "tfjs" / "package.json").is_file()
    )


def _node(args: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["NODE_PATH"] = str(NODE_MODULES)
    proc = subprocess.run(
        ["node", *args],
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    if proc.returncode != 0:
        raise TfjsError(
            f"node {' '.join(args)} exited with {proc.returncode}:\n{proc.stderr.strip()}"
        )
    return proc


def _encode(x: np.ndarray) -> dict:
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
        dtype, x = "int32", x.astype(np.int32)
    else:
        dtype, x = "float32", x.astype(np.float32)
    data = [v if math.isfinite(v) else repr(v) for v in x.reshape(-1).tolist()]
    return {"dtype": dtype, "shape": list(x.shape), "data": data}


def _decode_number(v):
    if isinstance(v, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(v, float(v))
    return v


def _decode(entry: dict) -> np.ndarray:
    dtype = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}.get(
        entry.get("dtype", "float32"), np.float32
    )
    data = [_decode_number(v) for v in entry["data"]]
    return np.asarray(data, dtype=np.float64).astype(dtype).reshape(entry["shape"])


def run_tfjs(model_json: Path | str, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Load ``model_json`` (plus its weight files) with tf.loadLayersModel and predict on
    ``inputs`` (model-input order). Returns the outputs in model-output order.

    Raises TfjsError with node's stderr when loading or predicting fails."""
    model_json = Path(model_json).resolve()
    with tempfile.TemporaryDirectory(prefix="run_tfjs_") as tmp:
        inp = Path(tmp) / "inputs.json"
        out = Path(tmp) / "outputs.json"
        inp.write_text(json.dumps({"inputs": [_encode(x) for x in inputs]}))
        _node([str(RUN_SCRIPT), str(model_json), str(inp), str(out)])
        result = json.loads(out.read_text())
    return [_decode(e) for e in result["outputs"]]


def make_tfjs_models(
    outdir: Path | str,
) -> dict[str, tuple[Path, list[np.ndarray], list[np.ndarray]]]:
    """Build and save the tfjs-layers-native models into ``outdir``.

    Returns ``{name: (model_dir, inputs, outputs)}`` where ``model_dir`` holds model.json +
    weights.bin and outputs are what TF.js computed on inputs."""
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    proc = _node([str(MAKE_SCRIPT), str(outdir)])
    names = json.loads(proc.stdout.strip().splitlines()[-1])
    models = {}
    for name in names:
        model_dir = outdir / name
        io = json.loads((model_dir / "io.json").read_text())
        models[name] = (
            model_dir,
            [_decode(e) for e in io["inputs"]],
            [_decode(e) for e in io["outputs"]],
        )
    return models


DECODE_SCRIPT = NODE_DIR / "decode_weights.js"


def decode_weights(model_json: Path | str) -> dict[str, np.ndarray]:
    """The weights of a TF.js model.json (or bare weights manifest) as tfjs-core's
    tf.io.decodeWeights decodes them."""
    import base64

    with tempfile.TemporaryDirectory(prefix="decode_tfjs_") as tmp:
        out = Path(tmp) / "weights.json"
        _node([str(DECODE_SCRIPT), str(Path(model_json).resolve()), str(out)])
        result = json.loads(out.read_text())
    decoded = {}
    for entry in result["weights"]:
        if entry["dtype"] == "string":
            values = [base64.b64decode(v) for v in entry["data"]]
            decoded[entry["name"]] = np.array(values, dtype=object).reshape(entry["shape"])
        else:
            decoded[entry["name"]] = _decode(entry)
    return decoded
