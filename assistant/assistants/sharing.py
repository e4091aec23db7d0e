"""Who may use or edit an assistant: its owner, its team, or everyone, as it is shared.

Loaders here "load or raise": an assistant the caller may not use is `AssistantNotFound` (404, as
if it did not exist); one they may use but not edit is `AssistantReadOnly` (403) when they try to.
A draft is seen only by those who may edit the assistant it drafts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.errors import AssistantNotFound, AssistantReadOnly, InvalidSharing
from assistant.models import Assistant

Access = Literal["edit", "use"]


@dataclass(frozen=True)
class Viewer:
    """The user asking, and the teams they belong to."""

    user_id: str
    team_ids: tuple[str, ...] = ()


def access_of(assistant: Assistant, viewer: Viewer) -> Access | None:
    """What the viewer may do with a published assistant: edit, use, or nothing."""
    if assistant.owner_id == viewer.user_id:
        return "edit"
    shared = assistant.visibility == "instance" or (
        assistant.visibility == "team" and assistant.team_id in viewer.team_ids
    )
    if not shared:
        return None
    return "edit" if assistant.permission == "edit" else "use"


def usable_clause(viewer: Viewer) -> ColumnElement[bool]:
    """A filter for the published assistants a viewer may use."""
    shared_with_team = and_(
        Assistant.visibility == "team", Assistant.team_id.in_(viewer.team_ids or ("",))
    )
    return and_(
        Assistant.editing_id.is_(None),
        or_(
            Assistant.owner_id == viewer.user_id,
            Assistant.visibility == "instance",
            shared_with_team,
        ),
    )


async def access_to(session: AsyncSession, assistant: Assistant, viewer: Viewer) -> Access | None:
    """The viewer's access to an assistant or a draft (a draft is editors-only)."""
    if assistant.editing_id is None:
        return access_of(assistant, viewer)
    published = await session.get(Assistant, assistant.editing_id)
    if published is None or access_of(published, viewer) != "edit":
        return None
    return "edit"


async def get_usable(session: AsyncSession, *, viewer: Viewer, assistant_id: str) -> Assistant:
    """An assistant (or draft) the viewer may use.

    Raises:
        AssistantNotFound: no such assistant, or it is not shared with the viewer.
    """
    assistant = await session.get(Assistant, assistant_id)
    if assistant is None or await access_to(session, assistant, viewer) is None:
        raise AssistantNotFound(assistant_id=assistant_id)
    return assistant


async def get_editable(session: AsyncSession, *, viewer: Viewer, assistant_id: str) -> Assistant:
    """An assistant (or draft) the viewer may edit.

    Raises:
        AssistantNotFound: no such assistant, or it is not shared with the viewer.
        AssistantReadOnly: the viewer may use it but not edit it.
    """
    assistant = await get_usable(session, viewer=viewer, assistant_id=assistant_id)
    if await access_to(session, assistant, viewer) != "edit":
        raise AssistantReadOnly(assistant_id=assistant_id)
    return assistant


async def published_of(session: AsyncSession, assistant: Assistant) -> Assistant:
    """The published assistant behind a draft (or the assistant itself)."""
    if assistant.editing_id is None:
        return assistant
    published = await session.get(Assistant, assistant.editing_id)
    if published is None:
        raise AssistantNotFound(assistant_id=assistant.editing_id)
    return published


def check_sharing(viewer: Viewer, *, visibility: str, team_id: str | None) -> None:
    """Refuse team sharing without a team of the viewer's, and a team on other visibilities.

    Raises:
        InvalidSharing: the combination of visibility and team is not valid.
    """
    if visibility == "team" and (team_id is None or team_id not in viewer.team_ids):
        raise InvalidSharing(visibility=visibility, team_id=team_id)
    if visibility != "team" and team_id is not None:
        raise InvalidSharing(visibility=visibility, team_id=team_id)
