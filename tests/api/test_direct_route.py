"""`api.direct_route`: a route whose JSON body skips FastAPI's request handling."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, Response

from api.deps import PrincipalDep, ServicesDep
from api.direct_route import DirectRoute
from api.routes.openai import CompletionRequest
from tests.support import Harnesses

ASK = {"model": "fake", "messages": [{"role": "user", "content": "hi"}]}


async def _with_query(
    body: CompletionRequest, principal: PrincipalDep, services: ServicesDep, q: str
) -> Response:
    return Response()


async def _without_caller(body: CompletionRequest, services: ServicesDep) -> Response:
    return Response()


async def _returning_a_model(
    body: CompletionRequest, principal: PrincipalDep, services: ServicesDep
) -> CompletionRequest:
    return body


@pytest.mark.parametrize("endpoint", [_with_query, _without_caller, _returning_a_model])
def test_a_direct_route_refuses_an_endpoint_it_could_not_call_as_fastapi_would(
    endpoint: object,
) -> None:
    router = APIRouter()
    with pytest.raises(TypeError, match="DirectRoute"):
        router.add_api_route("/x", endpoint, methods=["POST"], route_class_override=DirectRoute)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_a_caller_not_resolved_by_the_body_limit_is_resolved_by_the_route(
    make_harness: Harnesses,
) -> None:
    # With /v1's body limit no larger than JSON's, no middleware authenticates first.
    harness = await make_harness(max_json_bytes=64 * 1024, max_v1_bytes=64 * 1024)
    headers = harness.admin.headers
    answered = await harness.client.post("/v1/chat/completions", json=ASK, headers=headers)
    bad = {"Authorization": "Bearer sb_not-a-token"}
    refused = await harness.client.post("/v1/chat/completions", json=ASK, headers=bad)
    assert answered.status_code == 200 and answered.json()["object"] == "chat.completion"
    assert (refused.status_code, refused.json()["error"]["type"]) == (401, "authentication_error")
