"""The header's status counts on PostgreSQL, kept until a pattern row moves (StatusWatch).

Every test compares the kept counts with what was done to the store, worked out by hand,
after each kind of write that moves a status (an insert, the lifecycle moves, an UPDATE
by hand, a delete, ``clear_all``) and after those that do not; and checks that a log the
watch cannot trust (a trigger disabled or dropped, a prune past the reader) counts again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy
from conftest import FrozenClock

from store import GlobalLearningStore, PatternQuery, drift_cache, listings
from store.drift_cache import _log_state


@pytest.fixture
def stores(pg_url: str) -> Iterator[tuple[GlobalLearningStore, GlobalLearningStore, list[str]]]:
    """The console's store (it keeps the counts) and a conductor's, with five patterns."""
    console = GlobalLearningStore(pg_url, clock=FrozenClock())
    conductor = GlobalLearningStore(pg_url, clock=FrozenClock())
    ids = [conductor.record_pattern("retry", f"pattern {n}") for n in range(5)]
    try:
        yield console, conductor, ids
    finally:
        conductor.close()
        console.close()


def _counts(store: GlobalLearningStore) -> dict[str, int]:
    counts = dict(store.store_overview().status_counts)
    page = store.query_patterns(PatternQuery())  # its total is the kept counts' sum
    assert page.total == page.matching == sum(counts.values()) == len(page.rows)
    return counts


def _refuse_counting(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any) -> Any:
        raise AssertionError("counted the statuses again")

    monkeypatch.setattr(listings, "_postgresql_status_counts", refuse)


def test_every_move_of_a_status_is_counted(
    stores: tuple[GlobalLearningStore, GlobalLearningStore, list[str]],
    pg_admin: sqlalchemy.Engine,
) -> None:
    console, conductor, ids = stores
    assert _counts(console) == {"pending": 5}
    new_id = conductor.record_pattern("timeout", "a new one")
    assert _counts(console) == {"pending": 6}
    assert conductor.quarantine_pattern(ids[0], "operator")
    assert conductor.validate_pattern(ids[1])
    assert _counts(console) == {"pending": 4, "quarantined": 1, "validated": 1}
    assert conductor.retire_pattern(ids[2])
    assert _counts(console) == {"pending": 3, "quarantined": 1, "validated": 1, "retired": 1}
    with pg_admin.begin() as conn:  # by hand, from another session
        conn.exec_driver_sql(
            "UPDATE patterns SET quarantine_status = 'validated' WHERE id = %(id)s",
            {"id": new_id},
        )
    assert _counts(console) == {"pending": 2, "quarantined": 1, "validated": 2, "retired": 1}
    with pg_admin.begin() as conn:
        conn.exec_driver_sql("DELETE FROM patterns WHERE id = %(id)s", {"id": ids[0]})
    assert _counts(console) == {"pending": 2, "validated": 2, "retired": 1}
    conductor.clear_all()
    assert _counts(console) == {}


def test_applications_and_rescoring_count_nothing_again(
    stores: tuple[GlobalLearningStore, GlobalLearningStore, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    console, conductor, ids = stores
    assert conductor.quarantine_pattern(ids[3], "operator")
    assert _counts(console) == {"pending": 4, "quarantined": 1}
    _refuse_counting(monkeypatch)
    for n in range(6):  # each also updates its pattern row (counts, scores, priority)
        conductor.record_pattern_application(ids[n % 5], f"exec-{n}", n % 2 == 0)
    conductor.recalculate_all_pattern_priorities()
    assert _counts(console) == {"pending": 4, "quarantined": 1}


def test_a_trigger_disabled_or_dropped_counts_every_time(
    stores: tuple[GlobalLearningStore, GlobalLearningStore, list[str]],
    pg_admin: sqlalchemy.Engine,
    pg_url: str,
) -> None:
    console, _, ids = stores
    assert _counts(console) == {"pending": 5}
    with pg_admin.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE patterns DISABLE TRIGGER marianne_tui_status_moved")
        conn.exec_driver_sql(
            "UPDATE patterns SET quarantine_status = 'retired' WHERE id = %(id)s",
            {"id": ids[0]},
        )
    assert _counts(console) == {"pending": 4, "retired": 1}
    with pg_admin.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER marianne_tui_status_moved ON patterns")
        conn.exec_driver_sql("DROP FUNCTION marianne_tui_log_status()")
    with pg_admin.connect() as conn:
        state = _log_state(conn)
    # A log made before the status trigger existed still serves drift reads.
    assert state.ready and not state.statuses_ready
    for status, expected in (
        ("validated", {"pending": 3, "retired": 1, "validated": 1}),
        ("quarantined", {"pending": 3, "retired": 1, "quarantined": 1}),
    ):
        with pg_admin.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE patterns SET quarantine_status = %(status)s WHERE id = %(id)s",
                {"status": status, "id": ids[1]},
            )
        assert _counts(console) == expected
    GlobalLearningStore(pg_url).close()  # a writable open installs what is missing
    with pg_admin.connect() as conn:
        assert _log_state(conn).statuses_ready


def test_a_prune_past_the_reader_counts_again(
    stores: tuple[GlobalLearningStore, GlobalLearningStore, list[str]],
    pg_admin: sqlalchemy.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    console, conductor, ids = stores
    assert _counts(console) == {"pending": 5}
    assert conductor.validate_pattern(ids[4])
    with pg_admin.begin() as conn:
        conn.exec_driver_sql(
            f"UPDATE {drift_cache.DRIFT_LOG_TABLE} "
            "SET logged_at = logged_at - interval '2 hours'"
        )
    monkeypatch.setattr(drift_cache, "PRUNE_EVERY", 0.0)
    conductor._drift_state().feed._last_prune = 0.0
    conductor.record_pattern_application(ids[0], "prunes", True)  # the status mark goes
    with pg_admin.connect() as conn:
        marks = conn.exec_driver_sql(
            f"SELECT count(*) FROM {drift_cache.DRIFT_LOG_TABLE} WHERE kind = 's'"
        ).scalar_one()
    assert marks == 0
    assert _counts(console) == {"pending": 4, "validated": 1}
