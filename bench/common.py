"""Whole-process measurements for the benchmarks: wall time and peak RSS of a command, taken
with wait4 so that each run's own peak is known."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Sequence


def measure(command: Sequence[str], runs: int = 5) -> tuple[float, float]:
    """(median wall seconds, max peak RSS in MiB) over `runs` runs of `command`."""
    walls, peaks = [], []
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(list(command), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{stderr}")
        peaks.append(usage.ru_maxrss / 1024)  # KiB on Linux
    return statistics.median(walls), max(peaks)
