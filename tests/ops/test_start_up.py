"""Start-up on a fresh database: processes starting together migrate and bootstrap one at a time."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from core import database
from core.models import ServingProcess, User
from tests.fakes.upstream import FakeUpstream
from tests.postgres import SKIP_REASON, create_database, drop_database, server_url
from tests.served import serve
from tests.support import ADMIN, PASSWORD, Harnesses, eventually

pytestmark = pytest.mark.anyio
ADMIN_ENV = {"SWITCHBOARD_ADMIN_USERNAME": ADMIN, "SWITCHBOARD_ADMIN_PASSWORD": PASSWORD}


@pytest.fixture(
    params=[
        pytest.param("sqlite", marks=pytest.mark.sqlite),
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ]
)
def fresh_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """ "" (a SQLite file the server makes in its data dir) or an empty PostgreSQL database."""
    if request.param == "sqlite":
        yield ""
        return
    server = server_url()
    if server is None:
        pytest.skip(SKIP_REASON)
    url = create_database(server, migrate=False)
    try:
        yield url
    finally:
        drop_database(server, url)


async def _counts(url: str) -> tuple[int, int]:
    """(users, serving processes) in the database."""
    engine = database.create_engine(database.async_url(url))
    try:
        async with database.sessionmaker(engine)() as session:
            users = await session.scalar(select(func.count()).select_from(User))
            served = await session.scalar(select(func.count()).select_from(ServingProcess))
            return int(users or 0), int(served or 0)
    finally:
        await engine.dispose()


async def test_two_workers_on_a_fresh_database_migrate_and_make_the_admin_once(
    fresh_database: str, fake_upstream_server: FakeUpstream, tmp_path: Path
) -> None:
    upstream = fake_upstream_server.base_url
    with serve(
        tmp_path, upstream, database_url=fresh_database, workers=2, env=ADMIN_ENV, fresh=True
    ) as served:

        async def both_serving() -> tuple[int, int] | None:
            counts = await _counts(served.database_url)
            return counts if counts[1] >= 2 else None

        # the second worker serves once the first has started
        counts = await eventually(both_serving, seconds=60, interval=0.1)
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
            login = await client.post(
                "/api/auth/login", json={"username": ADMIN, "password": PASSWORD}
            )
        assert login.status_code == 200, login.text
        assert counts == (1, 2)
        output = served.output()
    assert "Traceback" not in output and "Child process" not in output, output


async def test_start_up_freezes_what_it_made_out_of_full_collections(
    make_harness: Harnesses,
) -> None:
    # A full garbage collection over start-up's objects held the loop for 150-210 ms (core.heap).
    before = gc.get_freeze_count()
    await make_harness()
    assert gc.get_freeze_count() > before


def _gauge(metrics: str, name: str = "switchboard_model_gateway_state") -> float:
    """A gauge from a /metrics page (the gateway's state: 0 cold, 1 warming up, 2 warm)."""
    line = next(x for x in metrics.splitlines() if x.startswith(name))
    return float(line.split()[-1])


@pytest.mark.parametrize("warm", ["start", "sign-in", "off"])
async def test_a_served_app_warms_the_gateway_up_at_start_up_or_at_the_first_signed_in_request(
    warm: str, fake_upstream_server: FakeUpstream, tmp_path: Path
) -> None:
    # A fresh server's first answer would otherwise wait seconds for tiktoken's tables (and
    # LiteLLM's import, for a model that needs it); an unused one need not hold them (sign-in,
    # the default, waits for someone to sign in).
    env = {"SWITCHBOARD_WARM_START": warm, "SWITCHBOARD_LOG_LEVEL": "INFO"}
    with serve(tmp_path, fake_upstream_server.base_url, env=env) as served:
        async with httpx.AsyncClient(base_url=served.url) as anonymous:
            assert (await anonymous.get("/api/health")).status_code == 200
            assert (await anonymous.get("/api/chats")).status_code == 401
        before_sign_in = served.output()
        async with httpx.AsyncClient(base_url=served.url, headers=served.headers) as client:

            async def state() -> float:
                return _gauge((await client.get("/metrics")).text)

            async def loaded() -> bool:
                return await state() == 2

            if warm == "off":
                assert await state() == 0
            else:  # loading from the trigger on, then loaded without any model call
                assert await state() >= 1
                await eventually(loaded, seconds=60, interval=0.1)
            # its one model is called directly: the warm-up loads tiktoken, not LiteLLM
            metrics = (await client.get("/metrics")).text
            assert _gauge(metrics, "switchboard_litellm_loaded") == 0
        output = served.output()
    started = "warming up the model gateway (start-up)" in before_sign_in
    assert started == (warm == "start"), before_sign_in
    signed_in = "warming up the model gateway (a first signed-in request)"
    assert (signed_in in output) == (warm == "sign-in"), output
    assert "warming up the model gateway failed" not in output
