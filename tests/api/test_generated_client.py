"""/openapi.json from the outside: every route declares its answer and the error body, and a
client generated from it by openapi-python-client builds cleanly and talks to the app."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.support import ADMIN, PASSWORD, AppHarness

pytestmark = [pytest.mark.anyio, pytest.mark.xdist_group("generated_client")]

PACKAGE = "switchboard_client"
# The server answers a skill export as application/zip; the generator reads any such body as bytes.
GENERATOR_CONFIG = "content_type_overrides:\n  application/zip: application/octet-stream\n"
UNTYPED = {"type": "object", "additionalProperties": True}


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, methods in spec["paths"].items():
        if path.startswith("/v1/"):  # OpenAI's dialect, reworked by another issue
            continue
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def _typed(schema: dict[str, Any] | None) -> bool:
    return bool(schema) and {k: v for k, v in (schema or {}).items() if k != "title"} != UNTYPED


def _declares_success(operation: dict[str, Any]) -> bool:
    """A 204, a redirect naming its Location, or a 2xx whose content has a schema other than
    "any object"."""
    for status, response in operation["responses"].items():
        if status == "204" or (
            status.startswith("3") and "Location" in response.get("headers", {})
        ):
            return True
        contents = response.get("content", {}).values()
        if status.startswith("2") and any(_typed(media.get("schema")) for media in contents):
            return True
    return False


async def test_every_api_operation_declares_its_answer_and_the_error_body(
    harness: AppHarness,
) -> None:
    spec = harness.app.openapi()
    untyped = [name for name, operation in _operations(spec) if not _declares_success(operation)]
    assert untyped == []
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for name, operation in _operations(spec):
        for status in ("4XX", "5XX"):
            declared = operation["responses"].get(status, {})
            assert declared.get("content", {}).get("application/json", {}).get("schema") == error, (
                name,
                status,
            )
    operation_ids = [operation["operationId"] for _, operation in _operations(spec)]
    assert len(set(operation_ids)) == len(operation_ids)
    assert "list_chats" in operation_ids  # named after the handler, for readable clients
    assert set(spec["components"]["schemas"]["ErrorBody"]["required"]) == {
        "code",
        "message",
        "details",
    }


def _generate(spec: dict[str, Any], folder: Path) -> str:
    """Run openapi-python-client on the spec; its combined output."""
    (folder / "openapi.json").write_text(json.dumps(spec), encoding="utf-8")
    (folder / "config.yaml").write_text(GENERATOR_CONFIG, encoding="utf-8")
    bin_dir = str(Path(sys.executable).parent)  # its post-hooks run the venv's ruff
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    command = [
        sys.executable,
        "-m",
        "openapi_python_client",
        "generate",
        "--path",
        str(folder / "openapi.json"),
        "--meta",
        "none",
        "--output-path",
        str(folder / PACKAGE),
        "--config",
        str(folder / "config.yaml"),
    ]
    done = subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


@pytest.fixture
def generated(harness: AppHarness, tmp_path: Path) -> Iterator[tuple[str, ModuleType]]:
    """The generated client package, importable while the test runs; the generator's output."""
    output = _generate(harness.app.openapi(), tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        yield output, importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


async def test_a_client_generated_from_openapi_builds_without_warnings_and_calls_the_api(
    harness: AppHarness, generated: tuple[str, ModuleType]
) -> None:
    output, package = generated
    assert "warning" not in output.lower(), output
    transport = httpx.ASGITransport(app=harness.app)
    token = harness.admin.headers["Authorization"].removeprefix("Bearer ")
    client = package.AuthenticatedClient(
        base_url="http://testserver", token=token, httpx_args={"transport": transport}
    )
    anonymous = package.Client(base_url="http://testserver", httpx_args={"transport": transport})
    models = _module("models")

    logged_in = await _module("api.auth.login").asyncio(
        client=anonymous, body=models.LoginRequest(username=ADMIN, password=PASSWORD)
    )
    assert isinstance(logged_in, models.LoggedIn)
    assert logged_in.user.username == ADMIN and logged_in.csrf_token

    me = await _module("api.auth.me").asyncio(client=client)
    assert isinstance(me, models.Me)
    assert (me.username, me.authenticated_by.value) == (ADMIN, "apiToken")
    assert me.field_links.additional_properties["self"].href == f"/api/users/{me.id}"

    created = await _module("api.chats.create_chat").asyncio(
        client=client, body=models.ChatCreate(title="Typed")
    )
    assert isinstance(created, models.ChatResource)
    assert created.title == "Typed" and created.archived is False

    listed = await _module("api.chats.list_chats").asyncio(client=client)
    assert isinstance(listed, models.ChatsCollection)
    assert listed.total == 1
    assert [chat.id for chat in listed.field_embedded.chats] == [created.id]

    missing = await _module("api.chats.get_chat").asyncio(client=client, chat_id="no-such-chat")
    assert isinstance(missing, models.ErrorBody)
    assert missing.code == "chat_not_found"
