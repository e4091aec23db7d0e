"""Custom toolkits' HTTP tools (Informer's `api-request` tools) and OpenAPI imports."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from api.deps import CurrentUser, ServicesDep, SessionDep
from api.hal import Collection, Resource, api_router, collection_of, resource, resource_of, whole
from api.routes.toolkits import (
    EditableToolkitDep,
    ToolName,
    VisibleToolkitDep,
    toolkit_body,
)
from toolkits import custom_tools, discovery, openapi_import
from toolkits.builtins import BuiltinToolkit
from toolkits.calls import function_name
from toolkits.errors import ToolNotFound
from toolkits.models import Toolkit, ToolkitTool
from toolkits.schemas import (
    CustomToolCreate,
    CustomToolRead,
    CustomToolsReplace,
    CustomToolUpdate,
    OpenApiImport,
    RequestConfigRead,
    ToolkitRead,
)

router = api_router(tags=["Toolkits"])


def custom_tool_body(toolkit: Toolkit, row: ToolkitTool) -> Resource[CustomToolRead]:
    """A toolkit's tool with its parameters and, for a custom tool, its request (no header
    values: a secret's name, or that a value is stored)."""
    config = custom_tools.config_of(row)
    enabled = row.approved_hash == row.definition_hash
    read = CustomToolRead(
        name=row.name,
        function_name=function_name(toolkit.id, row.name),
        toolkit_id=toolkit.id,
        toolkit_name=toolkit.name,
        description=row.description,
        input_schema=row.input_schema,
        parameters=row.input_schema,
        side_effects=row.side_effects,
        enabled=enabled,
        approval="approved" if enabled else "changed",
        type="api-request" if config is not None else "mcp",
        config=RequestConfigRead.model_validate(config) if config is not None else None,
        discovered_by=row.discovered_by,
    )
    href = f"/api/toolkits/{toolkit.id}"
    return resource(read, f"{href}/tools/{row.name}", toolkit=href)


def _builtin_tool_body(kit: BuiltinToolkit, name: str) -> Resource[CustomToolRead]:
    tool = next((t for t in kit.tools if t.definition.name == name), None)
    if tool is None:
        raise ToolNotFound(name=name)
    read = CustomToolRead(
        name=name,
        function_name=function_name(kit.id, name),
        toolkit_id=kit.id,
        toolkit_name=kit.name,
        description=tool.definition.description,
        input_schema=tool.definition.input_schema,
        parameters=tool.definition.input_schema,
        side_effects=False,
        enabled=True,
        approval="approved",
        type="builtin",
    )
    return resource(read, f"/api/toolkits/{kit.id}/tools/{name}", toolkit=f"/api/toolkits/{kit.id}")


@router.post(
    "/api/toolkits/_import-openapi", status_code=201, response_model=resource_of(ToolkitRead)
)
async def import_openapi_toolkit(
    body: OpenApiImport, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> Resource[ToolkitRead]:
    """Create a `custom` toolkit from an OpenAPI 3 document: one HTTP tool per operation
    (`operationId` names it; path and query parameters and a JSON request body, as `body`, make
    its parameters), under `servers[0].url` (or `baseUrl`). Give the `document` (an object, or
    JSON or YAML text) or a `url` to fetch it from through the address guard. `headers` are
    the toolkit's, sent with every tool (a value stored encrypted, or an assistant secret's
    name). Up to 2 MB and 200 operations; `$ref`s within the document are followed. 422
    `openapi_invalid` for a document that is not OpenAPI 3 or makes no tools, 413
    `openapi_too_large` past the bounds, 422 `unsafe_url` for a private address."""
    toolkits = services.toolkits
    document: dict[str, Any] | str | bytes | None = body.document
    if body.url is not None:  # fetched before the session takes SQLite's write lock
        document = await toolkits.http_tools.fetch(body.url, openapi_import.MAX_DOCUMENT_BYTES)
    assert document is not None  # OpenApiImport holds one of document and url
    toolkit = await custom_tools.create_from_openapi(
        session,
        owner=user,
        data=body,
        document=document,
        policy=toolkits.connector.policy,
        sealer=toolkits.sealer,
    )
    return toolkit_body(toolkit, user)


@router.post(
    "/api/toolkits/{toolkit_id}/tools", status_code=201, response_model=resource_of(CustomToolRead)
)
async def add_toolkit_tool(
    toolkit: EditableToolkitDep,
    body: CustomToolCreate,
    session: SessionDep,
    services: ServicesDep,
) -> Resource[CustomToolRead]:
    """Add an HTTP tool to a `custom` toolkit you may edit: `parameters` (a JSON Schema of an
    object, checked as one) and `config` {method, url, headers, query, body}, where `{name}`
    placeholders take the call's arguments (URL-encoded in the path; a JSON value in the
    body). The tool is enabled as written; `sideEffects` (default: not GET/HEAD) asks for the
    chat's approval before each call. 409 `toolkit_not_custom` for an MCP toolkit."""
    row = await custom_tools.add(
        session,
        toolkit=toolkit,
        data=body,
        policy=services.toolkits.connector.policy,
        sealer=services.toolkits.sealer,
    )
    return custom_tool_body(toolkit, row)


@router.put(
    "/api/toolkits/{toolkit_id}/tools",
    response_model=collection_of("tools", CustomToolRead, "CustomTools"),
)
async def replace_toolkit_tools(
    toolkit: EditableToolkitDep,
    body: CustomToolsReplace,
    session: SessionDep,
    services: ServicesDep,
) -> Collection[Resource[CustomToolRead]]:
    """Replace a `custom` toolkit's tools with `tools` (each as POST takes it), recorded as
    `discoveredBy` (`client` or `server`); all are checked before any is saved."""
    await custom_tools.replace(
        session,
        toolkit=toolkit,
        tools_=body.tools,
        discovered_by=body.discovered_by,
        policy=services.toolkits.connector.policy,
        sealer=services.toolkits.sealer,
    )
    rows = await custom_tools.tools(session, toolkit=toolkit)
    href = f"/api/toolkits/{toolkit.id}/tools"
    return whole("tools", href, (custom_tool_body(toolkit, row) for row in rows))


@router.get(
    "/api/toolkits/{toolkit_id}/tools/{tool_name}", response_model=resource_of(CustomToolRead)
)
async def get_toolkit_tool(
    toolkit: VisibleToolkitDep, tool_name: ToolName, services: ServicesDep
) -> Resource[CustomToolRead]:
    """One tool of a toolkit you may see, with its parameters and, for a custom tool, its
    request (header values never: a secret's name, or `encrypted` for a stored value)."""
    if isinstance(toolkit, BuiltinToolkit):
        return _builtin_tool_body(toolkit, tool_name)
    async with services.sessions() as session:
        row = await discovery.get_tool(session, toolkit=toolkit, name=tool_name)
    return custom_tool_body(toolkit, row)


@router.patch(
    "/api/toolkits/{toolkit_id}/tools/{tool_name}", response_model=resource_of(CustomToolRead)
)
async def update_toolkit_tool(
    toolkit: EditableToolkitDep,
    tool_name: ToolName,
    body: CustomToolUpdate,
    session: SessionDep,
    services: ServicesDep,
) -> Resource[CustomToolRead]:
    """Change a custom tool (`config`, when given, replaces its whole request)."""
    row = await custom_tools.update(
        session,
        toolkit=toolkit,
        name=tool_name,
        data=body,
        policy=services.toolkits.connector.policy,
        sealer=services.toolkits.sealer,
    )
    return custom_tool_body(toolkit, row)


@router.delete("/api/toolkits/{toolkit_id}/tools/{tool_name}", status_code=204)
async def delete_toolkit_tool(
    toolkit: EditableToolkitDep, tool_name: ToolName, session: SessionDep
) -> Response:
    """Remove a custom tool."""
    await custom_tools.remove(session, toolkit=toolkit, name=tool_name)
    return Response(status_code=204)
