"""Bulk triage: one action on many patterns in one transaction, one journal row per changed
pattern sharing a batch id, all-or-nothing compare-and-set, and undo of the whole batch.

Patterns are inserted with hand-written stored text, so "only they changed" and "undo
restores all" are checked byte for byte on the raw rows.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from store import (
    BatchConflictError,
    BatchUndoRequiredError,
    GlobalLearningStore,
    PatternAction,
    PatternQuery,
    PatternSort,
    UndoConflictError,
    tables,
)

NOW = "2026-11-25T12:00:00.250000"

#: id -> (status, quarantined_at, quarantine_reason, priority), as stored
_PATTERNS: dict[str, tuple[str | None, str | None, str | None, float]] = {
    "p1": ("pending", None, None, 0.9),
    "p2": (None, None, None, 0.8),  # NULL status reads as pending
    "p3": ("validated", None, None, 0.7),
    "p4": ("quarantined", "2025-01-02 03:04:05", "old reason", 0.6),
    "p5": ("pending", None, None, 0.5),
    "p6": ("retired", None, None, 0.4),
}


@pytest.fixture
def patterns(store: GlobalLearningStore) -> GlobalLearningStore:
    rows = [
        {
            "id": ident, "pattern_type": "retry" if ident < "p4" else "timeout",
            "pattern_name": f"pattern {ident}", "description": "d",
            "quarantine_status": status, "quarantined_at": quarantined,
            "validated_at": "2025-03-03T03:03:03.123000", "quarantine_reason": reason,
            "priority_score": priority, "first_seen": "2026-01-01T00:00:00",
            "last_seen": "2026-01-01T00:00:00", "last_confirmed": "2026-01-01T00:00:00",
        }
        for ident, (status, quarantined, reason, priority) in _PATTERNS.items()
    ]
    with store._engine.begin() as conn:
        conn.execute(insert(tables.patterns), rows)
    return store


def _raw(store: GlobalLearningStore, table: str) -> dict[Any, tuple[Any, ...]]:
    with store._engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY id").all()
        conn.rollback()
    return {row[0]: tuple(row) for row in rows}


def _changed(before: dict[Any, tuple[Any, ...]], after: dict[Any, tuple[Any, ...]]) -> set[Any]:
    assert before.keys() == after.keys()
    return {key for key in before if before[key] != after[key]}


def test_a_preview_counts_each_transition_and_skips_patterns_already_there(
    patterns: GlobalLearningStore,
) -> None:
    before = _raw(patterns, "patterns")
    preview = patterns.preview_batch_action(
        ["p1", "p2", "p3", "p4", "p1", "gone"], PatternAction.QUARANTINE, "flaky"
    )
    assert _raw(patterns, "patterns") == before  # a preview writes nothing
    assert [item.pattern_id for item in preview.items] == ["p1", "p2", "p3", "p4"]
    assert preview.missing == ("gone",)
    assert preview.transitions() == (("pending", "quarantined", 2),
                                     ("validated", "quarantined", 1))
    assert preview.skipped_by_status() == (("quarantined", 1),)
    (p4,) = preview.skipped
    assert p4.pattern_id == "p4" and dict(p4.after) == dict(p4.before)
    p1 = preview.items[0]
    assert p1.name == "pattern p1"
    assert dict(p1.after) == {
        "quarantine_status": "quarantined", "quarantined_at": NOW,
        "validated_at": "2025-03-03T03:03:03.123000", "quarantine_reason": "flaky",
    }


def test_a_batch_changes_only_its_patterns_with_one_journal_row_each_and_one_batch_id(
    patterns: GlobalLearningStore,
) -> None:
    before = _raw(patterns, "patterns")
    preview = patterns.preview_batch_action(["p1", "p2", "p3", "p4"],
                                            PatternAction.QUARANTINE, "flaky")
    result = patterns.apply_batch_action(preview, actor="ops")

    after = _raw(patterns, "patterns")
    assert _changed(before, after) == {"p1", "p2", "p3"}  # p4 was already quarantined
    assert (result.applied, result.skipped) == (("p1", "p2", "p3"), ("p4",))
    for ident in ("p1", "p2", "p3"):
        state = patterns.preview_pattern_action(ident, PatternAction.PENDING).before
        assert state["quarantine_status"] == "quarantined"
    journal = patterns.journal()
    assert sorted(entry.target_id for entry in journal) == ["p1", "p2", "p3"]
    assert {entry.batch_id for entry in journal} == {result.batch_id}
    assert result.batch_id is not None and len(result.batch_id) == 32
    assert {(entry.action, entry.actor, entry.reason) for entry in journal} == {
        ("quarantine", "ops", "flaky")
    }
    p2 = next(entry for entry in journal if entry.target_id == "p2")
    assert p2.prior_state["quarantine_status"] is None
    assert p2.new_state["quarantined_at"] == NOW


def test_a_batch_where_every_pattern_is_already_there_writes_nothing(
    patterns: GlobalLearningStore,
) -> None:
    before = _raw(patterns, "patterns")
    result = patterns.apply_batch_action(
        patterns.preview_batch_action(["p6"], PatternAction.RETIRE)
    )
    assert (result.batch_id, result.applied, result.skipped) == (None, (), ("p6",))
    assert _raw(patterns, "patterns") == before
    assert patterns.journal() == []


@pytest.mark.parametrize("moved", ["p2", "p4"])  # a changing pattern, a skipped one
def test_one_pattern_changed_since_the_preview_refuses_the_whole_batch(
    patterns: GlobalLearningStore, store_url: str, moved: str
) -> None:
    preview = patterns.preview_batch_action(["p1", "p2", "p4"], PatternAction.QUARANTINE)
    other = GlobalLearningStore(store_url)  # another operator, through another connection
    try:
        other.apply_pattern_action(moved, PatternAction.VALIDATE)
    finally:
        other.close()
    before = _raw(patterns, "patterns")
    journal_before = _raw(patterns, tables.operator_journal.name)

    with pytest.raises(BatchConflictError) as refused:
        patterns.apply_batch_action(preview)

    assert list(refused.value.changed) == [moved]
    assert refused.value.changed[moved]["quarantine_status"] == "validated"  # type: ignore[index]
    assert _raw(patterns, "patterns") == before
    assert _raw(patterns, tables.operator_journal.name) == journal_before


def test_a_pattern_deleted_since_the_preview_refuses_the_batch(
    patterns: GlobalLearningStore,
) -> None:
    preview = patterns.preview_batch_action(["p1", "p5"], PatternAction.RETIRE)
    with patterns._engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM patterns WHERE id = 'p5'")
    before = _raw(patterns, "patterns")
    with pytest.raises(BatchConflictError) as refused:
        patterns.apply_batch_action(preview)
    assert dict(refused.value.changed) == {"p5": None}
    assert _raw(patterns, "patterns") == before  # p1 was not retired either
    assert patterns.journal() == []


def test_undo_of_the_last_action_points_at_its_batch_and_undo_batch_restores_all(
    patterns: GlobalLearningStore,
) -> None:
    original = _raw(patterns, "patterns")
    patterns.apply_pattern_action("p6", PatternAction.PENDING)  # a single action first
    single = _raw(patterns, "patterns")
    result = patterns.apply_batch_action(
        patterns.preview_batch_action(["p1", "p3", "p5"], PatternAction.RETIRE)
    )
    assert result.batch_id is not None

    with pytest.raises(BatchUndoRequiredError) as pointed:
        patterns.undo_last_action()
    assert (pointed.value.batch_id, pointed.value.count) == (result.batch_id, 3)
    preview = patterns.preview_batch_undo(result.batch_id)
    assert [entry.target_id for entry in preview.entries] == ["p1", "p3", "p5"]
    assert dict(preview.names) == {"p1": "pattern p1", "p3": "pattern p3",
                                   "p5": "pattern p5"}
    assert preview.conflicts == ()

    undone = patterns.undo_batch(result.batch_id, actor="ops")

    assert _raw(patterns, "patterns") == single  # byte for byte, the single action kept
    assert [entry.target_id for entry in undone] == ["p1", "p3", "p5"]
    assert all(entry.undone_at is not None for entry in undone)
    undo_rows = [entry for entry in patterns.journal() if entry.action == "undo"]
    assert sorted(entry.undoes for entry in undo_rows) == sorted(e.id for e in undone)
    (undo_batch,) = {entry.batch_id for entry in undo_rows}
    assert undo_batch not in (None, result.batch_id)
    assert patterns.undo_batch(result.batch_id) == ()  # nothing left to undo
    # The next undo walks back to the single action before the batch.
    entry = patterns.undo_last_action()
    assert entry is not None and entry.target_id == "p6"
    assert _raw(patterns, "patterns") == original


def test_undo_of_a_batch_is_refused_whole_when_one_pattern_moved_on(
    patterns: GlobalLearningStore,
) -> None:
    result = patterns.apply_batch_action(
        patterns.preview_batch_action(["p1", "p2", "p5"], PatternAction.VALIDATE)
    )
    assert result.batch_id is not None
    patterns.apply_pattern_action("p2", PatternAction.QUARANTINE, reason="later")
    assert patterns.preview_batch_undo(result.batch_id).conflicts == ("p2",)
    before = _raw(patterns, "patterns")
    journal_before = _raw(patterns, tables.operator_journal.name)

    with pytest.raises(UndoConflictError, match=r"1 of the batch's 3 patterns.*pattern p2"):
        patterns.undo_batch(result.batch_id)

    assert _raw(patterns, "patterns") == before
    assert _raw(patterns, tables.operator_journal.name) == journal_before


def test_ids_matching_a_filter_cover_every_page_in_the_list_order_up_to_the_bound(
    patterns: GlobalLearningStore,
) -> None:
    query = PatternQuery(statuses=("pending",), sort=PatternSort.PRIORITY, descending=True,
                         offset=1, limit=1)  # the page window is ignored
    matching = patterns.pattern_ids_matching(query, limit=100)
    assert matching.ids == ("p1", "p2", "p5") and matching.matching == 3
    assert matching.complete
    paged = [
        row.id for offset in range(3)
        for row in patterns.query_patterns(
            PatternQuery(statuses=("pending",), offset=offset, limit=1)).rows
    ]
    assert list(matching.ids) == paged
    cut = patterns.pattern_ids_matching(PatternQuery(sort=PatternSort.NAME,
                                                     descending=False), limit=2)
    assert (cut.ids, cut.matching, cut.complete) == (("p1", "p2"), 6, False)
    typed = patterns.pattern_ids_matching(PatternQuery(pattern_type="timeout"), limit=10)
    assert set(typed.ids) == {"p4", "p5", "p6"}


def test_existing_ids_are_those_still_stored(patterns: GlobalLearningStore) -> None:
    many = [f"x{number}" for number in range(1200)]  # more than one IN list
    assert patterns.existing_pattern_ids(["p1", "gone", *many, "p6", "p1"]) == {"p1", "p6"}


def test_a_journal_from_before_batch_ids_gains_the_column_at_the_next_action(
    sqlite_store: GlobalLearningStore,
) -> None:
    store = sqlite_store
    for name in ("first", "second", "third"):
        store.record_pattern("retry", name)
    first, second, third = sorted(row.id for row in store.query_patterns(PatternQuery()).rows)
    store.apply_pattern_action(first, PatternAction.RETIRE)
    path = Path(str(store.db_path))
    store.close()
    with sqlite3.connect(path) as conn:  # the journal as it was before batches
        conn.execute("ALTER TABLE marianne_tui_journal DROP COLUMN batch_id")

    viewer = GlobalLearningStore(path, read_only=True, create=False)
    try:
        (old,) = viewer.journal()
    finally:
        viewer.close()
    assert (old.target_id, old.batch_id) == (first, None)

    writer = GlobalLearningStore(path, create=False)
    try:
        result = writer.apply_batch_action(
            writer.preview_batch_action([second, third], PatternAction.RETIRE)
        )
        entries = writer.journal()
    finally:
        writer.close()
    assert [(e.target_id, e.batch_id) for e in entries] == [
        (third, result.batch_id), (second, result.batch_id), (first, None)
    ]


def test_patterns_by_id_reads_the_list_rows_of_the_ids_asked(
    patterns: GlobalLearningStore,
) -> None:
    rows = patterns.patterns_by_id(["p4", "gone", "p1", "p4"])
    assert [row.id for row in rows] == ["p4", "p1"]  # the order asked, once each
    (listed,) = patterns.query_patterns(PatternQuery(id_prefix="p4")).rows
    assert rows[0] == listed
    assert patterns.patterns_by_id([]) == ()
