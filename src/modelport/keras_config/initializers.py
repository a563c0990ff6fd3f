"""Fresh weight values for a layer, drawn as its configured Keras initializers define them
(numpy only): for layers that a weights file leaves without values. Which initializer draws
each weight is the layer record's to say; the initializers' arithmetic is here."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from modelport.errors import UnsupportedError
from modelport.keras_config.applications import record_class
from modelport.keras_config.layer_records import PlacedWeight, placed_weights

# Fresh values (--skip-mismatch) are drawn in float64 as Keras draws them: one weight of this
# many elements already takes 1 GiB.
MAX_FRESH_ELEMENTS = 1 << 27

Shape = tuple[int, ...]
Initializer = Callable[[Shape, np.random.Generator], np.ndarray]


def initial_weights(entry: dict[str, Any], shapes: list[tuple[int, ...]],
                    rng: np.random.Generator) -> list[np.ndarray] | None:
    """Fresh float32 values for a layer entry's weights, aligned with `layer_layout(entry)`
    and of the given shapes, drawn from the layer's configured initializers; None when the
    layer class or one of its initializers is not known."""
    shapes = [tuple(int(d) for d in shape) for shape in shapes]
    weights = placed_weights(record_class(entry), entry.get("config", {}))
    if weights is None or len(weights) != len(shapes):
        return None
    values: list[np.ndarray] = [np.empty(0)] * len(weights)
    # Drawn in the order the layer creates its weights, as Keras draws them.
    for position in sorted(range(len(weights)), key=lambda p: weights[p].creation_index):
        value = _initial_value(weights[position], shapes[position], rng)
        if value is None:
            return None
        values[position] = value
    return values


def _initial_value(weight: PlacedWeight, shape: Shape, rng: np.random.Generator
                   ) -> np.ndarray | None:
    init = weight.spec.initializer
    if init is None:
        return None
    cfg = weight.owner_config
    spec: Any = init.default
    if init.argument is not None:
        spec = cfg.get(init.argument, init.default)
        if spec is None:
            spec = "glorot_uniform"  # what Keras's add_weight uses for a float weight
    draw = make_initializer(spec)
    if draw is None:
        return None
    if not all(isinstance(d, int) and d >= 0 for d in shape):
        return None  # a shape the config does not fix (or spells wrong): nothing to draw
    if math.prod(shape) > MAX_FRESH_ELEMENTS:
        raise UnsupportedError(f"weight '{weight.name}' would need {math.prod(shape)} fresh "
                               f"values (shape {tuple(shape)}), over the {MAX_FRESH_ELEMENTS} "
                               "modelport draws for one weight: check the architecture's "
                               "shapes")
    try:
        if weight.spec.forget_gate_bias and cfg.get("unit_forget_bias", True):
            if len(shape) != 1 or shape[0] % 4:
                return None
            units = shape[0] // 4
            return _float32(np.concatenate([draw((units,), rng), np.ones(units),
                                            draw((2 * units,), rng)]))
        return _float32(draw(shape, rng))
    except ValueError:  # a shape the initializer cannot fill (identity of a 3D kernel...)
        return None


def _float32(value: np.ndarray) -> np.ndarray:
    return np.asarray(value, dtype=np.float32)


# ------------------------------------------------------------------------------ initializers

def _canonical_name(name: str) -> str:
    """'GlorotUniform', 'glorot_uniform', 'GlorotUniformV2' -> 'glorotuniform'."""
    name = name[:-2] if name.endswith("V2") else name
    return name.replace("_", "").lower()


def _snake(value: Any) -> Any:
    """TF.js may spell argument values in camelCase ('fanIn')."""
    return re.sub(r"(?<=[a-z])([A-Z])", r"_\1", value).lower() if isinstance(value, str) \
        else value


def compute_fans(shape: Shape, input_axes: list[int] | None = None,
                 output_axes: list[int] | None = None) -> tuple[float, float]:
    """Keras's fan-in and fan-out of a weight shape: a conv kernel's receptive field times its
    input / output channels; explicit axes (Keras >= 3.15 configs) take precedence."""
    if input_axes is not None and output_axes is not None:
        return (float(math.prod(shape[a] for a in input_axes)),
                float(math.prod(shape[a] for a in output_axes)))
    if len(shape) < 1:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive_field = math.prod(shape[:-2])
    return float(shape[-2] * receptive_field), float(shape[-1] * receptive_field)


def _truncated_normal(shape: Shape, mean: float, stddev: float, rng: np.random.Generator
                      ) -> np.ndarray:
    """Normal values redrawn until within two standard deviations, as Keras draws them."""
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2.0
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2.0
    return mean + stddev * values


def _variance_scaling(scale: float, mode: str, distribution: str,
                      input_axes: list[int] | None = None,
                      output_axes: list[int] | None = None) -> Initializer | None:
    mode, distribution = _snake(mode), _snake(distribution).lower()
    if distribution == "normal":
        distribution = "truncated_normal"  # Keras reads the old name so
    if mode not in ("fan_in", "fan_out", "fan_avg") or distribution not in (
        "truncated_normal", "untruncated_normal", "uniform"
    ):
        return None

    def draw(shape: Shape, rng: np.random.Generator) -> np.ndarray:
        fan_in, fan_out = compute_fans(shape, input_axes, output_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
        variance = scale / max(1.0, fan)
        if distribution == "truncated_normal":
            # The truncation at two deviations shrinks the spread by this factor.
            return _truncated_normal(shape, 0.0, math.sqrt(variance) / 0.87962566103423978,
                                     rng)
        if distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), shape)
        limit = math.sqrt(3.0 * variance)
        return rng.uniform(-limit, limit, shape)

    return draw


def _orthogonal(gain: float) -> Initializer:
    def draw(shape: Shape, rng: np.random.Generator) -> np.ndarray:
        if len(shape) < 2:
            raise ValueError(f"orthogonal initializer needs 2 or more dimensions, got {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
        q = q * np.sign(np.diag(r))  # makes the distribution uniform over orthogonal matrices
        if rows < cols:
            q = q.T
        return gain * q.reshape(shape)

    return draw


def _identity(gain: float) -> Initializer:
    def draw(shape: Shape, rng: np.random.Generator) -> np.ndarray:
        if len(shape) != 2:
            raise ValueError(f"identity initializer needs a 2D shape, got {shape}")
        return gain * np.eye(*shape)

    return draw


def _constant(value: Any) -> Initializer | None:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None

    def draw(shape: Shape, rng: np.random.Generator) -> np.ndarray:
        if array.size == math.prod(shape) and array.ndim:
            return array.reshape(shape)
        return np.broadcast_to(array, shape).copy()

    return draw


_VARIANCE_SCALING_PRESETS = {
    "glorotuniform": (1.0, "fan_avg", "uniform"),
    "glorotnormal": (1.0, "fan_avg", "truncated_normal"),
    "heuniform": (2.0, "fan_in", "uniform"),
    "henormal": (2.0, "fan_in", "truncated_normal"),
    "lecununiform": (1.0, "fan_in", "uniform"),
    "lecunnormal": (1.0, "fan_in", "truncated_normal"),
}


def make_initializer(spec: Any) -> Initializer | None:
    """A sampler `(shape, rng) -> array` for an initializer as a Keras config spells it
    ('zeros', {'class_name': 'GlorotUniform', 'config': {...}}, Keras 3's module-qualified
    form, TF.js's), or None for an unknown or custom initializer."""
    if isinstance(spec, str):
        class_name, cfg = spec, {}
    elif isinstance(spec, dict) and isinstance(spec.get("class_name"), str):
        module = str(spec.get("module") or "")
        if spec.get("registered_name") and not module.startswith("keras"):
            return None  # a custom class: its code is not ours to guess
        class_name, cfg = spec["class_name"], spec.get("config") or {}
    else:
        return None
    name = _canonical_name(class_name)
    axes = {"input_axes": cfg.get("input_axes"), "output_axes": cfg.get("output_axes")}
    if name in ("zeros", "zero"):
        return lambda shape, rng: np.zeros(shape)
    if name in ("ones", "one"):
        return lambda shape, rng: np.ones(shape)
    if name == "constant":
        return _constant(cfg.get("value", 0.0))
    if name in ("randomuniform", "uniform"):
        low, high = float(cfg.get("minval", -0.05)), float(cfg.get("maxval", 0.05))
        return lambda shape, rng: rng.uniform(low, high, shape)
    if name in ("randomnormal", "normal"):
        mean, stddev = float(cfg.get("mean", 0.0)), float(cfg.get("stddev", 0.05))
        return lambda shape, rng: rng.normal(mean, stddev, shape)
    if name == "truncatednormal":
        mean, stddev = float(cfg.get("mean", 0.0)), float(cfg.get("stddev", 0.05))
        return lambda shape, rng: _truncated_normal(shape, mean, stddev, rng)
    if name in _VARIANCE_SCALING_PRESETS:
        return _variance_scaling(*_VARIANCE_SCALING_PRESETS[name], **axes)
    if name == "variancescaling":
        return _variance_scaling(float(cfg.get("scale", 1.0)), cfg.get("mode", "fan_in"),
                                 cfg.get("distribution", "truncated_normal"), **axes)
    if name in ("orthogonal", "orthogonalinitializer"):
        return _orthogonal(float(cfg.get("gain", 1.0)))
    if name in ("identity", "identityinitializer"):
        return _identity(float(cfg.get("gain", 1.0)))
    return None
