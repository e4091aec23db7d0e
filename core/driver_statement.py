"""The statements every model call makes (its reservation's INSERT, settlement's `UPDATE ...
RETURNING`, its ledger row's INSERT), cheap on SQLite.

Through SQLAlchemy Core such a statement costs several times SQLite's own work (the execution
context, the parameters' and the result's processing looked up each time: bench/README.md,
"`/v1` path, stop 25"). On SQLite `DriverStatement` sends it on the driver's connection instead:
its SQL, where each parameter comes from and each parameter's and returned column's processing
(the functions SQLAlchemy applies: a datetime as its text, a JSON list as JSON) prepared once per
dialect, and only the columns that need processing processed. Any other database goes through
SQLAlchemy as before.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.types import TypeEngine

from core.database import UTCDateTime

Processor = Callable[[Any], Any]
# What SQLAlchemy's SQLite DATETIME stores (its default storage format), filled from a tuple.
_SQLITE_DATETIME = "%04d-%02d-%02d %02d:%02d:%02d.%06d"
# What a quicker processor must store exactly as SQLAlchemy's own does before it is used.
_DATETIMES = (
    datetime(2026, 12, 6, 7, 8, 9, 123456, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 12, 6, 7, 8, 9),
    None,
)


class DriverStatement:
    """A DML statement with named parameters (an `INSERT`, an `UPDATE ... RETURNING`)."""

    def __init__(self, statement: UpdateBase) -> None:
        self.statement = statement  # built once: its compiled form is cached on it
        self._plans: dict[Dialect, _Plan] = {}

    @classmethod
    def insert(cls, table: Table) -> DriverStatement:
        """An INSERT of one whole row of `table`: its parameters name every column."""
        return cls(insert(table))

    def execute(self, connection: Connection, params: Mapping[str, Any]) -> None:
        """Run the statement in the connection's transaction.

        Raises:
            KeyError: `params` leaves out a parameter of the statement (on SQLite).
        """
        if connection.dialect.name != "sqlite":
            connection.execute(self.statement, dict(params))
            return
        plan = self._plan(connection.dialect)
        raw = connection.connection.dbapi_connection
        assert raw is not None
        raw.execute(plan.sql, plan.args(params))

    def one_or_none(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        """The row the statement returns (its columns as attributes, as a `Row`), or None.

        Raises:
            KeyError: `params` leaves out a parameter of the statement (on SQLite).
        """
        if connection.dialect.name != "sqlite":
            return connection.execute(self.statement, dict(params)).one_or_none()
        plan = self._plan(connection.dialect)
        raw = connection.connection.dbapi_connection
        assert raw is not None
        rows = raw.execute(plan.sql, plan.args(params)).fetchall()
        if not rows:
            return None
        (row,) = rows
        if plan.results:
            values = list(row)
            for index, process in plan.results:
                values[index] = process(values[index])
            return plan.row._make(values)
        return plan.row._make(row)

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect)
        if plan is None:
            plan = self._plans[dialect] = _Plan(self.statement, dialect)
        return plan


class _Plan:
    """For one dialect: the SQL; the given parameters in their positional order (a getter), the
    statement's own values (processed already) and where they go, each position's processor
    where it has one; the returned row's type and each returned column's processor where it has
    one."""

    def __init__(self, statement: UpdateBase, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        given: list[str] = []
        self.fixed: list[tuple[int, Any]] = []
        self.binds: list[tuple[int, Processor]] = []
        for index, name in enumerate(compiled.positiontup or []):
            bind = compiled.binds[name]
            process = _processor(bind.type, dialect)
            if not bind.required:
                value = bind.effective_value
                self.fixed.append((index, value if process is None else process(value)))
                continue
            given.append(name)
            if process is not None:
                self.binds.append((index, process))
        self.given = itemgetter(*given) if given else None
        self.one_given = len(given) == 1
        columns = list(statement.exported_columns)
        self.row: Any = namedtuple("Returned", [c.key for c in columns])  # type: ignore[misc]
        self.results: list[tuple[int, Processor]] = []
        for index, column in enumerate(columns):
            process = column.type._cached_result_processor(dialect, None)
            if process is not None:
                self.results.append((index, process))

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional parameters of one run, processed."""
        if self.given is None:
            args: list[Any] = []
        elif self.one_given:
            args = [self.given(params)]
        else:
            args = list(self.given(params))
        for index, value in self.fixed:
            args.insert(index, value)
        for index, process in self.binds:
            args[index] = process(args[index])
        return args


def _processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor | None:
    """SQLAlchemy's bind processor of `type_`; for a `UTCDateTime` on SQLite a quicker one, if
    it stores what SQLAlchemy's does (a datetime is bound on every statement a call makes)."""
    process: Processor | None = type_._cached_bind_processor(dialect)
    if process is None or dialect.name != "sqlite" or not isinstance(type_, UTCDateTime):
        return process
    quicker = _utc_text(process)
    if all(quicker(sample) == process(sample) for sample in _DATETIMES):
        return quicker
    return process  # a storage format of its own: SQLAlchemy's processor, as it is


def _utc_text(process: Processor) -> Processor:
    """A UTC datetime (what `core.clock.now` makes) as SQLite's DATETIME text without
    `UTCDateTime`'s two layers of processing (1.6 against 0.7 us); anything else by `process`."""

    def text(value: Any) -> Any:
        if value is None:
            return None
        if value.__class__ is datetime and value.tzinfo is UTC:
            return _SQLITE_DATETIME % (
                value.year,
                value.month,
                value.day,
                value.hour,
                value.minute,
                value.second,
                value.microsecond,
            )
        return process(value)

    return text
