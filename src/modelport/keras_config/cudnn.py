"""Keras 2.0-2.3 (and tf.keras 1.x) CuDNNLSTM / CuDNNGRU, which no Keras loads as such today:
read as the LSTM / GRU computing the same (tanh, sigmoid recurrent activation, biases; GRU with
reset_after=True), with the weights transformed as Keras's own loader does when it loads a
CuDNN layer's weights into an LSTM / GRU (tf_keras/src/saving/legacy/hdf5_format.py
`_convert_rnn_weights`, from keras 2.x `preprocess_weights_for_loading`):

- input kernel, per gate: `k.T.reshape(k.shape, order="F")` (cuDNN keeps it Fortran-ordered);
- recurrent kernel, per gate: `k.T`;
- LSTM bias (8 * units: input and recurrent biases): the two halves summed;
  GRU bias (6 * units): reshaped to (2, 3 * units), as GRU(reset_after=True) holds it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelport.model import Weight

if TYPE_CHECKING:  # numpy is imported where weights are converted: start-up needs none
    import numpy as np

# CuDNN class -> (the Keras class computing the same, number of gates)
CUDNN_LAYERS = {"CuDNNLSTM": ("LSTM", 4), "CuDNNGRU": ("GRU", 3)}

# The arguments a CuDNN layer's get_config has that the LSTM / GRU takes as they are.
_KEPT = ("name", "trainable", "dtype", "batch_input_shape", "input_dim", "input_length",
         "units", "kernel_initializer", "recurrent_initializer", "bias_initializer",
         "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
         "activity_regularizer", "kernel_constraint", "recurrent_constraint",
         "bias_constraint", "return_sequences", "return_state", "go_backwards", "stateful")


def builtin_config(class_name: str, cfg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The LSTM / GRU class and config computing what the CuDNN layer computed."""
    target, _ = CUDNN_LAYERS[class_name]
    new = {key: cfg[key] for key in _KEPT if key in cfg}
    new.update(activation="tanh", recurrent_activation="sigmoid", use_bias=True,
               dropout=0.0, recurrent_dropout=0.0, unroll=False, implementation=2)
    if target == "LSTM":
        new["unit_forget_bias"] = cfg.get("unit_forget_bias", True)
    else:
        new["reset_after"] = True
    return target, new


def _per_gate(kernel: np.ndarray, gates: int, func: Callable[[np.ndarray], np.ndarray]
              ) -> np.ndarray:
    import numpy as np

    return np.hstack([func(k) for k in np.hsplit(kernel, gates)])


def _transformed(weight: Weight, shape: tuple[int, ...],
                 func: Callable[[np.ndarray], np.ndarray]) -> Weight:
    def converted() -> np.ndarray:
        import numpy as np

        return func(np.asarray(weight.read()))

    return Weight(weight.name, shape, weight.dtype, converted, weight.trainable)


def builtin_weights(class_name: str, weights: list[Weight]) -> list[Weight]:
    """A CuDNN layer's [kernel, recurrent_kernel, bias] as the LSTM / GRU holds them."""
    _, gates = CUDNN_LAYERS[class_name]
    if len(weights) != 3:
        return weights
    kernel, recurrent, bias = weights
    units = recurrent.shape[0]
    if bias.shape != (2 * gates * units,):
        return weights  # not a CuDNN layout: leave it to the shape check
    new_kernel = _transformed(kernel, kernel.shape, lambda k: _per_gate(
        k, gates, lambda g: g.T.reshape(g.shape, order="F")))
    new_recurrent = _transformed(recurrent, recurrent.shape,
                                 lambda k: _per_gate(k, gates, lambda g: g.T))
    import numpy as np

    if class_name == "CuDNNLSTM":
        new_bias = _transformed(bias, (gates * units,),
                                lambda b: np.sum(np.split(b, 2, axis=0), axis=0))
    else:
        new_bias = _transformed(bias, (2, gates * units), lambda b: b.reshape(2, -1))
    return [new_kernel, new_recurrent, new_bias]


def replace_cudnn_layers(model_config: dict[str, Any] | None,
                         weights: dict[str, list[Weight]]) -> list[str]:
    """Turn, in place, every top-level CuDNN layer of the config (alone or inside a
    Bidirectional) into its LSTM / GRU and transform its weight group in `weights` (layer name
    -> weights in file order). Returns what was done, for the model's warnings."""
    if not model_config:
        return []
    done = []
    for entry in model_config.get("config", {}).get("layers") or []:
        cfg = entry.get("config", {})
        name = str(entry.get("name") or cfg.get("name"))
        if entry.get("class_name") in CUDNN_LAYERS:
            cls = entry["class_name"]
            entry["class_name"], entry["config"] = builtin_config(cls, cfg)
            if name in weights:
                weights[name] = builtin_weights(cls, weights[name])
            done.append(f"'{name}' ({cls})")
        elif entry.get("class_name") == "Bidirectional" and (
                cfg.get("layer", {}).get("class_name") in CUDNN_LAYERS):
            inner = cfg["layer"]
            cls = inner["class_name"]
            inner["class_name"], inner["config"] = builtin_config(cls, inner.get("config", {}))
            group = weights.get(name)
            if group is not None and len(group) == 6:
                weights[name] = (builtin_weights(cls, group[:3])
                                 + builtin_weights(cls, group[3:]))
            done.append(f"'{name}' (Bidirectional {cls})")
    if not done:
        return []
    return [f"layer {', '.join(done)} read as LSTM / GRU (sigmoid recurrent activation; GRU "
            "with reset_after=True), the weights converted from the cuDNN layout as Keras's "
            "own loader converts them"]


def is_cudnn(class_name: str, config: dict[str, Any], weights: list[Weight]) -> bool:
    """Whether three weights meant for an LSTM / GRU(reset_after=True) are in cuDNN's layout
    (a save_weights file of a CuDNN layer loaded into its LSTM / GRU): told by the bias's
    shape alone, as tf_keras's loader tells it."""
    cudnn = f"CuDNN{class_name}"
    if cudnn not in CUDNN_LAYERS or len(weights) != 3 or len(weights[1].shape) != 2:
        return False
    if class_name == "GRU" and not config.get("reset_after", False):
        return False  # tf_keras: CuDNNGRU weights do not fit GRU(reset_after=False)
    _, gates = CUDNN_LAYERS[cudnn]
    units = weights[1].shape[0]
    return tuple(weights[2].shape) == (2 * units * gates,) and (
        tuple(weights[1].shape) == (units, units * gates))


def as_native(class_name: str, weights: list[Weight]) -> list[Weight]:
    """cuDNN-layout weights in the layout of `class_name` (LSTM / GRU), converted when read."""
    return builtin_weights(f"CuDNN{class_name}", weights)
