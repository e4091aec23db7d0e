"""Prometheus metrics: HTTP requests and latency, model calls, tokens and cost, refusals.

Each app has its own registry (tests build many apps). With several workers each process reports
its own figures; scrape each worker, or set PROMETHEUS_MULTIPROC_DIR as prometheus-client documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import Scope

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
    # Each label set's child, looked up once (`labels()` takes a lock and checks the labels).
    _latency: dict[tuple[str, str], Histogram] = field(default_factory=dict)
    _requests: dict[tuple[str, str, int], Counter] = field(default_factory=dict)

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

    def first_byte(self, scope: Scope, seconds: float) -> None:
        """Time a request to its response's first byte, by method and route template."""
        key = (scope["method"], route_of(scope))
        child = self._latency.get(key)
        if child is None:
            child = self._latency[key] = self.latency.labels(*key)
        child.observe(seconds)

    def answered(self, scope: Scope, status: int) -> None:
        """Count a request by method, route template and status (500: it raised unanswered)."""
        key = (scope["method"], route_of(scope), status)
        child = self._requests.get(key)
        if child is None:
            child = self._requests[key] = self.requests.labels(key[0], key[1], str(status))
        child.inc()

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


def route_of(scope: Scope) -> str:
    """The matched route's template (`/api/chats/{chat_id}`), or `unmatched`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
