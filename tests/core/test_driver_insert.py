"""The model call's INSERTs on the driver's cursor store what SQLAlchemy's INSERT stores."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Table, create_engine, insert, select

from billing.models import LedgerEntry, Reservation
from core.database import Base
from core.driver_insert import DriverInsert

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


@pytest.mark.parametrize(
    ("table", "values"),
    [(RESERVATIONS, _reservation), (ENTRIES, _entry)],
    ids=["reservation", "entry"],
)
def test_a_row_inserted_on_the_driver_is_stored_as_sqlalchemy_stores_it(
    tmp_path: Path, table: Table, values: Any
) -> None:
    path = tmp_path / "db.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine, tables=[table])
    with engine.begin() as connection:
        connection.execute(insert(table), values("a"))
        DriverInsert(table).execute(connection, values("b"))
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
        DriverInsert(RESERVATIONS).execute(connection, values)
    engine.dispose()
