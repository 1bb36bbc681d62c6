"""record_pattern_application's PostgreSQL path writes what the generic path writes.

On PostgreSQL the store records an application in four statements (the existence check
rides on the insert, the counter update returns the row it wrote) where the generic path,
which SQLite keeps, takes six. These tests run one sequence of calls through both paths,
each on a fresh schema with the same frozen clock and the same application ids, and
compare every stored row, then check what the fewer statements must not change: an
unknown pattern writes nothing (nor in a batch, where the batch's other writes stay), and
the statements are the four.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import FrozenClock, fresh_postgres_schema, raw_rows
from sqlalchemy import event

from store import GlobalLearningStore
from store import patterns_crud as crud

UNKNOWN = "0000000000000000"


@pytest.fixture
def two_schemas() -> Iterator[tuple[str, str]]:
    with fresh_postgres_schema() as first, fresh_postgres_schema() as second:
        yield first, second


def _fixed_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = itertools.count()
    monkeypatch.setattr(crud.uuid, "uuid4", lambda: uuid.UUID(int=next(counter)))


def _workload(store: GlobalLearningStore, clock: FrozenClock) -> list[str]:
    """Every kind of call: outcomes, groundings (NaN too), ties and gaps in time,
    a soft-deleted pattern, an unknown one, a batch."""
    a = store.record_pattern("retry_pattern", "alpha")
    b = store.record_pattern("validation_failure", "beta", "desc")
    c = store.record_pattern("retry_pattern", "gamma")
    store.soft_delete_pattern(c)
    returned = []
    groundings = [None, 0.25, float("nan"), 0.9, None, 1.0, 0.0]
    for n in range(40):
        pattern = (a, b, c)[n % 3]
        returned.append(store.record_pattern_application(
            pattern, f"exec-{n}", n % 4 != 1, n % 3, n % 5, "exploration",
            n % 2 == 0, groundings[n % len(groundings)],
        ))
        if n % 6 == 5:
            clock.advance(days=11)  # decay, and ties: the clock stands still otherwise
        elif n % 6 == 2:
            clock.advance(microseconds=1)
    returned.append(store.record_pattern_application(UNKNOWN, "exec-unknown", True))
    with store.batch_connection():
        for n in range(6):
            returned.append(store.record_pattern_application(
                (a, UNKNOWN, b)[n % 3], f"batch-{n}", n % 2 == 0
            ))
    return returned


def _rows(store: GlobalLearningStore) -> dict[str, list[dict[str, Any]]]:
    return {
        table: sorted(raw_rows(store, table), key=lambda row: str(row["id"]))
        for table in ("patterns", "pattern_applications")
    }


def test_the_postgresql_path_stores_the_rows_of_the_generic_path(
    two_schemas: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    results = []
    for url, generic in zip(two_schemas, (True, False), strict=True):
        _fixed_ids(monkeypatch)
        clock = FrozenClock()
        store = GlobalLearningStore(url, clock=clock)
        try:
            if generic:
                # The six statements SQLite still runs (and PostgreSQL ran before).
                monkeypatch.setattr(store, "_record_application_postgresql",
                                    store._record_application)
            returned = _workload(store, clock)
            results.append((returned, _rows(store)))
        finally:
            store.close()
    (generic_ids, generic_rows), (fast_ids, fast_rows) = results
    assert fast_ids == generic_ids
    assert len(fast_rows["pattern_applications"]) == 40 + 4
    assert fast_rows == generic_rows


def _statements(store: GlobalLearningStore) -> Callable[[], list[str]]:
    seen: list[str] = []

    @event.listens_for(store._engine, "before_cursor_execute")
    def _seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    return lambda: seen


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_an_application_on_postgresql_takes_four_statements(store_url: str) -> None:
    store = GlobalLearningStore(store_url, clock=FrozenClock())
    try:
        pattern = store.record_pattern("retry_pattern", "alpha")
        # The first application of a process also prunes the drift log (test_drift_log.py).
        store.record_pattern_application(pattern, "exec-0", True)
        seen = _statements(store)
        store.record_pattern_application(pattern, "exec-1", True)
        store.record_pattern_application(pattern, "exec-2", False)
        assert seen() == ["INSERT", "UPDATE", "SELECT", "UPDATE"] * 2
    finally:
        store.close()


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_an_unknown_pattern_on_postgresql_commits_and_notifies_nothing(store_url: str) -> None:
    store = GlobalLearningStore(store_url, clock=FrozenClock())
    try:
        pattern = store.record_pattern("retry_pattern", "alpha")
        before = _rows(store)
        with store._engine.connect() as listener:
            driver = listener.connection.driver_connection
            assert driver is not None
            driver.autocommit = True
            driver.execute("LISTEN marianne_tui_changes")
            store.record_pattern_application(UNKNOWN, "exec-unknown", True)
            assert list(driver.notifies(timeout=0.2, stop_after=1)) == []
            store.record_pattern_application(pattern, "exec-known", True)
            assert len(list(driver.notifies(timeout=5, stop_after=1))) == 1
            driver.execute("UNLISTEN *")
        after = _rows(store)
        assert after["pattern_applications"] == [
            row for row in after["pattern_applications"] if row["pattern_id"] == pattern
        ]
        assert len(after["pattern_applications"]) == len(before["pattern_applications"]) + 1
    finally:
        store.close()


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_an_unknown_pattern_in_a_batch_keeps_the_batch(store_url: str) -> None:
    store = GlobalLearningStore(store_url, clock=FrozenClock())
    try:
        pattern = store.record_pattern("retry_pattern", "alpha")
        with store.batch_connection():
            store.record_pattern_application(pattern, "exec-1", True)
            store.record_pattern_application(UNKNOWN, "exec-unknown", True)
            store.record_pattern_application(pattern, "exec-2", False)
        executions = sorted(row["execution_id"] for row in raw_rows(store, "pattern_applications"))
        assert executions == ["exec-1", "exec-2"]
        record = store.get_pattern_by_id(pattern)
        assert record is not None
        assert (record.led_to_success_count, record.led_to_failure_count) == (1, 1)
    finally:
        store.close()
