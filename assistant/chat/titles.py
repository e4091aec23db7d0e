"""Chat titles written by the model: one short call after a chat's first answer, in the background.

The call is admitted and settled by billing like any other (source `title`). It never blocks or
fails the chat: until it lands the chat keeps the title made from its first message, and if it
fails, is refused by billing, or the user renamed the chat meanwhile, that title stays.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import Connection, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.chat import chats, lock_order
from assistant.chat.generation import Plan
from assistant.chat.runs import Run
from assistant.gateway.metering import Metering
from assistant.models import Chat
from assistant.schemas import MessageStatus
from core import clock, tokens
from core.database import run_write
from core.errors import SwitchboardError

log = logging.getLogger(__name__)
_CHATS = Chat.metadata.tables[Chat.__tablename__]
# Unless the user renamed the chat meanwhile (it no longer has the placeholder title).
_RETITLE = update(_CHATS).where(
    _CHATS.c.id == bindparam("chat"), _CHATS.c.title == bindparam("placeholder")
)
MAX_TOKENS = 20
EXCERPT_CHARS = 1500
INSTRUCTION = (
    "Write a title of at most six words for the conversation below. "
    "Answer with the title only: no quotes, no punctuation at the end."
)


class Titles:
    """Starts and tracks the background calls that title new chats."""

    def __init__(
        self,
        *,
        factory: async_sessionmaker[AsyncSession],
        metering: Metering,
    ) -> None:
        self.factory = factory
        self.metering = metering
        self.tasks: set[asyncio.Task[str | None]] = set()

    def start(self, run: Run, plan: Plan, *, question: str, placeholder: str) -> None:
        """Title the chat once its first answer has finished well; returns at once."""
        task = asyncio.create_task(
            self._title(run, plan, question, placeholder), name=f"title {run.chat_id}"
        )
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self) -> None:
        """Drop the titles still pending (their calls are settled as cancelled)."""
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=10)

    async def _title(self, run: Run, plan: Plan, question: str, placeholder: str) -> str | None:
        await run.finished.wait()
        if run.status != "complete" or not run.text.strip():
            return None
        try:
            title = await self._generate(plan, question, run.text)
            if not title:
                return None
            values = {"chat": run.chat_id, "placeholder": placeholder, "title": title}
            await run_write(self.factory, _retitle, values | {"updated_at": clock.now()})
        except SwitchboardError as exc:  # billing said no, or the provider failed: keep the title
            log.info("no title for chat %s: %s", run.chat_id, exc.message)
            return None
        except Exception:  # never let a title break anything else
            log.exception("titling chat %s failed", run.chat_id)
            return None
        return title

    async def _generate(self, plan: Plan, question: str, answer: str) -> str:
        """One short, metered model call; returns the cleaned title ("" when it gave none)."""
        conversation = f"User: {question[:EXCERPT_CHARS]}\n\nAssistant: {answer[:EXCERPT_CHARS]}"
        messages = [
            {"role": "system", "content": INSTRUCTION},
            {"role": "user", "content": conversation},
        ]
        prompt_tokens = tokens.count_messages(messages, plan.model.name)
        metered = self.metering.call(
            plan.caller,
            plan.model,
            source="title",
            prompt_tokens=prompt_tokens,
            max_output_tokens=MAX_TOKENS,
        )
        async with metered as call:  # left early: settled as cancelled or failed
            stream = await call.stream(messages=messages, max_tokens=MAX_TOKENS, temperature=0.2)
            async for chunk in stream:
                call.text += chunk.text
                call.usage = chunk.usage or call.usage
            await call.settle(MessageStatus.COMPLETE, call.usage, text=call.text)
        return clean(call.text)


def _retitle(connection: Connection, values: dict[str, Any]) -> None:
    lock_order.lock_owner(connection, values["chat"])
    connection.execute(_RETITLE, values)


def clean(text: str) -> str:
    """A model's title as a chat title: one line, no quotes or "Title:", not too long."""
    line = next((part for part in text.strip().splitlines() if part.strip()), "")
    line = line.strip().removeprefix("Title:").removeprefix("title:").strip()
    line = line.strip("\"'`*#“”‘’ ").rstrip(".").strip()
    return chats.title_from(line) if line else ""
