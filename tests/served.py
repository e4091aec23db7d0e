"""`switchboard serve` in a subprocess, as an operator runs it (operations and billing tests)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from api.migrate import upgrade_database
from billing import seats
from core import api_tokens, database
from core import users as user_service
from core.schemas import UserCreate
from tests.support import (
    ADMIN,
    FAKE_PRICE,
    PASSWORD,
    eventually_blocking,
    fresh_database_url,
    loopback_socket,
    migrated_sqlite,
    port_of,
    real_password_cost,
)

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Served:
    """A running `switchboard serve`: its URL, an admin's token headers, the process, its log."""

    url: str
    headers: dict[str, str]
    process: subprocess.Popen[bytes]
    database_url: str
    log: Path

    def output(self) -> str:
        """What the server printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")


def models_file(folder: Path, base_url: str) -> Path:
    """A models.yaml whose `fake` model is the fake upstream, priced."""
    raw = {
        "model_list": [
            {
                "model_name": "fake",
                "litellm_params": {
                    "model": "openai/fake",
                    "api_base": base_url,
                    "api_key": "test-key",
                },
                "model_info": {**FAKE_PRICE, "max_input_tokens": 4096, "max_output_tokens": 1000},
            }
        ],
        "router_settings": {"num_retries": 0},
        "switchboard": {"default_model": "fake"},
    }
    path = folder / "models.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


async def _admin_token(url: str) -> str:
    """Create the admin with a seat and a token before the server starts (no start-up race)."""
    engine = database.create_engine(database.async_url(url))
    try:
        async with database.write_transaction(database.sessionmaker(engine)) as session:
            data = UserCreate(username=ADMIN, password=PASSWORD, role="admin")
            admin = await user_service.create(session, data=data)
            await seats.grant_bootstrap_seat(session, user_id=admin.id)
            issued = await api_tokens.issue(session, user=admin, name="ops", expires_at=None)
            return issued.secret
    finally:
        await engine.dispose()


def prepare(url: str) -> str:
    """Migrate the database and make the admin (its password hashed at the application's cost,
    as an operator's server would); returns the admin's API token."""
    with ThreadPoolExecutor(max_workers=1) as pool, real_password_cost():
        pool.submit(upgrade_database, url).result()  # callers may be inside an event loop
        return str(pool.submit(asyncio.run, _admin_token(url)).result())


def _wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float) -> None:

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError("switchboard serve exited")
        try:
            return httpx.get(url + "/api/ready", timeout=1).status_code == 200
        except httpx.HTTPError as error:
            raise AssertionError(f"switchboard serve is not answering: {error}") from error

    eventually_blocking(ready, seconds=seconds, interval=0.1)


def stop(process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """SIGTERM, then SIGKILL to the group if it does not end in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextmanager
def serve(
    tmp_path: Path,
    upstream_url: str,
    *,
    database_url: str = "",
    workers: int = 1,
    env: dict[str, str] | None = None,
    token: str | None = None,
    fresh: bool = False,
) -> Iterator[Served]:
    """Run `switchboard serve` on a free port (SQLite in tmp_path unless `database_url` or the
    suite's PostgreSQL pass gives one).

    Without `token` the database is migrated and gets an admin first (see `prepare`); with it,
    the database is taken as prepared (a second server on the same database). `fresh` leaves the
    database as it is, for the server's own start-up to migrate (no admin token: empty headers)."""
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    if not database_url and token is None and not fresh:
        database_url = fresh_database_url()  # PostgreSQL on the suite's PostgreSQL pass
    url = database_url or f"sqlite:///{(data / 'switchboard.db').resolve()}"
    if not database_url and token is None and not fresh and not (data / "switchboard.db").exists():
        migrated_sqlite(data / "switchboard.db")  # so `prepare` finds no migration left to run
    secret = token or ("" if fresh else prepare(url))
    # Held bound (SO_REUSEADDR, never listening) until the server has stopped: uvicorn's own
    # bind with SO_REUSEADDR still succeeds, while no other socket's bind to a free port or
    # outgoing connection is given this port during the seconds the process takes to start.
    reserved = loopback_socket()
    port = port_of(reserved)
    environment = {
        **os.environ,
        "SWITCHBOARD_DATABASE_URL": database_url,
        "SWITCHBOARD_MODELS": str(models_file(tmp_path, upstream_url)),
        "SWITCHBOARD_DATA_DIR": str(data),
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "SWITCHBOARD_CHECKPOINT_SECONDS": "0.2",
        "SWITCHBOARD_EMBEDDING_BACKEND": "hash",
        # Off: a served test that makes no model call need not import LiteLLM (seconds of CPU).
        "SWITCHBOARD_WARM_START": "false",
        "PYTHONPATH": str(ROOT),  # the code under test, whichever checkout it is in
        **(env or {}),
    }
    switchboard = str(Path(sys.executable).with_name("switchboard"))
    command = [switchboard, "serve", "--workers", str(workers), "--port", str(port)]
    log_path = tmp_path / "serve.log"
    with reserved, log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_healthy(base, process, seconds=90)
            headers = {"Authorization": f"Bearer {secret}"} if secret else {}
            yield Served(base, headers, process, url, log_path)
        finally:
            stop(process)
