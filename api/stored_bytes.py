"""The sweep of stored bytes: deleting a library file or an attachment removes its row only;
the bytes go here, once no row holds them and nobody put them for a day (`knowledge.storage`)."""

from __future__ import annotations

import asyncio
import logging

from api.services import Services
from assistant.attachments import files
from knowledge import intake

log = logging.getLogger(__name__)

SWEEP_SECONDS = 3600.0
GRACE_SECONDS = 24 * 3600.0  # longer than any upload or sync takes from storing to committing


async def sweep_once(services: Services, *, grace_seconds: float = GRACE_SECONDS) -> int:
    """Remove the library's and the chats' bytes no row holds and nobody put for
    `grace_seconds`; how many."""
    factory = services.sessions
    storage = services.knowledge.storage
    removed = await intake.sweep_bytes(factory, storage=storage, grace_seconds=grace_seconds)
    if services.chat.attachments is not None:
        attachments = services.chat.attachments
        removed += await files.sweep_bytes(
            factory, storage=attachments, grace_seconds=grace_seconds
        )
    return removed


async def sweep_forever(services: Services) -> None:
    """Forever, every SWEEP_SECONDS: `sweep_once` (every worker does; they never collide)."""
    while True:
        await asyncio.sleep(SWEEP_SECONDS)
        try:
            removed = await sweep_once(services)
        except Exception:
            log.exception("stored bytes sweep failed")
            continue
        if removed:
            log.info("%d stored file(s) no library file or attachment holds removed", removed)
