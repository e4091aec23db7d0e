"""Server-sent events: an answer's events as an SSE response that proxies do not buffer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent

from assistant.runs import StreamEvent

HEADERS = {"X-Accel-Buffering": "no", "Cache-Control": "no-cache"}


def event_stream(events: AsyncIterator[StreamEvent], *, ping_seconds: float) -> EventSourceResponse:
    """An SSE response carrying each event with its id, name and JSON data."""

    async def render() -> AsyncIterator[ServerSentEvent]:
        async for event in events:
            yield ServerSentEvent(
                data=json.dumps(event.data, separators=(",", ":")), event=event.event, id=event.id
            )

    return EventSourceResponse(render(), ping=max(1, int(ping_seconds)), headers=HEADERS)
