"""The providers LiteLLM can reach and the fields each needs: LiteLLM's own provider list and its
JSON-defined OpenAI-like providers (default base URL, key variable), merged with our table of
the fields of the common providers (key, base URL, region, API version, ...)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from assistant.gateway import router
from core.catalog_schemas import STORED_PROVIDER_TYPES


@dataclass(frozen=True, kw_only=True)
class ProviderField:
    """One setting of a provider: its LiteLLM parameter, whether it is needed and secret."""

    param: str
    label: str
    required: bool = False
    secret: bool = False
    env: str | None = None  # the environment variable LiteLLM reads when the field is not given
    default: str | None = None


@dataclass(frozen=True, kw_only=True)
class ProviderKind:
    """A provider type: LiteLLM prefix, name, fields, and whether POST /api/providers takes it."""

    id: str
    name: str
    fields: tuple[ProviderField, ...]
    storable: bool
    openai_compatible: bool = False
    known: bool = False  # described by our table rather than only by LiteLLM's list


def _key(env: str | None, *, required: bool = True) -> ProviderField:
    return ProviderField(param="api_key", label="API key", required=required, secret=True, env=env)


def _base(
    env: str | None = None, *, required: bool = False, default: str | None = None
) -> ProviderField:
    return ProviderField(
        param="api_base", label="Base URL", required=required, env=env, default=default
    )


def _version(env: str, *, default: str | None = None) -> ProviderField:
    return ProviderField(
        param="api_version", label="API version", required=True, env=env, default=default
    )


_AWS = (
    ProviderField(param="aws_access_key_id", label="AWS access key id", env="AWS_ACCESS_KEY_ID"),
    ProviderField(
        param="aws_secret_access_key",
        label="AWS secret access key",
        secret=True,
        env="AWS_SECRET_ACCESS_KEY",
    ),
    ProviderField(param="aws_region_name", label="Region", required=True, env="AWS_REGION_NAME"),
)
_VERTEX = (
    ProviderField(param="vertex_project", label="Project", required=True, env="VERTEXAI_PROJECT"),
    ProviderField(param="vertex_location", label="Region", required=True, env="VERTEXAI_LOCATION"),
    ProviderField(
        param="vertex_credentials",
        label="Service account JSON",
        secret=True,
        env="GOOGLE_APPLICATION_CREDENTIALS",
    ),
)

# Our table: the fields of the common providers, by LiteLLM prefix (and our `openai-compatible`).
KNOWN: dict[str, tuple[str, tuple[ProviderField, ...]]] = {
    "openai": ("OpenAI", (_key("OPENAI_API_KEY"), _base("OPENAI_BASE_URL"))),
    "openai-compatible": (
        "OpenAI-compatible server (vLLM, LM Studio, a gateway)",
        (_base(required=True), _key(None, required=False)),
    ),
    "azure": (
        "Azure OpenAI",
        (
            _base("AZURE_API_BASE", required=True),
            _key("AZURE_API_KEY"),
            _version("AZURE_API_VERSION", default="2024-10-21"),
        ),
    ),
    "anthropic": ("Anthropic", (_key("ANTHROPIC_API_KEY"), _base("ANTHROPIC_API_BASE"))),
    "gemini": ("Google AI Studio (Gemini)", (_key("GEMINI_API_KEY"),)),
    "vertex_ai": ("Google Vertex AI", _VERTEX),
    "bedrock": ("Amazon Bedrock", _AWS),
    "ollama": (
        "Ollama",
        (_base("OLLAMA_API_BASE", required=True, default="http://localhost:11434"),),
    ),
    "hosted_vllm": (
        "vLLM",
        (_base("HOSTED_VLLM_API_BASE", required=True), _key(None, required=False)),
    ),
    "mistral": ("Mistral AI", (_key("MISTRAL_API_KEY"),)),
    "groq": ("Groq", (_key("GROQ_API_KEY"),)),
    "deepseek": ("DeepSeek", (_key("DEEPSEEK_API_KEY"),)),
    "openrouter": ("OpenRouter", (_key("OPENROUTER_API_KEY"),)),
    "together_ai": ("Together AI", (_key("TOGETHERAI_API_KEY"),)),
    "fireworks_ai": ("Fireworks AI", (_key("FIREWORKS_AI_API_KEY"),)),
    "xai": ("xAI", (_key("XAI_API_KEY"),)),
    "cohere": ("Cohere", (_key("COHERE_API_KEY"),)),
}


async def provider_kinds() -> Sequence[ProviderKind]:
    """Every provider type, ours first then LiteLLM's by id. LiteLLM is read in a worker thread:
    importing it the first time takes seconds of CPU the event loop must not spend."""
    return await asyncio.to_thread(_read)


def _read() -> list[ProviderKind]:
    return merge(router.litellm_module())


def merge(litellm: ModuleType) -> list[ProviderKind]:
    """Our table merged with LiteLLM's provider list and its JSON-defined providers."""
    compatible = set(getattr(litellm, "openai_compatible_providers", ()))
    registry = _json_providers(litellm)
    kinds = {
        slug: ProviderKind(
            id=slug,
            name=name,
            fields=fields,
            storable=slug in STORED_PROVIDER_TYPES,
            openai_compatible=slug in compatible or slug == "openai-compatible",
            known=True,
        )
        for slug, (name, fields) in KNOWN.items()
    }
    for provider in getattr(litellm, "provider_list", ()):
        slug = str(getattr(provider, "value", provider))
        if slug in kinds:
            continue
        fields = (_key(None, required=False), _base())
        config = registry.get(slug)
        if config is not None:
            key_env, base_url = config
            fields = (_key(key_env), _base(default=base_url))
        kinds[slug] = ProviderKind(
            id=slug,
            name=slug,
            fields=fields,
            storable=slug in STORED_PROVIDER_TYPES,
            openai_compatible=slug in compatible or config is not None,
        )
    ours = [kinds.pop(slug) for slug in KNOWN]
    return ours + sorted(kinds.values(), key=lambda k: k.id)


def _json_providers(litellm: ModuleType) -> dict[str, tuple[str | None, str | None]]:
    """LiteLLM's OpenAI-like providers from its providers.json: key variable and default URL.
    An internal table: if its shape changes, the providers are still listed with generic fields."""
    registry: Any = getattr(litellm, "JSONProviderRegistry", None)
    found: dict[str, tuple[str | None, str | None]] = {}
    try:
        registry.load()
        for slug in registry.list_providers():
            config = registry.get(slug)
            found[str(slug)] = (
                getattr(config, "api_key_env", None),
                getattr(config, "base_url", None),
            )
    except (AttributeError, TypeError, OSError):
        return {}
    return found
