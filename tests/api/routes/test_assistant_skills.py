"""Skills: CRUD and the SKILL.md zip round trip."""

from __future__ import annotations

import io
import zipfile

import pytest

from assistant.assistants import skill_files
from assistant.errors import InvalidSkillFile, SkillFileTooLarge
from tests.support import AppHarness

pytestmark = pytest.mark.anyio


async def test_skill_md_zip_round_trips_through_export_and_import(harness: AppHarness) -> None:
    admin = harness.admin.headers
    made = await harness.client.post("/api/assistants", json={"name": "A"}, headers=admin)
    base = f"/api/assistants/{made.json()['id']}/skills"
    skill = {
        "name": "release-notes",
        "description": "Write release notes: short, grouped: by area",
        "instructions": "# Steps\n\n1. Read the changes.\n2. Group them.\n",
    }
    created = await harness.client.post(base, json=skill, headers=admin)
    exported = await harness.client.get(f"{base}/{created.json()['id']}/export", headers=admin)
    assert exported.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        assert archive.namelist() == ["release-notes/SKILL.md"]
        text = archive.read("release-notes/SKILL.md").decode()
    assert text.startswith("---\nname: release-notes\n")

    other = await harness.client.post("/api/assistants", json={"name": "B"}, headers=admin)
    target = f"/api/assistants/{other.json()['id']}/skills/_import"
    imported = await harness.client.post(
        target, files={"file": ("s.zip", exported.content, "application/zip")}, headers=admin
    )
    assert imported.status_code == 201, imported.text
    body = imported.json()
    assert (body["name"], body["description"]) == (skill["name"], skill["description"])
    assert body["instructions"] == skill["instructions"].strip()
    twice = await harness.client.post(
        target, files={"file": ("SKILL.md", text.encode())}, headers=admin
    )
    assert twice.status_code == 409


async def test_skill_names_are_unique_per_assistant_and_renames_are_checked(
    harness: AppHarness,
) -> None:
    admin = harness.admin.headers
    made = await harness.client.post("/api/assistants", json={"name": "A"}, headers=admin)
    base = f"/api/assistants/{made.json()['id']}/skills"
    one = await harness.client.post(base, json={"name": "one"}, headers=admin)
    await harness.client.post(base, json={"name": "two"}, headers=admin)
    clash = await harness.client.patch(
        f"{base}/{one.json()['id']}", json={"name": "two"}, headers=admin
    )
    assert clash.status_code == 409 and clash.json()["code"] == "skill_name_taken"
    gone = await harness.client.delete(f"{base}/{one.json()['id']}", headers=admin)
    assert gone.status_code == 204
    listed = await harness.client.get(base, headers=admin)
    assert [s["name"] for s in listed.json()["_embedded"]["skills"]] == ["two"]


def test_skill_files_refuse_bad_front_matter_and_oversized_archives() -> None:
    with pytest.raises(InvalidSkillFile):
        skill_files.from_upload(b"no front matter")
    with pytest.raises(InvalidSkillFile):
        skill_files.from_upload(b"---\nname: [unclosed\n---\nx")
    with pytest.raises(InvalidSkillFile):
        skill_files.from_upload(b"---\nname: Bad Name\n---\nx")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x/SKILL.md", "---\nname: big\n---\n" + "a" * (600 * 1024))
    with pytest.raises(SkillFileTooLarge):
        skill_files.from_upload(buffer.getvalue())
    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("README.md", "hi")
    with pytest.raises(InvalidSkillFile):
        skill_files.from_upload(empty.getvalue())
