"""The assistants page in a real browser: create, edit a draft, try it, commit, discard, skills,
secrets (write-only) and knowledge."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect

from tests.fakes.upstream import FakeUpstream
from tests.web.conftest import Site, accessible, log_in, screenshot, site_with


@pytest.fixture
def site(upstream: FakeUpstream, tmp_path: Path) -> Iterator[Site]:
    """The app with the small deterministic embedder, for files uploaded to assistants."""
    with site_with(upstream, tmp_path, embedding_backend="hash") as started:
        yield started


def _make_assistant(site: Site, name: str = "Pump helper") -> str:
    made = site.admin.post("/api/assistants", json={"name": name, "instructions": "Be brief."})
    made.raise_for_status()
    return str(made.json()["id"])


def test_an_assistant_created_edited_as_a_draft_and_committed_through_its_page(
    page: Page, site: Site
) -> None:
    log_in(page)
    page.goto("/#/assistants")
    creating = page.get_by_role("form", name="New assistant")
    creating.get_by_label("Name").fill("Pump helper")
    creating.get_by_label("Description").fill("Knows pumps")
    creating.get_by_role("button", name="Create assistant").click()
    expect(page.get_by_role("heading", name="Pump helper", level=1)).to_be_visible()
    published_id = page.url.rsplit("/", 1)[1]

    page.get_by_role("button", name="Edit as draft").click()
    draft = page.get_by_role("form", name="Draft")
    expect(draft).to_be_visible()
    draft_id = page.url.rsplit("/", 1)[1]
    assert draft_id != published_id
    draft.get_by_label("Instructions").fill("Answer like a pump engineer.")
    draft.get_by_label("Model").select_option("fake")
    draft.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved.")).to_be_visible()
    published = site.admin.get(f"/api/assistants/{published_id}").json()
    assert published["instructions"] == ""
    screenshot(page, "assistant-draft")

    page.get_by_role("button", name="Try the draft in a chat").click()
    page.wait_for_url(re.compile(r"#/chat/\w+"))
    chat_id = page.url.rsplit("/", 1)[1]
    assert site.admin.get(f"/api/chats/{chat_id}").json()["assistantId"] == draft_id

    page.goto(f"/#/assistants/{draft_id}")
    page.get_by_role("button", name="Commit draft").click()
    page.wait_for_url(re.compile(f"#/assistants/{published_id}$"))
    expect(page.get_by_text("Answer like a pump engineer.")).to_be_visible()
    published = site.admin.get(f"/api/assistants/{published_id}").json()
    assert (published["instructions"], published["model"]) == (
        "Answer like a pump engineer.",
        "fake",
    )
    screenshot(page, "assistant")
    page.emulate_media(color_scheme="dark")
    screenshot(page, "assistant-dark")
    page.emulate_media(color_scheme="light")
    accessible(page, "an assistant's page")


def test_discarding_a_draft_keeps_the_published_assistant(page: Page, site: Site) -> None:
    assistant_id = _make_assistant(site)
    log_in(page)
    page.goto(f"/#/assistants/{assistant_id}")
    page.get_by_role("button", name="Edit as draft").click()
    draft = page.get_by_role("form", name="Draft")
    draft.get_by_label("Name").fill("Renamed")
    draft.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved.")).to_be_visible()
    page.get_by_role("button", name="Discard draft").click()
    page.get_by_role("button", name="Yes, discard draft").click()
    page.wait_for_url(re.compile(f"#/assistants/{assistant_id}$"))
    expect(page.get_by_role("heading", name="Pump helper", level=1)).to_be_visible()
    assert site.admin.get(f"/api/assistants/{assistant_id}").json()["name"] == "Pump helper"


def test_skills_are_added_edited_imported_and_exported(
    page: Page, site: Site, tmp_path: Path
) -> None:
    assistant_id = _make_assistant(site)
    log_in(page)
    page.goto(f"/#/assistants/{assistant_id}")
    adding = page.get_by_role("form", name="New skill")
    adding.get_by_label("Skill name").fill("summarise")
    adding.get_by_label("Skill description").fill("Short summaries")
    adding.get_by_label("Skill instructions").fill("Summarise in three bullets.")
    adding.get_by_role("button", name="Add skill").click()
    skills = page.get_by_role("list", name="Skills")
    expect(skills).to_contain_text("/summarise")

    skills.get_by_role("button", name="Edit summarise").click()
    editing = skills.get_by_role("form", name="Edit skill summarise")
    editing.get_by_label("Skill description").fill("Very short summaries")
    editing.get_by_role("button", name="Save skill").click()
    expect(skills).to_contain_text("Very short summaries")

    skill_md = tmp_path / "SKILL.md"
    skill_md.write_text(
        "---\nname: translate\ndescription: Into French\n---\nTranslate to French.\n"
    )
    page.get_by_label("SKILL.md or zip").set_input_files(str(skill_md))
    page.get_by_role("button", name="Import skill").click()
    expect(skills).to_contain_text("/translate")

    with page.expect_download() as info:
        skills.get_by_role("link", name="Export translate").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes()))
    assert "Translate to French." in archive.read("translate/SKILL.md").decode()
    listed = site.admin.get(f"/api/assistants/{assistant_id}/skills").json()["_embedded"]["skills"]
    assert sorted(s["name"] for s in listed) == ["summarise", "translate"]


def test_secret_values_are_set_and_replaced_but_never_shown(page: Page, site: Site) -> None:
    assistant_id = _make_assistant(site)
    log_in(page)
    page.goto(f"/#/assistants/{assistant_id}")
    adding = page.get_by_role("form", name="New secret")
    adding.get_by_label("Secret name").fill("CRM_TOKEN")
    adding.get_by_label("Secret value").fill("first-value-123")
    adding.get_by_role("button", name="Add secret").click()
    secrets = page.get_by_role("list", name="Secrets")
    expect(secrets).to_contain_text("CRM_TOKEN")
    assert adding.get_by_label("Secret value").input_value() == ""

    secrets.get_by_role("button", name="Replace CRM_TOKEN").click()
    secrets.get_by_role("textbox", name="New value for CRM_TOKEN").fill("second-value-456")
    secrets.get_by_role("button", name="Save value").click()
    expect(secrets.get_by_role("form", name="New value for CRM_TOKEN")).to_have_count(0)
    html = page.content()
    assert "first-value-123" not in html and "second-value-456" not in html

    secrets.get_by_role("button", name="Delete").click()
    secrets.get_by_role("button", name="Yes, delete").click()
    expect(secrets).to_contain_text("No secrets yet.")


def test_library_folders_are_attached_and_files_uploaded_as_knowledge(
    page: Page, site: Site
) -> None:
    assistant_id = _make_assistant(site)
    folder = site.admin.post("/api/library/folders", json={"name": "Manuals"}).json()
    log_in(page)
    page.goto(f"/#/assistants/{assistant_id}")
    attaching = page.get_by_role("form", name="Attach knowledge")
    attaching.get_by_label("Library file or folder").select_option(label="Folder: Manuals")
    attaching.get_by_role("button", name="Attach").click()
    knowledge = page.get_by_role("list", name="Knowledge")
    expect(knowledge.get_by_role("link", name="Manuals")).to_have_attribute(
        "href", f"#/library/{folder['id']}"
    )
    attached = site.admin.get(f"/api/assistants/{assistant_id}/knowledge").json()
    assert [i["folderId"] for i in attached["_embedded"]["knowledge"]] == [folder["id"]]

    knowledge.get_by_role("button", name="Detach").click()
    knowledge.get_by_role("button", name="Yes, detach").click()
    expect(knowledge).to_contain_text("No knowledge attached.")

    uploading = page.get_by_role("form", name="Upload files to the assistant")
    faq: FilePayload = {"name": "faq.txt", "mimeType": "text/plain", "buffer": b"Pumps hum."}
    uploading.get_by_label("Files for this assistant only").set_input_files([faq])
    uploading.get_by_role("button", name="Upload to assistant").click()
    expect(knowledge.get_by_role("listitem").filter(has_text="faq.txt")).to_contain_text(
        "uploaded file"
    )
    knowledge.get_by_role("link", name="faq.txt").click()
    expect(page.get_by_role("list", name="Passages")).to_contain_text("Pumps hum.")


def test_sharing_with_a_team_lets_its_members_edit_and_hides_it_from_others(
    page: Page, site: Site
) -> None:
    assistant_id = _make_assistant(site, "Shared helper")
    me = site.admin.get("/api/me").json()["id"]
    team = site.admin.post("/api/teams", json={"name": "Ops"}).json()
    molly = site.user("molly")
    site.user("olaf")
    for user_id in (me, molly):
        added = site.admin.post(f"/api/teams/{team['id']}/members", json={"userId": user_id})
        added.raise_for_status()
    log_in(page)
    page.goto(f"/#/assistants/{assistant_id}")
    page.get_by_role("button", name="Edit as draft").click()
    draft = page.get_by_role("form", name="Draft")
    expect(draft.get_by_role("combobox", name=re.compile("^Team"))).to_be_hidden()
    draft.get_by_label("Shared with").select_option("team")
    draft.get_by_role("combobox", name=re.compile("^Team")).select_option(label="Ops")
    draft.get_by_label("Who").select_option("edit")
    draft.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved.")).to_be_visible()
    page.get_by_role("button", name="Commit draft").click()
    page.wait_for_url(re.compile(f"#/assistants/{assistant_id}$"))
    expect(page.get_by_text("A team, who may use and edit it")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    log_in(page, "molly", "a-long-password-1")
    page.goto("/#/assistants")
    page.get_by_role("list", name="Assistants").get_by_role("link", name="Shared helper").click()
    expect(page.get_by_role("button", name="Edit as draft")).to_be_visible()
    screenshot(page, "assistants-member")

    page.get_by_role("button", name="Log out").click()
    log_in(page, "olaf", "a-long-password-1")
    page.goto("/#/assistants")
    expect(page.get_by_text("No assistants yet.")).to_be_visible()


def test_an_assistant_on_a_phone_in_dark_mode(browser: Browser, site: Site) -> None:
    assistant_id = _make_assistant(site, "A helper with a rather long name for a small screen")
    base = f"/api/assistants/{assistant_id}"
    site.admin.post(f"{base}/skills", json={"name": "brief", "description": "Short answers"})
    context = browser.new_context(
        base_url=site.url, viewport={"width": 390, "height": 844}, color_scheme="dark"
    )
    try:
        phone = context.new_page()
        errors: list[str] = []
        phone.on("pageerror", lambda error: errors.append(str(error)))
        log_in(phone)
        phone.goto("/#/assistants")
        expect(phone.get_by_role("list", name="Assistants")).to_be_visible()
        screenshot(phone, "assistants-phone-dark")
        phone.goto(f"/#/assistants/{assistant_id}")
        phone.get_by_role("button", name="Edit as draft").click()
        expect(phone.get_by_role("form", name="Draft")).to_be_visible()
        width = phone.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width}px wide on a 390px screen"
        screenshot(phone, "assistant-draft-phone-dark")
        assert not errors
    finally:
        context.close()


def test_an_assistant_is_created_and_opened_for_editing_with_the_keyboard_alone(
    page: Page, site: Site
) -> None:
    log_in(page)
    page.goto("/#/assistants")
    page.get_by_role("form", name="New assistant").get_by_label("Name").focus()
    page.keyboard.type("Keyboard helper")
    page.keyboard.press("Tab")
    page.keyboard.type("Made without a mouse")
    page.keyboard.press("Tab")
    create = page.get_by_role("button", name="Create assistant")
    expect(create).to_be_focused()
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused button shows no focus ring"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Keyboard helper", level=1)).to_be_visible()

    edit = page.get_by_role("button", name="Edit as draft")
    for _ in range(30):
        page.keyboard.press("Tab")
        if edit.evaluate("button => button === document.activeElement"):
            break
    expect(edit).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("form", name="Draft")).to_be_visible()
