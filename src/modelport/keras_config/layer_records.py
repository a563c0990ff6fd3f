"""One record per built-in layer class: each weight its build creates, stated once (name, shape
rule, initializer argument, trainability, Keras 3 path), and the layers it is made of (a wrapped
layer, an RNN's cell, a model's layers). layouts, shapes and initializers all read these."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from modelport.keras_config.applications import application_class, record_class
from modelport.keras_config.entries import MODEL_CLASSES, keras3_snake_case, layer_name
from modelport.keras_config.graph import container_paths
from modelport.keras_config.tensor_shapes import (
    Call,
    Dim,
    Shape,
    Tensor,
    axes,
    channels_first,
    conv_output_spatial,
    dim,
    ints,
    merge_dim,
    product,
    ranked,
    refine,
    shape_of,
    split_channels,
)

T = TypeVar("T")

# A weight's shape from its layer's config and the call that builds the layer; None when not
# even the weight's rank can be known. A rule may raise on a config it cannot read.
ShapeRule = Callable[[dict[str, Any], Call], Shape | None]


@dataclass(frozen=True)
class Init:
    """Where a weight's first values come from: the initializer the layer's config names under
    `argument` (`default` when the config does not say), or, with no argument, the one the
    layer's code fixes."""

    argument: str | None
    default: Any


@dataclass(frozen=True)
class WeightSpec:
    """One weight as its layer's build creates it: what one Keras `add_weight` call states."""

    name: str  # its Keras 2 / TF.js name relative to the layer: 'kernel', 'query/bias'
    shape: ShapeRule | None
    initializer: Init | None  # None: not drawn from a Keras initializer
    trainable: bool = True
    # Relative to the layer ('query_dense/vars/1'); "" means vars/<its place among the
    # layer's own weights>, as Keras 3 numbers a layer's variables.
    keras3_path: str = ""
    forget_gate_bias: bool = False  # unit_forget_bias sets the forget gate's quarter to one
    # For a wrapper's weight sized by what it wraps: its shape from the parts' weight shapes.
    shape_of_parts: Callable[[list[list[Shape]]], Shape | None] | None = None


@dataclass(frozen=True)
class Part:
    """A layer inside a layer (a wrapped layer, an RNN's cell, a model's layer): its entry, the
    prefix its weights' names get and its Keras 3 path inside the outer layer."""

    entry: dict[str, Any]
    name_prefix: str
    path: str
    cell: bool = False  # an RNN cell: cells have records of their own, known only inside RNNs

    @property
    def class_name(self) -> str:
        """The class its record is filed under (record_class)."""
        return record_class(self.entry)

    @property
    def config(self) -> dict[str, Any]:
        return self.entry.get("config", {})


def _no_parts(cfg: dict[str, Any]) -> list[Part]:
    return []


@dataclass(frozen=True)
class LayerRecord:
    """A layer class: its parts, and its own weights in creation order (created after the
    parts' weights, as a wrapper's build builds the wrapped layer first)."""

    weights: Callable[[dict[str, Any]], list[WeightSpec]]
    parts: Callable[[dict[str, Any]], list[Part]] = _no_parts
    # trainable=False freezes every weight of the layer. Cells leave that to their RNN layer.
    reads_trainable: bool = True
    # Keras 3 also tracks the first weight of the first part under this path of the layer's
    # own (SpectralNormalization's kernel); a layer whose first part has none is not known.
    first_part_weight_alias: str = ""


class PlacedWeight(NamedTuple):
    """One weight of a layer as the layer's files know it, with the record it comes from."""

    name: str  # relative to the layer: 'kernel', 'forward_lstm/lstm_cell/kernel'
    trainable: bool
    keras3_path: str  # relative to the layer ('cell/vars/1'); a tensor tracked twice: 'a|b'
    spec: WeightSpec
    owner_config: dict[str, Any]  # the config of the layer (or cell) whose build creates it
    creation_index: int  # its place among the layer's weights in creation order


# ------------------------------------------------------------------------------ initializers

KERNEL = Init("kernel_initializer", "glorot_uniform")
BIAS = Init("bias_initializer", "zeros")
RECURRENT_KERNEL = Init("recurrent_initializer", "orthogonal")
DEPTHWISE_KERNEL = Init("depthwise_initializer", "glorot_uniform")
POINTWISE_KERNEL = Init("pointwise_initializer", "glorot_uniform")
EMBEDDINGS = Init("embeddings_initializer", "uniform")
GAMMA = Init("gamma_initializer", "ones")
BETA = Init("beta_initializer", "zeros")
MOVING_MEAN = Init("moving_mean_initializer", "zeros")
MOVING_VARIANCE = Init("moving_variance_initializer", "ones")
ALPHA = Init("alpha_initializer", "zeros")


def _fixed(initializer: Any) -> Init:
    return Init(None, initializer)


# ------------------------------------------------------------------------------ helpers

def _if(condition: Any, *specs: WeightSpec) -> list[WeightSpec]:
    return list(specs) if condition else []


def _bias(cfg: dict[str, Any], bias: WeightSpec) -> list[WeightSpec]:
    return _if(cfg.get("use_bias", True), bias)


def _units(cfg: dict[str, Any], call: Call) -> Shape:
    return (int(cfg["units"]),)


def _filters(cfg: dict[str, Any], call: Call) -> Shape:
    return (int(cfg["filters"]),)


def _inner_name(entry: dict[str, Any]) -> str:
    return str(entry.get("config", {}).get("name", ""))


# ------------------------------------------------------------------------------ dense, conv

def _dense_kernel(cfg: dict[str, Any], call: Call) -> Shape:
    return (dim(call.x, -1), int(cfg["units"]))


_DENSE_KERNEL = WeightSpec("kernel", _dense_kernel, KERNEL)
_DENSE_BIAS = WeightSpec("bias", _units, BIAS)


def _dense(cfg: dict[str, Any]) -> list[WeightSpec]:
    return [_DENSE_KERNEL, *_bias(cfg, _DENSE_BIAS)]


class EinsumShapes(NamedTuple):
    kernel: Shape
    bias: Shape | None
    output: Shape


def einsum_shapes(equation: str, bias_axes: str | None, x: Shape, partial_output: Any
                  ) -> EinsumShapes | None:
    """Keras's EinsumDense `_analyze_einsum_string`: kernel, bias and full output shapes."""
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
        kernel.append(merge_dim(x[input_axis[c]] if c in input_axis else None,
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
    return EinsumShapes(tuple(kernel), None if bias is None else tuple(bias), tuple(output))


def _einsum_analysis(cfg: dict[str, Any], call: Call) -> EinsumShapes | None:
    x = call.x
    if x is None:
        return None
    return einsum_shapes(cfg.get("equation", ""), cfg.get("bias_axes"), x,
                         cfg.get("output_shape", []))


def _einsum_kernel(cfg: dict[str, Any], call: Call) -> Shape | None:
    shapes = _einsum_analysis(cfg, call)
    return None if shapes is None else shapes.kernel


def _einsum_bias(cfg: dict[str, Any], call: Call) -> Shape | None:
    shapes = _einsum_analysis(cfg, call)
    return None if shapes is None else shapes.bias


_EINSUM_KERNEL = WeightSpec("kernel", _einsum_kernel, KERNEL)
_EINSUM_BIAS = WeightSpec("bias", _einsum_bias, BIAS)


def _einsum_dense(cfg: dict[str, Any]) -> list[WeightSpec]:
    return [_EINSUM_KERNEL, *_if(cfg.get("bias_axes"), _EINSUM_BIAS)]


def _conv(rank: int, transpose: bool = False) -> Callable[[dict[str, Any]], list[WeightSpec]]:
    def kernel(cfg: dict[str, Any], call: Call) -> Shape:
        filters = int(cfg["filters"])
        kernel_size = ints(cfg["kernel_size"], rank)
        _, channels = split_channels(call.x, rank, cfg)
        if transpose:
            return (*kernel_size, filters, channels)
        groups = int(cfg.get("groups") or 1)
        return (*kernel_size, None if channels is None else channels // groups, filters)

    specs = WeightSpec("kernel", kernel, KERNEL), WeightSpec("bias", _filters, BIAS)
    return lambda cfg: [specs[0], *_bias(cfg, specs[1])]


def _depthwise_channels(rank: int, cfg: dict[str, Any], call: Call) -> tuple[Dim, int]:
    """(input channels, depth multiplier) of a depthwise step."""
    _, channels = split_channels(call.x, rank, cfg)
    return channels, int(cfg.get("depth_multiplier", 1))


def _depthwise_kernel(rank: int) -> ShapeRule:
    def rule(cfg: dict[str, Any], call: Call) -> Shape:
        kernel_size = ints(cfg["kernel_size"], rank)
        channels, multiplier = _depthwise_channels(rank, cfg, call)
        return (*kernel_size, channels, multiplier)

    return rule


def _depthwise_outputs(rank: int, cfg: dict[str, Any], call: Call) -> Dim:
    channels, multiplier = _depthwise_channels(rank, cfg, call)
    return None if channels is None else channels * multiplier


def _depthwise(rank: int) -> Callable[[dict[str, Any]], list[WeightSpec]]:
    def bias(cfg: dict[str, Any], call: Call) -> Shape:
        return (_depthwise_outputs(rank, cfg, call),)

    specs = (WeightSpec("depthwise_kernel", _depthwise_kernel(rank), DEPTHWISE_KERNEL),
             WeightSpec("bias", bias, BIAS))
    return lambda cfg: [specs[0], *_bias(cfg, specs[1])]


def _separable(rank: int) -> Callable[[dict[str, Any]], list[WeightSpec]]:
    def pointwise(cfg: dict[str, Any], call: Call) -> Shape:
        return (*(1,) * rank, _depthwise_outputs(rank, cfg, call), int(cfg["filters"]))

    specs = (WeightSpec("depthwise_kernel", _depthwise_kernel(rank), DEPTHWISE_KERNEL),
             WeightSpec("pointwise_kernel", pointwise, POINTWISE_KERNEL),
             WeightSpec("bias", _filters, BIAS))
    return lambda cfg: [*specs[:2], *_bias(cfg, specs[2])]


def _locally_connected(rank: int) -> Callable[[dict[str, Any]], list[WeightSpec]]:
    def kernel(cfg: dict[str, Any], call: Call) -> Shape:
        filters = int(cfg["filters"])
        spatial, channels = split_channels(call.x, rank, cfg)
        out_spatial = conv_output_spatial(spatial, rank, cfg, dilated=False)
        implementation = int(cfg.get("implementation", 1))
        if implementation == 1:
            window = product(ints(cfg["kernel_size"], rank))
            return (product(out_spatial), None if channels is None else window * channels,
                    filters)
        if implementation == 2 and channels_first(cfg):
            return (channels, *spatial, filters, *out_spatial)
        if implementation == 2:
            return (*spatial, channels, *out_spatial, filters)
        return (None,)  # a sparse list of kernel entries; its length is not derived

    def bias(cfg: dict[str, Any], call: Call) -> Shape:
        spatial, _ = split_channels(call.x, rank, cfg)
        # In this order for either data format.
        return (*conv_output_spatial(spatial, rank, cfg, dilated=False), int(cfg["filters"]))

    specs = WeightSpec("kernel", kernel, KERNEL), WeightSpec("bias", bias, BIAS)
    return lambda cfg: [specs[0], *_bias(cfg, specs[1])]


# ------------------------------------------------------------------------------ embeddings

def _embedding_matrix(cfg: dict[str, Any], call: Call) -> Shape:
    return (int(cfg["input_dim"]), int(cfg["output_dim"]))


def _reverse_embedding_matrix(cfg: dict[str, Any], call: Call) -> Shape:
    return (int(cfg["output_dim"]), int(cfg["input_dim"]))


_EMBEDDING_MATRIX = WeightSpec("embeddings", _embedding_matrix, EMBEDDINGS)
_REVERSE_EMBEDDING_MATRIX = WeightSpec("reverse_embeddings", _reverse_embedding_matrix, EMBEDDINGS)


def _reversible_embedding(cfg: dict[str, Any]) -> list[WeightSpec]:
    return [_EMBEDDING_MATRIX, *_if(not cfg.get("tie_weights", True), _REVERSE_EMBEDDING_MATRIX)]


# ------------------------------------------------------------------------------ normalization

def _batch_norm_parameter(cfg: dict[str, Any], call: Call) -> Shape | None:
    x = call.x
    axis = axes(cfg.get("axis", -1))
    if cfg.get("virtual_batch_size"):
        return None  # parameters get an extra virtual-batch axis; not derived
    if isinstance(axis, int) or len(axis) == 1:
        single = axis if isinstance(axis, int) else axis[0]
        return (dim(x, single),)
    if x is None:
        return None
    # tf_keras, several axes: the input's shape with 1 on every other axis.
    wanted = {a % len(x) for a in axis}
    return tuple(d if i in wanted else 1 for i, d in enumerate(x))


def _scale_and_center(rule: ShapeRule, *statistics: WeightSpec
                      ) -> Callable[[dict[str, Any]], list[WeightSpec]]:
    """Normalization layers: gamma (scale=True) and beta (center=True), then any moving
    statistics."""
    gamma, beta = WeightSpec("gamma", rule, GAMMA), WeightSpec("beta", rule, BETA)
    return lambda cfg: [*_if(cfg.get("scale", True), gamma), *_if(cfg.get("center", True), beta),
                        *statistics]


def _normalized_axes_parameter(cfg: dict[str, Any], call: Call) -> Shape:
    axis = axes(cfg.get("axis", -1))
    if isinstance(axis, list):
        return tuple(dim(call.x, a) for a in axis)
    return (dim(call.x, axis),)


def _normalization_statistic(cfg: dict[str, Any], call: Call) -> Shape | None:
    """Normalization's mean and variance: the input's dimensions on the kept axes, sorted (no
    axis kept: a scalar), as both Keras' build computes them."""
    axis = cfg.get("axis", -1)
    if axis is None:
        return ()
    x = call.x
    if x is None:
        return None
    kept = sorted(a % len(x) for a in ([axis] if isinstance(axis, int) else axis))
    return tuple(dim(x, a) for a in kept)


# Created by build only when the config fixes no mean (else they are constants); `count` is an
# int64 scalar kept "for backwards compatibility" in both libraries.
_NORMALIZATION_STATISTICS = [
    WeightSpec("mean", _normalization_statistic, _fixed("zeros"), trainable=False),
    WeightSpec("variance", _normalization_statistic, _fixed("ones"), trainable=False),
    WeightSpec("count", lambda cfg, call: (), _fixed("zeros"), trainable=False),
]


def _normalization(cfg: dict[str, Any]) -> list[WeightSpec]:
    return [] if cfg.get("mean") is not None else list(_NORMALIZATION_STATISTICS)


def _group_norm_parameter(cfg: dict[str, Any], call: Call) -> Shape:
    return (dim(call.x, int(cfg.get("axis", -1))),)


def _prelu_alpha(cfg: dict[str, Any], call: Call) -> Shape | None:
    x = call.x
    if x is None:
        return None
    alpha = list(x[1:])
    shared = cfg.get("shared_axes")
    for axis in [shared] if isinstance(shared, int) else shared or []:
        if 1 <= axis <= len(alpha):
            alpha[axis - 1] = 1
    return tuple(alpha)


# ------------------------------------------------------------------------------ attention

def _scalar(cfg: dict[str, Any], call: Call) -> Shape:
    return ()


def _query_width(cfg: dict[str, Any], call: Call) -> Shape:
    return (dim(call.inputs[0] if call.inputs else None, -1),)


def _attention(additive: bool) -> Callable[[dict[str, Any]], list[WeightSpec]]:
    # Keras fixes these initializers in code; AdditiveAttention has no concat score weight.
    scale = WeightSpec("scale", _query_width if additive else _scalar,
                       _fixed("glorot_uniform" if additive else "ones"))
    concat = WeightSpec("concat_score_weight", _scalar, None if additive else _fixed("ones"))

    return lambda cfg: [*_if(cfg.get("use_scale", False), scale),
                        *_if(cfg.get("score_mode") == "concat", concat)]


def attention_inputs(call: Call) -> tuple[Tensor, Tensor, Tensor]:
    """query, value, key of a MultiHeadAttention-style call: value/key as keyword arguments
    (Keras 2 nodes) or as further tensors of the first argument."""
    query = call.x
    value = shape_of(call.kwargs.get("value"))
    if value is None and len(call.inputs) > 1:
        value = call.inputs[1]
    key = shape_of(call.kwargs.get("key"))
    if key is None and len(call.inputs) > 2:
        key = call.inputs[2]
    return query, value, key if key is not None else value


class MultiHeadDims(NamedTuple):
    query: Tensor
    value: Tensor
    key: Tensor
    heads: int
    key_dim: int
    value_dim: int
    out_dims: Shape  # the output's last axes


def multi_head_attention_dims(cfg: dict[str, Any], call: Call) -> MultiHeadDims:
    query, value, key = attention_inputs(call)
    # tf_keras records the shapes the layer was built with.
    query = refine(query, cfg.get("query_shape"))
    value = refine(value, cfg.get("value_shape"))
    key = refine(key, cfg.get("key_shape")) if cfg.get("key_shape") else refine(
        key, cfg.get("value_shape"))
    heads, key_dim = int(cfg["num_heads"]), int(cfg["key_dim"])
    value_dim = int(cfg.get("value_dim") or key_dim)
    requested = cfg.get("output_shape")
    if isinstance(requested, int):
        out_dims: Shape = (requested,)
    elif requested:
        out_dims = tuple(requested)
    else:
        out_dims = (dim(query, -1),)
    return MultiHeadDims(query, value, key, heads, key_dim, value_dim, out_dims)


_MULTI_HEAD_SHAPES: dict[str, Callable[[MultiHeadDims], Shape]] = {
    "query/kernel": lambda d: (dim(d.query, -1), d.heads, d.key_dim),
    "query/bias": lambda d: (d.heads, d.key_dim),
    "key/kernel": lambda d: (dim(d.key, -1), d.heads, d.key_dim),
    "key/bias": lambda d: (d.heads, d.key_dim),
    "value/kernel": lambda d: (dim(d.value, -1), d.heads, d.value_dim),
    "value/bias": lambda d: (d.heads, d.value_dim),
    "attention_output/kernel": lambda d: (d.heads, d.value_dim, *d.out_dims),
    "attention_output/bias": lambda d: d.out_dims,
}


class GroupQueryDims(NamedTuple):
    query: Tensor
    value: Tensor
    key: Tensor
    head_dim: int
    query_heads: int
    key_value_heads: int


def _group_query_dims(cfg: dict[str, Any], call: Call) -> GroupQueryDims:
    query, value, key = attention_inputs(call)
    return GroupQueryDims(query, value, key, int(cfg["head_dim"]), int(cfg["num_query_heads"]),
                          int(cfg["num_key_value_heads"]))


_GROUP_QUERY_SHAPES: dict[str, Callable[[GroupQueryDims], Shape]] = {
    "query/kernel": lambda d: (dim(d.query, -1), d.query_heads, d.head_dim),
    "query/bias": lambda d: (d.query_heads, d.head_dim),
    "key/kernel": lambda d: (dim(d.key, -1), d.key_value_heads, d.head_dim),
    "key/bias": lambda d: (d.key_value_heads, d.head_dim),
    "value/kernel": lambda d: (dim(d.value, -1), d.key_value_heads, d.head_dim),
    "value/bias": lambda d: (d.key_value_heads, d.head_dim),
    "attention_output/kernel": lambda d: (d.query_heads, d.head_dim, dim(d.query, -1)),
    "attention_output/bias": lambda d: (dim(d.query, -1),),
}


def _projections(owner_prefix: str, dims: Callable[[dict[str, Any], Call], Any],
                 shapes: dict[str, Callable[[Any], Shape]]
                 ) -> Callable[[dict[str, Any]], list[WeightSpec]]:
    """MultiHeadAttention-style layers: four Dense-like projections, which Keras 2 names
    query/, key/, value/, attention_output/ and Keras 3 keeps under `query_dense`...
    (GroupQueryAttention: `_query_dense`...)."""
    def spec(part: str, owner: str, weight: str, index: int, init: Init) -> WeightSpec:
        name = f"{part}/{weight}"
        return WeightSpec(name, lambda cfg, call: shapes[name](dims(cfg, call)), init,
                          keras3_path=f"{owner_prefix}{owner}/vars/{index}")

    projections = [(spec(part, owner, "kernel", 0, KERNEL), spec(part, owner, "bias", 1, BIAS))
                   for part, owner in (("query", "query_dense"), ("key", "key_dense"),
                                       ("value", "value_dense"),
                                       ("attention_output", "output_dense"))]
    return lambda cfg: [weight for kernel, bias in projections
                        for weight in (kernel, *_bias(cfg, bias))]


# ------------------------------------------------------------------------------ spectrogram

def _stft_kernel(cfg: dict[str, Any], call: Call) -> Shape:
    frame_length = int(cfg["frame_length"])
    fft_length = cfg.get("fft_length") or 2 ** math.ceil(math.log2(frame_length))
    return (frame_length, 1, int(fft_length) // 2 + 1)


def _stft_spectrogram(cfg: dict[str, Any]) -> list[WeightSpec]:
    # Its kernels are windowed DFT matrices (keras.initializers.STFT), not a random draw.
    mode, trainable = cfg.get("mode", "log"), bool(cfg.get("trainable", False))
    return [*_if(mode != "imag", WeightSpec("real_kernel", _stft_kernel, None, trainable)),
            *_if(mode != "real", WeightSpec("imag_kernel", _stft_kernel, None, trainable))]


# ------------------------------------------------------------------------------ recurrent

def _cell(gates: int, reset_after: bool = False, forget_gate: bool = False
          ) -> Callable[[dict[str, Any]], list[WeightSpec]]:
    """LSTMCell (4 gates), GRUCell (3) and SimpleRNNCell (1), built on one step's input
    (batch, features)."""
    def width(cfg: dict[str, Any]) -> int:
        return gates * int(cfg["units"])

    def kernel(cfg: dict[str, Any], call: Call) -> Shape:
        return (dim(call.x, -1), width(cfg))

    def recurrent_kernel(cfg: dict[str, Any], call: Call) -> Shape:
        return (int(cfg["units"]), width(cfg))

    def bias(cfg: dict[str, Any], call: Call) -> Shape:
        return (2, width(cfg)) if reset_after and cfg.get("reset_after", True) else (width(cfg),)

    specs = (WeightSpec("kernel", kernel, KERNEL),
             WeightSpec("recurrent_kernel", recurrent_kernel, RECURRENT_KERNEL),
             WeightSpec("bias", bias, BIAS, forget_gate_bias=forget_gate))
    return lambda cfg: [*specs[:2], *_bias(cfg, specs[2])]


def _stacked_cells(cfg: dict[str, Any]) -> list[Part]:
    parts = []
    used: dict[str, int] = {}
    for cell in cfg.get("cells", []):
        key = keras3_snake_case(cell.get("class_name", ""))
        used[key] = used.get(key, -1) + 1
        path = f"cells/{key}" + (f"_{used[key]}" if used[key] else "")
        parts.append(Part(cell, f"{_inner_name(cell)}/", path, cell=True))
    return parts


def _own_cell(cell_class: str, cell_name: str) -> Callable[[dict[str, Any]], list[Part]]:
    """LSTM, GRU, SimpleRNN: an RNN over a cell of their own, built from their config and
    named `lstm_cell`... in Keras 2 files."""
    return lambda cfg: [Part({"class_name": cell_class, "config": cfg}, f"{cell_name}/", "cell",
                             cell=True)]


def _rnn_cell(cfg: dict[str, Any]) -> list[Part]:
    cell = cfg.get("cell") or {}
    return [Part(cell, f"{_inner_name(cell)}/", "cell", cell=True)]


def _conv_lstm(rank: int) -> Callable[[dict[str, Any]], list[WeightSpec]]:
    """ConvLSTM1D-3D: the weights live on the layer's cell (Keras 3 path `cell/`), named
    after the layer in Keras 2 files."""
    def channels(cfg: dict[str, Any], call: Call) -> Dim:
        x = ranked(call.x, rank + 3)
        # One step sees (batch, *spatial, channels) or (batch, channels, *spatial).
        step = None if x is None else (x[0], *x[2:])
        return split_channels(step, rank, cfg)[1]

    def kernel(cfg: dict[str, Any], call: Call) -> Shape:
        return (*ints(cfg["kernel_size"], rank), channels(cfg, call), 4 * int(cfg["filters"]))

    def recurrent_kernel(cfg: dict[str, Any], call: Call) -> Shape:
        filters = int(cfg["filters"])
        return (*ints(cfg["kernel_size"], rank), filters, 4 * filters)

    def bias(cfg: dict[str, Any], call: Call) -> Shape:
        return (4 * int(cfg["filters"]),)

    specs = (WeightSpec("kernel", kernel, KERNEL, keras3_path="cell/vars/0"),
             WeightSpec("recurrent_kernel", recurrent_kernel, RECURRENT_KERNEL,
                        keras3_path="cell/vars/1"),
             WeightSpec("bias", bias, BIAS, keras3_path="cell/vars/2", forget_gate_bias=True))
    return lambda cfg: [*specs[:2], *_bias(cfg, specs[2])]


# ------------------------------------------------------------------------------ wrappers

def _bidirectional(cfg: dict[str, Any]) -> list[Part]:
    forward = cfg.get("layer") or {}
    backward = cfg.get("backward_layer") or forward
    forward_name = _inner_name(forward)
    backward_name = _inner_name(backward) if cfg.get("backward_layer") else (
        f"backward_{forward_name}")
    return [Part(forward, f"forward_{forward_name}/", "forward_layer"),
            Part(backward, f"{backward_name}/", "backward_layer")]


def _time_distributed(cfg: dict[str, Any]) -> list[Part]:
    return [Part(cfg.get("layer") or {}, "", "layer")]


def _wrapped_layer(cfg: dict[str, Any]) -> list[Part]:
    inner = cfg.get("layer") or {}
    return [Part(inner, f"{_inner_name(inner)}/", "layer")]


def _vector_u(parts: list[list[Shape]]) -> Shape | None:
    """SpectralNormalization's power-iteration vector: one row as wide as the wrapped
    kernel's last axis."""
    if not parts or not parts[0]:
        return None
    return (1, dim(parts[0][0], -1))


_SPECTRAL_VECTOR_U = WeightSpec(
    "vector_u", None, _fixed({"class_name": "TruncatedNormal", "config": {"stddev": 0.02}}),
    trainable=False, keras3_path="vars/1", shape_of_parts=_vector_u)


def _model_layers(class_name: str) -> Callable[[dict[str, Any]], list[Part]]:
    """A nested model's layers; Keras 2 files name a layer's weights under the layer's name,
    a nested model's under its layers' own."""
    def parts(cfg: dict[str, Any]) -> list[Part]:
        return [Part(sub, "" if sub.get("class_name") in MODEL_CLASSES else f"{layer_name(sub)}/",
                     path) for sub, path in container_paths(class_name, cfg)]

    return parts


# ------------------------------------------------------------------------------ the records

def _no_weights(cfg: dict[str, Any]) -> list[WeightSpec]:
    return []


def _own(*specs: WeightSpec) -> Callable[[dict[str, Any]], list[WeightSpec]]:
    return lambda cfg: list(specs)


_WEIGHTLESS = LayerRecord(_no_weights)

WEIGHTLESS = frozenset({
    "InputLayer", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "ThresholdedReLU",
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Flatten", "Reshape",
    "Permute", "RepeatVector", "Masking", "Cropping1D", "Cropping2D", "Cropping3D",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "UpSampling1D", "UpSampling2D",
    "UpSampling3D", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D",
    "AveragePooling2D", "AveragePooling3D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "GlobalMaxPooling3D", "Add", "Subtract", "Multiply", "Average",
    "Maximum", "Minimum", "Concatenate", "Dot", "UnitNormalization", "Rescaling",
    "Resizing", "CenterCrop", "Identity",
})


def _projection_dim(cfg: dict[str, Any], call: Call) -> Shape:
    return (int(cfg["projection_dim"]),)


def _layer_scale(cfg: dict[str, Any]) -> list[WeightSpec]:
    """ConvNeXt's LayerScale (keras/src/applications/convnext.py, and tf_keras's): build adds
    one trainable weight, gamma = Constant(init_values) of shape (projection_dim,); Keras 3
    leaves it unnamed ('variable' in its legacy .h5), tf_keras names it 'gamma'."""
    value = cfg.get("init_values")
    init = _fixed({"class_name": "Constant", "config": {"value": value}}) if isinstance(
        value, (int, float)) and not isinstance(value, bool) else None
    return [WeightSpec("gamma", _projection_dim, init)]


# keras.applications' own layers (keras_config/applications.py), under their qualified names
# (record_class): a user's class of the same name is not taken for them.
APPLICATION_RECORDS: dict[str, LayerRecord] = {
    application_class("convnext", "LayerScale"): LayerRecord(_layer_scale),
    # Identity at inference / inputs[0] + inputs[1] * scale: neither builds a weight.
    application_class("convnext", "StochasticDepth"): _WEIGHTLESS,
    application_class("inception_resnet_v2", "CustomScaleLayer"): _WEIGHTLESS,
}

RECORDS: dict[str, LayerRecord] = {
    **dict.fromkeys(WEIGHTLESS, _WEIGHTLESS),
    "Dense": LayerRecord(_dense),
    "EinsumDense": LayerRecord(_einsum_dense),
    **{f"Conv{r}D": LayerRecord(_conv(r)) for r in (1, 2, 3)},
    **{f"Conv{r}DTranspose": LayerRecord(_conv(r, transpose=True)) for r in (1, 2, 3)},
    **{f"DepthwiseConv{r}D": LayerRecord(_depthwise(r)) for r in (1, 2)},
    **{f"SeparableConv{r}D": LayerRecord(_separable(r)) for r in (1, 2)},
    **{f"LocallyConnected{r}D": LayerRecord(_locally_connected(r)) for r in (1, 2)},
    "Embedding": LayerRecord(_own(_EMBEDDING_MATRIX)),
    "ReversibleEmbedding": LayerRecord(_reversible_embedding),
    "BatchNormalization": LayerRecord(_scale_and_center(
        _batch_norm_parameter,
        WeightSpec("moving_mean", _batch_norm_parameter, MOVING_MEAN, trainable=False),
        WeightSpec("moving_variance", _batch_norm_parameter, MOVING_VARIANCE, trainable=False))),
    "LayerNormalization": LayerRecord(_scale_and_center(_normalized_axes_parameter)),
    "GroupNormalization": LayerRecord(_scale_and_center(_group_norm_parameter)),
    "Normalization": LayerRecord(_normalization),
    "RMSNormalization": LayerRecord(
        _own(WeightSpec("scale", _normalized_axes_parameter, _fixed("ones")))),
    "PReLU": LayerRecord(_own(WeightSpec("alpha", _prelu_alpha, ALPHA))),
    "Attention": LayerRecord(_attention(additive=False)),
    "AdditiveAttention": LayerRecord(_attention(additive=True)),
    "MultiHeadAttention": LayerRecord(
        _projections("", multi_head_attention_dims, _MULTI_HEAD_SHAPES)),
    "GroupQueryAttention": LayerRecord(
        _projections("_", _group_query_dims, _GROUP_QUERY_SHAPES)),
    "STFTSpectrogram": LayerRecord(_stft_spectrogram),
    "LSTM": LayerRecord(_no_weights, _own_cell("LSTMCell", "lstm_cell")),
    "GRU": LayerRecord(_no_weights, _own_cell("GRUCell", "gru_cell")),
    "SimpleRNN": LayerRecord(_no_weights, _own_cell("SimpleRNNCell", "simple_rnn_cell")),
    "RNN": LayerRecord(_no_weights, _rnn_cell),
    **{f"ConvLSTM{r}D": LayerRecord(_conv_lstm(r)) for r in (1, 2, 3)},
    "Bidirectional": LayerRecord(_no_weights, _bidirectional),
    "TimeDistributed": LayerRecord(_no_weights, _time_distributed),
    "SpectralNormalization": LayerRecord(lambda cfg: [_SPECTRAL_VECTOR_U], _wrapped_layer,
                                         first_part_weight_alias="vars/0"),
    **{name: LayerRecord(_no_weights, _model_layers(name)) for name in MODEL_CLASSES},
    **APPLICATION_RECORDS,
}
# Cells, known only as the cell(s) of an RNN layer.
CELL_RECORDS: dict[str, LayerRecord] = {
    "LSTMCell": LayerRecord(_cell(4, forget_gate=True), reads_trainable=False),
    "GRUCell": LayerRecord(_cell(3, reset_after=True), reads_trainable=False),
    "SimpleRNNCell": LayerRecord(_cell(1), reads_trainable=False),
    "StackedRNNCells": LayerRecord(_no_weights, _stacked_cells, reads_trainable=False),
}


def record_of(class_name: str, cell: bool = False) -> LayerRecord | None:
    return (CELL_RECORDS if cell else RECORDS).get(class_name)


# ------------------------------------------------------------------------------ reading them

def parts_of(class_name: str, cfg: dict[str, Any], cell: bool = False) -> list[Part]:
    record = record_of(class_name, cell)
    return [] if record is None else record.parts(cfg)


def trainable_first_order(flags: list[list[bool]]) -> list[tuple[int, int]]:
    """How a layer made of parts lists its weights, given each part's trainable flags:
    (part, index in part) pairs, trainable ones first, each group in part order."""
    pairs = [(part, i, trainable) for part, part_flags in enumerate(flags)
             for i, trainable in enumerate(part_flags)]
    return [(p, i) for p, i, t in pairs if t] + [(p, i) for p, i, t in pairs if not t]


def placed_weights(class_name: str, cfg: dict[str, Any], keras_order: bool = True,
                   cell: bool = False) -> list[PlacedWeight] | None:
    """Every weight of one layer, its parts' included, in Keras order (`keras_order=False`:
    in the order the layer creates them, which TF checkpoints keep); None when the class, or
    the class of one of its parts, has no record."""
    record = record_of(class_name, cell)
    if record is None:
        return None
    members: list[list[PlacedWeight]] = []
    created = 0
    for part in record.parts(cfg):
        inner = placed_weights(part.class_name, part.config, keras_order, part.cell)
        if inner is None:
            return None
        members.append([PlacedWeight(part.name_prefix + w.name, w.trainable,
                                     f"{part.path}/{w.keras3_path}", w.spec, w.owner_config,
                                     created + w.creation_index) for w in inner])
        created += len(inner)
    members.append([PlacedWeight(spec.name, spec.trainable, spec.keras3_path or f"vars/{i}",
                                 spec, cfg, created + i)
                    for i, spec in enumerate(record.weights(cfg))])
    if record.first_part_weight_alias:
        if not members[0]:
            return None
        first = members[0][0]
        members[0][0] = first._replace(
            keras3_path=f"{first.keras3_path}|{record.first_part_weight_alias}")
    weights = [w for member in members for w in member]
    flags_in_creation_order = [w.trainable for w in weights]
    # Keras lists trainable weights first; most layers create them first already.
    if keras_order and flags_in_creation_order != sorted(flags_in_creation_order, reverse=True):
        flags = [[w.trainable for w in member] for member in members]
        weights = [members[m][i] for m, i in trainable_first_order(flags)]
    if record.reads_trainable and cfg.get("trainable", True) is False:
        weights = [w._replace(trainable=False) for w in weights]
    return weights


def slot_flags(class_name: str, cfg: dict[str, Any], cell: bool = False) -> list[bool] | None:
    """Trainable flags of one layer's weights in Keras order (None: no record)."""
    weights = placed_weights(class_name, cfg, cell=cell)
    return None if weights is None else [w.trainable for w in weights]


def compose(class_name: str, cfg: dict[str, Any], part_values: list[list[T] | None],
            own_values: list[T] | None, cell: bool = False, parts: list[Part] | None = None
            ) -> list[T] | None:
    """One value per weight of a layer (its weight shapes...) in its Keras order, from its
    parts' values (each in the part's Keras order; `parts`: the record's parts when the
    caller has listed them already) and its own (in creation order); None when a part's or
    the layer's own are unknown or do not fit its record."""
    record = record_of(class_name, cell)
    if record is None:
        return None
    if parts is None:
        parts = record.parts(cfg)
    flags = [slot_flags(p.class_name, p.config, p.cell) for p in parts]
    flags.append([spec.trainable for spec in record.weights(cfg)])
    members = [*part_values, own_values]
    if len(members) != len(flags):
        return None
    known: list[tuple[list[bool], list[T]]] = []
    for member_flags, values in zip(flags, members, strict=True):
        if member_flags is None or values is None or len(member_flags) != len(values):
            return None
        known.append((member_flags, values))
    return [known[m][1][i] for m, i in trainable_first_order([f for f, _ in known])]


def own_weight_shapes(class_name: str, cfg: dict[str, Any], call: Call,
                      part_shapes: list[list[Shape] | None] | None = None, cell: bool = False
                      ) -> list[Shape] | None:
    """The shapes of the weights a layer creates itself, in creation order, when built by this
    call (and after its parts, whose weight shapes some of its own are sized by); None when
    the class has no record or the rank of one of them cannot be known."""
    record = record_of(class_name, cell)
    if record is None:
        return None
    shapes = []
    for spec in record.weights(cfg):
        if spec.shape_of_parts is not None:
            parts = [p for p in part_shapes or [] if p is not None]
            unknown_part = len(parts) != len(part_shapes or [])
            shape = None if unknown_part else spec.shape_of_parts(parts)
        else:
            shape = None if spec.shape is None else spec.shape(cfg, call)
        if shape is None:
            return None
        shapes.append(shape)
    return shapes
