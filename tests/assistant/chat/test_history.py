"""The prompt a turn sends: the chat's history fitted to the context window, counted exactly."""

from __future__ import annotations

import asyncio
import time

import pytest

from assistant.chat import history
from assistant.errors import PromptTooLong
from core import tokens

MODEL = "fake"


def _chat(turns: int, answer: str) -> list[dict[str, str]]:
    messages = []
    for number in range(turns):
        messages.append({"role": "user", "content": f"Question {number}?"})
        messages.append({"role": "assistant", "content": f"{answer} (answer {number})"})
    messages.append({"role": "user", "content": "And now?"})
    return messages


def test_prompt_tokens_are_those_of_the_messages_sent_each_time_the_history_is_sent() -> None:
    messages = _chat(6, "A long answer that is worth remembering. " * 20)
    first = history.fit(messages, model=MODEL, context_tokens=100_000, system="Be brief.")
    again = history.fit(messages, model=MODEL, context_tokens=100_000, system="Be brief.")
    for prompt in (first, again):
        assert prompt.messages == [{"role": "system", "content": "Be brief."}, *messages]
        assert prompt.prompt_tokens == tokens.count_messages(prompt.messages, MODEL)
        assert prompt.dropped == 0


def test_oldest_turns_are_left_out_first_and_the_count_is_of_what_is_kept() -> None:
    messages = _chat(8, "Words that take up room in the context window. " * 10)
    whole = tokens.count_messages(messages, MODEL)
    prompt = history.fit(messages, model=MODEL, context_tokens=whole // 2)
    assert 0 < prompt.dropped < len(messages)
    assert prompt.messages == messages[prompt.dropped :]
    assert prompt.prompt_tokens == tokens.count_messages(prompt.messages, MODEL)
    assert prompt.prompt_tokens <= whole // 2


def test_a_last_message_too_long_for_the_window_is_refused() -> None:
    messages = [{"role": "user", "content": "word " * 400}]
    with pytest.raises(PromptTooLong):
        history.fit(messages, model=MODEL, context_tokens=100)


@pytest.mark.anyio
async def test_a_cold_history_of_long_messages_is_counted_without_holding_the_event_loop() -> None:
    words = " ".join(f"w{number}" for number in range(12_000))  # ~90,000 characters
    messages = [
        {"role": "user" if number % 2 == 0 else "assistant", "content": f"{number} {words}"}
        for number in range(31)
    ]
    fitting = asyncio.ensure_future(
        history.fit_off_loop(messages, model=MODEL, context_tokens=10_000_000)
    )
    # The CPU time this thread (the event loop's) spends between two of its turns: counting
    # inline, one turn takes all of it (~0.4 s); off the loop, a turn takes microseconds. Not the
    # wall clock: on a loaded machine the gaps between turns also count others' work (0.06-0.8 s
    # with six busy processes on two cores).
    busiest = 0.0
    while not fitting.done():
        started = time.thread_time()
        await asyncio.sleep(0.002)
        busiest = max(busiest, time.thread_time() - started)
    prompt = await fitting
    assert prompt.prompt_tokens == tokens.count_messages(messages, MODEL)
    assert busiest < 0.05
