"""What a turn answers, as the engine plans it: the branch before it and where its answer goes.

Most turns write a new answer (`branches.new_turn`); a continued turn goes on writing an answer
that stopped (`Continued`): its text, reasoning and usage so far are where the new ones start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, update

from assistant.chat import branches
from assistant.chat.generation import Plan, Totals
from assistant.chat.runs import Run, Thought
from assistant.chat.text_buffer import TextBuffer
from assistant.errors import StillStreaming
from assistant.schemas import MessageStatus
from core import clock

_MESSAGES = branches.MESSAGES
# Only an answer that is not being written already: two continues at once start one.
_RESUME = update(_MESSAGES).where(
    _MESSAGES.c.id == bindparam("message"), _MESSAGES.c.status != MessageStatus.STREAMING
)


@dataclass(frozen=True, kw_only=True)
class Continued:
    """An answer a turn goes on writing: what it holds, and what the model is shown of it."""

    answer_id: str
    model: str  # the model that goes on writing it
    text: str
    reasoning: str
    thoughts: list[Thought]
    totals: Totals  # its usage so far: the continuation's calls add to it
    tail: list[dict[str, Any]]  # after the history: the answer so far (and the ask to go on)
    process_id: str | None
    question_id: None = None  # no new user message

    def write(self, connection: Connection) -> None:
        """Mark the answer `streaming` again, written by this process (in the admission's
        transaction).

        Raises:
            StillStreaming: another request started writing it meanwhile.
        """
        values = {
            "message": self.answer_id,
            "status": MessageStatus.STREAMING,
            "process_id": self.process_id,
            "model": self.model,
            "call_reservation_id": None,  # the new call's, from its first checkpoint
            "cancel_requested": False,
            "error_code": None,
            "error_message": None,
            "finished_at": None,
            "updated_at": clock.now(),
            "call_text_start": len(self.text),
            "call_reasoning_start": len(self.reasoning),
        }
        if not connection.execute(_RESUME, values).rowcount:
            raise StillStreaming()

    def run(self, plan: Plan) -> Run:
        """The run that goes on from the saved text and reasoning."""
        run = Run(
            chat_id=plan.chat.id,
            message_id=self.answer_id,
            model=plan.model.name,
            dropped_turns=plan.prompt.dropped,
            answer=TextBuffer(self.text),
            reasoning=TextBuffer(self.reasoning),
        )
        run.resume(self.thoughts)
        return run

    @property
    def since(self) -> str:
        """The event id of what the client already has: the saved text and reasoning."""
        return f"{len(self.text)}:t{len(self.reasoning)}"


@dataclass(frozen=True, kw_only=True)
class Turn:
    """What a turn answers: the branch before it, where it hangs, and the user's new words."""

    path: list[branches.Node]  # the newest part of it, as far as the turn read (`window`)
    parent_id: str | None
    content: str | None  # None regenerates: the answer follows the path's last user message
    source: str
    first: bool = False  # the chat's first turn, still titled "New chat"
    attachment_ids: tuple[str, ...] = ()  # the chat's attachments the new message carries
    continued: Continued | None = None  # the answer it goes on writing, instead of a new one
    above: str | None = None  # the parent of path's first message when the read stopped there
    files_sent: bool = True  # whether files were sent with the chat's messages (or unknown)
