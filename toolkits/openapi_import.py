"""OpenAPI 3 documents as custom toolkits: one HTTP tool per operation.

An operation's `operationId` names its tool (else its method and path), its summary and
description describe it, its path and query parameters and its JSON request body (as the
argument `body`) make the tool's parameters, and `servers[0].url` is the toolkit's url, under
which each tool's URL is the operation's path: OpenAPI's `{name}` path templates are the tools'
placeholders as they are. `$ref`s are resolved within the document (cycles end in an open
schema). Header and cookie parameters are left out (the toolkit's headers carry credentials).
Bounds: the document's size, the operations imported and the nodes expanded from `$ref`s.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml

from toolkits.errors import OpenApiInvalid, OpenApiTooLarge
from toolkits.request_templates import PLACEHOLDER
from toolkits.schemas import CustomToolCreate, RequestConfig

MAX_DOCUMENT_BYTES = 2_000_000
MAX_OPERATIONS = 200
MAX_NODES = 100_000
METHODS = ("get", "put", "post", "delete", "patch", "head")
_NAME_CHARS = re.compile(r"[^A-Za-z0-9-]+")


@dataclass(frozen=True, kw_only=True)
class ImportedToolkit:
    """What a document makes: the toolkit's name, description, base url and tools."""

    name: str
    description: str
    base_url: str | None
    tools: list[CustomToolCreate] = field(default_factory=list)


def parse(text: str | bytes) -> dict[str, Any]:
    """A document from JSON or YAML text.

    Raises:
        OpenApiTooLarge: over MAX_DOCUMENT_BYTES.
        OpenApiInvalid: neither JSON nor YAML of an object.
    """
    if len(text) > MAX_DOCUMENT_BYTES:
        raise OpenApiTooLarge(f"The document is over {MAX_DOCUMENT_BYTES} bytes.")
    try:
        document = json.loads(text)
    except RecursionError as exc:
        raise OpenApiInvalid("The document is nested too deeply.") from exc
    except ValueError:
        try:
            document = yaml.load(text, Loader=yaml.CSafeLoader)
        except yaml.YAMLError as exc:
            raise OpenApiInvalid("The document is neither JSON nor YAML.") from exc
    if not isinstance(document, dict):
        raise OpenApiInvalid("The document is not an object.")
    return plain_json(document)


def _count(node: Any, budget: list[int]) -> None:
    """Visit every node, shared ones (YAML aliases) each time, within the node budget."""
    budget[0] -= 1
    if budget[0] < 0:
        raise OpenApiTooLarge(f"The document expands to over {MAX_NODES} nodes.")
    if isinstance(node, dict):
        for value in node.values():
            _count(value, budget)
    elif isinstance(node, list):
        for item in node:
            _count(item, budget)


def plain_json(document: dict[str, Any]) -> dict[str, Any]:
    """The document as plain JSON: YAML's dates and other values as text, keys as strings.

    Raises:
        OpenApiTooLarge: over MAX_NODES nodes, YAML aliases expanded.
        OpenApiInvalid: it holds a number that is not finite (NaN, Infinity), or is too deep.
    """
    _count(document, [MAX_NODES])
    try:
        plain = json.loads(json.dumps(document, default=str, allow_nan=False))
    except ValueError as exc:
        raise OpenApiInvalid("The document holds a number that is not finite.") from exc
    except TypeError as exc:  # keys YAML allows and JSON does not
        raise OpenApiInvalid("The document's keys must be text.") from exc
    except RecursionError as exc:
        raise OpenApiInvalid("The document is nested too deeply.") from exc
    assert isinstance(plain, dict)
    return plain


class _Resolver:
    """Inlines local `$ref`s, counting nodes so that references cannot blow up in size."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.nodes = 0

    def target(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise OpenApiInvalid(f"Only references within the document are followed: {ref[:200]}")
        node: Any = self.document
        for raw in ref[2:].split("/"):
            key = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            elif isinstance(node, dict) and key in node:
                node = node[key]
            else:
                raise OpenApiInvalid(f"The reference {ref[:200]} points at nothing.")
        return node

    def inline(self, node: Any, chain: tuple[str, ...] = ()) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise OpenApiTooLarge(f"The document expands to over {MAX_NODES} nodes.")
        if isinstance(node, list):
            return [self.inline(item, chain) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in chain or len(chain) > 30:
                return {}  # a recursive schema: any value from here down
            return self.inline(self.target(ref), (*chain, ref))
        found = {key: self.inline(value, chain) for key, value in node.items()}
        for bound in ("exclusiveMinimum", "exclusiveMaximum"):  # OpenAPI 3.0's booleans
            if isinstance(found.get(bound), bool):
                del found[bound]
        return found


def _base_url(document: dict[str, Any], source_url: str | None, base_url: str | None) -> str | None:
    if base_url:
        return base_url
    servers = document.get("servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
        return source_url and _origin(source_url)
    server = servers[0]
    url = str(server.get("url") or "")
    for name, variable in _dict(server.get("variables")).items():
        if isinstance(variable, dict):
            url = url.replace("{" + str(name) + "}", str(variable.get("default", "")))
    try:
        if not urlsplit(url).scheme:
            if source_url is None:
                return None
            url = urljoin(source_url, url)
    except ValueError as exc:
        raise OpenApiInvalid("The document's server URL cannot be read.") from exc
    return url.rstrip("/") or None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _tool_name(operation: dict[str, Any], method: str, path: str, taken: set[str]) -> str:
    raw = str(operation.get("operationId") or f"{method}_{path}")
    name = _NAME_CHARS.sub("_", raw).strip("_")[:60] or method
    unique, number = name, 2
    while unique in taken:
        unique, number = f"{name[:56]}_{number}", number + 1
    taken.add(unique)
    return unique


def _dict(node: Any) -> dict[str, Any]:
    return node if isinstance(node, dict) else {}


def _list(node: Any) -> list[Any]:
    return node if isinstance(node, list) else []


def _arguments(
    params: dict[tuple[str, str], dict[str, Any]],
) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """Path and query parameters as properties, the required ones, and the query templates."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    query: dict[str, str] = {}
    for (where, pname), param in params.items():
        if where not in {"path", "query"}:
            continue
        schema = dict(_dict(param.get("schema")) or {"type": "string"})
        if param.get("description"):
            schema["description"] = str(param["description"])[:1000]
        properties[pname] = schema
        if where == "path" or param.get("required") is True:
            required.append(pname)
        if where == "query":
            query[pname] = "{" + pname + "}"
    return properties, required, query


def _tool(
    resolver: _Resolver, path: str, method: str, item: dict[str, Any], name: str
) -> CustomToolCreate:
    operation = _dict(item[method])  # only what makes the tool is inlined, not the responses
    shared = _list(resolver.inline(item.get("parameters")))
    params: dict[tuple[str, str], dict[str, Any]] = {}
    for param in [*shared, *_list(resolver.inline(operation.get("parameters")))]:
        if isinstance(param, dict) and isinstance(param.get("name"), str):
            params[(str(param.get("in")), param["name"])] = param
    properties, required, query = _arguments(params)
    for undeclared in PLACEHOLDER.findall(path):  # a path template without its parameter
        if undeclared not in properties:
            properties[undeclared] = {"type": "string"}
            required.append(undeclared)
    body = None
    request_body = _dict(resolver.inline(operation.get("requestBody")))
    content = _dict(request_body.get("content"))
    json_type = next(
        (t for t in content if isinstance(t, str) and t.split(";")[0].strip().endswith("json")),
        None,
    )
    if json_type is not None and method not in {"get", "head"}:
        properties["body"] = _dict(_dict(content[json_type]).get("schema"))
        if request_body.get("required") is True:
            required.append("body")
        body = "{body}"
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = sorted(set(required))
    summary = str(operation.get("summary") or "")
    details = str(operation.get("description") or "")
    description = "\n\n".join(p for p in (summary, details) if p)[:4000]
    try:
        config = RequestConfig.model_validate(
            {"method": method.upper(), "url": path, "query": query, "body": body}
        )
        return CustomToolCreate(
            name=name, description=description, parameters=parameters, config=config
        )
    except ValueError as exc:
        raise OpenApiInvalid(
            f"The operation {method.upper()} {path[:200]} cannot be a tool: {str(exc)[:300]}"
        ) from exc


def convert(
    document: dict[str, Any], *, source_url: str | None = None, base_url: str | None = None
) -> ImportedToolkit:
    """The toolkit an OpenAPI 3 document describes.

    Raises:
        OpenApiInvalid: not OpenAPI 3, no operations, or an operation that cannot be a tool.
        OpenApiTooLarge: over MAX_OPERATIONS operations, or `$ref`s expanding past MAX_NODES.
    """
    version = str(document.get("openapi") or "")
    if not version.startswith("3."):
        raise OpenApiInvalid("Only OpenAPI 3 documents are imported (an `openapi: 3.x` field).")
    paths = document.get("paths")
    if not isinstance(paths, dict):
        raise OpenApiInvalid("The document has no `paths` object.")
    resolver = _Resolver(document)
    operations = [
        (str(path), method, item)
        for path, item in paths.items()
        if isinstance(item, dict)
        for method in METHODS
        if isinstance(item.get(method), dict)
    ]
    if not operations:
        raise OpenApiInvalid("The document describes no operations.")
    if len(operations) > MAX_OPERATIONS:
        raise OpenApiTooLarge(
            f"The document has {len(operations)} operations; "
            f"at most {MAX_OPERATIONS} are imported.",
            operations=len(operations),
        )
    taken: set[str] = set()
    tools = []
    for path, method, item in operations:
        if not path.startswith("/"):
            raise OpenApiInvalid(f"The path {path[:200]!r} does not start with '/'.")
        name = _tool_name(item[method], method, path, taken)
        tools.append(_tool(resolver, path, method, item, name))
    info = _dict(document.get("info"))
    return ImportedToolkit(
        name=str(info.get("title") or "OpenAPI tools")[:200],
        description=str(info.get("description") or "")[:2000],
        base_url=_base_url(document, source_url, base_url),
        tools=tools,
    )
