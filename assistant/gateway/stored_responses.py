"""`/v1/responses` answers kept per user, so `previous_response_id` can continue them.

Each stored response holds its own turn only: the input items it was sent (not those of earlier
turns) and the response returned. A conversation is rebuilt by following `previous_id` back
through the owner's own responses; another user's id is never found. Deleting a response removes
its turn: a later response of the chain continues without it. A chain is capped in turns and in
the JSON size of its items, so a conversation cannot grow without bound.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from assistant.errors import ConversationTooLong, ResponseNotFound
from assistant.gateway.responses_format import identified, listed
from assistant.models import StoredResponse
from core import clock

MAX_CHAIN_TURNS = 500
MAX_CHAIN_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class Chain:
    """The conversation a new turn continues: earlier items in order, its length and size."""

    items: list[dict[str, Any]] = field(default_factory=list)
    turns: int = 0
    size: int = 0
    previous_id: str | None = None


NEW_CHAIN = Chain()


def size_of(items: Sequence[Any]) -> int:
    """The JSON size of items, in bytes, as the chain cap counts them."""
    return len(json.dumps(items, separators=(",", ":")).encode())


async def conversation(session: AsyncSession, *, user_id: str, response_id: str) -> Chain:
    """The items of the user's conversation up to and including `response_id`, oldest first.

    Raises:
        ResponseNotFound: no such response of this user's.
    """
    chain = (
        select(StoredResponse.id, StoredResponse.previous_id, literal(1).label("depth"))
        .where(StoredResponse.id == response_id, StoredResponse.user_id == user_id)
        .cte("chain", recursive=True)
    )
    earlier = aliased(StoredResponse)
    chain = chain.union_all(
        select(earlier.id, earlier.previous_id, chain.c.depth + 1).where(
            earlier.id == chain.c.previous_id,
            earlier.user_id == user_id,
            chain.c.depth < MAX_CHAIN_TURNS,
        )
    )
    rows = (
        await session.scalars(
            select(StoredResponse)
            .join(chain, StoredResponse.id == chain.c.id)
            .order_by(chain.c.depth.desc())
        )
    ).all()
    if not rows:
        raise ResponseNotFound(response_id=response_id)
    items: list[dict[str, Any]] = []
    for row in rows:
        items.extend(row.input_items)
        items.extend(row.response.get("output") or [])
    last = rows[-1]
    return Chain(items=items, turns=last.turns, size=last.chain_bytes, previous_id=last.id)


@dataclass(frozen=True, kw_only=True)
class ItemPage:
    """A page of a response's input items."""

    items: list[dict[str, Any]]
    has_more: bool


async def input_items(
    session: AsyncSession,
    *,
    user_id: str,
    response_id: str,
    limit: int = 20,
    order: str = "desc",
    after: str | None = None,
) -> ItemPage:
    """The items a stored response answered: the earlier turns of its conversation and its own
    input, newest first unless `order` is `asc`, after the item `after`.

    Raises:
        ResponseNotFound: no such response of this user's.
    """
    chain = await conversation(session, user_id=user_id, response_id=response_id)
    own = await get_owned(session, user_id=user_id, response_id=response_id)
    answered = len(chain.items) - len(own.response.get("output") or [])
    items = [listed(item) for item in chain.items[:answered]]
    if order != "asc":
        items.reverse()
    if after is not None:
        ids = [item.get("id") for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    return ItemPage(items=items[:limit], has_more=len(items) > limit)


def check_room(chain: Chain, new_items: Sequence[Any]) -> int:
    """The chain's size with the new turn's input; refuses a turn past the caps.

    Raises:
        ConversationTooLong: the chain has as many turns, or as many bytes, as it may.
    """
    size = chain.size + size_of(new_items)
    if chain.turns >= MAX_CHAIN_TURNS or size > MAX_CHAIN_BYTES:
        raise ConversationTooLong(
            max_turns=MAX_CHAIN_TURNS, max_bytes=MAX_CHAIN_BYTES, param="previous_response_id"
        )
    return size


async def save(
    session: AsyncSession,
    *,
    user_id: str,
    chain: Chain,
    input_items: list[dict[str, Any]],
    response: dict[str, Any],
) -> StoredResponse:
    """Keep a response for its owner as the next turn of `chain`."""
    input_items = [identified(item) for item in input_items]
    row = StoredResponse(
        id=str(response["id"]),
        user_id=user_id,
        previous_id=chain.previous_id,
        model=str(response["model"]),
        input_items=input_items,
        response=response,
        turns=chain.turns + 1,
        chain_bytes=chain.size + size_of(input_items) + size_of(response.get("output") or []),
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    return row


async def get_owned(session: AsyncSession, *, user_id: str, response_id: str) -> StoredResponse:
    """One of the user's stored responses.

    Raises:
        ResponseNotFound: no such response of this user's.
    """
    row = await session.get(StoredResponse, response_id)
    if row is None or row.user_id != user_id:
        raise ResponseNotFound(response_id=response_id)
    return row


async def delete_owned(session: AsyncSession, *, user_id: str, response_id: str) -> None:
    """Delete one of the user's stored responses (its turn leaves every chain it was in).

    Raises:
        ResponseNotFound: no such response of this user's.
    """
    deleted = await session.execute(
        delete(StoredResponse)
        .where(StoredResponse.id == response_id, StoredResponse.user_id == user_id)
        .returning(StoredResponse.id)
    )
    if deleted.first() is None:
        raise ResponseNotFound(response_id=response_id)
