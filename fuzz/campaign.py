"""The fuzz campaign: command line, case scheduling, deduplication by signature, shrinking to a
minimal reproducer per signature, and the generated docs/robustness.md."""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from fuzz import runner, seeds

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Finding:
    """All cases with one signature, and the smallest seen (fewest steps, smallest seed)."""

    signature: str
    cls: str
    count: int = 0
    formats: Counter = field(default_factory=Counter)
    best: tuple | None = None  # (steps, seed bytes, case number, op, message, mutations)
    reproducer: str = ""


@dataclass
class Tally:
    """Counts of a campaign, per operation class, per format and per signature."""

    cases: int = 0
    ops: Counter = field(default_factory=Counter)
    case_classes: Counter = field(default_factory=Counter)
    per_format: dict = field(default_factory=lambda: defaultdict(Counter))
    findings: dict = field(default_factory=dict)
    slow_ops: int = 0

    def add(self, result: runner.CaseResult) -> None:
        self.cases += 1
        fmt = result.case.seed["format"]
        self.per_format[fmt]["cases"] += 1
        self.case_classes[result.worst] += 1
        bad = False
        for op in result.ops:
            self.ops[op.cls] += 1
            self.per_format[fmt][op.cls] += 1
            if op.seconds > 5:
                self.slow_ops += 1
            if op.cls not in runner.BAD:
                continue
            bad = True
            finding = self.findings.setdefault(op.signature, Finding(op.signature, op.cls))
            finding.count += 1
            finding.formats[fmt] += 1
            size = result.case.seed.get("bytes", 0)
            key = (len(result.case.steps), size, result.case.number)
            if finding.best is None or key < finding.best[:3]:
                finding.best = key + (op.op, op.message or "; ".join(op.details)[:200],
                                      result.mutations, result.case.steps)
        if bad:
            self.per_format[fmt]["bad cases"] += 1


def _seed_sizes(seed_list: list[dict]) -> None:
    for s in seed_list:
        s["bytes"] = sum(p.stat().st_size for p in Path(s["root"]).rglob("*") if p.is_file())


def select_seeds(formats: list[str] | None) -> list[dict]:
    seed_list = seeds.load_seeds()
    if formats:
        seed_list = [s for s in seed_list if s["format"] in formats]
        if not seed_list:
            raise SystemExit(f"no seeds of formats {formats}")
    _seed_sizes(seed_list)
    return seed_list


def slug(signature: str) -> str:
    text = re.sub(r"[^A-Za-z0-9]+", "-", signature).strip("-")[:90]
    return f"{text}-{hashlib.sha1(signature.encode()).hexdigest()[:6]}"


def reproduce_command(run_seed: int, number: int, steps: list[int], formats: list[str] | None
                      ) -> str:
    cmd = f"python -m fuzz --seed {run_seed} --case {number} --steps {','.join(map(str, steps))}"
    if formats:
        cmd += " --formats " + ",".join(formats)
    return cmd


def _work_root() -> Path:
    base = os.environ.get("MODELPORT_FUZZ_DIR")
    root = Path(base) / "work" if base else Path(tempfile.gettempdir()) / "modelport-fuzz"
    root.mkdir(parents=True, exist_ok=True)
    # Case folders sit below a folder of their own (not the temp dir itself): the temp dir
    # is where the readers may write, the case's canaries must not be there.
    return Path(tempfile.mkdtemp(prefix="run-", dir=root)).resolve()


def run_campaign(run_seed: int, seed_list: list[dict], limits: runner.Limits, jobs: int,
                 count: int | None, seconds: float | None, log: Path | None = None,
                 progress: bool = True) -> tuple[Tally, float]:
    """Run cases 0.. until `count` are done or `seconds` have passed; return the tally."""
    tally = Tally()
    started = time.monotonic()
    work = _work_root()
    log_file = open(log, "w") if log else None  # noqa: SIM115 - closed below

    def cases():
        number = 0
        while count is None or number < count:
            if seconds is not None and time.monotonic() - started > seconds:
                return
            yield runner.plan_case(number, seed_list, run_seed)
            number += 1

    def on_result(result: runner.CaseResult) -> None:
        tally.add(result)
        if log_file:
            log_file.write(json.dumps({
                "case": result.case.number, "seed": result.case.seed["name"],
                "steps": result.case.steps, "mutations": result.mutations,
                "ops": [[o.op, o.cls, o.signature, o.seconds] for o in result.ops]}) + "\n")
        if progress and tally.cases % 500 == 0:
            bad = sum(v for k, v in tally.ops.items() if k in runner.BAD)
            print(f"  {tally.cases} cases, {bad} bad operations, {len(tally.findings)} "
                  f"signatures, {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)

    try:
        runner.run_cases(cases(), work, limits, jobs, on_result)
    finally:
        if log_file:
            log_file.close()
        runner.remove_tree(work)
    return tally, time.monotonic() - started


def shrink(tally: Tally, run_seed: int, seed_list: list[dict], limits: runner.Limits, jobs: int
           ) -> None:
    """For each signature found with several mutation steps, keep the fewest steps (each step
    alone, then all but one) that still produce that signature."""
    work = _work_root()
    try:
        for finding in tally.findings.values():
            steps = finding.best[6]
            number = finding.best[2]
            while len(steps) > 1:
                trials = [[s] for s in steps] + [[s for s in steps if s != d] for d in steps]
                hits = []
                plans = [runner.plan_case(number, seed_list, run_seed, t) for t in trials]
                runner.run_cases(iter(plans), work, limits, jobs,
                                 lambda r, f=finding, h=hits: h.append(r) if any(
                                     o.signature == f.signature for o in r.ops) else None)
                if not hits:
                    break
                smallest = min(hits, key=lambda r: len(r.case.steps))
                if len(smallest.case.steps) >= len(steps):
                    break
                steps = smallest.case.steps
                finding.best = finding.best[:5] + (smallest.mutations, steps)
    finally:
        runner.remove_tree(work)


def save_reproducers(tally: Tally, run_seed: int, seed_list: list[dict], limits: runner.Limits,
                     jobs: int, out: Path, formats: list[str] | None) -> None:
    """One folder per signature under `out`: the case folder as the child left it (input,
    canaries; special files such as FIFOs are named in case.json) and the command."""
    out.mkdir(parents=True, exist_ok=True)
    plans = []
    for finding in tally.findings.values():
        number, steps = finding.best[2], finding.best[6]
        name = slug(finding.signature)
        finding.reproducer = name
        folder = out / name
        if folder.exists():
            shutil.rmtree(folder)
        plan = runner.plan_case(number, seed_list, run_seed, steps)
        plan.keep = folder / "case"
        plans.append(plan)
        folder.mkdir(parents=True)
        command = reproduce_command(run_seed, number, steps, formats)
        (folder / "REPRODUCE").write_text(command + "\n")
        (folder / "case.json").write_text(json.dumps({
            "signature": finding.signature, "class": finding.cls, "count": finding.count,
            "seed": plan.seed["name"], "format": plan.seed["format"], "case": number,
            "steps": steps, "operation": finding.best[3], "message": finding.best[4],
            "mutations": finding.best[5], "reproduce": command}, indent=1))
    work = _work_root()
    try:
        runner.run_cases(iter(plans), work, limits, jobs, lambda r: None)
    finally:
        runner.remove_tree(work)


def write_report(path: Path, tally: Tally, run_seed: int, wall: float, seed_list: list[dict],
                 limits: runner.Limits, jobs: int, formats: list[str] | None, out: Path) -> None:
    """docs/robustness.md: what the campaign ran and what it found (generated, not edited)."""
    total_ops = sum(tally.ops.values())
    lines = [
        "# Robustness: what the fuzz harness found",
        "",
        "Generated by `python -m fuzz` (`make fuzz`); do not edit by hand. Each case copies one",
        "seed (a small real model, see fuzz/seeds.py), applies 1-3 structure-aware mutations",
        "(fuzz/mutators.py) and runs inspect, convert to .h5, to TF.js, to .keras and, where it",
        "applies, assembly through modelport's Python API, each case in a forked child under",
        "limits. An operation is *refused* (a ModelportError) or *ok*, or one of the failure",
        "classes: escaped (another exception), hang, memory, crash (the child died by a signal),",
        "leftover (output files after a refusal), unnamed (a refusal naming no file), modified",
        "(the input changed), outside read (a successful operation read a file outside the",
        "input), outside write, code executed.",
        "",
        "## Run",
        "",
        f"- code: {_code_version()}",
        f"- seed {run_seed}, {tally.cases} cases, {total_ops} operations, wall time "
        f"{wall / 60:.1f} min on {jobs} worker(s)",
        f"- {len(seed_list)} seeds (seed set version {seeds.SEED_VERSION}), formats: "
        f"{', '.join(formats) if formats else 'all'}",
        f"- limits per child: address space {limits.address_space >> 20} MB, file size "
        f"{limits.file_size >> 20} MB, {limits.op_seconds:g} s wall clock per operation",
        f"- operations slower than 5 s: {tally.slow_ops}",
        f"- reproducers: `{_shown(out)}` (one folder per signature, with its command)",
        "",
        "## Operations per class",
        "",
        "| class | operations | cases (worst class of the case) |",
        "|---|---:|---:|",
    ]
    for cls in runner.SEVERITY:
        if tally.ops.get(cls) or tally.case_classes.get(cls):
            lines.append(f"| {cls} | {tally.ops.get(cls, 0)} | {tally.case_classes.get(cls, 0)} |")
    bad_cases = sum(v for k, v in tally.case_classes.items() if k in runner.BAD)
    share = 100 * bad_cases / max(tally.cases, 1)
    lines += ["", f"{bad_cases} of {tally.cases} cases ({share:.1f}%) hit at least one failure; "
              f"{len(tally.findings)} distinct signatures.", "", "## Per format", ""]
    shown = [c for c in runner.SEVERITY if any(f.get(c) for f in tally.per_format.values())]
    lines.append("| format | cases | failing cases | " + " | ".join(shown) + " |")
    lines.append("|---|---:|---:|" + "---:|" * len(shown))
    for fmt in sorted(tally.per_format):
        row = tally.per_format[fmt]
        pct = 100 * row.get("bad cases", 0) / max(row["cases"], 1)
        lines.append(f"| {fmt} | {row['cases']} | {row.get('bad cases', 0)} ({pct:.0f}%) | "
                     + " | ".join(str(row.get(c, 0)) for c in shown) + " |")
    lines += ["", "## Signatures", "",
              "Sorted by count. Signature: class, exception type and innermost modelport frame",
              "(file:line:function); for outside paths the format, the mutation and the frame",
              "that opened the file. Reproduce with the folder's REPRODUCE command.", "",
              "| # | count | signature | formats | example | reproducer |",
              "|---:|---:|---|---|---|---|"]
    ordered = sorted(tally.findings.values(), key=lambda f: (-f.count, f.signature))
    for i, f in enumerate(ordered, 1):
        fmts = ", ".join(f"{k} {v}" for k, v in f.formats.most_common(3))
        example = (f.best[4] or "").replace("|", "\\|").replace("\n", " ")[:90]
        lines.append(f"| {i} | {f.count} | `{f.signature}` | {fmts} | {example} | "
                     f"`{f.reproducer or '-'}` |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _code_version() -> str:
    import subprocess

    import modelport

    src = Path(modelport.__file__).resolve().parent
    try:
        # the last commit that touched the sources under test (not the harness's own commits)
        rev = subprocess.run(["git", "-C", str(src), "log", "-1", "--format=%h", "--", "."],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        rev = "?"
    return f"modelport from {_shown(src)} (sources as of git {rev or '?'})"


def run_one(run_seed: int, number: int, steps: list[int] | None, seed_list: list[dict],
            limits: runner.Limits, out: Path) -> int:
    """Re-run case `number` and print what each operation did; the case folder is kept."""
    plan = runner.plan_case(number, seed_list, run_seed, steps)
    plan.keep = out / f"case-{number}"
    results: list[runner.CaseResult] = []
    work = _work_root()
    try:
        runner.run_cases(iter([plan]), work, limits, 1, results.append)
    finally:
        runner.remove_tree(work)
    result = results[0]
    print(f"case {number} (seed {run_seed}): {plan.seed['name']} [{plan.seed['format']}], "
          f"steps {plan.steps}, format passed: {plan.pass_format}")
    for m in result.mutations:
        print(f"  mutation: {m}")
    for op in result.ops:
        print(f"  {op.op:9} {op.cls:13} {op.signature if op.cls in runner.BAD else ''}")
        if op.message:
            print(f"            {op.exc_type}: {op.message[:200]}")
        for d in op.details[:3]:
            print(f"            {d[:200]}")
    print(f"case folder kept in {plan.keep}")
    return 1 if any(op.cls in runner.BAD for op in result.ops) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    bound = parser.add_mutually_exclusive_group()
    bound.add_argument("--cases", type=int, help="run this many cases (default 1000)")
    bound.add_argument("--seconds", type=float, help="run cases until this much time passed")
    bound.add_argument("--case", type=int, help="re-run case K alone, verbosely")
    parser.add_argument("--steps", help="with --case: only these mutation steps (e.g. 0,2)")
    parser.add_argument("--seed", type=int, default=0, help="campaign seed (default 0)")
    parser.add_argument("--out", type=Path, help="findings folder (default fuzz/.findings)")
    parser.add_argument("--formats", help="comma-separated modelport format names")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per operation")
    parser.add_argument("--report", type=Path, help="write the markdown report here")
    parser.add_argument("--no-shrink", action="store_true")
    parser.add_argument("--no-reproducers", action="store_true",
                        help="count only: no shrinking, no reproducer folders")
    args = parser.parse_args(argv)

    formats = args.formats.split(",") if args.formats else None
    out = args.out or (Path(os.environ["MODELPORT_FUZZ_DIR"]) / "findings"
                       if os.environ.get("MODELPORT_FUZZ_DIR") else ROOT / "fuzz" / ".findings")
    limits = runner.Limits(op_seconds=args.timeout)
    seed_list = select_seeds(formats)
    preload(seed_list)
    if args.case is not None:
        steps = [int(s) for s in args.steps.split(",")] if args.steps else None
        return run_one(args.seed, args.case, steps, seed_list, limits, out)
    count = args.cases if args.cases is not None or args.seconds is not None else 1000
    print(f"fuzz: seed {args.seed}, {len(seed_list)} seeds, "
          f"{f'{count} cases' if count else f'{args.seconds:g} s'}, {args.jobs} jobs",
          file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    tally, wall = run_campaign(args.seed, seed_list, limits, args.jobs, count, args.seconds,
                               log=out / "results.jsonl")
    if not (args.no_shrink or args.no_reproducers):
        shrink(tally, args.seed, seed_list, limits, args.jobs)
    if not args.no_reproducers:
        save_reproducers(tally, args.seed, seed_list, limits, args.jobs, out, formats)
    if args.report:
        write_report(args.report, tally, args.seed, wall, seed_list, limits, args.jobs, formats,
                     out)
    summary(tally, wall)
    return 1 if tally.findings else 0


def summary(tally: Tally, wall: float) -> None:
    print(f"{tally.cases} cases in {wall:.0f} s; operations: "
          + ", ".join(f"{k} {v}" for k, v in tally.ops.most_common()))
    for f in sorted(tally.findings.values(), key=lambda f: -f.count)[:40]:
        print(f"  {f.count:6}  {f.signature}   [{f.reproducer}]")


def preload(seed_list: list[dict] | None = None) -> None:
    """Make each fork start warm: import every module the children use once in the parent, and
    run every operation once on each unmutated seed, so that a child neither compiles modules
    nor fills the libraries' caches (which cost more than the case's own work, and would be
    counted as reads outside the case's folder)."""
    import contextlib
    import importlib
    import io
    import pkgutil
    import warnings

    import google_crc32c  # noqa: F401 - modelport imports it on first checksum
    import h5py  # noqa: F401
    import numpy  # noqa: F401

    import modelport
    from fuzz import mutators

    for module in pkgutil.walk_packages(modelport.__path__, "modelport."):
        if not module.name.endswith("__main__"):  # the CLI, which would run
            importlib.import_module(module.name)
    mutators.bomb_stream()  # the zip-bomb stream, computed once before forking
    for seed in seed_list or []:
        with tempfile.TemporaryDirectory(prefix="warm-") as tmp, warnings.catch_warnings(), \
                contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            work = Path(tmp)
            in_dir = work / "in"
            shutil.copytree(seed["root"], in_dir, symlinks=True)
            case = runner.plan_case(0, [seed], 0)
            for op in case.ops:
                out = work / "out" / op
                out.mkdir(parents=True)
                with contextlib.suppress(Exception):
                    runner.operation(op, case, in_dir, out)()
    # Objects that exist now are never collected in the children: the collector would touch
    # (and so copy) every page the children share with the parent.
    gc.collect()
    gc.freeze()
