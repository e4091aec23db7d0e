"""Built-in toolkits: current time, calculator, search over the caller's chats, and knowledge
(web search is in toolkits/web_search.py).

They run in-process and act as the calling user. The chats and knowledge they read belong to
packages that toolkits may not import (assistant) or that may be absent, so they reach them
through the small protocols below, wired by the app.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core import clock
from core.errors import InvalidInput
from toolkits.calculator import evaluate
from toolkits.calls import Cited, ToolDefinition


class ChatSearch(Protocol):
    """Search over one user's chats (the assistant package provides it)."""

    async def search_chats(self, *, user_id: str, query: str, limit: int) -> list[dict[str, Any]]:
        """The user's chats whose titles or messages match, newest first."""
        ...


class KnowledgeSource(Protocol):
    """The caller's knowledge: search, list and read library files (the knowledge package)."""

    async def search(self, *, user_id: str, query: str, limit: int) -> list[dict[str, Any]]:
        """Passages matching the query from files the user may read, with their sources."""
        ...

    async def list_files(self, *, user_id: str, query: str, limit: int) -> list[dict[str, Any]]:
        """Library files the user may read."""
        ...

    async def read_file(self, *, user_id: str, file_id: str) -> dict[str, Any]:
        """One library file's text, if the user may read it."""
        ...


Handler = Callable[[str, Mapping[str, Any]], Awaitable[str | Cited]]


@dataclass(frozen=True)
class BuiltinTool:
    """A built-in tool: its definition and the function that runs it for a user id."""

    definition: ToolDefinition
    run: Handler


@dataclass(frozen=True, kw_only=True)
class BuiltinToolkit:
    """A built-in toolkit, listed with a fixed id next to the external ones; `unavailable` says
    why it cannot be used here (then it is listed with that reason, and not offered)."""

    id: str
    name: str
    description: str
    tools: tuple[BuiltinTool, ...]
    unavailable: str | None = None

    @property
    def state(self) -> Literal["connected", "unavailable"]:
        """The toolkit's connection state as listed: `unavailable` when it cannot be used here."""
        return "unavailable" if self.unavailable else "connected"


def _schema(**properties: dict[str, Any]) -> dict[str, Any]:
    required = [name for name, spec in properties.items() if not spec.pop("optional", False)]
    return {"type": "object", "properties": properties, "required": required}


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


async def _now(_: str, args: Mapping[str, Any]) -> str:
    zone = str(args.get("timezone") or "UTC")
    try:
        moment: datetime = clock.now().astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"Unknown time zone {zone!r}.") from exc
    return _text(
        {"timezone": zone, "datetime": moment.isoformat(), "weekday": moment.strftime("%A")}
    )


async def _calculate(_: str, args: Mapping[str, Any]) -> str:
    return _text(
        {"expression": args.get("expression"), "value": evaluate(str(args.get("expression", "")))}
    )


def _limit(args: Mapping[str, Any]) -> int:
    value = args.get("limit", 10)
    return max(1, min(int(value) if isinstance(value, int) else 10, 50))


def builtin_toolkits(
    chats: ChatSearch | None, knowledge: KnowledgeSource | None
) -> tuple[BuiltinToolkit, ...]:
    """The built-in toolkits this app offers (chats and knowledge only when wired)."""
    clock_kit = BuiltinToolkit(
        id="builtin-clock",
        name="Clock",
        description="The current date and time in any time zone.",
        tools=(
            BuiltinTool(
                ToolDefinition(
                    name="current_time",
                    description="The current date and time in an IANA time zone (default UTC).",
                    input_schema=_schema(timezone={"type": "string", "optional": True}),
                    read_only=True,
                ),
                _now,
            ),
        ),
    )
    calculator = BuiltinToolkit(
        id="builtin-calculator",
        name="Calculator",
        description="Exact arithmetic.",
        tools=(
            BuiltinTool(
                ToolDefinition(
                    name="calculate",
                    description="Evaluate arithmetic: + - * / // % ** ^, parentheses, sqrt, log, "
                    "sin, cos, tan, abs, round, min, max, pi, e.",
                    input_schema=_schema(expression={"type": "string"}),
                    read_only=True,
                ),
                _calculate,
            ),
        ),
    )
    kits = [clock_kit, calculator]
    if chats is not None:
        kits.append(_chats_toolkit(chats))
    if knowledge is not None:
        kits.append(_knowledge_toolkit(knowledge))
    return tuple(kits)


def _chats_toolkit(chats: ChatSearch) -> BuiltinToolkit:
    async def search(user_id: str, args: Mapping[str, Any]) -> str:
        query = str(args.get("query", ""))
        return _text(await chats.search_chats(user_id=user_id, query=query, limit=_limit(args)))

    definition = ToolDefinition(
        name="search_chats",
        description="Search your own chats by title and message text.",
        input_schema=_schema(query={"type": "string"}, limit={"type": "integer", "optional": True}),
        read_only=True,
    )
    return BuiltinToolkit(
        id="builtin-chats",
        name="Chats",
        description="Search over your chats.",
        tools=(BuiltinTool(definition, search),),
    )


def _knowledge_toolkit(knowledge: KnowledgeSource) -> BuiltinToolkit:
    async def search(user_id: str, args: Mapping[str, Any]) -> str:
        query = str(args.get("query", ""))
        return _text(await knowledge.search(user_id=user_id, query=query, limit=_limit(args)))

    async def list_files(user_id: str, args: Mapping[str, Any]) -> str:
        query = str(args.get("query", ""))
        return _text(await knowledge.list_files(user_id=user_id, query=query, limit=_limit(args)))

    async def read_file(user_id: str, args: Mapping[str, Any]) -> str:
        file_id = str(args.get("file_id", ""))
        return _text(await knowledge.read_file(user_id=user_id, file_id=file_id))

    query = {"type": "string"}
    tools = (
        BuiltinTool(
            ToolDefinition(
                name="search_knowledge",
                description="Search the library files you may read; passages with their sources.",
                input_schema=_schema(
                    query=dict(query), limit={"type": "integer", "optional": True}
                ),
                read_only=True,
            ),
            search,
        ),
        BuiltinTool(
            ToolDefinition(
                name="list_library_files",
                description="List the library files you may read.",
                input_schema=_schema(
                    query={**query, "optional": True}, limit={"type": "integer", "optional": True}
                ),
                read_only=True,
            ),
            list_files,
        ),
        BuiltinTool(
            ToolDefinition(
                name="read_library_file",
                description="Read one library file's text.",
                input_schema=_schema(file_id={"type": "string"}),
                read_only=True,
            ),
            read_file,
        ),
    )
    return BuiltinToolkit(
        id="builtin-knowledge", name="Knowledge", description="Your library files.", tools=tools
    )
