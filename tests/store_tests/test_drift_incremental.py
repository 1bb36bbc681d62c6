"""Kept drift and entropy results: after every kind of write, the same as a full recompute.

A store object that has already answered (so it keeps window aggregates and counts) is
compared, after a write, with a store object opened afresh on the same location (which
computes everything from the tables). For the writes Marianne makes all the time (new
applications, new patterns, status and priority changes, soft deletes) the kept store must
also get there without recomputing everything: the full computation is made to fail.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from conftest import REPO, FrozenClock
from sqlalchemy import delete, insert, update

from store import GlobalLearningStore, tables
from store.drift import DriftMixin
from store.drift_cache import ChangeFeed

WINDOWS = (5, 3)


def _seed(store: GlobalLearningStore, clock: FrozenClock, patterns: int = 24) -> list[str]:
    """Patterns with 0-30 applications each, some grounded, a few orphaned ids."""
    chooser = random.Random(11)
    ids = []
    rows = []
    for number in range(patterns):
        pattern_id = store.record_pattern("validation_failure", f"pattern {number}")
        ids.append(pattern_id)
        for _ in range(chooser.randint(0, 30)):
            clock.advance(seconds=1)
            rows.append(_application(chooser, pattern_id, clock))
    for _ in range(12):
        clock.advance(seconds=1)
        rows.append(_application(chooser, "orphan-id", clock))
    with store._connection() as conn:
        conn.execute(insert(tables.pattern_applications), rows)
    return ids


def _application(chooser: random.Random, pattern_id: str, clock: FrozenClock) -> dict[str, Any]:
    return {
        "id": str(uuid.UUID(int=chooser.getrandbits(128), version=4)),
        "pattern_id": pattern_id,
        "execution_id": "exec",
        "applied_at": clock.now,
        "pattern_led_to_success": chooser.random() < 0.5,
        "retry_count_before": 0,
        "retry_count_after": 0,
        "grounding_confidence": None if chooser.random() < 0.3
        else round(chooser.uniform(0.1, 1.0), 3),
    }


def _everything(store: GlobalLearningStore) -> dict[str, Any]:
    """Every drift and entropy read, in a comparable form."""
    entropy = store.calculate_pattern_entropy()
    result: dict[str, Any] = {
        "summary": store.get_pattern_drift_summary(),
        "epistemic summary": store.get_epistemic_drift_summary(),
        "entropy": {k: v for k, v in vars(entropy).items() if k != "calculated_at"},
        "entropy check": store.check_entropy_response_needed("job"),
    }
    for window in WINDOWS:
        report = store.drift_report(window_size=window, only_exceeding=False, limit=-1)
        result[f"report {window}"] = (report.rows, report.summary, report.epistemic_summary,
                                      report.matching)
        result[f"drifting {window}"] = store.get_drifting_patterns(-1.0, window, 1000)
        result[f"epistemic {window}"] = store.get_epistemic_drifting_patterns(-1.0, window, 1000)
    result["default report"] = store.drift_report().rows
    return result


def _fresh(store: GlobalLearningStore) -> dict[str, Any]:
    other = GlobalLearningStore(store.url, clock=store.clock)
    try:
        return _everything(other)
    finally:
        other.close()


@pytest.fixture
def kept(store: GlobalLearningStore, clock: FrozenClock) -> Iterator[GlobalLearningStore]:
    """A seeded store that has answered every read once (so it keeps its results)."""
    _seed(store, clock)
    _everything(store)
    yield store


@pytest.fixture
def no_full_recompute(kept: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kept store may only recompute the changed patterns from now on."""

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("recomputed everything instead of the changed patterns")

    monkeypatch.setattr(kept, "_all_windows", refuse)
    assert isinstance(kept, DriftMixin)


def _assert_same_as_fresh(store: GlobalLearningStore) -> dict[str, Any]:
    kept_result = _everything(store)
    assert kept_result == _fresh(store)
    return kept_result


def test_nothing_written_reads_nothing(kept: GlobalLearningStore, no_full_recompute: None) -> None:
    assert _everything(kept) == _fresh(kept)


def test_new_applications(
    kept: GlobalLearningStore, clock: FrozenClock, no_full_recompute: None
) -> None:
    before = _everything(kept)
    pattern_id = kept.record_pattern("validation_failure", "pattern 3")
    for success in (False, False, False, False, False, True):
        clock.advance(seconds=1)
        kept.record_pattern_application(pattern_id, "exec-new", success,
                                        grounding_confidence=0.2)
    after = _assert_same_as_fresh(kept)
    assert after != before  # the write was seen


def test_new_applications_to_known_patterns_count_no_pattern_rows(
    kept: GlobalLearningStore, clock: FrozenClock, no_full_recompute: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only an insert moves the pattern count (a delete recomputes everything)."""

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("counted the patterns for applications alone")

    monkeypatch.setattr(kept, "_count_patterns", refuse)
    pattern_id = kept.drift_report(only_exceeding=False, limit=-1).rows[0].pattern_id
    for success in (True, False, False):
        clock.advance(seconds=1)
        kept.record_pattern_application(pattern_id, "exec-new", success)
    _assert_same_as_fresh(kept)


def test_an_update_that_failed_half_way_is_recomputed_next_time(
    kept: GlobalLearningStore, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The feed has moved on when an update fails (a lost connection, say): the next read
    must not take the half-updated results as current."""
    report = kept.drift_report(only_exceeding=False, limit=-1)
    pattern_id = report.rows[0].pattern_id
    for success in (False, False, False, False, False, False):
        clock.advance(seconds=1)
        kept.record_pattern_application(pattern_id, "exec-new", success,
                                        grounding_confidence=0.1)

    def lost(*_: Any, **__: Any) -> Any:
        raise ConnectionError("the server went away")

    with monkeypatch.context() as patched:
        patched.setattr(kept, "_scan_windows", lost)
        with pytest.raises(ConnectionError):
            kept.drift_report(only_exceeding=False, limit=-1)
    after = _assert_same_as_fresh(kept)
    assert after["report 5"][0] != report.rows  # the applications were seen


def test_new_pattern_and_a_pattern_row_for_orphaned_applications(
    kept: GlobalLearningStore, clock: FrozenClock, no_full_recompute: None
) -> None:
    chooser = random.Random(5)
    new_id = kept.record_pattern("semantic_failure", "brand new")
    rows = []
    for _ in range(12):
        clock.advance(seconds=1)
        rows.append(_application(chooser, new_id, clock))
    with kept._connection() as conn:
        conn.execute(insert(tables.pattern_applications), rows)
    _assert_same_as_fresh(kept)

    # The orphaned applications belong to a pattern once its row exists.
    with kept._connection() as conn:
        conn.execute(
            insert(tables.patterns).values(
                id="orphan-id", pattern_type="t", pattern_name="found again",
                priority_score=0.5, quarantine_status="pending",
            )
        )
    after = _assert_same_as_fresh(kept)
    assert any(row.pattern_id == "orphan-id" for row in after["report 5"][0])


def test_soft_delete_quarantine_and_priorities(
    kept: GlobalLearningStore, no_full_recompute: None
) -> None:
    report = kept.drift_report(only_exceeding=False, limit=-1)
    first, second = report.rows[0].pattern_id, report.rows[1].pattern_id
    assert kept.soft_delete_pattern(first)
    _assert_same_as_fresh(kept)
    assert kept.quarantine_pattern(second, "operator")
    after = _assert_same_as_fresh(kept)
    row = next(r for r in after["report 5"][0] if r.pattern_id == second)
    assert row.status == "quarantined"
    kept.recalculate_all_pattern_priorities()
    kept.retire_drifting_patterns()
    _assert_same_as_fresh(kept)


def test_clear_all_then_new_rows(kept: GlobalLearningStore, clock: FrozenClock) -> None:
    kept.clear_all()
    empty = _assert_same_as_fresh(kept)
    assert empty["summary"]["total_patterns"] == 0
    # As many rows as before, so that rowids come back to where they were.
    _seed(kept, clock)
    _assert_same_as_fresh(kept)


def test_deleted_pattern_and_deleted_or_updated_applications(
    kept: GlobalLearningStore, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On SQLite, a deleted older application is found by a count every 30 s: every read here.
    monkeypatch.setattr(ChangeFeed, "count_every", 0.0)
    report = kept.drift_report(only_exceeding=False, limit=-1)
    with kept._connection() as conn:
        conn.execute(
            delete(tables.patterns).where(tables.patterns.c.id == report.rows[0].pattern_id)
        )
    _assert_same_as_fresh(kept)
    a = tables.pattern_applications.c
    with kept._connection() as conn:
        conn.execute(delete(tables.pattern_applications).where(
            a.pattern_id == report.rows[1].pattern_id))
    _assert_same_as_fresh(kept)
    if kept.is_postgresql:  # SQLite cannot see an update in place (documented)
        with kept._connection() as conn:
            conn.execute(update(tables.pattern_applications).values(grounding_confidence=0.5))
        _assert_same_as_fresh(kept)
    kept.reset_drift_cache()
    _assert_same_as_fresh(kept)


def test_the_optional_index_appearing_and_going(
    kept: GlobalLearningStore, clock: FrozenClock
) -> None:
    kept.add_drift_index()
    _assert_same_as_fresh(kept)
    kept.record_pattern_application(
        kept.record_pattern("validation_failure", "pattern 1"), "e", True,
        grounding_confidence=0.9,
    )
    _assert_same_as_fresh(kept)
    kept.drop_drift_index()
    _assert_same_as_fresh(kept)


def test_a_write_from_another_process(
    kept: GlobalLearningStore, no_full_recompute: None
) -> None:
    program = (
        "import sys\n"
        "from store import GlobalLearningStore\n"
        "store = GlobalLearningStore(sys.argv[1])\n"
        "pid = store.record_pattern('validation_failure', 'pattern 5')\n"
        "for n in range(7):\n"
        "    store.record_pattern_application(pid, 'other', n % 3 == 0,"
        " grounding_confidence=0.1 * n)\n"
        "new = store.record_pattern('error', 'from elsewhere')\n"
        "for n in range(10):\n"
        "    store.record_pattern_application(new, 'other', True, grounding_confidence=0.9)\n"
        "store.close()\n"
    )
    environment = dict(os.environ, PYTHONPATH=str(REPO))
    before = _everything(kept)
    subprocess.run([sys.executable, "-c", program, kept.url], check=True, env=environment,
                   timeout=120)
    after = _assert_same_as_fresh(kept)
    assert after != before


def test_many_small_writes_in_a_row(
    kept: GlobalLearningStore, clock: FrozenClock, no_full_recompute: None
) -> None:
    chooser = random.Random(3)
    ids = [kept.record_pattern("validation_failure", f"pattern {n}") for n in range(24)]
    for _ in range(6):
        for _ in range(chooser.randint(1, 10)):
            clock.advance(seconds=1)
            kept.record_pattern_application(
                chooser.choice(ids), "e", chooser.random() < 0.5,
                grounding_confidence=chooser.choice([None, 0.3, 0.8]),
            )
        _assert_same_as_fresh(kept)


def test_the_summaries_stay_unsorted_as_applications_arrive(
    kept: GlobalLearningStore, clock: FrozenClock, no_full_recompute: None
) -> None:
    # A summary reads only its first id: its ranking is never sorted, changes included.
    counted = [m.pattern_id for m in kept.get_drifting_patterns(-1.0, 5, 1000)]
    chooser = random.Random(4)
    for _ in range(5):
        for pattern_id in chooser.sample(counted, 3):
            clock.advance(seconds=1)
            kept.record_pattern_application(pattern_id, "e", chooser.random() < 0.5,
                                            grounding_confidence=chooser.random())
        _assert_same_as_fresh(kept)
    ranked = kept._drift_state().ranked
    summaries = [ranked[key] for key in ranked if "summary" in key[0]]
    assert len(summaries) == 2 and all(summary._unsorted for summary in summaries)


def test_equal_timestamps_from_an_older_clock(
    kept: GlobalLearningStore, clock: FrozenClock, no_full_recompute: None
) -> None:
    """A new row may be older than existing ones (another writer's clock): still exact."""
    pattern_id = kept.record_pattern("validation_failure", "pattern 2")
    clock.now -= timedelta(days=30)
    for success in (True, False, True):
        kept.record_pattern_application(pattern_id, "late", success, grounding_confidence=0.4)
    _assert_same_as_fresh(kept)


def test_a_write_landing_while_the_feed_looks(
    kept: GlobalLearningStore, no_full_recompute: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: rows committed between reading the position and reading the new rows are
    taken next time, once: no double count, so no needless full recompute."""
    if kept.is_postgresql:
        pytest.skip("the PostgreSQL feed reads by transaction, not by position")
    from store import drift_cache

    monkeypatch.setattr(ChangeFeed, "count_every", 0.0)  # check the count on every read
    writer = GlobalLearningStore(kept.url, clock=kept.clock)
    pattern_id = writer.record_pattern("validation_failure", "pattern 4")
    real_position = drift_cache._sqlite_position
    raced: list[bool] = []

    def position_then_a_write(conn: Any) -> Any:
        position = real_position(conn)
        if not raced:
            raced.append(True)
            writer.record_pattern_application(pattern_id, "race", False,
                                              grounding_confidence=0.1)
        return position

    try:
        kept.record_pattern_application(pattern_id, "before", True, grounding_confidence=0.9)
        monkeypatch.setattr(drift_cache, "_sqlite_position", position_then_a_write)
        _everything(kept)
        monkeypatch.setattr(drift_cache, "_sqlite_position", real_position)
        assert raced
        _assert_same_as_fresh(kept)
    finally:
        writer.close()


def test_a_one_row_read_between_two_page_reads_keeps_the_page_rows(
    kept: GlobalLearningStore, clock: FrozenClock
) -> None:
    """The alerts' watch reads one row between two reads of the Drift page: the page's
    rows are not built again, and a row whose pattern got an application is."""
    page = kept.drift_report(only_exceeding=False, limit=6)
    assert len(page.rows) == 6
    kept.drift_report(only_exceeding=False, limit=1)
    again = kept.drift_report(only_exceeding=False, limit=6)
    assert all(a is b for a, b in zip(page.rows, again.rows, strict=True))
    # The same with the one-row read at other thresholds (the screen's were changed).
    kept.drift_report(drift_threshold=0.3, only_exceeding=False, limit=1)
    again = kept.drift_report(only_exceeding=False, limit=6)
    assert all(a is b for a, b in zip(page.rows, again.rows, strict=True))

    changed = page.rows[3].pattern_id
    clock.advance(seconds=1)
    kept.record_pattern_application(changed, "exec-moved", False, grounding_confidence=0.1)
    kept.drift_report(only_exceeding=False, limit=1)
    after = kept.drift_report(only_exceeding=False, limit=-1)
    fresh = _fresh(kept)["default report"]  # the same store, computed from the tables
    rebuilt = next(row for row in after.rows if row.pattern_id == changed)
    assert all(rebuilt is not row for row in page.rows)
    assert after.rows == kept.drift_report(only_exceeding=False, limit=-1).rows
    assert kept.drift_report().rows == fresh


def test_the_feed_position_reads_no_pattern_row(store: GlobalLearningStore) -> None:
    """Where the feed stands costs the same at 100 patterns as at 100,000: a seek and
    SQLite's page count, not a scan of every pattern (one, 7 ms at 100,000, ran on every
    read that found a change). Counted in SQLite VM instructions, not time."""
    if store.is_postgresql:
        pytest.skip("the SQLite feed")
    rows = [
        {"id": f"p{number}", "pattern_type": "t", "pattern_name": f"n{number}",
         "first_seen": "2026-01-01T00:00:00", "last_seen": "2026-01-01T00:00:00",
         "last_confirmed": "2026-01-01T00:00:00"}
        for number in range(3000)
    ]
    with store._connection() as conn:
        conn.execute(insert(tables.patterns), rows)
    steps = 0

    def step() -> int:
        nonlocal steps
        steps += 1
        return 0

    feed = ChangeFeed(postgresql=False, writable=True)
    with store._connection() as conn:
        raw = conn.connection.driver_connection
        raw.set_progress_handler(step, 100)  # once per 100 instructions
        try:
            feed.read(conn)  # the first read: its position, and a count of applications
            steps = 0
            changes = feed.read(conn)
        finally:
            raw.set_progress_handler(None, 100)
    assert not changes.full and changes.empty
    assert steps < 10  # under 1,000 instructions; a scan of 3,000 patterns takes >10,000
