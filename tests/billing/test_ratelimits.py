"""Rate limits per user and API token, on simulated time."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from billing import ratelimits
from billing.admission import Caller, admit
from billing.errors import RateLimitExceeded
from billing.ratelimits import RateLimits
from billing.schemas import RateLimitOverrideCreate
from core.database import write_transaction
from tests.billing.builders import Factory, SimulatedClock, fake_model, seated_caller

pytestmark = pytest.mark.anyio

MODEL = fake_model()
SIXTY_PER_MINUTE = RateLimits(user_requests_per_minute=60)


async def _try(factory: Factory, caller: Caller, limits: RateLimits, tokens: int = 1) -> bool:
    try:
        await admit(
            factory,
            caller=caller,
            model=MODEL,
            prompt_tokens=tokens,
            max_output_tokens=0,
            source="v1",
            limits=limits,
        )
    except RateLimitExceeded:
        return False
    return True


async def test_two_hundred_requests_in_ten_seconds_admit_sixty_and_leave_another_user_alone(
    factory: Factory, sim_clock: SimulatedClock
) -> None:
    flooder = await seated_caller(factory)
    bystander = await seated_caller(factory)
    admitted = 0
    for _ in range(10):
        results = await asyncio.gather(
            *(_try(factory, flooder, SIXTY_PER_MINUTE) for _ in range(20))
        )
        admitted += sum(results)
        sim_clock.advance(1)
    assert admitted == 60
    assert await _try(factory, bystander, SIXTY_PER_MINUTE)


async def test_a_refusal_says_when_to_retry_and_the_window_slides(
    factory: Factory, sim_clock: SimulatedClock
) -> None:
    caller = await seated_caller(factory)
    limits = RateLimits(user_requests_per_minute=2)
    assert await _try(factory, caller, limits)
    sim_clock.advance(10)
    assert await _try(factory, caller, limits)
    with pytest.raises(RateLimitExceeded) as refused:
        await admit(
            factory,
            caller=caller,
            model=MODEL,
            prompt_tokens=1,
            max_output_tokens=0,
            source="v1",
            limits=limits,
        )
    assert refused.value.retry_after == 50
    assert (refused.value.details["limit"], refused.value.details["remaining"]) == (2, 0)
    assert refused.value.code == "rate_limited"
    sim_clock.advance(50)
    assert await _try(factory, caller, limits)


async def test_tokens_per_minute_count_what_requests_used_once_settled(
    factory: Factory, sim_clock: SimulatedClock
) -> None:
    from billing import ledger

    caller = await seated_caller(factory)
    limits = RateLimits(user_tokens_per_minute=1_000)
    first = await admit(
        factory,
        caller=caller,
        model=MODEL,
        prompt_tokens=100,
        max_output_tokens=800,
        source="chat",
        limits=limits,
    )
    assert not await _try(factory, caller, limits, tokens=200)
    await ledger.settle(
        factory,
        reservation_id=first.id,
        outcome="completed",
        prompt_tokens=100,
        completion_tokens=100,
        estimated=False,
    )
    assert await _try(factory, caller, limits, tokens=200)


async def test_overrides_replace_the_defaults_per_user_and_per_api_token(
    factory: Factory, sim_clock: SimulatedClock
) -> None:
    caller = await seated_caller(factory)
    tokened = replace(caller, api_token_id="tok_" + caller.user_id[:20])
    limits = RateLimits(user_requests_per_minute=1, token_requests_per_minute=5)
    async with write_transaction(factory) as session:
        await ratelimits.create_override(
            session,
            data=RateLimitOverrideCreate(
                scope="user", scope_id=caller.user_id, requests_per_minute=3
            ),
        )
        await ratelimits.create_override(
            session,
            data=RateLimitOverrideCreate(
                scope="apiToken", scope_id=tokened.api_token_id or "", requests_per_minute=2
            ),
        )
    results = [await _try(factory, tokened, limits) for _ in range(3)]
    assert results == [True, True, False]
    assert await _try(factory, caller, limits)
    assert not await _try(factory, caller, limits)
