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
  recomputed from scratch, never adjusted by a delta). A writable reader prunes log rows
  older than an hour, and records how far, so that a reader further behind recomputes.

  The log's objects are made by a writable open, with the revision's
  (``store.revision.install_console_objects``, on a connection of its own, under its
  session lock), and only what the catalog says is missing (:func:`drift_log_steps`):
  nothing at all once they are in place. ``CREATE TRIGGER`` locks its table against
  writers, so the install makes one table's triggers per transaction (``patterns``
  last) and waits briefly for each lock (one attempt: the log is optional): all four in
  the caller's transaction, as the first design did, deadlocked with a conductor holding
  ``patterns`` and writing ``pattern_applications``. A user who may not create triggers
  skips it. Every read first asks the catalog (one statement, with the xmin) for the log
  objects' signature (their oids and catalog row versions); unless it is the one last
  found ready, a second statement checks that the log is complete, current, enabled and
  readable: anything else (missing, half installed, a trigger dropped or disabled, the
  log made again) is a full recompute, never a stale answer.

  The log also marks every statement that sets a pattern's ``quarantine_status``, so that
  the header can keep its status counts until a pattern row is inserted, deleted or moved
  (:class:`StatusWatch`). Drift reads do not need that trigger: a log installed before it
  existed still serves them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, exc, text

from store import tables

__all__ = [
    "DRIFT_LOG_TABLE",
    "FEED_HEAD_SELECT",
    "QUALIFIED_BODY",
    "SCHEMA_MARK",
    "ChangeFeed",
    "Changes",
    "StatusWatch",
    "create_trigger_function",
    "drift_log_steps",
    "install_drift_log_step",
]

_applications = tables.pattern_applications
_patterns = tables.patterns

# A trigger function runs with the search_path of whoever writes the table. A session that
# leaves out the store's schema (pg_restore sets it empty; an administrator may name the
# tables in full) would find no log, and its write would fail. So the bodies name the
# console's objects with the schema they are made in (where this module makes them); a
# pinned ``SET search_path`` would do the same but costs each write a settings change.
#: Stands for the schema, quoted, in trigger function bodies.
SCHEMA_MARK = "@schema@"
#: A body as it must be in ``pg_proc.prosrc``, as an SQL expression (``body``: the template).
QUALIFIED_BODY = "replace({body}, '" + SCHEMA_MARK + "', quote_ident(current_schema()))"


def create_trigger_function(conn: Connection, name: str, body: str) -> None:
    """``CREATE OR REPLACE`` the trigger function ``name`` (no table lock), its names
    qualified with the current schema."""
    schema = conn.exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
    conn.exec_driver_sql(
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS "
        f"$marianne_tui${body.replace(SCHEMA_MARK, schema)}$marianne_tui$ LANGUAGE plpgsql"
    )

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
        #: The log objects' signature when last found complete (see ``_SIGNATURE``).
        self._trusted_signature: str | None = None
        self._last_prune = 0.0

    def reset(self) -> None:
        """Forget the position: the next read asks for a full recompute."""
        self._sqlite = None
        self._xmin = None
        self._trusted_signature = None
        self._applications_expected = None

    def read(self, conn: Connection, head: Sequence[Any] | None = None) -> Changes:
        """What changed; ``head``: the columns of :data:`FEED_HEAD_SELECT` when the caller
        read them already (PostgreSQL, in the statement that read the revision)."""
        if self.postgresql:
            return self._read_postgresql(conn, head)
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

    def _read_postgresql(self, conn: Connection, head: Sequence[Any] | None) -> Changes:
        # The catalog, every time: a log whose trigger was dropped or disabled (by hand, or
        # with its table) would silently stop logging. The objects' signature is enough
        # while it stays the one last found ready; any other is checked in full.
        xmin, signature = head if head is not None else conn.execute(_SIGNATURE_QUERY).one()
        if signature != self._trusted_signature:
            state = _log_state(conn)
            if not state.ready:
                self._xmin = self._trusted_signature = None
                return _FULL
            self._trusted_signature = state.signature
            self._xmin = state.xmin
            self.prune_if_due(conn)
            return _FULL
        previous = self._xmin
        self._xmin = int(xmin)
        if previous is None:
            self.prune_if_due(conn)
            return _FULL
        rows = conn.execute(
            _LOG_ROWS_QUERY, {"since": previous, "cap": MAX_INCREMENTAL_ROWS + 1}
        ).all()
        if _pruned_past(rows[0][0], previous):
            return _FULL
        if len(rows) > MAX_INCREMENTAL_ROWS:
            return _FULL
        changes = Changes(full=False)
        for _, kind, pattern_id in rows:
            if kind == "r":
                return _FULL
            if pattern_id is None:
                continue
            (changes.applied if kind == "a" else changes.inserted).add(pattern_id)
        self.prune_if_due(conn)
        return changes

    def prune_due(self) -> bool:
        """Whether :meth:`prune_if_due` would prune now (a writable PostgreSQL store's log)."""
        return (
            self.postgresql and self.writable
            and time.monotonic() - self._last_prune >= PRUNE_EVERY
        )

    def prune_if_due(self, conn: Connection) -> None:
        """Delete log rows older than ``LOG_RETENTION``, at most every ``PRUNE_EVERY`` s.

        Readers prune as they read, and writers of applications as they write
        (``DriftMixin._prune_drift_log_if_due``): with only read-only consoles, or none,
        the log would otherwise grow by a row per application for as long as the
        conductor runs.
        """
        if not self.prune_due():
            return
        self._last_prune = time.monotonic()
        # A user who may not delete from the log (another user made it) leaves the rows
        # for someone who may.
        try:
            with _failing_alone(conn):
                conn.execute(
                    text(
                        f"WITH gone AS (DELETE FROM {DRIFT_LOG_TABLE} "
                        f"WHERE logged_at < now() - interval '{LOG_RETENTION}' "
                        # Only where the mark can be kept (a reader behind it recomputes).
                        f"AND EXISTS (SELECT 1 FROM {_DRIFT_LOG_META} WHERE id = 1) "
                        f"RETURNING txid) UPDATE {_DRIFT_LOG_META} "
                        "SET pruned_below = GREATEST(pruned_below, "
                        "(SELECT max(txid) FROM gone)) "
                        "WHERE id = 1 AND EXISTS (SELECT 1 FROM gone)"
                    )
                )
        except exc.DBAPIError:
            pass


def _pruned_past(pruned_below: Any, since: int) -> bool:
    """Whether the log was pruned of rows a reader needs: the mark is the newest pruned
    txid, and the reader needs the rows from ``since`` on."""
    return pruned_below is not None and since <= int(pruned_below)


@contextlib.contextmanager
def _failing_alone(conn: Connection) -> Iterator[None]:
    """Statements that may fail without failing the caller's transaction: in a savepoint
    when there is one; outside a transaction each statement is a transaction of its own."""
    if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        yield
        return
    with conn.begin_nested():
        yield


_Counted = TypeVar("_Counted")


class StatusWatch:
    """Keeps what is counted per pattern status until a pattern row may have moved
    (PostgreSQL).

    The header counts the patterns per stored status. PostgreSQL counts an index entry at
    a time and visits the table page of every row updated since the last VACUUM, and the
    conductor updates a pattern row with each application: ~2 ms at 20,000 patterns,
    growing with the table and with its dead rows, for a number that rarely moves. Only
    an insert, a delete or truncate, or an UPDATE that sets ``quarantine_status`` moves
    it, and the log marks each (``'p'``, ``'r'``, ``'s'``). So the counts are kept, and
    each look asks in one statement whether a mark was logged by a transaction the last
    look could not see (the oldest one running then, or later: the reasoning of
    :class:`ChangeFeed`), along with the log's signature and the prune mark. Anything
    else (the log not ready, its objects changed, pruned past this reader, a failed
    look) counts again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._xmin: int | None = None
        self._trusted_signature: str | None = None
        self._counted: Any = None

    def counts(
        self, conn: Connection, count: Callable[[Connection], _Counted]
    ) -> _Counted:
        """``count(conn)``, or what it returned last while no pattern row moved since."""
        with self._lock:
            # The look first, also before a first count: what it reads covers the count.
            if self._moved(conn) or self._counted is None:
                self._counted = None
                self._counted = count(conn)
            return self._counted  # type: ignore[no-any-return]

    def _moved(self, conn: Connection) -> bool:
        previous = self._xmin
        if self._trusted_signature is None or previous is None:
            return self._look_again(conn)
        try:
            with _failing_alone(conn):
                xmin, signature, pruned_below, marked = conn.execute(
                    _STATUS_MOVES_QUERY, {"since": previous}
                ).one()
        except exc.DBAPIError:  # the log's tables are gone
            return self._look_again(conn)
        if signature != self._trusted_signature:
            return self._look_again(conn)
        self._xmin = int(xmin)
        return bool(marked) or _pruned_past(pruned_below, previous)

    def _look_again(self, conn: Connection) -> bool:
        """Checks the log in full; True: count (before the count, so that the xmin read
        here covers every write the count cannot see)."""
        state = _log_state(conn)
        if state.statuses_ready:
            self._trusted_signature, self._xmin = state.signature, state.xmin
        else:
            self._trusted_signature = self._xmin = None
        return True


def _sqlite_position(conn: Connection) -> _SqlitePosition:
    cookie = int(conn.exec_driver_sql("PRAGMA schema_version").scalar_one())
    application_rowid = conn.exec_driver_sql(
        "SELECT max(rowid) FROM pattern_applications"
    ).scalar_one()
    # Two scalar subqueries, not ``SELECT max(rowid), count(*)``: alone, each is a seek
    # or SQLite's page count (0.03 ms at 100,000 patterns); together in one SELECT they
    # are a scan of every row (7 ms), on every read that finds a change.
    pattern_rowid, pattern_count = conn.exec_driver_sql(
        "SELECT (SELECT max(rowid) FROM patterns), (SELECT count(*) FROM patterns)"
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


# -- the PostgreSQL log: its objects, what the catalog says of them, their install ---------

_LOG_INDEX = f"{DRIFT_LOG_TABLE}_txid"

#: The log's functions (name, body); a body differing from this one is replaced.
_FUNCTIONS = (
    ("marianne_tui_log_applied", f"""
BEGIN
    INSERT INTO {SCHEMA_MARK}.{DRIFT_LOG_TABLE} (kind, pattern_id)
    SELECT DISTINCT 'a', pattern_id FROM added;
    RETURN NULL;
END;
"""),
    ("marianne_tui_log_inserted", f"""
BEGIN
    INSERT INTO {SCHEMA_MARK}.{DRIFT_LOG_TABLE} (kind, pattern_id) SELECT 'p', id FROM added;
    RETURN NULL;
END;
"""),
    ("marianne_tui_log_reset", f"""
BEGIN
    INSERT INTO {SCHEMA_MARK}.{DRIFT_LOG_TABLE} (kind) VALUES ('r');
    RETURN NULL;
END;
"""),
    ("marianne_tui_log_status", f"""
BEGIN
    INSERT INTO {SCHEMA_MARK}.{DRIFT_LOG_TABLE} (kind) VALUES ('s');
    RETURN NULL;
END;
"""),
)

# pg_trigger.tgtype bits of a statement-level AFTER trigger on these events.
_ON_INSERT, _ON_DELETE, _ON_UPDATE, _ON_TRUNCATE = 4, 8, 16, 32


@dataclass(frozen=True)
class _Trigger:
    table: str
    name: str
    events: int
    function: str
    new_table: str | None
    #: ``UPDATE OF`` these columns only (fires when a statement sets one of them)
    columns: tuple[str, ...] = ()
    #: whether drift reads need it (the others serve other readers: the log is ready for
    #: drift without them, so a store whose writers installed an older log still is)
    for_drift: bool = True

    @property
    def ddl(self) -> str:
        names = [
            word for bit, word in ((_ON_INSERT, "INSERT"), (_ON_UPDATE, "UPDATE"),
                                   (_ON_DELETE, "DELETE"), (_ON_TRUNCATE, "TRUNCATE"))
            if self.events & bit
        ]
        if self.columns:
            names = [
                f"UPDATE OF {', '.join(self.columns)}" if word == "UPDATE" else word
                for word in names
            ]
        referencing = (
            f"REFERENCING NEW TABLE AS {self.new_table} " if self.new_table else ""
        )
        return (
            f"CREATE OR REPLACE TRIGGER {self.name} AFTER {' OR '.join(names)} "
            f"ON {self.table} {referencing}FOR EACH STATEMENT "
            f"EXECUTE FUNCTION {self.function}()"
        )


#: In install order: one table per transaction, ``patterns`` last.
_TRIGGERS = (
    _Trigger(_applications.name, "marianne_tui_drift_applied", _ON_INSERT,
             "marianne_tui_log_applied", "added"),
    _Trigger(_applications.name, "marianne_tui_drift_app_reset",
             _ON_UPDATE | _ON_DELETE | _ON_TRUNCATE, "marianne_tui_log_reset", None),
    _Trigger(_patterns.name, "marianne_tui_drift_inserted", _ON_INSERT,
             "marianne_tui_log_inserted", "added"),
    _Trigger(_patterns.name, "marianne_tui_drift_pattern_reset",
             _ON_DELETE | _ON_TRUNCATE, "marianne_tui_log_reset", None),
    # Only the operator's lifecycle moves set a status (an application never does), so
    # the header can keep its status counts until one does (``StatusWatch``).
    _Trigger(_patterns.name, "marianne_tui_status_moved", _ON_UPDATE,
             "marianne_tui_log_status", None, columns=("quarantine_status",),
             for_drift=False),
)
#: Positions in ``_LogState.triggers`` of what each reader needs.
_DRIFT_TRIGGERS = tuple(n for n, t in enumerate(_TRIGGERS) if t.for_drift)
_STATUS_TRIGGERS = tuple(
    n for n, t in enumerate(_TRIGGERS) if t.table == _patterns.name
)

_FUNCTION_OIDS = ", ".join(f"to_regproc('{name}')" for name, _ in _FUNCTIONS)
_TRIGGER_TABLES = f"to_regclass('{_applications.name}'), to_regclass('{_patterns.name}')"
_TRIGGER_NAMES = ", ".join(f"'{t.name}'" for t in _TRIGGERS)
# What every object the log depends on is now: its oid and its catalog row's version
# (xmin), which any CREATE OR REPLACE, ALTER ... ENABLE/DISABLE TRIGGER or drop and
# re-create changes. Equal to a signature found ready: still ready.
_SIGNATURE = (
    "concat_ws('/', "
    f"CAST(to_regclass('{DRIFT_LOG_TABLE}') AS oid), "
    f"CAST(to_regclass('{_DRIFT_LOG_META}') AS oid), "
    "(SELECT string_agg(oid || ':' || xmin, ' ' ORDER BY oid) FROM pg_trigger "
    f"WHERE tgrelid IN ({_TRIGGER_TABLES}) AND tgname IN ({_TRIGGER_NAMES})), "
    "(SELECT string_agg(oid || ':' || xmin, ' ' ORDER BY oid) FROM pg_proc "
    f"WHERE oid IN ({_FUNCTION_OIDS})))"
)
#: The oldest running transaction, and the signature: what every reader of the log asks
#: first (the drift feed, ``StatusWatch``, the full check below).
_HEAD_COLUMNS = (
    f"pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin, {_SIGNATURE} AS signature"
)
#: The newest pruned txid (see ``_pruned_past``).
_PRUNE_MARK = f"(SELECT pruned_below::text::bigint FROM {_DRIFT_LOG_META} WHERE id = 1)"
#: What each drift read asks first.
FEED_HEAD_SELECT = f"SELECT {_HEAD_COLUMNS}"
_SIGNATURE_QUERY = text(FEED_HEAD_SELECT)

#: The prune mark, then the log rows from a transaction on (a row of NULLs when there are
#: none): one statement, so that both are read in one snapshot. Read apart, a prune
#: committing between the two could remove rows this reader needs without its mark.
_LOG_ROWS_QUERY = text(
    f"SELECT {_PRUNE_MARK}, logged.kind, logged.pattern_id "
    "FROM (SELECT 1) AS one LEFT JOIN LATERAL ("
    f"SELECT kind, pattern_id FROM {DRIFT_LOG_TABLE} "
    "WHERE txid >= CAST(CAST(:since AS text) AS xid8) LIMIT :cap) AS logged ON true"
)

#: What ``StatusWatch`` asks: the oldest running transaction, the log's signature, the prune
#: mark, and whether a pattern row was inserted, deleted or set a status since ``since``.
#: The first such mark in txid order, not ``EXISTS``: once the driver prepares the
#: statement, PostgreSQL's generic plan for an ``EXISTS`` expects a match early and scans
#: the whole log (176,000 rows after a 100,000-pattern store was loaded: 15 ms a look);
#: ordered by txid it walks the log's index from ``since``, a few rows.
_STATUS_MOVES_QUERY = text(
    f"SELECT {_HEAD_COLUMNS}, {_PRUNE_MARK}, "
    f"(SELECT txid FROM {DRIFT_LOG_TABLE} "
    "WHERE txid >= CAST(CAST(:since AS text) AS xid8) AND kind IN ('p', 'r', 's') "
    "ORDER BY txid LIMIT 1) IS NOT NULL"
)

# One statement, on the catalog only (it locks no table): the oldest running transaction,
# the signature, then the log's objects and whether each is as this module makes it.
_STATE_QUERY = text(
    f"SELECT {_HEAD_COLUMNS}, "
    f"CAST(to_regclass('{DRIFT_LOG_TABLE}') AS oid), "
    f"CAST(to_regclass('{_DRIFT_LOG_META}') AS oid), "
    f"to_regclass('{_LOG_INDEX}') IS NOT NULL, "
    f"coalesce(has_table_privilege(to_regclass('{DRIFT_LOG_TABLE}'), 'SELECT') "
    f"AND has_table_privilege(to_regclass('{_DRIFT_LOG_META}'), 'SELECT'), false), "
    f"coalesce(has_table_privilege('public', to_regclass('{DRIFT_LOG_TABLE}'), 'INSERT'), "
    "false), "
    "coalesce((SELECT array_agg(f.name ORDER BY f.n) "
    "FROM unnest(CAST(:functions AS text[]), CAST(:bodies AS text[])) "
    "WITH ORDINALITY AS f(name, body, n) LEFT JOIN pg_proc ON pg_proc.oid = to_regproc(f.name) "
    f"WHERE prosrc IS DISTINCT FROM {QUALIFIED_BODY.format(body='f.body')}), '{{}}'), "
    "(SELECT array_agg(CASE WHEN tg.oid IS NULL THEN 'missing' "
    "WHEN tg.tgtype <> e.events OR tg.tgfoid IS DISTINCT FROM to_regproc(e.func) "
    "OR tg.tgnewtable IS DISTINCT FROM e.new_table OR tg.tgoldtable IS NOT NULL "
    "OR tg.tgqual IS NOT NULL OR tg.tgnargs <> 0 "
    "OR tg.tgattr::text <> coalesce((SELECT string_agg(attnum::text, ' ' ORDER BY attnum) "
    "FROM pg_attribute WHERE attrelid = to_regclass(e.tbl) "
    "AND attname = ANY(string_to_array(e.columns, ' '))), '') "
    "THEN 'stale' WHEN tg.tgenabled NOT IN ('O', 'A') THEN 'disabled' ELSE 'ok' END "
    "ORDER BY e.n) "
    "FROM unnest(CAST(:tables AS text[]), CAST(:names AS text[]), "
    "CAST(:events AS integer[]), CAST(:funcs AS text[]), CAST(:new_tables AS text[]), "
    "CAST(:columns AS text[])) "
    "WITH ORDINALITY AS e(tbl, name, events, func, new_table, columns, n) "
    "LEFT JOIN pg_trigger tg "
    "ON tg.tgrelid = to_regclass(e.tbl) AND tg.tgname = e.name), "
    f"coalesce(has_table_privilege(to_regclass('{_applications.name}'), 'TRIGGER') "
    f"AND has_table_privilege(to_regclass('{_patterns.name}'), 'TRIGGER') "
    f"AND (to_regclass('{DRIFT_LOG_TABLE}') IS NOT NULL "
    f"AND to_regclass('{_DRIFT_LOG_META}') IS NOT NULL "
    "OR has_schema_privilege(current_schema(), 'CREATE')), false) "
    # Objects another user owns cannot be replaced or granted by this one: trying on
    # every open would only repeat a failure.
    "AND NOT EXISTS (SELECT 1 FROM pg_class WHERE oid IN "
    f"(to_regclass('{DRIFT_LOG_TABLE}'), to_regclass('{_DRIFT_LOG_META}')) "
    "AND NOT pg_has_role(relowner, 'USAGE')) "
    "AND NOT EXISTS (SELECT 1 FROM pg_proc WHERE oid = ANY(ARRAY(SELECT to_regproc(f.name) "
    "FROM unnest(CAST(:functions AS text[])) AS f(name))) "
    "AND NOT pg_has_role(proowner, 'USAGE'))"
).bindparams(
    functions=[name for name, _ in _FUNCTIONS],
    bodies=[body for _, body in _FUNCTIONS],
    tables=[t.table for t in _TRIGGERS],
    names=[t.name for t in _TRIGGERS],
    events=[t.events for t in _TRIGGERS],
    funcs=[t.function for t in _TRIGGERS],
    new_tables=[t.new_table for t in _TRIGGERS],
    columns=[" ".join(t.columns) for t in _TRIGGERS],
)


@dataclass(frozen=True)
class _LogState:
    """What the catalog says of the log (see ``_STATE_QUERY``)."""

    xmin: int
    signature: str
    log_table: int | None
    meta_table: int | None
    has_index: bool
    readable: bool
    anyone_may_log: bool
    #: the functions missing, or with another body
    stale_functions: tuple[str, ...]
    triggers: tuple[str, ...]
    may_install: bool

    @property
    def ready(self) -> bool:
        """Every object in place and current, every trigger that drift reads need enabled:
        the log is complete for them."""
        return self._ready(_DRIFT_TRIGGERS)

    @property
    def statuses_ready(self) -> bool:
        """The same for the pattern rows' inserts, deletes and status moves
        (``StatusWatch``)."""
        return self._ready(_STATUS_TRIGGERS)

    def _ready(self, needed: tuple[int, ...]) -> bool:
        return (
            self.log_table is not None
            and self.meta_table is not None
            and self.readable
            and all(self.triggers[n] == "ok" for n in needed)
            and not any(_TRIGGERS[n].function in self.stale_functions for n in needed)
        )

    def steps(self) -> list[str]:
        """What the install has to do, in order (nothing when it may not): ``"log"`` for the
        tables and functions, then a table's name for its missing or outdated triggers. A
        disabled trigger is left alone (someone disabled it); the log is then not ready."""
        if not self.may_install:
            return []
        steps = []
        if (
            self.log_table is None or self.meta_table is None or not self.has_index
            or not self.anyone_may_log or self.stale_functions
        ):
            steps.append("log")
        for trigger, state in zip(_TRIGGERS, self.triggers, strict=True):
            if state in ("missing", "stale") and trigger.table not in steps:
                steps.append(trigger.table)
        return steps


def _log_state(conn: Connection) -> _LogState:
    row = conn.execute(_STATE_QUERY).one()
    return _LogState(
        xmin=int(row[0]),
        signature=str(row[1]),
        log_table=row[2],
        meta_table=row[3],
        has_index=bool(row[4]),
        readable=bool(row[5]),
        anyone_may_log=bool(row[6]),
        stale_functions=tuple(row[7]),
        triggers=tuple(row[8]),
        may_install=bool(row[9]),
    )


def drift_log_steps(conn: Connection) -> list[str]:
    """The steps :func:`install_drift_log_step` has to make; none when the log is in place
    (or when this user may not make it). Reads the catalog only, so it locks no table."""
    return _log_state(conn).steps()


_LOG_TABLES_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {DRIFT_LOG_TABLE} (
        txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
        logged_at timestamptz NOT NULL DEFAULT now(),
        kind char(1) NOT NULL,
        pattern_id text
    )""",
    f"CREATE INDEX IF NOT EXISTS {_LOG_INDEX} ON {DRIFT_LOG_TABLE} (txid)",
    f"""CREATE TABLE IF NOT EXISTS {_DRIFT_LOG_META} (
        id integer PRIMARY KEY, pruned_below xid8 NOT NULL
    )""",
    f"INSERT INTO {_DRIFT_LOG_META} (id, pruned_below) VALUES (1, '0') "
    "ON CONFLICT (id) DO NOTHING",
    # The triggers run as whoever writes Marianne's tables (the conductor's user, maybe
    # not this one): without this its writes would fail. A row anyone adds only makes
    # readers recompute a pattern (or everything); removing rows stays the owner's.
    f"GRANT INSERT ON {DRIFT_LOG_TABLE} TO PUBLIC",
)


def install_drift_log_step(conn: Connection, step: str) -> None:
    """Make one step of what :func:`drift_log_steps` named, in the caller's transaction.

    The caller (``store.revision.install_console_objects``) serializes installers, runs
    each step in a transaction of its own on a connection of its own, and bounds the lock
    wait: a step that creates a table's triggers holds that table's lock until its commit,
    so it must never wait for another table's meanwhile.
    """
    if step == "log":
        for statement in _LOG_TABLES_DDL:
            conn.exec_driver_sql(statement)
        for name, body in _FUNCTIONS:
            create_trigger_function(conn, name, body)
        return
    for trigger, found in zip(_TRIGGERS, _log_state(conn).triggers, strict=True):
        if trigger.table == step and found in ("missing", "stale"):
            conn.exec_driver_sql(trigger.ddl)
