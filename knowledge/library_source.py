"""The caller's library as the built-in Knowledge toolkit and the MCP tools read it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import teams
from core.listing import PageRequest
from knowledge import library
from knowledge.index import TenantScope
from knowledge.vector_store import VectorStore

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
        hits = await self.store.chunks(
            row.id, version=row.live_version, limit=READ_CHUNKS, offset=0
        )
        text = "\n\n".join(h.text for h in sorted(hits, key=lambda h: h.chunk_index))
        return {"id": row.id, "name": row.name, "status": row.status, "text": text}
