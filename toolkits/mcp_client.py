"""Talking to external MCP servers over Streamable HTTP or stdio, with the `mcp` package.

One connection per operation: connect (through the SSRF guard), do it, close. Every operation is
bounded by the per-call timeout, and every failure becomes a `ConnectionFailed` (discovery) or a
failed `ToolResult` (calls): a hanging or crashing server never escapes as an exception.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import httpcore2
import httpx2
from mcp import Client
from mcp.client.auth import OAuthFlowError as OAuthError
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from toolkits.calls import Limits, ToolDefinition, ToolResult
from toolkits.errors import UnsafeUrl
from toolkits.oauth import SignInRefused, SignInRequired
from toolkits.ssrf import AddressPolicy, GuardedBackend
from toolkits.stdio_pool import StdioPool, is_closed

Result = TypeVar("Result")
STDIO_START_SECONDS = 30.0

CONNECTED = "connected"
NEEDS_SIGN_IN = "needs_sign_in"
FAILED = "failed"


@dataclass(frozen=True)
class HttpTarget:
    """An MCP server at a URL, with the headers to send (values already resolved)."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    auth: httpx2.Auth | None = field(default=None, compare=False)


@dataclass(frozen=True)
class StdioTarget:
    """An MCP server started as a command on this machine (admins only), kept running under
    `key` (the toolkit's id) between calls."""

    command: Sequence[str]
    key: str = ""


Target = HttpTarget | StdioTarget
CHANGED = "This tool's definition changed since it was approved; it is disabled until re-approved."
GONE = "The server no longer offers this tool."


@dataclass(frozen=True)
class CallOutcome:
    """A call's result; `current` is the tool's new definition when it changed since approval."""

    result: ToolResult
    current: ToolDefinition | None = None
    failed: bool = False


class ConnectionFailed(Exception):
    """The server could not be reached or used; `state` is failed or needs_sign_in."""

    def __init__(self, state: str, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


class McpConnector:
    """Opens bounded, guarded connections to MCP servers."""

    def __init__(
        self, policy: AddressPolicy, limits: Limits, stdio: StdioPool | None = None
    ) -> None:
        self.policy = policy
        self.limits = limits
        self.stdio = stdio or StdioPool()

    async def close(self) -> None:
        """Stop the command-line servers kept running."""
        await self.stdio.close()

    async def list_tools(
        self, target: Target, *, timeout: float | None = None
    ) -> list[ToolDefinition]:
        """Every tool the server offers, within `timeout` (default: the per-call timeout).

        Raises:
            ConnectionFailed: unreachable, refused by the SSRF guard, asks for sign-in, or too slow.
        """
        try:
            seconds = timeout or self.limits.call_timeout_seconds
            return await self._with_client(target, _all_tools, seconds)
        except Exception as exc:
            raise _failure(exc, self.limits) from exc

    async def call_tool(
        self,
        target: Target,
        name: str,
        arguments: dict[str, Any],
        *,
        approved_hash: str | None = None,
    ) -> CallOutcome:
        """Call one tool; failures of any kind come back as a result with `ok` false.

        With `approved_hash`, the tool's definition is listed first on the same connection and the
        call is refused when it no longer matches what was approved.
        """

        async def checked_call(client: Client) -> CallOutcome | CallToolResult:
            if approved_hash is not None:
                listed = {tool.name: tool for tool in await _all_tools(client)}
                current = listed.get(name)
                if current is None:
                    return CallOutcome(ToolResult(False, GONE))
                if current.definition_hash != approved_hash:
                    return CallOutcome(ToolResult(False, CHANGED), current)
            return await client.call_tool(name, arguments)

        try:
            seconds = self.limits.call_timeout_seconds
            result = await self._with_client(target, checked_call, seconds)
        except Exception as exc:
            return CallOutcome(ToolResult(False, _failure(exc, self.limits).reason), failed=True)
        if isinstance(result, CallOutcome):
            return result
        text = render(result)
        if result.is_error:
            return CallOutcome(ToolResult(False, text[: self.limits.result_max_chars]))
        return CallOutcome(self.limits.cap(text))

    async def _with_client(
        self, target: Target, operation: Callable[[Client], Awaitable[Result]], seconds: float
    ) -> Result:
        """Run `operation` on a client within `seconds`. A command-line server's start has a
        bound of its own (a process start is not the tool's slowness), and a kept-running
        server found dead is restarted once."""
        if not isinstance(target, StdioTarget):
            with anyio.fail_after(seconds):
                async with self._client(target) as client:
                    return await operation(client)
        key, start = (target.key, *target.command), max(seconds, STDIO_START_SECONDS)
        for attempt in range(2):
            try:
                async with self.stdio.client(key, target.command, start) as client:
                    with anyio.fail_after(seconds):
                        return await operation(client)
            except Exception as exc:
                if attempt or not is_closed(exc):
                    raise
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def _client(self, target: HttpTarget) -> AsyncIterator[Client]:
        await self.policy.check_url(target.url)
        max_event = max(4 * self.limits.result_max_chars + 65_536, 1_048_576)
        async with (
            guarded_http(self.policy, target.headers, self.limits, target.auth) as http,
            Client(
                streamable_http_client(target.url, http_client=http, max_sse_event_size=max_event)
            ) as client,
        ):
            yield client


@asynccontextmanager
async def guarded_http(
    policy: AddressPolicy,
    headers: Mapping[str, str],
    limits: Limits,
    auth: httpx2.Auth | None = None,
) -> AsyncIterator[httpx2.AsyncClient]:
    """An HTTP client whose every connection passes the SSRF guard, with no proxies from env.

    OAuth's own requests (metadata discovery, registration, tokens) go through it as well, so
    authorization servers are checked like the MCP server itself.
    """
    transport = httpx2.AsyncHTTPTransport(trust_env=False)
    # httpx2 has no hook for the network backend, so the pool is rebuilt around the guard.
    transport._pool = httpcore2.AsyncConnectionPool(network_backend=GuardedBackend(policy))
    timeout = httpx2.Timeout(limits.call_timeout_seconds)
    async with httpx2.AsyncClient(
        transport=transport,
        headers=dict(headers),
        timeout=timeout,
        follow_redirects=False,
        auth=auth,
    ) as client:
        yield client


async def _all_tools(client: Client) -> list[ToolDefinition]:
    tools: list[ToolDefinition] = []
    cursor: str | None = None
    for _ in range(50):
        page = await client.list_tools(cursor=cursor)
        for tool in page.tools:
            hints = tool.annotations
            tools.append(
                ToolDefinition(
                    name=tool.name,
                    description=tool.description or "",
                    input_schema=dict(tool.input_schema),
                    read_only=bool(hints and hints.read_only_hint),
                )
            )
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def render(result: CallToolResult) -> str:
    """A tool result as text for the model: text blocks, structured content, other blocks named."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(block.text)
        else:
            parts.append(f"[{block.type} content omitted]")
    if not parts and result.structured_content is not None:
        import json

        parts.append(json.dumps(result.structured_content))
    return "\n".join(parts)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    chained = [exc]
    while exc.__cause__ is not None and len(chained) < 10:
        exc = exc.__cause__
        chained.append(exc)
    return chained


def _failure(exc: BaseException, limits: Limits) -> ConnectionFailed:
    """The connection state and a sentence for the user (and the model) from any failure."""
    leaves = _leaves(exc)
    for leaf in leaves:
        if isinstance(leaf, UnsafeUrl):
            return ConnectionFailed(FAILED, f"Refused by the address guard: {leaf.message}")
        if isinstance(leaf, SignInRequired):
            return ConnectionFailed(NEEDS_SIGN_IN, "The server asks you to sign in.")
        if isinstance(leaf, SignInRefused):
            return ConnectionFailed(FAILED, str(leaf))
        if isinstance(leaf, OAuthError):
            return ConnectionFailed(FAILED, f"Signing in with the server failed: {str(leaf)[:300]}")
        if isinstance(leaf, TimeoutError):
            seconds = limits.call_timeout_seconds
            return ConnectionFailed(FAILED, f"The tool server did not answer within {seconds:g} s.")
        if isinstance(leaf, httpx2.HTTPStatusError) and leaf.response.status_code in {401, 403}:
            return ConnectionFailed(NEEDS_SIGN_IN, "The server asks for sign-in or a valid token.")
        text = str(leaf)
        if "401" in text or "Unauthorized" in text:
            return ConnectionFailed(NEEDS_SIGN_IN, "The server asks for sign-in or a valid token.")
    first = leaves[0]
    reason = str(first) or type(first).__name__
    return ConnectionFailed(FAILED, f"The tool server failed: {reason[:300]}")
