"""Engine, connections, schema version handling, hashing and clocks.

A store is opened from a file path (SQLite, Marianne's default) or a SQLAlchemy URL
(``sqlite:///...`` or ``postgresql+psycopg://...``). Every public operation runs in a short
connection and transaction of its own, as in Marianne, unless a ``batch_connection()`` is
open in the current thread or task, which then serves every operation and commits once.

Deliberate differences from Marianne (contract section 1):

* A file stamped with a newer schema (v16+) is opened **read-only**: reads work, and every
  write raises :class:`SchemaError` instead of touching the file. Marianne opens it as is.
* ``close()`` releases pooled connections (Marianne's is a no-op); the store stays usable.
* ``read_only=True`` opens SQLite with ``mode=ro`` and PostgreSQL with read-only
  transactions; a write then raises :class:`ReadOnlyStoreError`.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    create_engine,
    delete,
    event,
    exc,
    insert,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from store import tables

__all__ = [
    "DEFAULT_GLOBAL_STORE_PATH",
    "SCHEMA_VERSION",
    "Clock",
    "GlobalLearningStoreBase",
    "ReadOnlyStoreError",
    "SchemaError",
    "StoreError",
    "StoreOpenError",
    "content_hash_for",
    "hash_job",
    "hash_workspace",
    "normalize_pattern_name",
    "pattern_id_for",
]

_logger = logging.getLogger("store")

#: Marianne's default location for the global learning store.
DEFAULT_GLOBAL_STORE_PATH = Path.home() / ".marianne" / "global-learning.db"

#: The schema version this store reads and writes.
SCHEMA_VERSION = 15

BUSY_TIMEOUT_SECONDS = 30.0


class StoreError(Exception):
    """Base class of the errors this package raises on purpose."""


class StoreOpenError(StoreError):
    """The target cannot be opened as a learning store (missing, not a store, unreachable)."""


class SchemaError(StoreError):
    """The store's schema is newer than this code: it is open read-only and never written."""


class ReadOnlyStoreError(StoreError):
    """A write was attempted on a store opened with ``read_only=True``."""


# ---------------------------------------------------------------------------------------
# Hashing (contract section 1.3)
# ---------------------------------------------------------------------------------------


def _sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def hash_workspace(workspace_path: Path | str) -> str:
    """First 16 hex chars of SHA-256 of the absolute, symlink-resolved path."""
    return _sha256_hex(str(Path(workspace_path).resolve()))[:16]


def hash_job(job_name: str, config_hash: str | None = None) -> str:
    """First 16 hex chars of SHA-256 of ``"<job_name>:<config_hash or ''>"``."""
    return _sha256_hex(f"{job_name}:{config_hash or ''}")[:16]


def normalize_pattern_name(pattern_name: str) -> str:
    """Lowercase, with every run of whitespace folded to one space and the ends trimmed."""
    return " ".join(pattern_name.lower().split())


def pattern_id_for(pattern_type: str, pattern_name: str) -> str:
    """The id Marianne gives a pattern: 16 hex chars of SHA-256 of ``type:normalized``."""
    return _sha256_hex(f"{pattern_type}:{normalize_pattern_name(pattern_name)}")[:16]


def content_hash_for(pattern_type: str, pattern_name: str, description: str | None) -> str:
    """32 hex chars of SHA-256 of ``type:normalized_name:description``."""
    normalized = normalize_pattern_name(pattern_name)
    return _sha256_hex(f"{pattern_type}:{normalized}:{description or ''}")[:32]


# ---------------------------------------------------------------------------------------
# Query helpers
# ---------------------------------------------------------------------------------------

SelectT = TypeVar("SelectT", bound="Select[Any]")


def with_limit(statement: SelectT, limit: int) -> SelectT:
    """Apply ``LIMIT``; a negative limit means none, as SQLite reads ``LIMIT -1``.

    PostgreSQL rejects a negative LIMIT, so the clause is left out instead.
    """
    return statement if limit < 0 else statement.limit(limit)


# ---------------------------------------------------------------------------------------
# Clocks
# ---------------------------------------------------------------------------------------


class Clock:
    """The two clocks Marianne mixes: naive local time, and aware UTC for rate limits.

    Tests and the demo pass a subclass with a fixed time.
    """

    def local(self) -> datetime:
        return datetime.now()

    def utc(self) -> datetime:
        return datetime.now(UTC)


# ---------------------------------------------------------------------------------------
# Opening a target
# ---------------------------------------------------------------------------------------


def _is_url(target: str) -> bool:
    return "://" in target


def _sqlite_engine(path: Path, read_only: bool) -> Engine:
    """An engine over one SQLite file, with Marianne's pragmas on every connection."""
    if read_only:
        uri = f"{path.resolve().as_uri()}?mode=ro"

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(
                uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False
            )
    else:

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(
                str(path), timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False
            )

    engine = create_engine("sqlite://", creator=connect, poolclass=QueuePool, pool_size=4)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if not read_only:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.close()

    return engine


def _url_engine(url: str, read_only: bool) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:":
            raise StoreOpenError("an in-memory SQLite store is not supported; give a file")
        return _sqlite_engine(Path(database), read_only)
    try:
        engine = create_engine(parsed, pool_pre_ping=True, pool_size=4)
    except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as error:
        raise StoreOpenError(f"cannot use {parsed.render_as_string()}: {error}") from error
    if read_only:

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            cursor.close()
            dbapi_connection.commit()

    return engine


def _refuse_unless_store(path: Path) -> None:
    """Look at an existing file read-only before any pragma can write to it.

    Opening for writing sets WAL mode, which turns an empty or foreign SQLite file into a
    modified one; a caller that must not create a store checks first.
    """
    try:
        probe = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            names = {
                row[0]
                for row in probe.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        finally:
            probe.close()
    except sqlite3.DatabaseError as error:
        if "not a database" in str(error):
            raise StoreOpenError(f"{path} is not a SQLite database") from error
        raise StoreOpenError(f"cannot open {path}: {error}") from error
    if "patterns" not in names and "schema_version" not in names:
        raise StoreOpenError(f"{path} is not a Marianne learning store")


def _is_read_only_refusal(error: BaseException) -> bool:
    message = str(error).lower()
    return "readonly database" in message or "read-only transaction" in message


# ---------------------------------------------------------------------------------------
# The base class every domain mixin builds on
# ---------------------------------------------------------------------------------------


class GlobalLearningStoreBase:
    """Connection and schema management shared by every part of the store.

    Args:
        db_path: a file path (default ``~/.marianne/global-learning.db``) or a SQLAlchemy URL.
        read_only: open so that nothing can be written.
        create: when False, a missing file or a database that holds no learning store is an
            error (:class:`StoreOpenError`) instead of being created.
        clock: the source of "now" (tests and the demo pass a fixed one).
    """

    SCHEMA_VERSION = SCHEMA_VERSION

    def __init__(
        self,
        db_path: Path | str | None = None,
        *,
        read_only: bool = False,
        create: bool = True,
        clock: Clock | None = None,
    ) -> None:
        self._logger = _logger
        self.clock = clock or Clock()
        self._batch_conn: contextvars.ContextVar[Connection | None] = contextvars.ContextVar(
            "store_batch_connection", default=None
        )
        self._journal_ready = False
        self.requested_read_only = read_only
        self.newer_schema = False

        target = db_path if db_path is not None else DEFAULT_GLOBAL_STORE_PATH
        if isinstance(target, str) and _is_url(target):
            self.url = target
            parsed = make_url(target)
            self.dialect = parsed.get_backend_name()
            if self.dialect == "sqlite":
                self.db_path: Path | str = Path(parsed.database or "")
            else:
                self.db_path = target
        else:
            self.dialect = "sqlite"
            self.db_path = Path(target).expanduser()
            self.url = f"sqlite:///{self.db_path}"

        if self.dialect == "sqlite":
            self._prepare_sqlite_file(create=create, read_only=read_only)
        self.read_only = read_only
        self._engine = self._build_engine(read_only)
        self._open_schema(create=create)

    # -- opening ------------------------------------------------------------------------

    @property
    def location(self) -> str:
        """A human-readable location: the file path, or the URL without its password."""
        if self.dialect == "sqlite":
            return str(self.db_path)
        return make_url(self.url).render_as_string(hide_password=True)

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    def _prepare_sqlite_file(self, *, create: bool, read_only: bool) -> None:
        path = Path(self.db_path)
        if path.exists():
            if path.is_dir():
                raise StoreOpenError(f"{path} is a directory, not a store file")
            if not create:
                _refuse_unless_store(path)
            return
        if not create or read_only:
            raise StoreOpenError(f"no store at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)

    def _build_engine(self, read_only: bool) -> Engine:
        if self.dialect == "sqlite":
            return _sqlite_engine(Path(self.db_path), read_only)
        return _url_engine(self.url, read_only)

    def _open_schema(self, *, create: bool) -> None:
        """Read the schema version and create or migrate as the contract says (section 1.4)."""
        try:
            with self._engine.connect() as conn:
                existing = set(_table_names(conn))
                version = _read_schema_version(conn) if "schema_version" in existing else 0
                conn.rollback()
        except exc.DBAPIError as error:
            self._engine.dispose()
            raise StoreOpenError(_open_failure(self.location, error)) from error

        self.schema_version = version
        if version > SCHEMA_VERSION:
            # Deliberate difference: Marianne would write to a newer file; we never do.
            self.newer_schema = True
            if not self.read_only:
                self._engine.dispose()
                self.read_only = True
                self._engine = self._build_engine(True)
            self._logger.warning(
                "store %s has schema v%s, newer than v%s: opened read-only",
                self.location, version, SCHEMA_VERSION,
            )
            return
        if version == 0 and "patterns" not in existing and not create:
            self._engine.dispose()
            raise StoreOpenError(f"{self.location} is not a Marianne learning store")
        if version < SCHEMA_VERSION:
            if self.read_only:
                # A read-only view never migrates; say so instead of writing.
                self._logger.warning(
                    "store %s has schema v%s and needs migration to v%s",
                    self.location, version, SCHEMA_VERSION,
                )
                return
            with self._engine.begin() as conn:
                if self.dialect == "sqlite":
                    _migrate_sqlite(conn, version, existing)
                tables.METADATA.create_all(conn, tables=list(tables.MARIANNE_TABLES))
                conn.execute(delete(tables.schema_version))
                conn.execute(insert(tables.schema_version).values(version=SCHEMA_VERSION))
            self.schema_version = SCHEMA_VERSION
        if self.is_postgresql and not self.read_only:
            self._ensure_console_tables()

    @property
    def needs_migration(self) -> bool:
        """True for an older schema opened read-only (nothing was migrated)."""
        return self.schema_version < SCHEMA_VERSION

    @property
    def schema_warning(self) -> str | None:
        """One line for an operator when the schema is not the one this code writes."""
        if self.newer_schema:
            return (
                f"schema v{self.schema_version} is newer than v{SCHEMA_VERSION}: read-only"
            )
        if self.needs_migration:
            return f"schema v{self.schema_version} needs migration to v{SCHEMA_VERSION}"
        return None

    def _ensure_console_tables(self) -> None:
        """Create this project's own tables (and, on PostgreSQL, the change triggers)."""
        with self._engine.begin() as conn:
            tables.METADATA.create_all(
                conn, tables=[tables.operator_journal, tables.store_revision]
            )
            if self.is_postgresql:
                _install_revision_triggers(conn)
        self._journal_ready = True

    # -- connections --------------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A SQLAlchemy connection in a transaction: committed on success, rolled back on error.

        Every read and write of this package goes through here. Inside ``_batch()`` (which
        ``batch_connection()`` opens) the batch's connection is handed out instead, and
        only the batch commits.
        """
        batch = self._batch_conn.get()
        if batch is not None:
            if self.is_postgresql:
                # A failed statement aborts a whole PostgreSQL transaction; a savepoint
                # keeps SQLite's behaviour: only the failed operation is lost.
                with batch.begin_nested():
                    yield batch
            else:
                yield batch
            return
        try:
            with self._engine.begin() as conn:
                yield conn
        except exc.DBAPIError as error:
            self._raise_refusal(error)
            self._logger.warning(
                "database operation failed on %s: %s: %s",
                self.location, type(error.orig).__name__, error.orig,
            )
            # Callers written for Marianne catch the driver's own exceptions
            # (sqlite3.IntegrityError, sqlite3.OperationalError): raise those.
            if isinstance(error.orig, Exception):
                raise error.orig from error
            raise

    def _raise_refusal(self, error: exc.DBAPIError) -> None:
        if self.read_only and _is_read_only_refusal(error):
            if self.newer_schema:
                raise SchemaError(
                    f"{self.location} has schema v{self.schema_version}, newer than "
                    f"v{SCHEMA_VERSION}: it is open read-only and will not be written"
                ) from error
            raise ReadOnlyStoreError(f"{self.location} is open read-only") from error

    @contextmanager
    def _batch(self) -> Iterator[Connection]:
        """Run many operations on one SQLAlchemy connection and commit once at the end.

        An exception escaping the block rolls everything back. The connection is scoped to
        the current thread or asyncio task.
        """
        try:
            with self._engine.begin() as conn:
                token = self._batch_conn.set(conn)
                try:
                    yield conn
                finally:
                    self._batch_conn.reset(token)
        except exc.DBAPIError as error:
            self._raise_refusal(error)
            if isinstance(error.orig, Exception):
                raise error.orig from error
            raise

    # Marianne's names for the two context managers above.
    _get_connection = _connection
    batch_connection = _batch

    def _assert_writable(self) -> None:
        """Refuse a write up front (for paths that would otherwise write nothing to SQL)."""
        if not self.read_only:
            return
        if self.newer_schema:
            raise SchemaError(
                f"{self.location} has schema v{self.schema_version}: open read-only"
            )
        raise ReadOnlyStoreError(f"{self.location} is open read-only")

    def close(self) -> None:
        """Release pooled connections; the store stays usable."""
        self._engine.dispose()

    # -- time ---------------------------------------------------------------------------

    def _now_local(self) -> datetime:
        return self.clock.local()

    def _now_utc(self) -> datetime:
        return self.clock.utc()

    # -- hashing (static, as in Marianne) -------------------------------------------------

    @staticmethod
    def hash_workspace(workspace_path: Path) -> str:
        return hash_workspace(workspace_path)

    @staticmethod
    def hash_job(job_name: str, config_hash: str | None = None) -> str:
        return hash_job(job_name, config_hash)

    # -- housekeeping -------------------------------------------------------------------

    def clear_all(self) -> None:
        """Delete every row of Marianne's tables except ``schema_version`` (for tests)."""
        order = (
            tables.pattern_applications,
            tables.error_recoveries,
            tables.patterns,
            tables.executions,
            tables.workspace_clusters,
            tables.rate_limit_events,
            tables.escalation_decisions,
            tables.pattern_discovery_events,
            tables.evolution_trajectory,
            tables.exploration_budget,
            tables.entropy_responses,
            tables.pattern_entropy_history,
        )
        with self._connection() as conn:
            for table in order:
                conn.execute(delete(table))


# ---------------------------------------------------------------------------------------
# Schema helpers
# ---------------------------------------------------------------------------------------


def _table_names(conn: Connection) -> list[str]:
    from sqlalchemy import inspect

    return list(inspect(conn).get_table_names())


def _read_schema_version(conn: Connection) -> int:
    row = conn.execute(
        select(tables.schema_version.c.version)
        .order_by(tables.schema_version.c.version)
        .limit(1)
    ).first()
    return int(row[0]) if row is not None and row[0] is not None else 0


def _open_failure(location: str, error: exc.DBAPIError) -> str:
    detail = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    if "file is not a database" in detail:
        return f"{location} is not a SQLite database"
    return f"cannot open {location}: {detail}"


#: Columns Marianne adds to tables that existed before they did (contract section 1.4).
_COLUMN_MIGRATIONS: dict[str, list[tuple[str, str]]] = {
    "patterns": [
        ("quarantine_status", "TEXT DEFAULT 'pending'"),
        ("provenance_job_hash", "TEXT"),
        ("provenance_sheet_num", "INTEGER"),
        ("quarantined_at", "TIMESTAMP"),
        ("validated_at", "TIMESTAMP"),
        ("quarantine_reason", "TEXT"),
        ("trust_score", "REAL DEFAULT 0.5"),
        ("trust_calculation_date", "TIMESTAMP"),
        ("success_factors", "TEXT"),
        ("success_factors_updated_at", "TIMESTAMP"),
        ("active", "INTEGER DEFAULT 1"),
        ("content_hash", "TEXT"),
        ("instrument_name", "TEXT"),
    ],
    "pattern_applications": [("grounding_confidence", "REAL")],
}

_COLUMN_RENAMES: dict[str, list[tuple[str, str]]] = {
    "pattern_applications": [("outcome_improved", "pattern_led_to_success")],
    "executions": [("first_attempt_success", "success_without_retry")],
}


def _column_names(conn: Connection, table: str) -> list[str]:
    return [row[1] for row in conn.exec_driver_sql(f"PRAGMA table_info({table})")]


def _migrate_sqlite(conn: Connection, version: int, existing: set[str]) -> None:
    """Bring an older SQLite file to v15 exactly as Marianne does (contract section 1.4)."""
    for table, columns in _COLUMN_MIGRATIONS.items():
        if table not in existing:
            continue
        for name, definition in columns:
            try:
                conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")
            except exc.OperationalError as error:
                if "duplicate column" not in str(error).lower():
                    raise
    for table, renames in _COLUMN_RENAMES.items():
        if table not in existing:
            continue
        for old, new in renames:
            names = _column_names(conn, table)
            if old in names and new not in names:
                try:
                    conn.exec_driver_sql(f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}")
                except exc.OperationalError as error:
                    _logger.warning("could not rename %s.%s: %s", table, old, error)
    if version < 13 and "patterns" in existing:
        conn.exec_driver_sql(
            "UPDATE patterns SET priority_score = 0.5 WHERE "
            "led_to_success_count + led_to_failure_count = 0 AND priority_score < 0.3"
        )
    if version < 15 and "pattern_applications" in existing:
        foreign_keys = conn.exec_driver_sql(
            "PRAGMA foreign_key_list(pattern_applications)"
        ).fetchall()
        if foreign_keys:
            _rebuild_pattern_applications_without_foreign_keys(conn)


def _rebuild_pattern_applications_without_foreign_keys(conn: Connection) -> None:
    columns = (
        "id, pattern_id, execution_id, applied_at, pattern_led_to_success, "
        "retry_count_before, retry_count_after, grounding_confidence"
    )
    conn.exec_driver_sql("DROP TABLE IF EXISTS pattern_applications_new")
    new_table = tables.pattern_applications.to_metadata(
        tables.METADATA.__class__(), name="pattern_applications_new"
    )
    for index in list(new_table.indexes):
        new_table.indexes.discard(index)
    new_table.create(conn)
    conn.exec_driver_sql(
        f"INSERT INTO pattern_applications_new ({columns}) "
        f"SELECT {columns} FROM pattern_applications"
    )
    conn.exec_driver_sql("DROP TABLE pattern_applications")
    conn.exec_driver_sql("ALTER TABLE pattern_applications_new RENAME TO pattern_applications")
    for index in tables.pattern_applications.indexes:
        index.create(conn, checkfirst=True)


_REVISION_FUNCTION = """
CREATE OR REPLACE FUNCTION marianne_tui_bump_revision() RETURNS trigger AS $$
BEGIN
    UPDATE marianne_tui_revision SET rev = rev + 1 WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""


def _install_revision_triggers(conn: Connection) -> None:
    """Statement-level triggers that bump one counter on any write to a Marianne table."""
    conn.execute(
        text(
            "INSERT INTO marianne_tui_revision (id, rev) VALUES (1, 0) "
            "ON CONFLICT (id) DO NOTHING"
        )
    )
    conn.exec_driver_sql(_REVISION_FUNCTION)
    for table in (*tables.MARIANNE_TABLES, tables.operator_journal):
        trigger = f"marianne_tui_rev_{table.name}"
        conn.exec_driver_sql(
            f"CREATE OR REPLACE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table.name} FOR EACH STATEMENT "
            "EXECUTE FUNCTION marianne_tui_bump_revision()"
        )

