"""Custom HTTP tools' requests: a URL, query and JSON body filled from a call's arguments.

A placeholder is `{name}`, naming an argument (a property of the tool's parameters). Nothing is
evaluated: a placeholder is looked up in the arguments, never run.

- In the URL's path (never its scheme, host or port) each placeholder becomes the argument's
  text percent-encoded as one path segment (`/`, `?` and `#` too, and `.`/`..` whole), so an
  argument cannot change the shape of the path or where the request goes.
- A query value that is exactly `{name}` takes the argument as it is: a list repeats the
  parameter, an absent or null argument leaves it out. Other values put the arguments' text in
  place of their placeholders (left out when one of them is absent).
- In the JSON body, a string that is exactly `{name}` becomes the argument's JSON value (absent:
  its key is left out of the object); other strings put the arguments' text in place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, quote, urlsplit

from toolkits.errors import InvalidTool, ToolArgumentsInvalid

PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.\-]{1,100})\}")
_ABSENT = object()
NO_BODY_METHODS = {"GET", "HEAD"}


@dataclass(frozen=True, kw_only=True)
class FilledRequest:
    """A request ready to send: the query as pairs, the body as JSON bytes (or none)."""

    method: str
    url: str
    query: list[tuple[str, str]]
    body: bytes | None


def full_url(template: str, base_url: str | None) -> str:
    """The tool's URL template made absolute: a path (`/...`) goes under the toolkit's url.

    Raises:
        InvalidTool: a path without a toolkit url to put it under.
    """
    if not template.startswith("/"):
        return template
    if not base_url:
        raise InvalidTool(
            "A tool url that is a path needs the toolkit's url as its base.", url=template[:200]
        )
    return base_url.rstrip("/") + template


def check(config: Mapping[str, Any], *, base_url: str | None, properties: set[str]) -> str:
    """Check a request config when a tool is saved; returns its absolute URL with every
    placeholder filled by `x` (for the address guard to check).

    Raises:
        InvalidTool: placeholders outside the URL's path, naming no parameter, or a body on a
            GET or HEAD request.
    """
    url = full_url(str(config["url"]), base_url)
    parts = _split(url)
    if PLACEHOLDER.search(f"{parts.scheme}{parts.netloc}{parts.query}{parts.fragment}"):
        raise InvalidTool(
            "Placeholders go in the url's path; put query values in config.query.", url=url[:200]
        )
    if config.get("body") is not None and config.get("method", "GET") in NO_BODY_METHODS:
        raise InvalidTool("A GET or HEAD request has no body.")
    named = set(PLACEHOLDER.findall(parts.path))
    for value in (config.get("query") or {}).values():
        named.update(PLACEHOLDER.findall(value))
    named.update(
        name for text in _strings(config.get("body")) for name in PLACEHOLDER.findall(text)
    )
    unknown = sorted(named - properties)
    if unknown:
        raise InvalidTool(
            f"The placeholder {{{unknown[0]}}} names no property of the tool's parameters.",
            placeholders=unknown[:20],
        )
    return PLACEHOLDER.sub("x", url)


def _split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a bad port raises only when read
    except ValueError as exc:
        raise InvalidTool("The tool's url cannot be read.", url=url[:200]) from exc
    return parts


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, dict):
        for item in node.values():
            yield from _strings(item)


def fill(
    config: Mapping[str, Any], *, base_url: str | None, arguments: Mapping[str, Any]
) -> FilledRequest:
    """The request for one call.

    Raises:
        ToolArgumentsInvalid: an argument the URL's path needs is missing.
        InvalidTool: a path URL whose toolkit has no url (any more).
    """
    url = full_url(str(config["url"]), base_url)
    parts = _split(url)
    path = PLACEHOLDER.sub(lambda m: _segment(m.group(1), arguments), parts.path)
    filled = parts._replace(path=path).geturl()
    query: list[tuple[str, str]] = []
    for key, template in (config.get("query") or {}).items():
        query.extend((key, value) for value in _query_values(template, arguments))
    body_template = config.get("body")
    body = None
    if body_template is not None:
        value = _fill_json(body_template, arguments)
        body = json.dumps(None if value is _ABSENT else value).encode()
    return FilledRequest(
        method=str(config.get("method", "GET")), url=filled, query=query, body=body
    )


def text_of(value: Any) -> str:
    """An argument as text: strings as they are, anything else as JSON (`true`, `3`, `[1]`)."""
    return value if isinstance(value, str) else json.dumps(value)


def _segment(name: str, arguments: Mapping[str, Any]) -> str:
    value = arguments.get(name)
    if value is None:
        raise ToolArgumentsInvalid(
            f"The argument {name!r} is needed for the request's URL.", argument=name
        )
    text = text_of(value)
    if text in {".", ".."}:
        return text.replace(".", "%2E")
    return quote(text, safe="")


def _query_values(template: str, arguments: Mapping[str, Any]) -> list[str]:
    whole = PLACEHOLDER.fullmatch(template)
    if whole is not None:
        value = arguments.get(whole.group(1))
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        return [text_of(item) for item in items if item is not None]
    names = PLACEHOLDER.findall(template)
    if any(arguments.get(name) is None for name in names):
        return []
    return [PLACEHOLDER.sub(lambda m: text_of(arguments[m.group(1)]), template)]


def _fill_json(node: Any, arguments: Mapping[str, Any]) -> Any:
    if isinstance(node, str):
        whole = PLACEHOLDER.fullmatch(node)
        if whole is not None:
            return arguments.get(whole.group(1), _ABSENT)
        return PLACEHOLDER.sub(lambda m: text_of(arguments.get(m.group(1), "")), node)
    if isinstance(node, list):
        items = (_fill_json(item, arguments) for item in node)
        return [None if item is _ABSENT else item for item in items]
    if isinstance(node, dict):
        filled = {key: _fill_json(value, arguments) for key, value in node.items()}
        return {key: value for key, value in filled.items() if value is not _ABSENT}
    return node
