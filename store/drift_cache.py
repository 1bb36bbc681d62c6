"""What changed in ``pattern_applications`` since the last read, so drift can be kept up to date.

Drift windows and entropy counts are functions of each pattern's applications. Marianne only
ever appends applications (nothing in her API updates or deletes one, except ``clear_all``),
so after a first full computation a reader only needs the ids of the patterns that received
applications, and of the patterns that were inserted (an application of a pattern id with
no row becomes countable when the row appears). :class:`ChangeFeed` finds them; everything
else (a deleted pattern or application, an updated application, a truncation, a migration,
a rebuilt or replaced file, a log that was pruned past this reader) makes it answer
"recompute everything", never a stale answer.

* **SQLite.** A new row gets a higher rowid than every existing one, so the feed keeps the
  highest rowid it has seen in each of the two tables together with the id stored under
  it. Changes are the rows above those rowids (a range of the table's own b-tree). If the
  row under a remembered rowid is gone or holds another id (a delete, ``clear_all``
  followed by new rows, a VACUUM that renumbered the table), if the pattern count is not
  the old count plus the new rows (a pattern was deleted), or if the schema cookie moved
  (a migration, an index created or dropped), the feed asks for a full recompute. The
  delete of an application other than the newest leaves no trace in the rowids: every
  ``count_every`` seconds the feed counts the applications (a scan of the smallest index,
  ~20 ms at 500,000 rows) and recomputes if rows are missing. What it cannot see at all:
  an application UPDATEd in place by hand (Marianne's API never does); the store's
  ``reset_drift_cache()`` exists for that.
* **PostgreSQL.** There is no rowid, and Marianne's tables stay untouched: statement-level
  triggers copy, into this project's own table ``marianne_tui_drift_log``, the pattern ids
  of each INSERT into ``pattern_applications`` or ``patterns`` (with the id of the writing
  transaction), and write a reset mark for any UPDATE, DELETE or TRUNCATE of
  ``pattern_applications`` and any DELETE or TRUNCATE of ``patterns``. A reader remembers
  the oldest transaction still running when it last read (``pg_snapshot_xmin``); every
  write it has not yet seen was made by that transaction or a later one, so the next read
  takes the log rows of those transactions (some twice, which is harmless: a pattern is
  recomputed from scratch, never adjusted by a delta). The log and its triggers are
  created by the first writable store that computes drift; a read-only store without them
  recomputes in full whenever the change probe moves. A writable reader prunes log rows
  older than an hour, and records how far, so that a reader further behind recomputes.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, exc, text

from store import tables

__all__ = ["DRIFT_LOG_TABLE", "ChangeFeed", "Changes", "install_drift_log"]

_applications = tables.pattern_applications
_patterns = tables.patterns

#: This project's change log on PostgreSQL (Marianne never reads it).
DRIFT_LOG_TABLE = "marianne_tui_drift_log"
_DRIFT_LOG_META = "marianne_tui_drift_log_meta"
#: More new applications than this between two reads: recomputing everything is cheaper.
MAX_INCREMENTAL_ROWS = 50_000
#: Log rows older than this are pruned by a writable reader, at most every PRUNE_EVERY s.
LOG_RETENTION = "1 hour"
PRUNE_EVERY = 600.0


@dataclass
class Changes:
    """What a reader has to recompute: everything, or the patterns with these ids."""

    full: bool
    applied: set[str] = field(default_factory=set)
    inserted: set[str] = field(default_factory=set)

    @property
    def pattern_ids(self) -> set[str]:
        return self.applied | self.inserted

    @property
    def empty(self) -> bool:
        return not self.full and not self.applied and not self.inserted


_FULL = Changes(full=True)


@dataclass(frozen=True)
class _SqlitePosition:
    schema_cookie: int
    application_rowid: int | None
    application_id: str | None
    pattern_rowid: int | None
    pattern_id: str | None
    pattern_count: int


class ChangeFeed:
    """Finds the changes since the last :meth:`read` (see the module docstring).

    :meth:`read` runs its few statements on the caller's connection, *before* the caller
    computes anything, so that a write landing in between is seen again next time rather
    than missed.
    """

    #: Seconds between two counts of all applications on SQLite (see ``_read_sqlite``).
    count_every = 30.0

    def __init__(self, postgresql: bool, writable: bool) -> None:
        self.postgresql = postgresql
        self.writable = writable
        self._sqlite: _SqlitePosition | None = None
        self._applications_expected: int | None = None
        self._last_count = 0.0
        self._xmin: int | None = None
        self._log_ready: bool | None = None
        self._last_prune = 0.0

    def reset(self) -> None:
        """Forget the position: the next read asks for a full recompute."""
        self._sqlite = None
        self._xmin = None
        self._applications_expected = None

    def read(self, conn: Connection) -> Changes:
        if self.postgresql:
            return self._read_postgresql(conn)
        return self._read_sqlite(conn)

    # -- SQLite ---------------------------------------------------------------------------

    def _read_sqlite(self, conn: Connection) -> Changes:
        previous = self._sqlite
        current = _sqlite_position(conn)
        self._sqlite = current
        if previous is None or current.schema_cookie != previous.schema_cookie:
            return self._sqlite_full(conn)
        applied = _rows_above(
            conn, _applications, previous.application_rowid, previous.application_id,
            current.application_rowid, column="pattern_id",
        )
        inserted = _rows_above(
            conn, _patterns, previous.pattern_rowid, previous.pattern_id,
            current.pattern_rowid, column="id",
        )
        if applied is None or inserted is None:
            return self._sqlite_full(conn)
        if current.pattern_count != previous.pattern_count + sum(inserted.values()):
            return self._sqlite_full(conn)  # a pattern row was deleted
        if None in inserted:
            # A pattern row without an id (only by hand): not worth a special case.
            return self._sqlite_full(conn)
        if self._applications_expected is not None:
            self._applications_expected += sum(applied.values())
        # Deleting an application other than the newest leaves no trace in the rowids; a
        # count now and then (a scan of the smallest index) catches it.
        if (
            time.monotonic() - self._last_count >= self.count_every
            and self._count_applications(conn, current.application_rowid)
            != self._applications_expected
        ):
            return self._sqlite_full(conn)
        return Changes(
            full=False,
            applied={i for i in applied if i is not None},
            inserted={i for i in inserted if i is not None},
        )

    def _sqlite_full(self, conn: Connection) -> Changes:
        position = self._sqlite
        self._applications_expected = self._count_applications(
            conn, position.application_rowid if position is not None else None
        )
        return _FULL

    def _count_applications(self, conn: Connection, upto: int | None) -> int:
        """Applications up to the position's rowid (later ones are next time's).

        All of them (from the smallest index) less those above the rowid (a range of the
        table), in one statement, so that both counts see the same rows.
        """
        self._last_count = time.monotonic()
        everything, above = conn.exec_driver_sql(
            "SELECT (SELECT count(*) FROM pattern_applications), "
            "(SELECT count(*) FROM pattern_applications WHERE rowid > ?)",
            (upto if upto is not None else -1,),
        ).one()
        return int(everything) - int(above)

    # -- PostgreSQL -----------------------------------------------------------------------

    def _read_postgresql(self, conn: Connection) -> Changes:
        if self._log_ready is None:
            self._log_ready = _has_table(conn, DRIFT_LOG_TABLE)
            if not self._log_ready and self.writable:
                self._log_ready = install_drift_log(conn)
        if not self._log_ready:
            return _FULL
        previous = self._xmin
        current = int(
            conn.exec_driver_sql(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
            ).scalar_one()
        )
        self._xmin = current
        if previous is None:
            self._maybe_prune(conn)
            return _FULL
        pruned_below = conn.execute(
            text(f"SELECT pruned_below::text::bigint FROM {_DRIFT_LOG_META} WHERE id = 1")
        ).scalar_one_or_none()
        if pruned_below is not None and previous < int(pruned_below):
            return _FULL
        rows = conn.execute(
            text(
                f"SELECT kind, pattern_id FROM {DRIFT_LOG_TABLE} "
                "WHERE txid >= CAST(CAST(:since AS text) AS xid8) LIMIT :cap"
            ),
            {"since": previous, "cap": MAX_INCREMENTAL_ROWS + 1},
        ).all()
        if len(rows) > MAX_INCREMENTAL_ROWS:
            return _FULL
        changes = Changes(full=False)
        for kind, pattern_id in rows:
            if kind == "r":
                return _FULL
            if pattern_id is None:
                continue
            (changes.applied if kind == "a" else changes.inserted).add(pattern_id)
        self._maybe_prune(conn)
        return changes

    def _maybe_prune(self, conn: Connection) -> None:
        if not self.writable or time.monotonic() - self._last_prune < PRUNE_EVERY:
            return
        self._last_prune = time.monotonic()
        conn.execute(
            text(
                f"WITH gone AS (DELETE FROM {DRIFT_LOG_TABLE} "
                f"WHERE logged_at < now() - interval '{LOG_RETENTION}' RETURNING txid) "
                f"UPDATE {_DRIFT_LOG_META} SET pruned_below = GREATEST(pruned_below, "
                "(SELECT max(txid) FROM gone)) WHERE id = 1 AND EXISTS (SELECT 1 FROM gone)"
            )
        )


def _sqlite_position(conn: Connection) -> _SqlitePosition:
    cookie = int(conn.exec_driver_sql("PRAGMA schema_version").scalar_one())
    application_rowid = conn.exec_driver_sql(
        "SELECT max(rowid) FROM pattern_applications"
    ).scalar_one()
    pattern_rowid, pattern_count = conn.exec_driver_sql(
        "SELECT max(rowid), count(*) FROM patterns"
    ).one()
    return _SqlitePosition(
        schema_cookie=cookie,
        application_rowid=application_rowid,
        application_id=_id_at(conn, "pattern_applications", application_rowid),
        pattern_rowid=pattern_rowid,
        pattern_id=_id_at(conn, "patterns", pattern_rowid),
        pattern_count=int(pattern_count),
    )


def _id_at(conn: Connection, table: str, rowid: int | None) -> str | None:
    if rowid is None:
        return None
    value = conn.exec_driver_sql(f"SELECT id FROM {table} WHERE rowid = ?", (rowid,)).first()
    return None if value is None else value[0]


def _rows_above(
    conn: Connection,
    table: Any,
    rowid: int | None,
    stored_id: str | None,
    newest: int | None,
    *,
    column: str,
) -> dict[Any, int] | None:
    """How many rows were added after ``rowid``, by ``column``; None if that row changed."""
    if rowid is None:
        start = 0
    else:
        if newest is None or newest < rowid:
            return None
        if _id_at(conn, table.name, rowid) != stored_id:
            return None
        start = rowid
    if newest is not None and newest - start > MAX_INCREMENTAL_ROWS:
        return None
    if newest is None:
        return Counter()
    # Up to the rowid the position was read at, so that rows landing meanwhile are counted
    # once, next time. Counted here, not with GROUP BY: the planner would walk a whole
    # index to group.
    return Counter(
        row[0]
        for row in conn.exec_driver_sql(
            f"SELECT {column} FROM {table.name} WHERE rowid > ? AND rowid <= ?",
            (start, newest),
        )
    )


def _has_table(conn: Connection, name: str) -> bool:
    from sqlalchemy import inspect

    return bool(inspect(conn).has_table(name))


_LOG_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {DRIFT_LOG_TABLE} (
        txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
        logged_at timestamptz NOT NULL DEFAULT now(),
        kind char(1) NOT NULL,
        pattern_id text
    )""",
    f"CREATE INDEX IF NOT EXISTS {DRIFT_LOG_TABLE}_txid ON {DRIFT_LOG_TABLE} (txid)",
    f"""CREATE TABLE IF NOT EXISTS {_DRIFT_LOG_META} (
        id integer PRIMARY KEY, pruned_below xid8 NOT NULL
    )""",
    f"INSERT INTO {_DRIFT_LOG_META} (id, pruned_below) VALUES (1, '0') "
    "ON CONFLICT (id) DO NOTHING",
    f"""CREATE OR REPLACE FUNCTION marianne_tui_log_applied() RETURNS trigger AS $$
    BEGIN
        INSERT INTO {DRIFT_LOG_TABLE} (kind, pattern_id)
        SELECT DISTINCT 'a', pattern_id FROM added;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION marianne_tui_log_inserted() RETURNS trigger AS $$
    BEGIN
        INSERT INTO {DRIFT_LOG_TABLE} (kind, pattern_id) SELECT 'p', id FROM added;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION marianne_tui_log_reset() RETURNS trigger AS $$
    BEGIN
        INSERT INTO {DRIFT_LOG_TABLE} (kind) VALUES ('r');
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql""",
    "CREATE OR REPLACE TRIGGER marianne_tui_drift_applied AFTER INSERT ON pattern_applications "
    "REFERENCING NEW TABLE AS added FOR EACH STATEMENT "
    "EXECUTE FUNCTION marianne_tui_log_applied()",
    "CREATE OR REPLACE TRIGGER marianne_tui_drift_inserted AFTER INSERT ON patterns "
    "REFERENCING NEW TABLE AS added FOR EACH STATEMENT "
    "EXECUTE FUNCTION marianne_tui_log_inserted()",
    "CREATE OR REPLACE TRIGGER marianne_tui_drift_app_reset "
    "AFTER UPDATE OR DELETE OR TRUNCATE ON pattern_applications "
    "FOR EACH STATEMENT EXECUTE FUNCTION marianne_tui_log_reset()",
    "CREATE OR REPLACE TRIGGER marianne_tui_drift_pattern_reset "
    "AFTER DELETE OR TRUNCATE ON patterns "
    "FOR EACH STATEMENT EXECUTE FUNCTION marianne_tui_log_reset()",
)


def install_drift_log(conn: Connection) -> bool:
    """Create the PostgreSQL change log and its triggers; False if that failed.

    Runs in a savepoint, so that a failure (no privilege, a concurrent installer) leaves the
    caller's transaction usable; the reader then recomputes in full.
    """
    try:
        with conn.begin_nested():
            for statement in _LOG_DDL:
                conn.exec_driver_sql(statement)
    except exc.DBAPIError:
        return False
    return True
