"""A complete model from a weights-only file and an architecture: weights matched to layers as
Keras matches them (by layer name, by position, by Keras 3 object path), the mapping report
that says what went where, and fresh values for what --skip-mismatch leaves unloaded."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from modelport.errors import FormatError, ModelportError, UnsupportedError
from modelport.fileio import atomic_file, checked_input
from modelport.formats.keras_v3 import tf_keras_spelling
from modelport.keras_config import cudnn
from modelport.keras_config.entries import MODEL_CLASSES, layer_name
from modelport.keras_config.graph import container_paths
from modelport.keras_config.layouts import Slot, layer_slots, tfjs_lookup_name
from modelport.keras_config.object_paths import is_variable_path
from modelport.model import Model, Weight, array_weight
from modelport.registry import formats, read
from modelport.registry import source_format as source_format_of
from modelport.text import shape_text, table_lines

PathLike = str | os.PathLike[str]

MATCH_MODES = ("name", "order")


# Statuses of a mapping row; the first three stop a conversion unless --skip-mismatch.
SHAPE_MISMATCH = "shape_mismatch"
COUNT_MISMATCH = "count_mismatch"
MISSING = "missing"
AFTER_MISMATCH = "skipped"  # Keras 3 stops loading an object at its first mismatch
LOADED = "loaded"
UNCHECKED = "unchecked"  # loaded into a class modelport does not know: nothing to check
UNUSED = "unused"
_PROBLEMS = (SHAPE_MISMATCH, COUNT_MISMATCH, MISSING)


class MismatchError(ModelportError):
    """The weights file does not fit the architecture (and --skip-mismatch was not given);
    `report` says where."""

    def __init__(self, message: str, report: MappingReport, path: Path | None = None):
        super().__init__(message, path)
        self.report = report


@dataclass
class MappingRow:
    """One weight of the target model (or one unused weight of the file)."""

    layer: str
    class_name: str
    weight: str | None
    source: str | None
    shape: list[int] | None
    expected: list[int | None] | None
    status: str
    value: str = "file"  # where the written value comes from: file, initialised, none


@dataclass
class MappingReport:
    weights: str
    weights_format: str
    architecture: str
    match: str
    reason: str
    skip_mismatch: bool
    rows: list[MappingRow] = field(default_factory=list)

    @property
    def problems(self) -> list[MappingRow]:
        return [r for r in self.rows if r.status in _PROBLEMS]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["counts"] = self.counts()
        return data

    def write_json(self, path: Path, overwrite: bool = False) -> None:
        try:
            with atomic_file(path, overwrite) as tmp:
                tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise ModelportError(f"cannot write the mapping report ({exc.strerror or exc})",
                                 path) from None

    def render(self) -> str:
        """The table the CLI prints on stderr."""
        lines = [f"weights {self.weights} ({self.weights_format}) -> architecture "
                 f"{self.architecture}: matched by {self.match} ({self.reason})"]
        header = ("layer", "weight", "source", "shape", "status")
        lines += table_lines([header] + [
            (r.layer, r.weight or "-", r.source or "-", _shape_text(r.shape, r.expected),
             r.status + ("" if r.value == "file" or r.status == UNUSED else f" ({r.value})"))
            for r in self.rows])
        summary = ", ".join(f"{n} {status}" for status, n in self.counts().items())
        lines.append(f"  {summary or 'no weights'}")
        return "\n".join(lines)


def _shape_text(shape: list[int] | None, expected: list[int | None] | None) -> str:
    if shape is None:
        return shape_text(expected) if expected is not None else "-"
    if expected is None or _fits(shape, expected):
        return shape_text(shape)
    return f"{shape_text(shape)} != {shape_text(expected)}"


def _fits(shape: list[int] | tuple[int, ...], expected: list[int | None] | None) -> bool:
    if expected is None:
        return True
    return len(shape) == len(expected) and all(
        e is None or int(s) == e for s, e in zip(shape, expected, strict=True))


# ------------------------------------------------------------------------------------ targets

@dataclass
class _Target:
    """A top-level layer of the architecture, in `model.layers` order."""

    entry: dict[str, Any]
    path: str  # its Keras 3 object path
    slots: list[Slot] | None  # None: a layer class whose weights modelport does not know
    shapes: list[tuple[int | None, ...]] | None

    @property
    def name(self) -> str:
        return layer_name(self.entry)

    @property
    def class_name(self) -> str:
        return str(self.entry.get("class_name"))

    @property
    def may_have_weights(self) -> bool:
        return self.slots is None or bool(self.slots)

    def expected(self, index: int) -> list[int | None] | None:
        if self.shapes is None or index >= len(self.shapes):
            return None
        return list(self.shapes[index])


def _targets(config: dict[str, Any], tf_op_layers: bool = False) -> list[_Target]:
    from modelport.keras_config.shapes import expected_weight_shapes

    shapes = expected_weight_shapes(config)
    return [_Target(entry, path, layer_slots(entry), shapes.get(layer_name(entry)))
            for entry, path in container_paths(config.get("class_name", ""),
                                               config.get("config", {}), tf_op_layers)]


# ------------------------------------------------------------------------------------ matching

@dataclass
class _Group:
    key: str
    weights: list[Weight]


class _Matcher:
    """Fills `assigned` (target layer -> one source weight or None per slot) and the rows."""

    def __init__(self, targets: list[_Target], groups: list[_Group], keyed_by: str):
        self.targets = targets
        self.groups = groups
        self.keyed_by = keyed_by
        self.assigned: dict[str, list[Weight | None]] = {}
        self.rows: list[MappingRow] = []
        self.fatal: list[str] = []

    # -- one layer from one group, by position (Keras's rule inside a layer) ------------------
    def load_group(self, target: _Target, group: _Group | None, count_is_fatal: bool) -> None:
        weights = group.weights if group is not None else []
        if target.slots is None:  # unknown class: the file's weights as they come, if any
            self.assigned[target.name] = list(weights)
            for weight in weights:
                self._row(target, weight.name, weight, None, UNCHECKED, group)
            return
        if group is None:
            self._missing(target, [s[0] for s in target.slots])
            return
        if cudnn.is_cudnn(target.class_name, target.entry.get("config", {}), weights):
            weights = cudnn.as_native(target.class_name, weights)
        if len(weights) != len(target.slots):
            message = (f"layer '{target.name}' ({target.class_name}) has "
                       f"{len(target.slots)} weights, the file's group '{group.key}' has "
                       f"{len(weights)}")
            if count_is_fatal:
                self.fatal.append(message)
            self.assigned[target.name] = [None] * len(target.slots)
            for index, slot in enumerate(target.slots):
                source = weights[index] if index < len(weights) else None
                self._row(target, slot[0], source, target.expected(index), COUNT_MISMATCH, group)
            for extra in weights[len(target.slots):]:
                self._row(target, None, extra, None, COUNT_MISMATCH, group)
            return
        self.assigned[target.name] = []
        for index, (slot, weight) in enumerate(zip(target.slots, weights, strict=True)):
            expected = target.expected(index)
            fits = _fits(weight.shape, expected)
            self.assigned[target.name].append(weight if fits else None)
            self._row(target, slot[0], weight, expected, LOADED if fits else SHAPE_MISMATCH,
                      group)

    def _missing(self, target: _Target, names: list[str | None]) -> None:
        self.assigned[target.name] = [None] * len(names)
        for index, name in enumerate(names):
            self._row(target, name, None, target.expected(index), MISSING, None)

    def _row(self, target: _Target | None, weight_name: str | None, source: Weight | None,
             expected: list[int | None] | None, status: str, group: _Group | None) -> None:
        self.rows.append(MappingRow(
            layer=target.name if target else (group.key if group else "-"),
            class_name=target.class_name if target else "-",
            weight=weight_name,
            source=_source_key(self.keyed_by, group, source),
            shape=list(source.shape) if source is not None else None,
            expected=expected, status=status,
            value="file" if status in (LOADED, UNCHECKED) else "none"))

    def unused(self, group: _Group, weights: list[Weight] | None = None) -> None:
        for weight in group.weights if weights is None else weights:
            self._row(None, None, weight, None, UNUSED, group)

    # -- whole-model rules -----------------------------------------------------------------
    def by_layer_name(self, skip_count: bool = True) -> None:
        """tf_keras / Keras 3 `load_weights(by_name=True)`: a group goes to the layer of its
        name; a layer without a group is reported missing."""
        by_key = {g.key: g for g in self.groups}
        used: set[str] = set()
        for target in self.targets:
            group = by_key.get(target.name)
            if group is not None and not group.weights:
                group = None
            if group is None and (target.slots is None or not target.slots):
                continue  # no weights in the file, none known to be needed
            if group is not None:
                used.add(group.key)
            self.load_group(target, group, count_is_fatal=not skip_count)
        for group in self.groups:
            if group.weights and group.key not in used:
                self.unused(group)

    def by_layer_index(self) -> None:
        """A checkpoint's rule: the k-th layer of `model.layers` gets the checkpoint's
        'layer-k', whose weights are in creation order, not Keras's trainable-first order."""
        if len(self.targets) != len(self.groups):
            self.fatal.append(f"layer count mismatch: the architecture has "
                              f"{len(self.targets)} layers, the checkpoint "
                              f"{len(self.groups)}" + _listing(self.targets, self.groups))
            return
        for target, group in zip(self.targets, self.groups, strict=True):
            if target.slots is None and len(group.weights) > 1:
                self.fatal.append(
                    f"layer '{target.name}' ({target.class_name}) is of a class modelport "
                    "does not know and a checkpoint does not say which of its "
                    f"{len(group.weights)} weights are trainable, so their Keras order is "
                    "unknown; convert the checkpoint with tf_keras itself")
                return
            if target.slots is None or target.slots or group.weights:
                self.load_group(target, _in_keras_order(target, group), count_is_fatal=True)

    def by_position(self) -> None:
        """Keras's topological rule: the k-th layer with weights gets the k-th group with
        weights; the numbers must agree."""
        groups = [g for g in self.groups if g.weights]
        targets = [t for t in self.targets if t.slots]
        unknown = [t for t in self.targets if t.slots is None]
        if unknown and len(targets) != len(groups):
            # Classes modelport does not know have weights if the numbers say so, or, when
            # they do not, if the file has a group of their name.
            keys = {g.key for g in groups}
            named = [t for t in unknown if t.name in keys]
            if len(targets) + len(unknown) == len(groups):
                targets = [t for t in self.targets if t.may_have_weights]
            elif len(targets) + len(named) == len(groups):
                targets = [t for t in self.targets if t.slots or t in named]
            else:
                self.fatal.append(
                    f"the architecture has {len(targets)} layers with weights and "
                    f"{len(unknown)} of classes modelport does not know "
                    f"({', '.join(t.name for t in unknown)}); the file has {len(groups)} "
                    "groups of weights")
                return
        if len(targets) != len(groups):
            self.fatal.append(f"layer count mismatch: the architecture has {len(targets)} "
                              f"layers with weights, the file {len(groups)} groups of weights"
                              + _listing(targets, groups))
            return
        for target, group in zip(targets, groups, strict=True):
            self.load_group(target, group, count_is_fatal=True)

    def by_weight_name(self) -> None:
        """TF.js's rule: every weight by its name, exactly or without the second-to-last part
        ('lstm/lstm_cell/kernel' may be 'lstm/kernel')."""
        flat = [(g, w) for g in self.groups for w in g.weights]
        by_name = {w.name: (g, w) for g, w in flat}
        by_lookup: dict[str, tuple[_Group, Weight]] = {}
        for group, weight in flat:
            by_lookup.setdefault(tfjs_lookup_name(weight.name), (group, weight))
        used: set[int] = set()
        for target in self.targets:
            if target.slots is None:
                found = [(g, w) for g, w in flat if w.name.startswith(target.name + "/")]
                used.update(id(w) for _, w in found)
                self.load_group(target, _Group(found[0][0].key if found else target.name,
                                               [w for _, w in found]), count_is_fatal=False)
                continue
            hits: list[tuple[_Group, Weight] | None] = []
            for name, _, _ in target.slots:
                hit = by_name.get(name) or by_lookup.get(tfjs_lookup_name(name))
                hits.append(None if hit is None or id(hit[1]) in used else hit)
                if hits[-1] is not None:
                    used.add(id(hit[1]))
            hits = _native_layout(target, hits)
            assigned: list[Weight | None] = []
            for index, ((name, _, _), hit) in enumerate(zip(target.slots, hits, strict=True)):
                expected = target.expected(index)
                if hit is None:
                    assigned.append(None)
                    self._row(target, name, None, expected, MISSING, None)
                    continue
                group, weight = hit
                fits = _fits(weight.shape, expected)
                assigned.append(weight if fits else None)
                self._row(target, name, weight, expected, LOADED if fits else SHAPE_MISMATCH,
                          group)
            self.assigned[target.name] = assigned
        for group in self.groups:
            rest = [w for w in group.weights if id(w) not in used]
            if rest:
                self.unused(group, rest)

    def by_weight_position(self) -> None:
        """Order for a weights manifest: each layer with weights takes as many of the next
        weights as it has (a class modelport does not know: the next name group)."""
        queue = [(g, w) for g in self.groups for w in g.weights]
        for target in self.targets:
            if not target.may_have_weights:
                continue
            if not queue:
                self.fatal.append(f"the file has no weights left for layer '{target.name}' "
                                  "and those after it")
                return
            if target.slots is None:
                # A class modelport does not know takes the next group only by its name.
                group = queue[0][0]
                count = len(group.weights) if group.key == target.name else 0
            else:
                count = len(target.slots)
            taken, queue = queue[:count], queue[count:]
            self.load_group(target, _Group(taken[0][0].key if taken else target.name,
                                           [w for _, w in taken]), count_is_fatal=True)
        if queue:
            self.fatal.append(f"{len(queue)} weights of the file are left over after the last "
                              f"layer (first: '{queue[0][1].name}')")

    def by_object_path(self, weights: dict[str, Weight]) -> None:
        """Keras 3's rule: each layer's variables at its object path ('layers/dense_1/vars/0'),
        an object's variables all or none, loading stopping at the first shape mismatch."""
        used: set[str] = set()
        for target in self.targets:
            under = sorted((k for k in weights if k.startswith(target.path + "/")),
                           key=_path_order)
            if target.slots is None:
                used.update(under)
                self.load_group(target, _Group(target.path, [weights[k] for k in under]),
                                count_is_fatal=False)
                continue
            if not target.slots:
                continue
            if not under:
                self._missing(target, [s[0] for s in target.slots])
                continue
            self.assigned[target.name] = self._objects(target, weights, set(under), used)
        for group in self.groups:
            rest = [w for w in group.weights if w.name not in used]
            if rest:
                self.unused(group, rest)

    def _objects(self, target: _Target, weights: dict[str, Weight], present: set[str],
                 used: set[str]) -> list[Weight | None]:
        keys = [_object_key(target.path, slot[2], present) for slot in target.slots or []]
        owners: dict[str, list[int]] = {}
        for index, key in enumerate(keys):
            owners.setdefault(key.rsplit("/vars/", 1)[0], []).append(index)
        assigned: list[Weight | None] = [None] * len(keys)
        statuses = [MISSING] * len(keys)
        group = _Group(target.path, [])
        for owner, indices in owners.items():
            in_file = [k for k in present if k.rsplit("/vars/", 1)[0] == owner]
            if len(in_file) != len(indices):
                for index in indices:
                    statuses[index] = COUNT_MISMATCH if in_file else MISSING
                continue
            stopped = False
            for index in indices:
                weight = weights.get(keys[index])
                if weight is None:
                    statuses[index] = MISSING
                    stopped = True
                elif stopped:
                    statuses[index] = AFTER_MISMATCH
                elif _fits(weight.shape, target.expected(index)):
                    statuses[index] = LOADED
                    assigned[index] = weight
                else:
                    statuses[index] = SHAPE_MISMATCH
                    stopped = True
        used.update(present)
        for index, slot in enumerate(target.slots or []):
            source = weights.get(keys[index])
            self._row(target, slot[0], source, target.expected(index), statuses[index], group)
        return assigned


def _native_layout(target: _Target, hits: list[tuple[_Group, Weight] | None]
                   ) -> list[tuple[_Group, Weight] | None]:
    """A layer's weights found by name, converted from cuDNN's layout when they are a
    CuDNNLSTM / CuDNNGRU's (told by their shapes, as tf_keras tells them): such weights keep
    that layout in every weights file modelport copies them to, so each matching rule
    converts them, as `load_group` does for groups."""
    found = [hit for hit in hits if hit is not None]
    weights = [weight for _, weight in found]
    if len(found) != len(hits) or not cudnn.is_cudnn(
            target.class_name, target.entry.get("config", {}), weights):
        return hits
    return [(group, weight) for (group, _), weight in zip(
        found, cudnn.as_native(target.class_name, weights), strict=True)]


def _in_keras_order(target: _Target, group: _Group) -> _Group:
    """A group listed in creation order, put in Keras's order (trainable weights of all
    sub-layers first: it differs for nested models with non-trainable weights)."""
    created = layer_slots(target.entry, keras_order=False)
    if target.slots is None or created is None or not (
            len(created) == len(target.slots) == len(group.weights)):
        return group
    position = {(name, path): index for index, (name, _, path) in enumerate(created)}
    return _Group(group.key, [group.weights[position[(name, path)]]
                              for name, _, path in target.slots])


def _listing(targets: list[_Target], groups: list[_Group]) -> str:
    names = ", ".join(t.name for t in targets[:8])
    keys = ", ".join(g.key for g in groups[:8])
    return f" (architecture: {names}{', ...' if len(targets) > 8 else ''}; file: {keys}" + (
        ", ...)" if len(groups) > 8 else ")")


def _source_key(keyed_by: str, group: _Group | None, weight: Weight | None) -> str | None:
    """Where a weight came from: a weight of a layer-keyed weights file under its group."""
    if weight is None:
        return None
    if keyed_by == "layer" and group is not None:
        return f"{group.key}/{weight.name}"
    return weight.name


def _path_order(key: str) -> list[tuple[bool, Any]]:
    """Object paths as Keras walks them (own variables before children), indices numerically."""
    return [(part != "vars", int(part) if part.isdigit() else part) for part in key.split("/")]


def _object_key(path: str, relatives: str, present: set[str]) -> str:
    """The key of one slot in a Keras 3 weights file (tf_keras spells some sub-layers with a
    leading underscore)."""
    relative = relatives.split("|")[0]
    key = f"{path}/{relative}"
    if key not in present:
        alternative = f"{path}/{tf_keras_spelling(relative)}"
        if alternative in present:
            return alternative
    return key


# ------------------------------------------------------------------------------------ sources

def _groups(model: Model) -> list[_Group]:
    """The weight groups of a source in the order Keras lists them."""
    if model.config is None:
        return [_Group(key, list(weights)) for key, weights in model.weights.items()]
    return [_Group(layer_name(entry), list(model.weights.get(layer_name(entry), [])))
            for entry, _ in container_paths(model.class_name or "", model.config["config"])]


def _keyed_by(model: Model) -> str:
    """How a source's weight groups are keyed: a full model's by layer, a weights-only file's as
    its format says."""
    source = formats().get(model.metadata.source_format)
    if model.config is not None or source is None:
        return "layer"
    weights = list(model.all_weights())
    if source.keyed_by == "weight" and weights and all(is_variable_path(w.name)
                                                       for w in weights):
        return "path"  # a manifest written from a Keras 3 weights file: its object paths
    return source.keyed_by


def _all_names_match(targets: list[_Target], groups: list[_Group]) -> bool:
    """Every layer known to have weights has a group of its name, and every group a layer
    (one of a class modelport does not know may have weights or not)."""
    known = {t.name for t in targets if t.slots}
    unknown = {t.name for t in targets if t.slots is None}
    keys = {g.key for g in groups if g.weights}
    return known <= keys <= known | unknown


def _choose_match(keyed_by: str, match: str | None, targets: list[_Target],
                  groups: list[_Group], weights_path: Path) -> tuple[str, str]:
    if match is not None and match not in MATCH_MODES:
        raise UnsupportedError(f"--match must be one of {', '.join(MATCH_MODES)}, not "
                               f"'{match}'")
    if keyed_by == "path":
        if match is not None:
            raise UnsupportedError(
                f"--match {match} does not apply: a Keras 3 weights file has no layer names "
                "and no layer order; it is matched by object path ('layers/dense_1'), as "
                "Keras 3's load_weights does", weights_path)
        return "path", "Keras 3 weights files are matched by object path"
    if keyed_by == "position":
        if match == "name":
            raise UnsupportedError(
                "--match name does not apply: a TF checkpoint has no layer names "
                "(its keys are 'layer_with_weights-0', ...); it is matched by layer position, "
                "as tf_keras does", weights_path)
        return "order", "a TF checkpoint holds no layer names"
    if match is not None:
        return match, "--match " + match
    if keyed_by == "weight":
        trial = _Matcher(targets, groups, "")
        trial.by_weight_name()
        if not any(r.status in (MISSING, UNUSED) for r in trial.rows):
            return "name", "every weight name matches"
        return "order", "not every weight name matches"
    if _all_names_match(targets, groups):
        return "name", "every layer name matches"
    return "order", "the layer names differ"


# ------------------------------------------------------------------------------------ assembly

def assemble(weights_model: Model, architecture: Model, *, match: str | None = None,
             skip_mismatch: bool = False, seed: int = 0, weights_path: Path | None = None,
             architecture_path: Path | None = None) -> tuple[Model, MappingReport]:
    """A model with `architecture`'s config and the weights of `weights_model` (a weights-only
    file or any full model), matched as Keras would. Raises MismatchError (after filling the
    report it carries) when weights do not fit, unless `skip_mismatch`: then unloaded weights
    get fresh values from the layer's initializers, as a freshly built Keras model has."""
    if architecture.config is None:
        raise FormatError("holds weights only, no architecture", architecture_path)
    weights_path = weights_path or Path(weights_model.metadata.source_format)
    source_format = weights_model.metadata.source_format
    keyed_by = _keyed_by(weights_model)
    # A checkpoint's 'layer-k' counts tf_keras's op layers, which are layers there.
    targets = _targets(architecture.config, tf_op_layers=keyed_by == "position")
    groups = _groups(weights_model)
    mode, reason = _choose_match(keyed_by, match, targets, groups, weights_path)
    matcher = _Matcher(targets, groups,
                       keyed_by if weights_model.config is None else "model")
    if keyed_by == "path":
        matcher.by_object_path({w.name: w for g in groups for w in g.weights})
    elif keyed_by == "weight":
        matcher.by_weight_name() if mode == "name" else matcher.by_weight_position()
    elif keyed_by == "position":
        matcher.by_layer_index()
    elif mode == "name":
        matcher.by_layer_name(skip_count=skip_mismatch)
    else:
        matcher.by_position()
    report = MappingReport(str(weights_path), source_format, str(architecture_path or ""),
                           mode, reason, skip_mismatch, matcher.rows)
    if matcher.fatal:
        raise MismatchError(matcher.fatal[0], report, weights_path)
    problems = report.problems
    if problems and not skip_mismatch:
        raise MismatchError(_describe(problems) + "; --skip-mismatch loads the rest and gives "
                            "these fresh initial values, as Keras's skip_mismatch leaves them",
                            report, weights_path)
    model = Model(config=architecture.config,
                  metadata=replace(architecture.metadata, source_format=source_format),
                  training_config=architecture.training_config,
                  warnings=list(architecture.warnings) + list(weights_model.warnings))
    rng = np.random.default_rng(seed)
    for target in targets:
        assigned = matcher.assigned.get(target.name, [])
        if keyed_by == "position" and target.slots is None:
            # Checkpoint paths ('layer_with_weights-2/w') name no layer: name them after it.
            assigned = [w.renamed(f"{target.name}/{w.name.split('/', 1)[-1]}") if w else w
                        for w in assigned]
        elif keyed_by == "path" and target.slots is None:
            # Object paths ('layers/my_layer/vars/0') become paths inside the layer, as a
            # .keras reader names them, so that a Keras 3 writer puts them back under the
            # layer's own path rather than under that path twice.
            assigned = [w.renamed(_inside_layer(target, w.name)) if w else w
                        for w in assigned]
        try:
            model.weights[target.name] = _complete(target, assigned, rng)
        except UnsupportedError as exc:
            raise MismatchError(exc.message, report, architecture_path) from None
    _mark_initialised(report)
    if problems:
        model.warnings.append(f"{len(problems)} weights were not loaded (--skip-mismatch): "
                              "they have fresh initial values")
    unused = report.counts().get(UNUSED, 0)
    if unused:
        model.warnings.append(f"{unused} weights of {weights_path} match no layer of the "
                              "architecture and were left out")
    return model, report


def _inside_layer(target: _Target, path: str) -> str:
    """A weight's object path relative to its layer, under the layer's name (a nested
    model's weights carry no name of its own)."""
    relative = path[len(target.path):].strip("/") if path.startswith(target.path + "/") \
        else path
    return relative if target.class_name in MODEL_CLASSES else f"{target.name}/{relative}"


def _describe(problems: list[MappingRow]) -> str:
    first = problems[0]
    if first.status == SHAPE_MISMATCH:
        text = (f"layer '{first.layer}': weight '{first.weight}' has shape "
                f"{_shape_text(first.expected, None)} in the architecture but "
                f"{_shape_text(first.shape, None)} in the file ('{first.source}')")
    elif first.status == COUNT_MISMATCH:
        count = sum(1 for p in problems if p.layer == first.layer and p.weight)
        have = sum(1 for p in problems if p.layer == first.layer and p.source)
        text = (f"layer '{first.layer}' ({first.class_name}) has {count} weights in the "
                f"architecture, {have} in the file")
    else:
        text = f"layer '{first.layer}' ({first.class_name}) has no weights in the file"
    more = len({p.layer for p in problems}) - 1
    return text + (f" (and {more} more layers)" if more > 0 else "")


def _complete(target: _Target, assigned: list[Weight | None], rng: np.random.Generator
              ) -> list[Weight]:
    """The layer's weights named and flagged as its layout says; fresh values where none was
    loaded."""
    if target.slots is None:
        return [w for w in assigned if w is not None]
    fresh: list[np.ndarray] | None = None
    if any(w is None for w in assigned):
        fresh = _fresh_values(target, rng)
    weights = []
    for index, ((name, trainable, _), weight) in enumerate(zip(target.slots, assigned,
                                                               strict=True)):
        if weight is None:
            assert fresh is not None
            weights.append(array_weight(name, fresh[index], trainable))
        else:
            weights.append(weight.relabelled(name, trainable))
    return weights


def _fresh_values(target: _Target, rng: np.random.Generator) -> list[np.ndarray]:
    from modelport.keras_config.initializers import initial_weights

    shapes = target.shapes
    if shapes is None or any(d is None for shape in shapes for d in shape):
        raise UnsupportedError(f"layer '{target.name}' ({target.class_name}) is not fully "
                               "loaded and the shapes of its weights cannot be inferred from "
                               "the architecture, so it cannot be initialised")
    values = initial_weights(target.entry, [tuple(int(d) for d in s) for s in shapes], rng)
    if values is None:
        raise UnsupportedError(f"layer '{target.name}' ({target.class_name}) is not fully "
                               "loaded and modelport cannot draw fresh values for its "
                               "initializers")
    return values


def _mark_initialised(report: MappingReport) -> None:
    for row in report.rows:
        if row.status in (*_PROBLEMS, AFTER_MISMATCH) and row.weight is not None:
            row.value = "initialised"


def read_architecture(path: Path, format: str | None = None) -> Model:
    """The architecture of any file that holds one (its weights, if any, are not read)."""
    checked_input(path)
    fmt = source_format_of(path, format)
    if fmt.read_architecture is None and fmt.read is None:
        raise UnsupportedError(f"modelport cannot read {fmt.name} files", path)
    try:
        model = fmt.call("read_architecture" if fmt.read_architecture else "read", path)
    except ModelportError as exc:  # named here, where the file it is wrong about is known
        raise exc.about(path) from None
    if fmt.read_architecture is None:
        if model.config is None:
            model.close()
            raise FormatError(f"holds weights only ({fmt.name}), no architecture: pass a file "
                              "with the model's architecture (to_json() JSON, .h5, .keras, "
                              "model.json)", path)
        model.weights = {}
    return model


def assemble_files(weights: PathLike, architecture: PathLike, *, match: str | None = None,
                   skip_mismatch: bool = False, weights_format: str | None = None,
                   architecture_format: str | None = None) -> tuple[Model, MappingReport]:
    """A complete model from a weights file (any weights-only format, or any model file) and
    a file holding the architecture, with the report of which weight went where. `match` is
    "name" or "order" (default: by name when every layer name matches, else by order).
    Raises MismatchError, carrying `.report`, when the weights do not fit, unless
    `skip_mismatch`. Use the model as a context manager."""
    weights_path, architecture_path = Path(weights), Path(architecture)
    with read_architecture(architecture_path, architecture_format) as arch:
        source = read(weights_path, weights_format)
        try:
            model, report = assemble(
                source, arch, match=match, skip_mismatch=skip_mismatch,
                weights_path=weights_path, architecture_path=architecture_path)
        except BaseException:
            source.close()
            raise
    model.keep_open(source)
    return model, report
