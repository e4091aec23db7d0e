"""Toolkits (built-in and external MCP servers) and the tools they offer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Response

from api.deps import CurrentUser, PageDep, PrincipalDep, ServicesDep, SessionDep
from api.hal import (
    Collection,
    Resource,
    api_router,
    collection,
    collection_of,
    resource,
    resource_of,
    whole,
)
from api.responses import ConnectionOutcome, ToolsRefreshed
from assistant.assistants import tool_secrets
from assistant.assistants.sharing import Viewer
from core.models import User
from toolkits import discovery
from toolkits.builtins import BuiltinToolkit
from toolkits.calls import ToolSpec
from toolkits.errors import ToolkitReadOnly
from toolkits.models import Toolkit, ToolkitConnection
from toolkits.schemas import (
    ApproveRequest,
    ConnectionRead,
    ConnectRequest,
    HeaderRead,
    ToolkitCreate,
    ToolkitRead,
    ToolkitUpdate,
    ToolRead,
)

router = api_router(tags=["Toolkits"])
ToolkitId = Annotated[str, Path(max_length=100)]
ToolName = Annotated[str, Path(max_length=200)]
Tools = Collection[Resource[ToolRead]]  # a toolkit's tools, or every tool you may use


async def editable_toolkit(
    toolkit_id: ToolkitId, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> Toolkit:
    """The toolkit named by `toolkit_id`, if the caller may change it: 403 `toolkit_read_only`
    for a built-in one, 404 for one they may not change or see."""
    _refuse_builtin(toolkit_id, services)
    return await discovery.get_editable(session, user=user, toolkit_id=toolkit_id)


async def visible_toolkit(
    toolkit_id: ToolkitId, user: CurrentUser, services: ServicesDep
) -> Toolkit | BuiltinToolkit:
    """The toolkit named by `toolkit_id`, built-in or one the caller may see (else 404); read in
    a session of its own, which holds no lock while the route then writes through a service."""
    kit = services.toolkits.builtins.get(toolkit_id)
    if kit is not None:
        return kit
    async with services.sessions() as session:
        return await discovery.get_visible(session, user=user, toolkit_id=toolkit_id)


EditableToolkitDep = Annotated[Toolkit, Depends(editable_toolkit)]
VisibleToolkitDep = Annotated[Toolkit | BuiltinToolkit, Depends(visible_toolkit)]


def toolkit_body(
    toolkit: Toolkit,
    user: User,
    connection: ToolkitConnection | None = None,
    authorization_url: str | None = None,
) -> Resource[ToolkitRead]:
    """An external toolkit as a HAL resource (header values are never shown)."""
    state = ConnectionRead(state="unknown")
    if connection is not None:
        state = ConnectionRead.model_validate(connection)
        if state.state == "needs_sign_in":
            state.authorization_url = authorization_url
    read = ToolkitRead(
        id=toolkit.id,
        name=toolkit.name,
        description=toolkit.description,
        kind=toolkit.kind,
        url=toolkit.url,
        headers={
            name: HeaderRead(secret=stored.get("secret"), encrypted="sealed" in stored)
            for name, stored in (toolkit.headers or {}).items()
        },
        command=toolkit.command if user.is_admin else None,
        shared=toolkit.shared,
        owner_id=toolkit.owner_id,
        editable=discovery.can_edit(toolkit, user),
        refreshed_at=toolkit.refreshed_at,
        connection=state,
    )
    href = f"/api/toolkits/{toolkit.id}"
    links = {"tools": href + "/tools", "connect": href + "/_connect"}
    if toolkit.kind == "mcp_http":
        links["disconnect"] = href + "/_disconnect"
    return resource(read, href, **links)


async def _shown(
    toolkit: Toolkit | BuiltinToolkit, user: User, services: ServicesDep
) -> Resource[ToolkitRead]:
    """A toolkit with the caller's connection to it and, if they must sign in, where."""
    if isinstance(toolkit, BuiltinToolkit):
        return builtin_body(toolkit)
    connection = await services.toolkits.connection_of(user=user, toolkit_id=toolkit.id)
    url = None
    if connection is not None and connection.state == "needs_sign_in":
        url = await services.toolkits.sign_ins.pending_url(toolkit_id=toolkit.id, user_id=user.id)
    return toolkit_body(toolkit, user, connection, url)


def builtin_body(kit: BuiltinToolkit) -> Resource[ToolkitRead]:
    """A built-in toolkit as a HAL resource."""
    read = ToolkitRead(
        id=kit.id,
        name=kit.name,
        description=kit.description,
        kind="builtin",
        connection=ConnectionRead(state=kit.state, reason=kit.unavailable),
    )
    href = f"/api/toolkits/{kit.id}"
    return resource(read, href, tools=href + "/tools")


def tool_body(spec: ToolSpec) -> Resource[ToolRead]:
    """A tool as a HAL resource."""
    read = ToolRead(
        name=spec.name,
        function_name=spec.function_name,
        toolkit_id=spec.toolkit_id,
        toolkit_name=spec.toolkit_name,
        description=spec.description,
        input_schema=spec.input_schema,
        side_effects=spec.side_effects,
        enabled=spec.enabled,
        approval="approved" if spec.enabled else "changed",
        type=spec.kind,
    )
    return resource(read, f"/api/toolkits/{spec.toolkit_id}/tools/{spec.name}")


@router.get("/api/toolkits", response_model=collection_of("toolkits", ToolkitRead))
async def list_toolkits(
    user: CurrentUser, session: SessionDep, page: PageDep, services: ServicesDep
) -> Collection[Resource[ToolkitRead]]:
    """External toolkits you may use (your own and shared ones) with your connection to each;
    built-ins first (state `unavailable` with the reason when this server cannot offer one)."""
    result = await discovery.list_page(session, user=user, page=page)
    states = await discovery.connections(
        session, toolkit_ids=[t.id for t in result.items], user_id=user.id
    )
    body = collection(
        "toolkits",
        "/api/toolkits",
        result,
        lambda t: toolkit_body(t, user, states.get(t.id)),
        {"q": page.q},
    )
    if page.start == 0 and not page.q:
        builtins = [builtin_body(kit) for kit in services.toolkits.builtins.values()]
        body["_embedded"]["toolkits"] = builtins + body["_embedded"]["toolkits"]
        body["total"] += len(builtins)
    return body


@router.post("/api/toolkits", status_code=201, response_model=resource_of(ToolkitRead))
async def create_toolkit(
    body: ToolkitCreate, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> Resource[ToolkitRead]:
    """Add an MCP server as a toolkit: `mcp_http` with a URL (checked against private and local
    addresses) and headers (plain values are stored encrypted, or name an assistant secret), or,
    for admins only, `mcp_stdio` with a command. Then `_refresh` discovers its tools."""
    toolkit = await discovery.create(
        session,
        owner=user,
        data=body,
        policy=services.toolkits.connector.policy,
        sealer=services.toolkits.sealer,
    )
    return toolkit_body(toolkit, user)


@router.get("/api/toolkits/{toolkit_id}", response_model=resource_of(ToolkitRead))
async def get_toolkit(
    toolkit: VisibleToolkitDep, user: CurrentUser, services: ServicesDep
) -> Resource[ToolkitRead]:
    """One toolkit, with your connection to it: `connected`, `needs_sign_in` (with the
    `authorizationUrl` to open while a sign-in is waiting), `failed` with a `reason`, or
    `unknown` before the first connection."""
    return await _shown(toolkit, user, services)


@router.patch("/api/toolkits/{toolkit_id}", response_model=resource_of(ToolkitRead))
async def update_toolkit(
    toolkit: EditableToolkitDep,
    body: ToolkitUpdate,
    user: CurrentUser,
    session: SessionDep,
    services: ServicesDep,
) -> Resource[ToolkitRead]:
    """Change a toolkit you own (admins: any toolkit); built-in toolkits cannot be changed."""
    toolkit = await discovery.update(
        session,
        toolkit=toolkit,
        user=user,
        data=body,
        policy=services.toolkits.connector.policy,
        sealer=services.toolkits.sealer,
    )
    return toolkit_body(toolkit, user)


@router.delete("/api/toolkits/{toolkit_id}", status_code=204)
async def delete_toolkit(toolkit: EditableToolkitDep, session: SessionDep) -> Response:
    """Remove a toolkit you own (admins: any toolkit)."""
    await discovery.delete(session, toolkit=toolkit)
    return Response(status_code=204)


@router.get("/api/toolkits/{toolkit_id}/tools", response_model=collection_of("tools", ToolRead))
async def list_toolkit_tools(
    toolkit: VisibleToolkitDep, user: CurrentUser, services: ServicesDep
) -> Tools:
    """The toolkit's discovered tools with their JSON schemas; `enabled` is false for a tool
    whose definition changed since it was approved."""
    return await _tools_of(toolkit.id, user, services)


async def _tools_of(toolkit_id: str, user: User, services: ServicesDep) -> Tools:
    specs = await services.toolkits.tools_for(user=user, toolkit_ids=[toolkit_id])
    return whole("tools", f"/api/toolkits/{toolkit_id}/tools", map(tool_body, specs))


async def _bound_assistant(
    principal: PrincipalDep, services: ServicesDep, toolkit_id: str, body: ConnectRequest | None
) -> str | None:
    """The assistant whose secrets fill the toolkit's headers: one the caller may edit that
    carries the toolkit (its secrets never go to a toolkit a mere user of it picks).

    A short session of its own: the request's session would hold SQLite's write lock while the
    connection is made and recorded.
    """
    if body is None or body.assistant_id is None:
        return None
    viewer = Viewer(principal.user.id, principal.team_ids)
    async with services.sessions() as session:
        await tool_secrets.require_carrier(
            session, viewer=viewer, assistant_id=body.assistant_id, toolkit_id=toolkit_id
        )
    return body.assistant_id


@router.post(
    "/api/toolkits/{toolkit_id}/_refresh",
    response_model=ToolsRefreshed,
    response_model_exclude_unset=True,
)
async def refresh_toolkit(
    toolkit_id: ToolkitId,
    principal: PrincipalDep,
    services: ServicesDep,
    body: ConnectRequest | None = None,
) -> Tools:
    """Connect to the server and store its tool list. Your connection state (connected,
    needs_sign_in with the URL to sign in at, failed with a reason) is recorded and returned.
    Headers that take assistant secrets need `assistantId`: an assistant you may edit that
    carries this toolkit (else 404 `assistant_not_found`, 403 `assistant_read_only`, or 422
    `toolkit_not_on_assistant`); without it, or when it lacks the secret, the answer is 422
    `toolkit_secret_missing` naming it."""
    if toolkit_id in services.toolkits.builtins:
        return await _tools_of(toolkit_id, principal.user, services)
    assistant_id = await _bound_assistant(principal, services, toolkit_id, body)
    with tool_secrets.bound_to(assistant_id):
        outcome = await services.toolkits.refresh(user=principal.user, toolkit_id=toolkit_id)
    listed = await _tools_of(toolkit_id, principal.user, services)
    listed["connection"] = ConnectionOutcome(
        state=outcome.state, reason=outcome.reason, authorization_url=outcome.authorization_url
    )
    return listed


@router.post(
    "/api/toolkits/{toolkit_id}/_test",
    response_model=ConnectionOutcome,
    response_model_exclude_unset=True,
)
async def test_toolkit(
    toolkit_id: ToolkitId,
    principal: PrincipalDep,
    services: ServicesDep,
    body: ConnectRequest | None = None,
) -> ConnectionOutcome:
    """Try to connect and list tools, without storing them; returns your connection state.
    `assistantId` works as for `_refresh`."""
    if (kit := services.toolkits.builtins.get(toolkit_id)) is not None:
        return ConnectionOutcome(state=kit.state, reason=kit.unavailable, tool_count=len(kit.tools))
    assistant_id = await _bound_assistant(principal, services, toolkit_id, body)
    with tool_secrets.bound_to(assistant_id):
        outcome = await services.toolkits.test(user=principal.user, toolkit_id=toolkit_id)
    return ConnectionOutcome.model_validate(outcome, from_attributes=True)


@router.post(
    "/api/toolkits/{toolkit_id}/_connect",
    response_model=ConnectionOutcome,
    response_model_exclude_unset=True,
)
async def connect_toolkit(
    toolkit_id: ToolkitId,
    principal: PrincipalDep,
    services: ServicesDep,
    body: ConnectRequest | None = None,
) -> ConnectionOutcome:
    """Connect to the toolkit's server as you. A server that asks for OAuth 2.1 gets a sign-in:
    the answer is `needs_sign_in` with the `authorizationUrl` to open; after you approve there,
    the server sends you back to `/api/toolkits/oauth/callback`, which completes it. Otherwise the
    answer is `connected` or `failed` with a reason. `assistantId` works as for `_refresh`."""
    if (kit := services.toolkits.builtins.get(toolkit_id)) is not None:
        return ConnectionOutcome(state=kit.state, reason=kit.unavailable, authorization_url=None)
    assistant_id = await _bound_assistant(principal, services, toolkit_id, body)
    with tool_secrets.bound_to(assistant_id):
        outcome = await services.toolkits.sign_in(user=principal.user, toolkit_id=toolkit_id)
    return ConnectionOutcome(
        state=outcome.state, reason=outcome.reason, authorization_url=outcome.authorization_url
    )


@router.get("/api/toolkits/oauth/callback", response_model=resource_of(ToolkitRead))
async def complete_sign_in(
    user: CurrentUser,
    services: ServicesDep,
    state: Annotated[str, Query(min_length=1, max_length=500)],
    code: Annotated[str | None, Query(max_length=4000)] = None,
    error: Annotated[str | None, Query(max_length=500)] = None,
) -> Resource[ToolkitRead]:
    """Where a toolkit's authorization server sends you back after a sign-in. The `state` must
    be one of your own open sign-ins: it works once and expires. Answers the toolkit with your
    connection to it once the sign-in is complete."""
    toolkit_id = await services.toolkits.complete_sign_in(
        user=user, state=state, code=code, error=error
    )
    return await _shown(await visible_toolkit(toolkit_id, user, services), user, services)


@router.post("/api/toolkits/{toolkit_id}/_disconnect", response_model=resource_of(ToolkitRead))
async def disconnect_toolkit(
    toolkit: VisibleToolkitDep, user: CurrentUser, services: ServicesDep
) -> Resource[ToolkitRead]:
    """Sign out of the toolkit's server: your tokens and client registration are deleted and
    any sign-in waiting is cancelled."""
    _refuse_builtin(toolkit.id, services)
    await services.toolkits.sign_out(user=user, toolkit_id=toolkit.id)
    return await _shown(toolkit, user, services)


@router.post(
    "/api/toolkits/{toolkit_id}/tools/{tool_name}/_approve", response_model=resource_of(ToolRead)
)
async def approve_tool(
    toolkit: EditableToolkitDep,
    tool_name: ToolName,
    user: CurrentUser,
    session: SessionDep,
    services: ServicesDep,
    body: ApproveRequest | None = None,
) -> Resource[ToolRead]:
    """Approve a tool's current definition (owner or admin), enabling it again after a change."""
    side_effects = body.side_effects if body else None
    tool = await discovery.approve(
        session, toolkit=toolkit, name=tool_name, side_effects=side_effects
    )
    await session.commit()
    specs = await services.toolkits.tools_for(user=user, toolkit_ids=[toolkit.id])
    spec = next(s for s in specs if s.name == tool.name)
    return tool_body(spec)


@router.get("/api/tools", response_model=collection_of("tools", ToolRead))
async def list_tools(
    user: CurrentUser,
    services: ServicesDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Tools:
    """Every tool you may use, built-in and from your toolkits; `q` searches names and
    descriptions."""
    specs = await services.toolkits.tools_for(user=user, q=q)
    return whole("tools", "/api/tools", map(tool_body, specs))


def _refuse_builtin(toolkit_id: str, services: ServicesDep) -> None:
    if toolkit_id in services.toolkits.builtins:
        raise ToolkitReadOnly(toolkit_id=toolkit_id)
