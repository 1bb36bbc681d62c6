"""How many requests each read the console makes sends to the database (issue #7).

On PostgreSQL every request is a round trip to the server: a request ends where the client
waits for the answer, at a simple-protocol ``Query`` or an extended-protocol ``Sync``
message (``BEGIN`` and ``COMMIT`` are requests of their own), counted in libpq's trace of
every connection the read checks out. On SQLite a request is a statement SQLite runs,
counted by the connections' trace callbacks (the change probe's own connection too).
The counts are worked out from the statements each read is documented to run.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from store import GlobalLearningStore, PatternQuery

#: A client message after which libpq waits for the server, in its trace.
_REQUEST_END = re.compile(r"^F\t\d+\t(?:Query|Sync)\b", re.MULTILINE)


@contextmanager
def _postgresql_requests(store: GlobalLearningStore) -> Iterator[list[int]]:
    from psycopg import pq

    traces: list[str] = []

    def checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        descriptor, path = tempfile.mkstemp(prefix="round-trips-")
        os.close(descriptor)
        traces.append(path)
        # libpq writes the client's messages when it sends them; the server's answers
        # may stay in its buffer, so only the client's side is counted.
        dbapi_connection.pgconn.trace(os.open(path, os.O_WRONLY | os.O_APPEND))
        dbapi_connection.pgconn.set_trace_flags(
            pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE
        )

    def checkin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.pgconn.untrace()

    counted: list[int] = []
    event.listen(store._engine, "checkout", checkout)
    event.listen(store._engine, "checkin", checkin)
    try:
        yield counted
    finally:
        event.remove(store._engine, "checkout", checkout)
        event.remove(store._engine, "checkin", checkin)
    total = 0
    for path in traces:
        with open(path, encoding="utf-8") as trace:
            # One message a line (a statement's own line breaks continue its line).
            total += len(_REQUEST_END.findall(trace.read()))
        os.unlink(path)
    counted.append(total)


@contextmanager
def _sqlite_requests(store: GlobalLearningStore) -> Iterator[list[int]]:
    statements: list[str] = []
    traced: list[Any] = []

    def trace(connection: Any) -> None:
        connection.set_trace_callback(statements.append)
        traced.append(connection)

    def checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        trace(dbapi_connection)

    probe = store._changes._connection
    if probe is not None:
        trace(probe)
    event.listen(store._engine, "checkout", checkout)
    counted: list[int] = []
    try:
        yield counted
    finally:
        event.remove(store._engine, "checkout", checkout)
        for connection in traced:
            connection.set_trace_callback(None)
    counted.append(len(statements))


def requests(store: GlobalLearningStore, read: Callable[[], object]) -> int:
    """How many requests ``read()`` sends (see the module's docstring)."""
    counting = _postgresql_requests if store.is_postgresql else _sqlite_requests
    with counting(store) as counted:
        read()
    return counted[0]


@pytest.fixture
def filled(store: GlobalLearningStore) -> GlobalLearningStore:
    for name in ("alpha", "beta", "gamma"):
        store.record_pattern("retry", name)
    store.record_pattern("timeout", "delta")
    store.update_exploration_budget("job", 0.2, "initial")
    store.record_pattern_entropy(store.calculate_pattern_entropy())
    store.record_rate_limit_event("E101", 600.0, "job")
    store.change_token()  # the probe's own connection exists from here on (SQLite)
    return store


def test_the_change_probe_is_one_request(filled: GlobalLearningStore) -> None:
    # PostgreSQL: the revision's number and its lock holders in one statement, outside a
    # transaction (was two). SQLite: PRAGMA data_version on the probe's connection.
    assert requests(filled, filled.change_token) == 1


def test_the_header_sends_no_begin_or_commit(filled: GlobalLearningStore) -> None:
    overview = filled.store_overview()
    assert (overview.total_patterns, overview.active_rate_limits) == (4, 1)
    # PostgreSQL: the status counts and the scalars. SQLite: the distinct statuses, their
    # counts, the scalars (``_sqlite_status_counts``).
    assert requests(filled, filled.store_overview) == (2 if filled.is_postgresql else 3)


@pytest.mark.parametrize(
    ("query", "expected_ids", "sqlite_requests", "postgresql_requests"),
    [
        # SQLite: the page's ids, their rows, the counts. PostgreSQL: the status watch's
        # look (the total is its kept counts), then ids and rows in one statement.
        (PatternQuery(), 4, 3, 2),
        # PostgreSQL: ids, rows and the filter's counts in one statement.
        (PatternQuery(pattern_type="retry", limit=2), 2, 3, 1),
        # No ids: no statement for their rows.
        (PatternQuery(offset=10), 0, 2, 2),
    ],
)
def test_a_patterns_page_sends_no_begin_or_commit_on_postgresql(
    filled: GlobalLearningStore, query: PatternQuery, expected_ids: int,
    sqlite_requests: int, postgresql_requests: int,
) -> None:
    page = filled.query_patterns(query)
    assert len(page.rows) == expected_ids
    assert (page.matching, page.total) == ((3, 4) if query.pattern_type else (4, 4))
    # PostgreSQL, outside a transaction (was five requests: BEGIN, the three statements,
    # COMMIT).
    expected = postgresql_requests if filled.is_postgresql else sqlite_requests
    assert requests(filled, lambda: filled.query_patterns(query)) == expected


@pytest.mark.parametrize(
    ("read", "statements"),
    [
        (lambda store: store.get_exploration_budget(None), 1),
        (lambda store: store.get_exploration_budget_history(None, limit=60), 1),
        # The aggregates, then the current budget.
        (lambda store: store.get_exploration_budget_statistics(None), 2),
        (lambda store: store.get_pattern_entropy_history(limit=60), 1),
        (lambda store: store.get_entropy_response_history(None, limit=20), 1),
        # No response recorded: the aggregates only.
        (lambda store: store.get_entropy_response_statistics(None), 1),
        (lambda store: store.get_active_rate_limits(limit=200), 1),
    ],
)
def test_single_statement_reads_send_no_begin_or_commit(
    filled: GlobalLearningStore, read: Callable[[GlobalLearningStore], object], statements: int
) -> None:
    # PostgreSQL: each statement outside a transaction (a BEGIN and a COMMIT around each
    # read were two more requests). SQLite starts no transaction for a read either.
    assert requests(filled, lambda: read(filled)) == statements


def test_a_drift_refresh_after_an_application(filled: GlobalLearningStore) -> None:
    if not filled.is_postgresql:
        pytest.skip("SQLite's change feed reads its rowids in process (test_drift_incremental)")
    pattern_id = filled.record_pattern("retry", "alpha")
    for _ in range(10):
        filled.record_pattern_application(pattern_id, "exec", True)
    filled.get_pattern_drift_summary()
    filled.calculate_pattern_entropy()  # from here on, the entropy counts are kept too
    filled.record_pattern_application(pattern_id, "exec", False)
    # The revision with the log's signature (and the oldest running transaction); the
    # prune mark with the new log rows; the changed pattern's windows; its count. Outside
    # a transaction, with no count of the pattern rows (was eight: the change probe
    # apart, BEGIN, the mark apart, COMMIT, and the count).
    assert requests(filled, filled.get_pattern_drift_summary) == 4
    fresh = GlobalLearningStore(filled.url)
    try:
        assert filled.get_pattern_drift_summary() == fresh.get_pattern_drift_summary()
    finally:
        fresh.close()


def test_every_session_runs_without_jit(filled: GlobalLearningStore) -> None:
    """Set once per session, so that no read needs a transaction for ``SET LOCAL``."""
    if not filled.is_postgresql:
        pytest.skip("PostgreSQL's JIT")
    with filled._reads_connection() as conn:
        assert conn.exec_driver_sql("SHOW jit").scalar_one() == "off"
    with filled._connection() as conn:
        assert conn.exec_driver_sql("SHOW jit").scalar_one() == "off"
