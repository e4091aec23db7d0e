"""Injected dependencies: the services, a request-owned session, the authenticated caller."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth_cache import AuthCache, Credential, Resolved
from api.hal import page_request
from api.services import Services
from assistant.assistants import sharing
from assistant.assistants.sharing import Viewer
from assistant.chat import chats
from assistant.chat import folders as chat_folders
from assistant.models import Assistant, Chat, ChatFolder
from billing import profiles
from billing.admission import Caller
from billing.profiles import ModelRule
from core import api_tokens, auth_epoch, clock, login_sessions, teams
from core.database import write_transaction
from core.errors import PermissionDenied, Unauthenticated
from core.listing import PageRequest
from core.mcp_oauth import tokens as mcp_tokens
from core.models import ApiToken, LoginSession, Team, User

SESSION_COOKIE = "switchboard_session"
CSRF_COOKIE = "switchboard_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
PRINCIPAL_KEY = "switchboard.principal"  # in the ASGI scope, once resolved for this request


class CsrfFailed(PermissionDenied):
    """Missing or wrong X-CSRF-Token header; reload the page and try again."""

    code = "csrf_failed"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user, and the API token when one was used.

    From a cached credential the user and token objects are built on first use, fresh for this
    request (`api.auth_cache`): `/v1` needs only their ids (`caller`).
    """

    user_id: str
    team_ids: tuple[str, ...]
    api_token_id: str | None
    _user: Callable[[], User] = field(repr=False, compare=False)
    _api_token: Callable[[], ApiToken | None] = field(repr=False, compare=False)

    @classmethod
    def of(
        cls, user: User, team_ids: tuple[str, ...], api_token: ApiToken | None = None
    ) -> Principal:
        """The principal of objects already loaded."""
        token_id = api_token.id if api_token else None
        return cls(user.id, team_ids, token_id, lambda: user, lambda: api_token)

    @classmethod
    def of_token(cls, found: Resolved[ApiToken]) -> Principal:
        """The principal of a cached API token."""
        token_id = found.credential_values["id"]
        return cls(found.user_values["id"], found.team_ids, token_id, found.user, found.credential)

    @classmethod
    def of_session(cls, found: Resolved[LoginSession]) -> Principal:
        """The principal of a cached login session (no API token)."""
        return cls(found.user_values["id"], found.team_ids, None, found.user, lambda: None)

    @cached_property
    def user(self) -> User:
        """The calling user (detached)."""
        return self._user()

    @cached_property
    def api_token(self) -> ApiToken | None:
        """The API token the call used, if any (detached)."""
        return self._api_token()

    @property
    def caller(self) -> Caller:
        """The caller as billing knows it."""
        return Caller(user_id=self.user_id, team_ids=self.team_ids, api_token_id=self.api_token_id)


async def get_services(request: Request) -> Services:
    """The app's services (async, so FastAPI does not send it to a worker thread)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_session(request: Request, services: ServicesDep) -> AsyncIterator[AsyncSession]:
    """A session whose transaction the request owns: committed when the route returns.

    On SQLite a request that may write takes the write lock with its first statement (BEGIN
    IMMEDIATE): a read transaction upgraded to a write after another writer committed would
    otherwise fail at once with "database is locked". Such a route must end its session's
    transaction before calling a service that opens a write transaction of its own.
    """
    factory = services.sessions if request.method in SAFE_METHODS else services.write_sessions
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_principal(request: Request, services: ServicesDep) -> Principal:
    """The caller, from a Bearer API token (on `/v1` also in `x-api-key`) or a session cookie
    (with CSRF on writes). The first signed-in request warms the model gateway up (by default:
    `SWITCHBOARD_WARM_START=sign-in`), so that caller's first answer does not wait for LiteLLM.

    Auth reads in a session of its own, so the request's session starts its transaction (and
    SQLite snapshot) only when the route first touches the database.

    Raises:
        Unauthenticated: no valid token or session.
        CsrfFailed: a cookie-authenticated write without the CSRF header.
    """
    known: Principal | None = request.scope.get(PRINCIPAL_KEY)
    if known is not None:  # resolved before the body was read (`api.body_limits`)
        return known
    principal = await _principal(request, services)
    if services.settings.warm_start == "sign-in":
        services.gateway.warm_up("a first signed-in request")  # once: later calls return at once
    return principal


async def _principal(request: Request, services: Services) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "bearer" and credential:
        return await _bearer(request, services, credential.strip())
    api_key = (
        request.headers.get("x-api-key", "") if request.scope["path"].startswith("/v1/") else ""
    )
    if api_key.strip():  # Anthropic's SDKs send the token there (Claude Code, /v1/messages)
        return await _bearer(request, services, api_key.strip())
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return await _cookie(request, services, cookie)
    raise Unauthenticated()


async def _cookie(request: Request, services: Services, secret: str) -> Principal:
    cache = _cache(request, "session_cache", LoginSession)
    epoch = await auth_epoch.current(services.sessions)
    found = cache.get(secret, epoch=epoch)
    if found is None:
        async with services.sessions() as session:
            login = await login_sessions.resolve(session, secret=secret)
            if login is None:
                raise Unauthenticated()
            row, user = login
            team_ids = await teams.team_ids_of(session, user_id=user.id)
        cache.put(secret, row, user, team_ids, epoch=epoch)
        csrf_token, principal = row.csrf_token, Principal.of(user, team_ids)
    else:
        csrf_token, principal = found.credential_values["csrf_token"], Principal.of_session(found)
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not secrets.compare_digest(sent, csrf_token):
            raise CsrfFailed()
    return principal


async def _bearer(request: Request, services: Services, secret: str) -> Principal:
    if mcp_tokens.is_access_token(secret):  # bound to the /mcp resource (RFC 8707)
        raise Unauthenticated("This is an MCP client's access token: it works on /mcp only.")
    cache = _cache(request, "auth_cache", ApiToken)
    epoch = await auth_epoch.current(services.sessions)
    cached = cache.get(secret, epoch=epoch)
    if cached is not None:
        return Principal.of_token(cached)
    async with services.sessions() as session:
        found = await api_tokens.resolve(session, secret=secret)
        if found is None:
            raise Unauthenticated("The API token is invalid, expired or revoked.")
        token, user = found
        team_ids = await teams.team_ids_of(session, user_id=user.id)
    if api_tokens.needs_touch(token):
        async with write_transaction(services.sessions) as write:
            await api_tokens.touch(write, token_id=token.id)
        token.last_used_at = clock.now()
    cache.put(secret, token, user, team_ids, epoch=epoch)
    return Principal.of(user, team_ids, token)


def _cache(request: Request, name: str, kind: type[Credential]) -> AuthCache[Credential]:
    """The app's cache of one kind of credential (made on first use)."""
    cache: AuthCache[Credential] | None = getattr(request.app.state, name, None)
    if cache is None:
        cache = AuthCache(kind)
        setattr(request.app.state, name, cache)
    return cache


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_current_user(principal: PrincipalDep) -> User:
    """The calling user."""
    return principal.user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin(principal: PrincipalDep) -> User:
    """The calling user, who must be an admin.

    Raises:
        PermissionDenied: the caller is not an admin.
    """
    if not principal.user.is_admin:
        raise PermissionDenied("Only admins can do that.")
    return principal.user


AdminUser = Annotated[User, Depends(get_admin)]


async def get_model_rule(principal: PrincipalDep, services: ServicesDep) -> ModelRule:
    """What the caller's usage profiles allow: the rule admission applies, for model lists."""
    async with services.sessions() as session:
        return await profiles.model_rule(
            session, user_id=principal.user.id, team_ids=principal.team_ids
        )


ModelRuleDep = Annotated[ModelRule, Depends(get_model_rule)]
PageDep = Annotated[PageRequest, Depends(page_request)]


async def admin_team(team_id: str, _: AdminUser, session: SessionDep) -> Team:
    """The team named by the `team_id` path parameter, for an admin (403 for anyone else, then
    404 `team_not_found`)."""
    return await teams.get(session, team_id=team_id)


async def detached_team(team_id: str, _: AdminUser, services: ServicesDep) -> Team:
    """As `admin_team`, read in a session of its own, which holds no lock while the route then
    writes through a service that opens its own transaction."""
    async with services.sessions() as session:
        return await teams.get(session, team_id=team_id)


TeamDep = Annotated[Team, Depends(admin_team)]
DetachedTeamDep = Annotated[Team, Depends(detached_team)]


async def get_viewer(principal: PrincipalDep) -> Viewer:
    """The caller as assistant sharing sees them: the user and their teams."""
    return Viewer(principal.user.id, principal.team_ids)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


async def owned_chat(chat_id: str, user: CurrentUser, session: SessionDep) -> Chat:
    """The chat named by the `chat_id` path parameter, if it is the caller's (else 404)."""
    return await chats.get_owned(session, user_id=user.id, chat_id=chat_id)


async def usable_assistant(assistant_id: str, viewer: ViewerDep, session: SessionDep) -> Assistant:
    """The assistant (or draft) named by `assistant_id`, if the caller may use it (else 404)."""
    return await sharing.get_usable(session, viewer=viewer, assistant_id=assistant_id)


async def editable_assistant(
    assistant_id: str, viewer: ViewerDep, session: SessionDep
) -> Assistant:
    """The assistant (or draft) named by `assistant_id`, if the caller may edit it (404, or 403
    `assistant_read_only` when they may only use it)."""
    return await sharing.get_editable(session, viewer=viewer, assistant_id=assistant_id)


async def owned_chat_folder(folder_id: str, user: CurrentUser, session: SessionDep) -> ChatFolder:
    """The chat folder named by the `folder_id` path parameter, if it is the caller's (else 404)."""
    return await chat_folders.get_owned(session, user_id=user.id, folder_id=folder_id)


ChatDep = Annotated[Chat, Depends(owned_chat)]
ChatFolderDep = Annotated[ChatFolder, Depends(owned_chat_folder)]
UsableAssistantDep = Annotated[Assistant, Depends(usable_assistant)]
EditableAssistantDep = Annotated[Assistant, Depends(editable_assistant)]


async def usable_published(assistant: UsableAssistantDep, session: SessionDep) -> Assistant:
    """The published assistant behind a usable assistant or draft (skills, secrets, memories and
    knowledge belong to it)."""
    return await sharing.published_of(session, assistant)


async def editable_published(assistant: EditableAssistantDep, session: SessionDep) -> Assistant:
    """The published assistant behind an editable assistant or draft."""
    return await sharing.published_of(session, assistant)


UsablePublishedDep = Annotated[Assistant, Depends(usable_published)]
EditablePublishedDep = Annotated[Assistant, Depends(editable_published)]
