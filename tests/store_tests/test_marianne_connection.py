"""SQL text written for Marianne's store runs through ``_get_connection()`` on both backends.

Marianne's own modules do this: the aggregator rewrites priorities with ``executemany`` and
``?`` placeholders, the error hooks read ``row["total"]`` from an aggregate. On SQLite the
store hands out a real ``sqlite3.Connection``; on PostgreSQL the adapter in ``store.dbapi``.
"""

from __future__ import annotations

import sqlite3

import pytest

from store import GlobalLearningStore, ReadOnlyStoreError
from store.base import SORTER_THREADS
from store.dbapi import PostgresConnection


def _patterns(store: GlobalLearningStore, *names: str) -> list[str]:
    return [store.record_pattern("validation_failure", name) for name in names]


def test_sqlite_hands_out_a_configured_sqlite3_connection(
    sqlite_store: GlobalLearningStore,
) -> None:
    with sqlite_store._get_connection() as conn:
        assert isinstance(conn, sqlite3.Connection)
        assert conn.row_factory is sqlite3.Row
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
        # The cold drift read is one large sort; without helper threads it runs on one core.
        assert conn.execute("PRAGMA threads").fetchone()[0] == SORTER_THREADS >= 1
    with sqlite_store._get_connection() as conn:
        # Handed back to the pool as SQLAlchemy left it: plain tuples.
        pass
    assert conn.row_factory is None


def test_postgresql_hands_out_the_adapter(store: GlobalLearningStore) -> None:
    if not store.is_postgresql:
        pytest.skip("PostgreSQL only")
    with store._get_connection() as conn:
        assert isinstance(conn, PostgresConnection)


def test_the_aggregators_executemany_updates_priorities(store: GlobalLearningStore) -> None:
    first, second = _patterns(store, "first", "second")
    with store._get_connection() as conn:
        cursor = conn.executemany(
            "UPDATE patterns SET priority_score = ? WHERE id = ?",
            [(0.25, first), (0.75, second)],
        )
        assert cursor.rowcount == 2
    assert [(p.id, p.priority_score) for p in store.get_patterns()] == [
        (second, 0.75),
        (first, 0.25),
    ]


def test_the_error_hooks_aggregate_reads_by_name_and_position(
    store: GlobalLearningStore,
) -> None:
    for success in (True, False, True):
        store.record_error_recovery("E103", 30.0, 45.0, success, model="m1")
    store.record_error_recovery("E103", 30.0, 10.0, True, model="m2")
    with store._get_connection() as conn:
        row = conn.execute(
            """
            SELECT
                SUM(CASE WHEN recovery_success THEN 1 ELSE 0 END) as successes,
                COUNT(*) as total
            FROM error_recoveries
            WHERE error_code = ? AND model = ?
            """,
            ("E103", "m1"),
        ).fetchone()
        averages = conn.execute(
            "SELECT COUNT(*) as total_occurrences, AVG(actual_wait) as avg_wait, "
            "MIN(actual_wait) as min_wait FROM error_recoveries WHERE error_code = ?",
            ("E103",),
        ).fetchone()
    assert row is not None and averages is not None
    assert (row["successes"], row["total"]) == (2, 3)
    assert (row[0], row[1]) == (2, 3)
    assert row.keys() == ["successes", "total"]
    # (45 * 3 + 10) / 4 = 36.25
    assert averages["avg_wait"] == 36.25 and averages["MIN_WAIT"] == 10.0


def test_an_exception_rolls_the_block_back(store: GlobalLearningStore) -> None:
    (pid,) = _patterns(store, "kept")
    with pytest.raises(RuntimeError), store._get_connection() as conn:
        conn.execute("UPDATE patterns SET priority_score = 0.1 WHERE id = ?", (pid,))
        raise RuntimeError("caller failed")
    pattern = store.get_pattern_by_id(pid)
    assert pattern is not None and pattern.priority_score == 0.5


def test_commit_inside_the_block_keeps_what_came_before(store: GlobalLearningStore) -> None:
    (pid,) = _patterns(store, "half")
    with pytest.raises(RuntimeError), store._get_connection() as conn:
        conn.execute("UPDATE patterns SET priority_score = 0.2 WHERE id = ?", (pid,))
        conn.commit()
        conn.execute("UPDATE patterns SET variance = 0.9 WHERE id = ?", (pid,))
        raise RuntimeError("after the commit")
    pattern = store.get_pattern_by_id(pid)
    assert pattern is not None and (pattern.priority_score, pattern.variance) == (0.2, 0.0)


def test_a_failed_statement_is_a_catchable_sqlite3_error_and_the_block_goes_on(
    store: GlobalLearningStore,
) -> None:
    (pid,) = _patterns(store, "unique")
    with store._get_connection() as conn:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(
                "INSERT INTO patterns (id, pattern_type, pattern_name) VALUES (?, ?, ?)",
                (pid, "t", "dup"),
            )
        with pytest.raises(sqlite3.OperationalError):
            conn.execute("SELECT nothing FROM no_such_table")
        conn.execute("UPDATE patterns SET priority_score = 0.3 WHERE id = ?", (pid,))
    pattern = store.get_pattern_by_id(pid)
    assert pattern is not None and pattern.priority_score == 0.3


def test_placeholders_inside_literals_and_percent_signs_are_left_alone(
    store: GlobalLearningStore,
) -> None:
    _patterns(store, "100% done?", "half done")
    with store._get_connection() as conn:
        rows = conn.execute(
            "SELECT pattern_name, '?' AS mark FROM patterns "
            "WHERE pattern_name LIKE ? AND pattern_name LIKE '%done%' ORDER BY pattern_name",
            ("1%",),
        ).fetchall()
        named = conn.execute(
            "SELECT COUNT(*) FROM patterns WHERE pattern_type = :kind",
            {"kind": "validation_failure"},
        ).fetchone()
    assert [(row["pattern_name"], row["mark"]) for row in rows] == [("100% done?", "?")]
    assert named is not None and named[0] == 2


def test_store_operations_inside_a_batch_share_its_transaction(
    store: GlobalLearningStore, store_url: str
) -> None:
    observer = GlobalLearningStore(store_url)
    try:
        with store.batch_connection() as batch:
            pid = store.record_pattern("t", "in the batch")
            with store._get_connection() as conn:
                if not store.is_postgresql:
                    assert conn is batch
                # The batch's own uncommitted row is visible to raw SQL in the batch ...
                row = conn.execute("SELECT pattern_name FROM patterns WHERE id = ?", (pid,))
                assert row.fetchone()["pattern_name"] == "in the batch"
                conn.execute("UPDATE patterns SET priority_score = 0.8 WHERE id = ?", (pid,))
            assert store.get_pattern_by_id(pid).priority_score == 0.8  # type: ignore[union-attr]
            # ... and to nobody else until the batch commits.
            assert observer.get_pattern_by_id(pid) is None
        assert observer.get_pattern_by_id(pid).priority_score == 0.8  # type: ignore[union-attr]
    finally:
        observer.close()


def test_an_exception_in_a_batch_rolls_back_store_operations_and_raw_sql(
    store: GlobalLearningStore,
) -> None:
    with pytest.raises(RuntimeError), store.batch_connection() as batch:
        store.record_pattern("t", "lost")
        batch.execute("UPDATE patterns SET priority_score = 0.9")
        raise RuntimeError("batch failed")
    assert store.get_patterns(min_priority=0.0) == []


def test_the_batch_connection_is_not_handed_out_after_the_batch(
    sqlite_store: GlobalLearningStore,
) -> None:
    with sqlite_store.batch_connection() as batch:
        pass
    with sqlite_store._get_connection() as conn:
        assert conn is not batch
        assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_existing_columns_on_both_backends(store: GlobalLearningStore) -> None:
    with store._get_connection() as conn:
        columns = store._get_existing_columns(conn, "pattern_applications")
        missing = store._get_existing_columns(conn, "no_such_table")
    assert columns == {
        "id", "pattern_id", "execution_id", "applied_at", "pattern_led_to_success",
        "retry_count_before", "retry_count_after", "grounding_confidence",
    }
    assert missing is None


def test_a_raw_write_to_a_read_only_store_raises_the_stores_error(store_url: str) -> None:
    GlobalLearningStore(store_url).close()
    store = GlobalLearningStore(store_url, read_only=True)
    try:
        with pytest.raises(ReadOnlyStoreError), store._get_connection() as conn:
            conn.execute("UPDATE patterns SET priority_score = 0")
        with store._get_connection() as conn:
            assert conn.execute("SELECT COUNT(*) FROM patterns").fetchone()[0] == 0
    finally:
        store.close()
