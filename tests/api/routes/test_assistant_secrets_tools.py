"""Assistant secrets reach tool calls: each canary only in the one outbound call bound to it."""

from __future__ import annotations

import json
import logging
import secrets as random_secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.billing_builders import seated_member
from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Caller, Harnesses, parse_sse
from tests.toolkits.servers import recorded_tool_server

pytestmark = pytest.mark.anyio
ASSISTANTS = 10


@pytest.fixture
def recorded() -> Iterator[tuple[int, list[dict[str, str]]]]:
    """The toolkit's own server."""
    with recorded_tool_server() as found:
        yield found


@pytest.fixture
def thief() -> Iterator[tuple[int, list[dict[str, str]]]]:
    """A server of a user who would like an assistant's secrets."""
    with recorded_tool_server() as found:
        yield found


@pytest.fixture
async def harness(
    make_harness: Harnesses,
    recorded: tuple[int, list[dict[str, str]]],
    thief: tuple[int, list[dict[str, str]]],
) -> AppHarness:
    hosts = [f"127.0.0.1:{recorded[0]}", f"127.0.0.1:{thief[0]}"]
    return await make_harness(toolkit_allowed_hosts=hosts)


async def _post(
    app: AppHarness, path: str, body: Any, status: int = 201, caller: Caller | None = None
) -> Any:
    headers = (caller or app.admin).headers
    response = await app.client.post(path, json=body, headers=headers)
    assert response.status_code == status, response.text
    return response.json()


async def _toolkit(
    app: AppHarness, port: int, caller: Caller | None = None, *, shared: bool = False
) -> str:
    """A toolkit with an approved echo tool whose X-Canary header takes the secret CANARY."""
    body = {
        "name": "canary-tools",
        "url": f"http://127.0.0.1:{port}/mcp",
        "headers": {"X-Canary": {"value": "bootstrap"}},
        "shared": shared,
    }
    toolkit_id = str((await _post(app, "/api/toolkits", body, caller=caller))["id"])
    refreshed = await _post(app, f"/api/toolkits/{toolkit_id}/_refresh", None, 200, caller)
    assert refreshed["connection"]["state"] == "connected", refreshed
    approve = f"/api/toolkits/{toolkit_id}/tools/echo/_approve"
    await _post(app, approve, {"sideEffects": False}, 200, caller)
    patched = await app.client.patch(
        f"/api/toolkits/{toolkit_id}",
        json={"headers": {"X-Canary": {"secret": "CANARY"}}},
        headers=(caller or app.admin).headers,
    )
    assert patched.status_code == 200, patched.text
    return toolkit_id


async def test_each_canary_reaches_only_the_tool_call_bound_to_it_and_nothing_else(
    harness: AppHarness,
    upstream: FakeUpstream,
    recorded: tuple[int, list[dict[str, str]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    port, seen = recorded
    toolkit_id = await _toolkit(harness, port)
    canaries: dict[str, str] = {}
    decoys: list[str] = []
    texts: list[str] = []
    windows: dict[str, range] = {}
    for number in range(ASSISTANTS):
        made = await _post(
            harness, "/api/assistants", {"name": f"A{number}", "toolkitIds": [toolkit_id]}
        )
        canary, decoy = (f"canary-{random_secrets.token_hex(12)}" for _ in range(2))
        for name, value in (("CANARY", canary), ("DECOY", decoy)):
            texts.append(
                json.dumps(
                    await _post(
                        harness,
                        f"/api/assistants/{made['id']}/secrets",
                        {"name": name, "value": value},
                    )
                )
            )
        canaries[made["id"]] = canary
        decoys.append(decoy)

    for assistant_id, canary in canaries.items():
        call = {
            "id": "c1",
            "type": "function",
            "function": {"name": f"{toolkit_id}__echo", "arguments": '{"text": "ping"}'},
        }
        upstream.behave("fake", text="Done.", tool_calls=[[call]])
        chat_id = await harness.chat(harness.admin, assistantId=assistant_id)
        before = len(seen)
        response = await harness.client.post(
            f"/api/chats/{chat_id}/messages",
            json={"content": "Call the tool.", "stream": True},
            headers=harness.admin.headers,
        )
        texts.append(response.text)
        results = [d for _, n, d in parse_sse(response.text) if n == "toolResult"]
        assert [r["content"] for r in results] == ["echo: ping"], response.text
        sent = {h.get("x-canary") for h in seen[before:]}
        assert sent == {canary}
        windows[canary] = range(before, len(seen))
        for path in ("messages", ""):
            listed = await harness.client.get(
                f"/api/chats/{chat_id}/{path}".rstrip("/"), headers=harness.admin.headers
            )
            texts.append(listed.text)
        listed = await harness.client.get(
            f"/api/assistants/{assistant_id}/secrets", headers=harness.admin.headers
        )
        texts.append(listed.text)
        exported = await harness.client.get(
            f"/api/assistants/{assistant_id}/export", headers=harness.admin.headers
        )
        texts.append(exported.text)

    plain = await harness.chat(harness.admin)
    upstream.behave("fake", text="No.", tool_calls=[[call]])
    unbound = await harness.client.post(
        f"/api/chats/{plain}/messages",
        json={"content": "Call it.", "stream": True},
        headers=harness.admin.headers,
    )
    texts.append(unbound.text)
    refused = [d for _, n, d in parse_sse(unbound.text) if n == "toolResult"]
    assert [r["ok"] for r in refused] == [False]

    for index, headers in enumerate(seen):
        header = headers.get("x-canary")
        assert header == "bootstrap" or index in windows[str(header)]
    everywhere = "\n".join(
        [*texts, caplog.text, json.dumps(upstream.recorder.requests, default=str)]
    )
    for value in [*canaries.values(), *decoys]:
        assert value not in everywhere
    assert not any(decoy in json.dumps(seen) for decoy in decoys)


async def test_a_tool_offered_through_a_skill_resolves_only_the_skills_secret_names(
    harness: AppHarness, upstream: FakeUpstream, recorded: tuple[int, list[dict[str, str]]]
) -> None:
    port, seen = recorded
    toolkit_id = await _toolkit(harness, port)
    canary = f"canary-{random_secrets.token_hex(12)}"
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": f"{toolkit_id}__echo", "arguments": '{"text": "ping"}'},
    }
    results: dict[str, list[dict[str, Any]]] = {}
    for skill, names in (("trusted", ["CANARY"]), ("narrow", ["DECOY"])):
        made = await _post(harness, "/api/assistants", {"name": skill})
        await _post(
            harness, f"/api/assistants/{made['id']}/secrets", {"name": "CANARY", "value": canary}
        )
        await _post(
            harness,
            f"/api/assistants/{made['id']}/skills",
            {"name": skill, "toolkitIds": [toolkit_id], "secretNames": names},
        )
        upstream.behave("fake", text="Done.", tool_calls=[[call]])
        chat_id = await harness.chat(harness.admin, assistantId=made["id"])
        before = len(seen)
        response = await harness.client.post(
            f"/api/chats/{chat_id}/messages",
            json={"content": f"/{skill} call the tool", "stream": True},
            headers=harness.admin.headers,
        )
        results[skill] = [d for _, n, d in parse_sse(response.text) if n == "toolResult"]
        if skill == "trusted":
            assert {h.get("x-canary") for h in seen[before:]} == {canary}
        else:
            assert all(canary not in json.dumps(h) for h in seen[before:])
    assert [r["content"] for r in results["trusted"]] == ["echo: ping"]
    assert [r["ok"] for r in results["narrow"]] == [False]


def _echo(call_id: str, toolkit_id: str) -> dict[str, Any]:
    arguments = '{"text": "ping"}'
    function = {"name": f"{toolkit_id}__echo", "arguments": arguments}
    return {"id": call_id, "type": "function", "function": function}


async def test_a_chat_sends_an_assistants_secret_only_to_the_toolkits_it_carries(
    harness: AppHarness,
    upstream: FakeUpstream,
    recorded: tuple[int, list[dict[str, str]]],
    thief: tuple[int, list[dict[str, str]]],
) -> None:
    port, seen = recorded
    carried = await _toolkit(harness, port, shared=True)
    canary = f"canary-{random_secrets.token_hex(12)}"
    shared = {"visibility": "instance", "permission": "use", "toolkitIds": [carried]}
    made = await _post(harness, "/api/assistants", {"name": "Shared", **shared})
    await _post(
        harness, f"/api/assistants/{made['id']}/secrets", {"name": "CANARY", "value": canary}
    )
    mallory = await seated_member(harness, "mallory")
    own = await _toolkit(harness, thief[0], mallory)
    chat_id = await harness.chat(mallory, assistantId=made["id"], toolkitIds=[own, carried])
    upstream.behave("fake", text="Done.", tool_calls=[[_echo("c1", own), _echo("c2", carried)]])
    before, stolen_before = len(seen), len(thief[1])
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": "Call both.", "stream": True},
        headers=mallory.headers,
    )
    results = {d["id"]: d for _, n, d in parse_sse(response.text) if n == "toolResult"}
    assert set(results) == {"c1", "c2"}, response.text
    assert results["c1"]["ok"] is False and "CANARY" in results["c1"]["content"]
    assert results["c2"]["content"] == "echo: ping"
    assert canary not in json.dumps(thief[1]) and len(thief[1]) == stolen_before
    assert {h.get("x-canary") for h in seen[before:]} == {canary}


async def test_a_chats_toolkits_must_be_ones_its_user_may_use_when_set_and_at_each_turn(
    harness: AppHarness, upstream: FakeUpstream, recorded: tuple[int, list[dict[str, str]]]
) -> None:
    private = await _toolkit(harness, recorded[0])
    shared = await _toolkit(harness, recorded[0], shared=True)
    mallory = await seated_member(harness, "mallory")
    for toolkit_ids in ([private], ["no-such-toolkit"], ["builtin-calculator", private]):
        refused = await _post(harness, "/api/chats", {"toolkitIds": toolkit_ids}, 404, mallory)
        assert refused["code"] == "toolkit_not_found"
    chat_id = await harness.chat(mallory, toolkitIds=["builtin-calculator", shared])
    patched = await harness.client.patch(
        f"/api/chats/{chat_id}", json={"toolkitIds": [private]}, headers=mallory.headers
    )
    assert patched.status_code == 404 and patched.json()["code"] == "toolkit_not_found"
    unshared = await harness.client.patch(
        f"/api/toolkits/{shared}", json={"shared": False}, headers=harness.admin.headers
    )
    assert unshared.status_code == 200, unshared.text
    upstream.behave("fake", text="Hi.")
    turn = await _post(
        harness, f"/api/chats/{chat_id}/messages", {"content": "Hello"}, 404, mallory
    )
    assert turn["code"] == "toolkit_not_found" and turn["details"] == {"toolkit_id": shared}


async def _ask(harness: AppHarness, caller: Caller, chat_id: str) -> dict[str, Any]:
    """Send a turn whose model calls one tool; the tool's result."""
    response = await harness.client.post(
        f"/api/chats/{chat_id}/messages",
        json={"content": "Call it.", "stream": True},
        headers=caller.headers,
    )
    results = [d for _, n, d in parse_sse(response.text) if n == "toolResult"]
    assert len(results) == 1, response.text
    return dict(results[0])


async def test_a_toolkit_only_a_skill_carries_resolves_only_its_names_even_listed_in_the_chat(
    harness: AppHarness, upstream: FakeUpstream, recorded: tuple[int, list[dict[str, str]]]
) -> None:
    port, seen = recorded
    toolkit_id = await _toolkit(harness, port)
    canary = f"canary-{random_secrets.token_hex(12)}"
    made = await _post(harness, "/api/assistants", {"name": "narrow"})
    await _post(
        harness, f"/api/assistants/{made['id']}/secrets", {"name": "CANARY", "value": canary}
    )
    skill = {"name": "narrow", "toolkitIds": [toolkit_id], "secretNames": ["DECOY"]}
    await _post(harness, f"/api/assistants/{made['id']}/skills", skill)
    chat_id = await harness.chat(harness.admin, assistantId=made["id"], toolkitIds=[toolkit_id])
    upstream.behave("fake", text="Done.", tool_calls=[[_echo("c1", toolkit_id)]])
    before = len(seen)
    assert (await _ask(harness, harness.admin, chat_id))["ok"] is False
    assert canary not in json.dumps(seen[before:])


async def test_a_carried_toolkit_whose_owner_may_not_edit_the_assistant_gets_no_secret(
    harness: AppHarness, upstream: FakeUpstream, thief: tuple[int, list[dict[str, str]]]
) -> None:
    mallory = await seated_member(harness, "mallory")
    steerable = await _toolkit(harness, thief[0], mallory, shared=True)
    canary = f"canary-{random_secrets.token_hex(12)}"
    made = await _post(harness, "/api/assistants", {"name": "A", "toolkitIds": [steerable]})
    await _post(
        harness, f"/api/assistants/{made['id']}/secrets", {"name": "CANARY", "value": canary}
    )
    chat_id = await harness.chat(harness.admin, assistantId=made["id"])
    upstream.behave("fake", text="Done.", tool_calls=[[_echo("c1", steerable)]])
    refused = await _ask(harness, harness.admin, chat_id)
    assert refused["ok"] is False and "CANARY" in refused["content"]
    assert canary not in json.dumps(thief[1])
