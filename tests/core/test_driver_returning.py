"""Settlement's UPDATE ... RETURNING on the driver's cursor writes and returns what SQLAlchemy's
statement writes and returns."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, select

from billing.ledger import _CLOSE_ANY, RESERVATIONS
from core.database import Base
from core.driver_returning import DriverReturning
from tests.core.test_driver_insert import AT, _reservation

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
        by_driver = DriverReturning(_CLOSE_ANY).one_or_none(connection, {**params, "rid": "driver"})
        again = DriverReturning(_CLOSE_ANY).one_or_none(connection, {**params, "rid": "driver"})
        stored = {r.id: r for r in connection.execute(select(RESERVATIONS))}
    assert again is None  # no longer open: the statement's own "open" condition applies
    assert by_driver is not None and _without_id(by_driver._asdict()) == _without_id(
        dict(by_core._mapping)
    )
    assert (by_driver.counter_ids, by_driver.settled_at) == (["c2", "c1"], SETTLED)  # processed
    assert _without_id(dict(stored["driver"]._mapping)) == _without_id(
        dict(stored["core"]._mapping)
    )


def test_a_parameter_left_out_is_refused(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Base.metadata.create_all(engine, tables=[RESERVATIONS])
    with engine.begin() as connection, pytest.raises(KeyError):
        DriverReturning(_CLOSE_ANY).one_or_none(connection, {"rid": "x", "outcome": "completed"})


def _without_id(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k != "id"}
