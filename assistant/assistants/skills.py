"""Skills of an assistant: named instructions loaded into a turn only when the skill is used."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.errors import SkillNameTaken, SkillNotFound
from assistant.models import Skill
from assistant.schemas import SkillCreate, SkillUpdate

# `/name` at the very start of a user message, then the rest of the message.
INVOCATION = re.compile(r"^/([a-z0-9][a-z0-9_-]{0,63})(?:\s|$)")


async def list_all(session: AsyncSession, *, assistant_id: str) -> list[Skill]:
    """An assistant's skills by name."""
    rows = await session.scalars(
        select(Skill).where(Skill.assistant_id == assistant_id).order_by(Skill.name)
    )
    return list(rows)


async def get(session: AsyncSession, *, assistant_id: str, skill_id: str) -> Skill:
    """A skill of an assistant.

    Raises:
        SkillNotFound: the assistant has no such skill.
    """
    skill = await session.get(Skill, skill_id)
    if skill is None or skill.assistant_id != assistant_id:
        raise SkillNotFound(skill_id=skill_id)
    return skill


async def find_by_name(session: AsyncSession, *, assistant_id: str, name: str) -> Skill | None:
    """A skill of an assistant by its name, if it has one."""
    return await session.scalar(
        select(Skill).where(Skill.assistant_id == assistant_id, Skill.name == name)
    )


async def create(session: AsyncSession, *, assistant_id: str, data: SkillCreate) -> Skill:
    """Add a skill.

    Raises:
        SkillNameTaken: the assistant has a skill of that name.
    """
    await _check_name_free(session, assistant_id, data.name)
    skill = Skill(assistant_id=assistant_id, **data.model_dump())
    session.add(skill)
    await session.flush()
    return skill


async def update(session: AsyncSession, *, skill: Skill, data: SkillUpdate) -> Skill:
    """Change a skill; omitted fields stay.

    Raises:
        SkillNameTaken: the new name is another skill's.
    """
    if data.name is not None and data.name != skill.name:
        await _check_name_free(session, skill.assistant_id, data.name)
    for name in data.model_fields_set:
        value = getattr(data, name)
        if value is not None:
            setattr(skill, name, value)
    await session.flush()
    return skill


async def delete(session: AsyncSession, *, skill: Skill) -> None:
    """Remove a skill."""
    await session.delete(skill)
    await session.flush()


def invoked_name(text: str) -> str | None:
    """The skill a message invokes with a leading `/name`, if any."""
    match = INVOCATION.match(text)
    return match.group(1) if match else None


async def _check_name_free(session: AsyncSession, assistant_id: str, name: str) -> None:
    if await find_by_name(session, assistant_id=assistant_id, name=name) is not None:
        raise SkillNameTaken(name=name)
