"""Feedback on answers, for those who review it: admins see all of it, an assistant's editors what
was said about their assistant's answers. JSON, or CSV with `Accept: text/csv`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query, Request, Response

from api.deps import PageDep, PrincipalDep, SessionDep, ViewerDep
from api.hal import Collection, Resource, api_router, collection, collection_of
from assistant.chat import feedback
from assistant.chat.feedback import FeedbackFilter, FeedbackRow
from assistant.feedback_schemas import FeedbackRead
from core.clock import as_utc

router = api_router(prefix="/api/feedback", tags=["Assistant"])

CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The ratings; CSV (one line per rating) with `Accept: text/csv`.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


def _body(row: FeedbackRow) -> Resource[FeedbackRead]:
    read = FeedbackRead.model_validate(row, from_attributes=True)
    links = {"chat": {"href": f"/api/chats/{row.chat_id}"}}
    return Resource(read.model_dump(mode="json", by_alias=True), _links=links)


@router.get("", responses=CSV_RESPONSE, response_model=collection_of("feedback", FeedbackRead))
async def list_feedback(
    request: Request,
    principal: PrincipalDep,
    viewer: ViewerDep,
    session: SessionDep,
    page: PageDep,
    model: Annotated[str | None, Query(max_length=200)] = None,
    assistant: Annotated[str | None, Query(max_length=26)] = None,
    liked: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Collection[Resource[FeedbackRead]] | Response:
    """Rated answers, newest first: who rated, the model and assistant, `liked`, the comment and
    the answer's first 500 characters. Admins see every rating; others see those on answers of
    the assistants they may edit (none: an empty list). Filter by `model`, `assistant`, `liked`
    and the time range `since` (inclusive) to `until` (exclusive). `Accept: text/csv` for CSV."""
    where = FeedbackFilter(
        model=model,
        assistant_id=assistant,
        liked=liked,
        since=as_utc(since) if since else None,
        until=as_utc(until) if until else None,
    )
    found = await feedback.listing(
        session, viewer=viewer, is_admin=principal.user.is_admin, where=where, page=page
    )
    if "text/csv" in request.headers.get("accept", ""):
        text = feedback.to_csv([_body(row) for row in found.items])
        headers = {"Content-Disposition": 'attachment; filename="feedback.csv"'}
        return Response(text, media_type="text/csv", headers=headers)
    said = None if liked is None else str(liked).lower()
    params = {"model": model, "assistant": assistant, "liked": said}
    return collection("feedback", "/api/feedback", found, _body, params)
