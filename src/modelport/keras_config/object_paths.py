"""Keras 3 object paths without an architecture ('layers/dense_1/vars/0', as `.weights.h5`
files key their variables): the layer each belongs to, and the only order of layers they
tell. Keras 3 writes no order (no HDF5 creation order; groups list by name) and names each
layer of a model by its class, counted per class in the model's order ('dense', 'dense_1',
...: keras/src/saving/saving_lib.py `_save_container_state`)."""

from __future__ import annotations

import re
from typing import TypeVar

VARS = re.compile(r"^(?:(.*)/)?vars/(\d+)$")
_COUNTED_LAYER = re.compile(r"^layers/(.+?)(?:_(\d+))?$")

T = TypeVar("T")


def is_variable_path(name: str) -> bool:
    """Whether `name` is the object path of a variable ('layers/dense/vars/0', a subclassed
    model's 'block1/layers/conv2d/vars/1'): no Keras or TF.js weight name ends so."""
    return VARS.match(name) is not None


def top_object(obj: str) -> str:
    """The top-level object an object path is under: 'layers/<layer>', or 'vars' (the model's
    own), or its first part."""
    parts = obj.split("/")
    return "/".join(parts[:2]) if parts[0] == "layers" and len(parts) > 1 else parts[0]


def owner(name: str) -> str:
    """The object holding a variable ('layers/lstm/cell' for 'layers/lstm/cell/vars/1')."""
    match = VARS.match(name)
    return (match.group(1) or "") if match else name


def grouped_in_layer_order(named: list[tuple[str, T]]) -> tuple[dict[str, list[T]], bool]:
    """Values keyed by their variables' object paths, grouped by top-level object (in the
    given order inside a group), the groups in the model's layer order when the paths tell
    it; and whether they do. They do only when every layer with variables is of one class
    (its counter then is its place) and, inside each, one object holds all its variables
    (Bidirectional's forward_layer / backward_layer or a nested model's layers come by
    name, not in Keras's order)."""
    groups: dict[str, list[T]] = {}
    holders: dict[str, set[str]] = {}
    for name, value in named:
        top = top_object(owner(name))
        groups.setdefault(top, []).append(value)
        holders.setdefault(top, set()).add(owner(name))
    order = _layer_order(holders)
    if order is None:
        return groups, False
    return {top: groups[top] for top in order}, True


def _layer_order(holders: dict[str, set[str]]) -> list[str] | None:
    if any(len(objects) > 1 for objects in holders.values()):
        return None
    if len(holders) <= 1:
        return list(holders)
    counted: dict[str, tuple[str, int]] = {}
    for top in holders:
        match = _COUNTED_LAYER.match(top)
        if match is None:
            return None
        counted[top] = (match.group(1), int(match.group(2) or 0))
    if len({base for base, _ in counted.values()}) != 1:
        return None
    return sorted(holders, key=lambda top: counted[top][1])
