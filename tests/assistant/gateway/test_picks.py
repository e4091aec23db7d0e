"""LiteLLM's choice of deployment is kept only where it cannot differ, and dropped on failure."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.gateway.picks import Picks
from core.catalog import CatalogModel, Deployment

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


async def test_one_deployment_is_asked_once_until_forgotten_or_the_router_changes() -> None:
    params = {"model": "openai/m", "api_base": "http://127.0.0.1:1/v1"}
    picks, router = Picks(), Asked(params)
    model = _model(params)
    for _ in range(3):
        assert (await picks.choose(router, model))["litellm_params"] == params
    assert router.asked == 1
    picks.forget("m")
    await picks.choose(router, model)
    assert router.asked == 2
    rebuilt = Asked(params)  # a catalog change made a new router
    await picks.choose(rebuilt, model)
    assert rebuilt.asked == 1


async def test_balanced_or_counted_deployments_are_asked_every_time() -> None:
    one = {"model": "openai/m", "api_base": "http://127.0.0.1:1/v1"}
    two = {"model": "openai/m", "api_base": "http://127.0.0.1:2/v1"}
    limited = {**one, "rpm": 10}
    for model, router in ((_model(one, two), Asked(one)), (_model(limited), Asked(limited))):
        picks = Picks()
        for _ in range(3):
            await picks.choose(router, model)
        assert router.asked == 3
    expired = Picks(seconds=0)
    router = Asked(one)
    for _ in range(2):
        await expired.choose(router, _model(one))
    assert router.asked == 2
