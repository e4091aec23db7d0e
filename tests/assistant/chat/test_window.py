"""A turn reads its branch from the newest message up, only as far as the context window reaches."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, update
from sqlalchemy.engine import Engine

from assistant.attachments.prompt import Attached
from assistant.chat import history, window
from assistant.models import Chat, Message
from core import clock, ids
from core.database import write_transaction
from tests.api.chat_calls import say, sent_to_model
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness

pytestmark = pytest.mark.anyio

SMALL = "fake-small"  # a 200-token context window (tests/support.py)
TURNS = 200


async def _give_history(harness: AppHarness, chat_id: str) -> list[dict[str, str]]:
    """`TURNS` questions and answers in the chat, chained by parent, the last one active."""
    rows, parent, start = [], None, clock.now()
    for number in range(TURNS * 2):
        role = "user" if number % 2 == 0 else "assistant"
        stamp, message_id = start + timedelta(microseconds=number), ids.new_id()
        content = f"{'Question' if role == 'user' else 'Answer'} number {number // 2}."
        rows.append(
            {
                "id": message_id,
                "chat_id": chat_id,
                "parent_id": parent,
                "role": role,
                "content": content,
                "created_at": stamp,
                "updated_at": stamp,
            }
        )
        parent = message_id
    async with write_transaction(harness.services.sessions) as session:
        await session.execute(insert(Message), rows)
        await session.execute(update(Chat).where(Chat.id == chat_id).values(active_leaf_id=parent))
    return [{"role": str(row["role"]), "content": str(row["content"])} for row in rows]


@contextmanager
def _message_rows_read() -> Iterator[list[int]]:
    """Counts the rows every SELECT of `assistant_message` returns while the block runs."""
    read: list[int] = []

    def count(conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if "assistant_message" in statement and statement.lstrip()[:6] in {"SELECT", "WITH R"}:
            # Run again on a cursor of its own (same transaction, same rows): the turn's cursor
            # is left to be read as it would be.
            side = conn.connection.dbapi_connection.cursor()
            try:
                side.execute(statement, parameters)
                read.append(len(side.fetchall()))
            finally:
                side.close()

    event.listen(Engine, "after_cursor_execute", count)
    try:
        yield read
    finally:
        event.remove(Engine, "after_cursor_execute", count)


async def test_a_turn_on_a_long_chat_reads_only_the_messages_its_window_can_hold(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave(SMALL, text="ok", chunks=1)
    chat_id = await harness.chat(harness.admin, model=SMALL, title="Long")
    turns = await _give_history(harness, chat_id)
    with _message_rows_read() as read:
        answer = await say(harness, chat_id, "And then?")
    sent = [{"role": r, "content": c} for r, c in sent_to_model(upstream) if r != "system"]
    whole = [*turns, {"role": "user", "content": "And then?"}]
    assert 2 < len(sent) < 40 and sent == whole[-len(sent) :]
    assert answer["droppedTurns"] == len(whole) - len(sent)
    assert 0 < sum(read) <= 80, read  # of the chat's 400 messages

    regenerated = await harness.client.post(
        f"/api/chats/{chat_id}/messages/{answer['id']}/_regenerate",
        headers=harness.admin.headers,
    )
    assert regenerated.status_code == 201, regenerated.text
    again = [{"role": r, "content": c} for r, c in sent_to_model(upstream) if r != "system"]
    assert again == sent and regenerated.json()["droppedTurns"] == answer["droppedTurns"]


async def test_a_branch_read_in_several_stretches_fits_as_when_read_whole(
    harness: AppHarness,
) -> None:
    chat_id = await harness.chat(harness.admin, model=SMALL, title="Stretches")
    turns = await _give_history(harness, chat_id)
    factory = harness.services.sessions
    chat, branch = await window.open_turn(
        factory, user_id=harness.admin.id, chat_id=chat_id, chars=lambda _model: 1
    )
    assert len(branch.nodes) == window.MIN_NODES and branch.above is not None
    new = {"role": "user", "content": "And then?"}
    model = harness.services.catalog.resolve(SMALL)
    prompt = await window.fit(
        factory,
        chat_id=chat.id,
        above=branch.above,
        attached=Attached(turns=[*history.turns(branch.nodes), new]),
        model=model,
        system="Be brief.",
    )
    whole = history.fit(
        [*turns, new], model=SMALL, context_tokens=model.max_input_tokens, system="Be brief."
    )
    assert prompt == whole and 0 < whole.dropped < len(turns)
