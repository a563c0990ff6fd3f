"""verify's defaults and runtime names, apart from the code that uses them, so the command
line's help shows them without importing numpy or a runtime."""

from __future__ import annotations

DEFAULT_ATOL = 1e-5
DEFAULT_RTOL = 1e-4
DEFAULT_BATCH_SIZE = 8
DEFAULT_SEED = 0
RUNTIMES = ("keras3", "tf_keras", "tensorflow", "tfjs")
