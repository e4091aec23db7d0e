"""The identity epoch: a missing row (a database emptied by hand) is read as None on every path,
so callers read afresh instead of failing."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from core import auth_epoch
from core.database import write_transaction
from core.models import AuthEpoch
from tests.support import AppHarness

pytestmark = pytest.mark.anyio


async def test_without_the_epoch_row_requests_authenticate_afresh_and_nothing_is_kept(
    harness: AppHarness,
) -> None:
    factory = harness.services.sessions
    assert (await harness.client.get("/api/me", headers=harness.admin.headers)).status_code == 200
    async with write_transaction(factory) as session:
        await session.execute(delete(AuthEpoch))
    assert await auth_epoch.current(factory) is None
    for _ in range(2):
        response = await harness.client.get("/api/me", headers=harness.admin.headers)
        assert response.status_code == 200, response.text
