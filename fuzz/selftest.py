"""Hand-made cases of every class, run through the real forked runner, to check the harness
classifies correctly (`python -m fuzz.selftest` prints one JSON line per case)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from fuzz import mutators, runner

CANARY_FLOATS = 256 * 64 // 4  # the canary file's size in float32 values


def _ok(in_dir: Path, out: Path) -> None:
    (out / "result.txt").write_text("fine")


def _refuse(in_dir: Path, out: Path) -> None:
    from modelport.errors import FormatError

    raise FormatError("not a model", in_dir / "x.json")


def _escape(in_dir: Path, out: Path) -> None:
    with zipfile.ZipFile(in_dir / "broken.keras") as z:
        z.read("config.json")  # raises BadZipFile: Bad CRC-32


def _hang(in_dir: Path, out: Path) -> None:
    time.sleep(600)


def _memory(in_dir: Path, out: Path) -> None:
    bytearray(8 << 30)


def _crash(in_dir: Path, out: Path) -> None:
    os.abort()


def _unnamed(in_dir: Path, out: Path) -> None:
    from modelport.errors import FormatError

    raise FormatError("not a model, says a message naming no file")


def _leftover(in_dir: Path, out: Path) -> None:
    from modelport.errors import FormatError

    (out / "half.h5").write_bytes(b"half")
    raise FormatError("refused after writing", in_dir / "x.json")


def _modify(in_dir: Path, out: Path) -> None:
    with open(in_dir / "x.json", "a") as fh:
        fh.write(" ")


def _modify_then_hang(in_dir: Path, out: Path) -> None:
    _modify(in_dir, out)
    time.sleep(600)


def _read_canary(in_dir: Path, out: Path) -> None:
    (in_dir / ".." / "canary.bin").read_bytes()


def _read_canary_in_c(in_dir: Path, out: Path) -> None:
    # HDF5 opens the external file in C, unseen by audit hooks: inotify must see it.
    import h5py

    with h5py.File(in_dir / "link.h5", "r") as f:
        f["/ext/data"][()]


def _write_outside(in_dir: Path, out: Path) -> None:
    (in_dir.parent / "outside" / "written.txt").write_text("x")


def _run_code(in_dir: Path, out: Path) -> None:
    open(os.environ["MODELPORT_FUZZ_MARKER"], "w").close()


def _slip(in_dir: Path, out: Path) -> None:
    # A .keras written with a member name climbing out of wherever it is extracted.
    with zipfile.ZipFile(out / "m.keras", "w") as z:
        z.writestr("config.json", "{}")
        z.writestr("assets/../../x", "payload")


def _manifest_outside(in_dir: Path, out: Path) -> None:
    import modelport

    modelport.convert(in_dir / "tfjsw" / "weights_manifest.json", out / "m.h5")


def _corrupt_keras(in_dir: Path, out: Path) -> None:
    import modelport

    modelport.inspect(in_dir / "broken.keras")


# name -> (operation, the class it must get, a substring its signature must hold)
CASES: dict[str, tuple[Callable, str, str]] = {
    "ok": (_ok, "ok", "ok"),
    "refused": (_refuse, "refused", "refused"),
    "escaped": (_escape, "escaped", "escaped BadZipFile"),
    "hang": (_hang, "hang", "selftest.py"),
    "memory": (_memory, "memory", "memory MemoryError"),
    "crash": (_crash, "crash", "crash SIGABRT"),
    "leftover": (_leftover, "leftover", "leftover"),
    "unnamed": (_unnamed, "unnamed", "unnamed"),
    "modified": (_modify, "modified", "modified"),
    "modified_hang": (_modify_then_hang, "modified", "modified"),
    "outside_read": (_read_canary, "outside_read", "outside_read"),
    "outside_read_c": (_read_canary_in_c, "outside_read", "outside_read"),
    "outside_write": (_write_outside, "outside_write", "outside_write"),
    "code_executed": (_run_code, "code_executed", "code_executed"),
    "to_keras": (_slip, "slip_propagated", "slip_propagated"),
    # Real modelport readers: what today's readers do with these inputs (see run_checks).
    "manifest_outside": (_manifest_outside, "outside_read", "outside_read"),
    "corrupt_keras": (_corrupt_keras, "escaped", "escaped BadZipFile formats/keras_v3.py"),
}


def make_seed(folder: Path) -> dict:
    """The inputs every hand-made case shares."""
    import h5py

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "x.json").write_text("{}")
    # A .keras whose config.json fails its CRC: zipfile raises BadZipFile on reading it.
    config = b'{"class_name": "Sequential", "config": {"layers": []}}'
    (folder / "broken.keras").write_bytes(mutators.write_zip(
        [{"name": "config.json", "data": config, "crc": zlib.crc32(config) ^ 1}]))
    manifest = [{"paths": ["../../canary.bin"],
                 "weights": [{"name": "dense/kernel", "shape": [CANARY_FLOATS],
                              "dtype": "float32"}]}]
    (folder / "tfjsw").mkdir()
    (folder / "tfjsw" / "weights_manifest.json").write_text(json.dumps(manifest))
    with h5py.File(folder / "link.h5", "w") as f:
        # resolved from the file's folder at read time: the case's outside/ copy
        f["/ext"] = h5py.ExternalLink("../outside/ext.h5", "/")
    return {"name": "selftest", "format": "selftest", "entry": "x.json", "root": str(folder),
            "architecture": None}


def run_checks(op_seconds: float = 3.0) -> list[dict]:
    """Run every hand-made case; one dict per case with its class and signature."""
    import h5py
    import numpy as np

    base = Path(tempfile.mkdtemp(prefix="fuzz-selftest-")).resolve()
    seed = make_seed(base / "seed")
    work = base / "work"
    work.mkdir()
    plans = []
    for i, (name, (op, _cls, _sig)) in enumerate(CASES.items()):
        case = runner.Case(i, seed, f"selftest:{i}", [], False, (name,), {name: op})
        plans.append(case)
    # The external-link target must exist outside the input: made by a step before the op.
    original_prepare = runner.prepare

    def prepare(case, case_dir):
        in_dir, done = original_prepare(case, case_dir)
        with h5py.File(case_dir / "outside" / "ext.h5", "w") as f:
            f["data"] = np.arange(4.0)
        return in_dir, done

    runner.prepare = prepare
    results: list[runner.CaseResult] = []
    try:
        runner.run_cases(iter(plans), work, runner.Limits(op_seconds=op_seconds), 2,
                         results.append)
    finally:
        runner.prepare = original_prepare
        runner.remove_tree(base)
    rows = []
    for r in sorted(results, key=lambda r: r.case.number):
        op = r.ops[0]
        expected_cls, expected_sig = CASES[op.op][1], CASES[op.op][2]
        rows.append({"case": op.op, "class": op.cls, "signature": op.signature,
                     "expected_class": expected_cls, "expected_signature": expected_sig,
                     "message": op.message, "details": op.details})
    return rows


if __name__ == "__main__":
    from fuzz.campaign import preload

    preload()
    for row in run_checks():
        print(json.dumps(row))
    sys.stdout.flush()
