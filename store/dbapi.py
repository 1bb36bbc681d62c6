"""A sqlite3-shaped connection over PostgreSQL, for SQL text written for Marianne's store.

Marianne's own modules reach past the store API: ``aggregator.py`` runs
``conn.executemany("UPDATE patterns SET priority_score = ? WHERE id = ?", ...)`` and
``error_hooks.py`` reads ``row["total"]`` from a query, both through ``_get_connection()``.
On SQLite the store hands out the driver's ``sqlite3.Connection``; on PostgreSQL it hands out
:class:`PostgresConnection`, which has the part of the same surface those callers use:

* ``execute`` / ``executemany`` with ``?`` placeholders (or ``:name`` with a mapping),
  returning a cursor with ``fetchone``, ``fetchmany``, ``fetchall``, iteration, ``rowcount``
  and ``description``; ``cursor()`` for an empty one;
* rows addressable by position and by column name (case-insensitive, as ``sqlite3.Row``),
  with ``keys()``;
* ``commit()`` / ``rollback()`` on the underlying transaction;
* errors raised as the ``sqlite3`` exception of the same kind (``IntegrityError``,
  ``OperationalError``, ``ProgrammingError``, ``DataError``...), chained to the driver's own,
  so that ``except sqlite3.IntegrityError`` written for Marianne still catches them;
* each statement runs in a savepoint, so a failed statement loses only itself and the
  transaction goes on, as it does on SQLite (PostgreSQL would otherwise abort it whole).

Two SQLite habits are translated, because this schema stores every flag as INTEGER 0/1:
a Python ``bool`` parameter is bound as 1/0, and ``CASE WHEN <flag column> THEN`` (a bare
flag used as a condition, as ``error_hooks.py`` writes it) becomes ``WHEN <flag> <> 0 THEN``.

What remains SQLite's own and fails or differs on PostgreSQL:

* SQLite-only statements and functions: ``PRAGMA``, ``sqlite_master``, ``INSERT OR
  REPLACE`` / ``OR IGNORE``, ``datetime('now')``, ``julianday``, ``GROUP_CONCAT``...;
* a flag column used as a bare condition anywhere else (``WHERE active``), or compared with
  ``TRUE``/``FALSE``: write ``active = 1``;
* identifiers are folded to lower case, so ``row.keys()`` lists unquoted aliases in lower
  case (lookup by name ignores case, so ``row["Total"]`` still works);
* ``SUM``/``AVG`` over integers come back as exact numerics: an integral result is returned
  as ``int`` and any other as ``float`` (SQLite's ``AVG`` is always a float);
* ``lastrowid`` is always None, and comparisons between a text column and a number are type
  errors instead of SQLite's affinity rules.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, exc

from store import tables

__all__ = ["PostgresConnection", "PostgresCursor", "PostgresRow"]

Parameters = Sequence[Any] | Mapping[str, Any]


class PostgresRow:
    """One result row, by position (``row[0]``) or by column name (``row["total"]``)."""

    __slots__ = ("_index", "_keys", "_values")

    def __init__(self, keys: tuple[str, ...], values: tuple[Any, ...]) -> None:
        self._keys = keys
        self._values = values
        self._index = {key.lower(): position for position, key in enumerate(keys)}

    def keys(self) -> list[str]:
        return list(self._keys)

    def __getitem__(self, key: int | str | slice) -> Any:
        if isinstance(key, str):
            try:
                return self._values[self._index[key.lower()]]
            except KeyError:
                raise IndexError(f"No item with that key: {key}") from None
        return self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PostgresRow):
            return self._keys == other._keys and self._values == other._values
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self._keys, self._values))

    def __repr__(self) -> str:
        return f"PostgresRow({dict(zip(self._keys, self._values, strict=True))!r})"


class PostgresCursor:
    """The result of one statement, fetched eagerly (the savepoint is released at once)."""

    arraysize = 1

    def __init__(self, connection: PostgresConnection) -> None:
        self.connection = connection
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.description: tuple[tuple[Any, ...], ...] | None = None
        self._rows: list[PostgresRow] = []
        self._position = 0

    def execute(self, sql: str, parameters: Parameters = ()) -> PostgresCursor:
        return self._run(sql, [parameters], many=False)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Parameters]) -> PostgresCursor:
        return self._run(sql, list(seq_of_parameters), many=True)

    def _run(self, sql: str, batches: list[Parameters], *, many: bool) -> PostgresCursor:
        statement, rows = _translate(sql, batches)
        self._rows, self._position, self.description = [], 0, None
        if many and not rows:
            self.rowcount = 0
            return self
        conn = self.connection.sqlalchemy_connection
        try:
            with conn.begin_nested():
                result = conn.exec_driver_sql(statement, rows if many else rows[0])
                if result.returns_rows:
                    keys = tuple(result.keys())
                    self.description = tuple((k, None, None, None, None, None, None) for k in keys)
                    self._rows = [
                        PostgresRow(keys, tuple(_plain(v) for v in row)) for row in result
                    ]
                self.rowcount = result.rowcount
        except exc.DBAPIError as error:
            raise _as_sqlite_error(error) from error
        return self

    def fetchone(self) -> PostgresRow | None:
        if self._position >= len(self._rows):
            return None
        self._position += 1
        return self._rows[self._position - 1]

    def fetchmany(self, size: int | None = None) -> list[PostgresRow]:
        count = self.arraysize if size is None else size
        chunk = self._rows[self._position : self._position + count]
        self._position += len(chunk)
        return chunk

    def fetchall(self) -> list[PostgresRow]:
        rest = self._rows[self._position :]
        self._position = len(self._rows)
        return rest

    def __iter__(self) -> Iterator[PostgresRow]:
        while (row := self.fetchone()) is not None:
            yield row

    def close(self) -> None:
        self._rows = []


class PostgresConnection:
    """The sqlite3 connection surface Marianne's raw SQL uses, over a SQLAlchemy connection.

    The store owns the transaction (``_get_connection()`` commits or rolls back at the end of
    its block, ``batch_connection()`` at the end of the batch); ``commit()`` and
    ``rollback()`` act on it at once, as ``sqlite3.Connection`` does.
    """

    def __init__(self, sqlalchemy_connection: Connection) -> None:
        self.sqlalchemy_connection = sqlalchemy_connection

    def cursor(self) -> PostgresCursor:
        return PostgresCursor(self)

    def execute(self, sql: str, parameters: Parameters = ()) -> PostgresCursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Parameters]) -> PostgresCursor:
        return self.cursor().executemany(sql, seq_of_parameters)

    def commit(self) -> None:
        # Straight to the driver: SQLAlchemy's transaction stays open around the caller's
        # block, and psycopg begins the next transaction on the next statement.
        self._driver().commit()

    def rollback(self) -> None:
        self._driver().rollback()

    def _driver(self) -> Any:
        return self.sqlalchemy_connection.connection.dbapi_connection


# ---------------------------------------------------------------------------------------
# Translation
# ---------------------------------------------------------------------------------------

# Placeholders are rewritten only outside strings, quoted identifiers and comments; a percent
# sign is doubled everywhere.
_TOKENS = re.compile(
    r"""('(?:[^']|'')*')          # string literal
      | ("(?:[^"]|"")*")          # quoted identifier
      | (--[^\n]*)                # line comment
      | (/\*.*?\*/)               # block comment
      | (\?)                      # positional placeholder
      | (?<!:):([A-Za-z_]\w*)     # named placeholder (not a :: cast)
    """,
    re.VERBOSE | re.DOTALL,
)

_FLAG_COLUMNS = sorted(
    {
        column.name
        for table in tables.MARIANNE_TABLES
        for column in table.columns
        if isinstance(column.type, tables.FlagInteger)
    }
)
_BARE_FLAG_CONDITION = re.compile(
    r"\bWHEN\s+((?:\w+\.)?(?:" + "|".join(_FLAG_COLUMNS) + r"))\s+THEN\b", re.IGNORECASE
)


def _translate(sql: str, batches: list[Parameters]) -> tuple[str, list[Any]]:
    """SQLite text and parameters -> psycopg text (``%s`` / ``%(name)s``) and parameters."""

    def replace(match: re.Match[str]) -> str:
        if match.group(5):
            return "%s"
        if match.group(6):
            return f"%({match.group(6)})s"
        # psycopg reads every % in the text, quoted or not, as the start of a placeholder.
        return match.group(0).replace("%", "%%")

    statement = _BARE_FLAG_CONDITION.sub(r"WHEN \1 <> 0 THEN", _TOKENS.sub(replace, sql))
    converted: list[Any] = []
    for parameters in batches:
        if isinstance(parameters, Mapping):
            converted.append({k: _bindable(v) for k, v in parameters.items()})
        else:
            converted.append(tuple(_bindable(v) for v in parameters))
    return statement, converted


def _bindable(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    return value


def _plain(value: Any) -> Any:
    """PostgreSQL's exact numerics as the int or float SQLite would have returned."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


_SQLITE_ERRORS: tuple[tuple[type[exc.DBAPIError], type[sqlite3.Error]], ...] = (
    (exc.IntegrityError, sqlite3.IntegrityError),
    (exc.OperationalError, sqlite3.OperationalError),
    (exc.ProgrammingError, sqlite3.OperationalError),  # SQLite reports bad SQL this way
    (exc.DataError, sqlite3.DataError),
    (exc.NotSupportedError, sqlite3.NotSupportedError),
    (exc.InternalError, sqlite3.InternalError),
    (exc.InterfaceError, sqlite3.InterfaceError),
)


def _as_sqlite_error(error: exc.DBAPIError) -> sqlite3.Error:
    message = str(error.orig).strip() if error.orig is not None else str(error)
    for wrapper, sqlite_error in _SQLITE_ERRORS:
        if isinstance(error, wrapper):
            return sqlite_error(message)
    return sqlite3.DatabaseError(message)
