"""Static shape inference over a canonical (Keras 2 dialect) model config: the output shapes of
every layer call and the shapes of every layer's weights, from the configs alone (no framework).

A dimension that cannot be known is None; a tensor whose rank cannot be known is None. A rule
that cannot tell gives None rather than a guess: callers use these shapes to reject weight files
that do not fit an architecture, where a wrong dimension would refuse a good file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from modelport.keras_config.dialects import has_builtin_node
from modelport.keras_config.graph import is_ref, output_refs
from modelport.keras_config.layouts import (
    MODEL_CLASSES,
    container_paths,
    layer_layout,
    layer_name,
    relative_slots,
)

Dim = int | None
Shape = tuple[Dim, ...]
Tensor = Shape | None  # None: not even the rank is known
Outputs = list[Tensor] | None  # a call's outputs, flattened; None: not even how many
WeightShapes = list[Shape] | None  # in the layer's layout order; None: unknown
NamedShapes = dict[str, Shape]  # weight shapes by short name ('kernel'), for simple layers


@dataclass(frozen=True)
class Call:
    """One call of a layer: the shapes of its first argument's tensors (flattened) and its
    keyword arguments, with the tensors among them replaced by their shapes."""

    inputs: list[Tensor]
    kwargs: dict[str, Any]

    @property
    def x(self) -> Tensor:
        """The main input (the first tensor: RNNs may get their initial states after it)."""
        return self.inputs[0] if self.inputs else None


UNKNOWN_CALL = Call([], {})


# ------------------------------------------------------------------------------ public API

def expected_weight_shapes(config: dict[str, Any]) -> dict[str, WeightShapes]:
    """For every top-level layer of a canonical model config, the shapes of its weights in
    `layer_layout(entry)` order (None for a dimension that cannot be known), or None when the
    layer's layout is unknown, its class has no shape rule, or not even the rank of one of
    its weights can be known (a PReLU after a layer of unknown output)."""
    class_name = config.get("class_name", "")
    cfg = config.get("config", {})
    if class_name not in MODEL_CLASSES:
        return {}
    run = _run_model(class_name, cfg, None)
    shapes: dict[str, WeightShapes] = {}
    for entry in cfg.get("layers", []):
        name = layer_name(entry)
        layout = layer_layout(entry)
        weights = run.weights.get(name)
        if layout is None or weights is None or len(weights) != len(layout):
            shapes[name] = None
        else:
            shapes[name] = weights
    return shapes


def output_shapes(config: dict[str, Any]) -> list[Tensor]:
    """The shapes of a canonical model config's outputs, in `output_layers` order (a
    Sequential's: its last layer's)."""
    class_name = config.get("class_name", "")
    if class_name not in MODEL_CLASSES:
        return []
    outputs = _run_model(class_name, config.get("config", {}), None).outputs
    return outputs if outputs is not None else [None]


def trainable_first_order(flags: list[list[bool]]) -> list[tuple[int, int]]:
    """How a composite layer (nested model, Bidirectional, RNN over several cells...) lists
    the weights of its parts: (part, index in part) pairs, trainable ones first, each group
    in part order, as `layouts` and Keras order them."""
    pairs = [(part, i, trainable) for part, part_flags in enumerate(flags)
             for i, trainable in enumerate(part_flags)]
    return [(p, i) for p, i, t in pairs if t] + [(p, i) for p, i, t in pairs if not t]


def slot_flags(class_name: str, cfg: dict[str, Any]) -> list[bool] | None:
    """Trainable flags of one layer's weights in layout order (None: layout unknown)."""
    slots = relative_slots(class_name, cfg)
    return None if slots is None else [trainable for _, trainable, _ in slots]


# ------------------------------------------------------------------------------ small helpers

def _dim(shape: Tensor, axis: int) -> Dim:
    if shape is None or not -len(shape) <= axis < len(shape):
        return None
    return shape[axis]


def _ranked(shape: Tensor, rank: int) -> Tensor:
    """The shape when it has this rank, else unknown (a rule never reads a wrong axis)."""
    return shape if shape is not None and len(shape) == rank else None


def _product(dims: Iterator[Dim] | list[Dim] | tuple[Dim, ...]) -> Dim:
    total = 1
    for d in dims:
        if d is None:
            return None
        total *= d
    return total


def _ints(value: Any, count: int) -> tuple[int, ...]:
    """An int-or-tuple config argument (kernel_size, strides...) as `count` ints."""
    if isinstance(value, int):
        return (value,) * count
    values = tuple(int(v) for v in value)
    return values * count if len(values) == 1 and count > 1 else values


def _pairs(value: Any, rank: int) -> list[tuple[int, int]]:
    """Padding/cropping arguments (p, (a, b), (p1, p2), ((a, b), (c, d))...) as one
    (before, after) pair per spatial axis."""
    if isinstance(value, int):
        return [(value, value)] * rank
    items = list(value)
    if rank == 1 and len(items) == 2 and all(isinstance(v, int) for v in items):
        return [(items[0], items[1])]
    return [(v, v) if isinstance(v, int) else (int(v[0]), int(v[1])) for v in items]


def _channels_first(cfg: dict[str, Any]) -> bool:
    return cfg.get("data_format") == "channels_first"


def _split_channels(x: Tensor, rank: int, cfg: dict[str, Any]) -> tuple[list[Dim], Dim]:
    """Spatial dims and channels of an input with `rank` spatial axes (unknown: Nones)."""
    x = _ranked(x, rank + 2)
    if x is None:
        return [None] * rank, None
    if _channels_first(cfg):
        return list(x[2:]), x[1]
    return list(x[1:-1]), x[-1]


def _join_channels(batch: Dim, spatial: list[Dim], channels: Dim, cfg: dict[str, Any]
                   ) -> Shape:
    if _channels_first(cfg):
        return (batch, channels, *spatial)
    return (batch, *spatial, channels)


def conv_output_length(length: Dim, kernel: int, padding: str, stride: int,
                       dilation: int = 1) -> Dim:
    """Keras's conv_utils.conv_output_length (also pooling, with the pool as kernel)."""
    if length is None:
        return None
    dilated = kernel + (kernel - 1) * (dilation - 1)
    if padding in ("same", "causal"):
        out = length
    elif padding == "valid":
        out = length - dilated + 1
    elif padding == "full":
        out = length + dilated - 1
    else:
        return None
    return (out + stride - 1) // stride if out > 0 else None


def deconv_output_length(length: Dim, kernel: int, padding: str, output_padding: int | None,
                         stride: int, dilation: int = 1) -> Dim:
    """Keras's conv_utils.deconv_output_length (Keras 3's formula gives the same)."""
    if length is None:
        return None
    kernel = kernel + (kernel - 1) * (dilation - 1)
    if output_padding is None:
        if padding == "valid":
            return length * stride + max(kernel - stride, 0)
        if padding == "full":
            return length * stride - (stride + kernel - 2)
        if padding == "same":
            return length * stride
        return None
    pad = {"same": kernel // 2, "valid": 0, "full": kernel - 1}.get(padding)
    if pad is None:
        return None
    return (length - 1) * stride + kernel - 2 * pad + output_padding


def _merge_dim(a: Dim, b: Dim) -> Dim:
    if a is None:
        return b
    if b is None or a == b:
        return a
    return None  # two sources disagree: claim nothing


def _merge_shape(a: Tensor, b: Tensor) -> Tensor:
    if a is None:
        return b
    if b is None:
        return a
    if len(a) != len(b):
        return None
    return tuple(_merge_dim(x, y) for x, y in zip(a, b, strict=True))


def _refine(shape: Tensor, hint: Any) -> Tensor:
    """A shape completed with a hint from the config (an InputLayer's declared shape, a
    tf_keras build_config), when the hint is a shape of the same rank."""
    if not isinstance(hint, list | tuple) or not all(
        d is None or isinstance(d, int) for d in hint
    ):
        return shape
    hint_shape = tuple(hint)
    if shape is None:
        return hint_shape
    if len(shape) != len(hint_shape):
        return shape
    return _merge_shape(shape, hint_shape)


def _merge_weights(a: WeightShapes, b: WeightShapes) -> WeightShapes:
    if a is None:
        return b
    if b is None or len(a) != len(b):
        return a
    merged = []
    for x, y in zip(a, b, strict=True):
        both = _merge_shape(x, y)
        merged.append(both if both is not None else tuple(None for _ in x))
    return merged


def _shape_of(value: Any) -> Tensor:
    if isinstance(value, list | tuple) and all(d is None or isinstance(d, int) for d in value):
        return tuple(value)
    return None


# ------------------------------------------------------------------------------ layer rules

# A simple rule: (config, call) -> (outputs, weight shapes by short name). A weight its rule
# does not name leaves the whole layer unknown.
Rule = Callable[[dict[str, Any], Call], tuple[Outputs, NamedShapes]]
RULES: dict[str, Rule] = {}


def _rule(*class_names: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for class_name in class_names:
            RULES[class_name] = fn
        return fn

    return register


SHAPE_PRESERVING = frozenset({
    "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "ThresholdedReLU", "Dropout",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Masking", "Rescaling",
    "Identity", "UnitNormalization", "Normalization",
    # Image layers that keep the image's size (random ones are the identity at inference).
    "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast",
    "RandomBrightness", "AugMix", "CutMix", "MixUp", "RandAugment", "RandomColorDegeneration",
    "RandomColorJitter", "RandomElasticTransform", "RandomErasing", "RandomGaussianBlur",
    "RandomGrayscale", "RandomHue", "RandomInvert", "RandomPerspective", "RandomPosterization",
    "RandomSaturation", "RandomSharpness", "RandomShear", "Solarization", "AutoContrast",
    "Equalization", "ContrastLimitedAdaptiveHistogramEqualization",
})


def _same_shape(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    return [call.x], {}


for _class_name in SHAPE_PRESERVING:
    RULES[_class_name] = _same_shape


@_rule("Dense")
def _dense(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    units = int(cfg["units"])
    x = call.x
    out = None if x is None or len(x) < 2 else (*x[:-1], units)
    return [out], {"kernel": (_dim(x, -1), units), "bias": (units,)}


def _einsum_shapes(equation: str, bias_axes: str | None, x: Shape, partial_output: Any
                   ) -> tuple[Shape, Shape | None, Shape] | None:
    """Keras's EinsumDense `_analyze_einsum_string`: (kernel, bias, full output) shapes."""
    spelled = re.sub(r"\.\.\.", "0", equation)
    left_elided = False
    match = re.match(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$", spelled)
    if not match:
        match = re.match(r"0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)$", spelled)
        left_elided = bool(match)
    if not match:
        match = re.match(r"([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0$", spelled)
    if not match:
        return None
    input_spec, weight_spec, output_spec = match.groups()
    elided = len(x) - len(input_spec)
    output = [partial_output] if isinstance(partial_output, int) else list(partial_output)
    output.insert(0, x[0])
    if elided > 0 and left_elided:
        for i in range(1, elided):
            output.insert(1, x[i])
    elif elided > 0:
        output.extend(x[len(x) - elided:])
    if left_elided:
        input_axis = {c: i + elided - len(x) for i, c in enumerate(input_spec)}
        output_axis = {c: i + elided for i, c in enumerate(output_spec)}
    else:
        input_axis = {c: i for i, c in enumerate(input_spec)}
        output_axis = {c: i for i, c in enumerate(output_spec)}
    if len(output) != len(x) - len(input_spec) + len(output_spec):
        return None
    # An output axis the user left as None that is also an input axis is the input's.
    for c, axis in output_axis.items():
        if output[axis] is None and c in input_axis:
            output[axis] = x[input_axis[c]]
    kernel: list[Dim] = []
    for c in weight_spec:
        if c not in input_axis and c not in output_axis:
            return None
        # tf_keras reads a kernel axis from the input first, Keras 3 from the output: they
        # agree in a valid layer, and disagreeing values are claimed by neither.
        kernel.append(_merge_dim(x[input_axis[c]] if c in input_axis else None,
                                 output[output_axis[c]] if c in output_axis else None))
    bias = None
    if bias_axes:
        if any(c not in output_spec for c in bias_axes):
            return None
        offset = elided if left_elided else 0
        first = min(output_spec.find(c) for c in bias_axes)
        bias = [output[i + offset] if c in bias_axes else 1
                for i, c in enumerate(output_spec) if i >= first]
        if not left_elided:
            bias += [1] * max(elided, 0)
    return tuple(kernel), None if bias is None else tuple(bias), tuple(output)


@_rule("EinsumDense")
def _einsum_dense(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    x = call.x
    if x is None:
        return None, {}
    result = _einsum_shapes(cfg.get("equation", ""), cfg.get("bias_axes"), x,
                            cfg.get("output_shape", []))
    if result is None:
        return None, {}
    kernel, bias, output = result
    named = {"kernel": kernel}
    if bias is not None:
        named["bias"] = bias
    return [output], named


def _conv(rank: int, transpose: bool = False) -> Rule:
    def rule(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
        filters = int(cfg["filters"])
        kernel_size = _ints(cfg["kernel_size"], rank)
        strides = _ints(cfg.get("strides", 1), rank)
        dilation = _ints(cfg.get("dilation_rate", 1), rank)
        padding = str(cfg.get("padding", "valid")).lower()
        spatial, channels = _split_channels(call.x, rank, cfg)
        if transpose:
            output_padding = cfg.get("output_padding")
            pads = (None,) * rank if output_padding is None else _ints(output_padding, rank)
            out_spatial = [deconv_output_length(n, k, padding, p, s, d) for n, k, p, s, d
                           in zip(spatial, kernel_size, pads, strides, dilation, strict=True)]
            kernel = (*kernel_size, filters, channels)
        else:
            groups = int(cfg.get("groups") or 1)
            out_spatial = [conv_output_length(n, k, padding, s, d) for n, k, s, d
                           in zip(spatial, kernel_size, strides, dilation, strict=True)]
            kernel = (*kernel_size, None if channels is None else channels // groups, filters)
        x = _ranked(call.x, rank + 2)
        out = None if x is None else _join_channels(x[0], out_spatial, filters, cfg)
        return [out], {"kernel": kernel, "bias": (filters,)}

    return rule


def _depthwise_parts(rank: int, cfg: dict[str, Any], call: Call
                     ) -> tuple[Shape | None, Shape, Dim, int]:
    """(output shape before the pointwise step, depthwise kernel, channels, multiplier)."""
    kernel_size = _ints(cfg["kernel_size"], rank)
    strides = _ints(cfg.get("strides", 1), rank)
    dilation = _ints(cfg.get("dilation_rate", 1), rank)
    padding = str(cfg.get("padding", "valid")).lower()
    multiplier = int(cfg.get("depth_multiplier", 1))
    spatial, channels = _split_channels(call.x, rank, cfg)
    out_spatial = [conv_output_length(n, k, padding, s, d) for n, k, s, d
                   in zip(spatial, kernel_size, strides, dilation, strict=True)]
    x = _ranked(call.x, rank + 2)
    out_channels = None if channels is None else channels * multiplier
    out = None if x is None else _join_channels(x[0], out_spatial, out_channels, cfg)
    return out, (*kernel_size, channels, multiplier), channels, multiplier


def _depthwise(rank: int) -> Rule:
    def rule(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
        out, kernel, channels, multiplier = _depthwise_parts(rank, cfg, call)
        out_channels = None if channels is None else channels * multiplier
        return [out], {"depthwise_kernel": kernel, "bias": (out_channels,)}

    return rule


def _separable(rank: int) -> Rule:
    def rule(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
        depthwise_out, kernel, channels, multiplier = _depthwise_parts(rank, cfg, call)
        filters = int(cfg["filters"])
        out = None
        if depthwise_out is not None:
            spatial, _ = _split_channels(depthwise_out, rank, cfg)
            out = _join_channels(depthwise_out[0], spatial, filters, cfg)
        middle = None if channels is None else channels * multiplier
        return [out], {"depthwise_kernel": kernel,
                       "pointwise_kernel": (*(1,) * rank, middle, filters),
                       "bias": (filters,)}

    return rule


for _rank in (1, 2, 3):
    RULES[f"Conv{_rank}D"] = _conv(_rank)
    RULES[f"Conv{_rank}DTranspose"] = _conv(_rank, transpose=True)
for _rank in (1, 2):
    RULES[f"DepthwiseConv{_rank}D"] = _depthwise(_rank)
    RULES[f"SeparableConv{_rank}D"] = _separable(_rank)


def _locally_connected(rank: int) -> Rule:
    def rule(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
        filters = int(cfg["filters"])
        kernel_size = _ints(cfg["kernel_size"], rank)
        strides = _ints(cfg.get("strides", 1), rank)
        padding = str(cfg.get("padding", "valid")).lower()
        spatial, channels = _split_channels(call.x, rank, cfg)
        out_spatial = [conv_output_length(n, k, padding, s) for n, k, s
                       in zip(spatial, kernel_size, strides, strict=True)]
        implementation = int(cfg.get("implementation", 1))
        first = _channels_first(cfg)
        if implementation == 1:
            window = _product(kernel_size) * channels if channels is not None else None
            kernel: Shape = (_product(out_spatial), window, filters)
        elif implementation == 2 and first:
            kernel = (channels, *spatial, filters, *out_spatial)
        elif implementation == 2:
            kernel = (*spatial, channels, *out_spatial, filters)
        else:
            kernel = (None,)  # a sparse list of kernel entries; its length is not derived
        bias = (*out_spatial, filters)  # in this order for either data format
        x = _ranked(call.x, rank + 2)
        out = None if x is None else _join_channels(x[0], out_spatial, filters, cfg)
        return [out], {"kernel": kernel, "bias": bias}

    return rule


RULES["LocallyConnected1D"] = _locally_connected(1)
RULES["LocallyConnected2D"] = _locally_connected(2)


def _spatial(rank: int, resize: Callable[[dict[str, Any], list[Dim]], list[Dim]]) -> Rule:
    """A layer that keeps batch and channels and changes only the spatial axes, as
    `resize(cfg, spatial)` says (pooling, cropping, padding, upsampling)."""
    def rule(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
        x = _ranked(call.x, rank + 2)
        if x is None:
            return [None], {}
        spatial, channels = _split_channels(x, rank, cfg)
        return [_join_channels(x[0], resize(cfg, list(spatial)), channels, cfg)], {}

    return rule


def _pooling(rank: int) -> Rule:
    def resize(cfg: dict[str, Any], spatial: list[Dim]) -> list[Dim]:
        pool = _ints(cfg.get("pool_size") or 2, rank)
        strides = _ints(cfg.get("strides") or pool, rank)
        padding = str(cfg.get("padding", "valid")).lower()
        return [conv_output_length(n, p, padding, s) for n, p, s
                in zip(spatial, pool, strides, strict=True)]

    return _spatial(rank, resize)


def _global_pooling(rank: int) -> Rule:
    def rule(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
        x = _ranked(call.x, rank + 2)
        if x is None:
            return [None], {}
        _, channels = _split_channels(x, rank, cfg)
        if cfg.get("keepdims", False):
            return [_join_channels(x[0], [1] * rank, channels, cfg)], {}
        return [(x[0], channels)], {}

    return rule


def _adaptive_pooling(rank: int) -> Rule:
    return _spatial(rank, lambda cfg, _: list(_ints(cfg["output_size"], rank)))


for _rank in (1, 2, 3):
    for _kind in ("MaxPooling", "AveragePooling"):
        RULES[f"{_kind}{_rank}D"] = _pooling(_rank)
    for _kind in ("GlobalMaxPooling", "GlobalAveragePooling"):
        RULES[f"{_kind}{_rank}D"] = _global_pooling(_rank)
    for _kind in ("AdaptiveMaxPooling", "AdaptiveAveragePooling"):
        RULES[f"{_kind}{_rank}D"] = _adaptive_pooling(_rank)


@_rule("Flatten")
def _flatten(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    x = call.x
    if x is None or not x:
        return [None], {}
    if len(x) == 1:
        return [(x[0], 1)], {}
    return [(x[0], _product(x[1:]))], {}


@_rule("Reshape")
def _reshape(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    target = [int(d) if d is not None else -1 for d in cfg["target_shape"]]
    x = call.x
    batch = _dim(x, 0)
    if -1 not in target:
        return [(batch, *target)], {}
    size = None if x is None else _product(x[1:])
    known = _product(d for d in target if d != -1)
    missing = None if size is None or not known or size % known else size // known
    return [(batch, *(missing if d == -1 else d for d in target))], {}


@_rule("Permute")
def _permute(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    dims = [int(d) for d in cfg["dims"]]
    x = _ranked(call.x, len(dims) + 1)
    return [None if x is None else (x[0], *(x[d] for d in dims))], {}


@_rule("RepeatVector")
def _repeat_vector(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    x = _ranked(call.x, 2)
    return [None if x is None else (x[0], int(cfg["n"]), x[1])], {}


def _edges(rank: int, key: str, sign: int) -> Rule:
    """Cropping (sign -1) and ZeroPadding (sign +1): each spatial axis loses/gains its pair."""
    def resize(cfg: dict[str, Any], spatial: list[Dim]) -> list[Dim]:
        pairs = _pairs(cfg.get(key, 1), rank)
        return [None if n is None else n + sign * (a + b)
                for n, (a, b) in zip(spatial, pairs, strict=True)]

    return _spatial(rank, resize)


def _upsampling(rank: int) -> Rule:
    def resize(cfg: dict[str, Any], spatial: list[Dim]) -> list[Dim]:
        size = _ints(cfg.get("size", 2), rank)
        return [None if n is None else n * s for n, s in zip(spatial, size, strict=True)]

    return _spatial(rank, resize)


for _rank in (1, 2, 3):
    RULES[f"Cropping{_rank}D"] = _edges(_rank, "cropping", -1)
    RULES[f"ZeroPadding{_rank}D"] = _edges(_rank, "padding", +1)
    RULES[f"UpSampling{_rank}D"] = _upsampling(_rank)


@_rule("Resizing", "CenterCrop")
def _resize(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    x = _ranked(call.x, 4)
    if x is None:
        return [None], {}
    _, channels = _split_channels(x, 2, cfg)
    return [_join_channels(x[0], [int(cfg["height"]), int(cfg["width"])], channels, cfg)], {}


@_rule("Embedding")
def _embedding(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    output_dim = int(cfg["output_dim"])
    x = call.x
    return [None if x is None else (*x, output_dim)], {
        "embeddings": (int(cfg["input_dim"]), output_dim)}


@_rule("ReversibleEmbedding")
def _reversible_embedding(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    input_dim, output_dim = int(cfg["input_dim"]), int(cfg["output_dim"])
    x = call.x
    if x is None:
        out = None
    elif call.kwargs.get("reverse"):
        out = (*x[:-1], input_dim)
    else:
        out = (*x, output_dim)
    return [out], {"embeddings": (input_dim, output_dim),
                   "reverse_embeddings": (output_dim, input_dim)}


def _axes(value: Any) -> list[int] | int:
    return [int(a) for a in value] if isinstance(value, list | tuple) else int(value)


@_rule("BatchNormalization")
def _batch_normalization(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    x = call.x
    axis = _axes(cfg.get("axis", -1))
    if cfg.get("virtual_batch_size"):
        return [x], {}  # parameters get an extra virtual-batch axis; not derived
    if isinstance(axis, int) or len(axis) == 1:
        single = axis if isinstance(axis, int) else axis[0]
        param: Shape = (_dim(x, single),)
    elif x is None:
        return [x], {}
    else:
        # tf_keras, several axes: the input's shape with 1 on every other axis.
        wanted = {a % len(x) for a in axis}
        param = tuple(d if i in wanted else 1 for i, d in enumerate(x))
    names = ("gamma", "beta", "moving_mean", "moving_variance")
    return [x], dict.fromkeys(names, param)


@_rule("LayerNormalization", "RMSNormalization")
def _layer_normalization(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    x = call.x
    axis = _axes(cfg.get("axis", -1))
    param = tuple(_dim(x, a) for a in axis) if isinstance(axis, list) else (_dim(x, axis),)
    return [x], dict.fromkeys(("gamma", "beta", "scale"), param)


@_rule("GroupNormalization")
def _group_normalization(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    x = call.x
    param = (_dim(x, int(cfg.get("axis", -1))),)
    return [x], {"gamma": param, "beta": param}


@_rule("PReLU")
def _prelu(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    x = call.x
    if x is None:
        return [x], {}
    alpha = list(x[1:])
    shared = cfg.get("shared_axes")
    for axis in [shared] if isinstance(shared, int) else shared or []:
        if 1 <= axis <= len(alpha):
            alpha[axis - 1] = 1
    return [x], {"alpha": tuple(alpha)}


def _attention(additive: bool) -> Rule:
    def rule(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
        query = call.inputs[0] if call.inputs else None
        value = call.inputs[1] if len(call.inputs) > 1 else None
        out = None
        if query is not None and value is not None and len(query) == len(value):
            out = (*query[:-1], value[-1])
        outputs: list[Tensor] = [out]
        if call.kwargs.get("return_attention_scores"):
            scores = None
            if query is not None and value is not None and len(query) == len(value) == 3:
                scores = (query[0], query[1], value[1])
            outputs.append(scores)
        named: NamedShapes = {"concat_score_weight": ()}
        named["scale"] = (_dim(query, -1),) if additive else ()
        return outputs, named

    return rule


RULES["Attention"] = _attention(additive=False)
RULES["AdditiveAttention"] = _attention(additive=True)


def _attention_inputs(call: Call) -> tuple[Tensor, Tensor, Tensor]:
    """query, value, key of a MultiHeadAttention-style call: value/key as keyword arguments
    (Keras 2 nodes) or as further tensors of the first argument."""
    query = call.x
    value = _shape_of(call.kwargs.get("value"))
    if value is None and len(call.inputs) > 1:
        value = call.inputs[1]
    key = _shape_of(call.kwargs.get("key"))
    if key is None and len(call.inputs) > 2:
        key = call.inputs[2]
    return query, value, key if key is not None else value


@_rule("MultiHeadAttention")
def _multi_head_attention(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    query, value, key = _attention_inputs(call)
    # tf_keras records the shapes the layer was built with.
    query = _refine(query, cfg.get("query_shape"))
    value = _refine(value, cfg.get("value_shape"))
    key = _refine(key, cfg.get("key_shape")) if cfg.get("key_shape") else _refine(
        key, cfg.get("value_shape"))
    heads, key_dim = int(cfg["num_heads"]), int(cfg["key_dim"])
    value_dim = int(cfg.get("value_dim") or key_dim)
    requested = cfg.get("output_shape")
    if isinstance(requested, int):
        out_dims: Shape = (requested,)
    elif requested:
        out_dims = tuple(requested)
    else:
        out_dims = (_dim(query, -1),)
    named = {
        "query/kernel": (_dim(query, -1), heads, key_dim), "query/bias": (heads, key_dim),
        "key/kernel": (_dim(key, -1), heads, key_dim), "key/bias": (heads, key_dim),
        "value/kernel": (_dim(value, -1), heads, value_dim), "value/bias": (heads, value_dim),
        "attention_output/kernel": (heads, value_dim, *out_dims),
        "attention_output/bias": out_dims,
    }
    out = None if query is None else (*query[:-1], *out_dims)
    outputs: list[Tensor] = [out]
    if call.kwargs.get("return_attention_scores"):
        default_axes = cfg.get("attention_axes") in (None, [1], (1,))
        scores = None
        if default_axes and query is not None and key is not None and len(query) == len(
            key
        ) == 3:
            scores = (query[0], heads, query[1], key[1])
        outputs.append(scores)
    return outputs, named


@_rule("GroupQueryAttention")
def _group_query_attention(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    query, value, key = _attention_inputs(call)
    head_dim = int(cfg["head_dim"])
    query_heads, kv_heads = int(cfg["num_query_heads"]), int(cfg["num_key_value_heads"])
    features = _dim(query, -1)
    named = {
        "query/kernel": (features, query_heads, head_dim), "query/bias": (query_heads, head_dim),
        "key/kernel": (_dim(key, -1), kv_heads, head_dim), "key/bias": (kv_heads, head_dim),
        "value/kernel": (_dim(value, -1), kv_heads, head_dim), "value/bias": (kv_heads, head_dim),
        "attention_output/kernel": (query_heads, head_dim, features),
        "attention_output/bias": (features,),
    }
    outputs: list[Tensor] = [query]
    if call.kwargs.get("return_attention_scores"):
        outputs.append(None)
    return outputs, named


def _broadcast(a: Shape, b: Shape) -> Shape | None:
    """Keras's merge-layer output shape of two inputs without their batch axes."""
    if len(a) < len(b):
        a, b = b, a
    out = list(a[: len(a) - len(b)])
    for i, j in zip(a[len(a) - len(b):], b, strict=True):
        if i is None or j is None:
            out.append(None)
        elif i == 1:
            out.append(j)
        elif j == 1 or i == j:
            out.append(i)
        else:
            return None
    return tuple(out)


def _batch_of(shapes: list[Shape]) -> Dim:
    batches = {s[0] for s in shapes if s and s[0] is not None}
    return batches.pop() if len(batches) == 1 else None


@_rule("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
def _elementwise(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    if not call.inputs or any(s is None or not s for s in call.inputs):
        return [None], {}
    shapes: list[Shape] = [s for s in call.inputs if s is not None]
    out: Shape | None = shapes[0][1:]
    for shape in shapes[1:]:
        out = None if out is None else _broadcast(out, shape[1:])
    return [None if out is None else (_batch_of(shapes), *out)], {}


@_rule("Concatenate")
def _concatenate(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    shapes = call.inputs
    if not shapes or any(s is None for s in shapes) or len({len(s) for s in shapes if s}) != 1:
        return [None], {}
    known: list[Shape] = [s for s in shapes if s is not None]
    rank = len(known[0])
    axis = int(cfg.get("axis", -1)) % rank
    out = []
    for i in range(rank):
        dims = [s[i] for s in known]
        if i == axis:
            out.append(None if None in dims else sum(d for d in dims if d is not None))
        else:
            merged: Dim = None
            for d in dims:
                merged = _merge_dim(merged, d)
            out.append(merged)
    return [tuple(out)], {}


@_rule("Dot")
def _dot(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    if len(call.inputs) != 2 or any(s is None for s in call.inputs):
        return [None], {}
    a, b = (s for s in call.inputs if s is not None)
    axes = cfg.get("axes", -1)
    pair = [axes, axes] if isinstance(axes, int) else [int(v) for v in axes]
    pair = [pair[0] % len(a), pair[1] % len(b)]
    left = [d for i, d in enumerate(a) if i != pair[0]]
    right = [d for i, d in enumerate(b) if i != pair[1]][1:]
    out = left + right
    if len(out) == 1:
        out.append(1)
    return [tuple(out)], {}


@_rule("STFTSpectrogram")
def _stft_spectrogram(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
    frame_length = int(cfg["frame_length"])
    fft_length = cfg.get("fft_length") or 2 ** math.ceil(math.log2(frame_length))
    kernel = (frame_length, 1, int(fft_length) // 2 + 1)
    return None, {"real_kernel": kernel, "imag_kernel": kernel}


# ------------------------------------------------------------------------------ recurrent

@dataclass
class _CellShapes:
    output_size: Dim
    state_sizes: list[Dim]
    weights: list[Shape]  # the cell's own layout order (kernel, recurrent_kernel, bias)


_GATES = {"LSTMCell": 4, "GRUCell": 3, "SimpleRNNCell": 1,
          "LSTM": 4, "GRU": 3, "SimpleRNN": 1}
_STATES = {"LSTMCell": 2, "LSTM": 2}


def _cell_shapes(class_name: str, cfg: dict[str, Any], input_dim: Dim) -> _CellShapes | None:
    """A recurrent cell (or an LSTM/GRU/SimpleRNN layer's own cell) on inputs of this size."""
    if class_name == "StackedRNNCells":
        states: list[Dim] = []
        weights: list[Shape] = []
        size = input_dim
        for cell in cfg.get("cells", []):
            inner = _cell_shapes(cell.get("class_name", ""), cell.get("config", {}), size)
            if inner is None:
                return None
            states += inner.state_sizes
            weights += inner.weights
            size = inner.output_size
        return _CellShapes(size, states, weights)
    if class_name not in _GATES:
        return None
    units = int(cfg["units"])
    width = _GATES[class_name] * units
    weights = [(input_dim, width), (units, width)]
    if cfg.get("use_bias", True):
        reset_after = class_name.startswith("GRU") and cfg.get("reset_after", True)
        weights.append((2, width) if reset_after else (width,))
    return _CellShapes(units, [units] * _STATES.get(class_name, 1), weights)


def _recurrent_outputs(cfg: dict[str, Any], x: Tensor, step_out: Shape, states: list[Shape]
                       ) -> Outputs:
    """Outputs of a recurrent layer whose input is (batch, time, ...) (time_major: swapped)
    and whose step outputs `step_out` (without batch) with these states (without batch)."""
    time_major = bool(cfg.get("time_major", False))
    batch, steps = (_dim(x, 1), _dim(x, 0)) if time_major else (_dim(x, 0), _dim(x, 1))
    if cfg.get("return_sequences", False):
        out = (steps, batch, *step_out) if time_major else (batch, steps, *step_out)
    else:
        out = (batch, *step_out)
    outputs: list[Tensor] = [out]
    if cfg.get("return_state", False):
        outputs += [(batch, *state) for state in states]
    return outputs


def _rnn_layer(class_name: str, cfg: dict[str, Any], call: Call
               ) -> tuple[Outputs, WeightShapes]:
    """LSTM/GRU/SimpleRNN and RNN(cell): the cell's weights, in layout order."""
    x = _ranked(call.x, 3)
    cell_entry = cfg.get("cell") or {}
    cell_class, cell_cfg = (cell_entry.get("class_name", ""), cell_entry.get("config", {})
                            ) if class_name == "RNN" else (class_name, cfg)
    cell = _cell_shapes(cell_class, cell_cfg, _dim(x, -1))
    if cell is None:
        return None, None
    outputs = None if x is None else _recurrent_outputs(
        cfg, x, (cell.output_size,), [(s,) for s in cell.state_sizes])
    return outputs, cell.weights


def _conv_lstm(rank: int) -> Rule:
    def rule(cfg: dict[str, Any], call: Call) -> tuple[Outputs, NamedShapes]:
        filters = int(cfg["filters"])
        kernel_size = _ints(cfg["kernel_size"], rank)
        strides = _ints(cfg.get("strides", 1), rank)
        dilation = _ints(cfg.get("dilation_rate", 1), rank)
        padding = str(cfg.get("padding", "valid")).lower()
        x = _ranked(call.x, rank + 3)
        # One step sees (batch, *spatial, channels) or (batch, channels, *spatial).
        step = None if x is None else (x[0], *x[2:])
        spatial, channels = _split_channels(step, rank, cfg)
        out_spatial = [conv_output_length(n, k, padding, s, d) for n, k, s, d
                       in zip(spatial, kernel_size, strides, dilation, strict=True)]
        named = {"kernel": (*kernel_size, channels, 4 * filters),
                 "recurrent_kernel": (*kernel_size, filters, 4 * filters),
                 "bias": (4 * filters,)}
        if x is None:
            return None, named
        state = _join_channels(None, out_spatial, filters, cfg)[1:]
        return _recurrent_outputs(cfg, x, state, [state, state]), named

    return rule


for _rank in (1, 2, 3):
    RULES[f"ConvLSTM{_rank}D"] = _conv_lstm(_rank)


# ------------------------------------------------------------------------------ dispatch

def _align(class_name: str, cfg: dict[str, Any], named: NamedShapes) -> WeightShapes:
    """Named weight shapes in the layout's order ('lstm_cell/kernel' matches 'kernel')."""
    slots = relative_slots(class_name, cfg)
    if slots is None:
        return None
    shapes = []
    for name, _, _ in slots:
        shape = named.get(name, named.get(name.rsplit("/", 1)[-1]))
        if shape is None:
            return None
        shapes.append(shape)
    return shapes


def _composite(parts: list[tuple[list[bool] | None, WeightShapes]]) -> WeightShapes:
    """The weights of a layer made of parts, ordered as Keras lists them."""
    if any(flags is None or shapes is None or len(flags) != len(shapes)
           for flags, shapes in parts):
        return None
    flags = [f for f, _ in parts if f is not None]
    shapes = [s for _, s in parts if s is not None]
    return [shapes[p][i] for p, i in trainable_first_order(flags)]


def infer_layer(class_name: str, cfg: dict[str, Any], call: Call
                ) -> tuple[Outputs, WeightShapes]:
    """One call of one layer: its outputs and its weights (layout order)."""
    try:
        return _infer_layer(class_name, cfg, call)
    except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError):
        # A config this rule cannot read (missing or malformed arguments): unknown, since
        # a wrong shape would be worse and one odd layer must not stop the whole model.
        return None, None


def _infer_layer(class_name: str, cfg: dict[str, Any], call: Call
                 ) -> tuple[Outputs, WeightShapes]:
    if class_name in MODEL_CLASSES:
        run = _run_model(class_name, cfg, call.inputs)
        return run.outputs, _model_weights(class_name, cfg, run.weights)
    if class_name in ("LSTM", "GRU", "SimpleRNN"):
        outputs, weights = _rnn_layer(class_name, cfg, call)
        names = ("kernel", "recurrent_kernel", "bias")
        return outputs, _align(class_name, cfg, dict(zip(names, weights or [], strict=False)))
    if class_name == "RNN":
        # A cell's weights are all trainable: the layout keeps them in cell order.
        outputs, weights = _rnn_layer(class_name, cfg, call)
        flags = slot_flags(class_name, cfg)
        fits = weights is not None and flags is not None and len(weights) == len(flags)
        return outputs, weights if fits else None
    if class_name == "Bidirectional":
        return _bidirectional(cfg, call)
    if class_name == "TimeDistributed":
        return _time_distributed(cfg, call)
    if class_name == "SpectralNormalization":
        return _spectral_normalization(cfg, call)
    rule = RULES.get(class_name)
    if rule is None:
        return None, None
    outputs, named = rule(cfg, call)
    return outputs, _align(class_name, cfg, named)


def _inner(cfg: dict[str, Any], key: str) -> tuple[str, dict[str, Any]]:
    entry = cfg.get(key) or {}
    return entry.get("class_name", ""), entry.get("config", {})


def _bidirectional(cfg: dict[str, Any], call: Call) -> tuple[Outputs, WeightShapes]:
    forward_class, forward_cfg = _inner(cfg, "layer")
    backward_class, backward_cfg = _inner(cfg, "backward_layer") if cfg.get(
        "backward_layer") else (forward_class, forward_cfg)
    inner_call = Call(call.inputs[:1], {})
    forward_out, forward_weights = infer_layer(forward_class, forward_cfg, inner_call)
    backward_out, backward_weights = infer_layer(backward_class, backward_cfg, inner_call)
    weights = _composite([(slot_flags(forward_class, forward_cfg), forward_weights),
                          (slot_flags(backward_class, backward_cfg), backward_weights)])
    if not forward_out or not backward_out:
        return None, weights
    forward_y, backward_y = forward_out[0], backward_out[0]
    mode = cfg.get("merge_mode", "concat")
    if mode is None:
        merged: list[Tensor] = [forward_y, backward_y]
    elif mode == "concat":
        merged = [None]
        if forward_y is not None and backward_y is not None and len(forward_y) == len(
            backward_y
        ):
            width = None if None in (forward_y[-1], backward_y[-1]) else (
                forward_y[-1] + backward_y[-1])
            rest = (_merge_dim(a, b) for a, b in zip(forward_y[:-1], backward_y[:-1],
                                                     strict=True))
            merged = [(*rest, width)]
    else:
        merged = [_merge_shape(forward_y, backward_y)]
    return merged + forward_out[1:] + backward_out[1:], weights


def _time_distributed(cfg: dict[str, Any], call: Call) -> tuple[Outputs, WeightShapes]:
    inner_class, inner_cfg = _inner(cfg, "layer")
    x = call.x
    step = None if x is None or len(x) < 2 else (x[0], *x[2:])
    outputs, weights = infer_layer(inner_class, inner_cfg, Call([step], {}))
    if outputs is None or x is None or step is None:
        return None, weights
    return [None if out is None or not out else (x[0], x[1], *out[1:]) for out in outputs
            ], weights


def _spectral_normalization(cfg: dict[str, Any], call: Call) -> tuple[Outputs, WeightShapes]:
    inner_class, inner_cfg = _inner(cfg, "layer")
    outputs, inner_weights = infer_layer(inner_class, inner_cfg, call)
    vector_u: WeightShapes = None
    if inner_weights:
        vector_u = [(1, _dim(inner_weights[0], -1))]
    return outputs, _composite([(slot_flags(inner_class, inner_cfg), inner_weights),
                                ([False], vector_u)])


# ------------------------------------------------------------------------------ models

@dataclass
class _Run:
    outputs: Outputs
    weights: dict[str, WeightShapes]  # per layer of the model, merged over its calls


def _run_model(class_name: str, cfg: dict[str, Any], inputs: list[Tensor] | None) -> _Run:
    if class_name == "Sequential":
        return _run_sequential(cfg, inputs)
    return _Graph(cfg, inputs).run()


def _build_hint(entry: dict[str, Any]) -> Any:
    """The input shape a tf_keras config records for the layer's first call."""
    build = entry.get("build_config")
    return build.get("input_shape") if isinstance(build, dict) else None


def _hinted(call: Call, hint: Any) -> Call:
    if hint is None:
        return call
    if not call.inputs and isinstance(hint, list) and hint and all(
        _shape_of(h) is not None for h in hint
    ):
        return Call([_shape_of(h) for h in hint], call.kwargs)
    if len(call.inputs) <= 1 and _shape_of(hint) is not None:
        return Call([_refine(call.x, hint)], call.kwargs)
    if isinstance(hint, list) and len(hint) == len(call.inputs):
        return Call([_refine(s, h) for s, h in zip(call.inputs, hint, strict=True)],
                    call.kwargs)
    return call


def _declared_shape(cfg: dict[str, Any]) -> Tensor:
    for key in ("batch_input_shape", "batch_shape"):
        if _shape_of(cfg.get(key)) is not None:
            return _shape_of(cfg.get(key))
    return None


def _run_sequential(cfg: dict[str, Any], inputs: list[Tensor] | None) -> _Run:
    x: Tensor = inputs[0] if inputs else None
    x = _refine(x, cfg.get("build_input_shape"))
    weights: dict[str, WeightShapes] = {}
    for position, entry in enumerate(cfg.get("layers", [])):
        class_name, layer_cfg = entry.get("class_name", ""), entry.get("config", {})
        if position == 0:
            x = _refine(x, _declared_shape(layer_cfg))
        if class_name == "InputLayer":
            weights[layer_name(entry)] = []
            continue
        call = _hinted(Call([x], {}), _build_hint(entry))
        outputs, layer_weights = infer_layer(class_name, layer_cfg, call)
        weights[layer_name(entry)] = layer_weights
        x = outputs[0] if outputs and len(outputs) == 1 else None
    return _Run([x], weights)


def _refs(value: Any) -> Iterator[list[Any]]:
    """Tensor references in a node's first argument (not inside a reference's kwargs), or in
    call kwargs."""
    if is_ref(value):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _call_kwargs(node: Any) -> dict[str, Any]:
    for ref in _refs(node):
        if len(ref) == 4 and isinstance(ref[3], dict):
            return ref[3]
    return {}


NodeKey = tuple[str, int]  # (layer, node index as refs count it)


class _Graph:
    """Shapes through a Functional config, node by node, from its InputLayers."""

    def __init__(self, cfg: dict[str, Any], inputs: list[Tensor] | None) -> None:
        self.cfg = cfg
        self.entries = {layer_name(e): e for e in cfg.get("layers", [])}
        input_names = [ref[0] for ref in _refs(cfg.get("input_layers", []))]
        self.given = dict(zip(input_names, inputs or [], strict=False))
        self.outputs: dict[NodeKey, Outputs] = {}
        self.weights: dict[str, WeightShapes] = {}

    def _offset(self, name: str) -> int:
        return int(has_builtin_node(self.entries[name]))

    def _node(self, key: NodeKey) -> Any:
        """The inbound node of a node key; None for an InputLayer or a model's own node."""
        entry = self.entries.get(key[0])
        if entry is None:
            return None
        position = key[1] - self._offset(key[0])
        nodes = entry.get("inbound_nodes") or []
        return nodes[position] if 0 <= position < len(nodes) else None

    def _dependencies(self, key: NodeKey) -> list[NodeKey]:
        node = self._node(key)
        if node is None:
            return []
        refs = [*_refs(node), *_refs(_call_kwargs(node))]
        return [(r[0], r[1]) for r in refs if r[0] in self.entries]

    def _tensor(self, ref: list[Any]) -> Tensor:
        outputs = self.outputs.get((ref[0], ref[1]))
        if outputs is None or not 0 <= ref[2] < len(outputs):
            return None
        return outputs[ref[2]]

    def _kwarg_shapes(self, value: Any) -> Any:
        if is_ref(value):
            return self._tensor(value)
        if isinstance(value, dict):
            return {k: self._kwarg_shapes(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._kwarg_shapes(v) for v in value]
        return value

    def _compute(self, key: NodeKey) -> Outputs:
        entry = self.entries.get(key[0])
        if entry is None:
            return None
        class_name, cfg = entry.get("class_name", ""), entry.get("config", {})
        if class_name == "InputLayer":
            return [_refine(self.given.get(key[0]), _declared_shape(cfg))]
        node = self._node(key)
        position = key[1] - self._offset(key[0])
        if node is None:
            if position >= 0:
                return None
            # A nested model's own node: the model on its own declared inputs.
            outputs, weights = infer_layer(class_name, cfg, UNKNOWN_CALL)
        else:
            call = Call([self._tensor(r) for r in _refs(node)],
                        self._kwarg_shapes(_call_kwargs(node)))
            if position == 0:
                call = _hinted(call, _build_hint(entry))
            outputs, weights = infer_layer(class_name, cfg, call)
        name = key[0]
        self.weights[name] = _merge_weights(self.weights.get(name), weights)
        return outputs

    def _evaluate(self, target: NodeKey) -> None:
        # Iterative depth-first walk: deep models must not hit Python's recursion limit.
        stack = [target]
        expanded: set[NodeKey] = set()
        while stack:
            key = stack[-1]
            if key in self.outputs:
                stack.pop()
                continue
            missing = [d for d in self._dependencies(key) if d not in self.outputs]
            if missing and key not in expanded:
                expanded.add(key)
                stack.extend(missing)
                continue
            # All inputs known, or a cycle (not a valid model): what is missing stays None.
            self.outputs[key] = self._compute(key)
            stack.pop()

    def run(self) -> _Run:
        for name, entry in self.entries.items():
            if entry.get("class_name") == "InputLayer":
                self._evaluate((name, 0))
                self.weights[name] = []
                continue
            offset = self._offset(name)
            for position in range(len(entry.get("inbound_nodes") or [])):
                self._evaluate((name, position + offset))
            if name not in self.weights:
                # Never called here (or only through its own node): what its config tells.
                if offset:
                    self._evaluate((name, 0))
                if name not in self.weights:
                    _, weights = infer_layer(entry.get("class_name", ""),
                                             entry.get("config", {}),
                                             _hinted(UNKNOWN_CALL, _build_hint(entry)))
                    self.weights[name] = weights
        outputs = [self._tensor(ref) for ref in output_refs(self.cfg)]
        return _Run(outputs, self.weights)


def _model_weights(class_name: str, cfg: dict[str, Any], weights: dict[str, WeightShapes]
                   ) -> WeightShapes:
    """A nested model's weights: its layers' in Keras's order, trainable ones first."""
    parts = []
    for sub, _ in container_paths(class_name, cfg):
        sub_class, sub_cfg = sub.get("class_name", ""), sub.get("config", {})
        parts.append((slot_flags(sub_class, sub_cfg), weights.get(layer_name(sub))))
    return _composite(parts)
