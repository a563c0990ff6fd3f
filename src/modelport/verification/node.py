"""The TF.js runtime's Node side: finding node and npm, installing the pure-JS
@tensorflow/tfjs into a per-user cache on first use, and running verify's runner.js there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from modelport.errors import MissingExtraError, ModelportError

JS_DIR = Path(__file__).resolve().parent / "js"
RUNNER = JS_DIR / "runner.js"
TFJS_VERSION = json.loads((JS_DIR / "package.json").read_text())["dependencies"][
    "@tensorflow/tfjs"]
INSTALL_TIMEOUT = 900
RUN_TIMEOUT = 1800


class TfjsRunError(ModelportError):
    """TF.js could not load or run the model; the message is TF.js's own."""

    def __init__(self, stage: str, message: str, path: str | Path | None = None):
        self.stage = stage
        super().__init__(message, path)


def cache_root() -> Path:
    """Where modelport keeps what it installs: $MODELPORT_CACHE_DIR, else
    $XDG_CACHE_HOME/modelport, else ~/.cache/modelport."""
    explicit = os.environ.get("MODELPORT_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modelport"


def runtime_dir() -> Path:
    return cache_root() / f"tfjs-{TFJS_VERSION}"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise MissingExtraError(
            f"the TF.js runtime needs Node.js ({name} not found on PATH): install Node.js 18 "
            "or newer with npm, or choose another runtime with --runtime-a/--runtime-b")
    return found


def _installed(directory: Path) -> bool:
    return (directory / "node_modules" / "@tensorflow" / "tfjs" / "package.json").is_file()


def ensure_runtime() -> Path:
    """The folder whose node_modules holds @tensorflow/tfjs, installed on first use with
    `npm ci` from the lock file modelport ships (into a temporary sibling, then renamed, so
    an interrupted install is never taken for a finished one)."""
    _tool("node")
    target = runtime_dir()
    if _installed(target):
        return target
    npm = _tool("npm")
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"modelport: installing @tensorflow/tfjs {TFJS_VERSION} into {target} (first use "
          "of the TF.js runtime; needs the npm registry)", file=sys.stderr)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part",
                                    dir=target.parent))
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(JS_DIR / name, staging / name)
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error", "--omit=dev"],
            cwd=staging, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        if proc.returncode != 0 or not _installed(staging):
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise MissingExtraError(
                f"installing @tensorflow/tfjs {TFJS_VERSION} with npm failed ({last}); the "
                f"TF.js runtime needs the npm registry once, or a finished install in {target}")
        try:
            os.replace(staging, target)
        except OSError:
            if not _installed(target):  # not a concurrent install that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _encode_input(array: np.ndarray) -> tuple[str, np.ndarray]:
    if array.dtype.kind == "f":
        return "float32", array.astype("<f4")
    if array.dtype.kind in "iub":
        return "int32", array.astype("<i4")
    raise ModelportError(f"TF.js takes float32 and int32 inputs, not {array.dtype}")


def run(model_json: Path, inputs: list[tuple[str, np.ndarray]], layers: bool = False
        ) -> tuple[list[str], list[np.ndarray], str]:
    """Run the TF.js model `model_json` on named inputs (in model-input order). Returns the
    output names, the outputs and the tfjs version (with `layers`, of a layers model: every
    layer's output by layer name). TfjsRunError carries TF.js's message."""
    directory = ensure_runtime()
    node = _tool("node")
    with tempfile.TemporaryDirectory(prefix="modelport_tfjs_") as tmp:
        work = Path(tmp)
        specs = []
        for i, (name, array) in enumerate(inputs):
            dtype, data = _encode_input(np.asarray(array))
            file = work / f"input_{i}.bin"
            file.write_bytes(np.ascontiguousarray(data).tobytes())
            specs.append({"name": name, "dtype": dtype, "shape": list(data.shape),
                          "file": str(file)})
        job = work / "job.json"
        job.write_text(json.dumps({"model": str(Path(model_json).resolve()), "inputs": specs,
                                   "outdir": str(work), "layers": layers}))
        env = dict(os.environ, NODE_PATH=str(directory / "node_modules"))
        proc = subprocess.run([node, str(RUNNER), str(job)], cwd=directory, env=env,
                              capture_output=True, text=True, timeout=RUN_TIMEOUT)
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or ["node exited without a message"]
            line = next((x for x in lines if x.startswith(("load: ", "run: "))), lines[-1])
            stage, _, message = line.partition(": ")
            if stage not in ("load", "run"):
                stage, message = "run", line
            raise TfjsRunError(stage, message, model_json)
        result = json.loads((work / "outputs.json").read_text())
        names, outputs = [], []
        for spec in result["outputs"]:
            dtype = "<f4" if spec["dtype"] == "float32" else "<i4"
            data = np.fromfile(spec["file"], dtype=dtype)
            outputs.append(data.reshape(spec["shape"]))
            names.append(spec["name"])
        return names, outputs, result["tfjs"]
