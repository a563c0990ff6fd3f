"""Comparing two runtimes' outputs: tolerances (widened for quantized weights), per-output error
statistics, argmax agreement for classifier-like outputs, and the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelport.verification.defaults import DEFAULT_ATOL, DEFAULT_RTOL

# float32 arithmetic done in a different order (another runtime, fused kernels) differs in the
# last bits; these bound that for models of ordinary depth while still catching one wrong weight.
# A quantized weight is off by up to half a quantization step; through a network the outputs
# move by a few times the worst relative step (measured on the zoo; see the tests).
QUANTIZATION_FACTOR = 8.0
FLOAT16_RELATIVE_STEP = 2.0**-11  # half a unit in the last place of float16's 10-bit fraction


@dataclass(frozen=True)
class Tolerance:
    """|b - a| <= atol + rtol * |a| elementwise, a being side A (the reference)."""

    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL
    # Why the defaults were widened (empty when they were not, or the user set them).
    widened_because: str = ""
    # Relative weight error the widening was computed from (0 when not widened).
    relative_step: float = 0.0


@dataclass(frozen=True)
class ElementSample:
    """One element of an output: where it is, A's and B's values, |b - a| and its bound."""

    index: tuple[int, ...]
    a: float
    b: float
    abs_error: float
    bound: float


# Rows of the worst elements the report shows per output.
WORST_ELEMENTS = 5


@dataclass
class OutputComparison:
    """One output of the two models compared."""

    name: str
    shape_a: tuple[int, ...]
    shape_b: tuple[int, ...]
    max_abs_error: float
    max_rel_error: float
    # Fraction of rows whose argmax agrees, for classifier-like outputs (None otherwise).
    argmax_agreement: float | None
    argmax_rows: int
    passed: bool
    atol: float
    rtol: float
    # Why it failed when the values could not be compared at all (shapes differ).
    problem: str = ""
    # |b - a| per element (flattened float64), for the report's error distribution.
    abs_errors: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    # Each element's bound atol + rtol * |a| (flattened float64), and how many exceed it.
    bounds: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    over_bound: int = 0
    # The elements furthest past (or nearest to) their bound, worst first, for the report.
    worst: list[ElementSample] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape_a": list(self.shape_a), "shape_b": list(self.shape_b),
                "max_abs_error": self.max_abs_error, "max_rel_error": self.max_rel_error,
                "argmax_agreement": self.argmax_agreement, "argmax_rows": self.argmax_rows,
                "passed": self.passed, "atol": self.atol, "rtol": self.rtol,
                "elements_over_bound": self.over_bound, "problem": self.problem}


def quantization_step(manifest: list[dict[str, Any]]) -> tuple[float, str]:
    """The worst relative error quantization puts into any weight of a TF.js weights manifest
    (half a step over the weight's largest magnitude) and a phrase naming the dtypes."""
    worst = 0.0
    dtypes: set[str] = set()
    for group in manifest:
        for spec in group.get("weights", []):
            quant = spec.get("quantization")
            if not quant:
                continue
            dtype = str(quant.get("dtype"))
            dtypes.add(dtype)
            if dtype == "float16":
                worst = max(worst, FLOAT16_RELATIVE_STEP)
                continue
            qmax = 255 if dtype == "uint8" else 65535
            scale = float(quant.get("scale", 0.0))
            if spec.get("dtype") == "int32" and scale <= 1:
                continue  # integers a step of at most 1 apart are rounded back exactly
            low = float(quant.get("min", 0.0))
            largest = max(abs(low), abs(low + scale * qmax))
            if largest > 0:
                worst = max(worst, scale / 2 / largest)
    return worst, "/".join(sorted(dtypes))


def widened(base: Tolerance, steps: list[tuple[str, float, str]]) -> Tolerance:
    """`base` widened for the quantized sides: `steps` holds (side, worst relative step,
    dtypes) per side with quantized weights. Relative tolerance grows to a few steps; the
    absolute one is scaled per output by its magnitude (see `compare`)."""
    steps = [s for s in steps if s[1] > 0]
    if not steps:
        return base
    step = max(s[1] for s in steps)
    sides = ", ".join(f"{side} has {dtypes}-quantized weights" for side, _, dtypes in steps)
    rtol = max(base.rtol, QUANTIZATION_FACTOR * step)
    return Tolerance(base.atol, rtol, f"{sides} (worst relative weight error {step:.2g})", step)


def _classifier_like(a: np.ndarray) -> bool:
    """Rows that are probability distributions over at least two classes (softmax-like)."""
    if a.ndim < 2 or a.shape[-1] < 2 or a.size == 0 or a.dtype.kind != "f":
        return False
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        return False
    return bool(np.allclose(a.sum(axis=-1), 1.0, atol=1e-3))


def compare(name: str, a: np.ndarray, b: np.ndarray, tolerance: Tolerance,
            classifier: bool | None = None) -> OutputComparison:
    """Compare output `name` of side B with side A (the reference). `classifier` forces the
    argmax column on or off (default: on when A's rows are probability distributions)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return OutputComparison(name, a.shape, b.shape, float("nan"), float("nan"), None, 0,
                                False, tolerance.atol, tolerance.rtol,
                                problem=f"shapes differ: {a.shape} vs {b.shape}")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    both_nan = np.isnan(a64) & np.isnan(b64)
    same_inf = np.isinf(a64) & (a64 == b64)
    diff = np.abs(b64 - a64)
    diff[both_nan | same_inf] = 0.0
    diff[np.isnan(diff)] = np.inf  # NaN on one side only
    atol = tolerance.atol
    if tolerance.relative_step:
        finite = np.abs(a64[np.isfinite(a64)])
        scale = float(finite.max()) if finite.size else 1.0
        atol = max(atol, QUANTIZATION_FACTOR * tolerance.relative_step * max(scale, 1.0))
    magnitude = np.abs(a64)
    bounds = atol + tolerance.rtol * np.where(np.isfinite(magnitude), magnitude, 0.0)
    over = diff > bounds
    passed = not bool(np.any(over))
    meaningful = magnitude > atol
    rel = diff[meaningful] / magnitude[meaningful]
    agreement, rows = None, 0
    if classifier if classifier is not None else _classifier_like(a64):
        if a.ndim >= 2 and a.shape[-1] >= 2:
            arg_a = np.argmax(a64.reshape(-1, a.shape[-1]), axis=-1)
            arg_b = np.argmax(b64.reshape(-1, a.shape[-1]), axis=-1)
            rows = int(arg_a.size)
            agreement = float(np.mean(arg_a == arg_b)) if rows else 1.0
    return OutputComparison(
        name, a.shape, b.shape,
        float(diff.max()) if diff.size else 0.0,
        float(rel.max()) if rel.size else 0.0,
        agreement, rows, passed, atol, tolerance.rtol,
        abs_errors=diff.reshape(-1), bounds=bounds.reshape(-1),
        over_bound=int(np.count_nonzero(over)), worst=_worst(a64, b64, diff, bounds))


def _worst(a: np.ndarray, b: np.ndarray, diff: np.ndarray, bounds: np.ndarray
           ) -> list[ElementSample]:
    """The elements with the largest |b - a| relative to their bound (equal ones left out)."""
    ratio = (diff / bounds).reshape(-1)
    candidates = np.flatnonzero(diff.reshape(-1) > 0)
    if candidates.size > WORST_ELEMENTS:
        part = np.argpartition(-ratio[candidates], WORST_ELEMENTS - 1)[:WORST_ELEMENTS]
        candidates = candidates[part]
    ordered = candidates[np.argsort(-ratio[candidates], kind="stable")]
    return [ElementSample(tuple(int(i) for i in np.unravel_index(flat, a.shape)),
                          float(a.flat[flat]), float(b.flat[flat]), float(diff.flat[flat]),
                          float(bounds.flat[flat])) for flat in ordered]
