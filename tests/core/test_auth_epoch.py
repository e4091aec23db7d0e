"""The identity epoch: a missing row (a database emptied by hand) is read as None on every path,
so callers read afresh instead of failing; the SQLite file's own reading connection closes with
the app."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import delete

from core import auth_epoch
from core.database import write_transaction
from core.models import AuthEpoch
from tests.support import AppHarness, Harnesses

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


def _open_files(folder: Path) -> list[str]:
    """What this process has open under `folder`."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith(f"{folder}/"):
            found.append(target)
    return found


@pytest.mark.sqlite
async def test_a_stopped_app_leaves_none_of_its_database_files_open(
    make_harness: Harnesses, tmp_path: Path
) -> None:
    # One connection left open holds the WAL file's lock, and SQLite then keeps open every
    # descriptor of the connections closed meanwhile: a process starting apps one after another
    # (the suite's workers) ran out of low descriptors.
    folder = tmp_path / "stopped"
    async with make_harness.running(path=folder, database_url="") as stopped:
        signed_in = await stopped.client.get("/api/me", headers=stopped.admin.headers)
        assert signed_in.status_code == 200, signed_in.text
        assert any(name.endswith("switchboard.db") for name in _open_files(folder))
    assert _open_files(folder) == []
