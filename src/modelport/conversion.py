"""`convert`: the one entry for every conversion - a direct graph route, read and write through
the in-memory model, or weights assembled into an architecture first."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from modelport import keras_objects
from modelport.assemble import assemble_files
from modelport.errors import ModelportError
from modelport.formats.record import WriteResult
from modelport.model import Model
from modelport.registry import convert as convert_file
from modelport.registry import write as write_model

PathLike = str | os.PathLike[str]


def convert(src: PathLike, dst: PathLike, *, from_format: str | None = None,
            to_format: str | None = None, overwrite: bool = False,
            weights_only: bool = False, architecture: PathLike | None = None,
            match: str | None = None, skip_mismatch: bool = False,
            architecture_format: str | None = None, **options: Any) -> WriteResult:
    """Convert the model at `src` (a file, or an in-memory Keras 3 / tf_keras model,
    saved by its library first) to `dst` (format from `to_format`, else from the output's
    extension; a folder means a TF.js layers model). With `architecture`, `src` holds weights
    that are put into that architecture first (`match`, `skip_mismatch` as in `assemble`); the
    result's `report` says which weight went where. Conversions to and from TF.js graph models
    (`signature` names a SavedModel's signature) need TensorFlow. Returns the files written,
    with `warnings` and, for quantized TF.js output, `quantization`."""
    if keras_objects.library_of(src) is not None:
        with keras_objects.saved(src) as path:
            try:
                return convert(path, dst, from_format=from_format, to_format=to_format,
                               overwrite=overwrite, weights_only=weights_only,
                               architecture=architecture, match=match,
                               skip_mismatch=skip_mismatch,
                               architecture_format=architecture_format, **options)
            except ModelportError as exc:
                if exc.path == str(path):
                    exc.path = keras_objects.describe(src)
                raise
    if architecture is None:
        return convert_file(src, dst, from_format=from_format, to_format=to_format,
                            overwrite=overwrite, weights_only=weights_only, **options)
    model, report = assemble_files(src, architecture, match=match, skip_mismatch=skip_mismatch,
                                   weights_format=from_format,
                                   architecture_format=architecture_format)
    with model:
        try:
            result = write_model(model, Path(dst), to_format, overwrite=overwrite,
                           weights_only=weights_only, **options)
        except ModelportError as exc:
            raise exc.about(src) from None
    result.report = report
    return result


def write(model: Model | Any, path: PathLike, format: str | None = None,
          overwrite: bool = False, weights_only: bool = False, **options: Any) -> WriteResult:
    """Write `model` (read by modelport, or an in-memory Keras 3 / tf_keras model) to `path` in
    `format` (default: from the extension; a folder means a TF.js layers model);
    `weights_only` writes the weights alone in the format's weights-only counterpart."""
    if keras_objects.library_of(model) is not None:
        return convert(model, path, to_format=format, overwrite=overwrite,
                       weights_only=weights_only, **options)
    try:
        return write_model(model, path, format, overwrite=overwrite, weights_only=weights_only,
                           **options)
    except ModelportError as exc:  # the model remembers no file: name the one being written
        raise exc.about(path) from None
