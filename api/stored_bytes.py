"""The sweep of stored bytes: deleting a library file or an attachment removes its row only;
the bytes go here, once no row holds them and nobody put them for the grace period
(`SWITCHBOARD_STORED_BYTES_GRACE_SECONDS`, see `knowledge.storage`). Every worker wakes every
`SWITCHBOARD_STORED_BYTES_SWEEP_SECONDS`; one of them sweeps (`storage.sweep_turn`)."""

from __future__ import annotations

import asyncio
import logging

from api.services import Services
from assistant.attachments import files
from knowledge import intake, storage

log = logging.getLogger(__name__)


async def sweep_once(services: Services, *, grace_seconds: float | None = None) -> int:
    """Remove the library's and the chats' bytes no row holds and nobody put for
    `grace_seconds` (the setting's, unless given); how many."""
    grace = services.settings.stored_bytes_grace_seconds if grace_seconds is None else grace_seconds
    factory = services.sessions
    library = services.knowledge.storage
    removed = await intake.sweep_bytes(factory, storage=library, grace_seconds=grace)
    if services.chat.attachments is not None:
        attachments = services.chat.attachments
        removed += await files.sweep_bytes(factory, storage=attachments, grace_seconds=grace)
    return removed


async def sweep_if_due(services: Services) -> int | None:
    """`sweep_once` if it is this process's turn (no other process sweeps now, none swept in
    the last 90% of an interval); how many were removed, or None when it was not its turn."""
    every = services.settings.stored_bytes_sweep_seconds
    async with storage.sweep_turn(services.knowledge.storage.root, every=every) as mine:
        return await sweep_once(services) if mine else None


async def sweep_forever(services: Services) -> None:
    """Forever, every `stored_bytes_sweep_seconds`: `sweep_if_due`."""
    while True:
        await asyncio.sleep(services.settings.stored_bytes_sweep_seconds)
        try:
            removed = await sweep_if_due(services)
        except Exception:
            log.exception("stored bytes sweep failed")
            continue
        if removed:
            log.info("%d stored file(s) no library file or attachment holds removed", removed)
