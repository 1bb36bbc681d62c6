"""PostgreSQL's change revision: what every write bumps, and what the change probe reads.

A statement-level trigger on each of Marianne's tables (and the journal) runs
``marianne_tui_bump_revision()`` after every writing statement. It

* takes a *shared* transaction-level advisory lock (key: :data:`REVISION_LOCK_CLASS` and the
  revision sequence's oid), held until the transaction ends;
* calls ``nextval()`` on the sequence ``marianne_tui_revision_seq``;
* sends ``NOTIFY marianne_tui_changes`` with the store's schema as payload, delivered at commit
  (``store.push``).

None of that waits for anyone: shared advisory locks never conflict with each other and a
sequence takes no row lock. (The first design updated one counter row instead: every
writing transaction then held that row's lock from its first statement to its commit, so all
writers were serialized on it, and a table lock queued behind one of them stalled the rest.)

A sequence moves before the commit, though, and is never rolled back. A probe that read the
new number while the transaction was still open, then read the screen's data (without that
transaction's rows), would never read again. So the probe's state is the pair (sequence
value, the transactions now holding the advisory lock), read in that order
(:func:`read_revision`). A transaction that bumped the sequence is in the second half until
its commit is visible (PostgreSQL releases locks after it marks the transaction committed),
so its commit always changes the state: either it had not bumped when the number was read
(the number moves later), or it is listed (the list shrinks later). A long open writer
changes nothing until it ends, and a rolled-back one costs one refresh.

Both halves come from one statement, one round trip per poll (it was two): the holders are
a ``LATERAL`` subquery on the row that carries the number, keyed by that row's sequence
oid, so PostgreSQL has to produce the row (and read the number: it is computed in a
subquery that ``OFFSET 0`` keeps from being merged into the outer query) before it can
list the locks. Neither half is read through a snapshot (the sequence's page and the lock
table are read as they are at that moment), so sharing a statement changes nothing else.

The install (:func:`install_console_objects`, on every writable open; it also creates the
operator journal, so that consoles opening a new store at once do not race) first asks the
catalog what is missing and does nothing when all is in place: ``CREATE TRIGGER`` locks its
table against writers, and running it for every table in one transaction on every open
deadlocked with a conductor writing ``pattern_applications`` then ``patterns`` (the opener
held ``patterns`` and waited for ``pattern_applications``). What is missing is created one
table per transaction, so the installer never holds one table's lock while waiting for
another's, under a session advisory lock so that two consoles opening at once do not race.
A waiting ``CREATE TRIGGER`` queues every writer of its table behind it, so each attempt
waits at most a second for its lock (``ATTEMPT_LOCK_TIMEOUT_MS``) and the installer tries
again, letting the queued writers through, until the store's busy timeout has passed.
A store made by the first design is upgraded in place: the function is replaced, the
triggers (which call it by name) stay, the counter table is dropped. The drift change log
(``store.drift_cache``) is installed by the same call, after these objects and under the
same lock; it is optional, so a failure there never fails the open.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, exc, select, text

from store import tables
from store.drift_cache import (
    QUALIFIED_BODY,
    SCHEMA_MARK,
    create_trigger_function,
    drift_log_steps,
    install_drift_log_step,
)

__all__ = [
    "REVISION_FUNCTION",
    "REVISION_LOCK_CLASS",
    "REVISION_SEQUENCE",
    "STATE_SELECT",
    "install_console_objects",
    "read_revision",
    "revision_from_row",
]

REVISION_SEQUENCE = "marianne_tui_revision_seq"
REVISION_FUNCTION = "marianne_tui_bump_revision"
#: First key of the advisory lock every writing transaction holds ("mtui"); the second is
#: the sequence's oid, so that stores in other schemas of the database are told apart.
REVISION_LOCK_CLASS = 0x6D747569
#: First key of the session lock that serializes installers (the second: the schema's oid).
_INSTALL_LOCK_CLASS = REVISION_LOCK_CLASS + 1
#: The counter table of the first design, dropped by the upgrade.
_LEGACY_COUNTER = tables.store_revision.name

_logger = logging.getLogger("store")

# The lock comes before nextval(): a probe that sees the new number sees the holder too.
_FUNCTION_BODY = f"""
BEGIN
    PERFORM pg_advisory_xact_lock_shared(
        {REVISION_LOCK_CLASS}, '{SCHEMA_MARK}.{REVISION_SEQUENCE}'::regclass::oid::integer);
    PERFORM nextval('{SCHEMA_MARK}.{REVISION_SEQUENCE}');
    PERFORM pg_notify('marianne_tui_changes', '{SCHEMA_MARK}');
    RETURN NULL;
END;
"""

# The source, where the sequence is readable its number, and then the lock's holders. The
# lock status is read from ``pg_lock_status()`` rather than the ``pg_locks`` view, and the
# holders come back unordered (sorted by the caller): on a new backend that halves the
# cost of planning the statement, the most of a first poll.
STATE_SELECT = (
    "SELECT CAST(found.seq AS oid), found.readable, found.legacy, found.number, "
    "holders.list "
    "FROM (SELECT named.seq, access.readable, named.legacy, "
    "CASE WHEN access.readable THEN pg_sequence_last_value(named.seq) END AS number "
    f"FROM (SELECT to_regclass('{REVISION_SEQUENCE}') AS seq, "
    f"to_regclass('{_LEGACY_COUNTER}') IS NOT NULL AS legacy) AS named, "
    "LATERAL (SELECT named.seq IS NOT NULL "
    "AND has_sequence_privilege(named.seq, 'SELECT') AS readable) AS access "
    "OFFSET 0) AS found "
    "LEFT JOIN LATERAL (SELECT array_agg(held.virtualtransaction) AS list "
    "FROM pg_lock_status() AS held "
    "WHERE found.readable AND held.locktype = 'advisory' "
    "AND held.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND held.classid = CAST(:key AS oid) AND held.objid = CAST(found.seq AS oid) "
    "AND held.objsubid = 2) AS holders ON true"
)
_STATE_QUERY = text(STATE_SELECT)


def read_revision(conn: Connection) -> tuple[Any, ...]:
    """The store's revision state: it differs from any earlier one once a commit is visible.

    Three sources, whichever the store has: the sequence and its lock holders (see the
    module's docstring); the counter row of a store still on the first design (opened
    read-only, so never upgraded); else the server's WAL position, which moves with every
    commit of the whole server (extra refreshes at worst, never a missed one).
    """
    return revision_from_row(conn, conn.execute(
        _STATE_QUERY, {"key": REVISION_LOCK_CLASS}
    ).one())


def revision_from_row(conn: Connection, row: Sequence[Any]) -> tuple[Any, ...]:
    """The revision state from the columns of :data:`STATE_SELECT` (bound with ``key``:
    :data:`REVISION_LOCK_CLASS`), read alone or as part of another statement."""
    sequence, readable, legacy, number, holders = row
    if readable:
        return ("sequence", int(sequence), number, tuple(sorted(holders or ())))
    if legacy:
        counter = tables.store_revision
        return ("counter", conn.execute(
            select(counter.c.rev).where(counter.c.id == 1)
        ).scalar_one_or_none())
    return ("wal", conn.exec_driver_sql(
        "SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn"
    ).scalar_one())


def _trigger_name(table: str) -> str:
    return f"marianne_tui_rev_{table}"


def _missing(conn: Connection, table_names: Sequence[str]) -> dict[str, Any]:
    """What the install would do; read from the catalog only, so it locks no table."""
    has_journal, has_sequence, ungranted, function_current, legacy = conn.execute(text(
        f"SELECT to_regclass('{tables.operator_journal.name}') IS NOT NULL, "
        f"to_regclass('{REVISION_SEQUENCE}') IS NOT NULL, "
        # Only its owner can grant it: anyone else would try again on every open.
        "coalesce((SELECT NOT has_sequence_privilege('public', oid, 'USAGE') "
        "AND pg_has_role(relowner, 'USAGE') FROM pg_class "
        f"WHERE oid = to_regclass('{REVISION_SEQUENCE}')), false), "
        # Current, or another user's to replace (trying would fail this open).
        f"coalesce((SELECT prosrc = {QUALIFIED_BODY.format(body=':body')} "
        "OR NOT pg_has_role(proowner, 'USAGE') FROM pg_proc "
        f"WHERE oid = to_regproc('{REVISION_FUNCTION}')), false), "
        f"to_regclass('{_LEGACY_COUNTER}') IS NOT NULL"
    ), {"body": _FUNCTION_BODY}).one()
    untriggered = conn.execute(
        text(
            "SELECT name FROM unnest(CAST(:names AS text[])) WITH ORDINALITY AS t(name, n) "
            "WHERE NOT EXISTS (SELECT 1 FROM pg_trigger "
            "WHERE tgrelid = to_regclass(t.name) AND tgname = 'marianne_tui_rev_' || t.name) "
            "ORDER BY n"
        ),
        {"names": list(table_names)},
    ).scalars().all()
    return {
        "journal": not has_journal,
        "sequence": not has_sequence,
        "grant": bool(ungranted),
        "function": not function_current,
        "tables": list(untriggered),
        "legacy": bool(legacy),
    }


#: At most this long (ms) waiting for a table's lock at once: while ``CREATE TRIGGER`` (or
#: the legacy DROP) waits, every writer of that table queues behind it. A required step
#: tries again, until the session's ``lock_timeout`` (the store's busy timeout) has passed;
#: an optional one (the drift log) gives up after one attempt.
ATTEMPT_LOCK_TIMEOUT_MS = 1000
#: lock_not_available (lock_timeout), deadlock_detected: another attempt may succeed.
_TRY_AGAIN = ("55P03", "40P01")


def install_console_objects(engine: Engine) -> bool:
    """Create the journal and (or upgrade to) the revision sequence, function and triggers,
    then the drift change log (``store.drift_cache``), whichever is missing; nothing at all
    when everything is in place. True when something was missing: the connection it used
    is then closed, not returned to the pool.

    The drift log is optional: when this user may not make it, or its install fails (a
    long writer holds a table past one attempt's lock timeout), the open goes on and
    drift reads recompute in full until a later open completes it.
    """
    table_names = [table.name for table in (*tables.MARIANNE_TABLES, tables.operator_journal)]
    with engine.connect() as conn:
        needed = _missing(conn, table_names)
        drift_steps = drift_log_steps(conn)
        conn.rollback()
        if not any(needed.values()) and not drift_steps:
            return False
        # A session lock: it ends with the session, which is closed at the end whatever
        # happens, so that a failed install never leaves it held in the pool.
        conn.execute(text(
            f"SELECT pg_advisory_lock({_INSTALL_LOCK_CLASS}, "
            "CAST(CAST(to_regnamespace(current_schema()) AS oid) AS integer))"
        ))
        conn.commit()
        try:
            # Again under the lock: another console may have installed it meanwhile.
            needed = _missing(conn, table_names)
            drift_steps = drift_log_steps(conn)
            budget_ms = int(conn.exec_driver_sql(
                "SELECT CAST(setting AS integer) FROM pg_settings WHERE name = 'lock_timeout'"
            ).scalar_one())
            conn.rollback()
            required = _Steps(conn, budget_ms, retry=True)
            _install_revision(required, needed)
            optional = _Steps(conn, budget_ms, retry=False)
            for step in drift_steps:
                try:
                    optional.run(functools.partial(install_drift_log_step, step=step))
                except exc.DBAPIError as error:
                    _logger.warning(
                        "drift change log not installed (%s): drift reads recompute in full",
                        _first_line(error),
                    )
                    break
        finally:
            conn.invalidate()
    return True


class _Steps:
    """Runs install steps, each in a transaction of its own, its lock waits bounded."""

    def __init__(self, conn: Connection, budget_ms: int, *, retry: bool) -> None:
        self.conn = conn
        #: The session's lock_timeout; 0: no limit.
        self.budget_ms = budget_ms
        self.retry = retry

    def run(self, work: Callable[[Connection], object]) -> None:
        attempt_ms = ATTEMPT_LOCK_TIMEOUT_MS
        if self.budget_ms:
            attempt_ms = min(attempt_ms, self.budget_ms)
        deadline = time.monotonic() + self.budget_ms / 1000 if self.budget_ms else None
        while True:
            try:
                self.conn.execute(
                    text("SELECT set_config('lock_timeout', :ms, true)"),
                    {"ms": str(attempt_ms)},
                )
                work(self.conn)
                self.conn.commit()
                return
            except exc.DBAPIError as error:
                self.conn.rollback()
                again = getattr(error.orig, "sqlstate", None) in _TRY_AGAIN
                if (
                    not again
                    or not self.retry
                    or (deadline is not None and time.monotonic() >= deadline)
                ):
                    raise
            # Lets the writers queued behind the attempt through before the next one.
            time.sleep(0.05)


def _first_line(error: exc.DBAPIError) -> str:
    text_of = str(error.orig if error.orig is not None else error).strip()
    return text_of.splitlines()[0] if text_of else type(error).__name__


def _install_revision(steps: _Steps, needed: dict[str, Any]) -> None:
    if needed["journal"]:
        steps.run(lambda conn: tables.METADATA.create_all(
            conn, tables=[tables.operator_journal]
        ))
    if needed["sequence"] or needed["grant"]:
        # The triggers run as whoever writes Marianne's tables (the conductor's user, maybe
        # not this one): without USAGE its writes would fail on nextval(). SELECT lets
        # read-only viewers read the sequence (else they fall back to the WAL position).
        # Anyone moving it only causes a refresh.
        steps.run(lambda conn: (
            conn.exec_driver_sql(f"CREATE SEQUENCE IF NOT EXISTS {REVISION_SEQUENCE}"),
            conn.exec_driver_sql(
                f"GRANT USAGE, SELECT ON SEQUENCE {REVISION_SEQUENCE} TO PUBLIC"
            ),
        ))
    if needed["function"]:
        # Takes no table lock; the triggers call the function by name.
        steps.run(lambda conn: create_trigger_function(conn, REVISION_FUNCTION, _FUNCTION_BODY))
    for name in needed["tables"]:
        # One table per transaction: see the module's docstring.
        steps.run(functools.partial(_create_trigger, name=name))
    if needed["legacy"]:
        # After the function: no writer updates the old counter any more.
        steps.run(lambda conn: conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_LEGACY_COUNTER}"))


def _create_trigger(conn: Connection, name: str) -> None:
    conn.exec_driver_sql(
        f"CREATE OR REPLACE TRIGGER {_trigger_name(name)} "
        f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {name} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {REVISION_FUNCTION}()"
    )
