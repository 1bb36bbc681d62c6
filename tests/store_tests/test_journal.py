"""Operator actions: previews, journalled transitions, undo, and read-only refusal.

Rows are inserted with hand-written stored text (including a timestamp with a space
separator, which a datetime round trip would rewrite) so that undo is checked byte for byte.
"""

from __future__ import annotations

import getpass
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import FrozenClock
from sqlalchemy import insert

from store import (
    EscalationOutcome,
    GlobalLearningStore,
    JournalSubject,
    PatternAction,
    PatternQuery,
    ReadOnlyStoreError,
    UndoConflictError,
    tables,
)

NOW = "2026-11-25T12:00:00.250000"
LATER = "2026-11-25T12:05:00.250000"

#: id -> (status, quarantined_at, validated_at, quarantine_reason), as stored text
_STATES: dict[str, tuple[str | None, ...]] = {
    "a": ("quarantined", "2025-01-02 03:04:05", "2025-01-01T00:00:00+00:00", "old reason"),
    "b": ("pending", None, None, None),
    "c": ("validated", None, "2025-03-03T03:03:03.123000", None),
}
_STATE_KEYS = ("quarantine_status", "quarantined_at", "validated_at", "quarantine_reason")


def _state(pattern_id: str) -> dict[str, str | None]:
    return dict(zip(_STATE_KEYS, _STATES[pattern_id], strict=True))


@pytest.fixture
def triage(store: GlobalLearningStore) -> GlobalLearningStore:
    rows = [
        {
            "id": ident, "pattern_type": "retry", "pattern_name": f"pattern {ident}",
            "description": "d", "quarantine_status": status, "quarantined_at": quarantined,
            "validated_at": validated, "quarantine_reason": reason,
            "first_seen": "2026-01-01T00:00:00", "last_seen": "2026-01-01T00:00:00",
            "last_confirmed": "2026-01-01T00:00:00", "trust_score": 0.5,
        }
        for ident, (status, quarantined, validated, reason) in _STATES.items()
    ]
    escalations = [
        {
            "id": ident, "job_hash": "job", "sheet_num": 3, "confidence": 0.4,
            "action": "retry", "validation_pass_rate": 40.0, "retry_count": 1,
            "outcome_after_action": outcome, "recorded_at": "2026-11-25T09:00:00",
        }
        for ident, outcome in [("e1", None), ("e2", "aborted")]
    ]
    with store._engine.begin() as conn:
        conn.execute(insert(tables.patterns), rows)
        conn.execute(insert(tables.escalation_decisions), escalations)
    return store


def _raw(store: GlobalLearningStore, table: str) -> list[tuple[Any, ...]]:
    """Every row as the driver returns it, with no type conversion."""
    with store._engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY id").all()
        conn.rollback()
    return [tuple(row) for row in rows]


def _raw_state(store: GlobalLearningStore, pattern_id: str) -> dict[str, Any]:
    with store._engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT quarantine_status, quarantined_at, validated_at, quarantine_reason "
            f"FROM patterns WHERE id = '{pattern_id}'"
        ).one()
        conn.rollback()
    return dict(zip(_STATE_KEYS, row, strict=True))


def _changed_rows(
    before: list[tuple[Any, ...]], after: list[tuple[Any, ...]]
) -> list[Any]:
    return [old[0] for old, new in zip(before, after, strict=True) if old != new]


# -- pattern actions -------------------------------------------------------------------

_EXPECTED: list[tuple[str, PatternAction, str | None, dict[str, str | None]]] = [
    ("b", PatternAction.QUARANTINE, "flaky",
     {"quarantine_status": "quarantined", "quarantined_at": NOW,
      "quarantine_reason": "flaky"}),
    ("a", PatternAction.QUARANTINE, None,
     {"quarantined_at": NOW, "quarantine_reason": None}),
    ("a", PatternAction.VALIDATE, None,
     {"quarantine_status": "validated", "validated_at": NOW, "quarantine_reason": None}),
    ("c", PatternAction.RETIRE, "obsolete", {"quarantine_status": "retired"}),
    ("a", PatternAction.PENDING, None, {"quarantine_status": "pending"}),
]


@pytest.mark.parametrize(("target", "action", "reason", "changes"), _EXPECTED)
def test_action_changes_only_its_columns_of_its_row(
    triage: GlobalLearningStore,
    target: str,
    action: PatternAction,
    reason: str | None,
    changes: dict[str, str | None],
) -> None:
    store = triage
    prior = _state(target)
    preview = store.preview_pattern_action(target, action, reason)
    assert preview.target_kind == "pattern"
    assert (preview.target_id, preview.target_name) == (target, f"pattern {target}")
    assert preview.action == action.value
    assert dict(preview.after) == changes
    assert dict(preview.before) == {key: prior[key] for key in changes}

    before = _raw(store, "patterns")
    entry = store.apply_pattern_action(target, action, reason=reason)
    after = _raw(store, "patterns")

    expected = {**prior, **changes}
    assert _changed_rows(before, after) == [target]
    assert _raw_state(store, target) == expected
    assert dict(entry.prior_state) == prior
    assert dict(entry.new_state) == expected
    assert entry.target_kind == "pattern" and entry.target_id == target
    assert entry.action == action.value and entry.reason == reason
    assert (entry.actor, entry.host) == (getpass.getuser(), socket.gethostname())
    assert entry.who == f"{getpass.getuser()}@{socket.gethostname()}"
    assert entry.acted_at.isoformat() == NOW
    assert entry.undone_at is None and entry.undoes is None
    assert store.journal() == [entry]


def test_unknown_pattern_is_a_key_error_and_journals_nothing(
    triage: GlobalLearningStore,
) -> None:
    with pytest.raises(KeyError, match="no pattern with id 'nope'"):
        triage.preview_pattern_action("nope", PatternAction.RETIRE)
    with pytest.raises(KeyError, match="no pattern with id 'nope'"):
        triage.apply_pattern_action("nope", PatternAction.RETIRE)
    assert triage.journal() == []


def test_action_and_journal_commit_together(
    triage: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _raw(triage, "patterns")

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("journal unavailable")

    monkeypatch.setattr(triage, "_append_journal", broken)
    with pytest.raises(RuntimeError, match="journal unavailable"):
        triage.apply_pattern_action("b", PatternAction.RETIRE)
    monkeypatch.undo()
    assert _raw(triage, "patterns") == before
    assert triage.journal() == []


def test_actor_can_be_given(triage: GlobalLearningStore) -> None:
    entry = triage.apply_pattern_action("b", PatternAction.RETIRE, actor="ops@console")
    assert entry.actor == "ops@console"


def test_the_operator_and_host_of_the_store_are_journalled(
    triage: GlobalLearningStore,
) -> None:
    triage.operator = "night-shift"
    triage.operator_host = "bastion-2"
    entry = triage.apply_pattern_action("b", PatternAction.RETIRE)
    undo = triage.undo_last_action()
    assert undo is not None
    newest = triage.journal()[0]
    assert (entry.actor, entry.host, entry.who) == ("night-shift", "bastion-2",
                                                   "night-shift@bastion-2")
    assert (newest.action, newest.actor, newest.host) == ("undo", "night-shift", "bastion-2")
    # An actor given for one action wins over the store's operator.
    other = triage.apply_pattern_action("c", PatternAction.RETIRE, actor="alice")
    assert (other.actor, other.host) == ("alice", "bastion-2")


def test_a_journal_from_before_hosts_gains_the_column_at_the_next_action(
    sqlite_store: GlobalLearningStore,
) -> None:
    store = sqlite_store
    store.record_pattern("retry", "first")
    store.record_pattern("retry", "second")
    first, second = sorted(row.id for row in store.query_patterns(PatternQuery()).rows)
    store.apply_pattern_action(first, PatternAction.RETIRE, actor="old@laptop")
    path = store.db_path
    store.close()
    with sqlite3.connect(path) as conn:  # the journal as it was before the host column
        conn.execute("ALTER TABLE marianne_tui_journal DROP COLUMN host")

    viewer = GlobalLearningStore(path, read_only=True, create=False)
    try:
        (old,) = viewer.journal()
    finally:
        viewer.close()
    assert (old.actor, old.host, old.who) == ("old@laptop", None, "old@laptop")

    writer = GlobalLearningStore(path, create=False)
    try:
        writer.operator, writer.operator_host = "ops", "bastion-2"
        new = writer.apply_pattern_action(second, PatternAction.RETIRE)
        entries = writer.journal()
    finally:
        writer.close()
    assert (new.actor, new.host) == ("ops", "bastion-2")
    assert [(e.actor, e.host) for e in entries] == [("ops", "bastion-2"), ("old@laptop", None)]


# -- undo ------------------------------------------------------------------------------


@pytest.mark.parametrize(("target", "action", "reason", "changes"), _EXPECTED)
def test_undo_restores_the_stored_text_exactly(
    triage: GlobalLearningStore,
    clock: FrozenClock,
    target: str,
    action: PatternAction,
    reason: str | None,
    changes: dict[str, str | None],
) -> None:
    store = triage
    before = _raw(store, "patterns")
    entry = store.apply_pattern_action(target, action, reason=reason)
    clock.advance(minutes=5)

    undone = store.undo_last_action(actor="ops@console")

    assert _raw(store, "patterns") == before
    assert undone is not None
    assert undone.id == entry.id
    assert undone.undone_at is not None and undone.undone_at.isoformat() == LATER
    undo_entry, original = store.journal()
    assert original == undone
    assert undo_entry.action == "undo" and undo_entry.undoes == entry.id
    assert undo_entry.actor == "ops@console"
    assert (undo_entry.target_kind, undo_entry.target_id) == ("pattern", target)
    assert dict(undo_entry.prior_state) == dict(entry.new_state)
    assert dict(undo_entry.new_state) == _state(target)
    assert store.undo_last_action() is None


def test_undo_refuses_when_the_row_changed_since(triage: GlobalLearningStore) -> None:
    store = triage
    entry = store.apply_pattern_action("b", PatternAction.QUARANTINE, reason="flaky")
    assert store.validate_pattern("b")
    changed = _raw(store, "patterns")

    with pytest.raises(UndoConflictError, match="changed after journal entry"):
        store.undo_last_action()

    assert _raw(store, "patterns") == changed
    assert store.journal() == [entry]
    assert store.journal()[0].undone_at is None


def test_repeated_undo_walks_back_through_the_journal(
    triage: GlobalLearningStore, clock: FrozenClock
) -> None:
    store = triage
    original = _raw(store, "patterns")
    first = store.apply_pattern_action("b", PatternAction.QUARANTINE, reason="flaky")
    clock.advance(minutes=1)
    second = store.apply_pattern_action("b", PatternAction.VALIDATE)
    clock.advance(minutes=1)

    undone = store.undo_last_action()
    assert undone is not None and undone.id == second.id
    assert _raw_state(store, "b") == dict(first.new_state)

    undone = store.undo_last_action()
    assert undone is not None and undone.id == first.id
    assert _raw(store, "patterns") == original

    assert store.undo_last_action() is None
    journal = store.journal()
    assert [entry.action for entry in journal] == ["undo", "undo", "validate", "quarantine"]
    assert [entry.undoes for entry in journal] == [first.id, second.id, None, None]
    assert all(entry.undone_at is not None for entry in journal[2:])


def test_undo_of_one_target_kind(triage: GlobalLearningStore) -> None:
    store = triage
    pattern_entry = store.apply_pattern_action("c", PatternAction.RETIRE)
    escalation_entry = store.record_escalation_outcome("e1", EscalationOutcome.SUCCESS)

    undone = store.undo_last_action(target_kind=JournalSubject.PATTERN)
    assert undone is not None and undone.id == pattern_entry.id
    assert undone.target_kind is JournalSubject.PATTERN
    assert _raw_state(store, "c") == _state("c")
    assert store.journal(target_id="e1") == [escalation_entry]
    assert escalation_entry.target_kind is JournalSubject.ESCALATION
    # The newest entry overall is now the pattern's undo; a kind filter skips it.
    assert store.undo_last_action(target_kind=JournalSubject.ESCALATION) is not None
    assert store.journal(target_id="e1")[1].undone_at is not None


def test_nothing_to_undo(triage: GlobalLearningStore) -> None:
    assert triage.undo_last_action() is None
    assert triage.journal() == []


# -- escalation outcomes ---------------------------------------------------------------


def test_escalation_outcome_is_journalled_with_its_note(
    triage: GlobalLearningStore,
) -> None:
    store = triage
    preview = store.preview_escalation_outcome("e1", EscalationOutcome.SKIPPED)
    assert preview.target_kind == "escalation" and preview.target_id == "e1"
    assert preview.target_name == "sheet 3 of job job"
    assert dict(preview.before) == {"outcome_after_action": None}
    assert dict(preview.after) == {"outcome_after_action": "skipped"}

    before = _raw(store, "escalation_decisions")
    entry = store.record_escalation_outcome(
        "e1", EscalationOutcome.SKIPPED, note="operator: \x1b[2J[bold]checked[/]"
    )
    after = _raw(store, "escalation_decisions")
    assert _changed_rows(before, after) == ["e1"]
    assert entry.reason == "operator: \x1b[2J[bold]checked[/]"
    assert (entry.action, entry.target_kind) == ("skipped", "escalation")
    assert dict(entry.prior_state) == {"outcome_after_action": None}
    assert dict(entry.new_state) == {"outcome_after_action": "skipped"}
    assert store.pending_escalation_count() == 0

    assert store.undo_last_action() is not None
    assert _raw(store, "escalation_decisions") == before
    assert store.pending_escalation_count() == 1


def test_escalation_outcome_accepts_only_the_four_values(
    triage: GlobalLearningStore,
) -> None:
    assert triage.record_escalation_outcome("e2", "failed").new_state == {  # type: ignore[arg-type]
        "outcome_after_action": "failed"
    }
    with pytest.raises(ValueError):
        triage.record_escalation_outcome("e1", "bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        triage.preview_escalation_outcome("e1", "done")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="no escalation decision with id 'e9'"):
        triage.record_escalation_outcome("e9", EscalationOutcome.SUCCESS)
    with pytest.raises(KeyError):
        triage.preview_escalation_outcome("e9", EscalationOutcome.SUCCESS)
    assert len(triage.journal()) == 1


# -- journal reads ---------------------------------------------------------------------


def test_journal_is_newest_first_limited_and_filtered(triage: GlobalLearningStore) -> None:
    store = triage
    first = store.apply_pattern_action("a", PatternAction.RETIRE)
    second = store.apply_pattern_action("b", PatternAction.RETIRE)
    third = store.apply_pattern_action("a", PatternAction.VALIDATE)
    assert store.journal() == [third, second, first]
    assert store.journal(limit=2) == [third, second]
    assert store.journal(target_id="a") == [third, first]
    assert store.journal(target_id="zzz") == []


# -- read-only stores and Marianne's files ---------------------------------------------


def test_read_only_store_refuses_every_action(triage: GlobalLearningStore) -> None:
    entry = triage.apply_pattern_action("b", PatternAction.RETIRE)
    location = triage.url if triage.is_postgresql else triage.db_path
    viewer = GlobalLearningStore(location, read_only=True)
    try:
        with pytest.raises(ReadOnlyStoreError):
            viewer.apply_pattern_action("a", PatternAction.RETIRE)
        with pytest.raises(ReadOnlyStoreError):
            viewer.record_escalation_outcome("e1", EscalationOutcome.SUCCESS)
        with pytest.raises(ReadOnlyStoreError):
            viewer.undo_last_action()
        assert viewer.journal() == [entry]
        assert viewer.preview_pattern_action("a", PatternAction.RETIRE).after == {
            "quarantine_status": "retired"
        }
    finally:
        viewer.close()
    assert _raw_state(triage, "a") == _state("a")


def _sqlite_tables(path: Path | str) -> set[str]:
    with sqlite3.connect(path) as raw:
        names = {row[0] for row in raw.execute("SELECT name FROM sqlite_master")}
    raw.close()
    return names


def test_journal_table_appears_only_at_the_first_action(empty_fixture: Path) -> None:
    before = _sqlite_tables(empty_fixture)
    store = GlobalLearningStore(empty_fixture)
    try:
        assert store.journal() == []
        assert store.undo_last_action() is None
        store.change_token()
        assert _sqlite_tables(empty_fixture) == before
        pattern_id = store.record_pattern("retry", "First one")
        store.apply_pattern_action(pattern_id, PatternAction.QUARANTINE, reason="why")
        assert _sqlite_tables(empty_fixture) == before | {"marianne_tui_journal"}
        assert [entry.action for entry in store.journal()] == ["quarantine"]
    finally:
        store.close()


def test_read_only_viewer_of_a_store_without_journal(
    sqlite_store: GlobalLearningStore,
) -> None:
    viewer = GlobalLearningStore(sqlite_store.db_path, read_only=True)
    try:
        assert viewer.journal() == []
        with pytest.raises(ReadOnlyStoreError):
            viewer.undo_last_action()
    finally:
        viewer.close()
    assert "marianne_tui_journal" not in _sqlite_tables(sqlite_store.db_path)
