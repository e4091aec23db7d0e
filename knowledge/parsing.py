"""Parsing a file into a structured document, in a worker process bounded in memory and time.

`parse_document` does the work in the calling process; `parse_in_worker` runs it in a process pool
(spawned, so no state of the server is shared) and turns a timeout or a crash into a domain error,
so a hostile file can neither block the event loop nor take the server down.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import resource
import signal
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from types import FrameType

from knowledge.detection import FileType, detect_file_type
from knowledge.documents import ParsedDocument, ParseLimits
from knowledge.errors import (
    CorruptFile,
    FileTooLarge,
    KnowledgeError,
    ParserCrashed,
    ParsingTimedOut,
)
from knowledge.office_files import parse_docx, parse_xlsx
from knowledge.pdf_files import parse_pdf
from knowledge.text_files import parse_csv, parse_html, parse_json, parse_markdown, parse_text

_PARSERS: dict[FileType, Callable[[bytes, ParseLimits], ParsedDocument]] = {
    FileType.PDF: parse_pdf,
    FileType.DOCX: parse_docx,
    FileType.XLSX: parse_xlsx,
    FileType.MARKDOWN: parse_markdown,
    FileType.TEXT: parse_text,
    FileType.HTML: parse_html,
    FileType.CSV: parse_csv,
    FileType.JSON: parse_json,
}
_WORKERS = 2
_TASKS_PER_WORKER = 50
# The worker stops itself at the limit; the parent kills it a little later if it could not.
_KILL_GRACE_SECONDS = 2.0


def parse_document(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """Detect a file's type from its content and parse it into blocks, in this process.

    Raises:
        FileTooLarge: the file is over `limits.max_bytes`.
        UnsupportedFileType: the content is not of a supported type.
        DecompressionBomb: the file inflates past the limits.
        TooManyPages: a PDF with more pages than allowed.
        EncryptedFile: the file needs a password.
        CorruptFile: the file cannot be read.
    """
    if len(data) > limits.max_bytes:
        raise FileTooLarge(f"The file is {len(data):,} bytes; the limit is {limits.max_bytes:,}.")
    file_type = detect_file_type(data)
    try:
        return _PARSERS[file_type](data, limits)
    except KnowledgeError:
        raise
    except MemoryError as exc:
        raise FileTooLarge("Reading the file needs more memory than the library allows.") from exc
    except RecursionError as exc:
        raise CorruptFile("The file is nested too deeply to be read.") from exc
    except Exception as exc:  # a third-party parser fails on bad input in its own ways
        raise CorruptFile(f"The {file_type.value} file cannot be read: {exc}.") from exc


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise ParsingTimedOut()


def _limit_worker_memory(max_bytes: int) -> None:
    """Worker start-up: cap the address space so a runaway parse fails instead of swapping."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = max_bytes if hard == resource.RLIM_INFINITY else min(max_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    signal.signal(signal.SIGALRM, _on_alarm)


def _parse_with_alarm(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """The worker's task: parse, interrupted by an alarm at the time limit."""
    signal.setitimer(signal.ITIMER_REAL, limits.max_seconds)
    try:
        return parse_document(data, limits)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


class _WorkerPool:
    """A lazily started process pool, replaced when one of its workers has to be killed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self._memory = 0

    def get(self, limits: ParseLimits) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._executor is None or self._memory != limits.max_worker_memory_bytes:
                self._discard_locked()
                self._memory = limits.max_worker_memory_bytes
                self._executor = concurrent.futures.ProcessPoolExecutor(
                    max_workers=_WORKERS,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_limit_worker_memory,
                    initargs=(limits.max_worker_memory_bytes,),
                    max_tasks_per_child=_TASKS_PER_WORKER,
                )
            return self._executor

    def discard(self, executor: concurrent.futures.ProcessPoolExecutor) -> None:
        """Kill the workers of `executor` if it is still the current pool."""
        with self._lock:
            if self._executor is executor:
                self._discard_locked()

    def _discard_locked(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        # The pool offers no way to stop a running task: terminate its processes.
        for process in list(executor._processes.values()):
            process.kill()
        executor.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        with self._lock:
            self._discard_locked()


_pool = _WorkerPool()


async def parse_in_worker(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """Parse a file in a worker process, never blocking the event loop.

    A pool broken by another task's crash is replaced and the parse tried once more.

    Raises:
        ParsingTimedOut: the parse took longer than `limits.max_seconds`.
        ParserCrashed: the worker process died while reading the file.
        FileTooLarge, UnsupportedFileType, DecompressionBomb, TooManyPages, EncryptedFile,
            CorruptFile: as `parse_document`.
    """
    for attempt in range(2):
        executor = _pool.get(limits)
        try:
            future = executor.submit(_parse_with_alarm, data, limits)
        except BrokenProcessPool:
            _pool.discard(executor)
            continue
        try:
            return await asyncio.wait_for(
                asyncio.wrap_future(future), limits.max_seconds + _KILL_GRACE_SECONDS
            )
        except TimeoutError:
            _pool.discard(executor)
            raise ParsingTimedOut() from None
        except BrokenProcessPool:
            _pool.discard(executor)
            if attempt == 1:
                raise ParserCrashed() from None
    raise ParserCrashed()


def shutdown_parsing_workers() -> None:
    """Stop the worker processes (at application shutdown; they restart on the next parse)."""
    _pool.shutdown()
