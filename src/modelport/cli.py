"""The `modelport` command line: convert, inspect and formats."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from modelport._version import __version__
from modelport.errors import ModelportError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelport",
        description="Convert models between TF.js, Keras HDF5 and other TensorFlow-family "
                    "formats, without TensorFlow.")
    parser.add_argument("--version", action="version", version=f"modelport {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    convert = commands.add_parser("convert", help="convert a model file to another format")
    convert.add_argument("src", help="input model file or folder")
    convert.add_argument("dst", help="output file, or folder for a TF.js model")
    convert.add_argument("--from", dest="from_format", metavar="FORMAT",
                         help="input format (default: detected from the content)")
    convert.add_argument("--to", dest="to_format", metavar="FORMAT",
                         help="output format (default: from the output's extension; a folder "
                              "means tfjs_layers_model)")
    convert.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    convert.add_argument("--shard-size", type=int, default=None, metavar="BYTES",
                         help="weight shard size in bytes: TF.js (default 4194304) and "
                              "sharded Keras 3 .weights.json")
    convert.add_argument("--keras", type=int, choices=(2, 3), default=None,
                         help="dialect of an .h5 or architecture JSON output (default 2: "
                              "loads in tf_keras, Keras 3 and TF.js)")
    convert.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)

    inspect = commands.add_parser("inspect", help="describe a model file")
    inspect.add_argument("path", help="model file or folder")
    inspect.add_argument("--from", dest="from_format", metavar="FORMAT",
                         help="input format (default: detected from the content)")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of a table")
    inspect.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)

    formats = commands.add_parser("formats", help="list the formats modelport reads and writes")
    formats.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return parser


def _warn(messages: Sequence[str]) -> None:
    for message in messages:
        print(f"modelport: warning: {message}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    from modelport import api

    if args.command == "formats":
        rows = api.formats()
        width = max(len(r["name"]) for r in rows)
        print(f"{'format':<{width}}  read  write  description")
        for row in rows:
            print(f"{row['name']:<{width}}  {'yes' if row['read'] else 'no':<4}  "
                  f"{'yes' if row['write'] else 'no':<5}  {row['description']}")
        return 0
    if args.command == "inspect":
        from modelport.inspection import render

        summary = api.inspect(args.path, args.from_format)
        _warn(summary["warnings"])
        print(json.dumps(summary, indent=2) if args.json else render(summary))
        return 0
    options = {}
    if args.shard_size is not None:
        if args.shard_size <= 0:
            raise ModelportError("--shard-size must be a positive number of bytes")
        options["shard_size"] = args.shard_size
    if args.keras is not None:
        options["keras"] = args.keras
    with api.read(args.src, args.from_format) as model:
        try:
            written = api.write(model, args.dst, args.to_format, overwrite=args.overwrite,
                                **options)
        except ModelportError as exc:
            raise exc.about(args.src) from None
        _warn(model.warnings)
    print(f"wrote {', '.join(str(p) for p in written[:3])}"
          + (f" and {len(written) - 3} more" if len(written) > 3 else ""))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except ModelportError as exc:
        if args.debug:
            raise
        print(f"modelport: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if args.debug:
            raise
        where = getattr(args, "src", None) or getattr(args, "path", None)
        print(f"modelport: error: {where}: cannot be read ({type(exc).__name__}: {exc}); run "
              "with --debug for details", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
