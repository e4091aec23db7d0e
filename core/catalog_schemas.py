"""Create/Update/Read shapes of the providers and models admins manage at run time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints

from core.schemas import Schema

# LiteLLM provider prefixes an admin may pick; `openai-compatible` is any server speaking
# OpenAI's API (vLLM, LM Studio, a gateway) at `apiBase`.
ProviderType = Literal[
    "openai",
    "openai-compatible",
    "anthropic",
    "azure",
    "ollama",
    "gemini",
    "mistral",
    "groq",
    "deepseek",
    "openrouter",
    "together_ai",
    "fireworks_ai",
    "xai",
    "cohere",
    "hosted_vllm",
]
STORED_PROVIDER_TYPES: frozenset[str] = frozenset(get_args(ProviderType))
NEEDS_API_BASE = frozenset({"openai-compatible", "azure", "ollama", "hosted_vllm"})
ModelName = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]*$")
]
Price = Annotated[float, Field(ge=0, le=1_000_000)]


def _with_host(url: str) -> str:
    # urlsplit refuses some URLs the pattern lets through (`http://[`: an unclosed IPv6 literal).
    try:
        host = urlsplit(url).hostname
    except ValueError as exc:
        raise ValueError(f"Not a URL: {exc}.") from None
    if not host:
        raise ValueError("The URL names no host.")
    return url


ApiBase = Annotated[
    str, Field(max_length=2000, pattern=r"^https?://\S+$"), AfterValidator(_with_host)
]


class ProviderCreate(Schema):
    """A new provider: its LiteLLM type, where it is and the key to call it with."""

    name: str = Field(min_length=1, max_length=200)
    type: ProviderType
    api_base: ApiBase | None = None
    api_version: str | None = Field(default=None, max_length=50)
    api_key: str | None = Field(default=None, min_length=1, max_length=10_000)


class ProviderUpdate(Schema):
    """Changes to a provider; omitted fields stay, `apiKey: null` removes the key."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    type: ProviderType | None = None
    api_base: ApiBase | None = None
    api_version: str | None = Field(default=None, max_length=50)
    api_key: str | None = Field(default=None, min_length=1, max_length=10_000)


class ProviderRead(Schema):
    """A stored provider as the API shows it: whether it has a key, never the key."""

    id: str
    name: str
    type: str
    api_base: str | None
    api_version: str | None
    has_api_key: bool
    source: Literal["database"] = "database"
    models: list[str]
    created_by: str | None
    updated_by: str | None
    created_at: datetime
    updated_at: datetime


class ProviderTest(Schema):
    """Which provider-side model `_test` calls (default: a stored model of the provider)."""

    model: str | None = Field(default=None, min_length=1, max_length=200)


class ModelCreate(Schema):
    """A new model served through a stored provider; prices are US dollars per million tokens."""

    name: ModelName
    provider_id: str = Field(min_length=1, max_length=26)
    model: str = Field(min_length=1, max_length=200, description="The provider-side model id.")
    description: str = Field(default="", max_length=2000)
    aliases: list[ModelName] = Field(default_factory=list, max_length=20)
    input_cost_per_million_tokens: Price | None = None
    output_cost_per_million_tokens: Price | None = None
    context_window: int | None = Field(default=None, ge=1, le=100_000_000)
    max_output_tokens: int | None = Field(default=None, ge=1, le=100_000_000)
    enabled: bool = True


class ModelUpdate(Schema):
    """Changes to a stored model; omitted fields stay. The name cannot change."""

    provider_id: str | None = Field(default=None, min_length=1, max_length=26)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    aliases: list[ModelName] | None = Field(default=None, max_length=20)
    input_cost_per_million_tokens: Price | None = None
    output_cost_per_million_tokens: Price | None = None
    context_window: int | None = Field(default=None, ge=1, le=100_000_000)
    max_output_tokens: int | None = Field(default=None, ge=1, le=100_000_000)
    enabled: bool | None = None


class ProviderFieldRead(Schema):
    """A setting of a provider type: its LiteLLM parameter (`api_key`, `api_base`, `api_version`,
    `aws_region_name`, ...), whether it is needed or secret, and the environment variable LiteLLM
    reads when it is not given."""

    param: str
    label: str
    required: bool
    secret: bool
    env: str | None
    default: str | None


class ProviderTypeRead(Schema):
    """A provider LiteLLM can reach and the fields it needs; `storable` when POST /api/providers
    takes it as `type` (others are configured in models.yaml)."""

    id: str
    name: str
    fields: list[ProviderFieldRead]
    storable: bool
    openai_compatible: bool
    known: bool
