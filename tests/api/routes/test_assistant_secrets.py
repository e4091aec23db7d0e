"""Assistant secrets: never shown, logged or prompted; bound to their row; rotated keys."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select

from api.routes.assistant_secrets import get_keyring
from assistant.assistants import keyring, secrets
from assistant.errors import SecretUnreadable
from assistant.models import Secret
from core.database import write_transaction
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness

pytestmark = pytest.mark.anyio


async def new_assistant(harness: AppHarness, name: str) -> str:
    response = await harness.client.post(
        "/api/assistants",
        json={"name": name, "instructions": "Use tools.", "visibility": "instance"},
        headers=harness.admin.headers,
    )
    assert response.status_code == 201
    return str(response.json()["id"])


async def test_canary_values_appear_in_no_response_log_or_prompt(
    harness: AppHarness,
    upstream: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    bob = await harness.member("bob")
    admin = harness.admin.headers
    canaries = {f"canary-{n:02d}-Zq8x": n for n in range(20)}
    seen: list[str] = []
    ids = [await new_assistant(harness, f"A{i}") for i in range(4)]
    for value, n in canaries.items():
        base = f"/api/assistants/{ids[n % 4]}/secrets"
        if n % 2:
            sent = await harness.client.post(
                base, json={"name": f"KEY_{n}", "value": value}, headers=admin
            )
        else:
            sent = await harness.client.put(f"{base}/KEY_{n}", json={"value": value}, headers=admin)
        assert sent.status_code == 201, sent.text
        seen.append(sent.text)
        for method, path, body in (
            ("POST", base, {"name": f"KEY_{n}", "value": value}),
            ("POST", base, {"name": "bad name", "value": value}),
            ("POST", base, {"name": "OK", "value": value, "extra": value}),
            ("PUT", f"{base}/bad%20name", {"value": value}),
            ("PUT", f"{base}/KEY_{n}", {"value": value, "description": "rotated by hand"}),
            ("GET", f"{base}/KEY_{n}", None),
            ("GET", base, None),
            ("GET", f"{base}/NOPE", None),
        ):
            for headers in (admin, bob.headers):
                answer = await harness.client.request(method, path, json=body, headers=headers)
                assert answer.status_code < 500
                seen.append(answer.text)
    for assistant_id in ids:
        for path in ("", "/export", "/skills", "/memories"):
            seen.append(
                (
                    await harness.client.get(f"/api/assistants/{assistant_id}{path}", headers=admin)
                ).text
            )
        seen.append(
            (
                await harness.client.post(
                    f"/api/assistants/{assistant_id}/_duplicate", headers=admin
                )
            ).text
        )
        chat_id = await harness.chat(harness.admin, assistantId=assistant_id)
        streamed = await harness.client.post(
            f"/api/chats/{chat_id}/messages",
            json={"content": "use the key", "stream": True},
            headers=admin,
        )
        assert "event: done" in streamed.text
        seen.append(streamed.text)
    ring = get_keyring(harness.services)
    async with write_transaction(harness.services.sessions) as session:
        for value, n in canaries.items():
            revealed = await secrets.reveal(
                session, ring=ring, assistant_id=ids[n % 4], name=f"KEY_{n}"
            )
            assert revealed == value
    captured = capsys.readouterr()
    haystacks = {
        "responses": "\n".join(seen),
        "logs": caplog.text,
        "stdout": captured.out,
        "stderr": captured.err,
        "prompts": json.dumps(upstream.recorder.requests),
    }
    assert upstream.recorder.requests and "Use tools." in haystacks["prompts"]
    for where, text in haystacks.items():
        leaked = [value for value in canaries if value in text]
        assert not leaked, f"{where} holds {leaked}"


async def test_a_tampered_or_moved_ciphertext_fails_to_decrypt(harness: AppHarness) -> None:
    ring = get_keyring(harness.services)
    first, second = await new_assistant(harness, "One"), await new_assistant(harness, "Two")
    async with write_transaction(harness.services.sessions) as session:
        for assistant_id in (first, second):
            for name in ("TOKEN", "OTHER"):
                await secrets.create(
                    session, ring=ring, assistant_id=assistant_id, name=name, value="v-" + name
                )
    async with write_transaction(harness.services.sessions) as session:
        row = await secrets.get(session, assistant_id=first, name="TOKEN")
        flipped = bytearray(row.ciphertext)
        flipped[-1] ^= 1
        row.ciphertext = bytes(flipped)
        source = await secrets.get(session, assistant_id=first, name="OTHER")
        target = await secrets.get(session, assistant_id=second, name="TOKEN")
        target.ciphertext, target.key_id = source.ciphertext, source.key_id
        renamed = await secrets.get(session, assistant_id=second, name="OTHER")
        renamed.name = "RENAMED"
    async with harness.services.sessions() as session:
        for assistant_id, name in ((first, "TOKEN"), (second, "TOKEN"), (second, "RENAMED")):
            with pytest.raises(SecretUnreadable):
                await secrets.reveal(session, ring=ring, assistant_id=assistant_id, name=name)
        assert await secrets.reveal(session, ring=ring, assistant_id=first, name="OTHER") == (
            "v-OTHER"
        )


async def test_key_rotation_keeps_a_thousand_secrets_readable(harness: AppHarness) -> None:
    ring = get_keyring(harness.services)
    old_key = ring.current
    ids = [await new_assistant(harness, f"R{i}") for i in range(4)]
    async with write_transaction(harness.services.sessions) as session:
        for n in range(1000):
            await secrets.create(
                session, ring=ring, assistant_id=ids[n % 4], name=f"S{n}", value=f"value-{n}"
            )
    assert await secrets.rotate(harness.services.sessions, ring=ring) == 1000
    assert ring.current != old_key and old_key in ring.keys
    reloaded = keyring.load(harness.services.settings.data_dir)
    assert reloaded.current == ring.current and set(reloaded.keys) == {old_key, ring.current}
    async with harness.services.sessions() as session:
        rows = list(await session.scalars(select(Secret)))
        assert {row.key_id for row in rows} == {ring.current}
        for row in rows:
            assert secrets.open_value(reloaded, row) == f"value-{row.name[1:]}"
