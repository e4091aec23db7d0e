"""schemathesis against the app's own OpenAPI schema on a live server: no 5xx, JSON errors, and
every JSON answer (success or error) matches the response model its operation declares.

Cases come from schemathesis' strategies and run under Hypothesis directly (its pytest plugin
does not load under pytest 9).
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


@pytest.fixture(scope="module")
def fuzz_server(
    fake_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    fake_upstream_server.behave("fake", chunks=2)
    folder = tmp_path_factory.mktemp("fuzz")
    # The hash embedder: the routes are under test here, not the model (its ONNX export alone
    # can take half a minute on a loaded machine; tests/knowledge cover the real model).
    catalog = make_catalog(fake_upstream_server.base_url)
    with live_server(catalog, folder, embedding_backend="hash") as url:
        headers = live_admin_headers(url)
        schema = httpx.get(url + "/openapi.json", headers=headers, timeout=30).json()
        yield {"url": url, "headers": headers, "schema": schema}


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


def test_no_input_gives_a_5xx_every_4xx_is_a_json_error_and_every_body_matches_its_schema(
    fuzz_server: dict[str, Any],
) -> None:
    schema = schemathesis.openapi.from_dict(fuzz_server["schema"])
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 30
    calls = 0
    for operation in operations:
        if operation.path == "/api/auth/logout":
            continue

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
                response = case.call(
                    base_url=fuzz_server["url"], headers=fuzz_server["headers"], timeout=30
                )
            except requests.Timeout as exc:
                raise AssertionError(f"{label} gave no answer in 30 s") from exc
            _check(response, label)
            case.validate_response(response, checks=[response_schema_conformance])

        run()
    assert calls >= len(operations) * 3
