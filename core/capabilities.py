"""What a model of the catalog can do, as the page's picker and `GET /api/models` show it:
chat or embeddings, seeing images, calling tools, reasoning, prompt caching.

An admin's `model_info` wins (`supports_vision: true` in models.yaml or a stored model's info);
otherwise LiteLLM's bundled model map says (read as data, without importing LiteLLM); a model
neither knows is a plain chat model (no vision, no tools claimed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.catalog import EMBEDDING, CatalogModel, litellm_cost_entry

# Our name for each capability, and the `supports_*` key LiteLLM's model map and model_info use.
_FLAGS = {
    "vision": "supports_vision",
    "tools": "supports_function_calling",
    "reasoning": "supports_reasoning",
    "prompt_caching": "supports_prompt_caching",
    "pdf_input": "supports_pdf_input",
}


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    """What a model does (Informer's `chat`, `attachments`, `createEmbeddings`, and more)."""

    chat: bool
    embeddings: bool
    vision: bool
    tools: bool
    reasoning: bool
    prompt_caching: bool
    pdf_input: bool


def capabilities_of(model: CatalogModel) -> Capabilities:
    """The model's capabilities: model_info's flags, else LiteLLM's map for its first deployment."""
    first = str(model.deployments[0].litellm_params["model"]) if model.deployments else ""
    known = litellm_cost_entry(first)
    flags = {ours: _flag(model.info, known, key) for ours, key in _FLAGS.items()}
    embeddings = model.mode == EMBEDDING
    return Capabilities(chat=model.mode == "chat", embeddings=embeddings, **flags)


def _flag(info: Any, known: Any, key: str) -> bool:
    value = info.get(key)
    if value is None:
        value = known.get(key)
    return bool(value)
