"""What the toolkits package needs from packages it may not import, wired by the app."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api import public_url
from assistant.assistants import tool_secrets
from assistant.chat.tool_loop import ToolCall, ToolOffer
from assistant.models import Chat, Message
from core import teams, users
from core.listing import PageRequest, contains_text
from core.models import User
from core.settings import Settings
from knowledge import library
from knowledge.index import TenantScope
from knowledge.vector_store import VectorStore
from toolkits.builtins import builtin_toolkits
from toolkits.calls import Limits, TurnBudget
from toolkits.crypto import Sealer, load_key
from toolkits.mcp_client import McpConnector
from toolkits.registry import Toolkits
from toolkits.ssrf import AddressPolicy
from toolkits.stdio_pool import StdioPool


class ChatSearchSource:
    """Search over one user's chats by title and message text, for the built-in Chats toolkit."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def search_chats(self, *, user_id: str, query: str, limit: int) -> list[dict[str, Any]]:
        """The user's matching chats, most recently active first."""
        stmt = select(Chat).where(Chat.user_id == user_id)
        if query.strip():
            words = query.strip()
            in_messages = select(Message.chat_id).where(contains_text(Message.content, words))
            stmt = stmt.where(or_(contains_text(Chat.title, words), Chat.id.in_(in_messages)))
        async with self.sessions() as session:
            rows = await session.scalars(stmt.order_by(Chat.updated_at.desc()).limit(limit))
            return [
                {"id": c.id, "title": c.title, "updatedAt": c.updated_at.isoformat()} for c in rows
            ]


READ_CHUNKS = 200


class LibrarySource:
    """The caller's library for the built-in Knowledge toolkit and the MCP tools."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], store: VectorStore) -> None:
        self.sessions = sessions
        self.store = store

    async def _scope(self, user_id: str) -> TenantScope:
        async with self.sessions() as session:
            return TenantScope(user_id, await teams.team_ids_of(session, user_id=user_id))

    async def search(self, *, user_id: str, query: str, limit: int) -> list[dict[str, Any]]:
        """Passages from files the user may read, best first, with their sources."""
        passages = await self.store.search(await self._scope(user_id), query, limit=limit)
        return [
            {
                "fileId": p.citation.file_id,
                "fileName": p.citation.file_name,
                "page": p.citation.page,
                "section": list(p.citation.section),
                "text": p.text,
                "score": round(p.score, 4),
            }
            for p in passages
        ]

    async def list_files(self, *, user_id: str, query: str, limit: int) -> list[dict[str, Any]]:
        """Library files the user may read, by name."""
        scope = await self._scope(user_id)
        async with self.sessions() as session:
            page = await library.list_files(
                session, scope=scope, page=PageRequest(limit=limit, q=query or None)
            )
        return [
            {"id": f.id, "name": f.name, "type": f.file_type, "status": f.status}
            for f in page.items
        ]

    async def read_file(self, *, user_id: str, file_id: str) -> dict[str, Any]:
        """A file's indexed text, if the user may read it.

        Raises:
            LibraryFileNotFound: the user may not read such a file.
        """
        scope = await self._scope(user_id)
        async with self.sessions() as session:
            row = await library.get_file(session, scope=scope, file_id=file_id)
        hits = await self.store.chunks(row.id, limit=READ_CHUNKS, offset=0)
        text = "\n\n".join(h.text for h in sorted(hits, key=lambda h: h.chunk_index))
        return {"id": row.id, "name": row.name, "status": row.status, "text": text}


class ChatTools:
    """The toolkits registry as the chat engine's tool box: offers and runs tools as a user."""

    def __init__(self, toolkits: Toolkits, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.toolkits = toolkits
        self.sessions = sessions

    async def _user(self, user_id: str) -> User:
        async with self.sessions() as session:
            return await users.get(session, user_id=user_id)

    async def offers(self, *, user_id: str, toolkit_ids: Sequence[str]) -> list[ToolOffer]:
        """The enabled tools of the chat's toolkits that the user may use."""
        user = await self._user(user_id)
        specs = await self.toolkits.tools_for(user=user, toolkit_ids=toolkit_ids)
        return [
            ToolOffer(s.function_name, s.as_openai_function(), s.side_effects)
            for s in specs
            if s.enabled
        ]

    async def require_usable(self, *, user_id: str, toolkit_ids: Sequence[str]) -> None:
        """Check that each id names a toolkit the user may use.

        Raises:
            ToolkitNotFound: one of them is not.
        """
        await self.toolkits.require_usable(user=await self._user(user_id), toolkit_ids=toolkit_ids)

    def budget(self) -> TurnBudget:
        """A fresh per-turn budget of tool calls."""
        return self.toolkits.turn_budget()

    async def run(
        self,
        *,
        user_id: str,
        call: ToolCall,
        budget: TurnBudget | None,
        assistant_id: str | None = None,
    ) -> tuple[bool, str]:
        """Run one call as the user, with the assistant's secrets; failures come back as
        (False, why)."""
        user = await self._user(user_id)
        with tool_secrets.bound_to(assistant_id):
            result = await self.toolkits.call_tool(
                user=user,
                function_name=call.name,
                arguments=call.parsed_arguments(),
                budget=budget,
            )
        return result.ok, result.content


def build_toolkits(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], store: VectorStore | None = None
) -> Toolkits:
    """The app's toolkits: limits and allowed hosts from settings, credentials key, built-ins."""
    limits = Limits(
        call_timeout_seconds=settings.tool_call_timeout_seconds,
        result_max_chars=settings.tool_result_max_chars,
        max_calls_per_turn=settings.tool_max_calls_per_turn,
    )
    policy = AddressPolicy.from_setting(settings.toolkit_allowed_hosts)
    key = load_key(settings.toolkit_secret_key.get_secret_value(), settings.data_dir)
    stdio = StdioPool(
        max_sessions=settings.toolkit_stdio_max_sessions,
        idle_seconds=settings.toolkit_stdio_idle_seconds,
    )
    base = public_url.listening_url(settings)  # registered with servers: outlives any request
    return Toolkits(
        sessions=sessions,
        connector=McpConnector(policy, limits, stdio),
        callback_url=base + "/api/toolkits/oauth/callback",
        refresh_seconds=settings.toolkit_refresh_seconds,
        sealer=Sealer(key),
        secrets=tool_secrets.AssistantSecrets(
            sessions, settings.data_dir, settings.secrets_key.get_secret_value()
        ),
        builtins=builtin_toolkits(
            ChatSearchSource(sessions),
            knowledge=LibrarySource(sessions, store) if store is not None else None,
        ),
    )
