"""OpenTelemetry tracing, as an option: off (and not even imported) unless configured.

`SWITCHBOARD_OTEL_ENDPOINT` sends spans over OTLP/HTTP (a collector's `.../v1/traces`), and
`SWITCHBOARD_OTEL=console` prints them. Needs the `otel` extra (`pip install 'switchboard[otel]'`).
Spans: one server span per request (FastAPI), a `model call <model>` client span per call to a
model (from the call until its stream ends, with `gen_ai.*` attributes and a `first chunk` event),
a `model usage <model>` span per settled call with its tokens, cost and outcome, and a client span
per other outgoing httpx call (toolkits, webhooks).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from assistant.gateway.chunks import Chunk
from assistant.gateway.metering import Settled
from assistant.gateway.router import Gateway
from core.catalog import CatalogModel
from core.errors import InvalidSettings
from core.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

NOT_TRACED = "/api/health,/api/ready,/metrics"


def enabled(settings: Settings) -> bool:
    """Whether tracing is configured."""
    return bool(settings.otel_endpoint) or settings.otel == "console"


def configure(app: FastAPI, settings: Settings) -> TracerProvider | None:
    """Trace the app's requests and outgoing calls when configured; None (no cost) otherwise.

    Raises:
        InvalidSettings: tracing is configured but the `otel` extra is not installed.
    """
    if not enabled(settings):
        return None
    try:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        raise InvalidSettings(
            "SWITCHBOARD_OTEL_ENDPOINT / SWITCHBOARD_OTEL need the otel extra: "
            "pip install 'switchboard[otel]'."
        ) from None
    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service}))
    if settings.otel_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(settings.otel_endpoint)))
    if settings.otel == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls=NOT_TRACED, exclude_spans=["receive", "send"]
    )
    httpx_instrumentor = HTTPXClientInstrumentor()
    if not httpx_instrumentor.is_instrumented_by_opentelemetry:
        httpx_instrumentor.instrument(tracer_provider=provider)
    return provider


def trace_model_calls(gateway: Gateway, provider: TracerProvider) -> None:
    """Wrap the gateway so each model call is a client span, from the call until its stream
    ends (whichever path, LiteLLM's or the fast relay, carries it)."""
    from opentelemetry.trace import SpanKind, Status, StatusCode

    tracer = provider.get_tracer("switchboard")
    open_stream, complete = gateway.stream, gateway.complete

    def start(model: CatalogModel, streamed: bool) -> Any:
        attributes: dict[str, str | bool] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model.name,
            "gen_ai.system": ",".join(model.providers),
            "switchboard.streamed": streamed,
        }
        return tracer.start_span(
            f"model call {model.name}", kind=SpanKind.CLIENT, attributes=attributes
        )

    def failed(span: Any, exc: BaseException) -> None:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
        span.end()

    async def stream(*, model: CatalogModel, **kwargs: Any) -> AsyncIterator[Chunk]:
        span = start(model, streamed=True)
        try:
            chunks = await open_stream(model=model, **kwargs)
        except BaseException as exc:
            failed(span, exc)
            raise
        return _until_the_end(chunks, span)

    async def complete_traced(*, model: CatalogModel, **kwargs: Any) -> Any:
        span = start(model, streamed=False)
        try:
            result = await complete(model=model, **kwargs)
        except BaseException as exc:
            failed(span, exc)
            raise
        span.end()
        return result

    gateway.stream = stream  # type: ignore[method-assign]
    gateway.complete = complete_traced  # type: ignore[method-assign]


async def _until_the_end(chunks: AsyncIterator[Chunk], span: Any) -> AsyncIterator[Chunk]:
    count = 0
    try:
        async for chunk in chunks:
            if not count:
                span.add_event("first chunk")
            count += 1
            yield chunk
    finally:
        span.set_attribute("switchboard.chunks", count)
        span.end()
        closing = getattr(chunks, "aclose", None)
        if closing is not None:
            await closing()


def usage_observer(provider: TracerProvider) -> Any:
    """A metering observer recording each settled model call as a `model usage` span."""
    tracer = provider.get_tracer("switchboard")

    def observe(record: Settled) -> None:
        now = time.time_ns()
        span = tracer.start_span(f"model usage {record.model}", start_time=now)
        span.set_attributes(
            {
                "gen_ai.request.model": record.model,
                "gen_ai.usage.input_tokens": record.prompt_tokens,
                "gen_ai.usage.output_tokens": record.completion_tokens,
                "switchboard.source": record.source,
                "switchboard.outcome": record.outcome,
                "switchboard.cost_micros": record.cost_micros,
            }
        )
        span.end(end_time=now)

    return observe


def shutdown(app: FastAPI, provider: TracerProvider | None) -> None:
    """Flush spans and take the instrumentation off (a later app in this process starts clean)."""
    if provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    provider.shutdown()
    FastAPIInstrumentor.uninstrument_app(app)
    HTTPXClientInstrumentor().uninstrument()
