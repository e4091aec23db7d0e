"""A real webhook receiver on loopback: refuses (500) its first `refuse` attempts, then takes them
(200); records each attempt's headers, raw body, arrival time and the status it answered."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support import eventually
from tests.toolkits.servers import serve


@dataclass
class Attempt:
    """One POST the receiver saw."""

    headers: dict[str, str]
    body: bytes
    at: float
    status: int


@dataclass
class Receiver:
    """A loopback webhook receiver that refuses the first `refuse` attempts."""

    refuse: int = 2
    attempts: list[Attempt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def app(self) -> Starlette:
        async def hook(request: Request) -> JSONResponse:
            body = await request.body()
            with self.lock:
                status = 500 if len(self.attempts) < self.refuse else 200
                self.attempts.append(Attempt(dict(request.headers), body, time.monotonic(), status))
            return JSONResponse({"ok": status == 200}, status_code=status)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    async def wait_for(self, count: int, seconds: float = 15) -> list[Attempt]:
        """The first `count` attempts, once they have arrived."""

        def arrived() -> list[Attempt]:
            with self.lock:
                return list(self.attempts[:count]) if len(self.attempts) >= count else []

        return await eventually(arrived, seconds=seconds)

    def seen(self) -> list[Attempt]:
        """Every attempt so far."""
        with self.lock:
            return list(self.attempts)


@contextmanager
def receiving(refuse: int = 2) -> Iterator[Receiver]:
    """A running receiver at `receiver.url` (http://127.0.0.1:<port>/hook)."""
    hooks = Receiver(refuse=refuse)
    with serve(hooks.app()) as port:
        hooks.url = f"http://127.0.0.1:{port}/hook"
        yield hooks


def verify(attempt: Attempt, secret: str) -> dict[str, Any]:
    """Check the signature as a receiver would; returns the decoded body."""
    timestamp = attempt.headers["x-switchboard-timestamp"]
    assert abs(time.time() - int(timestamp)) < 60
    signed = timestamp.encode() + b"." + attempt.body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(attempt.headers["x-switchboard-signature"], expected)
    body: dict[str, Any] = json.loads(attempt.body)
    return body
