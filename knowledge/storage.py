"""Stored file bytes, addressed by content: a file's key is its SHA-256, so names never touch disk.

A key is 64 lowercase hex digits and becomes `root/ab/cd/<key>`; anything else is refused before
a path is built, so no stored name can escape the storage root.

Bytes are never unlinked when a file is deleted: `sweep` removes them later, once no row holds
their key and they were not put for `grace_seconds` (`put` of bytes already there refreshes
their time). An upload that reuses bytes between a delete's check and its unlink would
otherwise commit a row whose bytes are gone, with several processes as well as in one.

With several processes on one storage folder, one sweeps at a time and one in each interval
(`sweep_turn`): the others would walk the same folder for nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from knowledge.errors import KnowledgeError

_KEY = re.compile(r"^[0-9a-f]{64}$")
_ASIDE = re.compile(r"^\.sweep-([0-9a-f]{64})-[0-9a-f]+$")
_BATCH = 500  # keys looked up in one query
SWEEP_LOCK = ".sweep-lock"  # in the root; holds when the last sweep ended (time.time())
TURN_SHARE = 0.9  # of the interval since the last sweep ended, before the next is due

InUse = Callable[[Sequence[str]], Awaitable[set[str]]]
"""Which of these keys a committed row holds (a fresh read of the database)."""


class StoredFileMissing(KnowledgeError):
    """The file's stored content is missing; upload it again."""

    code = "stored_file_missing"


def content_key(data: bytes) -> str:
    """The key of some bytes: their SHA-256 in hex."""
    return hashlib.sha256(data).hexdigest()


async def sizes_by_key(contents: Sequence[bytes]) -> dict[str, int]:
    """Each content's size by its key, hashed in a thread (an upload may be large: hashing it
    on the event loop would hold every other request meanwhile)."""
    keys = await asyncio.to_thread(lambda: [content_key(data) for data in contents])
    return {key: len(data) for key, data in zip(keys, contents, strict=True)}


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
        """Store bytes (once, however often they are put); returns their key.

        Bytes already stored get a fresh modification time, so no sweep removes them before the
        row that uses them has committed (see `discard`).
        """
        key = content_key(data)
        path = self.path_of(key)
        try:
            os.utime(path)
            return key
        except FileNotFoundError:
            pass
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

    def touch(self, keys: Sequence[str]) -> None:
        """Give these keys' bytes a fresh time, as `put` would (a writer whose rows have not
        committed yet keeps them from the sweep).

        Raises:
            StoredFileMissing: a key's bytes are gone (a sweep took them).
        """
        for key in keys:
            try:
                os.utime(self.path_of(key))
            except FileNotFoundError:
                raise StoredFileMissing(key=key) from None

    def stale_keys(self, cutoff: float) -> list[str]:
        """Keys whose bytes were not put since `cutoff` (a `time.time()`); on the way, bytes a
        killed sweep left aside go back, and uploads a killed writer left half done go."""
        stale = []
        for folder in self.root.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]"):
            for entry in os.scandir(folder):
                try:
                    moved = _ASIDE.fullmatch(entry.name)
                    if moved:
                        os.replace(entry.path, self.path_of(moved[1]))
                    elif entry.name.startswith(".upload-"):
                        if entry.stat().st_mtime <= cutoff:
                            os.unlink(entry.path)
                    elif _KEY.fullmatch(entry.name) and entry.stat().st_mtime <= cutoff:
                        stale.append(entry.name)
                except FileNotFoundError:
                    continue  # another process's sweep or upload got there first
        return stale

    def discard(self, key: str, *, cutoff: float) -> bool:
        """Remove a key's bytes unless they were put since `cutoff`; True when removed.

        The caller has checked that no committed row holds the key. The bytes are moved aside
        first: a `put` before the move refreshed their time, so they go back (its row may not
        have committed yet); a `put` after it finds nothing and writes them again.
        """
        path = self.path_of(key)
        aside = path.with_name(f".sweep-{key}-{secrets.token_hex(4)}")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return False
        try:
            if aside.stat().st_mtime > cutoff:
                os.replace(aside, path)
                return False
            aside.unlink()
        except FileNotFoundError:  # another sweep put them back meanwhile (`stale_keys`)
            return False
        return True


async def sweep(storage: FileStorage, *, in_use: InUse, grace_seconds: float) -> int:
    """Remove the bytes no committed row holds and nobody put for `grace_seconds`; how many.

    The rows are read before each removal and the time checked after it (`discard`), so bytes
    an upload reuses are kept whether its row commits before the read or after.
    """
    cutoff = time.time() - grace_seconds
    stale = await asyncio.to_thread(storage.stale_keys, cutoff)
    removed = 0
    for start in range(0, len(stale), _BATCH):
        batch = stale[start : start + _BATCH]
        held = await in_use(batch)
        for key in batch:
            if key not in held and await asyncio.to_thread(storage.discard, key, cutoff=cutoff):
                removed += 1
    return removed


@contextlib.asynccontextmanager
async def sweep_turn(root: Path, *, every: float) -> AsyncIterator[bool]:
    """Whether this process sweeps the storage under `root` now: True while it holds the
    folder's sweep lock (`flock` on `root/.sweep-lock`: one process at a time, freed by the
    kernel if it dies) and no sweep ended in the last 90% of `every` seconds, so of processes
    each waking every `every` seconds, at whatever offsets, one sweeps in each interval (and
    the one that swept finds the next due when it wakes). A sweep that ends without an error
    records its time as it lets go."""
    handle = await asyncio.to_thread(_claim, root, every * TURN_SHARE)
    if handle is None:
        yield False
        return
    try:
        yield True
        await asyncio.to_thread(_record, handle)
    finally:
        handle.close()  # lets go of the lock


def _claim(root: Path, recent: float) -> BinaryIO | None:
    """The lock file, locked, if no other process holds it and no sweep ended within `recent`
    seconds; else None."""
    root.mkdir(parents=True, exist_ok=True)
    handle = open(root / SWEEP_LOCK, "a+b")  # noqa: SIM115 (held open while the sweep runs)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.seek(0)
        try:
            last = float(handle.read() or 0)
        except ValueError:  # not a time (a torn write): as if none ended yet
            last = 0.0
    except BlockingIOError:  # another process sweeps now
        handle.close()
        return None
    except BaseException:
        handle.close()
        raise
    if time.time() - last < recent:
        handle.close()
        return None
    return handle


def _record(handle: BinaryIO) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(f"{time.time():.3f}\n".encode("ascii"))
    handle.flush()
