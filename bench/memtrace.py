"""Run `switchboard serve` with tracemalloc on: where does a served process's memory go?

    .venv/bin/python bench/memtrace.py DIR [serve arguments...]

Runs the usual command line (`api.cli`, `serve` and the given arguments). The first SIGUSR2
starts tracemalloc (10 frames; from then on, after the start-up and warm-up it should not see),
each further one writes a snapshot to DIR/snapshot-N.pickle and a line with the process's
resident memory (before and after glibc's malloc_trim), the memory tracemalloc sees and gc
object counts to DIR/counts.txt; `--compare DIR A B` prints
the 25 places that grew most between snapshots A and B. For diagnosis only: tracemalloc makes
the server several times slower and larger. bench/streams.py uses it with `--trace DIR`.
"""

from __future__ import annotations

import ctypes
import gc
import signal
import sys
import tracemalloc
from collections import Counter
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[1]


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def arm(out: Path) -> None:
    """Snapshot on every SIGUSR2."""
    out.mkdir(parents=True, exist_ok=True)
    taken = [0]

    def snapshot(signum: int, frame: FrameType | None) -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start(10)
            return
        gc.collect()
        taken[0] += 1
        tracemalloc.take_snapshot().dump(str(out / f"snapshot-{taken[0]}.pickle"))
        kinds = Counter(type(o).__name__ for o in gc.get_objects())
        top = ", ".join(f"{name} {n}" for name, n in kinds.most_common(12))
        traced, rss = tracemalloc.get_traced_memory()[0] / 2**20, resident_mb()
        # What glibc's allocator holds free but has not given back (fragmentation, arenas).
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        line = f"rss {rss:.0f} MB, {resident_mb():.0f} MB after malloc_trim; traced {traced:.1f} MB"
        with (out / "counts.txt").open("a") as log:
            print(f"{taken[0]}: {line}; {top}", file=log)

    signal.signal(signal.SIGUSR2, snapshot)


def compare(out: Path, first: int, second: int) -> None:
    old = tracemalloc.Snapshot.load(str(out / f"snapshot-{first}.pickle"))
    new = tracemalloc.Snapshot.load(str(out / f"snapshot-{second}.pickle"))
    for stat in new.compare_to(old, "traceback")[:25]:
        print(f"{stat.size_diff / 1024:+.0f} KiB in {stat.count_diff:+d} blocks")
        for line in stat.traceback.format()[-8:]:
            print("   ", line)


def main() -> None:
    if sys.argv[1] == "--compare":
        compare(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        return
    arm(Path(sys.argv[1]))
    sys.path.insert(0, str(ROOT))
    sys.argv = ["switchboard", *sys.argv[2:]]
    from api.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
