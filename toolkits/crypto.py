"""Toolkit credentials at rest: AES-GCM under a key from settings or a key file in the data dir."""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import InvalidSettings

KEY_FILE = "toolkit-secret.key"
NONCE_BYTES = 12
PREFIX = "v1:"


class SealedValueUnreadable(InvalidSettings):
    """A stored credential cannot be decrypted: the toolkit secret key changed."""

    code = "sealed_value_unreadable"


def load_key(configured: str, data_dir: Path) -> bytes:
    """The 32-byte key: SWITCHBOARD_TOOLKIT_SECRET_KEY (base64) if set, else a key file, made once.

    Raises:
        InvalidSettings: the configured key is not 32 bytes of base64.
    """
    if configured:
        try:
            key = base64.urlsafe_b64decode(configured.encode())
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise InvalidSettings("SWITCHBOARD_TOOLKIT_SECRET_KEY must be 32 bytes in base64.")
        return key
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)))
    return load_key(path.read_text().strip(), data_dir)


class Sealer:
    """Encrypts and decrypts short strings (header values) with AES-GCM."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plain: str, *, context: str = "") -> str:
        """Encrypt `plain`, bound to `context` (such as the toolkit id) as associated data."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plain.encode(), context.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, *, context: str = "") -> str:
        """Decrypt a value made by `seal` with the same context.

        Raises:
            SealedValueUnreadable: wrong key, wrong context or a damaged value.
        """
        try:
            raw = base64.urlsafe_b64decode(sealed.removeprefix(PREFIX).encode())
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise SealedValueUnreadable() from exc
        return plain.decode()
