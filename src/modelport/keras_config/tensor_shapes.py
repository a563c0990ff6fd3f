"""Tensor shapes as static inference knows them (a dimension, or even the rank, may be unknown),
one layer call's input shapes, and the shape arithmetic weight and output rules share."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Dim = int | None
Shape = tuple[Dim, ...]
Tensor = Shape | None  # None: not even the rank is known


@dataclass(frozen=True)
class Call:
    """One call of a layer: the shapes of its first argument's tensors (flattened) and its
    keyword arguments, with the tensors among them replaced by their shapes."""

    inputs: list[Tensor]
    kwargs: dict[str, Any]

    @property
    def x(self) -> Tensor:
        """The main input (the first tensor: RNNs may get their initial states after it)."""
        return self.inputs[0] if self.inputs else None


UNKNOWN_CALL = Call([], {})


def dim(shape: Tensor, axis: int) -> Dim:
    if shape is None or not -len(shape) <= axis < len(shape):
        return None
    return shape[axis]


def ranked(shape: Tensor, rank: int) -> Tensor:
    """The shape when it has this rank, else unknown (a rule never reads a wrong axis)."""
    return shape if shape is not None and len(shape) == rank else None


def product(dims: Iterator[Dim] | list[Dim] | tuple[Dim, ...]) -> Dim:
    total = 1
    for d in dims:
        if d is None:
            return None
        total *= d
    return total


def ints(value: Any, count: int) -> tuple[int, ...]:
    """An int-or-tuple config argument (kernel_size, strides...) as `count` ints."""
    if isinstance(value, int):
        return (value,) * count
    values = tuple(int(v) for v in value)
    return values * count if len(values) == 1 and count > 1 else values


def axes(value: Any) -> list[int] | int:
    """An `axis` argument: one int or a list of them."""
    return [int(a) for a in value] if isinstance(value, list | tuple) else int(value)


def channels_first(cfg: dict[str, Any]) -> bool:
    return cfg.get("data_format") == "channels_first"


def split_channels(x: Tensor, rank: int, cfg: dict[str, Any]) -> tuple[list[Dim], Dim]:
    """Spatial dims and channels of an input with `rank` spatial axes (unknown: Nones)."""
    x = ranked(x, rank + 2)
    if x is None:
        return [None] * rank, None
    if channels_first(cfg):
        return list(x[2:]), x[1]
    return list(x[1:-1]), x[-1]


def join_channels(batch: Dim, spatial: list[Dim], channels: Dim, cfg: dict[str, Any]) -> Shape:
    if channels_first(cfg):
        return (batch, channels, *spatial)
    return (batch, *spatial, channels)


def conv_output_length(length: Dim, kernel: int, padding: str, stride: int,
                       dilation: int = 1) -> Dim:
    """Keras's conv_utils.conv_output_length (also pooling, with the pool as kernel)."""
    if length is None:
        return None
    dilated = kernel + (kernel - 1) * (dilation - 1)
    if padding in ("same", "causal"):
        out = length
    elif padding == "valid":
        out = length - dilated + 1
    elif padding == "full":
        out = length + dilated - 1
    else:
        return None
    return (out + stride - 1) // stride if out > 0 else None


def conv_output_spatial(spatial: list[Dim], rank: int, cfg: dict[str, Any],
                        dilated: bool = True) -> list[Dim]:
    """The spatial dims a convolution's config (kernel_size, strides, padding and, unless
    `dilated` is False, dilation_rate) makes of these input dims."""
    kernel_size = ints(cfg["kernel_size"], rank)
    strides = ints(cfg.get("strides", 1), rank)
    dilation = ints(cfg.get("dilation_rate", 1), rank) if dilated else (1,) * rank
    padding = str(cfg.get("padding", "valid")).lower()
    return [conv_output_length(n, k, padding, s, d) for n, k, s, d
            in zip(spatial, kernel_size, strides, dilation, strict=True)]


def merge_dim(a: Dim, b: Dim) -> Dim:
    if a is None:
        return b
    if b is None or a == b:
        return a
    return None  # two sources disagree: claim nothing


def merge_shape(a: Tensor, b: Tensor) -> Tensor:
    if a is None:
        return b
    if b is None:
        return a
    if len(a) != len(b):
        return None
    return tuple(merge_dim(x, y) for x, y in zip(a, b, strict=True))


def shape_of(value: Any) -> Tensor:
    if isinstance(value, list | tuple) and all(d is None or isinstance(d, int) for d in value):
        return tuple(value)
    return None


def refine(shape: Tensor, hint: Any) -> Tensor:
    """A shape completed with a hint from the config (an InputLayer's declared shape, a
    tf_keras build_config), when the hint is a shape of the same rank."""
    if not isinstance(hint, list | tuple) or not all(
        d is None or isinstance(d, int) for d in hint
    ):
        return shape
    hint_shape = tuple(hint)
    if shape is None:
        return hint_shape
    if len(shape) != len(hint_shape):
        return shape
    return merge_shape(shape, hint_shape)
