"""TensorFlow checkpoints: locating one (prefix, its files, a directory's `checkpoint` state
file), its trackable object graph, and a Keras model's weights read from it.

Written by tf_keras ``save_weights("dir/ckpt")``, ``tf.train.Checkpoint.write/save`` and inside
SavedModels as ``variables/variables``; stored as a tensor bundle (see tensor_bundle).
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelport.errors import FormatError, UnsupportedError
from modelport.fileio import contained, lexists, regular_file
from modelport.formats.record import Format, Probe
from modelport.formats.tensor_bundle import (
    Bundle,
    DirectoryPrefix,
    index_file,
    is_table,
    prefix_of,
)
from modelport.model import Metadata, Model
from modelport.protobuf import DecodeError, Message
from modelport.summary import summarise as summarise_model

# --------------------------------------------------------------------------------------------
# The trackable object graph, saved as a tensor of the bundle.
# --------------------------------------------------------------------------------------------

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


@dataclass(frozen=True)
class ObjectReference:
    node_id: int
    local_name: str


@dataclass(frozen=True)
class SerializedTensor:
    name: str
    full_name: str
    checkpoint_key: str


@dataclass(frozen=True)
class SlotVariable:
    original_variable_node_id: int
    slot_name: str
    slot_variable_node_id: int


@dataclass(frozen=True)
class Node:
    """One object of the TrackableObjectGraph: its named children, the tensors it saved itself
    (`attributes`, e.g. name "VARIABLE_VALUE") and optimizer slots of its variables."""

    children: tuple[ObjectReference, ...]
    attributes: tuple[SerializedTensor, ...]
    slot_variables: tuple[SlotVariable, ...]


class Checkpoint(Bundle):
    """An opened checkpoint: a tensor bundle that can also give its object graph."""

    def object_graph(self) -> list[Node] | None:
        """The TrackableObjectGraph saved under _CHECKPOINTABLE_OBJECT_GRAPH (node 0 is the
        root), or None for name-based (TF1 Saver) checkpoints that have none."""
        if OBJECT_GRAPH_KEY not in self.entries:
            return None
        value = self.read(OBJECT_GRAPH_KEY)
        if value.shape != ():
            raise FormatError(f"{OBJECT_GRAPH_KEY} is not a scalar string", self.index_path)
        try:
            return _parse_object_graph(value[()])
        except (DecodeError, ValueError) as exc:
            raise FormatError(f"corrupt object graph in checkpoint: {exc}",
                              self.data_path(self.entries[OBJECT_GRAPH_KEY].shard_id)) from None


def _parse_object_graph(data: bytes) -> list[Node]:
    nodes = []
    for proto in Message(data).messages(1):
        nodes.append(Node(
            children=tuple(ObjectReference(ref.int32(1), ref.string(2))
                           for ref in proto.messages(1)),
            attributes=tuple(SerializedTensor(t.string(1), t.string(2), t.string(3))
                             for t in proto.messages(2)),
            slot_variables=tuple(SlotVariable(s.int32(1), s.string(2), s.int32(3))
                                 for s in proto.messages(3)),
        ))
    for node in nodes:
        ids = [c.node_id for c in node.children] + [
            i for s in node.slot_variables
            for i in (s.original_variable_node_id, s.slot_variable_node_id)]
        if any(not 0 <= i < len(nodes) for i in ids):
            raise ValueError(f"a reference to a node outside 0..{len(nodes) - 1}")
    return nodes


# --------------------------------------------------------------------------------------------
# Locating a checkpoint.
# --------------------------------------------------------------------------------------------

_STATE_LIMIT = 1 << 20  # a CheckpointState lists a few paths
_CHECKPOINT_LINE = re.compile(r'^\s*model_checkpoint_path\s*:\s*"((?:[^"\\]|\\.)*)"', re.M)


def _state_file_prefix(directory: Path) -> Path | None:
    """The checkpoint a directory's `checkpoint` state file (text CheckpointState) names; a
    path leading outside the directory is not followed."""
    state = directory / "checkpoint"
    if not lexists(state):
        return None
    contained(state, directory, state)
    if not regular_file(state):
        raise FormatError("checkpoint state file is not a regular file", state)
    if state.stat().st_size > _STATE_LIMIT:
        raise FormatError(f"checkpoint state file is {state.stat().st_size} bytes: not a "
                          "CheckpointState", state)
    try:
        text = state.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"cannot read checkpoint state file ({exc})", state) from None
    match = _CHECKPOINT_LINE.search(text)
    if match is None:
        raise FormatError("checkpoint state file has no model_checkpoint_path", state)
    # Text-format strings are C-escaped; bytes outside ASCII arrive as octal escapes.
    try:
        raw = codecs.escape_decode(match.group(1).encode("utf-8"))[0]
    except ValueError as exc:
        raise FormatError(f"checkpoint state file's path is badly escaped ({exc})",
                          state) from None
    text = raw.decode("utf-8", errors="surrogateescape")
    if not text or "\x00" in text:
        raise FormatError("checkpoint state file names no checkpoint path", state)
    named = Path(text)
    prefix = named if named.is_absolute() else directory / named
    # A prefix ending in a separator names files `.index`, `.data-…` inside that directory.
    empty_name = text.endswith(("/", os.sep)) or not named.name
    if empty_name:
        prefix = DirectoryPrefix(prefix)
    if named.is_absolute() and not _within(index_file(prefix), directory):
        # An absolute path from where the directory was written; it has been moved since (or
        # it points elsewhere, which is not followed): the checkpoint beside the state file.
        prefix = DirectoryPrefix(directory) if empty_name else directory / named.name
    if not named.is_absolute() and not _within(prefix.parent / "x", directory):
        raise FormatError(f"checkpoint state file names '{text}', outside its folder "
                          f"{directory}; a checkpoint's files must be inside it", state)
    return prefix


def _names_a_checkpoint(state: Path) -> bool:
    """Whether `state` is a CheckpointState text file (by its first bytes; links included, so
    that reading refuses one that leads outside)."""
    if not regular_file(state):
        return False
    try:
        with open(state, "rb") as handle:
            return b"model_checkpoint_path" in handle.read(4096)
    except OSError:
        return False


def _within(path: Path, directory: Path) -> bool:
    try:
        return path.resolve().is_relative_to(directory.resolve())
    except (OSError, RuntimeError, ValueError):
        return False


def checkpoint_prefix(path: str | Path) -> Path:
    """The checkpoint prefix `path` designates: a prefix (``dir/ckpt``), its ``.index`` or
    ``.data-…`` file, or a directory with a ``checkpoint`` state file or a single ``*.index``.
    Raises FormatError when there is none."""
    path = Path(path)
    if path.is_dir():
        prefix = _state_file_prefix(path)
        if prefix is None:
            indexes = sorted(path.glob("*.index"))
            if not indexes:
                raise FormatError("no TensorFlow checkpoint here (no 'checkpoint' file and no "
                                  "*.index file)", path)
            if len(indexes) > 1:
                names = ", ".join(p.name[:-len(".index")] for p in indexes)
                raise FormatError(f"several checkpoints ({names}); name one by its prefix",
                                  path)
            prefix = prefix_of(indexes[0])
    else:
        prefix = prefix_of(path)
    if not regular_file(index_file(prefix)):
        raise FormatError(f"checkpoint index '{index_file(prefix).name}' not found", path)
    return prefix


def open_bundle(path: str | Path) -> Checkpoint:
    """Open the checkpoint `path` designates (see `checkpoint_prefix`): reads and checks the
    index and that every data shard is there; tensors are read on demand."""
    return Checkpoint(checkpoint_prefix(path))


def detect(probe: Probe) -> bool:
    """Whether the input designates a TensorFlow checkpoint: a prefix (which need not exist as
    a file), its .index, or a folder with a checkpoint state file (reads only the index's last
    bytes). A folder whose state file is wrong is still a checkpoint: reading it says why."""
    if probe.is_dir and _names_a_checkpoint(probe.path / "checkpoint"):
        return True
    try:
        return is_table(index_file(checkpoint_prefix(probe.path)))
    except (FormatError, OSError):
        return False


# --------------------------------------------------------------------------------------------
# A Keras model's weights in a checkpoint (tf_keras `save_weights("ckpt")`).
# --------------------------------------------------------------------------------------------

NAME = "tf_checkpoint"
_WITH_WEIGHTS = re.compile(r"^layer_with_weights-(\d+)$")
_LAYER = re.compile(r"^layer-(\d+)$")


def _model_node(nodes: list[Node]) -> int | None:
    """The node of the Keras model: the root (save_weights), or a child of the root that has
    layers (`tf.train.Checkpoint(model=model)`)."""
    def has_layers(node_id: int) -> bool:
        return any(_LAYER.match(c.local_name) or _WITH_WEIGHTS.match(c.local_name)
                   for c in nodes[node_id].children)

    if has_layers(0):
        return 0
    candidates = [c.node_id for c in nodes[0].children if has_layers(c.node_id)]
    return candidates[0] if len(candidates) == 1 else None


def _variables(nodes: list[Node], node_id: int, path: str, seen: set[int]
               ) -> Iterator[tuple[str, str]]:
    """(checkpoint key, path) of the variables under a layer, depth first in child order:
    the order the layer created them in (a nested model: its layers in model.layers order)."""
    if node_id in seen:
        return
    seen.add(node_id)
    node = nodes[node_id]
    for attribute in node.attributes:
        if attribute.name == "VARIABLE_VALUE":
            yield attribute.checkpoint_key, path
    for child in node.children:
        if child.local_name == "root":
            continue
        yield from _variables(nodes, child.node_id, f"{path}/{child.local_name}", seen)


def read(path: Path) -> Model:
    """The layer weights of a Keras model's checkpoint: one group per layer of `model.layers`
    ('layer-N', in N order; empty for layers without weights), as tf_keras restores them by
    position, each group in creation order and each weight named by its object path
    ('layer_with_weights-0/cell/kernel': the checkpoint key less '/.ATTRIBUTES/VARIABLE_VALUE').
    Optimizer state is left out (a warning says so)."""
    bundle = open_bundle(path)
    nodes = bundle.object_graph()
    if nodes is None:
        raise UnsupportedError("a name-based (TF1 Saver) checkpoint without an object graph "
                               "holds no Keras model structure to match layers by",
                               bundle.index_path)
    model_id = _model_node(nodes)
    if model_id is None:
        raise FormatError("checkpoint holds no Keras model (no 'layer-N' objects); it was "
                          "not written by Keras save_weights", bundle.index_path)
    children = nodes[model_id].children
    weighted = {c.node_id: c.local_name for c in children if _WITH_WEIGHTS.match(c.local_name)}
    layers = sorted((int(m.group(1)), c.node_id) for c in children
                    if (m := _LAYER.match(c.local_name)))
    if not layers:  # only layer_with_weights-N: a model whose layers all have weights
        layers = sorted((int(m.group(1)), c.node_id) for c in children
                        if (m := _WITH_WEIGHTS.match(c.local_name)))
    model = Model(config=None, metadata=Metadata(source_format=NAME))
    for index, node_id in layers:
        prefix = weighted.get(node_id, f"layer-{index}")
        group = []
        for checkpoint_key, name in _variables(nodes, node_id, prefix, set()):
            entry = bundle.entries.get(checkpoint_key)
            if entry is None:
                raise FormatError(f"the object graph names '{checkpoint_key}', which the "
                                  "index does not hold", bundle.index_path)
            group.append(bundle.weight(checkpoint_key, name))
        model.weights[f"layer-{index}"] = group
    if any(c.local_name == "optimizer" for c in children):
        model.warnings.append("the checkpoint's optimizer state is not carried over")
    return model


def summarise(path: Path) -> dict[str, Any]:
    """inspect's summary: a Keras model's checkpoint as `read` groups it; any other (a TF1
    Saver's, or a tf.train.Checkpoint of something that is no Keras model) as its variables,
    in the order and with the names tf.train.list_variables gives."""
    bundle = open_bundle(path)
    nodes = bundle.object_graph()
    if nodes is not None and _model_node(nodes) is not None:
        with read(path) as model:
            return summarise_model(model, NAME, path)
    listing = Model(config=None, metadata=Metadata(source_format=NAME))
    for key in bundle.entries:
        if key != OBJECT_GRAPH_KEY:
            listing.weights.setdefault(key.split("/")[0], []).append(bundle.weight(key, key))
    found = summarise_model(listing, NAME, path)
    kind = "name-based (TF1 Saver)" if nodes is None else "object-based, of no Keras model,"
    found["warnings"].append(f"a {kind} checkpoint: its variables are listed; it converts to "
                             "no Keras format, as it names no Keras layers")
    return found


FORMATS = (
    Format(NAME, "TF checkpoint (ckpt.index + ckpt.data-*; tf_keras save_weights('ckpt'), "
           "tf.train.Checkpoint), read without TensorFlow", detect, extensions=(".index",),
           read=read, holds="weights", keyed_by="position", summarise=summarise),
)
