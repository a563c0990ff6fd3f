"""Regenerate docs/compatibility.md, the conformance matrix of every tf_keras / Keras 3 layer
class across modelport's formats (tests/matrix.py runs it; tests/test_matrix.py checks it),
or with --corpus docs/realworld.md, the real-world corpus (tests/realworld/corpus_matrix.py
runs it; tests/realworld/test_realworld.py checks it).

    python scripts/compatibility.py                 # run the matrix, rewrite the doc
    python scripts/compatibility.py --from-json build/compatibility.json
                                                    # render a saved run (MODELPORT_WRITE_MATRIX=1)
    python scripts/compatibility.py --check         # run, exit 1 if the doc is out of date
    python scripts/compatibility.py --corpus [--from-json build/realworld.json] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the matrix lives with the tests it shares code with
sys.path.insert(1, str(ROOT / "tests" / "realworld"))

import corpus_matrix  # noqa: E402
import matrix  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", action="store_true",
                        help="the real-world corpus and docs/realworld.md instead of the matrix")
    parser.add_argument("--from-json", type=Path, metavar="PATH",
                        help="render these results (a run's JSON) instead of running the matrix")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="where to write the run's results (default: "
                             "build/compatibility.json, build/realworld.json)")
    parser.add_argument("--check", action="store_true",
                        help="do not write the doc; exit 1 when it differs from the results")
    parser.add_argument("--doc", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # Both docs are a run rendered and compared the same way: run, render, doc_diff, DOC.
    doc = corpus_matrix if args.corpus else matrix
    args.doc = args.doc or doc.DOC
    args.json = args.json or ROOT / "build" / ("realworld.json" if args.corpus
                                               else "compatibility.json")

    if args.from_json:
        results = json.loads(args.from_json.read_text())
    else:
        if not matrix.tfjs.node_available():
            # Without TF.js every TF.js cell would record a missing runtime: not a doc to commit.
            print(f"TF.js runtime missing: need `node` and `npm ci --prefix tests/node` "
                  f"({matrix.tfjs.NODE_MODULES})", file=sys.stderr)
            return 2
        started = time.monotonic()
        rows_done = 0

        tty = sys.stderr.isatty()

        def progress(what: str) -> None:
            nonlocal rows_done
            rows_done += 1
            line = f"{time.monotonic() - started:6.1f}s {rows_done:4d} rows  {what:<50}"
            if tty:  # one line rewritten in place
                print("\r" + line, end="", file=sys.stderr, flush=True)
            elif rows_done % 25 == 0:
                print(line.rstrip(), file=sys.stderr, flush=True)

        with tempfile.TemporaryDirectory(prefix="modelport_matrix_") as tmp:
            results = doc.run(Path(tmp), progress=progress)
        if tty:
            print(file=sys.stderr)
        doc.write_json(results, args.json)
        print(f"results: {args.json}; seconds: {results['seconds']}", file=sys.stderr)

    rendered = doc.render(results)
    current = args.doc.read_text() if args.doc.is_file() else ""
    if args.check:
        if rendered == current:
            print(f"{args.doc} is up to date")
            return 0
        print(f"{args.doc} is out of date:\n{doc.doc_diff(current, rendered)}")
        return 1
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(rendered)
    state = "unchanged" if rendered == current else "written"
    print(f"{args.doc}: {state}")
    if args.corpus:
        print("  " + ", ".join(f"{k} {n}" for k, n in corpus_matrix.counts(results).items()))
        return 0
    for lib, per in matrix.counts(results).items():
        cells = ", ".join(f"{k} {c['pass']}/{c['pass'] + c['fail']}" for k, c in per.items())
        print(f"  {lib}: {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
