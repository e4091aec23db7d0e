"""Refusals on `/v1` in OpenAI's error shape, raised by the real `openai` SDK as the exception
class OpenAI's own API would raise; `/api` keeps Switchboard's shape."""

from __future__ import annotations

import openai
import pytest

from tests.api.billing_builders import create_budget
from tests.api.routes.test_openai import ASKED, sdk
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Caller, Harnesses

pytestmark = pytest.mark.anyio


def body_of(error: openai.APIStatusError) -> dict[str, object]:
    """The inner `error` object of OpenAI's error body."""
    body = error.response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    inner: dict[str, object] = body["error"]
    return inner


async def test_an_unknown_model_is_404_model_not_found(harness: AppHarness) -> None:
    async with sdk(harness) as client:
        with pytest.raises(openai.NotFoundError) as completion:
            await client.chat.completions.create(model="nope", messages=ASKED)
        with pytest.raises(openai.NotFoundError) as retrieved:
            await client.models.retrieve("nope")
    for refused in (completion.value, retrieved.value):
        error = body_of(refused)
        assert (refused.status_code, refused.code) == (404, "model_not_found")
        assert (error["type"], error["param"]) == ("not_found_error", "model")
        assert "nope" in str(error["message"])


async def test_a_bad_token_is_401_authentication_error(harness: AppHarness) -> None:
    stranger = Caller("", "nobody", {"Authorization": "Bearer sb_not_a_real_token"})
    async with sdk(harness, stranger) as client:
        with pytest.raises(openai.AuthenticationError) as refused:
            await client.chat.completions.create(model="fake", messages=ASKED)
        with pytest.raises(openai.AuthenticationError):
            await client.models.list()
    assert body_of(refused.value)["type"] == "authentication_error"


async def test_a_user_without_a_seat_is_403_seat_required(harness: AppHarness) -> None:
    unseated = await harness.member("ulla")
    async with sdk(harness, unseated) as client:
        with pytest.raises(openai.PermissionDeniedError) as refused:
            await client.chat.completions.create(model="fake", messages=ASKED)
    assert refused.value.code == "seat_required"
    assert body_of(refused.value)["type"] == "permission_error"


async def test_an_empty_budget_is_429_insufficient_quota_and_not_retried(
    harness: AppHarness,
) -> None:
    await create_budget(
        harness, name="Tight", scope="user", scopeId=harness.admin.id, limitMicros=1
    )
    async with sdk(harness) as client:
        with pytest.raises(openai.RateLimitError) as refused:
            await client.chat.completions.create(model="fake", messages=ASKED)
    error = body_of(refused.value)
    assert (refused.value.code, error["type"]) == ("budget_exceeded", "insufficient_quota")
    assert "Tight" in str(error["message"])
    assert refused.value.response.headers["x-should-retry"] == "false"


async def test_a_rate_limit_is_429_rate_limit_error_with_openai_headers(
    make_harness: Harnesses,
) -> None:
    limited = await make_harness(rate_limit_user_rpm=1)
    async with sdk(limited) as client:
        await client.chat.completions.create(model="fake", messages=ASKED)
        with pytest.raises(openai.RateLimitError) as refused:
            await client.chat.completions.create(model="fake", messages=ASKED)
    headers = refused.value.response.headers
    assert refused.value.code == "rate_limited"
    assert body_of(refused.value)["type"] == "rate_limit_error"
    assert 1 <= int(headers["retry-after"]) <= 60
    assert headers["x-ratelimit-limit-requests"] == "1"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"].endswith("s")


async def test_bad_parameters_are_400_naming_the_parameter(harness: AppHarness) -> None:
    async with sdk(harness) as client:
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(model="fake", messages=ASKED, temperature=5)
        with pytest.raises(openai.BadRequestError) as empty:
            await client.chat.completions.create(model="fake", messages=[])
    error = body_of(refused.value)
    assert (refused.value.status_code, error["type"]) == (400, "invalid_request_error")
    assert (error["param"], error["code"]) == ("temperature", "invalid_input")
    assert body_of(empty.value)["param"] == "messages"


async def test_an_unknown_v1_path_answers_in_openai_shape_and_api_keeps_its_own(
    harness: AppHarness,
) -> None:
    headers = harness.admin.headers
    v1 = await harness.client.get("/v1/nothing-here", headers=headers)
    api = await harness.client.get("/api/nothing-here", headers=headers)
    assert v1.status_code == 404 and v1.json()["error"]["type"] == "not_found_error"
    assert api.status_code == 404 and set(api.json()) == {"code", "message", "details"}
    unknown = await harness.client.get("/api/models/nope", headers=headers)
    assert unknown.status_code == 404 and set(unknown.json()) == {"code", "message", "details"}


async def test_n_choices_reserve_n_times_max_tokens_so_a_budget_is_never_overspent(
    harness: AppHarness,
) -> None:
    await create_budget(
        harness, name="Tokens", scope="user", scopeId=harness.admin.id, limitTokens=2_500
    )
    async with sdk(harness) as client:
        with pytest.raises(openai.RateLimitError) as refused:
            await client.chat.completions.create(
                model="fake", messages=ASKED, n=3, max_tokens=1_000
            )
        answer = await client.chat.completions.create(
            model="fake", messages=ASKED, n=2, max_tokens=1_000
        )
    assert refused.value.code == "budget_exceeded"
    assert len(answer.choices) == 2


async def test_a_stream_broken_after_its_first_chunks_ends_with_an_openai_error_event(
    harness: AppHarness, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", chunks=6, break_after=2)
    async with sdk(harness) as client:
        stream = await client.chat.completions.create(model="fake", messages=ASKED, stream=True)
        received = []
        with pytest.raises(openai.APIError) as broken:
            async for chunk in stream:
                received.append(chunk)
    assert received  # the first chunks arrived before the error
    assert broken.value.code == "provider_unavailable"
    assert isinstance(broken.value.body, dict) and broken.value.body["type"] == "server_error"


MALFORMED = [  # body, content type, the message FastAPI's own handler answers
    (b'{"model": "fake", "messages": [', "application/json", "31: JSON decode error"),
    (b"", "application/json", "body: Field required"),
    (b"[1]", "application/json", "body: Input should be a valid dictionary or object"),
    (b'{"model": "fake", "messages": [{"role": "user", "content": "hi"}]}', "text/plain", "body:"),
    (b'{"model": "fake", "messages": [{"role": "robot"}]}', "application/json", "messages.0.role"),
    (  # json.loads takes a lone surrogate escape, pydantic's parser does not
        b'{"model": "fake", "messages": [{"role": "user", "content": "\\ud800"}], "n": 0}',
        "application/json; charset=utf-8",
        "n: Input should be greater than or equal to 1",
    ),
]


@pytest.mark.parametrize(("body", "content_type", "message"), MALFORMED)
async def test_a_malformed_completion_body_is_400_as_fastapi_states_it(
    harness: AppHarness, body: bytes, content_type: str, message: str
) -> None:
    headers = {**harness.admin.headers, "content-type": content_type}
    answer = await harness.client.post("/v1/chat/completions", content=body, headers=headers)
    error = answer.json()["error"]
    assert (answer.status_code, error["type"], error["code"]) == (
        400,
        "invalid_request_error",
        "invalid_input",
    )
    assert error["message"].startswith(f"Invalid request: {message}")
