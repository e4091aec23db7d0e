"""The keys secrets are sealed with: AES-GCM keys by key id, one of them current, old ones readable.

The keyring lives in a JSON file in the data directory (created with a fresh key on first use, mode
0600). A key from settings (`SWITCHBOARD_SECRETS_KEY`) joins it and is current until a rotation
writes a newer one to the file. Each sealed value names its key id, so keys can rotate.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from core import sealing
from core.errors import InvalidSettings

KEYRING_FILE = "assistant-secrets.keyring.json"


class KeyUnknown(Exception):
    """The sealed value names a key id the keyring does not hold."""


class Unsealable(Exception):
    """The sealed value does not decrypt: altered, moved, or sealed under another key."""


@dataclass(kw_only=True)
class Keyring:
    """Keys of core's AES-GCM `Cipher` by id; `current` seals, any of them opens."""

    keys: dict[str, bytes]
    current: str
    path: Path | None = None
    _ciphers: dict[str, sealing.Cipher] = field(default_factory=dict, repr=False)

    def seal(self, plaintext: str, *, context: bytes) -> tuple[str, bytes]:
        """Encrypt under the current key, bound to `context`; returns (key id, nonce+ciphertext)."""
        return self.current, self._cipher(self.current).seal(plaintext.encode(), context=context)

    def open(self, key_id: str, blob: bytes, *, context: bytes) -> str:
        """Decrypt a value sealed under `key_id` with the same `context`.

        Raises:
            KeyUnknown: no key of that id.
            Unsealable: the value or its context was altered.
        """
        if key_id not in self.keys:
            raise KeyUnknown(key_id)
        try:
            plain = self._cipher(key_id).open(blob, context=context)
        except sealing.Unopenable:
            raise Unsealable(key_id) from None
        return plain.decode()

    def _cipher(self, key_id: str) -> sealing.Cipher:
        if key_id not in self._ciphers:
            self._ciphers[key_id] = sealing.Cipher(self.keys[key_id])
        return self._ciphers[key_id]


def key_id_of(key: bytes) -> str:
    """A short public id of a key (a hash prefix, never the key)."""
    return "k" + hashlib.sha256(b"switchboard-keyring\0" + key).hexdigest()[:15]


def load(data_dir: Path, configured: str = "") -> Keyring:
    """The keyring of a data directory, made with a fresh key when there is none.

    Raises:
        InvalidSettings: the configured key is not 32 bytes of base64, or the file is damaged.
    """
    path = data_dir / KEYRING_FILE
    keys: dict[str, bytes] = {}
    current = ""
    if path.exists():
        keys, current = _read(path)
    if configured:
        key = sealing.decode_key(configured, "SWITCHBOARD_SECRETS_KEY must be 32 bytes in base64.")
        keys[key_id_of(key)] = key
        current = current or key_id_of(key)
    if not keys:
        key = sealing.new_key()
        keys, current = {key_id_of(key): key}, key_id_of(key)
        _write(path, keys, current)
    return Keyring(keys=keys, current=current, path=path)


def add_key(ring: Keyring) -> str:
    """Make a new key current and save the keyring file; old keys stay readable. Returns its id.

    Raises:
        InvalidSettings: the keyring has no file to save to.
    """
    if ring.path is None:
        raise InvalidSettings("This keyring has no file to save a new key to.")
    key = sealing.new_key()
    ring.keys[key_id_of(key)] = key
    ring.current = key_id_of(key)
    _write(ring.path, ring.keys, ring.current)
    return ring.current


def _read(path: Path) -> tuple[dict[str, bytes], str]:
    damaged = f"The secrets keyring {path} is damaged; restore it from a backup."
    try:
        raw = json.loads(path.read_text())
        keys = {str(k): sealing.decode_key(str(v), damaged) for k, v in dict(raw["keys"]).items()}
        current = str(raw["current"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidSettings(damaged) from exc
    if current not in keys:
        raise InvalidSettings(damaged)
    return keys, current


def _write(path: Path, keys: dict[str, bytes], current: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "current": current,
        "keys": {k: sealing.encode_key(v) for k, v in keys.items()},
    }
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(body, handle)
    os.replace(temporary, path)
