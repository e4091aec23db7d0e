"""What one metered `/v1` stream costs PostgreSQL in round trips (each is CPU on both sides).

Counted on the wire (tests/pg_round_trips.py) after a warm-up, so statements are prepared and the
caller's token and terms are cached, as they are for a busy client. Raise `ROUND_TRIPS` only with
a reason: bench/README.md ("Scaling on PostgreSQL") has what each round trip costs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from billing import ledger
from tests.api.billing_builders import admin_team, completion, create_budget, ledger_rows
from tests.pg_round_trips import RoundTrips
from tests.postgres import SKIP_REASON, copy_of_migrated, drop_database, server_url
from tests.support import AppHarness, Harnesses

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

# The identity epoch (auth), the reservation's INSERT (admission), the settlement's one statement;
# before billing/one_trip.py: 10 (BEGIN, the epoch again, COMMIT and three more in settlement).
# With a global and a team budget the same 3 (the holds and the spending ride in those two
# statements); before: 16 (the counters read, held, spent and their thresholds read, in
# transactions). Under per-minute rate limits the same 3 too (each window's event rides in the
# admission's statement); before: 11 (the bucket made, locked, the window cleared, read and
# added to, in a transaction holding the bucket's lock).
ROUND_TRIPS = 3
STREAMS = 5
# A stream open longer than the checkpoint interval also has its delivered tokens reported
# (assistant/gateway/delivery.py: a transaction of its own, time-driven, not per stream); the
# longest interval keeps a stream slowed by a loaded machine from counting one here.
CHECKPOINT_SECONDS = 2.0


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh migrated PostgreSQL database."""
    server = server_url()
    if server is None:
        pytest.skip(SKIP_REASON)
    url = copy_of_migrated(server)
    try:
        yield url
    finally:
        drop_database(server, url)


@pytest.fixture
async def wire(database: str) -> AsyncIterator[RoundTrips]:
    """The round-trip counter in front of that database."""
    counter = RoundTrips()
    await counter.start(database)
    try:
        yield counter
    finally:
        await counter.stop()


@pytest.fixture
async def counted(wire: RoundTrips, make_harness: Harnesses) -> tuple[AppHarness, RoundTrips]:
    """An app reaching that database through the counter (stopped after the app)."""
    return await make_harness(database_url=wire.url, checkpoint_seconds=CHECKPOINT_SECONDS), wire


@pytest.fixture
async def limited(wire: RoundTrips, make_harness: Harnesses) -> tuple[AppHarness, RoundTrips]:
    """As `counted`, under default per-user and per-API-token rate limits."""
    harness = await make_harness(
        database_url=wire.url,
        checkpoint_seconds=CHECKPOINT_SECONDS,
        rate_limit_user_rpm=1_000,
        rate_limit_user_tpm=10**6,
        rate_limit_token_rpm=1_000,
        rate_limit_token_tpm=10**6,
    )
    return harness, wire


async def _streams_make_three_round_trips(harness: AppHarness, wire: RoundTrips) -> None:
    for _ in range(2):  # the token and the caller's terms are read once, then kept
        await _stream(harness)
    before = len(wire.executed())
    for _ in range(STREAMS):
        await _stream(harness)
    trips = wire.executed()[before:]
    assert len(trips) == ROUND_TRIPS * STREAMS, [t.statements for t in trips]
    rows = await ledger_rows(harness.services.sessions)
    assert [(r.outcome, r.completion_tokens > 0) for r in rows] == [("completed", True)] * 7
    async with harness.services.sessions() as session:
        assert await ledger.open_reservations(session) == []


async def _stream(harness: AppHarness) -> None:
    body = completion("hello", max_tokens=20, stream=True)
    response = await harness.client.post(
        "/v1/chat/completions", json=body, headers=harness.admin.headers
    )
    assert response.status_code == 200, response.text
    assert response.text.rstrip().endswith("data: [DONE]")


async def test_a_metered_v1_stream_makes_few_round_trips_to_postgresql(
    counted: tuple[AppHarness, RoundTrips],
) -> None:
    await _streams_make_three_round_trips(*counted)


async def test_a_v1_stream_under_a_global_and_a_team_budget_makes_as_few(
    counted: tuple[AppHarness, RoundTrips],
) -> None:
    harness, wire = counted
    team = await admin_team(harness)
    everyone = await create_budget(harness, name="all", scope="global", limitMicros=10**12)
    await create_budget(harness, name="team", scope="team", scopeId=team, limitMicros=10**12)
    await _streams_make_three_round_trips(harness, wire)
    got = await harness.client.get(
        f"/api/usage-budgets/{everyone['id']}", headers=harness.admin.headers
    )
    assert got.status_code == 200, got.text
    rows = await ledger_rows(harness.services.sessions)
    spent = (got.json()["spentMicros"], got.json()["reservedMicros"])
    assert spent == (sum(r.cost_micros for r in rows), 0)


async def test_a_v1_stream_under_rate_limits_makes_as_few(
    limited: tuple[AppHarness, RoundTrips],
) -> None:
    harness, wire = limited
    await _streams_make_three_round_trips(harness, wire)
    response = await harness.client.post(
        "/v1/chat/completions",
        json=completion("hello", max_tokens=20),
        headers=harness.admin.headers,
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-ratelimit-remaining-requests"] == str(1_000 - 8)
