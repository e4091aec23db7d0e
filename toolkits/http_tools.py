"""Calling a custom toolkit's HTTP tools, and fetching OpenAPI documents, through the SSRF guard.

A call checks its arguments against the tool's parameters, fills the request
(toolkits/request_templates.py), resolves the headers (sealed values, and assistant secrets only
for an assistant that carries the toolkit: toolkits/targets.py), and sends it with the MCP
tools' guard rails: every connection vetted by the address guard, the per-call timeout, a cap on
the bytes read and on the result's characters. Redirects are not followed: a header meant for
the tool's host must not reach another one. What the model gets is the response's text, or, for
an HTTP error, `ok` false with the status and the start of the text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from toolkits import request_templates
from toolkits.calls import Limits, ToolResult
from toolkits.errors import OpenApiInvalid, OpenApiTooLarge, UnsafeUrl
from toolkits.mcp_client import guarded_http
from toolkits.models import Toolkit, ToolkitTool
from toolkits.ssrf import AddressPolicy
from toolkits.targets import Targets

log = logging.getLogger(__name__)
USER_AGENT = "Switchboard-tools/1"
MAX_REDIRECTS = 3


def argument_problem(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> str | None:
    """Why the arguments do not fit the tool's parameters, for the model; None when they do."""
    try:
        validator = Draft202012Validator(dict(schema))
        error = next(iter(sorted(validator.iter_errors(dict(arguments)), key=str)), None)
    except SchemaError:
        return None  # checked on save; a schema stored before a stricter check is not held against
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(arguments)"
    return f"The arguments do not fit the tool's parameters at {where}: {error.message[:300]}"


async def read_capped(response: httpx2.Response, max_bytes: int) -> tuple[bytes, bool]:
    """At most `max_bytes` of the body, and whether more was left unread."""
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data.extend(chunk)
        if len(data) > max_bytes:
            return bytes(data[:max_bytes]), True
    return bytes(data), False


@dataclass(frozen=True)
class HttpTools:
    """Runs custom tools' requests for the toolkits registry."""

    policy: AddressPolicy
    limits: Limits
    targets: Targets

    @property
    def max_bytes(self) -> int:
        """The most of a response read: a generous multiple of the result's character cap."""
        return 4 * self.limits.result_max_chars + 65_536

    async def call(
        self, *, toolkit: Toolkit, tool: ToolkitTool, user_id: str, arguments: Mapping[str, Any]
    ) -> ToolResult:
        """Run one call of a custom tool as a user; every failure comes back as `ok` false.

        Raises:
            SecretMissing: a header takes an assistant secret not available to this call.
            ToolArgumentsInvalid: an argument the URL's path needs is missing.
        """
        problem = argument_problem(tool.input_schema, arguments)
        if problem is not None:
            return ToolResult(False, problem)
        config = tool.config or {}
        request = request_templates.fill(config, base_url=toolkit.url, arguments=arguments)
        headers = {"User-Agent": USER_AGENT}
        headers |= await self.targets.headers_for(toolkit, user_id, toolkit.headers or {})
        headers |= await self.targets.headers_for(toolkit, user_id, config.get("headers") or {})
        if request.body is not None:
            headers.setdefault("Content-Type", "application/json")
        seconds = self.limits.call_timeout_seconds
        try:
            await self.policy.check_url(request.url)
            with anyio.fail_after(seconds):
                async with (
                    guarded_http(self.policy, headers, self.limits) as client,
                    client.stream(
                        request.method,
                        request.url,
                        params=tuple(request.query),
                        content=request.body,
                    ) as response,
                ):
                    data, cut = await read_capped(response, self.max_bytes)
        except UnsafeUrl as exc:
            return ToolResult(False, f"Refused by the address guard: {exc.message}")
        except TimeoutError:
            return ToolResult(False, f"The tool's server did not answer within {seconds:g} s.")
        except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
            return ToolResult(False, f"The request failed: {str(exc)[:300] or type(exc).__name__}")
        except Exception:
            log.exception("custom tool %s failed", tool.name)
            return ToolResult(False, "The request failed unexpectedly.")
        text = data.decode(response.encoding or "utf-8", errors="replace")
        if cut:
            text += "\n[truncated: the response was longer]"
        status = response.status_code
        if status >= 300:
            cap = self.limits.result_max_chars
            return ToolResult(False, f"HTTP {status} {response.reason_phrase}: {text}"[:cap])
        return self.limits.cap(text or f"HTTP {status} (no content)")

    async def fetch(self, url: str, max_bytes: int) -> bytes:
        """A document from a URL (an OpenAPI description), through the address guard; up to
        three redirects, each connection vetted again.

        Raises:
            UnsafeUrl: the URL, or one redirected to, points at an address that is not allowed.
            OpenApiTooLarge: over `max_bytes`.
            OpenApiInvalid: the document could not be fetched.
        """
        await self.policy.check_url(url)
        seconds = self.limits.call_timeout_seconds
        try:
            with anyio.fail_after(seconds):
                async with guarded_http(
                    self.policy, {"User-Agent": USER_AGENT}, self.limits
                ) as http:
                    http.max_redirects = MAX_REDIRECTS
                    async with http.stream("GET", url, follow_redirects=True) as response:
                        data, cut = await read_capped(response, max_bytes)
        except TimeoutError as exc:
            raise OpenApiInvalid(f"The document did not arrive within {seconds:g} s.") from exc
        except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
            reason = str(exc)[:300] or type(exc).__name__
            raise OpenApiInvalid(f"The document could not be fetched: {reason}") from exc
        if cut:
            raise OpenApiTooLarge(f"The document is over {max_bytes} bytes.", limit=max_bytes)
        if response.status_code >= 300:
            raise OpenApiInvalid(
                f"Fetching the document answered HTTP {response.status_code}.",
                status=response.status_code,
            )
        return data
