"""Safe output: files are written under a temporary sibling name and moved into place only when
complete, existing outputs are refused without overwrite, and nothing half-written remains."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from modelport.errors import FormatError, OutputExistsError


def inside(folder: Path, name: object, source: Path) -> Path:
    """The file `name` (as a model file spells it) in `folder`, refused when it would lead
    outside (an absolute path, '..', or a link that resolves elsewhere) or is not a regular
    file where one exists. `source` is the file that names it, for the message."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise FormatError(f"file name {name!r} is not a file name", source)
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise FormatError(f"names '{name}', which is outside the model's folder {folder}; "
                          "files a model names must be inside it", source)
    candidate = contained(folder / name, folder, source)
    if lexists(candidate) and not regular_file(candidate):
        raise FormatError(f"names '{name}', which is {_kind(candidate)}, not a file", source)
    return candidate


def contained(path: Path, folder: Path, source: Path) -> Path:
    """`path`, refused when it resolves (through links) outside `folder`."""
    try:
        resolved = path.resolve()
        within = resolved.is_relative_to(folder.resolve())
    except (OSError, RuntimeError, ValueError):  # a link loop, a name too long
        within = False
    if not within:
        raise FormatError(f"names '{path}', which leads outside the model's folder {folder}; "
                          "files a model names must be inside it", source)
    return path


def regular_file(path: Path) -> bool:
    """A regular file (after links): not a folder, FIFO, socket or device, which would block a
    reader or never end."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except (OSError, ValueError):
        return False


def checked_input(path: Path) -> None:
    """Refuse an input that is a FIFO, socket or device (reading it would block or never end),
    a link into nowhere, or a link leading outside its own folder (the files a model names are
    looked for beside it)."""
    if not lexists(path):
        return  # the reader says 'not found' in its own words
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise FormatError("is a link to nothing (it does not exist, or links to itself)",
                              path) from None
        if not target.is_relative_to(path.parent.resolve()):
            raise FormatError(f"is a link leading outside its folder, to {target}: the files "
                              "beside a model belong to it, so pass the model itself "
                              f"({target})", path)
    if not (path.is_dir() or regular_file(path)):
        raise FormatError(f"is {_kind(path)}, not a model file or folder", path)


def lexists(path: Path) -> bool:
    """Whether anything is at `path`, a dangling link included."""
    try:
        os.lstat(path)
    except (OSError, ValueError):
        return False
    return True


def _kind(path: Path) -> str:
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return "unreadable"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _temporary_name(path: Path, suffix: str = ".part") -> Path:
    """A fresh hidden name beside `path` for what is written before it is moved into place."""
    # os.urandom, not secrets.token_hex: the same 12 hex digits without importing hashlib and
    # OpenSSL at start-up.
    return path.parent / f".{path.name}.{os.urandom(6).hex()}{suffix}"


def check_writable(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise OutputExistsError("already exists; pass --overwrite to replace it", path)


def _usual_permissions(path: Path) -> None:
    """mkstemp makes files only their owner can read; an output gets what open() would have
    given it (0666 less the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it goes."""
    path = Path(path)
    check_writable(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_name(path)
    try:  # created inside: an interrupt right after creating it still removes it
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        yield tmp
        _usual_permissions(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_files(directory: Path, names: list[str], overwrite: bool = False,
                 whole: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `directory`; on success the files `names` written in it
    are moved into `directory` (created if needed), on error nothing is left behind. `whole`:
    the folder is the output itself, so overwriting replaces it as a whole (written beside,
    swapped, the old one removed): no file of a previous model survives, and two writers of
    one output never mix their files."""
    if whole and overwrite and directory.is_dir():
        with atomic_folder(directory, overwrite=True) as tmp:
            yield tmp
        return
    if directory.exists() and not directory.is_dir():
        raise OutputExistsError("already exists as a file, and this output is a folder of "
                                "files: name a folder (or remove the file)", directory)
    for name in names:
        check_writable(directory / name, overwrite)
    parent = directory.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_name(directory)
    created = not directory.exists()
    try:
        tmp.mkdir()
        yield tmp
        directory.mkdir(exist_ok=True)
        for name in names:
            os.replace(tmp / name, directory / name)
    except BaseException:
        if created and directory.exists() and not any(directory.iterdir()):
            directory.rmdir()
        raise
    finally:
        _remove_tree(tmp)


def _remove_tree(path: Path) -> None:
    """Remove a temporary folder and whatever is left in it. Once its files have been moved
    into place it is empty: os.rmdir does, and shutil (which imports bz2 and lzma) is
    imported only when something is left."""
    try:
        os.rmdir(path)
        return
    except FileNotFoundError:
        return
    except OSError:
        pass
    import shutil

    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; on success it becomes `path` (an
    existing output, refused without `overwrite` unless it is an empty folder, is moved aside
    first and removed only once the new folder is in place); on error nothing is left behind."""
    path = Path(path)
    if not (path.is_dir() and not any(path.iterdir())):
        check_writable(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkdtemp: its mode 0700 would become the output's; mkdir applies the umask instead.
    tmp = _temporary_name(path)
    try:
        tmp.mkdir()
        yield tmp
        if path.exists() or path.is_symlink():
            aside = _temporary_name(path, ".old")
            try:
                aside.mkdir()
                os.replace(path, aside / path.name)
                os.replace(tmp, path)
            except BaseException:
                if lexists(aside / path.name) and not lexists(path):
                    os.replace(aside / path.name, path)
                raise
            finally:
                _remove_tree(aside)
        else:
            os.replace(tmp, path)
    finally:
        _remove_tree(tmp)


# ------------------------------------------------------------------ byte ranges file to file

class SourceFiles:
    """The files byte ranges are copied from, each opened (read-only) once, until `close`."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}

    def fd(self, path: str) -> int:
        if path not in self._open:
            self._open[path] = os.open(path, os.O_RDONLY)
        return self._open[path]

    def close(self) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()

    def __enter__(self) -> SourceFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_range(sources: SourceFiles, pieces: tuple[tuple[str, int, int], ...], offset: int,
               into: memoryview) -> None:
    """Fill `into` with the bytes from `offset` of the run that `pieces` ((path, offset,
    length) each, in order) make up."""
    start = 0
    for path, at, length in pieces:
        lo, hi = max(offset, start), min(offset + len(into), start + length)
        if lo < hi:
            reader = io.FileIO(sources.fd(path), closefd=False)
            view = into[lo - offset:hi - offset]
            done = 0
            while done < len(view):
                reader.seek(at + lo - start + done)
                got = reader.readinto(view[done:]) or 0
                if got == 0:
                    raise OSError(f"{path} ended {len(view) - done} bytes before the "
                                  "weight's end")
                done += got
        start += length


COPY_METHODS = ("copy_file_range", "sendfile", "buffer")
_BUFFER_SIZE = 1 << 20
_UNSUPPORTED = {"copy_file_range": not hasattr(os, "copy_file_range"),
                "sendfile": not hasattr(os, "sendfile")}


def copy_range(src: int, dst: int, offset: int, length: int,
               methods: tuple[str, ...] = COPY_METHODS,
               update: Callable[[bytes], None] | None = None) -> None:
    """Copy `length` bytes at `offset` of file descriptor `src` to `dst` at its current
    position (which advances): in the kernel with copy_file_range (page cache to page cache,
    or a reflink, as cp does), else sendfile, else through one 1 MiB buffer reused for the
    whole range, so a tensor never passes through an array. A method the system refuses is
    not tried again. `update` (a checksum's) sees every byte, in order: the copy then goes
    through the buffer."""
    if update is not None:
        methods = ("buffer",)
    done = 0
    for method in methods:
        if done == length:
            return
        if _UNSUPPORTED.get(method):
            continue
        try:
            done += _copy_with(method, src, dst, offset + done, length - done, update)
        except _Refused as refused:
            if refused.permanent:
                _UNSUPPORTED[method] = True
    if done != length:
        raise OSError(f"the source file ended {length - done} bytes before the weight's end")


class _Refused(Exception):
    """A method copied nothing: the system refuses it (`permanent`), or it copies nothing
    here (some file systems; or the source ends, which the next method finds out)."""

    def __init__(self, permanent: bool):
        super().__init__(permanent)
        self.permanent = permanent


def _copy_with(method: str, src: int, dst: int, offset: int, length: int,
               update: Callable[[bytes], None] | None = None) -> int:
    """Bytes copied with `method` (fewer than `length` only when the source ended)."""
    done = 0
    if method == "buffer" and update is not None:  # bytes objects, which the check takes
        reader = io.FileIO(src, closefd=False)
        while done < length:
            reader.seek(offset + done)
            data = reader.read(min(_BUFFER_SIZE, length - done))
            if not data:
                break
            update(data)
            view, written = memoryview(data), 0
            while written < len(data):
                written += os.write(dst, view[written:])
            done += len(data)
        return done
    if method == "buffer":
        buffer = bytearray(min(_BUFFER_SIZE, length))  # per call: threads may convert at once
        reader = io.FileIO(src, closefd=False)
        while done < length:
            view = memoryview(buffer)[: min(len(buffer), length - done)]
            reader.seek(offset + done)  # os.preadv is not on every system
            got = reader.readinto(view) or 0
            if got == 0:
                break
            written = 0
            while written < got:
                written += os.write(dst, view[written:got])
            done += got
        return done
    while done < length:
        try:
            if method == "copy_file_range":
                n = os.copy_file_range(src, dst, length - done, offset + done)
            else:
                n = os.sendfile(dst, src, offset + done, length - done)
        except OSError as exc:
            if done == 0 and exc.errno in _REFUSALS:
                raise _Refused(permanent=True) from None
            raise
        if n == 0:  # the source ended, or (some file systems) the method copies nothing
            if done == 0:
                raise _Refused(permanent=False) from None
            break
        done += n
    return done


_REFUSALS = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF,
             errno.ENOTSUP, errno.EPERM, errno.ENOTSOCK}  # ENOTSOCK: macOS's sendfile
