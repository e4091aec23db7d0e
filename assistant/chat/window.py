"""A turn's history: its branch read from the newest message upward, only as far as the model's
context window reaches.

A turn sends the newest turns of its branch that fit the window (`history.fit` keeps messages
from the newest back and stops at the first that does not fit). So instead of loading every
message of the chat and building its whole tree, a turn reads its path from the leaf upward (a
recursive query over `parent_id`, which SQLite and PostgreSQL both run), a stretch of about
`CHARS_PER_TOKEN` characters per token of the window at a time, and stops reading once the fit
has left out a turn it read: nothing above that turn could be sent either. How many turns lie
above (`droppedTurns`) each message keeps (`history_turns`, set when it is written), so the
first message read tells; for older messages the database walks the rest and counts them. A chat
whose earlier messages carry attachments is read whole, as before: their documents and images
are placed over the whole path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.attachments.models import ChatAttachment
from assistant.attachments.prompt import Attached
from assistant.chat import branches, history
from assistant.chat.branches import Node
from assistant.chat.turns import Turn
from assistant.errors import ChatNotFound, MessageNotFound, NotAUserMessage, StillStreaming
from assistant.models import Chat
from assistant.schemas import ANSWERED, MessageStatus
from core.catalog import Catalog, CatalogModel
from core.database import run_read
from core.errors import SwitchboardError

# A stretch reads this many characters per token of the window before the fit says whether it
# needs more: English runs at about four characters a token, so most windows fill in one read.
CHARS_PER_TOKEN = 6
FRAMING_CHARS = 16  # what a message's framing is reckoned at, so empty messages count too
# A chat of at most a message per this many tokens of the window is read whole, in one plain
# read of its rows: a walk up the path costs more per row (bench/README.md).
TOKENS_PER_MESSAGE = 50
MIN_NODES = 4  # at least the last question and answer, whatever their length
WHOLE = 2**31 - 1  # characters: the whole path
DEEPEST = 1_000_000  # a guard against a cycle of parents, far beyond any real branch

_M = branches.MESSAGES
_FILES = ChatAttachment.metadata.tables[ChatAttachment.__tablename__]
_IN_CHAT = _M.c.chat_id == bindparam("chat")
_NODE = (_M.c.id, _M.c.parent_id, _M.c.role, _M.c.status, _M.c.content, _M.c.history_turns)


def _path_up(*, chars: bool) -> Any:
    """The recursive CTE of the path from `start` upward within the chat (id, parent_id, depth;
    with `chars`, the characters read so far too, and only until `chars` characters were read,
    `MIN_NODES` messages at least)."""
    counted = [(func.length(_M.c.content) + FRAMING_CHARS).label("chars")] if chars else []
    first = select(_M.c.id, _M.c.parent_id, literal_column("1").label("depth"), *counted)
    up = first.where(_M.c.id == bindparam("start"), _IN_CHAT).cte("up", recursive=True)
    above = _M.alias("above")
    step = [above.c.id, above.c.parent_id, up.c.depth + 1]
    until = [above.c.id == up.c.parent_id, above.c.chat_id == bindparam("chat")]
    if chars:
        step.append(up.c.chars + func.length(above.c.content) + FRAMING_CHARS)
        until.append(or_(up.c.chars < bindparam("chars"), up.c.depth < MIN_NODES))
    return up.union_all(select(*step).where(*until, up.c.depth < DEEPEST))


def _stretch() -> Any:
    """The path from `start` upward until `chars` characters were read, root side first."""
    up = _path_up(chars=True)
    return select(*_NODE).join_from(up, _M, _M.c.id == up.c.id).order_by(up.c.depth.desc())


def _turns_from() -> Any:
    """How many of the path's messages from `start` to the root are turns (`history.turns`)."""
    up = _path_up(chars=False)
    answered = sorted(str(status) for status in ANSWERED)
    is_turn = or_(
        _M.c.role == "user",
        and_(_M.c.role == "assistant", _M.c.status.in_(answered), _M.c.content != ""),
    )
    return select(func.count()).select_from(up.join(_M, _M.c.id == up.c.id)).where(is_turn)


_LEAF = _M.alias("leaf")
_STREAMING = select(_M.c.id).where(_IN_CHAT, _M.c.status == MessageStatus.STREAMING).exists()
_SENT_FILES = (
    select(_FILES.c.id)
    .where(_FILES.c.chat_id == bindparam("chat"), _FILES.c.message_id.is_not(None))
    .exists()
)
# The chat, how many turns lie above its active leaf (when the leaf stores it), whether an
# answer of it is being written and whether files were sent with its messages: one statement.
_CHAT = branches.CHAT_FOR_TURN.add_columns(
    _LEAF.c.history_turns.label("leaf_turns"),
    _STREAMING.label("streaming"),
    _SENT_FILES.label("files_sent"),
).outerjoin(_LEAF, _LEAF.c.id == branches.CHATS.c.active_leaf_id)
_STRETCH = _stretch()
_TURNS_FROM = _turns_from()
_NODES = select(*_NODE).where(_IN_CHAT).order_by(_M.c.created_at, _M.c.id)
_SIZE = select(func.count()).select_from(
    select(_M.c.id).where(_IN_CHAT).limit(bindparam("cap")).subquery()
)
_LATEST = select(_M.c.id).where(_IN_CHAT).order_by(_M.c.created_at.desc(), _M.c.id.desc()).limit(1)
_MESSAGE = select(_M.c.parent_id, _M.c.role).where(_M.c.id == bindparam("message"), _IN_CHAT)


@dataclass(frozen=True, kw_only=True)
class Branch:
    """The newest part of a path, as far as a turn read it, root side first."""

    nodes: list[Node]
    above: str | None = None  # the parent of `nodes[0]` when the read stopped below the root
    empty: bool = False  # the chat has no message at all
    files_sent: bool = True  # whether files were sent with any message of the chat (or unknown)

    def before_last(self) -> Branch:
        """The branch without its last message (what regenerating or continuing it answers)."""
        return Branch(nodes=self.nodes[:-1], above=self.above, files_sent=self.files_sent)


@dataclass(frozen=True, kw_only=True)
class _Read:
    chat: dict[str, Any] | None
    streaming: bool = False
    branch: Branch = Branch(nodes=[])
    edited: tuple[str | None, str] | None = None  # the edited message's parent and role


def _read_stretch(
    connection: Connection, chat_id: str, start: str | None, chars: int
) -> tuple[list[Node], str | None]:
    """The path from `start` up, about `chars` characters of it, and the parent above them."""
    if start is None:
        return [], None
    params = {"chat": chat_id, "start": start, "chars": chars}
    nodes = [Node._make(row) for row in connection.execute(_STRETCH, params)]
    return nodes, nodes[0].parent_id if nodes else None


def _read_turn(
    connection: Connection,
    chat_id: str,
    window_tokens: Callable[[str | None], int],
    edited: str | None,
) -> _Read:
    row = connection.execute(_CHAT, {"chat": chat_id}).first()
    if row is None:
        return _Read(chat=None)
    chat = row._asdict()
    leaf_turns, files_sent = chat.pop("leaf_turns"), bool(chat.pop("files_sent"))
    if chat.pop("streaming"):
        return _Read(chat=chat, streaming=True)
    params = {"chat": chat_id}
    window = window_tokens(chat["model"])
    # Files sent with earlier messages are placed over the whole path: read it all. So is a
    # chat the window could hold whole: one read of its rows costs less than a walk. A chat
    # whose active path alone holds `cap` turns above its leaf has more messages: not counted.
    cap = window // TOKENS_PER_MESSAGE
    small = leaf_turns is None or leaf_turns < cap
    if files_sent or (
        small and connection.execute(_SIZE, {**params, "cap": cap + 1}).scalar_one() <= cap
    ):
        return _read_whole(connection, chat, edited, files_sent=files_sent)
    chars = window * CHARS_PER_TOKEN
    if edited is not None:
        target = connection.execute(_MESSAGE, {**params, "message": edited}).first()
        if target is None:
            return _Read(chat=chat)
        nodes, above = _read_stretch(connection, chat_id, target.parent_id, chars)
        branch = Branch(nodes=nodes, above=above, files_sent=False)
        return _Read(chat=chat, branch=branch, edited=(target.parent_id, target.role))
    nodes, above = _read_stretch(connection, chat_id, chat["active_leaf_id"], chars)
    if not nodes:  # no active leaf (or a lost one): the path to the newest message
        latest = connection.execute(_LATEST, params).scalar()
        nodes, above = _read_stretch(connection, chat_id, latest, chars)
    return _Read(
        chat=chat, branch=Branch(nodes=nodes, above=above, empty=not nodes, files_sent=False)
    )


def _read_whole(
    connection: Connection, chat: dict[str, Any], edited: str | None, *, files_sent: bool
) -> _Read:
    """`_read_turn` from every message of the chat, as a tree."""
    rows = connection.execute(_NODES, {"chat": chat["id"]})
    tree = branches.Tree.of([Node._make(row) for row in rows])
    if edited is not None:
        target = tree.by_id.get(edited)
        if target is None:
            return _Read(chat=chat)
        branch = Branch(nodes=tree.path_to(target.parent_id), files_sent=files_sent)
        return _Read(chat=chat, branch=branch, edited=(target.parent_id, target.role))
    path = tree.shown_path(chat["active_leaf_id"])  # no active leaf: to the newest message
    return _Read(chat=chat, branch=Branch(nodes=path, empty=not tree.by_id, files_sent=files_sent))


def window_tokens(catalog: Catalog) -> Callable[[str | None], int]:
    """The context window of a chat's model (its default when it has none), for the reads."""

    def tokens(model: str | None) -> int:
        try:
            return max(catalog.resolve(model).max_input_tokens, 1)
        except SwitchboardError:  # the turn fails on its model later, with the right error
            return 1

    return tokens


async def open_turn(
    factory: async_sessionmaker[AsyncSession],
    *,
    user_id: str,
    chat_id: str,
    window_tokens: Callable[[str | None], int],
    edited: str | None = None,
) -> tuple[Chat, Branch]:
    """A chat of the user's (detached) and the newest part of the branch a new turn follows:
    the active one, or the path to the parent of the user message `edited`.

    Raises:
        ChatNotFound: there is no such chat, or it is another user's.
        StillStreaming: an answer of the chat is still being written.
        MessageNotFound: the chat has no message `edited`.
        NotAUserMessage: `edited` is an answer.
    """
    read = await run_read(factory, _read_turn, chat_id, window_tokens, edited)
    if read.chat is None or read.chat["user_id"] != user_id:
        raise ChatNotFound(chat_id=chat_id)
    if read.streaming:
        raise StillStreaming()
    if edited is not None:
        if read.edited is None:
            raise MessageNotFound(message_id=edited)
        if read.edited[1] != "user":
            raise NotAUserMessage(message_id=edited)
    return Chat(**read.chat), read.branch


async def ending_in_answer(
    factory: async_sessionmaker[AsyncSession], chat: Chat, branch: Branch, message_id: str
) -> Branch | None:
    """The active branch when `message_id` is its last message and an answer (what
    regenerating or continuing acts on); None when it is not.

    Raises:
        MessageNotFound: the chat has no such message.
    """
    if branch.nodes and branch.nodes[-1].id == message_id:
        return branch if branch.nodes[-1].role == "assistant" else None
    params = {"chat": chat.id, "message": message_id}
    if await run_read(factory, _first, _MESSAGE, params) is None:
        raise MessageNotFound(message_id=message_id)
    return None


def _first(connection: Connection, statement: Any, params: dict[str, Any]) -> Any:
    return connection.execute(statement, params).first()


async def fit(
    factory: async_sessionmaker[AsyncSession],
    *,
    turn: Turn,
    chat_id: str,
    attached: Attached,
    model: CatalogModel,
    system: str | None,
) -> tuple[history.Prompt, int]:
    """`history.fit` of the turn's messages (`attached.turns`: the turns of `turn.path`, then
    the turn's own: its words, or the answer it goes on writing), the branch read further up
    while everything read fits; the prompt's `dropped` counts the turns left out above what was
    read too. Returns it and how many turns the branch holds before the new ones.

    Raises:
        PromptTooLong: the system prompt and last message alone do not fit.
    """
    above, first = turn.above, turn.path[0] if turn.path else None
    own = (turn.content is not None) + len(turn.continued.tail if turn.continued else ())
    read = len(attached.turns) - own  # the path's turns, counted once (by the caller)
    chars = model.max_input_tokens * CHARS_PER_TOKEN
    while True:
        prompt = await history.fit_off_loop(
            attached.turns,
            model=model.name,
            context_tokens=model.max_input_tokens - attached.image_tokens,
            system=system,
        )
        if above is None or prompt.dropped:
            break
        chars = min(chars * 2, WHOLE)  # each stretch twice the last: a few reads at most
        older, above = await run_read(factory, _read_stretch, chat_id, above, chars)
        first = older[0] if older else first
        earlier = history.turns(older)
        read += len(earlier)
        attached.turns = earlier + attached.turns
        attached.images = {i + len(earlier): parts for i, parts in attached.images.items()}
    prompt = attached.with_images(prompt)
    unread = 0 if above is None else await _turns_above(factory, chat_id, above, first)
    dropped = prompt.dropped + unread
    return history.Prompt(prompt.messages, prompt.prompt_tokens, dropped), unread + read


async def _turns_above(
    factory: async_sessionmaker[AsyncSession], chat_id: str, above: str, first: Node | None
) -> int:
    """The turns of the path from `above` (the parent of `first`) to the root: as stored on
    `first`, else counted by walking it."""
    if first is not None and first.parent_id == above and first.history_turns is not None:
        return first.history_turns
    counted = await run_read(factory, _first, _TURNS_FROM, {"chat": chat_id, "start": above})
    return int(counted[0])
