"""What the worker-pool tests run in the pool's processes, in a module that imports next to nothing.

A spawned worker imports the module of the function it runs. From the test module (through
tests.support, the whole app) that took ~4 CPU-seconds, and 17-30 s of wall time on a loaded
machine, for every worker started: past the tests' own 30 s timeouts at times."""

from __future__ import annotations

import os
import time
from pathlib import Path


def pid_after(seconds: float, started: str = "") -> int:
    """Touch `started` (when given), hold the worker `seconds`, and return its process id."""
    if started:
        Path(started).touch()
    time.sleep(seconds)
    return os.getpid()
