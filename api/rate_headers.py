"""OpenAI's rate-limit headers on every metered `/v1` response, from what admission left."""

from __future__ import annotations

from datetime import timedelta

from billing.ratelimits import Headroom, RateState
from core import clock


def rate_headers(headroom: Headroom) -> dict[str, str]:
    """`X-RateLimit-{Limit,Remaining,Reset}-{Requests,Tokens}` for each limited axis.

    Reset is OpenAI's duration (`"17s"`): until the caller's one-minute window is empty again.
    Remaining tokens count the call's worst case (prompt + max tokens), as admission reserves
    it; an axis without a limit sends no headers.
    """
    headers: dict[str, str] = {}
    _add(headers, "Requests", headroom.requests)
    _add(headers, "Tokens", headroom.tokens)
    return headers


def _add(headers: dict[str, str], axis: str, state: RateState | None) -> None:
    if state is None:
        return
    headers[f"X-RateLimit-Limit-{axis}"] = str(state.limit)
    headers[f"X-RateLimit-Remaining-{axis}"] = str(state.remaining)
    headers[f"X-RateLimit-Reset-{axis}"] = f"{state.reset_seconds}s"


def anthropic_rate_headers(headroom: Headroom) -> dict[str, str]:
    """Anthropic's `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}` for each
    limited axis (`/v1/messages`); reset is an RFC 3339 time, as Anthropic sends it."""
    headers: dict[str, str] = {}
    for axis, state in (("requests", headroom.requests), ("tokens", headroom.tokens)):
        if state is None:
            continue
        reset = clock.now() + timedelta(seconds=state.reset_seconds)
        headers[f"anthropic-ratelimit-{axis}-limit"] = str(state.limit)
        headers[f"anthropic-ratelimit-{axis}-remaining"] = str(state.remaining)
        headers[f"anthropic-ratelimit-{axis}-reset"] = reset.isoformat(timespec="seconds")
    return headers
