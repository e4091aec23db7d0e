"""The toolkit registry in the database: toolkits, their discovered tools, approvals, connections.

Keyword-only service functions taking the session first; they flush, the caller commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from sqlalchemy import Select, or_, select
from sqlalchemy import delete as delete_rows
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, ids
from core.listing import Page, PageRequest, paginate
from core.models import User
from toolkits.builtins import BuiltinToolkit
from toolkits.calls import ToolDefinition, ToolSpec, function_name
from toolkits.crypto import Sealer
from toolkits.errors import (
    InvalidToolkit,
    StdioNeedsAdmin,
    ToolkitNotFound,
    ToolkitReadOnly,
    ToolNotFound,
)
from toolkits.models import Toolkit, ToolkitConnection, ToolkitGrant, ToolkitTool
from toolkits.schemas import HeaderValue, ToolkitCreate, ToolkitUpdate
from toolkits.ssrf import AddressPolicy

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,50}$")
_FORBIDDEN_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "mcp-session-id"}


def can_edit(toolkit: Toolkit, user: User) -> bool:
    """Whether a user may change a toolkit and approve its tools: its owner or an admin."""
    return toolkit.owner_id == user.id or user.is_admin


def visible(user: User) -> Select[Toolkit]:
    """The external toolkits a user may see: their own and shared ones (admins see all)."""
    if user.is_admin:
        return select(Toolkit)
    return select(Toolkit).where(or_(Toolkit.owner_id == user.id, Toolkit.shared.is_(True)))


async def list_page(session: AsyncSession, *, user: User, page: PageRequest) -> Page[Toolkit]:
    """The external toolkits a user may see: their own and shared ones (admins see all)."""
    return await paginate(
        session,
        visible(user),
        page,
        sortable={"createdAt": Toolkit.created_at, "name": Toolkit.name},
        searchable=(Toolkit.name, Toolkit.description),
        default_sort="name",
    )


async def all_visible(session: AsyncSession, *, user: User) -> Sequence[Toolkit]:
    """Every external toolkit a user may see."""
    return list(await session.scalars(visible(user).order_by(Toolkit.name)))


async def get_visible(session: AsyncSession, *, user: User, toolkit_id: str) -> Toolkit:
    """A toolkit the user may see.

    Raises:
        ToolkitNotFound: no such toolkit, or the user may not see it.
    """
    toolkit = await session.get(Toolkit, toolkit_id)
    if toolkit is None or not (toolkit.shared or can_edit(toolkit, user)):
        raise ToolkitNotFound(toolkit_id=toolkit_id)
    return toolkit


async def get_editable(session: AsyncSession, *, user: User, toolkit_id: str) -> Toolkit:
    """A toolkit the user may change.

    Raises:
        ToolkitNotFound: the user may not see it.
        ToolkitReadOnly: the user may see it but not change it.
    """
    toolkit = await get_visible(session, user=user, toolkit_id=toolkit_id)
    if not can_edit(toolkit, user):
        raise ToolkitReadOnly(toolkit_id=toolkit_id)
    return toolkit


async def create(
    session: AsyncSession,
    *,
    owner: User,
    data: ToolkitCreate,
    policy: AddressPolicy,
    sealer: Sealer,
) -> Toolkit:
    """Add an external toolkit; its URL is checked by the SSRF guard now and on every connect.

    Raises:
        InvalidToolkit: the kind's settings are missing or inconsistent.
        StdioNeedsAdmin: a command-line toolkit by someone who is not an admin.
        UnsafeUrl: the URL points at an address that is not allowed.
    """
    toolkit = Toolkit(id=ids.new_id(), owner_id=owner.id, kind=data.kind, headers={})
    toolkit.name, toolkit.description, toolkit.shared = data.name, data.description, data.shared
    await _apply_target(toolkit, owner, data.url, data.command, policy)
    toolkit.headers = seal_headers(toolkit.id, data.headers, sealer)
    session.add(toolkit)
    await session.flush()
    return toolkit


async def update(
    session: AsyncSession,
    *,
    toolkit: Toolkit,
    user: User,
    data: ToolkitUpdate,
    policy: AddressPolicy,
    sealer: Sealer,
) -> Toolkit:
    """Change a toolkit's name, description, target, headers or sharing.

    Raises:
        InvalidToolkit: the change does not fit the toolkit's kind.
        StdioNeedsAdmin: a command changed by someone who is not an admin.
        UnsafeUrl: the new URL points at an address that is not allowed.
    """
    if data.name is not None:
        toolkit.name = data.name
    if data.description is not None:
        toolkit.description = data.description
    if data.shared is not None:
        toolkit.shared = data.shared
    if data.url is not None or data.command is not None:
        url = data.url if data.url is not None else toolkit.url
        command = data.command if data.command is not None else toolkit.command
        await _apply_target(toolkit, user, url, command, policy)
    if data.headers is not None:
        toolkit.headers = seal_headers(toolkit.id, data.headers, sealer)
    await session.flush()
    return toolkit


async def _apply_target(
    toolkit: Toolkit,
    user: User,
    url: str | None,
    command: list[str] | None,
    policy: AddressPolicy,
) -> None:
    if toolkit.kind in {"mcp_http", "custom"}:
        if command or (toolkit.kind == "mcp_http" and not url):
            raise InvalidToolkit(
                "An mcp_http toolkit needs a url and a custom one may have one; "
                "neither takes a command."
            )
        if url:
            await policy.check_url(url)
        toolkit.url, toolkit.command = (url.strip() if url else None), None
        return
    if not user.is_admin:
        raise StdioNeedsAdmin()
    if not command or url or any(not part or "\x00" in part for part in command):
        raise InvalidToolkit("An mcp_stdio toolkit needs a command (a list of arguments), no url.")
    toolkit.command, toolkit.url = list(command), None


def seal_headers(
    toolkit_id: str, headers: dict[str, HeaderValue], sealer: Sealer
) -> dict[str, dict[str, str]]:
    stored: dict[str, dict[str, str]] = {}
    for name, header in headers.items():
        if not _HEADER_NAME.match(name) or name.lower() in _FORBIDDEN_HEADERS:
            raise InvalidToolkit(
                f"{name[:50]!r} cannot be used as a header name.", header=name[:50]
            )
        if header.secret is not None:
            stored[name] = {"secret": header.secret}
        else:
            value = header.value or ""
            if any(c in value for c in "\r\n\x00"):
                raise InvalidToolkit("Header values cannot contain line breaks.", header=name)
            stored[name] = {"sealed": sealer.seal(value, context=toolkit_id)}
    return stored


async def delete(session: AsyncSession, *, toolkit: Toolkit) -> None:
    """Remove a toolkit, its tools and connections."""
    await session.delete(toolkit)
    await session.flush()


async def tools_of(session: AsyncSession, *, toolkit_ids: Sequence[str]) -> Sequence[ToolkitTool]:
    """The tools currently offered by these toolkits, by name."""
    rows = await session.scalars(
        select(ToolkitTool)
        .where(ToolkitTool.toolkit_id.in_(toolkit_ids), ToolkitTool.present.is_(True))
        .order_by(ToolkitTool.toolkit_id, ToolkitTool.name)
    )
    return list(rows)


async def get_tool(session: AsyncSession, *, toolkit: Toolkit, name: str) -> ToolkitTool:
    """One tool of a toolkit.

    Raises:
        ToolNotFound: the toolkit offers no tool of that name.
    """
    tool = await session.scalar(
        select(ToolkitTool).where(ToolkitTool.toolkit_id == toolkit.id, ToolkitTool.name == name)
    )
    if tool is None or not tool.present:
        raise ToolNotFound(name=name[:200])
    return tool


async def record_tools(
    session: AsyncSession, *, toolkit: Toolkit, tools: Sequence[ToolDefinition], trust_new: bool
) -> None:
    """Store a fresh tool list. A changed definition keeps its old approval, so it stays disabled
    until approved again; tools seen for the first time are approved when an editor refreshes."""
    existing = {
        t.name: t
        for t in await session.scalars(
            select(ToolkitTool).where(ToolkitTool.toolkit_id == toolkit.id)
        )
    }
    seen = set()
    for definition in tools:
        seen.add(definition.name)
        await record_definition(
            session,
            toolkit=toolkit,
            definition=definition,
            row=existing.get(definition.name),
            trust_new=trust_new,
        )
    for name, row in existing.items():
        row.present = name in seen
    toolkit.refreshed_at = clock.now()
    await session.flush()


async def record_definition(
    session: AsyncSession,
    *,
    toolkit: Toolkit,
    definition: ToolDefinition,
    row: ToolkitTool | None,
    trust_new: bool,
) -> ToolkitTool:
    """Store one tool's current definition (see `record_tools`)."""
    digest = definition.definition_hash
    if row is None:
        row = ToolkitTool(
            toolkit_id=toolkit.id,
            name=definition.name,
            approved_hash=digest if trust_new else None,
            side_effects=not definition.read_only,
        )
        session.add(row)
    row.description = definition.description
    row.input_schema = definition.input_schema
    row.definition_hash = digest
    row.present = True
    await session.flush()
    return row


async def approve(
    session: AsyncSession, *, toolkit: Toolkit, name: str, side_effects: bool | None
) -> ToolkitTool:
    """Approve a tool's current definition, enabling it again.

    Raises:
        ToolNotFound: the toolkit offers no tool of that name.
    """
    tool = await get_tool(session, toolkit=toolkit, name=name)
    tool.approved_hash = tool.definition_hash
    if side_effects is not None:
        tool.side_effects = side_effects
    await session.flush()
    return tool


async def connection(
    session: AsyncSession, *, toolkit_id: str, user_id: str
) -> ToolkitConnection | None:
    """A user's last known connection state for a toolkit."""
    return await session.scalar(
        select(ToolkitConnection).where(
            ToolkitConnection.toolkit_id == toolkit_id, ToolkitConnection.user_id == user_id
        )
    )


async def connections(
    session: AsyncSession, *, toolkit_ids: Sequence[str], user_id: str
) -> dict[str, ToolkitConnection]:
    """A user's last known connection states for several toolkits, by toolkit id."""
    rows = await session.scalars(
        select(ToolkitConnection).where(
            ToolkitConnection.toolkit_id.in_(toolkit_ids), ToolkitConnection.user_id == user_id
        )
    )
    return {row.toolkit_id: row for row in rows}


async def set_connection(
    session: AsyncSession, *, toolkit_id: str, user_id: str, state: str, reason: str | None
) -> ToolkitConnection:
    """Record a user's connection state for a toolkit."""
    row = await connection(session, toolkit_id=toolkit_id, user_id=user_id)
    if row is None:
        row = ToolkitConnection(toolkit_id=toolkit_id, user_id=user_id)
        session.add(row)
    row.state, row.reason, row.checked_at = state, reason, clock.now()
    await session.flush()
    return row


async def forget_connection(session: AsyncSession, *, toolkit_id: str, user_id: str) -> None:
    """Drop a user's recorded connection state for a toolkit (it shows as unknown again)."""
    await session.execute(
        delete_rows(ToolkitConnection).where(
            ToolkitConnection.toolkit_id == toolkit_id, ToolkitConnection.user_id == user_id
        )
    )


async def forget_grant(session: AsyncSession, *, toolkit_id: str, user_id: str) -> bool:
    """Drop a user's OAuth grant (tokens and client registration) for a toolkit; whether one was
    stored."""
    grant = await session.scalar(
        select(ToolkitGrant).where(
            ToolkitGrant.toolkit_id == toolkit_id, ToolkitGrant.user_id == user_id
        )
    )
    if grant is None:
        return False
    await session.delete(grant)
    await session.flush()
    return True


async def specs(
    session: AsyncSession,
    *,
    user: User,
    builtins: Iterable[BuiltinToolkit],
    toolkit_ids: Sequence[str] | None,
    q: str | None,
) -> list[ToolSpec]:
    """The tools a user may see (of the given toolkits, or all), enabled or not, matching `q`."""
    found = [
        ToolSpec(
            toolkit_id=kit.id,
            toolkit_name=kit.name,
            name=tool.definition.name,
            function_name=function_name(kit.id, tool.definition.name),
            description=tool.definition.description,
            input_schema=tool.definition.input_schema,
            side_effects=False,
            enabled=True,
            kind="builtin",
        )
        for kit in builtins
        if toolkit_ids is None or kit.id in toolkit_ids
        for tool in kit.tools
    ]
    kits = {k.id: k for k in await all_visible(session, user=user)}
    wanted = [i for i in kits if toolkit_ids is None or i in toolkit_ids]
    for row in await tools_of(session, toolkit_ids=wanted):
        kit = kits[row.toolkit_id]
        found.append(
            ToolSpec(
                toolkit_id=kit.id,
                toolkit_name=kit.name,
                name=row.name,
                function_name=function_name(kit.id, row.name),
                description=row.description,
                input_schema=row.input_schema,
                side_effects=row.side_effects,
                enabled=row.approved_hash == row.definition_hash,
                kind="api-request" if row.config is not None else "mcp",
            )
        )
    if q:
        needle = q.lower()
        found = [s for s in found if needle in f"{s.name} {s.description} {s.toolkit_name}".lower()]
    return found
