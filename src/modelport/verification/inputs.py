"""The inputs verify feeds both models: read from the user's .npz / .npy, or generated from the
model's input specs with a seed (floats in [-1, 1), integers within an Embedding's vocabulary)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelport.errors import FormatError, UnsupportedError
from modelport.keras_config.graph import node_refs
from modelport.model import Model
from modelport.summary import model_inputs
from modelport.verification.defaults import DEFAULT_BATCH_SIZE, DEFAULT_SEED

# A dimension the model leaves open (sequence length, image size) gets this many entries:
# long enough for a few poolings or strides, small enough to stay fast.
UNKNOWN_DIM = 16
# Integer inputs that feed no Embedding (ids, categories) are drawn from [0, this).
DEFAULT_INT_RANGE = 10
_MODEL_CLASSES = ("Sequential", "Functional", "Model")


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int | None, ...] | None  # batch dimension first; None: rank unknown
    dtype: str
    # Values are integers in [0, vocabulary) (the input feeds an Embedding / CategoryEncoding).
    vocabulary: int | None = None


def _dtype(value: Any) -> str:
    if isinstance(value, dict):  # a Keras 3 DTypePolicy
        value = value.get("config", {}).get("name")
    if not isinstance(value, str) or value.startswith("mixed_"):
        return "float32"
    return value


def _first_layer(entry: dict[str, Any]) -> dict[str, Any] | None:
    layers = [e for e in entry.get("config", {}).get("layers", [])
              if e.get("class_name") != "InputLayer"]
    return layers[0] if layers else None


def _vocabulary(entry: dict[str, Any] | None) -> int | None:
    """The integer range a layer takes as input: Embedding's input_dim, CategoryEncoding's
    num_tokens, followed into a nested model's first layer."""
    if entry is None:
        return None
    cls, cfg = entry.get("class_name"), entry.get("config", {})
    if cls == "Embedding":
        return int(cfg["input_dim"]) if cfg.get("input_dim") else None
    if cls == "CategoryEncoding":
        return int(cfg["num_tokens"]) if cfg.get("num_tokens") else None
    if cls in _MODEL_CLASSES:
        return _vocabulary(_first_layer(entry))
    return None


def _consumers(model_cfg: dict[str, Any], name: str) -> list[dict[str, Any]]:
    found = []
    for entry in model_cfg.get("layers", []):
        for node in entry.get("inbound_nodes") or []:
            if any(ref[0] == name for ref in node_refs(node)):
                found.append(entry)
                break
    return found


def specs_from_model(model: Model) -> list[InputSpec]:
    """Input specs from a model's config (no framework needed)."""
    if model.config is None:
        return []
    cfg = model.config.get("config", {})
    specs = []
    for info in model_inputs(model):
        shape = info.get("shape")
        if model.class_name == "Sequential":
            vocab = _vocabulary(_first_layer(model.config))
        else:
            vocabs = {_vocabulary(e) for e in _consumers(cfg, str(info["name"]))} - {None}
            vocab = min(vocabs) if vocabs else None
        specs.append(InputSpec(str(info.get("name") or f"input_{len(specs)}"),
                               tuple(shape) if shape is not None else None,
                               _dtype(info.get("dtype")), vocab))
    return specs


def _concrete_shape(spec: InputSpec, batch_size: int) -> tuple[int, ...]:
    if spec.shape is None:
        raise UnsupportedError(f"input '{spec.name}' has no known shape; pass --inputs "
                               "data.npz with its values")
    dims = [d if d is not None else UNKNOWN_DIM for d in spec.shape[1:]]
    # A model that fixes its batch (graph models often say [1, 256, 256, 3]) gets that batch.
    fixed = spec.shape[0] if spec.shape and isinstance(spec.shape[0], int) else None
    return (fixed or batch_size, *dims)


def generate(specs: list[InputSpec], batch_size: int = DEFAULT_BATCH_SIZE,
             seed: int = DEFAULT_SEED) -> tuple[list[np.ndarray], list[str]]:
    """Random inputs for `specs` and, per input, a phrase saying how they were drawn."""
    rng = np.random.default_rng(seed)
    arrays, sources = [], []
    for spec in specs:
        shape = _concrete_shape(spec, batch_size)
        kind = np.dtype(spec.dtype).kind if spec.dtype not in ("string", "str") else "U"
        if kind in "OSU":
            raise UnsupportedError(f"input '{spec.name}' takes strings; pass --inputs "
                                   "data.npz with its values")
        if spec.vocabulary is not None:
            values = rng.integers(0, spec.vocabulary, size=shape)
            arrays.append(values.astype(spec.dtype))
            sources.append(f"generated: integers in [0, {spec.vocabulary}) (vocabulary), "
                           f"seed {seed}")
        elif kind == "b":
            arrays.append(rng.random(shape) < 0.5)
            sources.append(f"generated: random booleans, seed {seed}")
        elif kind in "iu":
            arrays.append(rng.integers(0, DEFAULT_INT_RANGE, size=shape).astype(spec.dtype))
            sources.append(f"generated: integers in [0, {DEFAULT_INT_RANGE}), seed {seed}")
        else:
            arrays.append(rng.uniform(-1.0, 1.0, size=shape).astype(spec.dtype))
            sources.append(f"generated: uniform in [-1, 1), seed {seed}")
    return arrays, sources


def load(path: Path, specs: list[InputSpec]) -> tuple[list[np.ndarray], list[str]]:
    """The arrays of an .npz (by input name, else in order) or .npy (one input), checked
    against `specs` and cast to the inputs' dtypes."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise FormatError(f"cannot read inputs: {exc}; give an .npz (one array per input, "
                          "named by input) or an .npy (one input)", path) from None
    if isinstance(loaded, np.ndarray):
        if len(specs) != 1:
            raise FormatError(f"an .npy holds one array but the model has {len(specs)} "
                              "inputs; give an .npz with one array per input", path)
        arrays, sources = [loaded], [f"{path.name}"]
    else:
        with loaded:
            keys = list(loaded.files)
            names = [s.name for s in specs]
            if all(n in keys for n in names):
                chosen = names
            elif len(keys) == len(specs):
                chosen = keys  # positional (arr_0, arr_1, ... from np.savez(*arrays))
            else:
                raise FormatError(f"the file has arrays {keys}; the model's inputs are "
                                  f"{names}: name the arrays after the inputs", path)
            arrays = [loaded[k] for k in chosen]
            sources = [f"{path.name}['{k}']" for k in chosen]
    checked = []
    batch = None
    for spec, array, source in zip(specs, arrays, sources, strict=True):
        if spec.shape is not None:
            if array.ndim != len(spec.shape) or any(
                    d is not None and d != n for d, n in zip(spec.shape[1:], array.shape[1:],
                                                             strict=False)):
                raise FormatError(f"{source} has shape {array.shape}; input '{spec.name}' "
                                  f"takes {_shape(spec.shape)}", path)
        if batch is not None and array.shape[:1] != batch:
            raise FormatError(f"{source} has {array.shape[0]} rows, the first input "
                              f"{batch[0]}: every input needs the same batch size", path)
        batch = array.shape[:1]
        checked.append(array if array.dtype.kind in "OSU" else array.astype(spec.dtype))
    return checked, sources


def _shape(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
