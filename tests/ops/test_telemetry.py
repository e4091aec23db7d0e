"""OpenTelemetry tracing: off by default; when on, a chat turn yields a request span and a model
call span in the same trace, plus a `model usage` span with the call's tokens."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, Harnesses, parse_sse

pytestmark = pytest.mark.anyio


async def test_tracing_is_off_unless_configured(harness: AppHarness) -> None:
    assert harness.app.state.tracing is None
    names = [getattr(m.cls, "__name__", "") for m in harness.app.user_middleware]
    assert not any("OpenTelemetry" in name for name in names)


async def test_a_chat_turn_produces_a_request_span_and_a_model_call_span(
    upstream: FakeUpstream, make_harness: Harnesses
) -> None:
    upstream.behave("fake", text="Traced answer.", chunks=3)
    exporter = InMemorySpanExporter()
    async with make_harness.running(otel="console") as app:
        provider = app.app.state.tracing
        assert provider is not None
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        chat_id = await app.chat(app.admin)
        answered = await app.client.post(
            f"/api/chats/{chat_id}/messages",
            json={"content": "hi", "stream": True},
            headers=app.admin.headers,
        )
        assert parse_sse(answered.text)[-1][1] == "done"
        assert (await app.client.get("/api/health")).status_code == 200  # not traced
    spans = exporter.get_finished_spans()
    requests = [
        s
        for s in spans
        if s.kind == SpanKind.SERVER and s.name == "POST /api/chats/{chat_id}/messages"
    ]
    assert len(requests) == 1
    request = requests[0]
    assert request.attributes is not None and request.attributes["http.status_code"] == 200
    trace_id = request.context.trace_id
    calls = [s for s in spans if s.name == "model call fake"]
    assert len(calls) == 1 and calls[0].kind == SpanKind.CLIENT
    assert calls[0].context.trace_id == trace_id  # the model call belongs to the request
    usage = [s for s in spans if s.name == "model usage fake"]
    assert len(usage) == 1 and usage[0].context.trace_id == trace_id
    attributes = usage[0].attributes or {}
    output_tokens = attributes["gen_ai.usage.output_tokens"]
    assert isinstance(output_tokens, int) and output_tokens > 0
    assert attributes["switchboard.outcome"] == "completed"
    assert not any("/api/health" in s.name for s in spans)
