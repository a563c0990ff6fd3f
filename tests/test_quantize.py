"""Quantized TF.js output (--quantize-uint8 / --quantize-uint16 / --quantize-float16), judged
by the real runtimes: @tensorflow/tfjs in Node loads and runs what modelport writes, tfjs-core's
own tf.io.decodeWeights decodes its shards, and Keras 3 / tf_keras load it back as .h5.

Tolerances (section 1 of FORMATS.md gives the math):
- weights, uint8/uint16: |dequantized - original| <= scale/2 + one float32 ulp of the value
  (rounding to the nearest step, then the float64 result stored as float32); the manifest's
  scale must itself be (max - min)/qmax of the original weight, so a wrong scale cannot widen
  the bound. float16: the dequantized value is exactly float32(float16(x)) and
  |error| <= max(|x| * 2**-11, 2**-25) (float16's unit roundoff; half the subnormal step).
- weights TF.js decodes vs weights modelport reads: bit for bit.
- outputs of the quantized model in TF.js vs the original model's outputs:
      atol = 1e-5 + C * delta * sqrt(N) * max(1, max|y|),  C = 2
  delta is the largest per-element weight error the format allows for that model (computed
  from the ORIGINAL weights, never from what the quantizer wrote: (max - min) / (2 qmax) per
  tensor for uint8/uint16, max|w| * 2**-11 for float16), N the number of quantized model
  weights, max|y| the scale of the original outputs, 1e-5 the usual float32 cross-runtime
  noise. Rationale: rounding errors are independent, zero-mean and at most delta, so an
  output, a sum of weight * activation products through the network, moves by about
  delta * sqrt(N) * activation scale (a random walk); a worst-case bound (delta * N * gains)
  would be too loose to catch anything. On the zoo the observed error stays under 25% of
  this tolerance (the largest: cnn, whose BatchNormalization amplifies). It catches gross
  breakage (uint16 bytes in the wrong order, min with the wrong sign, a wrong scale); errors
  of about one quantization step (floor instead of round, a missing zero-point nudge, an
  unnudged min, float16 off by an ulp) are the weight checks' job, and a reader computing
  q*scale + min differently from TF.js (float32 instead of float64, Math.round's half-up)
  is caught by the bit-for-bit comparisons.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import modelport
from modelport import cli

import tfjs
import zoo
from harness import LIBRARIES, assert_outputs_close, load_and_predict

MODES = ("uint8", "uint16", "float16")
QMAX = {"uint8": 255, "uint16": 65535}
ITEMSIZE = {"uint8": 1, "uint16": 2, "float16": 2, "float32": 4, "int32": 4, "bool": 1}
F16_UNIT_ROUNDOFF = 2.0**-11
F16_HALF_SUBNORMAL_STEP = 2.0**-25
OUTPUT_C = 2.0
RUNTIME_ATOL = 1e-5

TFJS_MODELS = [(lib, name) for lib in LIBRARIES for name in zoo.ZOO if name not in zoo.TFJS_SKIP]


# ---------------------------------------------------------------------------------- helpers


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    """The real command line, as a user runs it."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "modelport", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120)


def cli_in_process(*args: str | Path) -> tuple[int, str, str]:
    """modelport.cli.main in this process (the same code path, without the interpreter start
    per call, for the many conversions of the zoo): exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


class NodeJob:
    """One tests/node script (run_many.js or decode_many.js) over a JSON payload, started in
    the background so that several run at once; ``wait`` gives one JSON line per item."""

    def __init__(self, script: str, payload: dict[str, Any], workdir: Path):
        stem = workdir / Path(script).stem
        self.payload = stem.with_suffix(".in.json")
        self.results = stem.with_suffix(".jsonl")
        self.stderr = stem.with_suffix(".stderr")
        self.payload.write_text(json.dumps(payload))
        env = dict(os.environ, NODE_PATH=str(tfjs.NODE_MODULES))
        with open(self.stderr, "w") as err:
            self.process = subprocess.Popen(
                ["node", str(tfjs.NODE_DIR / script), str(self.payload), str(self.results)],
                cwd=tfjs.NODE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=err)
        self.script = script

    def wait(self) -> list[dict[str, Any]]:
        code = self.process.wait(timeout=tfjs.TIMEOUT)
        if code != 0:
            raise tfjs.TfjsError(f"node {self.script} exited with {code}: "
                                 f"{self.stderr.read_text().strip()}")
        return [json.loads(line) for line in self.results.read_text().splitlines()]


def run_many_payload(jobs: list[tuple[Path, list[np.ndarray]]]) -> dict[str, Any]:
    """run_many.js's jobs: (model.json, inputs in model-input order) each."""
    return {"jobs": [{"model_json": str(Path(m).resolve()),
                      "inputs": [tfjs._encode(x) for x in inputs]} for m, inputs in jobs]}


def tfjs_outputs(result: dict[str, Any]) -> list[np.ndarray]:
    assert "error" not in result, f"TF.js failed ({result.get('stage')}): {result['error']}"
    return [tfjs._decode(e) for e in result["outputs"]]


def decoded_weights(result: dict[str, Any]) -> dict[str, np.ndarray]:
    """decode_many.js's bytes of every weight as arrays (bit-exact)."""
    assert "error" not in result, f"tf.io.decodeWeights failed: {result['error']}"
    out = {}
    for entry in result["weights"]:
        dtype = {"float32": "<f4", "int32": "<i4", "bool": "u1"}[entry["dtype"]]
        raw = base64.b64decode(entry["bytes"])
        out[entry["name"]] = np.frombuffer(raw, dtype).reshape(entry["shape"])
    return out


def modelport_weights(path: Path, optimizer: bool = True) -> dict[str, np.ndarray]:
    """Every weight modelport reads from `path` (dequantized), by name, in file order."""
    with modelport.read(path) as model:
        weights = list(model.all_weights())
        if optimizer:
            weights += list(model.optimizer_weights)
        values = {w.name: np.array(w.read()) for w in weights}
    assert len(values) == len(weights), "duplicate weight names"
    return values


def as_tfjs(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The dtypes TF.js holds (int64 -> int32, as the writer stores them)."""
    return {k: v.astype(np.int32) if v.dtype == np.int64 else v for k, v in values.items()}


def manifest(web: Path) -> list[dict[str, Any]]:
    return json.loads((web / "model.json").read_text())["weightsManifest"]


def specs_of(web: Path) -> list[dict[str, Any]]:
    return [spec for group in manifest(web) for spec in group["weights"]]


def stored_bytes(spec: dict[str, Any]) -> int:
    dtype = spec.get("quantization", {}).get("dtype", spec["dtype"])
    return math.prod(spec["shape"]) * ITEMSIZE[dtype]


def assert_bitwise_equal(theirs: dict[str, np.ndarray], ours: dict[str, np.ndarray],
                         what: str) -> None:
    assert list(theirs) == list(ours) or sorted(theirs) == sorted(ours), (
        f"{what}: TF.js decoded {sorted(theirs)}, modelport read {sorted(ours)}")
    for name, value in ours.items():
        other = theirs[name]
        kind = {"f": "float32", "i": "int32", "b": "bool"}[value.dtype.kind]
        assert value.dtype == np.dtype(kind), f"{what}: {name} read as {value.dtype}"
        assert other.shape == value.shape, f"{what}: {name} {other.shape} vs {value.shape}"
        a = np.ascontiguousarray(other.astype(value.dtype)).reshape(-1)
        b = np.ascontiguousarray(value).reshape(-1)
        differ = np.flatnonzero((a.view(np.uint8) != b.view(np.uint8))
                                .reshape(-1, value.itemsize).any(axis=1))
        assert differ.size == 0, (
            f"{what}: {name}: TF.js decodes {a[differ[0]]!r}, modelport reads "
            f"{b[differ[0]]!r} ({differ.size} of {b.size} values differ in their bits)")


def check_quantized_weight(name: str, original: np.ndarray, restored: np.ndarray,
                           quantization: dict[str, Any]) -> float:
    """The error bounds of section 1 for one weight; returns its max abs error."""
    x = original.astype(np.float64)
    y = restored.astype(np.float64)
    assert restored.dtype == np.float32 and restored.shape == original.shape, name
    assert np.all(np.isfinite(y)), name
    error = np.abs(y - x)
    mode = quantization["dtype"]
    if mode == "float16":
        expected = original.astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(restored, expected, err_msg=f"{name}: not a float16 cast")
        bound = np.maximum(np.abs(x) * F16_UNIT_ROUNDOFF, F16_HALF_SUBNORMAL_STEP)
    else:
        low, high = float(x.min()), float(x.max())
        scale, minimum = float(quantization["scale"]), float(quantization["min"])
        if low == high:
            assert scale == 1.0 and minimum == low, (name, quantization)
        else:
            assert math.isclose(scale, (high - low) / QMAX[mode], rel_tol=1e-9), (
                f"{name}: scale {scale}, but (max - min)/{QMAX[mode]} is "
                f"{(high - low) / QMAX[mode]}")
            if low <= 0 <= high:  # zero is exactly representable (q = -min/scale)
                zero_point = -minimum / scale
                assert abs(zero_point - round(zero_point)) < 1e-6, (name, quantization)
        ulp = np.spacing(np.maximum(np.abs(original), np.abs(restored))).astype(np.float64)
        bound = scale / 2 * (1 + 1e-9) + ulp
    bound = np.broadcast_to(bound, x.shape)
    worst = np.unravel_index(int(np.argmax(error - bound)), x.shape)
    assert np.all(error <= bound), (
        f"{name} ({mode}): |dequantized - original| = {error[worst]:.3g} at "
        f"{original[worst]!r}, bound {bound[worst]:.3g}")
    return float(error.max()) if error.size else 0.0


def delta_allowed(weights: list[np.ndarray], mode: str) -> float:
    """The largest per-element error `mode` may give these (original float32) weights."""
    worst = 0.0
    for w in weights:
        x = w.astype(np.float64)
        if mode == "float16":
            worst = max(worst, float(np.abs(x).max()) * F16_UNIT_ROUNDOFF,
                        F16_HALF_SUBNORMAL_STEP)
        else:
            worst = max(worst, (float(x.max()) - float(x.min())) / (2 * QMAX[mode]))
    return worst


def output_tolerance(weights: list[np.ndarray], mode: str, outputs: list[np.ndarray]) -> float:
    """See the module docstring."""
    count = sum(w.size for w in weights)
    y_scale = max(1.0, max(float(np.abs(y).max()) for y in outputs))
    return RUNTIME_ATOL + OUTPUT_C * delta_allowed(weights, mode) * math.sqrt(count) * y_scale


# ------------------------------------------------------------------------ 1. the zoo, quantized


@dataclass
class QuantizedCase:
    library: str
    name: str
    mode: str
    saved: Any  # harness.SavedZooModel
    web: Path
    code: int
    stdout: str
    stderr: str
    run: dict[str, Any] = field(default_factory=dict)
    decoded: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def quantized_zoo(zoo_cache, node_tfjs, tmp_path_factory) -> dict[tuple, QuantizedCase]:
    """Every TF.js-runnable zoo model of both libraries converted by the CLI with each
    --quantize-* flag (no patterns); TF.js runs them all and decodes their weights in two
    Node processes running side by side."""
    root = tmp_path_factory.mktemp("quantized_zoo")
    cases = {}
    for library, name in TFJS_MODELS:
        saved = zoo_cache.get(library, name)
        for mode in MODES:
            web = root / library / name / mode
            code, out, err = cli_in_process("convert", f"--quantize-{mode}", saved.path, web,
                                            "--include-optimizer")
            cases[library, name, mode] = QuantizedCase(library, name, mode, saved, web, code,
                                                       out, err)
    done = [c for c in cases.values() if c.code == 0]
    runs = NodeJob("run_many.js", run_many_payload([(c.web / "model.json", c.saved.inputs)
                                            for c in done]), root)
    decodes = NodeJob("decode_many.js", {"files": [str(c.web / "model.json") for c in done]},
                      root)
    for case, result in zip(done, runs.wait(), strict=True):
        case.run = result
    for case, result in zip(done, decodes.wait(), strict=True):
        case.decoded = result
    return cases


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("library, name",
                         [pytest.param(lib, n, id=f"{lib}-{n}") for lib, n in TFJS_MODELS])
def test_zoo_quantized(library, name, mode, quantized_zoo):
    case = quantized_zoo[library, name, mode]
    assert case.code == 0, case.stderr
    original = modelport_weights(case.saved.path)
    ours = modelport_weights(case.web)
    specs = specs_of(case.web)
    assert [s["name"] for s in specs] == list(original) == list(ours)

    # The manifest: every float32 weight stored as `mode`, nothing else touched; the shards
    # hold exactly the stored bytes.
    for spec in specs:
        expected = original[spec["name"]]
        if expected.dtype == np.float32:
            quantization = spec.get("quantization")
            assert spec["dtype"] == "float32" and quantization, spec
            assert quantization["dtype"] == mode, spec
            assert quantization.get("original_dtype") == "float32", spec
        else:
            assert "quantization" not in spec, spec
            np.testing.assert_array_equal(ours[spec["name"]], expected)
    shards = sum((case.web / p).stat().st_size for g in manifest(case.web) for p in g["paths"])
    assert shards == sum(stored_bytes(s) for s in specs)

    # (a) TF.js loads and runs it.
    outputs = tfjs_outputs(case.run)

    # (b) TF.js dequantizes to exactly what modelport reads back.
    assert_bitwise_equal(decoded_weights(case.decoded), ours, f"{library} {name} {mode}")

    # (c) each weight is within the rounding bound of its original.
    errors = [check_quantized_weight(s["name"], original[s["name"]], ours[s["name"]],
                                     s["quantization"]) for s in specs if "quantization" in s]
    assert max(errors) > 0, "quantization changed nothing: are the weights really quantized?"

    # (d) TF.js outputs are within the tolerance the weight error allows (module docstring).
    model_weights = [v for k, v in modelport_weights(case.saved.path, optimizer=False).items()
                     if v.dtype == np.float32]
    atol = output_tolerance(model_weights, mode, case.saved.outputs)
    assert_outputs_close(outputs, case.saved.outputs, atol=atol,
                         what=f"TF.js on {library} {name} quantized to {mode} (atol {atol:.3g})")

    # The summary on stdout lists every weight.
    for spec in specs:
        assert re.search(rf"^\s+{re.escape(spec['name'])}\s", case.stdout, re.M), spec["name"]


# ------------------------------------------------------ 4. quantized TF.js -> .h5 -> Keras

KERAS_CASES = ([("keras3", name, "uint8") for name in zoo.ZOO if name not in zoo.TFJS_SKIP]
               + [("tf_keras", name, mode) for name in ("mlp", "cnn", "bidirectional_lstm")
                  for mode in ("uint16", "float16")])


@pytest.mark.parametrize("library, name, mode",
                         [pytest.param(*c, id="-".join(c)) for c in KERAS_CASES])
def test_quantized_tfjs_to_h5(library, name, mode, quantized_zoo, tmp_path):
    """What TF.js computes with the quantized model is what Keras computes with the .h5 that
    modelport makes of it: the dequantized weights survive bit for bit."""
    case = quantized_zoo[library, name, mode]
    assert case.code == 0, case.stderr
    expected = tfjs_outputs(case.run)
    out = tmp_path / "back.h5"
    code, _, err = cli_in_process("convert", case.web, out)
    assert code == 0, err
    theirs = decoded_weights(case.decoded)
    back = modelport_weights(out)
    for weight, value in back.items():
        assert value.tobytes() == theirs[weight].astype(value.dtype).tobytes(), weight
    for consumer in ("keras3", "tf_keras"):
        assert_outputs_close(load_and_predict(consumer, out, case.saved.inputs), expected,
                             what=f"{consumer} on the .h5 of quantized {library} {name} {mode}")


# --------------------------------------------------------------------------- 2. the flags


@pytest.fixture(scope="module")
def mlp(zoo_cache):
    """Dense layers dense, dense_1, dense_2 and Adam state with an int32 `iteration`."""
    return zoo_cache.get("tf_keras", "mlp")


def _summary_rows(stdout: str) -> tuple[dict[str, list[str]], str]:
    lines = stdout.splitlines()
    start = lines.index("quantization:")
    rows, total = {}, None
    for line in lines[start + 2:]:  # after the header row
        if line.strip().startswith("total:"):
            total = line.strip()
            break
        cells = line.split()
        rows[cells[0]] = cells[1:]
    assert total is not None, stdout
    return rows, total


def test_patterns_select_dtypes_and_summary(mlp, tmp_path):
    web = tmp_path / "web"
    proc = run_cli("convert", "--quantize-float16", "dense*/kernel", "--quantize-uint8",
                   mlp.path, web, "--include-optimizer")
    assert proc.returncode == 0, proc.stderr
    specs = specs_of(web)
    kinds = {s["name"]: s.get("quantization", {}).get("dtype", s["dtype"]) for s in specs}
    expected = {}
    for spec in specs:
        if spec["dtype"] == "int32":  # no pattern names it: the fallback is float32 only
            expected[spec["name"]] = "int32"
        elif re.fullmatch(r"dense[^/]*/kernel", spec["name"]):
            expected[spec["name"]] = "float16"
        else:
            expected[spec["name"]] = "uint8"
    assert kinds == expected
    # Layer names depend on how many layers the session built before (dense, dense_90, ...).
    kernels = [s["name"] for s in specs if re.fullmatch(r"dense[^/]*/kernel", s["name"])]
    assert len(kernels) == 3
    assert sorted(n for n, k in kinds.items() if k == "float16") == sorted(kernels)
    first = kernels[0].split("/")[0]
    assert kinds["iteration"] == "int32" and kinds[f"{first}/bias"] == "uint8"
    assert kinds[f"Adam/m/{first}/kernel"] == "uint8"  # the pattern is anchored at the start

    # The summary: every weight, its stored dtype, bytes before and after, max error, total.
    original = modelport_weights(mlp.path)
    restored = modelport_weights(web)
    rows, total = _summary_rows(proc.stdout)
    assert list(rows) == [s["name"] for s in specs]
    for spec in specs:
        dtype, before, after, error = rows[spec["name"]]
        count = math.prod(spec["shape"])
        assert dtype == kinds[spec["name"]]
        assert int(before.replace(",", "")) == count * 4
        assert int(after.replace(",", "")) == stored_bytes(spec)
        if dtype == "int32":
            assert error == "-"
            np.testing.assert_array_equal(restored[spec["name"]], original[spec["name"]])
        else:
            actual = float(np.abs(restored[spec["name"]].astype(np.float64)
                                  - original[spec["name"]].astype(np.float64)).max())
            assert math.isclose(float(error), actual, rel_tol=5e-3, abs_tol=1e-12), (
                spec["name"], error, actual)
    total_before = sum(math.prod(s["shape"]) * 4 for s in specs)
    total_after = sum(stored_bytes(s) for s in specs)
    assert f"{total_before:,} bytes -> {total_after:,} bytes" in total, total


def test_int32_weights_are_quantized_only_where_exact(mlp, tmp_path, node_tfjs):
    """int32 weights are quantized to uint8 / uint16 (as tensorflowjs's quantize_weights does
    ints) only when a pattern names them and TF.js rounds every value back exactly: their
    range within the dtype's steps; otherwise, under float16 and under a flag without
    patterns (float32 weights only, as tensorflowjs_converter, which never quantizes ints:
    its write_weights passes every non-float32 weight through) they stay int32."""
    from modelport.model import array_weight
    from modelport.quantize import plan_from_flags

    proc = run_cli("convert", "--quantize-uint8", "iteration,*", mlp.path, tmp_path / "web",
                   "--include-optimizer")
    assert proc.returncode == 0, proc.stderr
    (iteration,) = [s for s in specs_of(tmp_path / "web") if s["name"] == "iteration"]
    assert iteration["dtype"] == "int32"
    assert iteration["quantization"]["dtype"] == "uint8"
    assert iteration["quantization"]["original_dtype"] == "int32"
    np.testing.assert_array_equal(modelport_weights(tmp_path / "web")["iteration"],
                                  modelport_weights(mlp.path)["iteration"].astype(np.int32))
    rows, _ = _summary_rows(proc.stdout)
    assert rows["iteration"] == ["uint8", "4", "1", "0"]

    values = {"t/small": np.arange(-3, 253, dtype=np.int32),  # 255 steps: uint8 holds it
              "t/wide": np.array([-1, 255, 7], dtype=np.int32),  # 256: uint16 only
              "t/huge": np.array([-70000, 0, 3, 70000], dtype=np.int32)}  # neither
    source = modelport.Model(config=None, weights={"t": [
        array_weight(name, value) for name, value in values.items()]})
    expected = {("uint8", "t/*"): {"t/small": "uint8", "t/wide": None, "t/huge": None},
                ("uint16", "*"): {"t/small": "uint16", "t/wide": "uint16", "t/huge": None},
                ("uint16", True): dict.fromkeys(values),
                ("float16", "*"): dict.fromkeys(values)}
    for (dtype, flag), stored_as in expected.items():
        folder = tmp_path / f"{dtype}_{flag}"
        modelport.write(source, folder, "tfjs_weights", quantize=plan_from_flags({dtype: flag}))
        document = json.loads((folder / "weights_manifest.json").read_text())
        specs = [spec for group in document for spec in group["weights"]]
        assert {s["name"]: s.get("quantization", {}).get("dtype") for s in specs} == stored_as
        assert all(s["dtype"] == "int32" for s in specs)
        ours = modelport_weights(folder)
        theirs = tfjs.decode_weights(folder / "weights_manifest.json")
        for name, value in values.items():
            assert ours[name].dtype == np.int32, (dtype, name)
            np.testing.assert_array_equal(ours[name], value, err_msg=f"{dtype} {name}")
            np.testing.assert_array_equal(theirs[name], value, err_msg=f"TF.js {dtype} {name}")


def test_weight_matching_two_dtypes_is_refused(mlp, tmp_path):
    web = tmp_path / "web"
    proc = run_cli("convert", "--quantize-float16", "dense*/*", "--quantize-uint8", "*/kernel",
                   mlp.path, web)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert re.search(r"weight 'dense[^/']*/kernel'", proc.stderr), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not web.exists() and sorted(tmp_path.iterdir()) == []


def test_float16_overflow_is_refused_naming_the_weight(tmp_path, run_tfjs):
    """A BatchNormalization moving_variance of 430400 (as a real model has) would be stored as
    float16 infinity: refused with the weight named and nothing written; quantizing it with
    uint16 instead runs in TF.js within the format's bound."""
    import tf_keras

    model = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(3, name="d"),
                                 tf_keras.layers.BatchNormalization(name="bn")])
    zoo.seed_weights(model, 9)
    bn = model.get_layer("bn")
    bn.moving_variance.assign(np.array([430400.0, 2.0, 70000.0], "float32"))
    source = tmp_path / "bn.h5"
    model.save(source)
    web = tmp_path / "web"
    proc = run_cli("convert", "--quantize-float16", source, web)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "'bn/moving_variance'" in proc.stderr and "430400" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not web.exists()
    proc = run_cli("convert", "--quantize-float16", "*/kernel,*/bias,*/gamma,*/beta",
                   "--quantize-uint16", "*/moving_*", source, web)
    assert proc.returncode == 0, proc.stderr
    x = np.random.default_rng(1).standard_normal((4, 3)).astype("float32")
    expected = model(x, training=False).numpy()
    (got,) = run_tfjs(web / "model.json", [x])
    np.testing.assert_allclose(got, expected, rtol=2e-2, atol=2e-2)


def test_two_flags_without_patterns_are_refused(mlp, tmp_path):
    web = tmp_path / "web"
    proc = run_cli("convert", "--quantize-float16", "--quantize-uint16", mlp.path, web)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "float16" in proc.stderr and "uint16" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not web.exists() and sorted(tmp_path.iterdir()) == []


def test_false_means_false(mlp, tmp_path):
    web = tmp_path / "web"
    proc = run_cli("convert", "--quantize-uint8=False", "--split_weights_by_layer=False",
                   mlp.path, web, "--include-optimizer")
    assert proc.returncode == 0, proc.stderr
    (group,) = manifest(web)
    assert all("quantization" not in s for s in group["weights"])
    assert "quantization:" not in proc.stdout
    assert_bitwise_equal(modelport_weights(web), as_tfjs(modelport_weights(mlp.path)),
                         "unquantized")


def test_incumbent_spellings(mlp, tmp_path):
    web = tmp_path / "web"
    proc = run_cli("convert", "--input_format", "keras", "--output_format",
                   "tfjs_layers_model", "--quantize_uint16", "--weight_shard_size_bytes", "64",
                   mlp.path, web, "--split_weights_by_layer", "--include_optimizer")
    assert proc.returncode == 0, proc.stderr
    groups = manifest(web)
    assert len(groups) == 4  # three Dense layers and the optimizer
    for spec in (s for g in groups for s in g["weights"]):
        kind = spec.get("quantization", {}).get("dtype", spec["dtype"])
        assert kind == ("int32" if spec["name"] == "iteration" else "uint16"), spec
    sizes = [(web / p).stat().st_size for g in groups for p in g["paths"][:-1]]
    assert sizes and set(sizes) == {64}


def test_split_flag_before_the_paths(mlp, tmp_path):
    """tensorflowjs_converter's --split_weights_by_layer is a plain switch, written before
    the paths; its optional BOOL must not swallow the input path."""
    web = tmp_path / "web"
    proc = run_cli("convert", "--include-optimizer", "--split_weights_by_layer", mlp.path, web)
    assert proc.returncode == 0, proc.stderr
    assert len(manifest(web)) == 4


def test_flag_before_the_paths(mlp, tmp_path, run_tfjs):
    """`modelport convert --quantize-uint8 model.h5 web/`: argparse hands model.h5 to the
    flag as its patterns; the CLI sees that it names the input."""
    web = tmp_path / "web"
    proc = run_cli("convert", "--quantize-uint8", mlp.path, web)
    assert proc.returncode == 0, proc.stderr
    specs = specs_of(web)
    assert all(s.get("quantization", {}).get("dtype") == "uint8"
               for s in specs if s["dtype"] == "float32")
    weights = [v for v in modelport_weights(mlp.path, optimizer=False).values()]
    assert_outputs_close(run_tfjs(web / "model.json", mlp.inputs), mlp.outputs,
                         atol=output_tolerance(weights, "uint8", mlp.outputs))


# -------------------------------------------------------------------- 3. shard layouts

LAYOUT_MODELS = [("tf_keras", "mlp"), ("keras3", "cnn")]
SHARD_SIZES = [1, 7, 64, 100, 4194304]
QUANT_FLAGS = {
    "none": [],
    "mixed": ["--quantize-uint8", "*/bias", "--quantize-uint16", "*/gamma,*/moving_mean",
              "--quantize-float16"],
}
LAYOUTS = [(lib, name, size, split, quant) for lib, name in LAYOUT_MODELS
           for size in SHARD_SIZES for split in (False, True) for quant in QUANT_FLAGS]


@dataclass
class LayoutCase:
    web: Path
    code: int
    stderr: str
    run: dict[str, Any] = field(default_factory=dict)
    decoded: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def layouts(zoo_cache, node_tfjs, tmp_path_factory) -> dict[tuple, LayoutCase]:
    root = tmp_path_factory.mktemp("layouts")
    cases = {}
    for lib, name, size, split, quant in LAYOUTS:
        web = root / f"{lib}-{name}-{size}-{split}-{quant}"
        flags = [*QUANT_FLAGS[quant], "--shard-size", str(size), "--include-optimizer"]
        if split:  # after the paths: see test_split_flag_before_the_paths
            flags.append("--split-weights-by-layer")
        code, _, err = cli_in_process("convert", zoo_cache.get(lib, name).path, web, *flags)
        cases[lib, name, size, split, quant] = LayoutCase(web, code, err)
    done = [(key, c) for key, c in cases.items() if c.code == 0]
    runs = NodeJob("run_many.js", run_many_payload([(c.web / "model.json",
                                             zoo_cache.get(*key[:2]).inputs)
                                            for key, c in done]), root)
    decodes = NodeJob("decode_many.js",
                      {"files": [str(c.web / "model.json") for _, c in done]}, root)
    for (_, case), result in zip(done, runs.wait(), strict=True):
        case.run = result
    for (_, case), result in zip(done, decodes.wait(), strict=True):
        case.decoded = result
    return cases


def _h5_layers_with_weights(path: Path) -> tuple[list[tuple[str, int]], int]:
    """(layer name, weight count) of every layer with weights, and the optimizer weight
    count, read from the legacy .h5 with h5py (not with modelport)."""
    with h5py.File(path, "r") as f:
        group = f["model_weights"]
        layers = []
        for layer in group.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else layer
            count = len(group[layer].attrs.get("weight_names", []))
            if count:
                layers.append((layer, count))
        optimizer = len(f["optimizer_weights"].attrs["weight_names"]) \
            if "optimizer_weights" in f else 0
    return layers, optimizer


@pytest.mark.parametrize("library, name, shard_size, split, quant",
                         [pytest.param(*c, id="-".join(map(str, c))) for c in LAYOUTS])
def test_shard_layout(library, name, shard_size, split, quant, layouts, zoo_cache):
    case = layouts[library, name, shard_size, split, quant]
    assert case.code == 0, case.stderr
    groups = manifest(case.web)
    layers, optimizer_count = _h5_layers_with_weights(zoo_cache.get(library, name).path)
    if split:  # one group per layer with weights, in order, then the optimizer's
        expected = [count for _, count in layers] + ([optimizer_count] if optimizer_count else [])
        assert [len(g["weights"]) for g in groups] == expected
        for group, (layer, _) in zip(groups, layers, strict=False):
            assert all(s["name"].startswith(layer + "/") for s in group["weights"]), layer
        if optimizer_count:
            assert all(s.get("group") == "optimizer" for s in groups[-1]["weights"])
    else:
        assert len(groups) == 1

    files = {"model.json"}
    largest = 0
    for g, group in enumerate(groups, start=1):
        total = sum(stored_bytes(s) for s in group["weights"])
        largest = max([largest, *(stored_bytes(s) for s in group["weights"])])
        count = max(1, math.ceil(total / shard_size))
        assert group["paths"] == [f"group{g}-shard{i}of{count}.bin" for i in range(1, count + 1)]
        sizes = [(case.web / p).stat().st_size for p in group["paths"]]
        assert sum(sizes) == total
        assert all(size == shard_size for size in sizes[:-1]), sizes
        assert 0 < sizes[-1] <= shard_size or total == 0, sizes
        files.update(group["paths"])
        if quant == "mixed":
            kinds = {s.get("quantization", {}).get("dtype", s["dtype"]) for s in group["weights"]}
            assert kinds <= {"uint8", "uint16", "float16", "int32"}, kinds
    assert {p.name for p in case.web.iterdir()} == files
    if shard_size <= 64:
        assert largest > shard_size  # some weight straddles shards

    # tfjs-core decodes the shards to exactly what modelport reads.
    ours = modelport_weights(case.web)
    assert_bitwise_equal(decoded_weights(case.decoded), ours, case.web.name)

    # TF.js runs it, and the layout changes nothing: the outputs are those of the one-shard,
    # one-group file with the same quantization, bit for bit.
    outputs = tfjs_outputs(case.run)
    reference = tfjs_outputs(layouts[library, name, 4194304, False, quant].run)
    for a, b in zip(outputs, reference, strict=True):
        assert a.tobytes() == b.tobytes()
    saved = zoo_cache.get(library, name)
    if quant == "none":
        assert_outputs_close(outputs, saved.outputs, what=f"TF.js on {case.web.name}")
        assert_bitwise_equal(ours, as_tfjs(modelport_weights(saved.path)), "unquantized layout")


def test_metadata_file_with_spaces(mlp, tmp_path, run_tfjs):
    folder = tmp_path / "my metadata"
    folder.mkdir()
    info = {"labels": ["cat", "dog", "caf\u00e9"], "version": 3, "nested": {"a": [1.5, None]}}
    (folder / "label map.json").write_text(json.dumps(info), encoding="utf-8")
    (folder / "more.json").write_text("[1, 2]")
    web = tmp_path / "web"
    proc = run_cli("convert", "--quantize-uint8", "--metadata",
                   f"labels:{folder / 'label map.json'}", "--metadata",
                   f"extra:{folder / 'more.json'}", mlp.path, web)
    assert proc.returncode == 0, proc.stderr
    document = json.loads((web / "model.json").read_text())
    assert document["userDefinedMetadata"] == {"labels": info, "extra": [1, 2]}
    outputs = run_tfjs(web / "model.json", mlp.inputs)
    weights = list(modelport_weights(mlp.path, optimizer=False).values())
    assert_outputs_close(outputs, mlp.outputs,
                         atol=output_tolerance(weights, "uint8", mlp.outputs))
    with modelport.read(web) as model:
        assert model.metadata.user_defined_metadata == {"labels": info, "extra": [1, 2]}


# ------------------------------------------------- 5. int32 weights with quantization metadata


def test_hand_made_quantized_manifest(tmp_path, node_tfjs):
    """A bare weights manifest with quantized int32 weights (q*scale + min on .5 values, which
    TF.js rounds half up with Math.round), quantized and plain float32 weights, and every
    float16 bit pattern, in two groups with a weight straddling shards: modelport reads what
    tfjs-core's decodeWeights decodes, bit for bit."""
    rng = np.random.default_rng(5)
    entries = [  # (spec, stored array)
        ({"name": "a/count", "shape": [16, 16], "dtype": "int32",
          "quantization": {"dtype": "uint8", "min": -64.0, "scale": 0.5}},
         np.arange(256, dtype="<u1").reshape(16, 16)),
        ({"name": "a/steps", "shape": [8], "dtype": "int32",
          "quantization": {"dtype": "uint16", "min": -3.5, "scale": 1.0}},
         np.array([0, 1, 2, 3, 4, 5, 6, 65535], dtype="<u2")),
        ({"name": "a/tenths", "shape": [3, 85], "dtype": "int32",
          "quantization": {"dtype": "uint8", "min": -12.7, "scale": 0.1}},
         np.arange(255, dtype="<u1").reshape(3, 85)),
        ({"name": "b/kernel", "shape": [5, 3], "dtype": "float32"},
         rng.standard_normal((5, 3)).astype("<f4")),
        ({"name": "b/scaled", "shape": [7], "dtype": "float32",
          "quantization": {"dtype": "uint8", "min": -0.3, "scale": 0.0023,
                           "original_dtype": "float32"}},
         np.array([0, 1, 2, 127, 128, 254, 255], dtype="<u1")),
        ({"name": "c/every_float16", "shape": [256, 256], "dtype": "float32",
          "quantization": {"dtype": "float16", "original_dtype": "float32"}},
         np.arange(65536, dtype="<u2").view("<f2").reshape(256, 256)),
    ]
    groups = [entries[:4], entries[4:]]
    document = []
    for g, group in enumerate(groups, start=1):
        data = b"".join(stored.tobytes() for _, stored in group)
        cut = [0, 3, len(data) // 2, len(data)]  # the first weight straddles shards 1 and 2
        paths = [f"group{g}-shard{i}of3.bin" for i in range(1, 4)]
        for path, lo, hi in zip(paths, cut, cut[1:], strict=False):
            (tmp_path / path).write_bytes(data[lo:hi])
        document.append({"paths": paths, "weights": [spec for spec, _ in group]})
    target = tmp_path / "weights_manifest.json"
    target.write_text(json.dumps(document))

    ours = modelport_weights(target)
    theirs = decoded_weights(NodeJob("decode_many.js", {"files": [str(target)]},
                                     tmp_path).wait()[0])
    assert_bitwise_equal(theirs, ours, "hand-made manifest")

    # The int32 values independently: Math.round(q*scale + min) rounds .5 up (toward +inf),
    # unlike numpy's half-to-even and C's half-away-from-zero.
    count = ours["a/count"].reshape(-1)
    exact = np.arange(256) * 0.5 - 64.0
    np.testing.assert_array_equal(count, np.floor(exact + 0.5).astype(np.int32))
    assert count[np.flatnonzero(exact == -2.5)[0]] == -2
    assert count[np.flatnonzero(exact == 2.5)[0]] == 3
    assert count[np.flatnonzero(exact == -63.5)[0]] == -63
    np.testing.assert_array_equal(ours["a/steps"], [-3, -2, -1, 0, 1, 2, 3, 65532])
    tenths = np.arange(255, dtype=np.float64) * 0.1 - 12.7
    np.testing.assert_array_equal(ours["a/tenths"].reshape(-1),
                                  np.floor(tenths + 0.5).astype(np.int32))
    assert ours["a/count"].dtype == np.int32 and ours["a/tenths"].dtype == np.int32
    np.testing.assert_array_equal(
        ours["b/scaled"], (np.array([0, 1, 2, 127, 128, 254, 255]) * 0.0023 - 0.3
                           ).astype(np.float32))
    np.testing.assert_array_equal(ours["b/kernel"], entries[3][1])


@pytest.mark.parametrize("mode", MODES)
def test_chunked_quantization_writes_the_bytes_of_one_pass(mlp, tmp_path, monkeypatch, mode):
    """Quantization streams a weight in bounded chunks (a min/max pass, then the encoding
    pass), from its file's bytes or from its array: chunks of 7 elements (a weight spans many,
    the last one short) give the shards, manifest and summary that one chunk for the whole
    tensor gives, also with a NaN, infinities and a constant tensor (what TF.js decodes of
    such bytes the tests above check)."""
    from modelport.formats import tfjs_weights
    from modelport.quantize import plan_from_flags

    source = tmp_path / "odd.h5"
    shutil.copy(mlp.path, source)
    with h5py.File(source, "r+") as f:
        weights = f["model_weights"]
        # Layer names depend on how many models the session built: take them in file order.
        names = [n.decode() if isinstance(n, bytes) else str(n)
                 for n in weights.attrs["layer_names"]]
        layers = [n for n in names if n.startswith("dense")]
        kernel = weights[f"{layers[0]}/{layers[0]}/kernel:0"]
        values = kernel[()]
        values[0, 0], values[1, 1], values[2, 2] = np.nan, np.inf, -np.inf
        kernel[...] = values
        weights[f"{layers[1]}/{layers[1]}/bias:0"][...] = 0.375
    chunked = tmp_path / "chunked.h5"  # the same weights through arrays (no byte range)
    with h5py.File(source, "r") as fin, h5py.File(chunked, "w") as fout:
        fout.attrs.update(fin.attrs)
        fin.visititems(lambda name, item: fout.require_group(name).attrs.update(item.attrs)
                       if isinstance(item, h5py.Group) else fout.create_dataset(
                           name, data=item[()], chunks=item.shape or None).attrs.update(
                           item.attrs))
    plan = plan_from_flags({mode: True})
    written = {}
    for chunk in (7, 1 << 40):
        monkeypatch.setattr(tfjs_weights, "QUANTIZE_CHUNK", chunk)
        for path in (source, chunked):
            out = tmp_path / f"{path.stem}-{chunk}"
            with np.errstate(invalid="ignore"):
                result = modelport.convert(path, out, quantize=plan, shard_size=1000)
            written[path.stem, chunk] = ({p.name: p.read_bytes() for p in out.iterdir()},
                                         result.quantization)
    assert values.size > 7 * 3
    reference = written["odd", 1 << 40]
    assert reference[1] and b'"quantization"' in reference[0]["model.json"]
    for key, value in written.items():
        assert value[0] == reference[0], key
        assert [(q.name, q.bytes_after) for q in value[1]] == [
            (q.name, q.bytes_after) for q in reference[1]], key
        assert str(value[1]) == str(reference[1]), key  # NaN errors compare as text


@pytest.mark.parametrize("mode", MODES)
def test_summary_error_is_the_largest_float64_difference(mlp, tmp_path, monkeypatch, mode):
    """The summary's max abs error of each weight is exactly max|float64(what TF.js decodes)
    - float64(original)|, whatever the chunking: the quantizer finds it in float32 and
    refines it in float64, and rounding is monotonic, so nothing may differ in any bit. One
    kernel is positive from a tiny minimum, with its largest error on a value just under half
    a step above it: there the float32 difference is inexact (the two values are far apart in
    magnitude), and only the float64 one is right. The others get values far beyond the rest,
    values just outside the nudged range and exact repeats, so the largest difference is
    reached by several elements of different chunks."""
    from modelport.formats import tfjs_weights
    from modelport.quantize import plan_from_flags

    source = tmp_path / "spread.h5"
    shutil.copy(mlp.path, source)
    with h5py.File(source, "r+") as f:
        kernels = []
        f["model_weights"].visititems(lambda name, item: kernels.append(item) if isinstance(
            item, h5py.Dataset) and name.endswith("kernel:0") else None)
        assert kernels
        for index, kernel in enumerate(kernels):
            values = kernel[()]
            flat = values.reshape(-1)
            if index == 0:
                low = 1e-6
                flat[:] = 1.0
                flat[0] = low
                flat[1] = low + 0.49 * (1.0 - low) / (255 if mode == "uint8" else 65535)
                kernel[...] = values
                continue
            flat[::5] = flat[0]  # repeats: ties for the largest error
            flat[1] = 1e4 * (index + 1)
            flat[2] = -3e-3 * (index + 1)
            flat[3] = np.nextafter(np.float32(flat[2]), np.float32(-np.inf))
            kernel[...] = values
    original = modelport_weights(source, optimizer=False)
    plan = plan_from_flags({mode: True})
    for chunk in (7, 1 << 40):
        monkeypatch.setattr(tfjs_weights, "QUANTIZE_CHUNK", chunk)
        out = tmp_path / f"web-{chunk}"
        result = modelport.convert(source, out, quantize=plan)
        decoded = modelport_weights(out / "model.json", optimizer=False)
        rows = {row.name: row for row in result.quantization}
        for name, values in original.items():
            if values.dtype != np.float32 or rows[name].dtype != mode:
                continue
            expected = float(np.max(np.abs(decoded[name].astype(np.float64)
                                           - values.astype(np.float64))))
            assert rows[name].max_abs_error == expected, (chunk, name)
