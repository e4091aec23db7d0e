"""Feedback on answers: the chat's owner rates an answer (good, bad, or taken back) with an optional
comment, and those who review feedback read it: admins all of it, an assistant's editors what was
said about their assistant's answers (with the answer's first characters, so a rating can be
understood; the rest of the chat stays its owner's).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.assistants.sharing import Viewer
from assistant.errors import NotAnAnswer
from assistant.models import Assistant, Chat, Message
from core import clock
from core.listing import Page, PageRequest
from core.models import User

ANSWER_CHARS = 500
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = (
    "feedbackAt",
    "username",
    "model",
    "assistantName",
    "liked",
    "feedback",
    "answer",
    "messageId",
    "chatId",
    "assistantId",
)


@dataclass(frozen=True, kw_only=True)
class FeedbackFilter:
    """Which ratings to list (`None`: any)."""

    model: str | None = None
    assistant_id: str | None = None
    liked: bool | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class FeedbackRow:
    """One rated answer, with who rated it and the assistant it came from."""

    message_id: str
    chat_id: str
    user_id: str
    username: str
    model: str | None
    assistant_id: str | None
    assistant_name: str | None
    liked: bool | None
    feedback: str | None
    answer: str
    feedback_at: datetime


def rate(message: Message, *, liked: bool | None, feedback: str | None) -> None:
    """Record the owner's rating of an answer; `liked=None` with no comment takes it back.

    Raises:
        NotAnAnswer: the message is the user's own, not an answer.
    """
    if message.role != "assistant":
        raise NotAnAnswer(message_id=message.id)
    comment = (feedback or "").strip() or None
    message.liked = liked
    message.feedback = comment
    message.feedback_at = None if liked is None and comment is None else clock.now()


def _editable_by(viewer: Viewer) -> ColumnElement[bool]:
    """Published assistants the viewer may edit: their own, or shared with edit permission."""
    shared = or_(
        Assistant.visibility == "instance",
        and_(Assistant.visibility == "team", Assistant.team_id.in_(viewer.team_ids or ("",))),
    )
    return and_(
        Assistant.editing_id.is_(None),
        or_(Assistant.owner_id == viewer.user_id, and_(shared, Assistant.permission == "edit")),
    )


async def listing(
    session: AsyncSession,
    *,
    viewer: Viewer,
    is_admin: bool,
    where: FeedbackFilter,
    page: PageRequest,
) -> Page[FeedbackRow]:
    """Rated answers the viewer may review, newest first."""
    conditions = [Message.feedback_at.is_not(None), *_filters(where)]
    if not is_admin:
        editable = select(Assistant.id).where(_editable_by(viewer))
        conditions.append(Chat.assistant_id.in_(editable) if viewer.user_id else false())
    stmt = (
        select(Message, Chat.user_id, User.username, Chat.assistant_id, Assistant.name)
        .join(Chat, Chat.id == Message.chat_id)
        .join(User, User.id == Chat.user_id)
        .outerjoin(Assistant, Assistant.id == Chat.assistant_id)
        .where(*conditions)
    )
    total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
    ordered = stmt.order_by(Message.feedback_at.desc(), Message.id.desc())
    rows = await session.execute(ordered.offset(page.start).limit(page.limit))
    items = [_row(*row) for row in rows.tuples()]
    return Page(items=items, total=int(total or 0), start=page.start, limit=page.limit)


def _filters(where: FeedbackFilter) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if where.model is not None:
        found.append(Message.model == where.model)
    if where.assistant_id is not None:
        found.append(Chat.assistant_id == where.assistant_id)
    if where.liked is not None:
        found.append(Message.liked.is_(where.liked))
    if where.since is not None:
        found.append(Message.feedback_at >= where.since)
    if where.until is not None:
        found.append(Message.feedback_at < where.until)
    return found


def _row(
    message: Message, user_id: str, username: str, assistant_id: str | None, name: str | None
) -> FeedbackRow:
    assert message.feedback_at is not None  # the listing's filter
    return FeedbackRow(
        message_id=message.id,
        chat_id=message.chat_id,
        user_id=user_id,
        username=username,
        model=message.model,
        assistant_id=assistant_id,
        assistant_name=name,
        liked=message.liked,
        feedback=message.feedback,
        answer=message.content[:ANSWER_CHARS],
        feedback_at=clock.as_utc(message.feedback_at),
    )


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The listing's rows (as sent, camelCase) as CSV, one line per rating. Text a spreadsheet
    would run as a formula (a comment starting with `=`, `+`, `-`, `@`) is quoted with `'`."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: _inert(value) for key, value in row.items()} for row in rows)
    return out.getvalue()


def _inert(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        return "'" + value
    return value
