"""OpenAPI documents as tools: hostile documents are refused within bounds, YAML reads as JSON."""

from __future__ import annotations

import time
from typing import Any

import pytest

from toolkits import openapi_import
from toolkits.errors import OpenApiInvalid, OpenApiTooLarge

ALIAS_BOMB = "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


def _refs_bomb() -> dict[str, Any]:
    schemas: dict[str, Any] = {"s0": {"type": "string"}}
    for i in range(1, 40):
        below = {"$ref": f"#/components/schemas/s{i - 1}"}
        schemas[f"s{i}"] = {"type": "object", "properties": {"a": below, "b": below}}
    body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/s39"}}}}
    return {
        "openapi": "3.0.0",
        "components": {"schemas": schemas},
        "paths": {"/a": {"post": {"requestBody": body}}},
    }


@pytest.mark.parametrize(
    ("read", "error"),
    [
        (lambda: openapi_import.parse(ALIAS_BOMB), OpenApiTooLarge),
        (lambda: openapi_import.convert(_refs_bomb()), OpenApiTooLarge),
        (lambda: openapi_import.parse("[" * 5000 + "]" * 5000), OpenApiInvalid),
        (lambda: openapi_import.parse('{"openapi": NaN}'), OpenApiInvalid),
        (
            lambda: openapi_import.convert(
                {"openapi": "3.0.0", "paths": {"/a": {"get": {"parameters": [{"$ref": "#/x"}]}}}}
            ),
            OpenApiInvalid,
        ),
    ],
)
def test_hostile_documents_are_refused_quickly(read: Any, error: type[Exception]) -> None:
    started = time.perf_counter()
    with pytest.raises(error):
        read()
    assert time.perf_counter() - started < 5  # bounded: ~0.5 s on a quiet machine


def test_yaml_values_become_json_and_an_undeclared_path_parameter_is_still_an_argument() -> None:
    document = openapi_import.parse(
        "openapi: 3.1.0\n"
        "servers: [{url: 'https://{region}.api.test/v2', variables: {region: {default: eu}}}]\n"
        "paths:\n"
        "  /orders/{orderId}:\n"
        "    get:\n"
        "      parameters:\n"
        "        - {name: since, in: query, schema: {type: string, example: 2024-01-31}}\n"
    )
    imported = openapi_import.convert(document)
    [tool] = imported.tools
    assert imported.base_url == "https://eu.api.test/v2"
    assert tool.name == "get_orders_orderId"
    assert tool.parameters["properties"]["since"]["example"] == "2024-01-31"
    assert tool.parameters["required"] == ["orderId"]
    assert tool.config.query == {"since": "{since}"}
