"""LiteLLM's choice of deployment is kept only where it cannot differ, and dropped on failure;
made without LiteLLM only where its router has nothing to decide."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from assistant.gateway.picks import Picks, only_choice
from assistant.gateway.relay import Target
from assistant.gateway.router import Gateway
from core.catalog import CatalogModel, Deployment, parse_catalog

pytestmark = pytest.mark.anyio


class Asked:
    """Stands in for LiteLLM's router in what Picks calls: counts the questions."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.asked = 0

    async def async_get_available_deployment(
        self, *, model: str, request_kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        self.asked += 1
        return {"model_name": model, "litellm_params": self.params}


def _model(*params: dict[str, Any]) -> CatalogModel:
    deployments = tuple(Deployment("m", p, "openai", ()) for p in params)
    return CatalogModel(
        name="m",
        description="",
        deployments=deployments,
        price=None,
        max_input_tokens=1000,
        max_output_tokens=100,
    )


async def _choose(picks: Picks, router: Asked, model: CatalogModel) -> dict[str, Any]:
    """As the gateway asks: kept where the model has an `only_choice` (the one rule)."""
    return await picks.choose(router, model, fixed=only_choice(model, {}) is not None)


async def test_one_deployment_is_asked_once_until_forgotten_or_the_router_changes() -> None:
    params = {"model": "openai/m", "api_base": "http://127.0.0.1:1/v1"}
    picks, router = Picks(), Asked(params)
    model = _model(params)
    for _ in range(3):
        assert (await _choose(picks, router, model))["litellm_params"] == params
    assert router.asked == 1
    picks.forget("m")
    await _choose(picks, router, model)
    assert router.asked == 2
    rebuilt = Asked(params)  # a catalog change made a new router
    await _choose(picks, rebuilt, model)
    assert rebuilt.asked == 1


async def test_balanced_or_counted_deployments_are_asked_every_time() -> None:
    one = {"model": "openai/m", "api_base": "http://127.0.0.1:1/v1"}
    two = {"model": "openai/m", "api_base": "http://127.0.0.1:2/v1"}
    limited = {**one, "rpm": 10}
    for model, router in ((_model(one, two), Asked(one)), (_model(limited), Asked(limited))):
        picks = Picks()
        for _ in range(3):
            await _choose(picks, router, model)
        assert router.asked == 3
    expired = Picks(seconds=0)
    router = Asked(one)
    for _ in range(2):
        await _choose(expired, router, _model(one))
    assert router.asked == 2


def test_a_lone_unlimited_deployment_with_inert_router_settings_needs_no_litellm() -> None:
    one = {"model": "openai/m", "api_base": "http://127.0.0.1:1/v1"}
    two = {"model": "openai/m", "api_base": "http://127.0.0.1:2/v1"}
    after_failures = {"num_retries": 2, "fallbacks": [{"m": ["n"]}], "cooldown_time": 5}
    assert only_choice(_model(one), {}) == one
    assert only_choice(_model(one), after_failures) == one
    assert only_choice(_model(one), {"routing_strategy": "least-busy"}) == one
    unset = Deployment("m", two, "openai", ("UNSET_KEY",))  # not usable: the router lacks it
    assert (
        only_choice(replace(_model(one), deployments=(*_model(one).deployments, unset)), {}) == one
    )
    assert only_choice(_model(one, two), {}) is None  # LiteLLM balances
    assert only_choice(_model({**one, "tpm": 1000}), {}) is None  # LiteLLM counts
    assert only_choice(replace(_model(one), enabled=False), {}) is None
    for deciding in (
        {"enable_tag_filtering": True},
        {"redis_host": "127.0.0.1"},  # cooldowns shared with other processes
        {"default_litellm_params": {"api_base": "http://127.0.0.1:3/v1"}},
        {"routing_strategy": "cost-based-routing"},
    ):
        assert only_choice(_model(one), deciding) is None, deciding


def test_where_a_direct_call_goes_is_worked_out_once_per_catalog_version() -> None:
    def catalog_at(base: str) -> dict[str, Any]:
        params = {"model": "openai/m", "api_base": base, "api_key": "k"}
        return {"model_list": [{"model_name": "m", "litellm_params": params}]}

    gateway = Gateway(parse_catalog(catalog_at("http://127.0.0.1:1/v1")))
    first = gateway.direct(gateway.catalog.models["m"])
    assert isinstance(first, Target) and first.url == "http://127.0.0.1:1/v1/chat/completions"
    assert gateway.direct(gateway.catalog.models["m"]) is first  # not worked out again
    gateway.catalog.adopt(parse_catalog(catalog_at("http://127.0.0.1:2/v1")))
    gateway.reload()  # as catalog_sync does
    moved = gateway.direct(gateway.catalog.models["m"])
    assert isinstance(moved, Target) and moved.url == "http://127.0.0.1:2/v1/chat/completions"
