"""No secret reaches a log line: a session through many routes with every log record captured.

Logging is at DEBUG (LiteLLM and httpx too). The secrets: a user's password (and a wrong one),
the session cookie and CSRF token, an API token (and a forged one), an assistant secret, and a
provider key that the model catalog reads from the environment.
"""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from api import logs
from api.logs import RedactSecrets
from core.catalog import Catalog, parse_catalog
from tests.fakes.upstream import FakeUpstream
from tests.support import FAKE_PRICE, AppHarness, Harnesses

pytestmark = pytest.mark.anyio
PROVIDER_KEY = "provider-key-7f3a9c1e5b2d"
ENV_NAME = "SWITCHBOARD_TEST_OPS_PROVIDER_KEY"
PASSWORD = "alice-password-92hf83"
WRONG = "wrong-password-4kd93j"
ASSISTANT_SECRET = "assistant-secret-value-x81kq"
FORGED = "sb_forgedtokenvalue0123456789"
STORED_KEY = "stored-provider-key-q81jz0"


@dataclass
class Captured:
    """Every record the app's handler emitted, and its formatted output."""

    records: list[logging.LogRecord] = field(default_factory=list)
    output: io.StringIO = field(default_factory=io.StringIO)

    def leaks(self, secrets: list[str]) -> list[str]:
        """Each place a secret appears: in a record's message, args, extras or exception."""
        found = []
        text = self.output.getvalue()
        for record in self.records:
            parts = [record.getMessage(), str(record.msg), repr(record.args)]
            parts += [repr(v) for v in vars(record).values()]
            parts += [record.exc_text or "", record.stack_info or ""]
            for secret in secrets:
                if any(secret in part for part in parts):
                    found.append(f"{secret!r} in {record.name}: {record.getMessage()[:200]}")
        found += [f"{s!r} in the output" for s in secrets if s in text]
        return found


class _Keep(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _catalog(base_url: str) -> Catalog:
    entry = {
        "model_name": "fake",
        "litellm_params": {
            "model": "openai/fake",
            "api_base": base_url,
            "api_key": f"os.environ/{ENV_NAME}",
        },
        "model_info": {**FAKE_PRICE, "max_input_tokens": 4096, "max_output_tokens": 1000},
    }
    raw = {"model_list": [entry], "switchboard": {"default_model": "fake"}}
    return parse_catalog(raw, source="test catalog")


@pytest.fixture
def provider_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv(ENV_NAME, PROVIDER_KEY)
    yield PROVIDER_KEY


@pytest.fixture
async def logged(
    upstream: FakeUpstream, make_harness: Harnesses, provider_key: str
) -> AsyncIterator[tuple[AppHarness, Captured]]:
    captured = Captured()
    catalog = _catalog(upstream.base_url)
    async with make_harness.running(catalog=catalog, log_level="DEBUG", log_json=True) as harness:
        root = logging.getLogger()
        app_handler = root.handlers[0]
        assert isinstance(app_handler, logging.StreamHandler)
        app_handler.setStream(captured.output)
        keep = _Keep(captured.records)
        root.addHandler(keep)  # after the app's handler: sees records as they were emitted
        noisy = ("LiteLLM", "LiteLLM Router", "httpx", "httpcore")
        for name in noisy:
            logging.getLogger(name).setLevel(logging.DEBUG)
        try:
            yield harness, captured
        finally:
            root.removeHandler(keep)
            for name in noisy:
                logging.getLogger(name).setLevel(logging.WARNING)


async def _session_through_many_routes(harness: AppHarness) -> list[str]:
    """Log in, make and use a token, an assistant secret, a chat, /v1; returns the secrets."""
    client, admin = harness.client, harness.admin.headers
    made = await client.post(
        "/api/users", json={"username": "alice", "password": PASSWORD}, headers=admin
    )
    assert made.status_code == 201, made.text
    refused = await client.post("/api/auth/login", json={"username": "alice", "password": WRONG})
    assert refused.status_code == 401
    login = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert login.status_code == 200, login.text
    csrf = login.json()["csrfToken"]
    cookie = client.cookies["switchboard_session"]
    issued = await client.post(
        "/api/api-tokens", json={"name": "cli"}, headers={"X-CSRF-Token": csrf}
    )
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/me", headers=bearer)).status_code == 200
    forged = await client.get("/api/me", headers={"Authorization": f"Bearer {FORGED}"})
    assert forged.status_code == 401
    assistant = await client.post("/api/assistants", json={"name": "Helper"}, headers=admin)
    assert assistant.status_code == 201, assistant.text
    secret = await client.post(
        f"/api/assistants/{assistant.json()['id']}/secrets",
        json={"name": "API_KEY", "value": ASSISTANT_SECRET},
        headers=admin,
    )
    assert secret.status_code == 201, secret.text
    await _model_calls(harness, admin)
    await _stored_provider_call(harness, admin)
    await client.post("/api/auth/logout", headers=admin)
    secrets = [PASSWORD, WRONG, cookie, csrf, token, FORGED, ASSISTANT_SECRET, PROVIDER_KEY]
    return [*secrets, STORED_KEY]


async def _stored_provider_call(harness: AppHarness, headers: dict[str, str]) -> None:
    """An admin stores a provider with a key and a model on it; a chat uses that model."""
    client = harness.client
    base = str(harness.services.catalog.resolve("fake").deployments[0].litellm_params["api_base"])
    body = {"name": "Stored", "type": "openai", "apiBase": base, "apiKey": STORED_KEY}
    provider = await client.post("/api/providers", json=body, headers=headers)
    assert provider.status_code == 201, provider.text
    model = {"name": "stored-fake", "providerId": provider.json()["id"], "model": "fake"}
    made = await client.post("/api/models", json=model, headers=headers)
    assert made.status_code == 201, made.text
    chat_id = await harness.chat(harness.admin, model="stored-fake")
    answered = await client.post(
        f"/api/chats/{chat_id}/messages", json={"content": "hi", "stream": True}, headers=headers
    )
    assert answered.status_code == 200 and "event: done" in answered.text


async def _model_calls(harness: AppHarness, headers: dict[str, str]) -> None:
    client = harness.client
    chat_id = await harness.chat(harness.admin)
    answered = await client.post(
        f"/api/chats/{chat_id}/messages", json={"content": "hi", "stream": True}, headers=headers
    )
    assert answered.status_code == 200 and "event: done" in answered.text
    body: dict[str, Any] = {"model": "fake", "messages": [{"role": "user", "content": "hi"}]}
    assert (
        await client.post("/v1/chat/completions", json=body, headers=headers)
    ).status_code == 200
    streamed = await client.post(
        "/v1/chat/completions", json=body | {"stream": True}, headers=headers
    )
    assert streamed.status_code == 200


async def test_no_secret_of_a_session_through_many_routes_appears_in_any_log_record(
    logged: tuple[AppHarness, Captured], upstream: FakeUpstream
) -> None:
    harness, captured = logged
    secrets = await _session_through_many_routes(harness)
    upstream.behave("fake", fail_status=401)  # the provider refuses the key: errors get logged
    chat_id = await harness.chat(harness.admin)
    failed = await harness.client.post(
        f"/api/chats/{chat_id}/messages", json={"content": "hi"}, headers=harness.admin.headers
    )
    assert failed.status_code >= 400
    assert len(captured.records) > 20  # DEBUG really was on
    assert captured.leaks(secrets) == []
    for key in (PROVIDER_KEY, STORED_KEY):  # known to the filter, should a library print it
        assert logs.redact(f"calling with {key}") == f"calling with {logs.MASK}"


def test_redaction_covers_arguments_extras_and_exception_text(provider_key: str) -> None:
    records: list[logging.LogRecord] = []
    handler = _Keep(records)
    handler.addFilter(RedactSecrets())
    logger = logging.getLogger("tests.ops.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.info("headers %s", {"Authorization": "Bearer abcdefghijkl0123"})
        logger.info("login", extra={"body": {"username": "a", "password": "hunter2hunter2"}})
        try:
            raise RuntimeError("provider said: Incorrect API key provided: sk-abcdef0123456789")
        except RuntimeError:
            logger.exception("call failed for %s", "someone")
        logger.warning("cookie: switchboard_session=%s", "Zx81kqL0pQ7rT2")
        access = '%s - "%s %s HTTP/%s" %d'  # uvicorn's access log unpacks these arguments
        logger.info(access, "127.0.0.1:5000", "GET", "/x?token=qw8e7r6t5y4u", "1.1", 200)
    finally:
        logger.removeHandler(handler)
    texts = [" ".join([r.getMessage(), repr(vars(r)), r.exc_text or ""]) for r in records]
    for secret in ("abcdefghijkl0123", "hunter2hunter2", "sk-abcdef0123456789", "Zx81kqL0pQ7rT2"):
        assert not any(secret in t for t in texts), secret
    assert "call failed for someone" in texts[2] and "RuntimeError" in texts[2]
    assert records[0].getMessage() == "headers {'Authorization': 'Bearer [redacted]'}"
    assert isinstance(records[4].args, tuple) and records[4].args[-1] == 200  # still unpackable
    assert "qw8e7r6t5y4u" not in texts[4] and "token=[redacted]" in texts[4]


@pytest.mark.parametrize("registered", ["switchboard", "switchboard_session", "cookie"])
def test_a_registered_secret_inside_a_keyword_does_not_unmask_the_value_after_it(
    registered: str,
) -> None:
    added = registered not in logs._known
    logs.keep_secret([registered])
    try:
        line = logs.redact("cookie: switchboard_session=Zx81kqL0pQ7rT2")
    finally:
        if added:
            logs._known.discard(registered)
    assert "Zx81kqL0pQ7rT2" not in line and registered not in line.removeprefix("cookie")
