"""Checks keras_config.shapes and keras_config.initializers against real tf_keras and Keras 3.

For every catalog and zoo model, and the harder models defined here, the weight shapes inferred
from the model's config agree with the weights the library builds, the output shapes agree with
what the model computes, the classes listed as covered are inferred completely, and fresh values
from ``initial_weights`` follow the layers' initializers (exact where Keras is deterministic,
the same distribution as the real initializer where it is random).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from modelport.errors import UnsupportedError
from modelport.keras_config.dialects import to_canonical
from modelport.keras_config.entries import layer_name
from modelport.keras_config.initializers import initial_weights, make_initializer
from modelport.keras_config.layouts import layer_layout
from modelport.keras_config.shapes import expected_weight_shapes, output_shapes

import catalog
import harness
import zoo

# ---------------------------------------------------------------------------------------------
# harder models: options the one-layer catalog models leave at their defaults


def _flat(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        out += _flat(item) if isinstance(item, list | tuple) else [item]
    return out


def _conv2d_variants(keras):
    L = keras.layers
    x = keras.Input((17, 14, 3))
    h = L.Conv2D(4, 3, strides=2, padding="same")(x)
    h = L.Conv2D(6, (2, 3), dilation_rate=2)(h)
    h = L.Conv2D(4, 3, padding="same", groups=2)(h)
    h = L.Conv2DTranspose(3, 3, strides=2, padding="same")(h)
    h = L.Conv2DTranspose(2, (3, 2), strides=(2, 1), output_padding=(1, 0))(h)
    h = L.DepthwiseConv2D(3, strides=2, depth_multiplier=3, padding="same", use_bias=False)(h)
    h = L.SeparableConv2D(4, 2, dilation_rate=2, depth_multiplier=2)(h)
    h = L.MaxPooling2D(pool_size=3, strides=1, padding="same")(h)
    h = L.AveragePooling2D((2, 1))(h)
    h = L.Cropping2D(((1, 0), (0, 1)))(h)
    h = L.ZeroPadding2D((2, 1))(h)
    h = L.UpSampling2D((1, 2))(h)
    h = L.MaxPooling2D(3, strides=2, padding="valid")(h)
    h = L.GlobalAveragePooling2D(keepdims=True)(h)
    return keras.Model(x, L.Dense(2)(L.Flatten()(h)))


def _conv1d_3d_variants(keras):
    L = keras.layers
    a = keras.Input((20, 3))
    h = L.Conv1D(4, 3, padding="causal", dilation_rate=2)(a)
    h = L.Conv1DTranspose(3, 4, strides=3, padding="valid")(h)
    h = L.DepthwiseConv1D(3, strides=2, depth_multiplier=2)(h)
    h = L.SeparableConv1D(5, 3, strides=2, padding="same")(h)
    h = L.MaxPooling1D(3, strides=2, padding="same")(h)
    h = L.Cropping1D((2, 1))(h)
    h = L.ZeroPadding1D((0, 3))(h)
    h = L.UpSampling1D(3)(h)
    h = L.AveragePooling1D(2, padding="same")(h)
    out1 = L.Dense(2)(L.GlobalMaxPooling1D()(h))
    b = keras.Input((9, 8, 7, 2))
    g = L.Conv3D(3, (3, 2, 2), strides=(2, 1, 2), padding="same")(b)
    g = L.Conv3DTranspose(2, 2, strides=2, output_padding=1)(g)
    g = L.MaxPooling3D((2, 3, 2))(g)
    g = L.Cropping3D(((1, 0), (1, 1), (0, 2)))(g)
    g = L.ZeroPadding3D((1, 0, 2))(g)
    g = L.UpSampling3D((2, 1, 1))(g)
    g = L.AveragePooling3D(2, strides=1)(g)
    out2 = L.Dense(3)(L.GlobalAveragePooling3D()(g))
    return keras.Model([a, b], [out1, out2])


def _channels_first(keras):
    L = keras.layers
    cf = "channels_first"
    x = keras.Input((3, 12, 10))
    h = L.Conv2D(4, 3, strides=(2, 1), data_format=cf)(x)
    h = L.DepthwiseConv2D(2, depth_multiplier=2, data_format=cf)(h)
    h = L.SeparableConv2D(5, 2, padding="same", data_format=cf)(h)
    h = L.Conv2DTranspose(3, 3, strides=2, data_format=cf)(h)
    h = L.MaxPooling2D(2, data_format=cf)(h)
    h = L.Cropping2D((1, 2), data_format=cf)(h)
    h = L.ZeroPadding2D(((0, 1), (2, 0)), data_format=cf)(h)
    h = L.UpSampling2D(2, data_format=cf)(h)
    h = L.BatchNormalization(axis=1)(h)
    h = L.PReLU(shared_axes=[2, 3])(h)
    pooled = L.GlobalMaxPooling2D(data_format=cf, keepdims=True)(h)
    flat = L.Flatten(data_format=cf)(h)
    s = keras.Input((2, 9))
    s2 = L.AveragePooling1D(2, data_format=cf)(L.Conv1D(3, 2, data_format=cf)(s))
    v = keras.Input((2, 4, 5, 6))
    v2 = L.UpSampling3D(2, data_format=cf)(L.Conv3D(3, 2, data_format=cf)(v))
    v2 = L.GlobalAveragePooling3D(data_format=cf)(v2)
    return keras.Model([x, s, v], [L.Dense(2)(flat), pooled, L.Dense(2)(L.Flatten()(s2)), v2])


def _recurrent_variants(keras):
    L = keras.layers
    x = keras.Input((6, 3))
    seq, h, c = L.LSTM(4, return_sequences=True, return_state=True)(x)
    g, gh = L.GRU(3, reset_after=False, return_state=True)(seq)
    s = L.SimpleRNN(2, use_bias=False, return_sequences=True, go_backwards=True)(seq)
    bi = L.Bidirectional(L.LSTM(2, return_state=True), merge_mode=None)(s)
    ave = L.Bidirectional(
        L.GRU(3, return_sequences=True),
        backward_layer=L.GRU(3, return_sequences=True, go_backwards=True),
        merge_mode="ave",
    )(x)
    mul = L.Bidirectional(L.SimpleRNN(2, return_sequences=True), merge_mode="mul")(ave)
    stacked, *states = L.RNN(
        [L.GRUCell(3), L.LSTMCell(2, use_bias=False), L.SimpleRNNCell(4)], return_state=True
    )(mul)
    # Layers returning several tensors: the outputs reach them by tensor index.
    return keras.Model(x, _flat([seq, h, c, g, gh, s, bi, ave, mul, stacked, states]))


def _conv_recurrent(keras):
    L = keras.layers
    x = keras.Input((3, 9, 8, 2))
    h = L.ConvLSTM2D(3, 3, strides=2, padding="same", return_sequences=True)(x)
    h, hh, hc = L.ConvLSTM2D(2, 3, return_state=True)(h)
    y = keras.Input((4, 7, 2))
    a, ah, ac = L.ConvLSTM1D(2, 3, return_state=True, return_sequences=True)(y)
    t = keras.Input((2, 5, 4, 4, 1))
    b = L.ConvLSTM3D(2, 2, padding="same")(t)
    td = L.TimeDistributed(L.Flatten())(L.TimeDistributed(L.Conv2D(3, 2, strides=2))(x))
    return keras.Model([x, y, t], [h, hh, hc, a, ah, ac, b, td])


def _time_distributed_variants(keras):
    L = keras.layers
    x = keras.Input((4, 5, 3))
    h = L.TimeDistributed(L.LSTM(2, return_sequences=True))(x)
    h = L.TimeDistributed(L.Dense(3))(h)
    h = L.TimeDistributed(L.BatchNormalization())(h)
    inner = keras.Sequential([keras.Input((5, 3)), L.Flatten(), L.Dense(2)])
    return keras.Model(x, [h, L.TimeDistributed(inner)(h)])


def _attention_variants(keras):
    L = keras.layers
    q = keras.Input((3, 4))
    v = keras.Input((5, 6))
    k = keras.Input((5, 2))
    mha = L.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=5, output_shape=(2, 3))
    out, scores = mha(q, v, key=k, return_attention_scores=True)
    plain = L.MultiHeadAttention(num_heads=2, key_dim=3, use_bias=False)(q, v)
    q4 = keras.Input((2, 3, 4))
    v4 = keras.Input((2, 5, 4))
    high = L.MultiHeadAttention(num_heads=2, key_dim=2, attention_axes=(2,))(q4, v4)
    dot, dot_scores = L.Attention(use_scale=True, score_mode="concat")(
        [q, L.Dense(4)(v)], return_attention_scores=True
    )
    additive = L.AdditiveAttention(use_scale=True)([q, L.Dense(4)(v), L.Dense(4)(k)])
    return keras.Model([q, v, k, q4, v4], [out, scores, plain, high, dot, dot_scores, additive])


def _merge_variants(keras):
    L = keras.layers
    a = keras.Input((3, 4))
    b = keras.Input((1, 4))
    c = keras.Input((5, 3))
    added = L.Add()([a, b, a])
    sub = L.Subtract()([a, b])
    mul = L.Multiply()([a, added])
    avg = L.Average()([a, b])
    mx = L.Maximum()([sub, mul])
    mn = L.Minimum()([avg, mx])
    cat = L.Concatenate(axis=1)([mn, a, b])
    dot = L.Dot(axes=(1, 2))([a, c])
    cos = L.Dot(axes=-1, normalize=True)([L.Flatten()(a), L.Flatten()(mx)])
    return keras.Model([a, b, c], [cat, dot, cos])


def _reshape_variants(keras):
    L = keras.layers
    x = keras.Input((4, 6))
    h = L.Reshape((-1, 2))(x)
    h = L.Permute((2, 1))(h)
    h = L.Reshape((2, -1, 3))(h)
    h = L.Permute((3, 1, 2))(h)
    repeated = L.RepeatVector(3)(L.Flatten()(h))
    e = keras.Input((3, 2), dtype="int32")
    return keras.Model([x, e], [repeated, L.Dense(2)(L.Embedding(7, 4)(e))])


def _normalization_variants(keras):
    L = keras.layers
    x = keras.Input((3, 4))
    h = L.BatchNormalization(axis=1)(x)
    h = L.BatchNormalization(center=False, scale=False)(h)
    h = L.LayerNormalization(axis=[1, 2])(h)
    h = L.LayerNormalization(axis=1, scale=False)(h)
    h = L.GroupNormalization(groups=3, axis=1, center=False)(h)
    h = L.UnitNormalization(axis=[1, 2])(h)
    h = L.PReLU(shared_axes=[1])(h)
    i = keras.Input((5, 6, 2))
    g = L.PReLU()(L.BatchNormalization(momentum=0.5)(i))
    return keras.Model([x, i], [h, g])


def _dense_variants(keras):
    L = keras.layers
    x = keras.Input((3, 4))
    d = L.Dense(5, use_bias=False)(x)
    d4 = L.Dense(2)(L.Reshape((3, 2, 2))(x))
    e1 = L.EinsumDense("abc,cd->abd", output_shape=(None, 5), bias_axes="d")(x)
    e2 = L.EinsumDense("...b,bc->...c", output_shape=6, bias_axes="c")(x)
    e3 = L.EinsumDense("abc,cde->abde", output_shape=(None, 2, 3), bias_axes="de")(x)
    e4 = L.EinsumDense("abc,bd->adc", output_shape=(7, 4))(x)
    e5 = L.EinsumDense("ab...,bc->ac...", output_shape=(2,), bias_axes="c")(
        L.Permute((2, 1))(x)
    )
    return keras.Model(x, [d, d4, e1, e2, e3, e4, e5])


def _shared_and_nested(keras):
    """Nested models called several times (one with two outputs), a shared layer called on
    inputs of different lengths, frozen layers inside and outside a nested model."""
    L = keras.layers
    inner_in = keras.Input((4,))
    inner_h = L.Dense(3, name="inner_dense")(inner_in)
    inner_bn = L.BatchNormalization(name="inner_bn")(inner_h)
    frozen = L.Dense(2, name="inner_frozen")
    frozen.trainable = False
    inner = keras.Model(inner_in, [inner_bn, frozen(inner_h)], name="inner")
    seq = keras.Sequential([L.Dense(5), L.BatchNormalization(), L.Dense(4)], name="seq")
    x = keras.Input((4,))
    y = keras.Input((6, 4))
    first, second = inner(x)
    again, _ = inner(L.Dense(4)(first))
    shared_conv = L.Conv1D(3, 2)
    c1 = shared_conv(y)
    c2 = shared_conv(L.Dense(4)(L.Cropping1D((0, 2))(y)))
    chained = seq(seq(x))
    frozen_top = L.Dense(3, name="frozen_top")
    frozen_top.trainable = False
    top = frozen_top(L.Concatenate()([first, second, again, chained]))
    return keras.Model([x, y], [top, c1, c2])


def _nested_sequential_without_input(keras):
    L = keras.layers
    x = keras.Input((5,))
    return keras.Model(x, keras.Sequential([L.Dense(3), L.Dense(2)], name="late")(x))


def _image_preprocessing(keras):
    L = keras.layers
    x = keras.Input((8, 6, 3))
    h = L.RandomFlip()(L.Rescaling(0.5)(L.CenterCrop(3, 2)(L.Resizing(5, 4)(x))))
    return keras.Model(x, L.Conv2D(2, 2)(h))


def _sequential_stack(keras):
    L = keras.layers
    return keras.Sequential([
        keras.Input((7, 3)),
        L.Conv1D(4, 2),
        L.LSTM(3, return_sequences=True),
        L.Bidirectional(L.GRU(2)),
        L.Dense(2),
    ])


def _tf_keras_only(keras):
    L = keras.layers
    x = keras.Input((8, 3))
    lc1 = L.LocallyConnected1D(2, 3, strides=2, implementation=2)(x)
    lc1b = L.LocallyConnected1D(3, 2, implementation=1, use_bias=False)(x)
    i = keras.Input((3, 6, 5))
    lc2 = L.LocallyConnected2D(2, (2, 3), data_format="channels_first", implementation=2)(i)
    lc2b = L.LocallyConnected2D(2, 2, strides=(2, 1), implementation=1)(i)
    t = keras.Input((5, 2))
    time_major = L.LSTM(3, time_major=True, return_sequences=True)(t)
    multi_axis_bn = L.BatchNormalization(axis=[1, 2])(i)
    return keras.Model([x, i, t], [lc1, lc1b, lc2, lc2b, time_major, multi_axis_bn])


def _keras3_only(keras):
    L = keras.layers
    x = keras.Input((6, 5, 4))
    spectral = L.SpectralNormalization(L.Conv2D(3, 2))(x)
    rms = L.RMSNormalization(axis=[2, 3])(x)
    adaptive = L.AdaptiveAveragePooling2D((2, 3), data_format="channels_first")(x)
    q = keras.Input((3, 4))
    v = keras.Input((5, 4))
    gqa = L.GroupQueryAttention(3, 4, 2, use_bias=False)(q, v)
    return keras.Model([x, q, v], [spectral, rms, adaptive, gqa])


HARD: dict[str, tuple[Callable[[Any], Any], tuple[str, ...]]] = {
    "conv2d_variants": (_conv2d_variants, catalog.LIBRARIES),
    "conv1d_3d_variants": (_conv1d_3d_variants, catalog.LIBRARIES),
    "channels_first": (_channels_first, catalog.LIBRARIES),
    "recurrent_variants": (_recurrent_variants, catalog.LIBRARIES),
    "conv_recurrent": (_conv_recurrent, catalog.LIBRARIES),
    "time_distributed_variants": (_time_distributed_variants, catalog.LIBRARIES),
    "attention_variants": (_attention_variants, catalog.LIBRARIES),
    "merge_variants": (_merge_variants, catalog.LIBRARIES),
    "reshape_variants": (_reshape_variants, catalog.LIBRARIES),
    "normalization_variants": (_normalization_variants, catalog.LIBRARIES),
    "dense_variants": (_dense_variants, catalog.LIBRARIES),
    "shared_and_nested": (_shared_and_nested, catalog.LIBRARIES),
    "nested_sequential_without_input": (_nested_sequential_without_input, catalog.LIBRARIES),
    "image_preprocessing": (_image_preprocessing, catalog.LIBRARIES),
    "sequential_stack": (_sequential_stack, catalog.LIBRARIES),
    "tf_keras_only": (_tf_keras_only, ("tf_keras",)),
    "keras3_only": (_keras3_only, ("keras3",)),
}

# ---------------------------------------------------------------------------------------------
# what the inference must cover

# Catalog classes whose catalog model must be inferred completely: every weight dimension and
# every output dimension but the batch.
COMPLETE = frozenset({
    "InputLayer", "Dense", "EinsumDense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose",
    "Conv2DTranspose", "Conv3DTranspose", "DepthwiseConv1D", "DepthwiseConv2D",
    "SeparableConv1D", "SeparableConv2D", "LocallyConnected1D", "LocallyConnected2D",
    *(f"{kind}{d}D" for kind in ("MaxPooling", "AveragePooling", "GlobalMaxPooling",
                                 "GlobalAveragePooling", "AdaptiveMaxPooling",
                                 "AdaptiveAveragePooling", "Cropping", "ZeroPadding",
                                 "UpSampling", "SpatialDropout") for d in (1, 2, 3)),
    "Flatten", "Reshape", "Permute", "RepeatVector", "Embedding", "ReversibleEmbedding",
    "LSTM", "GRU", "SimpleRNN", "RNN", "LSTMCell", "GRUCell", "SimpleRNNCell",
    "StackedRNNCells", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "Bidirectional",
    "TimeDistributed", "BatchNormalization", "LayerNormalization", "GroupNormalization",
    "UnitNormalization", "RMSNormalization", "SpectralNormalization", "PReLU", "Attention",
    "AdditiveAttention", "MultiHeadAttention", "GroupQueryAttention", "Add", "Subtract",
    "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot", "Activation", "ReLU",
    "LeakyReLU", "ELU", "Softmax", "ThresholdedReLU", "Dropout", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "Masking", "Rescaling", "ActivityRegularization",
    "Identity", "Normalization", "Resizing", "CenterCrop", "RandomFlip", "RandomRotation",
    "RandomTranslation", "RandomZoom", "RandomContrast", "RandomBrightness", "AugMix",
    "CutMix", "MixUp", "RandAugment", "RandomColorDegeneration", "RandomColorJitter",
    "RandomElasticTransform", "RandomErasing", "RandomGaussianBlur", "RandomGrayscale",
    "RandomHue", "RandomInvert", "RandomPerspective", "RandomPosterization",
    "RandomSaturation", "RandomSharpness", "RandomShear", "Solarization", "AutoContrast",
    "ContrastLimitedAdaptiveHistogramEqualization",
})
# Catalog classes whose output shape is left unknown (so are the dims after them), and why.
_PREPROCESSING = "its output shape depends on output_mode / vocabulary settings; not derived"
NOT_INFERRED: dict[str, str] = {
    "Lambda": "runs user code",
    "DenseFeatures": "its output width comes from feature columns, which are TF objects",
    "CategoryEncoding": _PREPROCESSING,
    "Discretization": _PREPROCESSING,
    "HashedCrossing": _PREPROCESSING,
    "Hashing": _PREPROCESSING,
    "IntegerLookup": _PREPROCESSING,
    "StringLookup": _PREPROCESSING,
    "TextVectorization": _PREPROCESSING,
    "RandomHeight": "its output height is random",
    "RandomWidth": "its output width is random",
    "RandomCrop": "at inference Keras 3.15.1 returns the input unchanged although its symbolic "
    "shape says (height, width) (tf_keras crops): no single answer",
    "MelSpectrogram": "framing and mel-bin output not derived",
    "STFTSpectrogram": "framing output not derived (its weight shapes are)",
    "MaxNumBoundingBoxes": "a bounding-box utility layer; not derived",
    "Pipeline": "a list of layers kept inside one config; not derived",
}
# (library, class) whose catalog config has no canonical (Keras 2) form, with the reason.
NOT_CANONICAL: dict[tuple[str, str], str] = {}
# Layers for which initial_weights gives no values, and why.
NO_FRESH_VALUES = {
    "STFTSpectrogram": "its kernels are windowed DFT matrices (keras.initializers.STFT), not "
    "a random initializer",
}

_BUILT = sorted(
    (library, name)
    for library in catalog.LIBRARIES
    for name in catalog.canonical_classes(library)
    if catalog.unbuildable(library, name) is None
)
MODELS = (
    [(library, "catalog", name) for library, name in _BUILT]
    + [(library, "zoo", name) for library in catalog.LIBRARIES for name in zoo.ZOO]
    + [(library, "hard", name) for name, (_, libs) in HARD.items() for library in libs]
)
_IDS = [f"{library}-{source}-{name}" for library, source, name in MODELS]


class _Built:
    """One model of the catalog, the zoo or HARD, with its canonical config (or the reason it
    has none) and the shapes it computes."""

    def __init__(self, library: str, source: str, name: str) -> None:
        self.library, self.source, self.name = library, source, name
        self.keras = harness.keras_module(library)
        if source == "catalog":
            self.model, self.inputs = catalog.build(library, name, self.keras)
        else:
            self.model = zoo.build(name, self.keras) if source == "zoo" else (
                HARD[name][0](self.keras))
            self.inputs = zoo.make_inputs(self.model)
        self.canonical: dict[str, Any] | None = None
        self.not_canonical: str | None = None
        try:
            self.canonical = to_canonical(json.loads(self.model.to_json()))
        except UnsupportedError as exc:
            self.not_canonical = str(exc)

    def real_weight_shapes(self, name: str) -> list[tuple[int, ...]]:
        """A top-level layer's weight shapes in Keras order (trainable first, as legacy .h5
        files and the layouts list them; a Sequential's InputLayer is no layer: none)."""
        names = {layer.name for layer in self.model.layers}
        if name not in names:
            return []
        layer = self.model.get_layer(name)
        return [tuple(int(d) for d in w.shape)
                for w in layer.trainable_weights + layer.non_trainable_weights]

    def real_output_shapes(self) -> list[tuple[int | None, ...]]:
        """The shapes the model computes, without the batch axis. Where it cannot run (NCHW
        convolutions on a CPU in tf_keras), the library's symbolic shapes."""
        try:
            outputs = harness.predict(self.model, self.inputs)
            return [tuple(int(d) for d in y.shape[1:]) for y in outputs]
        except Exception:  # noqa: BLE001 -- any runtime refusal: fall back to symbolic shapes
            return [tuple(None if d is None else int(d) for d in t.shape[1:])
                    for t in self.model.outputs]


class _Cache:
    def __init__(self) -> None:
        self._built: dict[tuple[str, str, str], _Built] = {}

    def get(self, library: str, source: str, name: str) -> _Built:
        key = (library, source, name)
        if key not in self._built:
            self._built[key] = _Built(*key)
        return self._built[key]


@pytest.fixture(scope="session")
def built_models() -> _Cache:
    return _Cache()


def _without_hints(config: dict[str, Any]) -> dict[str, Any]:
    """The config less what tf_keras records of built shapes (build_config, MultiHeadAttention
    query_shape...), so only the graph inference is left to find the shapes."""
    hints = ("build_config", "build_input_shape", "query_shape", "key_shape", "value_shape")

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in hints}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(config)


def _without_input_shapes(config: dict[str, Any]) -> dict[str, Any]:
    """The config with every declared input shape unknown (rank kept)."""
    def blank(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [None] * len(v) if k == "batch_input_shape" and isinstance(v, list)
                    else blank(v) for k, v in value.items()}
        if isinstance(value, list):
            return [blank(v) for v in value]
        return value

    return blank(config)


def _agrees(inferred: tuple[int | None, ...] | None, real: tuple[int | None, ...]) -> bool:
    """Same rank and every dimension known on both sides equal."""
    return inferred is not None and len(inferred) == len(real) and all(
        a is None or b is None or a == b for a, b in zip(inferred, real, strict=True)
    )


def _assert_weights_agree(built: _Built, config: dict[str, Any], what: str) -> bool:
    """Compare every layer with a known layout; True when every shape is fully known."""
    shapes = expected_weight_shapes(config)
    complete = True
    for entry in config["config"]["layers"]:
        name = layer_name(entry)
        layout = layer_layout(entry)
        assert name in shapes, f"{what}: no entry for layer {name}"
        if layout is None:
            assert shapes[name] is None, f"{what}: {name} has no layout but shapes"
            continue
        inferred = shapes[name]
        real = built.real_weight_shapes(name)
        assert inferred is not None, f"{what}: {name} ({entry['class_name']}) not inferred"
        assert len(real) == len(layout) == len(inferred), (what, name, layout, real, inferred)
        for (weight, _), guess, truth in zip(layout, inferred, real, strict=True):
            assert _agrees(guess, truth), f"{what}: {weight}: inferred {guess}, Keras {truth}"
            complete &= None not in guess
    return complete


def _assert_outputs_agree(built: _Built, config: dict[str, Any], what: str) -> bool:
    inferred = output_shapes(config)
    real = built.real_output_shapes()
    assert len(inferred) == len(real), f"{what}: {len(inferred)} outputs, Keras {len(real)}"
    complete = True
    for i, (guess, truth) in enumerate(zip(inferred, real, strict=True)):
        if guess is None:
            complete = False
            continue
        assert _agrees(guess[1:], truth), f"{what}: output {i}: inferred {guess}, Keras {truth}"
        complete &= None not in guess[1:]
    return complete


def _must_be_complete(source: str, name: str) -> bool | None:
    """True: every shape must be known; False: some must not be (the lists stay exact)."""
    if source != "catalog":
        return True
    if name in COMPLETE:
        return True
    return False if name in NOT_INFERRED else None


# ---------------------------------------------------------------------------------------------
# shapes


def test_every_built_catalog_class_is_covered_or_has_a_reason():
    built = {name for _, name in _BUILT}
    assert not COMPLETE & set(NOT_INFERRED), COMPLETE & set(NOT_INFERRED)
    assert built == COMPLETE | set(NOT_INFERRED), (
        f"neither covered nor explained: {sorted(built - COMPLETE - set(NOT_INFERRED))}; "
        f"not built: {sorted((COMPLETE | set(NOT_INFERRED)) - built)}"
    )
    for library, name in NOT_CANONICAL:
        assert (library, name) in _BUILT, (library, name)


@pytest.mark.parametrize(("library", "source", "name"), MODELS, ids=_IDS)
def test_shapes_agree_with_keras(built_models, library, source, name):
    built = built_models.get(library, source, name)
    if built.canonical is None:
        assert (library, name) in NOT_CANONICAL, built.not_canonical
        return
    assert (library, name) not in NOT_CANONICAL, "now canonical: drop its NOT_CANONICAL entry"
    what = f"{library} {source} {name}"
    # The graph alone, then with what tf_keras records of built shapes: both must be right.
    graph_only = _without_hints(built.canonical)
    complete = _assert_weights_agree(built, graph_only, what)
    complete &= _assert_outputs_agree(built, graph_only, what)
    _assert_weights_agree(built, built.canonical, f"{what} (with build hints)")
    _assert_outputs_agree(built, built.canonical, f"{what} (with build hints)")
    expected = _must_be_complete(source, name)
    if expected is True:
        assert complete, f"{what}: some weight or output dimension is not inferred"
    elif expected is False:
        assert not complete, f"{what}: now inferred completely: move it to COMPLETE"


TF_KERAS_MODELS = [m for m in MODELS if m[0] == "tf_keras"]


@pytest.mark.parametrize(("library", "source", "name"), TF_KERAS_MODELS,
                         ids=[f"{a}-{b}-{c}" for a, b, c in TF_KERAS_MODELS])
def test_tf_keras_build_hints_alone_give_weight_shapes(built_models, library, source, name):
    """With no declared input shape at all, tf_keras's build_config (and MultiHeadAttention's
    query_shape...) still give every weight shape."""
    built = built_models.get(library, source, name)
    assert built.canonical is not None
    blind = _without_input_shapes(built.canonical)
    assert _assert_weights_agree(built, blind, f"{library} {source} {name} (hints only)")


def _dense(name: str, units: int, inbound: list[Any] | None = None) -> dict[str, Any]:
    entry = {"class_name": "Dense", "name": name,
             "config": {"name": name, "units": units, "use_bias": True}}
    if inbound is not None:
        entry["inbound_nodes"] = inbound
    return entry


def _input(name: str, shape: list[int | None]) -> dict[str, Any]:
    return {"class_name": "InputLayer", "name": name, "inbound_nodes": [],
            "config": {"name": name, "batch_input_shape": shape, "dtype": "float32"}}


def test_unknown_layer_leaves_downstream_dims_unknown():
    config = {"class_name": "Functional", "config": {
        "name": "m",
        "layers": [
            _input("x", [None, 4]),
            {"class_name": "MyCustomLayer", "name": "custom", "config": {"name": "custom"},
             "inbound_nodes": [[["x", 0, 0, {}]]]},
            _dense("after", 3, [[["custom", 0, 0, {}]]]),
            _dense("beside", 2, [[["x", 0, 0, {}]]]),
        ],
        "input_layers": [["x", 0, 0]],
        "output_layers": [["after", 0, 0], ["beside", 0, 0]],
    }}
    shapes = expected_weight_shapes(config)
    assert shapes["custom"] is None  # no layout
    assert shapes["after"] == [(None, 3), (3,)]
    assert shapes["beside"] == [(4, 2), (2,)]
    assert shapes["x"] == []
    assert output_shapes(config) == [None, (None, 2)]


def test_sequential_first_layer_declares_the_input():
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {"name": "a", "units": 5,
                                           "batch_input_shape": [None, 3]}},
        {"class_name": "Dropout", "config": {"name": "d", "rate": 0.5}},
        {"class_name": "Dense", "config": {"name": "b", "units": 2, "use_bias": False}},
    ]}}
    assert expected_weight_shapes(config) == {"a": [(3, 5), (5,)], "d": [], "b": [(5, 2)]}
    assert output_shapes(config) == [(None, 2)]


def test_deep_model_does_not_recurse():
    depth = 5000
    layers = [_input("x", [None, 4])]
    previous = "x"
    for i in range(depth):
        layers.append({"class_name": "Activation", "name": f"a{i}",
                       "config": {"name": f"a{i}", "activation": "relu"},
                       "inbound_nodes": [[[previous, 0, 0, {}]]]})
        previous = f"a{i}"
    layers.append(_dense("head", 2, [[[previous, 0, 0, {}]]]))
    config = {"class_name": "Functional", "config": {
        "name": "deep", "layers": layers, "input_layers": [["x", 0, 0]],
        "output_layers": [["head", 0, 0]]}}
    assert expected_weight_shapes(config)["head"] == [(4, 2), (2,)]


# ---------------------------------------------------------------------------------------------
# initializers

_ATTRIBUTE_OF = {
    "kernel": "kernel_initializer", "bias": "bias_initializer",
    "recurrent_kernel": "recurrent_initializer", "depthwise_kernel": "depthwise_initializer",
    "pointwise_kernel": "pointwise_initializer", "embeddings": "embeddings_initializer",
    "reverse_embeddings": "embeddings_initializer", "gamma": "gamma_initializer",
    "beta": "beta_initializer", "moving_mean": "moving_mean_initializer",
    "moving_variance": "moving_variance_initializer", "alpha": "alpha_initializer",
}
# Weights whose initializer the layer creates in code (not an attribute).
_FIXED_INITIALIZERS: dict[tuple[str, str], Callable[[Any], Any]] = {
    ("AdditiveAttention", "scale"): lambda keras: keras.initializers.GlorotUniform(),
    ("SpectralNormalization", "vector_u"):
        lambda keras: keras.initializers.TruncatedNormal(stddev=0.02),
}
_SAMPLES = 2000  # per side, enough for the std within 10% at more than 4 sigmas


def _keras_initializer(keras: Any, layer: Any, weight: Any, short: str) -> Any:
    """The real initializer Keras used for `weight`: its owning (innermost) layer's."""
    owners = [sub for sub in layer._flatten_layers(include_self=True, recursive=True)
              if any(v is weight for v in sub.weights)]
    owner = owners[-1]
    fixed = _FIXED_INITIALIZERS.get((type(owner).__name__, short))
    if fixed is not None:
        return fixed(keras)
    attribute = _ATTRIBUTE_OF.get(short)
    assert attribute is not None and hasattr(owner, attribute), (type(owner), short)
    return getattr(owner, attribute)


def _fresh(initializer: Any) -> Any:
    # An unseeded Keras initializer object repeats its values when called again.
    return type(initializer).from_config(initializer.get_config())


def _samples(draw: Callable[[], np.ndarray], size: int) -> np.ndarray:
    calls = max(1, math.ceil(_SAMPLES / max(size, 1)))
    return np.concatenate([np.asarray(draw(), dtype=np.float64).ravel() for _ in range(calls)])


def _is_orthogonal(value: np.ndarray, gain: float) -> bool:
    matrix = value.reshape(-1, value.shape[-1]) / gain
    rows, cols = matrix.shape
    product = matrix.T @ matrix if rows >= cols else matrix @ matrix.T
    return np.allclose(product, np.eye(min(rows, cols)), atol=1e-4)


def _assert_same_distribution(ours: np.ndarray, theirs: np.ndarray, what: str,
                              bounded_or_not: bool = True) -> None:
    """Same spread and centre, and (unless told not to check) both bounded at the same bound
    (uniform, truncated normal) or both not (normal)."""
    std_ours, std_theirs = ours.std(), theirs.std()
    assert std_theirs > 0, what
    assert abs(std_ours / std_theirs - 1) < 0.10, f"{what}: std {std_ours} vs Keras {std_theirs}"
    assert abs(ours.mean() - theirs.mean()) < 0.15 * std_theirs, (
        f"{what}: mean {ours.mean()} vs Keras {theirs.mean()}")
    if not bounded_or_not:
        return
    # Half the range: many draws come close to a bound on both sides.
    reach_ours = (ours.max() - ours.min()) / 2
    reach_theirs = (theirs.max() - theirs.min()) / 2
    # Uniform: 1.73 std; normal truncated at 2 sigma: 2.27 std; 2000 normal draws: over 3.
    bounded = reach_theirs / std_theirs < 2.6
    assert (reach_ours / std_ours < 2.6) == bounded, (
        f"{what}: reach {reach_ours / std_ours} std vs Keras {reach_theirs / std_theirs}")
    if bounded:
        assert abs(reach_ours / reach_theirs - 1) < 0.03, (
            f"{what}: bound {reach_ours} vs Keras {reach_theirs}")


class _DistributionCheck:
    """Compares our sampler with a Keras initializer on one shape (cached per session: the
    same initializer and shape recur in many models)."""

    def __init__(self) -> None:
        self._done: set[tuple[str, str, tuple[int, ...]]] = set()

    def check(self, keras: Any, initializer: Any, spec: Any, shape: tuple[int, ...],
              what: str) -> None:
        key = (keras.__name__, json.dumps(spec, sort_keys=True, default=str), shape)
        if key in self._done:
            return
        sampler = make_initializer(spec)
        assert sampler is not None, f"{what}: {spec} not understood"
        rng = np.random.default_rng(7)
        size = math.prod(shape)
        ours = _samples(lambda: sampler(shape, rng), size)
        theirs = _samples(lambda: np.asarray(_fresh(initializer)(shape)), size)
        name = type(initializer).__name__
        orthogonal = name in ("Orthogonal", "OrthogonalInitializer")
        if orthogonal:
            # Entries of a small orthogonal matrix are bounded by the gain, a bound few
            # draws reach: check the matrix itself instead.
            gain = float(initializer.get_config().get("gain", 1.0))
            assert _is_orthogonal(sampler(shape, rng), gain), f"{what}: not orthogonal"
        _assert_same_distribution(ours, theirs, f"{what} {name}{shape}",
                                  bounded_or_not=not orthogonal)
        self._done.add(key)


@pytest.fixture(scope="session")
def distribution_check() -> _DistributionCheck:
    for library in catalog.LIBRARIES:
        harness.keras_module(library).utils.set_random_seed(1234)  # a reproducible judge
    return _DistributionCheck()


def _serialized(keras: Any, initializer: Any) -> Any:
    return keras.initializers.serialize(initializer)


@pytest.mark.parametrize(("library", "source", "name"), MODELS, ids=_IDS)
def test_initial_weights_follow_keras(built_models, distribution_check, library, source, name):
    built = built_models.get(library, source, name)
    if built.canonical is None:
        return
    keras = built.keras
    entries = {layer_name(e): e for e in built.canonical["config"]["layers"]}
    checked = [(layer, entries[layer.name]) for layer in built.model.layers
               if layer.name in entries and layer_layout(entries[layer.name])]
    if not checked:
        return
    # Two fresh copies: a weight Keras initializes the same in both is deterministic.
    first, second = (keras.models.clone_model(built.model) for _ in range(2))
    for layer, entry in checked:
        layout = layer_layout(entry)
        assert layout is not None
        what = f"{library} {source} {name} {layer.name}"
        shapes = built.real_weight_shapes(layer.name)
        values = initial_weights(entry, shapes, np.random.default_rng(0))
        if entry["class_name"] in NO_FRESH_VALUES:
            assert values is None, f"{what}: now initialized: drop its NO_FRESH_VALUES entry"
            continue
        assert values is not None, f"{what} ({entry['class_name']}): no fresh values"
        again = initial_weights(entry, shapes, np.random.default_rng(1))
        assert again is not None
        copies = [copy_model.get_layer(layer.name) for copy_model in (first, second)]
        weights_a, weights_b = ([w for w in c.trainable_weights + c.non_trainable_weights]
                                for c in copies)
        for i, ((weight_name, _), shape) in enumerate(zip(layout, shapes, strict=True)):
            value = values[i]
            assert value.shape == shape and value.dtype == np.float32, (what, weight_name)
            a, b = np.asarray(weights_a[i]), np.asarray(weights_b[i])
            if np.array_equal(a, b):
                np.testing.assert_array_equal(value, a, err_msg=f"{what} {weight_name}")
                continue
            assert not np.array_equal(value, again[i]), f"{what} {weight_name}: not random"
            short = weight_name.rsplit("/", 1)[-1]
            initializer = _keras_initializer(keras, copies[0], weights_a[i], short)
            spec = _serialized(keras, initializer)
            distribution_check.check(keras, initializer, spec, shape, f"{what} {weight_name}")


_INITIALIZER_SPECS: list[Any] = [
    "zeros", "ones", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
    "lecun_uniform", "lecun_normal", "orthogonal", "uniform", "normal", "random_uniform",
    "random_normal", "truncated_normal", "identity",
    {"class_name": "Constant", "config": {"value": 0.3}},
    {"class_name": "RandomUniform", "config": {"minval": -1.0, "maxval": 2.0}},
    {"class_name": "RandomNormal", "config": {"mean": 1.0, "stddev": 0.3}},
    {"class_name": "TruncatedNormal", "config": {"mean": -1.0, "stddev": 2.0}},
    {"class_name": "Orthogonal", "config": {"gain": 2.0}},
    {"class_name": "Identity", "config": {"gain": 0.5}},
    *({"class_name": "VarianceScaling",
       "config": {"scale": 2.5, "mode": mode, "distribution": distribution}}
      for mode in ("fan_in", "fan_out", "fan_avg")
      for distribution in ("truncated_normal", "untruncated_normal", "uniform")),
]
_SHAPES = [(200,), (40, 60), (60, 40), (3, 3, 8, 16), (2, 5, 6)]
_SPEC_CASES = [(library, spec, shape) for library in catalog.LIBRARIES
               for spec in _INITIALIZER_SPECS for shape in _SHAPES]


@pytest.mark.parametrize(("library", "spec", "shape"), _SPEC_CASES,
                         ids=[f"{a}-{json.dumps(b)}-{c}" for a, b, c in _SPEC_CASES])
def test_initializer_matches_keras(distribution_check, library, spec, shape):
    keras = harness.keras_module(library)
    initializer = keras.initializers.get(copy.deepcopy(spec))
    sampler = make_initializer(spec)
    assert sampler is not None
    try:
        reference = np.asarray(initializer(shape))
    except (ValueError, TypeError):  # identity of a non-matrix, orthogonal of a vector
        with pytest.raises(ValueError):
            sampler(shape, np.random.default_rng(0))
        return
    # (Not from copies: Keras 3.15's Identity.get_config() drops its gain.)
    if np.array_equal(np.asarray(_fresh(initializer)(shape)),
                      np.asarray(_fresh(initializer)(shape))):
        # initial_weights gives float32, as Keras does.
        ours = sampler(shape, np.random.default_rng(0)).astype(np.float32)
        np.testing.assert_array_equal(ours, reference)
        return
    distribution_check.check(keras, initializer, spec, shape, f"{library} {spec}")


def test_tfjs_and_keras3_spellings_are_read():
    keras = harness.keras_module("keras3")
    # TF.js writes glorot_normal as VarianceScaling with camelCase values and 'normal'.
    tfjs = make_initializer({"class_name": "VarianceScaling",
                             "config": {"scale": 1, "mode": "fanAvg", "distribution": "normal"}})
    keras3 = make_initializer({"module": "keras.initializers", "class_name": "GlorotNormal",
                               "config": {"seed": None}, "registered_name": None})
    assert tfjs is not None and keras3 is not None
    rng = np.random.default_rng(0)
    reference = _samples(lambda: np.asarray(_fresh(keras.initializers.GlorotNormal())((30, 50))),
                         1500)
    for sampler in (tfjs, keras3):
        _assert_same_distribution(_samples(lambda s=sampler: s((30, 50), rng), 1500),
                                  reference, "glorot_normal spelling")
    # Keras >= 3.15 may record the fan axes (EinsumDense does): they decide the fans.
    axes = make_initializer({"class_name": "GlorotUniform",
                             "config": {"input_axes": [0], "output_axes": [1, 2]}})
    assert axes is not None
    limit = math.sqrt(6.0 / (4 + 3 * 5))
    sample = axes((4, 3, 5), rng)
    assert np.abs(sample).max() <= limit and np.abs(sample).max() > 0.8 * limit


def test_unknown_initializers_and_layers_give_none():
    rng = np.random.default_rng(0)
    assert make_initializer("no_such_initializer") is None
    assert make_initializer({"class_name": "MyInit", "config": {}, "module": "my_pkg",
                             "registered_name": "my_pkg>MyInit"}) is None
    assert make_initializer(42) is None
    dense = {"class_name": "Dense", "config": {"name": "d", "units": 2,
                                               "kernel_initializer": "no_such_initializer"}}
    assert initial_weights(dense, [(3, 2), (2,)], rng) is None
    assert initial_weights({"class_name": "MyLayer", "config": {}}, [(2,)], rng) is None
    dense["config"]["kernel_initializer"] = "ones"
    assert initial_weights(dense, [(3, 2)], rng) is None  # one shape for two weights


def test_lstm_forget_gate_bias_is_one_whatever_the_bias_initializer():
    rng = np.random.default_rng(0)
    random_bias = {"class_name": "RandomNormal", "config": {"mean": 5.0, "stddev": 1.0}}
    lstm = {"class_name": "LSTM", "config": {"name": "l", "units": 50, "use_bias": True,
                                             "unit_forget_bias": True,
                                             "bias_initializer": random_bias}}
    values = initial_weights(lstm, [(3, 200), (50, 200), (200,)], rng)
    assert values is not None
    bias = values[2]
    np.testing.assert_array_equal(bias[50:100], np.ones(50, dtype=np.float32))
    assert abs(bias[:50].mean() - 5.0) < 0.5 and abs(bias[100:].mean() - 5.0) < 0.5
    lstm["config"]["unit_forget_bias"] = False
    values = initial_weights(lstm, [(3, 200), (50, 200), (200,)], rng)
    assert values is not None and abs(values[2][50:100].mean() - 5.0) < 0.5
