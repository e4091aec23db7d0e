"""A model call's statements on the driver's connection (its INSERTs, settlement's UPDATE ...
RETURNING) store and return what SQLAlchemy's statements store and return."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Table, create_engine, insert, select

from billing.ledger import _CLOSE_ANY
from billing.models import LedgerEntry, Reservation
from core.database import Base
from core.driver_statement import DriverStatement

RESERVATIONS = cast(Table, Reservation.__table__)
ENTRIES = cast(Table, LedgerEntry.__table__)
AT = datetime(2026, 12, 6, 7, 8, 9, 123456, tzinfo=UTC)


def _reservation(row_id: str) -> dict[str, Any]:
    return {
        "id": row_id,
        "user_id": "u1",
        "team_id": None,
        "api_token_id": "t1",
        "assistant_id": None,
        "model": "fake",
        "source": "v1",
        "input_price": 1e-6,
        "output_price": None,
        "prompt_tokens": 12,
        "max_output_tokens": 1024,
        "reserved_micros": 2060,
        "reserved_tokens": 1036,
        "counter_ids": ["c2", "c1"],
        "delivered_tokens": 0,
        "lease_seconds": 120,
        "lease_expires_at": AT + timedelta(seconds=120),
        "state": "open",
        "created_at": AT,
        "settled_at": None,
        "process_id": "p1",
    }


def _entry(row_id: str) -> dict[str, Any]:
    return {
        "id": row_id,
        "reservation_id": "r-" + row_id,
        "outcome": "completed",
        "model": "fake",
        "user_id": "u1",
        "team_id": "team",
        "api_token_id": None,
        "assistant_id": None,
        "source": "v1",
        "prompt_tokens": 12,
        "completion_tokens": 20,
        "cost_micros": 52,
        "reserved_micros": 2060,
        "estimated": True,
        "admitted_at": AT,
        "created_at": AT + timedelta(microseconds=1),
    }


def _reservation_in_no_budget(row_id: str) -> dict[str, Any]:
    return {**_reservation(row_id), "counter_ids": [], "input_price": 0, "output_price": 3e-6}


def _entry_counted(row_id: str) -> dict[str, Any]:
    return {**_entry(row_id), "estimated": False}


@pytest.mark.parametrize(
    ("table", "values"),
    [
        (RESERVATIONS, _reservation),
        (RESERVATIONS, _reservation_in_no_budget),
        (ENTRIES, _entry),
        (ENTRIES, _entry_counted),
    ],
    ids=["reservation", "reservation-in-no-budget", "entry", "entry-counted"],
)
def test_a_row_inserted_on_the_driver_is_stored_as_sqlalchemy_stores_it(
    tmp_path: Path, table: Table, values: Any
) -> None:
    path = tmp_path / "db.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine, tables=[table])
    with engine.begin() as connection:
        connection.execute(insert(table), values("a"))
        DriverStatement.insert(table).execute(connection, values("b"))
        loaded = {row.id: row._asdict() for row in connection.execute(select(table))}
    engine.dispose()

    assert loaded["b"] == values("b")  # read back through SQLAlchemy: the same values
    with sqlite3.connect(path) as raw:  # and the same stored text, number or NULL
        raw.row_factory = sqlite3.Row
        stored = {row["id"]: dict(row) for row in raw.execute(f"SELECT * FROM {table.name}")}
    differ = {"id", "reservation_id"}
    assert {k: v for k, v in stored["b"].items() if k not in differ} == {
        k: v for k, v in stored["a"].items() if k not in differ
    }


def test_a_row_missing_a_column_is_refused_on_sqlite(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Base.metadata.create_all(engine, tables=[RESERVATIONS])
    values = _reservation("a")
    del values["process_id"]
    with engine.begin() as connection, pytest.raises(KeyError):
        DriverStatement.insert(RESERVATIONS).execute(connection, values)
    engine.dispose()


SETTLED = AT + timedelta(seconds=3, microseconds=7)


def test_a_row_closed_on_the_driver_is_written_and_returned_as_sqlalchemy_does(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Base.metadata.create_all(engine, tables=[RESERVATIONS])
    params = {"outcome": "completed", "at": SETTLED}
    with engine.begin() as connection:
        connection.execute(insert(RESERVATIONS), [_reservation("core"), _reservation("driver")])
        by_core = connection.execute(_CLOSE_ANY, {**params, "rid": "core"}).one()
        close = DriverStatement(_CLOSE_ANY)
        by_driver = close.one_or_none(connection, {**params, "rid": "driver"})
        again = close.one_or_none(connection, {**params, "rid": "driver"})
        stored = {r.id: r for r in connection.execute(select(RESERVATIONS))}
    assert again is None  # no longer open: the statement's own "open" condition applies
    assert by_driver is not None and _without_id(by_driver._asdict()) == _without_id(
        dict(by_core._mapping)
    )
    assert (by_driver.counter_ids, by_driver.settled_at) == (["c2", "c1"], SETTLED)  # processed
    assert _without_id(dict(stored["driver"]._mapping)) == _without_id(
        dict(stored["core"]._mapping)
    )


@pytest.mark.parametrize(
    "at",
    [
        SETTLED,
        SETTLED.replace(microsecond=0),
        SETTLED.replace(tzinfo=None),
        SETTLED.astimezone(timezone(timedelta(hours=-5))),
    ],
    ids=["utc", "whole-second", "naive", "another-zone"],
)
def test_a_datetime_is_stored_as_sqlalchemy_stores_it_whatever_its_zone(
    tmp_path: Path, at: datetime
) -> None:
    path = tmp_path / "db.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine, tables=[RESERVATIONS])
    with engine.begin() as connection:
        core, driver = _reservation("core"), _reservation("driver")
        core["created_at"] = driver["created_at"] = at
        connection.execute(insert(RESERVATIONS), core)
        DriverStatement.insert(RESERVATIONS).execute(connection, driver)
    engine.dispose()
    with sqlite3.connect(path) as raw:
        stored = dict(raw.execute(f"SELECT id, created_at FROM {RESERVATIONS.name}").fetchall())
    assert stored["driver"] == stored["core"]


def test_a_parameter_left_out_of_an_update_is_refused(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Base.metadata.create_all(engine, tables=[RESERVATIONS])
    with engine.begin() as connection, pytest.raises(KeyError):
        DriverStatement(_CLOSE_ANY).one_or_none(connection, {"rid": "x", "outcome": "completed"})


def _without_id(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k != "id"}
