"""Generating one answer: model steps (with tool calls between them), checkpoints, save and settle.

Each model call of the loop is admitted and settled by billing on its own; the message carries the
sum. Tool calls run between steps, in parallel, after approval where a tool has side effects.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.assistants.skill_tool import SkillTools
from assistant.chat import approvals, history, saved_stream, tool_loop
from assistant.chat.runs import Run, RunRegistry, ShuttingDown
from assistant.chat.tool_loop import CallAssembler, Outcome, ToolBox, ToolCall, ToolOffer
from assistant.errors import ToolStepLimit
from assistant.gateway.chunks import Usage, close_stream
from assistant.gateway.metering import MeteredCall, Metering
from assistant.models import Chat, Message
from assistant.schemas import MessageStatus
from billing.admission import Caller
from core import clock, tokens
from core.catalog import CatalogModel
from core.database import run_write, write_transaction
from core.errors import SwitchboardError
from toolkits.calls import TurnBudget

log = logging.getLogger(__name__)
_MESSAGES = Message.metadata.tables[Message.__tablename__]
# Prepared Core statements; the columns set are those of the parameters given.
_SAVE = update(_MESSAGES).where(_MESSAGES.c.id == bindparam("message"))
_CHECKPOINT = _SAVE.returning(_MESSAGES.c.cancel_requested, _MESSAGES.c.followed)
_FINAL = _SAVE.returning(_MESSAGES.c.followed)


@dataclass(kw_only=True)
class Totals:
    """What an answer's model calls used so far (a continued answer starts from its own)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_micros: int = 0
    estimated: bool = False
    tool_events: list[dict[str, Any]] = field(default_factory=list)


@dataclass(kw_only=True)
class Plan:
    """Everything one answer needs, decided before the first model call."""

    chat: Chat
    model: CatalogModel
    prompt: history.Prompt
    max_tokens: int
    temperature: float | None
    call: MeteredCall  # the model call under way, admitted (each tool step gets its own)
    caller: Caller
    citations: list[dict[str, Any]] = field(default_factory=list)
    tools: list[ToolOffer] = field(default_factory=list)
    toolbox: ToolBox | None = None  # this answer's own tool box (skills), else the engine's
    totals: Totals = field(default_factory=Totals)


@dataclass(kw_only=True)
class _Step:
    text: list[str] = field(default_factory=list)  # the call's chunks, joined when it ends
    thinking: list[str] = field(default_factory=list)  # (`+=` on a str: O(chunks²))
    usage: Usage | None = None
    calls: list[ToolCall] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class _Ending:
    status: MessageStatus
    error: SwitchboardError | None
    ttft: float | None
    started: float
    step: _Step
    step_prompt: int


@dataclass(frozen=True, kw_only=True)
class GenerationConfig:
    """Plain settings of generation."""

    checkpoint_seconds: float = 1.0
    max_tool_steps: int = 8
    approval_seconds: float = 300.0


class Generator:
    """Runs answers: streams, tool steps, checkpoints, the final save and settlement."""

    def __init__(
        self,
        *,
        factory: async_sessionmaker[AsyncSession],
        metering: Metering,
        registry: RunRegistry,
        config: GenerationConfig,
        tools: ToolBox | None = None,
    ) -> None:
        self.factory = factory
        self.metering = metering
        self.registry = registry
        self.config = config
        self.tools = tools

    async def run(self, run: Run, plan: Plan) -> None:
        """Generate an answer to the end, whatever happens; the run is finished afterwards."""
        started = time.monotonic()
        totals = plan.totals
        messages: list[dict[str, Any]] = list(plan.prompt.messages)
        status, error, ttft = MessageStatus.COMPLETE, None, None
        step_prompt = plan.prompt.prompt_tokens  # estimates leave out the tools' definitions
        step = _Step()
        budget = self._budget(plan)  # the turn's tool calls, across all its steps
        try:
            for number in range(self.config.max_tool_steps + 1):
                if number:  # each further model call is admitted on its own
                    step_prompt = await tokens.count_messages_off_loop(messages, plan.model.name)
                    plan.call = await self.metering.call(
                        plan.caller,
                        plan.model,
                        source="tool_loop",
                        prompt_tokens=step_prompt,
                        max_output_tokens=plan.max_tokens,
                    ).admit()
                step = _Step()
                ttft = await self._stream(
                    run, plan, messages, step, started, ttft, first=not number
                )
                if not step.calls:
                    break
                await self._settle(plan, step, step_prompt, totals, MessageStatus.COMPLETE)
                messages += await self._run_tools(run, plan, step, totals, budget)
                if isinstance(plan.toolbox, SkillTools):  # a loaded skill brings its toolkits
                    plan.tools = await plan.toolbox.refreshed(
                        user_id=plan.caller.user_id, current=plan.tools
                    )
            else:
                raise ToolStepLimit(steps=self.config.max_tool_steps)
        except asyncio.CancelledError:
            status = run.cancel_reason or MessageStatus.CANCELLED
        except _NotConnected as failed:
            status, error = MessageStatus.FAILED, failed.error
        except SwitchboardError as exc:
            status, error = MessageStatus.INCOMPLETE, exc
        status, error = _final(status, error, run.cancel_reason)
        ending = _Ending(
            status=status,
            error=error,
            ttft=ttft,
            started=started,
            step=step,
            step_prompt=step_prompt,
        )
        await _shielded(self._finish(run, plan, totals, ending))
        if not run.connected.done():  # the request waiting on it gets the error, after the save
            run.connected.set_exception(error or asyncio.CancelledError())

    async def _stream(
        self,
        run: Run,
        plan: Plan,
        messages: list[dict[str, Any]],
        step: _Step,
        started: float,
        ttft: float | None,
        *,
        first: bool,
    ) -> float | None:
        extra = {"tools": [t.function for t in plan.tools]} if plan.tools else None
        try:
            stream = await plan.call.stream(
                messages=messages,
                max_tokens=plan.max_tokens,
                temperature=plan.temperature,
                extra=extra,
            )
        except SwitchboardError as exc:
            if first:
                raise _NotConnected(exc) from exc
            raise
        if first:
            run.connected.set_result(None)
        run.new_call()
        assembler = CallAssembler()
        last_checkpoint = time.monotonic()
        try:
            async for chunk in stream:
                if chunk.reasoning:
                    run.think(chunk.reasoning)
                    step.thinking.append(chunk.reasoning)
                if chunk.text:
                    ttft = ttft if ttft is not None else time.monotonic() - started
                    run.append(chunk.text)
                    step.text.append(chunk.text)
                if chunk.tool_calls:
                    assembler.feed(chunk.tool_calls)
                step.usage = chunk.usage or step.usage
                if time.monotonic() - last_checkpoint >= self.config.checkpoint_seconds:
                    last_checkpoint = time.monotonic()
                    if await self.checkpoint(run, plan):
                        run.cancel_reason = MessageStatus.CANCELLED
                        raise asyncio.CancelledError
        finally:
            run.stop_thinking()
            await close_stream(stream)  # a cancel that lands elsewhere still hangs up at once
        step.calls = assembler.calls()
        return ttft

    def _budget(self, plan: Plan) -> TurnBudget | None:
        """The answer's one budget of tool calls, shared by all its steps (None: no limit)."""
        tools = plan.toolbox or self.tools
        return tools.budget(plan.citations) if tools else None

    async def _run_tools(
        self, run: Run, plan: Plan, step: _Step, totals: Totals, budget: TurnBudget | None
    ) -> list[dict[str, Any]]:
        """Run a step's calls, within the turn's `budget`, and return the messages that carry
        their results to the model."""
        offers = {t.name: t for t in plan.tools}
        for call in step.calls:
            run.emit("toolCall", {"id": call.id, "name": call.name, "arguments": call.arguments})
        tools = plan.toolbox or self.tools

        async def runner(call: ToolCall) -> tuple[bool, str]:
            if tools is None or call.name not in offers:
                return False, f"There is no tool named {call.name!r}."
            caller = plan.caller
            return await tools.run(
                user_id=caller.user_id, call=call, budget=budget, assistant_id=caller.assistant_id
            )

        def needs_approval(call: ToolCall) -> bool:
            offer = offers.get(call.name)
            return offer is not None and offer.side_effects

        async def approve(call: ToolCall) -> bool:
            await approvals.request(self.factory, run=run, call_id=call.id, name=call.name)
            run.emit(
                "approvalRequired", {"id": call.id, "name": call.name, "arguments": call.arguments}
            )
            return await approvals.wait(
                self.factory, run=run, call_id=call.id, timeout=self.config.approval_seconds
            )

        outcomes = await tool_loop.run_calls(
            step.calls, runner=runner, needs_approval=needs_approval, approve=approve
        )
        for outcome in outcomes:
            body = {"id": outcome.call.id, "ok": outcome.ok, "content": outcome.content}
            run.emit("toolResult", body)
            totals.tool_events.append(_saved(outcome))
        said = "".join(step.text)
        return [tool_loop.assistant_turn(said, step.calls), *tool_loop.tool_turns(outcomes)]

    async def decide(self, *, chat_id: str, call_id: str, approve: bool) -> bool:
        """Decide a call an answer of the chat waits on, in whichever process; False if none."""
        async with write_transaction(self.factory) as session:
            decided = await approvals.decide(
                session, chat_id=chat_id, call_id=call_id, approve=approve
            )
        if decided:  # wake the answer now when this process writes it (others poll)
            for run in self.registry.active():
                if run.chat_id == chat_id:
                    run.decide(call_id, approve)
        return decided

    async def checkpoint(self, run: Run, plan: Plan) -> bool:
        """Save the text (and reasoning) so far and the call writing it (`recovery` bills its
        output if we die); True when a cancel was asked in the database, the answer was deleted
        or billing closed it."""
        values = {"message": run.message_id, **run.streamed(), "updated_at": clock.now()}
        values |= {"call_reservation_id": plan.call.reservation_id}
        if await run_write(self.factory, _checkpoint, values):
            return True
        if not plan.call.renewal_due():  # counting the whole text costs more than the save
            return False
        completion_tokens = tokens.count_text(run.call_output(), plan.model.name)
        return not await plan.call.renew(completion_tokens=completion_tokens)

    async def _settle(
        self,
        plan: Plan,
        step: _Step,
        prompt_tokens: int,
        totals: Totals,
        status: MessageStatus,
        then: Callable[[Connection], None] | None = None,
    ) -> None:
        """Settle the step's call; `then` runs in the settlement's transaction, after `totals`
        took the call in (the answer's final save commits with its bill)."""
        call = plan.call
        estimated = step.usage is None
        counted = step.usage
        if counted is None:
            output = "".join(step.thinking + step.text + [c.name + c.arguments for c in step.calls])
            counted = call.estimate(status, output, prompt_tokens)

        def record(connection: Connection, cost: int) -> None:
            totals.prompt_tokens += counted.prompt_tokens
            totals.completion_tokens += counted.completion_tokens
            totals.cost_micros += cost
            totals.estimated = totals.estimated or estimated
            if then is not None:
                then(connection)

        await call.settle(status, counted, estimated=estimated, also=record)

    async def _finish(self, run: Run, plan: Plan, totals: Totals, ending: _Ending) -> None:
        status, error, ttft, started = ending.status, ending.error, ending.ttft, ending.started
        if run.approvals:
            await approvals.end(self.factory, message_id=run.message_id)

        def save(connection: Connection) -> None:  # nothing to save if the chat was deleted
            now = clock.now()
            final = {
                "message": run.message_id,
                **run.streamed(),
                "status": status,
                "prompt_tokens": totals.prompt_tokens,
                "completion_tokens": totals.completion_tokens,
                "cost_micros": totals.cost_micros,
                "usage_estimated": totals.estimated,
                "ttft_ms": round(ttft * 1000) if ttft is not None else None,
                "duration_ms": round((time.monotonic() - started) * 1000),
                "error_code": error.code if error else None,
                "error_message": error.message if error else None,
                "finished_at": now,
                "updated_at": now,
                "citations": plan.citations or None,
                "tool_events": totals.tool_events or None,
            }
            followed = connection.execute(_FINAL, final).scalar_one_or_none()
            saved_stream.wake_followers(connection, run.message_id, bool(followed))

        if not plan.call.settled:  # the last call's bill and the answer's final state: one commit
            await self._settle(plan, ending.step, ending.step_prompt, totals, status, then=save)
        else:
            await run_write(self.factory, save)
        usage_body = None
        if status != MessageStatus.FAILED:
            usage_body = {
                "promptTokens": totals.prompt_tokens,
                "completionTokens": totals.completion_tokens,
                "costMicros": totals.cost_micros,
            }
        error_body = {"code": error.code, "message": error.message} if error else None
        run.finish(status, usage=usage_body, error=error_body, citations=plan.citations)
        self.registry.forget_later(run)


def _checkpoint(connection: Connection, values: dict[str, Any]) -> bool:
    saved = connection.execute(_CHECKPOINT, values).one_or_none()
    saved_stream.wake_followers(connection, values["message"], saved is not None and saved.followed)
    return saved is None or bool(saved.cancel_requested)


class _NotConnected(Exception):
    """The first model call failed before any token (the request gets a JSON error)."""

    def __init__(self, error: SwitchboardError) -> None:
        super().__init__(error.message)
        self.error = error


def _final(
    status: MessageStatus, error: SwitchboardError | None, cancel_reason: MessageStatus | None
) -> tuple[MessageStatus, SwitchboardError | None]:
    """The answer's final status and error, once generation has stopped."""
    if cancel_reason and status == MessageStatus.COMPLETE:
        status = cancel_reason
    if status == MessageStatus.INTERRUPTED:  # only shutdown interrupts a live answer
        error = error or ShuttingDown()
    return status, error


def _saved(outcome: Outcome) -> dict[str, Any]:
    call = outcome.call
    saved = {"id": call.id, "name": call.name, "arguments": call.arguments}
    return saved | {"ok": outcome.ok, "content": outcome.content}


async def _shielded(work: Any) -> None:
    """Finish saving and settling even when shutdown cancels the task that does it."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        log.warning("shutdown while saving an answer; the save goes on")
        await task
