"""Static shape inference over a canonical (Keras 2 dialect) model config: the output shapes of
every layer call and, from the layer records, the shapes of every layer's weights, from the
configs alone (no framework).

A dimension that cannot be known is None; a tensor whose rank cannot be known is None. A rule
that cannot tell gives None rather than a guess: callers use these shapes to reject weight files
that do not fit an architecture, where a wrong dimension would refuse a good file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from modelport.keras_config.applications import application_class, record_class
from modelport.keras_config.entries import (
    MODEL_CLASSES,
    has_builtin_node,
    is_operation,
    layer_name,
)
from modelport.keras_config.graph import is_ref, output_refs
from modelport.keras_config.layer_records import (
    attention_inputs,
    compose,
    einsum_shapes,
    multi_head_attention_dims,
    own_weight_shapes,
    parts_of,
)
from modelport.keras_config.layouts import layer_layout
from modelport.keras_config.tensor_shapes import (
    UNKNOWN_CALL,
    Call,
    Dim,
    Shape,
    Tensor,
    axes,
    conv_output_length,
    conv_output_spatial,
    dim,
    ints,
    join_channels,
    merge_dim,
    merge_shape,
    product,
    ranked,
    refine,
    shape_of,
    split_channels,
)

Outputs = list[Tensor] | None  # a call's outputs, flattened; None: not even how many
WeightShapes = list[Shape] | None  # in the layer's layout order; None: unknown


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


def call_inputs(config: dict[str, Any]) -> dict[str, list[Tensor]]:
    """For every top-level layer of a canonical model config, the shape of its main input
    (the first tensor of its first argument) in each of its calls, in node order."""
    class_name = config.get("class_name", "")
    if class_name not in MODEL_CLASSES:
        return {}
    return _run_model(class_name, config.get("config", {}), None).calls


# ------------------------------------------------------------------------------ small helpers

def _pairs(value: Any, rank: int) -> list[tuple[int, int]]:
    """Padding/cropping arguments (p, (a, b), (p1, p2), ((a, b), (c, d))...) as one
    (before, after) pair per spatial axis."""
    if isinstance(value, int):
        return [(value, value)] * rank
    items = list(value)
    if rank == 1 and len(items) == 2 and all(isinstance(v, int) for v in items):
        return [(items[0], items[1])]
    return [(v, v) if isinstance(v, int) else (int(v[0]), int(v[1])) for v in items]


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


def _merge_weights(a: WeightShapes, b: WeightShapes) -> WeightShapes:
    if a is None:
        return b
    if b is None or len(a) != len(b):
        return a
    merged = []
    for x, y in zip(a, b, strict=True):
        both = merge_shape(x, y)
        merged.append(both if both is not None else tuple(None for _ in x))
    return merged


# ------------------------------------------------------------------------------ output rules

# An output rule: (config, call) -> the call's outputs. The layer's weight shapes come from
# its record (layer_records), built by the same call.
Rule = Callable[[dict[str, Any], Call], Outputs]
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


def _same_shape(cfg: dict[str, Any], call: Call) -> Outputs:
    return [call.x]


for _class_name in SHAPE_PRESERVING:
    RULES[_class_name] = _same_shape
# keras.applications' ConvNeXt layers: x * gamma, and the identity at inference.
RULES[application_class("convnext", "LayerScale")] = _same_shape
RULES[application_class("convnext", "StochasticDepth")] = _same_shape


@_rule("Dense")
def _dense(cfg: dict[str, Any], call: Call) -> Outputs:
    units = int(cfg["units"])
    x = call.x
    return [None if x is None or len(x) < 2 else (*x[:-1], units)]


@_rule("EinsumDense")
def _einsum_dense(cfg: dict[str, Any], call: Call) -> Outputs:
    x = call.x
    if x is None:
        return None
    shapes = einsum_shapes(cfg.get("equation", ""), cfg.get("bias_axes"), x,
                           cfg.get("output_shape", []))
    return None if shapes is None else [shapes.output]


def _conv(rank: int, transpose: bool = False) -> Rule:
    def rule(cfg: dict[str, Any], call: Call) -> Outputs:
        filters = int(cfg["filters"])
        spatial, _ = split_channels(call.x, rank, cfg)
        if transpose:
            kernel_size = ints(cfg["kernel_size"], rank)
            strides = ints(cfg.get("strides", 1), rank)
            dilation = ints(cfg.get("dilation_rate", 1), rank)
            padding = str(cfg.get("padding", "valid")).lower()
            output_padding = cfg.get("output_padding")
            pads = (None,) * rank if output_padding is None else ints(output_padding, rank)
            out_spatial = [deconv_output_length(n, k, padding, p, s, d) for n, k, p, s, d
                           in zip(spatial, kernel_size, pads, strides, dilation, strict=True)]
        else:
            out_spatial = conv_output_spatial(spatial, rank, cfg)
        x = ranked(call.x, rank + 2)
        return [None if x is None else join_channels(x[0], out_spatial, filters, cfg)]

    return rule


def _depthwise_output(rank: int, cfg: dict[str, Any], call: Call) -> Tensor:
    """The output of a depthwise step (before a separable layer's pointwise one)."""
    multiplier = int(cfg.get("depth_multiplier", 1))
    spatial, channels = split_channels(call.x, rank, cfg)
    out_spatial = conv_output_spatial(spatial, rank, cfg)
    x = ranked(call.x, rank + 2)
    out_channels = None if channels is None else channels * multiplier
    return None if x is None else join_channels(x[0], out_spatial, out_channels, cfg)


def _depthwise(rank: int) -> Rule:
    return lambda cfg, call: [_depthwise_output(rank, cfg, call)]


def _separable(rank: int) -> Rule:
    def rule(cfg: dict[str, Any], call: Call) -> Outputs:
        depthwise_out = _depthwise_output(rank, cfg, call)
        filters = int(cfg["filters"])
        if depthwise_out is None:
            return [None]
        spatial, _ = split_channels(depthwise_out, rank, cfg)
        return [join_channels(depthwise_out[0], spatial, filters, cfg)]

    return rule


for _rank in (1, 2, 3):
    RULES[f"Conv{_rank}D"] = _conv(_rank)
    RULES[f"Conv{_rank}DTranspose"] = _conv(_rank, transpose=True)
for _rank in (1, 2):
    RULES[f"DepthwiseConv{_rank}D"] = _depthwise(_rank)
    RULES[f"SeparableConv{_rank}D"] = _separable(_rank)


def _locally_connected(rank: int) -> Rule:
    def rule(cfg: dict[str, Any], call: Call) -> Outputs:
        filters = int(cfg["filters"])
        spatial, _ = split_channels(call.x, rank, cfg)
        out_spatial = conv_output_spatial(spatial, rank, cfg, dilated=False)
        x = ranked(call.x, rank + 2)
        return [None if x is None else join_channels(x[0], out_spatial, filters, cfg)]

    return rule


RULES["LocallyConnected1D"] = _locally_connected(1)
RULES["LocallyConnected2D"] = _locally_connected(2)


def _spatial(rank: int, resize: Callable[[dict[str, Any], list[Dim]], list[Dim]]) -> Rule:
    """A layer that keeps batch and channels and changes only the spatial axes, as
    `resize(cfg, spatial)` says (pooling, cropping, padding, upsampling)."""
    def rule(cfg: dict[str, Any], call: Call) -> Outputs:
        x = ranked(call.x, rank + 2)
        if x is None:
            return [None]
        spatial, channels = split_channels(x, rank, cfg)
        return [join_channels(x[0], resize(cfg, list(spatial)), channels, cfg)]

    return rule


def _pooling(rank: int) -> Rule:
    def resize(cfg: dict[str, Any], spatial: list[Dim]) -> list[Dim]:
        pool = ints(cfg.get("pool_size") or 2, rank)
        strides = ints(cfg.get("strides") or pool, rank)
        padding = str(cfg.get("padding", "valid")).lower()
        return [conv_output_length(n, p, padding, s) for n, p, s
                in zip(spatial, pool, strides, strict=True)]

    return _spatial(rank, resize)


def _global_pooling(rank: int) -> Rule:
    def rule(cfg: dict[str, Any], call: Call) -> Outputs:
        x = ranked(call.x, rank + 2)
        if x is None:
            return [None]
        _, channels = split_channels(x, rank, cfg)
        if cfg.get("keepdims", False):
            return [join_channels(x[0], [1] * rank, channels, cfg)]
        return [(x[0], channels)]

    return rule


def _adaptive_pooling(rank: int) -> Rule:
    return _spatial(rank, lambda cfg, _: list(ints(cfg["output_size"], rank)))


for _rank in (1, 2, 3):
    for _kind in ("MaxPooling", "AveragePooling"):
        RULES[f"{_kind}{_rank}D"] = _pooling(_rank)
    for _kind in ("GlobalMaxPooling", "GlobalAveragePooling"):
        RULES[f"{_kind}{_rank}D"] = _global_pooling(_rank)
    for _kind in ("AdaptiveMaxPooling", "AdaptiveAveragePooling"):
        RULES[f"{_kind}{_rank}D"] = _adaptive_pooling(_rank)


@_rule("Flatten")
def _flatten(cfg: dict[str, Any], call: Call) -> Outputs:
    x = call.x
    if x is None or not x:
        return [None]
    if len(x) == 1:
        return [(x[0], 1)]
    return [(x[0], product(x[1:]))]


@_rule("Reshape")
def _reshape(cfg: dict[str, Any], call: Call) -> Outputs:
    target = [int(d) if d is not None else -1 for d in cfg["target_shape"]]
    x = call.x
    batch = dim(x, 0)
    if -1 not in target:
        return [(batch, *target)]
    size = None if x is None else product(x[1:])
    known = product(d for d in target if d != -1)
    missing = None if size is None or not known or size % known else size // known
    return [(batch, *(missing if d == -1 else d for d in target))]


@_rule("Permute")
def _permute(cfg: dict[str, Any], call: Call) -> Outputs:
    dims = [int(d) for d in cfg["dims"]]
    x = ranked(call.x, len(dims) + 1)
    return [None if x is None else (x[0], *(x[d] for d in dims))]


@_rule("RepeatVector")
def _repeat_vector(cfg: dict[str, Any], call: Call) -> Outputs:
    x = ranked(call.x, 2)
    return [None if x is None else (x[0], int(cfg["n"]), x[1])]


def _edges(rank: int, key: str, sign: int) -> Rule:
    """Cropping (sign -1) and ZeroPadding (sign +1): each spatial axis loses/gains its pair."""
    def resize(cfg: dict[str, Any], spatial: list[Dim]) -> list[Dim]:
        pairs = _pairs(cfg.get(key, 1), rank)
        return [None if n is None else n + sign * (a + b)
                for n, (a, b) in zip(spatial, pairs, strict=True)]

    return _spatial(rank, resize)


def _upsampling(rank: int) -> Rule:
    def resize(cfg: dict[str, Any], spatial: list[Dim]) -> list[Dim]:
        size = ints(cfg.get("size", 2), rank)
        return [None if n is None else n * s for n, s in zip(spatial, size, strict=True)]

    return _spatial(rank, resize)


for _rank in (1, 2, 3):
    RULES[f"Cropping{_rank}D"] = _edges(_rank, "cropping", -1)
    RULES[f"ZeroPadding{_rank}D"] = _edges(_rank, "padding", +1)
    RULES[f"UpSampling{_rank}D"] = _upsampling(_rank)


@_rule("Resizing", "CenterCrop")
def _resize(cfg: dict[str, Any], call: Call) -> Outputs:
    x = ranked(call.x, 4)
    if x is None:
        return [None]
    _, channels = split_channels(x, 2, cfg)
    return [join_channels(x[0], [int(cfg["height"]), int(cfg["width"])], channels, cfg)]


@_rule("Embedding")
def _embedding(cfg: dict[str, Any], call: Call) -> Outputs:
    output_dim = int(cfg["output_dim"])
    x = call.x
    return [None if x is None else (*x, output_dim)]


@_rule("ReversibleEmbedding")
def _reversible_embedding(cfg: dict[str, Any], call: Call) -> Outputs:
    input_dim, output_dim = int(cfg["input_dim"]), int(cfg["output_dim"])
    x = call.x
    if x is None:
        return [None]
    if call.kwargs.get("reverse"):
        return [(*x[:-1], input_dim)]
    return [(*x, output_dim)]


@_rule("BatchNormalization", "PReLU")
def _elementwise_parameters(cfg: dict[str, Any], call: Call) -> Outputs:
    return [call.x]


@_rule("LayerNormalization", "RMSNormalization")
def _layer_normalization(cfg: dict[str, Any], call: Call) -> Outputs:
    axes(cfg.get("axis", -1))  # an axis Keras cannot read leaves the layer unknown
    return [call.x]


@_rule("GroupNormalization")
def _group_normalization(cfg: dict[str, Any], call: Call) -> Outputs:
    int(cfg.get("axis", -1))  # an axis Keras cannot read leaves the layer unknown
    return [call.x]


def _attention(cfg: dict[str, Any], call: Call) -> Outputs:
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
    return outputs


RULES["Attention"] = _attention
RULES["AdditiveAttention"] = _attention


@_rule("MultiHeadAttention")
def _multi_head_attention(cfg: dict[str, Any], call: Call) -> Outputs:
    dims = multi_head_attention_dims(cfg, call)
    query, key = dims.query, dims.key
    out = None if query is None else (*query[:-1], *dims.out_dims)
    outputs: list[Tensor] = [out]
    if call.kwargs.get("return_attention_scores"):
        default_axes = cfg.get("attention_axes") in (None, [1], (1,))
        scores = None
        if default_axes and query is not None and key is not None and len(query) == len(
            key
        ) == 3:
            scores = (query[0], dims.heads, query[1], key[1])
        outputs.append(scores)
    return outputs


@_rule("GroupQueryAttention")
def _group_query_attention(cfg: dict[str, Any], call: Call) -> Outputs:
    query, _, _ = attention_inputs(call)
    outputs: list[Tensor] = [query]
    if call.kwargs.get("return_attention_scores"):
        outputs.append(None)
    return outputs


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
def _elementwise(cfg: dict[str, Any], call: Call) -> Outputs:
    if not call.inputs or any(s is None or not s for s in call.inputs):
        return [None]
    shapes: list[Shape] = [s for s in call.inputs if s is not None]
    out: Shape | None = shapes[0][1:]
    for shape in shapes[1:]:
        out = None if out is None else _broadcast(out, shape[1:])
    return [None if out is None else (_batch_of(shapes), *out)]


# Inception-ResNet's CustomScaleLayer: inputs[0] + inputs[1] * scale, broadcast as Add.
RULES[application_class("inception_resnet_v2", "CustomScaleLayer")] = _elementwise


@_rule("Concatenate")
def _concatenate(cfg: dict[str, Any], call: Call) -> Outputs:
    shapes = call.inputs
    if not shapes or any(s is None for s in shapes) or len({len(s) for s in shapes if s}) != 1:
        return [None]
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
                merged = merge_dim(merged, d)
            out.append(merged)
    return [tuple(out)]


@_rule("Dot")
def _dot(cfg: dict[str, Any], call: Call) -> Outputs:
    if len(call.inputs) != 2 or any(s is None for s in call.inputs):
        return [None]
    a, b = (s for s in call.inputs if s is not None)
    axes_arg = cfg.get("axes", -1)
    pair = [axes_arg, axes_arg] if isinstance(axes_arg, int) else [int(v) for v in axes_arg]
    pair = [pair[0] % len(a), pair[1] % len(b)]
    left = [d for i, d in enumerate(a) if i != pair[0]]
    right = [d for i, d in enumerate(b) if i != pair[1]][1:]
    out = left + right
    if len(out) == 1:
        out.append(1)
    return [tuple(out)]


@_rule("STFTSpectrogram")
def _stft_spectrogram(cfg: dict[str, Any], call: Call) -> Outputs:
    return None  # framing output not derived (its weight shapes are)


def _conv_lstm(rank: int) -> Rule:
    def rule(cfg: dict[str, Any], call: Call) -> Outputs:
        filters = int(cfg["filters"])
        x = ranked(call.x, rank + 3)
        # One step sees (batch, *spatial, channels) or (batch, channels, *spatial).
        step = None if x is None else (x[0], *x[2:])
        spatial, _ = split_channels(step, rank, cfg)
        out_spatial = conv_output_spatial(spatial, rank, cfg)
        if x is None:
            return None
        state = join_channels(None, out_spatial, filters, cfg)[1:]
        return _recurrent_outputs(cfg, x, state, [state, state])

    return rule


for _rank in (1, 2, 3):
    RULES[f"ConvLSTM{_rank}D"] = _conv_lstm(_rank)


# ------------------------------------------------------------------------------ recurrent

@dataclass
class _CellShapes:
    output_size: Dim
    state_sizes: list[Dim]
    weights: WeightShapes  # in the cell's Keras order


_STATES = {"LSTMCell": 2}  # the states a cell carries; other cells carry one


def _cell_shapes(class_name: str, cfg: dict[str, Any], input_dim: Dim) -> _CellShapes | None:
    """A recurrent cell (or an LSTM/GRU/SimpleRNN layer's own cell) on inputs of this size."""
    if class_name == "StackedRNNCells":
        states: list[Dim] = []
        weights: list[WeightShapes] = []
        size = input_dim
        for cell in parts_of(class_name, cfg, cell=True):
            inner = _cell_shapes(cell.class_name, cell.config, size)
            if inner is None:
                return None
            states += inner.state_sizes
            weights.append(inner.weights)
            size = inner.output_size
        return _CellShapes(size, states, compose(class_name, cfg, weights, [], cell=True))
    # A cell is built on one step's input: (batch, features).
    own = own_weight_shapes(class_name, cfg, Call([(None, input_dim)], {}), cell=True)
    if own is None:
        return None
    units = int(cfg["units"])
    return _CellShapes(units, [units] * _STATES.get(class_name, 1), own)


def _recurrent_outputs(cfg: dict[str, Any], x: Tensor, step_out: Shape, states: list[Shape]
                       ) -> Outputs:
    """Outputs of a recurrent layer whose input is (batch, time, ...) (time_major: swapped)
    and whose step outputs `step_out` (without batch) with these states (without batch)."""
    time_major = bool(cfg.get("time_major", False))
    batch, steps = (dim(x, 1), dim(x, 0)) if time_major else (dim(x, 0), dim(x, 1))
    if cfg.get("return_sequences", False):
        out = (steps, batch, *step_out) if time_major else (batch, steps, *step_out)
    else:
        out = (batch, *step_out)
    outputs: list[Tensor] = [out]
    if cfg.get("return_state", False):
        outputs += [(batch, *state) for state in states]
    return outputs


def _recurrent(class_name: str, cfg: dict[str, Any], call: Call
               ) -> tuple[Outputs, WeightShapes]:
    """LSTM/GRU/SimpleRNN (over a cell of their own) and RNN(cell)."""
    x = ranked(call.x, 3)
    (cell,) = parts_of(class_name, cfg)
    built = _cell_shapes(cell.class_name, cell.config, dim(x, -1))
    if built is None:
        return None, None
    outputs = None if x is None else _recurrent_outputs(
        cfg, x, (built.output_size,), [(s,) for s in built.state_sizes])
    return outputs, compose(class_name, cfg, [built.weights], [])


# ------------------------------------------------------------------------------ dispatch

def infer_layer(class_name: str, cfg: dict[str, Any], call: Call
                ) -> tuple[Outputs, WeightShapes]:
    """One call of one layer: its outputs and its weights (layout order)."""
    try:
        return _infer_layer(class_name, cfg, call)
    except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, OverflowError):
        # A config this rule cannot read (missing or malformed arguments): unknown, since
        # a wrong shape would be worse and one odd layer must not stop the whole model.
        return None, None


def _infer_layer(class_name: str, cfg: dict[str, Any], call: Call
                 ) -> tuple[Outputs, WeightShapes]:
    if class_name in MODEL_CLASSES:
        run = _run_model(class_name, cfg, call.inputs)
        parts = parts_of(class_name, cfg)
        weights = [run.weights.get(layer_name(part.entry)) for part in parts]
        return run.outputs, compose(class_name, cfg, weights, [], parts=parts)
    wrapper = _WRAPPERS.get(class_name)
    if wrapper is not None:
        return wrapper(class_name, cfg, call)
    rule = RULES.get(class_name)
    if rule is None:
        return None, None
    outputs = rule(cfg, call)
    return outputs, compose(class_name, cfg, [], own_weight_shapes(class_name, cfg, call))


def _bidirectional(class_name: str, cfg: dict[str, Any], call: Call
                   ) -> tuple[Outputs, WeightShapes]:
    forward, backward = parts_of(class_name, cfg)
    inner_call = Call(call.inputs[:1], {})
    forward_out, forward_weights = infer_layer(forward.class_name, forward.config, inner_call)
    backward_out, backward_weights = infer_layer(backward.class_name, backward.config,
                                                 inner_call)
    weights = compose(class_name, cfg, [forward_weights, backward_weights], [])
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
            rest = (merge_dim(a, b) for a, b in zip(forward_y[:-1], backward_y[:-1],
                                                    strict=True))
            merged = [(*rest, width)]
    else:
        merged = [merge_shape(forward_y, backward_y)]
    return merged + forward_out[1:] + backward_out[1:], weights


def _time_distributed(class_name: str, cfg: dict[str, Any], call: Call
                      ) -> tuple[Outputs, WeightShapes]:
    (inner,) = parts_of(class_name, cfg)
    x = call.x
    step = None if x is None or len(x) < 2 else (x[0], *x[2:])
    outputs, weights = infer_layer(inner.class_name, inner.config, Call([step], {}))
    weights = compose(class_name, cfg, [weights], [])
    if outputs is None or x is None or step is None:
        return None, weights
    return [None if out is None or not out else (x[0], x[1], *out[1:]) for out in outputs
            ], weights


def _spectral_normalization(class_name: str, cfg: dict[str, Any], call: Call
                            ) -> tuple[Outputs, WeightShapes]:
    (inner,) = parts_of(class_name, cfg)
    outputs, inner_weights = infer_layer(inner.class_name, inner.config, call)
    own = own_weight_shapes(class_name, cfg, call, [inner_weights])
    return outputs, compose(class_name, cfg, [inner_weights], own)


# Layers made of other layers: the outputs and weights of their parts, each built by its own
# call (the wrapped layer on one time step, an RNN's cell on one step's features...).
_WRAPPERS: dict[str, Callable[[str, dict[str, Any], Call], tuple[Outputs, WeightShapes]]] = {
    "LSTM": _recurrent, "GRU": _recurrent, "SimpleRNN": _recurrent, "RNN": _recurrent,
    "Bidirectional": _bidirectional,
    "TimeDistributed": _time_distributed,
    "SpectralNormalization": _spectral_normalization,
}


# ------------------------------------------------------------------------------ models

@dataclass
class _Run:
    outputs: Outputs
    weights: dict[str, WeightShapes]  # per layer of the model, merged over its calls
    calls: dict[str, list[Tensor]] = field(default_factory=dict)  # main input per call


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
        shape_of(h) is not None for h in hint
    ):
        return Call([shape_of(h) for h in hint], call.kwargs)
    if len(call.inputs) <= 1 and shape_of(hint) is not None:
        return Call([refine(call.x, hint)], call.kwargs)
    if isinstance(hint, list) and len(hint) == len(call.inputs):
        return Call([refine(s, h) for s, h in zip(call.inputs, hint, strict=True)],
                    call.kwargs)
    return call


def _declared_shape(cfg: dict[str, Any]) -> Tensor:
    for key in ("batch_input_shape", "batch_shape"):
        if shape_of(cfg.get(key)) is not None:
            return shape_of(cfg.get(key))
    return None


def _run_sequential(cfg: dict[str, Any], inputs: list[Tensor] | None) -> _Run:
    x: Tensor = inputs[0] if inputs else None
    x = refine(x, cfg.get("build_input_shape"))
    weights: dict[str, WeightShapes] = {}
    calls: dict[str, list[Tensor]] = {}
    for position, entry in enumerate(cfg.get("layers", [])):
        class_name, layer_cfg = record_class(entry), entry.get("config", {})
        if position == 0:
            x = refine(x, _declared_shape(layer_cfg))
        if class_name == "InputLayer":
            weights[layer_name(entry)] = []
            continue
        call = _hinted(Call([x], {}), _build_hint(entry))
        calls[layer_name(entry)] = [call.x]
        outputs, layer_weights = infer_layer(class_name, layer_cfg, call)
        weights[layer_name(entry)] = layer_weights
        x = outputs[0] if outputs and len(outputs) == 1 else None
    return _Run([x], weights, calls)


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
        self.calls: dict[NodeKey, Tensor] = {}

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
        class_name, cfg = record_class(entry), entry.get("config", {})
        if class_name == "InputLayer":
            return [refine(self.given.get(key[0]), _declared_shape(cfg))]
        if is_operation(entry):
            # An operation holds no weights; its output shapes are not inferred.
            self.weights[key[0]] = []
            return None
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
            self.calls[key] = call.x
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
                    _, weights = infer_layer(record_class(entry),
                                             entry.get("config", {}),
                                             _hinted(UNKNOWN_CALL, _build_hint(entry)))
                    self.weights[name] = weights
        outputs = [self._tensor(ref) for ref in output_refs(self.cfg)]
        calls: dict[str, list[Tensor]] = {}
        for (name, _), x in sorted(self.calls.items(), key=lambda item: item[0][1]):
            calls.setdefault(name, []).append(x)
        return _Run(outputs, self.weights, calls)
