"""Keeping what lives for the whole process out of the cyclic garbage collector's full passes.

A full (generation 2) pass walks every tracked object. A served process holds about a million of
them from start-up (FastAPI's models, the migrations, LiteLLM, tiktoken's tables), and a full pass
over them held the event loop for 150-210 ms: every request waiting at that moment waited that
long (seen as `/api/health` outliers in tests/ops/test_hostile_load.py). Objects frozen with
`gc.freeze()` are never walked again, so a full pass only walks what was made since.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc


def freeze_long_lived() -> None:
    """Move every object alive now into the collector's permanent generation.

    Call it when a burst of long-lived objects was just made (start-up done, a large library
    imported). It is cheap (no walk); what is garbage among them is kept, a one-time cost.
    """
    gc.freeze()


def return_free_memory() -> None:
    """Collect garbage, then hand the C heap's free pages back to the system (glibc's
    `malloc_trim`; elsewhere only the collection).

    Call it once a burst of temporary objects is gone (the warm start's import and rehearsal):
    glibc otherwise keeps freed memory mapped, counted in the process's resident size.
    """
    gc.collect()
    if _libc is not None:
        _libc.malloc_trim(0)


TRIM_SECONDS = 30.0


async def trim_forever(seconds: float = TRIM_SECONDS) -> None:
    """Hand the C heap's free pages back to the system every `seconds`, in a worker thread.

    Under load glibc keeps what requests freed mapped in its arenas: a served process's resident
    size rose ~40 MB over 500 streams that its Python objects grew by 0.4 MB, and one
    `malloc_trim` gave all of it back (bench/memtrace.py). No collection here: a full pass
    would hold the event loop.
    """
    if _libc is None:
        return
    while True:
        await asyncio.sleep(seconds)
        await asyncio.to_thread(_libc.malloc_trim, 0)


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (musl, macOS)
        return None


_libc = _glibc()
