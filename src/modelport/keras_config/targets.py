"""Which layer classes each runtime can build, so that a conversion to a runtime that lacks a
layer is refused before anything is written, naming the layer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from modelport.keras_config.dialects import is_model_entry
from modelport.keras_config.layouts import layer_name

TFJS_LAYERS = frozenset(
    """Activation Add AlphaDropout Average AveragePooling1D AveragePooling2D AveragePooling3D
    BatchNormalization Bidirectional CategoryEncoding CenterCrop Concatenate Conv1D Conv2D
    Conv3D Conv2DTranspose Conv3DTranspose ConvLSTM2D ConvLSTM2DCell Cropping2D Dense
    DepthwiseConv2D Dot Dropout ELU Embedding Flatten GaussianDropout GaussianNoise
    GlobalAveragePooling1D GlobalAveragePooling2D GlobalMaxPooling1D GlobalMaxPooling2D GRU
    GRUCell InputLayer LayerNormalization LeakyReLU LSTM LSTMCell Masking MaxPooling1D
    MaxPooling2D MaxPooling3D Maximum Minimum Multiply Permute PReLU RandomHeight RandomWidth
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
        if entry.get("class_name") not in available
    ]
