"""Switchboard as an MCP server at /mcp: Streamable HTTP, Bearer tokens, tools as the caller.

Two kinds of Bearer token work here: API tokens, and the access tokens MCP clients get by OAuth
from Switchboard itself (`api.routes.mcp_oauth`; those work on /mcp only). Each tool acts as the
token's user, with that user's permissions, seat and budgets. The token is checked on every HTTP
request (so a revoked token or grant stops at once), the SDK
binds each MCP session id to the token that opened it, and a foreign `Origin` is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp

from api import public_url
from api.mcp_outputs import (
    Answer,
    AssistantList,
    AssistantSummary,
    ChatLine,
    ChatList,
    ChatSummary,
    ChatTranscript,
    FileList,
    FileText,
    Passages,
)
from api.services import Services
from assistant.assistants import assistants
from assistant.assistants.sharing import Viewer
from assistant.chat import chats
from assistant.chat.engine import TurnOptions
from assistant.models import Message
from assistant.schemas import ChatCreate, MessageStatus
from billing.admission import Caller
from core import api_tokens, teams
from core.database import write_transaction
from core.errors import SwitchboardError
from core.listing import PageRequest
from core.mcp_oauth import clients as mcp_clients
from core.mcp_oauth import grants as mcp_grants
from core.mcp_oauth import tokens as mcp_tokens
from core.models import User
from core.settings import Settings
from knowledge.library_source import LibrarySource

ASK_TIMEOUT_SECONDS = 300.0
METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"
router = APIRouter(include_in_schema=False)


@router.get(METADATA_PATH)
async def protected_resource_metadata(request: Request) -> JSONResponse:
    """OAuth 2.0 protected-resource metadata (RFC 9728): how MCP clients get a token for /mcp
    (readable by browser-based clients from any origin)."""
    base = public_url.request_url(request.scope, request.app.state.services.settings)
    body = {
        "resource": base + "/mcp",
        "authorization_servers": [base],
        "bearer_methods_supported": ["header"],
        "scopes_supported": [mcp_clients.SCOPE],
        "resource_documentation": base + "/docs",
    }
    return JSONResponse(body, headers={"Access-Control-Allow-Origin": "*"})


class ApiTokenVerifier:
    """Checks Bearer tokens: an MCP client's OAuth access token (its client is the client, the
    scope `mcp`, the audience our /mcp) or an API token (its id is the client)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def verify_token(self, token: str) -> AccessToken | None:
        if mcp_tokens.is_access_token(token):
            return await self._oauth(token)
        async with self.services.sessions() as session:
            found = await api_tokens.resolve(session, secret=token)
        if found is None:
            return None
        row, user = found
        expires = int(row.expires_at.timestamp()) if row.expires_at else None
        return AccessToken(
            token=token, client_id=row.id, scopes=[], expires_at=expires, subject=user.id
        )

    async def _oauth(self, token: str) -> AccessToken | None:
        async with self.services.sessions() as session:
            found = await mcp_tokens.resolve_access(session, secret=token)
        if found is None:
            return None
        grant = found.grant
        if mcp_grants.needs_touch(grant.last_used_at):
            async with write_transaction(self.services.sessions) as write:
                await mcp_grants.touch(write, grant_id=grant.id)
        return AccessToken(
            token=token,
            client_id=grant.client_id,
            scopes=grant.scope.split(),
            expires_at=found.expires_at,
            subject=found.user.id,
            resource=grant.resource,
        )


@dataclass
class McpMount:
    """The MCP server and its ASGI app; run `server.session_manager.run()` in the lifespan."""

    server: MCPServer
    app: ASGIApp


def build(services: Services) -> McpMount:
    """A fresh MCP server and app (the session manager runs once per server object)."""
    settings = services.settings
    base = public_url.listening_url(settings)
    server: MCPServer = MCPServer(
        name="switchboard",
        instructions="Switchboard: your chats and an assistant to ask, as the token's user.",
        token_verifier=ApiTokenVerifier(services),
        auth=AuthSettings(
            issuer_url=base,
            resource_server_url=base + "/mcp",
            validate_token_resource=False,
        ),
    )
    _add_tools(server, services)
    _add_knowledge_tools(server, services)
    app = server.streamable_http_app(
        streamable_http_path="/", transport_security=_security(settings, base)
    )
    # The 401's `resource_metadata` names the URL each request reached us at, not the one built.
    named = public_url.NamedMetadataUrl(app, settings=settings, path=METADATA_PATH)
    return McpMount(server, named)


def _security(settings: Settings, base: str) -> TransportSecuritySettings:
    public = urlsplit(base)
    hosts = {settings.host, "127.0.0.1", "localhost", "[::1]"}
    allowed_hosts = [f"{host}:*" for host in hosts] + [public.netloc]
    origins = [f"http://{host}:*" for host in ("127.0.0.1", "localhost", "[::1]")]
    origins += [f"{public.scheme}://{public.netloc}", *settings.mcp_allowed_origins]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=allowed_hosts, allowed_origins=origins
    )


async def _caller(services: Services) -> tuple[User, Caller]:
    token = get_access_token()
    if token is None or token.subject is None:
        raise ToolError("Not authenticated.")
    async with services.sessions() as session:
        user = await session.get(User, token.subject)
        if user is None or not user.active:
            raise ToolError("Not authenticated.")
        team_ids = await teams.team_ids_of(session, user_id=user.id)
    # Usage is billed to the API token that made the call; an OAuth client's call to the user.
    api_token_id = None if mcp_tokens.is_access_token(token.token) else token.client_id
    return user, Caller(user_id=user.id, team_ids=team_ids, api_token_id=api_token_id)


def _add_tools(server: MCPServer, services: Services) -> None:
    @server.tool()
    async def list_chats(query: str = "", limit: int = 20) -> ChatList:
        """Your chats, most recently active first; `query` searches titles."""
        user, _ = await _caller(services)
        page = PageRequest(limit=max(1, min(limit, 100)), q=query or None)
        async with services.sessions() as session:
            result = await chats.list_page(session, user_id=user.id, page=page)
        items = [
            ChatSummary(id=c.id, title=c.title, model=c.model, updated_at=c.updated_at.isoformat())
            for c in result.items
        ]
        return ChatList(chats=items, total=result.total)

    @server.tool()
    async def get_chat(chat_id: str) -> ChatTranscript:
        """One of your chats with its messages, oldest first."""
        user, _ = await _caller(services)
        async with services.sessions() as session:
            try:
                chat = await chats.get_owned(session, user_id=user.id, chat_id=chat_id)
            except SwitchboardError as exc:
                raise ToolError(exc.message) from exc
            messages = await chats.messages(session, chat=chat)
        lines = [ChatLine(role=m.role, content=m.content, status=m.status) for m in messages]
        return ChatTranscript(id=chat.id, title=chat.title, messages=lines)

    @server.tool()
    async def list_assistants(query: str = "", limit: int = 50) -> AssistantList:
        """Assistants you may talk to, with their conversation starters."""
        user, caller = await _caller(services)
        viewer = Viewer(user.id, caller.team_ids)
        page = PageRequest(limit=max(1, min(limit, 100)), q=query or None)
        async with services.sessions() as session:
            result = await assistants.list_page(session, viewer=viewer, page=page)
        items = [
            AssistantSummary(id=a.id, name=a.name, description=a.description, starters=a.starters)
            for a in result.items
        ]
        return AssistantList(assistants=items, total=result.total)

    @server.tool()
    async def ask_assistant(assistant_id: str, question: str) -> Answer:
        """Ask one of your assistants a question (a new chat); returns its answer and citations.
        Billed to you like any chat message."""
        user, caller = await _caller(services)
        return await _ask(services, user, caller, question, None, None, assistant_id)


def _add_knowledge_tools(server: MCPServer, services: Services) -> None:
    @server.tool()
    async def search_knowledge(query: str, limit: int = 5) -> Passages:
        """Passages from the library files you may read that best answer `query`, with sources."""
        user, _ = await _caller(services)
        source = LibrarySource(services.sessions, services.knowledge.store)
        try:
            found = await source.search(user_id=user.id, query=query, limit=max(1, min(limit, 20)))
        except SwitchboardError as exc:
            raise ToolError(exc.message) from exc
        return Passages.model_validate({"passages": found})

    @server.tool()
    async def list_library_files(query: str = "", limit: int = 50) -> FileList:
        """The library files you may read; `query` searches names."""
        user, _ = await _caller(services)
        source = LibrarySource(services.sessions, services.knowledge.store)
        found = await source.list_files(user_id=user.id, query=query, limit=max(1, min(limit, 200)))
        return FileList.model_validate({"files": found})

    @server.tool()
    async def read_library_file(file_id: str) -> FileText:
        """One library file's indexed text, if you may read it."""
        user, _ = await _caller(services)
        source = LibrarySource(services.sessions, services.knowledge.store)
        try:
            return FileText.model_validate(await source.read_file(user_id=user.id, file_id=file_id))
        except SwitchboardError as exc:
            raise ToolError(exc.message) from exc

    @server.tool()
    async def ask(question: str, chat_id: str | None = None, model: str | None = None) -> Answer:
        """Ask a question as a chat turn (a new chat unless `chat_id` is given); returns the answer.
        Billed to you like any chat message."""
        user, caller = await _caller(services)
        return await _ask(services, user, caller, question, chat_id, model)


async def _ask(
    services: Services,
    user: User,
    caller: Caller,
    question: str,
    chat_id: str | None,
    model: str | None,
    assistant_id: str | None = None,
) -> Answer:
    try:
        if chat_id is None:
            async with write_transaction(services.sessions) as session:
                data = ChatCreate(
                    title=chats.title_from(question), model=model, assistant_id=assistant_id
                )
                chat = await chats.create(
                    session, user_id=user.id, data=data, team_ids=caller.team_ids
                )
                chat_id = chat.id
        options = TurnOptions(model=model)
        run = await services.chat.send(
            caller=caller, chat_id=chat_id, content=question, options=options
        )
    except SwitchboardError as exc:
        raise ToolError(exc.message) from exc
    with anyio.move_on_after(ASK_TIMEOUT_SECONDS):
        await run.finished.wait()
    async with services.sessions() as session:
        message = await session.get(Message, run.message_id)
    if message is None or message.status not in {MessageStatus.COMPLETE, MessageStatus.INCOMPLETE}:
        reason = message.error_message if message is not None else None
        raise ToolError(reason or "The answer did not complete.")
    return Answer(
        chat_id=chat_id,
        message_id=message.id,
        answer=message.content,
        citations=message.citations or [],
    )
