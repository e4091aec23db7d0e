"""The `load_skill` tool: the model picks one of the assistant's skills and gets its instructions.

A skill's instructions stay out of the prompt until the model asks for them; then they arrive as
that call's tool result. The tool is offered beside the chat's toolkits and answered here, without
the toolkits registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assistant.tool_loop import ToolBox, ToolCall, ToolOffer

LOAD_SKILL = "load_skill"


@dataclass(frozen=True)
class SkillEntry:
    """What the tool needs of a skill: its name, description and instructions."""

    name: str
    description: str
    instructions: str


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


class SkillTools:
    """A tool box answering `load_skill` itself and passing every other call to the toolkits."""

    def __init__(self, inner: ToolBox | None, skills: Sequence[SkillEntry]) -> None:
        self.inner = inner
        self.skills = {s.name: s for s in skills}

    async def offers(self, *, user_id: str, toolkit_ids: Sequence[str]) -> list[ToolOffer]:
        """The toolkits' tools, then `load_skill`."""
        found = []
        if self.inner is not None and toolkit_ids:
            found = await self.inner.offers(user_id=user_id, toolkit_ids=toolkit_ids)
        return [o for o in found if o.name != LOAD_SKILL] + [offer(list(self.skills.values()))]

    def budget(self) -> object:
        """The toolkits' per-turn budget (loading a skill costs none)."""
        return self.inner.budget() if self.inner is not None else None

    async def run(
        self, *, user_id: str, call: ToolCall, budget: object, assistant_id: str | None = None
    ) -> tuple[bool, str]:
        """A skill's instructions for `load_skill`; any other call goes to the toolkits."""
        if call.name != LOAD_SKILL:
            if self.inner is None:
                return False, f"There is no tool named {call.name!r}."
            return await self.inner.run(
                user_id=user_id, call=call, budget=budget, assistant_id=assistant_id
            )
        name = call.parsed_arguments().get("name")
        skill = self.skills.get(name) if isinstance(name, str) else None
        if skill is None:
            return False, f"There is no skill named {name!r}; use one of: {', '.join(self.skills)}."
        return True, f"Instructions of the skill {skill.name}:\n{skill.instructions.strip()}"
