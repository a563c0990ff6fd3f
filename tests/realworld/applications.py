"""keras.applications architectures (weights=None, every BatchNormalization's moving statistics
randomised, seeded) built with tf_keras and Keras 3 and saved every way each library saves.

tests/test_applications.py runs modelport on these files and writes docs/applications.md.
Usage (a look at the files by hand): python tests/realworld/applications.py OUT [NAME ...]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

# name -> input size (px). Small inputs keep the suite fast; each is at or above the
# architecture's minimum (Xception's is 71).
MODELS: dict[str, int] = {  # smallest first: a long run finishes those first
    "MobileNetV2": 64,
    "EfficientNetB0": 64,
    "NASNetMobile": 64,
    "DenseNet121": 64,
    "ConvNeXtTiny": 64,
    "Xception": 72,
    "ResNet50": 64,
}
CLASSES = 10
BATCH = 2
SEED = 0

LIBRARIES = ("tf_keras", "keras3")

# How each library saves a model: form -> file name (inside the model's folder).
SAVED_AS: dict[str, dict[str, str]] = {
    "tf_keras": {
        ".h5": "model.h5",
        ".keras": "model.keras",
        "SavedModel": "saved_model",
        "save_weights .h5": "weights.h5",
        "checkpoint": "ckpt/ckpt",
    },
    "keras3": {
        ".h5": "model.h5",
        ".keras": "model.keras",
        ".weights.h5": "model.weights.h5",
        "export": "export",
    },
}
WEIGHTS_ONLY = ("save_weights .h5", "checkpoint", ".weights.h5")


def keras_module(library: str):
    import importlib

    return importlib.import_module({"tf_keras": "tf_keras", "keras3": "keras"}[library])


def build(library: str, name: str, seed: int = SEED):
    """The architecture with seeded weights; BatchNormalization gamma, beta and moving
    statistics drawn at random (seeded) so that folding or dropping them shows."""
    keras = keras_module(library)
    keras.utils.set_random_seed(seed)
    size = MODELS[name]
    model = getattr(keras.applications, name)(
        weights=None, input_shape=(size, size, 3), classes=CLASSES,
        classifier_activation=None)
    rng = np.random.default_rng(seed)
    for layer in _all_layers(model):
        if type(layer).__name__ != "BatchNormalization":
            continue
        for w in layer.weights:
            shape = tuple(w.shape)
            short = w.name.split("/")[-1].split(":")[0]
            if short == "moving_mean":
                value = rng.normal(0.0, 0.2, shape)
            elif short == "moving_variance":
                value = rng.uniform(0.5, 1.5, shape)
            elif short == "gamma":
                value = rng.uniform(0.8, 1.2, shape)
            elif short == "beta":
                value = rng.normal(0.0, 0.1, shape)
            else:
                continue
            w.assign(value.astype(np.float32))
    return model


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def make_inputs(name: str) -> np.ndarray:
    size = MODELS[name]
    rng = np.random.default_rng(SEED + 1)
    return rng.uniform(-1.0, 1.0, (BATCH, size, size, 3)).astype(np.float32)


@dataclass
class SavedApplication:
    library: str
    name: str
    folder: Path
    inputs: np.ndarray
    outputs: np.ndarray  # the in-memory model's output on inputs
    files: dict[str, Path] = field(default_factory=dict)  # form -> path
    errors: dict[str, str] = field(default_factory=dict)  # form -> why the library failed
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # name (no ':0') -> value
    config_json: str = ""


def save_all(library: str, name: str, root: Path) -> SavedApplication:
    model = build(library, name)
    inputs = make_inputs(name)
    outputs = np.asarray(model(inputs, training=False))
    folder = root / library / name
    folder.mkdir(parents=True, exist_ok=True)
    saved = SavedApplication(library, name, folder, inputs, outputs)
    for w in model.weights:
        key = (w.path if library == "keras3" else w.name).split(":")[0]
        saved.weights[key] = np.asarray(w.numpy())
    saved.config_json = model.to_json()
    for form, file_name in SAVED_AS[library].items():
        path = folder / file_name
        try:
            _save(model, library, form, path)
        except Exception as exc:  # the library itself could not save it: a row says so
            saved.errors[form] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:150]}"
            continue
        saved.files[form] = path
    return saved


def _save(model, library: str, form: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if form in (".h5", ".keras"):
        model.save(str(path))
    elif form == "SavedModel":
        model.save(str(path), save_format="tf")
    elif form in ("save_weights .h5", "checkpoint", ".weights.h5"):
        model.save_weights(str(path))
    elif form == "export":
        model.export(str(path), verbose=False)
    else:  # pragma: no cover
        raise AssertionError(form)


# ------------------------------------------------------------------------------- the routes

# README "Conversions": the routes from each kind of file. (route, output name, convert
# keyword arguments, needs the architecture). "route" names the output format.
_FULL = [
    ("tfjs_layers_model", "web", {}),
    ("keras_h5", "out.h5", {}),
    ("keras_v3", "out.keras", {}),
    ("keras_v3_weights", "out.weights.h5", {}),
    ("keras_weights_h5", "weights_only.h5", {"weights_only": True}),
    ("tfjs_weights", "weights_web", {"weights_only": True}),
    ("keras_json", "arch.json", {"to_format": "keras_json"}),
    ("tf_saved_model", "saved", {"to_format": "tf_saved_model"}),
    ("tfjs_graph_model", "graph", {"to_format": "tfjs_graph_model"}),
]
_FULL_ROUTES = [(r, o, k, False) for r, o, k in _FULL]
_WITH_ARCH = [(r, o, kw, True) for r, o, kw in _FULL if r not in ("keras_json",
                                                                    "tfjs_graph_model")]
# A .weights.h5 records no layer order, which a save_weights .h5 needs: --architecture.
_ARCH_FREE = {"keras_weights_h5": [("keras_weights_h5", "weights_only.h5", {}, False),
                                   ("tfjs_weights", "weights_web", {"weights_only": True},
                                    False)],
              "keras_v3_weights": [("keras_v3_weights", "out.weights.h5", {}, False),
                                   ("tfjs_weights", "weights_web", {"weights_only": True},
                                    False)]}
ROUTES: dict[str, list[tuple[str, str, dict, bool]]] = {
    ".h5": _FULL_ROUTES,
    ".keras": _FULL_ROUTES,
    "SavedModel": _FULL_ROUTES,
    "save_weights .h5": [r for r in _WITH_ARCH if r[0] not in ("keras_weights_h5",
                                                               "tfjs_weights")]
    + _ARCH_FREE["keras_weights_h5"],
    "checkpoint": _WITH_ARCH,
    ".weights.h5": [r for r in _WITH_ARCH if r[0] not in ("keras_v3_weights", "tfjs_weights")]
    + _ARCH_FREE["keras_v3_weights"],
    "export": [("tfjs_graph_model", "graph", {"to_format": "tfjs_graph_model"}, False)],
}
# Every route runs from each library's first file. From its other files (the same model,
# saved otherwise) the routes run are the model outputs of the TF-free core (what tells how
# each file was read); the TensorFlow-backed routes, the weights-only and architecture
# outputs only from the first file, to keep the suite's time down (MODELPORT_APPS_ALL=1, or
# scripts/applications.py --all, runs every route from every file).
SECONDARY_ROUTES = ("tfjs_layers_model", "keras_h5", "keras_v3")


def routes_for(library: str, form: str, every: bool) -> list[tuple[str, str, dict, bool]]:
    routes = ROUTES[form]
    if every or form == next(iter(SAVED_AS[library])) or form == "export":
        return routes
    return [r for r in routes if r[0] in SECONDARY_ROUTES]


# Where verify's own run (`modelport verify ORIGINAL CONVERTED`) is recorded: the TF.js
# layers model, else the graph model, converted from the library's first file.
VERIFY_ROUTES = ("tfjs_layers_model", "tfjs_graph_model")
ATOL, RTOL = 1e-5, 1e-4


@dataclass
class Cell:
    model: str
    library: str
    saved_as: str
    route: str
    result: str  # pass, fail, refused, error (the library or runtime failed)
    error: float | None = None  # max abs error of the outputs
    reason: str = ""

    def key(self) -> tuple[str, str, str, str]:
        return (self.model, self.library, self.saved_as, self.route)


REASON_CHARS = 240


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line.replace("|", "/")


def _scrub(text: str, *roots: Path) -> str:
    """A reason that reads the same in every run: no run's folders, addresses or timings;
    cut after that, so that a longer temporary folder (pytest's) cuts it at the same place."""
    import re

    for root in roots:
        text = text.replace(str(root) + "/", "").replace(str(root), ".")
    text = re.sub(r"/tmp/\S+", "<tmp>", text)
    return re.sub(r"0x[0-9a-f]{6,}", "0x…", text)[:REASON_CHARS]


class Checker:
    """Loads an output in the runtime that reads it and compares its outputs with the
    original's (the in-memory model in its own library, on the same inputs)."""

    def __init__(self, saved: SavedApplication):
        self.saved = saved

    def outputs(self, route: str, path: Path) -> list[np.ndarray] | str:
        """The outputs, or (for weights-only / architecture files) a string saying what was
        checked instead."""
        x = self.saved.inputs
        if route in ("tfjs_layers_model", "tfjs_graph_model"):
            import json

            from modelport.verification import node

            document = json.loads((path / "model.json").read_text())
            keys = list(document.get("signature", {}).get("inputs", {})) or ["input"]
            _, outputs, _ = node.run(path / "model.json", [(keys[0], x)])
            return outputs
        if route == "keras_h5":
            model = keras_module("tf_keras").models.load_model(
                str(path), compile=False, custom_objects=self._objects("tf_keras"))
            return [np.asarray(model(x, training=False))]
        if route == "keras_v3":
            keras = keras_module("keras3")
            model = keras.saving.load_model(str(path), compile=False,
                                            custom_objects=self._objects("keras3"))
            return [np.asarray(model(x, training=False))]
        if route == "tf_saved_model":
            import tensorflow as tf

            serving = tf.saved_model.load(str(path)).signatures["serving_default"]
            (key, spec), = serving.structured_input_signature[1].items()
            return [np.asarray(v) for v in serving(**{key: tf.constant(x)}).values()]
        if route == "keras_weights_h5":
            model = build(self.saved.library, self.saved.name, seed=SEED + 1)
            model.load_weights(str(path))
            return [np.asarray(model(x, training=False))]
        if route == "keras_v3_weights":
            if self.saved.library == "keras3":
                model = build("keras3", self.saved.name, seed=SEED + 1)
                model.load_weights(str(path))
                return [np.asarray(model(x, training=False))]
            return self._same_weights(path)
        if route == "tfjs_weights":
            return self._same_weights(path / "weights_manifest.json")
        if route == "keras_json":
            tf_keras = keras_module("tf_keras")
            model = tf_keras.models.model_from_json(
                path.read_text(), custom_objects=self._objects("tf_keras"))
            count = len(model.weights)
            want = len(self.saved.weights)
            if count != want:
                raise AssertionError(f"tf_keras builds {count} weights, the original has {want}")
            return "architecture loads in tf_keras (model_from_json), weights in the same count"
        raise AssertionError(route)

    def _objects(self, library: str) -> dict:
        import json

        import modelport.keras_objects as objects

        config = json.loads(self.saved.config_json) if self.saved.config_json else None
        return objects.application_objects(config, library) if config else {}

    def _same_weights(self, path: Path) -> str:
        """Compared as a multiset of tensors: the names differ by format (object paths in a
        .weights.h5, Keras 3's variable names in a manifest), the values must not."""
        import hashlib

        import modelport

        def key(array: np.ndarray) -> tuple:
            # TF.js holds no int64: Normalization's count comes back int32 (FORMATS.md 1).
            array = np.ascontiguousarray(array.astype(np.int64) if array.dtype.kind in "iu"
                                         else array)
            return (array.shape, str(array.dtype), hashlib.sha1(array.tobytes()).hexdigest())

        with modelport.read(path) as read:
            got = sorted(key(np.asarray(w.read())) for w in read.all_weights())
        want = sorted(key(a) for a in self.saved.weights.values())
        if len(got) != len(want):
            raise AssertionError(f"{len(got)} weights, the original has {len(want)}")
        if got != want:
            raise AssertionError("weights differ from the original's")
        return "every weight bit-equal to the original's (read back; no runtime loads it alone)"


def _max_error(outputs: list[np.ndarray], expected: np.ndarray) -> float:
    if len(outputs) != 1:
        raise AssertionError(f"{len(outputs)} outputs, expected 1")
    got = np.asarray(outputs[0], np.float64)
    if got.shape != expected.shape:
        raise AssertionError(f"output shape {got.shape}, expected {expected.shape}")
    return float(np.max(np.abs(got - expected)))


def run_application(saved: SavedApplication, work: Path,
                    progress=lambda what: None, every: bool = False) -> list[Cell]:
    """inspect, every route from every saved file, and verify, for one built application."""
    import modelport

    cells: list[Cell] = []
    expected = np.asarray(saved.outputs, np.float64)
    tolerance = ATOL + RTOL * np.abs(expected)
    checker = Checker(saved)
    first = next(iter(SAVED_AS[saved.library]))
    for form, message in saved.errors.items():
        cells.append(Cell(saved.name, saved.library, form, "save", "error", None, message))
    for form, path in saved.files.items():
        cell = Cell(saved.name, saved.library, form, "inspect", "pass")
        try:
            summary = modelport.inspect(path)
            cell.reason = f"{summary.get('format')}"
        except Exception as exc:  # noqa: BLE001 - a row records it
            cell.result, cell.reason = "fail", _scrub(_one_line(exc), saved.folder)
        cells.append(cell)
        architecture = saved.files.get(first) if form in WEIGHTS_ONLY else None
        for route, out_name, kwargs, needs_arch in routes_for(saved.library, form, every):
            progress(f"{saved.library} {saved.name} {form} -> {route}")
            out = work / saved.library / saved.name / form.replace(" ", "_") / out_name
            out.parent.mkdir(parents=True, exist_ok=True)
            cell = Cell(saved.name, saved.library, form, route, "pass")
            cells.append(cell)
            try:
                options = dict(kwargs)
                if needs_arch:
                    options["architecture"] = architecture
                modelport.convert(path, out, overwrite=True, **options)
            except modelport.ModelportError as exc:
                cell.result = "refused"
                cell.reason = _scrub(_one_line(exc), saved.folder, out.parent)
                continue
            except Exception as exc:  # noqa: BLE001
                cell.result = "fail"
                cell.reason = "convert crashed: " + _scrub(f"{type(exc).__name__}: "
                                                          f"{_one_line(exc)}", saved.folder)
                continue
            try:
                got = checker.outputs(route, out)
            except Exception as exc:  # noqa: BLE001 - the runtime's refusal is the finding
                cell.result = "fail"
                cell.reason = "load/run: " + _scrub(f"{type(exc).__name__}: {_one_line(exc)}",
                                                   saved.folder, out.parent)
                continue
            if isinstance(got, str):
                cell.reason = got
                continue
            try:
                cell.error = _max_error(got, expected)
                worst = np.abs(np.asarray(got[0], np.float64) - expected) - tolerance
            except AssertionError as exc:
                cell.result, cell.reason = "fail", str(exc)
                continue
            if np.any(worst > 0) or not np.isfinite(cell.error):
                cell.result = "fail"
                cell.reason = f"outputs differ beyond {ATOL:g} + {RTOL:g}*|a|"
            if route in VERIFY_ROUTES and form == first and not any(
                    c.route == "verify" for c in cells):
                cells.append(_verify(saved, path, out))
    return cells


def _verify(saved: SavedApplication, original: Path, converted: Path) -> Cell:
    import modelport

    cell = Cell(saved.name, saved.library, next(iter(SAVED_AS[saved.library])), "verify", "pass")
    try:
        result = modelport.verify(original, converted, batch_size=BATCH)
    except modelport.ModelportError as exc:
        cell.result, cell.reason = "refused", _scrub(_one_line(exc), saved.folder)
        return cell
    cell.error = max(o.max_abs_error for o in result.outputs)
    cell.reason = f"modelport verify {SAVED_AS[saved.library][cell.saved_as]} " \
                  f"{converted.name}/ ({result.b.runtime})"
    if not result.passed:
        cell.result = "fail"
    return cell


# ------------------------------------------------------------------------------- the document

DOC = Path(__file__).resolve().parents[2] / "docs" / "applications.md"
REGENERATE = "python scripts/applications.py"
COLUMNS = ("model", "library", "saved as", "route", "result", "max abs error or reason")


def _error_text(cell: Cell) -> str:
    parts = []
    if cell.error is not None:
        parts.append(f"{cell.error:.1e}")
    if cell.reason:
        parts.append(cell.reason)
    return "; ".join(parts)


def render(cells: list[Cell], versions: str = "") -> str:
    counts: dict[str, int] = {}
    for cell in cells:
        counts[cell.result] = counts.get(cell.result, 0) + 1
    missing = [m for m in MODELS if not any(c.model == m for c in cells)]
    lines = [
        "# keras.applications through modelport",
        "",
        f"<!-- Generated by `{REGENERATE}`; tests/test_applications.py fails when a result "
        "or reason no longer matches a run. Do not edit by hand. -->",
        "",
        "Each architecture of `keras.applications` below is built by tf_keras and by Keras 3 "
        "(`weights=None`, seeded, every BatchNormalization's gamma, beta and moving statistics "
        f"drawn at random, {CLASSES} classes, no softmax, inputs {BATCH} x N x N x 3 with N "
        "the size in brackets) and saved every way its library saves it. Each file is "
        "inspected and converted along every route the README's conversion table lists for "
        "its format (weights-only files with the library's `.h5` as `--architecture`); "
        "each output is loaded by the runtime that reads it (TF.js on Node, tf_keras, Keras 3, "
        "TensorFlow) and its outputs compared with the original model's in its own library "
        f"({ATOL:g} + {RTOL:g} x |a|). Weights-only outputs are loaded into a freshly built "
        "model of the same architecture where a loader exists. `verify` is `modelport "
        "verify` of the library's first file against its TF.js conversion.",
        "",
        "Results: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        + f" ({len(cells)} cells)." + (f" {versions}" if versions else ""),
        "",
        *([f"Not in this revision of the table (its run did not reach them): "
           f"{', '.join(missing)}.", ""] if missing else []),
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for cell in cells:
        model = f"{cell.model} ({MODELS[cell.model]})"
        lines.append(f"| {model} | {cell.library} | {cell.saved_as} | {cell.route} | "
                     f"{cell.result} | {_error_text(cell)} |")
    return "\n".join(lines) + "\n"


def _table_rows(text: str) -> Iterator[list[str]]:
    """The doc's result rows, split into their columns (headers and other tables skipped)."""
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith("| model ") or "---" in line[:5]:
            continue
        parts = [p.strip() for p in line.strip().strip("|").split(" | ")]
        if len(parts) != len(COLUMNS):
            continue
        yield parts


def parse(text: str) -> dict[tuple[str, str, str, str], tuple[str, str]]:
    """The doc's cells: (model, library, saved as, route) -> (result, reason without the
    error figure, which may move in its last digits between runs)."""
    cells = {}
    for parts in _table_rows(text):
        model = parts[0].split(" (")[0]
        cells[(model, parts[1], parts[2], parts[3])] = (parts[4], _reason_only(parts[5]))
    return cells


def cells_from_doc(text: str) -> list[Cell]:
    """The doc's cells as the run that wrote them had them (error figures as printed), in
    the doc's order: what `scripts/applications.py --merge` keeps of models not rerun."""
    cells = []
    for parts in _table_rows(text):
        head, _, rest = parts[5].partition("; ")
        try:
            error: float | None = float(head)
        except ValueError:
            error, rest = None, parts[5]
        cells.append(Cell(parts[0].split(" (")[0], parts[1], parts[2], parts[3], parts[4],
                          error, rest))
    return cells


def _reason_only(text: str) -> str:
    head, _, rest = text.partition("; ")
    try:
        float(head)
    except ValueError:
        return text
    return rest


def cell_text(cell: Cell) -> tuple[str, str]:
    return cell.result, cell.reason


def versions() -> str:
    import tensorflow as tf

    tf_keras = keras_module("tf_keras").__version__
    return (f"Versions: TensorFlow {tf.__version__}, tf_keras {tf_keras}"
            f", Keras {keras_module('keras3').__version__}, @tensorflow/tfjs 4.22 (Node).")


def run(root: Path, names: list[str] | None = None, libraries: tuple[str, ...] = LIBRARIES,
        progress=lambda what: None, every: bool = False, done=lambda cells: None
        ) -> list[Cell]:
    """Build, save and run every (library, model): the cells in document order (`done` gets
    them after each application, so a long run leaves what it finished)."""
    import shutil

    cells = []
    for name in names or list(MODELS):
        for library in libraries:
            progress(f"{library} {name}: building and saving")
            saved = save_all(library, name, root / "built")
            cells += run_application(saved, root / "converted", progress, every)
            shutil.rmtree(root / "converted", ignore_errors=True)
            shutil.rmtree(saved.folder, ignore_errors=True)
            done(cells)
    return cells


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    names = argv[1:] or list(MODELS)
    for library in LIBRARIES:
        for name in names:
            saved = save_all(library, name, out)
            print(library, name, sorted(saved.files), saved.errors)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
