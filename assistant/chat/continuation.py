"""Continuing an answer where it stopped: cancelled, cut by its token limit, or a broken stream.

The model is sent the history and the answer so far as an assistant message. Models whose
provider continues such a message (assistant prefill: LiteLLM's `supports_assistant_prefill`,
as Anthropic, Mistral and DeepSeek) get it marked `prefix`; others get a short user message after
it asking to go on. The new text is appended to the same message, saved as it streams like any
answer (a break keeps what was written), and the call is admitted, billed and recorded as any
turn's, with source `continue`; the message's usage becomes the sum of its calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from assistant.chat import window
from assistant.chat.generation import Totals
from assistant.chat.runs import Run, StreamEvent, Thought, start_event
from assistant.chat.turns import Continued, Turn
from assistant.errors import MessageNotFound, NothingToContinue
from assistant.models import Message
from billing.admission import Caller
from core.catalog import CatalogModel, litellm_cost_entry

if TYPE_CHECKING:
    from assistant.chat.engine import ChatEngine, TurnOptions

GO_ON = (
    "Continue exactly where you left off, with no preamble and without repeating anything: "
    "your next words are appended to your previous message."
)


@dataclass(frozen=True)
class Continuing:
    """A continuation under way: its run, and the event id of what was written before it."""

    run: Run
    since: str

    async def events(self) -> AsyncIterator[StreamEvent]:
        """`start`, then only what the continuation adds. Ids go on from the saved text, the
        start's included: a client re-attaching with it gets nothing twice."""
        run = self.run
        start = start_event(run.chat_id, run.message_id, run.model, run.dropped_turns)
        yield StreamEvent(self.since, start.event, start.data)
        async for event in run.follow(self.since):
            yield event


async def continue_answer(
    engine: ChatEngine, *, caller: Caller, chat_id: str, message_id: str, options: TurnOptions
) -> Continuing:
    """Go on writing the last answer of the chat's active branch, with the model that wrote it
    (unless `options.model` names another).

    Raises:
        ChatNotFound: the chat is not the user's.
        MessageNotFound: the chat has no such message.
        StillStreaming: an answer of the chat is still being written.
        NothingToContinue: the message is not the active branch's last answer.
        ProviderError: the provider failed before the first token.
        BillingError: billing refused the call.
    """
    chat, branch = await engine.load_turn(caller, chat_id)
    ending = await window.ending_in_answer(engine.factory, chat, branch, message_id)
    if ending is None:
        raise NothingToContinue()
    async with engine.factory() as session:
        answer = await session.get(Message, message_id)
    if answer is None:
        raise MessageNotFound(message_id=message_id)
    model = engine.catalog.usable(options.model or answer.model or chat.model)
    continued = Continued(
        answer_id=answer.id,
        model=model.name,
        text=answer.content,
        reasoning=answer.reasoning or "",
        thoughts=[_thought(mark) for mark in answer.reasoning_marks or []],
        totals=Totals(
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
            cost_micros=answer.cost_micros,
            estimated=answer.usage_estimated,
            tool_events=list(answer.tool_events or []),
        ),
        tail=tail(model, answer.content),
        process_id=engine.config.process_id,
    )
    before = ending.before_last()
    turn = Turn(
        path=before.nodes,
        above=before.above,
        parent_id=ending.nodes[-1].parent_id,
        content=None,
        source="continue",
        continued=continued,
        files_sent=before.files_sent,
    )
    run = await engine.start_turn(caller, chat, turn, replace(options, model=model.name))
    return Continuing(run, continued.since)


def tail(model: CatalogModel, text: str) -> list[dict[str, Any]]:
    """What follows the history in the prompt: the answer so far, as the model continues it."""
    if not text.strip():  # nothing written yet: the model simply answers
        return []
    if prefills(model):  # providers refuse a prefill that ends in whitespace
        return [{"role": "assistant", "content": text.rstrip(), "prefix": True}]
    return [{"role": "assistant", "content": text}, {"role": "user", "content": GO_ON}]


def prefills(model: CatalogModel) -> bool:
    """Whether the model continues a trailing assistant message (model_info, else LiteLLM's map)."""
    flag = model.info.get("supports_assistant_prefill")
    if flag is None and model.deployments:
        first = str(model.deployments[0].litellm_params["model"])
        flag = litellm_cost_entry(first).get("supports_assistant_prefill")
    return bool(flag)


def _thought(mark: list[int]) -> Thought:
    offset, thought, events = [*mark, 0, 0, 0][:3]
    return (int(offset), int(thought), int(events))
