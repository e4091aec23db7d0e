"""Answers being generated, apart from the request that started them, and the events they emit.

A `Run` lives in the process that generates it. Event ids are character offsets into the answer
(`"42"` after a delta, `"42:usage"`, `"42:done"`), so a client re-attaching with `Last-Event-ID`
gets exactly the text it missed, whether from this process's run or from the saved checkpoint.
Events between model steps (`toolCall`, `approvalRequired`, `toolResult`) carry `"42:e3"`: the
offset they happened at and their number. The model's reasoning is a second text: `reasoning`
events carry `"42:t17"`, the answer's offset and the reasoning's length after them.

Every follower sends the events in one order (text up to where a step event or a stretch of
reasoning happened, then it), so an id alone says what the client has: with `"42:t17"` 17
characters of reasoning, with `"42:e3"` the reasoning before step event 3, with `"42"` the
reasoning added before the answer reached 42 characters.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from assistant.chat.text_buffer import TextBuffer
from assistant.schemas import FINAL_STATUSES, MessageStatus
from core.errors import Unavailable

__all__ = ["FINAL_STATUSES", "Run", "RunRegistry", "ShuttingDown", "StreamEvent"]
END_STAGES = frozenset({"citations", "usage", "done"})  # a client with these has all but the end


class ShuttingDown(Unavailable):
    """This server is shutting down; retry the request on another instance."""

    code = "shutting_down"


@dataclass(frozen=True)
class StreamEvent:
    """One event of an answer's stream."""

    id: str
    event: str
    data: dict[str, Any]


@dataclass(kw_only=True)
class _Mark:
    """Something that happened at answer offset `offset` besides text, after `events` step
    events: a step event, or reasoning (up to `thought` characters of it)."""

    offset: int
    event: StreamEvent | None = None
    thought: int = 0
    events: int = 0


# A stretch of reasoning as checkpoints save it: (answer offset, reasoning length after it,
# step events before it).
Thought = tuple[int, int, int]


@dataclass(kw_only=True)
class Run:
    """One answer being generated in this process."""

    chat_id: str
    message_id: str
    model: str
    dropped_turns: int = 0
    answer: TextBuffer = field(default_factory=TextBuffer)  # `text`, grown in linear time
    reasoning: TextBuffer = field(default_factory=TextBuffer)  # `thinking`: apart from the answer
    thinking_seconds: float = 0.0
    call_text_start: int = 0  # where the model call under way began, in `text` and `thinking`
    call_thinking_start: int = 0
    status: MessageStatus = MessageStatus.STREAMING
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    cancel_reason: MessageStatus | None = None
    citations: list[dict[str, Any]] | None = None
    task: asyncio.Task[None] | None = None
    connected: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    marks: list[_Mark] = field(default_factory=list)
    events: int = 0  # step events emitted
    approvals: dict[str, asyncio.Future[bool]] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _thinking_since: float | None = None

    @property
    def text(self) -> str:
        """The answer so far (the whole of it: for saves, not for every chunk)."""
        return self.answer.value()

    @property
    def thinking(self) -> str:
        """The model's reasoning so far (the whole of it)."""
        return self.reasoning.value()

    def emit(self, name: str, data: dict[str, Any]) -> None:
        """Publish an event between model steps (tool calls and results, approval requests)."""
        offset = len(self.answer)
        event = StreamEvent(f"{offset}:e{self.events}", name, data)
        self.marks.append(_Mark(offset=offset, event=event, events=self.events))
        self.events += 1
        self._notify()

    def decide(self, call_id: str, approve: bool) -> bool:
        """Wake the wait for a decision on a tool call (recorded in the database by
        `approvals.decide`); False when no such call waits in this process."""
        decision = self.approvals.get(call_id)
        if decision is None or decision.done():
            return False
        decision.set_result(approve)
        return True

    def resume(self, thoughts: Iterable[Thought]) -> None:
        """Go on writing a saved answer (`answer` and `reasoning` hold it): its stretches of
        reasoning, so followers replay them where they happened."""
        self.marks = [_Mark(offset=o, thought=t, events=e) for o, t, e in thoughts]

    def new_call(self) -> None:
        """A model call begins: what it writes starts here."""
        self.call_text_start, self.call_thinking_start = len(self.answer), len(self.reasoning)

    def append(self, text: str) -> None:
        """Add streamed text and wake the followers."""
        self.stop_thinking()
        self.answer.append(text)
        self._notify()

    def think(self, text: str) -> None:
        """Add streamed reasoning and wake the followers."""
        if self._thinking_since is None:
            self._thinking_since = time.monotonic()
        self.reasoning.append(text)
        offset, thought = len(self.answer), len(self.reasoning)
        last = self.marks[-1] if self.marks else None
        if last is not None and last.event is None and last.offset == offset:
            last.thought = thought  # the same stretch goes on
        else:
            self.marks.append(_Mark(offset=offset, thought=thought, events=self.events))
        self._notify()

    def stop_thinking(self) -> None:
        """The model stopped reasoning (it answers, calls a tool or ended): count the time."""
        if self._thinking_since is not None:
            self.thinking_seconds += time.monotonic() - self._thinking_since
            self._thinking_since = None

    def thoughts(self) -> list[Thought]:
        """The stretches of reasoning, as checkpoints save them."""
        return [(m.offset, m.thought, m.events) for m in self.marks if m.event is None]

    def streamed(self) -> dict[str, Any]:
        """What was written so far, as the message's columns (checkpoints and the final save)."""
        values: dict[str, Any] = {"content": self.text, "call_text_start": self.call_text_start}
        if self.reasoning:
            values |= {
                "reasoning": self.thinking,
                "reasoning_ms": round(self.thinking_seconds * 1000),
                "reasoning_marks": self.thoughts(),
                "call_reasoning_start": self.call_thinking_start,
            }
        return values

    def call_output(self) -> str:
        """What the model call under way wrote: its reasoning and text (for counting tokens)."""
        thinking = self.reasoning.substring(self.call_thinking_start)
        return thinking + self.answer.substring(self.call_text_start)

    def finish(
        self,
        status: MessageStatus,
        *,
        usage: dict[str, Any] | None,
        error: dict[str, Any] | None,
        citations: list[dict[str, Any]] | None = None,
    ) -> None:
        """Record the final status (and citations) and wake the followers for the last time."""
        self.status, self.usage, self.error = status, usage, error
        self.citations = citations or None
        self.finished.set()
        self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def follow(self, last_event_id: str | None) -> AsyncIterator[StreamEvent]:
        """The run's events after `last_event_id` (all of them for None), then live ones."""
        async for batch in self.follow_batches(last_event_id):
            for event in batch:
                yield event

    async def follow_batches(self, last_event_id: str | None) -> AsyncIterator[list[StreamEvent]]:
        """`follow`'s events, those ready at once in one list: a stream writes each list at
        once (the start with the text already there, usage with done), not event by event."""
        sent, stage = parse_event_id(last_event_id)
        thought = thought_seen(self.thoughts(), sent, stage, len(self.reasoning))
        cursor = _Cursor(sent=sent, marks=self._marks_seen(sent, stage), thought=thought)
        batch = []
        if last_event_id is None:
            batch.append(start_event(self.chat_id, self.message_id, self.model, self.dropped_turns))
        while True:
            changed = self._changed
            batch += cursor.catch_up(self)
            if self.finished.is_set():
                batch += final_events(
                    cursor.sent,
                    stage,
                    self.message_id,
                    self.status,
                    self.usage,
                    self.error,
                    citations=self.citations,
                )
                yield batch
                return
            if batch:
                yield batch
                batch = []
            await changed.wait()

    def _marks_seen(self, sent: int, stage: str) -> int:
        """How many marks a client that saw up to (`sent`, `stage`) has had."""
        if stage in END_STAGES:
            return len(self.marks)
        number = _stage_number(stage, "e")
        if number is not None:
            return next(
                (
                    i + 1
                    for i, m in enumerate(self.marks)
                    if m.event is not None and m.events == number
                ),
                len(self.marks),
            )
        number = _stage_number(stage, "t")
        if number is not None:  # the stretch it ends in (sent again only if it went on)
            return next(
                (i for i, m in enumerate(self.marks) if m.event is None and m.thought >= number),
                len(self.marks),
            )
        return sum(1 for m in self.marks if m.offset < sent)


@dataclass(kw_only=True)
class _Cursor:
    """How far a follower is: answer characters, marks and reasoning characters sent."""

    sent: int
    marks: int
    thought: int

    def catch_up(self, run: Run) -> list[StreamEvent]:
        """The run's events since the last call, in the one order every follower sends."""
        out = []
        while self.marks < len(run.marks):
            mark = run.marks[self.marks]
            if mark.offset > self.sent:  # the text before the mark goes first
                text = run.answer.substring(self.sent, mark.offset)
                out.append(StreamEvent(str(mark.offset), "delta", {"text": text}))
                self.sent = mark.offset
            if mark.event is not None:
                out.append(mark.event)
            elif mark.thought > self.thought:
                out.append(reasoning_event(self.sent, run.reasoning, self.thought, mark.thought))
                self.thought = mark.thought
            if mark.event is None and self.marks == len(run.marks) - 1:
                break  # the last stretch of reasoning may go on
            self.marks += 1
        length = len(run.answer)
        if length > self.sent:
            text = run.answer.substring(self.sent)
            out.append(StreamEvent(str(length), "delta", {"text": text}))
            self.sent = length
        return out


def thought_seen(thoughts: Iterable[Thought], sent: int, stage: str, total: int) -> int:
    """How much of the reasoning (`total` characters so far) a client that saw up to (`sent`,
    `stage`) has had."""
    if stage in END_STAGES:
        return total
    number = _stage_number(stage, "t")
    if number is not None:
        return min(number, total)
    number = _stage_number(stage, "e")
    if number is not None:  # the stretches before that step event
        return max((end for _, end, events in thoughts if events <= number), default=0)
    return max((end for offset, end, _ in thoughts if offset < sent), default=0)


def _stage_number(stage: str, kind: str) -> int | None:
    """N of a stage `<kind>N` (`e3`, `t17`), else None."""
    if stage.startswith(kind) and stage[1:].isdigit():
        return int(stage[1:])
    return None


def reasoning_event(offset: int, thinking: str | TextBuffer, start: int, end: int) -> StreamEvent:
    """Reasoning from `start` to `end`, sent when the client has the answer up to `offset`."""
    return StreamEvent(f"{offset}:t{end}", "reasoning", {"text": thinking[start:end]})


def start_event(chat_id: str, message_id: str, model: str, dropped_turns: int = 0) -> StreamEvent:
    """The first event of every stream; says so when old turns were left out to fit the model."""
    data: dict[str, Any] = {"chatId": chat_id, "messageId": message_id, "model": model}
    if dropped_turns:
        data["droppedTurns"] = dropped_turns
        data["notice"] = (
            f"The {dropped_turns} oldest messages of this chat did not fit the model's context "
            "window and were left out of this answer."
        )
    return StreamEvent("0:start", "start", data)


def final_events(
    offset: int,
    stage: str,
    message_id: str,
    status: str,
    usage: dict[str, Any] | None,
    error: dict[str, Any] | None,
    citations: list[dict[str, Any]] | None = None,
) -> list[StreamEvent]:
    """`citations` and `usage` (if any and not yet sent) then `done`, or `error` for a stream
    that failed."""
    events = []
    if citations and stage not in END_STAGES:
        events.append(StreamEvent(f"{offset}:citations", "citations", {"citations": citations}))
    if usage is not None and stage not in {"usage", "done"}:
        events.append(StreamEvent(f"{offset}:usage", "usage", usage))
    if stage == "done":
        return events
    ended_badly = {MessageStatus.INCOMPLETE, MessageStatus.FAILED, MessageStatus.INTERRUPTED}
    if error is not None and status in ended_badly:
        events.append(StreamEvent(f"{offset}:done", "error", error))
    else:
        events.append(
            StreamEvent(f"{offset}:done", "done", {"messageId": message_id, "status": status})
        )
    return events


def parse_event_id(last_event_id: str | None) -> tuple[int, str]:
    """The character offset and stage a `Last-Event-ID` names (0 and "" when absent or garbled)."""
    if not last_event_id:
        return 0, ""
    offset, _, stage = last_event_id.strip().partition(":")
    try:
        return max(0, int(offset)), stage
    except ValueError:
        return 0, ""


class RunRegistry:
    """The runs of this process, by message id; finished runs are kept briefly for re-attaching."""

    def __init__(self, keep_seconds: float) -> None:
        self.keep_seconds = keep_seconds
        self.runs: dict[str, Run] = {}

    def add(self, run: Run) -> None:
        """Track a run."""
        self.runs[run.message_id] = run

    def get(self, message_id: str) -> Run | None:
        """A run of this process, if it is still known."""
        return self.runs.get(message_id)

    def forget_later(self, run: Run) -> None:
        """Drop a finished run after the keep period."""
        loop = asyncio.get_running_loop()
        loop.call_later(self.keep_seconds, self._forget, run)

    def _forget(self, run: Run) -> None:
        if self.runs.get(run.message_id) is run:  # not a later run of the same (continued) answer
            del self.runs[run.message_id]

    def active(self) -> list[Run]:
        """Runs still generating."""
        return [r for r in self.runs.values() if not r.finished.is_set()]

    def cancel(self, message_id: str, reason: MessageStatus) -> bool:
        """Stop a run's generation; False when this process is not generating it."""
        run = self.runs.get(message_id)
        if run is None or run.finished.is_set() or run.task is None:
            return False
        run.cancel_reason = run.cancel_reason or reason
        run.task.cancel()
        return True
