"""Prometheus metrics: HTTP requests and latency, model calls, tokens and cost, refusals.

Each app has its own registry (tests build many apps). With several workers each process reports
its own figures; scrape each worker, or set PROMETHEUS_MULTIPROC_DIR as prometheus-client documents.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.gateway import router as gateway
from assistant.gateway.metering import Settled

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
REFUSALS = {
    "budget_exceeded",
    "seat_required",
    "rate_limited",
    "model_not_allowed",
    "price_unknown",
}
# Failed logins and password checks, by outcome (core.logins logs each one).
LOGIN_FAILURES = {"invalid_credentials", "login_throttled", "wrong_current_password"}


@dataclass
class Metrics:
    """The app's collectors, in a registry of their own."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "switchboard_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "switchboard_http_request_seconds",
            "Time to the response's first byte",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_calls = Counter(
            "switchboard_model_calls",
            "Model calls by outcome",
            ["model", "outcome", "source"],
            registry=r,
        )
        self.tokens = Counter(
            "switchboard_model_tokens", "Tokens used", ["model", "kind"], registry=r
        )
        self.cost = Counter(
            "switchboard_model_cost_micros", "Cost in micro-dollars", ["model"], registry=r
        )
        self.refusals = Counter(
            "switchboard_refusals", "Requests refused by billing", ["code"], registry=r
        )
        self.provider_errors = Counter(
            "switchboard_provider_errors", "Provider failures seen by callers", ["code"], registry=r
        )
        self.login_failures = Counter(
            "switchboard_login_failures",
            "Logins and password checks refused: wrong password or throttled",
            ["code"],
            registry=r,
        )
        self.gateway = Gauge(
            "switchboard_model_gateway_state",
            "The model gateway: 0 cold, 1 warming up (or loading LiteLLM), 2 warm",
            registry=r,
        )
        self.gateway.set_function(lambda: float(gateway.state()))
        self.litellm = Gauge(
            "switchboard_litellm_loaded",
            "1 once LiteLLM is imported (only when a model call needs it), else 0",
            registry=r,
        )
        self.litellm.set_function(lambda: float(gateway.litellm_loaded()))

    def settled(self, record: Settled) -> None:
        """Count a settled model call (Metering calls this for every call)."""
        self.model_calls.labels(record.model, record.outcome, record.source).inc()
        self.tokens.labels(record.model, "prompt").inc(record.prompt_tokens)
        self.tokens.labels(record.model, "completion").inc(record.completion_tokens)
        self.cost.labels(record.model).inc(record.cost_micros)

    def error(self, code: str) -> None:
        """Count an error answered to a caller, by kind."""
        if code in REFUSALS:
            self.refusals.labels(code).inc()
        elif code in LOGIN_FAILURES:
            self.login_failures.labels(code).inc()
        elif code.startswith("provider_"):
            self.provider_errors.labels(code).inc()

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts requests and times them to the first byte, by route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                route = _route(scope)
                self.metrics.latency.labels(scope["method"], route).observe(
                    time.perf_counter() - started
                )
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.metrics.requests.labels(scope["method"], _route(scope), str(status)).inc()


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
