"""CPU an answer's streamed chunks cost against the answer's length (issue 20: cost as work grows).

Drives the real code an answer's chunks go through, in one process, without a model or database:
`Run.think` / `Run.append` (assistant/chat/runs.py) and the model call's `_Step` of
assistant/chat/generation.py for each chunk, a follower catching up after each chunk as the SSE
stream to the browser does (`_Cursor.catch_up`, the code `Run.follow` runs after each wake), and
every `--checkpoint-every` chunks what a checkpoint reads (`Run.streamed()`, the whole text, and
`Run.call_output()`, which a lease renewal counts). Two answers per length:

- `answer`: every chunk is answer text;
- `reasoning`: 90 % of the chunks are reasoning, then the answer (a reasoning model).

It prints the process CPU ms per 1,000 chunks at each length (1k, 10k, 50k, 100k chunks of
`--chunk` characters). Flat means linear; growing with the length means each chunk pays for the
text before it. CPU time of this process survives load on a shared machine; the load average is
printed with the figures.

    .venv/bin/python bench/answer_length.py                      # this checkout
    git worktree add /tmp/old c5ec8d7                             # the code before the change
    .venv/bin/python bench/answer_length.py --source /tmp/old     # the same, on that code
    git worktree remove /tmp/old
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LENGTHS = (1_000, 10_000, 50_000, 100_000)


def _add(step: Any, field: str, chunk: str) -> None:
    """Add a chunk to a step's text or thinking, as the checkout's generation.py does."""
    value = getattr(step, field)
    if isinstance(value, str):  # before: `step.text += chunk.text`
        setattr(step, field, value + chunk)
    else:
        value.append(chunk)


async def _answer(runs: Any, generation: Any, chunks: int, thinking: int, args: Any) -> float:
    """CPU seconds to stream an answer of `chunks` chunks, the first `thinking` reasoning."""
    run = runs.Run(chat_id="c", message_id="m", model="fake")
    cursor = runs._Cursor(sent=0, marks=0, thought=0)
    piece = ("word" * (args.chunk // 4 + 1))[: args.chunk - 1] + " "
    sent = 0
    started = time.process_time()
    run.new_call()
    step = generation._Step()
    for n in range(chunks):
        if n < thinking:
            run.think(piece)
            _add(step, "thinking", piece)
        else:
            run.append(piece)
            _add(step, "text", piece)
        sent += len(cursor.catch_up(run))
        if n % args.checkpoint_every == args.checkpoint_every - 1:
            run.streamed()
            run.call_output()
    run.stop_thinking()
    run.streamed()
    cpu = time.process_time() - started
    assert sent > 0 and len(run.text) == (chunks - thinking) * len(piece)
    return cpu


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="a checkout to import the code from")
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--chunk", type=int, default=4, help="characters per chunk (~a token)")
    parser.add_argument("--checkpoint-every", type=int, default=100, help="chunks (~1 s)")
    args = parser.parse_args()
    root = (args.source or Path(__file__).resolve().parent.parent).resolve()
    sys.path.insert(0, str(root))
    from assistant.chat import generation, runs

    print(f"code: {Path(runs.__file__).resolve().parent.parent.parent}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'chunks':>8} {'answer ms/1k':>14} {'reasoning ms/1k':>16}")
    for chunks in args.lengths:
        plain = await _answer(runs, generation, chunks, 0, args)
        reasoning = await _answer(runs, generation, chunks, chunks * 9 // 10, args)
        per = 1000 / chunks * 1000
        print(f"{chunks:>8} {plain * per:>14.1f} {reasoning * per:>16.1f}", flush=True)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    asyncio.run(main())
