"""Per-layer-class weight layouts: for each built-in layer, the Keras 2 / TF.js names of its
weights in Keras order (trainable first), derived from the layer's config alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MODEL_CLASSES = frozenset({"Functional", "Model", "Sequential"})

# (short name, trainable by kind). Short names are those tf_keras gives the variables.
Layout = list[tuple[str, bool]]


def _kernel_bias(cfg: dict[str, Any]) -> Layout:
    return [("kernel", True)] + ([("bias", True)] if cfg.get("use_bias", True) else [])


def _depthwise(cfg: dict[str, Any]) -> Layout:
    return [("depthwise_kernel", True)] + ([("bias", True)] if cfg.get("use_bias", True) else [])


def _separable(cfg: dict[str, Any]) -> Layout:
    layout = [("depthwise_kernel", True), ("pointwise_kernel", True)]
    return layout + ([("bias", True)] if cfg.get("use_bias", True) else [])


def _normalization(cfg: dict[str, Any]) -> Layout:
    layout = [("gamma", True)] if cfg.get("scale", True) else []
    return layout + ([("beta", True)] if cfg.get("center", True) else [])


def _batch_norm(cfg: dict[str, Any]) -> Layout:
    return _normalization(cfg) + [("moving_mean", False), ("moving_variance", False)]


def _rnn(cell: str) -> Callable[[dict[str, Any]], Layout]:
    def layout(cfg: dict[str, Any]) -> Layout:
        names = [f"{cell}/kernel", f"{cell}/recurrent_kernel"]
        if cfg.get("use_bias", True):
            names.append(f"{cell}/bias")
        return [(n, True) for n in names]

    return layout


def _conv_rnn(cfg: dict[str, Any]) -> Layout:
    return [("kernel", True), ("recurrent_kernel", True)] + (
        [("bias", True)] if cfg.get("use_bias", True) else []
    )


def _einsum_dense(cfg: dict[str, Any]) -> Layout:
    return [("kernel", True)] + ([("bias", True)] if cfg.get("bias_axes") else [])


def _multi_head_attention(cfg: dict[str, Any]) -> Layout:
    layout: Layout = []
    for part in ("query", "key", "value", "attention_output"):
        layout.append((f"{part}/kernel", True))
        if cfg.get("use_bias", True):
            layout.append((f"{part}/bias", True))
    return layout


SIMPLE_LAYOUTS: dict[str, Callable[[dict[str, Any]], Layout]] = {
    "Dense": _kernel_bias,
    "Conv1D": _kernel_bias,
    "Conv2D": _kernel_bias,
    "Conv3D": _kernel_bias,
    "Conv1DTranspose": _kernel_bias,
    "Conv2DTranspose": _kernel_bias,
    "Conv3DTranspose": _kernel_bias,
    "DepthwiseConv1D": _depthwise,
    "DepthwiseConv2D": _depthwise,
    "SeparableConv1D": _separable,
    "SeparableConv2D": _separable,
    "BatchNormalization": _batch_norm,
    "LayerNormalization": _normalization,
    "GroupNormalization": _normalization,
    "Embedding": lambda cfg: [("embeddings", True)],
    "PReLU": lambda cfg: [("alpha", True)],
    "LSTM": _rnn("lstm_cell"),
    "GRU": _rnn("gru_cell"),
    "SimpleRNN": _rnn("simple_rnn_cell"),
    "ConvLSTM1D": _conv_rnn,
    "ConvLSTM2D": _conv_rnn,
    "ConvLSTM3D": _conv_rnn,
    "EinsumDense": _einsum_dense,
    "MultiHeadAttention": _multi_head_attention,
}

WEIGHTLESS = frozenset(
    {
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
        "Resizing", "CenterCrop", "Attention", "AdditiveAttention", "Identity",
    }
)


def layer_name(entry: dict[str, Any]) -> str:
    return str(entry.get("name") or entry.get("config", {}).get("name"))


def _with_trainability(layout: Layout, cfg: dict[str, Any]) -> Layout:
    if cfg.get("trainable", True) is False:
        return [(name, False) for name, _ in layout]
    return layout


def _trainable_first(layout: Layout) -> Layout:
    return [w for w in layout if w[1]] + [w for w in layout if not w[1]]


def relative_layout(class_name: str, cfg: dict[str, Any]) -> Layout | None:
    """Weights of one layer with names relative to the layer ('kernel',
    'forward_lstm/lstm_cell/kernel'), in Keras order; None when the class is not known."""
    if class_name in WEIGHTLESS:
        return []
    if class_name in SIMPLE_LAYOUTS:
        return _with_trainability(SIMPLE_LAYOUTS[class_name](cfg), cfg)
    if class_name == "TimeDistributed":
        inner = cfg.get("layer") or {}
        layout = relative_layout(inner.get("class_name", ""), inner.get("config", {}))
        return None if layout is None else _with_trainability(layout, cfg)
    if class_name == "Bidirectional":
        inner = cfg.get("layer") or {}
        backward = cfg.get("backward_layer") or inner
        inner_name = inner.get("config", {}).get("name", "")
        forward_layout = relative_layout(inner.get("class_name", ""), inner.get("config", {}))
        backward_layout = relative_layout(
            backward.get("class_name", ""), backward.get("config", {})
        )
        if forward_layout is None or backward_layout is None:
            return None
        backward_name = (
            backward.get("config", {}).get("name", "")
            if cfg.get("backward_layer")
            else f"backward_{inner_name}"
        )
        layout = [(f"forward_{inner_name}/{n}", t) for n, t in forward_layout]
        layout += [(f"{backward_name}/{n}", t) for n, t in backward_layout]
        return _with_trainability(_trainable_first(layout), cfg)
    if class_name in MODEL_CLASSES:
        layout = []
        for sub in cfg.get("layers", []):
            sub_layout = layer_layout(sub)
            if sub_layout is None:
                return None
            layout += sub_layout
        return _with_trainability(_trainable_first(layout), cfg)
    return None


def layer_layout(entry: dict[str, Any]) -> Layout | None:
    """Full Keras 2 / TF.js weight names of a layer entry, as stored in a Keras 2 `.h5`
    layer group and a TF.js manifest. A nested model's weights carry its sub-layers' names."""
    class_name = entry.get("class_name", "")
    cfg = entry.get("config", {})
    layout = relative_layout(class_name, cfg)
    if layout is None or class_name in MODEL_CLASSES:
        return layout
    name = layer_name(entry)
    return [(f"{name}/{short}", trainable) for short, trainable in layout]


def tfjs_lookup_name(name: str) -> str:
    """The name TF.js falls back to when a manifest name has no exact match: it drops the
    second-to-last part ('lstm/lstm_cell/kernel' -> 'lstm/kernel')."""
    parts = name.split("/")
    if len(parts) < 3:
        return name
    return "/".join(parts[:-2] + parts[-1:])
