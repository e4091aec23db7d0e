"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it is given."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support import loopback_socket, port_of


@dataclass
class SmtpSink:
    """The messages received, parsed, in order."""

    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted"


class _BoundController(Controller):
    """aiosmtpd's controller listening on a socket bound before it starts (a port only probed
    free could be taken by another worker by then)."""

    def __init__(self, handler: SmtpSink, sock: socket.socket) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=port_of(sock))
        self._socket = sock

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        return self.loop.create_server(self._factory_invoker, sock=self._socket)


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    """A running SMTP server (no TLS, no login) and what it received."""
    with loopback_socket() as sock:
        sink = SmtpSink(port=port_of(sock))
        controller = _BoundController(sink, sock)
        controller.start()
        try:
            yield sink
        finally:
            controller.stop()
