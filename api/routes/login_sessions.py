"""Your own sign-in sessions: where and when each was opened, ending one or all the others."""

from __future__ import annotations

from fastapi import Request, Response

from api.deps import SESSION_COOKIE, CurrentUser, SessionDep
from api.hal import Collection, Resource, Wire, api_router, collection_of, resource, whole
from core import login_sessions
from core.models import LoginSession
from core.schemas import LoginSessionRead

router = api_router(prefix="/api/users/me/sessions", tags=["Sessions"])


class SessionsEnded(Wire):
    """How many sessions ended."""

    ended: int


class SessionView(LoginSessionRead):
    """One of your sign-in sessions, with where it was opened."""

    ip: str | None = None
    user_agent: str | None = None


def session_body(row: LoginSession, current_secret: str | None) -> Resource[SessionView]:
    """A session as a HAL resource (never its secret or CSRF token)."""
    view = SessionView(
        id=row.id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        current=login_sessions.is_current(row, current_secret),
        ip=row.ip,
        user_agent=row.user_agent,
    )
    return resource(view, f"/api/users/me/sessions/{row.id}")


@router.get("", response_model=collection_of("sessions", SessionView))
async def list_my_sessions(
    request: Request, user: CurrentUser, session: SessionDep
) -> Collection[Resource[SessionView]]:
    """Your live sign-in sessions, newest first: when each was opened and expires, the address
    and browser it was opened from, and `current` for the one making this request."""
    secret = request.cookies.get(SESSION_COOKIE)
    rows = await login_sessions.list_live(session, user_id=user.id)
    return whole("sessions", "/api/users/me/sessions", (session_body(r, secret) for r in rows))


@router.delete("/{session_id}", status_code=204)
async def end_my_session(session_id: str, user: CurrentUser, session: SessionDep) -> Response:
    """End one of your sessions (the current one too: that is signing out); it stops working at
    once on every worker. 404 `login_session_not_found` for another's or an ended one."""
    await login_sessions.end(session, user_id=user.id, session_id=session_id)
    return Response(status_code=204)


@router.post("/_end-others", response_model=SessionsEnded)
async def end_my_other_sessions(
    request: Request, user: CurrentUser, session: SessionDep
) -> SessionsEnded:
    """End every session of yours but the one making this request (called with an API token:
    every session). Your API tokens are not touched; revoke them in `/api/api-tokens`."""
    secret = request.cookies.get(SESSION_COOKIE)
    ended = await login_sessions.end_others(session, user_id=user.id, keep_secret=secret)
    return SessionsEnded(ended=ended)
