"""Keras architecture JSON, as `model.to_json()` writes it (Keras 2 or Keras 3 dialect): an
architecture without weights."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelport.errors import FormatError, UnsupportedError
from modelport.fileio import atomic_file
from modelport.formats.common import read_json
from modelport.formats.record import Format, Probe, WriteResult
from modelport.keras_config.dialects import KERAS2_VERSION, portable_keras2, to_canonical
from modelport.keras_config.entries import has_builtin_node, is_model_entry, layer_name
from modelport.keras_config.keras3 import to_keras3
from modelport.keras_config.names import keras3_layer_names
from modelport.keras_config.targets import (
    KERAS3_ONLY_LAYERS,
    check_dialect_semantics,
    custom_layer_warnings,
    iter_layer_entries,
)
from modelport.model import Metadata, Model

NAME = "keras_json"


def is_architecture(data: Any) -> bool:
    return isinstance(data, dict) and is_model_entry(data) and "modelTopology" not in data


def detect(probe: Probe) -> bool:
    return probe.is_file and probe.json_path is not None and is_architecture(probe.json)


def read(path: Path, probe: Probe | None = None) -> Model:
    data = read_json(path, probe)
    if not is_architecture(data):
        raise FormatError("not a Keras architecture JSON (no class_name/config with layers)",
                          path)
    model = Model(config=None)
    version = data.get("keras_version")
    for key in ("keras_version", "backend"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise FormatError(f"'{key}' is a {type(data[key]).__name__}, not text", path)
    if version is None and data.get("module") is not None and "registered_name" in data:
        version = "3"  # Keras 3's to_json() writes no version
    model.metadata = Metadata(source_format=NAME, keras_version=version,
                              backend=data.get("backend"))
    model.config = to_canonical(data, model.warnings.append,
                                version,
                                model.metadata.translations)
    return model


def document(model: Model, keras: int, warn: Callable[[str], None]) -> dict[str, Any]:
    """The architecture as `to_json()` of Keras `keras` (2 or 3) writes it."""
    assert model.config is not None
    if keras == 3:
        check_dialect_semantics(model, "keras3")
        model, renamed = keras3_layer_names(model)
        for message in renamed:
            warn(message)
        assert model.config is not None
        return to_keras3(model.config)
    if keras != 2:
        raise UnsupportedError(f"--keras must be 2 or 3, not {keras}")
    check_dialect_semantics(model, "keras2")
    only_k3 = [(where, e.get("class_name")) for where, e in iter_layer_entries(model.config)
               if e.get("class_name") in KERAS3_ONLY_LAYERS]
    if only_k3:
        where, cls = only_k3[0]
        raise UnsupportedError(f"layer '{where}' ({cls}): Keras 2 has no such layer; write "
                               "--keras 3")
    # Unlike .h5, the JSON keeps nested models as they are, so that it matches the legacy
    # weights file of the same model (one group per nested model).
    called = [layer_name(e) for e in model.layers
              if has_builtin_node(e) and e.get("inbound_nodes")]
    if called:
        warn(f"nested model '{called[0]}' is called inside the model: Keras 3 cannot read that "
             "from Keras 2 JSON; for Keras 3 use --keras 3")
    version = model.metadata.keras_version or ""
    return {**portable_keras2(model.config),
            "keras_version": version if version.startswith("2.") else KERAS2_VERSION,
            "backend": "tensorflow"}


def write(model: Model, path: Path, overwrite: bool = False, keras: int = 2) -> WriteResult:
    if model.config is None:
        raise UnsupportedError("the input holds weights only: there is no architecture to "
                               "write", path)
    warnings = custom_layer_warnings(model.config)
    text = json.dumps(document(model, keras, warnings.append))
    with atomic_file(path, overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return WriteResult([path], warnings)


FORMATS = (
    Format(NAME, "Keras architecture JSON (model.to_json())", detect, extensions=(".json",),
           read=read, write=write, holds="architecture"),
)
