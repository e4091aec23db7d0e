"""What the sweep-turn tests run in spawned processes, in a module that imports next to nothing
(`knowledge.storage` alone), so a process starts in well under a second."""

from __future__ import annotations

import asyncio
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

from knowledge.storage import sweep_turn


def turn(
    root: str,
    every: float,
    out: Queue[bool] | None = None,
    taken: Event | None = None,
    release: Event | None = None,
) -> bool:
    """Ask for a sweep turn of the storage under `root`; when it is ours and `taken` is given,
    set it and hold the turn until `release` is set (at most 60 s). Whether it was ours, also
    put on `out`."""

    async def ask() -> bool:
        async with sweep_turn(Path(root), every=every) as mine:
            if mine and taken is not None and release is not None:
                taken.set()
                release.wait(60)
        return mine

    mine = asyncio.run(ask())
    if out is not None:
        out.put(mine)
    return mine
