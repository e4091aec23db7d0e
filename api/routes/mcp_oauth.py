"""Switchboard as the OAuth 2.1 authorization server for /mcp, in OAuth's own dialect.

RFC 8414 metadata at `/.well-known/oauth-authorization-server`, RFC 7591 registration at
`/register`, the authorization endpoint `/authorize` (which hands the user to the web page's
consent view), `/token` and RFC 7009 `/revoke`. Errors here are OAuth's JSON,
`{"error": "invalid_grant", "error_description": "..."}` (401 for `invalid_client`, else 400),
not the `/api` error shape; a refused authorization request goes back to the client's redirect
URI when that URI is known to be the client's.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, TypedDict

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from api import public_url
from api.deps import ServicesDep
from api.services import Services
from core import audit, audit_refusals
from core.database import write_transaction
from core.mcp_oauth import authorizations, clients, tokens
from core.mcp_oauth.authorizations import AuthorizeRequest
from core.mcp_oauth.clients import Registration
from core.mcp_oauth.errors import OAuthRefused, RedirectedRefusal
from core.mcp_oauth.tokens import CodeExchange, Issued, Lifetimes
from core.settings import Settings

router = APIRouter(include_in_schema=False)
METADATA_PATH = "/.well-known/oauth-authorization-server"
# Browser-based MCP clients (the MCP Inspector's page) call these endpoints from their own origin;
# they take no cookies, so any origin may.
CORS = {"Access-Control-Allow-Origin": "*"}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache", **CORS}
PREFLIGHT = {
    **CORS,
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization, MCP-Protocol-Version",
    "Access-Control-Max-Age": "600",
}


def _base(request: Request) -> str:
    return public_url.request_url(request.scope, request.app.state.services.settings)


def mcp_resource(request: Request) -> str:
    """Our /mcp as an RFC 8707 resource indicator, at the URL this request reached us at."""
    return _base(request) + "/mcp"


def refusal(refused: OAuthRefused) -> JSONResponse:
    """An OAuth error response (RFC 6749 §5.2)."""
    status = 401 if refused.error == "invalid_client" else 400
    body = {"error": refused.error, "error_description": refused.description}
    return JSONResponse(body, status_code=status, headers=NO_STORE)


@router.options(METADATA_PATH)
@router.options("/register")
@router.options("/token")
@router.options("/revoke")
async def preflight() -> Response:
    """CORS preflight for browser-based MCP clients."""
    return Response(status_code=204, headers=PREFLIGHT)


@router.get(METADATA_PATH)
async def authorization_server_metadata(request: Request) -> JSONResponse:
    """RFC 8414 authorization-server metadata: where MCP clients register, authorize and get
    tokens."""
    base = _base(request)
    return JSONResponse(_metadata(base), headers=CORS)


class ServerMetadata(TypedDict):
    """RFC 8414 authorization-server metadata, as /.well-known/oauth-authorization-server
    answers it."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    registration_endpoint: str
    revocation_endpoint: str
    response_types_supported: list[str]
    response_modes_supported: list[str]
    grant_types_supported: list[str]
    code_challenge_methods_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]
    scopes_supported: list[str]
    service_documentation: str


def _metadata(base: str) -> ServerMetadata:
    return {
        "issuer": base,
        "authorization_endpoint": base + "/authorize",
        "token_endpoint": base + "/token",
        "registration_endpoint": base + "/register",
        "revocation_endpoint": base + "/revoke",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": [clients.SCOPE],
        "service_documentation": base + "/docs",
    }


def _strings(value: object, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise OAuthRefused("invalid_client_metadata", f"{name} must be a list of strings.")
    return list(value)


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and (not isinstance(value, str) or len(value) > 2000):
        raise OAuthRefused("invalid_client_metadata", f"{name} must be a string.")
    return value


def _registration(raw: bytes) -> Registration:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise OAuthRefused("invalid_client_metadata", "The body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise OAuthRefused("invalid_client_metadata", "The body must be a JSON object.")
    return Registration(
        redirect_uris=_strings(body.get("redirect_uris"), "redirect_uris"),
        client_name=_text(body, "client_name") or "",
        client_uri=_text(body, "client_uri"),
        token_endpoint_auth_method=_text(body, "token_endpoint_auth_method") or "none",
        grant_types=tuple(_strings(body.get("grant_types", ["authorization_code"]), "grant_types")),
        response_types=tuple(_strings(body.get("response_types", ["code"]), "response_types")),
        scope=_text(body, "scope"),
    )


@router.post("/register")
async def register(request: Request, services: ServicesDep) -> Response:
    """RFC 7591 dynamic client registration, for public clients (no secret; PKCE instead).
    Loopback redirect URIs and allowed hosts are ready at once; others await an admin."""
    try:
        registration = _registration(await request.body())
        async with write_transaction(services.write_sessions) as session:
            client = await clients.register(
                session,
                registration=registration,
                allowed_hosts=services.settings.mcp_oauth_allowed_redirect_hosts,
            )
    except OAuthRefused as refused:
        return refusal(refused)
    body = {
        "client_id": client.id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_name": client.name,
        "redirect_uris": client.redirect_uris,
        "grant_types": list(registration.grant_types),
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": clients.SCOPE,
    }
    if registration.client_uri:
        body["client_uri"] = registration.client_uri
    return JSONResponse(body, status_code=201, headers=NO_STORE)


@router.get("/authorize")
async def authorize(request: Request, services: ServicesDep) -> Response:
    """The authorization endpoint: checks the request, then sends the browser to the web page,
    where the signed-in user (after signing in, if need be) allows or denies the client."""
    query = request.query_params
    asked = AuthorizeRequest(
        response_type=query.get("response_type"),
        client_id=query.get("client_id"),
        redirect_uri=query.get("redirect_uri"),
        scope=query.get("scope"),
        state=query.get("state"),
        code_challenge=query.get("code_challenge"),
        code_challenge_method=query.get("code_challenge_method"),
        resource=query.get("resource"),
    )
    try:
        async with write_transaction(services.write_sessions) as session:
            started = await authorizations.start(
                session, request=asked, resource=mcp_resource(request)
            )
    except RedirectedRefusal as refused:
        await _audit_refusal(services, asked, refused.error)
        params = {
            "error": refused.error,
            "error_description": refused.description,
            "state": refused.state,
        }
        return RedirectResponse(
            authorizations.redirect_with(refused.redirect_uri, params), status_code=302
        )
    except OAuthRefused as refused:
        await _audit_refusal(services, asked, refused.error)
        return refusal(refused)
    return RedirectResponse(f"{_base(request)}/#/authorize/{started.id}", status_code=302)


async def _audit_refusal(services: Services, asked: AuthorizeRequest, error: str) -> None:
    """A refused /authorize request in the audit log (its own transaction: nothing was kept)."""
    details = {
        "error": error,
        "clientId": (asked.client_id or "")[:100],
        "redirectUri": (asked.redirect_uri or "")[:300],
    }
    await audit_refusals.record(
        services.write_sessions,
        kind="mcp_authorize.refused",
        reason=error,
        about=details["clientId"],
        details=details,
    )


def lifetimes(settings: Settings) -> Lifetimes:
    """Token lifetimes from the settings."""
    refresh = timedelta(days=settings.mcp_oauth_refresh_token_days)
    return Lifetimes(
        access_seconds=settings.mcp_oauth_access_token_seconds,
        refresh_seconds=int(refresh.total_seconds()),
    )


def _issued(issued: Issued) -> JSONResponse:
    body = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "refresh_token": issued.refresh_token,
        "scope": issued.grant.scope,
    }
    return JSONResponse(body, headers=NO_STORE)


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise OAuthRefused("invalid_request", "Send the form as application/x-www-form-urlencoded.")
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


@router.post("/token")
async def token(request: Request, services: ServicesDep) -> Response:
    """The token endpoint: an authorization code (with its PKCE verifier) or a refresh token
    for a short-lived access token good on /mcp only, and a new refresh token."""
    spans = lifetimes(services.settings)
    try:
        form = await _form(request)
    except OAuthRefused as unreadable:
        return refusal(unreadable)
    grant_type = form.get("grant_type")
    refused: OAuthRefused | None = None
    async with write_transaction(services.write_sessions) as session:
        # Refusals still commit: a replayed code or reused refresh token revokes its grant.
        try:
            if grant_type == "authorization_code":
                exchange = CodeExchange(
                    code=form.get("code"),
                    client_id=form.get("client_id"),
                    redirect_uri=form.get("redirect_uri"),
                    code_verifier=form.get("code_verifier"),
                    resource=form.get("resource"),
                )
                issued = await tokens.exchange_code(session, form=exchange, lifetimes=spans)
            elif grant_type == "refresh_token":
                issued = await tokens.refresh(
                    session,
                    refresh_token=form.get("refresh_token"),
                    client_id=form.get("client_id"),
                    resource=form.get("resource"),
                    lifetimes=spans,
                )
            else:
                raise OAuthRefused(
                    "unsupported_grant_type", "grant_type: authorization_code or refresh_token."
                )
        except OAuthRefused as error:
            refused = error
            details = {
                "error": error.error,
                "grantType": grant_type,
                "clientId": form.get("client_id"),
            }
            await audit.record(
                session, kind="mcp_token.refused", outcome="failure", details=details
            )
    if refused is not None:
        return refusal(refused)
    return _issued(issued)


@router.post("/revoke")
async def revoke(request: Request, services: ServicesDep) -> Response:
    """RFC 7009 revocation: the token's grant ends (its access and refresh tokens with it).
    Answers 200 for unknown tokens too, as the RFC asks."""
    try:
        form = await _form(request)
        secret = form.get("token")
        if not secret:
            raise OAuthRefused("invalid_request", "Send the token to revoke.")
    except OAuthRefused as refused:
        return refusal(refused)
    async with write_transaction(services.write_sessions) as session:
        await tokens.revoke(session, secret=secret, client_id=form.get("client_id"))
    return Response(status_code=200, headers=NO_STORE)
