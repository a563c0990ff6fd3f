"""The `--report` page: written from real comparisons, then rendered in headless Chromium and
checked on the rendered DOM and on a screenshot's pixels."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from modelport.errors import OutputExistsError
from modelport.verification.compare import Tolerance, compare
from modelport.verification.report import BAR_COLOUR, MISSING_MATPLOTLIB, write_report
from modelport.verification.result import InputInfo, Side, VerifyResult

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_TIMEOUT = 60  # seconds per run: a cold start on a loaded CI machine takes a few
SPECIAL_NAME = "<out&1>"
SPECIAL_PATH = 'models/a&b "v1" <x>.h5'


def make_result() -> VerifyResult:
    """Five outputs compared for real: passing, failing (one element far off), softmax,
    all-equal, and one whose name needs escaping."""
    rng = np.random.default_rng(0)
    tolerance = Tolerance()
    dense = rng.normal(size=(8, 32)).astype(np.float32)
    dense_b = dense + rng.normal(scale=1e-7, size=dense.shape).astype(np.float32)
    broken = rng.normal(size=(8, 32)).astype(np.float32)
    broken_b = broken + rng.normal(scale=1e-7, size=broken.shape).astype(np.float32)
    broken_b[3, 7] += 0.5  # one wrong element: the page must show it
    logits = rng.normal(size=(16, 10))
    probs = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    probs_b = probs * (1 + rng.normal(scale=1e-6, size=probs.shape))
    same = rng.normal(size=(4, 16)).astype(np.float32)
    special = rng.normal(size=(2, 50)).astype(np.float32)
    special_b = special + rng.normal(scale=2e-6, size=special.shape).astype(np.float32)
    outputs = [
        compare("dense", dense, dense_b, tolerance),
        compare("broken", broken, broken_b, tolerance),
        compare("probs", probs, probs_b, tolerance),
        compare("same", same, same.copy(), tolerance),
        compare(SPECIAL_NAME, special, special_b, tolerance),
    ]
    return VerifyResult(
        a=Side("A", SPECIAL_PATH, "keras_h5", "tf_keras", "tf_keras 2.21.0"),
        b=Side("B", "out/web/model.json", "tfjs", "tfjs", "TF.js 4.22.0",
               via="converted to a tfjs graph first"),
        inputs=[InputInfo("x", (8, 32), "float32", "generated: uniform [-1, 1), seed 0")],
        outputs=outputs, tolerance=tolerance, notes=["a note with <markup> & ampersand"])


@pytest.fixture(scope="module")
def result() -> VerifyResult:
    made = make_result()
    # The cases the page is tested on are what the comparisons really produced.
    assert [o.passed for o in made.outputs] == [True, False, True, True, True]
    assert made.outputs[2].argmax_agreement == 1.0
    assert made.outputs[3].max_abs_error == 0
    return made


@pytest.fixture(scope="module")
def report(result, tmp_path_factory) -> Path:
    return write_report(result, tmp_path_factory.mktemp("report") / "report.html")


# --- Chromium ----------------------------------------------------------------------------------

def run_chromium(args: list[str], work: Path) -> bytes:
    """Run headless Chromium with a fresh profile; return stdout. Fails (not skips) when
    Chromium is missing: CI must not pass without rendering the page."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package, "
                    "which the report rendering test needs")
    profile = work / "profile"
    profile.mkdir(parents=True, exist_ok=True)
    # Keep Chromium's config and cache out of the user's home as well.
    env = os.environ | {"XDG_CONFIG_HOME": str(work / "config"),
                        "XDG_CACHE_HOME": str(work / "cache")}
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
               *args]
    # Its own session, so a hung run's renderer and helper processes go with it.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=env, start_new_session=True)
    try:
        out, err = process.communicate(timeout=CHROMIUM_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"Chromium did not finish within {CHROMIUM_TIMEOUT} s: {command}")
    assert process.returncode == 0, f"Chromium failed ({process.returncode}): {err.decode()}"
    return out


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def find_all(self, tag: str, css_class: str | None = None) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if child.tag == tag and (css_class is None or css_class in child.classes()):
                    found.append(child)
                found.extend(child.find_all(tag, css_class))
        return found

    def find(self, tag: str, css_class: str | None = None) -> Node:
        found = self.find_all(tag, css_class)
        assert len(found) == 1, f"expected one <{tag} class={css_class}>, found {len(found)}"
        return found[0]


class DomBuilder(HTMLParser):
    """The dumped DOM as a tree (the serializer closes every non-void element)."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in self.VOID:
            self.current = node

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(markup: str) -> Node:
    builder = DomBuilder()
    builder.feed(markup)
    builder.close()
    return builder.root


@pytest.fixture(scope="module")
def dom(report, tmp_path_factory) -> Node:
    work = tmp_path_factory.mktemp("chromium_dom")
    dumped = run_chromium(["--dump-dom", report.as_uri()], work).decode("utf-8")
    assert "<body" in dumped, dumped[:500]
    return parse(dumped)


def fmt(value: float) -> str:
    return "0" if value == 0 else f"{value:.3g}"


def test_rendered_verdict_and_sides(dom, result):
    heading = dom.find("h1")
    assert heading.text == "modelport verify: FAIL"
    assert "fail" in heading.classes()
    verdict = dom.find("p", "verdict").text
    assert verdict == "FAIL: 1 of 5 output(s) differ: broken"
    assert dom.find("title").text == "modelport verify: FAIL"
    sides = dom.find("table", "sides").find_all("tr", "side")
    assert [row.find_all("td")[0].text for row in sides] == [SPECIAL_PATH, "out/web/model.json"]
    assert [c.text for c in sides[1].find_all("td")] == [
        "out/web/model.json", "tfjs", "tfjs", "TF.js 4.22.0",
        "converted to a tfjs graph first", "-"]
    inputs = dom.find("table", "inputs").find("tbody").find_all("td")
    assert [c.text for c in inputs] == ["x", "(8, 32)", "float32",
                                        "generated: uniform [-1, 1), seed 0"]
    assert dom.find("p", "tolerance").text == "tolerance: |b - a| <= 1e-05 + 0.0001 * |a|"
    assert [li.text for li in dom.find("ul", "notes").find_all("li")] == [
        "a note with <markup> & ampersand"]
    # Escaped strings stayed text: no element came out of a user's string.
    assert not dom.find_all("markup") and not dom.find_all("x") and not dom.find_all("out")


def test_rendered_comparison_table(dom, result):
    rows = dom.find("table", "comparison").find("tbody").find_all("tr")
    assert len(rows) == len(result.outputs)
    for row, output in zip(rows, result.outputs, strict=True):
        cells = [c.text for c in row.find_all("td")]
        assert cells[0] == output.name  # '<out&1>' arrives as the literal text
        assert cells[1] == f"({', '.join(map(str, output.shape_a))})"
        assert cells[2] == fmt(output.max_abs_error)
        assert cells[3] == fmt(output.max_rel_error)
        if output.argmax_agreement is None:
            assert cells[4] == "-"
        else:
            assert cells[4] == f"100.0% ({output.argmax_rows}/{output.argmax_rows})"
        assert cells[5] == ("pass" if output.passed else "FAIL")
        assert ("fail" in row.classes()) == (not output.passed)
    # The deliberately wrong element is what the failing row reports.
    assert rows[1].find_all("td")[2].text == "0.5"


def test_rendered_plots(dom, result):
    sections = dom.find_all("section", "output")
    assert [s.find("h3").text.rsplit(" ", 1)[0] for s in sections] == [
        o.name for o in result.outputs]
    for section, output in zip(sections, result.outputs, strict=True):
        images = section.find_all("img")
        if output.max_abs_error == 0:
            # Nothing a log axis can show: a sentence instead of an empty plot.
            assert not images
            assert section.find("p", "no-plot").text == (
                f"All {output.abs_errors.size} elements equal (|b - a| = 0 everywhere).")
            continue
        assert len(images) == 1, output.name
        source = images[0].attrs["src"]
        assert source.startswith("data:image/png;base64,") and len(source) > 1000
        assert output.name in images[0].attrs["alt"]
        caption = section.find("figcaption").text
        assert caption.startswith(f"{output.abs_errors.size} elements")
        assert f"max {fmt(output.max_abs_error)}." in caption
        # The dashed lines mark the elements' real bounds atol + rtol * |a|, not atol alone.
        low = float(np.min(output.bounds))
        high = float(np.max(output.bounds))
        assert output.atol <= low < high  # |a| runs from near 0 to a few here
        assert high == pytest.approx(output.atol + output.rtol * float(np.max(np.abs(
            (output.bounds - output.atol) / output.rtol))))
        assert (f"the dashed lines mark the smallest and the largest bound, {fmt(low)} and "
                f"{fmt(high)}.") in caption
        assert (f"{output.over_bound} of {output.abs_errors.size} elements exceed theirs"
                in caption)
    assert "fail" in sections[1].classes()
    assert result.outputs[1].over_bound == 1


def test_rendered_worst_elements(dom, result):
    """Per output, the elements with the largest |b - a| for their bound, A against B: the
    one broken element first, marked over its bound."""
    sections = dom.find_all("section", "output")
    broken = sections[1].find("table", "worst")
    rows = broken.find_all("tr")[1:]
    assert len(rows) == 5
    cells = [c.text for c in rows[0].find_all("td")]
    output = result.outputs[1]
    sample = output.worst[0]
    assert cells[0] == "[3, 7]" and sample.index == (3, 7)
    assert float(cells[1]) == pytest.approx(sample.a, rel=1e-7)
    assert float(cells[2]) == pytest.approx(sample.a + 0.5, abs=1e-6)
    assert float(cells[3]) == pytest.approx(0.5, rel=1e-3)
    assert cells[5] == "over" and "fail" in rows[0].classes()
    assert all([c.text for c in r.find_all("td")][5] == "within" for r in rows[1:])
    # Equal outputs have no rows to show.
    assert not sections[3].find_all("table", "worst")


def test_command_line_in_the_report(zoo_cache, tmp_path, capsys):
    """The report names the command line that produced it."""
    from modelport import cli

    case = zoo_cache.get("tf_keras", "mlp")
    report = tmp_path / "r e p.html"
    code = cli.main(["verify", str(case.path), str(case.path), "--report", str(report),
                     "--seed", "3"])
    assert code == 0, capsys.readouterr().err
    page = parse(report.read_text(encoding="utf-8"))
    command = page.find("pre", "command").text
    assert command == (f"modelport verify {case.path} {case.path} --report "
                       f"'{report}' --seed 3")


def decode_png(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    pixels = imread(path)
    assert pixels.dtype == np.float32  # PNGs read as floats in [0, 1]
    return np.round(pixels[..., :3] * 255).astype(np.int16)


def test_screenshot_shows_plots(report, result, tmp_path):
    screenshot = tmp_path / "page.png"
    run_chromium([f"--screenshot={screenshot}", "--window-size=1200,3000",
                  "--hide-scrollbars", report.as_uri()], tmp_path)
    pixels = decode_png(screenshot)
    assert pixels.shape[:2] == (3000, 1200)
    bar = np.array([int(BAR_COLOUR[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
    bar_pixels = int(np.count_nonzero(np.all(np.abs(pixels - bar) <= 3, axis=-1)))
    plotted = sum(1 for o in result.outputs if o.max_abs_error > 0)
    # Each histogram fills a few thousand pixels with bars; a broken image draws none.
    assert bar_pixels > 1000 * plotted, bar_pixels
    not_white = np.count_nonzero(np.any(pixels < 230, axis=-1))
    assert not_white > 0.02 * pixels.shape[0] * pixels.shape[1], "the page looks blank"
    # Text and plots reach down the page, not just a heading at the top.
    rows_with_ink = np.flatnonzero(np.any(np.any(pixels < 200, axis=-1), axis=1))
    assert rows_with_ink.max() > 1500


# --- the file itself ---------------------------------------------------------------------------

def test_page_is_self_contained_and_small(report):
    text = report.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text and "<link" not in text
    assert "&lt;out&amp;1&gt;" in text and SPECIAL_NAME not in text
    # Four small PNGs: a page with 20 outputs stays well under a few MB.
    assert report.stat().st_size < 250_000
    assert not [p for p in report.parent.iterdir() if p.name.endswith(".part")]


def test_existing_file_refused_without_overwrite(result, tmp_path):
    target = tmp_path / "report.html"
    target.write_text("keep me")
    with pytest.raises(OutputExistsError):
        write_report(result, target)
    assert target.read_text() == "keep me"
    write_report(result, target, overwrite=True)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_missing_matplotlib_writes_nothing(tmp_path):
    # A fresh interpreter in which importing matplotlib really fails.
    script = textwrap.dedent(f"""
        import sys
        sys.modules["matplotlib"] = None
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pathlib import Path
        from modelport.errors import MissingExtraError
        from modelport.verification.report import check_report_dependencies, write_report
        from test_verify_report import make_result
        for attempt in (check_report_dependencies,
                        lambda: write_report(make_result(), Path(sys.argv[1]))):
            try:
                attempt()
            except MissingExtraError as err:
                print(err)
            else:
                sys.exit("no MissingExtraError")
    """)
    target = tmp_path / "report.html"
    done = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [MISSING_MATPLOTLIB, MISSING_MATPLOTLIB]
    assert not list(tmp_path.iterdir())


def test_outputs_without_a_plot_say_why(tmp_path):
    tolerance = Tolerance()
    ones = np.ones((2, 3), dtype=np.float32)
    one_sided_nan = ones.copy()
    one_sided_nan[0, 0] = np.nan
    mismatch = compare("mismatch", ones, np.ones((3, 2), dtype=np.float32), tolerance)
    not_finite = compare("nan", ones, one_sided_nan, tolerance)
    result = VerifyResult(Side("A", "a.h5", "keras_h5", "tf_keras"),
                          Side("B", "b.keras", "keras_v3", "keras3"), [],
                          [mismatch, not_finite], tolerance)
    page = parse(write_report(result, tmp_path / "r.html").read_text(encoding="utf-8"))
    assert not page.find_all("img")
    texts = [section.find("p", "no-plot").text for section in page.find_all("section")]
    assert texts == [
        "Not compared: shapes differ: (2, 3) vs (3, 2).",
        "6 elements; 5 exactly equal (|b - a| = 0, not on the log axis); 1 non-finite (NaN or "
        "inf on one side only, not plotted). Median 0, 99th percentile inf, max inf. Each "
        "element's bound is atol + rtol * |a| with atol 1e-05, rtol 0.0001: 1 of 6 elements "
            "exceed theirs."]
    rows = page.find("table", "comparison").find_all("tr", "fail")
    assert [[c.text for c in row.find_all("td")] for row in rows] == [
        ["mismatch", "(2, 3) vs (3, 2)", "-", "-", "-", "FAIL"],
        ["nan", "(2, 3)", "inf", "inf", "-", "FAIL"]]
