"""schemathesis against the app's own OpenAPI schema on a live server: no 5xx, JSON errors, and
every JSON answer (success or error) matches the response model its operation declares.

Cases come from schemathesis' strategies and run under Hypothesis directly (its pytest plugin
does not load under pytest 9). The operations are dealt into SLICES tests, so that xdist hands
them to both workers: one test of them all took 50-200 s, and the other worker sat idle at the
end of the pass while it ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.fakes.upstream import FakeUpstream
from tests.support import live_admin_headers, live_server, make_catalog

EXAMPLES_PER_OPERATION = 15
# Each slice takes every SLICES-th operation in (path, method) order: every operation is in
# exactly one slice, and each gets a share of every route (3-5 s each on an idle machine).
SLICES = 16
# Logging out would end the session the other operations call with.
SKIPPED = {"/api/auth/logout"}


@pytest.fixture(scope="session")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The live server and its operations, once per xdist worker: session scope, as a
    module-scoped fixture keeps all of a module's tests on one worker (tests/conftest.py). It
    has a fake upstream of its own: it runs until the worker ends, and calls it makes then (a job
    the fuzz scheduled) must not reach the recordings other tests read."""
    upstream = FakeUpstream().start()
    upstream.behave("fake", chunks=2)
    folder = tmp_path_factory.mktemp("fuzz")
    # The hash embedder: the routes are under test here, not the model (its ONNX export alone
    # can take half a minute on a loaded machine; tests/knowledge cover the real model).
    try:
        with live_server(make_catalog(upstream.base_url), folder, embedding_backend="hash") as url:
            headers = live_admin_headers(url)
            raw = httpx.get(url + "/openapi.json", headers=headers, timeout=30).json()
            # The first route that needs LiteLLM imports it (~6 s of CPU): here, not in a slice.
            httpx.get(url + "/api/provider-types", headers=headers, timeout=60).raise_for_status()
            schema = schemathesis.openapi.from_dict(raw)
            operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
            operations.sort(key=lambda operation: (operation.path, operation.method))
            yield {"url": url, "headers": headers, "operations": operations}
    finally:
        upstream.stop()


def _check(response: Any, label: str) -> None:
    assert response.status_code < 500, (label, response.status_code, response.text[:300])
    if 400 <= response.status_code < 500:
        body = response.json()
        path = label.split(" ", 1)[-1]
        if path.startswith("/v1/messages"):  # Anthropic's error shape
            assert body.get("type") == "error", (label, body)
            assert isinstance(body["error"].get("type"), str), (label, body)
        elif path.startswith("/v1/"):  # OpenAI's error shape
            error = body.get("error")
            assert isinstance(error, dict) and isinstance(error.get("code"), str), (label, body)
            assert isinstance(error.get("message"), str) and isinstance(error.get("type"), str)
        else:
            assert isinstance(body.get("code"), str), (label, body)
            assert isinstance(body.get("message"), str) and isinstance(body.get("details"), dict)


def _fuzz(operation: Any, server: dict[str, Any]) -> int:
    """Run EXAMPLES_PER_OPERATION positive and negative cases of one operation; returns how many
    ran."""
    calls = 0
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def run(case: Any) -> None:
        nonlocal calls
        calls += 1
        label = f"{case.method} {case.path}"
        try:
            response = case.call(base_url=server["url"], headers=server["headers"], timeout=30)
        except requests.Timeout as exc:
            raise AssertionError(f"{label} gave no answer in 30 s") from exc
        _check(response, label)
        case.validate_response(response, checks=[response_schema_conformance])

    run()
    return calls


@pytest.mark.parametrize("part", range(SLICES), ids=lambda part: f"slice{part}")
def test_no_input_gives_a_5xx_every_4xx_is_a_json_error_and_every_body_matches_its_schema(
    fuzz_server: dict[str, Any], part: int
) -> None:
    operations = fuzz_server["operations"]
    assert len(operations) >= 30
    mine = [op for op in operations[part::SLICES] if op.path not in SKIPPED]
    calls = sum(_fuzz(operation, fuzz_server) for operation in mine)
    assert calls >= len(mine) * 3
