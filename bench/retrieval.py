"""Retrieval on a real documentation corpus: Python 3.11's HTML docs as Debian ships them.

Run from the repository root, after `apt-get install python3.11-doc`:
`.venv/bin/python -m bench.retrieval` (`--keep DIR` reuses an index built by an earlier run).

1. Indexes the pages of `--sections` (library, tutorial, howto, reference, faq: 374 Sphinx
   pages) through the library's own path: each file parsed in the parse worker pool
   (`parse_in_worker`), chunked, embedded and upserted by `index_document` into Qdrant Edge
   as a version of its own, made live (in the files' rows, bench/live_versions.py, SQLite,
   written once indexing is measured so its memory figure stays the indexing's) and the page's
   other versions deleted, as the worker does; then optimised as the server does. Embedding
   runs in the server's embedding worker process (`knowledge.embedding_worker`), which stops
   when idle. Prints chunks per CPU-second (this
   process, its parse workers and its embedding worker, those that exited included), peak
   resident memory of that process tree while indexing, right after, and once the workers
   stopped; then the first search after the embedding worker stopped (it starts again).
   `--max-tokens`/`--overlap-tokens` set the chunk size; `--model` embeds with another
   sentence-transformers folder (exported to ONNX int8 as the server would), e.g. a student of
   bench/embedding_student.py; `--dense-text` embeds another text than `Chunk.embedding_text`
   (bench/embedding_text.py: without code blocks, without the overlap; BM25 unchanged). Prints
   the word pieces embedded, in all and a page.
2. Asks the labelled questions of bench/corpus/python_docs_questions.yaml (paraphrased, exact
   identifiers, multi-concept; each names the page(s) that answer it and a phrase of that
   page, checked here) and prints recall@5, recall@10 and MRR@10 per kind for hybrid search
   (`knowledge.retrieval.retrieve`, what the server runs, reading the hits' live versions from
   the rows) beside BM25-only and dense-only. A question is found at the rank of the first
   chunk from one of its pages. Every third question (the 3rd, 6th, ...) is held out: figures
   are also printed for the two thirds that tuning looked at and for the held-out third. The
   30 questions of bench/corpus/python_docs_questions_fresh.yaml (`--fresh`), written after the
   fusion was tuned and never tuned on, are counted apart (`fresh`), not in `all`.
3. With `--tune`, the same questions over a grid of fusion options (file evidence, RRF k, dense
   weight).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import os
import resource
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from bench.embedding_text import DenseTextEmbedder, check_variant, dense_texts, word_pieces
from knowledge.chunking import ChunkingOptions, chunk_document
from knowledge.documents import ParsedDocument, ParseLimits
from knowledge.embedding_worker import WorkerEmbedder
from knowledge.embeddings import Embedder
from knowledge.fusion import FusionOptions
from knowledge.index import CollectionSpec, Owner, SearchMode, TenantScope
from knowledge.index_edge import EdgeIndex
from knowledge.indexing import index_document, new_version
from knowledge.parsing import parse_in_worker, shutdown_parsing_workers
from knowledge.retrieval import retrieve
from knowledge.sparse import identifier_vector, query_vector
from knowledge.text_files import parse_html

if TYPE_CHECKING:  # imported in main(): spawned workers import this module, not SQLAlchemy
    from bench.live_versions import LiveVersions

CORPUS = Path("/usr/share/doc/python3.11/html")
QUESTIONS = Path(__file__).parent / "corpus" / "python_docs_questions.yaml"
FRESH = Path(__file__).parent / "corpus" / "python_docs_questions_fresh.yaml"
SECTIONS = "library,tutorial,howto,reference,faq"
USER = "reader"
KINDS = ("paraphrase", "identifier", "multi", "all", "tuned-on", "held-out", "fresh")
IDLE_SECONDS = 5.0


@dataclasses.dataclass(frozen=True)
class Question:
    text: str
    kind: str
    pages: tuple[str, ...]
    evidence: str
    fresh: bool = False


def load_questions(
    path: Path, corpus: Path, *, check: bool = True, fresh: bool = False
) -> list[Question]:
    """The labelled questions; each one's evidence phrase must be on one of its pages."""
    questions = []
    for entry in yaml.safe_load(path.read_text(encoding="utf-8")):
        question = Question(
            entry["question"], entry["kind"], tuple(entry["pages"]), entry["evidence"], fresh
        )
        questions.append(question)
        if not check:
            continue
        texts = [
            " ".join(parse_html((corpus / page).read_bytes(), ParseLimits()).text.split())
            for page in question.pages
        ]
        if not any(question.evidence in text for text in texts):
            raise SystemExit(f"evidence {question.evidence!r} not on {question.pages}")
    return questions


def pages(corpus: Path, sections: str) -> list[str]:
    found = []
    for section in sections.split(","):
        found += sorted(str(p.relative_to(corpus)) for p in (corpus / section).glob("*.html"))
    return found


class PeakMemory:
    """Samples the resident memory of this process and its children every 0.2 s."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, rss_mb(os.getpid()))

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def family(pid: int) -> list[int]:
    """A process and all its descendants, whichever thread started them (a pool started from
    a worker thread has its processes listed under that thread, not the main one)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += family(int(child))
    return found


def _stat(pid: int, *fields: int) -> list[int]:
    try:
        values = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return [0 for _ in fields]
    return [int(values[field]) for field in fields]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, in MB."""
    pages = sum(_stat(member, 21)[0] for member in family(pid))
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_with_children() -> float:
    """CPU seconds of this process and its descendants, live ones and those that exited."""
    live = sum(sum(_stat(member, 11, 12)) for member in family(os.getpid()))
    exited = resource.getrusage(resource.RUSAGE_CHILDREN)
    return live / os.sysconf("SC_CLK_TCK") + exited.ru_utime + exited.ru_stime


def _index_page(
    index: EdgeIndex,
    embedder: Embedder,
    document: ParsedDocument,
    path: str,
    options: ChunkingOptions,
    versions: dict[str, str],
) -> int:
    version = new_version()
    if isinstance(embedder, DenseTextEmbedder) and embedder.variant != "server":
        chunked = chunk_document(document, options)
        variants = dense_texts(document, chunked, embedder.variant)
        embedder.swap = {c.embedding_text: v for c, v in zip(chunked, variants, strict=True)}
    chunks = index_document(
        index=index,
        embedder=embedder,
        document=document,
        file_id=path,
        file_name=path,
        owner=Owner(user_id=USER),
        options=options,
        version=version,
        live=None,
    )
    versions[path] = version  # made live; the rows are written once indexing is measured
    index.settle_file(path, version)
    return len(chunks)


async def build_index(
    index: EdgeIndex,
    embedder: Embedder,
    corpus: Path,
    paths: list[str],
    options: ChunkingOptions,
    versions: dict[str, str],
) -> int:
    """Index every page as the server's worker does; returns the number of chunks."""
    index.ensure_collection(CollectionSpec(embedder.model_id, embedder.dimension))
    limits = ParseLimits()
    total = 0
    for path in paths:
        document = await parse_in_worker((corpus / path).read_bytes(), limits)
        chunks = await asyncio.to_thread(
            _index_page, index, embedder, document, path, options, versions
        )
        total += chunks
    await asyncio.wrap_future(index.optimize_in_background())
    return total


@dataclasses.dataclass
class Scores:
    ranks: dict[str, list[int]] = dataclasses.field(default_factory=dict)  # 0 = not found

    def add(self, question: Question, rank: int, held_out: bool) -> None:
        """A fresh question counts apart (`fresh`), the others by kind, in `all` and in their
        third."""
        if question.fresh:
            keys: tuple[str, ...] = ("fresh", f"fresh {question.kind}")
        else:
            keys = (question.kind, "all", "held-out" if held_out else "tuned-on")
        for key in keys:
            self.ranks.setdefault(key, []).append(rank)

    def line(self, kind: str) -> str:
        ranks = self.ranks.get(kind, [])
        if not ranks:
            return f"{kind:16} (none)"
        n = len(ranks)
        at5 = sum(1 for r in ranks if 0 < r <= 5) / n
        at10 = sum(1 for r in ranks if 0 < r <= 10) / n
        mrr = sum(1 / r for r in ranks if 0 < r <= 10) / n
        return f"{kind:16} R@5 {at5:.2f}  R@10 {at10:.2f}  MRR@10 {mrr:.2f}  (n={n})"


def first_rank(found: list[str], question: Question) -> int:
    for rank, file_name in enumerate(found, start=1):
        if file_name in question.pages:
            return rank
    return 0


def evaluate(
    index: EdgeIndex,
    embedder: Embedder,
    questions: list[Question],
    vectors: list[list[float]],
    mode: SearchMode,
    live: LiveVersions,
    fusion: FusionOptions | None = None,
) -> Scores:
    """Each question's rank; hybrid with the default fusion goes through `retrieve`."""
    scores = Scores()
    scope = TenantScope(USER)
    for number, (question, vector) in enumerate(zip(questions, vectors, strict=True), start=1):
        if mode == "hybrid" and fusion is None:
            passages = retrieve(
                index=index, embedder=embedder, scope=scope, query=question.text, limit=10,
                live=live.live,
            )  # fmt: skip
            found = [passage.citation.file_name for passage in passages]
        else:
            tuned: dict[str, Any] = {"fusion": fusion} if fusion is not None else {}
            hits = index.search(
                scope, vector, query_vector(question.text),
                identifiers=identifier_vector(question.text), limit=10, mode=mode, **tuned,
            )  # fmt: skip
            found = [hit.file_name for hit in hits]
        scores.add(question, first_rank(found, question), held_out=number % 3 == 0)
    return scores


def tuning_grid() -> Iterator[FusionOptions]:
    """Every query fused alike (the prose rule of `retrieve` left out): the weight of a file's
    evidence, RRF k, the dense list's weight; 150 candidates a list."""
    for files in (0.0, 0.5, 1.0, 2.0):
        for k in (20, 60):
            for dense in (1.0, 1.5):
                yield FusionOptions(depth=150, k=k, dense_weight=dense, file_weight=files)


def header() -> str:
    load = os.getloadavg()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{now}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


def measure_indexing(
    index: EdgeIndex,
    embedder: WorkerEmbedder,
    corpus: Path,
    paths: list[str],
    options: ChunkingOptions,
    versions: dict[str, str],
    variant: str = "server",
) -> None:
    """Index the pages; print CPU per chunk and the process tree's memory, also once the parse
    and embedding workers stopped (as a server's do when idle)."""
    pid = os.getpid()
    started, cpu = time.perf_counter(), cpu_with_children()
    baseline = rss_mb(pid)
    dense = DenseTextEmbedder(embedder, variant)
    with PeakMemory() as memory:
        chunks = asyncio.run(build_index(index, dense, corpus, paths, options, versions))
        spent = cpu_with_children() - cpu
    after = rss_mb(pid)
    shutdown_parsing_workers()
    # Until the embedding worker stopped by itself and every worker process is gone (left:
    # this process and multiprocessing's resource tracker).
    deadline = time.monotonic() + 6 * IDLE_SECONDS
    while time.monotonic() < deadline and (embedder.running or len(family(pid)) > 2):
        time.sleep(0.1)
    gc.collect()
    print(
        f"indexed {len(paths)} pages, {chunks} chunks (max {options.max_tokens} tokens, overlap "
        f"{options.overlap_tokens}) in {time.perf_counter() - started:.0f} s, "
        f"{spent * 1000:.0f} CPU ms = {chunks / spent:.1f} chunks, {len(paths) / spent:.2f} pages"
        f" per CPU-second; RSS (process and workers) {baseline:.0f} MB before, peak "
        f"{memory.peak:.0f} MB, {after:.0f} MB right after, {rss_mb(pid):.0f} MB once the "
        f"workers stopped (embedding worker stopped: {not embedder.running})"
    )
    pieces = word_pieces(dense.embedded(), Path(tempfile.gettempdir()) / "switchboard-test-models")
    print(
        f"dense text {variant!r}: {dense.count} texts embedded, {pieces} word pieces, "
        f"{pieces / max(1, len(paths)):.0f} a page, {pieces / max(1, dense.count):.0f} a "
        f"text; {pieces / spent:.0f} pieces per CPU-second"
    )


def measure_first_search(
    index: EdgeIndex, embedder: WorkerEmbedder, query: str, live: LiveVersions
) -> None:
    """The first search with no embedding worker running (it starts again), then the next."""
    embedder.release()
    scope = TenantScope(USER)
    for label in ("first search after idle", "next search"):
        started, cpu = time.perf_counter(), cpu_with_children()
        retrieve(index=index, embedder=embedder, scope=scope, query=query, limit=10, live=live.live)
        print(
            f"{label}: {(time.perf_counter() - started) * 1000:.0f} ms, "
            f"{(cpu_with_children() - cpu) * 1000:.0f} CPU ms (workers included); "
            f"RSS {rss_mb(os.getpid()):.0f} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--sections", default=SECTIONS)
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument(
        "--fresh", type=Path, default=FRESH, help="questions never tuned on, reported apart"
    )
    parser.add_argument("--keep", type=Path, help="index folder to build once and reuse")
    parser.add_argument("--tune", action="store_true", help="also try a grid of fusion options")
    parser.add_argument(
        "--unchecked", action="store_true", help="skip the evidence check (older parsers)"
    )
    parser.add_argument(
        "--question-pages", action="store_true", help="index only the pages questions name"
    )
    parser.add_argument(
        "--model", default="", help="a sentence-transformers folder instead of the bundled model"
    )
    parser.add_argument("--max-tokens", type=int, default=ChunkingOptions().max_tokens)
    parser.add_argument("--overlap-tokens", type=int, default=ChunkingOptions().overlap_tokens)
    parser.add_argument(
        "--dense-text", type=check_variant, default="server",
        help="what the dense vector sees (bench/embedding_text.py): server (the default), full "
        "(before the sixth pass), no-code, code-first-line, no-overlap, or two joined by +",
    )  # fmt: skip
    arguments = parser.parse_args()
    print(f"bench/retrieval.py: {header()}")
    check = not arguments.unchecked
    questions = load_questions(arguments.questions, arguments.corpus, check=check)
    questions += load_questions(arguments.fresh, arguments.corpus, check=check, fresh=True)
    paths = pages(arguments.corpus, arguments.sections)
    if arguments.question_pages:
        named = {page for question in questions for page in question.pages}
        paths = [path for path in paths if path in named]
    cache = Path(tempfile.gettempdir()) / "switchboard-test-models"
    embedder = WorkerEmbedder(arguments.model, cache_dir=cache, idle_seconds=IDLE_SECONDS)
    folder = arguments.keep or Path(tempfile.mkdtemp(prefix="switchboard-retrieval-")) / "index"
    index = EdgeIndex(folder)
    kept = folder.is_dir() and arguments.keep
    versions: dict[str, str] = {}
    if not kept:
        chunking = ChunkingOptions(
            max_tokens=arguments.max_tokens, overlap_tokens=arguments.overlap_tokens
        )
        measure_indexing(
            index, embedder, arguments.corpus, paths, chunking, versions, arguments.dense_text
        )
    from bench.live_versions import LiveVersions

    live = LiveVersions(folder.with_name(folder.name + ".library.db"))
    if kept and not live.existed:  # an index built before versions: as the migration records
        versions = dict.fromkeys(paths, "")
    for path, version in versions.items():
        live.make_live(path, version)
    measure_first_search(index, embedder, questions[0].text, live)
    print(f"{len(questions)} questions; chunks in index: {index.count()}")
    vectors = embedder.embed_queries([question.text for question in questions])
    modes: tuple[SearchMode, ...] = ("hybrid", "sparse", "dense")
    for mode in modes:
        cpu = cpu_with_children()
        scores = evaluate(index, embedder, questions, vectors, mode, live)
        per_query = (cpu_with_children() - cpu) * 1000 / len(questions)
        name = {"hybrid": "hybrid", "sparse": "BM25 only", "dense": "dense only"}[mode]
        print(f"{name} ({per_query:.1f} CPU ms a question):")
        for kind in (*KINDS, *(f"fresh {kind}" for kind in KINDS[:3])):
            print(f"  {scores.line(kind)}")
    if arguments.tune:
        for options in tuning_grid():
            scores = evaluate(index, embedder, questions, vectors, "hybrid", live, options)
            print(
                f"depth {options.depth:3} k {options.k} dense {options.dense_weight:.1f} "
                f"sparse {options.sparse_weight:.1f} identifiers {options.identifier_weight:.1f} "
                f"files {options.file_weight:.1f}: "
                + " | ".join(scores.line(kind) for kind in KINDS)
            )
    index.close()
    live.close()
    embedder.release()
    print(f"done: {header()}")


if __name__ == "__main__":
    main()
