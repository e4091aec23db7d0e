"""Request bodies are limited while they stream in, on a served process, over raw sockets.

A refused body must be answered before the client has finished sending it: each test sends a
head that announces (or streams) far more than the limit and expects the answer at once.
"""

from __future__ import annotations

import json
import re
import select
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from api.app import create_app
from api.body_limits import BodyLimitMiddleware
from tests.fakes.upstream import FakeUpstream
from tests.served import Served, serve
from tests.support import ADMIN, PASSWORD, app_settings, make_catalog

MiB = 1024 * 1024
# The start of a valid body of each kind (the rest is spaces), so the server has no reason to
# refuse it but its size or its caller.
KINDS = {
    "json": ("application/json", b"[1,2,"),
    "upload": (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n",
    ),
}
FORMS = {"multipart/form-data", "application/x-www-form-urlencoded"}
ANSWER_SECONDS = 15  # a loaded CI machine; a server that waits for the body never answers
UPLOAD_PATHS = (
    "/api/library/files",
    "/api/assistants/01ARZ3NDEKTSV4RRFFQ69G5FAV/files",
    "/api/assistants/01ARZ3NDEKTSV4RRFFQ69G5FAV/skills/_import",
)


@pytest.fixture(scope="module")
def served(
    fake_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("limits"), fake_upstream_server.base_url) as running:
        yield running


def _connect(served: Served) -> socket.socket:
    address = urlsplit(served.url)
    sock = socket.create_connection((address.hostname, address.port), timeout=ANSWER_SECONDS)
    return sock


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer(sock: socket.socket) -> tuple[int, dict[str, str], dict[str, object]]:
    """Status, headers and JSON body of the answer, read until the server closes."""
    data = b""
    while True:
        try:
            part = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"no answer within {ANSWER_SECONDS} s: {data[:200]!r}") from None
        except ConnectionResetError:
            break  # closed with our unread body in its buffer: what came before still counts
        if not part:
            break
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


def _declared(
    served: Served, path: str, length: int, kind: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], dict[str, object]]:
    """Announce a body of `length` bytes, send its first KiB, and read the answer."""
    content_type, start = KINDS[kind]
    head = {"Content-Type": content_type, "Content-Length": str(length), **(headers or {})}
    with _connect(served) as sock:
        sock.sendall(_head("POST", path, head))
        sock.sendall(start + b" " * 1024)
        return _answer(sock)


def _chunked(
    served: Served, path: str, total: int, kind: str, headers: dict[str, str] | None = None
) -> tuple[int, int, dict[str, object]]:
    """Stream up to `total` bytes in chunks, stopping when the server answers (never ending the
    body); returns the status, the bytes sent and the answer's body."""
    content_type, start = KINDS[kind]
    chunk = b" " * (64 * 1024)
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    head = {"Content-Type": content_type, "Transfer-Encoding": "chunked", **(headers or {})}
    with _connect(served) as sock:
        sock.sendall(_head("POST", path, head))
        sock.sendall(f"{len(start):x}\r\n".encode() + start + b"\r\n")
        answered = select.poll()  # not select(): a worker of the suite may hold fds past 1024
        answered.register(sock, select.POLLIN)
        while sent < total:
            if answered.poll(0):
                break  # the answer (or the close) is there
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        status, _, body = _answer(sock)
    return status, sent, body


def test_a_json_body_announced_over_the_limit_is_refused_before_it_is_sent(
    served: Served,
) -> None:
    status, headers, body = _declared(served, "/api/auth/login", 200 * MiB, "json")
    assert status == 413
    assert body["code"] == "request_too_large"
    assert body["details"] == {"limit": MiB}
    assert headers["connection"] == "close"


def test_a_chunked_json_body_is_cut_off_once_it_passes_the_limit(served: Served) -> None:
    status, sent, body = _chunked(served, "/api/auth/login", 64 * MiB, "json")
    assert status == 413 and body["code"] == "request_too_large"
    assert sent < 64 * MiB  # answered while the body was still coming


@pytest.mark.parametrize("path", [*UPLOAD_PATHS, "/v1/chat/completions"])
def test_an_unauthenticated_upload_is_refused_before_its_body_is_read(
    served: Served, path: str
) -> None:
    kind = "upload" if path in UPLOAD_PATHS else "json"
    status, _, body = _declared(served, path, 4 * MiB, kind)
    error = body.get("error", body)  # /v1: OpenAI's error shape
    assert isinstance(error, dict)
    assert status == 401 and error["code"] == "unauthenticated"


def test_an_unauthenticated_chunked_upload_is_refused_before_its_body_is_read(
    served: Served,
) -> None:
    status, sent, body = _chunked(served, "/api/library/files", 64 * MiB, "upload")
    assert status == 401 and body["code"] == "unauthenticated"
    assert sent < 64 * MiB


def test_an_authenticated_upload_announced_over_its_limit_is_refused_at_once(
    served: Served,
) -> None:
    status, _, body = _declared(served, "/api/library/files", 4096 * MiB, "upload", served.headers)
    assert status == 413 and body["code"] == "request_too_large"
    status, _, body = _declared(served, UPLOAD_PATHS[2], 64 * MiB, "upload", served.headers)
    assert status == 413 and body["details"] == {"limit": 6 * MiB}


def _peak_rss(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_parallel_oversized_bodies_do_not_grow_the_servers_memory_by_their_size(
    served: Served,
) -> None:
    before = _peak_rss(served.process.pid)
    with ThreadPoolExecutor(max_workers=6) as pool:
        runs = [
            pool.submit(_chunked, served, "/api/auth/login", 48 * MiB, "json") for _ in range(4)
        ]
        runs += [
            pool.submit(_chunked, served, "/api/library/files", 48 * MiB, "upload")
            for _ in range(2)
        ]
        statuses = sorted(run.result()[0] for run in runs)
    assert statuses == [401, 401, 413, 413, 413, 413]
    assert _peak_rss(served.process.pid) - before < 48 * MiB  # unguarded: +4 x 48 MiB and more


def test_ordinary_json_uploads_and_large_v1_requests_still_work(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        login = client.post("/api/auth/login", json={"username": ADMIN, "password": PASSWORD})
        assert login.status_code == 200
        files = [("files", ("notes.txt", b"Plain notes about the body limits.\n" * 1000))]
        uploaded = client.post("/api/library/files", files=files, headers=served.headers)
        assert uploaded.status_code == 201, uploaded.text
        # 1.5 MB: over the JSON limit, within /v1's (a model call carries its whole context).
        big = {"model": "fake", "messages": [{"role": "user", "content": "word " * 300_000}]}
        answered = client.post("/v1/chat/completions", json=big, headers=served.headers)
        assert answered.status_code == 200, answered.text[:300]


def test_every_route_that_takes_files_authenticates_before_reading_them(tmp_path: Path) -> None:
    settings = app_settings(tmp_path)
    app = create_app(settings, catalog=make_catalog("http://127.0.0.1:9"))
    limits = BodyLimitMiddleware(app, settings)
    takes_forms = [
        path
        for path, operations in app.openapi()["paths"].items()
        for operation in operations.values()
        if FORMS & set(operation.get("requestBody", {}).get("content", {}))
    ]
    assert len(takes_forms) >= 3
    for path in takes_forms:
        limit, authenticate_first = limits.limit_for(re.sub(r"\{[^}]+\}", "x", path))
        assert authenticate_first and limit > settings.max_json_bytes, path
