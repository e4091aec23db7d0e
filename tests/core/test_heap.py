"""The served process hands freed C-heap memory back to the system as it runs (core.heap)."""

from __future__ import annotations

import asyncio
import os

import pytest

from core import heap
from tests.support import eventually

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(heap._libc is None, reason="malloc_trim is glibc's"),
]
MB = 1 << 20


def _resident() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def test_freed_heap_memory_goes_back_to_the_system_while_the_trimmer_runs() -> None:
    # ~200 MB of blocks too big for Python's own allocator, so they come from glibc's heap,
    # then one block above them, so that freeing them leaves a hole glibc keeps mapped.
    blocks = [bytes(2000) for _ in range(100_000)]
    above = bytes(2000)
    del blocks
    held = _resident()
    trimmer = asyncio.create_task(heap.trim_forever(seconds=0.05))
    try:
        await eventually(lambda: _resident() < held - 150 * MB, seconds=10)
    finally:
        trimmer.cancel()
    assert above
