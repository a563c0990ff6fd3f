"""`convert`: the one entry for every conversion - a direct graph route, read and write through
the in-memory model, or weights assembled into an architecture first."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from modelport.assemble import assemble_files
from modelport.errors import ModelportError
from modelport.formats.record import WriteResult
from modelport.registry import convert as convert_file
from modelport.registry import write

PathLike = str | os.PathLike[str]


def convert(src: PathLike, dst: PathLike, *, from_format: str | None = None,
            to_format: str | None = None, overwrite: bool = False,
            weights_only: bool = False, architecture: PathLike | None = None,
            match: str | None = None, skip_mismatch: bool = False,
            architecture_format: str | None = None, **options: Any) -> WriteResult:
    """Convert the model at `src` to `dst` (format from `to_format`, else from the output's
    extension; a folder means a TF.js layers model). With `architecture`, `src` holds weights
    that are put into that architecture first (`match`, `skip_mismatch` as in `assemble`); the
    result's `report` says which weight went where. Conversions to and from TF.js graph models
    (`signature` names a SavedModel's signature) need TensorFlow. Returns the files written,
    with `warnings` and, for quantized TF.js output, `quantization`."""
    if architecture is None:
        return convert_file(src, dst, from_format=from_format, to_format=to_format,
                            overwrite=overwrite, weights_only=weights_only, **options)
    model, report = assemble_files(src, architecture, match=match, skip_mismatch=skip_mismatch,
                                   weights_format=from_format,
                                   architecture_format=architecture_format)
    with model:
        try:
            result = write(model, Path(dst), to_format, overwrite=overwrite,
                           weights_only=weights_only, **options)
        except ModelportError as exc:
            raise exc.about(src) from None
    result.report = report
    return result
