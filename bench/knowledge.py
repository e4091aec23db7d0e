"""Knowledge benchmark: embedding and indexing throughput, hybrid search latency, recall.

Run from the repository root: `python -m bench.knowledge` (add `--sizes 10000` for a quick run).

1. Embedding throughput of all-MiniLM-L6-v2 on ~80-token chunks: the plain sentence-transformers
   torch backend (batch 64, the baseline) against the ONNX int8 backend, in the same run.
2. Indexing throughput end to end (parse Markdown, chunk, embed, upsert into Qdrant Edge).
3. Hybrid search latency p50/p95 on Qdrant Edge at each size, with a tenant filter, after the
   index is optimised; query embedding excluded. Embedding 100k chunks would take too long here,
   so the corpus reuses a few thousand real embeddings, each copy perturbed with a little noise,
   and synthetic text for the sparse vectors.
4. recall@5 and MRR of hybrid and dense-only retrieval on the tests' labelled set, per backend.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from core import tokens
from knowledge.chunking import Chunk
from knowledge.documents import ParseLimits
from knowledge.embeddings import Embedder, load_embedder
from knowledge.index import CollectionSpec, IndexedChunk, Owner, TenantScope
from knowledge.index_edge import EdgeIndex
from knowledge.indexing import index_document
from knowledge.parsing import parse_document
from knowledge.sparse import document_vector, identifier_vector, query_vector
from tests.knowledge import labelled, samples

WORDS = [
    "invoice",
    "contract",
    "payment",
    "server",
    "network",
    "policy",
    "report",
    "quarterly",
    "revenue",
    "pump",
    "valve",
    "bolt",
    "warehouse",
    "shipment",
    "customer",
    "account",
    "password",
    "laptop",
    "meeting",
    "budget",
    "travel",
    "expense",
    "audit",
    "release",
    "deploy",
    "incident",
    "ticket",
    "backup",
    "storage",
    "region",
    "latency",
    "throughput",
    "security",
    "review",
]
USERS = [f"user-{n}" for n in range(50)]
TEAMS = [f"team-{n}" for n in range(10)]


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 16))]
    return (
        " ".join(words).capitalize() + f" (ref {rng.choice('ABCDEFGH')}-{rng.randint(100, 9999)})."
    )


def chunk_text(rng: random.Random, target_tokens: int = 80) -> str:
    parts: list[str] = []
    while tokens.count_text(" ".join(parts)) < target_tokens:
        parts.append(sentence(rng))
    return " ".join(parts)


def embedding_throughput(embedder: Embedder, texts: list[str]) -> float:
    embedder.embed_documents(texts[:8])  # warm up
    started = time.perf_counter()
    embedder.embed_documents(texts)
    return len(texts) / (time.perf_counter() - started)


def indexing_throughput(embedder: Embedder, folder: Path, rng: random.Random) -> str:
    sections = [(f"Section {n}", [chunk_text(rng, 60) for _ in range(3)]) for n in range(300)]
    data = samples.markdown_file(sections)
    index = EdgeIndex(folder / "indexing")
    index.ensure_collection(CollectionSpec(embedder.model_id, embedder.dimension))
    started = time.perf_counter()
    document = parse_document(data, ParseLimits())
    chunks = index_document(
        index=index, embedder=embedder, document=document,
        file_id="bench", file_name="bench.md", owner=Owner(user_id="user-0"),
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    index.close()
    megabytes = len(data) / 1e6
    return (
        f"indexing (parse+chunk+embed+upsert, {embedder.model_id}): {len(chunks)} chunks, "
        f"{megabytes:.2f} MB in {elapsed:.1f} s = {len(chunks) / elapsed:.0f} chunks/s, "
        f"{megabytes / elapsed:.3f} MB/s"
    )


def build_search_corpus(
    size: int, base_texts: list[str], base_vectors: np.ndarray, folder: Path, rng: random.Random
) -> tuple[EdgeIndex, float, float]:
    index = EdgeIndex(folder / f"search-{size}")
    index.ensure_collection(CollectionSpec("bench-perturbed", base_vectors.shape[1]))
    noise = np.random.default_rng(size)
    started = time.perf_counter()
    for begin in range(0, size, 1000):
        count = min(1000, size - begin)
        picks = noise.integers(0, len(base_texts), count)
        vectors = base_vectors[picks] + noise.normal(0, 0.02, (count, base_vectors.shape[1]))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        items = []
        for offset, (pick, vector) in enumerate(zip(picks, vectors, strict=True)):
            text = base_texts[pick] + f" Serial SN-{begin + offset}."
            owner = (
                Owner(user_id=rng.choice(USERS))
                if rng.random() < 0.5
                else Owner(team_id=rng.choice(TEAMS))
            )
            chunk = Chunk(
                index=0, text=text, section=("Bench",), page=1, start=0, end=len(text), tokens=80
            )
            items.append(
                IndexedChunk(
                    file_id=f"file-{begin + offset}",
                    file_name="bench.md",
                    folder_id=None,
                    owner=owner,
                    chunk=chunk,
                    dense=vector.tolist(),
                    sparse=document_vector(text),
                )
            )
        index.upsert(items)
    upserted = time.perf_counter() - started
    started = time.perf_counter()
    index.optimize_in_background().result()
    return index, upserted, time.perf_counter() - started


def search_latency(
    index: EdgeIndex, queries: list[str], query_vectors: list[list[float]], rng: random.Random
) -> tuple[float, float]:
    timings = []
    for text, vector in zip(queries, query_vectors, strict=True):
        scope = TenantScope(rng.choice(USERS), tuple(rng.sample(TEAMS, 2)))
        sparse, identifiers = query_vector(text), identifier_vector(text)
        started = time.perf_counter()
        index.search(scope, vector, sparse, identifiers=identifiers, limit=10)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1]


def recall_lines(name: str, embedder: Embedder, folder: Path) -> list[str]:
    data = labelled.build()
    index = EdgeIndex(folder / f"recall-{name}")
    labelled.index_set(index, embedder, data, "reader")
    lines = []
    for mode in ("hybrid", "dense"):
        for kind, score in labelled.evaluate(index, embedder, data, "reader", mode).items():
            lines.append(
                f"recall {name:5} {mode:6} {kind:10} recall@5={score.recall_at_5:.2f} "
                f"MRR={score.mrr:.2f} (n={score.questions})"
            )
    index.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="corpus sizes for search latency")
    parser.add_argument("--chunks", type=int, default=384, help="chunks for embedding throughput")
    parser.add_argument("--queries", type=int, default=300)
    arguments = parser.parse_args()
    rng = random.Random(42)
    folder = Path(tempfile.mkdtemp(prefix="switchboard-bench-"))
    cache = Path(tempfile.gettempdir()) / "switchboard-test-models"
    fast = load_embedder(cache_dir=cache)
    baseline = load_embedder(backend="torch", cache_dir=cache)
    texts = [chunk_text(rng) for _ in range(arguments.chunks)]
    mean_tokens = statistics.mean(tokens.count_text(text) for text in texts)
    torch_rate = embedding_throughput(baseline, texts)
    fast_rate = embedding_throughput(fast, texts)
    print(f"embedding {len(texts)} chunks of ~{mean_tokens:.0f} tokens (cl100k):")
    print(f"  torch baseline ({baseline.model_id}, batch 64): {torch_rate:.1f} chunks/s")
    print(f"  fast ({fast.model_id}): {fast_rate:.1f} chunks/s = {fast_rate / torch_rate:.1f}x")
    for name, embedder in (("torch", baseline), ("onnx", fast)):
        started = time.perf_counter()
        for text in texts[:50]:
            embedder.embed_query(text[:120])
        single = (time.perf_counter() - started) / 50 * 1000
        print(f"  single query embedding ({name}): {single:.1f} ms")
    print(indexing_throughput(fast, folder, rng))
    base_texts = texts + [chunk_text(rng) for _ in range(2000 - len(texts))]
    base_vectors = np.array(fast.embed_documents(base_texts), dtype=np.float32)
    queries = [
        " ".join(rng.sample(WORDS, 5)) + f" {rng.choice('ABCDEFGH')}-{rng.randint(100, 9999)}"
        for _ in range(arguments.queries)
    ]
    query_vectors = fast.embed_queries(queries)
    print("search corpora reuse 2,000 real embeddings, perturbed (noise 0.02, renormalised)")
    for size in (int(value) for value in arguments.sizes.split(",")):
        index, upserted, optimized = build_search_corpus(
            size, base_texts, base_vectors, folder, rng
        )
        p50, p95 = search_latency(index, queries, query_vectors, rng)
        print(
            f"search {size:>7,} chunks (Edge, hybrid + tenant filter, optimised): "
            f"p50 {p50:.2f} ms, p95 {p95:.2f} ms "
            f"[upsert {upserted:.1f} s, optimise {optimized:.1f} s]"
        )
        index.close()
    for name, embedder in (("torch", baseline), ("onnx", fast)):
        for line in recall_lines(name, embedder, folder):
            print(line)


if __name__ == "__main__":
    main()
