"""The `--report` page: one self-contained HTML file with the verdict, both sides, the inputs,
the command line that produced it, the comparison table and, per output, a plot of the error
distribution with the elements' bounds and the worst elements, A against B (needs matplotlib)."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelport._version import __version__
from modelport.errors import MissingExtraError
from modelport.fileio import atomic_file, check_writable
from modelport.text import shape_text
from modelport.verification.compare import OutputComparison
from modelport.verification.result import Side, VerifyResult, tolerance_line

MISSING_MATPLOTLIB = "--report needs matplotlib: pip install 'modelport[report]'"

# Small figures keep a page with many outputs at a few hundred kB.
FIGURE_INCHES = (5.0, 2.2)
FIGURE_DPI = 100
# Bins per decade of the x axis, so a bar's width means the same in every output's plot.
BINS_PER_DECADE = 8
AXIS_DECADES_LIMIT = 200.0  # the x axis stays within 1e-200..1e200 (see _histogram_png)
# A colour used nowhere else on the page, so a rendering test can find the drawn bars.
BAR_COLOUR = "#009688"
BOUND_COLOUR = "#d62828"

STYLE = """
body { font-family: system-ui, sans-serif; color: #222; max-width: 64em; margin: 2em auto;
       padding: 0 1em; line-height: 1.4; }
h1.pass, .badge.pass, td.result.pass { color: #1b7a36; }
h1.fail, .badge.fail, td.result.fail { color: #b00020; }
h1 { margin-bottom: .2em; }
p.verdict { margin-top: 0; font-weight: bold; }
table { border-collapse: collapse; margin: .5em 0 1.2em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.result { font-weight: bold; }
tr.fail td { background: #fde2e4; }
td.path, td.source { font-family: ui-monospace, monospace; word-break: break-all; }
section.output { margin: 1em 0 1.5em; }
section.output h3 { margin-bottom: .3em; }
figure { margin: 0; }
figcaption, p.no-plot { font-size: .9em; color: #444; max-width: 50em; }
footer { margin-top: 2em; font-size: .8em; color: #777; }
pre.command { background: #f6f6f6; padding: .4em .6em; white-space: pre-wrap;
              word-break: break-all; }
td.index { font-family: ui-monospace, monospace; }
"""


def check_report_dependencies() -> None:
    """Raise MissingExtraError when matplotlib cannot be imported, so the CLI can refuse
    `--report` before running any model."""
    try:
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.figure  # noqa: F401
        import matplotlib.style  # noqa: F401
    except ImportError as err:
        raise MissingExtraError(MISSING_MATPLOTLIB) from err


def write_report(result: VerifyResult, path: Path, overwrite: bool = False) -> Path:
    """Write the report for `result` to `path` atomically and return `path`. Refuses an
    existing file unless `overwrite`; writes nothing when matplotlib is missing."""
    check_report_dependencies()
    path = Path(path)
    # Fail before drawing every plot; atomic_file checks again when it moves the file in.
    check_writable(path, overwrite)
    page = render_report(result)
    with atomic_file(path, overwrite=overwrite) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def render_report(result: VerifyResult) -> str:
    """The report page as HTML text."""
    check_report_dependencies()
    verdict = "PASS" if result.passed else "FAIL"
    css_class = verdict.lower()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta name="generator" content="modelport {_esc(__version__)}">',
        f"<title>modelport verify: {verdict}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f'<h1 class="verdict {css_class}">modelport verify: {verdict}</h1>',
        f'<p class="verdict {css_class}">{_esc(result.verdict())}</p>',
        *([f'<p class="divergence">{_esc(result.divergence_line())}</p>']
          if result.divergence_line() else []),
        *([f'<pre class="command">{_esc(result.command)}</pre>'] if result.command else []),
        "<h2>Models</h2>",
        _sides_table([result.a, result.b]),
        "<h2>Inputs</h2>",
        _inputs_table(result),
        "<h2>Tolerance</h2>",
        f'<p class="tolerance">{_esc(tolerance_line(result.tolerance))}</p>',
        "<h2>Comparison</h2>",
        _comparison_table(result),
    ]
    if result.notes:
        parts.append("<h2>Notes</h2>")
        parts.append('<ul class="notes">'
                     + "".join(f"<li>{_esc(note)}</li>" for note in result.notes) + "</ul>")
    parts.append("<h2>Error distributions</h2>")
    for index, output in enumerate(result.outputs):
        parts.append(_output_section(index, output))
    parts.append(f"<footer>Written by modelport {_esc(__version__)}.</footer>")
    parts.append("</body>\n</html>\n")
    return "\n".join(parts)


def _esc(text: object) -> str:
    """Text from models, files or users, safe in element content and quoted attributes."""
    return html.escape(str(text), quote=True)


def _table(header: tuple[str, ...], rows: list[str], css_class: str) -> str:
    head = "".join(f"<th>{_esc(cell)}</th>" for cell in header)
    return (f'<table class="{css_class}">\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(rows) + "\n</tbody>\n</table>")


def _sides_table(sides: list[Side]) -> str:
    rows = []
    for side in sides:
        cells = [
            f"<th>{_esc(side.label)}</th>",
            f'<td class="path">{_esc(side.path)}</td>',
            f"<td>{_esc(side.format)}</td>",
            f"<td>{_esc(side.runtime)}</td>",
            f"<td>{_esc(side.runtime_version or '-')}</td>",
            f"<td>{_esc(side.via or '-')}</td>",
            f"<td>{_esc(side.quantized or '-')}</td>",
        ]
        rows.append(f'<tr class="side">{"".join(cells)}</tr>')
    header = ("side", "path", "format", "runtime", "version", "via", "quantized weights")
    return _table(header, rows, "sides")


def _inputs_table(result: VerifyResult) -> str:
    rows = [f'<tr><td>{_esc(info.name)}</td><td>{_esc(shape_text(info.shape))}</td>'
            f'<td>{_esc(info.dtype)}</td><td class="source">{_esc(info.source)}</td></tr>'
            for info in result.inputs]
    return _table(("input", "shape", "dtype", "source"), rows, "inputs")


def _comparison_table(result: VerifyResult) -> str:
    # The same cells as the CLI's text table, so the page and the terminal never disagree.
    header, *cells = result.table_rows()
    numeric = {2, 3}
    rows = []
    for index, (output, row) in enumerate(zip(result.outputs, cells, strict=True)):
        status = "pass" if output.passed else "fail"
        tds = []
        for column, cell in enumerate(row):
            if column == 0:
                tds.append(f'<td class="name"><a href="#output-{index}">{_esc(cell)}</a></td>')
            elif column in numeric:
                tds.append(f'<td class="num">{_esc(cell)}</td>')
            elif column == len(row) - 1:
                tds.append(f'<td class="result {status}">{_esc(cell)}</td>')
            else:
                tds.append(f"<td>{_esc(cell)}</td>")
        rows.append(f'<tr class="{status}">{"".join(tds)}</tr>')
    return _table(header, rows, "comparison")


@dataclass
class ErrorSummary:
    """What the caption says about one output's |b - a|."""

    count: int
    zeros: int
    non_finite: int
    positive: np.ndarray  # the finite errors above zero: what a log axis can show
    median: float
    p99: float
    maximum: float


def summarize_errors(abs_errors: np.ndarray) -> ErrorSummary:
    """Counts and order statistics of |b - a|, NaN counted as the worst (one side only)."""
    errors = np.asarray(abs_errors, dtype=np.float64).reshape(-1)
    finite = np.isfinite(errors)
    positive = errors[finite & (errors > 0)]
    if errors.size == 0:
        return ErrorSummary(0, 0, 0, positive, 0.0, 0.0, 0.0)
    # compare() turns a one-sided NaN into inf already; NaN is treated the same if it comes in.
    ranked = np.where(np.isnan(errors), np.inf, errors)
    # Percentiles as actual element values (rank rounded up): interpolating next to an
    # infinite error would give NaN, and a report should not understate an error.
    median, p99 = np.percentile(ranked, [50, 99], method="higher")
    return ErrorSummary(int(errors.size), int(np.count_nonzero(errors == 0)),
                        int(np.count_nonzero(~finite)), positive, float(median), float(p99),
                        float(ranked.max()))


def _number(value: float) -> str:
    if np.isnan(value):
        return "NaN"
    if np.isinf(value):
        return "inf"
    return "0" if value == 0 else f"{value:.3g}"


def bound_range(output: OutputComparison) -> tuple[float, float]:
    """The smallest and largest of the elements' bounds atol + rtol * |a| (atol alone when
    the comparison kept none)."""
    bounds = np.asarray(output.bounds, dtype=np.float64)
    finite = bounds[np.isfinite(bounds)]
    if finite.size == 0:
        return output.atol, output.atol
    return float(finite.min()), float(finite.max())


def _one_bound(low: float, high: float) -> bool:
    """Whether the bounds are one value as the plot and caption show numbers (3 digits)."""
    return high <= low * (1 + 1e-3)


def _caption(summary: ErrorSummary, output: OutputComparison) -> str:
    text = f"{summary.count} elements"
    if summary.zeros:
        text += f"; {summary.zeros} exactly equal (|b - a| = 0, not on the log axis)"
    if summary.non_finite:
        text += (f"; {summary.non_finite} non-finite (NaN or inf on one side only, "
                 "not plotted)")
    text += (f". Median {_number(summary.median)}, 99th percentile {_number(summary.p99)}, "
             f"max {_number(summary.maximum)}. ")
    text += (f"Each element's bound is atol + rtol * |a| with atol {_number(output.atol)}, "
             f"rtol {_number(output.rtol)}: {output.over_bound} of {summary.count} elements "
             "exceed theirs")
    low, high = bound_range(output)
    if summary.positive.size and high > 0:
        if _one_bound(low, high):
            text += f"; the dashed line marks the bound, {_number(high)}"
        else:
            text += (f"; the dashed lines mark the smallest and the largest bound, "
                     f"{_number(low)} and {_number(high)}")
    return text + "."


def _output_section(index: int, output: OutputComparison) -> str:
    status = "pass" if output.passed else "fail"
    badge = "pass" if output.passed else "FAIL"  # as the table's result column says it
    parts = [f'<section class="output {status}" id="output-{index}">',
             f'<h3>{_esc(output.name)} <span class="badge {status}">{badge}</span></h3>']
    summary = summarize_errors(output.abs_errors)
    if output.problem:
        parts.append(f'<p class="no-plot">Not compared: {_esc(output.problem)}.</p>')
    elif summary.count == 0:
        parts.append('<p class="no-plot">The output has no elements.</p>')
    elif summary.count == summary.zeros:
        # A log axis cannot show zeros: an empty plot would look like a drawing failure.
        parts.append(f'<p class="no-plot">All {summary.count} elements equal '
                     "(|b - a| = 0 everywhere).</p>")
    elif summary.positive.size == 0:
        parts.append(f'<p class="no-plot">{_esc(_caption(summary, output))}</p>')
    else:
        png = _histogram_png(summary.positive, bound_range(output))
        source = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        alt = f"Histogram of |b - a| for output {output.name} on a log scale"
        parts.append(f'<figure><img src="{source}" alt="{_esc(alt)}" '
                     f'width="{round(FIGURE_INCHES[0] * FIGURE_DPI)}" '
                     f'height="{round(FIGURE_INCHES[1] * FIGURE_DPI)}">'
                     f"<figcaption>{_esc(_caption(summary, output))}</figcaption></figure>")
    if output.worst:
        parts.append(_worst_table(output))
    parts.append("</section>")
    return "\n".join(parts)


def _worst_table(output: OutputComparison) -> str:
    """The elements furthest past (or nearest to) their bound: A against B."""
    rows = []
    for sample in output.worst:
        over = sample.abs_error > sample.bound
        cells = [f'<td class="index">{_esc(list(sample.index))}</td>',
                 *(f'<td class="num">{_esc(_precise(v))}</td>' for v in (sample.a, sample.b)),
                 *(f'<td class="num">{_esc(_number(v))}</td>'
                   for v in (sample.abs_error, sample.bound)),
                 f'<td class="result {"fail" if over else "pass"}">'
                 f'{"over" if over else "within"}</td>']
        rows.append(f'<tr class="{"fail" if over else "pass"}">{"".join(cells)}</tr>')
    caption = (f'<p class="worst">The {len(rows)} element(s) with the largest |b - a| for '
               "their bound:</p>")
    return caption + _table(("element", "A", "B", "|b - a|", "bound", "result"), rows,
                            "worst")


def _precise(value: float) -> str:
    """A value as the models computed it (float32 needs 9 significant digits)."""
    if np.isnan(value) or np.isinf(value):
        return _number(value)
    return f"{value:.9g}"


def _histogram_png(positive: np.ndarray, bounds: tuple[float, float]) -> bytes:
    """A histogram of the positive errors on log-log axes with the elements' bounds
    (atol + rtol * |a|, smallest and largest) as vertical lines."""
    low, high = bounds
    # The figure API with an explicit Agg canvas: no pyplot, so no global backend switch in a
    # user's process and no figure registry that would need closing.
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, NullFormatter

    # The axis in powers of ten: half a decade beyond the data and atol on either side, kept
    # well inside float64 (matplotlib's tick code overflows near its limits); errors beyond
    # are drawn in the edge bins and the caption gives their true values.
    exponents = [float(np.log10(positive.min())), float(np.log10(positive.max()))]
    exponents += [float(np.log10(v)) for v in (low, high) if v > 0]
    first = float(np.clip(min(exponents) - 0.5, -AXIS_DECADES_LIMIT, AXIS_DECADES_LIMIT - 1))
    last = float(np.clip(max(exponents) + 0.5, first + 1, AXIS_DECADES_LIMIT))
    # Bins across the whole axis, not just the data's range: errors that are nearly all alike
    # would otherwise get sliver-thin bars.
    bins = int(np.clip(round(BINS_PER_DECADE * (last - first)), 10, 120))
    edges = np.logspace(first, last, bins + 1)
    left, right = float(edges[0]), float(edges[-1])
    # The user's matplotlibrc (dark styles, other colour cycles) must not change the page.
    with matplotlib.style.context("default"):
        figure = Figure(figsize=FIGURE_INCHES, dpi=FIGURE_DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        # The x axis fixed before drawing: autoscaling would add margins past the limit above.
        axes.set_xscale("log")
        axes.set_xlim(left, right)
        axes.autoscale(enable=False, axis="x")
        # Log counts: the one element that is badly off must show next to thousands of fine ones.
        counts, _, _ = axes.hist(np.clip(positive, left, right), bins=edges, color=BAR_COLOUR,
                                 log=True)
        # Up to at least 10 so the axis always has two labelled ticks (1 and 10), plain
        # counts rather than powers of ten, and no labels on the minor ticks.
        axes.set_ylim(0.5, max(10.0, float(counts.max()) * 1.5))
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axes.yaxis.set_minor_formatter(NullFormatter())
        axes.set_xlabel("|b - a|", fontsize=8)
        axes.set_ylabel("elements", fontsize=8)
        axes.tick_params(labelsize=7)
        if high > 0:
            if _one_bound(low, high) or low <= 0:
                axes.axvline(high, color=BOUND_COLOUR, linestyle="--", linewidth=1.2,
                             label=f"bound {_number(high)}")
            else:
                axes.axvspan(low, high, color=BOUND_COLOUR, alpha=0.08, linewidth=0)
                axes.axvline(low, color=BOUND_COLOUR, linestyle="--", linewidth=1.2,
                             label=f"bound atol + rtol*|a|: {_number(low)} .. {_number(high)}")
                axes.axvline(high, color=BOUND_COLOUR, linestyle="--", linewidth=1.2)
            axes.legend(fontsize=7, frameon=False, loc="best")
        # Fixed margins rather than a tight layout, so the panels of all outputs line up.
        figure.subplots_adjust(left=0.11, right=0.98, bottom=0.2, top=0.96)
        buffer = io.BytesIO()
        # No Software metadata: it carries a URL, and the page should name no external address.
        figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
