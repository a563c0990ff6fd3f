"""keras.applications architectures built by tf_keras and Keras 3 and saved every way
(tests/realworld/applications.py), run through modelport: inspect, the README's routes, the
outputs in the runtimes that read them, verify. docs/applications.md is the expectation: a
cell whose result or reason changes fails here (the max abs error only has to stay within
tolerance, which its "pass" says).

MODELPORT_APPS selects the models (comma-separated, or "all"; default MobileNetV2, to keep the
suite's time down: all seven take about an hour on two cores); MODELPORT_APPS_ALL=1 runs every
route from every saved file. `python scripts/applications.py` rewrites the doc from a full run.
"""

from __future__ import annotations

import os

import applications
import pytest

DEFAULT_MODELS = "MobileNetV2"


def _selected() -> list[str]:
    chosen = os.environ.get("MODELPORT_APPS", DEFAULT_MODELS)
    names = list(applications.MODELS) if chosen == "all" else chosen.split(",")
    unknown = [n for n in names if n not in applications.MODELS]
    assert not unknown, f"MODELPORT_APPS names no such model: {unknown}"
    return names


@pytest.fixture(scope="session")
def apps_cells(node_tfjs, tmp_path_factory) -> list[applications.Cell]:
    every = os.environ.get("MODELPORT_APPS_ALL") == "1"
    return applications.run(tmp_path_factory.mktemp("applications"), _selected(), every=every)


def test_cells_match_the_doc(apps_cells):
    documented = applications.parse(applications.DOC.read_text())
    differences = []
    for cell in apps_cells:
        expected = documented.get(cell.key())
        got = applications.cell_text(cell)
        if expected != got:
            where = " / ".join(cell.key())
            differences.append(f"{where}: doc {expected}, this run {got}")
    assert not differences, (
        f"{len(differences)} cell(s) of docs/applications.md changed; if intended, run "
        f"`{applications.REGENERATE}` and commit the doc:\n" + "\n".join(differences))


def _graph_route_named(cell: applications.Cell) -> bool:
    """A TF.js layers refusal that names the graph-model route: "--to tfjs_graph_model runs
    it" (a layer TF.js lacks), "`--to tfjs_graph_model` runs it" (an operation)."""
    return cell.result == "refused" and "--to tfjs_graph_model" in cell.reason and \
        "runs it" in cell.reason


def test_first_files_convert_and_run_everywhere(apps_cells):
    """From each library's own first file, the model outputs of every route run in their
    runtimes within tolerance and verify passes; a TF.js layers refusal (EfficientNet's
    Normalization) names the graph-model route, which then passes. ConvNeXt's is refused
    (its operations), and so is its graph model: TF.js has no Erfc (exact GELU)."""
    by_key = {cell.key(): cell for cell in apps_cells}
    wanted = ("tfjs_layers_model", "keras_h5", "keras_v3", "tf_saved_model",
              "tfjs_graph_model", "verify")
    failing = []
    for cell in apps_cells:
        first = next(iter(applications.SAVED_AS[cell.library]))
        if cell.saved_as != first or cell.route not in wanted or cell.model == "ConvNeXtTiny":
            continue
        if cell.route == "tfjs_layers_model" and _graph_route_named(cell):
            graph = by_key[(cell.model, cell.library, cell.saved_as, "tfjs_graph_model")]
            if graph.result == "pass":
                continue
        if cell.result != "pass" or cell.error is None or not cell.error <= 1e-3:
            failing.append(f"{' / '.join(cell.key())}: {cell.result} {cell.error} "
                           f"{cell.reason}")
    assert not failing, "\n".join(failing)


def test_weights_only_files_assemble(apps_cells):
    """Weights-only saves (save_weights .h5, checkpoint, .weights.h5) with the library's .h5
    as architecture give a Keras 2 .h5, a .keras (and a TF.js model where TF.js has every
    layer) that computes the original's outputs; ConvNeXt's LayerScale weights included."""
    cells = [c for c in apps_cells if c.saved_as in applications.WEIGHTS_ONLY
             and c.route in ("keras_h5", "keras_v3", "tfjs_layers_model")]
    assert cells
    bad = [f"{' / '.join(c.key())}: {c.result} {c.reason}" for c in cells
           if c.result != "pass" and not _graph_route_named(c)]
    assert not bad, "\n".join(bad)
