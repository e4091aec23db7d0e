"""Re-indexing with reused vectors on a real corpus: Python 3.11's HTML docs, as bench/retrieval.py.

Run from the repository root, after `apt-get install python3.11-doc`:
`.venv/bin/python -m bench.reindex [--pages 40] [--edited 5]`.

Indexes `--pages` pages of the library section into Qdrant Edge as the server's worker does
(`parse_in_worker`, then `index_document`, embedding in the embedding worker process), then:

1. re-indexes `--edited` of them after a sentence was added to one paragraph in the middle of
   each (an edit, a re-upload, a library sync picking up a modified file);
2. re-indexes every page, unchanged since step 1 (a requeue of the whole library);
3. indexes the same pages again as other files of the same owner (the same content in a second
   library);
4. parses the pages alone: the floor of a re-index that embeds nothing;
5. with the previous indexing (`index_whole` below: delete the file's points, embed every chunk,
   upsert; `knowledge/indexing.py` before 8a5c62b), indexes the current pages into a fresh index
   (what re-indexing them cost: the delete is cheap, embedding is ~90 %) and re-indexes the
   edited ones there, the baseline.

For each step: chunks stored and chunks embedded (texts counted where indexing hands them to the
embedder), CPU-seconds of this process and its workers (parse and embedding, exited ones
included), wall time; then the peak resident memory of the process tree and the load average.
The labelled questions of bench/retrieval.py are searched in the re-indexed pages after step 2
and in the fresh index of step 5 (the same pages, every vector embedded anew): the two should
give the same passages in the same order.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.retrieval import (
    CORPUS,
    QUESTIONS,
    PeakMemory,
    cpu_with_children,
    header,
    load_questions,
    pages,
    rss_mb,
)
from knowledge.chunking import Chunk, chunk_document
from knowledge.documents import ParsedDocument, ParseLimits
from knowledge.embedding_worker import WorkerEmbedder
from knowledge.embeddings import Embedder
from knowledge.index import CollectionSpec, IndexedChunk, Owner, TenantScope, VectorIndex
from knowledge.index_edge import EdgeIndex
from knowledge.indexing import index_document
from knowledge.parsing import parse_in_worker, shutdown_parsing_workers
from knowledge.retrieval import retrieve
from knowledge.sparse import document_vector

OWNER = Owner(user_id="reader")
EDIT = "Edited for the benchmark: this paragraph now says a little more than before. "
Indexer = Callable[..., list[Chunk]]


class CountingEmbedder:
    """The embedding worker, counting the texts indexing hands it."""

    def __init__(self, model: Embedder) -> None:
        self.model = model
        self.texts = 0

    @property
    def model_id(self) -> str:
        return self.model.model_id

    @property
    def dimension(self) -> int:
        return self.model.dimension

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.texts += len(texts)
        return self.model.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.model.embed_query(text)

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return self.model.embed_queries(texts)


def index_whole(
    *,
    index: VectorIndex,
    embedder: Embedder,
    document: ParsedDocument,
    file_id: str,
    file_name: str,
    owner: Owner,
) -> list[Chunk]:
    """The previous indexing: delete the file's points, embed every chunk, upsert in batches."""
    chunks = chunk_document(document)
    index.delete_file(file_id)
    for begin in range(0, len(chunks), 64):
        batch = chunks[begin : begin + 64]
        vectors = embedder.embed_documents([chunk.embedding_text for chunk in batch])
        index.upsert(
            [
                IndexedChunk(
                    file_id=file_id,
                    file_name=file_name,
                    folder_id=None,
                    owner=owner,
                    chunk=chunk,
                    dense=vector,
                    sparse=document_vector(chunk.search_text),
                )
                for chunk, vector in zip(batch, vectors, strict=True)
            ]
        )
    return chunks


def edited(data: bytes) -> bytes:
    """The page with a sentence added to its middle paragraph (one section changes)."""
    starts = [match.end() for match in re.finditer(rb"<p>", data)]
    if not starts:
        return data + b"<p>" + EDIT.encode() + b"</p>"
    at = starts[len(starts) // 2]
    return data[:at] + EDIT.encode() + data[at:]


async def run_step(
    index: VectorIndex,
    embedder: CountingEmbedder,
    pages_data: dict[str, bytes],
    *,
    prefix: str = "",
    indexer: Indexer = index_document,
) -> tuple[int, int]:
    """Parse and index the pages as the worker does; (chunks stored, chunks embedded)."""
    limits, stored, before = ParseLimits(), 0, embedder.texts
    for path, data in pages_data.items():
        document = await parse_in_worker(data, limits)
        work = functools.partial(
            indexer,
            index=index,
            embedder=embedder,
            document=document,
            file_id=prefix + path,
            file_name=path,
            owner=OWNER,
        )
        chunks = await asyncio.to_thread(work)
        stored += len(chunks)
    return stored, embedder.texts - before


async def parse_all(pages_data: dict[str, bytes]) -> tuple[int, int]:
    """Parse the pages only (the floor of a re-index that embeds nothing)."""
    for data in pages_data.values():
        await parse_in_worker(data, ParseLimits())
    return 0, 0


def searches(
    index: VectorIndex, embedder: Embedder, queries: list[str], files: list[str]
) -> list[list[tuple[str, int, float]]]:
    """Each query's best ten passages (file, chunk, score) among `files` (not their copies, tied
    with them), as the server retrieves them."""
    scope = TenantScope(OWNER.user_id or "")
    return [
        [
            (passage.citation.file_id, passage.chunk_index, passage.score)
            for passage in retrieve(
                index=index, embedder=embedder, scope=scope, query=query, limit=10, file_ids=files
            )
        ]
        for query in queries
    ]


def compare(
    reused: list[list[tuple[str, int, float]]], fresh: list[list[tuple[str, int, float]]]
) -> str:
    """How the searches over reused vectors compare with those over freshly embedded ones."""
    same = sum(
        [hit[:2] for hit in a] == [hit[:2] for hit in b] for a, b in zip(reused, fresh, strict=True)
    )
    drift = max(
        (
            abs(x[2] - y[2])
            for a, b in zip(reused, fresh, strict=True)
            for x, y in zip(a, b, strict=False)
        ),
        default=0.0,
    )
    return f"{same}/{len(fresh)} searches in the same order, largest score difference {drift:.1e}"


def measure(label: str, step: Callable[[], tuple[int, int]]) -> float:
    """Run a step; print chunks stored and embedded, CPU-seconds and wall time."""
    started, cpu = time.perf_counter(), cpu_with_children()
    stored, embedded = step()
    spent = cpu_with_children() - cpu
    print(
        f"{label:<44} {stored:>6} chunks, {embedded:>6} embedded, {spent:7.2f} CPU-s, "
        f"{time.perf_counter() - started:6.1f} s wall"
    )
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--edited", type=int, default=5)
    arguments = parser.parse_args()
    print(f"bench/reindex.py: {header()}")
    paths = pages(arguments.corpus, "library")[: arguments.pages]
    originals = {path: (arguments.corpus / path).read_bytes() for path in paths}
    step = max(1, len(paths) // max(1, arguments.edited))
    changed = {path: edited(originals[path]) for path in paths[::step][: arguments.edited]}
    cache = Path(tempfile.gettempdir()) / "switchboard-test-models"
    worker = WorkerEmbedder(cache_dir=cache, idle_seconds=600)
    embedder = CountingEmbedder(worker)
    folder = Path(tempfile.mkdtemp(prefix="switchboard-reindex-"))
    index, fresh = EdgeIndex(folder / "reused"), EdgeIndex(folder / "fresh")
    for each in (index, fresh):
        each.ensure_collection(CollectionSpec(embedder.model_id, embedder.dimension))
    pid = os.getpid()
    current = originals | changed
    queries = [question.text for question in load_questions(QUESTIONS, CORPUS, check=False)]

    def run(
        data: dict[str, bytes], target: VectorIndex = index, **options: object
    ) -> Callable[[], tuple[int, int]]:
        return lambda: asyncio.run(run_step(target, embedder, data, **options))  # type: ignore[arg-type]

    with PeakMemory() as memory:
        measure(f"first index, {len(paths)} pages", run(originals))
        index.optimize_in_background().result()
        new_edit = measure(f"reuse: {len(changed)} edited pages", run(changed))
        new_all = measure(f"reuse: all {len(paths)} pages unchanged", run(current))
        reused = searches(index, worker, queries, paths)
        measure("reuse: the same pages as other files", run(current, prefix="copy/"))
        measure(f"parsing alone, all {len(paths)} pages", lambda: asyncio.run(parse_all(current)))
        old_all = measure(
            f"previous: all {len(paths)} pages, a fresh index",
            run(current, fresh, indexer=index_whole),
        )
        anew = searches(fresh, worker, queries, paths)
        old_edit = measure(
            f"previous: {len(changed)} edited pages", run(changed, fresh, indexer=index_whole)
        )
    print(f"searches after the re-indexing against a fresh index: {compare(reused, anew)}")
    print(
        f"CPU saved: edited pages {old_edit / max(new_edit, 1e-9):.1f}x, unchanged "
        f"{old_all / max(new_all, 1e-9):.1f}x; peak RSS (process and workers) "
        f"{memory.peak:.0f} MB, now {rss_mb(pid):.0f} MB; chunks {index.count()} + {fresh.count()}"
    )
    print(f"end: {header()}")
    index.close()
    fresh.close()
    worker.release()
    shutdown_parsing_workers()


if __name__ == "__main__":
    main()
