"""The error types modelport raises for users: each carries one line that names the file,
what is wrong with it and, where there is one, what to do."""

from __future__ import annotations

from pathlib import Path


class ModelportError(Exception):
    """Base class: a problem the user can act on. The CLI prints it without a traceback."""

    exit_code = 2

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = str(path) if path is not None else None
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def about(self, path: str | Path) -> ModelportError:
        """Name `path` as the file concerned unless a file is named already."""
        if self.path is None:
            self.path = str(path)
        return self


class FormatError(ModelportError):
    """The input is not a valid file of the format it claims or was taken to be."""


class UnsupportedError(ModelportError):
    """The model uses something the target format or runtime cannot represent."""


# Set by the command line: messages then name its flags (--overwrite); a Python caller reads
# the keyword arguments instead (overwrite=True).
SPELL_FOR_CLI = False


class OutputExistsError(ModelportError):
    """The output exists and --overwrite (overwrite=True) was not given."""

    def __str__(self) -> str:
        text = super().__str__()
        return text if SPELL_FOR_CLI else text.replace("pass --overwrite", "pass overwrite=True")


class MissingExtraError(ModelportError):
    """An optional dependency (Python extra or external tool) is not installed."""
