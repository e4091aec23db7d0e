"""A statement that returns at most one row (an `UPDATE ... RETURNING`), cheap on SQLite.

Through SQLAlchemy Core such a statement costs several times SQLite's own work (the execution
context, the parameters' and the result's processing looked up each time: bench/README.md,
"`/v1` path, stop 25"). On SQLite `DriverReturning` sends it on the driver's cursor instead, its
SQL, each parameter's bind processing and each returned column's result processing (the
functions SQLAlchemy applies) prepared once; any other database goes through SQLAlchemy.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import UpdateBase

Processor = Callable[[Any], Any] | None
_REQUIRED = object()  # a parameter the caller gives (else: a value the statement holds)


class DriverReturning:
    """A DML statement with `RETURNING` columns and named parameters, run for at most one row."""

    def __init__(self, statement: UpdateBase) -> None:
        self.statement = statement  # built once: its compiled form is cached on it
        self._plans: dict[Dialect, _Plan] = {}

    def one_or_none(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        """The returned row (its columns as attributes, as a `Row`), or None.

        Raises:
            KeyError: `params` leaves out a parameter of the statement (on SQLite).
        """
        dialect = connection.dialect
        if dialect.name != "sqlite":
            return connection.execute(self.statement, dict(params)).one_or_none()
        plan = self._plans.get(dialect)
        if plan is None:
            plan = self._plans[dialect] = _Plan.of(self.statement, dialect)
        args = []
        for name, value, process in plan.binds:
            value = params[name] if value is _REQUIRED else value
            args.append(value if process is None else process(value))
        cursor = connection.connection.cursor()
        try:
            cursor.execute(plan.sql, args)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        if not rows:
            return None
        (row,) = rows
        return plan.row(*[v if p is None else p(v) for v, p in zip(row, plan.results, strict=True)])


class _Plan:
    """For one dialect: the SQL; each positional parameter's name, value (`_REQUIRED`: given at
    each call) and processor; the returned row's type and each column's processor."""

    def __init__(
        self,
        sql: str,
        binds: list[tuple[str, Any, Processor]],
        row: Callable[..., Any],
        results: list[Processor],
    ) -> None:
        self.sql, self.binds, self.row, self.results = sql, binds, row, results

    @classmethod
    def of(cls, statement: UpdateBase, dialect: Dialect) -> _Plan:
        compiled = statement.compile(dialect=dialect)
        names = compiled.positiontup or []
        binds: list[tuple[str, Any, Processor]] = []
        for name in names:
            bind = compiled.binds[name]
            value = _REQUIRED if bind.required else bind.effective_value
            binds.append((name, value, bind.type._cached_bind_processor(dialect)))
        columns = list(statement.exported_columns)
        row = namedtuple("Returned", [c.key for c in columns])  # type: ignore[misc]
        results: list[Processor] = [c.type._cached_result_processor(dialect, None) for c in columns]
        return cls(compiled.string, binds, row, results)
