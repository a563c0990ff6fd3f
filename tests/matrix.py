"""The conformance matrix of issue 3: each layer class of tf_keras and Keras 3 saved by its own
library, converted by modelport to every target format, run by the consumers, compared.

Owns running the matrix (``run`` -> JSON-ready results) and rendering it (``render`` ->
the text of docs/compatibility.md); the layer models themselves come from ``catalog``.
"""

from __future__ import annotations

import difflib
import gc
import json
import os
import re
import subprocess
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import modelport

import harness
import tfjs

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "compatibility.md"
REGENERATE = "python scripts/compatibility.py"

SOURCES = (".h5", ".keras")  # what each library's own model.save writes, in reporting order
REASON_CHARS = 120
PASS = "pass"
FAIL = "fail"


@dataclass(frozen=True)
class Conversion:
    """One modelport output of a source file: ``convert(src, dir / name, **options)`` per file;
    the consumer gets the written paths in this order."""

    files: tuple[tuple[str, dict[str, Any]], ...]


CONVERSIONS = {
    "keras_v3": Conversion((("model.keras", {}),)),
    "keras_h5": Conversion((("model.h5", {}),)),
    "keras_h5_k3": Conversion((("model_k3.h5", {"keras": 3}),)),
    "json_k2": Conversion(
        (
            ("model_k2.json", {"to_format": "keras_json", "keras": 2}),
            ("weights_legacy.h5", {"to_format": "keras_weights_h5"}),
        )
    ),
    "json_k3": Conversion(
        (
            ("model_k3.json", {"to_format": "keras_json", "keras": 3}),
            ("model.weights.h5", {}),
        )
    ),
    "tfjs": Conversion((("web", {}),)),
}


@dataclass(frozen=True)
class Target:
    """A column: a modelport output and who loads it."""

    key: str
    title: str  # column heading
    conversion: str  # key of CONVERSIONS
    consumer: str  # "tf_keras", "keras3" or "tfjs"
    how: str  # what the consumer does, for the doc


TARGETS = (
    Target("keras-keras3", ".keras → Keras 3", "keras_v3", "keras3",
           "`keras.models.load_model`"),
    Target("h5-tf_keras", ".h5 → tf_keras", "keras_h5", "tf_keras",
           "`tf_keras.models.load_model`"),
    Target("h5-keras3", ".h5 → Keras 3", "keras_h5", "keras3", "`keras.models.load_model`"),
    Target("h5k3-keras3", ".h5 (Keras 3 dialect) → Keras 3", "keras_h5_k3", "keras3",
           "`keras.models.load_model`"),
    Target("json2-tf_keras", "JSON + weights .h5 → tf_keras", "json_k2", "tf_keras",
           "`tf_keras.models.model_from_json` + `load_weights`"),
    Target("json3-keras3", "JSON + .weights.h5 → Keras 3", "json_k3", "keras3",
           "`keras.models.model_from_json` + `load_weights`"),
    Target("tfjs", "TF.js → tfjs", "tfjs", "tfjs",
           "`tf.loadLayersModel` + `predict` in Node"),
)

TARGET_OUTPUTS = {
    "keras_v3": "`x.keras` (Keras 3 zip)",
    "keras_h5": "`x.h5` (Keras 2 dialect)",
    "keras_h5_k3": "`x.h5`, `keras=3` (Keras 3 dialect)",
    "json_k2": "`keras_json`, `keras=2` + `keras_weights_h5` (legacy `save_weights` layout)",
    "json_k3": "`keras_json`, `keras=3` + `x.weights.h5` (Keras 3 `save_weights` layout)",
    "tfjs": "TF.js layers directory (`model.json` + shards)",
}


# ---------------------------------------------------------------------------------------------
# Reasons: one line, stable from run to run and machine to machine.

_ADDRESS = re.compile(r"\s*\bat 0x[0-9a-fA-F]+|\b0x[0-9a-fA-F]{6,}\b")
_SITE_PACKAGES = re.compile(r"/\S*?/site-packages/")
_OBJECTS_NOT_LOADED = re.compile(r"^(A total of \d+ objects could not be loaded)\. Example error "
                                 r"message for object <[^\n]*>:\s*")


def shorten(text: str, roots: tuple[str, ...] = (), limit: int = REASON_CHARS) -> str:
    """``text`` as one stable line of at most ``limit`` characters: the first non-empty
    line, paths under ``roots`` cut to their last component, no memory addresses."""
    for root in roots:
        # A file under the work directory is named by its last component (src.h5, model.json).
        text = re.sub(re.escape(root.rstrip("/")) + r"/[^\s'\"`,;)\]]*",
                      lambda m: m.group(0).rsplit("/", 1)[-1], text)
    text = _SITE_PACKAGES.sub("", text)
    text = _ADDRESS.sub("", text)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = " ".join(lines[0].split()) if lines else "(no message)"
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


def describe(exc: BaseException, roots: tuple[str, ...] = (), limit: int = REASON_CHARS) -> str:
    """A one-line reason for ``exc``: modelport's own message, or the exception type and the
    informative line of a library's message."""
    if isinstance(exc, modelport.ModelportError):
        return shorten(exc.message, roots, limit)
    text = str(exc)
    # Keras wraps deserialization failures as "... config={huge dict}.\n\nException
    # encountered: <the actual cause>": the cause is the useful part.
    if "Exception encountered:" in text:
        text = text.rsplit("Exception encountered:", 1)[1]
    # Keras 3 weight loading: "A total of 2 objects could not be loaded. Example error
    # message for object <RNN ...>:\n\n<the actual cause>\n\nList of objects ...".
    text = _OBJECTS_NOT_LOADED.sub(r"\1: ", text)
    if isinstance(exc, KeyError) and not text.strip().startswith("'"):
        text = repr(exc.args[0]) if exc.args else text
    if not text.strip():
        # A bare `assert` or `raise X()`: where it was raised is the only clue. File and
        # function, not the line number, so the reason survives unrelated edits.
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is not None:
            code = tb.tb_frame.f_code
            return shorten(f"{type(exc).__name__} in {Path(code.co_filename).name} "
                           f"{code.co_name}()", roots)
        return type(exc).__name__
    return shorten(f"{type(exc).__name__}: {text.strip()}", roots, limit)


def compare(actual: list[np.ndarray], expected: list[np.ndarray],
            atol: float = harness.ATOL) -> str | None:
    """None when ``actual`` matches ``expected`` (same count and shapes, |a - e| <= atol
    elementwise, NaN where and only where the original has NaN); otherwise why not."""
    if len(actual) != len(expected):
        return f"{len(actual)} outputs, expected {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        a = np.asarray(a)
        e = np.asarray(e)
        if tuple(a.shape) != tuple(e.shape):
            return f"output {i}: shape {tuple(a.shape)}, expected {tuple(e.shape)}"
        try:
            a64 = a.astype(np.float64)
            e64 = e.astype(np.float64)
        except (TypeError, ValueError):
            if not np.array_equal(a, e):
                return f"output {i}: values differ ({a.dtype} output)"
            continue
        close = np.isclose(a64, e64, rtol=0.0, atol=atol, equal_nan=True)
        if close.all():
            continue
        bad_a, bad_e = a64[~close], e64[~close]
        if not (np.isfinite(bad_a).all() and np.isfinite(bad_e).all()):
            return f"output {i}: non-finite values differ ({int((~close).sum())} elements)"
        # One significant digit: enough to judge, and stable across runs.
        return f"max abs diff {np.abs(bad_a - bad_e).max():.0e} on output {i}"
    return None


# ---------------------------------------------------------------------------------------------
# Results


def _outcome(status: str, reason: str = "") -> dict[str, str]:
    return {"status": status, "reason": shorten(reason) if reason else ""}


@dataclass
class _Row:
    library: str
    name: str
    aliases: list[str]
    unbuildable: str | None = None
    notes: list[str] = field(default_factory=list)
    # target key -> source -> outcome; filled as cells are evaluated (TF.js at the end).
    outcomes: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "library": self.library,
            "class": self.name,
            "aliases": self.aliases,
            "unbuildable": self.unbuildable,
            "notes": self.notes,
            "cells": {},
        }
        if self.unbuildable is None:
            row["cells"] = {t.key: _cell(self.outcomes.get(t.key, {})) for t in TARGETS}
        return row


def _cell(by_source: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A cell passes when every source the library could write passed."""
    if not by_source:
        return {**_outcome(FAIL, "no source file: the library saved neither .h5 nor .keras"),
                "sources": {}}
    for source in SOURCES:
        result = by_source.get(source)
        if result is not None and result["status"] != PASS:
            return {**_outcome(FAIL, shorten(f"{source} {result['reason']}")),
                    "sources": by_source}
    return {**_outcome(PASS), "sources": by_source}


# ---------------------------------------------------------------------------------------------
# TF.js: every TF.js cell of a run goes through a few Node processes (run_many.js).

RUN_MANY = tfjs.NODE_DIR / "run_many.js"


class TfjsBatch:
    """Collects (model.json, inputs) jobs; ``start`` runs them in a background Node process so
    that TF.js works while Python goes on; ``wait`` returns one result per job."""

    def __init__(self, workdir: Path, name: str):
        self.workdir = workdir
        self.name = name
        self.jobs: list[dict[str, Any]] = []
        self._done: dict[int, dict[str, Any]] = {}
        self.process: subprocess.Popen | None = None
        self._first = 0  # index of the first job of the running process

    def add(self, model_json: Path, inputs: list[np.ndarray]) -> int:
        self.jobs.append({"model_json": str(model_json),
                          "inputs": [tfjs._encode(x) for x in inputs]})
        return len(self.jobs) - 1

    def _paths(self, first: int) -> tuple[Path, Path, Path]:
        stem = self.workdir / f"tfjs_{self.name}_{first}"
        return stem.with_suffix(".jobs.json"), stem.with_suffix(".jsonl"), stem.with_suffix(
            ".stderr")

    def start(self, first: int = 0) -> None:
        self._first = first
        if first >= len(self.jobs):
            self.process = None
            return
        jobs_path, results_path, stderr_path = self._paths(first)
        jobs_path.write_text(json.dumps({"jobs": self.jobs[first:]}))
        env = dict(os.environ, NODE_PATH=str(tfjs.NODE_MODULES))
        with open(stderr_path, "w") as err:
            self.process = subprocess.Popen(
                ["node", str(RUN_MANY), str(jobs_path), str(results_path)],
                cwd=tfjs.NODE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=err)

    def wait(self) -> list[dict[str, Any]]:
        """``[{"outputs": [...]} | {"error": message}]`` in job order."""
        while self.process is not None:
            code = self.process.wait()
            _, results_path, stderr_path = self._paths(self._first)
            finished = self._first  # jobs before this one have a result
            if results_path.exists():
                for line in results_path.read_text().splitlines():
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        break  # the line being written when the process died
                    self._done[self._first + entry.pop("job")] = entry
                    finished += 1
            if finished >= len(self.jobs):
                break
            # The process died in job `finished`: record why and go on after it.
            stderr = stderr_path.read_text().strip() if stderr_path.exists() else ""
            self._done[finished] = {"stage": "run",
                                    "error": f"node exited with {code} running this model: "
                                             f"{stderr or '(no message)'}"}
            self.start(finished + 1)
        return [self._done.get(i, {"error": "TF.js produced no result"})
                for i in range(len(self.jobs))]


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class _Pending:
    row: _Row
    target: str
    source: str
    job: int
    expected: list[np.ndarray]


def _unsafe_deserialization(library: str):
    # Only the libraries' private SafeModeScope scopes the flag; the public switches
    # (keras.config.enable_unsafe_deserialization and tf_keras's) are process-global.
    if library == "keras3":
        from keras.src.saving.serialization_lib import SafeModeScope
    else:
        from tf_keras.src.saving.serialization_lib import SafeModeScope
    return SafeModeScope(False)


def _self_roundtrip_fail(catalog: ModuleType, library: str, name: str, source: str) -> str | None:
    # Keyed by ".keras"/".h5" in the interface; the catalog may spell them "keras"/"h5".
    fails = catalog.SELF_ROUNDTRIP_FAILS
    return fails.get((library, name, source)) or fails.get((library, name, source.lstrip(".")))


class _Runner:
    def __init__(self, catalog: ModuleType, workdir: Path, progress: Callable[[str], None]):
        self.catalog = catalog
        self.workdir = workdir
        self.roots = (str(workdir), str(workdir.resolve()))
        self.progress = progress
        self.tfjs_ok = tfjs.node_available()
        self.pending: list[tuple[TfjsBatch, list[_Pending]]] = []
        self._rows_since_gc = 0
        # Where the time goes (reported with the results, never rendered): stage -> seconds.
        self.seconds: dict[str, float] = {}

    def _timed(self, stage: str, started: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.monotonic() - started

    # -- one library -------------------------------------------------------------------------

    def rows(self, library: str) -> list[_Row]:
        classes = self.catalog.layer_classes(library)
        by_class: dict[str, list[str]] = {}
        for exported, canonical in classes.items():
            by_class.setdefault(canonical, []).append(exported)
        rows = []
        for canonical in sorted(by_class, key=lambda n: (n.lower(), n)):
            aliases = sorted(n for n in by_class[canonical] if n != canonical)
            rows.append(_Row(library, canonical, aliases))
        return rows

    def run_library(self, library: str) -> list[_Row]:
        batch = TfjsBatch(self.workdir, library)
        pending: list[_Pending] = []
        rows = self.rows(library)
        for row in rows:
            self.run_row(row, batch, pending)
        if self.tfjs_ok:
            batch.start()  # TF.js runs this library's jobs while Python does the next one
        self.pending.append((batch, pending))
        return rows

    def _fresh_state(self) -> None:
        # Auto-generated layer names ("dense_7") count per session and can appear in loader
        # messages: a blank session per row keeps every reason independent of row order.
        for library in harness.LIBRARIES:
            keras = harness.keras_module(library)
            if library == "keras3":
                keras.backend.clear_session(free_memory=False)  # gc below, not every row
            else:
                keras.backend.clear_session()
        self._rows_since_gc += 1
        if self._rows_since_gc >= 25:  # a full collection costs ~0.1 s: not every row
            gc.collect()
            self._rows_since_gc = 0

    def run_row(self, row: _Row, batch: TfjsBatch, pending: list[_Pending]) -> None:
        library, name = row.library, row.name
        reason = self.catalog.unbuildable(library, name)
        if reason:
            row.unbuildable = shorten(reason, self.roots)
            self.progress(f"{library} {name}")
            return
        started = time.monotonic()
        self._fresh_state()
        keras = harness.keras_module(library)
        try:
            model, inputs = self.catalog.build(library, name, keras)
            expected = harness.predict(model, inputs)
        except Exception as exc:
            row.unbuildable = shorten(f"build failed: {describe(exc, self.roots)}")
            self.progress(f"{library} {name}")
            return
        rowdir = self.workdir / library / name
        sources: dict[str, Path] = {}
        for source in SOURCES:
            path = rowdir / f"src{source}"
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                model.save(str(path))
            except Exception as exc:
                # No file to convert: the cell is judged on the other source.
                row.notes.append(shorten(f"{library} cannot save {source}: "
                                         f"{describe(exc, self.roots)}"))
                continue
            sources[source] = path
            own = _self_roundtrip_fail(self.catalog, library, name, source)
            if own:
                # Still converted: modelport may read what the library cannot.
                row.notes.append(shorten(f"{library} cannot reload its own {source}: {own}",
                                         self.roots))
        del model
        self._timed("build+save", started)
        for source, path in sources.items():
            converted = {
                key: self.convert(path, rowdir / f"{source.lstrip('.')}_{key}", conversion)
                for key, conversion in CONVERSIONS.items()
            }
            for target in TARGETS:
                paths = converted[target.conversion]
                cell = row.outcomes.setdefault(target.key, {})
                if isinstance(paths, str):
                    cell[source] = _outcome(FAIL, f"convert: {paths}")
                elif target.consumer == "tfjs":
                    if not self.tfjs_ok:
                        cell[source] = _outcome(FAIL, "run: no TF.js runtime (node + npm ci "
                                                      "--prefix tests/node)")
                        continue
                    try:
                        job = batch.add(paths[0] / "model.json", inputs)
                    except Exception as exc:  # inputs TF.js cannot take (strings)
                        cell[source] = _outcome(FAIL, f"run: {describe(exc, self.roots)}")
                        continue
                    cell[source] = _outcome(FAIL, "run: pending")
                    pending.append(_Pending(row, target.key, source, job, expected))
                else:
                    cell[source] = self.consume(target.consumer, paths, inputs, expected)
        self.progress(f"{library} {name}")

    # -- stages ------------------------------------------------------------------------------

    def convert(self, src: Path, outdir: Path, conversion: Conversion) -> list[Path] | str:
        """The written paths, or the reason (modelport's message) the conversion failed."""
        started = time.monotonic()
        outdir.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, options in conversion.files:
            dst = outdir / name
            try:
                modelport.convert(src, dst, **options)
            except Exception as exc:
                self._timed("convert", started)
                return describe(exc, self.roots)
            paths.append(dst)
        self._timed("convert", started)
        return paths

    def consume(self, library: str, paths: list[Path], inputs: list[np.ndarray],
                expected: list[np.ndarray]) -> dict[str, str]:
        started = time.monotonic()
        try:
            return self._consume(library, paths, inputs, expected)
        finally:
            self._timed(f"load+run {library}", started)

    def _consume(self, library: str, paths: list[Path], inputs: list[np.ndarray],
                 expected: list[np.ndarray]) -> dict[str, str]:
        keras = harness.keras_module(library)
        try:
            # Lambda layers carry marshalled Python code, refused by default; these files are
            # our own. Scoped, so the rest of the session keeps the libraries' defaults.
            with _unsafe_deserialization(library):
                if len(paths) == 1:
                    # Keras 3's load_model sets its own scope from this argument.
                    unsafe = {"safe_mode": False} if library == "keras3" else {}
                    model = keras.models.load_model(str(paths[0]), compile=False, **unsafe)
                else:
                    model = keras.models.model_from_json(paths[0].read_text())
                    model.load_weights(str(paths[1]))
        except Exception as exc:
            return _outcome(FAIL, f"load: {describe(exc, self.roots)}")
        try:
            outputs = harness.predict(model, inputs)
        except Exception as exc:
            return _outcome(FAIL, f"run: {describe(exc, self.roots)}")
        diff = compare(outputs, expected)
        return _outcome(FAIL, f"compare: {diff}") if diff else _outcome(PASS)

    def finish_tfjs(self) -> None:
        for batch, pending in self.pending:
            if not pending:
                continue
            started = time.monotonic()
            results = batch.wait()
            self._timed("waiting for TF.js", started)
            for p in pending:
                result = results[p.job]
                cell = p.row.outcomes[p.target]
                if "error" in result:
                    stage = result.get("stage", "run")
                    cell[p.source] = _outcome(
                        FAIL, f"{stage}: {shorten(result['error'], self.roots)}")
                    continue
                outputs = [tfjs._decode(e) for e in result["outputs"]]
                diff = compare(outputs, p.expected)
                cell[p.source] = _outcome(FAIL, f"compare: {diff}") if diff else _outcome(PASS)


def versions() -> dict[str, str]:
    """The versions of the libraries the matrix ran against."""
    import tensorflow as tf

    package = tfjs.NODE_MODULES / "@tensorflow" / "tfjs" / "package.json"
    tfjs_version = json.loads(package.read_text())["version"] if package.is_file() else "missing"
    return {
        "tensorflow": tf.__version__,
        "tf_keras": harness.keras_module("tf_keras").__version__,
        "keras": harness.keras_module("keras3").__version__,
        "tfjs": tfjs_version,
    }


def run(workdir: Path | str, catalog: ModuleType | None = None,
        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the whole matrix with files under ``workdir``; JSON-ready results:
    ``{"versions", "targets", "rows": [{library, class, aliases, unbuildable, notes,
    cells: {target key: {status, reason, sources: {".h5": {status, reason}, ...}}}}]}``."""
    if catalog is None:
        import catalog as catalog_module

        catalog = catalog_module
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    runner = _Runner(catalog, workdir, progress or (lambda _msg: None))
    started = time.monotonic()
    rows: list[_Row] = []
    with warnings.catch_warnings():
        # The libraries warn about legacy HDF5, input structures etc.: noise here.
        warnings.simplefilter("ignore")
        for library in harness.LIBRARIES:
            harness.keras_module(library)
        for library in catalog.LIBRARIES:
            rows.extend(runner.run_library(library))
        runner.finish_tfjs()
    return {
        "versions": versions(),
        "targets": [{"key": t.key, "title": t.title, "consumer": t.consumer,
                     "conversion": t.conversion} for t in TARGETS],
        "rows": [row.to_json() for row in rows],
        "seconds": {"total": round(time.monotonic() - started, 1),
                    **{k: round(v, 1) for k, v in sorted(runner.seconds.items())}},
    }


def write_json(results: dict[str, Any], path: Path | str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------
# Markdown

LIBRARY_TITLES = {"tf_keras": "tf_keras", "keras3": "Keras 3"}


def _md(text: str) -> str:
    # A pipe ends a table cell and "<x>" would be taken for HTML by GitHub.
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "\\<")


def row_label(row: dict[str, Any]) -> str:
    """"AveragePooling2D (AvgPool2D)": the class and the other names it is exported as."""
    aliases = row["aliases"]
    return f"{row['class']} ({', '.join(aliases)})" if aliases else row["class"]


def counts(results: dict[str, Any]) -> dict[str, dict[str, dict[str, int]]]:
    """``{library: {target key: {"pass": n, "fail": n, ".h5": n, ".keras": n}}}`` over built
    rows, where ``.h5``/``.keras`` count the rows whose file from that source passed."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for row in results["rows"]:
        per = out.setdefault(row["library"], {
            t.key: {PASS: 0, FAIL: 0, **dict.fromkeys(SOURCES, 0)} for t in TARGETS})
        for key, cell in row["cells"].items():
            per[key][cell["status"]] += 1
            for source, outcome in cell["sources"].items():
                per[key][source] += outcome["status"] == PASS
    return out


def render(results: dict[str, Any]) -> str:
    """The text of docs/compatibility.md for ``results`` (deterministic: no timings)."""
    v = results["versions"]
    rows = results["rows"]
    libraries = list(dict.fromkeys(r["library"] for r in rows))
    tally = counts(results)
    out = [
        "# Compatibility matrix",
        "",
        f"<!-- Generated by `{REGENERATE}`; tests/test_matrix.py fails when this file no "
        "longer matches a run. Do not edit by hand. -->",
        "",
        "For every layer class exported by `tf_keras.layers` and by `keras.layers` (Keras 3), "
        "the test suite builds a small functional model using it, with seeded weights, and "
        "saves it with that library's own `model.save` as `.h5` and as `.keras`. modelport "
        "converts each of those files to every target below; the consumer loads the result "
        "(`compile=False`) and runs it on fixed inputs (`model(x, training=False)` in "
        "Python), and the outputs are compared with the original model's, 1e-5 absolute.",
        "",
        "A cell is `pass` when both source files converted and matched. Otherwise it gives "
        "the first failure: the source file (`.h5` or `.keras`), the stage (`convert`, "
        "`load`, `run`, `compare`) and the message of modelport or of the consumer. Notes "
        "say where the library cannot write a format (the cell is then judged on the other "
        "file) or cannot load its own file back (that file is converted all the same).",
        "",
        f"Versions: TensorFlow {v['tensorflow']}, tf_keras {v['tf_keras']}, Keras {v['keras']}, "
        f"@tensorflow/tfjs {v['tfjs']} (Node, CPU).",
        "",
        f"Regenerate with `{REGENERATE}` (runs tests/matrix.py, a few minutes).",
        "",
        "| Column | modelport output | Consumer |",
        "|---|---|---|",
    ]
    for t in TARGETS:
        out.append(f"| {t.title} | {TARGET_OUTPUTS[t.conversion]} | {t.how} |")
    out += ["", "## Summary", "",
            "| Source library | Layer classes | Exported names | Built | Cells | Pass | Fail |",
            "|---|---|---|---|---|---|---|"]
    for lib in libraries:
        lib_rows = [r for r in rows if r["library"] == lib]
        built = [r for r in lib_rows if r["unbuildable"] is None]
        names = sum(1 + len(r["aliases"]) for r in lib_rows)
        passed = sum(c[PASS] for c in tally.get(lib, {}).values())
        failed = sum(c[FAIL] for c in tally.get(lib, {}).values())
        out.append(f"| {LIBRARY_TITLES.get(lib, lib)} | {len(lib_rows)} | {names} | "
                   f"{len(built)} | {passed + failed} | {passed} | {failed} |")
    out += ["", "Passing cells per column (in brackets: rows where the file from that "
            "source alone passed):", "",
            "| Column | " + " | ".join(LIBRARY_TITLES.get(lib, lib) for lib in libraries) + " |",
            "|---" * (len(libraries) + 1) + "|"]
    for t in TARGETS:
        cells = []
        for lib in libraries:
            c = tally.get(lib, {}).get(t.key)
            if c is None:
                cells.append("")
                continue
            by_source = ", ".join(f"{s} {c[s]}" for s in SOURCES)
            cells.append(f"{c[PASS]} / {c[PASS] + c[FAIL]} ({by_source})")
        out.append(f"| {t.title} | " + " | ".join(cells) + " |")
    for lib in libraries:
        out += ["", f"## Models saved by {LIBRARY_TITLES.get(lib, lib)}", ""]
        out += table_lines([r for r in rows if r["library"] == lib])
    return "\n".join(out) + "\n"


def table_lines(rows: list[dict[str, Any]]) -> list[str]:
    """One table: a header, then one line per row (diffs of the doc are diffs of rows)."""
    lines = ["| Layer class | " + " | ".join(t.title for t in TARGETS) + " | Notes |",
             "|---" * (len(TARGETS) + 2) + "|"]
    for row in rows:
        lines.append(row_line(row))
    return lines


def row_line(row: dict[str, Any]) -> str:
    label = _md(row_label(row))
    notes = _md("; ".join(row["notes"]))
    if row["unbuildable"] is not None:
        # Markdown has no column span: the reason once, a dash in the other target cells.
        cells = [f"not built: {_md(row['unbuildable'])}"] + ["—"] * (len(TARGETS) - 1)
    else:
        cells = []
        for t in TARGETS:
            cell = row["cells"][t.key]
            cells.append(PASS if cell["status"] == PASS else _md(cell["reason"]))
    return f"| {label} | " + " | ".join(cells) + f" | {notes} |"


_CELL_SPLIT = re.compile(r"(?<!\\) \| ")


def _table_rows(text: str) -> tuple[dict[tuple[str, str], list[str]],
                                    dict[tuple[str, str], list[str]], list[str]]:
    """The table rows of a rendering keyed by (section, first cell), the header cells of each
    row's table under the same key, and every other line."""
    rows: dict[tuple[str, str], list[str]] = {}
    headers: dict[tuple[str, str], list[str]] = {}
    other: list[str] = []
    section = ""
    header: list[str] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("## "):
            section = line[3:]
        is_row = line.startswith("| ") and line.endswith(" |")
        if is_row and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            header = _CELL_SPLIT.split(line[2:-2])  # a table starts
        elif is_row:
            cells = _CELL_SPLIT.split(line[2:-2])
            rows[(section, cells[0])] = cells
            headers[(section, cells[0])] = header
            continue
        other.append(line)
    return rows, headers, other


def doc_diff(expected: str, actual: str, cell_sections: str = "Models saved by",
             doc: str = "docs/compatibility.md") -> str:
    """What differs between two renderings: the changed cells of the tables in sections whose
    title starts with ``cell_sections`` (named by section, row and column), then changed rows
    of the other tables (summaries), then other differing lines. docs/realworld.md is
    compared the same way (tests/realworld/corpus_matrix.py)."""
    old_rows, old_headers, old_other = _table_rows(expected)
    new_rows, new_headers, new_other = _table_rows(actual)
    cells, summary = [], []
    for key in sorted(old_rows.keys() | new_rows.keys(), key=lambda k: (k[0], k[1].lower())):
        section, label = key
        old, new = old_rows.get(key), new_rows.get(key)
        if old == new:
            continue
        if not section.startswith(cell_sections):
            summary.append(f"[{section}] {label}:\n    was: {' | '.join(old or [])}\n"
                           f"    now: {' | '.join(new or [])}")
        elif old is None or new is None:
            what = "new row" if old is None else "row gone"
            cells.append(f"[{section}] {label}: {what}: {' | '.join(new or old or [])}")
        else:
            columns = new_headers.get(key) or old_headers.get(key) or []
            for i in range(max(len(old), len(new))):
                a = old[i] if i < len(old) else ""
                b = new[i] if i < len(new) else ""
                if a != b:
                    column = columns[i] if i < len(columns) else f"column {i + 1}"
                    cells.append(f"[{section}] {label} / {column}:\n    was: {a}\n"
                                 f"    now: {b}")
    rest = list(difflib.unified_diff(old_other, new_other, f"{doc} (committed)",
                                     "this run", n=0, lineterm=""))
    return "\n".join(cells + summary + rest)
