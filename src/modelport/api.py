"""The public Python API: read, write, convert, assemble, inspect, formats and verify."""

from __future__ import annotations

import inspect as inspect_module
import os
from pathlib import Path
from typing import Any

from modelport.assemble import MappingReport
from modelport.errors import ModelportError, UnsupportedError
from modelport.model import Model
from modelport.registry import FORMATS, detect_input, get_format, output_format, weights_format
from modelport.verification.core import verify

__all__ = ["assemble", "convert", "formats", "inspect", "read", "verify", "write"]

PathLike = str | os.PathLike[str]


def read(path: PathLike, format: str | None = None) -> Model:
    """Read any supported model or weights file into a Model (use it as a context manager:
    weights are read lazily from the open file)."""
    path = Path(path)
    fmt = get_format(format) if format else detect_input(path)
    if fmt.reader is None:
        raise UnsupportedError(f"modelport cannot read {fmt.name} files", path)
    return fmt.reader(path)


def write(model: Model, path: PathLike, format: str | None = None, overwrite: bool = False,
          weights_only: bool = False, **options: Any) -> list[Path]:
    """Write `model` to `path` in `format` (default: from the extension; a folder means a
    TF.js layers model). `weights_only` writes the weights alone in the format's weights-only
    counterpart (.h5 -> save_weights layout, TF.js -> weights manifest). Returns the files
    written."""
    path = Path(path)
    if format:
        fmt = get_format(format)
        if weights_only:
            fmt = get_format(weights_format(fmt.name, path))
    else:
        fmt = output_format(path, model, weights_only)
    if fmt.writer is None:
        raise UnsupportedError(f"modelport cannot write {fmt.name} files", path)
    if model.config is None and model.metadata.source_format == "tf_checkpoint":
        raise UnsupportedError("a checkpoint's weights have no layer names and are listed in "
                               "creation order, not Keras's; pass --architecture ARCH to put "
                               "them into the model", path)
    if model.metadata.source_format == "keras_json" and fmt.name != "keras_json":
        raise UnsupportedError(f"the input is an architecture without weights; {fmt.name} "
                               "output needs weights", path)
    accepted = inspect_module.signature(fmt.writer).parameters
    given = {k: v for k, v in options.items() if v is not None}
    for key in given:
        if key not in accepted:
            flag = "--quantize-*" if key == "quantize" else "--" + key.replace("_", "-")
            raise UnsupportedError(f"{flag} does not apply to {fmt.name} output", path)
    return fmt.writer(model, path, overwrite=overwrite, **given)


def convert(src: PathLike, dst: PathLike, *, from_format: str | None = None,
            to_format: str | None = None, overwrite: bool = False,
            weights_only: bool = False, **options: Any) -> list[Path]:
    """Convert the model at `src` to `dst`. Returns the files written. Conversions to and
    from TF.js graph models (`signature` names a SavedModel's signature) need TensorFlow."""
    from modelport.tensorflow.graph_model import convert_graph

    written = convert_graph(src, dst, from_format=from_format, to_format=to_format,
                            overwrite=overwrite, weights_only=weights_only, **options)
    if written is not None:
        return written
    options.pop("signature", None)
    with read(src, from_format) as model:
        try:
            return write(model, dst, to_format, overwrite=overwrite,
                         weights_only=weights_only, **options)
        except ModelportError as exc:
            raise exc.about(src) from None


def assemble(weights: PathLike, architecture: PathLike, *, match: str | None = None,
             skip_mismatch: bool = False, weights_format: str | None = None,
             architecture_format: str | None = None) -> tuple[Model, MappingReport]:
    """A complete model from a weights file (any weights-only format, or any model file) and
    a file holding the architecture, with the report of which weight went where. `match` is
    "name" or "order" (default: by name when every layer name matches, else by order).
    Raises MismatchError, carrying `.report`, when the weights do not fit, unless
    `skip_mismatch`. Use the model as a context manager."""
    from modelport.assemble import assemble as assemble_model
    from modelport.assemble import read_architecture

    weights_path, architecture_path = Path(weights), Path(architecture)
    with read_architecture(architecture_path, architecture_format) as arch:
        source = read(weights_path, weights_format)
        try:
            model, report = assemble_model(
                source, arch, match=match, skip_mismatch=skip_mismatch,
                weights_path=weights_path, architecture_path=architecture_path)
        except BaseException:
            source.close()
            raise
    model.keep_open(source)
    return model, report


def formats() -> list[dict[str, Any]]:
    """The formats modelport knows, with whether it reads and writes each."""
    return [
        {"name": f.name, "description": f.description, "extensions": list(f.extensions),
         "read": f.reader is not None, "write": f.writer is not None}
        for f in FORMATS.values()
    ]


def inspect(path: PathLike, format: str | None = None) -> dict[str, Any]:
    """A summary of a model file: format, producer, inputs, outputs, layers and weights."""
    from modelport.inspection import summarise

    fmt = get_format(format) if format else detect_input(Path(path))
    if fmt.name == "tfjs_graph_model":
        from modelport.formats.tfjs_graph import summarise as summarise_graph_model

        return summarise_graph_model(Path(path))
    if fmt.name == "tf_saved_model":
        from modelport.inspection import summarise_saved_model

        return summarise_saved_model(Path(path))
    with read(path, fmt.name) as model:
        return summarise(model, fmt.name, Path(path))
