"""CPU per word piece of the local embedding model's variants, on the retrieval corpus's chunks.

Run from the repository root, after `apt-get install python3.11-doc` (bench/retrieval.py's corpus):

    .venv/bin/python -m bench.embedding_cost [--pages 40] [--texts 400] [--rounds 2] [--openvino]

1. Texts: `--pages` pages of Python's HTML docs (a seeded sample of bench/retrieval.py's
   sections), parsed and chunked as the server does; each chunk's `embedding_text` (heading path,
   then text), shuffled, the first `--texts`.
2. Variants of all-MiniLM-L6-v2, each run by one thread (ONNX Runtime: intra/inter op 1, no
   spinning, sequential; torch: `set_num_threads(1)`): today's export (fp32 and the int8 the
   server runs, one text per run), the int8 in padded batches of 8 texts sorted by length, an
   export with eager attention that ONNX Runtime's BERT fusion turns into Attention /
   EmbedLayerNormalization ops, then int8 (QAttention), static QDQ int8 of the weight MatMuls
   calibrated on chunks, torch, and with `--openvino` (if `openvino` is installed) OpenVINO fp32,
   bf16 and its int8 of the QDQ model. Exports go to a temporary folder; nothing is downloaded.
3. CPU: every variant embeds the same texts, in slices of 50 texts taken in turn by each variant
   (so a change of load hits all alike), `--rounds` times; printed as CPU ms per 100 word pieces
   (real pieces, padding not counted) and as a ratio to today's int8. Quality: cosine of each
   text's vector to today's int8 and to the fp32 model (mean / min). Memory: each variant again
   in a fresh spawned process embedding every text once; its peak RSS (VmHWM), as the
   embedding worker would hold.
4. Fewer word pieces for the same content (chunking): the pieces embedded for the sampled pages
   with overlap 30 / 15 / 0 tokens and with the heading path, the last heading or none.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.retrieval import CORPUS, SECTIONS, pages
from knowledge.chunking import ChunkingOptions, chunk_document
from knowledge.documents import ParseLimits
from knowledge.text_files import parse_html

Run = Callable[[Any, Any], Any]  # (input ids, attention mask) -> last hidden state
SLICE = 50
BATCHED = 8


def chunk_texts(page_count: int, seed: int = 20) -> tuple[list[str], list[Any]]:
    """Embedding texts of a seeded sample of the corpus's pages, and the parsed pages."""
    paths = random.Random(seed).sample(pages(CORPUS, SECTIONS), page_count)
    documents = [parse_html((CORPUS / path).read_bytes(), ParseLimits()) for path in paths]
    texts = [chunk.embedding_text for document in documents for chunk in chunk_document(document)]
    random.Random(seed).shuffle(texts)
    return texts, documents


def today_folder() -> Path:
    """The server's own export (made and cached as the server does) of the bundled model."""
    from knowledge.embeddings import _export_folder, load_embedder

    cache = Path(tempfile.gettempdir()) / "switchboard-test-models"
    load_embedder(cache_dir=cache)
    return _export_folder(cache, "")


def tokenizer(folder: Path) -> Any:
    from tokenizers import Tokenizer

    found = Tokenizer.from_file(str(folder / "tokenizer.json"))
    found.enable_truncation(max_length=256)
    found.enable_padding(pad_id=0, pad_token="[PAD]")
    return found


def export_variants(today: Path, work: Path, calibration: list[str]) -> None:
    """Eager-attention export, its fused int8, and static QDQ int8 of its weight MatMuls."""
    from sentence_transformers import SentenceTransformer

    from knowledge.embeddings import _export_onnx, bundled_model_path

    model = SentenceTransformer(
        str(bundled_model_path()), device="cpu", model_kwargs={"attn_implementation": "eager"}
    )
    _export_onnx(model, work, "eager")
    _fused_int8(work)
    _static_qdq(today, work, calibration)


def _fused_int8(work: Path) -> None:
    """ONNX Runtime's BERT fusion of the eager export, then dynamic int8 of it."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer

    fused = optimizer.optimize_model(
        str(work / "model.onnx"), model_type="bert", num_heads=12, hidden_size=384, opt_level=0
    )
    print(f"  BERT fusion of the eager export: {fused.get_fused_operator_statistics()}")
    fused.save_model_to_file(str(work / "fused.onnx"))
    quantize_dynamic(
        work / "fused.onnx",
        work / "fused_int8.onnx",
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _static_qdq(today: Path, work: Path, calibration: list[str]) -> None:
    """Static QDQ int8 of the eager export's weight MatMuls, calibrated on other chunks."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    graph = onnx.load(str(work / "model.onnx")).graph
    weights = {initializer.name for initializer in graph.initializer}
    weighted = [
        node.name
        for node in graph.node
        if node.op_type == "MatMul" and any(name in weights for name in node.input)
    ]
    encode = tokenizer(today)
    encode.no_padding()

    class Chunks(CalibrationDataReader):
        def __init__(self) -> None:
            self._texts = iter(calibration)

        def get_next(self) -> dict[str, Any] | None:
            text = next(self._texts, None)
            if text is None:
                return None
            ids = np.array([encode.encode(text).ids], dtype=np.int64)
            return {
                "input_ids": ids,
                "attention_mask": np.ones_like(ids),
                "token_type_ids": np.zeros_like(ids),
            }

    quantize_static(
        work / "model.onnx",
        work / "static_qdq.onnx",
        Chunks(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        nodes_to_quantize=weighted,
        calibrate_method=CalibrationMethod.MinMax,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def ort_run(path: Path) -> Run:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [model_input.name for model_input in session.get_inputs()]

    def run(ids: Any, mask: Any) -> Any:
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return session.run(None, {name: feeds[name] for name in names})[0]

    return run


def openvino_run(path: Path, precision: str) -> Run:
    import openvino

    config = {"INFERENCE_NUM_THREADS": 1, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
    compiled = openvino.Core().compile_model(
        str(path), "CPU", {**config, "INFERENCE_PRECISION_HINT": precision}
    )
    request = compiled.create_infer_request()
    names = [model_input.get_any_name() for model_input in compiled.inputs]

    def run(ids: Any, mask: Any) -> Any:
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return request.infer({name: feeds[name] for name in names})[compiled.outputs[0]]

    return run


def torch_run() -> Run:
    import torch
    from sentence_transformers import SentenceTransformer

    from knowledge.embeddings import bundled_model_path

    torch.set_num_threads(1)
    encoder = SentenceTransformer(str(bundled_model_path()), device="cpu")[0].auto_model.eval()

    def run(ids: Any, mask: Any) -> Any:
        with torch.inference_mode():
            output = encoder(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        return output.last_hidden_state.numpy()

    return run


Variant = tuple[Callable[[], Run], int]  # how to load it, texts per run


def variants(today: Path, work: Path, with_openvino: bool) -> dict[str, Variant]:
    """The variants measured, by name."""
    found: dict[str, Variant] = {
        "ORT int8 dynamic, 1 text a run (today)": (lambda: ort_run(today / "model_int8.onnx"), 1),
        "ORT fp32 (today's export)": (lambda: ort_run(today / "model.onnx"), 1),
        f"ORT int8 dynamic, batches of {BATCHED} by length": (
            lambda: ort_run(today / "model_int8.onnx"),
            BATCHED,
        ),
        "ORT int8, eager export + BERT fusion (QAttention)": (
            lambda: ort_run(work / "fused_int8.onnx"),
            1,
        ),
        "ORT int8 static QDQ (weight MatMuls, per channel)": (
            lambda: ort_run(work / "static_qdq.onnx"),
            1,
        ),
        "torch fp32 (sentence-transformers' encoder)": (torch_run, 1),
    }
    if with_openvino:
        found["OpenVINO fp32"] = (lambda: openvino_run(today / "model.onnx", "f32"), 1)
        found["OpenVINO bf16"] = (lambda: openvino_run(today / "model.onnx", "bf16"), 1)
        found["OpenVINO int8 (the static QDQ model)"] = (
            lambda: openvino_run(work / "static_qdq.onnx", "f32"),
            1,
        )
    return found


def pooled(hidden: Any, mask: Any) -> Any:
    weights = mask[..., None].astype(np.float32)
    mean = (np.asarray(hidden, dtype=np.float32) * weights).sum(1) / weights.sum(1)
    return mean / np.linalg.norm(mean, axis=1, keepdims=True)


def embed(run: Run, encode: Any, texts: list[str], indices: range, batch: int, out: Any) -> int:
    """Embed texts[indices] into `out` (batched by length when `batch` > 1); real pieces."""
    order = sorted(indices, key=lambda i: len(texts[i]))
    pieces = 0
    for begin in range(0, len(order), batch):
        picked = order[begin : begin + batch]
        encodings = encode.encode_batch([texts[i] for i in picked])
        ids = np.array([encoding.ids for encoding in encodings], dtype=np.int64)
        mask = np.array([encoding.attention_mask for encoding in encodings], dtype=np.int64)
        out[picked] = pooled(run(ids, mask), mask)
        pieces += int(mask.sum())
    return pieces


def peak_rss(name: str, today: str, work: str, with_openvino: bool, texts: list[str]) -> float:
    """In a fresh process: load one variant, embed every text once; peak RSS in MB."""
    load, batch = variants(Path(today), Path(work), with_openvino)[name]
    run = load()
    out = np.zeros((len(texts), 384), dtype=np.float32)
    embed(run, tokenizer(Path(today)), texts, range(len(texts)), batch, out)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a spawned child would
    # report its parent's peak.
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def word_pieces(documents: list[Any], encode: Any) -> None:
    """Pieces embedded for the same pages with less overlap or a shorter heading prefix."""
    encode.no_padding()

    def count(texts: list[str]) -> int:
        return sum(len(encoding.ids) for encoding in encode.encode_batch(texts))

    base = 0
    for overlap in (30, 15, 0):
        options = ChunkingOptions(overlap_tokens=overlap)
        chunks = [chunk for document in documents for chunk in chunk_document(document, options)]
        path = count([chunk.embedding_text for chunk in chunks])
        last = count([f"{c.section[-1]}\n{c.text}" if c.section else c.text for c in chunks])
        alone = count([chunk.text for chunk in chunks])
        cut = sum(
            len(e.ids) == 256 for e in encode.encode_batch([c.embedding_text for c in chunks])
        )
        base = base or path
        print(
            f"  overlap {overlap:2}: {len(chunks)} chunks; word pieces with the heading path "
            f"{path} ({path / base:.2f}), last heading only {last} ({last / base:.2f}), "
            f"text alone {alone} ({alone / base:.2f}); {cut} chunks cut at the model's 256"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--openvino", action="store_true", help="add OpenVINO (if installed)")
    arguments = parser.parse_args()
    print(f"bench/embedding_cost.py: load average {os.getloadavg()}, {time.strftime('%H:%M')}")
    texts, documents = chunk_texts(arguments.pages)
    calibration, texts = texts[arguments.texts : arguments.texts + 200], texts[: arguments.texts]
    today = today_folder()
    work = Path(tempfile.mkdtemp(prefix="switchboard-embedding-cost-"))
    export_variants(today, work, calibration)
    encode = tokenizer(today)
    table = variants(today, work, arguments.openvino)
    runs = {name: (load(), batch) for name, (load, batch) in table.items()}
    cpu = dict.fromkeys(runs, 0.0)
    vectors = {name: np.zeros((len(texts), 384), dtype=np.float32) for name in runs}
    pieces = 0
    for name, (run, batch) in runs.items():
        embed(run, encode, texts, range(5), batch, vectors[name])  # warm up
    for _ in range(arguments.rounds):
        for begin in range(0, len(texts), SLICE):
            indices = range(begin, min(begin + SLICE, len(texts)))
            for name, (run, batch) in runs.items():
                started = time.process_time()
                counted = embed(run, encode, texts, indices, batch, vectors[name])
                cpu[name] += time.process_time() - started
            pieces += counted
    context = multiprocessing.get_context("spawn")
    names = list(runs)
    reference, full = vectors[names[0]], vectors[names[1]]
    print(f"{len(texts)} chunks, {pieces // arguments.rounds} word pieces; load {os.getloadavg()}")
    print(
        "| variant | CPU ms per 100 word pieces | × today | cosine to today's int8 (mean / min)"
        " | cosine to fp32 (mean / min) | peak RSS of a process running it |"
    )
    for name in names:
        milliseconds = cpu[name] * 1000 / pieces * 100
        today_ms = cpu[names[0]] * 1000 / pieces * 100
        with context.Pool(1) as pool:
            rss = pool.apply(peak_rss, (name, str(today), str(work), arguments.openvino, texts))
        to_int8 = (reference * vectors[name]).sum(1)
        to_fp32 = (full * vectors[name]).sum(1)
        print(
            f"| {name} | {milliseconds:.2f} | {today_ms / milliseconds:.2f} | "
            f"{to_int8.mean():.4f} / {to_int8.min():.4f} | {to_fp32.mean():.4f} / "
            f"{to_fp32.min():.4f} | {rss:.0f} MB |"
        )
    print("Word pieces embedded for the same pages (chunking, 180 tokens a chunk):")
    word_pieces(documents, encode)
    print(f"done: load average {os.getloadavg()}, {time.strftime('%H:%M')}")


if __name__ == "__main__":
    sys.exit(main())
