"""Prices: prompt-cache tokens at their own rates, and the worst case admission reserves."""

from __future__ import annotations

import math
import random

from core.catalog import parse_catalog
from core.prices import Price, micros_up

# $10 / $30 per million input / output tokens; cache reads $1, cache writes $12.50.
CACHED = Price(10e-6, 30e-6, cache_read_per_token=1e-6, cache_write_per_token=12.5e-6)
RATES = (1e-6, 2e-6, 3e-7, 1.5e-5, 2.5e-6, 6e-8, 1.25e-5, 1e-7, 3.3e-9)


def test_cache_reads_and_writes_cost_their_own_rates() -> None:
    cost = CACHED.cost_micros(100, 7, cache_read_tokens=40, cache_write_tokens=20)
    assert cost == 40 * 10 + 40 * 1 + 20 * 12.5 + 7 * 30


def test_cache_tokens_without_rates_cost_the_input_rate() -> None:
    plain = Price(10e-6, 30e-6)
    assert plain.cost_micros(100, 7, cache_read_tokens=40, cache_write_tokens=20) == 1210


def test_cache_counts_beyond_the_prompt_are_capped() -> None:
    assert CACHED.cost_micros(10, 0, cache_read_tokens=50, cache_write_tokens=50) == 10


def test_the_worst_case_prices_every_prompt_token_at_the_dearest_prompt_rate() -> None:
    assert CACHED.worst_case_micros(100, 10) == 100 * 12.5 + 10 * 30
    assert Price(10e-6, 30e-6).worst_case_micros(100, 10) == 100 * 10 + 10 * 30


def test_the_catalog_reads_cache_rates_from_model_info() -> None:
    info = {
        "input_cost_per_token": 10e-6,
        "output_cost_per_token": 30e-6,
        "cache_read_input_token_cost": 1e-6,
        "cache_creation_input_token_cost": 12.5e-6,
    }
    entry = {"model_name": "m", "litellm_params": {"model": "anthropic/x"}, "model_info": info}
    catalog = parse_catalog({"model_list": [entry]}, source="test")
    assert catalog.resolve("m").price == CACHED


def test_micro_dollars_round_up_past_float_noise_as_round_then_ceil_does() -> None:
    rng = random.Random(7)
    amounts = [rng.randint(0, 10**7) * rng.choice(RATES) for _ in range(20_000)]
    for fraction in (0.0, 5e-7, 5e-7 + 1e-12, 5e-7 - 1e-12, 1e-6, 0.999999, 0.3, 0.7):
        amounts += [(rng.randint(0, 2**31) + fraction) / 1e6 for _ in range(2_000)]
    amounts += [3e3, 2.2e3, 1e9, 0.1 + 0.2, 1e-12]  # past 2**31 micro-dollars, noise, a fraction
    for dollars in amounts:
        assert micros_up(dollars) == math.ceil(round(dollars * 1_000_000, 6)), dollars


def test_a_call_without_cache_tokens_costs_what_the_cached_sum_gives() -> None:
    price = Price(0.1e-6, 0.3e-6)  # float noise: 3 * 0.1e-6 is not 0.3e-6
    assert price.cost_micros(3, 0) == 1  # 0.30000000000000004 micro-dollars, rounded up
    assert price.cost_micros(10, 10) == 4
    assert price.cost_micros(10, 10, cache_read_tokens=0) == price.cost_micros(10, 10)
