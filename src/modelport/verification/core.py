"""`verify(a, b)`: open both models, pick a runtime for each, feed both the same inputs, match
and compare their outputs."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from modelport import keras_objects, progress, registry
from modelport.errors import ModelportError, UnsupportedError
from modelport.formats.record import Format, Probe
from modelport.keras_config.entries import is_keras3_op
from modelport.keras_config.targets import BUILTIN_LAYERS, iter_layer_entries
from modelport.model import Model
from modelport.summary import model_outputs
from modelport.verification import inputs as inputs_module
from modelport.verification import runtimes
from modelport.verification.compare import (
    OutputComparison,
    Tolerance,
    compare,
    quantization_step,
    widened,
)
from modelport.verification.defaults import (
    DEFAULT_ATOL,
    DEFAULT_BATCH_SIZE,
    DEFAULT_RTOL,
    DEFAULT_SEED,
    RUNTIMES,
)
from modelport.verification.inputs import InputSpec
from modelport.verification.result import InputInfo, Side, VerifyResult

PathLike = str | os.PathLike[str]


def _open(path: Path, fmt: Format) -> Model | None:
    """The model as modelport reads it (config for input specs and checks, and the source of
    conversions for runtimes that cannot read the format); None when modelport cannot read
    it without a framework (graph models, SavedModels that are not Keras ones)."""
    try:
        return registry.read(path, fmt)
    except UnsupportedError:
        if fmt.graph or fmt.holds == "graph":
            return None
        raise


def _quantization(path: Path, fmt: Format) -> tuple[float, str]:
    """The coarsest quantization step of a TF.js side's weights manifest."""
    if fmt.runtime != "tfjs":
        return 0.0, ""
    document = Probe(path).json
    manifest = document.get("weightsManifest") if isinstance(document, dict) else None
    return quantization_step(manifest or [])


def _output_names(model: Model | None) -> list[str]:
    if model is None or model.config is None:
        return []
    keyed = model.config.get("config", {}).get("output_layers")
    if isinstance(keyed, dict):
        # A model built with a dict of outputs returns them by its keys, which a SavedModel's
        # signature names them by too.
        return [str(key) for key in keyed]
    outputs = model_outputs(model)
    names = [str(o["name"]) for o in outputs]
    return [n if names.count(n) == 1 else f"{n}:{o.get('node', 0)}:{o.get('tensor', 0)}"
            for n, o in zip(names, outputs, strict=True)]


# The Keras whose classes each runtime builds layers from.
_KERAS_OF_RUNTIME = {"keras3": "keras3", "tf_keras": "tf_keras", "tensorflow": "tf_keras"}


def _check_model_code(model: Model | None, runtime: str, label: str, path: Path,
                      custom_objects: dict[str, Any], allow_lambda: bool) -> None:
    """Refuse before loading what the runtime would execute from the file (Lambda bytecode)
    or cannot build (custom classes without their code)."""
    if model is None or model.config is None:
        return
    for where, entry in iter_layer_entries(model.config):
        cls = str(entry.get("class_name"))
        if cls == "Lambda" and not allow_lambda and runtime != "tfjs":
            raise UnsupportedError(
                f"layer '{where}' of {label} is a Lambda: loading it in {runtime} runs the "
                "Python bytecode stored in the file; pass --allow-lambda if you trust the file",
                path)
        if cls in BUILTIN_LAYERS or is_keras3_op(entry):
            continue
        registered = str(entry.get("registered_name") or cls)
        if runtime == "tfjs":
            raise UnsupportedError(
                f"layer '{where}' of {label} is of custom class '{cls}', which TF.js cannot "
                f"build; run this side in Keras (--runtime-{label.lower()} keras3 "
                "--custom-objects FILE.py)", path)
        if cls not in custom_objects and registered not in custom_objects:
            raise UnsupportedError(
                f"layer '{where}' of {label} is of custom class '{cls}', which {runtime} cannot "
                "build without its code: pass --custom-objects FILE.py, a module defining it",
                path)
        given = custom_objects.get(registered, custom_objects.get(cls))
        library = keras_objects.class_library(given)
        wanted = _KERAS_OF_RUNTIME.get(runtime)
        if library is not None and wanted is not None and library != wanted:
            raise UnsupportedError(
                f"layer '{where}' of {label} is of custom class '{cls}', and the custom "
                f"objects define it on {library}'s classes, which {runtime} cannot build "
                f"from: write its module against `tensorflow.keras` (modelport imports it "
                f"for each Keras) or {wanted}, or run this side in {library} "
                f"(--runtime-{label.lower()} {library})", path)


def _match(names_a: list[str], outs_a: list[np.ndarray], names_b: list[str],
           outs_b: list[np.ndarray]) -> tuple[list[tuple[str, np.ndarray | None,
                                                         np.ndarray | None]], str]:
    """Pairs of outputs to compare: by name when both sides name the same outputs, else by
    position (said in the returned note)."""
    if names_a == names_b or (sorted(names_a) == sorted(names_b)
                              and len(set(names_a)) == len(names_a)):
        b_by_name = dict(zip(names_b, outs_b, strict=True))
        return [(n, a, b_by_name[n]) for n, a in zip(names_a, outs_a, strict=True)], ""
    pairs: list[tuple[str, np.ndarray | None, np.ndarray | None]] = []
    for i in range(max(len(outs_a), len(outs_b))):
        name_a = names_a[i] if i < len(names_a) else None
        name_b = names_b[i] if i < len(names_b) else None
        shown = name_a if name_b in (None, name_a) else (
            name_b if name_a is None else f"{name_a} / {name_b}")
        pairs.append((shown or f"output_{i}", outs_a[i] if i < len(outs_a) else None,
                      outs_b[i] if i < len(outs_b) else None))
    return pairs, "outputs matched by position (A and B name them differently)"


def _missing(name: str, a: np.ndarray | None, b: np.ndarray | None,
             tolerance: Tolerance) -> OutputComparison:
    present = a if a is not None else b
    assert present is not None
    shape = tuple(present.shape)
    return OutputComparison(name, shape if a is not None else (), shape if b is not None else (),
                            float("nan"), float("nan"), None, 0, False, tolerance.atol,
                            tolerance.rtol,
                            problem="only in A" if b is None else "only in B")


def verify(a: PathLike | Any, b: PathLike | Any,
           inputs: PathLike | list[np.ndarray] | None = None, *,
           runtime_a: str | None = None, runtime_b: str | None = None,
           format_a: str | None = None, format_b: str | None = None,
           batch_size: int = DEFAULT_BATCH_SIZE,
           seed: int = DEFAULT_SEED, atol: float | None = None,
           rtol: float | None = None,
           custom_objects: PathLike | dict[str, Any] | None = None,
           allow_lambda: bool = False) -> VerifyResult:
    """Run models `a` and `b` (files, or in-memory Keras 3 / tf_keras models, saved by their
    library first) in real runtimes on the same inputs and compare every output,
    A being the reference. `inputs`: an .npz/.npy path or arrays in model-input order
    (default: generated from A's input specs with `seed`). Runtimes default to each format's
    own (TF.js files -> tfjs, SavedModels -> tensorflow, Keras files -> the Keras that wrote
    them). `atol`/`rtol` default to float32-suited values, widened when a side has quantized
    weights. `custom_objects`: a dict or a .py file to import for custom layers."""
    if batch_size < 1:
        raise ModelportError("--batch-size must be at least 1")
    for runtime in (runtime_a, runtime_b):
        if runtime is not None and runtime not in RUNTIMES:
            raise ModelportError(f"unknown runtime '{runtime}'; choose from "
                                 f"{', '.join(RUNTIMES)}")
    imported: dict[str | None, dict[str, Any]] = {}

    def objects_for(runtime: str) -> dict[str, Any]:
        # A module of custom classes is imported for each Keras a side runs in, its
        # `tensorflow.keras` being that Keras (TensorFlow runs SavedModels written by tf_keras).
        library = _KERAS_OF_RUNTIME.get(runtime)
        if library not in imported:
            imported[library] = keras_objects.custom_objects(custom_objects, library)
        return imported[library]

    with contextlib.ExitStack() as stack:
        path_a = stack.enter_context(keras_objects.saved(a))
        path_b = stack.enter_context(keras_objects.saved(b))
        sides = []
        objects_of: list[dict[str, Any]] = []
        for label, path, given_format, runtime in (("A", path_a, format_a, runtime_a),
                                          ("B", path_b, format_b, runtime_b)):
            try:
                source = registry.source_format(path, given_format)
                model = _open(path, source)
            except ModelportError as exc:
                raise exc.about(path) from None
            if model is not None:
                stack.enter_context(model)
            keras_version = model.metadata.keras_version if model is not None else None
            try:
                chosen = runtime or runtimes.default_runtime(source, keras_version)
            except ModelportError as exc:
                raise exc.about(path) from None
            # A SavedModel's signature is a traced graph: it needs no Python class and runs
            # no Lambda bytecode.
            # keras.applications' own layers (ConvNeXt's LayerScale) come from the runtime's
            # library; the user's module wins.
            side_objects = {**keras_objects.application_objects(
                model.config if model is not None else None, chosen), **objects_for(chosen)}
            if not (chosen == "tensorflow" and source.runtime == "tensorflow"):
                _check_model_code(model, chosen, label, path, side_objects, allow_lambda)
            sides.append((label, path, source, model, chosen))
            objects_of.append(side_objects)
        workdir = Path(stack.enter_context(runtimes.make_workdir()))
        loaded = []
        for (label, path, source, model, chosen), side_objects in zip(sides, objects_of,
                                                                       strict=True):
            progress.stage(f"loading {label} ({path.name}) in {chosen}")
            where = workdir / label
            where.mkdir()
            try:
                if chosen in ("keras3", "tf_keras"):
                    handle = runtimes.load_keras(chosen, path, source, model,
                                                 _output_names(model), side_objects,
                                                 allow_lambda, where)
                elif chosen == "tensorflow":
                    handle = runtimes.load_tensorflow(path, source, model, where,
                                                      custom_objects=side_objects)
                else:
                    handle = runtimes.load_tfjs(path, source, model, where)
            except ModelportError as exc:
                raise _about_the_user_file(exc, workdir, path) from None
            loaded.append(handle)

        specs = _input_specs(sides, loaded)
        arrays, sources = _inputs(inputs, specs, batch_size, seed)
        named = list(zip([s.name for s in specs], arrays, strict=True))
        hint = _open_dims_hint(specs) if inputs is None else ""
        progress.stage(f"running A in {sides[0][4]}")
        names_a, outs_a = _run(loaded[0], named, sides[0], hint)
        progress.stage(f"running B in {sides[1][4]}")
        names_b, outs_b = _run(loaded[1], named, sides[1], hint)

        steps = []
        side_records = []
        for (label, path, source, _, chosen), handle in zip(sides, loaded, strict=True):
            step, dtypes = _quantization(path, source)
            if step:
                steps.append((label, step, dtypes))
            side_records.append(Side(label, str(path), source.name, chosen, handle.version,
                                     handle.via, dtypes))
        base = Tolerance(DEFAULT_ATOL if atol is None else atol,
                         DEFAULT_RTOL if rtol is None else rtol)
        notes = []
        if atol is None and rtol is None:
            tolerance = widened(base, steps)
        else:
            tolerance = base
            if steps:
                notes.append("quantized weights on " + ", ".join(s[0] for s in steps)
                             + ": tolerances as given, not widened")
        pairs, note = _match(names_a, outs_a, names_b, outs_b)
        if note:
            notes.append(note)
        comparisons = [compare(n, x, y, tolerance) if x is not None and y is not None
                       else _missing(n, x, y, tolerance) for n, x, y in pairs]
        infos = [InputInfo(s.name, tuple(x.shape), str(x.dtype), src)
                 for s, x, src in zip(specs, arrays, sources, strict=True)]
        result = VerifyResult(side_records[0], side_records[1], infos, comparisons, tolerance,
                              notes)
        if not result.passed:
            result.divergence = _first_divergence(loaded, named, tolerance)
        return result


def _about_the_user_file(exc: ModelportError, workdir: Path, path: Path) -> ModelportError:
    """An error met on the copy a runtime was given (in the scratch folder) names the user's
    file instead."""
    if exc.path is None or Path(exc.path).is_relative_to(workdir):
        exc.path = str(path)
    exc.message = exc.message.replace(str(workdir), "a temporary folder")
    exc.args = (exc.message,)
    return exc


def _first_divergence(loaded: list[runtimes.Loaded], named: list[tuple[str, np.ndarray]],
                      tolerance: Tolerance) -> OutputComparison | None:
    """The first layer, in A's order, whose outputs differ beyond the tolerance, both sides
    run with every layer's output exposed (layers models only; None otherwise)."""
    if any(handle.run_layers is None for handle in loaded):
        return None
    progress.stage("finding the first layer whose outputs differ")
    try:
        names_a, layers_a = loaded[0].run_layers(named)  # type: ignore[misc]
        names_b, layers_b = loaded[1].run_layers(named)  # type: ignore[misc]
    except Exception:  # noqa: BLE001 - a side that cannot expose its layers just says nothing
        return None
    by_name = dict(zip(names_b, layers_b, strict=True))
    for name, a in zip(names_a, layers_a, strict=True):
        b = by_name.get(name)
        if b is None or np.shape(a) != np.shape(b):
            continue
        found = compare(name, a, b, tolerance)
        if not found.passed:
            return found
    return None


def _open_dims_hint(specs: list[InputSpec]) -> str:
    """What to say when a model fails on generated inputs whose open dimensions were guessed."""
    if not any(s.shape is None or None in s.shape[1:] for s in specs):
        return ""
    return (f" (the generated inputs give open dimensions {inputs_module.UNKNOWN_DIM}; if the "
            "model needs other sizes, pass --inputs data.npz)")


def _run(handle: runtimes.Loaded, named: list[tuple[str, np.ndarray]],
         side: tuple[str, Path, Format, Model | None, str], hint: str = ""
         ) -> tuple[list[str], list[np.ndarray]]:
    label, path, _, _, runtime = side
    try:
        return handle.run(named)
    except ModelportError:
        raise
    except Exception as exc:  # noqa: BLE001 - runtimes raise their own types for bad models
        text = str(exc).strip()
        first = text.splitlines()[0][:400] if text else type(exc).__name__
        raise ModelportError(f"{runtime} could not run {label} on the inputs: {first}{hint}",
                             path) from exc


def _input_specs(sides: list[tuple[str, Path, Format, Model | None, str]],
                 loaded: list[runtimes.Loaded]) -> list[InputSpec]:
    """A's input specs from its config, else B's, else what a runtime or a graph model's
    signature says."""
    for _, _, _, model, _ in sides:
        if model is not None and model.config is not None:
            return inputs_module.specs_from_model(model)
    for (_, path, fmt, _, _), handle in zip(sides, loaded, strict=True):
        if handle.input_specs:
            return list(handle.input_specs)
        if fmt.input_specs is not None:
            return [InputSpec(*spec) for spec in fmt.call("input_specs", path)]
    raise UnsupportedError("neither model says what its inputs are; pass --inputs data.npz",
                           sides[0][1])


def _inputs(given: PathLike | list[np.ndarray] | None, specs: list[InputSpec],
            batch_size: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    if given is None:
        return inputs_module.generate(specs, batch_size, seed)
    if isinstance(given, (str, os.PathLike)):
        return inputs_module.load(Path(given), specs)
    arrays = [np.asarray(x) for x in given]
    if len(arrays) != len(specs):
        raise ModelportError(f"{len(arrays)} input arrays given; the model has {len(specs)} "
                             f"inputs ({', '.join(s.name for s in specs)})")
    return arrays, ["given" for _ in arrays]

