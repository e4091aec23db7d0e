"""Logging in and out, and who the caller is."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from api.deps import CSRF_COOKIE, SESSION_COOKIE, PrincipalDep, ServicesDep, SessionDep
from api.hal import resource
from billing import seats
from billing.schemas import SeatRead
from core import login_sessions, users
from core.schemas import LoginRequest, UserRead

router = APIRouter(prefix="/api", tags=["Auth"])


def user_body(user: Any) -> dict[str, Any]:
    """A user as a HAL resource."""
    return resource(UserRead.model_validate(user), f"/api/users/{user.id}")


@router.post("/auth/login")
async def login(
    body: LoginRequest, response: Response, session: SessionDep, services: ServicesDep
) -> dict[str, Any]:
    """Log in with a username and password; sets the session cookie.

    State-changing requests made with the cookie must send the returned `csrfToken` in the
    `X-CSRF-Token` header.
    """
    user = await users.authenticate(session, username=body.username, password=body.password)
    ttl = timedelta(hours=services.settings.session_ttl_hours)
    opened = await login_sessions.open_session(session, user=user, ttl=ttl)
    secure = services.settings.cookie_secure
    max_age = int(ttl.total_seconds())
    response.set_cookie(
        SESSION_COOKIE, opened.secret, max_age=max_age, httponly=True, samesite="lax", secure=secure
    )
    response.set_cookie(
        CSRF_COOKIE, opened.session.csrf_token, max_age=max_age, samesite="lax", secure=secure
    )
    return {"user": user_body(user), "csrfToken": opened.session.csrf_token}


@router.post("/auth/logout", status_code=204)
async def logout(request: Request, _: PrincipalDep, session: SessionDep) -> Response:
    """End the session of the cookie."""
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        await login_sessions.close(session, secret=secret)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.get("/me")
async def me(principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    """The calling user, with their teams and their AI seat (`seat`, null without one)."""
    body = user_body(principal.user)
    body["teamIds"] = list(principal.team_ids)
    body["authenticatedBy"] = "apiToken" if principal.api_token else "session"
    seat = await seats.seat_of(session, user_id=principal.user.id)
    body["seat"] = (
        SeatRead.model_validate(seat).model_dump(mode="json", by_alias=True) if seat else None
    )
    return body
