"""What a catalog model can do: an admin's model_info first, then LiteLLM's model map."""

from __future__ import annotations

from typing import Any

from core.capabilities import capabilities_of
from core.catalog import CatalogModel, parse_catalog


def _model(litellm_model: str, **info: Any) -> CatalogModel:
    entry = {"model_name": "m", "litellm_params": {"model": litellm_model}, "model_info": info}
    raw = {"model_list": [entry]}
    return parse_catalog(raw, source="test").models["m"]


def test_litellms_map_tells_what_a_known_model_can_do() -> None:
    known = capabilities_of(_model("openai/gpt-4o"))
    assert known.chat and known.vision and known.tools and not known.embeddings
    embedder = capabilities_of(_model("openai/text-embedding-3-small"))
    assert embedder.embeddings and not embedder.chat and not embedder.vision


def test_model_info_overrides_the_map_and_an_unknown_model_claims_nothing() -> None:
    unknown = capabilities_of(_model("openai/house-model"))
    assert unknown.chat and not (unknown.vision or unknown.tools or unknown.reasoning)
    told = capabilities_of(
        _model("openai/house-model", supports_vision=True, supports_reasoning=True)
    )
    assert told.vision and told.reasoning and not told.tools
    denied = capabilities_of(_model("openai/gpt-4o", supports_vision=False))
    assert not denied.vision and denied.tools
