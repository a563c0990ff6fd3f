"""Regenerate docs/applications.md: keras.applications architectures built by tf_keras and
Keras 3, saved every way, run through modelport (tests/realworld/applications.py; checked by
tests/test_applications.py).

    python scripts/applications.py                  # every model, rewrite the doc
    python scripts/applications.py --models MobileNetV2 --json build/apps.json --no-doc
    python scripts/applications.py --from-json build/applications.json [more.json ...]
    python scripts/applications.py --models ConvNeXtTiny --merge   # rerun one, keep the rest
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "realworld"))

import applications  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated names (default: all)")
    parser.add_argument("--json", type=Path, default=ROOT / "build" / "applications.json")
    parser.add_argument("--from-json", type=Path, nargs="+",
                        help="render these runs' results (merged) instead of running")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite the doc")
    parser.add_argument("--all", action="store_true",
                        help="every route from every saved file (default: from the first)")
    parser.add_argument("--merge", action="store_true",
                        help="keep the doc's cells of every (model, library) this run or "
                             "these JSON files do not have")
    args = parser.parse_args(argv)
    if args.from_json:
        # Merged; a (model, library) in a later file replaces the earlier file's cells.
        runs: dict[tuple[str, str], list[applications.Cell]] = {}
        for path in args.from_json:
            fresh: dict[tuple[str, str], list[applications.Cell]] = {}
            for c in json.loads(path.read_text()):
                cell = applications.Cell(**c)
                fresh.setdefault((cell.model, cell.library), []).append(cell)
            runs.update(fresh)
        cells = [cell for group in runs.values() for cell in group]
    else:
        names = args.models.split(",") if args.models else None
        started = time.monotonic()

        def progress(what: str) -> None:
            print(f"{time.monotonic() - started:7.1f}s  {what}", file=sys.stderr, flush=True)

        args.json.parent.mkdir(parents=True, exist_ok=True)

        def done(cells: list[applications.Cell]) -> None:
            args.json.write_text(json.dumps([dataclasses.asdict(c) for c in cells], indent=1))

        with tempfile.TemporaryDirectory(prefix="modelport_apps_") as tmp:
            cells = applications.run(Path(tmp), names, progress=progress, every=args.all,
                                     done=done)
        print(f"results: {args.json}; {time.monotonic() - started:.0f} s", file=sys.stderr)
    if args.merge:
        fresh = {(cell.model, cell.library) for cell in cells}
        kept = [cell for cell in applications.cells_from_doc(applications.DOC.read_text())
                if (cell.model, cell.library) not in fresh]
        cells = kept + cells
    if not args.no_doc:
        models = list(applications.MODELS)
        cells.sort(key=lambda c: (models.index(c.model),
                                  applications.LIBRARIES.index(c.library)))
        applications.DOC.write_text(applications.render(cells, applications.versions()))
        print(f"wrote {applications.DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
