"""Content-addressed file storage: what a sweep may remove, and what it leaves or puts back;
of several processes on one folder, which sweeps (real processes, spawned)."""

from __future__ import annotations

import multiprocessing
import os
import time
from multiprocessing.queues import Queue
from pathlib import Path

from knowledge.storage import SWEEP_LOCK, FileStorage
from tests.knowledge import sweep_turns

DATA = b"The lighthouse keeper's log, page one."
LONG_AGO = time.time() - 7 * 24 * 3600
HOUR = 3600.0
SPAWN = multiprocessing.get_context("spawn")  # as the app's worker pools start processes


def _aged(storage: FileStorage, data: bytes) -> str:
    key = storage.put(data)
    os.utime(storage.path_of(key), (LONG_AGO, LONG_AGO))
    return key


def test_putting_bytes_already_stored_makes_them_young_again(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path)
    key = _aged(storage, DATA)
    cutoff = time.time() - 60
    assert storage.stale_keys(cutoff) == [key]
    assert storage.put(DATA) == key
    assert storage.stale_keys(cutoff) == []
    assert not storage.discard(key, cutoff=cutoff)
    assert storage.read(key) == DATA


def test_discard_removes_bytes_nobody_put_since_the_cutoff(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path)
    key = _aged(storage, DATA)
    assert storage.discard(key, cutoff=time.time() - 60)
    assert not storage.path_of(key).exists()
    assert not storage.discard(key, cutoff=time.time() - 60)  # gone already: nothing to do
    assert list(storage.path_of(key).parent.iterdir()) == []  # nothing left aside


def test_bytes_a_killed_sweep_left_aside_are_put_back_by_the_next(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path)
    key = _aged(storage, DATA)
    path = storage.path_of(key)
    path.rename(path.with_name(f".sweep-{key}-0badf00d"))  # killed between its move and check
    assert storage.stale_keys(time.time() - 60) == []  # put back, and checked on the next round
    assert storage.read(key) == DATA


def test_a_put_while_the_bytes_are_aside_writes_them_again(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path)
    key = _aged(storage, DATA)
    path = storage.path_of(key)
    aside = path.with_name(f".sweep-{key}-0badf00d")
    path.rename(aside)  # a sweep's move; the upload comes before its time check
    assert storage.put(DATA) == key
    aside.unlink()  # the sweep finds them old and removes what it moved
    assert storage.read(key) == DATA


def test_an_upload_a_killed_writer_left_half_done_goes_once_old(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path)
    key = storage.put(DATA)
    folder = storage.path_of(key).parent
    old, young = folder / ".upload-old", folder / ".upload-young"
    old.write_bytes(b"half")
    young.write_bytes(b"half")
    os.utime(old, (LONG_AGO, LONG_AGO))
    storage.stale_keys(time.time() - 60)
    assert not old.exists()
    assert young.exists()  # perhaps a writer at work


def _spawned(*args: object) -> multiprocessing.process.BaseProcess:
    started = SPAWN.Process(target=sweep_turns.turn, args=args, daemon=True)
    started.start()
    return started


def test_of_processes_on_one_storage_folder_one_sweeps_at_a_time_and_once_an_interval(
    tmp_path: Path,
) -> None:
    root = str(tmp_path)
    out: Queue[bool] = SPAWN.Queue()
    taken, release = SPAWN.Event(), SPAWN.Event()
    first = _spawned(root, HOUR, out, taken, release)
    assert taken.wait(60), "the first process never took its turn"
    second = _spawned(root, HOUR, out)  # while the first sweeps: not its turn
    assert out.get(timeout=60) is False
    second.join(60)
    release.set()
    assert out.get(timeout=60) is True
    first.join(60)
    # The first swept just now: the next wakes within the interval and leaves it.
    assert sweep_turns.turn(root, HOUR) is False
    assert sweep_turns.turn(root, 0.001) is True  # an interval later, it is a new turn


def test_a_process_killed_while_sweeping_leaves_the_turn_to_the_next(tmp_path: Path) -> None:
    root = str(tmp_path)
    taken, release = SPAWN.Event(), SPAWN.Event()
    killed = _spawned(root, HOUR, None, taken, release)
    assert taken.wait(60), "the process never took its turn"
    assert sweep_turns.turn(root, HOUR) is False
    killed.kill()
    killed.join(60)
    assert sweep_turns.turn(root, HOUR) is True  # its lock went with it; it recorded no sweep


def test_a_sweep_is_due_once_most_of_an_interval_passed_since_the_last_whoever_made_it(
    tmp_path: Path,
) -> None:
    # Workers wake at their own offsets: one that swept 36 minutes ago makes the others wait,
    # so the folder is walked about once an hour, not once per worker.
    lock = tmp_path / SWEEP_LOCK
    lock.write_text(f"{time.time() - 0.6 * HOUR}")
    assert sweep_turns.turn(str(tmp_path), HOUR) is False
    lock.write_text(f"{time.time() - 0.95 * HOUR}")
    assert sweep_turns.turn(str(tmp_path), HOUR) is True
    assert time.time() - float(lock.read_text()) < 60  # it recorded its own sweep
    lock.write_text("not a time")  # a torn write: as if no sweep ended yet
    assert sweep_turns.turn(str(tmp_path), HOUR) is True
