"""`POST /v1/embeddings`: OpenAI's embeddings endpoint for SDK clients, metered like chat."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.deps import PrincipalDep, ServicesDep
from api.rate_headers import rate_headers
from assistant.gateway.embeddings import Made
from assistant.gateway.vectors import Inputs

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])

Token = Annotated[int, Field(ge=0, le=10_000_000)]


class EmbeddingRequest(BaseModel):
    """An OpenAI embeddings request; unknown options are ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    input: str | list[str] | list[Token] | list[list[Token]] = Field(
        description="A text, a list of texts, a token array or a list of token arrays."
    )
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1, le=65_536)
    user: str | None = Field(default=None, max_length=512)

    @field_validator("input")
    @classmethod
    def _not_empty(cls, value: str | list[Any]) -> str | list[Any]:
        if not value or any(not isinstance(item, int) and len(item) == 0 for item in value):
            raise ValueError("must be a non-empty text or token array, or a list of them")
        return value

    def inputs(self) -> Inputs:
        """The inputs as a list (one text or token array becomes a list of one)."""
        value = self.input
        if isinstance(value, str):
            return [value]
        if all(isinstance(item, int) for item in value):
            return [cast("list[int]", value)]  # one token array
        return cast("Inputs", value)


class Embedding(BaseModel):
    """One input's vector: floats, or base64 of little-endian float32 with `base64`."""

    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingUsage(BaseModel):
    """Tokens the request used (embeddings have no output tokens)."""

    prompt_tokens: int
    total_tokens: int


class EmbeddingList(BaseModel):
    """OpenAI's embeddings response."""

    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


@router.post("/embeddings", response_model=EmbeddingList)
async def create_embeddings(
    body: EmbeddingRequest, principal: PrincipalDep, services: ServicesDep
) -> Response:
    """Embed a text, texts or token arrays with an embedding model of the catalog (one whose
    `model_info.mode` is `embedding`, such as the bundled local model, which costs nothing).

    Metered against the caller's seat, budgets and rate limits like chat (usage source `v1`,
    `X-RateLimit-*` headers); a request with many inputs is embedded in batches. `dimensions`
    and `user` are passed to the provider; `encoding_format: base64` answers each vector as
    base64 of little-endian float32 values.
    """
    made = await services.v1_embeddings.create(
        caller=principal.caller,
        model=body.model,
        inputs=body.inputs(),
        dimensions=body.dimensions,
        user=body.user,
    )
    body_bytes = _render(made, body.encoding_format)
    headers = rate_headers(made.headroom)
    return Response(body_bytes, media_type="application/json", headers=headers)


def _render(made: Made, encoding: Literal["float", "base64"]) -> bytes:
    """The response body (built directly: a response model would re-validate every float)."""
    data: list[dict[str, Any]]
    if encoding == "base64":
        data = [
            {"object": "embedding", "index": i, "embedding": _base64(vector)}
            for i, vector in enumerate(made.vectors)
        ]
    else:
        data = [
            {"object": "embedding", "index": i, "embedding": vector}
            for i, vector in enumerate(made.vectors)
        ]
    usage = {"prompt_tokens": made.prompt_tokens, "total_tokens": made.prompt_tokens}
    body = {"object": "list", "data": data, "model": made.model, "usage": usage}
    return json.dumps(body, separators=(",", ":")).encode()


def _base64(vector: list[float]) -> str:
    import numpy as np  # ~10 MB resident: loaded by the first base64 answer, not at start

    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
