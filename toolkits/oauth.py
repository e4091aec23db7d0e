"""OAuth 2.1 with PKCE toward MCP servers that ask for it, through the `mcp` package's client.

The `mcp` package does the protocol (discovery of the protected resource and its authorization
server, dynamic client registration, PKCE, token exchange and refresh); Switchboard keeps each
user's client registration and tokens per toolkit in the database, sealed with the toolkit key.

An operation that is not a sign-in (a refresh, a test, a chat's tool call) runs with
`interactive=False`: when the server wants a new sign-in, it stops at once with
`SignInRequired` instead of waiting for a person.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from pydantic import AnyUrl
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import clock
from core.database import write_transaction
from toolkits.crypto import Sealer
from toolkits.models import ToolkitGrant

OnAuthorize = Callable[[str], Awaitable[None]]
WaitForCode = Callable[[], Awaitable[AuthorizationCodeResult]]


class SignInRequired(Exception):
    """The server wants the user to sign in (again) before it can be used."""


class SignInRefused(Exception):
    """The user (or the authorization server) refused the sign-in."""


class _QuietSignInRequired(logging.Filter):
    """The `mcp` client logs every failed flow with its traceback; a sign-in that is needed is
    not an error here (it becomes the connection's needs_sign_in state)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SignInRequired)


logging.getLogger("mcp.client.auth.oauth2").addFilter(_QuietSignInRequired())


def aware(moment: datetime) -> datetime:
    """A stored time as UTC-aware (SQLite gives datetimes back without their zone)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=clock.now().tzinfo)


class GrantStorage:
    """The `mcp` client's TokenStorage over the database: one user's grant for one toolkit."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sealer: Sealer,
        *,
        toolkit_id: str,
        user_id: str,
    ) -> None:
        self.sessions = sessions
        self.sealer = sealer
        self.toolkit_id = toolkit_id
        self.user_id = user_id
        self._context = f"grant:{toolkit_id}:{user_id}"

    async def _row(self, session: AsyncSession) -> ToolkitGrant | None:
        return await session.scalar(
            select(ToolkitGrant).where(
                ToolkitGrant.toolkit_id == self.toolkit_id, ToolkitGrant.user_id == self.user_id
            )
        )

    def _open(self, sealed: str | None) -> str | None:
        return None if sealed is None else self.sealer.open(sealed, context=self._context)

    async def get_tokens(self) -> OAuthToken | None:
        """The stored tokens; `expires_in` counts from now (0 once they expired)."""
        async with self.sessions() as session:
            row = await self._row(session)
        plain = self._open(row.tokens) if row is not None else None
        if row is None or plain is None:
            return None
        tokens = OAuthToken.model_validate_json(plain)
        if row.token_expires_at is not None:
            left = (aware(row.token_expires_at) - clock.now()).total_seconds()
            tokens.expires_in = max(int(left), 0)
        return tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        """Store new tokens (after sign-in or refresh), sealed."""
        expires_at = None
        if tokens.expires_in is not None:
            expires_at = clock.now() + timedelta(seconds=int(tokens.expires_in))
        sealed = self.sealer.seal(tokens.model_dump_json(), context=self._context)
        async with write_transaction(self.sessions) as session:
            row = await self._own_row(session)
            row.tokens, row.token_expires_at = sealed, expires_at

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        """The client registration made with the server's authorization server, if any."""
        async with self.sessions() as session:
            row = await self._row(session)
        plain = self._open(row.client_info) if row is not None else None
        return None if plain is None else OAuthClientInformationFull.model_validate_json(plain)

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        """Store the client registration, sealed."""
        sealed = self.sealer.seal(client_info.model_dump_json(), context=self._context)
        async with write_transaction(self.sessions) as session:
            row = await self._own_row(session)
            row.client_info = sealed

    async def _own_row(self, session: AsyncSession) -> ToolkitGrant:
        row = await self._row(session)
        if row is None:
            row = ToolkitGrant(toolkit_id=self.toolkit_id, user_id=self.user_id)
            session.add(row)
        return row

    async def expire_tokens(self) -> None:
        """Mark the stored access token expired, so the next use refreshes it."""
        async with write_transaction(self.sessions) as session:
            row = await self._row(session)
            if row is not None and row.tokens is not None:
                row.token_expires_at = clock.now() - timedelta(seconds=1)


class SignInAuth(OAuthClientProvider):
    """The `mcp` OAuth client for one user and toolkit, with the grant kept in the database."""

    def __init__(
        self,
        *,
        server_url: str,
        callback_url: str,
        storage: GrantStorage,
        on_authorize: OnAuthorize | None = None,
        wait_for_code: WaitForCode | None = None,
    ) -> None:
        self.sign_in_needed = False
        self.storage = storage

        async def redirect(url: str) -> None:
            if on_authorize is None:
                self.sign_in_needed = True
                raise SignInRequired()
            await on_authorize(url)

        async def no_code() -> AuthorizationCodeResult:
            raise SignInRequired()

        metadata = OAuthClientMetadata(
            client_name="Switchboard",
            redirect_uris=[AnyUrl(callback_url)],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        )
        super().__init__(
            server_url,
            metadata,
            storage,
            redirect_handler=redirect,
            callback_handler=wait_for_code or no_code,
        )

    async def _initialize(self) -> None:
        # Tokens read back from storage carry how long they have left: without this the client
        # would treat a stored token as never expiring and never refresh it.
        await super()._initialize()
        tokens = self.context.current_tokens
        if tokens is not None and tokens.expires_in is not None:
            self.context.update_token_expiry(tokens)
