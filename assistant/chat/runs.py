"""Answers being generated, apart from the request that started them, and the events they emit.

A `Run` lives in the process that generates it. Event ids are character offsets into the answer
(`"42"` after a delta, `"42:usage"`, `"42:done"`), so a client re-attaching with `Last-Event-ID`
gets exactly the text it missed, whether from this process's run or from the saved checkpoint.
Events between model steps (`toolCall`, `approvalRequired`, `toolResult`) carry `"42:e3"`: the
offset they happened at and their number.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from assistant.schemas import FINAL_STATUSES, MessageStatus
from core.errors import Unavailable

__all__ = ["FINAL_STATUSES", "Run", "RunRegistry", "ShuttingDown", "StreamEvent"]


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
class Run:
    """One answer being generated in this process."""

    chat_id: str
    message_id: str
    model: str
    dropped_turns: int = 0
    text: str = ""
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
    extras: list[tuple[int, StreamEvent]] = field(default_factory=list)
    approvals: dict[str, asyncio.Future[bool]] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def emit(self, name: str, data: dict[str, Any]) -> None:
        """Publish an event between model steps (tool calls and results, approval requests)."""
        offset = len(self.text)
        event = StreamEvent(f"{offset}:e{len(self.extras)}", name, data)
        self.extras.append((offset, event))
        self._notify()

    def decide(self, call_id: str, approve: bool) -> bool:
        """Wake the wait for a decision on a tool call (recorded in the database by
        `approvals.decide`); False when no such call waits in this process."""
        decision = self.approvals.get(call_id)
        if decision is None or decision.done():
            return False
        decision.set_result(approve)
        return True

    def append(self, text: str) -> None:
        """Add streamed text and wake the followers."""
        self.text += text
        self._notify()

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
        sent, stage = parse_event_id(last_event_id)
        extras = _extras_seen(self.extras, sent, stage)
        if last_event_id is None:
            yield start_event(self.chat_id, self.message_id, self.model, self.dropped_turns)
        while True:
            changed = self._changed
            for offset, event in self.extras[extras:]:
                if offset > sent:  # the text before the event goes first
                    yield StreamEvent(str(offset), "delta", {"text": self.text[sent:offset]})
                    sent = offset
                yield event
                extras += 1
            if len(self.text) > sent:
                yield StreamEvent(str(len(self.text)), "delta", {"text": self.text[sent:]})
                sent = len(self.text)
            if self.finished.is_set():
                for event in final_events(
                    sent,
                    stage,
                    self.message_id,
                    self.status,
                    self.usage,
                    self.error,
                    citations=self.citations,
                ):
                    yield event
                return
            await changed.wait()


def _extras_seen(extras: list[tuple[int, StreamEvent]], sent: int, stage: str) -> int:
    """How many step events a client that saw up to (`sent`, `stage`) has had."""
    if stage.startswith("e") and stage[1:].isdigit():
        return int(stage[1:]) + 1
    if stage in {"citations", "usage", "done"}:  # everything before the end
        return len(extras)
    return sum(1 for offset, _ in extras if offset < sent)


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
    if citations and stage not in {"citations", "usage", "done"}:
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
        loop.call_later(self.keep_seconds, self.runs.pop, run.message_id, None)

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
