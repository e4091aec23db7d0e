"""The warm-up loads LiteLLM only for the chat models that need it, and again when a catalog
change adds one."""

from __future__ import annotations

import pytest

from assistant.gateway import router, warm
from assistant.gateway.router import Gateway
from core.catalog import parse_catalog
from tests.support import make_catalog

URL = "http://127.0.0.1:9/v1"


def test_only_models_that_are_not_called_directly_need_litellm() -> None:
    # make_catalog's `balanced` has two deployments for LiteLLM to balance; the others one each
    assert warm.needing_litellm(Gateway(make_catalog(URL))) == ["balanced"]
    everything = warm.needing_litellm(Gateway(make_catalog(URL), fast_path=False))
    assert "fake" in everything and "balanced" in everything


def test_a_catalog_change_that_adds_a_model_needing_litellm_warms_it_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[str] = []
    monkeypatch.setattr(warm, "start", lambda gateway, reason: started.append(reason))
    monkeypatch.setattr(router, "_loaded", None)  # LiteLLM not imported in this process yet
    direct = {"model": "openai/fake", "api_base": URL, "api_key": "k"}
    catalog = parse_catalog({"model_list": [{"model_name": "fake", "litellm_params": direct}]})
    gateway = Gateway(catalog)
    gateway.warm_up()
    assert warm.needing_litellm(gateway) == []
    # a fixed answer the gateway does not give itself: LiteLLM raises a mock rate limit
    demo = {"model": "openai/demo", "mock_response": "litellm.RateLimitError"}
    catalog.adopt(
        parse_catalog(
            {
                "model_list": [
                    {"model_name": "fake", "litellm_params": direct},
                    {"model_name": "demo", "litellm_params": demo},
                ]
            }
        )
    )
    gateway.reload()
    assert started == ["start-up", "a model that needs LiteLLM was added"]
