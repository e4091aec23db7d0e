"""The `assistant-prompt` job action: a scheduled report, asked of an assistant as its owner.

The job's owner asks the assistant (one they may use) the prompt in a new chat of theirs, through
the chat engine like any turn: admitted by billing against the owner's seat and budget, metered
and settled to them. The answer is kept as that chat (`saveChat`) and/or sent by e-mail
(`emailTo`); a chat kept for neither is removed once mailed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.assistants import sharing
from assistant.chat import chats
from assistant.chat.engine import ChatEngine, TurnOptions
from assistant.chat.runs import Run
from assistant.models import Chat
from assistant.schemas import ChatCreate, MessageStatus
from billing.admission import Caller
from core import teams
from core.database import write_transaction
from core.errors import SwitchboardError
from knowledge import mail
from knowledge.errors import InvalidJob
from knowledge.job_actions import Step
from knowledge.mail import MailConfig
from knowledge.models import Job

MAX_PROMPT = 20_000
ANSWER_SECONDS = 30 * 60


class AssistantPrompt:
    """`assistant-prompt`: {assistantId, prompt, model?, saveChat (default true), emailTo[],
    subject?}."""

    admin_only = False

    def __init__(
        self, factory: async_sessionmaker[AsyncSession], engine: ChatEngine, mail_config: MailConfig
    ) -> None:
        self.factory = factory
        self.engine = engine
        self.mail_config = mail_config

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        assistant_id, prompt = params.get("assistantId"), params.get("prompt")
        if not isinstance(assistant_id, str) or not assistant_id:
            raise InvalidJob("An assistant-prompt action needs `assistantId`.")
        if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_PROMPT:
            raise InvalidJob("`prompt` must be text of 1 to 20,000 characters.")
        model = params.get("model")
        if model is not None and (not isinstance(model, str) or len(model) > 200):
            raise InvalidJob("`model` must be a model name.")
        save_chat = params.get("saveChat", True)
        if not isinstance(save_chat, bool):
            raise InvalidJob("`saveChat` must be true or false.")
        email_to = params.get("emailTo") or []
        if email_to:
            email_to = mail.check_recipients(email_to, field="emailTo")
        if not save_chat and not email_to:
            raise InvalidJob("Keep the answer as a chat (`saveChat`) or send it (`emailTo`).")
        subject = params.get("subject") or ""
        if not isinstance(subject, str):
            raise InvalidJob("`subject` must be text.")
        return {
            "assistantId": assistant_id,
            "prompt": prompt,
            "model": model,
            "saveChat": save_chat,
            "emailTo": email_to,
            "subject": mail.subject_line(subject),
        }

    async def perform(self, job: Job, params: dict[str, Any], step: Step) -> dict[str, Any]:
        async with write_transaction(self.factory) as session:
            team_ids = await teams.team_ids_of(session, user_id=job.owner_user_id)
            viewer = sharing.Viewer(job.owner_user_id, team_ids)
            assistant = await sharing.get_usable(
                session, viewer=viewer, assistant_id=params["assistantId"]
            )
            data = ChatCreate(title=job.name, assistant_id=assistant.id, model=params["model"])
            chat = await chats.create(session, user_id=job.owner_user_id, data=data)
            chat_id = chat.id
        step.log(f"Asking {assistant.name!r} in chat {chat_id}.")
        caller = Caller(user_id=job.owner_user_id, team_ids=team_ids)
        try:
            run = await self.engine.send(
                caller=caller,
                chat_id=chat_id,
                content=params["prompt"],
                options=TurnOptions(model=params["model"]),
            )
            await self._wait(run, job.owner_user_id)
            if run.status != MessageStatus.COMPLETE:
                reason = (run.error or {}).get("message", "")
                raise SwitchboardError(f"The answer ended {run.status.value}. {reason}".strip())
            step.log(f"Answered in {len(run.text)} characters.")
            await step.progress(0.8)
            if params["emailTo"]:
                subject = params["subject"] or f"{job.name}: {assistant.name}"
                await mail.send(
                    self.mail_config, to=params["emailTo"], subject=subject, body=run.text
                )
                step.log(f"Sent to {len(params['emailTo'])} recipient(s).")
        finally:
            if not params["saveChat"]:
                await self._remove(chat_id)
        kept = chat_id if params["saveChat"] else None
        return {"chatId": kept, "answerChars": len(run.text), "emailed": len(params["emailTo"])}

    async def _wait(self, run: Run, user_id: str) -> None:
        """Wait for the answer; one still going after `ANSWER_SECONDS` is cancelled (or the job's
        run is being stopped: the answer stops with it)."""
        try:
            async with asyncio.timeout(ANSWER_SECONDS):
                await run.finished.wait()
        except (TimeoutError, asyncio.CancelledError) as exc:
            stop = self.engine.cancel(
                user_id=user_id, chat_id=run.chat_id, message_id=run.message_id
            )
            await asyncio.shield(stop)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise SwitchboardError("The answer took too long and was stopped.") from None

    async def _remove(self, chat_id: str) -> None:
        async with write_transaction(self.factory) as session:
            chat = await session.get(Chat, chat_id)
            if chat is not None:
                await chats.delete(session, chat=chat)
