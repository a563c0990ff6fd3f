"""Whole-process speed and memory of modelport against the disk floor (`cp`, `dd bs=4M`) and,
when installed, tensorflowjs_converter, on models of 10 MB to 3 GB it builds itself; writes
docs/performance.md. Never run from the test suite: timings belong here, not in tests."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import json
import math
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import h5py
import numpy as np

REPO = Path(__file__).resolve().parent.parent
MiB = 2**20
# Bumped whenever the built models' layout changes, so a stale cache is rebuilt, not reused.
LAYOUT = "v1"
LAYERS = 4  # Dense layers of width x width: the largest tensor is a quarter of the model
FILL_BYTES = 64 * MiB  # a tensor is generated and written in row blocks of about this size
KERAS2_VERSION = "2.21.0"

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONDONTWRITEBYTECODE="1")
# The timed runs read bytecode from a private folder (main sets PYTHONPYCACHEPREFIX under the
# cache) and keep it: an installed package runs from compiled bytecode, while with
# PYTHONDONTWRITEBYTECODE an editable checkout would recompile every modelport module in every
# timed run (~0.1 s). The builders (TensorFlow) keep ENV: their bytecode is installed already.
RUN_ENV = {k: v for k, v in ENV.items() if k != "PYTHONDONTWRITEBYTECODE"}


# ------------------------------------------------------------------------------- measuring

@dataclasses.dataclass
class Sample:
    wall: float  # seconds, fork to reap
    cpu: float  # user + sys seconds of the process and the children it waited for
    rss: float  # peak resident set, MiB


# The runs are started by a small helper process, not by this one: a child started with
# fork/vfork counts its parent's peak RSS in its own ru_maxrss (Linux carries the old address
# space's high-water mark across exec), so from here every `cp` would show this script's
# ~100 MiB. The helper imports only os and json, so that floor is its ~10 MiB (reported).
LAUNCHER = r"""
import json, os, sys, time
for line in sys.stdin:
    argv, log, env = json.loads(line)
    actions = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
               (os.POSIX_SPAWN_OPEN, 2, log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
    start = time.perf_counter()
    try:
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions)
    except OSError as error:
        print(json.dumps([127, 0.0, 0.0, 0, str(error)]), flush=True)
        continue
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    print(json.dumps([os.waitstatus_to_exitcode(status), wall,
                      usage.ru_utime + usage.ru_stime, usage.ru_maxrss, ""]), flush=True)
"""


class Launcher:
    """Runs commands one at a time in the helper process and reads back wait4's figures."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-S", "-E", "-c", LAUNCHER],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, command: Sequence[str], log: Path, env: dict[str, str]) -> Sample:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps([list(command), str(log), env]) + "\n")
        self.proc.stdin.flush()
        code, wall, cpu, rss, error = json.loads(self.proc.stdout.readline())
        if code != 0:
            raise SystemExit(f"failed ({code}): {' '.join(command)}\n{error}"
                             f"{log.read_text(errors='replace')[-3000:] if log.exists() else ''}")
        return Sample(wall, cpu, rss / 1024)  # ru_maxrss is in KiB on Linux


_LAUNCHER: Launcher | None = None


def run(command: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Sample:
    """Run `command` as a whole process: wall time, its CPU time and peak RSS (os.wait4);
    in RUN_ENV unless `env` is given."""
    global _LAUNCHER
    if _LAUNCHER is None:
        _LAUNCHER = Launcher()
    return _LAUNCHER.run(command, log, RUN_ENV if env is None else env)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@dataclasses.dataclass
class Command:
    name: str
    argv: list[str]
    output: Path | None  # removed before every run, so each run writes a fresh output


@dataclasses.dataclass
class Cell:
    """One scenario at one size: every command's samples, in pair order."""
    scenario: str
    size: str
    input_bytes: int
    samples: dict[str, list[Sample]]
    skipped: dict[str, str]

    def median(self, name: str, field: str) -> float:
        return statistics.median(getattr(s, field) for s in self.samples[name])

    def ratio(self, name: str, base: str, field: str = "wall") -> float:
        """Median of the pair-by-pair ratios: load that changes between pairs cancels out."""
        return statistics.median(getattr(a, field) / max(getattr(b, field), 1e-9)
                                 for a, b in zip(self.samples[name], self.samples[base],
                                                 strict=True))


def measure_cell(scenario: str, size: str, input_bytes: int, commands: list[Command],
                 pairs: int, logs: Path, skipped: dict[str, str]) -> Cell:
    """One untimed warm-up run of every command (the inputs are then in the page cache for
    all of them alike), then `pairs` rounds that run the commands one after another."""
    for command in commands:
        if command.output is not None:
            remove(command.output)
        run(command.argv, logs / f"{command.name}.log")
    for command in commands:
        if command.output is not None:
            remove(command.output)
    os.sync()  # the warm-up's and earlier cells' writes do not flush during the timed runs
    samples: dict[str, list[Sample]] = {c.name: [] for c in commands}
    for _ in range(pairs):
        for command in commands:
            if command.output is not None:
                remove(command.output)
            samples[command.name].append(run(command.argv, logs / f"{command.name}.log"))
    for command in commands:
        if command.output is not None:
            remove(command.output)
    return Cell(scenario, size, input_bytes, samples, skipped)


# ------------------------------------------------------------------------------- the models

def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([MG])B?", text.strip().upper())
    if not match:
        raise argparse.ArgumentTypeError(f"size {text!r}: use e.g. 10M, 500M, 1G, 3G")
    return int(float(match[1]) * (MiB if match[2] == "M" else 1024 * MiB))


def width_for(nbytes: int) -> int:
    """Width of the LAYERS square float32 kernels that together hold about `nbytes`."""
    return max(1, round(math.sqrt(nbytes / (4 * LAYERS))))


def model_config(width: int, layers: int = LAYERS) -> dict:
    """The Sequential as tf_keras 2.21 writes it in model_config (defaults left to the loader)."""
    config_layers: list[dict] = [{"class_name": "InputLayer", "config": {
        "batch_input_shape": [None, width], "dtype": "float32", "sparse": False,
        "ragged": False, "name": "input_1"}}]
    for index in range(layers):
        config_layers.append({"class_name": "Dense", "config": {
            "name": layer_name(index), "trainable": True, "dtype": "float32", "units": width,
            "activation": "linear", "use_bias": True}})
    return {"class_name": "Sequential", "config": {"name": "sequential",
                                                   "layers": config_layers}}


def layer_name(index: int) -> str:
    return "dense" if index == 0 else f"dense_{index}"


def write_h5(path: Path, width: int, layers: int = LAYERS, seed: int = 0) -> None:
    """A tf_keras legacy full-model .h5 (model.save('x.h5') layout: root attrs, model_weights
    with one group per layer, contiguous float32 datasets at `layer/layer/kernel:0`), filled
    block by block so that building 3 GB needs 64 MiB, not the model, in memory."""
    rng = np.random.default_rng(seed)
    tmp = path.with_name(path.name + ".part")
    with h5py.File(tmp, "w") as f:
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = KERAS2_VERSION.encode()
        f.attrs["model_config"] = json.dumps(model_config(width, layers)).encode()
        root = f.create_group("model_weights")
        root.attrs["backend"] = b"tensorflow"
        root.attrs["keras_version"] = KERAS2_VERSION.encode()
        root.attrs["layer_names"] = np.array([layer_name(i).encode() for i in range(layers)])
        rows = max(1, FILL_BYTES // (width * 4))
        for index in range(layers):
            name = layer_name(index)
            group = root.create_group(name)
            names = [f"{name}/kernel:0", f"{name}/bias:0"]
            group.attrs["weight_names"] = np.array([n.encode() for n in names])
            kernel = group.create_dataset(names[0], (width, width), "float32")
            for start in range(0, width, rows):
                block = rng.standard_normal((min(rows, width - start), width), "float32")
                block *= 1 / math.sqrt(width)  # Glorot-like scale, as trained weights have
                kernel[start:start + block.shape[0]] = block
            bias = rng.standard_normal(width, "float32") * 0.01
            group.create_dataset(names[1], data=bias.astype("float32"))
    tmp.replace(path)


CHECKPOINT = r"""
import os, sys, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import h5py, tf_keras
h5, prefix = sys.argv[1], sys.argv[2]
with h5py.File(h5, "r") as f:
    config = json.loads(f.attrs["model_config"])
    width = config["config"]["layers"][0]["config"]["batch_input_shape"][1]
    names = [n.decode() for n in f["model_weights"].attrs["layer_names"]]
    layers = [tf_keras.layers.Dense(width, name=n, kernel_initializer="zeros") for n in names]
    model = tf_keras.Sequential([tf_keras.Input((width,))] + layers)
    for layer in layers:
        group = f["model_weights"][layer.name][layer.name]
        layer.kernel.assign(group["kernel:0"][()])  # one tensor at a time in numpy
        layer.bias.assign(group["bias:0"][()])
model.save_weights(prefix)
"""

CHECK = r"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import h5py, numpy as np
h5, keras_file, prefix = sys.argv[1:4]
with h5py.File(h5, "r") as f:
    group = f["model_weights"]
    expected = [group[n][n][w][()] for n in [x.decode() for x in group.attrs["layer_names"]]
                for w in ("kernel:0", "bias:0")]

def same(label, model):
    got = model.get_weights()
    assert len(got) == len(expected), (label, len(got))
    for a, b in zip(got, expected):
        assert a.shape == b.shape and np.array_equal(a, b), label
    print("ok:", label)

import tf_keras
same("tf_keras load_model(.h5)", tf_keras.models.load_model(h5, compile=False))
fresh = tf_keras.models.load_model(h5, compile=False)
for layer in fresh.layers:
    layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
fresh.load_weights(prefix).expect_partial()
same("tf_keras load_weights(checkpoint)", fresh)
import keras
same("keras 3 load_model(.h5)", keras.saving.load_model(h5, compile=False))
same("keras 3 load_model(.keras)", keras.saving.load_model(keras_file, compile=False))
"""


@dataclasses.dataclass
class Inputs:
    """One model size in every input format the scenarios read."""
    label: str
    folder: Path
    width: int

    @property
    def h5(self) -> Path:
        return self.folder / "model.h5"

    @property
    def tfjs(self) -> Path:
        return self.folder / "tfjs"

    @property
    def keras(self) -> Path:
        return self.folder / "model.keras"

    @property
    def checkpoint(self) -> Path:
        return self.folder / "ckpt"

    @property
    def architecture(self) -> Path:
        return self.folder / "architecture.json"


def modelport(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "modelport", *map(str, args)]


def build(label: str, nbytes: int, cache: Path, logs: Path, say: Callable[[str], None],
          layers: int = LAYERS, width: int | None = None) -> Inputs:
    """Build (or reuse from the cache) one size in all formats; a finished folder has a
    `done` marker, so an interrupted build is redone rather than reused."""
    width = width or width_for(nbytes)
    inputs = Inputs(label, cache / f"{LAYOUT}-{layers}x{width}", width)
    done = inputs.folder / "done"
    if done.exists():
        return inputs
    say(f"building {label} ({layers} Dense layers of {width}x{width}) in {inputs.folder}")
    remove(inputs.folder)
    inputs.folder.mkdir(parents=True)
    start = time.perf_counter()
    write_h5(inputs.h5, width, layers)
    inputs.architecture.write_text(json.dumps(model_config(width, layers)))
    # The TF.js and .keras inputs are what modelport writes (its writers are checked against
    # TF.js and Keras 3 by the test suite); the checkpoint is tf_keras's own save_weights.
    run(modelport("convert", inputs.h5, inputs.tfjs), logs / "build.log")
    run(modelport("convert", inputs.h5, inputs.keras), logs / "build.log")
    inputs.checkpoint.mkdir()
    run([sys.executable, "-c", CHECKPOINT, str(inputs.h5), str(inputs.checkpoint / "ckpt")],
        logs / "build.log", env=ENV)  # tf_keras: its installed bytecode, not the prefix
    done.write_text(f"{LAYOUT}\n")
    say(f"  built in {time.perf_counter() - start:.1f} s")
    return inputs


def check_real_loaders(inputs: Inputs, logs: Path, say: Callable[[str], None]) -> None:
    """Once per cache: tf_keras and Keras 3 load the built files with exactly their weights."""
    marker = inputs.folder / "checked"
    if marker.exists():
        say(f"real-loader check of the built files: passed earlier ({marker})")
        return
    say("checking the built files with the real tf_keras and Keras 3 ...")
    proc = subprocess.run([sys.executable, "-c", CHECK, str(inputs.h5), str(inputs.keras),
                           str(inputs.checkpoint / "ckpt")],
                          capture_output=True, text=True, env=ENV, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"the built models do not load in the real libraries:\n"
                         f"{proc.stdout}{proc.stderr[-3000:]}")
    for line in proc.stdout.split("\n"):
        if line.startswith("ok:"):
            say("  " + line)
    marker.write_text(proc.stdout)


def tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------- scenarios

def dd_command(source: Path, target: Path) -> list[str]:
    """dd bs=4M of the same bytes: one dd per file of a folder, in one shell process."""
    if source.is_file():
        return ["dd", f"if={source}", f"of={target}", "bs=4M", "status=none"]
    script = ('mkdir -p "$2" && for f in "$1"/*; do '
              'dd if="$f" of="$2/${f##*/}" bs=4M status=none || exit 1; done')
    return ["sh", "-c", script, "dd", str(source), str(target)]


def cp_command(source: Path, target: Path) -> list[str]:
    return ["cp", "-r", str(source), str(target)] if source.is_dir() else [
        "cp", str(source), str(target)]


@dataclasses.dataclass
class Scenario:
    name: str
    source: Callable[[Inputs], Path]
    modelport: Callable[[Inputs, Path], list[str]]  # (inputs, output folder) -> argv
    output: str  # output file or folder name
    tfjs: Callable[[Inputs, Path], list[str]] | None = None  # tensorflowjs_converter argv


SCENARIOS = [
    Scenario(".h5 -> TF.js", lambda i: i.h5,
             lambda i, o: modelport("convert", i.h5, o), "tfjs",
             lambda i, o: ["tensorflowjs_converter", "--input_format", "keras", str(i.h5),
                           str(o)]),
    Scenario("TF.js -> .h5", lambda i: i.tfjs,
             lambda i, o: modelport("convert", i.tfjs, o), "model.h5",
             lambda i, o: ["tensorflowjs_converter", "--input_format", "tfjs_layers_model",
                           "--output_format", "keras", str(i.tfjs / "model.json"), str(o)]),
    Scenario(".keras -> TF.js", lambda i: i.keras,
             lambda i, o: modelport("convert", i.keras, o), "tfjs"),
    Scenario("checkpoint -> .h5", lambda i: i.checkpoint,
             lambda i, o: modelport("convert", i.checkpoint, "--architecture", i.architecture,
                                    o), "model.h5"),
    Scenario("uint8 .h5 -> TF.js", lambda i: i.h5,
             lambda i, o: modelport("convert", i.h5, o, "--quantize-uint8"), "tfjs",
             lambda i, o: ["tensorflowjs_converter", "--input_format", "keras",
                           "--quantize_uint8", "*", str(i.h5), str(o)]),
    Scenario("inspect .h5", lambda i: i.h5,
             lambda i, o: modelport("inspect", i.h5), ""),
]


def scenario_cell(scenario: Scenario, inputs: Inputs, out: Path, pairs: int,
                  logs: Path) -> Cell:
    source = scenario.source(inputs)
    target = out / (scenario.output or "copy")
    copy_target = out / ("floor" + (source.suffix if source.is_file() else ""))
    commands = [Command("modelport", scenario.modelport(inputs, target),
                        target if scenario.output else None),
                Command("cp", cp_command(source, copy_target), copy_target),
                Command("dd", dd_command(source, copy_target), copy_target)]
    skipped = {}
    if scenario.tfjs is None:
        skipped["tensorflowjs_converter"] = "no such conversion"
    elif shutil.which("tensorflowjs_converter") is None:
        skipped["tensorflowjs_converter"] = "not on PATH"
    else:
        commands.append(Command("tensorflowjs_converter", scenario.tfjs(inputs, target),
                                target))
    return measure_cell(scenario.name, inputs.label, tree_bytes(source), commands, pairs,
                        logs, skipped)


def startup_cell(tiny: Inputs, out: Path, pairs: int, logs: Path) -> Cell:
    target = out / "tiny-tfjs"
    commands = [
        Command("true", ["true"], None),  # the launcher's RSS floor: no process reads lower
        Command("import numpy", [sys.executable, "-c", "import numpy"], None),
        Command("import numpy, h5py", [sys.executable, "-c", "import numpy, h5py"], None),
        Command("modelport --help", modelport("--help"), None),
        Command("convert tiny .h5 -> TF.js", modelport("convert", tiny.h5, target), target),
        Command("inspect tiny .h5", modelport("inspect", tiny.h5), None),
    ]
    return measure_cell("start-up", tiny.label, tree_bytes(tiny.h5), commands, pairs, logs, {})


def import_times(logs: Path) -> tuple[list[tuple[str, int, float, float]], bool]:
    """The imports of `python -X importtime -m modelport --help`, heaviest cumulative first:
    (module, nesting depth, self s, cumulative s); and whether h5py was imported at all."""
    log = logs / "importtime.log"
    run([sys.executable, "-X", "importtime", "-m", "modelport", "--help"], log)
    rows, h5py_loaded = [], False
    for line in log.read_text().splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not match:
            continue
        h5py_loaded |= match[4] == "h5py"
        depth = (len(match[3]) - 1) // 2  # importtime indents each nesting level by two
        rows.append((match[4], depth, int(match[1]) / 1e6, int(match[2]) / 1e6))
    rows.sort(key=lambda r: -r[3])
    return rows, h5py_loaded


# ------------------------------------------------------------------------------- reporting

def version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_facts(cache: Path) -> list[tuple[str, str]]:
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    kib = int(meminfo["MemTotal"].split()[0])
    free = shutil.disk_usage(cache)
    probe = subprocess.run(modelport("--version"), capture_output=True, text=True, env=ENV)
    where = subprocess.run([sys.executable, "-c", "import modelport; print(modelport.__file__)"],
                           capture_output=True, text=True, env=ENV).stdout.strip()
    # The last commit that changed the measured sources (not the bench's own commits).
    commit = subprocess.run(["git", "-C", str(Path(where).parent), "log", "-1",
                             "--format=%h (%cs)", "--", "."],
                            capture_output=True, text=True).stdout.strip()
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return [
        ("CPUs (nproc)", f"{len(os.sched_getaffinity(0))} ({cpu})"),
        ("RAM", f"{kib / 2**20:.1f} GiB"),
        ("disk free", f"{free.free / 2**30:.0f} GiB of {free.total / 2**30:.0f} GiB "
                      f"({cache})"),
        ("load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("OS", platform.platform()),
        # Outputs beyond these limits are written back (and then throttled) during the run,
        # for cp as for modelport: then the floor is the disk's write speed, not memcpy.
        ("vm.dirty_background_ratio / dirty_ratio", " / ".join(
            Path(f"/proc/sys/vm/{k}").read_text().strip() + "%"
            for k in ("dirty_background_ratio", "dirty_ratio"))),
        ("Python", f"{platform.python_version()} ({sys.executable})"),
        ("modelport", f"{probe.stdout.strip() or probe.stderr.strip()} from {where}"
                      + (f", sources last changed in commit {commit}" if commit else "")),
        ("packages", ", ".join(f"{p} {version(p)}" for p in
                               ("numpy", "h5py", "tensorflow-cpu", "tf_keras", "keras",
                                "tensorflowjs"))),
        ("tensorflowjs_converter", shutil.which("tensorflowjs_converter")
         or "not on PATH: skipped"),
    ]


def scenario_table(cells: list[Cell]) -> list[str]:
    tfjs = any("tensorflowjs_converter" in c.samples for c in cells)
    head = ("| size | modelport wall s | cpu s | peak RSS MiB | cp wall s | dd wall s "
            "| x cp | x dd | cp RSS MiB |" + (" tfjs_converter wall s | x tfjs |" if tfjs else ""))
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for c in cells:
        row = (f"| {c.size} ({c.input_bytes / MiB:,.0f} MiB, {len(c.samples['cp'])} pairs) "
               f"| {c.median('modelport', 'wall'):.2f} | {c.median('modelport', 'cpu'):.2f} "
               f"| {c.median('modelport', 'rss'):.0f} | {c.median('cp', 'wall'):.2f} "
               f"| {c.median('dd', 'wall'):.2f} | {c.ratio('modelport', 'cp'):.2f} "
               f"| {c.ratio('modelport', 'dd'):.2f} | {c.median('cp', 'rss'):.0f} |")
        if tfjs:
            if "tensorflowjs_converter" in c.samples:
                row += (f" {c.median('tensorflowjs_converter', 'wall'):.2f} "
                        f"| {c.ratio('modelport', 'tensorflowjs_converter'):.2f} |")
            else:
                row += " - | - |"
        lines.append(row)
    return lines


def startup_table(cell: Cell) -> list[str]:
    lines = ["| command | wall s | cpu s | peak RSS MiB | x `import numpy` wall |",
             "|---|---|---|---|---|"]
    for name in cell.samples:
        lines.append(f"| `{name}` | {cell.median(name, 'wall'):.3f} "
                     f"| {cell.median(name, 'cpu'):.3f} | {cell.median(name, 'rss'):.0f} "
                     f"| {cell.ratio(name, 'import numpy'):.2f} |")
    return lines


def render(facts: list[tuple[str, str]], cells: list[Cell], startup: Cell | None,
           imports: tuple[list[tuple[str, int, float, float]], bool] | None,
           notes: list[str],
           argv: list[str], took: float) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = ["# Performance", "",
           f"Generated by `bench/perf.py` on {now} (took {took / 60:.1f} min); do not edit: "
           "rerun `make bench` (or `python bench/perf.py " + shlex.join(argv) + "`).", "",
           "## Machine", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in facts]
    out += ["", "## Method", "",
            "- Every command is a whole process (`python -m modelport ...`, `cp`, `dd`); wall "
            "time from fork to reap, CPU time (user + sys) and peak RSS from `os.wait4`.",
            "- Page cache: one untimed warm-up run of every command per cell, then `sync`; so "
            "every timed run reads its input from the page cache (warm), and its output, "
            "removed before each run, goes to the page cache (no tool fsyncs).",
            "- In each cell the commands run alternately in one process (modelport, cp, dd, "
            "one pair after another); values are medians over the pairs, and each ratio is "
            "the median of the pair-by-pair ratios (x cp = modelport wall / cp wall in the "
            "same pair).",
            "- The floor copies the scenario's input bytes: `cp` (`cp -r` for a folder; "
            "GNU cp uses copy_file_range) and `dd bs=4M` (one dd per file of a folder).",
            "- Peak RSS includes the launching helper's own (a child's ru_maxrss starts from "
            "its parent's high-water mark): the start-up table's `true` row is that floor.",
            "- Bytecode: every Python process reads compiled bytecode from a private "
            "PYTHONPYCACHEPREFIX under the cache (modelport's sources compiled before the "
            "runs, the libraries' at the warm-up), as an installed package does; none "
            "recompiles its sources in a timed run.",
            f"- Models: a Sequential of {LAYERS} Dense layers of width x width (float32, "
            "random normal weights, biases), so the largest tensor is a quarter of the model; "
            ".h5 written with h5py in tf_keras's layout, TF.js and .keras converted from it by "
            "modelport, the TF checkpoint by tf_keras `save_weights`; all checked once to "
            "load in tf_keras / Keras 3 with exactly these weights.", ""]
    out += [f"- {note}" for note in notes]
    out.append("")
    by_scenario: dict[str, list[Cell]] = {}
    for cell in cells:
        by_scenario.setdefault(cell.scenario, []).append(cell)
    for name, group in by_scenario.items():
        out += [f"## {name}", ""] + scenario_table(group)
        skipped = {f"{k} ({v})" for c in group for k, v in c.skipped.items()}
        if skipped:
            out += ["", "Skipped: " + ", ".join(sorted(skipped)) + "."]
        out.append("")
    if startup is not None:
        out += ["## Start-up", "", f"{len(startup.samples['import numpy'])} pairs, tiny model "
                f"({startup.input_bytes / 1024:.0f} KiB .h5).", ""] + startup_table(startup)
        out.append("")
    if imports is not None:
        rows, h5py_loaded = imports
        total = max((r[3] for r in rows if r[1] == 0), default=0.0)
        own = sorted(rows, key=lambda r: -r[2])[:8]
        out += ["### `python -X importtime -m modelport --help`", "",
                f"All imports: {total * 1000:.0f} ms; h5py imported: "
                f"{'yes' if h5py_loaded else 'no'}. Largest self times: "
                + ", ".join(f"{m} {t * 1000:.0f} ms" for m, _, t, _ in own) + ".", "",
                "Imports up to three levels below the script, heaviest cumulative first "
                "(depth 0: imported by `-m modelport` itself):", "",
                "| module | depth | cumulative ms | self ms |", "|---|---|---|---|"]
        shallow = [r for r in rows if r[1] <= 3]
        out += [f"| {m} | {depth} | {cum * 1000:.1f} | {t * 1000:.1f} |"
                for m, depth, t, cum in shallow[:15]]
        out.append("")
    return "\n".join(out)


# ------------------------------------------------------------------------------- main

def parse_sizes(text: str, pairs: int) -> list[tuple[str, int, int]]:
    """'10M,100M,3G:1' -> [(label, bytes, pairs)]: ':N' sets one size's pairs."""
    sizes = []
    for item in text.split(","):
        label, _, own = item.strip().partition(":")
        sizes.append((label.upper(), parse_size(label), int(own) if own else pairs))
    return sizes


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10M,100M,500M,1G,3G",
                        help="model sizes, comma-separated; SIZE:N runs N pairs for that size "
                             "(default 10M,100M,500M,1G,3G)")
    parser.add_argument("--pairs", type=int, default=5, help="pairs per cell (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help="development run: 10M and 100M, 3 pairs")
    parser.add_argument("--scenarios", default="",
                        help="comma-separated substrings of scenario names (default: all)")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up section")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get(
        "MODELPORT_BENCH_DIR", Path.home() / ".cache" / "modelport-bench")),
        help="where built models are kept between runs ($MODELPORT_BENCH_DIR, default "
             "~/.cache/modelport-bench)")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "performance.md",
                        help="the generated page (default docs/performance.md)")
    parser.add_argument("--note", action="append", default=[],
                        help="a line for the page's method notes (repeatable)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.pairs = "10M,100M", 3
    sizes = parse_sizes(args.sizes, args.pairs)
    wanted = [s.strip().lower() for s in args.scenarios.split(",") if s.strip()]
    scenarios = [s for s in SCENARIOS if not wanted or any(w in s.name.lower() for w in wanted)]

    began = time.perf_counter()
    cache = args.cache.expanduser().resolve()
    logs, out = cache / "logs", cache / "out"
    for folder in (logs, out):
        folder.mkdir(parents=True, exist_ok=True)
    RUN_ENV["PYTHONPYCACHEPREFIX"] = str(cache / "pycache")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "src" / "modelport")],
                   env=RUN_ENV, check=True, stdout=subprocess.DEVNULL)

    def say(text: str) -> None:
        print(text, flush=True)

    facts = machine_facts(cache)
    for key, value in facts:
        say(f"{key}: {value}")
    need = sum(5 * nbytes for _, nbytes, _ in sizes)  # four formats + one output at a time
    if shutil.disk_usage(cache).free < need:
        say(f"warning: the models may need up to {need / 2**30:.1f} GiB in {cache}")
    if shutil.which("tensorflowjs_converter") is None:
        say("tensorflowjs_converter is not on PATH: its comparisons are skipped")

    tiny = build("tiny", 0, cache, logs, say, layers=1, width=8)
    check_real_loaders(build("10M", parse_size("10M"), cache, logs, say), logs, say)
    built = [(build(label, nbytes, cache, logs, say), pairs) for label, nbytes, pairs in sizes]

    cells: list[Cell] = []
    for scenario in scenarios:
        for inputs, pairs in built:
            cell = scenario_cell(scenario, inputs, out, pairs, logs)
            cells.append(cell)
            say(f"{scenario.name:<20} {inputs.label:>5}: modelport "
                f"{cell.median('modelport', 'wall'):6.2f} s wall "
                f"{cell.median('modelport', 'cpu'):6.2f} s cpu "
                f"{cell.median('modelport', 'rss'):6.0f} MiB | cp "
                f"{cell.median('cp', 'wall'):5.2f} s (x{cell.ratio('modelport', 'cp'):.2f}) "
                f"| dd {cell.median('dd', 'wall'):5.2f} s "
                f"(x{cell.ratio('modelport', 'dd'):.2f})")
    startup = imports = None
    if not args.no_startup:
        startup = startup_cell(tiny, out, max(args.pairs, 5), logs)
        imports = import_times(logs)
    notes = list(args.note)
    notes.append(f"Load average at the end: {os.getloadavg()[0]:.2f} "
                 f"(other agents share the machine's CPUs and disk during the run; the "
                 f"pair-by-pair ratios are steadier than the absolute times).")
    page = render(facts, cells, startup, imports, notes, argv, time.perf_counter() - began)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(page + "\n")
    results = cache / f"results-{datetime.datetime.now():%Y%m%d-%H%M%S}.json"
    results.write_text(json.dumps([dataclasses.asdict(c) for c in cells + ([startup] if startup
                                   else [])], indent=1))
    print()
    print(page)
    say(f"\nwrote {args.output} and {results}")


if __name__ == "__main__":
    main()
