"""Secrets at rest for core: AES-GCM under a key from settings or a key file in the data dir.

The same primitive as the toolkits' and assistants' sealing, kept in core so stored provider
credentials can be sealed by the kernel itself.
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
PREFIX = "v1:"


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
                handle.write(base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)))
    return decode_key(path.read_text().strip(), f"The key file {path} is damaged.")


def decode_key(text: str, problem: str) -> bytes:
    """A 32-byte key from its base64 text.

    Raises:
        InvalidSettings: `problem` (the text is not 32 bytes of base64).
    """
    try:
        key = base64.urlsafe_b64decode(text.encode())
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise InvalidSettings(problem)
    return key


class Sealer:
    """Encrypts and decrypts short strings with AES-GCM, each bound to a context."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plain: str, *, context: str) -> str:
        """Encrypt `plain`, bound to `context` (such as the row id) as associated data."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plain.encode(), context.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, *, context: str) -> str:
        """Decrypt a value made by `seal` with the same context.

        Raises:
            SealedSecretUnreadable: wrong key, wrong context or a damaged value.
        """
        try:
            raw = base64.urlsafe_b64decode(sealed.removeprefix(PREFIX).encode())
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise SealedSecretUnreadable() from exc
        return plain.decode()
