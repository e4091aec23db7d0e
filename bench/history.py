"""A chat turn's cost against the length of the chat's history (issue 20 item 4).

Starts the lean upstream (bench/upstream.py) and `switchboard serve` (SQLite, one worker,
loopback), creates chats whose history already holds N turns (1, 10, 100, 500: user and
assistant messages inserted straight into the database, chained by parent as real turns are,
the last one the chat's active leaf), then sends new streamed turns to them one at a time and
reads the server's CPU time (user + system, /proc) before and after each batch: CPU ms per turn,
with p50 wall time. Each row runs once per context window (`--windows`): with 200,000 tokens the
whole history is sent even at 500 turns (~130,000 tokens), so every earlier message is read and
its tokens counted (from the per-message cache after the first time) on every turn; with a small
window (8,000 tokens) a turn sends only the newest turns, and reads only them and a little more. The
history's messages carry `history_turns` as the app writes them (`--uncounted`: as messages
written before that column, whose turns above the window are counted by walking them).

`rows read` is how many message rows the turn's history read returns, measured in this process
on the server's database before the batch (the same functions the server runs for a turn, each
SELECT run again on a cursor of its own to count its rows): `assistant.chat.window` where it
exists, else the whole-chat read that came before it.

    .venv/bin/python bench/history.py [--turns 1 10 100 500] [--windows 200000 8000]
        [--uncounted] [--chats 8] [--requests 40]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from sqlalchemy import event, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `bench.load` is found from the repository root

from assistant.chat import branches, history  # noqa: E402
from assistant.models import Chat, Message  # noqa: E402
from bench.gateway import free_port, process, token_for  # noqa: E402
from bench.load import cpu_seconds, rss_mb, served_env, stream_once  # noqa: E402
from bench.search import serving, vocabulary  # noqa: E402
from core.catalog import parse_catalog  # noqa: E402
from core.clock import now  # noqa: E402
from core.database import async_url, create_engine  # noqa: E402
from core.ids import new_id  # noqa: E402

QUESTION_WORDS = 40
ANSWER_WORDS = 150


def model_name(window: int) -> str:
    return f"chunks-20-w{window}"


def catalog(upstream: str, windows: list[int]) -> dict[str, Any]:
    models = [
        {
            "model_name": model_name(window),
            "litellm_params": {"model": "openai/chunks-20", "api_base": upstream, "api_key": "b"},
            "model_info": {
                "input_cost_per_token": 1e-9,
                "output_cost_per_token": 2e-9,
                "max_input_tokens": window,
                "max_output_tokens": 1024,
            },
        }
        for window in windows
    ]
    return {"model_list": models, "router_settings": {"num_retries": 0}}


def _count_rows(read: list[int]) -> Any:
    def count(conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if "assistant_message" in statement and statement.lstrip()[:6] in {"SELECT", "WITH R"}:
            if "count(*)" in statement:  # a size or a count: no message row read into the app
                return
            side = conn.connection.dbapi_connection.cursor()
            try:
                side.execute(statement, parameters)
                read.append(len(side.fetchall()))
            finally:
                side.close()

    return count


async def rows_read(db_url: str, raw_catalog: dict[str, Any], chat_id: str, window: int) -> int:
    """The message rows a new turn's history read returns (see the module's docstring)."""
    engine = create_engine(async_url(db_url))
    factory = async_sessionmaker(engine, expire_on_commit=False)
    async with engine.connect() as connection:
        found = await connection.execute(select(Chat.user_id).where(Chat.id == chat_id))
        user_id = str(found.scalar())
    read: list[int] = []
    count = _count_rows(read)
    event.listen(Engine, "after_cursor_execute", count)
    try:
        try:
            from assistant.attachments.prompt import Attached
            from assistant.chat import window as branch_window
            from assistant.chat.turns import Turn
        except ImportError:  # before the window: the whole chat, as a tree
            before = branches.for_turn  # type: ignore[attr-defined]
            await before(factory, user_id=user_id, chat_id=chat_id)
        else:
            chats = parse_catalog(raw_catalog, source="bench")
            tokens = branch_window.window_tokens(chats)
            _chat, branch = await branch_window.open_turn(
                factory, user_id=user_id, chat_id=chat_id, window_tokens=tokens
            )
            turns = [*history.turns(branch.nodes), {"role": "user", "content": "And then?"}]
            last = branch.nodes[-1].id if branch.nodes else None
            turn = Turn(
                path=branch.nodes, above=branch.above, parent_id=last, content="", source="chat"
            )
            await branch_window.fit(
                factory,
                turn=turn,
                chat_id=chat_id,
                attached=Attached(turns=turns),
                model=chats.resolve(model_name(window)),
                system=None,
            )
    finally:
        event.remove(Engine, "after_cursor_execute", count)
        await engine.dispose()
    return sum(read)


async def give_history(
    db_url: str, chat_ids: list[str], turns: int, rng: random.Random, *, counted: bool
) -> None:
    """`turns` question-and-answer pairs in each chat, chained by parent, the last one active;
    with `counted` (and a schema that has it), each with its `history_turns` as the app writes
    it (without, as messages written before that column: the turns above are walked)."""
    counted = counted and "history_turns" in Message.__table__.columns
    words = vocabulary(rng)
    engine = create_async_engine(async_url(db_url))
    async with engine.begin() as connection:
        for chat_id in chat_ids:
            rows: list[dict[str, Any]] = []
            parent = None
            for i in range(turns * 2):
                role = "user" if i % 2 == 0 else "assistant"
                length = QUESTION_WORDS if role == "user" else ANSWER_WORDS
                stamp, message_id = now(), new_id()
                rows.append(
                    {
                        "id": message_id,
                        "chat_id": chat_id,
                        "parent_id": parent,
                        "role": role,
                        "content": " ".join(rng.choices(words, k=length)),
                        "model": "chunks-20" if role == "assistant" else None,
                        "created_at": stamp,
                        "updated_at": stamp,
                    }
                )
                if counted:
                    rows[-1]["history_turns"] = i  # every earlier message is a turn
                parent = message_id
            for first in range(0, len(rows), 500):
                await connection.execute(insert(Message), rows[first : first + 500])
            await connection.execute(
                update(Chat)
                .where(Chat.id == chat_id)
                .values(active_leaf_id=parent, title="History bench")
            )
    await engine.dispose()


async def turns_cost(
    base: str, auth: dict[str, str], chat_ids: list[str], requests: int, server_pid: int
) -> tuple[float, float, int]:
    """CPU ms per turn of the server and p50 wall ms over `requests` turns, one at a time."""
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as client:

        async def turn(i: int) -> float:
            url = f"{base}/api/chats/{chat_ids[i % len(chat_ids)]}/messages"
            started = time.perf_counter()
            await stream_once(client, url, {"content": "And then?", "stream": True}, auth)
            return (time.perf_counter() - started) * 1000

        for i in range(len(chat_ids)):  # warm-up: a turn on each chat fills the token cache
            await turn(i)
        before = cpu_seconds(server_pid)
        walls, errors = [], 0
        for i in range(requests):
            try:
                walls.append(await turn(i))
            except (RuntimeError, aiohttp.ClientError):
                errors += 1
        cpu = (cpu_seconds(server_pid) - before) * 1000 / max(1, len(walls))
    return cpu, statistics.median(walls or [float("nan")]), errors


async def bench(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="sb-history-bench-"))
    (tmp / "data").mkdir()
    up_port, port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    raw_catalog = catalog(upstream, args.windows)
    (tmp / "models.yaml").write_text(json.dumps(raw_catalog))
    db_url = f"sqlite:///{tmp / 'data' / 'switchboard.db'}"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    sb_env = served_env(
        tmp / "data",
        tmp / "models.yaml",
        port,
        SWITCHBOARD_DATABASE_URL=db_url,
        SWITCHBOARD_EMBEDDING_BACKEND="hash",
    )
    up_cmd = [sys.executable, str(ROOT / "bench" / "upstream.py"), "--port", str(up_port)]
    base = f"http://127.0.0.1:{port}"
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    rows = []
    rng = random.Random(20)
    with process(up_cmd, env, f"{upstream}/models"):
        # BENCH_SERVER_PREFIX: e.g. a profiler's command line (`py-spy record -o f --`)
        prefix = os.environ.get("BENCH_SERVER_PREFIX", "").split()
        cmd = [*prefix, sys.executable, "-m", "api.cli", "serve"]
        with serving(cmd, sb_env, f"{base}/api/health", tmp / "server.log") as server_pid:
            auth = {"Authorization": f"Bearer {token_for(base, 'bench', 'bench-password')}"}
            for window in args.windows:
                for turns in args.turns:
                    body = {"model": model_name(window)}
                    chat_ids = [
                        httpx.post(f"{base}/api/chats", json=body, headers=auth)
                        .raise_for_status()
                        .json()["id"]
                        for _ in range(args.chats)
                    ]
                    await give_history(db_url, chat_ids, turns, rng, counted=not args.uncounted)
                    read = await rows_read(db_url, raw_catalog, chat_ids[0], window)
                    cpu, wall, errors = await turns_cost(
                        base, auth, chat_ids, args.requests, server_pid
                    )
                    rss = rss_mb(server_pid)
                    print(
                        f"  window {window}, {turns} turns: {cpu:.2f} ms CPU/turn, "
                        f"p50 {wall:.1f} ms, {read} rows read, {errors} errors, RSS {rss:.0f} MB",
                        flush=True,
                    )
                    rows.append((window, turns, cpu, wall, read, errors, rss))
    shutil.rmtree(tmp, ignore_errors=True)
    _print_table(rows, started, load)


def _print_table(
    rows: list[tuple[int, int, float, float, int, int, float]], started: str, load: float
) -> None:
    print(
        f"\n{started}; 1-minute load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    )
    print(
        "| window (tokens) | turns of history | messages | rows read / turn "
        "| app CPU ms / turn | p50 ms | errors | RSS MB |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for window, turns, cpu, wall, read, errors, rss in rows:
        print(
            f"| {window:,} | {turns} | {turns * 2:,} | {read:,} | {cpu:.2f} | {wall:.1f} "
            f"| {errors} | {rss:.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--turns", type=int, nargs="+", default=[1, 10, 100, 500])
    parser.add_argument("--windows", type=int, nargs="+", default=[200_000, 8_000])
    parser.add_argument(
        "--uncounted", action="store_true", help="history as written before history_turns"
    )
    parser.add_argument("--chats", type=int, default=8)
    parser.add_argument("--requests", type=int, default=40)
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
