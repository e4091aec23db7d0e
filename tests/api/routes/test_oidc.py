"""OpenID Connect sign-in against a real provider (oidc-provider under node): just-in-time users,
groups to teams and the admin role, domain and linking rules, forged or replayed answers refused
with nothing created, and passwords switched off except for the break-glass admin."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from core.database import write_transaction
from core.models import AuditEvent, Team, TeamMembership, User, UserIdentity
from tests.fakes.oidc_provider import Account, OpenIdProvider, query_of
from tests.support import ADMIN, PASSWORD, AppHarness, Harnesses

pytestmark = pytest.mark.anyio
BASE = "http://testserver"
CALLBACK = BASE + "/api/auth/oidc/{}/callback"
NAMES = ("corp", "strict")


@pytest.fixture(scope="module")
async def app(
    make_module_harness: Harnesses, openid_provider: OpenIdProvider
) -> AsyncIterator[AppHarness]:
    client_id, secret = openid_provider.register_client(*(CALLBACK.format(n) for n in NAMES))
    common = {"issuer": openid_provider.issuer, "clientId": client_id, "clientSecret": secret}
    providers = [
        {
            "name": "corp",
            "displayName": "Corp SSO",
            "scopes": ["openid", "email", "profile", "groups"],
            "adminGroups": ["sb-admins"],
            "teamMapping": {"eng": "Engineering", "ops": "Operations"},
            "linkByEmail": True,
            **common,
        },
        {"name": "strict", "allowedDomains": ["example.com"], **common},
    ]
    async with make_module_harness.running(
        oidc_providers=json.dumps(providers), password_login=False, public_url=BASE
    ) as harness:
        yield harness


async def sign_in(
    app: AppHarness,
    provider: OpenIdProvider,
    account: Account,
    *,
    name: str = "corp",
    browser: httpx.AsyncClient | None = None,
) -> httpx.Response:
    """The whole flow in one browser (a fresh one unless given): the app's login redirect, the
    provider, then the app's callback; returns the callback's answer."""
    browser = browser or fresh_browser(app)
    started = await browser.get(f"/api/auth/oidc/{name}/login", params={"login_hint": account.sub})
    assert started.status_code == 302, started.text
    back = await provider.authorize(started.headers["location"], back_to=CALLBACK.format(name))
    return await browser.get(back)


def fresh_browser(app: AppHarness) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app.app), base_url=BASE)


def refusal(answer: httpx.Response) -> str:
    """The error code a refused sign-in sends the page (302 to /?signInError=...#/login)."""
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.endswith("#/login"), location
    return query_of(location.partition("#")[0])["signInError"]


async def user_of(app: AppHarness, sub: str) -> tuple[User, set[str]] | None:
    """The user an account signed in as, and their team names; None when there is none."""
    async with app.services.sessions() as session:
        found = await session.scalar(
            select(User)
            .join(UserIdentity, UserIdentity.user_id == User.id)
            .where(UserIdentity.subject == sub)
        )
        if found is None:
            return None
        names = await session.scalars(
            select(Team.name)
            .join(TeamMembership, TeamMembership.team_id == Team.id)
            .where(TeamMembership.user_id == found.id)
        )
        return found, set(names)


async def user_count(app: AppHarness) -> int:
    async with app.services.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def test_providers_are_listed_publicly_without_their_secrets(app: AppHarness) -> None:
    answer = await fresh_browser(app).get("/api/auth/providers")
    assert answer.status_code == 200
    body = answer.json()
    assert body["passwordLogin"] is False
    assert [(p["name"], p["displayName"]) for p in body["providers"]] == [
        ("corp", "Corp SSO"),
        ("strict", "strict"),
    ]
    assert body["providers"][0]["loginUrl"] == "/api/auth/oidc/corp/login"
    assert "clientSecret" not in answer.text and "issuer" not in answer.text


async def test_login_redirects_with_state_nonce_and_pkce(
    app: AppHarness, openid_provider: OpenIdProvider
) -> None:
    answer = await fresh_browser(app).get("/api/auth/oidc/corp/login")
    assert answer.status_code == 302
    asked = query_of(answer.headers["location"])
    assert answer.headers["location"].startswith(openid_provider.issuer)
    assert asked["code_challenge_method"] == "S256" and asked["code_challenge"]
    assert asked["state"] and asked["nonce"] and asked["response_type"] == "code"
    assert asked["redirect_uri"] == CALLBACK.format("corp")
    cookie = answer.headers["set-cookie"]
    assert "switchboard_oidc=" in cookie and "HttpOnly" in cookie and "Max-Age=600" in cookie

    unknown = await fresh_browser(app).get("/api/auth/oidc/nobody/login")
    assert unknown.status_code == 404 and unknown.json()["code"] == "oidc_provider_not_found"


async def test_first_sign_in_makes_the_user_and_later_ones_follow_the_groups(
    app: AppHarness, openid_provider: OpenIdProvider
) -> None:
    account = openid_provider.account(
        groups=("eng", "sb-admins", "unmapped"), name="Ada L", preferred_username="ada"
    )
    browser = fresh_browser(app)
    answer = await sign_in(app, openid_provider, account, browser=browser)
    assert answer.status_code == 302 and answer.headers["location"] == "/#/chat"
    me = await browser.get("/api/me")
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "ada" and me.json()["displayName"] == "Ada L"
    assert me.json()["role"] == "admin" and me.json()["authenticatedBy"] == "session"
    found = await user_of(app, account.sub)
    assert found is not None
    user, teams = found
    assert teams == {"Everyone", "Engineering"} and user.last_login_method == "oidc"

    account.groups = ("ops",)
    openid_provider.put(account)
    assert (await sign_in(app, openid_provider, account)).headers["location"] == "/#/chat"
    found = await user_of(app, account.sub)
    assert found is not None
    again, teams = found
    assert again.id == user.id and again.role == "member"
    assert teams == {"Everyone", "Operations"}
    async with app.services.sessions() as session:
        kinds = await session.scalars(select(AuditEvent.kind).where(AuditEvent.actor_id == user.id))
        assert list(kinds).count("sign_in.succeeded") == 2


async def test_allowed_domains_refuse_other_domains(
    app: AppHarness, openid_provider: OpenIdProvider
) -> None:
    outsider = openid_provider.account(email="eve@elsewhere.org")
    unverified = openid_provider.account(email="mallory@example.com", email_verified=False)
    before = await user_count(app)
    answer = await sign_in(app, openid_provider, outsider, name="strict")
    assert refusal(answer) == "oidc_domain_not_allowed"
    answer = await sign_in(app, openid_provider, unverified, name="strict")
    assert refusal(answer) == "oidc_email_not_verified"
    assert await user_count(app) == before
    insider = openid_provider.account(email="amy@example.com")
    assert (await sign_in(app, openid_provider, insider, name="strict")).status_code == 302
    assert await user_of(app, insider.sub) is not None


async def test_an_existing_account_is_linked_only_by_verified_email_where_allowed(
    app: AppHarness, openid_provider: OpenIdProvider
) -> None:
    local = await app.member("grace")
    async with write_transaction(app.services.sessions) as session:
        user = await session.get(User, local.id)
        assert user is not None
        user.email = "grace@example.com"
    account = openid_provider.account(email="Grace@example.com")

    answer = await sign_in(app, openid_provider, account, name="strict")
    assert refusal(answer) == "oidc_account_exists"
    account.email_verified = False
    openid_provider.put(account)
    assert refusal(await sign_in(app, openid_provider, account)) == "oidc_email_not_verified"
    assert await user_of(app, account.sub) is None

    account.email_verified = True
    openid_provider.put(account)
    browser = fresh_browser(app)
    await sign_in(app, openid_provider, account, browser=browser)
    assert (await browser.get("/api/me")).json()["id"] == local.id


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("foreign-key", "signature"),
        ("wrong-audience", "aud"),
        ("expired", "expired"),
        ("wrong-nonce", "nonce"),
        ("other-azp", "azp"),
    ],
)
async def test_a_bad_id_token_is_refused_and_creates_nothing(
    app: AppHarness, openid_provider: OpenIdProvider, fault: str, reason: str
) -> None:
    account = openid_provider.account(tamper=fault, groups=("eng",))
    before = await user_count(app)
    browser = fresh_browser(app)
    assert refusal(await sign_in(app, openid_provider, account, browser=browser)) == (
        "oidc_token_invalid"
    )
    assert await user_count(app) == before and await user_of(app, account.sub) is None
    assert (await browser.get("/api/me")).status_code == 401
    async with app.services.sessions() as session:
        failed = await session.scalars(
            select(AuditEvent.details).where(AuditEvent.kind == "sign_in.failed")
        )
        assert {"error": "oidc_token_invalid", "reason": reason}.items() <= list(failed)[-1].items()


async def test_a_replayed_code_is_refused(app: AppHarness, openid_provider: OpenIdProvider) -> None:
    account = openid_provider.account()
    browser = fresh_browser(app)
    started = await browser.get("/api/auth/oidc/corp/login", params={"login_hint": account.sub})
    pending = browser.cookies["switchboard_oidc"]
    back = await openid_provider.authorize(
        started.headers["location"], back_to=CALLBACK.format("corp")
    )
    assert (await browser.get(back)).headers["location"] == "/#/chat"

    replay = fresh_browser(app)
    replay.cookies.set("switchboard_oidc", pending, path="/api/auth/oidc")
    assert refusal(await replay.get(back)) == "oidc_code_rejected"
    assert (await replay.get("/api/me")).status_code == 401


async def test_a_state_from_another_browser_is_refused(
    app: AppHarness, openid_provider: OpenIdProvider
) -> None:
    account = openid_provider.account()
    victim, attacker = fresh_browser(app), fresh_browser(app)
    await attacker.get("/api/auth/oidc/corp/login")  # a sign-in of its own under way
    started = await victim.get("/api/auth/oidc/corp/login", params={"login_hint": account.sub})
    back = await openid_provider.authorize(
        started.headers["location"], back_to=CALLBACK.format("corp")
    )

    assert refusal(await attacker.get(back)) == "oidc_state_mismatch"
    assert refusal(await fresh_browser(app).get(back)) == "oidc_state_mismatch"
    assert await user_of(app, account.sub) is None


async def test_password_login_is_off_except_for_the_break_glass_admin(app: AppHarness) -> None:
    await app.member("walter")
    client = fresh_browser(app)
    refused = await client.post(
        "/api/auth/login", json={"username": "walter", "password": PASSWORD}
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "password_login_disabled"
    admin = await client.post("/api/auth/login", json={"username": ADMIN, "password": PASSWORD})
    assert admin.status_code == 200, admin.text
