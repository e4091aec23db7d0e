"""E-mail that jobs send: plain-text messages through the SMTP server of the settings.

smtplib blocks, so a message is sent in a thread, bounded by the configured timeout.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from knowledge.errors import InvalidJob, MailFailed, MailNotConfigured

MAX_RECIPIENTS = 20
MAX_SUBJECT = 300
MAX_BODY = 200_000
_ADDRESS = re.compile(r"^[^@\s<>,;\"']{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


@dataclass(frozen=True, kw_only=True)
class MailConfig:
    """Where and as whom to send (SWITCHBOARD_SMTP_*)."""

    host: str = ""
    port: int = 587
    username: str = ""
    password: str = ""
    sender: str = ""
    starttls: bool = True
    timeout_seconds: float = 30.0

    @property
    def configured(self) -> bool:
        """Whether a server and a sender address are set."""
        return bool(self.host and self.sender)


def check_recipients(value: Any, *, field: str = "to") -> list[str]:
    """A list of 1 to 20 e-mail addresses.

    Raises:
        InvalidJob: not a list of addresses, empty, or too long.
    """
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or len(value) > MAX_RECIPIENTS:
        raise InvalidJob(f"`{field}` must list 1 to {MAX_RECIPIENTS} e-mail addresses.")
    for address in value:
        if not isinstance(address, str) or not _ADDRESS.match(address):
            raise InvalidJob(f"`{field}` holds something that is not an e-mail address.")
    return list(value)


def subject_line(text: str) -> str:
    """A subject on one line, at most 300 characters."""
    return " ".join(text.split())[:MAX_SUBJECT]


async def send(config: MailConfig, *, to: Sequence[str], subject: str, body: str) -> None:
    """Send a plain-text message.

    Raises:
        MailNotConfigured: no SMTP host or sender is set.
        MailFailed: the server could not be reached or refused the message.
    """
    if not config.configured:
        raise MailNotConfigured()
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject_line(subject)
    message.set_content(body[:MAX_BODY])
    try:
        await asyncio.to_thread(_deliver, config, message)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailFailed(f"The mail server did not take the message: {exc}") from None


def _deliver(config: MailConfig, message: EmailMessage) -> None:
    with smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds) as smtp:
        if config.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if config.username:
            smtp.login(config.username, config.password)
        smtp.send_message(message)
