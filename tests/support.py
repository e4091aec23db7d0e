"""Building blocks for tests: a test catalog, the app with its lifespan, users, a live server."""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    asynccontextmanager,
    closing,
    contextmanager,
    suppress,
)
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import uvicorn
from argon2.profiles import RFC_9106_LOW_MEMORY
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from api.app import create_app
from api.migrate import alembic_config, upgrade_database
from api.services import Services
from core import api_tokens, clock, passwords, users
from core.catalog import Catalog, parse_catalog
from core.database import write_transaction
from core.schemas import Role, UserCreate
from core.settings import Settings, load_settings

ADMIN = "admin"
PASSWORD = "correct horse battery"
T = TypeVar("T")
# $10 / $30 per million input / output tokens, as the billing issue prices its fake model.
FAKE_PRICE = {"input_cost_per_token": 10e-6, "output_cost_per_token": 30e-6}


def make_catalog(base_url: str, **extra_models: dict[str, Any]) -> Catalog:
    """A catalog whose models all point at the fake upstream."""

    def deployment(name: str, upstream_model: str, **info: Any) -> dict[str, Any]:
        return {
            "model_name": name,
            "litellm_params": {
                "model": f"openai/{upstream_model}",
                "api_base": base_url,
                "api_key": "test-key",
            },
            "model_info": {
                **FAKE_PRICE,
                "max_input_tokens": 4096,
                "max_output_tokens": 1000,
                **info,
            },
        }

    model_list = [
        deployment("fake", "fake", description="The fake upstream."),
        deployment("fake-broken", "fake-broken"),
        deployment("fake-backup", "fake-backup"),
        deployment("fake-small", "fake-small", max_input_tokens=200),
        deployment("balanced", "balanced-a"),
        deployment("balanced", "balanced-b"),
    ]
    model_list += [deployment(name, name, **info) for name, info in extra_models.items()]
    raw = {
        "model_list": model_list,
        "router_settings": {"num_retries": 0, "fallbacks": [{"fake-broken": ["fake-backup"]}]},
        "switchboard": {"default_model": "fake", "aliases": {"fake-alias": "fake"}},
    }
    return parse_catalog(raw, source="test catalog")


def fresh_database_url() -> str:
    """ "" (SQLite in the data dir), or a fresh migrated PostgreSQL database when the suite runs
    with SWITCHBOARD_TEST_DATABASE=postgres (CI runs the app tests a second time that way)."""
    if os.environ.get("SWITCHBOARD_TEST_DATABASE") != "postgres":
        return ""
    from tests.postgres import SKIP_REASON, copy_of_migrated, server_url

    server = server_url()
    if server is None:
        raise RuntimeError(SKIP_REASON)
    with ThreadPoolExecutor(max_workers=1) as pool:  # it runs its own event loop
        return pool.submit(copy_of_migrated, server).result()


_SQLITE_TEMPLATE = tempfile.TemporaryDirectory(prefix="switchboard-schema-")


def migrated_sqlite(path: Path) -> None:
    """Put a SQLite database with the newest schema at `path`: a copy of one this process
    migrated once (migrating takes ~0.3 s of CPU a database, copying ~1 ms)."""
    template = Path(_SQLITE_TEMPLATE.name) / "switchboard.db"
    if not template.exists():
        with ThreadPoolExecutor(max_workers=1) as pool:  # Alembic runs its own event loop
            pool.submit(upgrade_database, f"sqlite:///{template}").result()
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(path)) as copy:
        source.backup(copy)


def database_at(revision: str, path: Path, rows: Sequence[str]) -> str:
    """A database migrated only up to an old `revision`, holding `rows` (INSERT statements that
    read alike on both databases), for tests that upgrade it: a new database on the PostgreSQL
    server on the PostgreSQL pass, else a SQLite file at `path`. Blocking (Alembic runs its own
    event loop); returns its URL."""
    from alembic import command

    if os.environ.get("SWITCHBOARD_TEST_DATABASE") != "postgres":
        url = f"sqlite:///{path}"
        command.upgrade(alembic_config(url), revision)
        with closing(sqlite3.connect(path)) as database, database:
            for row in rows:
                database.execute(row)
        return url
    from tests.postgres import SKIP_REASON, create_database, execute, server_url

    server = server_url()
    if server is None:
        raise RuntimeError(SKIP_REASON)
    url = create_database(server, migrate=False)
    command.upgrade(alembic_config(url), revision)
    execute(url, ";\n".join(rows))
    return url


def app_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a test app: its own data directory and database, an admin, plain logs.

    A SQLite database not there yet starts as a copy of a migrated one; the app's start-up still
    runs the migrations, finding nothing left to do (tests/ops/test_start_up.py and the served
    tests' `fresh=True` start from an empty database)."""
    values: dict[str, Any] = {
        "database_url": fresh_database_url(),
        "data_dir": tmp_path / "data",
        "admin_username": ADMIN,
        "admin_password": PASSWORD,
        "log_json": False,
        "log_level": "WARNING",
        "checkpoint_seconds": 0.2,
        # Off so ledger counts stay one row per call; tests of titles turn it on.
        "auto_titles": False,
        # Off so a test app builds no LiteLLM router it does not use (tests/ops/test_start_up.py).
        "warm_start": False,
    }
    values.update(overrides)
    settings = load_settings(**values)
    database = settings.data_dir / "switchboard.db"
    if not settings.database_url and not database.exists():
        migrated_sqlite(database)
    return settings


@dataclass
class Caller:
    """A user of the test app and the headers that authenticate them."""

    id: str
    username: str
    headers: dict[str, str]


@dataclass
class AppHarness:
    """A running app, an ASGI client to it, and ways to make users."""

    app: FastAPI
    client: httpx.AsyncClient
    admin: Caller

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    @classmethod
    @asynccontextmanager
    async def start(
        cls, catalog: Catalog, tmp_path: Path, **settings: Any
    ) -> AsyncIterator[AppHarness]:
        app = create_app(app_settings(tmp_path, **settings), catalog=catalog)
        async with LifespanManager(app, startup_timeout=120, shutdown_timeout=60):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver"
            ) as client:
                harness = cls(app, client, Caller("", ADMIN, {}))
                harness.admin = await harness.caller_for(ADMIN)
                yield harness

    async def caller_for(self, username: str) -> Caller:
        """An API token for an existing user."""
        async with write_transaction(self.services.sessions) as session:
            user = await users.find_by_username(session, username=username)
            assert user is not None
            issued = await api_tokens.issue(session, user=user, name="test", expires_at=None)
        return Caller(user.id, username, {"Authorization": f"Bearer {issued.secret}"})

    async def member(self, username: str, role: Role = "member") -> Caller:
        """A new user with an API token."""
        async with write_transaction(self.services.sessions) as session:
            data = UserCreate(username=username, password=PASSWORD, role=role)
            await users.create(session, data=data)
        return await self.caller_for(username)

    async def chat(self, caller: Caller, **body: Any) -> str:
        """A new chat of a caller's; returns its id."""
        response = await self.client.post("/api/chats", json=body, headers=caller.headers)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


async def eventually(
    check: Callable[[], T | Awaitable[T]], *, seconds: float = 10, interval: float = 0.02
) -> T:
    """Call `check` (sync or async) until it returns a truthy value, and return that value; a
    falsy value or an AssertionError means "not yet". After `seconds`, an AssertionError that
    carries the last failure. The one way tests wait for something to happen."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = check()
            result = cast(T, await value if inspect.isawaitable(value) else value)
        except AssertionError as failure:
            result, last = cast(T, None), failure
        else:
            last = _not_yet(check, result)
        if result:
            return result
        _give_up_after(deadline, seconds, last)
        await asyncio.sleep(interval)


def eventually_blocking(
    check: Callable[[], T], *, seconds: float = 10, interval: float = 0.02
) -> T:
    """`eventually` for synchronous code (a thread, a sync client, a browser test): the same
    contract, sleeping between tries instead of awaiting."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = check()
        except AssertionError as failure:
            result, last = cast(T, None), failure
        else:
            last = _not_yet(check, result)
        if result:
            return result
        _give_up_after(deadline, seconds, last)
        time.sleep(interval)


def _not_yet(check: Callable[[], Any], result: Any) -> AssertionError:
    return AssertionError(f"{getattr(check, '__name__', check)} returned {result!r}")


def _give_up_after(deadline: float, seconds: float, last: AssertionError) -> None:
    if time.monotonic() >= deadline:
        raise AssertionError(f"not within {seconds} s: {last}") from last


class Harnesses:
    """Starts test apps (the `make_harness` fixture): `await make_harness(**settings)` runs one
    until the test ends; `make_harness.running(**settings)` runs one for an `async with` block
    (a restart). Each uses the test's fake-upstream catalog and data folder unless given its own."""

    def __init__(self, stack: AsyncExitStack, catalog: Catalog, path: Path) -> None:
        self._stack, self._catalog, self._path = stack, catalog, path

    async def __call__(
        self, *, catalog: Catalog | None = None, path: Path | None = None, **settings: Any
    ) -> AppHarness:
        return await self._stack.enter_async_context(
            self.running(catalog=catalog, path=path, **settings)
        )

    def running(
        self, *, catalog: Catalog | None = None, path: Path | None = None, **settings: Any
    ) -> AbstractAsyncContextManager[AppHarness]:
        return AppHarness.start(catalog or self._catalog, path or self._path, **settings)


def parse_sse(text: str) -> list[tuple[str, str, Any]]:
    """SSE text as (id, event, data) triples; data is JSON-decoded where it can be."""
    import json

    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            key, _, value = line.partition(":")
            fields[key] = fields.get(key, "") + value.removeprefix(" ")
        if "data" not in fields and "event" not in fields:
            continue
        data: Any = fields.get("data", "")
        with suppress(ValueError):
            data = json.loads(str(data))
        events.append((fields.get("id", ""), fields.get("event", "message"), data))
    return events


def loopback_socket(port: int = 0) -> socket.socket:
    """A TCP socket bound to loopback (a free port unless `port` is given), for a server to listen
    on: read its port with `port_of` and hand the socket itself to the server. Not a port number
    to bind later: between a probe's close and the server's bind, another xdist worker's server
    or an outgoing connection could take that port."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def port_of(sock: socket.socket) -> int:
    """The port a socket is bound to."""
    return int(sock.getsockname()[1])


@contextmanager
def live_server(catalog: Catalog, tmp_path: Path, **settings: Any) -> Iterator[str]:
    """The app under a real uvicorn server on loopback, in a thread; yields its base URL."""
    app = create_app(app_settings(tmp_path, **settings), catalog=catalog)
    with loopback_socket() as sock:  # uvicorn closes it at shutdown; this, if it never started
        port = port_of(sock)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()

        def started() -> bool:
            if not thread.is_alive():
                raise RuntimeError("the test server stopped before it started")
            return bool(server.started)

        eventually_blocking(started, seconds=20)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=20)


@asynccontextmanager
async def served(harness: AppHarness) -> AsyncIterator[str]:
    """The harness's app (already started) also under uvicorn on loopback, in this event loop,
    for clients that need a URL (SDKs); yields its base URL."""
    with loopback_socket() as sock:  # uvicorn closes it at shutdown; this, if it never started
        port = port_of(sock)
        config = uvicorn.Config(
            harness.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        await eventually(lambda: server.started or task.done(), seconds=20)
        if task.done():
            task.result()  # it failed to start: raise why
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, timeout=20)


async def slowest_health_while(client: httpx.AsyncClient, pending: asyncio.Future[Any]) -> float:
    """Probe `/api/health` back to back until `pending` is done; the slowest answer, in seconds."""
    slowest = 0.0
    while not pending.done():
        started = time.perf_counter()
        assert (await client.get("/api/health")).status_code == 200
        slowest = max(slowest, time.perf_counter() - started)
        await asyncio.sleep(0.01)
    return slowest


def live_admin_headers(url: str) -> dict[str, str]:
    """Log the admin in to a live server and make an API token; its Authorization header."""
    with httpx.Client(base_url=url, timeout=30) as client:
        login = client.post("/api/auth/login", json={"username": ADMIN, "password": PASSWORD})
        csrf = {"X-CSRF-Token": login.json()["csrfToken"]}
        made = client.post("/api/api-tokens", json={"name": "live"}, headers=csrf)
        return {"Authorization": f"Bearer {made.json()['token']}"}


@contextmanager
def real_password_cost() -> Iterator[None]:
    """New password hashes at the application's Argon2 cost inside the block (tests/conftest.py
    lowers it for the suite)."""
    cheap = passwords.use_parameters(RFC_9106_LOW_MEMORY)
    try:
        yield
    finally:
        passwords.use_parameters(cheap)


@contextmanager
def frozen_clock(moment: datetime) -> Iterator[None]:
    """The app's clock (`core.clock`) stands still at `moment` inside the block, so a time-based
    rule under test does not move on while a loaded machine answers slowly."""
    clock.install(lambda: moment)
    try:
        yield
    finally:
        clock.install(None)
