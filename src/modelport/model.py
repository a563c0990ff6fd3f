"""The in-memory model every reader produces and every writer consumes: an architecture in
the canonical Keras 2 dialect, and weights as lazily read arrays grouped by top-level layer."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # numpy is imported where arrays are: the command line's help needs none
    import numpy as np

# The architecture is kept as a Keras model config dict in one canonical dialect: Keras 2
# (tf_keras / TF.js) key names in snake_case, list-style inbound nodes, node indices of nested
# models counted from 1 as Keras 2 does. Readers translate into it (keras_config.dialects),
# writers render out of it.
ModelConfig = dict[str, Any]


class ByteCheck(Protocol):
    """A checksum over a weight's bytes, fed in order while they are copied."""

    def update(self, data: bytes) -> None: ...

    def finish(self) -> None:
        """Raise a FormatError naming the file when the bytes were not what it promised."""


@dataclass(frozen=True)
class ByteRange:
    """Where a weight's raw bytes lie on disk, as one C-order run of numpy dtype `dtype` (with
    byte order, e.g. '<f4'): in one file, or (a tensor straddling TF.js shards) in consecutive
    `pieces` of several, each (path, offset, length). Writers that store exactly those bytes
    copy them file to file instead of reading the array."""

    pieces: tuple[tuple[str, int, int], ...]
    dtype: str
    # A check the bytes must pass as they are copied (a checkpoint's crc32c), made afresh for
    # each copy; copies then go through a buffer that feeds it.
    check: Callable[[], ByteCheck] | None = field(default=None, compare=False)

    @classmethod
    def at(cls, path: str, offset: int, length: int, dtype: str) -> ByteRange:
        """One run of `length` bytes at `offset` of `path`."""
        return cls(((path, offset, length),), dtype)

    @property
    def length(self) -> int:
        return sum(length for _, _, length in self.pieces)

    def checked(self, check: Callable[[], ByteCheck]) -> ByteRange:
        """The same bytes, with `check` made and fed whenever they are copied."""
        return ByteRange(self.pieces, self.dtype, check)


@dataclass
class Weight:
    """One weight tensor. `name` is the Keras 2 / TF.js name without ':0'
    (e.g. 'dense/kernel', 'lstm/lstm_cell/kernel'); `load` reads the array only when called.
    `source`, when known, is where `load`'s bytes lie on disk (kept only while it is exactly
    what `load` returns)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    load: Callable[[], np.ndarray]
    trainable: bool = True
    source: ByteRange | None = None

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of the raw tensor (strings: unknown until read, counted as 0)."""
        if self.dtype == "string":
            return 0
        import numpy as np

        return self.size * np.dtype(self.dtype).itemsize

    def read(self) -> np.ndarray:
        array = self.load()
        if tuple(array.shape) != tuple(self.shape):
            array = array.reshape(self.shape)
        return array

    def renamed(self, name: str) -> Weight:
        return Weight(name, self.shape, self.dtype, self.load, self.trainable, self.source)

    def relabelled(self, name: str, trainable: bool) -> Weight:
        """The same tensor (and source) under another name and trainable flag."""
        return Weight(name, self.shape, self.dtype, self.load, trainable, self.source)


def array_weight(name: str, array: np.ndarray, trainable: bool = True) -> Weight:
    """A weight held in memory (tests, quantized copies, small synthesised tensors)."""
    dtype = "string" if array.dtype.kind in "OSU" else array.dtype.name
    return Weight(name, tuple(array.shape), dtype, lambda: array, trainable)


@dataclass
class Metadata:
    source_format: str = ""
    keras_version: str | None = None
    backend: str | None = None
    generated_by: str | None = None
    converted_by: str | None = None
    user_defined_metadata: dict[str, Any] | None = None
    # What reading changed so that the config means what the Keras that wrote it computed
    # (old Keras forms today's Keras reads otherwise): a runtime given the file itself would
    # compute something else, so verify hands it modelport's translation instead.
    translations: list[str] = field(default_factory=list)


@dataclass
class Model:
    """A model between a reader and a writer.

    `config` is None for weights-only files. `weights` maps each top-level layer name (in
    layer order) to its weights in Keras order: trainable ones first, then non-trainable, with
    a nested model's sub-layers flattened into its entry as Keras does.
    """

    config: ModelConfig | None
    weights: dict[str, list[Weight]] = field(default_factory=dict)
    training_config: dict[str, Any] | None = None
    optimizer_weights: list[Weight] = field(default_factory=list)
    metadata: Metadata = field(default_factory=Metadata)
    # Files a `.keras` archive carries under assets/ (name -> reader), e.g. vocabularies.
    assets: dict[str, Callable[[], bytes]] = field(default_factory=dict)
    # What reading found worth telling the user (writers return their own in a WriteResult).
    warnings: list[str] = field(default_factory=list)
    # False when a weights-only source does not say in which order the model lists its
    # layers (a Keras 3 weights file names objects by class, 'layers/dense_1'): `weights` is
    # then in file order, and formats loaded by layer position cannot be written from it.
    layer_order_known: bool = True
    _resources: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    @property
    def name(self) -> str:
        if self.config is None:
            return "weights"
        return str(self.config.get("config", {}).get("name") or "model")

    @property
    def class_name(self) -> str | None:
        return None if self.config is None else self.config.get("class_name")

    @property
    def layers(self) -> list[dict[str, Any]]:
        """Top-level layer entries of the config ({class_name, config, name?, inbound_nodes?})."""
        if self.config is None:
            return []
        return list(self.config.get("config", {}).get("layers", []))

    def all_weights(self) -> Iterator[Weight]:
        for group in self.weights.values():
            yield from group

    @property
    def weight_count(self) -> int:
        return sum(len(group) for group in self.weights.values())

    def keep_open(self, resource: Any) -> Any:
        """Tie an open file to the model's lifetime (lazy weights read from it)."""
        return self._resources.enter_context(resource)

    def close(self) -> None:
        self._resources.close()

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
