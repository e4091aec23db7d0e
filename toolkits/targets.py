"""Where and how to connect to a toolkit for one user: headers, OAuth grant, or a command."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from toolkits.crypto import Sealer
from toolkits.errors import SecretMissing
from toolkits.mcp_client import ConnectionFailed, HttpTarget, StdioTarget, Target
from toolkits.models import Toolkit
from toolkits.oauth import GrantStorage, OnAuthorize, SignInAuth, WaitForCode

DEFAULT_CALLBACK = "http://127.0.0.1:8000/api/toolkits/oauth/callback"
NO_OAUTH = (
    "The server refused the request and offers no OAuth sign-in: check the toolkit's headers."
)


class SecretSource(Protocol):
    """Assistant secrets by name, for one toolkit, as the user may have them sent (the assistant
    package provides it: only to toolkits the bound assistant carries)."""

    async def lookup(self, *, user_id: str, toolkit: Toolkit, name: str) -> str | None:
        """The secret's value for this toolkit, or None when it may not have one."""
        ...


class NoSecrets:
    """No secret store yet: every secret reference is reported as missing."""

    async def lookup(self, *, user_id: str, toolkit: Toolkit, name: str) -> str | None:
        """Always None."""
        return None


@dataclass(frozen=True, kw_only=True)
class Targets:
    """Builds connection targets from a toolkit's stored settings."""

    sessions: async_sessionmaker[AsyncSession]
    sealer: Sealer
    secrets: SecretSource
    callback_url: str = DEFAULT_CALLBACK

    async def target_for(
        self,
        toolkit: Toolkit,
        user_id: str,
        *,
        on_authorize: OnAuthorize | None = None,
        wait_for_code: WaitForCode | None = None,
    ) -> Target:
        """Where and how to connect for a user: headers resolved from secrets or decrypted, and
        the user's OAuth grant for servers that ask for one (a sign-in only with the handlers).

        Raises:
            SecretMissing: a header takes an assistant secret that is not available here (no
                assistant bound, the user may not use it, it does not carry this toolkit, or it
                has no secret of that name).
        """
        if toolkit.kind == "mcp_stdio":
            return StdioTarget(tuple(toolkit.command or ()), key=toolkit.id)
        headers = await self.headers_for(toolkit, user_id, toolkit.headers or {})
        storage = GrantStorage(self.sessions, self.sealer, toolkit_id=toolkit.id, user_id=user_id)
        auth = SignInAuth(
            server_url=toolkit.url or "",
            callback_url=self.callback_url,
            storage=storage,
            on_authorize=on_authorize,
            wait_for_code=wait_for_code,
        )
        return HttpTarget(toolkit.url or "", headers, auth)

    async def headers_for(
        self, toolkit: Toolkit, user_id: str, stored_headers: Mapping[str, Mapping[str, str]]
    ) -> dict[str, str]:
        """Stored headers (the toolkit's, or a custom tool's) with their values: sealed ones
        decrypted, secret ones resolved for the user's call.

        Raises:
            SecretMissing: as for `target_for`.
        """
        headers: dict[str, str] = {}
        for name, stored in stored_headers.items():
            if "secret" in stored:
                value = await self.secrets.lookup(
                    user_id=user_id, toolkit=toolkit, name=stored["secret"]
                )
                if value is None:
                    raise SecretMissing(
                        f"The header {name!r} takes the assistant secret {stored['secret']!r}: "
                        "it needs an assistant that carries this toolkit and has that secret "
                        "(outside a chat, the assistantId of one you may edit).",
                        secret=stored["secret"],
                        header=name,
                    )
                headers[name] = value
            else:
                headers[name] = self.sealer.open(stored["sealed"], context=toolkit.id)
        return headers


def asked_to_sign_in(target: Target) -> bool:
    """Whether the last connection with this target stopped because the user must sign in."""
    return (
        isinstance(target, HttpTarget)
        and isinstance(target.auth, SignInAuth)
        and (target.auth.sign_in_needed)
    )


def explain(failure: ConnectionFailed, target: Target) -> str:
    """The reason to show for a failed connection, clearer when OAuth was tried and not offered."""
    auth = target.auth if isinstance(target, HttpTarget) else None
    if isinstance(auth, SignInAuth) and failure.reason.startswith("Signing in with the server"):
        context = auth.context
        if context.protected_resource_metadata is None and context.oauth_metadata is None:
            return NO_OAUTH
    return failure.reason
