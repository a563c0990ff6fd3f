"""The `modelport` command line: convert, inspect and formats."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from modelport import errors, progress
from modelport._version import __version__
from modelport.errors import ModelportError
from modelport.fileio import check_writable
from modelport.formats.record import WriteResult
from modelport.quantize import QUANTIZED_DTYPES, plan_from_flags, render_summary
from modelport.registry import get_format, incumbent_default_output, writer_takes
from modelport.verification.defaults import (
    DEFAULT_ATOL,
    DEFAULT_BATCH_SIZE,
    DEFAULT_RTOL,
    DEFAULT_SEED,
    RUNTIMES,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelport",
        description="Convert models between TF.js, Keras HDF5 and other TensorFlow-family "
                    "formats, without TensorFlow.")
    parser.add_argument("--version", action="version", version=f"modelport {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress on stderr (shown only on a terminal, for long work)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    convert = commands.add_parser("convert", help="convert a model file to another format")
    convert.add_argument("src", help="input model file or folder")
    convert.add_argument("dst", help="output file, or folder for a TF.js model")
    convert.add_argument("--from", dest="from_format", metavar="FORMAT",
                         help="input format (default: detected from the content)")
    convert.add_argument("--to", dest="to_format", metavar="FORMAT",
                         help="output format (default: from the output's extension; a folder "
                              "means tfjs_layers_model)")
    _add_incumbent_flags(convert)
    convert.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    convert.add_argument("--signature-name", "--signature_name", dest="signature_name",
                         metavar="NAME", default=None,
                         help="SavedModel signature to convert to a TF.js graph model "
                              "(default serving_default)")
    convert.add_argument("--shard-size", "--weight_shard_size_bytes", type=int, default=None,
                         metavar="BYTES",
                         help="weight shard size in bytes: TF.js (default 4194304) and "
                              "sharded Keras 3 .weights.json")
    convert.add_argument("--keras", type=int, choices=(2, 3), default=None,
                         help="dialect of an .h5 or architecture JSON output (default 2: "
                              "loads in tf_keras, Keras 3 and TF.js)")
    tfjs = convert.add_argument_group(
        "TF.js output", "quantization PATTERNS are comma-separated fnmatch patterns over "
        "weight names (dense_*/kernel); a flag without PATTERNS quantizes every float32 "
        "weight no other flag's patterns select")
    for dtype in QUANTIZED_DTYPES:
        tfjs.add_argument(f"--quantize-{dtype}", f"--quantize_{dtype}", dest=f"quantize_{dtype}",
                          nargs="?", const=True, default=None, metavar="PATTERNS",
                          help=f"store the selected weights as {dtype}")
    tfjs.add_argument("--split-weights-by-layer", "--split_weights_by_layer", nargs="?",
                      const=True, default=None, type=_boolean, metavar="BOOL",
                      help="one weight group (and shard files) per layer")
    tfjs.add_argument("--include-optimizer", "--include_optimizer", action="store_true",
                      default=None,
                      help="also write the optimizer's weights (TF.js's includeOptimizer; "
                           "default: the model's weights only, as TF.js's model.save)")
    tfjs.add_argument("--metadata", action="append", default=None, metavar="KEY:FILE.json",
                      help="put FILE.json's content under KEY in userDefinedMetadata "
                           "(repeatable; KEY:FILE,KEY2:FILE2 also works)")
    convert.add_argument("--weights-only", action="store_true",
                         help="write the weights alone: .h5 as save_weights does, a TF.js "
                              "folder as a weights manifest (.weights.h5 always is)")
    assembly = convert.add_argument_group(
        "assembling weights and an architecture",
        "SRC holds weights (save_weights .h5, .weights.h5/.weights.json, TF.js weights "
        "manifest, TF checkpoint, or any model file); ARCH holds the architecture")
    assembly.add_argument("--architecture", metavar="ARCH",
                          help="file with the architecture: to_json() JSON, .h5, .keras, "
                               "model.json")
    assembly.add_argument("--match", choices=("name", "order"), default=None,
                          help="match weight groups to layers by layer name or by position "
                               "(default: name when every layer name matches, else order)")
    assembly.add_argument("--skip-mismatch", action="store_true",
                          help="load what fits and give the rest fresh initial values, as "
                               "Keras's skip_mismatch (default: refuse and write nothing)")
    assembly.add_argument("--report", metavar="FILE",
                          help="also write the mapping report as JSON")
    checking = convert.add_argument_group("verification")
    checking.add_argument("--verify", action="store_true",
                          help="after converting, run SRC and DST in their runtimes on the "
                               "same inputs and compare the outputs (exit 1 when they differ; "
                               "`modelport verify` has every option)")
    _add_code_flags(checking)
    _add_common_flags(convert)

    verify = commands.add_parser(
        "verify", help="run two models in real runtimes on the same inputs and compare them",
        description="Run A and B in real runtimes on the same inputs and compare every output "
                    "(A is the reference). Exit 0 when all agree within tolerance, 1 when not.")
    verify.add_argument("a", help="reference model (file or folder)")
    verify.add_argument("b", help="model to check against A")
    for side in ("a", "b"):
        verify.add_argument(f"--runtime-{side}", choices=RUNTIMES, default=None,
                            help=f"runtime for {side.upper()} (default: the format's own: TF.js "
                                 "files tfjs, SavedModels tensorflow, Keras files the Keras "
                                 "that wrote them)")
    verify.add_argument("--inputs", metavar="FILE",
                        help=".npz with one array per input (named after the inputs) or .npy "
                             "for a one-input model (default: generated)")
    verify.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N",
                        help=f"rows of generated inputs (default {DEFAULT_BATCH_SIZE})")
    verify.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"seed of generated inputs (default {DEFAULT_SEED})")
    verify.add_argument("--atol", type=float, default=None,
                        help=f"absolute tolerance (default {DEFAULT_ATOL:g}, widened for "
                             "quantized weights)")
    verify.add_argument("--rtol", type=float, default=None,
                        help=f"relative tolerance (default {DEFAULT_RTOL:g}, widened for "
                             "quantized weights)")
    _add_code_flags(verify)
    verify.add_argument("--report", metavar="FILE.html",
                        help="also write a self-contained HTML page with the table and a plot "
                             "of each output's error distribution (needs matplotlib)")
    verify.add_argument("--overwrite", action="store_true", help="replace an existing report")
    verify.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_common_flags(verify)

    inspect = commands.add_parser("inspect", help="describe a model file")
    inspect.add_argument("path", help="model file or folder")
    inspect.add_argument("--from", dest="from_format", metavar="FORMAT",
                         help="input format (default: detected from the content)")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_common_flags(inspect)

    formats = commands.add_parser("formats", help="list the formats modelport reads and writes")
    _add_common_flags(formats)
    return parser


def _add_common_flags(command: argparse.ArgumentParser) -> None:
    """-v/--version, -q/--quiet and --debug after the command too (SUPPRESS: given here, they
    override the top-level ones; not given, they leave them alone)."""
    command.add_argument("-v", "--version", action="version", version=f"modelport {__version__}")
    command.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS)
    command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS)


# tensorflowjs_converter 4.22's flags that modelport has no use for: accepted, and why.
_ACCEPTED_INCUMBENT_FLAGS = {
    "--strip_debug_ops": "debug ops are always stripped",
    "--control_flow_v2": "control flow is always written in the form TF.js runs (lowered)",
    "--experiments": "modelport has no experimental conversions",
}
# ... and the ones for features modelport lacks: refused by name, with the reason.
_REFUSED_INCUMBENT_FLAGS = {
    "--skip_op_check": "modelport checks every op against TF.js before writing, so that a graph "
                       "model it writes runs; an op TF.js lacks is named instead",
    "--use_structured_outputs_names": "graph models are written with the signature's output "
                                      "keys; structured output names are not supported",
    "--output_node_names": "it applies to frozen GraphDef input, which modelport does not read",
}


def _add_incumbent_flags(convert: argparse.ArgumentParser) -> None:
    """tensorflowjs_converter's spellings and flags, with its meaning (README: 'Porting a
    tensorflowjs_converter script')."""
    group = convert.add_argument_group(
        "tensorflowjs_converter's flags", "accepted with its meaning; with --input_format and "
        "no --output_format, the output format follows its defaults")
    group.add_argument("--input_format", dest="incumbent_input", metavar="FORMAT",
                       help="input format, by tensorflowjs_converter's names too")
    group.add_argument("--output_format", dest="incumbent_output", metavar="FORMAT",
                       help="output format, by tensorflowjs_converter's names too")
    group.add_argument("--saved_model_tags", metavar="TAGS", default=None,
                       help="SavedModel tag set to load (only 'serve' is read)")
    group.add_argument("--quantization_bytes", type=int, choices=(1, 2), default=None,
                       help="deprecated: 1 means --quantize_uint8, 2 --quantize_uint16")
    for flag, reason in _ACCEPTED_INCUMBENT_FLAGS.items():
        group.add_argument(flag, nargs="?", const=True, default=None, metavar="BOOL",
                           help=f"accepted; {reason}")
    for flag in _REFUSED_INCUMBENT_FLAGS:
        group.add_argument(flag, nargs="?", const=True, default=None, metavar="VALUE",
                           help="refused: " + _REFUSED_INCUMBENT_FLAGS[flag])


def _incumbent_options(args: argparse.Namespace) -> None:
    """Fold tensorflowjs_converter's flags into modelport's, refusing the ones it lacks (a
    format name it lacks first: that is what the user needs to hear)."""
    for name in (args.incumbent_input, args.incumbent_output):
        if name is not None:
            get_format(name)
    for flag, reason in _REFUSED_INCUMBENT_FLAGS.items():
        if getattr(args, flag.lstrip("-")) not in (None, False, "False", "false"):
            raise ModelportError(f"{flag} is not supported: {reason}")
    if args.saved_model_tags is not None and {
            t.strip() for t in args.saved_model_tags.split(",")} != {"serve"}:
        raise ModelportError(f"--saved_model_tags {args.saved_model_tags}: modelport loads "
                             "SavedModels by their 'serve' tag set only")
    for given, own, flag in ((args.incumbent_input, args.from_format, "--input_format"),
                             (args.incumbent_output, args.to_format, "--output_format")):
        if given is not None and own is not None and given != own:
            raise ModelportError(f"{flag} {given} contradicts --{flag[2:].split('_')[0]} {own}")
    args.from_format = args.from_format or args.incumbent_input
    if args.to_format is None and args.incumbent_output is not None:
        args.to_format = args.incumbent_output
    elif args.to_format is None and args.incumbent_input is not None:
        args.to_format = incumbent_default_output(args.incumbent_input)
    if args.quantization_bytes is not None:
        dtype = {1: "uint8", 2: "uint16"}[args.quantization_bytes]
        if not getattr(args, f"quantize_{dtype}"):
            setattr(args, f"quantize_{dtype}", True)


def _add_code_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--custom-objects", metavar="FILE.py",
                        help="import this module (yours) so Keras runtimes, and the writers "
                             "that load the model in TensorFlow, can build custom layers: its "
                             "custom_objects dict, or every class and function in it")
    parser.add_argument("--allow-lambda", action="store_true",
                        help="let Keras runtimes load Lambda layers, which runs the Python "
                             "bytecode stored in the model file (only for files you trust)")


def _boolean(value: str) -> bool:
    """A flag's explicit value: unlike tensorflowjs_converter, 'False' means false."""
    text = value.strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not '{value}'")


def _metadata(entries: Sequence[str]) -> dict[str, object]:
    """--metadata KEY:FILE.json entries: the key before the first ':' (so 'C:\\x.json' stays a
    path), the parsed JSON file as its value."""
    from modelport.formats.common import read_json

    metadata: dict[str, object] = {}
    for entry in entries:
        for item in entry.split(","):
            key, sep, path = item.partition(":")
            if not sep or not key.strip() or not path.strip():
                raise ModelportError(f"--metadata expects KEY:FILE.json, not '{item}'")
            metadata[key.strip()] = read_json(Path(path.strip()))
    return metadata


def _tfjs_options(args: argparse.Namespace) -> dict[str, object]:
    options: dict[str, object] = {}
    plan = plan_from_flags({d: getattr(args, f"quantize_{d}") for d in QUANTIZED_DTYPES})
    if plan is not None:
        options["quantize"] = plan
    if args.split_weights_by_layer:
        options["split_weights_by_layer"] = True
    if args.include_optimizer:
        options["include_optimizer"] = True
    if args.metadata:
        options["metadata"] = _metadata(args.metadata)
    return options


def _warn(messages: Sequence[str]) -> None:
    for message in messages:
        print(f"modelport: warning: {message}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    if args.command == "formats":  # the registry alone: no format reads or writes anything
        from modelport.registry import format_table

        rows = format_table()
        width = max(len(r["name"]) for r in rows)
        print(f"{'format':<{width}}  read  write  description")
        for row in rows:
            print(f"{row['name']:<{width}}  {'yes' if row['read'] else 'no':<4}  "
                  f"{'yes' if row['write'] else 'no':<5}  {row['description']}")
        return 0
    from modelport import api

    if args.command == "inspect":
        from modelport.inspection import render

        summary = api.inspect(args.path, args.from_format)
        _warn(summary["warnings"])
        print(_json_document("inspect", summary) if args.json else render(summary))
        return 0
    if args.command == "verify":
        return _verify(args)
    _incumbent_options(args)
    options = {}
    if args.shard_size is not None:
        if args.shard_size <= 0:
            raise ModelportError("--shard-size must be a positive number of bytes")
        options["shard_size"] = args.shard_size
    if args.keras is not None:
        options["keras"] = args.keras
    options.update(_tfjs_options(args))
    if args.verify and (args.weights_only or args.architecture):
        raise ModelportError("--verify compares the output with the input model; it does not "
                             "apply with --weights-only or --architecture")
    if not args.verify and args.allow_lambda:
        raise ModelportError("--allow-lambda applies only with --verify")
    # The writers that load the model in TensorFlow take the user's module as verify does.
    if args.custom_objects and (not args.verify or writer_takes(
            args.dst, args.to_format, "custom_objects")):
        options["custom_objects"] = args.custom_objects
    if args.architecture is None:
        for flag, given in (("--match", args.match), ("--skip-mismatch", args.skip_mismatch),
                            ("--report", args.report)):
            if given:
                raise ModelportError(f"{flag} applies only with --architecture")
    written = _convert(args, options)
    print(f"wrote {', '.join(str(p) for p in written[:3])}"
          + (f" and {len(written) - 3} more" if len(written) > 3 else ""))
    if args.verify:
        result = api.verify(args.src, args.dst, format_a=args.from_format,
                            custom_objects=args.custom_objects, allow_lambda=args.allow_lambda)
        print(result.render())
        if not result.passed:
            print(f"modelport: {args.dst} was written but does not compute what {args.src} "
                  "does (see the table)", file=sys.stderr)
            return 1
    return 0


# The --json documents' schema: its version changes when a key is removed or changes meaning
# (README: "JSON output").
JSON_SCHEMA_VERSION = 1


def _json_document(command: str, body: dict[str, object]) -> str:
    return json.dumps({"schema": f"modelport.{command}", "schema_version": JSON_SCHEMA_VERSION,
                       "modelport_version": __version__, **body}, indent=2)


def _verify(args: argparse.Namespace) -> int:
    from modelport import api

    if args.report:
        from modelport.verification.report import check_report_dependencies

        check_report_dependencies()
        check_writable(Path(args.report), args.overwrite)
    result = api.verify(args.a, args.b, args.inputs, runtime_a=args.runtime_a,
                        runtime_b=args.runtime_b, batch_size=args.batch_size, seed=args.seed,
                        atol=args.atol, rtol=args.rtol, custom_objects=args.custom_objects,
                        allow_lambda=args.allow_lambda)
    print(_json_document("verify", result.as_dict()) if args.json else result.render())
    if args.report:
        result.command = shlex.join(["modelport", *args.argv])
        from modelport.verification.report import write_report

        write_report(result, Path(args.report), args.overwrite)
        print(f"wrote {args.report}", file=sys.stderr)
    return 0 if result.passed else 1


def _convert(args: argparse.Namespace, options: dict[str, object]) -> WriteResult:
    """Every conversion goes through api.convert; with --architecture the mapping report is
    printed on stderr (on a mismatch too, and written to --report)."""
    from modelport import api
    from modelport.assemble import MismatchError

    if args.architecture is not None:
        options.update(architecture=args.architecture, match=args.match,
                       skip_mismatch=args.skip_mismatch)
        if args.report:
            check_writable(Path(args.report), args.overwrite)
            if Path(args.report).resolve() in (Path(args.dst).resolve(),
                                               Path(args.src).resolve()):
                raise ModelportError("--report must name a file other than the input and the "
                                     "output", args.report)
    else:
        options["signature"] = args.signature_name
    try:
        result = api.convert(args.src, args.dst, from_format=args.from_format,
                             to_format=args.to_format, overwrite=args.overwrite,
                             weights_only=args.weights_only, **options)
    except MismatchError as exc:
        print(exc.report.render(), file=sys.stderr)
        if args.report:
            exc.report.write_json(Path(args.report), args.overwrite)
        raise
    if result.report is not None:
        print(result.report.render(), file=sys.stderr)
    _warn(result.warnings)
    if result.quantization:
        print(render_summary(result.quantization))
    if result.report is not None and args.report:
        result.report.write_json(Path(args.report), args.overwrite)
    return result


def _untangle_paths(argv: list[str]) -> list[str]:
    """`--quantize-uint8 model.h5 web/`: argparse would take model.h5 as the flag's optional
    value (patterns, or --split-weights-by-layer's true/false). Such a flag followed by an
    existing file or folder takes no value: quantize every weight, split."""
    flags = {f"--quantize{sep}{dtype}" for dtype in QUANTIZED_DTYPES for sep in "-_"}
    flags |= {"--split-weights-by-layer", "--split_weights_by_layer"}
    flags |= {*_ACCEPTED_INCUMBENT_FLAGS, *_REFUSED_INCUMBENT_FLAGS}
    out = list(argv)
    for index, token in enumerate(out[:-1]):
        if token in flags and Path(out[index + 1]).exists():
            out[index] = f"{token}=true"
    return out


def main(argv: Sequence[str] | None = None) -> int:
    before = (errors.SPELL_FOR_CLI, progress.WANTED, os.environ.get(DEBUG_ENV),
              os.environ.get(BLAS_THREADS_ENV))
    errors.SPELL_FOR_CLI = True
    if "numpy" not in sys.modules:
        # numpy's OpenBLAS starts a thread per core at import: on a busy 2-core machine that
        # is ~40% of a small conversion's time, and no conversion multiplies matrices.
        os.environ.setdefault(BLAS_THREADS_ENV, "1")
    try:
        return _main(argv)
    finally:
        errors.SPELL_FOR_CLI, progress.WANTED, debug, blas_threads = before
        for name, value in ((DEBUG_ENV, debug), (BLAS_THREADS_ENV, blas_threads)):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# Set by --debug: TensorFlow's C++ start-up lines are shown too (they are silenced otherwise).
DEBUG_ENV = "MODELPORT_DEBUG"
BLAS_THREADS_ENV = "OPENBLAS_NUM_THREADS"  # read once, when numpy is first imported


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends like Ctrl-C: temporary files go, children end


def _main(argv: Sequence[str] | None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(_untangle_paths(given))
    args.argv = given
    progress.WANTED = not args.quiet
    if args.debug:
        os.environ[DEBUG_ENV] = "1"
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupted) if main_thread else None
    try:
        return _run_reporting(args)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _run_reporting(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except ModelportError as exc:
        if args.debug:
            raise
        print(f"modelport: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader of stdout went away (`modelport inspect x | head -1`): end quietly, and
        # keep Python from reporting the failed flush at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("modelport: interrupted; nothing was written", file=sys.stderr)
        return 130
    except OSError as exc:
        if args.debug:
            raise
        where = getattr(args, "src", None) or getattr(args, "path", None)
        print(f"modelport: error: {where}: cannot be read ({type(exc).__name__}: {exc}); run "
              "with --debug for details", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the last defence: one line, not a traceback
        if args.debug:
            raise
        print(f"modelport: internal error ({type(exc).__name__}: {exc}); this is a bug in "
              "modelport: please report it with the output of the same command with --debug",
              file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
