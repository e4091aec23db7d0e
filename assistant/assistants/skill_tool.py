"""The `load_skill` tool: the model picks one of the assistant's skills and gets its instructions.

A skill's instructions stay out of the prompt until the model asks for them; then they arrive as
that call's tool result. The tool is offered beside the chat's toolkits and answered here, without
the toolkits registry. A skill in use for a turn (invoked with `/name`, or loaded) adds its own
toolkits' tools to the turn's offers; a tool offered only through skills resolves only those
skills' secret names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assistant.assistants import tool_secrets
from assistant.chat.tool_loop import ToolBox, ToolCall, ToolOffer
from toolkits.calls import TurnBudget

LOAD_SKILL = "load_skill"


@dataclass(frozen=True, kw_only=True)
class SkillEntry:
    """What the tool needs of a skill: its name, description, instructions, toolkits, secrets."""

    name: str
    description: str
    instructions: str
    toolkit_ids: tuple[str, ...] = ()
    secret_names: tuple[str, ...] = ()


def offer(skills: Sequence[SkillEntry]) -> ToolOffer:
    """The `load_skill` function as the model sees it, naming the skills it may load."""
    function: dict[str, Any] = {
        "type": "function",
        "function": {
            "name": LOAD_SKILL,
            "description": (
                "Load the instructions of one of your skills before using it. Skills: "
                + "; ".join(f"{s.name}: {s.description}" for s in skills)
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "name": {
                        "type": "string",
                        "enum": [s.name for s in skills],
                        "description": "The skill's name.",
                    }
                },
                "required": ["name"],
            },
        },
    }
    return ToolOffer(LOAD_SKILL, function, side_effects=False)


async def turn_tools(
    tools: ToolBox | None,
    *,
    user_id: str,
    chosen: Sequence[str] | None,
    carried: Sequence[str],
    skills: Sequence[SkillEntry],
    active: str | None,
) -> tuple[SkillTools | None, list[ToolOffer]]:
    """A turn's own tool box (when the assistant has skills) and its offers: the toolkits the
    user chose for the chat, each one they may still use, or else those the assistant carries.

    Raises:
        ToolkitNotFound: the chat names a toolkit the user may not use.
    """
    if chosen and tools is not None:
        await tools.require_usable(user_id=user_id, toolkit_ids=chosen)
    toolkit_ids = list(chosen) if chosen is not None else list(carried)
    toolbox = SkillTools(tools, skills, active) if skills else None
    box = toolbox or tools
    if box is None or (toolbox is None and not toolkit_ids):
        return toolbox, []
    return toolbox, await box.offers(user_id=user_id, toolkit_ids=toolkit_ids)


class SkillTools:
    """A turn's tool box answering `load_skill` itself and passing every other call to the
    toolkits; it adds the toolkits of the skills in use to the turn's offers."""

    def __init__(
        self, inner: ToolBox | None, skills: Sequence[SkillEntry], active: str | None = None
    ) -> None:
        self.inner = inner
        self.skills = {s.name: s for s in skills}
        self.in_use = [self.skills[active]] if active in self.skills else []
        self.toolkit_ids: tuple[str, ...] = ()
        self.offered_for = 0  # how many skills in use the current offers include
        self.skill_tools: dict[str, frozenset[str]] = {}  # tool offered only by skills: secrets

    async def offers(self, *, user_id: str, toolkit_ids: Sequence[str]) -> list[ToolOffer]:
        """The toolkits' tools, those of the skills in use, then `load_skill`."""
        self.toolkit_ids = tuple(toolkit_ids)
        self.offered_for = len(self.in_use)
        found = await self._toolkit_offers(user_id, toolkit_ids)
        names = {o.name for o in found}
        self.skill_tools = {}
        for skill in self.in_use:
            for extra in await self._toolkit_offers(user_id, skill.toolkit_ids):
                if extra.name in names:
                    continue
                if extra.name not in self.skill_tools:
                    found.append(extra)
                allowed = self.skill_tools.get(extra.name, frozenset())
                self.skill_tools[extra.name] = allowed | frozenset(skill.secret_names)
        return [o for o in found if o.name != LOAD_SKILL] + [offer(list(self.skills.values()))]

    async def refreshed(self, *, user_id: str, current: list[ToolOffer]) -> list[ToolOffer]:
        """The offers for the next step: `current`, grown when a skill was loaded since."""
        if len(self.in_use) == self.offered_for:
            return current
        return await self.offers(user_id=user_id, toolkit_ids=self.toolkit_ids)

    async def _toolkit_offers(self, user_id: str, toolkit_ids: Sequence[str]) -> list[ToolOffer]:
        if self.inner is None or not toolkit_ids:
            return []
        return await self.inner.offers(user_id=user_id, toolkit_ids=toolkit_ids)

    async def require_usable(self, *, user_id: str, toolkit_ids: Sequence[str]) -> None:
        """Check the toolkits with the inner tool box (see `ToolBox.require_usable`)."""
        if self.inner is not None:
            await self.inner.require_usable(user_id=user_id, toolkit_ids=toolkit_ids)

    def budget(self, citations: list[dict[str, Any]]) -> TurnBudget | None:
        """The toolkits' per-turn budget (loading a skill costs none)."""
        return self.inner.budget(citations) if self.inner is not None else None

    async def run(
        self,
        *,
        user_id: str,
        call: ToolCall,
        budget: TurnBudget | None,
        assistant_id: str | None = None,
    ) -> tuple[bool, str]:
        """A skill's instructions for `load_skill`; any other call goes to the toolkits."""
        if call.name != LOAD_SKILL:
            if self.inner is None:
                return False, f"There is no tool named {call.name!r}."
            allowed = self.skill_tools.get(call.name)
            with tool_secrets.limited_to(allowed):
                return await self.inner.run(
                    user_id=user_id, call=call, budget=budget, assistant_id=assistant_id
                )
        name = call.parsed_arguments().get("name")
        skill = self.skills.get(name) if isinstance(name, str) else None
        if skill is None:
            return False, f"There is no skill named {name!r}; use one of: {', '.join(self.skills)}."
        if skill not in self.in_use:
            self.in_use.append(skill)
        return True, f"Instructions of the skill {skill.name}:\n{skill.instructions.strip()}"
