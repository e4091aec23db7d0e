"""Message statuses: the stored text of every status reads back unchanged over the API."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from assistant.models import Message
from assistant.schemas import FINAL_STATUSES, MessageStatus
from core.database import write_transaction
from tests.support import AppHarness


@pytest.mark.anyio
async def test_every_stored_message_status_reads_back_as_the_same_text(harness: AppHarness) -> None:
    chat_id = await harness.chat(harness.admin)
    sent = await harness.client.post(
        f"/api/chats/{chat_id}/messages", json={"content": "hi"}, headers=harness.admin.headers
    )
    message_id = sent.json()["id"]
    stored = ["streaming", "complete", "incomplete", "cancelled", "interrupted", "failed"]
    assert [status.value for status in MessageStatus] == stored
    for text in stored:
        async with write_transaction(harness.services.sessions) as session:
            await session.execute(
                update(Message).where(Message.id == message_id).values(status=text)
            )
        read = await harness.client.get(
            f"/api/chats/{chat_id}/messages/{message_id}", headers=harness.admin.headers
        )
        assert read.status_code == 200 and read.json()["status"] == text


def test_only_streaming_is_not_a_final_status() -> None:
    assert set(MessageStatus) - FINAL_STATUSES == {MessageStatus.STREAMING}
