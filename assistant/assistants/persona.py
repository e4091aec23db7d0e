"""The system prompt of a turn with an assistant: its instructions, the skill it was asked to use,
what it remembers about the user, and its skill catalog, within a token budget.

Sections are kept in that order of importance: when the budget is short the catalog goes first,
then older memories; the instructions are cut only when they alone do not fit. A skill's
instructions enter only the turn whose user message starts with `/skill-name`. Secrets never
enter a prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from assistant.assistants import knowledge_items, memories, sharing, skills
from assistant.assistants.knowledge_items import KnowledgeScope
from assistant.assistants.sharing import Viewer
from assistant.assistants.skill_tool import SkillEntry
from assistant.models import Assistant, Chat, Memory, Skill
from core import tokens

DEFAULT_BUDGET_TOKENS = 2000


@dataclass(frozen=True, kw_only=True)
class Persona:
    """What an assistant brings to one turn: prompt sections and model defaults."""

    assistant_id: str | None = None
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    sections: tuple[str, ...] = ()
    skill_used: str | None = None
    toolkit_ids: tuple[str, ...] = ()
    knowledge: tuple[KnowledgeScope, ...] = ()
    skills: tuple[SkillEntry, ...] = ()

    def system(self, *, model: str = "", budget_tokens: int = DEFAULT_BUDGET_TOKENS) -> str | None:
        """The system prompt: the sections that fit in `budget_tokens`, most important first."""
        kept: list[str] = []
        left = budget_tokens
        for section in self.sections:
            cost = tokens.count_text(section, model) + 2
            if cost <= left:
                kept.append(section)
                left -= cost
            elif not kept and left > 0:
                kept.append(tokens.decode(tokens.encode(section, model)[: left - 2], model))
                break
        return "\n\n".join(kept) or None


NO_PERSONA = Persona()


async def compose(session: AsyncSession, *, chat: Chat, viewer: Viewer, user_text: str) -> Persona:
    """The persona of a chat's assistant for a turn whose user message is `user_text`.

    Raises:
        AssistantNotFound: the chat's assistant is no longer shared with the user.
    """
    if chat.assistant_id is None:
        return NO_PERSONA
    assistant = await sharing.get_usable(session, viewer=viewer, assistant_id=chat.assistant_id)
    published = await sharing.published_of(session, assistant)
    catalog = await skills.list_all(session, assistant_id=published.id)
    invoked = skills.invoked_name(user_text)
    active = next((s for s in catalog if s.name == invoked), None)
    remembered = await memories.list_all(session, assistant_id=published.id, user_id=viewer.user_id)
    return Persona(
        assistant_id=published.id,
        model=assistant.model,
        temperature=assistant.temperature,
        max_tokens=assistant.max_tokens,
        sections=_sections(assistant, active, remembered, catalog),
        skill_used=active.name if active else None,
        toolkit_ids=tuple(assistant.toolkit_ids or ()),
        knowledge=await knowledge_items.scopes(session, assistant=published),
        skills=tuple(_entry(s) for s in catalog),
    )


async def system_prompt(
    session: AsyncSession,
    *,
    chat: Chat,
    user_id: str,
    user_text: str,
    team_ids: tuple[str, ...] = (),
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
) -> str | None:
    """The system prompt of a turn with the chat's assistant; None for a plain chat.

    Raises:
        AssistantNotFound: the chat's assistant is no longer shared with the user.
    """
    viewer = Viewer(user_id, team_ids)
    persona = await compose(session, chat=chat, viewer=viewer, user_text=user_text)
    return persona.system(budget_tokens=budget_tokens)


def _sections(
    assistant: Assistant, active: Skill | None, remembered: list[Memory], catalog: list[Skill]
) -> tuple[str, ...]:
    sections: list[str] = []
    if assistant.instructions.strip():
        sections.append(assistant.instructions.strip())
    if active is not None:
        sections.append(
            f"The user invoked the skill /{active.name}. Follow its instructions for this turn:\n"
            f"{active.instructions.strip()}"
        )
    if remembered:
        newest_first = list(reversed(remembered[-memories.MAX_IN_PROMPT :]))
        lines = "\n".join(f"- {m.content}" for m in newest_first)
        sections.append(f"What you remember about this user:\n{lines}")
    if catalog:
        lines = "\n".join(f"- /{s.name}: {s.description}" for s in catalog)
        sections.append(
            "Skills you have (load one's instructions with the load_skill tool when it fits the "
            f"request; the user can invoke one with /name):\n{lines}"
        )
    return tuple(sections)


def _entry(skill: Skill) -> SkillEntry:
    return SkillEntry(
        name=skill.name,
        description=skill.description,
        instructions=skill.instructions,
        toolkit_ids=tuple(skill.toolkit_ids or ()),
        secret_names=tuple(skill.secret_names or ()),
    )
