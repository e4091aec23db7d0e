"""Stored file bytes, addressed by content: a file's key is its SHA-256, so names never touch disk.

A key is 64 lowercase hex digits and becomes `root/ab/cd/<key>`; anything else is refused before
a path is built, so no stored name can escape the storage root.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from knowledge.errors import KnowledgeError

_KEY = re.compile(r"^[0-9a-f]{64}$")


class StoredFileMissing(KnowledgeError):
    """The file's stored content is missing; upload it again."""

    code = "stored_file_missing"


def content_key(data: bytes) -> str:
    """The key of some bytes: their SHA-256 in hex."""
    return hashlib.sha256(data).hexdigest()


class FileStorage:
    """Content-addressed files under one root folder (blocking: call from a thread)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path_of(self, key: str) -> Path:
        """Where a key's bytes live.

        Raises:
            ValueError: the key is not a SHA-256 hex digest.
        """
        if not _KEY.fullmatch(key):
            raise ValueError("A storage key is a SHA-256 hex digest.")
        path = (self.root / key[:2] / key[2:4] / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError("A storage key must stay inside the storage root.")
        return path

    def put(self, data: bytes) -> str:
        """Store bytes (once, however often they are put); returns their key."""
        key = content_key(data)
        path = self.path_of(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)  # atomic: readers see all the bytes or none
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return key

    def read(self, key: str) -> bytes:
        """The bytes stored under a key.

        Raises:
            StoredFileMissing: nothing is stored under the key.
        """
        try:
            return self.path_of(key).read_bytes()
        except (FileNotFoundError, ValueError):
            raise StoredFileMissing(key=key) from None

    def delete(self, key: str) -> None:
        """Forget a key's bytes (the caller has checked no file still uses them)."""
        self.path_of(key).unlink(missing_ok=True)
