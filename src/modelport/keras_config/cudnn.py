"""Weights saved by Keras 2's CuDNNLSTM / CuDNNGRU (cuDNN's layout: per-gate input kernels in
Fortran order, transposed recurrent kernels, separate input and recurrent biases) put into
LSTM / GRU(reset_after=True)'s layout, as tf_keras's legacy loader does when such weights
are loaded into those layers (tf_keras/src/saving/legacy/hdf5_format.py
`_convert_rnn_weights`). The source is told by the bias's shape alone, as there."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.model import Weight

_GATES = {"LSTM": 4, "GRU": 3}


def _per_gate(kernel: np.ndarray, gates: int, transform: Any) -> np.ndarray:
    return np.hstack([transform(k) for k in np.hsplit(kernel, gates)])


def _from_cudnn_input(kernel: np.ndarray) -> np.ndarray:
    return kernel.T.reshape(kernel.shape, order="F")


def is_cudnn(class_name: str, config: dict[str, Any], weights: list[Weight]) -> bool:
    """Whether these three weights, meant for an LSTM / GRU(reset_after=True), are cuDNN's."""
    gates = _GATES.get(class_name)
    if gates is None or len(weights) != 3 or len(weights[1].shape) != 2:
        return False
    if class_name == "GRU" and not config.get("reset_after", False):
        return False  # tf_keras: CuDNNGRU is not compatible with GRU(reset_after=False)
    units = weights[1].shape[0]
    return tuple(weights[2].shape) == (2 * units * gates,) and \
        tuple(weights[1].shape) == (units, units * gates)


def as_native(class_name: str, weights: list[Weight]) -> list[Weight]:
    """The cuDNN weights in the layout of `class_name`, converted when first read."""
    gates = _GATES[class_name]
    done: list[np.ndarray] = []

    def converted() -> list[np.ndarray]:
        if not done:
            kernel, recurrent, bias = (w.read() for w in weights)
            if class_name == "LSTM":  # the input and recurrent biases summed into one set
                bias = np.sum(np.split(bias, 2, axis=0), axis=0)
            else:  # GRU(reset_after=True) keeps both sets, as rows
                bias = bias.reshape((2, -1))
            done.extend(np.ascontiguousarray(a) for a in (
                _per_gate(kernel, gates, _from_cudnn_input),
                _per_gate(recurrent, gates, lambda k: k.T), bias))
        return done

    units = weights[1].shape[0]
    bias_shape = (units * gates,) if class_name == "LSTM" else (2, units * gates)
    shapes = (tuple(weights[0].shape), tuple(weights[1].shape), bias_shape)
    return [Weight(w.name, shape, w.dtype, lambda i=i: converted()[i], w.trainable)
            for i, (w, shape) in enumerate(zip(weights, shapes, strict=True))]
