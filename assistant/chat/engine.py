"""The chat engine: a turn is admitted, saved, generated apart from its request, and settled.

No transaction is held open while a provider streams: the user's turn is committed first, text is
checkpointed in short transactions, and the final save and settlement happen in their own.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.assistants import skill_tool
from assistant.attachments.files import AttachmentStorage
from assistant.chat import branches, chats, context, grounding, history, saved_stream, window
from assistant.chat.generation import GenerationConfig, Generator, Plan, Totals
from assistant.chat.runs import Run, RunRegistry, StreamEvent
from assistant.chat.titles import Titles
from assistant.chat.tool_loop import ToolBox
from assistant.chat.turns import Turn
from assistant.errors import NoPendingApproval, NothingToRegenerate
from assistant.gateway.metering import Metering
from assistant.models import Chat, Message
from assistant.schemas import MessageStatus
from billing.admission import Caller
from core import tokens
from core.catalog import Catalog
from core.database import write_transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TurnOptions:
    """Per-turn choices a user may make."""

    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """Plain settings the engine needs."""

    checkpoint_seconds: float = 1.0
    default_max_tokens: int = 1024
    keep_seconds: float = 300.0
    poll_seconds: float = 0.25
    max_tool_steps: int = 8
    approval_seconds: float = 300.0
    auto_titles: bool = True
    process_id: str | None = None  # this process (`core.processes`), recorded on its answers
    attachments_root: Path | None = None  # where chats' attachments are stored


class ChatEngine:
    """Starts, follows, cancels and finishes chat answers."""

    def __init__(
        self,
        *,
        factory: async_sessionmaker[AsyncSession],
        catalog: Catalog,
        metering: Metering,
        config: EngineConfig,
        retriever: grounding.Retriever | None = None,
        tools: ToolBox | None = None,
    ) -> None:
        self.factory = factory
        self.retriever = retriever
        self.catalog = catalog
        self.metering = metering
        self.config = config
        self.registry = RunRegistry(config.keep_seconds)
        self.listener = saved_stream.listener_for(factory)  # PostgreSQL: readers are pushed
        self.tools = tools
        self.titles = Titles(factory=factory, metering=metering)
        root = config.attachments_root
        self.attachments = AttachmentStorage(root) if root is not None else None
        self.sources = context.Sources(  # where a turn's prompt comes from
            factory=factory,
            catalog=catalog,
            attachments=self.attachments,
            retriever=retriever,
            default_max_tokens=config.default_max_tokens,
        )
        self.generator = Generator(
            factory=factory,
            metering=metering,
            registry=self.registry,
            config=GenerationConfig(
                checkpoint_seconds=config.checkpoint_seconds,
                max_tool_steps=config.max_tool_steps,
                approval_seconds=config.approval_seconds,
            ),
            tools=tools,
        )

    async def send(
        self,
        *,
        caller: Caller,
        chat_id: str,
        content: str,
        options: TurnOptions,
        attachment_ids: tuple[str, ...] = (),
    ) -> Run:
        """Save a user message at the end of the active branch and start its answer; returns
        once the provider has answered.

        Raises:
            ChatNotFound: the chat is not the user's.
            StillStreaming: the chat's previous answer is still being written.
            ProviderError: the provider failed before the first token (fallbacks included).
            BillingError: billing refused the call (seat, budget, rate limit, model).
            AttachmentNotFound, AttachmentAlreadySent: an attachment id is not the chat's, or
                was sent before.
            ModelCannotSeeImages: an attached image and a model that cannot see.
        """
        chat, branch = await self.load_turn(caller, chat_id)
        first = branch.empty and chat.title == "New chat"
        turn = Turn(
            path=branch.nodes,
            above=branch.above,
            parent_id=branch.nodes[-1].id if branch.nodes else None,
            content=content,
            source="chat",
            first=first,
            attachment_ids=attachment_ids,
            files_sent=branch.files_sent,
        )
        return await self.start_turn(caller, chat, turn, options)

    async def edit(
        self, *, caller: Caller, chat_id: str, message_id: str, content: str, options: TurnOptions
    ) -> Run:
        """Answer an edited copy of an earlier user message on a new branch; the old one stays.

        Raises:
            ChatNotFound: the chat is not the user's.
            MessageNotFound: the chat has no such message.
            NotAUserMessage: only the user's own messages can be edited.
            StillStreaming: an answer of the chat is still being written.
            ProviderError: the provider failed before the first token.
            BillingError: billing refused the call.
        """
        chat, branch = await self.load_turn(caller, chat_id, edited=message_id)
        parent_id = branch.nodes[-1].id if branch.nodes else None
        path, above = branch.nodes, branch.above
        turn = Turn(
            path=path,
            above=above,
            parent_id=parent_id,
            content=content,
            source="edit",
            files_sent=branch.files_sent,
        )
        return await self.start_turn(caller, chat, turn, options)

    async def regenerate(
        self, *, caller: Caller, chat_id: str, message_id: str, options: TurnOptions
    ) -> Run:
        """Answer the last user message again; the new answer is a sibling branch of the old.

        Raises:
            ChatNotFound: the chat is not the user's.
            MessageNotFound: the chat has no such message.
            NothingToRegenerate: the message is not the active branch's finished last answer.
            ProviderError: the provider failed before the first token.
            BillingError: billing refused the call.
        """
        chat, branch = await self.load_turn(caller, chat_id)
        ending = await window.ending_in_answer(self.factory, chat, branch, message_id)
        if ending is None:
            raise NothingToRegenerate()
        path, above = ending.before_last().nodes, ending.above
        parent_id = ending.nodes[-1].parent_id
        turn = Turn(
            path=path,
            above=above,
            parent_id=parent_id,
            content=None,
            source="regenerate",
            files_sent=branch.files_sent,
        )
        return await self.start_turn(caller, chat, turn, options)

    async def load_turn(
        self, caller: Caller, chat_id: str, *, edited: str | None = None
    ) -> tuple[Chat, window.Branch]:
        """The caller's chat and the newest part of the branch a new turn follows (see
        `window.open_turn`; `continuation` too).

        Raises:
            ChatNotFound: the chat is not the user's.
            StillStreaming: an answer of the chat is still being written.
            MessageNotFound, NotAUserMessage: as `window.open_turn`, for `edited`.
        """
        tokens = window.window_tokens(self.catalog)  # how far the turn reads
        return await window.open_turn(
            self.factory,
            user_id=caller.user_id,
            chat_id=chat_id,
            window_tokens=tokens,
            edited=edited,
        )

    async def start_turn(self, caller: Caller, chat: Chat, turn: Turn, options: TurnOptions) -> Run:
        """Plan and admit the answer, save the turn (a new answer becomes the chat's active
        leaf; a continued one is marked streaming again), start it."""
        turns = history.turns(turn.path)
        if turn.content is not None:
            turns.append({"role": "user", "content": turn.content})
        title = chats.title_from(turn.content) if turn.first and turn.content else None
        plan, answer_id = await self._plan(chat, turns, options, caller, turn, title)
        run = await self._launch(plan, answer_id, turn)
        if title is not None and turn.content is not None and self.config.auto_titles:
            self.titles.start(run, plan, question=turn.content, placeholder=title)
        return run

    async def _plan(
        self,
        chat: Chat,
        turns: list[dict[str, str]],
        options: TurnOptions,
        caller: Caller,
        turn: Turn,
        title: str | None,
    ) -> tuple[Plan, str]:
        """The answer's plan, admitted with the turn saved in the admission's transaction;
        returns it and the answer's id."""
        chosen = (options.model, options.max_tokens)
        got = await context.gather(self.sources, chat, turns, turn, caller, chosen)
        who, caller, model, prompt = got.who, got.caller, got.model, got.prompt
        toolbox, offers = await skill_tool.turn_tools(
            self.tools,
            user_id=caller.user_id,
            chosen=chat.toolkit_ids,
            carried=who.toolkit_ids,
            skills=who.skills,
            active=who.skill_used,
        )
        tool_tokens = tokens.count_text(json.dumps([o.function for o in offers])) if offers else 0
        saved = turn.continued or self._new_turn(chat, turn, got, title)
        call = self.metering.call(
            caller,
            model,
            source=turn.source,
            prompt_tokens=prompt.prompt_tokens + tool_tokens,
            max_output_tokens=got.max_tokens,
        )
        link = got.attached.link(saved.question_id)

        def write(connection: Connection) -> None:
            saved.write(connection)
            link(connection)

        await call.admit(also=write)  # the turn is saved only if the call is admitted
        temperature = options.temperature if options.temperature is not None else who.temperature
        plan = Plan(
            chat=chat,
            model=model,
            prompt=prompt,
            max_tokens=got.max_tokens,
            temperature=temperature,
            call=call,
            caller=caller,
            citations=got.grounded.citations,
            tools=offers,
            toolbox=toolbox,
            totals=turn.continued.totals if turn.continued else Totals(),
        )
        return plan, saved.answer_id

    def _new_turn(
        self, chat: Chat, turn: Turn, got: context.TurnContext, title: str | None
    ) -> branches.NewTurn:
        """The rows a new turn writes (the question and its answer, streaming) once admitted."""
        return branches.new_turn(
            chat_id=chat.id,
            parent_id=turn.parent_id,
            content=turn.content,
            model=got.model.name,
            dropped_turns=got.prompt.dropped,
            title=title,
            process_id=self.config.process_id,
            history_turns=got.history_turns,
        )

    async def _launch(self, plan: Plan, answer_id: str, turn: Turn) -> Run:
        if turn.continued is not None:
            run = turn.continued.run(plan)
        else:
            run = Run(
                chat_id=plan.chat.id,
                message_id=answer_id,
                model=plan.model.name,
                dropped_turns=plan.prompt.dropped,
            )
        self.registry.add(run)
        run.task = asyncio.create_task(self.generator.run(run, plan), name=f"answer {answer_id}")
        await run.connected
        return run

    async def _owned_message(self, user_id: str, chat_id: str, message_id: str) -> Message:
        async with self.factory() as session:
            chat = await chats.get_owned(session, user_id=user_id, chat_id=chat_id)
            return await chats.get_message(session, chat=chat, message_id=message_id)

    async def cancel(self, *, user_id: str, chat_id: str, message_id: str) -> Message:
        """Stop an answer; what was written is kept with status `cancelled`.

        Raises:
            ChatNotFound: the chat is not the user's.
            MessageNotFound: the chat has no such message.
        """
        message = await self._owned_message(user_id, chat_id, message_id)
        run = self.registry.get(message_id)
        if self.registry.cancel(message_id, MessageStatus.CANCELLED) and run is not None:
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

    async def decide(self, *, user_id: str, chat_id: str, call_id: str, approve: bool) -> None:
        """Allow or refuse a tool call an answer of this chat waits on, in any worker.

        Raises:
            ChatNotFound: the chat is not the user's.
            NoPendingApproval: no answer of the chat waits on that call.
        """
        async with self.factory() as session:
            await chats.get_owned(session, user_id=user_id, chat_id=chat_id)
        if not await self.generator.decide(chat_id=chat_id, call_id=call_id, approve=approve):
            raise NoPendingApproval(call_id=call_id)

    async def events(
        self, *, user_id: str, chat_id: str, message_id: str, last_event_id: str | None
    ) -> AsyncIterator[StreamEvent]:
        """An answer's events after `last_event_id`, then live ones until it ends.

        Raises:
            ChatNotFound: the chat is not the user's.
            MessageNotFound: the chat has no such message.
        """
        message = await self._owned_message(user_id, chat_id, message_id)
        run = self.registry.get(message_id)
        if run is not None:
            return run.follow(last_event_id)
        poll = self.config.poll_seconds  # SQLite; on PostgreSQL only while the listener is down
        return saved_stream.follow(
            self.factory, message, last_event_id, poll_seconds=poll, listener=self.listener
        )

    async def shutdown(self, grace_seconds: float) -> None:
        """Let running answers finish within the grace period, then interrupt and save the rest."""
        await self.titles.stop()  # a title is a nicety: pending ones are dropped, not awaited
        if self.listener is not None:
            await self.listener.close()
        active = self.registry.active()
        if not active:
            return
        waits = [asyncio.ensure_future(r.finished.wait()) for r in active]
        _, pending = await asyncio.wait(waits, timeout=grace_seconds)
        for run in self.registry.active():
            self.registry.cancel(run.message_id, MessageStatus.INTERRUPTED)
        for future in pending:
            future.cancel()
        tasks = [r.task for r in active if r.task is not None]
        await asyncio.wait(tasks, timeout=10) if tasks else None
