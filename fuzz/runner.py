"""Running one fuzz case: a forked child under resource limits mutates a copy of a seed and runs
each operation through modelport's Python API; the parent classifies what happened."""

from __future__ import annotations

import ctypes
import errno
import faulthandler
import hashlib
import json
import os
import random
import re
import resource
import select
import shutil
import signal
import stat
import sys
import sysconfig
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzz import mutators

# The worst class of an operation wins when several apply.
SEVERITY = ["code_executed", "outside_write", "modified", "crash", "memory", "hang", "escaped",
            "outside_read", "slip_propagated", "leftover", "unnamed", "refused", "ok", "skipped"]
BAD = {"code_executed", "outside_write", "modified", "crash", "memory", "hang", "escaped",
       "outside_read", "slip_propagated", "leftover", "unnamed"}
OPERATIONS = ("inspect", "to_h5", "to_tfjs", "to_keras", "assemble")
BLOCKED_IMPORTS = ("tensorflow", "keras", "tf_keras", "jax", "torch")


@dataclass
class Limits:
    """Per-child limits: address space, file size, CPU seconds, and the per-operation wall
    clock after which the child is killed and the operation counted as a hang."""

    address_space: int = 3 << 30
    file_size: int = 256 << 20
    op_seconds: float = 10.0


@dataclass
class Case:
    """One case: seed `seed` mutated by `steps` (step i draws from Random(f'{tag}:{i}'))."""

    number: int
    seed: dict
    tag: str
    steps: list[int]
    pass_format: bool  # the format is named (not detected); assembly then skips mismatches
    ops: tuple[str, ...]
    custom_ops: dict[str, Callable] | None = None  # the self-test's hand-made operations
    keep: Path | None = None  # copy the case folder here when it is done (reproducers)


@dataclass
class OpResult:
    op: str
    cls: str
    signature: str = ""
    exc_type: str = ""
    message: str = ""
    frame: str = ""
    seconds: float = 0.0
    details: list[str] = field(default_factory=list)


@dataclass
class CaseResult:
    case: Case
    mutations: list[str]
    ops: list[OpResult]

    @property
    def worst(self) -> str:
        return min((o.cls for o in self.ops), key=SEVERITY.index, default="skipped")


def plan_case(number: int, seeds: list[dict], run_seed: int, steps: list[int] | None = None
              ) -> Case:
    """Case `number` of campaign `run_seed`: a pure function of both (and the seed list)."""
    rng = random.Random(f"modelport-fuzz:{run_seed}:{number}")
    seed = seeds[rng.randrange(len(seeds))]
    count = rng.choices([1, 2, 3], [0.8, 0.15, 0.05])[0]
    ops = ["inspect", "to_h5", "to_tfjs", "to_keras"]
    if seed.get("architecture") or seed.get("weights"):
        ops.append("assemble")
    return Case(number, seed, f"{run_seed}:{number}",
                list(range(count)) if steps is None else steps, rng.random() < 0.5, tuple(ops))


# ---------------------------------------------------------------------------------------------
# the child


STDLIB = sysconfig.get_paths()["stdlib"] + os.sep


def _innermost(tb_frames: list[tuple[str, int, str]]) -> str:
    """file:line:function of the innermost modelport frame (else the innermost frame)."""
    for filename, line, func in reversed(tb_frames):
        rel = _modelport_rel(filename)
        if rel:
            return f"{rel}:{line}:{func}"
    # No modelport frame: the innermost frame outside the standard library (the caller that
    # made the library call), else the innermost.
    outside_stdlib = [f for f in tb_frames if not f[0].startswith(STDLIB)] or tb_frames
    if outside_stdlib:
        filename, line, func = outside_stdlib[-1]
        return f"{Path(filename).name}:{line}:{func}"
    return "-"


def _modelport_rel(filename: str) -> str | None:
    parts = Path(filename).parts
    if "modelport" in parts:
        i = len(parts) - 1 - parts[::-1].index("modelport")
        return "/".join(parts[i + 1:])
    return None


class _Watch:
    """inotify on the canary folders: sees reads by C libraries (HDF5 external links) that
    Python's audit hooks never hear of."""

    IN_ACCESS, IN_OPEN = 0x1, 0x20

    def __init__(self, folders: list[Path]):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK)
        self.names: dict[int, Path] = {}
        for folder in folders:
            wd = self.libc.inotify_add_watch(self.fd, str(folder).encode(),
                                             self.IN_ACCESS | self.IN_OPEN)
            if wd >= 0:
                self.names[wd] = folder

    def drain(self, ignore: set[str]) -> list[str]:
        seen = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return seen
            pos = 0
            while pos + 16 <= len(data):
                wd, _mask, _cookie, length = __import__("struct").unpack_from("iIII", data, pos)
                name = data[pos + 16:pos + 16 + length].rstrip(b"\0").decode(errors="replace")
                pos += 16 + length
                if name and name not in ignore:
                    seen.append(str(self.names.get(wd, Path("?")) / name))


class _Audit:
    """An audit hook that logs file events whose paths resolve outside the allowed folders."""

    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    PATH_EVENTS = {"os.listdir", "os.scandir", "os.remove", "os.rmdir", "os.mkdir", "os.rename",
                   "os.symlink", "os.link", "os.chmod", "os.chown", "os.truncate", "os.utime",
                   "shutil.copyfile", "shutil.rmtree", "shutil.move", "shutil.copytree"}
    WRITING = {"os.remove", "os.rmdir", "os.mkdir", "os.rename", "os.symlink", "os.link",
               "os.chmod", "os.chown", "os.truncate", "os.utime", "shutil.rmtree", "shutil.move"}

    def __init__(self, case_dir: Path, readable: list[Path], writable: list[Path]):
        self.case_dir = str(case_dir)
        self.input = str(readable[0])  # writes there are found by hashing: "modified"
        self.readable = [str(p) for p in readable + writable]
        self.writable = [str(p) for p in writable]
        self.system = sorted({sys.prefix, sys.base_prefix, sys.exec_prefix, "/usr", "/lib",
                              "/lib64", "/etc", "/proc", "/sys", "/dev/null", "/dev/urandom",
                              str(Path(mutators.__file__).resolve().parent.parent)})
        self.active = False
        self.reads: list[str] = []
        self.writes: list[str] = []
        self.spawned: list[str] = []

    def _inside(self, path: str, roots: list[str]) -> bool:
        return any(path == r or path.startswith(r + os.sep) for r in roots)

    def _check(self, raw: Any, writing: bool) -> None:
        if isinstance(raw, int) or raw is None:
            return
        try:
            path = os.fsdecode(raw)
            real = os.path.realpath(path)
        except (TypeError, ValueError, OSError):
            return
        if self._inside(real, self.writable if writing else self.readable):
            return
        if writing and self._inside(real, [self.input]):
            return
        if not self._inside(real, [self.case_dir]) and self._inside(real, self.system):
            if not writing:
                return
        where = _innermost([(f.f_code.co_filename, f.f_lineno, f.f_code.co_name)
                            for f in _stack()])
        (self.writes if writing else self.reads).append(f"{real} at {where}")

    def __call__(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        if event == "open":
            path, mode, flags = (list(args) + [None, None, None])[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and bool(flags & self.WRITE_FLAGS))
            self._check(path, writing)
        elif event in self.PATH_EVENTS and args:
            self._check(args[0], event in self.WRITING)
            if event in ("os.rename", "shutil.copyfile", "shutil.move", "os.symlink",
                         "os.link", "shutil.copytree") and len(args) > 1:
                self._check(args[1], True)
        elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn"):
            self.spawned.append(str(args[:2])[:200])


def _stack() -> list:
    """The caller's frames, outermost first, without the harness's own."""
    frames, f = [], sys._getframe(1)
    while f is not None:
        if f.f_code.co_filename != __file__:
            frames.append(f)
        f = f.f_back
    return frames[::-1]


class _Blocker:
    """Frameworks are never imported in a child: the conversion core runs without them, and a
    TensorFlow import would cost seconds per case."""

    def find_spec(self, name, path=None, target=None):  # noqa: ARG002 - importlib protocol
        if name.split(".")[0] in BLOCKED_IMPORTS:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the fuzzer)")
        return None


def tree_hash(folder: Path) -> str:
    """A hash of names, kinds and contents under `folder`, without opening special files."""
    digest = hashlib.sha256()
    if not folder.exists():
        return "absent"
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(root, d))]):
            p = os.path.join(root, name)
            st = os.lstat(p)
            kind = str(stat.S_IFMT(st.st_mode)).encode()
            digest.update(p.encode(errors="replace") + b"\0" + kind)
            if stat.S_ISLNK(st.st_mode):
                digest.update(os.readlink(p).encode(errors="replace"))
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as fh:
                    for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                        digest.update(chunk)
    return digest.hexdigest()


def _slip_names(archive: Path) -> list[str]:
    """Member names of a written .keras that would land outside the folder it is extracted
    to (a `..` part, an absolute path or a drive/backslash form)."""
    import zipfile

    try:
        with zipfile.ZipFile(archive) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile):
        return []
    return [n for n in names if n.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", n)
            or re.match(r"^[A-Za-z]:", n)]


def _listing(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def prepare(case: Case, case_dir: Path) -> tuple[Path, list[str]]:
    """Copy the seed into case_dir/in, write the canary, apply the case's mutation steps."""
    in_dir = case_dir / "in"
    shutil.copytree(case.seed["root"], in_dir, symlinks=True)
    for sub in ("out", "tmp", "work", "outside"):
        (case_dir / sub).mkdir()
    (case_dir / "canary.bin").write_bytes(bytes(range(256)) * 64)
    ctx = mutators.Context(case_dir, in_dir)
    entry = in_dir / case.seed["entry"]
    done = []
    for step in case.steps:
        rng = random.Random(f"modelport-fuzz-step:{case.tag}:{step}")
        try:
            done.append(mutators.mutate(rng, ctx, entry))
        except Exception as exc:  # a mutator that cannot apply leaves the input as it was
            done.append(f"mutator failed: {type(exc).__name__}: {exc}"[:200])
    return in_dir, done


def operation(op: str, case: Case, in_dir: Path, out: Path) -> Callable[[], Any]:
    import modelport

    seed = case.seed
    entry = in_dir / seed["entry"]
    fmt = seed["format"] if case.pass_format else None
    if case.custom_ops and op in case.custom_ops:
        return lambda: case.custom_ops[op](in_dir, out)
    if op == "inspect":
        return lambda: modelport.inspect(entry, fmt)
    if op == "to_h5":
        return lambda: modelport.convert(entry, out / "m.h5", from_format=fmt)
    if op == "to_tfjs":
        return lambda: modelport.convert(entry, out / "web", from_format=fmt,
                                         to_format="tfjs_layers_model")
    if op == "to_keras":
        return lambda: modelport.convert(entry, out / "m.keras", from_format=fmt)

    def assemble():
        if seed.get("architecture"):
            weights, arch = entry, in_dir / seed["architecture"]
        else:
            weights, arch = in_dir / seed["weights"], entry
        model, _report = modelport.assemble(weights, arch, skip_mismatch=case.pass_format)
        with model:
            modelport.write(model, out / "m.h5")

    return assemble


def _child(case: Case, case_dir: Path, limits: Limits, wfd: int) -> None:
    def send(obj: Any) -> None:
        os.write(wfd, (json.dumps(obj) + "\n").encode())

    resource.setrlimit(resource.RLIMIT_AS, (limits.address_space, limits.address_space))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size, limits.file_size))
    cpu = int(limits.op_seconds * len(case.ops)) + 5
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write raises EFBIG instead
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.meta_path.insert(0, _Blocker())
    crash_log = open(case_dir / "faults.txt", "w")  # noqa: SIM115 - lives until _exit
    # The readers' warnings stay with the case, not in the campaign's output.
    stderr = os.open(case_dir / "stderr.txt", os.O_WRONLY | os.O_CREAT, 0o600)
    os.dup2(stderr, 2)
    os.dup2(stderr, 1)
    faulthandler.enable(crash_log)
    # The parent sends SIGUSR1 just before killing a hung child: the traceback says where.
    faulthandler.register(signal.SIGUSR1, file=crash_log, all_threads=True)
    os.environ["TMPDIR"] = str(case_dir / "tmp")
    os.environ["MODELPORT_FUZZ_MARKER"] = str(case_dir / "marker")
    tempfile.tempdir = str(case_dir / "tmp")
    in_dir, done = prepare(case, case_dir)
    os.chdir(case_dir / "work")
    in_hash = tree_hash(in_dir)
    send({"mutations": done, "hash": in_hash})
    from modelport.errors import ModelportError

    out_root = case_dir / "out"
    readable = [in_dir, out_root, case_dir / "tmp", case_dir / "work"]
    writable = [out_root, case_dir / "tmp", case_dir / "work"]
    audit = _Audit(case_dir, readable, writable)
    sys.addaudithook(audit)
    outside = case_dir / "outside"
    watch = _Watch([case_dir] + [Path(r) for r, _d, _f in os.walk(outside)])
    for i, op in enumerate(case.ops):
        out = out_root / op
        out.mkdir()
        send({"start": i})
        watch.drain(set())
        audit.reads.clear()
        audit.writes.clear()
        started = time.monotonic()
        result = OpResult(op, "ok")
        audit.active = True
        try:
            operation(op, case, in_dir, out)()
        except ModelportError as exc:
            audit.active = False
            # The message must say which file is at fault (the CLI prints nothing more).
            result = OpResult(op, "refused" if exc.path else "unnamed",
                              exc_type=type(exc).__name__, message=str(exc)[:300],
                              frame=_innermost(_tb_frames(exc)))
        except MemoryError as exc:
            audit.active = False
            result = OpResult(op, "memory", exc_type="MemoryError", message=str(exc)[:300],
                              frame=_innermost(_tb_frames(exc)))
        except Exception as exc:
            audit.active = False
            cls = "memory" if isinstance(exc, OSError) and exc.errno == errno.EFBIG else "escaped"
            result = OpResult(op, cls, exc_type=type(exc).__name__, message=str(exc)[:300],
                              frame=_innermost(_tb_frames(exc)))
        audit.active = False
        result.seconds = round(time.monotonic() - started, 3)
        canary_reads = watch.drain({"in", "out", "tmp", "work", "outside", "faults.txt",
                                    "stderr.txt"})
        reads = audit.reads + [f"{p} (inotify)" for p in canary_reads]
        flags = []
        if (case_dir / "marker").exists():
            flags.append(("code_executed", ["marker file created"]))
        if audit.writes:
            flags.append(("outside_write", audit.writes[:5]))
        now = tree_hash(in_dir)
        if now != in_hash:
            flags.append(("modified", ["input changed"]))
            in_hash = now
        if result.cls == "ok" and reads:
            flags.append(("outside_read", reads[:5]))
        if result.cls == "ok" and op == "to_keras":
            slips = _slip_names(out / "m.keras")
            if slips:
                flags.append(("slip_propagated", slips[:5]))
        if result.cls == "refused" and _listing(out):
            flags.append(("leftover", _listing(out)[:5]))
        for cls, details in flags:
            if SEVERITY.index(cls) < SEVERITY.index(result.cls):
                result.cls = cls
            result.details += details
        if audit.spawned:
            result.details += ["spawned: " + s for s in audit.spawned[:3]]
            audit.spawned.clear()
        send({"result": result.__dict__, "hash": in_hash})
    crash_log.flush()
    os._exit(0)


def _tb_frames(exc: BaseException) -> list[tuple[str, int, str]]:
    return [(f.filename, f.lineno or 0, f.name) for f in traceback.extract_tb(exc.__traceback__)]


# ---------------------------------------------------------------------------------------------
# the parent


FAULT_FRAME = re.compile(r'File "([^"]+)", line (\d+) in (\S+)')


def _fault_frame(case_dir: Path) -> str:
    """The innermost modelport frame of the last traceback faulthandler wrote (most recent
    call first in its format)."""
    try:
        text = (case_dir / "faults.txt").read_text(errors="replace")
    except OSError:
        return "-"
    blocks = [b for b in re.split(r"\n(?=Thread |Current thread |Fatal Python)", text) if b]
    for block in reversed(blocks):
        frames = [(m.group(1), int(m.group(2)), m.group(3)) for m in FAULT_FRAME.finditer(block)]
        if frames:
            return _innermost(frames[::-1])
    return "-"


def signature(result: OpResult, case: Case, mutations: list[str]) -> str:
    """What makes two failures the same bug."""
    if result.cls in ("escaped", "memory", "hang", "crash"):
        return f"{result.cls} {result.exc_type or '-'} {result.frame}"
    if result.cls in ("outside_read", "outside_write"):
        where = result.details[0].split(" at ", 1)[1] if " at " in result.details[0] else "-"
        family = _family(mutations)
        return f"{result.cls} {case.seed['format']} {family} {where}"
    if result.cls == "slip_propagated":
        return f"slip_propagated {case.seed['format']} {result.op} {_family(mutations)}"
    if result.cls in ("leftover", "unnamed"):
        return f"{result.cls} {result.op} {result.exc_type} {result.frame}"
    if result.cls in ("modified", "code_executed"):
        return f"{result.cls} {case.seed['format']} {result.op}"
    return result.cls


ESCAPES = ("fs-symlink", "json-path", "h5-external-link", "text-state-path", "zip-slip",
           "zip-absolute", "zip-inner")


def _family(mutations: list[str]) -> str:
    """The mutation that points out of the folder when there is one, else all of them."""
    names = [m.split(": ", 1)[-1].split(" ", 1)[0] for m in mutations]
    escapes = [n for n in names if n.startswith(ESCAPES)]
    return (escapes or names or ["-"])[0] if escapes else "+".join(names) or "-"


class Running:
    """A forked child and what it has reported so far."""

    def __init__(self, case: Case, case_dir: Path, limits: Limits):
        self.case, self.case_dir, self.limits = case, case_dir, limits
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            os.setpgid(0, 0)
            try:
                _child(case, case_dir, limits, wfd)
            except BaseException:
                traceback.print_exc()
            os._exit(3)
        os.close(wfd)
        self.pid, self.fd = pid, rfd
        self.buffer = b""
        self.mutations: list[str] = []
        self.results: list[OpResult] = []
        self.current: int | None = None
        self.deadline = time.monotonic() + 60  # copying and mutating the seed
        self.killed = False
        self.warned = False
        self.in_hash = ""

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            msg = json.loads(line)
            if "mutations" in msg:
                self.mutations = msg["mutations"]
                self.in_hash = msg["hash"]
            elif "start" in msg:
                self.current = msg["start"]
                self.deadline = time.monotonic() + self.limits.op_seconds
            elif "result" in msg:
                self.results.append(OpResult(**msg["result"]))
                self.in_hash = msg["hash"]
                self.current = None
                self.deadline = time.monotonic() + 60

    def expire(self) -> None:
        """Past the deadline: first ask for a traceback (SIGUSR1), then kill."""
        try:
            if not self.warned and self.current is not None:
                self.warned = True
                os.kill(self.pid, signal.SIGUSR1)
                self.deadline = time.monotonic() + 0.5
                return
            self.killed = True
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def finish(self) -> CaseResult:
        _pid, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        results = list(self.results)
        if self.current is not None:
            op = self.case.ops[self.current]
            if self.killed:
                res = OpResult(op, "hang", exc_type="Timeout", frame=_fault_frame(self.case_dir),
                               seconds=self.limits.op_seconds)
            elif os.WIFSIGNALED(status):
                sig = signal.Signals(os.WTERMSIG(status)).name
                cls = "hang" if sig == "SIGXCPU" else "crash"
                res = OpResult(op, cls, exc_type=sig, frame=_fault_frame(self.case_dir))
            else:
                res = OpResult(op, "crash", exc_type=f"exit{os.WEXITSTATUS(status)}",
                               frame=_fault_frame(self.case_dir))
            # The child cannot compare the input after an operation it did not survive.
            if self.in_hash and tree_hash(self.case_dir / "in") != self.in_hash:
                res.cls = "modified"
                res.details.append("input changed")
            results.append(res)
        elif not self.mutations and len(results) == 0:
            try:
                said = (self.case_dir / "stderr.txt").read_text(errors="replace")[-300:]
            except OSError:
                said = ""
            results.append(OpResult("prepare", "skipped",
                                    message="harness: child died early: " + said))
        for res in results:
            res.signature = signature(res, self.case, self.mutations)
        if (self.case_dir / "marker").exists() and results:
            results[-1].cls = "code_executed"
            results[-1].signature = signature(results[-1], self.case, self.mutations)
        return CaseResult(self.case, self.mutations, results)


def run_cases(cases, work_root: Path, limits: Limits, jobs: int,
              on_result: Callable[[CaseResult], None]) -> None:
    """Run `cases` (an iterator) `jobs` at a time, calling on_result for each."""
    running: dict[int, Running] = {}
    try:
        _schedule(iter(cases), running, work_root, limits, jobs, on_result)
    finally:
        # Interrupted (Ctrl-C) or failed: no child may outlive the campaign (one blocked on a
        # FIFO never would end by itself).
        for child in running.values():
            try:
                os.killpg(child.pid, signal.SIGKILL)
                os.waitpid(child.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            os.close(child.fd)


def _schedule(cases, running: dict, work_root: Path, limits: Limits, jobs: int,
              on_result: Callable[[CaseResult], None]) -> None:
    exhausted = False
    while running or not exhausted:
        while not exhausted and len(running) < jobs:
            try:
                case = next(cases)
            except StopIteration:
                exhausted = True
                break
            case_dir = Path(tempfile.mkdtemp(prefix=f"case{case.number}-", dir=work_root))
            child = Running(case, case_dir, limits)
            running[child.fd] = child
        if not running:
            break
        now = time.monotonic()
        timeout = max(0.0, min(c.deadline for c in running.values()) - now)
        ready, _, _ = select.select(list(running), [], [], timeout)
        for fd in ready:
            child = running[fd]
            data = os.read(fd, 65536)
            if data:
                child.feed(data)
                continue
            del running[fd]
            _complete(child, on_result)
        now = time.monotonic()
        for child in list(running.values()):
            if now > child.deadline and not child.killed:
                child.expire()


def _complete(child: Running, on_result) -> None:
    result = child.finish()
    keep = child.case.keep
    if keep is not None:
        if keep.exists():
            shutil.rmtree(keep)
        shutil.copytree(child.case_dir, keep, symlinks=True,
                        ignore=lambda d, names: [n for n in names if _special(Path(d) / n)])
    remove_tree(child.case_dir)
    on_result(result)


def _special(path: Path) -> bool:
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return True
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode))


def remove_tree(path: Path) -> None:
    """Remove a case folder whatever the child left (FIFOs, read-only files, symlinks)."""
    def onerror(_func, p, _exc):
        try:
            os.chmod(p, 0o700)
            os.unlink(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=onerror)
