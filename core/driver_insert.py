"""The INSERTs every model call makes (its reservation, its ledger row), cheap on SQLite.

Through SQLAlchemy Core an INSERT of a twenty-column row cost several times SQLite's own work a
call (the execution context, the parameters' processing looked up again each time:
bench/README.md). On SQLite `DriverInsert` sends it on the driver's cursor instead, the SQL and
each column's bind processing (the same functions SQLAlchemy applies: a datetime as its text, a
JSON list as JSON) prepared once; any other database goes through SQLAlchemy as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.engine import Dialect

Processor = Callable[[Any], Any] | None


class DriverInsert:
    """An INSERT of one whole row of `table`: `values` names every column."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.statement = insert(table)  # built once: its compiled form is cached on it
        self._plans: dict[Dialect, tuple[str, list[tuple[str, Processor]]]] = {}

    def execute(self, connection: Connection, values: Mapping[str, Any]) -> None:
        """Insert the row in the connection's transaction.

        Raises:
            KeyError: `values` leaves out a column (on SQLite; SQLAlchemy fills it elsewhere).
        """
        dialect = connection.dialect
        if dialect.name != "sqlite":
            connection.execute(self.statement, dict(values))
            return
        plan = self._plans.get(dialect)
        if plan is None:
            plan = self._plans[dialect] = self._plan(dialect)
        sql, columns = plan
        params = [values[k] if process is None else process(values[k]) for k, process in columns]
        cursor = connection.connection.cursor()
        try:
            cursor.execute(sql, params)
        finally:
            cursor.close()

    def _plan(self, dialect: Dialect) -> tuple[str, list[tuple[str, Processor]]]:
        """The statement's SQL (every column, in the table's order) and each column's processor."""
        columns = list(self.table.columns)
        quote = dialect.identifier_preparer
        names = ", ".join(quote.quote(c.name) for c in columns)
        marks = ", ".join("?" for _ in columns)  # pysqlite's qmark style
        sql = f"INSERT INTO {quote.format_table(self.table)} ({names}) VALUES ({marks})"
        processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
        return sql, [(c.name, p) for c, p in zip(columns, processors, strict=True)]
