"""Prices: prompt-cache tokens at their own rates, and the worst case admission reserves."""

from __future__ import annotations

from core.catalog import parse_catalog
from core.prices import Price

# $10 / $30 per million input / output tokens; cache reads $1, cache writes $12.50.
CACHED = Price(10e-6, 30e-6, cache_read_per_token=1e-6, cache_write_per_token=12.5e-6)


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
