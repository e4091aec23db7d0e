"""Memories: facts an assistant keeps about one user, listed and removed by that user alone."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.errors import MemoryNotFound
from assistant.models import Memory

MAX_IN_PROMPT = 50


async def list_all(session: AsyncSession, *, assistant_id: str, user_id: str) -> list[Memory]:
    """A user's memories on an assistant, oldest first."""
    rows = await session.scalars(
        select(Memory)
        .where(Memory.assistant_id == assistant_id, Memory.user_id == user_id)
        .order_by(Memory.created_at, Memory.id)
    )
    return list(rows)


async def create(session: AsyncSession, *, assistant_id: str, user_id: str, content: str) -> Memory:
    """Remember a fact about a user."""
    memory = Memory(assistant_id=assistant_id, user_id=user_id, content=content)
    session.add(memory)
    await session.flush()
    return memory


async def get(session: AsyncSession, *, assistant_id: str, user_id: str, memory_id: str) -> Memory:
    """One of the user's memories on an assistant.

    Raises:
        MemoryNotFound: no such memory, or it is another user's.
    """
    memory = await session.get(Memory, memory_id)
    if memory is None or memory.assistant_id != assistant_id or memory.user_id != user_id:
        raise MemoryNotFound(memory_id=memory_id)
    return memory


async def update(session: AsyncSession, *, memory: Memory, content: str) -> Memory:
    """Reword a memory."""
    memory.content = content
    await session.flush()
    return memory


async def delete(session: AsyncSession, *, memory: Memory) -> None:
    """Forget a memory."""
    await session.delete(memory)
    await session.flush()
