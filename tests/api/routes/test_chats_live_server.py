"""End to end through a real uvicorn server: disconnects, re-attaching, the OpenAI SDK."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.upstream import FakeUpstream
from tests.support import ADMIN, PASSWORD, eventually_blocking, live_server, make_catalog, parse_sse

TEXT = "".join(f"word{i} " for i in range(60))


@pytest.fixture(params=[True, False], ids=["fast-path", "litellm-path"])
def server(request: pytest.FixtureRequest, upstream: FakeUpstream, tmp_path: Path) -> Iterator[str]:
    """A served app on each streaming path: the fast relay and LiteLLM's own."""
    catalog = make_catalog(upstream.base_url)
    with live_server(catalog, tmp_path, fast_path=request.param) as url:
        yield url


def _token(base: str) -> str:
    with httpx.Client(base_url=base, timeout=30) as client:
        login = client.post("/api/auth/login", json={"username": ADMIN, "password": PASSWORD})
        assert login.status_code == 200
        made = client.post(
            "/api/api-tokens",
            json={"name": "live"},
            headers={"X-CSRF-Token": login.json()["csrfToken"]},
        )
        return str(made.json()["token"])


def _wait_status(
    client: httpx.Client, chat_id: str, message_id: str, timeout: float = 10
) -> dict[str, Any]:

    def finished() -> dict[str, Any]:
        message = client.get(f"/api/chats/{chat_id}/messages/{message_id}").json()
        assert message["status"] != "streaming", "the answer did not finish"
        return dict(message)

    return eventually_blocking(finished, seconds=timeout, interval=0.05)


def test_disconnect_keeps_generating_and_reattaching_gets_the_rest(
    server: str, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text=TEXT, chunks=60, delay=0.04)
    headers = {"Authorization": f"Bearer {_token(server)}"}
    with httpx.Client(base_url=server, headers=headers, timeout=30) as client:
        chat_id = client.post("/api/chats", json={}).json()["id"]
        seen: list[tuple[str, str, Any]] = []
        with client.stream(
            "POST", f"/api/chats/{chat_id}/messages", json={"content": "go", "stream": True}
        ) as response:
            buffer = ""
            for text in response.iter_text():
                buffer += text
                seen = parse_sse(buffer.rsplit("\n\n", 1)[0])
                if sum(1 for e in seen if e[1] == "delta") >= 3:
                    break
        message_id = seen[0][2]["messageId"]
        last_id = seen[-1][0]
        received = "".join(e[2]["text"] for e in seen if e[1] == "delta")
        assert 0 < len(received) < len(TEXT)
        finished = _wait_status(client, chat_id, message_id)
        assert finished["status"] == "complete" and finished["content"] == TEXT
        replay = client.get(
            f"/api/chats/{chat_id}/messages/{message_id}/events", headers={"Last-Event-ID": last_id}
        )
        rest = parse_sse(replay.text)
        assert received + "".join(e[2]["text"] for e in rest if e[1] == "delta") == TEXT
        assert rest[-1][1] == "done"
        assert upstream.recorder.completed == 1 and upstream.recorder.disconnects == 0


def test_reattaching_while_generating_follows_live(server: str, upstream: FakeUpstream) -> None:
    upstream.behave("fake", text=TEXT, chunks=30, delay=0.03)
    headers = {"Authorization": f"Bearer {_token(server)}"}
    with httpx.Client(base_url=server, headers=headers, timeout=30) as client:
        chat_id = client.post("/api/chats", json={}).json()["id"]
        with client.stream(
            "POST", f"/api/chats/{chat_id}/messages", json={"content": "go", "stream": True}
        ) as response:
            first = next(response.iter_text())
        message_id = parse_sse(first)[0][2]["messageId"]
        follow = client.get(f"/api/chats/{chat_id}/messages/{message_id}/events")
        events = parse_sse(follow.text)
        assert events[0][1] == "start" and events[-1][1] == "done"
        assert "".join(e[2]["text"] for e in events if e[1] == "delta") == TEXT


def test_cancel_over_http_closes_the_upstream_within_a_second(
    server: str, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text=TEXT, chunks=60, delay=0.05)
    headers = {"Authorization": f"Bearer {_token(server)}"}
    with httpx.Client(base_url=server, headers=headers, timeout=30) as client:
        chat_id = client.post("/api/chats", json={}).json()["id"]
        with client.stream(
            "POST", f"/api/chats/{chat_id}/messages", json={"content": "go", "stream": True}
        ) as response:
            pieces = response.iter_text()
            first = next(pieces)
            message_id = parse_sse(first)[0][2]["messageId"]
            started = time.monotonic()
            cancelled = client.post(f"/api/chats/{chat_id}/messages/{message_id}/_cancel").json()
            assert upstream.recorder.disconnected.wait(1.0)
            assert time.monotonic() - started < 1.5
            tail = first + "".join(pieces)
        assert cancelled["status"] == "cancelled" and TEXT.startswith(cancelled["content"])
        assert parse_sse(tail)[-1][2]["status"] == "cancelled"


def test_openai_sdk_streams_and_completes_through_v1(server: str, upstream: FakeUpstream) -> None:
    upstream.behave("fake", text="Hello from the fake", chunks=4)
    client = openai.OpenAI(base_url=server + "/v1", api_key=_token(server), max_retries=0)
    assert "fake" in [m.id for m in client.models.list()]
    whole = client.chat.completions.create(
        model="fake", messages=[{"role": "user", "content": "hi"}]
    )
    assert whole.choices[0].message.content == "Hello from the fake"
    assert whole.usage is not None and whole.usage.completion_tokens == 4
    stream = client.chat.completions.create(
        model="fake",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    parts = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(parts) == "Hello from the fake"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server + "/v1", api_key="sb_wrong", max_retries=0).models.list()
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "x"}]
        )


def test_v1_passes_tools_through_and_returns_tool_calls(
    server: str, upstream: FakeUpstream
) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
    upstream.behave("fake", tool_calls=[[call]])
    client = openai.OpenAI(base_url=server + "/v1", api_key=_token(server), max_retries=0)
    tools: list[Any] = [
        {
            "type": "function",
            "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
        }
    ]
    result = client.chat.completions.create(
        model="fake", messages=[{"role": "user", "content": "time?"}], tools=tools
    )
    called = result.choices[0].message.tool_calls or []
    assert called and called[0].function.name == "get_time"  # type: ignore[union-attr]
    assert upstream.recorder.requests[-1]["tools"] == tools


def test_v1_client_disconnect_cancels_the_upstream_call(
    server: str, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text=TEXT, chunks=60, delay=0.05)
    token = _token(server)
    with httpx.Client(base_url=server, timeout=30) as client:
        body = {"model": "fake", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        with client.stream(
            "POST", "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            assert response.status_code == 200
            next(response.iter_text())
    assert upstream.recorder.disconnected.wait(2.0)
    assert upstream.recorder.completed == 0
