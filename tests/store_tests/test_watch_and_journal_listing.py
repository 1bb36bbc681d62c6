"""The console's watch read (``watch_snapshot``) and the journal as a list
(``journal_listing``, ``undo_journal_entry``), on SQLite and PostgreSQL.

Writes come from a second store instance on the same database (as another operator or
the conductor would make them); the frozen clock is moved by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import FrozenClock
from sqlalchemy import delete

from marianne_tui.alerts import detect_alerts
from marianne_tui.config import AlertRules
from store import (
    BatchUndoRequiredError,
    DriftReport,
    GlobalLearningStore,
    JournalSubject,
    PatternAction,
    QuarantineStatus,
    UndoConflictError,
    tables,
    watch,
)


@pytest.fixture
def other(store_url: str, store: GlobalLearningStore, clock: FrozenClock
          ) -> Iterator[GlobalLearningStore]:
    opened = GlobalLearningStore(store_url, clock=clock)
    opened.operator, opened.operator_host = "alice", "alice-laptop"
    yield opened
    opened.close()


def _patterns(store: GlobalLearningStore, count: int) -> list[str]:
    return [store.record_pattern("retry", f"pattern {n}", description="d")
            for n in range(count)]


def test_the_first_snapshot_reads_counts_and_no_journal(
    store: GlobalLearningStore, other: GlobalLearningStore, clock: FrozenClock
) -> None:
    ids = _patterns(other, 3)
    other.apply_pattern_action(ids[0], PatternAction.QUARANTINE, reason="bad")
    escalation = other.record_escalation_decision("job", 2, 0.4, "retry", 40.0, 1)
    limit = other.record_rate_limit_event("E429", 600, "job", model="opus")
    store.operator, store.operator_host = "ops", "console"
    first = store.watch_snapshot()
    assert dict(first.status_counts) == {"pending": 2, "quarantined": 1}
    assert [item.id for item in first.pending_escalations] == [escalation]
    assert first.pending_escalations[0].label == f"sheet 2 of job {store.hash_job('job')}"
    assert [(item.id, item.label) for item in first.rate_limits] == [(limit, "E429 on opus")]
    assert first.journal_mark == 1 and first.journal_since == ()
    assert first.me == ("ops", "console")
    assert first.stamped == ()


def test_the_next_snapshot_reads_only_what_is_new(
    store: GlobalLearningStore, other: GlobalLearningStore, clock: FrozenClock
) -> None:
    ids = _patterns(other, 3)
    other.apply_pattern_action(ids[0], PatternAction.QUARANTINE, reason="bad")
    first = store.watch_snapshot()
    clock.advance(seconds=5)
    entry = other.apply_pattern_action(ids[1], PatternAction.VALIDATE)
    other.quarantine_pattern(ids[2], "by the conductor")  # Marianne's API: not journalled
    second = store.watch_snapshot(first)
    assert [e.id for e in second.journal_since] == [entry.id]
    assert second.journal_mark == entry.id
    assert second.names == {ids[1]: "pattern 1"}
    # Both changes stamped a time after the first read; ids[0]'s stamp is older.
    assert sorted((item.id, item.status) for item in second.stamped) == sorted(
        [(ids[1], "validated"), (ids[2], "quarantined")])
    third = store.watch_snapshot(second)
    assert third.journal_since == () and third.journal_mark == entry.id
    assert third.stamped == ()  # the counts did not move: no stamp read


def test_drifting_patterns_are_listed(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    (pattern,) = _patterns(store, 1)
    for index, outcome in enumerate([True] * 5 + [False] * 5):
        clock.advance(minutes=1)
        store.record_pattern_application(pattern, f"exec-{index}", outcome)
    snapshot = store.watch_snapshot()
    assert [item.id for item in snapshot.drifting] == [pattern]
    assert snapshot.drifting_total == 1 and snapshot.drift_threshold == 0.2


def _drift(store: GlobalLearningStore, clock: FrozenClock, pattern: str,
           outcomes: list[bool], run: str) -> None:
    for index, outcome in enumerate(outcomes):
        clock.advance(minutes=1)
        store.record_pattern_application(pattern, f"{run}-{index}", outcome)


class _DriftLimits:
    """The ``limit`` of each ``drift_report`` call on ``store`` (the instance only)."""

    def __init__(self, store: GlobalLearningStore) -> None:
        self.limits: list[int] = []
        #: the store's own, for the test to read the report uncounted
        self.original = original = store.drift_report

        def counted(**kwargs: Any) -> DriftReport:
            self.limits.append(kwargs["limit"])
            return original(**kwargs)

        store.drift_report = counted  # type: ignore[method-assign]


def test_past_the_watch_limit_only_the_largest_drift_and_the_count_are_read(
    store: GlobalLearningStore, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch, "WATCH_LIMIT", 2)
    ids = _patterns(store, 3)
    for number, pattern in enumerate(ids):
        # Drifts of different sizes: n of the 5 newest applications fail.
        _drift(store, clock, pattern, [True] * 5 + [False] * (3 + number)
               + [True] * (2 - number), f"d{number}")
    largest = store.drift_report(window_size=5, drift_threshold=0.2).rows[0].pattern_id
    calls = _DriftLimits(store)

    # No previous snapshot: the whole list is asked for, and cut to the largest.
    first = store.watch_snapshot()
    assert calls.limits == [2]
    assert [item.id for item in first.drifting] == [largest]
    assert first.drifting_total == 3 and first.watch_limit == 2

    # Past the limit last time: the largest alone is read.
    second = store.watch_snapshot(first)
    assert calls.limits == [2, 1]
    assert [item.id for item in second.drifting] == [largest]
    assert second.drifting_total == 3

    # One more pattern drifts: the count moves, and the alert says so and points at the
    # largest, as it did when the list was read whole.
    (fourth,) = [store.record_pattern("retry", "pattern 3", description="d")]
    _drift(store, clock, fourth, [True] * 5 + [False] * 5, "d3")
    third = store.watch_snapshot(second)
    assert calls.limits == [2, 1, 1]
    assert third.drifting_total == 4
    assert third.drifting[0].id == calls.original().rows[0].pattern_id
    (alert,) = detect_alerts(second, third, AlertRules())
    assert alert.subject == "3 → 4 patterns" and alert.key == third.drifting[0].id

    # Two stop drifting (five failures in both windows): the list fits again, and is read
    # whole on the same snapshot.
    for pattern in ids[:2]:
        _drift(store, clock, pattern, [False] * 10, f"flat-{pattern}")
    fits = store.watch_snapshot(third)
    assert calls.limits == [2, 1, 1, 1, 2]
    assert fits.drifting_total == 2
    assert {item.id for item in fits.drifting} == {ids[2], fourth}
    # While it fits, the whole list only.
    again = store.watch_snapshot(fits)
    assert calls.limits == [2, 1, 1, 1, 2, 2]
    assert [item.id for item in again.drifting] == [item.id for item in fits.drifting]


def test_journal_listing_pages_filters_and_tells_what_can_be_undone(
    store: GlobalLearningStore, other: GlobalLearningStore, clock: FrozenClock
) -> None:
    assert store.journal_listing().entries == ()  # no journal table yet
    a, b = _patterns(store, 2)
    store.operator = "ops"
    first = store.apply_pattern_action(a, PatternAction.QUARANTINE, reason="noisy")
    clock.advance(seconds=1)
    second = other.apply_pattern_action(a, PatternAction.VALIDATE)
    third = other.apply_pattern_action(b, PatternAction.RETIRE, reason="obsolete")
    listing = store.journal_listing()
    assert [e.id for e in listing.entries] == [third.id, second.id, first.id]
    assert listing.matching == 3 and listing.offset == 0
    # The first is not the latest action on pattern a any more.
    assert listing.undoable == {second.id, third.id}
    assert listing.names == {a: "pattern 0", b: "pattern 1"}
    assert [e.id for e in store.journal_listing("ALICE").entries] == [third.id, second.id]
    assert [e.id for e in store.journal_listing("obsol").entries] == [third.id]
    assert store.journal_listing("100%").matching == 0  # % is literal
    page = store.journal_listing(offset=1, limit=1)
    assert [e.id for e in page.entries] == [second.id] and page.matching == 3


def test_undo_of_a_chosen_entry(
    store: GlobalLearningStore, other: GlobalLearningStore, clock: FrozenClock
) -> None:
    a, b = _patterns(store, 2)
    on_a = store.apply_pattern_action(a, PatternAction.QUARANTINE, reason="noisy")
    other.apply_pattern_action(b, PatternAction.VALIDATE)
    # on_a is not the newest entry of the journal, but it is the latest on its row.
    undone = store.undo_journal_entry(on_a.id)
    assert undone.id == on_a.id and undone.undone_at is not None
    assert store.get_pattern_by_id(a).quarantine_status is QuarantineStatus.PENDING
    assert store.get_pattern_by_id(b).quarantine_status is QuarantineStatus.VALIDATED
    newest = store.journal(limit=1)[0]
    assert (newest.action, newest.undoes) == ("undo", on_a.id)
    with pytest.raises(UndoConflictError, match="undone already"):
        store.undo_journal_entry(on_a.id)
    with pytest.raises(UndoConflictError, match="an undo"):
        store.undo_journal_entry(newest.id)
    listing = store.journal_listing()
    assert on_a.id not in listing.undoable and newest.id not in listing.undoable


def test_undo_is_refused_when_a_newer_action_or_a_change_came_after(
    store: GlobalLearningStore, other: GlobalLearningStore
) -> None:
    a, b = _patterns(store, 2)
    older = store.apply_pattern_action(a, PatternAction.QUARANTINE)
    other.apply_pattern_action(a, PatternAction.VALIDATE)
    with pytest.raises(UndoConflictError, match="newer action"):
        store.undo_journal_entry(older.id)
    on_b = store.apply_pattern_action(b, PatternAction.QUARANTINE)
    other.retire_pattern(b)  # the conductor, not journalled
    with pytest.raises(UndoConflictError, match="changed after"):
        store.undo_journal_entry(on_b.id)
    assert store.get_pattern_by_id(b).quarantine_status is QuarantineStatus.RETIRED
    assert [e.action for e in store.journal(limit=10)].count("undo") == 0
    with pytest.raises(UndoConflictError, match="no journal entry"):
        store.undo_journal_entry(9999)


def test_escalation_entries_are_listed_with_their_sheet(
    store: GlobalLearningStore,
) -> None:
    escalation = store.record_escalation_decision("job-x", 4, 0.4, "retry", 40.0, 1)
    store.record_escalation_outcome(escalation, "success")
    listing = store.journal_listing()
    assert listing.entries[0].target_kind is JournalSubject.ESCALATION
    assert listing.names == {escalation: f"sheet 4 of job {store.hash_job('job-x')}"}


def test_undo_of_a_chosen_entry_of_a_batch_points_at_the_batch_and_splits_nothing(
    store: GlobalLearningStore, other: GlobalLearningStore
) -> None:
    a, b, c = _patterns(store, 3)
    result = store.apply_batch_action(
        store.preview_batch_action([a, b], PatternAction.QUARANTINE, reason="noisy"))
    single = other.apply_pattern_action(c, PatternAction.VALIDATE)
    listing = store.journal_listing()
    on_a = next(e for e in listing.entries if e.target_id == a)
    assert on_a.batch_id == result.batch_id and on_a.id in listing.undoable

    with pytest.raises(BatchUndoRequiredError) as pointed:
        store.undo_journal_entry(on_a.id)

    assert (pointed.value.batch_id, pointed.value.count) == (result.batch_id, 2)
    # Nothing written: both patterns stay quarantined, no undo journalled.
    assert {store.get_pattern_by_id(p).quarantine_status for p in (a, b)} == {
        QuarantineStatus.QUARANTINED}
    assert [e.action for e in store.journal(limit=10)].count("undo") == 0
    # The batch as a whole, then the single entry on its own, still undo.
    assert result.batch_id is not None
    assert len(store.undo_batch(result.batch_id)) == 2
    assert store.undo_journal_entry(single.id).id == single.id
    assert {store.get_pattern_by_id(p).quarantine_status for p in (a, b, c)} == {
        QuarantineStatus.PENDING}


def test_undo_of_a_chosen_entry_when_its_pattern_is_gone(
    store: GlobalLearningStore, other: GlobalLearningStore
) -> None:
    (a,) = _patterns(store, 1)
    entry = store.apply_pattern_action(a, PatternAction.QUARANTINE)
    with other._engine.begin() as conn:
        conn.execute(delete(tables.patterns).where(tables.patterns.c.id == a))
    with pytest.raises(UndoConflictError, match="no longer exists"):
        store.undo_journal_entry(entry.id)
    assert store.journal(limit=5)[0].undone_at is None
