"""Saving a message against a chat's history length, on PostgreSQL: the chat search triggers' cost.

Every message saved and every append to it (an answer's checkpoint) runs the message triggers of
assistant_0020 (each chat's words in bounded parts) and assistant_0023 (each chat's word starts
and the per-user counts of them). Issue 20 wants a chat turn's cost flat in the history length;
this measures whether the triggers keep it so. For each history length (1, 10, 100, 500, 2,000
messages of real prose: Python 3.11's HTML docs as Debian ships them, the corpus of
bench/retrieval.py, each chat a run of consecutive paragraphs, so its vocabulary grows as a real
conversation's does), it saves a message of the next 40 words of the text and appends the next 10
to it (each its own transaction, as `bench/search.py --writes` does), `--pairs` times a round,
and prints the CPU ms of PostgreSQL's backend (from /proc: load does not move it much) and the
wall ms per save + append, with the message triggers:

- `off`: the chat words triggers disabled (saving as before assistant_0020);
- `0020`: the trigger functions as assistant_0020 made them (chat words only);
- `0023`: the trigger functions as assistant_0023 made them (words, starts and counts, every
  start of every word of the message looked up, on every append too);
- `head`: the trigger functions as `--head` (default assistant_0026) makes them, over
  assistant_0023's: the chat words kept, the message's new lexemes left pending;
- `drained`: `head`, each save + append's pending lexemes then merged into the starts and counts
  at once (`assistant_chat_prefixes_drain`: what the background drain does, batched, or the
  chat list before it reads the counts), in the timing.

Modes take turns within each round (`--rounds`), on the same chat, and the messages written
are deleted after each turn (not timed), so every turn sees the same history.

    URL=$(bash .ci/postgres.sh)
    .venv/bin/python bench/history_writes.py --postgres "$URL" [--lengths 1 10 100 500 2000]
        [--pairs 20] [--rounds 3]
    bash .ci/postgres.sh --stop "$URL"
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType

from sqlalchemy import delete, insert, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `bench.load` is found from the repository root

from api.migrate import upgrade_database  # noqa: E402
from assistant.models import Chat, Message  # noqa: E402
from bench.load import cpu_seconds  # noqa: E402
from core.clock import now  # noqa: E402
from core.database import async_url  # noqa: E402
from core.ids import new_id  # noqa: E402
from core.models import User  # noqa: E402
from knowledge.documents import ParseLimits  # noqa: E402
from knowledge.text_files import parse_html  # noqa: E402

CORPUS = Path("/usr/share/doc/python3.11/html")
VERSIONS = ROOT / "api" / "migrations" / "versions"
WORDS_PER_MESSAGE = 40
WORDS_APPENDED = 10
TRIGGERS = ("insert", "update", "delete")
MODES = ("off", "0020", "0023", "head", "drained")
DRAIN = text("SELECT assistant_chat_prefixes_drain(NULL, NULL)")


def migration(name: str) -> ModuleType:
    path = next(VERSIONS.glob(f"*_{name}_*.py"))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def trigger_functions(statements: list[str]) -> list[str]:
    """The message trigger functions among a migration's statements, as CREATE OR REPLACE."""
    found = []
    for statement in statements:
        body = statement.removeprefix("CREATE OR REPLACE").removeprefix("CREATE")
        if "FUNCTION assistant_chat_words_" in body.split("(")[0] and "RETURNS trigger" in body:
            found.append("CREATE OR REPLACE" + body)
    return found


def prose(sections: str = "tutorial,library,howto,reference,faq") -> list[str]:
    """The docs' words in reading order."""
    words: list[str] = []
    for section in sections.split(","):
        for page in sorted((CORPUS / section).glob("*.html")):
            words += parse_html(page.read_bytes(), ParseLimits()).text.split()
    return words


def messages_of(words: list[str], start: int, count: int, size: int) -> list[str]:
    return [" ".join(words[start + i * size : start + (i + 1) * size]) for i in range(count)]


async def make_chat(connection: AsyncConnection, user_id: str, history: list[str]) -> str:
    chat_id, stamp = new_id(), now()
    await connection.execute(
        insert(Chat).values(
            id=chat_id, user_id=user_id, title="history", created_at=stamp, updated_at=stamp
        )
    )
    rows = [
        {
            "id": new_id(),
            "chat_id": chat_id,
            "role": "user" if i % 2 == 0 else "assistant",
            "content": said,
            "created_at": stamp,
            "updated_at": stamp,
        }
        for i, said in enumerate(history)
    ]
    for first in range(0, len(rows), 500):
        await connection.execute(insert(Message), rows[first : first + 500])
    await connection.commit()
    return chat_id


async def mode(connection: AsyncConnection, name: str, functions: dict[str, list[str]]) -> None:
    verb = "DISABLE" if name == "off" else "ENABLE"
    for trigger in TRIGGERS:
        await connection.exec_driver_sql(
            f"ALTER TABLE assistant_message {verb} TRIGGER assistant_chat_words_{trigger}"
        )
    for statement in functions.get("head" if name == "drained" else name, []):
        await connection.exec_driver_sql(statement)
    await connection.commit()


WAL = text("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')")


async def writes(
    connection: AsyncConnection,
    backend: int,
    chat_id: str,
    said: list[str],
    more: list[str],
    *,
    drained: bool = False,
) -> tuple[float, float, float]:
    """Total backend CPU s, wall s and WAL bytes of saving each message of `said` and appending
    its `more`; with `drained`, each save + append's pending starts merged after it (as
    assistant_0026's drain does, here at once: the most it can cost)."""
    wal = float(await connection.scalar(WAL) or 0)
    await connection.commit()
    cpu, started = cpu_seconds(backend), time.perf_counter()
    written = []
    for content, appended in zip(said, more, strict=True):
        message_id, stamp = new_id(), now()
        await connection.execute(
            insert(Message).values(
                id=message_id,
                chat_id=chat_id,
                role="assistant",
                content=content,
                created_at=stamp,
                updated_at=stamp,
            )
        )
        await connection.commit()
        await connection.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(content=Message.content + " " + appended)
        )
        await connection.commit()
        if drained:
            await connection.execute(DRAIN)
            await connection.commit()
        written.append(message_id)
    spent = cpu_seconds(backend) - cpu, time.perf_counter() - started
    written_wal = float(await connection.scalar(WAL) or 0) - wal
    await connection.execute(delete(Message).where(Message.id.in_(written)))
    await connection.commit()
    return (*spent, written_wal)


Figures = dict[tuple[int, str], tuple[float, float, float]]
# A chat's word starts (assistant_0023): how many, and their bytes.
HELD = text(
    "SELECT sum(length(prefixes)), sum(pg_column_size(prefixes)) "
    "FROM assistant_chat_prefixes WHERE chat_id = :chat"
)


async def measure(url: str, args: argparse.Namespace) -> tuple[Figures, dict[int, str]]:
    words = prose()
    # assistant_0023's functions first (its delete function remakes the starts too; a later
    # migration may replace only some of them), then the head's own.
    before = trigger_functions(migration("assistant_0023").POSTGRESQL)
    head = before + trigger_functions(migration(args.head).POSTGRESQL)
    functions = {
        "0020": trigger_functions(migration("assistant_0020").POSTGRESQL),
        "0023": before,
        "head": head,
    }
    engine = create_async_engine(async_url(url))
    spent: Figures = {}
    held: dict[int, str] = {}
    async with engine.connect() as connection:
        backend = int(await connection.scalar(text("SELECT pg_backend_pid()")) or 0)
        user_id = new_id()
        await connection.execute(
            insert(User).values(id=user_id, username="history", password_hash="-")
        )
        await connection.commit()
        offset = 0
        for length in args.lengths:
            await mode(connection, "head", functions)
            history = messages_of(words, offset, length, WORDS_PER_MESSAGE)
            offset += length * WORDS_PER_MESSAGE
            chat_id = await make_chat(connection, user_id, history)
            said = messages_of(words, offset, args.pairs, WORDS_PER_MESSAGE)
            more = messages_of(
                words, offset + args.pairs * WORDS_PER_MESSAGE, args.pairs, WORDS_APPENDED
            )
            for _ in range(args.rounds):
                for name in MODES:
                    await mode(connection, name, functions)
                    drained = name == "drained"
                    # the first warms up
                    await writes(connection, backend, chat_id, said[:1], more[:1], drained=drained)
                    cpu, wall, wal = await writes(
                        connection, backend, chat_id, said, more, drained=drained
                    )
                    total = spent.get((length, name), (0.0, 0.0, 0.0))
                    spent[(length, name)] = (total[0] + cpu, total[1] + wall, total[2] + wal)
            starts, size = (await connection.execute(HELD, {"chat": chat_id})).one()
            await connection.commit()
            held[length] = f"{int(starts or 0):,} starts, {int(size or 0) / 1000:,.0f} kB"
            print(f"  {length} messages: {held[length]}", flush=True)
        await mode(connection, "head", functions)
    await engine.dispose()
    per = args.pairs * args.rounds
    figures = {
        key: (cpu * 1000 / per, wall * 1000 / per, wal / per / 1000)
        for key, (cpu, wall, wal) in spent.items()
    }
    return figures, held


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("SWITCHBOARD_TEST_POSTGRES_URL", ""))
    parser.add_argument("--lengths", type=int, nargs="+", default=[1, 10, 100, 500, 2000])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--head",
        default="assistant_0026",
        help="the migration whose trigger functions are `head` (over assistant_0023's)",
    )
    args = parser.parse_args()
    if not args.postgres:
        parser.error("--postgres URL (or SWITCHBOARD_TEST_POSTGRES_URL) is needed")
    from tests.postgres import create_database  # the tests' helper: a fresh database

    url = await asyncio.to_thread(create_database, args.postgres, migrate=False)
    await asyncio.to_thread(upgrade_database, url)
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    figures, held = await measure(url, args)
    print(
        f"\n{started}; 1-minute load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end; "
        f"{args.pairs} x {args.rounds} saves + appends per cell; `head` is {args.head}"
    )
    names = " | ".join(MODES)
    print(
        f"| history (messages) | chat's starts | DB CPU ms: {names} "
        f"| wall ms: {names} | WAL kB: {names} |"
    )
    print("| ---: | ---: |" + " ---: |" * 3 * len(MODES))
    for length in args.lengths:
        cells = [f"{figures[(length, name)][0]:.2f}" for name in MODES]
        cells += [f"{figures[(length, name)][1]:.1f}" for name in MODES]
        cells += [f"{figures[(length, name)][2]:.1f}" for name in MODES]
        print(f"| {length:,} | {held[length]} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    asyncio.run(main())
