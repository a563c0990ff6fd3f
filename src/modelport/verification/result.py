"""What a verification found: both sides, the inputs fed, each output compared, the verdict,
and the text table the CLI prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelport.text import shape_text, table_lines
from modelport.verification.compare import OutputComparison, Tolerance


@dataclass
class Side:
    """One of the two models and the runtime that ran it."""

    label: str  # "A" or "B"
    path: str
    format: str
    runtime: str  # keras3, tf_keras, tensorflow, tfjs
    runtime_version: str = ""  # e.g. "Keras 3.15.1 (tensorflow backend)", "TF.js 4.22.0"
    # How the runtime got the model when it cannot read the format itself (else "").
    via: str = ""
    quantized: str = ""  # e.g. "uint8" when the side's weights are quantized

    def describe(self) -> str:
        runtime = self.runtime_version or self.runtime
        text = f"{self.label}: {self.path} ({self.format}) in {runtime}"
        return text + (f", {self.via}" if self.via else "")


@dataclass
class InputInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    source: str  # "generated: uniform [-1, 1), seed 0", "data.npz['x']"


@dataclass
class VerifyResult:
    a: Side
    b: Side
    inputs: list[InputInfo]
    outputs: list[OutputComparison]
    tolerance: Tolerance
    notes: list[str] = field(default_factory=list)
    # When outputs differ and both sides could run layer by layer: the first layer (in A's
    # order) whose outputs differ, with its comparison.
    divergence: OutputComparison | None = None
    # The command line that produced the result (set by the CLI; shown in the report).
    command: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.outputs) and all(o.passed for o in self.outputs)

    @property
    def failed_outputs(self) -> list[str]:
        return [o.name for o in self.outputs if not o.passed]

    def table(self) -> str:
        """The comparison table: one row per output."""
        return "\n".join(table_lines(self.table_rows(), right=(2, 3)))

    def table_rows(self) -> list[tuple[str, ...]]:
        """The comparison table's cells as formatted (header first), for text and HTML alike."""
        rows = [("output", "shape", "max abs err", "max rel err", "argmax agree", "result")]
        for o in self.outputs:
            shape = shape_text(o.shape_a) if o.shape_a == o.shape_b else (
                f"{shape_text(o.shape_a)} vs {shape_text(o.shape_b)}")
            agree = "-" if o.argmax_agreement is None else (
                f"{o.argmax_agreement:.1%} ({round(o.argmax_agreement * o.argmax_rows)}"
                f"/{o.argmax_rows})")
            rows.append((o.name, shape, _number(o.max_abs_error), _number(o.max_rel_error),
                         agree, "pass" if o.passed else "FAIL"))
        return rows

    def render(self) -> str:
        """Everything the CLI prints: sides, inputs, tolerance, the table and the verdict."""
        lines = [self.a.describe(), self.b.describe()]
        for info in self.inputs:
            lines.append(f"input {info.name}: {shape_text(info.shape)} {info.dtype}, "
                         f"{info.source}")
        lines.append(tolerance_line(self.tolerance))
        lines.extend(self.notes)
        lines.append("")
        lines.append(self.table())
        lines.append("")
        if self.divergence_line():
            lines.append(self.divergence_line())
        lines.append(self.verdict())
        return "\n".join(lines)

    def divergence_line(self) -> str:
        """Where the two models part: the first layer whose outputs differ ('' when unknown)."""
        found = self.divergence
        if found is None:
            return ""
        return (f"first layer whose outputs differ: '{found.name}' (max abs err "
                f"{_number(found.max_abs_error)}, max rel err {_number(found.max_rel_error)})")

    def verdict(self) -> str:
        """The last line: PASS or FAIL and which outputs differ."""
        if self.passed:
            return f"PASS: all {len(self.outputs)} output(s) within tolerance"
        failed = self.failed_outputs
        return (f"FAIL: {len(failed)} of {len(self.outputs)} output(s) differ: "
                + ", ".join(failed))

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "a": vars(self.a) | {}, "b": vars(self.b) | {},
            "inputs": [{"name": i.name, "shape": list(i.shape), "dtype": i.dtype,
                        "source": i.source} for i in self.inputs],
            "tolerance": {"atol": self.tolerance.atol, "rtol": self.tolerance.rtol,
                          "widened_because": self.tolerance.widened_because},
            "outputs": [o.as_dict() for o in self.outputs],
            "notes": list(self.notes),
            "first_diverging_layer": None if self.divergence is None else
            self.divergence.as_dict(),
        }


def tolerance_line(tolerance: Tolerance) -> str:
    text = f"tolerance: |b - a| <= {tolerance.atol:g} + {tolerance.rtol:g} * |a|"
    if tolerance.widened_because:
        text += (f"; widened because {tolerance.widened_because} (atol scaled per output by "
                 "its largest value)")
    return text


def _number(value: float) -> str:
    if value != value:  # NaN: not comparable
        return "-"
    return "0" if value == 0 else f"{value:.3g}"
