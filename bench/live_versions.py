"""The bench's library rows: each page's live version, kept and read as the server does.

A SQLite file beside the index holds the schema and a `knowledge_file` row a page. Indexing makes
each page's version live there in one write, as the worker does, and every search that passes
`live` reads its hits' live versions from it with `knowledge.library.read_live_versions` on the
search's thread (`core.database.thread_reader`), as the server does on a SQLite file. An index
built before versions gets live version "" for every page, as the migration gives files indexed
before.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

import core.models  # noqa: F401 (the tables the file's foreign keys name)
from core.database import Base, async_url, create_engine, sessionmaker, thread_reader
from knowledge import library
from knowledge.models import LibraryFile

T = TypeVar("T")


class LiveVersions:
    """The live version of each page, in a SQLite file."""

    def __init__(self, path: Path) -> None:
        self.existed = path.exists()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._engine = self._run(self._open(path))
        self._sessions = sessionmaker(self._engine)
        self._run(self._create())
        reader = thread_reader(self._sessions)
        assert reader is not None  # a SQLite file
        self._reader = reader

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    async def _open(self, path: Path) -> AsyncEngine:
        return create_engine(async_url(f"sqlite:///{path}"))  # its inline connection, on the loop

    async def _create(self) -> None:
        async with self._engine.begin() as connection:  # every table: foreign keys are checked
            await connection.run_sync(Base.metadata.create_all)

    def make_live(self, file_id: str, version: str) -> None:
        """Record `version` as the page's live one (one write, as the worker's)."""
        self._run(self._make_live(file_id, version))

    async def _make_live(self, file_id: str, version: str) -> None:
        async with self._sessions() as session, session.begin():
            row = await session.get(LibraryFile, file_id)
            if row is None:
                row = LibraryFile(
                    id=file_id, name=file_id, file_type="html", size=0, sha256=file_id[:64],
                    storage_key=file_id[:64], status="indexed",
                )  # fmt: skip
                session.add(row)
            row.live_version = version

    def live(self, file_ids: Sequence[str]) -> Mapping[str, str | None]:
        """The live version of each of these pages (what `retrieve` takes as `live`)."""
        found: dict[str, str | None] = self._reader(library.read_live_versions, file_ids)
        return found

    def close(self) -> None:
        self._run(self._engine.dispose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
