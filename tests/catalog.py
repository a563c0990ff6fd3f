"""The layer catalog: one tiny Functional model per layer class that tf_keras.layers or
keras.layers (3.x) exports, with seeded weights and inputs, plus what each library cannot do.

``layer_classes`` lists the classes, ``build`` makes the model for one of them (same code for
both libraries: the module is passed in), ``unbuildable`` says why a class gets no model,
``SELF_ROUNDTRIP_FAILS`` records where a library cannot reload its own file for a class, and
``CROSS_LIBRARY_DIFFERS`` where the same catalog model computes differently in the two libraries.
tests/test_catalog.py keeps all of it true.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import functools  # noqa: E402
import importlib  # noqa: E402
import inspect  # noqa: E402
import re  # noqa: E402
import zlib  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

LIBRARIES = ("tf_keras", "keras3")  # "keras3" means `import keras` (3.x)
_MODULES = {"tf_keras": "tf_keras", "keras3": "keras"}

BATCH = 3

# (library, class name, format) -> "<stage>: <root cause>" when the library cannot reload the
# file it wrote itself for the catalog model of that class with load_model(compile=False).
# Formats: "keras" (x.keras) and "h5" (legacy x.h5). Stage "save" means no file is written,
# "load" that the file exists (a converter may still read it). tests/test_catalog.py checks
# every entry both ways (an entry that starts to round trip fails too), so the dict is exact.
SELF_ROUNDTRIP_FAILS: dict[tuple[str, str, str], str] = {
    # Lambda: the .keras loaders refuse marshalled bytecode unless safe_mode=False (then it
    # round trips); Keras 3 applies that to its legacy .h5 too, tf_keras does not.
    ("tf_keras", "Lambda", "keras"): (
        "load: ValueError: Requested the deserialization of a Lambda layer with a Python "
        "`lambda` inside it. This carries a potential risk of arbitrary code execution and "
        "thus it is disallowed by default. If you trust the source of the saved model, you "
        "can pass `safe_mode=False` to the loading function in order to allow Lambda layer "
        "loading."
    ),
    # The file holds score_mode "dot"; Keras 3's legacy .h5 loader turns the string into the
    # function keras.ops.dot and the constructor rejects that.
    ("keras3", "Attention", "h5"): (
        "load: ValueError: Invalid value for argument score_mode. Expected one of {'dot', "
        "'concat'}. Received: score_mode=<function dot>"
    ),
    ("keras3", "Lambda", "keras"): (
        "load: ValueError: Requested the deserialization of a `Lambda` layer whose "
        "`function` is a Python lambda. This carries a potential risk of arbitrary code "
        "execution and thus it is disallowed by default. If you trust the source of the "
        "artifact, you can override this error by passing `safe_mode=False` to the loading "
        "function, or calling `keras.config.enable_unsafe_deserialization()."
    ),
    ("keras3", "Lambda", "h5"): (
        "load: ValueError: Requested the deserialization of a `Lambda` layer whose "
        "`function` is a Python lambda. This carries a potential risk of arbitrary code "
        "execution and thus it is disallowed by default. If you trust the source of the "
        "artifact, you can override this error by passing `safe_mode=False` to the loading "
        "function, or calling `keras.config.enable_unsafe_deserialization()."
    ),
    # Keras 3 computes the mask with keras.ops nodes (NotEqual, Any) in the Functional graph;
    # .keras records their module, the legacy .h5 config does not, so they cannot be found.
    ("keras3", "Masking", "h5"): (
        "load: ValueError: Unknown layer: 'NotEqual'. Please ensure you are using a "
        "`keras.utils.custom_object_scope` and that this object is included in the scope. "
        "See "
        "https://www.tensorflow.org/guide/keras/save_and_serialize#registering_the_custom_object "
        "for details."
    ),
    # The legacy .h5 writer deep-copies state of these layers that holds a Python module.
    ("keras3", "RandomBrightness", "h5"): "save: TypeError: cannot pickle 'module' object",
    ("keras3", "RandomColorDegeneration", "h5"): "save: TypeError: cannot pickle 'module' object",
    ("keras3", "RandomPosterization", "h5"): "save: TypeError: cannot pickle 'module' object",
    ("keras3", "RandomSaturation", "h5"): "save: TypeError: cannot pickle 'module' object",
    ("keras3", "RandomSharpness", "h5"): "save: TypeError: cannot pickle 'module' object",
    # get_config writes x_factor/y_factor as (-f, f), which the constructor rejects.
    ("keras3", "RandomShear", "keras"): (
        "load: ValueError: The `factor` argument should be a number (or a list of two "
        "numbers) in the range [0, 1.0]. Received: input_number=-0.2"
    ),
    ("keras3", "RandomShear", "h5"): (
        "load: ValueError: The `factor` argument should be a number (or a list of two "
        "numbers) in the range [0, 1.0]. Received: input_number=-0.2"
    ),
    ("keras3", "Solarization", "h5"): "save: TypeError: cannot pickle 'module' object",
}


# Class -> why its catalog model computes something else in tf_keras than in Keras 3 although
# both get the same inputs and weights (checked by tests/test_catalog.py both ways). A
# converter cannot fix these by mapping names; the matrix should expect them.
CROSS_LIBRARY_DIFFERS: dict[str, str] = {
    "ConvLSTM1D": "default recurrent_activation is 'hard_sigmoid' in tf_keras, 'sigmoid' in "
    "Keras 3; and 'hard_sigmoid' itself differs: clip(0.2x + 0.5) vs clip(x / 6 + 0.5)",
    "ConvLSTM2D": "as ConvLSTM1D (tf_keras default recurrent_activation 'hard_sigmoid')",
    "ConvLSTM3D": "as ConvLSTM1D (tf_keras default recurrent_activation 'hard_sigmoid')",
    "RandomCrop": "at inference tf_keras center-crops to (height, width); Keras 3.15.1 returns "
    "the input unchanged (its symbolic output shape still says (height, width))",
}


def one_line_error(exc: BaseException, limit: int = 400) -> str:
    """The root cause of ``exc`` as ``"Type: message"`` on one line, cut at a word boundary
    (with " ...") when longer than ``limit`` characters.

    Keras re-raises a failed deserialization several times, each wrapper repeating the config;
    only the innermost exception says what went wrong. Object addresses are dropped so the
    text is the same in every run."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    text = str(exc)
    marker = "Exception encountered:"
    if marker in text:
        text = text.rsplit(marker, 1)[1]
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    text = f"{type(exc).__name__}: {text}"
    if len(text) > limit:
        text = text[: text.rfind(" ", 0, limit - 4)] + " ..."
    return text


def _module(library: str) -> Any:
    if library not in _MODULES:
        raise ValueError(f"unknown library {library!r}; expected one of {LIBRARIES}")
    return importlib.import_module(_MODULES[library])


def _library_of(keras: Any) -> str:
    return "keras3" if int(keras.__version__.split(".")[0]) >= 3 else "tf_keras"


# ---------------------------------------------------------------------------------------------
# which classes exist


@functools.cache
def layer_classes(library: str) -> dict[str, str]:
    """Every layer class exported by tf_keras.layers / keras.layers (every name whose object is a
    class subclassing that library's Layer), mapped to its canonical name: aliases fold into the
    class they alias (AvgPool2D -> AveragePooling2D, Convolution2D -> Conv2D, ...).

    The canonical name is the one the library writes as ``class_name`` in a model config: the
    class's ``__name__`` when it is exported under it, else its only exported name (Keras 3
    exports class GroupedQueryAttention only as GroupQueryAttention, and serializes it so).
    """
    layers = _module(library).layers
    names_of: dict[type, list[str]] = {}
    for name in dir(layers):
        obj = getattr(layers, name)
        if inspect.isclass(obj) and issubclass(obj, layers.Layer):
            names_of.setdefault(obj, []).append(name)
    out: dict[str, str] = {}
    for cls, names in names_of.items():
        if cls.__name__ in names:
            canonical = cls.__name__
        elif len(names) == 1:
            canonical = names[0]
        else:
            raise AssertionError(f"{library}: no canonical name among {names} for {cls}")
        for name in names:
            out[name] = canonical
    return dict(sorted(out.items()))


def canonical_classes(library: str) -> list[str]:
    """The distinct canonical class names of ``library``, sorted."""
    return sorted(set(layer_classes(library).values()))


_UNBUILDABLE_ANY = {
    "Layer": "abstract base class of all layers; only subclasses are built",
    "Wrapper": "abstract base class of wrappers (Bidirectional, TimeDistributed, ...)",
    "AbstractRNNCell": "abstract base class of RNN cells (call and state_size not implemented)",
}
_UNBUILDABLE = {
    ("keras3", "JaxLayer"): "wraps a JAX function (jax2tf on the TensorFlow backend); needs jax, "
    "which is not installed",
    ("keras3", "FlaxLayer"): "wraps a Flax module; needs jax and flax, which are not installed",
    ("keras3", "TorchModuleWrapper"): "wraps a torch.nn.Module (runs on the torch backend only); "
    "needs torch, which is not installed",
    ("keras3", "TFSMLayer"): "wraps a TF SavedModel directory named in its config (filepath), "
    "not a layer graph with weights of its own",
    # Library bugs in the pinned versions: the class exists but no Functional model builds.
    ("keras3", "Equalization"): "Keras 3.15.1 Equalization.compute_output_spec returns its input "
    "KerasTensor, so keras.Model fails: ValueError: Tensor ... from operation 'equalization' is "
    "part of a cycle",
    ("tf_keras", "SpectralNormalization"): "tf_keras 2.21 SpectralNormalization.build sets "
    "tf.keras.layers.InputSpec, which is Keras 3's under TF 2.21 (unless TF_USE_LEGACY_KERAS=1): "
    "TypeError: Layer input_spec must be an instance of InputSpec",
}


def unbuildable(library: str, class_name: str) -> str | None:
    """A one-line reason when no model can be built with the class in this library (abstract base
    classes like Layer/Wrapper/AbstractRNNCell; JaxLayer/FlaxLayer/TorchModuleWrapper need JAX/torch
    which are not installed; TFSMLayer wraps a SavedModel ...), else None."""
    canonical = layer_classes(library).get(class_name)
    if canonical is None:
        return f"{library} does not export a layer class named {class_name}"
    reason = _UNBUILDABLE.get((library, canonical)) or _UNBUILDABLE_ANY.get(canonical)
    if reason is None and canonical not in _CASES:
        return f"no catalog case for {canonical} yet"
    return reason


def describe(class_name: str) -> str:
    """One line: the test model used for ``class_name`` (canonical or alias name)."""
    for library in LIBRARIES:
        canonical = layer_classes(library).get(class_name)
        if canonical in _CASES:
            return _CASES[canonical].doc
    return "no model"


# ---------------------------------------------------------------------------------------------
# inputs, weights and cases


@dataclass(frozen=True)
class _In:
    """One model input: shape without batch, dtype, value range ([low, high) for ints),
    words for strings (each element joins 1-3 of them)."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    low: float = -1.0
    high: float = 1.0
    words: tuple[str, ...] = ()


def _ints(*shape: int, high: int) -> _In:
    return _In(shape, "int32", 0, high)


def _strings(*shape: int, words: tuple[str, ...]) -> _In:
    return _In(shape, "string", words=words)


def _image(*shape: int) -> _In:
    # Keras 3 image preprocessing layers default to value_range (0, 255).
    return _In(shape, "float32", 0.0, 255.0)


@dataclass(frozen=True)
class _Case:
    inputs: tuple[_In, ...]
    body: Callable[..., Any]  # body(keras, *input_tensors) -> output tensor(s)
    doc: str
    # Mutates the generated inputs in place (e.g. zero timesteps for Masking).
    adjust: Callable[[list[np.ndarray]], None] | None = None


_CASES: dict[str, _Case] = {}


def _case(name: str, inputs, doc: str, adjust=None):
    def register(body):
        _CASES[name] = _Case(tuple(inputs), body, doc, adjust)
        return body

    return register


def _simple(name: str, shape: tuple[int, ...], make: Callable[[Any], Any], doc: str) -> None:
    """A case ``Input(shape) -> make(layers)``: one layer applied to one float input."""
    _CASES[name] = _Case((_In(shape),), lambda keras, x: make(keras.layers)(x), doc)


def _make_inputs(case: _Case, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for spec in case.inputs:
        shape = (BATCH, *spec.shape)
        if spec.dtype == "string":
            n = int(np.prod(shape))
            picks = [
                " ".join(rng.choice(spec.words, size=int(rng.integers(1, 4)))) for _ in range(n)
            ]
            out.append(np.array(picks, dtype=object).reshape(shape))
        elif spec.dtype.startswith("int"):
            out.append(rng.integers(int(spec.low), int(spec.high), size=shape).astype(spec.dtype))
        else:
            out.append(rng.uniform(spec.low, spec.high, size=shape).astype(spec.dtype))
    if case.adjust is not None:
        case.adjust(out)
    return out


def _weight_name(w) -> str:
    # Keras 3 variables: .path = "layer/name"; tf_keras: .name = "layer/name:0".
    return getattr(w, "path", None) or w.name


def seed_weights(model: Any, seed: int) -> None:
    """Overwrite every floating weight of ``model`` with values from a fixed numpy RNG, in
    ``model.weights`` order; integer/string weights keep their values. Variance-like weights
    stay positive and scales near 1 so normalization layers stay well conditioned."""
    rng = np.random.default_rng(seed)
    values = []
    for w in model.weights:
        shape = tuple(int(d) for d in w.shape)
        dtype = np.dtype(getattr(w.dtype, "name", None) or str(w.dtype))
        name = _weight_name(w).split("/")[-1].split(":")[0]
        if not np.issubdtype(dtype, np.floating):
            values.append(np.asarray(w.numpy()))
            continue
        if "variance" in name:
            v = rng.uniform(0.5, 1.5, shape)
        elif "gamma" in name or name == "scale":
            v = rng.uniform(0.75, 1.25, shape)
        elif "mean" in name:
            v = rng.uniform(-0.3, 0.3, shape)
        else:
            v = rng.uniform(-0.6, 0.6, shape)  # large enough that outputs vary
        values.append(v.astype(dtype))
    model.set_weights(values)


def _seed_of(class_name: str) -> int:
    return zlib.crc32(class_name.encode())


def build(library: str, class_name: str, keras_module: Any) -> tuple[Any, list[np.ndarray]]:
    """A small Functional model (keras.Input(...) -> layer(s) -> outputs) that exercises the class,
    with deterministic non-trivial weights (seeded numpy RNG, set after building; BatchNorm moving
    stats too) and deterministic inputs (seeded, batch 3). Cells (LSTMCell, GRUCell,
    SimpleRNNCell, StackedRNNCells) are used inside keras.layers.RNN; wrappers (Bidirectional,
    TimeDistributed, SpectralNormalization) wrap a Dense/LSTM; merge layers get 2 inputs;
    MultiHeadAttention is called with query and value.

    ``class_name`` may be an alias; the seeds depend on the canonical name only, so both
    libraries get the same weight values wherever their weights have the same shapes and order.
    """
    if _library_of(keras_module) != library:
        raise ValueError(f"{keras_module.__name__} {keras_module.__version__} is not {library}")
    reason = unbuildable(library, class_name)
    if reason is not None:
        raise ValueError(f"{library} {class_name}: {reason}")
    canonical = layer_classes(library)[class_name]
    case = _CASES[canonical]
    keras = keras_module
    tensors = [
        keras.Input(shape=spec.shape, dtype=spec.dtype, name=f"in{i}")
        for i, spec in enumerate(case.inputs)
    ]
    outputs = case.body(keras, *tensors)
    model = keras.Model(
        tensors if len(tensors) > 1 else tensors[0], outputs, name=f"catalog_{canonical.lower()}"
    )
    seed = _seed_of(canonical)
    seed_weights(model, seed)
    return model, _make_inputs(case, seed + 1)


# ---------------------------------------------------------------------------------------------
# the cases: one per canonical class name, shared by both libraries

# core
_simple("Dense", (4,), lambda L: L.Dense(3), "Dense(3) on (4,)")
_simple(
    "EinsumDense",
    (4,),
    lambda L: L.EinsumDense("ab,bc->ac", output_shape=3, bias_axes="c"),
    "EinsumDense('ab,bc->ac', output_shape=3, bias_axes='c') on (4,)",
)
_simple("Activation", (5,), lambda L: L.Activation("tanh"), "Activation('tanh') on (5,)")
_simple("Identity", (4,), lambda L: L.Identity(), "Identity on (4,)")
_simple(
    "ActivityRegularization",
    (5,),
    lambda L: L.ActivityRegularization(l1=0.01, l2=0.01),
    "ActivityRegularization(l1=0.01, l2=0.01) on (5,) (identity at inference)",
)


@_case("InputLayer", [_In((4,))], "keras.Model(x, x): the InputLayer alone")
def _input_layer(keras, x):
    return x


@_case("Embedding", [_ints(4, high=10)], "Embedding(10, 3) on int32 (4,) in [0, 10)")
def _embedding(keras, x):
    return keras.layers.Embedding(10, 3)(x)


@_case(
    "ReversibleEmbedding",
    [_ints(4, high=10)],
    "ReversibleEmbedding(10, 3, tie_weights=False) on int32 (4,): embed, then reverse to logits",
)
def _reversible_embedding(keras, x):
    # Untied, so the reverse projection is a weight of its own (tied, it reuses embeddings).
    emb = keras.layers.ReversibleEmbedding(10, 3, tie_weights=False)
    return emb(emb(x), reverse=True)


def _mask_tails(inputs: list[np.ndarray]) -> None:
    # Sample i gets its last i timesteps zeroed, so each sample has a different mask.
    x = inputs[0]
    for i in range(1, x.shape[0]):
        x[i, -i:, ...] = 0.0


@_case(
    "Masking",
    [_In((4, 3))],
    "Masking(0.0) -> SimpleRNN(2) on (4, 3); sample i has its last i steps zeroed",
    adjust=_mask_tails,
)
def _masking(keras, x):
    # Masked steps are zeros already, so Masking alone is an identity; the RNN makes the mask
    # change the output.
    return keras.layers.SimpleRNN(2)(keras.layers.Masking(0.0)(x))


@_case("Lambda", [_In((4,))], "Lambda(lambda t: t * 2.0 + 1.0) on (4,)")
def _lambda(keras, x):
    # A real `lambda`, so both libraries store its marshalled bytecode (a named function
    # would be stored by name and need the defining module at load time).
    return keras.layers.Lambda(lambda t: t * 2.0 + 1.0)(x)


# merging
for _name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
    _CASES[_name] = _Case(
        (_In((4,)), _In((4,))),
        (lambda n: lambda keras, a, b: getattr(keras.layers, n)()([a, b]))(_name),
        f"{_name}()([a, b]) on two (4,)",
    )


@_case("Concatenate", [_In((4,)), _In((3,))], "Concatenate()([a, b]) on (4,) and (3,)")
def _concatenate(keras, a, b):
    return keras.layers.Concatenate()([a, b])


@_case("Dot", [_In((4,)), _In((4,))], "Dot(axes=1)([a, b]) on two (4,)")
def _dot(keras, a, b):
    return keras.layers.Dot(axes=1)([a, b])


# attention
for _name in ("Attention", "AdditiveAttention"):
    _CASES[_name] = _Case(
        (_In((3, 4)), _In((5, 4))),
        (lambda n: lambda keras, q, v: getattr(keras.layers, n)()([q, v]))(_name),
        f"{_name}()([query, value]) on query (3, 4), value (5, 4)",
    )


@_case(
    "MultiHeadAttention",
    [_In((3, 4)), _In((5, 4))],
    "MultiHeadAttention(num_heads=2, key_dim=3)(query, value) on (3, 4), (5, 4)",
)
def _mha(keras, q, v):
    return keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)(q, v)


@_case(
    "GroupQueryAttention",
    [_In((3, 4)), _In((5, 4))],
    "GroupQueryAttention(head_dim=2, num_query_heads=2, num_key_value_heads=1)(query, value)",
)
def _gqa(keras, q, v):
    return keras.layers.GroupQueryAttention(2, 2, 1)(q, v)


# activations
_simple("ReLU", (5,), lambda L: L.ReLU(), "ReLU() on (5,)")
_simple("ELU", (5,), lambda L: L.ELU(), "ELU() on (5,)")
_simple("LeakyReLU", (5,), lambda L: L.LeakyReLU(), "LeakyReLU() on (5,)")
_simple("PReLU", (5,), lambda L: L.PReLU(), "PReLU() on (5,) (alpha of shape (5,))")
_simple("Softmax", (5,), lambda L: L.Softmax(), "Softmax() on (5,)")
_simple("ThresholdedReLU", (5,), lambda L: L.ThresholdedReLU(theta=0.2), "ThresholdedReLU(0.2)")

# convolution
_simple("Conv1D", (5, 2), lambda L: L.Conv1D(3, 2), "Conv1D(3, 2) on (5, 2)")
_simple("Conv2D", (4, 4, 2), lambda L: L.Conv2D(3, 2), "Conv2D(3, 2) on (4, 4, 2)")
_simple("Conv3D", (3, 3, 3, 2), lambda L: L.Conv3D(2, 2), "Conv3D(2, 2) on (3, 3, 3, 2)")
_simple(
    "Conv1DTranspose", (4, 2), lambda L: L.Conv1DTranspose(3, 2), "Conv1DTranspose(3, 2) on (4, 2)"
)
_simple(
    "Conv2DTranspose",
    (3, 3, 2),
    lambda L: L.Conv2DTranspose(3, 2),
    "Conv2DTranspose(3, 2) on (3, 3, 2)",
)
_simple(
    "Conv3DTranspose",
    (2, 2, 2, 2),
    lambda L: L.Conv3DTranspose(2, 2),
    "Conv3DTranspose(2, 2) on (2, 2, 2, 2)",
)
_simple("DepthwiseConv1D", (5, 3), lambda L: L.DepthwiseConv1D(2), "DepthwiseConv1D(2) on (5, 3)")
_simple(
    "DepthwiseConv2D",
    (4, 4, 2),
    lambda L: L.DepthwiseConv2D(2, depth_multiplier=2),
    "DepthwiseConv2D(2, depth_multiplier=2) on (4, 4, 2)",
)
_simple(
    "SeparableConv1D", (5, 2), lambda L: L.SeparableConv1D(3, 2), "SeparableConv1D(3, 2) on (5, 2)"
)
_simple(
    "SeparableConv2D",
    (4, 4, 2),
    lambda L: L.SeparableConv2D(3, 2),
    "SeparableConv2D(3, 2) on (4, 4, 2)",
)
_simple(
    "LocallyConnected1D",
    (5, 2),
    lambda L: L.LocallyConnected1D(2, 2),
    "LocallyConnected1D(2, 2) on (5, 2)",
)
_simple(
    "LocallyConnected2D",
    (4, 4, 2),
    lambda L: L.LocallyConnected2D(2, 2),
    "LocallyConnected2D(2, 2) on (4, 4, 2)",
)

# pooling
for _d, _shape in ((1, (6, 2)), (2, (4, 4, 2)), (3, (4, 4, 4, 2))):
    # Keras 3 AveragePooling has no default pool_size; 2 is tf_keras's default for both kinds.
    for _kind in ("AveragePooling", "MaxPooling"):
        _n = f"{_kind}{_d}D"
        _simple(_n, _shape, (lambda n: lambda L: getattr(L, n)(2))(_n), f"{_n}(2) on {_shape}")
    for _kind in ("GlobalAveragePooling", "GlobalMaxPooling"):
        _n = f"{_kind}{_d}D"
        _simple(_n, _shape, (lambda n: lambda L: getattr(L, n)())(_n), f"{_n}() on {_shape}")
for _d, _shape, _size in ((1, (7, 2), 3), (2, (5, 7, 2), (2, 3)), (3, (5, 4, 3, 2), (2, 2, 2))):
    for _kind in ("AdaptiveAveragePooling", "AdaptiveMaxPooling"):
        _n = f"{_kind}{_d}D"
        _simple(
            _n,
            _shape,
            (lambda n, s: lambda L: getattr(L, n)(s))(_n, _size),
            f"{_n}({_size}) on {_shape}",
        )

# reshaping
_simple("Flatten", (2, 3), lambda L: L.Flatten(), "Flatten() on (2, 3)")
_simple("Reshape", (6,), lambda L: L.Reshape((3, 2)), "Reshape((3, 2)) on (6,)")
_simple("Permute", (2, 3), lambda L: L.Permute((2, 1)), "Permute((2, 1)) on (2, 3)")
_simple("RepeatVector", (4,), lambda L: L.RepeatVector(3), "RepeatVector(3) on (4,)")
for _d, _shape in ((1, (5, 2)), (2, (4, 4, 2)), (3, (4, 4, 4, 1))):
    _n = f"Cropping{_d}D"
    _simple(_n, _shape, (lambda n: lambda L: getattr(L, n)(1))(_n), f"{_n}(1) on {_shape}")
for _d, _shape in ((1, (3, 2)), (2, (3, 3, 2)), (3, (2, 2, 2, 1))):
    _n = f"ZeroPadding{_d}D"
    _simple(_n, _shape, (lambda n: lambda L: getattr(L, n)(1))(_n), f"{_n}(1) on {_shape}")
for _d, _shape in ((1, (3, 2)), (2, (2, 3, 2)), (3, (2, 2, 2, 1))):
    _n = f"UpSampling{_d}D"
    _simple(_n, _shape, (lambda n: lambda L: getattr(L, n)(2))(_n), f"{_n}(2) on {_shape}")

# normalization
_simple(
    "BatchNormalization",
    (4,),
    lambda L: L.BatchNormalization(),
    "BatchNormalization() on (4,), moving stats seeded",
)
_simple("LayerNormalization", (6,), lambda L: L.LayerNormalization(), "LayerNormalization()")
_simple(
    "GroupNormalization",
    (3, 4),
    lambda L: L.GroupNormalization(groups=2),
    "GroupNormalization(groups=2) on (3, 4)",
)
_simple("UnitNormalization", (5,), lambda L: L.UnitNormalization(), "UnitNormalization()")
_simple("RMSNormalization", (5,), lambda L: L.RMSNormalization(), "RMSNormalization() on (5,)")
_simple(
    "SpectralNormalization",
    (4,),
    lambda L: L.SpectralNormalization(L.Dense(3)),
    "SpectralNormalization(Dense(3)) on (4,)",
)

# regularization: all identity at inference
_simple("Dropout", (5,), lambda L: L.Dropout(0.5), "Dropout(0.5) on (5,)")
_simple("AlphaDropout", (5,), lambda L: L.AlphaDropout(0.2), "AlphaDropout(0.2) on (5,)")
_simple("GaussianDropout", (5,), lambda L: L.GaussianDropout(0.3), "GaussianDropout(0.3)")
_simple("GaussianNoise", (5,), lambda L: L.GaussianNoise(0.2), "GaussianNoise(0.2) on (5,)")
for _d, _shape in ((1, (4, 3)), (2, (4, 4, 2)), (3, (3, 3, 3, 2))):
    _n = f"SpatialDropout{_d}D"
    _simple(_n, _shape, (lambda n: lambda L: getattr(L, n)(0.3))(_n), f"{_n}(0.3) on {_shape}")

# recurrent
_simple("LSTM", (4, 3), lambda L: L.LSTM(3), "LSTM(3) on (4, 3)")
_simple("GRU", (4, 3), lambda L: L.GRU(3), "GRU(3) on (4, 3) (reset_after=True, the default)")
_simple("SimpleRNN", (4, 3), lambda L: L.SimpleRNN(3), "SimpleRNN(3) on (4, 3)")
_simple(
    "RNN",
    (4, 3),
    lambda L: L.RNN(L.SimpleRNNCell(3), return_sequences=True),
    "RNN(SimpleRNNCell(3), return_sequences=True) on (4, 3)",
)
for _n in ("LSTMCell", "GRUCell", "SimpleRNNCell"):
    _simple(_n, (4, 3), (lambda n: lambda L: L.RNN(getattr(L, n)(3)))(_n), f"RNN({_n}(3))")
_simple(
    "StackedRNNCells",
    (4, 3),
    lambda L: L.RNN(L.StackedRNNCells([L.LSTMCell(3), L.SimpleRNNCell(2)])),
    "RNN(StackedRNNCells([LSTMCell(3), SimpleRNNCell(2)])) on (4, 3)",
)
_simple(
    "Bidirectional",
    (4, 3),
    lambda L: L.Bidirectional(L.LSTM(2)),
    "Bidirectional(LSTM(2)) on (4, 3) (merge_mode concat)",
)
_simple(
    "TimeDistributed",
    (4, 3),
    lambda L: L.TimeDistributed(L.Dense(2)),
    "TimeDistributed(Dense(2)) on (4, 3)",
)
_simple("ConvLSTM1D", (3, 5, 2), lambda L: L.ConvLSTM1D(2, 2), "ConvLSTM1D(2, 2) on (3, 5, 2)")
_simple(
    "ConvLSTM2D", (3, 4, 4, 2), lambda L: L.ConvLSTM2D(2, 2), "ConvLSTM2D(2, 2) on (3, 4, 4, 2)"
)
_simple(
    "ConvLSTM3D",
    (2, 3, 3, 3, 1),
    lambda L: L.ConvLSTM3D(2, 2),
    "ConvLSTM3D(2, 2) on (2, 3, 3, 3, 1)",
)

# preprocessing: structured data


@_case(
    "DenseFeatures",
    [_In((2,))],
    "DenseFeatures([numeric_column('in0', shape=(2,))])({'in0': x}) on (2,)",
)
def _dense_features(keras, x):
    import tensorflow as tf  # only tf_keras has DenseFeatures, and tf_keras needs TensorFlow

    column = tf.feature_column.numeric_column("in0", shape=(2,))
    return keras.layers.DenseFeatures([column])({"in0": x})


_simple(
    "Normalization",
    (3,),
    lambda L: L.Normalization(mean=[0.1, -0.2, 0.3], variance=[0.5, 2.0, 1.5]),
    "Normalization(mean=[0.1, -0.2, 0.3], variance=[0.5, 2.0, 1.5]) on (3,)",
)
_simple(
    "Discretization",
    (4,),
    lambda L: L.Discretization(bin_boundaries=[-0.5, 0.0, 0.5]),
    "Discretization(bin_boundaries=[-0.5, 0.0, 0.5]) on (4,)",
)

_WORDS = ("the", "cat", "sat", "on", "mat")


@_case(
    "CategoryEncoding",
    [_ints(3, high=5)],
    "CategoryEncoding(num_tokens=5) (multi_hot) on int32 (3,) in [0, 5)",
)
def _category_encoding(keras, x):
    return keras.layers.CategoryEncoding(num_tokens=5, output_mode="multi_hot")(x)


@_case("Hashing", [_strings(3, words=_WORDS)], "Hashing(num_bins=4) on string (3,)")
def _hashing(keras, x):
    return keras.layers.Hashing(num_bins=4)(x)


@_case(
    "IntegerLookup",
    [_ints(4, high=10)],
    "IntegerLookup(vocabulary=[3, 5, 7, 9]) on int32 (4,) in [0, 10)",
)
def _integer_lookup(keras, x):
    return keras.layers.IntegerLookup(vocabulary=[3, 5, 7, 9])(x)


@_case(
    "StringLookup",
    [_strings(4, words=("a", "b", "c", "d"))],
    "StringLookup(vocabulary=['a', 'b', 'c']) on string (4,) over a-d",
)
def _string_lookup(keras, x):
    return keras.layers.StringLookup(vocabulary=["a", "b", "c"])(x)


@_case(
    "TextVectorization",
    [_strings(1, words=_WORDS)],
    "TextVectorization(vocabulary=['the', 'cat', 'sat'], output_sequence_length=4) on string (1,)",
)
def _text_vectorization(keras, x):
    tv = keras.layers.TextVectorization(vocabulary=["the", "cat", "sat"], output_sequence_length=4)
    return tv(x)


@_case(
    "HashedCrossing",
    [_ints(1, high=6), _ints(1, high=6)],
    "HashedCrossing(num_bins=5)((a, b)) on two int32 (1,)",
)
def _hashed_crossing(keras, a, b):
    return keras.layers.HashedCrossing(num_bins=5)((a, b))


# preprocessing: images (random ones are the identity at inference)
_simple("Rescaling", (4, 4, 2), lambda L: L.Rescaling(0.5, offset=0.1), "Rescaling(0.5, 0.1)")
_simple("Resizing", (4, 5, 2), lambda L: L.Resizing(3, 3), "Resizing(3, 3) on (4, 5, 2)")
_simple("CenterCrop", (4, 4, 2), lambda L: L.CenterCrop(2, 2), "CenterCrop(2, 2) on (4, 4, 2)")
_simple(
    "RandomCrop",
    (4, 4, 2),
    lambda L: L.RandomCrop(2, 2),
    "RandomCrop(2, 2) on (4, 4, 2) (center crop at inference)",
)
for _n, _args in (
    ("RandomFlip", ()),
    ("RandomRotation", (0.2,)),
    ("RandomTranslation", (0.2, 0.2)),
    ("RandomZoom", (0.2,)),
    ("RandomHeight", (0.2,)),
    ("RandomWidth", (0.2,)),
    ("RandomBrightness", (0.2,)),
    ("RandomContrast", (0.2,)),
):
    _simple(
        _n,
        (4, 4, 3),
        (lambda n, a: lambda L: getattr(L, n)(*a))(_n, _args),
        f"{_n}{_args if _args else '()'} on (4, 4, 3)".replace(",)", ")"),
    )


def _image_case(name: str, args: tuple = (), kwargs: dict | None = None, note: str = "") -> None:
    kwargs = kwargs or {}
    shown = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
    _CASES[name] = _Case(
        (_image(8, 8, 3),),
        lambda keras, x: getattr(keras.layers, name)(*args, **kwargs)(x),
        f"{name}({shown}) on (8, 8, 3) in [0, 255){note}",
    )


for _n in (
    "AugMix",
    "CutMix",
    "MixUp",
    "RandAugment",
    "RandomColorJitter",
    "RandomElasticTransform",
    "RandomErasing",
    "RandomGaussianBlur",
    "RandomGrayscale",
    "RandomInvert",
    "RandomPerspective",
):
    _image_case(_n, note=" (identity at inference)")
for _n in ("RandomColorDegeneration", "RandomHue", "RandomSaturation", "RandomSharpness"):
    _image_case(_n, (0.2,), note=" (identity at inference)")
_image_case("RandomPosterization", ((1, 8),), note=" (identity at inference)")
_image_case("RandomShear", (0.2, 0.2), note=" (identity at inference)")
_image_case("Solarization", (), {"threshold_factor": 0.5}, note=" (identity at inference)")
_image_case("AutoContrast")
_image_case("Equalization")
_image_case("ContrastLimitedAdaptiveHistogramEqualization", (), {"tile_grid_size": (2, 2)})
_image_case("MaxNumBoundingBoxes", (2,), note=" (images pass through)")


@_case(
    "Pipeline",
    [_In((4, 4, 2))],
    "Pipeline([Rescaling(0.5), CenterCrop(2, 2)]) on (4, 4, 2)",
)
def _pipeline(keras, x):
    L = keras.layers
    return L.Pipeline([L.Rescaling(0.5), L.CenterCrop(2, 2)])(x)


# preprocessing: audio
_simple(
    "MelSpectrogram",
    (64,),
    lambda L: L.MelSpectrogram(
        fft_length=16, sequence_stride=8, sampling_rate=8000, num_mel_bins=4
    ),
    "MelSpectrogram(fft_length=16, sequence_stride=8, sampling_rate=8000, num_mel_bins=4)",
)
_simple(
    "STFTSpectrogram",
    (32, 1),
    lambda L: L.STFTSpectrogram(frame_length=8, frame_step=4, fft_length=8),
    "STFTSpectrogram(frame_length=8, frame_step=4, fft_length=8) on (32, 1)",
)
