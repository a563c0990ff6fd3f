"""A zoo of tiny Keras models with deterministic weights.

Every builder is ``build(keras)`` where ``keras`` is either the ``tf_keras`` module (Keras 2)
or the ``keras`` 3 module; the same code builds the same architecture in both. Weights are
assigned from a numpy RNG after building (BatchNormalization moving statistics included, so
they matter in inference), so a model's outputs depend only on the zoo name and the library.

A case that TF.js cannot run carries ``tfjs_skip`` (a reason string); tests skip only the
TF.js leg for it. ``TFJS_SKIP`` collects them.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator

import numpy as np

BATCH = 3

ZOO: dict[str, Callable] = {}
TFJS_SKIP: dict[str, str] = {}


def zoo_model(name: str | None = None, *, tfjs_skip: str | None = None):
    def register(fn):
        key = name or fn.__name__
        fn.zoo_name = key
        fn.tfjs_skip = tfjs_skip
        ZOO[key] = fn
        if tfjs_skip:
            TFJS_SKIP[key] = tfjs_skip
        return fn

    return register


# ---------------------------------------------------------------------------------------------
# helpers


def is_keras3(keras) -> bool:
    return int(keras.__version__.split(".")[0]) >= 3


def _weight_path(w) -> str:
    # Keras 3 variables: .path = "layer/name"; tf_keras: .name = "layer/name:0".
    return getattr(w, "path", None) or w.name


def seed_weights(model, seed: int) -> None:
    """Overwrite every weight of ``model`` with values from a fixed numpy RNG."""
    rng = np.random.default_rng(seed)
    values = []
    for w in model.weights:
        shape = tuple(int(d) for d in w.shape)
        name = _weight_path(w)
        if "moving_variance" in name:
            v = rng.uniform(0.5, 1.5, shape)
        elif "moving_mean" in name:
            v = rng.uniform(-0.3, 0.3, shape)
        elif "gamma" in name:
            v = rng.uniform(0.75, 1.25, shape)
        else:
            v = rng.uniform(-0.6, 0.6, shape)  # large enough that outputs vary
        values.append(v.astype(np.float32))
    model.set_weights(values)


def iter_layers(model) -> Iterator:
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from iter_layers(layer)


def _dtype_name(dt) -> str:
    return getattr(dt, "name", None) or str(dt)


def make_inputs(model, seed: int = 0) -> list[np.ndarray]:
    """Fixed inputs for ``model`` in model-input order, batch 3.

    float inputs: float32 uniform in [-1, 1]; integer inputs: int32 in [0, vocab) where vocab
    is the smallest ``input_dim`` of the model's Embedding layers.
    """
    rng = np.random.default_rng(seed)
    vocabs = [layer.input_dim for layer in iter_layers(model) if hasattr(layer, "input_dim")]
    out = []
    for t in model.inputs:
        shape = (BATCH,) + tuple(int(d) for d in tuple(t.shape)[1:])
        if "int" in _dtype_name(t.dtype):
            vocab = min(vocabs) if vocabs else 10
            out.append(rng.integers(0, vocab, size=shape).astype(np.int32))
        else:
            out.append(rng.uniform(-1.0, 1.0, size=shape).astype(np.float32))
    return out


def build(name: str, keras):
    """Build zoo model ``name`` with ``keras`` and seed its weights."""
    model = ZOO[name](keras)
    seed_weights(model, zlib.crc32(name.encode()))
    return model


def _leaky_relu(keras, slope):
    # tf_keras: alpha; Keras 3: negative_slope (alpha is only a deprecated alias there).
    if is_keras3(keras):
        return keras.layers.LeakyReLU(negative_slope=slope)
    return keras.layers.LeakyReLU(alpha=slope)


# ---------------------------------------------------------------------------------------------
# the zoo


@zoo_model()
def mlp(keras):
    """Dense MLP, compiled with Adam and trained one step (optimizer weights + training_config
    in the .h5); weights are re-seeded afterwards by build()."""
    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input(shape=(6,)),
            L.Dense(8, activation="relu"),
            L.Dense(5, activation="tanh"),
            L.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(123)
    x = rng.uniform(-1, 1, (4, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    return model


@zoo_model()
def cnn(keras):
    """Conv2D + BatchNormalization + MaxPooling2D + AveragePooling2D + Dropout, compiled (SGD)."""
    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 2)),
            L.Conv2D(4, 3, padding="same"),
            L.BatchNormalization(),
            L.Activation("relu"),
            L.MaxPooling2D(2),
            L.Conv2D(3, 2, strides=1, padding="valid", activation="relu"),
            L.BatchNormalization(epsilon=0.01),
            L.AveragePooling2D(pool_size=(1, 2)),
            L.Dropout(0.3),
            L.Flatten(),
            L.Dense(3),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    return model


@zoo_model()
def depthwise_separable(keras):
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(6, 6, 3)),
            L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu"),
            L.SeparableConv2D(4, 3, padding="valid"),
            L.GlobalMaxPooling2D(),
            L.Dense(2),
        ]
    )


@zoo_model()
def conv1d(keras):
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(10, 3)),
            L.Conv1D(4, 3, activation="relu"),
            L.Conv1D(4, 3, strides=2, padding="same", dilation_rate=1),
            L.MaxPooling1D(2),
            L.GlobalAveragePooling1D(),
            L.Dense(2),
        ]
    )


@zoo_model(
    tfjs_skip="TF.js Conv1D: 'The support for CAUSAL padding mode in conv1dWithBias is not "
    "implemented yet.'"
)
def conv1d_causal(keras):
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(8, 2)),
            L.Conv1D(3, 3, padding="causal", activation="relu"),
            L.GlobalAveragePooling1D(),
            L.Dense(2),
        ]
    )


@zoo_model()
def multi_io_shared(keras):
    """Two inputs, two outputs, one Dense layer called twice; Add, Multiply, Concatenate."""
    L = keras.layers
    a = keras.Input(shape=(5,))
    b = keras.Input(shape=(5,))
    shared = L.Dense(4, activation="tanh")
    ha = shared(a)
    hb = shared(b)
    added = L.Add()([ha, hb])
    mult = L.Multiply()([ha, hb])
    cat = L.Concatenate()([added, mult, a])
    out1 = L.Dense(3, activation="softmax")(cat)
    out2 = L.Dense(1)(mult)
    return keras.Model(inputs=[a, b], outputs=[out1, out2])


@zoo_model()
def embedding_lstm(keras):
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(6,), dtype="int32"),
            L.Embedding(12, 4),
            L.LSTM(5, return_sequences=True),
            L.LSTM(3),
            L.Dense(2),
        ]
    )


@zoo_model()
def gru(keras):
    """GRU with reset_after=False, the only variant TF.js implements."""
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(5, 3)),
            L.GRU(4, reset_after=False, return_sequences=True),
            L.GRU(3, reset_after=False, go_backwards=True),
            L.Dense(2),
        ]
    )


@zoo_model(tfjs_skip="TF.js GRUCell: 'GRUCell does not support reset_after parameter set to true.'")
def gru_reset_after(keras):
    """GRU with the Keras default reset_after=True (bias of shape (2, 3 * units))."""
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(5, 3)),
            L.GRU(4, reset_after=True),
            L.Dense(2),
        ]
    )


@zoo_model()
def bidirectional_lstm(keras):
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(5, 3)),
            L.Bidirectional(L.LSTM(3, return_sequences=True)),
            L.Bidirectional(L.LSTM(2), merge_mode="sum"),
            L.Dense(2),
        ]
    )


@zoo_model()
def time_distributed(keras):
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(4, 3)),
            L.TimeDistributed(L.Dense(5, activation="relu")),
            L.TimeDistributed(L.Dense(2)),
        ]
    )


@zoo_model()
def nested_sequential(keras):
    """A Sequential called once inside a functional model."""
    L = keras.layers
    inner = keras.Sequential(
        [keras.Input(shape=(4,)), L.Dense(5, activation="relu"), L.Dense(3)], name="inner"
    )
    x = keras.Input(shape=(4,))
    h = inner(x)
    out = L.Dense(2)(h)
    return keras.Model(x, out)


@zoo_model()
def nested_sequential_twice(keras):
    """A Sequential called twice (on the input, then on its own output)."""
    L = keras.layers
    inner = keras.Sequential(
        [keras.Input(shape=(3,)), L.Dense(3, activation="tanh")], name="inner_twice"
    )
    x = keras.Input(shape=(3,))
    h1 = inner(x)
    h2 = inner(h1)
    out = L.Dense(2)(L.Concatenate()([h1, h2]))
    return keras.Model(x, out)


@zoo_model()
def layer_norm(keras):
    L = keras.layers
    x = keras.Input(shape=(4, 6))
    h = L.LayerNormalization()(x)
    h = L.Dense(5)(h)
    h = L.LayerNormalization(epsilon=1e-5)(h)
    h = L.Flatten()(h)
    out = L.Dense(2)(h)
    return keras.Model(x, out)


@zoo_model()
def shape_ops(keras):
    """UpSampling2D, ZeroPadding2D (asymmetric), Reshape, Permute, Flatten."""
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(3, 3, 2)),
            L.UpSampling2D(size=(2, 2)),
            L.ZeroPadding2D(padding=((1, 0), (0, 2))),
            L.Reshape((7 * 8, 2)),
            L.Permute((2, 1)),
            L.Flatten(),
            L.Dense(3),
        ]
    )


@zoo_model()
def activations(keras):
    """ReLU(max_value), LeakyReLU, PReLU, ELU (alpha 1), Softmax layers."""
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(6,)),
            L.Dense(8),
            L.ReLU(max_value=0.5),
            L.Dense(8),
            _leaky_relu(keras, 0.2),
            L.Dense(8),
            L.PReLU(),
            L.Dense(8),
            L.ELU(),
            L.Dense(4),
            L.Softmax(),
        ]
    )


@zoo_model(
    tfjs_skip="TF.js ELU layer: 'Non-default alpha value (...) is not supported by the ELU "
    "layer yet.' (tfjs-layers only implements alpha=1)"
)
def elu_alpha(keras):
    L = keras.layers
    return keras.Sequential([keras.Input(shape=(5,)), L.Dense(4), L.ELU(alpha=0.7), L.Dense(2)])
