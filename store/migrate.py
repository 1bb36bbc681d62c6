"""Copy a whole learning store to another backend: SQLite file to PostgreSQL, back, or file to file.

``migrate(source, target)`` copies every table of the v15 schema, and the operator journal,
in batches. What it guarantees:

* **The source is only read.** It is opened read-only (SQLite ``mode=ro``, PostgreSQL
  read-only transactions), in one snapshot where the backend allows it, so its bytes are
  unchanged and a conductor may keep running (rows it writes meanwhile are simply not
  copied; the verification then says the two sides differ).
* **The target's encodings.** Every value is converted to the kind of its target column
  (text, integer, 0/1 flag, double) before it is written. PostgreSQL text cannot hold NUL
  characters, so on a PostgreSQL target each one becomes U+FFFD and the report counts them.
* **No accidental merge.** A target that already holds rows is refused unless the caller
  asks to append (rows whose key the target already has are kept as they are in the
  target) or to replace (the target's rows are deleted first, in the transaction that
  starts the copy).
* **Resumable.** Each batch commits together with the position it reached, in a small
  table of the target (``marianne_tui_migration``), so a run killed at any point and run
  again continues where the last commit left it, and nothing is copied twice. The table
  is dropped when the copy is complete.
* **Verified.** At the end every table is counted and checksummed on both sides. The
  checksum is order-independent (the sum of the SHA-256 of each row's canonical form,
  modulo 2**256), so it compares the same content on SQLite and PostgreSQL whatever their
  collations, and any missing, extra, duplicated or altered row changes it.

Progress is reported through a callback (this package draws nothing itself).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Table,
    Text,
    column,
    delete,
    func,
    inspect,
    null,
    select,
    table,
)
from sqlalchemy import types as sa_types
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.sql.expression import TableClause

from store import tables
from store.base import SCHEMA_VERSION, GlobalLearningStoreBase, StoreError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "MigrationError",
    "MigrationMode",
    "MigrationProgress",
    "MigrationReport",
    "TableCheck",
    "migrate",
]

DEFAULT_BATCH_SIZE = 10_000

MigrationMode = Literal["new", "append", "replace"]

#: The tables copied, in this order; ``schema_version`` is stamped by opening the target.
COPIED_TABLES: tuple[Table, ...] = (*tables.MARIANNE_TABLES[1:], tables.operator_journal)
#: The tables verified: every copied one, and the schema stamp.
VERIFIED_TABLES: tuple[Table, ...] = (tables.schema_version, *COPIED_TABLES)

_STATE_METADATA = MetaData()
#: Where a run keeps its position in the target, one row per table, dropped when complete.
_state = Table(
    "marianne_tui_migration",
    _STATE_METADATA,
    Column("table_name", Text, primary_key=True),
    Column("source", Text, nullable=False),
    Column("mode", Text, nullable=False),
    Column("last_key", Text),
    Column("rows_copied", Integer, nullable=False),
    Column("done", Integer, nullable=False),
    Column("id_offset", Integer, nullable=False),
)

_NUL_REPLACEMENT = "\ufffd"


class MigrationError(StoreError):
    """A migration cannot start or cannot go on; the message is one line, password-free."""


@dataclass(frozen=True)
class MigrationProgress:
    """Rows done out of rows to do, in one table, during one phase ("copy" or "verify")."""

    phase: Literal["copy", "verify"]
    table: str
    done: int
    total: int


@dataclass(frozen=True)
class TableCheck:
    """One table's row counts and checksums on both sides after the copy."""

    table: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str
    #: Rows of the source the target already held with other content (append mode only).
    kept_in_target: int = 0

    @property
    def matches(self) -> bool:
        """Same rows on both sides; when appending, rows the target kept are the difference."""
        if self.source_rows != self.target_rows:
            return False
        return self.source_checksum == self.target_checksum or self.kept_in_target > 0


@dataclass(frozen=True)
class MigrationReport:
    source: str
    target: str
    mode: MigrationMode
    resumed: bool
    rows_copied: int
    #: Seconds spent copying, and in all (copy and verification).
    copy_seconds: float
    seconds: float
    checks: tuple[TableCheck, ...]
    #: Things the operator should know (NUL characters replaced, rows kept in the target).
    notes: tuple[str, ...]

    @property
    def verified(self) -> bool:
        return all(check.matches for check in self.checks)


ProgressCallback = Callable[[MigrationProgress], None]


# ---------------------------------------------------------------------------------------
# Canonical values: the target's encodings, shared by the copy and the checksums
# ---------------------------------------------------------------------------------------

_Kind = Literal["text", "int", "flag", "real"]


def _kind(col: Column[Any]) -> _Kind:
    column_type = col.type
    if isinstance(column_type, tables.Real):
        return "real"
    if isinstance(column_type, tables.FlagInteger):
        return "flag"
    if isinstance(column_type, sa_types.Integer):
        return "int"
    return "text"


class _BadValue(ValueError):
    pass


def _canonical(value: Any, kind: _Kind, postgresql: bool) -> Any:
    """The value as the target stores it in a column of this kind; _BadValue if it cannot."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        raise _BadValue("binary data")
    if kind == "text":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float):
            return str(value)
    elif kind == "real":
        if isinstance(value, int | float):
            number = float(value)
            return None if math.isnan(number) else number
    elif kind == "int":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif isinstance(value, int | float):  # flag
        return 1 if value else 0
    raise _BadValue(f"{type(value).__name__} {ascii(value)[:40]}")


def _row_digest(row: Sequence[Any]) -> int:
    encoded = repr(tuple(row)).encode("utf-8", "backslashreplace")
    return int.from_bytes(hashlib.sha256(encoded).digest(), "big")


def _checksum_text(total: int) -> str:
    return f"{total % (1 << 256):064x}"[:16]


# ---------------------------------------------------------------------------------------
# One table, as both sides see it
# ---------------------------------------------------------------------------------------


#: Columns a source may lack, read as NULL: the journal's host and batch id came after its
#: first rows.
_OPTIONAL_COLUMNS = {tables.operator_journal.name: frozenset({"host", "batch_id"})}


@dataclass(frozen=True)
class _TablePlan:
    schema: Table
    names: tuple[str, ...]
    kinds: tuple[_Kind, ...]
    key: str
    #: columns this source lacks (optional ones only), read as NULL
    absent: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return self.schema.name

    def light(self) -> TableClause:
        """The table without column types: values pass to and from the driver untouched."""
        return table(self.name, *(column(name) for name in self.names))

    @property
    def key_index(self) -> int:
        return self.names.index(self.key)

    def columns(self, light: TableClause) -> list[Any]:
        """What to SELECT from ``light``: every column, NULL for an absent one."""
        return [null().label(name) if name in self.absent else light.c[name]
                for name in self.names]


def _plan(schema: Table) -> _TablePlan:
    columns = list(schema.columns)
    (key,) = [col.name for col in schema.primary_key.columns]
    return _TablePlan(
        schema=schema,
        names=tuple(col.name for col in columns),
        kinds=tuple(_kind(col) for col in columns),
        key=key,
    )


_PLANS: dict[str, _TablePlan] = {schema.name: _plan(schema) for schema in VERIFIED_TABLES}


def _is_journal(plan: _TablePlan) -> bool:
    return plan.name == tables.operator_journal.name


# ---------------------------------------------------------------------------------------
# Opening both sides
# ---------------------------------------------------------------------------------------


def _mask(message: str, *urls: str) -> str:
    """The message without any password that one of the URLs carries."""
    for url in urls:
        if "://" not in url:
            continue
        try:
            password = make_url(url).password
        except Exception:
            continue
        if password:
            message = message.replace(str(password), "***")
            from urllib.parse import quote

            message = message.replace(quote(str(password), safe=""), "***")
    return message


def _identity(store: GlobalLearningStoreBase) -> str:
    """What names a store across runs: its resolved file path, or its password-free URL."""
    if store.dialect == "sqlite":
        return str(Path(store.db_path).resolve())
    return store.location


def _open(target: str, *, read_only: bool, create: bool) -> GlobalLearningStoreBase:
    from store.global_store import GlobalLearningStore

    try:
        return GlobalLearningStore(target, read_only=read_only, create=create)
    except StoreError as error:
        raise MigrationError(_mask(_first_line(error), target)) from error
    except Exception as error:
        raise MigrationError(
            _mask(f"cannot open {target}: {type(error).__name__}: {_first_line(error)}", target)
        ) from error


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _open_source(source: str) -> GlobalLearningStoreBase:
    if "://" not in source and not Path(source).expanduser().exists():
        raise MigrationError(f"no store at {source}")
    store = _open(source, read_only=True, create=False)
    if store.schema_version != SCHEMA_VERSION:
        store.close()
        raise MigrationError(
            f"{store.location} has schema v{store.schema_version}; migrate copies v{SCHEMA_VERSION}"
            " stores only (open an older one once with Marianne or marianne-tui to upgrade it)"
        )
    return store


def _open_target(target: str) -> GlobalLearningStoreBase:
    is_file = "://" not in target or make_url(target).get_backend_name() == "sqlite"
    if is_file:
        path = Path(target if "://" not in target else make_url(target).database or "")
        path = path.expanduser()
        if path.exists() and path.stat().st_size > 0:
            # An existing file must already be a store: never add tables to a stranger's file.
            _open(str(path), read_only=True, create=False).close()
    store = _open(target, read_only=False, create=True)
    if store.read_only:
        store.close()
        raise MigrationError(
            f"{store.location} has schema v{store.schema_version}, newer than this code: "
            "it cannot be a target"
        )
    return store


def _source_tables(conn: Connection) -> dict[str, set[str]]:
    """The columns of the tables a migration copies (other tables are never looked at:
    the PostgreSQL console's own change log has types SQLAlchemy does not know)."""
    inspector = inspect(conn)
    copied = {schema.name for schema in VERIFIED_TABLES}
    return {
        name: {col["name"] for col in inspector.get_columns(name)}
        for name in inspector.get_table_names()
        if name in copied
    }


def _check_source_columns(found: dict[str, set[str]], location: str) -> list[_TablePlan]:
    """The tables to copy; a missing Marianne table or column is an error."""
    plans: list[_TablePlan] = []
    for schema in VERIFIED_TABLES:
        plan = _PLANS[schema.name]
        if schema.name not in found:
            if _is_journal(plan):
                continue  # a store never acted on through the console has no journal
            raise MigrationError(f"{location} has no table {schema.name}: not a complete store")
        missing = {name for name in plan.names if name not in found[schema.name]}
        required = missing - _OPTIONAL_COLUMNS.get(schema.name, frozenset())
        if required:
            raise MigrationError(
                f"{location}: table {schema.name} lacks column {sorted(required)[0]}"
            )
        plans.append(dataclasses.replace(plan, absent=frozenset(missing)))
    return plans


# ---------------------------------------------------------------------------------------
# Reading rows
# ---------------------------------------------------------------------------------------


def _begin_snapshot(conn: Connection, dialect: str) -> None:
    """Make every read of this connection see one state of the store."""
    if dialect == "sqlite":
        # pysqlite begins transactions only before writes; a read snapshot needs BEGIN.
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")


def _count(conn: Connection, plan: _TablePlan) -> int:
    return int(conn.execute(select(func.count()).select_from(table(plan.name))).scalar_one())


def _rows_after(
    conn: Connection, plan: _TablePlan, last_key: Any, batch_size: int
) -> Iterator[Sequence[Any]]:
    """The table's rows in key order, after ``last_key`` (all of them when it is None)."""
    light = plan.light()
    key = light.c[plan.key]
    statement = select(*plan.columns(light)).select_from(light).order_by(key)
    if last_key is not None:
        statement = statement.where(key > last_key)
    result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(
        statement
    )
    try:
        yield from result
    finally:
        result.close()


def _all_rows(conn: Connection, plan: _TablePlan, batch_size: int) -> Iterator[Sequence[Any]]:
    result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(
        select(*plan.columns(plan.light()))
    )
    try:
        yield from result
    finally:
        result.close()


# ---------------------------------------------------------------------------------------
# The state kept in the target
# ---------------------------------------------------------------------------------------


@dataclass
class _TableState:
    last_key: Any
    rows_copied: int
    done: bool
    id_offset: int


def _read_state(conn: Connection) -> tuple[str, MigrationMode, dict[str, _TableState]] | None:
    if not inspect(conn).has_table(_state.name):
        return None
    rows = conn.execute(select(_state)).all()
    if not rows:
        return None
    states = {
        row.table_name: _TableState(
            last_key=json.loads(row.last_key) if row.last_key is not None else None,
            rows_copied=int(row.rows_copied),
            done=bool(row.done),
            id_offset=int(row.id_offset),
        )
        for row in rows
    }
    mode = rows[0].mode
    if mode not in ("new", "append", "replace"):
        mode = "new"
    return str(rows[0].source), mode, states


def _target_holds_rows(conn: Connection, plans: Iterable[_TablePlan]) -> str | None:
    """The name of the first table (other than the schema stamp) that holds a row."""
    present = set(inspect(conn).get_table_names())
    for plan in plans:
        if plan.name == tables.schema_version.name or plan.name not in present:
            continue
        if conn.execute(select(column(plan.key)).select_from(table(plan.name)).limit(1)).first():
            return plan.name
    return None


# ---------------------------------------------------------------------------------------
# The migration
# ---------------------------------------------------------------------------------------


class _Copier:
    def __init__(
        self,
        source: GlobalLearningStoreBase,
        target: GlobalLearningStoreBase,
        batch_size: int,
        on_progress: ProgressCallback,
    ) -> None:
        self.source = source
        self.target = target
        self.batch_size = batch_size
        self.on_progress = on_progress
        self.postgresql_target = target.is_postgresql
        self.nul_replaced: dict[str, int] = {}

    @property
    def target_engine(self) -> Engine:
        return self.target._engine

    def canonical_row(
        self, plan: _TablePlan, row: Sequence[Any], id_offset: int, *, copying: bool = False
    ) -> list[Any]:
        values: list[Any] = []
        for name, kind, value in zip(plan.names, plan.kinds, row, strict=True):
            try:
                converted = _canonical(value, kind, self.postgresql_target)
            except _BadValue as error:
                key = row[plan.key_index]
                raise MigrationError(
                    f"{plan.name}.{name} of row {ascii(key)[:40]} holds {error}, "
                    f"which a {kind} column cannot take"
                ) from None
            if (
                self.postgresql_target
                and isinstance(converted, str)
                and "\x00" in converted
            ):
                converted = converted.replace("\x00", _NUL_REPLACEMENT)
                if copying:
                    self.nul_replaced[plan.name] = self.nul_replaced.get(plan.name, 0) + 1
            values.append(converted)
        if id_offset and _is_journal(plan):
            values[plan.key_index] += id_offset
            undoes = plan.names.index("undoes")
            if values[undoes] is not None:
                values[undoes] += id_offset
        return values

    def insert_statement(self, plan: _TablePlan, append: bool) -> Any:
        light = plan.light()
        if not append:
            from sqlalchemy import insert

            return insert(light)
        if self.postgresql_target:
            return pg_dialect.insert(light).on_conflict_do_nothing(index_elements=[plan.key])
        return sqlite_dialect.insert(light).on_conflict_do_nothing()

    def copy_table(
        self,
        source_conn: Connection,
        plan: _TablePlan,
        state: _TableState,
        total: int,
        append: bool,
    ) -> int:
        statement = self.insert_statement(plan, append)
        done = state.rows_copied
        rows_before = self.target_rows(plan)
        self.on_progress(MigrationProgress("copy", plan.name, done, total))
        batch: list[list[Any]] = []
        last_key: Any = state.last_key
        copy_in = self.postgresql_target and not append

        def commit_batch(final: bool) -> None:
            nonlocal batch, done
            with self.target_engine.begin() as conn:
                if batch and copy_in:
                    _copy_rows(conn, plan, batch)
                elif batch:
                    names = plan.names
                    conn.execute(statement, [dict(zip(names, row, strict=True)) for row in batch])
                conn.execute(
                    _state.update()
                    .where(_state.c.table_name == plan.name)
                    .values(
                        last_key=json.dumps(last_key) if last_key is not None else None,
                        rows_copied=done + len(batch),
                        done=1 if final else 0,
                    )
                )
                if final and _is_journal(plan) and self.postgresql_target:
                    # Rows written with their ids leave the id sequence behind; the next
                    # journal row the console writes would collide with a copied one.
                    conn.exec_driver_sql(
                        "SELECT setval(pg_get_serial_sequence('marianne_tui_journal', 'id'),"
                        " COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM marianne_tui_journal"
                    )
            done += len(batch)
            batch = []
            self.on_progress(MigrationProgress("copy", plan.name, done, max(total, done)))

        for row in _rows_after(source_conn, plan, state.last_key, self.batch_size):
            key = row[plan.key_index]
            if key is None:
                raise MigrationError(
                    f"{plan.name} has a row without a {plan.key}; such a row cannot be copied"
                )
            batch.append(self.canonical_row(plan, row, state.id_offset, copying=True))
            last_key = key
            if len(batch) >= self.batch_size:
                commit_batch(final=False)
        commit_batch(final=True)
        # Counted, not summed: when appending, rows whose key the target has are skipped.
        return self.target_rows(plan) - rows_before

    def target_rows(self, plan: _TablePlan) -> int:
        with self.target_engine.connect() as conn:
            return _count(conn, plan)

    def checksum(
        self,
        conn: Connection,
        plan: _TablePlan,
        side: str,
        total: int,
        id_offset: int = 0,
        keys: set[Any] | None = None,
    ) -> tuple[int, str, dict[Any, int] | None]:
        """Rows and checksum of one side; with ``keys``, only the rows with those keys."""
        rows = 0
        digest_sum = 0
        by_key: dict[Any, int] | None = {} if keys is None and side == "source-keyed" else None
        label = f"{plan.name} ({side.split('-')[0]})"
        self.on_progress(MigrationProgress("verify", label, 0, total))
        for row in _all_rows(conn, plan, self.batch_size):
            values = self.canonical_row(plan, row, id_offset)
            key = values[plan.key_index]
            if keys is not None and key not in keys:
                continue
            digest = _row_digest(values)
            if by_key is not None:
                by_key[key] = digest
            digest_sum += digest
            rows += 1
            if rows % self.batch_size == 0:
                self.on_progress(MigrationProgress("verify", label, rows, max(total, rows)))
        self.on_progress(MigrationProgress("verify", label, rows, max(total, rows)))
        return rows, _checksum_text(digest_sum), by_key


def _copy_rows(conn: Connection, plan: _TablePlan, rows: list[list[Any]]) -> None:
    """PostgreSQL's COPY, in the connection's transaction (several times faster than INSERT)."""
    driver = conn.connection.driver_connection
    assert driver is not None
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(name) for name in plan.names)
    statement = f"COPY {quote(plan.name)} ({columns}) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def migrate(
    source: str,
    target: str,
    *,
    mode: MigrationMode = "new",
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: ProgressCallback | None = None,
) -> MigrationReport:
    """Copy the store at ``source`` to ``target`` and verify it; see the module docstring.

    ``source`` and ``target`` are file paths or SQLAlchemy URLs. Raises
    :class:`MigrationError` (one line, no password) when the copy cannot start or go on;
    a copy that completes but does not verify returns a report whose ``verified`` is False.
    """
    if batch_size < 1:
        raise MigrationError("the batch size must be at least 1")
    started = time.monotonic()
    report_progress = on_progress or (lambda _progress: None)
    source_store = _open_source(source)
    try:
        target_store = _open_target(target)
    except BaseException:
        source_store.close()
        raise
    try:
        return _run(source_store, target_store, mode, batch_size, report_progress, started)
    except MigrationError:
        raise
    except StoreError as error:
        raise MigrationError(_mask(_first_line(error), source, target)) from error
    except Exception as error:
        raise MigrationError(
            _mask(
                f"migration stopped: {type(error).__name__}: {_first_line(error)} "
                "(run the same command again to resume)",
                source,
                target,
            )
        ) from error
    finally:
        source_store.close()
        target_store.close()


def _run(
    source_store: GlobalLearningStoreBase,
    target_store: GlobalLearningStoreBase,
    requested_mode: MigrationMode,
    batch_size: int,
    on_progress: ProgressCallback,
    started: float,
) -> MigrationReport:
    source_id = _identity(source_store)
    if source_id == _identity(target_store):
        raise MigrationError("the source and the target are the same store")
    copier = _Copier(source_store, target_store, batch_size, on_progress)
    with source_store._engine.connect() as source_conn:
        _begin_snapshot(source_conn, source_store.dialect)
        plans = _check_source_columns(_source_tables(source_conn), source_store.location)
        copied_plans = [plan for plan in plans if plan.name != tables.schema_version.name]
        totals = {plan.name: _count(source_conn, plan) for plan in plans}

        mode, states, resumed = _start(
            target_store, source_id, requested_mode, copied_plans
        )
        rows_copied = 0
        for plan in copied_plans:
            state = states[plan.name]
            if not state.done:
                rows_copied += copier.copy_table(
                    source_conn, plan, state, totals[plan.name], append=mode == "append"
                )
            else:
                on_progress(
                    MigrationProgress("copy", plan.name, state.rows_copied, totals[plan.name])
                )
        copy_seconds = time.monotonic() - started
        checks, notes = _verify(copier, source_conn, plans, totals, states, mode)
        source_conn.rollback()
    with target_store._engine.begin() as conn:
        _state.drop(conn, checkfirst=True)
    for name, count in copier.nul_replaced.items():
        notes.append(
            f"{name}: {count} value(s) held NUL characters, which PostgreSQL text cannot; "
            "each became U+FFFD"
        )
    return MigrationReport(
        source=source_store.location,
        target=target_store.location,
        mode=mode,
        resumed=resumed,
        rows_copied=rows_copied,
        copy_seconds=copy_seconds,
        seconds=time.monotonic() - started,
        checks=tuple(checks),
        notes=tuple(notes),
    )


def _start(
    target_store: GlobalLearningStoreBase,
    source_id: str,
    requested_mode: MigrationMode,
    plans: list[_TablePlan],
) -> tuple[MigrationMode, dict[str, _TableState], bool]:
    """Resume the unfinished run from this source, or check the target and begin a new one."""
    with target_store._engine.begin() as conn:
        previous = _read_state(conn)
        if previous is not None:
            previous_source, previous_mode, states = previous
            if previous_source == source_id and all(plan.name in states for plan in plans):
                return previous_mode, states, True
            if requested_mode != "replace":
                raise MigrationError(
                    f"{target_store.location} holds an unfinished migration from "
                    f"{previous_source}: run that one again to finish it, or give --replace"
                )
            _state.drop(conn)
        if requested_mode == "new":
            # Every table counts, the journal too even when the source has none.
            occupied = _target_holds_rows(conn, [_PLANS[t.name] for t in COPIED_TABLES])
            if occupied is not None:
                raise MigrationError(
                    f"{target_store.location} already holds data (table {occupied}): "
                    "give --append to add to it or --replace to overwrite it"
                )
        present = set(inspect(conn).get_table_names())
        journal = tables.operator_journal.name
        if journal not in present and any(map(_is_journal, plans)):
            tables.operator_journal.create(conn)
        elif journal in present:
            # A journal from before its later columns: add them, as a journalled write would.
            names = {column["name"] for column in inspect(conn).get_columns(journal)}
            for name in sorted(_OPTIONAL_COLUMNS[journal] - names):
                conn.exec_driver_sql(f"ALTER TABLE {journal} ADD COLUMN {name} TEXT")
        if requested_mode == "replace":
            for schema in reversed(COPIED_TABLES):
                if schema.name in present:
                    conn.execute(delete(table(schema.name)))
        journal_offset = 0
        if requested_mode == "append" and tables.operator_journal.name in present:
            journal_offset = int(
                conn.execute(
                    select(func.coalesce(func.max(tables.operator_journal.c.id), 0))
                ).scalar_one()
            )
        _state.create(conn)
        states = {}
        for plan in plans:
            offset = journal_offset if _is_journal(plan) else 0
            conn.execute(
                _state.insert().values(
                    table_name=plan.name,
                    source=source_id,
                    mode=requested_mode,
                    last_key=None,
                    rows_copied=0,
                    done=0,
                    id_offset=offset,
                )
            )
            states[plan.name] = _TableState(None, 0, False, offset)
    return requested_mode, states, False


def _verify(
    copier: _Copier,
    source_conn: Connection,
    plans: list[_TablePlan],
    totals: dict[str, int],
    states: dict[str, _TableState],
    mode: MigrationMode,
) -> tuple[list[TableCheck], list[str]]:
    checks: list[TableCheck] = []
    notes: list[str] = []
    with copier.target_engine.connect() as target_conn:
        for plan in plans:
            offset = states[plan.name].id_offset if plan.name in states else 0
            total = totals[plan.name]
            if mode != "append":
                source_rows, source_sum, _ = copier.checksum(
                    source_conn, plan, "source", total, offset
                )
                target_rows, target_sum, _ = copier.checksum(
                    target_conn, plan, "target", total
                )
                checks.append(
                    TableCheck(plan.name, source_rows, target_rows, source_sum, target_sum)
                )
                continue
            # Appending: compare the source with the target's rows that carry its keys;
            # a row the target already had with other content was kept, not copied.
            source_rows, source_sum, source_digests = copier.checksum(
                source_conn, plan, "source-keyed", total, offset
            )
            assert source_digests is not None
            target_digests = _keyed_digests(copier, target_conn, plan, set(source_digests))
            kept = sum(
                1 for key, digest in source_digests.items() if target_digests.get(key) != digest
            )
            check = TableCheck(
                plan.name,
                source_rows,
                len(target_digests),
                source_sum,
                _checksum_text(sum(target_digests.values())),
                kept_in_target=kept,
            )
            checks.append(check)
            if kept:
                notes.append(
                    f"{plan.name}: the target already held {kept} of these rows with other "
                    "content and kept its own"
                )
        target_conn.rollback()
    return checks, notes


def _keyed_digests(
    copier: _Copier, conn: Connection, plan: _TablePlan, keys: set[Any]
) -> dict[Any, int]:
    digests: dict[Any, int] = {}
    for row in _all_rows(conn, plan, copier.batch_size):
        values = copier.canonical_row(plan, row, 0)
        key = values[plan.key_index]
        if key in keys:
            digests[key] = _row_digest(values)
    return digests
