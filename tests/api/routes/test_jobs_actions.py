"""Jobs' actions, drafts, fire times and sharing through the API, on one app with a real SMTP
server (aiosmtpd) on loopback: ordered steps with conditions, the SSRF guard on api-call, a
scheduled assistant report mailed and metered to the job's owner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.billing_builders import ledger_rows
from tests.fakes.smtp_sink import SmtpSink, smtp_sink
from tests.fakes.upstream import FakeUpstream
from tests.fakes.webhook_receiver import Receiver, receiving
from tests.support import ADMIN, AppHarness, Caller, Harnesses, database_at, eventually

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with smtp_sink() as running:
        yield running


@pytest.fixture(scope="module")
def hooks() -> Iterator[Receiver]:
    with receiving(refuse=0) as running:
        yield running


@pytest.fixture(scope="module")
async def app(
    make_module_harness: Harnesses, sink: SmtpSink, hooks: Receiver
) -> AsyncIterator[AppHarness]:
    yield await make_module_harness(
        smtp_host="127.0.0.1",
        smtp_port=sink.port,
        smtp_from="jobs@switchboard.test",
        smtp_starttls=False,
        toolkit_allowed_hosts=[hooks.url.split("/")[2]],  # this port only, not all of loopback
    )


async def _create(app: AppHarness, caller: Caller, **body: Any) -> dict[str, Any]:
    created = await app.client.post("/api/jobs", json=body, headers=caller.headers)
    assert created.status_code == 201, created.text
    job: dict[str, Any] = created.json()
    return job


async def _finished(app: AppHarness, caller: Caller, run: dict[str, Any]) -> dict[str, Any]:
    href = f"/api/jobs/{run['jobId']}/runs/{run['id']}"

    async def done() -> dict[str, Any]:
        current: dict[str, Any] = (await app.client.get(href, headers=caller.headers)).json()
        assert current["status"] != "running", current
        return current

    return await eventually(done, seconds=30, interval=0.1)


def _email(to: str, subject: str, condition: str = "always") -> dict[str, Any]:
    params = {"to": [to], "subject": subject, "body": "Nightly note."}
    return {"type": "email", "condition": condition, "params": params}


async def test_a_failed_step_runs_the_on_failure_step_after_it_and_skips_on_success_ones(
    app: AppHarness, sink: SmtpSink
) -> None:
    private = {"method": "POST", "url": "http://127.0.0.1:9/hook", "body": {"a": 1}}
    job = await _create(
        app,
        app.admin,
        name="chain",
        actions=[
            _email("ops@example.com", "first"),
            {"type": "api-call", "condition": "on_success", "params": private},
            _email("ops@example.com", "after success", "on_success"),
            _email("ops@example.com", "after failure", "on_failure"),
        ],
    )
    started = await app.client.post(f"/api/jobs/{job['id']}/_run", headers=app.admin.headers)
    assert started.status_code == 202, started.text
    run = await _finished(app, app.admin, started.json())

    # a condition looks at the last step that ran: the skipped third leaves the failure standing
    assert [s["status"] for s in run["steps"]] == ["done", "failed", "skipped", "done"]
    assert run["status"] == "failed" and run["error"].startswith("Step 2 (api-call)")
    refused = run["steps"][1]
    assert "SSRF guard" in refused["error"] and refused["log"][-1].endswith(refused["error"])
    assert all(s["durationMs"] is not None for s in run["steps"] if s["status"] != "skipped")
    assert run["steps"][0]["progress"] == 1.0 and run["steps"][0]["result"] == {"sent": 1}
    subjects = [m["Subject"] for m in sink.messages if m["To"] == "ops@example.com"]
    assert subjects == ["first", "after failure"]


async def test_an_api_call_sends_the_assistants_secret_only_while_no_one_else_may_edit_the_job(
    app: AppHarness, hooks: Receiver
) -> None:
    assistant = await app.client.post(
        "/api/assistants", json={"name": "Hooked"}, headers=app.admin.headers
    )
    assistant_id = assistant.json()["id"]
    secret = await app.client.post(
        f"/api/assistants/{assistant_id}/secrets",
        json={"name": "HOOK_TOKEN", "value": "canary-Hk93"},
        headers=app.admin.headers,
    )
    assert secret.status_code == 201, secret.text
    params = {
        "method": "POST",
        "url": hooks.url,
        "headers": {"Authorization": {"secret": "HOOK_TOKEN"}, "X-Job": "nightly"},
        "body": {"hello": "world"},
        "assistantId": assistant_id,
    }
    job = await _create(
        app, app.admin, name="hook", actions=[{"type": "api-call", "params": params}]
    )
    started = await app.client.post(f"/api/jobs/{job['id']}/_run", headers=app.admin.headers)
    run = await _finished(app, app.admin, started.json())
    assert run["status"] == "done", run
    assert run["steps"][0]["result"]["status"] == 200
    (attempt,) = hooks.seen()
    assert (
        attempt.headers["authorization"] == "canary-Hk93" and attempt.headers["x-job"] == "nightly"
    )
    assert attempt.body == b'{"hello":"world"}'
    assert "canary-Hk93" not in str(run)

    shared = await app.client.patch(
        f"/api/jobs/{job['id']}",
        json={"visibility": "instance", "permission": "edit"},
        headers=app.admin.headers,
    )
    assert shared.status_code == 200, shared.text
    again = await app.client.post(f"/api/jobs/{job['id']}/_run", headers=app.admin.headers)
    refused = await _finished(app, app.admin, again.json())
    assert refused["status"] == "failed" and "others may edit" in refused["error"]
    assert len(hooks.seen()) == 1


async def test_an_assistant_report_is_mailed_and_metered_to_the_jobs_owner(
    app: AppHarness, sink: SmtpSink, upstream: FakeUpstream
) -> None:
    upstream.behave("fake", text="Sales rose 4% this week.", chunks=2)
    assistant = await app.client.post(
        "/api/assistants",
        json={"name": "Reporter", "instructions": "Report briefly."},
        headers=app.admin.headers,
    )
    params = {
        "assistantId": assistant.json()["id"],
        "prompt": "Summarise the week.",
        "emailTo": ["boss@example.com"],
        "subject": "Weekly report",
    }
    job = await _create(
        app,
        app.admin,
        name="weekly",
        actions=[{"type": "assistant-prompt", "params": params}],
        visibility="instance",
        permission="use",
    )
    runner = await app.member("report-runner")  # may run the shared job; pays nothing
    started = await app.client.post(f"/api/jobs/{job['id']}/_run", headers=runner.headers)
    run = await _finished(app, runner, started.json())

    assert run["status"] == "done", run
    (mail,) = [m for m in sink.messages if m["To"] == "boss@example.com"]
    assert mail["Subject"] == "Weekly report"
    assert mail.get_content().strip() == "Sales rose 4% this week."
    chat = await app.client.get(
        f"/api/chats/{run['steps'][0]['result']['chatId']}", headers=app.admin.headers
    )
    assert chat.status_code == 200
    rows = await ledger_rows(app.services.sessions)
    (row,) = [r for r in rows if r.assistant_id == assistant.json()["id"]]
    assert row.user_id == app.admin.id and row.outcome == "completed"
    assert not await ledger_rows(app.services.sessions, user_id=runner.id)


async def test_a_draft_is_edited_committed_and_discarded_apart_from_its_job(
    app: AppHarness,
) -> None:
    job = await _create(
        app,
        app.admin,
        name="original",
        actions=[_email("a@example.com", "s")],
        schedule="0 6 * * *",
    )
    path = f"/api/jobs/{job['id']}"
    opened = await app.client.post(path + "/_edit", headers=app.admin.headers)
    again = await app.client.post(path + "/_edit", headers=app.admin.headers)
    assert (opened.status_code, again.status_code) == (201, 200)
    draft = opened.json()
    assert again.json()["id"] == draft["id"] and draft["editingId"] == job["id"]
    assert draft["nextRunAt"] is None  # a draft never runs on its schedule
    draft_path = f"/api/jobs/{draft['id']}"
    changed = await app.client.patch(
        draft_path, json={"name": "revised", "schedule": "30 7 * * *"}, headers=app.admin.headers
    )
    assert changed.status_code == 200, changed.text
    assert (await app.client.get(path, headers=app.admin.headers)).json()["name"] == "original"
    listed = await app.client.get("/api/jobs", params={"q": "revised"}, headers=app.admin.headers)
    assert listed.json()["total"] == 0

    committed = await app.client.post(path + "/_commit", headers=app.admin.headers)
    assert committed.status_code == 200, committed.text
    assert committed.json()["name"] == "revised" and committed.json()["schedule"] == "30 7 * * *"
    assert committed.json()["nextRunAt"] is not None
    gone = await app.client.get(draft_path, headers=app.admin.headers)
    assert gone.status_code == 404

    second = (await app.client.post(path + "/_edit", headers=app.admin.headers)).json()
    await app.client.patch(
        f"/api/jobs/{second['id']}", json={"name": "thrown away"}, headers=app.admin.headers
    )
    discarded = await app.client.delete(f"/api/jobs/{second['id']}", headers=app.admin.headers)
    assert discarded.status_code == 204
    kept = await app.client.get(path, headers=app.admin.headers)
    assert kept.json()["name"] == "revised"
    no_draft = await app.client.post(path + "/_commit", headers=app.admin.headers)
    assert no_draft.status_code == 409 and no_draft.json()["code"] == "not_a_job_draft"


async def test_fire_times_follow_the_time_zone_and_stop_at_the_end_date(app: AppHarness) -> None:
    job = await _create(
        app,
        app.admin,
        name="mornings",
        actions=[_email("a@example.com", "s")],
        schedule="0 9 * * *",
        timeZone="America/New_York",
        startAt="2030-03-08T00:00:00Z",
        endAt="2030-03-11T23:00:00Z",
    )
    path = f"/api/jobs/{job['id']}/fire-times"
    times = await app.client.get(path, params={"count": 50}, headers=app.admin.headers)
    assert times.status_code == 200, times.text
    # 09:00 in New York: 14:00 UTC before daylight saving starts on 10 March 2030, 13:00 after
    assert times.json()["fireTimes"] == [
        "2030-03-08T14:00:00Z",
        "2030-03-09T14:00:00Z",
        "2030-03-10T13:00:00Z",
        "2030-03-11T13:00:00Z",
    ]
    two = await app.client.get(path, params={"count": 2}, headers=app.admin.headers)
    assert len(two.json()["fireTimes"]) == 2
    for count in (0, 101):
        refused = await app.client.get(path, params={"count": count}, headers=app.admin.headers)
        assert refused.status_code == 422
    for bad in ({"schedule": "61 * * * *"}, {"timeZone": "Mars/Olympus"}):
        body = {"name": "x", "actions": [_email("a@example.com", "s")], "schedule": "0 9 * * *"}
        made = await app.client.post("/api/jobs", json={**body, **bad}, headers=app.admin.headers)
        assert made.status_code == 422 and made.json()["code"] == "invalid_job", made.text


async def test_a_team_viewer_sees_and_runs_but_cannot_edit_and_a_stranger_gets_404(
    app: AppHarness,
) -> None:
    team = await app.client.post(
        "/api/teams", json={"name": "jobs-team"}, headers=app.admin.headers
    )
    viewer = await app.member("jobs-viewer")
    for user_id in (app.admin.id, viewer.id):
        await app.client.post(
            f"/api/teams/{team.json()['id']}/members",
            json={"userId": user_id},
            headers=app.admin.headers,
        )
    stranger = await app.member("jobs-stranger")
    job = await _create(
        app,
        app.admin,
        name="team job",
        actions=[_email("team@example.com", "s")],
        visibility="team",
        teamId=team.json()["id"],
    )
    path = f"/api/jobs/{job['id']}"
    seen = await app.client.get(path, headers=viewer.headers)
    assert seen.status_code == 200 and seen.json()["access"] == "use"
    listed = await app.client.get("/api/jobs", headers=viewer.headers)
    assert job["id"] in [j["id"] for j in listed.json()["_embedded"]["jobs"]]
    for method, url, body in (
        ("PATCH", path, {"name": "taken"}),
        ("POST", path + "/_edit", None),
        ("DELETE", path, None),
    ):
        refused = await app.client.request(method, url, json=body, headers=viewer.headers)
        assert refused.status_code == 403, (method, url, refused.text)
        assert refused.json()["code"] == "job_read_only"
    ran = await app.client.post(path + "/_run", headers=viewer.headers)
    assert ran.status_code == 202
    await _finished(app, viewer, ran.json())
    run_path = f"{path}/runs/{ran.json()['id']}"
    for method, url, body in (
        ("GET", path, None),
        ("GET", path + "/fire-times", None),
        ("GET", path + "/runs", None),
        ("GET", run_path, None),
        ("POST", path + "/_run", None),
        ("POST", path + "/_edit", None),
        ("POST", path + "/_commit", None),
        ("PATCH", path, {"name": "taken"}),
        ("DELETE", path, None),
    ):
        hidden = await app.client.request(method, url, json=body, headers=stranger.headers)
        assert hidden.status_code == 404 and hidden.json()["code"] == "job_not_found", url
    assert (await app.client.get(path, headers=app.admin.headers)).json()["name"] == "team job"


def _database_before_actions(path: Path) -> str:
    """A database at knowledge_0001 with a typed job of the admin's and one run of it."""
    stamp = "'2026-01-01 10:00:00'"
    return database_at(
        "knowledge_0001",
        path,
        [
            "INSERT INTO core_user (id, username, display_name, email, password_hash, role,"
            f" active, created_at, updated_at) VALUES ('olduser0000000000000000001', '{ADMIN}',"
            f" 'Old', 'old@example.com', 'x', 'admin', TRUE, {stamp}, {stamp})",
            "INSERT INTO knowledge_job (id, name, job_type, params, schedule, time_zone, enabled,"
            " owner_user_id, created_at, updated_at) VALUES ('oldjob00000000000000000001', 'old',"
            " 'index-files', '{\"fileIds\": [], \"folderId\": \"nofolder\"}', '0 3 * * *',"
            f" 'UTC', TRUE, 'olduser0000000000000000001', {stamp}, {stamp})",
            "INSERT INTO knowledge_job_run (id, job_id, trigger, status, started_at, counts,"
            " created_at, updated_at) VALUES ('oldrun00000000000000000001',"
            f" 'oldjob00000000000000000001', 'manual', 'done', {stamp}, '{{}}', {stamp}, {stamp})",
        ],
    )


async def test_a_job_from_before_actions_becomes_one_action_and_keeps_its_runs(
    tmp_path: Path, make_harness: Harnesses
) -> None:
    url = await asyncio.to_thread(_database_before_actions, tmp_path / "old.db")
    async with make_harness.running(database_url=url) as harness:
        path = "/api/jobs/oldjob00000000000000000001"
        job = (await harness.client.get(path, headers=harness.admin.headers)).json()
        action = {
            "type": "index-files",
            "condition": "always",
            "params": {"fileIds": [], "folderId": "nofolder"},
        }
        assert job["type"] == "index-files" and job["actions"] == [action]
        assert job["visibility"] == "private" and job["schedule"] == "0 3 * * *"
        runs = await harness.client.get(path + "/runs", headers=harness.admin.headers)
        assert [r["id"] for r in runs.json()["_embedded"]["runs"]] == ["oldrun00000000000000000001"]
        ran = await harness.client.post(path + "/_run", headers=harness.admin.headers)
        run = await _finished(harness, harness.admin, ran.json())
        assert run["status"] == "done" and run["steps"][0]["result"]["files"] == 0, run
