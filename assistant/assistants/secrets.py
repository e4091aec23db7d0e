"""Secrets of an assistant: values sealed with AES-GCM, never shown, opened only for a tool call.

The associated data binds each ciphertext to its assistant and name, so a row copied to another
assistant or renamed fails to decrypt. No function here logs, returns or formats a value except
`reveal`, which a tool call uses at call time.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.assistants import keyring as keyrings
from assistant.assistants.keyring import Keyring
from assistant.errors import SecretExists, SecretNotFound, SecretUnreadable
from assistant.models import Secret
from core import audit, clock
from core.database import write_transaction

ROTATE_BATCH = 200


def context_of(assistant_id: str, name: str) -> bytes:
    """The associated data a secret's ciphertext is bound to."""
    return b"switchboard-assistant-secret\0" + assistant_id.encode() + b"\0" + name.encode()


async def list_all(session: AsyncSession, *, assistant_id: str) -> list[Secret]:
    """An assistant's secrets by name (the rows; their values stay sealed)."""
    rows = await session.scalars(
        select(Secret).where(Secret.assistant_id == assistant_id).order_by(Secret.name)
    )
    return list(rows)


async def get(session: AsyncSession, *, assistant_id: str, name: str) -> Secret:
    """A secret of an assistant by name.

    Raises:
        SecretNotFound: the assistant has no secret of that name.
    """
    secret = await session.scalar(
        select(Secret).where(Secret.assistant_id == assistant_id, Secret.name == name)
    )
    if secret is None:
        raise SecretNotFound(name=name)
    return secret


async def create(
    session: AsyncSession,
    *,
    ring: Keyring,
    assistant_id: str,
    name: str,
    value: str,
    description: str = "",
    actor_id: str | None = None,
) -> Secret:
    """Store a new secret (audited as `secret.changed` by `actor_id`, never with its value).

    Raises:
        SecretExists: the assistant has a secret of that name.
    """
    existing = await session.scalar(
        select(Secret.id).where(Secret.assistant_id == assistant_id, Secret.name == name)
    )
    if existing is not None:
        raise SecretExists(name=name)
    key_id, blob = ring.seal(value, context=context_of(assistant_id, name))
    secret = Secret(
        assistant_id=assistant_id,
        name=name,
        description=description,
        key_id=key_id,
        ciphertext=blob,
    )
    session.add(secret)
    await session.flush()
    await _audit(session, secret, actor_id, "created")
    return secret


async def _audit(session: AsyncSession, secret: Secret, actor_id: str | None, what: str) -> None:
    await audit.record(
        session,
        kind="secret.changed",
        actor_id=actor_id,
        subject_type="assistant_secret",
        subject_id=secret.id,
        details={"assistantId": secret.assistant_id, "secretName": secret.name, "change": what},
    )


async def put(
    session: AsyncSession,
    *,
    ring: Keyring,
    assistant_id: str,
    name: str,
    value: str,
    description: str | None = None,
    actor_id: str | None = None,
) -> tuple[Secret, bool]:
    """Set a secret's value (and description), creating it when missing; True when created."""
    try:
        secret = await get(session, assistant_id=assistant_id, name=name)
    except SecretNotFound:
        created = await create(
            session,
            ring=ring,
            assistant_id=assistant_id,
            name=name,
            value=value,
            description=description or "",
            actor_id=actor_id,
        )
        return created, True
    secret.key_id, secret.ciphertext = ring.seal(value, context=context_of(assistant_id, name))
    if description is not None:
        secret.description = description
    secret.updated_at = clock.now()
    await session.flush()
    await _audit(session, secret, actor_id, "updated")
    return secret, False


async def delete(session: AsyncSession, *, secret: Secret, actor_id: str | None = None) -> None:
    """Remove a secret."""
    await _audit(session, secret, actor_id, "deleted")
    await session.delete(secret)
    await session.flush()


def open_value(ring: Keyring, secret: Secret) -> str:
    """A secret's plaintext.

    Raises:
        SecretUnreadable: its key is gone, or the row was altered or moved.
    """
    context = context_of(secret.assistant_id, secret.name)
    try:
        return ring.open(secret.key_id, secret.ciphertext, context=context)
    except keyrings.KeyUnknown:
        if ring.path is not None and ring.path.exists():
            # Another process (`switchboard secrets rotate-key`) may have added the key.
            fresh = keyrings.load(ring.path.parent)
            ring.keys.update(fresh.keys)
            if secret.key_id in ring.keys:
                return open_value(ring, secret)
        raise SecretUnreadable(name=secret.name) from None
    except keyrings.Unsealable:
        raise SecretUnreadable(name=secret.name) from None


async def reveal(session: AsyncSession, *, ring: Keyring, assistant_id: str, name: str) -> str:
    """The value of a secret, for the one tool call that names it; marks it used.

    Raises:
        SecretNotFound: the assistant has no secret of that name.
        SecretUnreadable: it cannot be decrypted.
    """
    secret = await get(session, assistant_id=assistant_id, name=name)
    value = open_value(ring, secret)
    secret.last_used_at = clock.now()
    await session.flush()
    return value


async def rotate(factory: async_sessionmaker[AsyncSession], *, ring: Keyring) -> int:
    """Make a new key current and re-encrypt every secret under it, in batches; returns the count.

    Old keys stay in the keyring, so a value not yet re-encrypted stays readable throughout.

    Raises:
        SecretUnreadable: a stored secret cannot be decrypted with any key (nothing after it
            is re-encrypted; earlier batches are).
    """
    keyrings.add_key(ring)
    done = 0
    last_id = ""
    while True:
        async with write_transaction(factory) as session:
            batch = list(
                await session.scalars(
                    select(Secret)
                    .where(Secret.id > last_id)
                    .order_by(Secret.id)
                    .limit(ROTATE_BATCH)
                )
            )
            for secret in batch:
                if secret.key_id != ring.current:
                    value = open_value(ring, secret)
                    context = context_of(secret.assistant_id, secret.name)
                    secret.key_id, secret.ciphertext = ring.seal(value, context=context)
        if not batch:
            return done
        done += len(batch)
        last_id = batch[-1].id
