"""The chat list's search as a chat's text grows: many words, answers written piece by piece.

On PostgreSQL a single word is found through each chat's distinct words (migration
assistant_0020), kept in parts by triggers as messages are written; these check that what they
keep finds what the messages hold, and only that (on SQLite the same searches run through its
own index).
"""

from __future__ import annotations

import pytest
from sqlalchemy import update

from assistant.models import Message
from tests.support import AppHarness

pytestmark = pytest.mark.anyio


async def found(harness: AppHarness, q: str) -> list[str]:
    response = await harness.client.get(
        "/api/chats", params={"q": q}, headers=harness.admin.headers
    )
    assert response.status_code == 200, response.text
    return [chat["id"] for chat in response.json()["_embedded"]["chats"]]


async def test_words_past_a_parts_size_and_answers_written_by_appending_are_all_found(
    harness: AppHarness,
) -> None:
    chat = await harness.chat(harness.admin, title="Long")
    other = await harness.chat(harness.admin, title="Other")
    many = " ".join(f"w{i}x" for i in range(1200))  # more words than a part holds
    async with harness.services.sessions() as session:
        session.add(Message(chat_id=chat, role="user", content="opening aardvark " + many))
        session.add(Message(chat_id=other, role="user", content="nothing to see"))
        answer = Message(chat_id=chat, role="assistant", content="The capital is Canb")
        session.add(answer)
        await session.commit()
        for more in ("erra, and", " the zebu"):  # an answer saved as it streams
            await session.execute(
                update(Message)
                .where(Message.id == answer.id)
                .values(content=Message.content + more)
            )
            await session.commit()
        session.add(Message(chat_id=chat, role="user", content="and a late quokka"))
        await session.commit()

    for word in ("aardvark", "w0x", "w1199x", "canberra", "canb", "zebu", "quokka", "quok"):
        assert await found(harness, word) == [chat], word
    assert await found(harness, "canberras") == []
    assert await found(harness, "nothing") == [other]

    async with harness.services.sessions() as session:  # corrected: its words go
        await session.execute(
            update(Message).where(Message.id == answer.id).values(content="Sydney")
        )
        await session.commit()
    assert await found(harness, "zebu") == []
    assert await found(harness, "canb") == []
    assert await found(harness, "sydney") == [chat]
    assert await found(harness, "w600x") == [chat]
