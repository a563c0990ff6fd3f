"""Helpers shared by format modules: naming a layer's weights from its layout, and JSON reading
with one clear error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelport.errors import FormatError
from modelport.fileio import regular_file
from modelport.formats.record import Probe
from modelport.keras_config.entries import is_model_entry, layer_name
from modelport.keras_config.layouts import layer_layout
from modelport.model import Weight

# The largest JSON file read (a big layers model's model.json is a few MB; the limit keeps a
# hostile file from filling memory with parsed objects).
JSON_LIMIT = 256 * 1024 * 1024


def read_json(path: Path, probe: Probe | None = None) -> Any:
    """The parsed JSON file, taken from the detection probe when it parsed this file already."""
    if probe is not None and probe.json_path == path and probe.json is not None:
        return probe.json
    try:
        if path.is_dir():
            raise FormatError("is a folder, not a JSON file", path)
        if path.exists() and not regular_file(path):
            raise FormatError("is not a regular file (a FIFO or a device)", path)
        if path.stat().st_size > JSON_LIMIT:
            raise FormatError(f"JSON file of {path.stat().st_size} bytes: over the "
                              f"{JSON_LIMIT >> 20} MiB a model's JSON may have", path)
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise FormatError("file not found", path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"not valid JSON ({exc})", path) from None
    except RecursionError:
        raise FormatError("JSON nested too deeply to be a model", path) from None
    except IsADirectoryError:
        raise FormatError("is a folder, not a JSON file", path) from None


def name_layer_weights(entry: dict[str, Any], weights: list[Weight], keras3_source: bool
                       ) -> list[Weight]:
    """Give a layer's weights (in Keras order, as its file lists them) their Keras 2 / TF.js
    names. The layout table decides where it knows the class; otherwise the file's own names
    are kept, less the nested model's name Keras 3 prefixes and Keras 2 does not."""
    layout = layer_layout(entry)
    if layout is not None and len(layout) == len(weights):
        return [
            w.relabelled(name, trainable)
            for (name, trainable), w in zip(layout, weights, strict=True)
        ]
    prefix = layer_name(entry) + "/"
    renamed = []
    for weight in weights:
        name = weight.name
        if keras3_source and is_model_entry(entry) and name.startswith(prefix):
            name = name[len(prefix):]
        renamed.append(weight.renamed(name))
    return renamed
