"""The real-world corpus (corpus_matrix.py) as a test: docs/realworld.md is the expectation, so
any cell that changes (a pass turning into a refusal or a failure, a reason or an error bucket
changing) fails here, as docs/compatibility.md does in tests/test_matrix.py.

The corpus is fetched first (pip download / npm pack at the pinned versions, sha256-checked,
cached): a fetch that fails is an error of this test, never a skip. The corpus runs once per
session; its results JSON goes to the session's tmp dir, and to build/realworld.json when
MODELPORT_WRITE_MATRIX=1 (``python scripts/compatibility.py --corpus --from-json
build/realworld.json`` then rewrites the doc without running it again).
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

import modelport

import corpus_matrix
import fetch

WRITE_ENV = "MODELPORT_WRITE_MATRIX"


@pytest.fixture(scope="session")
def corpus_files() -> dict[str, Path]:
    """Every entry's model path, fetched now: a CorpusError fails the tests that need it."""
    return {eid: fetch.ensure(eid) for eid in fetch.entries()}


@pytest.fixture(scope="session")
def corpus_run(node_tfjs, corpus_files, tmp_path_factory):
    """(results, rendered markdown, path of the results JSON, work folder)."""
    workdir = tmp_path_factory.mktemp("realworld")
    results = corpus_matrix.run(workdir / "files")
    path = workdir / "realworld.json"
    corpus_matrix.write_json(results, path)
    if os.environ.get(WRITE_ENV) == "1":
        corpus_matrix.write_json(results, corpus_matrix.ROOT / "build" / "realworld.json")
    rendered = corpus_matrix.render(results)
    (workdir / "realworld.md").write_text(rendered)
    return results, rendered, path, workdir / "files"


def test_doc_matches_this_run(corpus_run):
    results, rendered, path, _ = corpus_run
    doc = corpus_matrix.DOC
    committed = doc.read_text() if doc.is_file() else ""
    if rendered == committed:
        return
    differences = corpus_matrix.doc_diff(committed, rendered) if committed else "(no doc)"
    pytest.fail(
        f"docs/realworld.md does not match this run of the real-world corpus.\n"
        f"If the change is intended, run `{corpus_matrix.REGENERATE}` (or `{WRITE_ENV}=1 "
        f"pytest tests/realworld` then `{corpus_matrix.REGENERATE} --from-json "
        f"build/realworld.json`) and commit the doc.\nThis run's results: {path}\n\n"
        f"{differences}",
        pytrace=False,
    )


def test_every_listed_route_ran(corpus_run):
    """Each entry has inspect and one cell per route of its format's row of the table."""
    results = corpus_run[0]
    assert [e["id"] for e in results["entries"]] == list(fetch.entries())
    for e in results["entries"]:
        expected = ["inspect"] + [r.label for r in corpus_matrix.ROUTES[e["format"]]]
        assert [c["route"] for c in e["cells"]] == expected, e["id"]
        for c in e["cells"]:
            assert c["result"] in corpus_matrix.RESULTS, c
            assert (c["result"] == corpus_matrix.PASS) == (c["reason"] == ""), c


def test_refusals_are_one_line_naming_the_file(corpus_run):
    """A refusal is modelport's own error, on one line, naming the user's file (the source,
    the architecture or the output asked for), never a temporary folder of modelport's."""
    results, _, _, workdir = corpus_run
    refused = [(e, c) for e in results["entries"] for c in e["cells"]
               if c["result"] == corpus_matrix.REFUSED]
    assert refused
    cache = fetch.cache_dir()
    for e, c in refused:
        what = (e["id"], c["route"], c["message"])
        assert "\n" not in c["message"], what
        named = Path(c["message"].split(": ", 1)[0])
        users = [cache / e["id"], cache / corpus_matrix.ARCHITECTURE_ENTRY.get(e["id"], e["id"]),
                 workdir / "architectures" / e["id"], workdir / "out" / e["id"]]
        assert any(named.is_relative_to(p) for p in users), what


def test_reasons_are_stable(corpus_run):
    results, rendered, path, _ = corpus_run
    for e in results["entries"]:
        for c in e["cells"]:
            assert "\n" not in c["reason"] and len(c["reason"]) <= corpus_matrix.REASON_CHARS
            assert "pytest-of-" not in c["reason"] and str(path.parent) not in c["reason"], c
    assert str(path.parent) not in rendered and "pytest-of-" not in rendered


def test_a_wrong_output_fails_its_cell(corpus_run):
    """The check behind a cell can fail: one bias of a converted .h5 changed by 0.5 turns the
    cell into a fail with the error it makes."""
    results, _, _, workdir = corpus_run
    eid = "esrgan-slim-x2"
    cell = next(c for e in results["entries"] if e["id"] == eid for c in e["cells"]
                if c["route"] == "→ keras_h5")
    assert cell["result"] == corpus_matrix.PASS, cell
    out = workdir / "out" / eid / "model.h5"
    broken = out.with_name("broken.h5")
    broken.write_bytes(out.read_bytes())
    with h5py.File(broken, "r+") as f:
        name = next(n for n in _datasets(f["model_weights"]) if n.endswith("bias:0"))
        f["model_weights"][name][...] = np.asarray(f["model_weights"][name]) + 0.5
    plan = corpus_matrix.Plan(fetch.ensure(eid), fetch.ensure(eid), fetch.ensure(eid))
    got = corpus_matrix._verify(plan, broken, "→ keras_h5", 0.0,
                                runner=corpus_matrix.Runner(workdir))
    assert got["result"] == corpus_matrix.FAIL, got
    assert got["max_abs_error"] > 0.01 and got["reason"].startswith("outputs differ"), got


def _datasets(group: h5py.Group) -> list[str]:
    names: list[str] = []
    group.visit(lambda n: names.append(n) if isinstance(group[n], h5py.Dataset) else None)
    return names


def test_bucket():
    assert corpus_matrix._bucket(None) == ""
    assert corpus_matrix._bucket(0.0) == "0"
    assert corpus_matrix._bucket(4.2e-7) == "≤ 1e-6"
    assert corpus_matrix._bucket(1e-6) == "≤ 1e-6"
    assert corpus_matrix._bucket(0.3) == "≤ 1e0"
    assert corpus_matrix._bucket(float("nan")) == "nan"


def test_weights_entries_without_architecture_compare_every_value(tmp_path):
    """The check of weights outputs when no architecture ships: a changed value is found."""
    src = fetch.ensure("hed-bsds500-keras3-weights")
    # A Keras 3 weights file records no layer order, so without an architecture it is
    # copied to its own format only (a save_weights .h5 would need the order).
    out = tmp_path / "w.weights.h5"
    modelport.convert(src, out, weights_only=True, to_format="keras_v3_weights")
    assert corpus_matrix._same_weights("r", src, out, 0.0)["result"] == corpus_matrix.PASS
    with h5py.File(out, "r+") as f:
        name = _datasets(f)[-1]
        f[name][...] = np.asarray(f[name]) * 2 + 1
    got = corpus_matrix._same_weights("r", src, out, 0.0)
    assert got["result"] == corpus_matrix.FAIL and "differs" in got["reason"], got
