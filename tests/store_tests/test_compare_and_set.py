"""Compare-and-set: an action commits only if the row still holds what the dialog showed.

Two operators look at one pattern: the first quarantines it, the second had confirmed a
validate against the old "pending" state. The second must be refused, nothing written, and
told the state now.
"""

from __future__ import annotations

import pytest
from conftest import FrozenClock

from store import (
    ActionConflictError,
    EscalationOutcome,
    GlobalLearningStore,
    JournalSubject,
    PatternAction,
    UndoConflictError,
)
from store.base import pattern_id_for


@pytest.fixture
def shared(store: GlobalLearningStore) -> GlobalLearningStore:
    store.record_pattern(pattern_type="retry", pattern_name="flaky network", description="d")
    store.record_escalation_decision(
        job_id="job-1", sheet_num=2, confidence=0.4, action="retry",
        validation_pass_rate=40.0, retry_count=1,
    )
    return store


def _pattern_id(store: GlobalLearningStore) -> str:
    return pattern_id_for("retry", "flaky network")


def _escalation_id(store: GlobalLearningStore) -> str:
    (record,) = store.escalations_for_review(limit=5)
    return record.id


def test_a_pattern_changed_after_the_preview_is_refused_with_its_new_state(
    shared: GlobalLearningStore,
) -> None:
    pattern_id = _pattern_id(shared)
    seen = shared.preview_pattern_action(pattern_id, PatternAction.VALIDATE)
    assert seen.before["quarantine_status"] == "pending"
    # The other operator acts first.
    shared.apply_pattern_action(pattern_id, PatternAction.QUARANTINE, reason="other")

    with pytest.raises(ActionConflictError) as refused:
        shared.apply_pattern_action(pattern_id, PatternAction.VALIDATE,
                                    expected_before=seen.before)

    assert refused.value.current["quarantine_status"] == "quarantined"
    assert refused.value.current["quarantine_reason"] == "other"
    assert "quarantine_status" in str(refused.value)
    # Nothing written: the pattern stays quarantined and the journal holds one action.
    assert shared.get_pattern_by_id(pattern_id).quarantine_status.value == "quarantined"
    assert [entry.action for entry in shared.journal(target_id=pattern_id)] == ["quarantine"]


def test_a_status_change_the_dialog_did_not_show_still_refuses_the_action(
    shared: GlobalLearningStore, clock: FrozenClock,
) -> None:
    """Validating a validated pattern shows only ``validated_at`` changing; a retire by
    someone else (Marianne's retire stamps nothing) changes only the status. The preview's
    whole ``state`` is what must still hold."""
    pattern_id = _pattern_id(shared)
    shared.apply_pattern_action(pattern_id, PatternAction.VALIDATE)
    clock.advance(minutes=1)
    seen = shared.preview_pattern_action(pattern_id, PatternAction.VALIDATE)
    assert set(seen.before) == {"validated_at"}
    assert seen.state["quarantine_status"] == "validated"
    shared.retire_pattern(pattern_id)

    with pytest.raises(ActionConflictError) as refused:
        shared.apply_pattern_action(pattern_id, PatternAction.VALIDATE,
                                    expected_before=seen.state)

    assert refused.value.current["quarantine_status"] == "retired"
    assert shared.get_pattern_by_id(pattern_id).quarantine_status.value == "retired"


def test_an_unchanged_pattern_commits_and_a_second_identical_commit_is_refused(
    shared: GlobalLearningStore,
) -> None:
    # The second commit of the same confirmed dialog (a retry after a commit that did
    # happen) must not apply twice.
    pattern_id = _pattern_id(shared)
    seen = shared.preview_pattern_action(pattern_id, PatternAction.RETIRE)
    shared.apply_pattern_action(pattern_id, PatternAction.RETIRE, expected_before=seen.before)
    with pytest.raises(ActionConflictError):
        shared.apply_pattern_action(pattern_id, PatternAction.RETIRE,
                                    expected_before=seen.before)
    assert [entry.action for entry in shared.journal(target_id=pattern_id)] == ["retire"]


def test_an_escalation_outcome_is_compare_and_set_on_the_outcome(
    shared: GlobalLearningStore,
) -> None:
    escalation_id = _escalation_id(shared)
    shared.record_escalation_outcome(escalation_id, EscalationOutcome.FAILED, note="first")

    with pytest.raises(ActionConflictError) as refused:
        shared.record_escalation_outcome(
            escalation_id, EscalationOutcome.SUCCESS, note="second",
            expected_before={"outcome_after_action": None},
        )

    assert refused.value.current == {"outcome_after_action": "failed"}
    entries = shared.journal(target_id=escalation_id)
    assert [(entry.action, entry.reason) for entry in entries] == [("failed", "first")]


def test_undo_is_still_refused_when_the_row_changed_after_the_action(
    shared: GlobalLearningStore,
) -> None:
    pattern_id = _pattern_id(shared)
    shared.apply_pattern_action(pattern_id, PatternAction.VALIDATE)
    shared.quarantine_pattern(pattern_id, "the conductor")  # not journalled: a foreign change
    with pytest.raises(UndoConflictError):
        shared.undo_last_action(target_kind=JournalSubject.PATTERN)
    assert shared.get_pattern_by_id(pattern_id).quarantine_status.value == "quarantined"
