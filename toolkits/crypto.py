"""Toolkit credentials at rest: core's AES-GCM sealing under the toolkit secret key."""

from __future__ import annotations

from pathlib import Path

from core import sealing
from core.errors import InvalidSettings

KEY_FILE = "toolkit-secret.key"


class SealedValueUnreadable(InvalidSettings):
    """A stored credential cannot be decrypted: the toolkit secret key changed."""

    code = "sealed_value_unreadable"


def load_key(configured: str, data_dir: Path) -> bytes:
    """The 32-byte key: SWITCHBOARD_TOOLKIT_SECRET_KEY (base64) if set, else a key file, made once.

    Raises:
        InvalidSettings: the configured key is not 32 bytes of base64.
    """
    return sealing.load_key(
        configured, data_dir, file_name=KEY_FILE, setting="SWITCHBOARD_TOOLKIT_SECRET_KEY"
    )


class Sealer(sealing.Sealer):
    """Encrypts and decrypts short strings (header values, OAuth grants) with AES-GCM."""

    def seal(self, plain: str, *, context: str = "") -> str:
        """Encrypt `plain`, bound to `context` (such as the toolkit id) as associated data."""
        return super().seal(plain, context=context)

    def open(self, sealed: str, *, context: str = "") -> str:
        """Decrypt a value made by `seal` with the same context.

        Raises:
            SealedValueUnreadable: wrong key, wrong context or a damaged value.
        """
        try:
            return super().open(sealed, context=context)
        except sealing.SealedSecretUnreadable as exc:
            raise SealedValueUnreadable() from exc
