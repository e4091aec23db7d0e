"""The chat page in a real browser: streaming, stop, regenerate, errors, pickers, phone size."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Route, expect

from tests.web.chat_steps import answers, ask, last_answer
from tests.web.conftest import Site, log_in, screenshot

WORDS = "Alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima"


@pytest.fixture(autouse=True)
def _patient_expect() -> Iterator[None]:
    """The first answer in a test process waits for LiteLLM to load (seconds on a busy machine)."""
    expect.set_options(timeout=30_000)
    yield
    expect.set_options(timeout=5_000)


def test_an_answer_streams_in_pieces_then_shows_rendered_with_its_figures(
    page: Page, site: Site
) -> None:
    # Held after its 6th of 13 pieces ("**Bold** Alpha bravo charlie delta echo fo") until the
    # page has shown them: no race with the pieces still to come (0.4 s apart before: 5.2 s).
    held = site.upstream.behave(
        "fake", text="**Bold** " + WORDS + " `done`", chunks=13, hold_after=6
    )
    log_in(page)
    ask(page, "Spell the alphabet")
    expect(page.get_by_role("article", name="Your message")).to_contain_text("Spell the alphabet")
    body = last_answer(page).locator(".msg-body")
    expect(body).to_contain_text("Alpha")
    expect(body.locator("strong")).to_have_text("Bold")  # Markdown rendered while streaming
    partial = body.inner_text()
    assert "lima" not in partial, partial  # seen before the last pieces arrived
    screenshot(page, "chat-streaming")
    held.release()
    expect(body.locator("code")).to_have_text("done")  # rendered Markdown once finished
    expect(body).to_contain_text("lima")
    expect(last_answer(page)).to_contain_text(re.compile(r"\d+ in · \d+ out tokens · \$0\.\d+"))
    expect(page).to_have_url(re.compile(r"#/chat/\w+"))
    expect(page.get_by_role("list", name="Chats").get_by_role("link")).to_have_count(1)


def test_stop_keeps_the_partial_answer_also_after_a_reload(page: Page, site: Site) -> None:
    site.upstream.behave("fake", text=WORDS, chunks=12, delay=0.5)
    log_in(page)
    ask(page, "Take your time")
    body = last_answer(page).locator(".msg-body")
    expect(body).to_contain_text("bravo")
    page.get_by_role("button", name="Stop").click()
    expect(last_answer(page)).to_contain_text("Stopped")
    kept = body.inner_text().strip()
    assert kept.startswith("Alpha") and "lima" not in kept, kept
    expect(page.get_by_role("button", name="Send")).to_be_visible()

    page.reload()
    expect(last_answer(page)).to_contain_text("Stopped")
    assert last_answer(page).locator(".msg-body").inner_text().strip() == kept


def test_a_reload_during_an_answer_follows_it_to_the_end(page: Page, site: Site) -> None:
    # Held after "Alpha bravo charlie" until the reloaded page has asked for the answer's events
    # again: it follows a running answer, whatever the machine's speed (0.3 s a piece before).
    held = site.upstream.behave("fake", text=WORDS, chunks=12, hold_after=3)
    log_in(page)
    ask(page, "Long one")
    expect(last_answer(page).locator(".msg-body")).to_contain_text("bravo")
    with page.expect_request(re.compile(r"/messages/\w+/events$")):
        page.reload()
    held.release()
    expect(last_answer(page).locator(".msg-body")).to_have_text(WORDS)
    expect(answers(page)).to_have_count(1)
    expect(last_answer(page)).to_contain_text(re.compile(r"\d+ out tokens"))


def test_regenerate_writes_a_new_answer_and_keeps_the_old_one_switchable(
    page: Page, site: Site
) -> None:
    site.upstream.behave("fake", text="First answer.", chunks=2)
    log_in(page)
    ask(page, "Say something")
    expect(last_answer(page)).to_contain_text("First answer.")
    site.upstream.behave("fake", text="Second answer.", chunks=2)
    last_answer(page).get_by_role("button", name="Regenerate").click()
    expect(last_answer(page)).to_contain_text("Second answer.")
    expect(answers(page)).to_have_count(1)
    versions = last_answer(page).get_by_role("group", name="Versions")
    expect(versions).to_contain_text("2/2")
    versions.get_by_role("button", name="Previous version").click()
    expect(last_answer(page)).to_contain_text("First answer.")
    expect(last_answer(page).get_by_role("group", name="Versions")).to_contain_text("1/2")


def test_a_spent_budget_shows_the_servers_message_and_what_to_do(page: Page, site: Site) -> None:
    admin_id = site.admin.get("/api/me").json()["id"]
    budget = {"name": "tiny", "scope": "user", "scopeId": admin_id, "limitMicros": 1}
    site.admin.post("/api/usage-budgets", json=budget).raise_for_status()
    log_in(page)
    ask(page, "Anything")
    alert = page.get_by_role("alert").filter(has_text="Budget exceeded")
    expect(alert).to_contain_text(re.compile("budget", re.I))
    expect(alert).to_contain_text("Ask an admin to raise it")
    expect(page.get_by_label("Message", exact=True)).to_have_value("Anything")
    screenshot(page, "chat-budget-exceeded")


def test_a_member_without_a_seat_is_told_to_ask_for_one(page: Page, site: Site) -> None:
    site.user("bea")
    log_in(page, "bea", "a-long-password-1")
    ask(page, "Anything")
    admin = site.admin.get("/api/me").json()
    alert = page.get_by_role("alert").filter(has_text="No seat")
    expect(alert).to_contain_text("seat")
    # It names whom to ask: the admin.
    expect(alert).to_contain_text(f"Ask {admin['displayName'] or admin['username']}")
    expect(alert).to_contain_text("assign you one")


def test_a_provider_that_is_down_is_reported_with_advice(page: Page, site: Site) -> None:
    site.upstream.behave("fake", fail_status=503)
    log_in(page)
    ask(page, "Hello?")
    alert = page.get_by_role("alert").filter(has_text="Provider unavailable")
    # Generous: the gateway may retry the failing provider before giving up.
    expect(alert).to_contain_text("Try again in a minute", timeout=45_000)


def test_the_chat_page_in_light_dark_and_phone_size(page: Page, site: Site) -> None:
    site.upstream.behave(
        "fake", text="Here is a list:\n\n- one\n- two\n\n```\ncode()\n```", chunks=3
    )
    log_in(page)
    ask(page, "Show me a list")
    expect(last_answer(page).locator("pre code")).to_have_text("code()")
    screenshot(page, "chat-light")
    page.emulate_media(color_scheme="dark")
    screenshot(page, "chat-dark")

    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="light")
    toggle = page.get_by_role("button", name="Chats")
    expect(page.get_by_role("list", name="Chats")).to_be_hidden()
    expect(page.get_by_label("Message", exact=True)).to_be_visible()
    screenshot(page, "chat-phone")
    toggle.click()
    expect(page.get_by_role("list", name="Chats")).to_be_visible()
    screenshot(page, "chat-phone-sidebar")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, width


def test_a_dropped_stream_reattaches_with_last_event_id_and_completes_once(
    page: Page, site: Site
) -> None:
    site.upstream.behave("fake", text=WORDS, chunks=12, delay=0.1)
    cut: list[str] = []

    def drop_after_three_pieces(route: Route) -> None:
        # The real answer, handed to the page cut off after its third piece (no `done`):
        # what the page sees when the connection drops mid-answer.
        frames = route.fetch().text().replace("\r\n", "\n").split("\n\n")
        deltas = [i for i, frame in enumerate(frames) if "event: delta" in frame]
        cut.append("\n\n".join(frames[: deltas[2] + 1]) + "\n\n")
        route.fulfill(status=200, content_type="text/event-stream", body=cut[-1])

    page.route(re.compile(r"/api/chats/\w+/messages$"), drop_after_three_pieces)
    log_in(page)
    with page.expect_request(re.compile(r"/messages/\w+/events$")) as reattach:
        ask(page, "Keep going")
    assert reattach.value.headers.get("last-event-id"), reattach.value.headers
    body = last_answer(page).locator(".msg-body")
    expect(body).to_have_text(WORDS)
    assert "lima" not in cut[0]  # the rest came through the re-attached stream
    expect(last_answer(page)).not_to_contain_text("reconnecting")


def test_a_stream_the_provider_breaks_keeps_its_text_and_says_what_happened(
    page: Page, site: Site
) -> None:
    site.upstream.behave("fake", text=WORDS, chunks=12, delay=0.05, break_after=4)
    log_in(page)
    ask(page, "Go on")
    answer = last_answer(page)
    expect(answer.locator(".msg-problem")).to_be_visible()
    expect(answer).to_contain_text("Cut off before the end.")
    expect(answer.locator(".msg-body")).to_contain_text("Alpha")
    expect(answer.locator(".msg-body")).not_to_contain_text("lima")


def test_a_rate_limit_says_how_long_to_wait(page: Page, site: Site) -> None:
    admin_id = site.admin.get("/api/me").json()["id"]
    limit = {"scope": "user", "scopeId": admin_id, "requestsPerMinute": 0}
    site.admin.post("/api/rate-limits", json=limit).raise_for_status()
    log_in(page)
    ask(page, "Again and again")
    alert = page.get_by_role("alert").filter(has_text="Rate limited")
    expect(alert).to_contain_text(re.compile(r"Wait \d+ s and send again"))


def test_the_model_picker_copy_and_rating_work_from_the_keyboard(page: Page, site: Site) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    site.upstream.behave("fake-backup", text="From the backup model.", chunks=1)
    log_in(page)
    page.get_by_label("Model").select_option("fake-backup")
    composer = page.get_by_label("Message", exact=True)
    composer.fill("line one")
    composer.press("Shift+Enter")
    composer.press_sequentially("line two")
    expect(composer).to_have_value("line one\nline two")
    composer.press("Enter")
    expect(page.get_by_role("article", name="Your message")).to_contain_text("line one\nline two")
    answer = last_answer(page)
    expect(answer).to_contain_text("From the backup model.")
    expect(answer.locator(".msg-head")).to_have_text("fake-backup")
    assert site.upstream.recorder.count("fake-backup") == 1
    answer.get_by_role("button", name="Copy").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Copied")).to_be_visible()
    assert page.evaluate("() => navigator.clipboard.readText()") == "From the backup model."
    answer.get_by_role("button", name="Bad answer").focus()
    page.keyboard.press("Enter")
    comment = answer.get_by_label("What could be better? (optional)")
    expect(comment).to_be_focused()
    page.keyboard.type("Too short")
    page.keyboard.press("Enter")
    expect(answer.get_by_role("button", name="Bad answer")).to_have_attribute(
        "aria-pressed", "true"
    )
    [rated] = site.admin.get("/api/feedback").json()["_embedded"]["feedback"]
    assert (rated["liked"], rated["feedback"]) == (False, "Too short")
    page.reload()
    expect(last_answer(page).get_by_role("button", name="Bad answer")).to_have_attribute(
        "aria-pressed", "true"
    )
