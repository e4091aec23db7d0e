"""Password hashing with Argon2id, off the event loop in a small pool of its own.

Argon2 is built to be slow (~120 ms and 64 MiB per hash here). argon2-cffi releases the GIL while
it works, so running it in threads keeps every other request moving; the pool is bounded
(HASH_THREADS) so a burst of logins queues instead of taking every core, and its threads run at a
lower priority (HASH_NICENESS; Linux sets niceness per thread, and Argon2's lane threads inherit
it), so on a busy machine the event loop gets the CPU first.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from argon2 import Parameters, PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY

from core import password_policy

HASH_THREADS = 2
HASH_NICENESS = 19
_T = TypeVar("_T")
_parameters = RFC_9106_LOW_MEMORY  # argon2-cffi's default
_hasher = PasswordHasher.from_parameters(_parameters)


def _lower_priority() -> None:
    # Best effort: where niceness is per process (not Linux), leave the thread as it is.
    if hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICENESS)


_pool = ThreadPoolExecutor(
    max_workers=HASH_THREADS, thread_name_prefix="argon2", initializer=_lower_priority
)
# Verifying against this keeps a login for an unknown user as slow as for a known one.
_DUMMY_HASH = _hasher.hash("switchboard-timing-equaliser")


def use_parameters(parameters: Parameters) -> Parameters:
    """Hash new passwords (and the unknown-user stand-in) with these Argon2 parameters from now
    on; returns the ones they replace. The test suite hashes with `argon2.profiles.CHEAPEST`: at
    the default every user a test makes would cost ~120 ms of CPU. A stored hash carries its own
    parameters, so hashes made before keep verifying."""
    global _parameters, _hasher, _DUMMY_HASH
    replaced, _parameters = _parameters, parameters
    _hasher = PasswordHasher.from_parameters(parameters)
    _DUMMY_HASH = _hasher.hash("switchboard-timing-equaliser")
    return replaced


async def hash_new(password: str, *, username: str = "") -> str:
    """The Argon2id hash of a new password, once it passes the policy (`core.password_policy`).

    Raises:
        WeakPassword: the password is too short, common or holds control characters.
    """
    return await _off_loop(partial(_check_and_hash, password, username))


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether a password matches a hash (the same work when there is no hash)."""
    return await _off_loop(partial(_verify, password_hash, password))


def _check_and_hash(password: str, username: str) -> str:
    password_policy.check(password, username=username)
    return _hasher.hash(password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def _off_loop(work: partial[_T]) -> _T:
    return await asyncio.get_running_loop().run_in_executor(_pool, work)
