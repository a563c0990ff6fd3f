"""Which layer classes each runtime can build, so that a conversion to a runtime that lacks a
layer is refused before anything is written, naming the layer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from modelport.errors import UnsupportedError
from modelport.keras_config.applications import application_layer
from modelport.keras_config.entries import is_keras3_op, is_model_entry, layer_name
from modelport.model import Model

TFJS_LAYERS = frozenset(
    """Activation Add AlphaDropout Average AveragePooling1D AveragePooling2D AveragePooling3D
    BatchNormalization Bidirectional CategoryEncoding CenterCrop Concatenate Conv1D Conv2D
    Conv3D Conv2DTranspose Conv3DTranspose ConvLSTM2D ConvLSTM2DCell Cropping2D Dense
    DepthwiseConv2D Dot Dropout ELU Embedding Flatten GaussianDropout GaussianNoise
    GlobalAveragePooling1D GlobalAveragePooling2D GlobalMaxPooling1D GlobalMaxPooling2D GRU
    GRUCell InputLayer LayerNormalization LeakyReLU LSTM LSTMCell Masking MaxPooling1D
    MaxPooling2D MaxPooling3D Maximum Minimum Multiply Permute PReLU RandomWidth
    ReLU RepeatVector Rescaling Reshape Resizing RNN SeparableConv2D SimpleRNN SimpleRNNCell
    Softmax SpatialDropout1D StackedRNNCells ThresholdedReLU TimeDistributed UpSampling2D
    ZeroPadding2D Sequential Functional Model""".split()
)

# Layers only Keras 2 has (FORMATS.md section 4): Keras 3 cannot load a file that uses them.
KERAS2_ONLY_LAYERS = frozenset(
    """ThresholdedReLU LocallyConnected1D LocallyConnected2D DenseFeatures RandomHeight
    RandomWidth TFOpLambda SlicingOpLambda CuDNNLSTM CuDNNGRU""".split()
)


# Arguments tfjs-layers refuses (at load or at predict time) although it has the class.
TFJS_UNSUPPORTED_ARGUMENTS: list[tuple[str, str, Any, str]] = [
    ("GRU", "reset_after", True, "TF.js GRU has no reset_after=True (Keras's default)"),
    ("GRUCell", "reset_after", True, "TF.js GRUCell has no reset_after=True (Keras's default)"),
    ("ELU", "alpha", 1.0, "TF.js ELU supports alpha=1.0 only"),
    ("Conv1D", "padding", "causal", "TF.js Conv1D has no causal padding"),
]


def tfjs_argument_problems(model_config: dict[str, Any]) -> list[str]:
    """Why TF.js would refuse or miscompute layers whose class it has."""
    problems = []
    for where, entry in iter_layer_entries(model_config):
        cfg = entry.get("config", {})
        for class_name, key, value, reason in TFJS_UNSUPPORTED_ARGUMENTS:
            if entry.get("class_name") != class_name or key not in cfg:
                continue
            refused = cfg[key] == value if key != "alpha" else abs(float(cfg[key]) - value) > 0
            if refused:
                problems.append(f"'{where}' ({class_name}, {key}={cfg[key]!r}): {reason}")
    return problems


def iter_layer_entries(entry: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict]]:
    """Every layer in a config, nested models and wrapped layers included, with a path."""
    name = layer_name(entry)
    where = f"{path}/{name}" if path else name
    yield where, entry
    cfg = entry.get("config", {})
    if is_model_entry(entry):
        for sub in cfg.get("layers", []):
            yield from iter_layer_entries(sub, where)
    for key in ("layer", "backward_layer", "cell"):
        inner = cfg.get(key)
        if isinstance(inner, dict) and "class_name" in inner:
            yield from iter_layer_entries(inner, where)
    cells = cfg.get("cells")
    if isinstance(cells, list):
        for cell in cells:
            if isinstance(cell, dict) and "class_name" in cell:
                yield from iter_layer_entries(cell, where)


def missing_layers(model_config: dict[str, Any], available: frozenset[str]
                   ) -> list[tuple[str, str]]:
    """(path, class) of every layer whose class is not in `available`."""
    return [
        (where, entry.get("class_name", "?"))
        for where, entry in iter_layer_entries(model_config)
        if entry.get("class_name") not in available or is_keras3_op(entry)
    ]


# Layers only Keras 3 has: tf_keras and TF.js cannot load a file that uses them.
KERAS3_ONLY_LAYERS = frozenset(
    """AdaptiveAveragePooling1D AdaptiveAveragePooling2D AdaptiveAveragePooling3D
    AdaptiveMaxPooling1D AdaptiveMaxPooling2D AdaptiveMaxPooling3D AugMix AutoContrast
    ContrastLimitedAdaptiveHistogramEqualization CutMix Equalization FlaxLayer
    GroupQueryAttention JaxLayer MaxNumBoundingBoxes MelSpectrogram MixUp Pipeline
    RMSNormalization RandAugment RandomColorDegeneration RandomColorJitter
    RandomElasticTransform RandomErasing RandomGaussianBlur RandomGrayscale RandomHue
    RandomInvert RandomPerspective RandomPosterization RandomSaturation RandomSharpness
    RandomShear ReversibleEmbedding STFTSpectrogram Solarization TFSMLayer
    TorchModuleWrapper""".split()
)

# Every layer class both Keras ship (aliases such as AvgPool2D are serialised by their class).
BUILTIN_LAYERS = KERAS2_ONLY_LAYERS | KERAS3_ONLY_LAYERS | frozenset(
    """Activation ActivityRegularization Add AdditiveAttention AlphaDropout Attention Average
    AveragePooling1D AveragePooling2D AveragePooling3D BatchNormalization Bidirectional
    CategoryEncoding CenterCrop Concatenate Conv1D Conv1DTranspose Conv2D Conv2DTranspose
    Conv3D Conv3DTranspose ConvLSTM1D ConvLSTM2D ConvLSTM3D Cropping1D Cropping2D Cropping3D
    Dense DepthwiseConv1D DepthwiseConv2D Discretization Dot Dropout ELU EinsumDense Embedding
    Flatten GRU GRUCell GaussianDropout GaussianNoise GlobalAveragePooling1D
    GlobalAveragePooling2D GlobalAveragePooling3D GlobalMaxPooling1D GlobalMaxPooling2D
    GlobalMaxPooling3D GroupNormalization HashedCrossing Hashing Identity InputLayer
    IntegerLookup LSTM LSTMCell Lambda LayerNormalization LeakyReLU Masking MaxPooling1D
    MaxPooling2D MaxPooling3D Maximum Minimum MultiHeadAttention Multiply Normalization PReLU
    Permute RNN RandomBrightness RandomContrast RandomCrop RandomFlip RandomRotation
    RandomTranslation RandomZoom ReLU RepeatVector Rescaling Reshape Resizing SeparableConv1D
    SeparableConv2D SimpleRNN SimpleRNNCell Softmax SpatialDropout1D SpatialDropout2D
    SpatialDropout3D SpectralNormalization StackedRNNCells StringLookup Subtract
    TextVectorization TimeDistributed UnitNormalization UpSampling1D UpSampling2D UpSampling3D
    ZeroPadding1D ZeroPadding2D ZeroPadding3D Functional Sequential Model
    ConvLSTM1DCell ConvLSTM2DCell ConvLSTM3DCell""".split()
)


def custom_layer_warnings(model_config: dict[str, Any]) -> list[str]:
    """Layers of classes no Keras ships: carried as data, loadable only with the user's class."""
    custom = [(where, entry.get("registered_name") or entry.get("class_name"))
              for where, entry in iter_layer_entries(model_config)
              if entry.get("class_name") not in BUILTIN_LAYERS and not is_keras3_op(entry)
              and application_layer(entry) is None]
    return [f"layer '{where}' is a custom class ({cls}): its config and weights are carried "
            "as data (weights in file order); loading it needs your class (custom_objects)"
            for where, cls in custom]


def source_dialect(model: Model) -> str:
    """Which Keras's meaning the source's activations have: 'keras3' or 'keras2' (tf.keras,
    tf_keras and TF.js share one)."""
    return "keras3" if (model.metadata.keras_version or "").startswith("3") else "keras2"


_ACTIVATION_KEYS = ("activation", "recurrent_activation")


def hard_sigmoid_users(model_config: dict[str, Any]) -> list[str]:
    return [where for where, entry in iter_layer_entries(model_config)
            if any(entry.get("config", {}).get(key) == "hard_sigmoid"
                   for key in _ACTIVATION_KEYS)]


def check_dialect_semantics(model: Model, target: str) -> None:
    """Refuse what would compute differently in the target Keras: hard_sigmoid is
    0.2x+0.5 in Keras 2 and TF.js but x/6+0.5 in Keras 3 (clipped to [0, 1] in both)."""
    assert model.config is not None
    users = hard_sigmoid_users(model.config)
    if users and source_dialect(model) != target:
        source = "Keras 3" if source_dialect(model) == "keras3" else "Keras 2 / TF.js"
        raise UnsupportedError(
            f"layer '{users[0]}' uses hard_sigmoid, which {source} computes as "
            f"{'x/6+0.5' if source == 'Keras 3' else '0.2x+0.5'} and the target as "
            f"{'0.2x+0.5' if source == 'Keras 3' else 'x/6+0.5'}; keep it in its own "
            f"Keras ({_SAME_HARD_SIGMOID[source_dialect(model)]} compute it as it was "
            "trained), or change the activation (e.g. to sigmoid) and retrain")


# The outputs that keep a dialect's hard_sigmoid, named in the refusal above.
_SAME_HARD_SIGMOID = {
    "keras2": "`.h5`, TF.js layers and graph models and SavedModels",
    "keras3": "`.keras` and `.h5` with `--keras 3`",
}
