"""What a turn's model call is given: the chat's assistant (its prompt sections, default model
and parameters), the model and its output cap, the chat's attachments, passages from knowledge,
and as much of the history as the model's window holds."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.assistants import persona
from assistant.assistants.sharing import Viewer
from assistant.attachments import prompt as attached_files
from assistant.attachments.files import AttachmentStorage
from assistant.chat import grounding, history, window
from assistant.chat.turns import Turn
from assistant.models import Chat
from billing.admission import Caller
from core.catalog import Catalog, CatalogModel


@dataclass(frozen=True, kw_only=True)
class TurnContext:
    """A turn's prompt and what it was made from."""

    who: persona.Persona  # the chat's assistant, or no persona
    caller: Caller  # with the assistant the call is made for
    model: CatalogModel
    max_tokens: int
    attached: attached_files.Attached
    grounded: grounding.Grounding
    prompt: history.Prompt
    history_turns: int


@dataclass(frozen=True, kw_only=True)
class Sources:
    """Where a turn's context comes from: the engine's stores and defaults."""

    factory: async_sessionmaker[AsyncSession]
    catalog: Catalog
    attachments: AttachmentStorage | None
    retriever: grounding.Retriever | None
    default_max_tokens: int


async def gather(
    sources: Sources,
    chat: Chat,
    turns: list[dict[str, str]],
    turn: Turn,
    caller: Caller,
    chosen: tuple[str | None, int | None],
) -> TurnContext:
    """The turn's context: persona, model, attachments, grounding and the fitted history;
    `chosen` is the model and output cap the turn asked for, if any.

    Raises:
        UnknownModel, ModelDisabled, WrongModelMode, ModelUnavailable: the model chosen (by the
            turn, the chat or its assistant) cannot be called (`Catalog.usable`).
    """
    who = persona.NO_PERSONA
    if chat.assistant_id is not None:
        async with sources.factory() as session:
            viewer = Viewer(caller.user_id, caller.team_ids)
            text = turns[-1]["content"] if turns else ""
            who = await persona.compose(session, chat=chat, viewer=viewer, user_text=text)
    caller = replace(caller, assistant_id=who.assistant_id or caller.assistant_id)
    model_name, max_tokens = chosen
    model = sources.catalog.usable(model_name or chat.model or who.model)
    cap = max_tokens or who.max_tokens or sources.default_max_tokens
    if model.max_output_tokens:
        cap = min(cap, model.max_output_tokens)
    system = who.system(model=model.name, budget_tokens=model.max_input_tokens // 2)
    attached = await attached_files.attach(
        sources.factory,
        storage=sources.attachments,
        chat_id=chat.id,
        user_message_ids=[node.id for node in turn.path if node.role == "user"],
        files_sent=turn.files_sent,
        turns=turns,
        new_ids=turn.attachment_ids,
        model=model,
        catalog=sources.catalog,
        team_ids=caller.team_ids,
    )
    grounded = await grounding.for_turn(
        sources.retriever, chat, turns, caller, model, who.knowledge, attached.passages
    )
    system = "\n\n".join(part for part in (system, grounded.system) if part) or None
    if turn.continued is not None:  # the answer so far (and the ask to go on) comes last
        attached.turns = attached.turns + turn.continued.tail
    prompt, history_turns = await window.fit(
        sources.factory, turn=turn, chat_id=chat.id, attached=attached, model=model, system=system
    )
    return TurnContext(
        who=who,
        caller=caller,
        model=model,
        max_tokens=cap,
        attached=attached,
        grounded=grounded,
        prompt=prompt,
        history_turns=history_turns,
    )
