"""The `api-call` job action: one HTTP request, made as tool calls are made.

The URL is checked by the SSRF guard when the job is saved, and every connection again (so a
name cannot turn private between the two, and redirects are not followed); the request is bounded
by the tool call timeout and the answer read up to the tool result cap. A header may name an
assistant secret (`{"secret": "NAME"}`); it resolves at run time through `SecretReveal`, which
decides whether this job may have it.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Protocol

import httpx2

from core.errors import SwitchboardError
from knowledge.errors import InvalidJob
from knowledge.job_actions import Step
from knowledge.models import Job
from toolkits import ssrf
from toolkits.calls import Limits
from toolkits.errors import UnsafeUrl
from toolkits.mcp_client import guarded_http
from toolkits.ssrf import AddressPolicy

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
MAX_HEADERS = 30
MAX_BODY = 100_000
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")


class SecretReveal(Protocol):
    """An assistant's secret for a job's request (raises a SwitchboardError when the job may not
    have it)."""

    async def __call__(self, *, job: Job, assistant_id: str, name: str) -> str: ...


class ApiCall:
    """`api-call`: {method, url, headers, body (text or JSON), assistantId (whose secrets the
    headers name)}; a status of 400 or more fails the step."""

    admin_only = False

    def __init__(self, policy: AddressPolicy, limits: Limits, secrets: SecretReveal) -> None:
        self.policy = policy
        self.limits = limits
        self.secrets = secrets

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        method = str(params.get("method", "GET")).upper()
        if method not in METHODS:
            raise InvalidJob(f"`method` must be one of {', '.join(METHODS)}.")
        url = params.get("url")
        if not isinstance(url, str) or len(url) > 2000:
            raise InvalidJob("An api-call action needs `url`, an http(s) URL.")
        try:
            ssrf.parse(url)
        except UnsafeUrl as exc:
            raise InvalidJob(exc.message) from None
        headers = params.get("headers") or {}
        if not isinstance(headers, dict) or len(headers) > MAX_HEADERS:
            raise InvalidJob(f"`headers` must be an object of at most {MAX_HEADERS} headers.")
        for name, value in headers.items():
            secret = isinstance(value, dict) and set(value) == {"secret"}
            if not _HEADER_NAME.match(name) or not (isinstance(value, str) or secret):
                raise InvalidJob(f"Header {name!r} must be text or {{'secret': NAME}}.")
        assistant_id = params.get("assistantId")
        if any(isinstance(v, dict) for v in headers.values()) and not isinstance(assistant_id, str):
            raise InvalidJob(
                "Headers that name secrets need `assistantId`, whose secrets they are."
            )
        body = params.get("body")
        if body is not None and len(str(body)) > MAX_BODY:
            raise InvalidJob("`body` may be at most 100,000 characters.")
        return {
            "method": method,
            "url": url,
            "headers": headers,
            "body": body,
            "assistantId": assistant_id,
        }

    async def perform(self, job: Job, params: dict[str, Any], step: Step) -> dict[str, Any]:
        url = str(params["url"])
        try:
            await self.policy.check_url(url)
        except UnsafeUrl as exc:
            raise SwitchboardError(f"Refused by the SSRF guard: {exc.message}") from None
        headers = await self._headers(job, params)
        body = params.get("body")
        content = body.encode() if isinstance(body, str) else None
        payload = body if body is not None and not isinstance(body, str) else None
        step.log(f"{params['method']} {url}")
        try:
            async with (
                asyncio.timeout(self.limits.call_timeout_seconds),
                guarded_http(self.policy, headers, self.limits) as http,
                http.stream(params["method"], url, content=content, json=payload) as response,
            ):
                text, truncated = await self._read(response)
        except UnsafeUrl as exc:
            raise SwitchboardError(f"Refused by the SSRF guard: {exc.message}") from None
        except (TimeoutError, httpx2.TimeoutException):
            raise SwitchboardError("The request took too long.") from None
        except httpx2.HTTPError as exc:
            raise SwitchboardError(f"The request failed: {exc}") from None
        step.log(f"HTTP {response.status_code}, {len(text)} characters")
        if response.status_code >= 400:
            raise SwitchboardError(f"The server answered HTTP {response.status_code}.")
        return {"status": response.status_code, "body": text, "truncated": truncated}

    async def _headers(self, job: Job, params: dict[str, Any]) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, value in (params.get("headers") or {}).items():
            if isinstance(value, dict):
                assistant_id = str(params.get("assistantId"))
                secret = str(value["secret"])
                headers[name] = await self.secrets(job=job, assistant_id=assistant_id, name=secret)
            else:
                headers[name] = str(value)
        return headers

    async def _read(self, response: httpx2.Response) -> tuple[str, bool]:
        """The answer's text up to the result cap (read no further)."""
        cap = self.limits.result_max_chars * 4  # bytes enough for the characters kept
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= cap:
                break
        text = b"".join(chunks)[:cap].decode(errors="replace")
        truncated = size >= cap or len(text) > self.limits.result_max_chars
        return text[: self.limits.result_max_chars], truncated
