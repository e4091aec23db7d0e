"""Tool calls as the chat loop sees them: results, limits and the per-turn call budget."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class ToolResult:
    """What a tool call gives the model: `ok` false means `content` explains the failure."""

    ok: bool
    content: str
    truncated: bool = False


@dataclass(frozen=True)
class Limits:
    """Bounds on tool calls: seconds per call, characters per result, calls per chat turn."""

    call_timeout_seconds: float = 30.0
    result_max_chars: int = 20_000
    max_calls_per_turn: int = 16

    def cap(self, text: str) -> ToolResult:
        """A successful result, cut to `result_max_chars` with a note saying how much was cut."""
        if len(text) <= self.result_max_chars:
            return ToolResult(True, text)
        cut = len(text) - self.result_max_chars
        note = f"\n[truncated: {cut} more characters]"
        return ToolResult(True, text[: self.result_max_chars] + note, truncated=True)


@dataclass
class TurnBudget:
    """How many tool calls one chat turn may still make; the tool loop makes one per turn.

    It also carries the turn's citations (the chat links them to the answer's own list): tools
    that cite sources number theirs after those already there.
    """

    remaining: int
    used: int = field(default=0)
    citations: list[dict[str, Any]] = field(default_factory=list)

    def take(self) -> bool:
        """Use one call; false when the turn has none left."""
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        self.used += 1
        return True


@dataclass(frozen=True, kw_only=True)
class Source:
    """A web page a tool's answer rests on; the answer cites it by number and links to it."""

    url: str
    title: str
    snippet: str = ""
    published: str | None = None

    def citation(self, number: int) -> dict[str, Any]:
        """The source as a citation of kind `url`, as the stream and the saved message show it."""
        body: dict[str, Any] = {
            "number": number,
            "kind": "url",
            "url": self.url,
            "title": self.title,
            "snippet": self.snippet,
        }
        if self.published:
            body["publishedAt"] = self.published
        return body


@dataclass(frozen=True, kw_only=True)
class Cited:
    """A built-in tool's answer resting on sources: numbered after the turn's other citations
    (a page already cited keeps its number) and added to them."""

    heading: str
    sources: tuple[Source, ...]
    empty: str = "Nothing found."

    def numbered(self, citations: list[dict[str, Any]]) -> str:
        """The text for the model, after adding the sources to the turn's `citations`."""
        if not self.sources:
            return self.empty
        known = {c.get("url"): c["number"] for c in citations if c.get("kind") == "url"}
        blocks: list[str] = []
        for source in self.sources:
            number = known.get(source.url)
            if number is None:
                number = max((int(c.get("number") or 0) for c in citations), default=0) + 1
                citations.append(source.citation(number))
                known[source.url] = number
            blocks.append(f"[{number}] {source.title}\n{source.url}\n{source.snippet}".rstrip())
        data = "\n\n".join(blocks).replace("</sources>", "</sources\u200b>")
        return f"{self.heading}\n<sources>\n{data}\n</sources>"


@dataclass(frozen=True, kw_only=True)
class ToolDefinition:
    """A tool as a server describes it: name, description, JSON schema, and a read-only hint."""

    name: str
    description: str
    input_schema: dict[str, Any]
    read_only: bool = False

    @property
    def definition_hash(self) -> str:
        """A hash of what the model sees (name, description, schema): approval is bound to it."""
        canonical = json.dumps(
            {"name": self.name, "description": self.description, "schema": self.input_schema},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class ToolSpec:
    """A tool the caller may use, as handed to the model: `function_name` is unique per call."""

    toolkit_id: str
    toolkit_name: str
    name: str
    function_name: str
    description: str
    input_schema: dict[str, Any]
    side_effects: bool
    enabled: bool
    kind: Literal["builtin", "mcp", "api-request"] = "mcp"

    def as_openai_function(self) -> dict[str, Any]:
        """The tool in OpenAI function-calling form (what LiteLLM takes)."""
        return {
            "type": "function",
            "function": {
                "name": self.function_name,
                "description": self.description[:1024],
                "parameters": self.input_schema or {"type": "object", "properties": {}},
            },
        }


def function_name(toolkit_id: str, tool_name: str) -> str:
    """The model-facing name of a tool: toolkit id and tool name, within 64 characters."""
    name = f"{toolkit_id}__{tool_name}"
    if len(name) <= 64 and all(c.isalnum() or c in "_-" for c in name):
        return name
    digest = hashlib.sha256(tool_name.encode()).hexdigest()[:16]
    return f"{toolkit_id[:40]}__{digest}"
