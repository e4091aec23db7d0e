"""Attachments in a turn's prompt: images as image parts, documents inline or retrieved from.

A user message's attachments go with it on every later turn. Images become OpenAI-style
`image_url` parts (a `data:` URL) for models that can see; a new image for a model that cannot
is refused with `model_cannot_see_images` naming models that can (older ones become a note).
A document whose text fits a share of the context window is put in the message between
`<attached-file>` tags; a larger one is chunked at upload, and the chunks that best match the
question (BM25 over the document's own chunks, in memory: nothing is shared across chats) are
given as cited passages with the library's. How each attachment was used is saved on it.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.attachments import files
from assistant.attachments.errors import (
    AttachmentAlreadySent,
    AttachmentNotFound,
    ModelCannotSeeImages,
)
from assistant.attachments.models import ChatAttachment
from assistant.chat import history
from core import tokens
from core.capabilities import capabilities_of
from core.catalog import Catalog, CatalogModel
from core.database import run_read
from knowledge import sparse
from knowledge.retrieval import Citation, Passage, snippet

_TABLE = cast(Table, ChatAttachment.__table__)
# Most turns carry no file: one indexed Core lookup settles that before any ORM session.
_ANY_SENT = (
    select(_TABLE.c.id)
    .where(
        _TABLE.c.chat_id == bindparam("chat"),
        _TABLE.c.message_id.in_(bindparam("messages", expanding=True)),
    )
    .limit(1)
)
INLINE_SHARE = 4  # inline documents take at most a quarter of the context window
PASSAGES = 6


@dataclass(kw_only=True)
class Attached:
    """A turn's messages with their documents inline, passages of larger ones, and images."""

    turns: list[dict[str, str]]
    passages: list[Passage] = field(default_factory=list)
    images: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # by turn index
    uses: dict[str, str] = field(default_factory=dict)  # the new attachments' uses, by id

    @property
    def image_tokens(self) -> int:
        """What the images are reckoned to cost (see `core.tokens.IMAGE_TOKENS`)."""
        return tokens.IMAGE_TOKENS * sum(len(parts) for parts in self.images.values())

    def with_images(self, prompt: history.Prompt) -> history.Prompt:
        """The fitted prompt with each kept message's images as parts after its text."""
        if not self.images:
            return prompt
        messages: list[dict[str, Any]] = list(prompt.messages)
        head = len(messages) - (len(self.turns) - prompt.dropped)
        added = 0
        for index, parts in self.images.items():
            at = head + index - prompt.dropped
            if at >= head:
                text = {"type": "text", "text": messages[at]["content"]}
                messages[at] = {**messages[at], "content": [text, *parts]}
                added += len(parts)
        return history.Prompt(
            messages, prompt.prompt_tokens + added * tokens.IMAGE_TOKENS, prompt.dropped
        )

    def link(self, message_id: str | None) -> Callable[[Connection], None]:
        """Writes the new attachments onto the saved user message (in the admission's
        transaction), with how each was used."""

        def write(connection: Connection) -> None:
            by_use: dict[str, list[str]] = collections.defaultdict(list)
            for attachment_id, use in self.uses.items():
                by_use[use].append(attachment_id)
            for use, ids in by_use.items():
                connection.execute(
                    update(ChatAttachment)
                    .where(ChatAttachment.id.in_(ids))
                    .values(message_id=message_id, use=use)
                )

        return write


def _rank(row: ChatAttachment, query: str) -> list[Passage]:
    """The document's chunks that best match the query (BM25 in memory), else its first ones."""
    chunks = row.chunks or []
    vectors: list[dict[int, float]] = []
    for chunk in chunks:
        found = sparse.document_vector(str(chunk["text"]))
        vectors.append(dict(zip(found.indices, found.values, strict=True)))
    wanted = set(sparse.query_vector(query).indices)
    seen = collections.Counter(term for v in vectors for term in v if term in wanted)
    scores = []
    for weights in vectors:
        score = sum(
            weight * math.log(1 + (len(vectors) - seen[t] + 0.5) / (seen[t] + 0.5))
            for t, weight in weights.items()
            if t in wanted
        )
        scores.append(score)
    order = sorted(range(len(chunks)), key=lambda i: (-scores[i], i))[:PASSAGES]
    passages = []
    for i in order:
        chunk = chunks[i]
        text = str(chunk["text"])
        citation = Citation(
            file_id=row.id,
            file_name=row.name,
            page=chunk.get("page"),
            section=tuple(chunk.get("section") or ()),
            snippet=snippet(text),
            start=int(chunk.get("start", 0)),
            end=int(chunk.get("end", 0)),
        )
        passages.append(Passage(text=text, score=scores[i], chunk_index=i, citation=citation))
    return passages


def _fence(text: str) -> str:
    return text.replace("</attached-file>", "</attached-file\u200b>")


def seeing_models(catalog: Catalog, team_ids: Sequence[str]) -> list[str]:
    """The chat models these teams may use that can see images."""
    return sorted(
        m.name
        for m in catalog.models.values()
        if m.mode == "chat" and capabilities_of(m).vision and not catalog.blocked(m, team_ids)
    )


async def _load(
    session: AsyncSession, chat_id: str, message_ids: list[str], new_ids: Sequence[str]
) -> list[ChatAttachment]:
    query = select(ChatAttachment).where(
        ChatAttachment.chat_id == chat_id,
        or_(ChatAttachment.message_id.in_(message_ids), ChatAttachment.id.in_(list(new_ids))),
    )
    rows = list((await session.scalars(query.order_by(ChatAttachment.id))).all())
    found = {row.id: row for row in rows}
    for attachment_id in new_ids:
        row = found.get(attachment_id)
        if row is None:
            raise AttachmentNotFound(attachment_id=attachment_id)
        if row.message_id is not None:
            raise AttachmentAlreadySent(attachment_id=attachment_id)
    return rows


async def _any_sent(
    factory: async_sessionmaker[AsyncSession], chat_id: str, message_ids: list[str]
) -> bool:
    """Whether any of the messages was sent with a file."""
    return bool(message_ids) and await run_read(factory, _first_sent, chat_id, message_ids)


def _first_sent(connection: Connection, chat_id: str, message_ids: list[str]) -> bool:
    params = {"chat": chat_id, "messages": message_ids}
    return connection.execute(_ANY_SENT, params).first() is not None


async def attach(
    factory: async_sessionmaker[AsyncSession],
    *,
    storage: files.AttachmentStorage | None,
    chat_id: str,
    user_message_ids: list[str],
    turns: list[dict[str, str]],
    new_ids: Sequence[str],
    model: CatalogModel,
    catalog: Catalog,
    team_ids: Sequence[str],
    files_sent: bool = True,
) -> Attached:
    """The turn's attachments applied to its messages (`user_message_ids` are the saved user
    messages of `turns` in order; with `new_ids`, the last turn is the new message).
    `files_sent` False: the turn's read of the chat found no file sent with any of its messages
    (none to look for).

    Raises:
        AttachmentNotFound: a new id is not an attachment of this chat.
        AttachmentAlreadySent: a new id was sent with another message.
        ModelCannotSeeImages: the newest message carries an image and the model cannot see.
    """
    if storage is None or not (
        new_ids or (files_sent and await _any_sent(factory, chat_id, user_message_ids))
    ):
        return Attached(turns=turns)
    async with factory() as session:
        rows = await _load(session, chat_id, user_message_ids, new_ids)
    if not rows:
        return Attached(turns=turns)
    index_of, last = _positions(rows, user_message_ids, turns)
    can_see = capabilities_of(model).vision
    if not can_see and any(r.kind == "image" and index_of[r.id] == last for r in rows):
        _refuse_images(model, catalog, team_ids)
    attached = Attached(turns=[dict(t) for t in turns])
    inline_left = model.max_input_tokens // INLINE_SHARE
    query = turns[last]["content"] if last >= 0 else ""
    for row in sorted(rows, key=lambda r: -index_of[r.id]):  # the newest message's first
        index = index_of[row.id]
        if index < 0:
            continue
        turn = attached.turns[index]
        if row.kind == "image" and can_see:
            data = await asyncio.to_thread(files.read, storage, row)
            url = f"data:{row.media_type};base64,{base64.b64encode(data).decode()}"
            attached.images.setdefault(index, []).append(
                {"type": "image_url", "image_url": {"url": url}}
            )
            use = "image"
        elif row.kind == "image":
            turn["content"] += f"\n\n[An image, {row.name}, is not shown: this model cannot see.]"
            use = "image"
        elif row.text_tokens <= inline_left:
            inline_left -= row.text_tokens
            body = _fence(row.text or "")
            turn["content"] += f'\n\n<attached-file name="{row.name}">\n{body}\n</attached-file>'
            use = "inline"
        else:
            attached.passages += _rank(row, query)
            use = "retrieved"
        if row.message_id is None:
            attached.uses[row.id] = use
    return attached


def _positions(
    rows: Sequence[ChatAttachment], user_message_ids: list[str], turns: list[dict[str, str]]
) -> tuple[dict[str, int], int]:
    """Each attachment's turn (the last user turn for a new one, -1 for a message not in
    `turns`), and the last user turn's index (-1: none)."""
    user_turns = [i for i, t in enumerate(turns) if t["role"] == "user"]
    where = dict(zip(user_message_ids, user_turns, strict=False))
    last = user_turns[-1] if user_turns else -1
    index_of = {r.id: (last if r.message_id is None else where.get(r.message_id, -1)) for r in rows}
    return index_of, last


def _refuse_images(model: CatalogModel, catalog: Catalog, team_ids: Sequence[str]) -> NoReturn:
    """The newest message carries an image the model cannot see: name the models that can.

    Raises:
        ModelCannotSeeImages: always.
    """
    models = seeing_models(catalog, team_ids)
    names = ", ".join(models) if models else "none is set up"
    raise ModelCannotSeeImages(
        f"{model.name} cannot see images; models that can: {names}.",
        model=model.name,
        models=models,
    )
