"""`/v1/chat/completions` with image parts, as SDK clients send them: reserved and settled by a
fixed estimate per image, never by the length of its base64 text."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from billing.models import LedgerEntry
from core import tokens
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness

pytestmark = pytest.mark.anyio


async def test_an_image_part_is_metered_as_one_image_not_as_its_base64_text(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", usage=False)
    image = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 120).decode()
    content = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image}"}},
    ]
    response = await harness.client.post(
        "/v1/chat/completions",
        # No usage from the provider: the reservation's estimate settles the call.
        json={"model": "fake", "messages": [{"role": "user", "content": content}], "stream": True},
        headers=harness.admin.headers,
    )
    assert response.status_code == 200, response.text
    assert upstream.recorder.requests[-1]["messages"][0]["content"][1]["type"] == "image_url"
    async with harness.services.sessions() as session:
        entry = (await session.scalars(select(LedgerEntry).where(LedgerEntry.source == "v1"))).one()
    assert entry.estimated
    text = tokens.count_text("What is in this picture?", "fake")
    assert tokens.IMAGE_TOKENS + text <= entry.prompt_tokens <= tokens.IMAGE_TOKENS + text + 10
