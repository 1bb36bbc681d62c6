"""Engine, connections, schema version handling, hashing and clocks.

A store is opened from a file path (SQLite, Marianne's default) or a SQLAlchemy URL
(``sqlite:///...`` or ``postgresql+psycopg://...``). Every public operation runs in a short
connection and transaction of its own, as in Marianne, unless a ``batch_connection()`` is
open in the current thread or task, which then serves every operation and commits once.

Deliberate differences from Marianne (contract section 1):

* A file stamped with a newer schema (v16+) is opened **read-only**: reads work, and every
  write raises :class:`SchemaError` instead of touching the file. Marianne opens it as is.
* ``close()`` releases pooled connections (Marianne's is a no-op); the store stays usable.
* ``read_only=True`` opens SQLite with ``mode=ro`` (plus ``query_only``) and PostgreSQL with
  read-only transactions; a write then raises :class:`ReadOnlyStoreError`. A store this
  user cannot write opens read-only by itself (Marianne fails), saying why in
  ``read_only_reason``; where SQLite cannot share the file's ``-shm`` it reads the file as
  ``immutable`` (``immutable_view``: other processes' changes are not seen).
* An existing file is looked at without writing anything (no ``-wal``/``-shm`` either)
  before it is opened: an empty, foreign, truncated or damaged file is refused, even with
  ``create=True`` (Marianne would add its tables to a foreign database). A zero-byte file
  becomes a new store when ``create`` allows it, as in SQLite.
* A driver error after opening is raised as one of :class:`StoreBusyError`,
  :class:`ReadOnlyStoreError`, :class:`StoreUnavailableError` or
  :class:`StoreDatabaseError`, each time a subclass of the driver's own exception class
  too, so Marianne's ``except sqlite3.OperationalError`` still catches it. Passwords are
  masked in every message and log line.

Marianne's own ``_get_connection()`` and ``batch_connection()`` are kept for the SQL text
Marianne's modules run: on SQLite they yield a ``sqlite3.Connection`` (a pooled one; a batch
has one of its own), on PostgreSQL the adapter of :mod:`store.dbapi`. This package's own
code uses ``_connection()`` and ``_batch()`` (SQLAlchemy), which share the same transaction.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import os
import re
import select as io_select
import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias, TypeVar
from urllib.parse import quote

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    any_,
    bindparam,
    create_engine,
    delete,
    event,
    exc,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from store import tables
from store.dbapi import PostgresConnection
from store.revision import install_console_objects

#: What ``_get_connection()`` and ``batch_connection()`` yield: the SQLite driver's own
#: connection, or the adapter with the same surface on PostgreSQL.
MarianneConnection: TypeAlias = sqlite3.Connection | PostgresConnection

__all__ = [
    "DEFAULT_GLOBAL_STORE_PATH",
    "SCHEMA_VERSION",
    "Clock",
    "GlobalLearningStoreBase",
    "ReadOnlyStoreError",
    "SQLParam",
    "SchemaError",
    "StoreBusyError",
    "StoreDatabaseError",
    "StoreError",
    "StoreOpenError",
    "StoreUnavailableError",
    "WhereBuilder",
    "chain_has_cycle",
    "content_hash_for",
    "hash_job",
    "hash_workspace",
    "in_bound_list",
    "log_event",
    "normalize_pattern_name",
    "pattern_id_for",
    "redact",
]

_logger = logging.getLogger("store")


def _marianne_structlog() -> Any:
    """structlog, when this process is Marianne's (its logging module is loaded), else None.

    Not merely when structlog is installed: unconfigured structlog prints to stdout, which
    would write over the console's screen.
    """
    if "marianne.core.logging" not in sys.modules:
        return None
    return sys.modules.get("structlog")


def log_event(level: int, event: str, **fields: object) -> None:
    """Log one of Marianne's named events (``pattern_application_skipped``...) with its fields.

    Inside Marianne's process the event goes through structlog, bound to Marianne's
    component name, exactly where Marianne's own store logs it; elsewhere through the
    standard ``store`` logger as ``event key=value ...``.
    """
    structlog = _marianne_structlog()
    if structlog is not None:
        logger = structlog.get_logger().bind(component="learning.global_store")
        getattr(logger, logging.getLevelName(level).lower())(event, **fields)
        return
    if _logger.isEnabledFor(level):
        details = " ".join(f"{key}={value!r}" for key, value in fields.items())
        _logger.log(level, "%s %s", event, details)

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
    """A write was attempted on a store that is open read-only (or that the database refused
    to write: a file that became read-only, a read-only PostgreSQL transaction)."""


class StoreBusyError(StoreError):
    """Another connection held a lock for longer than the store's ``busy_timeout``.

    Nothing was written by the refused call; trying again later may succeed.
    """


class StoreUnavailableError(StoreError):
    """The database could not be reached: a PostgreSQL server down, a file gone."""


class StoreDatabaseError(StoreError):
    """Any other error of the database driver (a constraint violated, a bad value...)."""


# Every driver error the store lets out after opening is one of the four kinds above
# *and* the driver's own exception class at once (``sqlite3.OperationalError``,
# ``psycopg.errors.LockNotAvailable``...): code written for Marianne keeps catching the
# driver's errors, and code that must not import a driver catches ``StoreError``. Its
# ``__cause__`` is the driver's original exception, whose chain never leads back.


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


#: A value sqlite3 binds as a parameter (Marianne's alias of the same name).
SQLParam: TypeAlias = str | int | float | bytes | None


def in_bound_list(
    column: ColumnElement[Any], name: str, *, postgresql: bool
) -> ColumnElement[bool]:
    """``column IN`` the list bound as ``name``.

    On PostgreSQL one array parameter (``= ANY``): an expanding ``IN`` renders a
    placeholder per value on every execution, and the driver parses that text anew each
    time (1.3 ms of Python for the 200 ids of a drift page), and a statement whose text
    changes with the list's length is never prepared. The same rows either way; neither
    matches a NULL.
    """
    if postgresql:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


class WhereBuilder:
    """``AND``-joined WHERE fragments with ``?`` placeholders and their parameters.

    For SQL text run through ``_get_connection()``, as Marianne's mixins build it:
    ``build()`` gives ``("a = ? AND b >= ?", (1, 2))``, or ``("1=1", ())`` when empty.
    """

    __slots__ = ("_clauses", "_params")

    def __init__(self) -> None:
        self._clauses: list[str] = []
        self._params: list[SQLParam] = []

    def add(self, clause: str, *params: SQLParam) -> None:
        self._clauses.append(clause)
        self._params.extend(params)

    def build(self) -> tuple[str, tuple[SQLParam, ...]]:
        if not self._clauses:
            return "1=1", ()
        return " AND ".join(self._clauses), tuple(self._params)


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


_URL_PASSWORD = re.compile(r"(\b[A-Za-z][\w+.-]*://[^\s:/@]*:)[^\s@]*@")
_DSN_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)


def redact(message: str, url: str | None = None) -> str:
    """``message`` with every password it may hold replaced by ``***``.

    Passwords in URLs (``postgresql://u:***@h/db``) and in ``password=...`` pairs are
    masked, and so is the literal password of ``url`` wherever it appears (a driver may
    quote it back in its own words).
    """
    masked = _URL_PASSWORD.sub(r"\1***@", message)
    masked = _DSN_PASSWORD.sub(r"\1***", masked)
    if url and _is_url(url):
        try:
            password = make_url(url).password
        except (exc.ArgumentError, ValueError):
            password = None
        if password:
            for form in {str(password), quote(str(password), safe="")}:
                masked = masked.replace(form, "***")
    return masked


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


_SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class _FileLook:
    """What a look at a file, that wrote nothing, found."""

    #: the file has no content a store could be built on (zero bytes, or SQLite without tables)
    blank: bool
    #: the header says WAL journal mode
    wal: bool
    schema_version: int


def _look_at_sqlite_file(path: Path) -> _FileLook:
    """Check an existing file is a healthy store, without writing anything anywhere.

    The header is read as plain bytes first (magic, page size, and a file shorter than
    the header says is truncated); SQLite then reads the schema through a read-only
    connection that is ``immutable`` unless a ``-wal``/``-shm`` shows the file is in
    use: a read-only connection to a WAL file would otherwise create both beside it.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            header = handle.read(100)
    except OSError as error:
        raise StoreOpenError(f"cannot read {path}: {error.strerror or error}") from None
    if size == 0:
        return _FileLook(blank=True, wal=False, schema_version=0)
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise StoreOpenError(f"{path} is not a SQLite database")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise StoreOpenError(f"{path} is damaged: its header is not valid")
    wal = header[18] == 2
    in_use = any(_sidecar(path, suffix).exists() for suffix in ("-wal", "-shm", "-journal"))
    header_pages = int.from_bytes(header[28:32], "big")
    header_size_valid = header[24:28] == header[92:96]
    # Pages a WAL or journal holds may legitimately be missing from the file itself.
    if not in_use and (
        size % page_size or (header_size_valid and size < header_pages * page_size)
    ):
        raise StoreOpenError(
            f"{path} is truncated: {size} bytes where its header says "
            f"{header_pages * page_size}"
        )
    uri = f"{path.resolve().as_uri()}?mode=ro" + ("" if in_use else "&immutable=1")
    try:
        probe = sqlite3.connect(uri, uri=True)
        try:
            names = {
                row[0]
                for row in probe.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            version = 0
            if "schema_version" in names:
                row = probe.execute(
                    "SELECT version FROM schema_version ORDER BY version LIMIT 1"
                ).fetchone()
                version = int(row[0]) if row is not None and row[0] is not None else 0
        finally:
            probe.close()
    except sqlite3.DatabaseError as error:
        detail = str(error)
        if "not a database" in detail:
            raise StoreOpenError(f"{path} is not a SQLite database") from None
        if "malformed" in detail or "corrupt" in detail:
            raise StoreOpenError(f"{path} is damaged: {detail}") from None
        raise StoreOpenError(f"cannot open {path}: {detail}") from None
    except (TypeError, ValueError):
        raise StoreOpenError(f"{path} is damaged: unreadable schema version") from None
    if not names:
        return _FileLook(blank=True, wal=wal, schema_version=0)
    if "patterns" not in names and "schema_version" not in names:
        raise StoreOpenError(f"{path} is not a Marianne learning store")
    return _FileLook(blank=False, wal=wal, schema_version=version)


def _write_obstacle(path: Path) -> str | None:
    """Why this user cannot write the store at ``path`` (None when it can).

    ``os.access`` answers for the real user and knows about read-only mounts and
    ``chattr +i`` (refused even to root).
    """
    if not os.access(path, os.W_OK):
        return "the file is not writable by this user"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        # SQLite creates its -wal, -shm or -journal file beside the store to write.
        return "its directory is not writable by this user"
    for suffix in ("-wal", "-shm", "-journal"):
        side = _sidecar(path, suffix)
        if side.exists() and not os.access(side, os.W_OK):
            return f"{side.name} is not writable by this user"
    return None


@dataclass(frozen=True)
class _SqliteOpening:
    """How to connect to one SQLite file."""

    path: Path
    read_only: bool
    #: SQLite was told the file never changes (no locks, no -shm): changes by other
    #: processes are not seen until the store is reopened
    immutable: bool

    @property
    def uri(self) -> str:
        if not self.read_only:
            return str(self.path)
        return f"{self.path.resolve().as_uri()}?mode=ro" + (
            "&immutable=1" if self.immutable else ""
        )

    def connect(self, timeout: float, *, autocommit: bool = False) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.uri,
            uri=self.read_only,
            timeout=timeout,
            check_same_thread=False,
            isolation_level=None if autocommit else "DEFERRED",
        )
        if self.read_only:
            # Belt and braces over mode=ro: this connection refuses every write itself.
            connection.execute("PRAGMA query_only=ON")
        return connection


#: Helper threads SQLite's sorter may use for a large sort (the cold drift read).
SORTER_THREADS = min(4, os.cpu_count() or 1)


def _sqlite_engine(opening: _SqliteOpening, busy_timeout: float) -> Engine:
    """An engine over one SQLite file, with Marianne's pragmas on every connection."""

    def connect() -> sqlite3.Connection:
        return opening.connect(busy_timeout)

    engine = create_engine("sqlite://", creator=connect, poolclass=QueuePool, pool_size=4)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if not opening.read_only:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        # The drift windows sort every application once; SQLite's sorter can merge in
        # helper threads (no effect on what is read or written).
        cursor.execute(f"PRAGMA threads={SORTER_THREADS}")
        cursor.close()

    return engine


#: Seconds to wait for a PostgreSQL server to answer a new connection (unless the URL
#: says otherwise): a server that is down must fail a call, never hang it.
CONNECT_TIMEOUT_SECONDS = 10


def _url_engine(url: str, read_only: bool, busy_timeout: float) -> Engine:
    """An engine over a non-SQLite URL (PostgreSQL).

    A password left out of the URL is found by the driver itself (``PGPASSWORD``,
    ``PGPASSFILE``, ``~/.pgpass``): nothing here supplies an empty one.
    """
    parsed = make_url(url)
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    try:
        psycopg = parsed.get_driver_name() == "psycopg"
        engine = create_engine(
            parsed, pool_pre_ping=not psycopg, pool_size=4, connect_args=connect_args
        )
    except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as error:
        raise StoreOpenError(
            f"cannot use {parsed.render_as_string()}: {redact(str(error), url)}"
        ) from None
    if psycopg:
        _ping_on_checkout_unless_quiet(engine)
    lock_timeout_ms = max(1, int(busy_timeout * 1000))

    @event.listens_for(engine, "connect")
    def _session(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # The busy timeout of SQLite, for PostgreSQL's lock waits.
        cursor.execute(f"SET lock_timeout = {lock_timeout_ms}")
        # The store's statements are small, or (the full drift scans) a few comparisons a
        # row, so compiling them saves nothing; and a session's first JIT loads LLVM:
        # 30-150 ms, seconds while the library is not yet in the page cache. Set for the
        # session, so that no read needs a transaction (``SET LOCAL``) for it.
        cursor.execute("SET jit = off")
        if read_only:
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        cursor.close()
        dbapi_connection.commit()

    return engine


def _quiet_and_idle(dbapi_connection: Any) -> bool:
    """True when a pooled psycopg connection is sure to be usable without asking the server:
    open, no transaction, and nothing waiting to be read on its socket.

    A server that ends a session (a restart or shutdown, ``pg_terminate_backend``, an
    idle-session timeout) sends a last error message and closes its end, so the socket of
    a connection it dropped is readable. The pool's connections never LISTEN (the push
    session is detached from the pool), so nothing else arrives while one is idle.
    """
    from psycopg import pq

    try:
        info = dbapi_connection.info
        if (
            dbapi_connection.closed
            or info.status != pq.ConnStatus.OK
            or info.transaction_status != pq.TransactionStatus.IDLE
        ):
            return False
        readable, _, _ = io_select.select([dbapi_connection.fileno()], [], [], 0)
    except Exception:  # a connection in any doubt is pinged
        return False
    return not readable


def _ping_on_checkout_unless_quiet(engine: Engine) -> None:
    """The pool's pre-ping, skipped for a connection that :func:`_quiet_and_idle` clears.

    The pre-ping was one round trip (``SELECT 1``) before every call's first statement, a
    sixth of a pattern application's; a connection in doubt is still pinged, and a failed
    ping does what the pre-ping's did: every pooled connection is replaced (the server
    probably restarted) and the call goes on with a new one.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if _quiet_and_idle(dbapi_connection):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.InvalidatePoolError(str(error)) from error
            raise


# ---------------------------------------------------------------------------------------
# Translating driver errors
# ---------------------------------------------------------------------------------------

_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_CANTOPEN = 5, 6, 8, 14

_error_classes: dict[tuple[type[StoreError], type[BaseException]], type[StoreError]] = {}
_error_classes_lock = threading.Lock()


def _error_class(kind: type[StoreError], driver_class: type[BaseException]) -> type[StoreError]:
    """A class that is both ``kind`` and the driver's own exception class.

    Callers written for Marianne catch ``sqlite3.OperationalError`` or
    ``sqlite3.IntegrityError``; the console catches :class:`StoreError`. An instance of
    this class satisfies both.
    """
    key = (kind, driver_class)
    with _error_classes_lock:
        made = _error_classes.get(key)
        if made is None:
            try:
                made = type(kind.__name__, (kind, driver_class), {"__module__": __name__})
            except TypeError:  # a driver class that cannot be subclassed
                made = kind
            _error_classes[key] = made
        return made


def _sqlite_code(error: object) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _is_operational(error: object) -> bool:
    """The driver's OperationalError (or a subclass), named as PEP 249 names it."""
    return any(cls.__name__ == "OperationalError" for cls in type(error).__mro__)


def _error_kind(orig: object, dialect: str, *, invalidated: bool) -> type[StoreError]:
    message = str(orig).lower()
    if dialect == "sqlite":
        code = _sqlite_code(orig)
        if code in (_SQLITE_BUSY, _SQLITE_LOCKED) or "database is locked" in message:
            return StoreBusyError
        if code == _SQLITE_READONLY or "readonly database" in message:
            return ReadOnlyStoreError
        if code == _SQLITE_CANTOPEN:
            return StoreUnavailableError
        return StoreDatabaseError
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate == "55P03":  # lock_not_available: lock_timeout expired
        return StoreBusyError
    if sqlstate == "25006" or "read-only transaction" in message:
        return ReadOnlyStoreError
    if (
        invalidated
        or (sqlstate is None and _is_operational(orig))
        or (sqlstate or "").startswith(("08", "57P"))
    ):
        return StoreUnavailableError
    return StoreDatabaseError


def chain_has_cycle(error: BaseException) -> bool:
    """True when following ``__cause__`` and ``__context__`` from ``error`` can loop.

    Shared links (SQLAlchemy makes the driver's error both cause and context of its
    wrapper) are not loops; only a way back to an exception still being followed is.
    """
    done: set[int] = set()
    following: set[int] = set()
    stack: list[tuple[BaseException, bool]] = [(error, False)]
    while stack:
        current, leaving = stack.pop()
        if leaving:
            following.discard(id(current))
            done.add(id(current))
            continue
        if id(current) in following:
            return True
        if id(current) in done:
            continue
        following.add(id(current))
        stack.append((current, True))
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                if id(linked) in following:
                    return True
                stack.append((linked, False))
    return False


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
        busy_timeout: seconds a call waits for another connection's lock before it fails
            with :class:`StoreBusyError` (SQLite's busy timeout, PostgreSQL's
            ``lock_timeout``).

    A store may be read-only without being asked: a file with a newer schema, or one this
    user cannot write (file, directory or ``-wal``/``-shm`` not writable, ``chattr +i``).
    ``read_only_reason`` then says why, and ``immutable_view`` is True when SQLite reads the
    file as immutable (a WAL store in a directory this user cannot write, with no ``-shm``
    to share): changes other processes make are then not seen until the store is reopened.
    """

    SCHEMA_VERSION = SCHEMA_VERSION
    _COLUMN_MIGRATIONS = _COLUMN_MIGRATIONS
    _COLUMN_RENAMES = _COLUMN_RENAMES
    #: The tables ``clear_all()`` empties, in Marianne's order (``schema_version`` stays).
    _DATA_TABLES = (
        "pattern_applications",
        "error_recoveries",
        "patterns",
        "executions",
        "workspace_clusters",
        "rate_limit_events",
        "escalation_decisions",
        "pattern_discovery_events",
        "evolution_trajectory",
        "exploration_budget",
        "entropy_responses",
        "pattern_entropy_history",
    )

    def __init__(
        self,
        db_path: Path | str | None = None,
        *,
        read_only: bool = False,
        create: bool = True,
        clock: Clock | None = None,
        busy_timeout: float = BUSY_TIMEOUT_SECONDS,
    ) -> None:
        self._logger = _logger
        self.clock = clock or Clock()
        self._batch_conn: contextvars.ContextVar[Connection | None] = contextvars.ContextVar(
            "store_batch_connection", default=None
        )
        self._journal_ready = False
        self.requested_read_only = read_only
        self.newer_schema = False
        self.busy_timeout = float(busy_timeout)
        self.read_only_reason: str | None = "opened read-only on request" if read_only else None
        self.immutable_view = False
        self._sqlite_opening: _SqliteOpening | None = None

        target = db_path if db_path is not None else DEFAULT_GLOBAL_STORE_PATH
        if isinstance(target, str) and _is_url(target):
            self.url = target
            try:
                parsed = make_url(target)
            except (exc.ArgumentError, ValueError):
                raise StoreOpenError(f"not a valid store URL: {redact(target)}") from None
            self.dialect = parsed.get_backend_name()
            if self.dialect == "sqlite":
                database = parsed.database or ""
                if not database or database == ":memory:":
                    raise StoreOpenError(
                        "an in-memory SQLite store is not supported; give a file"
                    )
                self.db_path: Path | str = Path(database)
            else:
                self.db_path = target
        else:
            self.dialect = "sqlite"
            self.db_path = Path(target).expanduser()
            self.url = f"sqlite:///{self.db_path}"

        self.read_only = read_only
        if self.dialect == "sqlite":
            self._sqlite_opening = self._prepare_sqlite_file(create=create, read_only=read_only)
            self.read_only = self._sqlite_opening.read_only
            self.immutable_view = self._sqlite_opening.immutable
        self._engine = self._build_engine(self.read_only)
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

    def _prepare_sqlite_file(self, *, create: bool, read_only: bool) -> _SqliteOpening:
        """Decide how to open the file; nothing is written unless it is a healthy store.

        A missing file (or a blank one: zero bytes, or SQLite without a table) becomes a
        new store only when ``create`` and writable; anything else that is not a healthy
        learning store is refused with nothing written beside it. A healthy store this
        user cannot write, or one with a newer schema, opens read-only.
        """
        path = Path(self.db_path)
        if path.is_dir():
            raise StoreOpenError(f"{path} is a directory, not a store file")
        if not path.exists():
            if not create or read_only:
                raise StoreOpenError(f"no store at {path}")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreOpenError(
                    f"cannot create a store at {path}: {error.strerror or error}"
                ) from None
            if not os.access(path.parent, os.W_OK | os.X_OK):
                raise StoreOpenError(
                    f"cannot create a store at {path}: its directory is not writable"
                )
            return _SqliteOpening(path, read_only=False, immutable=False)

        look = _look_at_sqlite_file(path)
        obstacle = _write_obstacle(path)
        if look.blank:
            if not create or read_only:
                raise StoreOpenError(f"{path} is empty: not a Marianne learning store")
            if obstacle is not None:
                raise StoreOpenError(f"cannot create a store in {path}: {obstacle}")
            return _SqliteOpening(path, read_only=False, immutable=False)

        if look.schema_version > SCHEMA_VERSION:
            self.read_only_reason = (
                f"schema v{look.schema_version} is newer than v{SCHEMA_VERSION}"
            )
        elif not read_only and obstacle is not None:
            self.read_only_reason = obstacle
        if self.read_only_reason is None:
            return _SqliteOpening(path, read_only=False, immutable=False)

        # A read-only connection to a WAL file needs its -shm: with none there, SQLite
        # creates -wal and -shm and leaves them (or fails, in a directory it cannot
        # write). Created by another user than the file's owner, they would stop the
        # owner's conductor from writing (root's are given to the owner by SQLite). The
        # file is then read as immutable instead, as is a file this store must not touch.
        shared = _sidecar(path, "-shm").exists()
        directory_writable = os.access(path.parent, os.W_OK | os.X_OK)
        owner_or_root = os.geteuid() in (0, path.stat().st_uid)
        immutable = look.wal and not shared and (
            not directory_writable
            or not owner_or_root
            or look.schema_version > SCHEMA_VERSION
        )
        return _SqliteOpening(path, read_only=True, immutable=immutable)

    def _build_engine(self, read_only: bool) -> Engine:
        if self.dialect == "sqlite":
            opening = self._sqlite_opening
            assert opening is not None
            if read_only and not opening.read_only:
                opening = self._sqlite_opening = _SqliteOpening(
                    opening.path, read_only=True, immutable=False
                )
            return _sqlite_engine(opening, self.busy_timeout)
        return _url_engine(self.url, read_only, self.busy_timeout)

    def _connect_sqlite(self) -> sqlite3.Connection:
        """A plain sqlite3 connection opened as the store's own are (read-only or not),
        in autocommit mode (for the change probe)."""
        assert self._sqlite_opening is not None
        return self._sqlite_opening.connect(self.busy_timeout, autocommit=True)

    def _open_schema(self, *, create: bool) -> None:
        """Read the schema version and create or migrate as the contract says (section 1.4)."""
        try:
            with self._engine.connect() as conn:
                existing = set(_table_names(conn))
                version = _read_schema_version(conn) if "schema_version" in existing else 0
                conn.rollback()
        except exc.DBAPIError as error:
            self._engine.dispose()
            raise StoreOpenError(_open_failure(self.location, error, self.url)) from error

        self.schema_version = version
        if self.is_postgresql and not self.read_only:
            obstacle = self._postgresql_write_obstacle(existing)
            if obstacle is not None:
                self.read_only_reason = obstacle
                self._engine.dispose()
                self.read_only = True
                self._engine = self._build_engine(True)
        if version > SCHEMA_VERSION:
            # Deliberate difference: Marianne would write to a newer file; we never do.
            self.newer_schema = True
            self.read_only_reason = f"schema v{version} is newer than v{SCHEMA_VERSION}"
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
            try:
                with self._engine.begin() as conn:
                    if self.dialect == "sqlite":
                        _migrate_sqlite(conn, version, existing)
                    tables.METADATA.create_all(conn, tables=list(tables.MARIANNE_TABLES))
                    conn.execute(delete(tables.schema_version))
                    conn.execute(insert(tables.schema_version).values(version=SCHEMA_VERSION))
            except exc.DBAPIError as error:
                self._engine.dispose()
                raise self._store_error(error) from error.orig
            self.schema_version = SCHEMA_VERSION
        if self.is_postgresql and not self.read_only:
            try:
                self._ensure_console_tables()
            except exc.DBAPIError as error:
                self._engine.dispose()
                raise self._store_error(error) from error.orig

    def _postgresql_write_obstacle(self, existing: set[str]) -> str | None:
        """Why this PostgreSQL user cannot write the store (None when it can)."""
        may_write = (
            "has_table_privilege('patterns', 'INSERT')"
            if "patterns" in existing
            else "has_schema_privilege(current_schema(), 'CREATE')"
        )
        try:
            with self._engine.connect() as conn:
                standby, allowed = conn.exec_driver_sql(
                    f"SELECT pg_is_in_recovery(), {may_write}"
                ).one()
                conn.rollback()
        except exc.DBAPIError as error:
            self._engine.dispose()
            raise StoreOpenError(_open_failure(self.location, error, self.url)) from error
        if standby:
            return "the server is a read-only standby"
        if allowed is False:
            return "this database user may not write the store's tables"
        return None

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
        """PostgreSQL: create the journal and the change triggers (``store.revision``)."""
        if install_console_objects(self._engine):
            # Every other open leaves its connection in the pool; without this, the first
            # call after an install (or an upgrade) opened one (~5 ms on a local server).
            with self._engine.connect():
                pass
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
            try:
                if self.is_postgresql:
                    # A failed statement aborts a whole PostgreSQL transaction; a savepoint
                    # keeps SQLite's behaviour: only the failed operation is lost.
                    with batch.begin_nested():
                        yield batch
                else:
                    yield batch
            except exc.DBAPIError as error:
                raise self._store_error(error) from error.orig
            return
        try:
            with self._engine.begin() as conn:
                yield conn
        except exc.DBAPIError as error:
            raise self._store_error(error) from error.orig

    def _prune_drift_log_if_due(self) -> None:
        """Called after each application is written; ``DriftMixin`` prunes its log then."""

    @contextmanager
    def _reads_connection(self) -> Iterator[Connection]:
        """A connection for a few small reads that need no snapshot in common.

        On PostgreSQL it is outside any transaction: at READ COMMITTED each statement reads
        its own snapshot anyway, and this spares the ``BEGIN`` and ``COMMIT`` round trips
        (half of the change probe's). On SQLite it is :meth:`_connection`.
        """
        if not self.is_postgresql or self._batch_conn.get() is not None:
            with self._connection() as conn:
                yield conn
            return
        try:
            with self._engine.connect() as conn:
                yield conn.execution_options(isolation_level="AUTOCOMMIT")
        except exc.DBAPIError as error:
            raise self._store_error(error) from error.orig

    def _store_error(
        self, error: BaseException, *, as_class: type[BaseException] | None = None
    ) -> BaseException:
        """The exception to raise for a failed database call: see :class:`StoreError`.

        The one place where the store turns a database error (SQLAlchemy's wrapper, or
        the driver's own exception met on a raw DBAPI connection) into what its callers
        catch. Raise the result ``from`` the driver's exception (``error.orig`` for a
        wrapper): that becomes its cause, and nothing points back (``raise error.orig
        from error`` made the two each other's cause, and Rich rendered that forever).
        ``as_class`` names the driver class to keep when it is not the error's own (the
        PostgreSQL adapter of Marianne's raw connections raises ``sqlite3`` classes).
        """
        orig = error.orig if isinstance(error, exc.DBAPIError) else error
        kind = _error_kind(
            orig,
            self.dialect,
            invalidated=isinstance(error, exc.DBAPIError) and error.connection_invalidated,
        )
        detail = redact(str(orig if orig is not None else error).strip(), self.url)
        self._logger.warning(
            "database operation failed on %s: %s: %s",
            self.location, type(orig).__name__, detail,
        )
        message = detail
        if kind is ReadOnlyStoreError and self.read_only:
            if self.newer_schema:
                kind = SchemaError
                message = (
                    f"{self.location} has schema v{self.schema_version}, newer than "
                    f"v{SCHEMA_VERSION}: it is open read-only and will not be written"
                )
            else:
                message = f"{self.location} is open read-only ({self.read_only_reason})"
        elif kind is StoreBusyError:
            message = (
                f"{self.location} is busy: another connection held a lock for more than "
                f"{self.busy_timeout:g} s ({detail})"
            )
        elif kind is StoreUnavailableError:
            message = f"{self.location} is unavailable: {detail}"
        if not isinstance(orig, Exception):
            return kind(message)
        translated = _error_class(kind, as_class or type(orig))(message)
        for name in ("sqlite_errorcode", "sqlite_errorname"):
            if hasattr(orig, name):
                setattr(translated, name, getattr(orig, name))
        if chain_has_cycle(orig):
            orig.__cause__ = orig.__context__ = None
        return translated

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
            raise self._store_error(error) from error.orig

    # -- Marianne's raw connections --------------------------------------------------------
    #
    # Marianne's own modules (aggregator, error hooks) and its callers run SQL text with
    # ``?`` placeholders through these two and read rows by column name. On SQLite they get
    # the pooled sqlite3 connection itself; on PostgreSQL an adapter with the same surface.

    @contextmanager
    def _get_connection(self) -> Iterator[MarianneConnection]:
        """Marianne's connection: a ``sqlite3.Connection`` (rows are ``sqlite3.Row``).

        Committed on a clean exit and rolled back on an exception. Inside
        ``batch_connection()`` it is the batch's own connection, in the batch's transaction,
        and only the batch commits. On PostgreSQL it is a :class:`~store.dbapi.PostgresConnection`.
        """
        batch = self._batch_conn.get()
        if batch is not None:
            # Not through _connection(): its PostgreSQL savepoint would span the caller's
            # statements, and the adapter already isolates each statement in its own.
            with self._marianne_view(batch) as view:
                yield view
            return
        try:
            with self._connection() as conn, self._marianne_view(conn) as view:
                yield view
        except StoreError:
            raise  # already translated by the store call that failed inside the block
        except sqlite3.Error as error:
            raise self._raw_error(error) from error

    @contextmanager
    def batch_connection(self) -> Iterator[MarianneConnection]:
        """Marianne's batch: one connection and one transaction for every operation inside.

        Store operations called inside the block, and ``_get_connection()``, use the yielded
        connection; the batch commits once on a clean exit and rolls everything back on an
        exception. Scoped to the current thread or asyncio task.
        """
        try:
            with self._batch() as conn:
                if not self.is_postgresql:
                    # A connection of its own, closed at the end as Marianne's is, so that
                    # no later _get_connection() hands out the batch's sqlite3 object.
                    conn.detach()
                with self._marianne_view(conn) as view:
                    yield view
        except StoreError:
            raise  # already translated by the store call that failed inside the block
        except sqlite3.Error as error:
            raise self._raw_error(error) from error

    @contextmanager
    def _marianne_view(self, conn: Connection) -> Iterator[MarianneConnection]:
        """The DBAPI face of a SQLAlchemy connection that Marianne's raw SQL expects."""
        if self.is_postgresql:
            yield PostgresConnection(conn)
            return
        raw = conn.connection.dbapi_connection
        if not isinstance(raw, sqlite3.Connection):
            raise StoreError(f"unexpected SQLite driver connection {type(raw).__name__}")
        # The pooled connection goes back to SQLAlchemy afterwards, which reads plain rows.
        previous = raw.row_factory
        raw.row_factory = sqlite3.Row
        try:
            yield raw
        finally:
            raw.row_factory = previous

    def _raw_error(self, error: sqlite3.Error) -> BaseException:
        """What Marianne's raw connections raise: still of the ``sqlite3`` class they raised.

        On PostgreSQL the adapter of :mod:`store.dbapi` raised that ``sqlite3`` class from
        SQLAlchemy's error; the kind (busy, read-only, unavailable) is read from the
        PostgreSQL error underneath.
        """
        underneath = error.__cause__
        if isinstance(underneath, exc.DBAPIError):
            return self._store_error(underneath, as_class=type(error))
        return self._store_error(error)

    def _postgresql_ties(self, *columns: Any) -> tuple[Any, ...]:
        """ORDER BY keys that settle ties on PostgreSQL only.

        On SQLite a list read orders exactly as Marianne's query does and leaves ties to
        SQLite, so the same rows come back in the same order as Marianne's on the same file
        (with a LIMIT, a different tie order would return a different set). PostgreSQL has
        no such order of its own; there ties fall by these columns, ascending unless given
        otherwise.
        """
        return columns if self.is_postgresql else ()

    def _assert_writable(self) -> None:
        """Refuse a write up front (for paths that would otherwise write nothing to SQL)."""
        if not self.read_only:
            return
        if self.newer_schema:
            raise SchemaError(
                f"{self.location} has schema v{self.schema_version}: open read-only"
            )
        raise ReadOnlyStoreError(f"{self.location} is open read-only ({self.read_only_reason})")

    def close(self) -> None:
        """Release pooled connections; the store stays usable."""
        self._engine.dispose()

    def _reopen_snapshot(self) -> None:
        """Open an immutable view's file again, deciding afresh how (see ``reread_snapshot``)."""
        # Decided first: a file that has gone bad meanwhile is refused before anything
        # is released, and the old view keeps working.
        opening = self._prepare_sqlite_file(create=False, read_only=True)
        self.close()
        self._sqlite_opening = opening
        self.immutable_view = opening.immutable
        self._engine = self._build_engine(True)

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

    # -- Marianne's schema helpers, over a connection from _get_connection() -----------------

    @staticmethod
    def _get_existing_columns(conn: MarianneConnection, table_name: str) -> set[str] | None:
        """The column names of a table, or None if there is no such table."""
        if isinstance(conn, PostgresConnection):
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = ?",
                (table_name,),
            ).fetchall()
            return {row[0] for row in rows} or None
        if conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (table_name,)
        ).fetchone() is None:
            return None
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table_name})")}

    def _repair_unapplied_pattern_priorities(self, conn: MarianneConnection) -> None:
        """Marianne's v13 repair: never-applied patterns crushed below 0.3 go back to 0.5."""
        try:
            repaired = conn.execute(
                "UPDATE patterns SET priority_score = 0.5 "
                "WHERE (led_to_success_count + led_to_failure_count) = 0 "
                "AND priority_score < 0.3"
            ).rowcount
        except sqlite3.OperationalError:
            return  # no patterns table yet
        if repaired > 0:
            log_event(logging.INFO, "repaired_unapplied_pattern_priorities", count=repaired)

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


def _open_failure(location: str, error: exc.DBAPIError, url: str) -> str:
    detail = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    detail = redact(detail, url)
    if "file is not a database" in detail:
        return f"{location} is not a SQLite database"
    return f"cannot open {location}: {detail}"


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
