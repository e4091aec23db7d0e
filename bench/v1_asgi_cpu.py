"""In-process CPU of one `/v1/chat/completions` stream through the whole app, without a server.

Builds the app (SQLite file, the lean upstream of bench/upstream.py in its own process, as
bench/v1_profile.py), signs the admin in for an API token, then calls the ASGI app directly, one
stream after another: a 20-chunk streamed answer with the usage chunk, the client reading it to
`[DONE]`. Prints this process's CPU (`time.process_time`) a stream: the app's work from the
outermost middleware to the last byte, including the upstream call's client side, and nothing of
uvicorn, the client's socket or the upstream. Other load on the machine moves it much less than a
served bench's CPU figure. Run it from the copy to measure (`PYTHONPATH=<copy>`).

`--front` answers from canned chunks instead of the gateway (no admission, upstream call or
settlement): what is left is the HTTP front of a stream (middleware, routing, the body's
validation, auth, the SSE response and its 22 writes), the part a change there moves.

    .venv/bin/python bench/v1_asgi_cpu.py [--requests 2000] [--rounds 3] [--front]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gateway import catalog_yaml, free_port, process  # noqa: E402

CHUNK = (
    b'{"id":"c","object":"chat.completion.chunk","created":1,"model":"chunks-20",'
    b'"choices":[{"index":0,"delta":{"content":"word "},"finish_reason":null}]}'
)

BODY = json.dumps(
    {
        "model": "chunks-20",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "Say something."}],
    }
).encode()


async def one_stream(app: Any, token: str, state: dict[str, Any]) -> int:
    """One streamed answer through the ASGI app; the bytes of its body."""
    done = asyncio.Event()
    sent = False
    size = 0
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal size, status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
            (b"user-agent", b"bench"),
        ],
        "state": dict(state),
    }
    await app(scope, receive, send)
    if status != 200:
        raise RuntimeError(f"status {status}")
    return size


class CannedPassthrough:
    """The gateway's `/v1/chat/completions` side answered from memory: 20 chunks, a batch each,
    and the usage chunk; admitted without billing. Each batch waits for one turn of the event
    loop, as a provider read does, so the stream's task is woken through the whole stack."""

    async def admit(self, *, caller: Any, body: Any) -> Any:
        from billing.ratelimits import UNLIMITED

        return SimpleNamespace(call=SimpleNamespace(headroom=UNLIMITED))

    async def stream(self, request: Any) -> Any:
        async def batches() -> Any:
            for _ in range(20):
                await asyncio.sleep(0)
                yield [CHUNK]
            yield [b'{"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":20}}']

        return batches()


async def measure(requests: int, rounds: int, front: bool) -> None:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    up_port = free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    tmp = Path(tempfile.mkdtemp(prefix="sb-v1-asgi-"))
    (tmp / "models.yaml").write_text(catalog_yaml(upstream, [20]))
    os.environ.update(
        SWITCHBOARD_DATA_DIR=str(tmp / "data"),
        SWITCHBOARD_MODELS=str(tmp / "models.yaml"),
        SWITCHBOARD_ADMIN_USERNAME="bench",
        SWITCHBOARD_ADMIN_PASSWORD="bench-password",
        SWITCHBOARD_LOG_LEVEL="WARNING",
    )
    from api.app import create_app

    lean = [sys.executable, str(ROOT / "bench" / "upstream.py"), "--port", str(up_port)]
    with process(lean, env, f"{upstream}/models"):
        app = create_app()
        if front:
            app.state.services.passthrough = CannedPassthrough()
        async with app.router.lifespan_context(app) as state:
            state = dict(state or {})
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sb") as client:
                login = await client.post(
                    "/api/auth/login", json={"username": "bench", "password": "bench-password"}
                )
                csrf = {"X-CSRF-Token": login.json()["csrfToken"]}
                made = await client.post("/api/api-tokens", json={"name": "b"}, headers=csrf)
                token = made.json()["token"]
            for _ in range(300):  # warm up
                await one_stream(app, token, state)
            figures = []
            for round_ in range(rounds):
                started = time.process_time()
                for _ in range(requests):
                    await one_stream(app, token, state)
                ms = (time.process_time() - started) * 1000 / requests
                figures.append(ms)
                print(
                    f"round {round_ + 1}: {ms:.3f} CPU ms a stream "
                    f"(1-minute load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
            print(f"median {statistics.median(figures):.3f} CPU ms a stream")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--front", action="store_true", help="canned chunks, no gateway")
    args = parser.parse_args()
    asyncio.run(measure(args.requests, args.rounds, args.front))
