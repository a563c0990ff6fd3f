"""Regenerate docs/compatibility.md, the conformance matrix of every tf_keras / Keras 3 layer
class across modelport's formats (tests/matrix.py runs it; tests/test_matrix.py checks it).

    python scripts/compatibility.py                 # run the matrix, rewrite the doc
    python scripts/compatibility.py --from-json build/compatibility.json
                                                    # render a saved run (MODELPORT_WRITE_MATRIX=1)
    python scripts/compatibility.py --check         # run, exit 1 if the doc is out of date
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

import matrix  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-json", type=Path, metavar="PATH",
                        help="render these results (a run's JSON) instead of running the matrix")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        default=ROOT / "build" / "compatibility.json",
                        help="where to write the run's results (default: %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="do not write the doc; exit 1 when it differs from the results")
    parser.add_argument("--doc", type=Path, default=matrix.DOC, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

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
            results = matrix.run(Path(tmp), progress=progress)
        if tty:
            print(file=sys.stderr)
        matrix.write_json(results, args.json)
        print(f"results: {args.json}; seconds: {results['seconds']}", file=sys.stderr)

    rendered = matrix.render(results)
    current = args.doc.read_text() if args.doc.is_file() else ""
    if args.check:
        if rendered == current:
            print(f"{args.doc} is up to date")
            return 0
        print(f"{args.doc} is out of date:\n{matrix.doc_diff(current, rendered)}")
        return 1
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(rendered)
    state = "unchanged" if rendered == current else "written"
    print(f"{args.doc}: {state}")
    for lib, per in matrix.counts(results).items():
        cells = ", ".join(f"{k} {c['pass']}/{c['pass'] + c['fail']}" for k, c in per.items())
        print(f"  {lib}: {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
