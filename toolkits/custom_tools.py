"""A custom toolkit's HTTP tools in the database: add, change, remove, replace them all.

Keyword-only service functions taking the session first; they flush, the caller commits. Only a
toolkit's editors (its owner and admins) reach them, so a tool they write is approved as written:
its definition hash is approved on every save. Header values are sealed as a toolkit's are, or
name an assistant secret, resolved only at call time (toolkits/targets.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from sqlalchemy import delete as delete_rows
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.models import User
from toolkits import discovery, openapi_import, request_templates
from toolkits.calls import ToolDefinition
from toolkits.crypto import Sealer
from toolkits.errors import InvalidTool, OpenApiInvalid, ToolkitNotCustom
from toolkits.models import Toolkit, ToolkitTool
from toolkits.schemas import (
    CustomToolCreate,
    CustomToolUpdate,
    OpenApiImport,
    RequestConfig,
    ToolkitCreate,
)
from toolkits.ssrf import AddressPolicy

MAX_TOOLS = 200
MAX_SCHEMA_CHARS = 100_000
MAX_BODY_CHARS = 100_000
READ_ONLY_METHODS = {"GET", "HEAD"}


def require_custom(toolkit: Toolkit) -> None:
    """Check that tools may be written by hand in this toolkit.

    Raises:
        ToolkitNotCustom: it is an MCP toolkit.
    """
    if toolkit.kind != "custom":
        raise ToolkitNotCustom(toolkit_id=toolkit.id, kind=toolkit.kind)


def _json(value: Any, tool: str) -> str:
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError as exc:
        raise InvalidTool("Numbers in a tool must be finite.", tool=tool) from exc


def check_parameters(schema: dict[str, Any], *, tool: str) -> set[str]:
    """Check a tool's parameters: a JSON Schema (2020-12) of an object; returns its property names.

    Raises:
        InvalidTool: not a valid schema, not an object's, or too large.
    """
    if len(_json(schema, tool)) > MAX_SCHEMA_CHARS:
        raise InvalidTool(f"The parameters are over {MAX_SCHEMA_CHARS} characters.", tool=tool)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        raise InvalidTool(
            f"The parameters are not a valid JSON Schema at {where}: {exc.message[:300]}",
            tool=tool,
        ) from exc
    if schema.get("type", "object") != "object":
        raise InvalidTool("The parameters must be the schema of an object.", tool=tool)
    properties = schema.get("properties") or {}
    return set(properties) if isinstance(properties, dict) else set()


async def _stored(
    *,
    toolkit: Toolkit,
    tool: str,
    parameters: dict[str, Any],
    config: RequestConfig,
    policy: AddressPolicy,
    sealer: Sealer,
) -> dict[str, Any]:
    """The config as stored (headers sealed), after its checks and the address guard's."""
    properties = check_parameters(parameters, tool=tool)
    raw = config.model_dump(exclude={"headers"})
    if len(_json(raw["body"], tool)) > MAX_BODY_CHARS:
        raise InvalidTool(f"The body template is over {MAX_BODY_CHARS} characters.", tool=tool)
    url = request_templates.check(raw, base_url=toolkit.url, properties=properties)
    if not raw["url"].startswith("/"):  # a path goes under the toolkit's url, checked on its save
        await policy.check_url(url)
    raw["headers"] = discovery.seal_headers(toolkit.id, config.headers, sealer)
    return raw


def _approve(row: ToolkitTool) -> None:
    definition = ToolDefinition(
        name=row.name, description=row.description, input_schema=row.input_schema
    )
    row.definition_hash = row.approved_hash = definition.definition_hash


async def tools(session: AsyncSession, *, toolkit: Toolkit) -> Sequence[ToolkitTool]:
    """A toolkit's tools, by name."""
    return list(
        await session.scalars(
            select(ToolkitTool)
            .where(ToolkitTool.toolkit_id == toolkit.id, ToolkitTool.present.is_(True))
            .order_by(ToolkitTool.name)
        )
    )


async def add(
    session: AsyncSession,
    *,
    toolkit: Toolkit,
    data: CustomToolCreate,
    policy: AddressPolicy,
    sealer: Sealer,
    discovered_by: str | None = None,
) -> ToolkitTool:
    """Add a tool to a custom toolkit, approved as written.

    Raises:
        ToolkitNotCustom: an MCP toolkit.
        InvalidTool: the parameters or request are not valid, or the name is taken.
        UnsafeUrl: the request's URL points at an address that is not allowed.
    """
    require_custom(toolkit)
    taken = {t.name for t in await tools(session, toolkit=toolkit)}
    if data.name in taken:
        raise InvalidTool(f"The toolkit already has a tool named {data.name!r}.", tool=data.name)
    if len(taken) >= MAX_TOOLS:
        raise InvalidTool(f"A toolkit holds at most {MAX_TOOLS} tools.")
    config = await _stored(
        toolkit=toolkit,
        tool=data.name,
        parameters=data.parameters,
        config=data.config,
        policy=policy,
        sealer=sealer,
    )
    await session.execute(  # a tool of that name the server once offered, now gone
        delete_rows(ToolkitTool).where(
            ToolkitTool.toolkit_id == toolkit.id, ToolkitTool.name == data.name
        )
    )
    side_effects = data.side_effects
    if side_effects is None:
        side_effects = data.config.method not in READ_ONLY_METHODS
    row = ToolkitTool(
        toolkit_id=toolkit.id,
        name=data.name,
        description=data.description,
        input_schema=data.parameters,
        config=config,
        side_effects=side_effects,
        present=True,
        discovered_by=discovered_by,
    )
    _approve(row)
    session.add(row)
    toolkit.updated_at = clock.now()
    await session.flush()
    return row


async def update(
    session: AsyncSession,
    *,
    toolkit: Toolkit,
    name: str,
    data: CustomToolUpdate,
    policy: AddressPolicy,
    sealer: Sealer,
) -> ToolkitTool:
    """Change a custom tool; its request is checked again whenever it or the parameters change.

    Raises:
        ToolkitNotCustom: an MCP toolkit.
        ToolNotFound: no tool of that name.
        InvalidTool: the new definition is not valid, or the new name is taken.
        UnsafeUrl: the request's URL points at an address that is not allowed.
    """
    require_custom(toolkit)
    row = await discovery.get_tool(session, toolkit=toolkit, name=name)
    if data.name is not None and data.name != row.name:
        taken = {t.name for t in await tools(session, toolkit=toolkit)}
        if data.name in taken:
            raise InvalidTool(f"The toolkit already has a tool named {data.name!r}.")
        row.name = data.name
    if data.description is not None:
        row.description = data.description
    if data.side_effects is not None:
        row.side_effects = data.side_effects
    if data.parameters is not None or data.config is not None:
        parameters = data.parameters if data.parameters is not None else row.input_schema
        if data.config is not None:
            config = await _stored(
                toolkit=toolkit,
                tool=row.name,
                parameters=parameters,
                config=data.config,
                policy=policy,
                sealer=sealer,
            )
        else:
            config = dict(row.config or {"url": "/", "method": "GET"})
            properties = check_parameters(parameters, tool=row.name)
            request_templates.check(config, base_url=toolkit.url, properties=properties)
        row.input_schema, row.config = parameters, config
    _approve(row)
    await session.flush()
    return row


async def remove(session: AsyncSession, *, toolkit: Toolkit, name: str) -> None:
    """Remove a custom tool.

    Raises:
        ToolkitNotCustom: an MCP toolkit.
        ToolNotFound: no tool of that name.
    """
    require_custom(toolkit)
    row = await discovery.get_tool(session, toolkit=toolkit, name=name)
    await session.delete(row)
    await session.flush()


async def replace(
    session: AsyncSession,
    *,
    toolkit: Toolkit,
    tools_: Sequence[CustomToolCreate],
    discovered_by: str,
    policy: AddressPolicy,
    sealer: Sealer,
) -> None:
    """Replace a custom toolkit's tools with these (all checked first: none or all are saved).

    Raises:
        ToolkitNotCustom: an MCP toolkit.
        InvalidTool: a definition is not valid, or two share a name.
        UnsafeUrl: a request's URL points at an address that is not allowed.
    """
    require_custom(toolkit)
    names = [t.name for t in tools_]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise InvalidTool(f"Two tools are named {doubled[0]!r}.", tools=doubled[:20])
    await session.execute(delete_rows(ToolkitTool).where(ToolkitTool.toolkit_id == toolkit.id))
    await session.flush()
    for data in tools_:
        await add(
            session,
            toolkit=toolkit,
            data=data,
            policy=policy,
            sealer=sealer,
            discovered_by=discovered_by,
        )


def config_of(row: ToolkitTool) -> dict[str, Any] | None:
    """A tool's request as shown: header values never, only a secret's name or that one is
    stored."""
    if row.config is None:
        return None
    shown = dict(row.config)
    shown["headers"] = {
        name: {"secret": stored.get("secret"), "encrypted": "sealed" in stored}
        for name, stored in (row.config.get("headers") or {}).items()
    }
    return shown


async def create_from_openapi(
    session: AsyncSession,
    *,
    owner: User,
    data: OpenApiImport,
    document: dict[str, Any] | str | bytes,
    policy: AddressPolicy,
    sealer: Sealer,
) -> Toolkit:
    """A custom toolkit with one tool per operation of an OpenAPI 3 document (parsed and
    converted in a thread: both are bounded, see toolkits/openapi_import.py).

    Raises:
        OpenApiInvalid: not a document that makes tools, or no server URL and no `baseUrl`.
        OpenApiTooLarge: over the size, operation or expansion bounds.
        InvalidTool: an operation's parameters are not a valid JSON Schema.
        UnsafeUrl: the server URL points at an address that is not allowed.
    """

    def read() -> openapi_import.ImportedToolkit:
        try:
            if isinstance(document, dict):
                parsed = openapi_import.plain_json(document)
            else:
                parsed = openapi_import.parse(document)
            return openapi_import.convert(parsed, source_url=data.url, base_url=data.base_url)
        except RecursionError as exc:
            raise OpenApiInvalid("The document is nested too deeply.") from exc

    imported = await asyncio.to_thread(read)
    if imported.base_url is None:
        raise OpenApiInvalid("The document names no absolute server URL: give `baseUrl`.")
    try:
        create = ToolkitCreate(
            name=data.name or imported.name,
            description=data.description if data.description is not None else imported.description,
            kind="custom",
            url=imported.base_url,
            headers=data.headers,
            shared=data.shared,
        )
    except ValueError as exc:
        raise OpenApiInvalid(f"The document's toolkit is not valid: {str(exc)[:300]}") from exc
    toolkit = await discovery.create(
        session, owner=owner, data=create, policy=policy, sealer=sealer
    )
    for tool in imported.tools:
        await add(
            session,
            toolkit=toolkit,
            data=tool,
            policy=policy,
            sealer=sealer,
            discovered_by="server",
        )
    return toolkit
