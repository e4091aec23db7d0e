"""What the fakes of non-OpenAI wire formats share: a scripted reply per model name, a recorder,
and a loopback uvicorn server in a thread (the style of tests/fakes/upstream.py).

Each format lives in its own module (anthropic_upstream, gemini_upstream, ollama_upstream,
azure_upstream) and renders the same `Reply` in its provider's own JSON and streaming framing, so
one test can run unchanged through every format. Tool calls are scripted in OpenAI's shape
(`{"id", "type": "function", "function": {"name", "arguments": "<json>"}}`), one list per step,
and each fake translates them into its format. With `set_cookie` set, every answer sets that
cookie (`Set-Cookie`); each request's `Seen.headers` show whether a client sent one back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from tests.support import eventually_blocking, loopback_socket, port_of


@dataclass
class Reply:
    """How a fake answers one model name."""

    text: str = "Hello from a fake provider."
    chunks: int = 3
    thinking: str = ""  # reasoning, where the format has it (sent before the text)
    tool_calls: list[list[dict[str, Any]]] | None = None  # one list of calls per step
    prompt_tokens: int = 21  # every input token, cached ones included
    completion_tokens: int = 7
    cache_read: int = 0  # of prompt_tokens, read from the provider's prompt cache
    cache_write: int = 0  # of prompt_tokens, written to it (Anthropic's cache creation)
    fail_status: int | None = None
    fail_times: int | None = None  # fail only the first N requests (None: every one)
    break_after: int | None = None  # fail after this many text pieces (mid-stream)


@dataclass
class Seen:
    """One request as the fake received it."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Step:
    """What one request is answered with: the reply, and this step's tool calls (or None)."""

    reply: Reply
    tool_calls: list[dict[str, Any]] | None
    failing: bool

    def pieces(self) -> list[str]:
        """The text in `reply.chunks` pieces (none when this step calls tools)."""
        if self.tool_calls is not None:
            return []
        text, count = self.reply.text, max(1, self.reply.chunks)
        size = max(1, -(-len(text) // count))
        return [text[i : i + size] for i in range(0, len(text), size)]

    def calls(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """This step's tool calls as (id, name, arguments)."""
        for call in self.tool_calls or []:
            function = call["function"]
            yield call["id"], function["name"], json.loads(function["arguments"] or "{}")


@dataclass
class Recorder:
    """What a fake saw."""

    requests: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self, model: str | None = None) -> list[dict[str, Any]]:
        """Request bodies, for one model name (as the fake reads it from the request) or all."""
        with self.lock:
            return [s.body for s in self.requests if model is None or s.body["_model"] == model]


class FormatFake:
    """A fake provider: start it, point deployments at it (`params`), script `behave`."""

    name = ""  # the format, as tests name it

    def __init__(self) -> None:
        self.replies: dict[str, Reply] = {}
        self.recorder = Recorder()
        self.set_cookie: str | None = None  # a `Set-Cookie` value every answer carries
        # Bound now and handed to uvicorn: a port only probed free could be taken by then.
        self._socket = loopback_socket()
        self.port = port_of(self._socket)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._served: dict[str, int] = {}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def routes(self) -> list[Route]:
        """The provider's endpoints."""
        raise NotImplementedError

    def params(self, model: str) -> dict[str, Any]:
        """LiteLLM parameters of a deployment that reaches `model` on this fake."""
        raise NotImplementedError

    def behave(self, model: str, **knobs: Any) -> Reply:
        """Set how a model name answers (unset models use the defaults)."""
        reply = Reply(**knobs)
        self.replies[model] = reply
        self._served.pop(model, None)
        return reply

    def reset(self) -> None:
        """Forget replies and recordings."""
        self.replies.clear()
        self._served.clear()
        self.recorder = Recorder()
        self.set_cookie = None

    def take(self, model: str, seen: Seen) -> Step:
        """Record a request for `model` and decide its answer."""
        seen.body["_model"] = model
        reply = self.replies.get(model, Reply())
        with self.recorder.lock:
            self.recorder.requests.append(seen)
            served = self._served.get(model, 0)
            self._served[model] = served + 1
        failing = reply.fail_status is not None and (
            reply.fail_times is None or served < reply.fail_times
        )
        if failing:
            return Step(reply, None, True)
        done = served - (reply.fail_times or 0) if reply.fail_status is not None else served
        calls = None
        if reply.tool_calls and done < len(reply.tool_calls):
            calls = reply.tool_calls[done]
        return Step(reply, calls, False)

    def start(self) -> FormatFake:
        """Serve in a background thread until `stop`."""
        served = Starlette(routes=self.routes())

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            async def sending(message: Message) -> None:
                if message["type"] == "http.response.start" and self.set_cookie:
                    cookie = (b"set-cookie", self.set_cookie.encode())
                    message["headers"] = [*message.get("headers", []), cookie]
                await send(message)

            await served(scope, receive, sending)

        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        server, thread = self._server, self._thread

        def started() -> bool:
            if not thread.is_alive():
                raise RuntimeError(f"the fake {self.name} provider stopped before it started")
            return bool(server.started)

        eventually_blocking(started, seconds=20)
        return self

    def stop(self) -> None:
        """Shut the server down."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)


def sse(payload: dict[str, Any], event: str | None = None) -> bytes:
    """One server-sent event (named when `event` is given)."""
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + json.dumps(payload).encode() + b"\n\n"


async def seen_of(request: Request) -> Seen:
    """A request's path, query, headers and JSON body."""
    return Seen(
        path=request.url.path,
        query=dict(request.query_params),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=await request.json(),
    )
