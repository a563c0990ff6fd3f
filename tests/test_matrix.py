"""The conformance matrix (tests/matrix.py) as a test: docs/compatibility.md is the expectation,
so any cell that changes (a pass turning into a failure, a reason changing) fails here.

The matrix runs once per session. Its results JSON goes to the session's tmp dir, and also to
build/compatibility.json when MODELPORT_WRITE_MATRIX=1 (``scripts/compatibility.py
--from-json build/compatibility.json`` then rewrites the doc without running it again).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import modelport

import catalog
import harness
import matrix

WRITE_ENV = "MODELPORT_WRITE_MATRIX"


@pytest.fixture(scope="session")
def matrix_run(node_tfjs, tmp_path_factory):
    """(results, rendered markdown, path of the results JSON)."""
    workdir = tmp_path_factory.mktemp("matrix")
    results = matrix.run(workdir / "files")
    path = workdir / "compatibility.json"
    matrix.write_json(results, path)
    if os.environ.get(WRITE_ENV) == "1":
        matrix.write_json(results, matrix.ROOT / "build" / "compatibility.json")
    rendered = matrix.render(results)
    (workdir / "compatibility.md").write_text(rendered)
    return results, rendered, path


def _row(results, library, name):
    rows = [r for r in results["rows"] if r["library"] == library and r["class"] == name]
    assert len(rows) == 1, f"{len(rows)} rows for {library} {name}"
    return rows[0]


def test_doc_matches_this_run(matrix_run):
    results, rendered, path = matrix_run
    committed = matrix.DOC.read_text() if matrix.DOC.is_file() else ""
    if rendered == committed:
        return
    differences = matrix.doc_diff(committed, rendered) if committed else "(no committed doc)"
    pytest.fail(
        f"docs/compatibility.md does not match this run of the conformance matrix.\n"
        f"If the change is intended, run `{matrix.REGENERATE}` (or "
        f"`{WRITE_ENV}=1 pytest tests/test_matrix.py` then `{matrix.REGENERATE} --from-json "
        f"build/compatibility.json`) and commit the doc.\nThis run's results: {path}\n\n"
        f"{differences}",
        pytrace=False,
    )


# Conversions that work in modelport today, from each library's own .h5: if the matrix
# reported them failing, the matrix (or modelport) is broken, whatever the doc says.
KNOWN_GOOD = ("Dense", "Conv2D", "LSTM")
KNOWN_GOOD_TARGETS = ("h5-tf_keras", "h5-keras3", "tfjs")


@pytest.mark.parametrize("library", harness.LIBRARIES)
@pytest.mark.parametrize("name", KNOWN_GOOD)
def test_known_good_cells_pass_from_h5(matrix_run, library, name):
    results, _, _ = matrix_run
    row = _row(results, library, name)
    assert row["unbuildable"] is None, row["unbuildable"]
    for key in KNOWN_GOOD_TARGETS:
        outcome = row["cells"][key]["sources"][".h5"]
        assert outcome == {"status": "pass", "reason": ""}, (key, outcome)


def test_tfjs_refusal_is_the_reason(matrix_run):
    """A layer TF.js does not have: the cell carries modelport's refusal, naming the class."""
    results, _, _ = matrix_run
    cell = _row(results, "keras3", "GroupNormalization")["cells"]["tfjs"]
    assert cell["status"] == "fail"
    assert "TF.js has no layer class" in cell["reason"], cell["reason"]
    assert "GroupNormalization" in cell["reason"], cell["reason"]


@pytest.mark.parametrize("library", harness.LIBRARIES)
def test_rows_are_the_catalog(matrix_run, library):
    """One row per canonical class of the library, with its aliases, in a stable order."""
    results, _, _ = matrix_run
    rows = [r for r in results["rows"] if r["library"] == library]
    classes = catalog.layer_classes(library)
    assert [r["class"] for r in rows] == sorted(set(classes.values()),
                                                 key=lambda n: (n.lower(), n))
    for r in rows:
        expected = sorted(n for n, c in classes.items() if c == r["class"] and n != r["class"])
        assert r["aliases"] == expected, r["class"]
        assert (r["unbuildable"] is None) == bool(r["cells"]), r["class"]
        if r["cells"]:
            assert list(r["cells"]) == [t.key for t in matrix.TARGETS]


def test_reasons_are_single_stable_lines(matrix_run):
    results, rendered, path = matrix_run
    workdir = str(path.parent)
    reasons = []
    for r in results["rows"]:
        reasons += r["notes"] + ([r["unbuildable"]] if r["unbuildable"] else [])
        for cell in r["cells"].values():
            assert (cell["status"] == "pass") == (cell["reason"] == ""), cell
            reasons.append(cell["reason"])
            reasons += [o["reason"] for o in cell["sources"].values()]
    assert reasons
    for reason in reasons:
        assert "\n" not in reason and len(reason) <= matrix.REASON_CHARS, reason
        assert workdir not in reason and "pytest-of-" not in reason, reason
        assert "0x" not in reason.lower().replace("0x…", ""), reason
        assert "pending" not in reason, reason  # every TF.js job came back
    assert workdir not in rendered


# The pieces, on real arrays and real TF.js --------------------------------------------------


def test_compare():
    e = [np.array([[0.0, 1.0], [np.nan, -2.0]], np.float32)]
    assert matrix.compare([e[0].copy()], e) is None
    assert matrix.compare([e[0] + 9e-6], e) is None
    assert matrix.compare([e[0] + 3e-5], e) == "max abs diff 3e-05 on output 0"
    assert matrix.compare([np.nan_to_num(e[0])], e) == (
        "output 0: non-finite values differ (1 elements)")
    assert matrix.compare([e[0].T[:, :1]], e) == "output 0: shape (2, 1), expected (2, 2)"
    assert matrix.compare([e[0], e[0]], e) == "2 outputs, expected 1"


def test_shorten_strips_work_paths_and_addresses(tmp_path):
    text = (f"cannot open {tmp_path}/tf_keras/Dense/src.h5: bad <function <lambda> at "
            "0x7f3a2b1c9d00>\nsecond line")
    assert matrix.shorten(text, (str(tmp_path),)) == (
        "cannot open src.h5: bad <function <lambda>>")
    long = matrix.shorten("x" * 500)
    assert len(long) == matrix.REASON_CHARS and long.endswith("…")


def test_describe_modelport_error_has_no_path():
    err = modelport.UnsupportedError("TF.js has no layer class for Foo", "/somewhere/x.h5")
    assert matrix.describe(err) == "TF.js has no layer class for Foo"
    assert matrix.describe(KeyError("function_type")) == "KeyError: 'function_type'"
    try:
        raise AssertionError()  # what a bare assert raises (pytest rewrites this module's)
    except AssertionError as exc:
        bare = exc
    assert matrix.describe(bare) == (
        "AssertionError in test_matrix.py test_describe_modelport_error_has_no_path()")


def _tfjs_model(tmp_path):
    """A tiny tf_keras model converted by modelport to TF.js, its inputs and outputs."""
    keras = harness.keras_module("tf_keras")
    x = keras.Input(shape=(4,))
    model = keras.Model(x, keras.layers.Dense(3, activation="tanh")(x))
    inputs = [np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)]
    model.save(str(tmp_path / "dense.h5"))
    modelport.convert(tmp_path / "dense.h5", tmp_path / "web")
    return tmp_path / "web" / "model.json", inputs, harness.predict(model, inputs)


def test_run_many_reports_each_job(node_tfjs, tmp_path):
    """One failing job in a batch gets its error; the jobs after it still run."""
    model_json, inputs, expected = _tfjs_model(tmp_path)
    batch = matrix.TfjsBatch(tmp_path, "t")
    batch.add(model_json, inputs)
    batch.add(tmp_path / "missing" / "model.json", inputs)
    batch.add(model_json, inputs + inputs)
    batch.add(model_json, inputs)
    batch.start()
    results = batch.wait()
    assert len(results) == 4
    for i in (0, 3):
        outputs = [matrix.tfjs._decode(e) for e in results[i]["outputs"]]
        assert matrix.compare(outputs, expected) is None
    assert results[1]["stage"] == "load" and "ENOENT" in results[1]["error"], results[1]
    assert results[2]["stage"] == "run", results[2]
    assert "model has 1 inputs, got 2" in results[2]["error"], results[2]


def test_run_many_resumes_after_a_crash(node_tfjs, tmp_path):
    """When Node dies mid-batch, the job it was running is reported and the rest still run."""
    model_json, inputs, expected = _tfjs_model(tmp_path)
    batch = matrix.TfjsBatch(tmp_path, "t")
    n = 400
    for _ in range(n):
        batch.add(model_json, inputs)
    batch.start()
    results_path = batch._paths(0)[1]
    deadline = time.monotonic() + 60
    while not (results_path.exists() and results_path.read_text().count("\n") >= 2):
        assert time.monotonic() < deadline, "run_many.js wrote no results"
        assert batch.process.poll() is None, "run_many.js finished before it could be killed"
        time.sleep(0.002)
    batch.process.kill()
    results = batch.wait()
    crashed = [i for i, r in enumerate(results) if "error" in r]
    assert len(crashed) == 1 and 2 <= crashed[0] < n - 1, crashed
    assert "node exited with" in results[crashed[0]]["error"]
    for r in results[crashed[0] + 1:]:
        outputs = [matrix.tfjs._decode(e) for e in r["outputs"]]
        assert matrix.compare(outputs, expected) is None
