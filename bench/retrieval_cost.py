"""CPU of a hybrid search on a kept index, with and without each file's evidence in the fusion.

Run from the repository root on an index that `bench/retrieval.py --keep DIR` built:
`.venv/bin/python -m bench.retrieval_cost --keep DIR`. The queries (the labelled questions) are
embedded once beforehand, so the figures are the index's search and the fusion alone; the two
settings alternate over `--rounds` rounds, so a change of machine load falls on both alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

from bench.retrieval import CORPUS, QUESTIONS, USER, header, load_questions
from knowledge.embedding_worker import WorkerEmbedder
from knowledge.index import TenantScope
from knowledge.index_edge import EdgeIndex
from knowledge.retrieval import fusion_for
from knowledge.sparse import identifier_vector, query_vector

SETTINGS = (0.0, 1.0)  # file_weight: off, the default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, required=True, help="an index bench.retrieval built")
    parser.add_argument("--rounds", type=int, default=4)
    arguments = parser.parse_args()
    print(f"bench/retrieval_cost.py: {header()}")
    questions = load_questions(QUESTIONS, CORPUS, check=False)
    cache = Path(tempfile.gettempdir()) / "switchboard-test-models"
    embedder = WorkerEmbedder(cache_dir=cache, idle_seconds=30)
    vectors = embedder.embed_queries([question.text for question in questions])
    embedder.release()
    index = EdgeIndex(arguments.keep)
    scope = TenantScope(USER)
    spent = dict.fromkeys(SETTINGS, 0.0)
    for round_number in range(arguments.rounds):
        order = SETTINGS if round_number % 2 == 0 else tuple(reversed(SETTINGS))
        for weight in order:
            started = time.process_time()
            for question, vector in zip(questions, vectors, strict=True):
                fusion = dataclasses.replace(fusion_for(question.text), file_weight=weight)
                index.search(
                    scope, vector, query_vector(question.text),
                    identifiers=identifier_vector(question.text), limit=10, fusion=fusion,
                )  # fmt: skip
            spent[weight] += time.process_time() - started
    searches = arguments.rounds * len(questions)
    for weight, seconds in spent.items():
        print(
            f"file_weight {weight:.1f}: {seconds * 1000 / searches:.2f} CPU ms a hybrid search "
            f"(query embedding excluded), {searches} searches"
        )
    index.close()
    print(f"done: {header()}; 1-minute load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
