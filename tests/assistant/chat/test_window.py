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
from assistant.chat.turns import Turn
from assistant.models import Chat, Message
from core import clock, ids
from core.database import write_transaction
from tests.api.chat_calls import say, sent_to_model
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness

pytestmark = pytest.mark.anyio

SMALL = "fake-small"  # a 200-token context window (tests/support.py)
TURNS = 200


async def _give_history(
    harness: AppHarness, chat_id: str, *, counted: bool = True, empty: int | None = None
) -> list[dict[str, str]]:
    """`TURNS` questions and answers in the chat, chained by parent, the last one active; with
    `counted`, each with its `history_turns` as the app writes it; answer number `empty` was
    cancelled before it said anything (no turn). Returns the turns the branch sends."""
    rows, parent, start, above = [], None, clock.now(), 0
    for number in range(TURNS * 2):
        role = "user" if number % 2 == 0 else "assistant"
        stamp, message_id = start + timedelta(microseconds=number), ids.new_id()
        content = f"{'Question' if role == 'user' else 'Answer'} number {number // 2}."
        status = "complete"
        if role == "assistant" and number // 2 == empty:
            content, status = "", "cancelled"
        rows.append(
            {
                "id": message_id,
                "chat_id": chat_id,
                "parent_id": parent,
                "role": role,
                "content": content,
                "status": status,
                "history_turns": above if counted else None,
                "created_at": stamp,
                "updated_at": stamp,
            }
        )
        parent, above = message_id, above + (1 if content else 0)
    async with write_transaction(harness.services.sessions) as session:
        await session.execute(insert(Message), rows)
        await session.execute(update(Chat).where(Chat.id == chat_id).values(active_leaf_id=parent))
    return [
        {"role": str(row["role"]), "content": str(row["content"])} for row in rows if row["content"]
    ]


@contextmanager
def _message_rows_read() -> Iterator[list[int]]:
    """Counts the rows every SELECT of `assistant_message` returns while the block runs (a
    walk that counts the rest of a branch in the database shows as -1, a count of the chat's
    messages as -2)."""
    read: list[int] = []

    def count(conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if "assistant_message" in statement and statement.lstrip()[:6] in {"SELECT", "WITH R"}:
            # Run again on a cursor of its own (same transaction, same rows): the turn's cursor
            # is left to be read as it would be.
            if "count(*)" in statement:  # a size, or a walk (reads no row into the app)
                read.append(-1 if "RECURSIVE" in statement else -2)
                return
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
    assert 0 < sum(n for n in read if n > 0) <= 80, read  # of the chat's 400 messages
    assert -1 not in read and -2 not in read, read  # 399 turns above the leaf: no count
    async with harness.services.sessions() as session:
        saved = await session.get(Message, answer["id"])
    assert saved is not None and saved.history_turns == len(whole)

    regenerated = await harness.client.post(
        f"/api/chats/{chat_id}/messages/{answer['id']}/_regenerate",
        headers=harness.admin.headers,
    )
    assert regenerated.status_code == 201, regenerated.text
    again = [{"role": r, "content": c} for r, c in sent_to_model(upstream) if r != "system"]
    assert again == sent and regenerated.json()["droppedTurns"] == answer["droppedTurns"]

    edited = await harness.client.post(
        f"/api/chats/{chat_id}/messages/{answer['parentId']}/_edit",
        json={"content": "And after that?"},
        headers=harness.admin.headers,
    )
    assert edited.status_code == 201, edited.text
    after = [{"role": r, "content": c} for r, c in sent_to_model(upstream) if r != "system"]
    assert after == [*sent[:-1], {"role": "user", "content": "And after that?"}]


async def test_a_branch_read_in_several_stretches_fits_as_when_read_whole(
    harness: AppHarness,
) -> None:
    chat_id = await harness.chat(harness.admin, model=SMALL, title="Stretches")
    turns = await _give_history(harness, chat_id, counted=False)
    factory = harness.services.sessions
    chat, branch = await window.open_turn(
        factory, user_id=harness.admin.id, chat_id=chat_id, window_tokens=lambda _model: 1
    )
    assert len(branch.nodes) == window.MIN_NODES and branch.above is not None
    new = {"role": "user", "content": "And then?"}
    model = harness.services.catalog.resolve(SMALL)
    last = branch.nodes[-1].id
    turn = Turn(path=branch.nodes, above=branch.above, parent_id=last, content="?", source="chat")
    with _message_rows_read() as read:
        prompt, history_turns = await window.fit(
            factory,
            turn=turn,
            chat_id=chat.id,
            attached=Attached(turns=[*history.turns(branch.nodes), new]),
            model=model,
            system="Be brief.",
        )
    whole = history.fit(
        [*turns, new], model=SMALL, context_tokens=model.max_input_tokens, system="Be brief."
    )
    assert prompt.messages == whole.messages and prompt.dropped == whole.dropped
    assert prompt.prompt_tokens == whole.prompt_tokens and 0 < whole.dropped < len(turns)
    assert history_turns == len(turns) and -1 in read  # no stored counts: walked


async def test_correcting_an_empty_answer_counts_it_among_the_turns_left_out(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave(SMALL, text="ok", chunks=1)
    chat_id = await harness.chat(harness.admin, model=SMALL, title="Corrected")
    turns = await _give_history(harness, chat_id, empty=3)  # far above the window
    await say(harness, chat_id, "And then?")
    listed = await harness.client.get(
        f"/api/chats/{chat_id}/messages", params={"limit": 10}, headers=harness.admin.headers
    )
    empty = [m for m in listed.json()["_embedded"]["messages"] if m["status"] == "cancelled"]
    corrected = await harness.client.patch(
        f"/api/chats/{chat_id}/messages/{empty[0]['id']}",
        json={"content": "What I meant to say."},
        headers=harness.admin.headers,
    )
    assert corrected.status_code == 200, corrected.text
    second = await say(harness, chat_id, "And then?")
    sent = [m for m in sent_to_model(upstream) if m[0] != "system"]
    # The corrected answer, the first turn's question and answer, and the new question.
    assert second["droppedTurns"] == len(turns) + 1 + 2 + 1 - len(sent)


@contextmanager
def _selects() -> Iterator[list[str]]:
    """The SELECT statements run while the block does (any connection of any engine)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip()[:6] in {"SELECT", "WITH R"}:
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


async def test_a_turn_of_a_chat_without_files_asks_about_attachments_once_with_the_chat(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave(SMALL, text="ok", chunks=1)
    chat_id = await harness.chat(harness.admin, model=SMALL, title="No files")
    await say(harness, chat_id, "Hello?")
    with _selects() as seen:
        await say(harness, chat_id, "And then?")
    about_files = [s for s in seen if "assistant_chat_attachment" in s]
    # The turn's read of the chat says whether an answer is being written and whether files
    # were sent with its messages: nothing more to ask about attachments.
    assert len(about_files) == 1, about_files
    assert "assistant_chat.active_leaf_id" in about_files[0] and "streaming" in about_files[0]
