"""The tool loop's parts: assembling streamed tool calls, approval, running calls in parallel.

The engine drives the loop (one admitted, settled model call per step); this module holds what a
step does with the tool calls a model asked for.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from toolkits.calls import TurnBudget


@dataclass(frozen=True)
class ToolCall:
    """One call the model asked for."""

    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as an object ({} when the model sent something that is not one)."""
        try:
            value = json.loads(self.arguments or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


@dataclass
class CallAssembler:
    """Joins the fragments of streamed tool calls (OpenAI streams them by index)."""

    parts: dict[int, dict[str, str]] = field(default_factory=dict)

    def feed(self, fragments: Sequence[Mapping[str, Any]]) -> None:
        """Add one chunk's tool-call fragments."""
        for position, fragment in enumerate(fragments):
            index = int(fragment.get("index", position) or 0)
            part = self.parts.setdefault(index, {"id": "", "name": "", "arguments": ""})
            part["id"] = fragment.get("id") or part["id"]
            function = fragment.get("function") or {}
            part["name"] = function.get("name") or part["name"]
            part["arguments"] += function.get("arguments") or ""

    def calls(self) -> list[ToolCall]:
        """The complete calls, in the order the model gave them."""
        return [
            ToolCall(p["id"] or f"call_{i}", p["name"], p["arguments"])
            for i, p in sorted(self.parts.items())
            if p["name"]
        ]


@dataclass(frozen=True)
class Outcome:
    """What a call returned, as the model and the stream see it."""

    call: ToolCall
    ok: bool
    content: str


@dataclass(frozen=True)
class ToolOffer:
    """A tool handed to the model: its name there, its OpenAI function entry, side effects."""

    name: str
    function: dict[str, Any]
    side_effects: bool


class ToolBox(Protocol):
    """The tools a chat may use and how to run them (the toolkits registry, adapted by the app)."""

    async def offers(self, *, user_id: str, toolkit_ids: Sequence[str]) -> list[ToolOffer]:
        """The enabled tools of these toolkits that the user may use."""
        ...

    async def require_usable(self, *, user_id: str, toolkit_ids: Sequence[str]) -> None:
        """Check that each id names a toolkit the user may use.

        Raises:
            ToolkitNotFound: one of them is not.
        """
        ...

    def budget(self, citations: list[dict[str, Any]]) -> TurnBudget | None:
        """A fresh per-turn budget of tool calls (None: the box sets no limit); the sources its
        tools cite (web results) join the answer's `citations`, numbered after them."""
        ...

    async def run(
        self,
        *,
        user_id: str,
        call: ToolCall,
        budget: TurnBudget | None,
        assistant_id: str | None = None,
    ) -> tuple[bool, str]:
        """Run one call (for the chat's assistant, whose secrets it may use); (ok, content).
        Never raises for a tool's own failure."""
        ...


class ToolRunner(Protocol):
    """Runs one tool call for the caller (the toolkits registry, adapted)."""

    async def __call__(self, call: ToolCall) -> tuple[bool, str]:
        """Run the call; (ok, content). Must not raise for a tool's own failure."""
        ...


Approver = Callable[[ToolCall], Awaitable[bool]]


async def run_calls(
    calls: Sequence[ToolCall],
    *,
    runner: ToolRunner,
    needs_approval: Callable[[ToolCall], bool],
    approve: Approver,
) -> list[Outcome]:
    """Run the calls in parallel; calls needing approval wait for it and are refused when denied."""

    async def one(call: ToolCall) -> Outcome:
        if needs_approval(call) and not await approve(call):
            return Outcome(call, False, "The user refused this tool call.")
        ok, content = await runner(call)
        return Outcome(call, ok, content)

    return list(await asyncio.gather(*(one(c) for c in calls)))


def assistant_turn(text: str, calls: Sequence[ToolCall]) -> dict[str, Any]:
    """The assistant message that asked for the calls, for the next step's prompt."""
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls
        ],
    }


def tool_turns(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """The tool messages carrying each call's result, for the next step's prompt."""
    return [{"role": "tool", "tool_call_id": o.call.id, "content": o.content} for o in outcomes]
