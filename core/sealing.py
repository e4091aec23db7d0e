"""Secrets at rest: the one AES-GCM scheme of Switchboard, and its keys.

`Cipher` is the scheme: AES-256-GCM, a fresh 12-byte random nonce written before the ciphertext,
and a context (such as the row id) as associated data, so a value moved to another row does not
open. `Sealer` writes it as text (`v1:` + base64url), for provider credentials here and toolkit
credentials (`toolkits.crypto`); the assistant keyring (`assistant.assistants.keyring`) stores
the raw bytes beside the id of the key that sealed them.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import InvalidSettings

NONCE_BYTES = 12
KEY_BYTES = 32
PREFIX = "v1:"


class Unopenable(Exception):
    """The value does not decrypt: altered, moved to another context or sealed under another key."""


class SealedSecretUnreadable(InvalidSettings):
    """A stored provider credential cannot be decrypted: the provider secret key changed."""

    code = "sealed_secret_unreadable"


def load_key(configured: str, data_dir: Path, *, file_name: str, setting: str) -> bytes:
    """The 32-byte key: `configured` (base64) if set, else a key file in `data_dir`, made once.

    Raises:
        InvalidSettings: the configured key or the key file is not 32 bytes of base64.
    """
    if configured:
        return decode_key(configured, f"{setting} must be 32 bytes in base64.")
    path = data_dir / file_name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker made it first
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(encode_key(new_key()).encode())
    return decode_key(path.read_text().strip(), f"The key file {path} is damaged.")


def new_key() -> bytes:
    """A fresh random 32-byte key."""
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def encode_key(key: bytes) -> str:
    """A key as the base64 text `decode_key` reads."""
    return base64.urlsafe_b64encode(key).decode()


def decode_key(text: str, problem: str) -> bytes:
    """A 32-byte key from its base64 text.

    Raises:
        InvalidSettings: `problem` (the text is not 32 bytes of base64).
    """
    try:
        key = base64.urlsafe_b64decode(text.encode())
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise InvalidSettings(problem)
    return key


class Cipher:
    """AES-256-GCM under one key: nonce + ciphertext, bound to a context as associated data."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plain: bytes, *, context: bytes) -> bytes:
        """Encrypt `plain` under a fresh random nonce; returns the nonce, then the ciphertext."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plain, context)

    def open(self, blob: bytes, *, context: bytes) -> bytes:
        """Decrypt a value made by `seal` with the same context.

        Raises:
            Unopenable: wrong key, wrong context, or a damaged value.
        """
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context)
        except (InvalidTag, ValueError) as exc:
            raise Unopenable() from exc


class Sealer:
    """Encrypts and decrypts short strings with the `Cipher`, as text, each bound to a context."""

    def __init__(self, key: bytes) -> None:
        self._cipher = Cipher(key)

    def seal(self, plain: str, *, context: str) -> str:
        """Encrypt `plain`, bound to `context` (such as the row id) as associated data."""
        sealed = self._cipher.seal(plain.encode(), context=context.encode())
        return PREFIX + base64.urlsafe_b64encode(sealed).decode()

    def open(self, sealed: str, *, context: str) -> str:
        """Decrypt a value made by `seal` with the same context.

        Raises:
            SealedSecretUnreadable: wrong key, wrong context or a damaged value.
        """
        try:
            raw = base64.urlsafe_b64decode(sealed.removeprefix(PREFIX).encode())
            plain = self._cipher.open(raw, context=context.encode())
        except (Unopenable, binascii.Error, ValueError) as exc:
            raise SealedSecretUnreadable() from exc
        return plain.decode()
