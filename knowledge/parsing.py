"""Parsing a file into a structured document, in a worker process bounded in memory and time.

`parse_document` does the work in the calling process; `parse_in_worker` runs it in a process pool
(spawned, so no state of the server is shared) and turns a timeout or a crash into a domain error,
so a hostile file can neither block the event loop nor take the server down.
"""

from __future__ import annotations

import importlib
import resource
import signal
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from types import FrameType

from core.worker_pool import KILL_GRACE_SECONDS, WorkerPool
from knowledge.detection import FileType, detect_file_type
from knowledge.documents import ParsedDocument, ParseLimits
from knowledge.errors import (
    CorruptFile,
    FileTooLarge,
    KnowledgeError,
    ParserCrashed,
    ParsingTimedOut,
)

# Each format's parser is imported on first use (pypdf, openpyxl, python-docx, BeautifulSoup with
# lxml: ~25 MB resident), so only the parsing workers load them, never the server at start-up.
_PARSERS: dict[FileType, tuple[str, str]] = {
    FileType.PDF: ("knowledge.pdf_files", "parse_pdf"),
    FileType.DOCX: ("knowledge.office_files", "parse_docx"),
    FileType.XLSX: ("knowledge.office_files", "parse_xlsx"),
    FileType.MARKDOWN: ("knowledge.text_files", "parse_markdown"),
    FileType.TEXT: ("knowledge.text_files", "parse_text"),
    FileType.HTML: ("knowledge.text_files", "parse_html"),
    FileType.CSV: ("knowledge.text_files", "parse_csv"),
    FileType.JSON: ("knowledge.text_files", "parse_json"),
}
# Parsers may leak or fragment memory on hostile files: a worker is replaced after this many.
_TASKS_PER_WORKER = 50


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
        return _parser(file_type)(data, limits)
    except KnowledgeError:
        raise
    except MemoryError as exc:
        raise FileTooLarge("Reading the file needs more memory than the library allows.") from exc
    except RecursionError as exc:
        raise CorruptFile("The file is nested too deeply to be read.") from exc
    except Exception as exc:  # a third-party parser fails on bad input in its own ways
        raise CorruptFile(f"The {file_type.value} file cannot be read: {exc}.") from exc


def _parser(file_type: FileType) -> Callable[[bytes, ParseLimits], ParsedDocument]:
    module, name = _PARSERS[file_type]
    parser: Callable[[bytes, ParseLimits], ParsedDocument] = getattr(
        importlib.import_module(module), name
    )
    return parser


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


_pool = WorkerPool(
    ParseLimits().workers,
    _limit_worker_memory,
    (ParseLimits().max_worker_memory_bytes,),
    tasks_per_worker=_TASKS_PER_WORKER,
)


async def parse_in_worker(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """Parse a file in a worker process, never blocking the event loop.

    A pool broken by another task's crash is replaced and the parse tried once more.

    Raises:
        ParsingTimedOut: the parse took longer than `limits.max_seconds`.
        ParserCrashed: the worker process died while reading the file.
        FileTooLarge, UnsupportedFileType, DecompressionBomb, TooManyPages, EncryptedFile,
            CorruptFile: as `parse_document`.
    """
    _pool.configure(limits.workers, (limits.max_worker_memory_bytes,))
    try:
        return await _pool.run(
            limits.max_seconds + KILL_GRACE_SECONDS, _parse_with_alarm, data, limits
        )
    except TimeoutError:
        raise ParsingTimedOut() from None
    except BrokenProcessPool:
        raise ParserCrashed() from None


def shutdown_parsing_workers() -> None:
    """Stop the worker processes (at application shutdown; they restart on the next parse)."""
    _pool.shutdown()
