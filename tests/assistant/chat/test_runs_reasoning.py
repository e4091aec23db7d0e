"""Reasoning as a second text of a run: followers get it in one order, and a client re-attaching
with any event id gets exactly what it missed of the answer, the reasoning and the step events."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from assistant.chat.runs import Run, StreamEvent
from assistant.schemas import MessageStatus
from tests.support import eventually

pytestmark = pytest.mark.anyio

# Reasoning, answer text and step events interleaved as a tool loop makes them.
STEPS: list[tuple[str, str]] = [
    ("think", "Let me "),
    ("think", "see."),
    ("text", "Hel"),
    ("text", "lo"),
    ("emit", "toolCall"),
    ("think", "Now the tool."),
    ("emit", "toolResult"),
    ("think", "It says "),
    ("think", "yes."),
    ("text", " world"),
    ("think", "One more."),
    ("text", "!"),
]
TEXT = "Hello world!"
THINKING = "Let me see.Now the tool.It says yes.One more."
STEP_IDS = ["5:e0", "5:e1"]


def _parts(events: Sequence[StreamEvent]) -> tuple[str, str, list[str]]:
    """The answer text, the reasoning and the step events' ids a list of events carries."""
    text = "".join(e.data["text"] for e in events if e.event == "delta")
    thinking = "".join(e.data["text"] for e in events if e.event == "reasoning")
    steps = [e.id for e in events if e.event in {"toolCall", "toolResult"}]
    return text, thinking, steps


async def _collect(run: Run, last_event_id: str | None, into: list[StreamEvent]) -> None:
    async for event in run.follow(last_event_id):
        into.append(event)


async def _play(run: Run, steps: Sequence[tuple[str, str]], live: list[StreamEvent]) -> None:
    """Make the run's steps, each once the live follower has had the one before."""
    for kind, value in steps:
        if kind == "think":
            run.think(value)
        elif kind == "text":
            run.append(value)
        else:
            run.emit(value, {"id": f"call-{run.events}"})
        await eventually(lambda: _parts(live)[:2] == (run.text, run.thinking), interval=0.001)


async def _rest(run: Run, last_event_id: str) -> list[StreamEvent]:
    rest: list[StreamEvent] = []
    await asyncio.wait_for(_collect(run, last_event_id, rest), timeout=5)
    return rest


async def test_reattaching_from_any_event_gets_the_rest_once_in_order() -> None:
    run = Run(chat_id="c", message_id="m", model="fake")
    live: list[StreamEvent] = []
    follower = asyncio.create_task(_collect(run, None, live))
    await _play(run, STEPS[:6], live)
    middle = live[-1].id  # a client that drops here re-attaches while the run goes on
    joined: list[StreamEvent] = []
    rejoining = asyncio.create_task(_collect(run, middle, joined))
    await _play(run, STEPS[6:], live)
    run.finish(MessageStatus.COMPLETE, usage={"completionTokens": 9}, error=None)
    await asyncio.wait_for(asyncio.gather(follower, rejoining), timeout=5)
    late = await _rest(run, "0:start")  # joins once it is all there: one delta per stretch

    for events in (live, late):
        assert _parts(events) == (TEXT, THINKING, STEP_IDS)
        reasoning = [e.id for e in events if e.event == "reasoning"]
        assert len(reasoning) == len(set(reasoning)), "each stretch of reasoning comes once"
        for i, event in enumerate(events[:-1]):
            rest = await _rest(run, event.id)
            assert _parts(events[: i + 1] + rest) == (TEXT, THINKING, STEP_IDS), event.id
    cut = next(i for i, e in enumerate(live) if e.id == middle)
    assert _parts(live[: cut + 1] + joined) == (TEXT, THINKING, STEP_IDS)
    assert live[1].event == "reasoning" and live[1].id == "0:t7", "reasoning before the text"


async def test_the_run_saves_its_reasoning_stretches_and_the_call_they_belong_to() -> None:
    run = Run(chat_id="c", message_id="m", model="fake")
    run.think("Plan. ")
    run.append("Answer")
    run.emit("toolCall", {})
    run.new_call()
    run.think("Again.")
    run.append("!")
    saved = run.streamed()
    assert saved["content"] == "Answer!" and saved["reasoning"] == "Plan. Again."
    assert saved["reasoning_marks"] == [(0, 6, 0), (6, 12, 1)]
    assert (saved["call_text_start"], saved["call_reasoning_start"]) == (6, 6)
    assert run.call_output() == "Again.!"
