"""The record each format module ends with (`FORMATS = (Format(...), ...)`), the probe detection
reads an input through, and the result a writer returns."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, overload

from modelport.fileio import contained, regular_file

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
# A folder output, or an output name without a suffix: the extension token formats written as
# folders register.
FOLDER = "/"
_HEAD_BYTES = 512
# Detection parses JSON heads only up to this size: a model.json of a big layers model is a few
# MB; anything past this is read by the reader, which says what is wrong with it.
_JSON_PROBE_LIMIT = 64 * 1024 * 1024

# Where a format's callable is implemented outside the format package (TensorFlow-backed work):
# "module:function", imported only when used, so the format package never imports upward.
Entry = Callable[..., Any] | str


class Probe:
    """What detection looks at, each read at most once per input: whether the path exists and
    is a folder, the file's first bytes, its parsed JSON (a folder's model.json), its HDF5 root
    keys and its zip member names. Detectors are pure functions of a probe."""

    def __init__(self, path: Path):
        self.path = path

    @cached_property
    def exists(self) -> bool:
        return self.path.exists()

    @cached_property
    def is_dir(self) -> bool:
        return self.path.is_dir()

    @cached_property
    def is_file(self) -> bool:
        return self.path.is_file()

    @cached_property
    def name(self) -> str:
        return self.path.name.lower()

    @cached_property
    def head(self) -> bytes:
        if not self.is_file:
            return b""
        try:
            with open(self.path, "rb") as handle:
                return handle.read(_HEAD_BYTES)
        except OSError:
            return b""

    @cached_property
    def json_path(self) -> Path | None:
        """The JSON file that would describe the input: model.json of a folder, or the file."""
        if self.is_dir:
            candidate = contained(self.path / "model.json", self.path, self.path)
            return candidate if candidate.is_file() else None
        return self.path if self.is_file and self.path.suffix.lower() == ".json" else None

    @cached_property
    def json(self) -> Any:
        """The parsed JSON document at json_path; None when there is none or it does not parse
        (the reader then says what is wrong)."""
        return None if self.json_path is None else _parse_json(self.json_path)

    @cached_property
    def hdf5_keys(self) -> frozenset[str] | None:
        """Names of the HDF5 file's root members and root attributes; None if not HDF5."""
        if not self.head.startswith(HDF5_SIGNATURE):
            return None
        import h5py  # only for HDF5 inputs

        try:
            with h5py.File(self.path, "r") as f:
                return frozenset(f.keys()) | frozenset(f.attrs.keys())
        except (OSError, ValueError, RuntimeError, KeyError, TypeError):
            return None

    @cached_property
    def zip_members(self) -> list[str] | None:
        if not self.head.startswith(ZIP_SIGNATURE):
            return None
        import zipfile  # only for zip inputs: with shutil, bz2 and lzma it costs start-up

        try:
            with zipfile.ZipFile(self.path) as archive:
                return archive.namelist()
        except (OSError, zipfile.BadZipFile, ValueError, EOFError):
            return None

    def json_in_folder(self, name: str) -> Any:
        """The parsed JSON file `name` inside a folder input (None: no folder, file or JSON)."""
        if not self.is_dir:
            return None
        if name not in self._folder_json:
            self._folder_json[name] = _parse_json(contained(self.path / name, self.path,
                                                            self.path))
        return self._folder_json[name]

    @cached_property
    def _folder_json(self) -> dict[str, Any]:
        return {}


def _parse_json(target: Path) -> Any:
    try:
        if not regular_file(target) or target.stat().st_size > _JSON_PROBE_LIMIT:
            return None
        with open(target, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError, RecursionError):
        return None


@dataclass
class WriteResult(Sequence[Path]):
    """What a write or conversion did: the files written (the result is a sequence of them),
    the warnings about the output, what quantization cost per weight, and the mapping report
    of an assembly."""

    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    quantization: list[Any] = field(default_factory=list)
    report: Any = None

    @overload
    def __getitem__(self, index: int) -> Path: ...

    @overload
    def __getitem__(self, index: slice) -> list[Path]: ...

    def __getitem__(self, index: int | slice) -> Path | list[Path]:
        return self.files[index]

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[Path]:
        return iter(self.files)


@dataclass(frozen=True)
class Format:
    """One format: how it is named, detected, read and written, and what the rest of modelport
    needs to know of it.

    - `extensions`: output names this format is chosen for (compound suffixes such as
      `.weights.h5` included; FOLDER for a folder). Several formats may share one; the first
      registered that fits the model (architecture or weights alone) wins.
    - `holds`: "model" (architecture and weights), "weights", "architecture", or "graph" (a
      TensorFlow graph only).
    - `graph`: the file may hold a TensorFlow graph that is no Keras model (a SavedModel), which
      only the `conversions` and TensorFlow-backed runtimes handle.
    - `weights_only`: the name of the format holding this one's weights alone.
    - `keyed_by`: how assembly matches a weights file of this format to layers: "layer" (groups
      named after layers), "path" (Keras 3 object paths), "weight" (every weight named) or
      "position" (layer positions only).
    - `runtime`: the runtime verify runs it in by default ("keras": the Keras that wrote it).
    - `native_in(runtime, keras_version, has_config)`: whether that runtime's own loader reads
      the file, else verify hands it a file modelport converts.
    - `read_architecture`: reads the architecture without touching weight files.
    - `summarise` / `render`: inspect's summary and text view for formats not read into a Model.
    - `conversions`: direct routes to other formats that bypass the in-memory model
      ({target name: function(src, dst, *, overwrite, **options) -> WriteResult}).
    - `conversion_options`: the options those routes take.
    - `input_specs`: what a graph's signature says its inputs are, for verify.
    """

    name: str
    description: str
    detect: Callable[[Probe], bool]
    extensions: tuple[str, ...] = ()
    read: Entry | None = None
    write: Entry | None = None
    holds: str = "model"
    graph: bool = False
    weights_only: str | None = None
    keyed_by: str = "layer"
    runtime: str | None = None
    native_in: Callable[[str, str | None, bool], bool] | None = None
    read_architecture: Entry | None = None
    summarise: Entry | None = None
    render: Entry | None = None
    conversions: Mapping[str, Entry] = field(default_factory=dict)
    conversion_options: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    input_specs: Entry | None = None
    aliases: tuple[str, ...] = ()

    def call(self, entry: str, *args: Any, **kwargs: Any) -> Any:
        """Call one of the record's entries (`read`, `write`, ...), importing it if named."""
        return resolve(getattr(self, entry))(*args, **kwargs)


def resolve(entry: Entry) -> Callable[..., Any]:
    if callable(entry):
        return entry
    import importlib

    module, _, function = entry.partition(":")
    return getattr(importlib.import_module(module), function)
