"""Runs the modelport CLI over the real-world corpus (inspect, each conversion that applies,
verify of original vs converted) and appends one JSON line per step to a results file.

Usage: python tests/realworld/survey.py OUT.jsonl [ID ...]   (uses fetch.ensure; each step is
a separate `python -m modelport` process with a timeout, so one hang or crash costs one cell).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import fetch  # noqa: E402

# (route name, destination name, extra convert arguments); verify runs when the route says so.
ROUTES: dict[str, list[tuple[str, str, list[str], bool]]] = {
    "keras_h5": [
        ("-> .keras", "m.keras", [], True),
        ("-> tfjs_layers_model", "tfjs", ["--to", "tfjs_layers_model"], True),
        ("-> tf_saved_model", "sm", ["--to", "tf_saved_model"], True),
        ("-> tfjs_graph_model", "gm", ["--to", "tfjs_graph_model"], True),
    ],
    "tfjs_layers_model": [
        ("-> .h5", "m.h5", [], True),
        ("-> .keras", "m.keras", [], True),
        ("-> tf_saved_model", "sm", ["--to", "tf_saved_model"], True),
        ("-> tfjs_graph_model", "gm", ["--to", "tfjs_graph_model"], True),
    ],
    "tfjs_graph_model": [
        ("-> tf_saved_model", "sm", ["--to", "tf_saved_model"], True),
    ],
    "tfjs_graph_model_0x": [
        ("-> tf_saved_model", "sm", ["--to", "tf_saved_model"], True),
        ("-> (default)", "m.h5", [], False),
    ],
    "tf_saved_model": [
        ("-> .h5", "m.h5", [], True),
        ("-> .keras", "m.keras", [], True),
        ("-> tfjs_layers_model", "tfjs", ["--to", "tfjs_layers_model"], True),
        ("-> tfjs_graph_model", "gm", ["--to", "tfjs_graph_model"], True),
    ],
    "keras_weights_h5": [
        ("-> .weights.h5", "w.weights.h5", [], False),
        ("-> tfjs_weights", "tfjsw", ["--weights-only", "--to", "tfjs_weights"], False),
    ],
    "keras_v3_weights": [
        ("-> .h5 (save_weights)", "w.h5", ["--weights-only"], False),
        ("-> tfjs_weights", "tfjsw", ["--weights-only", "--to", "tfjs_weights"], False),
    ],
    "tf_checkpoint": [
        ("-> .weights.h5", "w.weights.h5", [], False),
        ("-> .h5 (save_weights)", "w.h5", ["--weights-only"], False),
    ],
}


def _cli(args: list[str], timeout: int) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    start = time.monotonic()
    try:
        run = subprocess.run(
            [sys.executable, "-m", "modelport", *args],
            capture_output=True, text=True, timeout=timeout, env=env,
        )
    except subprocess.TimeoutExpired:
        return {"rc": None, "seconds": timeout, "line": f"timed out after {timeout} s"}
    out = (run.stderr.strip() + "\n" + run.stdout.strip()).strip()
    lines = [ln for ln in out.splitlines() if ln.strip()]
    # The one line that matters: the error line, a traceback's last line, or the last line.
    line = next((ln for ln in lines if ln.startswith("modelport: error")), None)
    if line is None and "Traceback" in out:
        line = lines[-1]
    if line is None:
        line = lines[-1] if lines else ""
    return {"rc": run.returncode, "seconds": round(time.monotonic() - start, 1), "line": line,
            "traceback": "Traceback" in out, "stdout": run.stdout, "stderr": run.stderr[-4000:]}


def _verify(a: Path, b: Path) -> dict:
    res = _cli(["verify", str(a), str(b), "--json"], timeout=300)
    try:
        data = json.loads(res["stdout"])
    except (json.JSONDecodeError, TypeError):
        return {"verify": "error", "verify_line": res["line"], "verify_rc": res["rc"],
                "verify_seconds": res["seconds"]}
    errs = [o.get("max_abs_error") for o in data.get("outputs", [])]
    errs = [e for e in errs if isinstance(e, (int, float))]
    problems = [o.get("problem") for o in data.get("outputs", []) if o.get("problem")]
    return {"verify": "ok" if data.get("passed") else "differs", "verify_rc": res["rc"],
            "max_abs_error": max(errs) if errs else None, "problems": problems,
            "runtimes": f"{data['a']['runtime']} vs {data['b']['runtime']}",
            "widened": data.get("tolerance", {}).get("widened_because", ""),
            "verify_seconds": res["seconds"]}


def survey(entry_id: str, out: Path, work: Path) -> None:
    entry = fetch.entries()[entry_id]
    src = fetch.ensure(entry_id)
    rows = []
    ins = _cli(["inspect", str(src)], timeout=300)
    rows.append({"route": "inspect", "rc": ins["rc"], "line": ins["line"] if ins["rc"] else "",
                 "traceback": ins.get("traceback", False), "seconds": ins["seconds"]})
    for name, dst_name, extra, verify in ROUTES[entry["format"]]:
        dst = work / entry_id / dst_name
        if dst.exists():
            shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
        dst.parent.mkdir(parents=True, exist_ok=True)
        conv = _cli(["convert", str(src), str(dst), *extra], timeout=600)
        row = {"route": name, "rc": conv["rc"], "line": conv["line"],
               "traceback": conv.get("traceback", False), "seconds": conv["seconds"]}
        if conv["rc"] == 0 and verify:
            row.update(_verify(src, dst))
        rows.append(row)
    with out.open("a") as f:
        for row in rows:
            f.write(json.dumps({"id": entry_id, **row}) + "\n")
            print(entry_id, row["route"], row["rc"], row.get("verify", ""),
                  row.get("max_abs_error", ""), row["line"][:200], flush=True)


def main(argv: list[str]) -> int:
    """Surveys the named entries (default all) into argv[0]."""
    out = Path(argv[0])
    ids = argv[1:] or list(fetch.entries())
    work = Path(tempfile.mkdtemp(prefix="modelport-survey-"))
    try:
        for entry_id in ids:
            survey(entry_id, out, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def survey_assembled(entry_id: str, arch_dir: Path, out: Path, work: Path) -> None:
    """Weights-only entries: weights + the package's architecture (architectures.py output),
    to .h5 / .keras / TF.js, each verified against the package-loaded reference.h5."""
    src = fetch.ensure(entry_id)
    arch = arch_dir / entry_id / "arch.json"
    ref = arch_dir / entry_id / "reference.h5"
    custom = arch_dir / entry_id / "custom_objects.py"
    extra_v = ["--custom-objects", str(custom)] if custom.exists() else []
    rows = []
    for name, dst_name, extra in [
        ("+ --architecture -> .h5", "a.h5", []),
        ("+ --architecture -> .keras", "a.keras", []),
        ("+ --architecture -> tfjs_layers_model", "atfjs", ["--to", "tfjs_layers_model"]),
    ]:
        dst = work / entry_id / dst_name
        dst.parent.mkdir(parents=True, exist_ok=True)
        conv = _cli(["convert", str(src), str(dst), "--architecture", str(arch), *extra],
                    timeout=600)
        row = {"route": name, "rc": conv["rc"], "line": conv["line"],
               "traceback": conv.get("traceback", False), "seconds": conv["seconds"]}
        if conv["rc"] == 0:
            res = _cli(["verify", str(ref), str(dst), "--json", *extra_v], timeout=300)
            try:
                data = json.loads(res["stdout"])
                errs = [o["max_abs_error"] for o in data["outputs"]
                        if isinstance(o.get("max_abs_error"), (int, float))]
                row.update({"verify": "ok" if data["passed"] else "differs",
                            "max_abs_error": max(errs) if errs else None,
                            "runtimes": f"{data['a']['runtime']} vs {data['b']['runtime']}"})
            except (json.JSONDecodeError, KeyError, TypeError):
                row.update({"verify": "error", "verify_line": res["line"]})
        rows.append(row)
    with out.open("a") as f:
        for row in rows:
            f.write(json.dumps({"id": entry_id, **row}) + "\n")
            print(entry_id, row["route"], row["rc"], row.get("verify", ""),
                  row.get("max_abs_error", ""), row.get("verify_line", row["line"])[:200],
                  flush=True)


def _cell(row: dict) -> str:
    if "verify" in row:
        return _verified(row)
    if row["rc"] is None:
        return f"FAIL: {row['line']}"
    if row["rc"] != 0:
        kind = "FAIL (traceback)" if row.get("traceback") else "refused"
        return f"{kind}: {_short(row['line'])}"
    return "ok (converted; no verify for this route)" if row["route"] != "inspect" else "ok"


def _verified(row: dict) -> str:
    if row["verify"] == "ok":
        err = row.get("max_abs_error")
        return f"ok, max abs error {err:.3g} ({row.get('runtimes', '')})" if err is not None \
            else "ok"
    if row["verify"] == "differs":
        return (f"converted, verify DIFFERS: max abs error {row.get('max_abs_error')} "
                f"({row.get('runtimes', '')}) {'; '.join(row.get('problems') or [])}")
    return f"converted, verify error: {_short(row.get('verify_line') or row['line'])}"


def _short(line: str, limit: int = 260) -> str:
    line = line.replace("|", "\\|").replace("modelport: error: ", "")
    for prefix in ("/root/.cache/modelport/corpus/", "/tmp/"):
        line = line.replace(prefix, "…/")
    return line if len(line) <= limit else line[:limit] + " …"


def render(paths: list[Path]) -> str:
    """A markdown table (entry, route, result) of survey JSON lines, in corpus order."""
    order = {eid: i for i, eid in enumerate(fetch.entries())}
    rows = [json.loads(ln) for p in paths for ln in p.read_text().splitlines() if ln.strip()]
    rows.sort(key=lambda r: order.get(r["id"], 999))
    out = ["| entry | route | result |", "|---|---|---|"]
    out += [f"| {r['id']} | {r['route']} | {_cell(r)} |" for r in rows]
    return "\n".join(out) + "\n"
