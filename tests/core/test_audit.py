"""The audit log: events commit or roll back with the change they describe, failures are kept
standalone, secrets never reach the details, and old events are dropped by the background loop."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import audit, clock
from core.database import write_transaction
from core.models import AuditEvent
from tests.support import AppHarness, Harnesses, eventually

pytestmark = pytest.mark.anyio


async def _kinds(harness: AppHarness) -> list[str]:
    async with harness.services.sessions() as session:
        return list(await session.scalars(select(AuditEvent.kind).order_by(AuditEvent.at)))


async def test_an_event_is_kept_only_if_its_transaction_commits_unless_standalone(
    harness: AppHarness,
) -> None:
    factory = harness.services.sessions
    with pytest.raises(RuntimeError):
        async with write_transaction(factory) as session:
            await audit.record(session, kind="test.rolled_back", actor_id=harness.admin.id)
            raise RuntimeError("the change failed")
    async with write_transaction(factory) as session:
        await audit.record(session, kind="test.committed", subject_type="user", subject_id="u1")
    await audit.record_standalone(factory, kind="test.failed", details={"username": "x"})
    kinds = await _kinds(harness)
    assert "test.rolled_back" not in kinds
    assert {"test.committed", "test.failed"} <= set(kinds)


def test_details_never_keep_a_value_under_a_secret_naming_key() -> None:
    details = audit.redact(
        {
            "password": "hunter2",
            "newPassword": "x",
            "token": "sb_abc",
            "code": "123456",
            "recoveryCodes": ["a"],
            "clientSecret": "s",
            "apiKey": "k",
            "nested": {"secret": "s", "secretName": "OPENAI"},
            "tokenId": "t1",
            "secretName": "GITHUB",
            "username": "ann",
        }
    )
    assert details == {
        "password": audit.REDACTED,
        "newPassword": audit.REDACTED,
        "token": audit.REDACTED,
        "code": audit.REDACTED,
        "recoveryCodes": audit.REDACTED,
        "clientSecret": audit.REDACTED,
        "apiKey": audit.REDACTED,
        "nested": {"secret": audit.REDACTED, "secretName": "OPENAI"},
        "tokenId": "t1",
        "secretName": "GITHUB",
        "username": "ann",
    }


async def test_events_past_the_retention_are_dropped_by_the_background_loop(
    make_harness: Harnesses,
) -> None:
    harness = await make_harness(audit_retention_days=30, webhook_poll_seconds=0.05)
    factory = harness.services.sessions
    async with write_transaction(factory) as session:
        old = await audit.record(session, kind="test.old")
        old.at = clock.now() - timedelta(days=31)
        await audit.record(session, kind="test.recent")

    async def pruned() -> list[str] | None:
        kinds = await _kinds(harness)
        assert "test.recent" in kinds
        return None if "test.old" in kinds else kinds

    await eventually(pruned)
