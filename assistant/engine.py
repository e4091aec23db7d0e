"""The chat engine: a turn is admitted, saved, generated apart from its request, and settled.

No transaction is held open while a provider streams: the user's turn is committed first, text is
checkpointed in short transactions, and the final save and settlement happen in their own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant import chats, grounding, history, persona
from assistant.errors import MessageNotFound, NothingToRegenerate, StillStreaming
from assistant.gateway import Gateway, Usage
from assistant.metering import Metering, Ticket
from assistant.models import Chat, Message
from assistant.runs import (
    FINAL_STATUSES,
    Run,
    RunRegistry,
    StreamEvent,
    final_events,
    parse_event_id,
    start_event,
)
from assistant.sharing import Viewer
from billing.admission import Caller
from core import clock, tokens
from core.catalog import CatalogModel
from core.database import write_transaction
from core.errors import SwitchboardError

log = logging.getLogger(__name__)
STALE_AFTER = timedelta(seconds=120)


@dataclass(frozen=True)
class TurnOptions:
    """Per-turn choices a user may make."""

    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None


@dataclass(frozen=True)
class EngineConfig:
    """Plain settings the engine needs."""

    checkpoint_seconds: float = 1.0
    default_max_tokens: int = 1024
    keep_seconds: float = 300.0
    poll_seconds: float = 0.25


@dataclass(frozen=True)
class _Plan:
    chat: Chat
    model: CatalogModel
    prompt: history.Prompt
    max_tokens: int
    temperature: float | None
    ticket: Ticket
    citations: list[dict[str, Any]] = field(default_factory=list)


class ChatEngine:
    """Starts, follows, cancels and finishes chat answers."""

    def __init__(
        self,
        *,
        factory: async_sessionmaker[AsyncSession],
        gateway: Gateway,
        metering: Metering,
        config: EngineConfig,
        retriever: grounding.Retriever | None = None,
    ) -> None:
        self.factory = factory
        self.retriever = retriever
        self.gateway = gateway
        self.metering = metering
        self.config = config
        self.registry = RunRegistry(config.keep_seconds)

    async def send(
        self, *, caller: Caller, chat_id: str, content: str, options: TurnOptions
    ) -> Run:
        """Save a user message and start its answer; returns once the provider has answered.

        Raises:
            ChatNotFound: the chat is not the user's.
            StillStreaming: the chat's previous answer is still being written.
            ProviderError: the provider failed before the first token (fallbacks included).
            BillingError: billing refused the call (seat, budget, rate limit, model).
        """
        async with self.factory() as session:
            chat = await chats.get_owned(session, user_id=caller.user_id, chat_id=chat_id)
            saved = await chats.messages(session, chat=chat)
        if any(m.status == "streaming" for m in saved):
            raise StillStreaming()
        turn = {"role": "user", "content": content}
        plan = await self._plan(chat, [*history.turns(saved), turn], options, caller, "chat")
        async with write_transaction(self.factory) as session:
            session.add(Message(chat_id=chat.id, role="user", content=content))
            answer = Message(
                chat_id=chat.id, role="assistant", model=plan.model.name, status="streaming"
            )
            session.add(answer)
            values: dict[str, Any] = {"updated_at": clock.now()}
            if not saved and chat.title == "New chat":
                values["title"] = chats.title_from(content)
            await session.execute(update(Chat).where(Chat.id == chat.id).values(**values))
        return await self._launch(plan, answer)

    async def regenerate(
        self, *, caller: Caller, chat_id: str, message_id: str, options: TurnOptions
    ) -> Run:
        """Answer the last user message again, replacing the latest answer.

        Raises:
            ChatNotFound: the chat is not the user's.
            MessageNotFound: the chat has no such message.
            NothingToRegenerate: the message is not the chat's latest finished answer.
            ProviderError: the provider failed before the first token.
            BillingError: billing refused the call.
        """
        async with self.factory() as session:
            chat = await chats.get_owned(session, user_id=caller.user_id, chat_id=chat_id)
            saved = list(await chats.messages(session, chat=chat))
        target = next((m for m in saved if m.id == message_id), None)
        if target is None:
            raise MessageNotFound(message_id=message_id)
        if saved[-1].id != message_id or target.role != "assistant" or target.status == "streaming":
            raise NothingToRegenerate()
        plan = await self._plan(chat, history.turns(saved[:-1]), options, caller, "regenerate")
        async with write_transaction(self.factory) as session:
            await session.delete(await session.get(Message, message_id))
            answer = Message(
                chat_id=chat.id, role="assistant", model=plan.model.name, status="streaming"
            )
            session.add(answer)
        return await self._launch(plan, answer)

    async def _plan(
        self,
        chat: Chat,
        turns: list[dict[str, str]],
        options: TurnOptions,
        caller: Caller,
        source: str,
    ) -> _Plan:
        # The chat's assistant, if any: its prompt sections, default model and parameters.
        async with self.factory() as session:
            viewer = Viewer(caller.user_id, caller.team_ids)
            text = turns[-1]["content"] if turns else ""
            who = await persona.compose(session, chat=chat, viewer=viewer, user_text=text)
        caller = replace(caller, assistant_id=who.assistant_id or caller.assistant_id)
        model = self.gateway.catalog.usable(options.model or chat.model or who.model)
        max_tokens = options.max_tokens or who.max_tokens or self.config.default_max_tokens
        if model.max_output_tokens:
            max_tokens = min(max_tokens, model.max_output_tokens)
        system = who.system(model=model.name, budget_tokens=model.max_input_tokens // 2)
        grounded = await grounding.for_turn(self.retriever, chat, turns, caller, model)
        system = "\n\n".join(part for part in (system, grounded.system) if part) or None
        prompt = history.fit(
            turns, model=model.name, context_tokens=model.max_input_tokens, system=system
        )
        ticket = await self.metering.admit(
            caller=caller,
            model=model,
            prompt_tokens=prompt.prompt_tokens,
            max_output_tokens=max_tokens,
            source=source,
        )
        temperature = options.temperature if options.temperature is not None else who.temperature
        return _Plan(chat, model, prompt, max_tokens, temperature, ticket, grounded.citations)

    async def _launch(self, plan: _Plan, answer: Message) -> Run:
        run = Run(chat_id=plan.chat.id, message_id=answer.id, model=plan.model.name)
        self.registry.add(run)
        run.task = asyncio.create_task(self._generate(run, plan), name=f"answer {answer.id}")
        await run.connected
        return run

    async def _generate(self, run: Run, plan: _Plan) -> None:
        started = time.monotonic()
        try:
            stream = await self.gateway.stream(
                model=plan.model,
                messages=plan.prompt.messages,
                max_tokens=plan.max_tokens,
                temperature=plan.temperature,
            )
        except (SwitchboardError, asyncio.CancelledError) as exc:
            error = exc if isinstance(exc, SwitchboardError) else None
            await self._finish(run, plan, "failed", None, error, None, started)
            run.connected.set_exception(error or asyncio.CancelledError())
            return
        run.connected.set_result(None)
        status, usage, error, ttft = "complete", None, None, None
        last_checkpoint = started
        try:
            async for chunk in stream:
                if chunk.text:
                    ttft = ttft if ttft is not None else time.monotonic() - started
                    run.append(chunk.text)
                usage = chunk.usage or usage
                if time.monotonic() - last_checkpoint >= self.config.checkpoint_seconds:
                    last_checkpoint = time.monotonic()
                    if await self._checkpoint(run, plan):
                        run.cancel_reason = "cancelled"
                        break
        except asyncio.CancelledError:
            status = run.cancel_reason or "cancelled"
        except SwitchboardError as exc:
            status, error = "incomplete", exc
        if run.cancel_reason and status == "complete":
            status = run.cancel_reason
        await self._finish(run, plan, status, usage, error, ttft, started)

    async def _checkpoint(self, run: Run, plan: _Plan) -> bool:
        """Save the text so far; True when a cancel was asked for through the database."""
        async with write_transaction(self.factory) as session:
            message = await session.get(Message, run.message_id)
            if message is None:
                return True
            message.content = run.text
            message.updated_at = clock.now()
            cancel = message.cancel_requested
        alive = await self.metering.renew(
            plan.ticket, completion_tokens=tokens.count_text(run.text)
        )
        return cancel or not alive

    async def _finish(
        self,
        run: Run,
        plan: _Plan,
        status: str,
        usage: Usage | None,
        error: SwitchboardError | None,
        ttft: float | None,
        started: float,
    ) -> None:
        work = self._save_and_settle(run, plan, status, usage, error, ttft, started)
        try:
            await asyncio.shield(asyncio.ensure_future(work))
        except asyncio.CancelledError:
            log.warning("answer %s: shutdown while saving; the save goes on", run.message_id)

    async def _save_and_settle(
        self,
        run: Run,
        plan: _Plan,
        status: str,
        usage: Usage | None,
        error: SwitchboardError | None,
        ttft: float | None,
        started: float,
    ) -> None:
        estimated = usage is None
        if usage is None:
            completion = tokens.count_text(run.text, plan.model.name) if run.text else 0
            usage = Usage(plan.prompt.prompt_tokens if status != "failed" else 0, completion)
        cost = await self.metering.settle(
            plan.ticket, model=plan.model, status=status, usage=usage, estimated=estimated
        )
        error_body = {"code": error.code, "message": error.message} if error else None
        async with write_transaction(self.factory) as session:
            message = await session.get(Message, run.message_id)
            if message is not None:
                message.content = run.text
                message.status = status
                message.prompt_tokens = usage.prompt_tokens
                message.completion_tokens = usage.completion_tokens
                message.cost_micros = cost
                message.usage_estimated = estimated
                message.ttft_ms = round(ttft * 1000) if ttft is not None else None
                message.duration_ms = round((time.monotonic() - started) * 1000)
                message.error_code = error.code if error else None
                message.error_message = error.message if error else None
                message.finished_at = clock.now()
                message.citations = plan.citations or None
        usage_body = None
        if status != "failed":
            usage_body = {
                "promptTokens": usage.prompt_tokens,
                "completionTokens": usage.completion_tokens,
                "costMicros": cost,
            }
        run.finish(status, usage=usage_body, error=error_body, citations=plan.citations)
        self.registry.forget_later(run)

    async def cancel(self, *, user_id: str, chat_id: str, message_id: str) -> Message:
        """Stop an answer; what was written is kept with status `cancelled`.

        Raises:
            ChatNotFound: the chat is not the user's.
            MessageNotFound: the chat has no such message.
        """
        async with self.factory() as session:
            chat = await chats.get_owned(session, user_id=user_id, chat_id=chat_id)
            message = await chats.get_message(session, chat=chat, message_id=message_id)
        run = self.registry.get(message_id)
        if self.registry.cancel(message_id, "cancelled") and run is not None:
            await asyncio.wait_for(run.finished.wait(), timeout=10)
        elif message.status == "streaming":
            async with write_transaction(self.factory) as session:
                await session.execute(
                    update(Message).where(Message.id == message_id).values(cancel_requested=True)
                )
        async with self.factory() as session:
            saved = await session.get(Message, message_id)
        assert saved is not None
        return saved

    async def events(
        self, *, user_id: str, chat_id: str, message_id: str, last_event_id: str | None
    ) -> AsyncIterator[StreamEvent]:
        """An answer's events after `last_event_id`, then live ones until it ends.

        Raises:
            ChatNotFound: the chat is not the user's.
            MessageNotFound: the chat has no such message.
        """
        async with self.factory() as session:
            chat = await chats.get_owned(session, user_id=user_id, chat_id=chat_id)
            message = await chats.get_message(session, chat=chat, message_id=message_id)
        run = self.registry.get(message_id)
        if run is not None:
            return run.follow(last_event_id)
        return self._follow_saved(message, last_event_id)

    async def _follow_saved(
        self, message: Message, last_event_id: str | None
    ) -> AsyncIterator[StreamEvent]:
        """Events from the saved checkpoints of an answer another process is writing."""
        sent, stage = parse_event_id(last_event_id)
        if last_event_id is None:
            yield start_event(message.chat_id, message.id, message.model or "")
        while True:
            async with self.factory() as session:
                current = await session.get(Message, message.id)
            if current is None:
                return
            if len(current.content) > sent:
                yield StreamEvent(
                    str(len(current.content)), "delta", {"text": current.content[sent:]}
                )
                sent = len(current.content)
            status = current.status
            if (
                status == "streaming"
                and clock.now() - clock.as_utc(current.updated_at) > STALE_AFTER
            ):
                status = "interrupted"
            if status in FINAL_STATUSES:
                for event in final_events(
                    sent, stage, current.id, status, *_saved_outcome(current)
                ):
                    yield event
                return
            await asyncio.sleep(self.config.poll_seconds)

    async def shutdown(self, grace_seconds: float) -> None:
        """Let running answers finish within the grace period, then interrupt and save the rest."""
        active = self.registry.active()
        if not active:
            return
        waits = [asyncio.ensure_future(r.finished.wait()) for r in active]
        _, pending = await asyncio.wait(waits, timeout=grace_seconds)
        for run in self.registry.active():
            self.registry.cancel(run.message_id, "interrupted")
        for future in pending:
            future.cancel()
        tasks = [r.task for r in active if r.task is not None]
        await asyncio.wait(tasks, timeout=10) if tasks else None


def _saved_outcome(message: Message) -> tuple[Any, Any, list[dict[str, Any]] | None]:
    usage = None
    if message.status != "failed":
        usage = {
            "promptTokens": message.prompt_tokens,
            "completionTokens": message.completion_tokens,
            "costMicros": message.cost_micros,
        }
    error = None
    if message.error_code:
        error = {"code": message.error_code, "message": message.error_message or ""}
    return usage, error, message.citations
