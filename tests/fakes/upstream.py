"""A fake OpenAI-compatible provider on 127.0.0.1, with knobs, for tests and benchmarks.

Every model call in tests goes through LiteLLM to this server over real HTTP. Behaviour is set per
model name (the part after `openai/` in a deployment) with `FakeUpstream.behave(...)`.
Chat answers honour `n` (that many choices, the same text) and `logprobs`/`top_logprobs` (a
logprobs entry per piece of text), streamed and not.
With `reasoning`, every answer (each tool step's too) first streams that text as
`reasoning_content` deltas (in `chunks` pieces; as a whole answer's `message.reasoning_content`),
and usage counts its pieces in `completion_tokens` and `completion_tokens_details.reasoning_tokens`,
as OpenAI bills reasoning.
With `hold_after=n`, a stream stops after its n-th piece (reasoning pieces count) until the test
calls `release()` on the behaviour `behave` returned (or `reset`s the fake): a test that must see an
answer mid-stream holds it there, instead of slowing every piece down and racing the page.
With `set_cookie`, every answer sets that cookie (`Set-Cookie`), and the recorder keeps each
request's headers, to show what a client sends back.
`POST /v1/embeddings` answers hashed bag-of-words vectors of EMBEDDING_DIMENSION, or `dimensions`
when asked (texts sharing words are close; a token array is one input, hashed as its text
`[1, 2]`), with `usage.prompt_tokens` as the words counted; `fail_status` applies to it too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Behaviour:
    """How the fake answers one model name."""

    text: str = "The quick brown fox jumps over the lazy dog. " * 2
    chunks: int = 8
    delay: float = 0.0
    fail_status: int | None = None
    break_after: int | None = None
    usage: bool = True
    tool_calls: list[list[dict[str, Any]]] | None = None
    prompt_tokens: int | None = None
    first_delay: float = 0.0
    reasoning: str = ""
    set_cookie: str | None = None  # a `Set-Cookie` value every answer carries
    hold_after: int | None = None  # pieces streamed before waiting for `release()`
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        """Let held streams go on (to their end, without waiting again)."""
        self.released.set()


@dataclass
class Recorder:
    """What the fake saw: request bodies, disconnects, streams finished."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)  # each request's, in order
    disconnects: int = 0
    completed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    disconnected: threading.Event = field(default_factory=threading.Event)

    def count(self, model: str | None = None) -> int:
        """Requests seen, for one model or all."""
        with self.lock:
            return sum(1 for r in self.requests if model is None or r.get("model") == model)


class FakeUpstream:
    """The server: start it, point deployments at `base_url`, set behaviours, read `recorder`."""

    def __init__(self, port: int = 0) -> None:
        self.behaviours: dict[str, Behaviour] = {}
        self.recorder = Recorder()
        # Bound now and handed to uvicorn: a port only probed free could be taken by then.
        self._socket = _loopback_socket(port)
        self.port = int(self._socket.getsockname()[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._tool_step: dict[str, int] = {}

    def behave(self, model: str, **knobs: Any) -> Behaviour:
        """Set how a model name answers (unset models use the defaults)."""
        behaviour = Behaviour(**knobs)
        self.behaviours[model] = behaviour
        self._tool_step.pop(model, None)
        return behaviour

    def reset(self) -> None:
        """Forget behaviours and recordings (a stream still held is released)."""
        for behaviour in self.behaviours.values():
            behaviour.release()
        self.behaviours.clear()
        self._tool_step.clear()
        self.recorder = Recorder()

    def start(self) -> FakeUpstream:
        """Serve in a background thread until `stop`."""
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake upstream did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Shut the server down."""
        for behaviour in self.behaviours.values():
            behaviour.release()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    async def _models(self, request: Request) -> Response:
        data = [{"id": name, "object": "model"} for name in self.behaviours]
        return JSONResponse({"object": "list", "data": data})

    async def _embeddings(self, request: Request) -> Response:
        body = await request.json()
        model = str(body.get("model", ""))
        self._record(request, body)
        behaviour = self.behaviours.get(model, Behaviour())
        if behaviour.fail_status is not None:
            error = {"error": {"message": "fake upstream failure", "type": "server_error"}}
            return JSONResponse(error, status_code=behaviour.fail_status)
        texts = body.get("input")
        if isinstance(texts, str) or (texts and all(isinstance(t, int) for t in texts)):
            texts = [texts]  # one text or one token array
        texts = list(texts or [])
        size = int(body.get("dimensions") or EMBEDDING_DIMENSION)
        data = [
            {"object": "embedding", "index": i, "embedding": hashed_vector(str(text), size)}
            for i, text in enumerate(texts)
        ]
        words = sum(len(_WORD.findall(str(text))) or 1 for text in texts)
        usage = {"prompt_tokens": words, "total_tokens": words}
        answer = {"object": "list", "data": data, "model": model, "usage": usage}
        return JSONResponse(answer, headers=_cookie_of(behaviour))

    def _record(self, request: Request, body: dict[str, Any]) -> None:
        with self.recorder.lock:
            self.recorder.requests.append(body)
            self.recorder.headers.append(dict(request.headers))

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        model = str(body.get("model", ""))
        self._record(request, body)
        behaviour = self.behaviours.get(model, Behaviour())
        if behaviour.first_delay:
            await asyncio.sleep(behaviour.first_delay)
        if behaviour.fail_status is not None:
            error = {"error": {"message": "fake upstream failure", "type": "server_error"}}
            return JSONResponse(error, status_code=behaviour.fail_status)
        tool_calls = self._next_tool_calls(model, behaviour)
        prompt_tokens = behaviour.prompt_tokens or _rough_tokens(body.get("messages", []))
        if body.get("stream"):
            stream = self._stream(request, body, behaviour, tool_calls, prompt_tokens)
            cookie = _cookie_of(behaviour)
            return StreamingResponse(stream, media_type="text/event-stream", headers=cookie)
        answer = _completion(model, behaviour, tool_calls, prompt_tokens, body)
        return JSONResponse(answer, headers=_cookie_of(behaviour))

    def _next_tool_calls(self, model: str, behaviour: Behaviour) -> list[dict[str, Any]] | None:
        if not behaviour.tool_calls:
            return None
        step = self._tool_step.get(model, 0)
        self._tool_step[model] = step + 1
        if step < len(behaviour.tool_calls):
            return behaviour.tool_calls[step]
        return None

    async def _stream(
        self,
        request: Request,
        body: dict[str, Any],
        behaviour: Behaviour,
        tool_calls: list[dict[str, Any]] | None,
        prompt_tokens: int,
    ) -> AsyncIterator[bytes]:
        model = str(body.get("model"))
        pieces = _split(behaviour.text, behaviour.chunks) if tool_calls is None else []
        include_usage = (body.get("stream_options") or {}).get("include_usage") and behaviour.usage
        choices = _choices_asked(body)
        top = _top_logprobs_asked(body)
        thought = _split(behaviour.reasoning, behaviour.chunks)
        try:
            for sent, piece in enumerate(thought, start=1):
                yield _sse(_chunk(model, {"role": "assistant", "reasoning_content": piece}))
                await _held(behaviour, sent)
                await asyncio.sleep(behaviour.delay)
            for index, piece in enumerate(pieces):
                if behaviour.break_after is not None and index >= behaviour.break_after:
                    raise ConnectionAbortedError("fake upstream broke the stream")
                delta = {"content": piece} if index else {"role": "assistant", "content": piece}
                for choice in range(choices):
                    yield _sse(_chunk(model, delta, index=choice, logprobs=_logprobs(piece, top)))
                await _held(behaviour, len(thought) + index + 1)
                if behaviour.delay:
                    await asyncio.sleep(behaviour.delay)
            if tool_calls is not None:
                yield _sse(_chunk(model, {"role": "assistant", "tool_calls": _indexed(tool_calls)}))
            finish = "tool_calls" if tool_calls is not None else "stop"
            for choice in range(choices):
                yield _sse(_chunk(model, {}, finish_reason=finish, index=choice))
            if include_usage:
                usage = _usage(prompt_tokens, len(pieces) * choices, len(thought))
                yield _sse({**_chunk(model, {}), "choices": [], "usage": usage})
            yield b"data: [DONE]\n\n"
            with self.recorder.lock:
                self.recorder.completed += 1
        except (asyncio.CancelledError, GeneratorExit):
            with self.recorder.lock:
                self.recorder.disconnects += 1
            self.recorder.disconnected.set()
            raise


async def _held(behaviour: Behaviour, sent: int) -> None:
    """After the `hold_after`-th piece, wait until the test releases the stream (it sets the event
    from its own thread; a cancelled stream stops waiting at once)."""
    if behaviour.hold_after != sent:
        return
    while not behaviour.released.is_set():
        await asyncio.sleep(0.01)


def _cookie_of(behaviour: Behaviour) -> dict[str, str] | None:
    return {"set-cookie": behaviour.set_cookie} if behaviour.set_cookie else None


def _completion(
    model: str,
    behaviour: Behaviour,
    tool_calls: list[dict[str, Any]] | None,
    prompt_tokens: int,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body = body or {}
    top = _top_logprobs_asked(body)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": behaviour.text if tool_calls is None else None,
    }
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    thought = _split(behaviour.reasoning, behaviour.chunks)
    if thought:
        message["reasoning_content"] = behaviour.reasoning
    result: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": index,
                "message": message,
                "finish_reason": "tool_calls" if tool_calls else "stop",
                **({"logprobs": _logprobs(behaviour.text, top)} if top is not None else {}),
            }
            for index in range(_choices_asked(body))
        ],
    }
    if behaviour.usage:
        completion = behaviour.chunks * _choices_asked(body)
        result["usage"] = _usage(prompt_tokens, completion, len(thought))
    return result


def _chunk(
    model: str,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    *,
    index: int = 0,
    logprobs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": index, "delta": delta, "finish_reason": finish_reason}
    if logprobs is not None:
        choice["logprobs"] = logprobs
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
    }


def _choices_asked(body: dict[str, Any]) -> int:
    """The `n` of a request (1 when absent or not a number)."""
    n = body.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1


def _top_logprobs_asked(body: dict[str, Any]) -> int | None:
    """None when the request did not ask for logprobs, else how many alternatives per token."""
    if body.get("logprobs") is not True:
        return None
    top = body.get("top_logprobs")
    return top if isinstance(top, int) and not isinstance(top, bool) else 0


def _logprobs(text: str, top: int | None) -> dict[str, Any] | None:
    """OpenAI's `logprobs` object for a text (one entry per word), or None when not asked."""
    if top is None:
        return None
    content = [
        {
            "token": word,
            "logprob": -0.5,
            "bytes": list(word.encode()),
            "top_logprobs": [
                {"token": word, "logprob": -0.5, "bytes": list(word.encode())} for _ in range(top)
            ],
        }
        for word in re.findall(r"\S+\s*", text)
    ]
    return {"content": content}


def _indexed(tool_calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"index": i, **call} for i, call in enumerate(tool_calls)]


EMBEDDING_DIMENSION = 64
_WORD = re.compile(r"\w+")


def hashed_vector(text: str, dimension: int = EMBEDDING_DIMENSION) -> list[float]:
    """A unit vector of hashed words: deterministic, and close for texts sharing words."""
    vector = [0.0] * dimension
    for word in _WORD.findall(text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vector[int.from_bytes(digest[:4], "big") % dimension] += 1.0 if digest[4] & 1 else -1.0
    norm = sum(value * value for value in vector) ** 0.5 or 1.0
    return [value / norm for value in vector]


def _usage(prompt_tokens: int, completion_tokens: int, reasoning: int = 0) -> dict[str, Any]:
    """OpenAI's usage: reasoning tokens are billed as completion tokens, and told apart."""
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens + reasoning,
        "total_tokens": prompt_tokens + completion_tokens + reasoning,
    }
    if reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _split(text: str, count: int) -> list[str]:
    count = max(1, count)
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _rough_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(len(str(m.get("content") or "").split()) + 4 for m in messages) + 3


def _loopback_socket(port: int) -> socket.socket:
    # tests.support.loopback_socket's twin: this module also runs standalone (bench).
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def main() -> None:
    """Serve the fake on a port until interrupted: `python -m tests.fakes.upstream --port N`."""
    import argparse

    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible upstream on 127.0.0.1.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    fake = FakeUpstream(port=args.port)
    default = Behaviour(
        text="lorem ipsum dolor sit amet " * 8, chunks=args.chunks, delay=args.delay
    )
    fake.behaviours = _DefaultBehaviours(default)
    fake.start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


class _DefaultBehaviours(dict[str, Behaviour]):
    def __init__(self, default: Behaviour) -> None:
        super().__init__()
        self.default = default

    def get(self, key: str, fallback: Behaviour | None = None) -> Behaviour:  # type: ignore[override]
        """`chunks-N` answers in N chunks; other names use the default behaviour."""
        if key.startswith("chunks-") and key[7:].isdigit():
            return Behaviour(text=self.default.text, chunks=int(key[7:]), delay=self.default.delay)
        return super().get(key, self.default)


if __name__ == "__main__":
    main()
