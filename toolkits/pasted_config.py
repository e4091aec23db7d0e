"""MCP server configs as people paste them, read into toolkit drafts: Claude Desktop / Cursor /
VS Code `mcpServers` JSON (one or many servers, or one server's bare object), a command line
(`FOO=bar npx -y @scope/server /tmp`), or a URL. Nothing is created or run."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from toolkits.errors import ConfigNotUnderstood
from toolkits.schemas import DraftSecret, ToolkitCreate, ToolkitDraft

MAX_CHARS = 64_000
MAX_SERVERS = 50
# Names of environment variables and headers whose values are likely credentials.
_SECRET_NAME = re.compile(
    r"key|token|secret|passw|credential|auth|bearer|cookie|session|private", re.IGNORECASE
)
_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SSE_TYPES = {"sse"}
_HTTP_TYPES = {"http", "streamable-http", "streamablehttp", "streamable_http", "remote"}
_URL_KEYS = ("url", "serverUrl", "httpUrl")


def parse(config: Mapping[str, Any] | str, *, admin: bool) -> list[ToolkitDraft]:
    """The toolkit drafts a pasted config describes, in the order given.

    Raises:
        ConfigNotUnderstood: the config is none of the shapes above; the message says which part.
    """
    if isinstance(config, str):
        text = config.strip()
        if len(text) > MAX_CHARS:
            raise ConfigNotUnderstood(f"The config is longer than {MAX_CHARS} characters.")
        if not text:
            raise ConfigNotUnderstood("The config is empty.")
        if text.startswith("{"):
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError as error:
                raise ConfigNotUnderstood(
                    f"The config looks like JSON but is not valid JSON: {error.msg} at line "
                    f"{error.lineno}, column {error.colno}."
                ) from None
            return parse(loaded, admin=admin)
        return [_checked(_from_line(text, name=None), admin=admin)]
    servers = _servers_of(config)
    return [_checked(_from_entry(name, entry), admin=admin) for name, entry in servers.items()]


def _servers_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The servers of a config object by name: `mcpServers` / `servers`, a map of server
    objects, or one bare server object."""
    for wrapper in ("mcpServers", "servers", "mcp_servers"):
        if wrapper in config:
            inner = config[wrapper]
            if not isinstance(inner, dict) or not inner:
                raise ConfigNotUnderstood(f"`{wrapper}` must be an object of servers by name.")
            servers: dict[str, Any] = inner
            break
    else:
        if _is_server(config):
            servers = {"": dict(config)}
        elif config and all(isinstance(v, dict) and _is_server(v) for v in config.values()):
            servers = dict(config)
        else:
            keys = ", ".join(f"`{k}`" for k in list(config)[:5]) or "nothing"
            raise ConfigNotUnderstood(
                f"Found {keys}; expected `mcpServers`, a server's `command`, or its `url`."
            )
    if len(servers) > MAX_SERVERS:
        raise ConfigNotUnderstood(f"At most {MAX_SERVERS} servers can be read at once.")
    return servers


def _is_server(value: Mapping[str, Any]) -> bool:
    return "command" in value or any(key in value for key in _URL_KEYS)


def _from_entry(name: str, entry: Any) -> ToolkitDraft:
    label = f"server `{name}`" if name else "the server"
    if not isinstance(entry, dict):
        raise ConfigNotUnderstood(f"The value of {label} must be an object.")
    url = next((entry[k] for k in _URL_KEYS if k in entry), None)
    if url is not None:
        if not isinstance(url, str):
            raise ConfigNotUnderstood(f"The `url` of {label} must be a string.")
        transport = str(entry.get("type") or entry.get("transport") or "").lower()
        return _remote(
            url, _string_map(entry.get("headers"), f"`headers` of {label}"), transport, name
        )
    command = entry.get("command")
    if not isinstance(command, str) or not command.strip():
        raise ConfigNotUnderstood(f"The `command` of {label} must be a non-empty string.")
    args = entry.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str | int | float) for a in args):
        raise ConfigNotUnderstood(f"The `args` of {label} must be a list of strings.")
    words = _split(command, label) if not args else [command]
    env = _string_map(entry.get("env"), f"`env` of {label}")
    return _stdio(words + [str(a) for a in args], env, name)


def _from_line(text: str, *, name: str | None) -> ToolkitDraft:
    words = _split(text, "the command line")
    if len(words) == 1 and "://" in words[0]:
        return _remote(words[0], {}, "", name or "")
    env: dict[str, str] = {}
    while words and _ENV_ASSIGNMENT.match(words[0]):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    if words and words[0] == "env":  # `env FOO=bar cmd`, as a shell would run it
        return _from_line(shlex.join(words[1:]), name=name) if len(words) > 1 else _nothing()
    if not words:
        return _nothing()
    if words[0].lower().startswith(("http:", "https:", "ftp:", "ws:", "wss:")):
        raise ConfigNotUnderstood("A URL must be the whole config, without other words.")
    return _stdio(words, env, name or "")


def _nothing() -> ToolkitDraft:
    raise ConfigNotUnderstood("The command line names no command to run.")


def _split(text: str, label: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as error:
        raise ConfigNotUnderstood(f"Could not split {label} into words: {error}.") from None


def _string_map(value: Any, label: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(v, str | int | float | bool) for v in value.values()
    ):
        raise ConfigNotUnderstood(f"The {label} must be an object of strings.")
    return {str(k): str(v) for k, v in value.items()}


def _remote(url: str, headers: dict[str, str], transport: str, name: str) -> ToolkitDraft:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigNotUnderstood(f"`{url[:200]}` is not an http(s) URL with a host.")
    sse = transport in _SSE_TYPES or (not transport and parts.path.rstrip("/").endswith("/sse"))
    if transport and transport not in _SSE_TYPES | _HTTP_TYPES:
        raise ConfigNotUnderstood(f"Transport `{transport[:50]}` is not `sse` or `http`.")
    notes = []
    if sse:
        notes.append(
            "This server uses the older SSE transport; Switchboard connects with Streamable "
            "HTTP, which most SSE servers also serve at their /mcp path."
        )
    config = _create(
        name=name or parts.hostname,
        kind="mcp_http",
        url=url,
        headers={k: {"value": v} for k, v in headers.items()},
    )
    secrets = [DraftSecret(where="header", name=k) for k in headers if _SECRET_NAME.search(k)]
    return ToolkitDraft(
        type="mcp-remote",
        config=config,
        transport="sse" if sse else "streamable-http",
        secrets=secrets,
        notes=notes,
    )


def _stdio(words: list[str], env: dict[str, str], name: str) -> ToolkitDraft:
    bridged = _mcp_remote_bridge(words, name)
    if bridged is not None:
        return bridged
    # The command runs without the server's environment; `env` sets the pasted variables.
    command = ["env", *(f"{k}={v}" for k, v in env.items()), *words] if env else words
    config = _create(name=name or _name_of(words), kind="mcp_stdio", command=command)
    secrets = [DraftSecret(where="env", name=k) for k in env if _SECRET_NAME.search(k)]
    return ToolkitDraft(type="mcp-stdio", config=config, env=env, secrets=secrets)


def _mcp_remote_bridge(words: list[str], name: str) -> ToolkitDraft | None:
    """`npx mcp-remote <url> [--header 'Name: value']`, a local bridge to a remote server, read
    as that remote server."""
    if "mcp-remote" not in words:
        return None
    rest = words[words.index("mcp-remote") + 1 :]
    if not rest or not rest[0].startswith(("http://", "https://")):
        return None
    headers: dict[str, str] = {}
    for flag, value in pairwise(rest[1:]):
        if flag == "--header" and ":" in value:
            key, _, text = value.partition(":")
            headers[key.strip()] = text.strip()
    transport = "sse" if "sse-only" in " ".join(rest) else ""
    return _remote(rest[0], headers, transport, name)


def _name_of(words: list[str]) -> str:
    """A name for a command's toolkit: its package (`@scope/server-x` → `server-x`) or program."""
    for word in words[1:]:
        if not word.startswith("-") and ("/" in word or "server" in word or "mcp" in word):
            return word.rstrip("/").rsplit("/", 1)[-1].split("@", 1)[0] or word
    return words[0].rsplit("/", 1)[-1]


def _create(**fields: Any) -> ToolkitCreate:
    """The draft's body for POST /api/toolkits, checked as that route checks it."""
    fields["name"] = str(fields["name"])[:200]
    try:
        return ToolkitCreate.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigNotUnderstood(
            f"The toolkit's `{where}` is not valid: {first['msg']}."
        ) from None


def _checked(draft: ToolkitDraft, *, admin: bool) -> ToolkitDraft:
    """The draft, saying that creating it needs an admin when it runs a command."""
    if draft.type == "mcp-stdio" and not admin:
        draft.needs_admin = True
        draft.notes.append("Only admins can add toolkits that run a command on the server.")
    return draft
