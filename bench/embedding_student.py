"""Students of the bundled all-MiniLM-L6-v2 with fewer layers: CPU a word piece, closeness.

Run from the repository root, after `apt-get install python3.11-doc postgresql-doc-15
debian-reference-en`:

    .venv/bin/python -m bench.embedding_student --work DIR [--texts 4000] [--epochs 1]

1. Students: the bundled model with only some of its 6 transformer layers kept (`STUDENTS`),
   saved as sentence-transformers folders in DIR/<name> (untrained), then, unless `--no-distil`,
   a copy of each distilled (DIR/<name>-distilled): mean squared distance of the student's
   normalised mean-pooled embedding to the teacher's (fp32 ONNX, today's export), AdamW, linear
   warm-up and decay. The distillation texts are NOT the evaluation corpus: chunks (heading path,
   then text, as the server embeds them) of PostgreSQL 15's HTML manual and the Debian Reference,
   plus as many short spans of them (6–30 words, the length of a search query). Teacher vectors
   are cached in DIR.
2. Each folder (the teacher too) goes through the server's own export: `load_embedder(folder)`
   exports it to ONNX and quantises it to int8 exactly as for any configured model. Measured as
   bench/embedding_cost.py does: 400 chunks of the retrieval corpus (a seeded sample of 40 pages),
   one thread, slices of 50 texts taken in turn by every variant, `--rounds` rounds; CPU ms per
   100 real word pieces. Cosine (mean / min) of each student's int8 vectors to the teacher's int8
   (today's) vectors on those chunks and on the retrieval bench's 158 questions (measured only,
   never trained on).
3. Retrieval is bench/retrieval.py with `--model DIR/<name>` (printed at the end).
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import random
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.embedding_cost import SLICE, chunk_texts, embed, ort_run, tokenizer
from bench.retrieval import CORPUS, FRESH, QUESTIONS, load_questions
from knowledge.chunking import chunk_document
from knowledge.documents import ParseLimits
from knowledge.text_files import parse_html

STUDENTS = {
    "L3-035": (0, 3, 5),
    "L3-024": (0, 2, 4),
    "L3-012": (0, 1, 2),
    "L2-05": (0, 5),
    "L1-5": (5,),
}
DISTILLED = ("L3-035", "L2-05", "L1-5")
OTHER_DOCS = (
    Path("/usr/share/doc/postgresql-doc-15/html"),
    Path("/usr/share/debian-reference"),
)
_WORDS = re.compile(r"\S+")


def other_texts(count: int, seed: int = 7) -> list[str]:
    """`count` texts of the other manuals: half chunks, half short spans of them."""
    paths = sorted(path for folder in OTHER_DOCS for path in folder.glob("*.html"))
    random.Random(seed).shuffle(paths)
    rng = random.Random(seed)
    chunks: list[str] = []
    spans: list[str] = []
    for path in paths:
        document = parse_html(path.read_bytes(), ParseLimits())
        for chunk in chunk_document(document):
            chunks.append(chunk.embedding_text)
            words = _WORDS.findall(chunk.text)
            if len(words) >= 6:
                size = rng.randint(6, min(30, len(words)))
                begin = rng.randint(0, len(words) - size)
                spans.append(" ".join(words[begin : begin + size]))
        if len(chunks) >= count // 2 and len(spans) >= count // 2:
            break
    texts = chunks[: count // 2] + spans[: count - count // 2]
    rng.shuffle(texts)
    return texts


def teacher_model() -> Any:
    from sentence_transformers import SentenceTransformer

    from knowledge.embeddings import bundled_model_path

    return SentenceTransformer(str(bundled_model_path()), device="cpu")


def make_student(teacher: Any, keep: tuple[int, ...]) -> Any:
    """The teacher with only the transformer layers `keep` (in order)."""
    import torch

    student = copy.deepcopy(teacher)
    encoder = student[0].auto_model.encoder
    encoder.layer = torch.nn.ModuleList([encoder.layer[index] for index in keep])
    student[0].auto_model.config.num_hidden_layers = len(keep)
    return student


def teacher_targets(work: Path, texts: list[str], today: Path) -> Any:
    """The teacher's fp32 ONNX vectors of the distillation texts (cached in `work`)."""
    from knowledge.onnx_embedder import OnnxEmbedder

    cached = work / f"targets-{len(texts)}.npy"
    if cached.is_file():
        return np.load(cached)
    started = time.process_time()
    vectors = np.array(OnnxEmbedder(today, quantised=False).embed_documents(texts), np.float32)
    print(f"  teacher vectors of {len(texts)} texts: {time.process_time() - started:.0f} CPU-s")
    np.save(cached, vectors)
    return vectors


def distil(student: Any, texts: list[str], targets: Any, *, epochs: int, lr: float) -> None:
    """Train the student's normalised mean-pooled output towards the teacher's vectors."""
    import torch

    model, tokenize = student[0].auto_model, student.tokenizer
    model.eval()  # no dropout: the student follows the teacher's deterministic vectors
    batch = 32
    steps = epochs * math.ceil(len(texts) / batch)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min((step + 1) / warmup, max(0.0, (steps - step) / steps))
    )
    rng = random.Random(11)
    started, step = time.process_time(), 0
    for _ in range(epochs):
        order = list(range(len(texts)))
        rng.shuffle(order)
        # Batches of similar length (little padding), in random order.
        pools = [order[i : i + batch * 20] for i in range(0, len(order), batch * 20)]
        batches = [
            group[i : i + batch]
            for pool in pools
            for group in [sorted(pool, key=lambda index: len(texts[index]))]
            for i in range(0, len(group), batch)
        ]
        rng.shuffle(batches)
        for picked in batches:
            encoded = tokenize(
                [texts[i] for i in picked],
                padding=True,
                truncation=True,
                max_length=256,
                return_tensors="pt",
            )
            hidden = model(**encoded).last_hidden_state
            mask = encoded["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=1)
            loss = ((pooled - torch.from_numpy(targets[picked])) ** 2).sum(1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            step += 1
            if step % 25 == 0 or step == steps:
                print(
                    f"    step {step}/{steps}: loss {loss.item():.4f} (cosine "
                    f"{1 - loss.item() / 2:.4f}), {time.process_time() - started:.0f} CPU-s"
                )


def build(work: Path, arguments: argparse.Namespace, today: Path) -> list[str]:
    """Save the students (untrained, then distilled) in `work`; their folder names."""
    import torch

    torch.set_num_threads(arguments.threads)
    teacher = teacher_model()
    names = []
    for name, keep in STUDENTS.items():
        if not (work / name).is_dir():
            make_student(teacher, keep).save(str(work / name))
        names.append(name)
    if arguments.no_distil:
        return names
    texts: list[str] = []
    for name in arguments.distil.split(","):
        folder = work / f"{name}-distilled"
        if not folder.is_dir():
            texts = texts or other_texts(arguments.texts)
            targets = teacher_targets(work, texts, today)
            print(f"  distilling {name} on {len(texts)} texts, {arguments.epochs} epoch(s)")
            student = make_student(teacher, STUDENTS[name])
            distil(student, texts, targets, epochs=arguments.epochs, lr=arguments.lr)
            student.save(str(folder))
        names.append(folder.name)
    return names


def exported(work: Path, name: str) -> Path:
    """The server's int8 export of a student folder (made on first use, as for any model)."""
    from knowledge.embeddings import _export_folder, load_embedder

    cache = work / "exports"
    load_embedder(str(work / name), cache_dir=cache)
    return _export_folder(cache, str(work / name))


def measure(exports: dict[str, Path], texts: list[str], queries: list[str], rounds: int) -> None:
    """CPU per 100 word pieces (interleaved slices) and cosine to today's int8 vectors."""
    encode = tokenizer(next(iter(exports.values())))
    runs = {name: ort_run(folder / "model_int8.onnx") for name, folder in exports.items()}
    cpu = dict.fromkeys(runs, 0.0)
    vectors = {name: np.zeros((len(texts), 384), np.float32) for name in runs}
    asked = {name: np.zeros((len(queries), 384), np.float32) for name in runs}
    for name, run in runs.items():
        embed(run, encode, queries, range(len(queries)), 1, asked[name])
    pieces = 0
    for _ in range(rounds):
        for begin in range(0, len(texts), SLICE):
            indices = range(begin, min(begin + SLICE, len(texts)))
            for name, run in runs.items():
                started = time.process_time()
                counted = embed(run, encode, texts, indices, 1, vectors[name])
                cpu[name] += time.process_time() - started
            pieces += counted
    teacher = next(iter(runs))
    base = cpu[teacher] * 1e5 / pieces
    print(f"{len(texts)} chunks, {pieces // rounds} word pieces; load {os.getloadavg()}")
    print(
        "| model | CPU ms per 100 word pieces | × today | cosine to today, chunks (mean / min)"
        " | cosine to today, questions (mean / min) |"
    )
    for name in runs:
        milliseconds = cpu[name] * 1e5 / pieces
        chunks = (vectors[teacher] * vectors[name]).sum(1)
        questions = (asked[teacher] * asked[name]).sum(1)
        print(
            f"| {name} | {milliseconds:.2f} | {base / milliseconds:.2f} | {chunks.mean():.4f} / "
            f"{chunks.min():.4f} | {questions.mean():.4f} / {questions.min():.4f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the students")
    parser.add_argument("--texts", type=int, default=4000, help="distillation texts")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for training")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-distil", action="store_true", help="untrained students only")
    parser.add_argument("--distil", default=",".join(DISTILLED), help="students to distil")
    parser.add_argument("--build-only", action="store_true", help="save the students, no measures")
    arguments = parser.parse_args()
    print(f"bench/embedding_student.py: load average {os.getloadavg()}, {time.strftime('%H:%M')}")
    arguments.work.mkdir(parents=True, exist_ok=True)
    from bench.embedding_cost import today_folder

    today = today_folder()
    names = build(arguments.work, arguments, today)
    if arguments.build_only:
        return
    exports = {"teacher (today's int8)": today}
    exports.update({name: exported(arguments.work, name) for name in names})
    texts = chunk_texts(40)[0][:400]
    questions = load_questions(QUESTIONS, CORPUS, check=False)
    questions += load_questions(FRESH, CORPUS, check=False)
    measure(exports, texts, [question.text for question in questions], arguments.rounds)
    for name in names:
        print(f"retrieval: .venv/bin/python -m bench.retrieval --model {arguments.work / name}")
    print(f"done: load average {os.getloadavg()}, {time.strftime('%H:%M')}")


if __name__ == "__main__":
    main()
