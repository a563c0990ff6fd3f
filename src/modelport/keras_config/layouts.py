"""Per-layer-class weight layouts: for each built-in layer, the Keras 2 / TF.js names of its
weights in Keras order (trainable first), derived from the layer's config alone."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

MODEL_CLASSES = frozenset({"Functional", "Model", "Sequential"})

# One weight of a layer: its Keras 2 / TF.js name relative to the layer ('kernel',
# 'lstm_cell/kernel'), trainable by kind, and its Keras 3 path relative to the layer
# ('vars/0', 'cell/vars/1'): the key it has in a `.keras` / `.weights.h5` file. A tensor
# Keras 3 tracks twice has both paths, joined by '|'.
Slot = tuple[str, bool, str]
Layout = list[tuple[str, bool]]


def _own(*names: str, trainable: bool = True, start: int = 0, owner: str = "") -> list[Slot]:
    prefix = f"{owner}/" if owner else ""
    return [(name, trainable, f"{prefix}vars/{start + i}") for i, name in enumerate(names)]


def _with_bias(cfg: dict[str, Any], *names: str, owner: str = "") -> list[Slot]:
    return _own(*names, *(["bias"] if cfg.get("use_bias", True) else []), owner=owner)


def _kernel_bias(cfg: dict[str, Any]) -> list[Slot]:
    return _with_bias(cfg, "kernel")


def _depthwise(cfg: dict[str, Any]) -> list[Slot]:
    return _with_bias(cfg, "depthwise_kernel")


def _separable(cfg: dict[str, Any]) -> list[Slot]:
    return _with_bias(cfg, "depthwise_kernel", "pointwise_kernel")


def _normalization(cfg: dict[str, Any]) -> list[Slot]:
    names = (["gamma"] if cfg.get("scale", True) else []) + (
        ["beta"] if cfg.get("center", True) else [])
    return _own(*names)


def _batch_norm(cfg: dict[str, Any]) -> list[Slot]:
    trainable = _normalization(cfg)
    return trainable + _own("moving_mean", "moving_variance", trainable=False,
                            start=len(trainable))


def _rnn(cell: str) -> Callable[[dict[str, Any]], list[Slot]]:
    def layout(cfg: dict[str, Any]) -> list[Slot]:
        slots = _with_bias(cfg, "kernel", "recurrent_kernel", owner="cell")
        return [(f"{cell}/{name}", trainable, path) for name, trainable, path in slots]

    return layout


def _conv_rnn(cfg: dict[str, Any]) -> list[Slot]:
    return _with_bias(cfg, "kernel", "recurrent_kernel", owner="cell")


def _einsum_dense(cfg: dict[str, Any]) -> list[Slot]:
    return _own("kernel", *(["bias"] if cfg.get("bias_axes") else []))


def _attention_projections(prefix: str) -> Callable[[dict[str, Any]], list[Slot]]:
    """MultiHeadAttention-style layers: four Dense-like projections, kept by Keras 3 under
    `query_dense`... (GroupQueryAttention: `_query_dense`...)."""
    def layout(cfg: dict[str, Any]) -> list[Slot]:
        slots: list[Slot] = []
        for part, owner in (("query", "query_dense"), ("key", "key_dense"),
                            ("value", "value_dense"), ("attention_output", "output_dense")):
            slots += [(f"{part}/{name}", trainable, path) for name, trainable, path
                      in _with_bias(cfg, "kernel", owner=prefix + owner)]
        return slots

    return layout


def _attention(cfg: dict[str, Any]) -> list[Slot]:
    names = (["scale"] if cfg.get("use_scale", False) else []) + (
        ["concat_score_weight"] if cfg.get("score_mode") == "concat" else [])
    return _own(*names)


def _reversible_embedding(cfg: dict[str, Any]) -> list[Slot]:
    return _own("embeddings", *([] if cfg.get("tie_weights", True) else ["reverse_embeddings"]))


def _cell(cfg_entry: dict[str, Any]) -> list[Slot] | None:
    """The weights of an RNN cell, named under the cell's own name."""
    class_name = cfg_entry.get("class_name", "")
    cfg = cfg_entry.get("config", {})
    name = cfg.get("name", "")
    if class_name in ("LSTMCell", "GRUCell", "SimpleRNNCell"):
        return [(f"{name}/{n}", t, p) for n, t, p in _with_bias(cfg, "kernel",
                                                                  "recurrent_kernel")]
    if class_name == "StackedRNNCells":
        slots: list[Slot] = []
        used: dict[str, int] = {}
        for cell in cfg.get("cells", []):
            key = keras3_snake_case(cell.get("class_name", ""))
            used[key] = used.get(key, -1) + 1
            path = f"cells/{key}" + (f"_{used[key]}" if used[key] else "")
            cell_slots = _cell(cell)
            if cell_slots is None:
                return None
            slots += _under(f"{name}/", cell_slots, path)
        return slots
    return None


def _generic_rnn(cfg: dict[str, Any]) -> list[Slot] | None:
    cell = _cell(cfg.get("cell") or {})
    return None if cell is None else _under("", cell, "cell")


def _spectral_normalization(cfg: dict[str, Any]) -> list[Slot] | None:
    inner = cfg.get("layer") or {}
    inner_slots = relative_slots(inner.get("class_name", ""), inner.get("config", {}))
    if not inner_slots:
        return None
    inner_name = inner.get("config", {}).get("name", "")
    # Keras 3 also tracks the wrapped kernel as the wrapper's own vars/0 (the same tensor).
    kernel, *rest = _under(f"{inner_name}/", inner_slots, "layer")
    return [(kernel[0], kernel[1], f"{kernel[2]}|vars/0"), *rest,
            ("vector_u", False, "vars/1")]


SIMPLE_LAYOUTS: dict[str, Callable[[dict[str, Any]], list[Slot]]] = {
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
    "Embedding": lambda cfg: _own("embeddings"),
    "PReLU": lambda cfg: _own("alpha"),
    "LSTM": _rnn("lstm_cell"),
    "GRU": _rnn("gru_cell"),
    "SimpleRNN": _rnn("simple_rnn_cell"),
    "ConvLSTM1D": _conv_rnn,
    "ConvLSTM2D": _conv_rnn,
    "ConvLSTM3D": _conv_rnn,
    "EinsumDense": _einsum_dense,
    "MultiHeadAttention": _attention_projections(""),
    "GroupQueryAttention": _attention_projections("_"),
    "Attention": _attention,
    "AdditiveAttention": _attention,
    "LocallyConnected1D": _kernel_bias,
    "LocallyConnected2D": _kernel_bias,
    "RMSNormalization": lambda cfg: _own("scale"),
    "ReversibleEmbedding": _reversible_embedding,
    "STFTSpectrogram": lambda cfg: _own(
        *(["real_kernel"] if cfg.get("mode", "log") != "imag" else []),
        *(["imag_kernel"] if cfg.get("mode", "log") != "real" else []),
        trainable=bool(cfg.get("trainable", False))),
}
# Layouts that can be unknown (None) when a wrapped or contained layer is.
NESTED_LAYOUTS: dict[str, Callable[[dict[str, Any]], list[Slot] | None]] = {
    "RNN": _generic_rnn,
    "SpectralNormalization": _spectral_normalization,
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
        "Resizing", "CenterCrop", "Identity",
    }
)


def layer_name(entry: dict[str, Any]) -> str:
    return str(entry.get("name") or entry.get("config", {}).get("name"))


# Keras 3 classes exported (and serialised) under another name than their own.
_CLASS_NAMES = {"GroupQueryAttention": "GroupedQueryAttention"}


def keras3_snake_case(class_name: str) -> str:
    """The name Keras 3 gives an object of this class in a weights file (Conv2D -> conv2d,
    PReLU -> p_re_lu)."""
    name = re.sub(r"\W+", "", _CLASS_NAMES.get(class_name, class_name))
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _with_trainability(slots: list[Slot], cfg: dict[str, Any]) -> list[Slot]:
    if cfg.get("trainable", True) is False:
        return [(name, False, path) for name, _, path in slots]
    return slots


def _trainable_first(slots: list[Slot]) -> list[Slot]:
    return [s for s in slots if s[1]] + [s for s in slots if not s[1]]


def _under(prefix: str, slots: list[Slot], path: str) -> list[Slot]:
    return [(f"{prefix}{name}", trainable, f"{path}/{p}") for name, trainable, p in slots]


def container_paths(class_name: str, cfg: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """A model's layers as Keras 3 walks them when saving, each with its path
    ('layers/dense', 'layers/dense_1'): named by class, counted per container, in
    `model.layers` order (a Functional's includes its InputLayers, a Sequential's does not)."""
    from modelport.keras_config.graph import keras_layer_order

    layers = cfg.get("layers", [])
    if class_name == "Sequential":
        order = [e for e in layers if e.get("class_name") != "InputLayer"]
    else:
        by_name = {layer_name(e): e for e in layers}
        order = [by_name[n] for n in keras_layer_order(cfg) if n in by_name]
    used: dict[str, int] = {}
    paths = []
    for entry in order:
        key = keras3_snake_case(entry.get("class_name", ""))
        used[key] = used.get(key, -1) + 1
        paths.append((entry, f"layers/{key}" + (f"_{used[key]}" if used[key] else "")))
    return paths


def _model_slots(class_name: str, cfg: dict[str, Any], keras_order: bool
                 ) -> list[Slot] | None:
    slots: list[Slot] = []
    for sub, path in container_paths(class_name, cfg):
        sub_slots = relative_slots(sub.get("class_name", ""), sub.get("config", {}),
                                   keras_order)
        if sub_slots is None:
            return None
        prefix = "" if sub.get("class_name") in MODEL_CLASSES else f"{layer_name(sub)}/"
        slots += _under(prefix, sub_slots, path)
    return _trainable_first(slots) if keras_order else slots


def relative_slots(class_name: str, cfg: dict[str, Any], keras_order: bool = True
                   ) -> list[Slot] | None:
    """Weights of one layer in Keras order (`keras_order=False`: in the order the layer
    creates them, which TF checkpoints keep), with names relative to the layer and Keras 3
    paths relative to the layer's own path; None when the class is not known."""
    def ordered(slots: list[Slot]) -> list[Slot]:
        return _trainable_first(slots) if keras_order else slots

    if class_name in WEIGHTLESS:
        return []
    if class_name in SIMPLE_LAYOUTS:
        return _with_trainability(SIMPLE_LAYOUTS[class_name](cfg), cfg)
    if class_name in NESTED_LAYOUTS:
        slots = NESTED_LAYOUTS[class_name](cfg)
        return None if slots is None else _with_trainability(ordered(slots), cfg)
    if class_name == "TimeDistributed":
        inner = cfg.get("layer") or {}
        slots = relative_slots(inner.get("class_name", ""), inner.get("config", {}),
                               keras_order)
        return None if slots is None else _with_trainability(_under("", slots, "layer"), cfg)
    if class_name == "Bidirectional":
        inner = cfg.get("layer") or {}
        backward = cfg.get("backward_layer") or inner
        inner_name = inner.get("config", {}).get("name", "")
        forward_slots = relative_slots(inner.get("class_name", ""), inner.get("config", {}),
                                       keras_order)
        backward_slots = relative_slots(backward.get("class_name", ""),
                                        backward.get("config", {}), keras_order)
        if forward_slots is None or backward_slots is None:
            return None
        backward_name = (
            backward.get("config", {}).get("name", "")
            if cfg.get("backward_layer")
            else f"backward_{inner_name}"
        )
        slots = _under(f"forward_{inner_name}/", forward_slots, "forward_layer")
        slots += _under(f"{backward_name}/", backward_slots, "backward_layer")
        return _with_trainability(ordered(slots), cfg)
    if class_name in MODEL_CLASSES:
        slots = _model_slots(class_name, cfg, keras_order)
        return None if slots is None else _with_trainability(slots, cfg)
    return None


def relative_layout(class_name: str, cfg: dict[str, Any]) -> Layout | None:
    """Weights of one layer with names relative to the layer ('kernel',
    'forward_lstm/lstm_cell/kernel'), in Keras order; None when the class is not known."""
    slots = relative_slots(class_name, cfg)
    return None if slots is None else [(name, trainable) for name, trainable, _ in slots]


def layer_slots(entry: dict[str, Any], keras_order: bool = True) -> list[Slot] | None:
    """Full Keras 2 / TF.js weight names of a layer entry (as a Keras 2 `.h5` layer group and a
    TF.js manifest have them; a nested model's weights carry its sub-layers' names), with
    Keras 3 paths relative to the layer."""
    class_name = entry.get("class_name", "")
    slots = relative_slots(class_name, entry.get("config", {}), keras_order)
    if slots is None or class_name in MODEL_CLASSES:
        return slots
    name = layer_name(entry)
    return [(f"{name}/{short}", trainable, path) for short, trainable, path in slots]


def layer_layout(entry: dict[str, Any]) -> Layout | None:
    """`layer_slots` without the Keras 3 paths."""
    slots = layer_slots(entry)
    return None if slots is None else [(name, trainable) for name, trainable, _ in slots]


def tfjs_lookup_name(name: str) -> str:
    """The name TF.js falls back to when a manifest name has no exact match: it drops the
    second-to-last part ('lstm/lstm_cell/kernel' -> 'lstm/kernel')."""
    parts = name.split("/")
    if len(parts) < 3:
        return name
    return "/".join(parts[:-2] + parts[-1:])
