"""The one router: the plug-in list of format modules (imported by name when first needed),
detection through one probe per input, and read / write / convert, which return what they did."""

from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from modelport import progress
from modelport.errors import FormatError, ModelportError, UnsupportedError
from modelport.fileio import checked_input
from modelport.formats.record import FOLDER, Format, Probe, WriteResult, resolve
from modelport.model import Model

PathLike = str | os.PathLike[str]

# Format modules in detection order; each ends with FORMATS = (Format(...), ...).
PLUGINS = (
    "tfjs_layers",
    "keras_h5",
    "keras_v3",
    "keras_json",
    "tfjs_graph",  # before tfjs_weights: a tfjs-converter 0.x folder holds a weights manifest
    "tfjs_weights",
    "tf_checkpoint",
    "saved_model",
)

_FORMATS: dict[str, Format] = {}
_ALIASES: dict[str, str] = {}


# tensorflowjs_converter's format names modelport has no format for: refused by name.
_INCUMBENT_ONLY = {
    "tf_frozen_model": "modelport reads no frozen GraphDef (.pb); convert the SavedModel it "
                       "was frozen from (--input_format tf_saved_model)",
    "tf_hub": "a TF Hub module would be downloaded at run time, which modelport never does; "
              "download the SavedModel and convert its folder",
}
# tensorflowjs_converter's output format for each input format when none is given.
_INCUMBENT_DEFAULT_OUTPUT = {
    "keras_h5": "tfjs_layers_model",
    "keras_saved_model": "tfjs_layers_model",
    "tf_saved_model": "tfjs_graph_model",
    "tfjs_layers_model": "keras_h5",
}


def formats() -> dict[str, Format]:
    """Every format by name, in detection order (the plug-ins are imported on first use)."""
    if not _FORMATS:
        for plugin in PLUGINS:
            module = importlib.import_module(f"modelport.formats.{plugin}")
            for fmt in module.FORMATS:
                _FORMATS[fmt.name] = fmt
                _ALIASES.update(dict.fromkeys(fmt.aliases, fmt.name))
    return _FORMATS


def get_format(name: str | Format) -> Format:
    if isinstance(name, Format):
        return name
    known = formats()
    canonical = _ALIASES.get(name, name)
    if name in _INCUMBENT_ONLY:
        raise UnsupportedError(f"format {name} is not supported: {_INCUMBENT_ONLY[name]}")
    if canonical not in known:
        raise UnsupportedError(f"unknown format '{name}'; known formats: {', '.join(known)}")
    return known[canonical]


def incumbent_default_output(input_name: str) -> str | None:
    """The output format tensorflowjs_converter picks for --input_format `input_name`."""
    get_format(input_name)  # an unknown or refused name says so
    name = input_name if input_name in _INCUMBENT_DEFAULT_OUTPUT else canonical_name(input_name)
    return _INCUMBENT_DEFAULT_OUTPUT.get(name)


def canonical_name(name: str) -> str:
    """A format name with the incumbent's aliases (keras, tfjs, ...) resolved."""
    formats()
    return _ALIASES.get(name, name)


def detect_input(path: Path) -> Format:
    """The format of an existing file or folder, by content."""
    checked_input(Path(path))
    return _detect(Probe(Path(path)))


def _detect(probe: Probe) -> Format:
    path = probe.path
    for fmt in formats().values():
        if fmt.detect(probe):
            return fmt
    if not probe.exists:
        raise FormatError("no such file or folder", path)
    if probe.json_path is not None:
        from modelport.formats.common import read_json

        read_json(probe.json_path)  # invalid JSON says so
        raise FormatError("JSON file is not a model modelport knows (no modelTopology)",
                          probe.json_path)
    if probe.is_dir:
        raise FormatError("folder holds no model modelport recognises (no model.json)", path)
    if probe.hdf5_keys is not None or probe.path.suffix.lower() in (".h5", ".hdf5"):
        raise FormatError("HDF5 file holds no Keras model (no model_config and no "
                          "layer_names)", path)
    raise FormatError("not a model file modelport recognises", path)


def source_format(path: Path, name: str | None) -> Format:
    """The input's format: the one named, else detected; either way the input is checked."""
    checked_input(Path(path))
    return get_format(name) if name else detect_input(path)


def _extension_of(path: Path, fmt: Format) -> int:
    """How long an extension of `fmt` that `path` ends with is (0: none)."""
    name = path.name.lower()
    lengths = [len(ext) for ext in fmt.extensions if ext != FOLDER and name.endswith(ext)]
    if FOLDER in fmt.extensions and (path.suffix == "" or path.is_dir()):
        lengths.append(1)
    return max(lengths, default=0)


def format_for_output(path: Path, candidates: list[Format], holds: str | None = None
                      ) -> Format | None:
    """The format an output name asks for among `candidates`: the longest extension wins (so
    x.weights.h5 is not a plain .h5); among formats with that extension, the first that holds
    `holds` (else the first)."""
    scored = [(_extension_of(path, fmt), fmt) for fmt in candidates]
    best = max((score for score, _ in scored), default=0)
    if best == 0:
        return None
    fitting = [fmt for score, fmt in scored if score == best]
    return next((fmt for fmt in fitting if fmt.holds == holds), fitting[0])


def output_format(path: Path, model: Model, weights_only: bool = False) -> Format:
    """The format to write `model` to at `path`, from the name's extension."""
    writers = [fmt for fmt in formats().values() if fmt.write is not None]
    chosen = format_for_output(path, writers, "model" if model.config is not None else
                               "weights")
    if chosen is None:
        raise UnsupportedError(f"cannot tell the output format from the extension "
                               f"'{path.suffix.lower()}'; pass --to FORMAT", path)
    return weights_format(chosen, path) if weights_only else chosen


def weights_format(fmt: Format | str, path: Path | None = None) -> Format:
    """The weights-only counterpart of output format `fmt` (itself if it is one)."""
    fmt = get_format(fmt)
    if fmt.holds == "weights":
        return fmt
    if fmt.weights_only is None:
        raise UnsupportedError(f"--weights-only does not apply to {fmt.name} output", path)
    counterpart = get_format(fmt.weights_only)
    if _extension_of(path, counterpart) == 0 and path is not None and (
            _extension_of(path, fmt) > 0):
        raise UnsupportedError(f"--weights-only output of a {fmt.name} model is a "
                               f"{counterpart.extensions[0]} file; name the output "
                               f"x{counterpart.extensions[0]}", path)
    return counterpart


# ------------------------------------------------------------------------------ read / write

def read(path: PathLike, format: str | Format | None = None) -> Model:
    """Read any supported model or weights file into a Model (use it as a context manager:
    weights are read lazily from the open file)."""
    path = Path(path)
    checked_input(path)
    probe = Probe(path)
    fmt = get_format(format) if format else _detect(probe)
    if fmt.read is None:
        raise UnsupportedError(f"modelport cannot read {fmt.name} files", path)
    try:
        if "probe" in _accepted(fmt.read):  # what detection parsed is not parsed again
            return fmt.call("read", path, probe=probe)
        return fmt.call("read", path)
    except ModelportError as exc:
        exc.about(path)
        raise


def _flag(option: str) -> str:
    return "--quantize-*" if option == "quantize" else "--" + option.replace("_", "-")


def _accepted(function: Any) -> set[str]:
    return set(inspect.signature(resolve(function)).parameters)


def writer_takes(dst: PathLike, to_format: str | None, option: str) -> bool:
    """Whether the writer of output `dst` (in `to_format`, else the format its name asks for)
    takes `option` (e.g. custom_objects: the writers that load the model in TensorFlow)."""
    if to_format is not None:
        fmt: Format | None = get_format(to_format)
    else:
        fmt = format_for_output(Path(dst), [f for f in formats().values()
                                            if f.write is not None])
    return fmt is not None and fmt.write is not None and option in _accepted(fmt.write)


def write(model: Model, path: PathLike, format: str | Format | None = None,
          overwrite: bool = False, weights_only: bool = False, **options: Any) -> WriteResult:
    """Write `model` to `path` in `format` (default: from the extension; a folder means a
    TF.js layers model). `weights_only` writes the weights alone in the format's weights-only
    counterpart. Returns the files written, with the output's warnings."""
    path = Path(path)
    if format:
        fmt = get_format(format)
        if weights_only:
            fmt = weights_format(fmt, path)
    else:
        fmt = output_format(path, model, weights_only)
    if fmt.write is None:
        raise UnsupportedError(f"modelport cannot write {fmt.name} files", path)
    source = formats().get(canonical_name(model.metadata.source_format))
    if model.config is None and source is not None and source.keyed_by == "position":
        raise UnsupportedError(f"a {source.name} file's weights have no layer names and are "
                               "listed in creation order, not Keras's; pass --architecture "
                               "ARCH to put them into the model", path)
    if model.config is None and not model.layer_order_known and fmt.keyed_by == "layer" \
            and fmt.holds == "weights":
        # Keras's load_weights of a save_weights .h5 gives the k-th layer with weights the
        # k-th group: in the wrong order, a file that is refused or, worse, loads.
        raise UnsupportedError(
            f"a {source.name if source else 'weights'} file does not record the order of the "
            "model's layers (its groups are object paths like 'layers/dense_1', listed by "
            f"name), and {fmt.name} is loaded by layer position; pass --architecture FILE to "
            "give the layer order")
    if source is not None and source.holds == "architecture" and fmt.holds != "architecture":
        raise UnsupportedError(f"the input is an architecture without weights; {fmt.name} "
                               "output needs weights", path)
    given = {k: v for k, v in options.items() if v is not None}
    accepted = _accepted(fmt.write)
    for key in given:
        if key not in accepted:
            raise UnsupportedError(f"{_flag(key)} does not apply to {fmt.name} output", path)
    bar = progress.bytes_bar(sum(w.nbytes for w in model.all_weights()), f"writing {path.name}")
    if bar is None:
        result = fmt.call("write", model, path, overwrite=overwrite, **given)
    else:
        try:
            result = fmt.call("write", _counted(model, bar), path, overwrite=overwrite, **given)
        finally:
            bar.close()
    result.warnings[:0] = model.warnings
    return result


def _counted(model: Model, bar: Any) -> Model:
    """`model` with each weight's read counted on the progress bar."""
    weights = {layer: [replace(w, load=progress.counting(w.load, w.nbytes, bar)) for w in group]
               for layer, group in model.weights.items()}
    return replace(model, weights=weights)


# ----------------------------------------------------------------------------------- convert

def _output_kind(fmt: Format) -> str:
    first = fmt.extensions[0] if fmt.extensions else FOLDER
    return "a folder" if first == FOLDER else first


def _conversion_target(src: Format, dst: Path, to_format: str | None, path: Path) -> Format:
    targets = [get_format(name) for name in src.conversions]
    if to_format is not None:
        return get_format(to_format)
    chosen = format_for_output(dst, targets)
    if chosen is None:
        routes = " or ".join(f"{t.name} ({_output_kind(t)})" for t in targets)
        raise UnsupportedError(f"a {src.name} converts to {routes}, not '{dst.name}'", path)
    return chosen


def _convert_directly(src: Format, target: Format, path: Path, dst: Path, overwrite: bool,
                      weights_only: bool, options: dict[str, Any]) -> WriteResult:
    if target.name not in src.conversions:
        routes = ", ".join(src.conversions)
        raise UnsupportedError(f"a {src.name} converts to {routes}, not {target.name}", path)
    given = {key: value for key, value in options.items() if value is not None}
    accepted = set(src.conversion_options.get(target.name, ()))
    refused = [key for key, value in given.items() if key not in accepted and value]
    if weights_only:
        refused.append("weights_only")
    if refused:
        raise UnsupportedError(f"{_flag(refused[0])} does not apply to {target.name} output "
                               f"from {src.name} input", path)
    given = {key: value for key, value in given.items() if key in accepted}
    return resolve(src.conversions[target.name])(path, dst, overwrite=overwrite, **given)


def convert(src: PathLike, dst: PathLike, *, from_format: str | None = None,
            to_format: str | None = None, overwrite: bool = False, weights_only: bool = False,
            **options: Any) -> WriteResult:
    """Convert the model at `src` to `dst`: through a direct route where the source format
    declares one for the target (graphs: TensorFlow-backed), else read into the in-memory
    model and written. Returns the files written, the warnings and any quantization summary."""
    path, dst = Path(src), Path(dst)
    source = source_format(path, from_format)
    graph_only = source.read is None or source.holds == "graph"
    target = None
    if to_format is not None:
        target = get_format(to_format)
    elif graph_only and source.conversions:
        target = _conversion_target(source, dst, to_format, path)
    signature = options.pop("signature", None)
    if target is not None and target.name in source.conversions:
        if signature is not None:
            options["signature"] = signature
        return _convert_directly(source, target, path, dst, overwrite, weights_only, options)
    if signature is not None:
        shown = target.name if target is not None else "this"
        raise UnsupportedError(f"--signature-name does not apply to {shown} output from "
                               f"{source.name} input", path)
    if source.read is None:
        raise UnsupportedError(f"modelport cannot read {source.name} files", path)
    with read(path, source) as model:
        try:
            return write(model, dst, target, overwrite=overwrite, weights_only=weights_only,
                         **options)
        except ModelportError as exc:
            raise exc.about(path) from None


def format_table() -> list[dict[str, Any]]:
    """The formats modelport knows, with whether it reads and writes each."""
    return [
        {"name": f.name, "description": f.description, "extensions": list(f.extensions),
         "read": f.read is not None, "write": f.write is not None or bool(
             [s for s in formats().values() if f.name in s.conversions])}
        for f in formats().values()
    ]


def format_for_runtime(runtime: str) -> Format:
    """The format modelport writes a model in for a runtime that cannot read the source."""
    for fmt in formats().values():
        if fmt.runtime == runtime and fmt.write is not None and fmt.holds == "model":
            return fmt
    raise UnsupportedError(f"modelport writes no format the {runtime} runtime reads")
