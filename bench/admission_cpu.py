"""In-process CPU of one admission and settlement of a model call on a migrated SQLite file.

The two write transactions every metered call makes (`billing.admission.admit`, then
`billing.ledger.settle` with the admitted reservation), for a seated caller with no budget and no
rate limit, as a `/v1` stream makes them; no server, no HTTP. CPU time of this process
(`time.process_time`), so other load on the machine barely moves it. With `--metered` the two go
through `MeteredCall.admit` and `.settle`, as a `/v1` stream calls them (the task and shield
around each, where one is used, included).

    .venv/bin/python bench/admission_cpu.py [--calls 4000] [--rounds 3] [--metered]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.migrate import upgrade_database  # noqa: E402
from assistant.gateway.chunks import Usage  # noqa: E402
from assistant.gateway.metering import Metering  # noqa: E402
from assistant.gateway.router import Gateway  # noqa: E402
from assistant.schemas import MessageStatus  # noqa: E402
from billing import ledger  # noqa: E402
from billing.admission import admit  # noqa: E402
from core.database import async_url, create_engine, sessionmaker  # noqa: E402
from tests.billing.builders import fake_model, seated_caller  # noqa: E402


async def measure(path: Path, calls: int, rounds: int, metered: bool) -> None:
    engine = create_engine(async_url(f"sqlite+aiosqlite:///{path}"))
    factory = sessionmaker(engine)
    caller, model = await seated_caller(factory), fake_model()
    metering = Metering(factory, gateway=cast(Gateway, None))  # no model is called

    async def through_metering() -> None:
        call = metering.call(caller, model, source="v1", prompt_tokens=12, max_output_tokens=1024)
        await call.admit()
        await call.settle(MessageStatus.COMPLETE, Usage(12, 20))

    async def one() -> None:
        if metered:
            return await through_metering()
        admitted = await admit(
            factory,
            caller=caller,
            model=model,
            prompt_tokens=12,
            max_output_tokens=1024,
            source="v1",
        )
        await ledger.settle(
            factory,
            reservation_id=admitted.id,
            outcome="completed",
            prompt_tokens=12,
            completion_tokens=20,
            estimated=False,
            admitted=admitted,
        )

    for _ in range(300):  # warm: statement caches, the kept terms
        await one()
    for round_ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            await one()
        ms = (time.process_time() - started) * 1000 / calls
        print(f"round {round_ + 1}: {ms:.3f} ms of CPU per admission + settlement")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--metered", action="store_true", help="through MeteredCall")
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp(prefix="sb-admission-")) / "switchboard.db"
    upgrade_database(f"sqlite:///{path}")  # before the loop: migrations run their own
    asyncio.run(measure(path, args.calls, args.rounds, args.metered))


if __name__ == "__main__":
    main()
