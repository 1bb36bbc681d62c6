"""Escalation decisions (contract section 9)."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import FrozenClock
from sqlalchemy import select

from store import GlobalLearningStore, tables


def _integrity_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [sqlite3.IntegrityError]
    try:
        import psycopg

        errors.append(psycopg.IntegrityError)
    except ImportError:  # pragma: no cover - PostgreSQL extras not installed
        pass
    return tuple(errors)


def test_record_and_read_back(store: GlobalLearningStore, clock: FrozenClock) -> None:
    record_id = store.record_escalation_decision(
        "myjob", 3, 0.42, "retry", 66.5, 2, guidance="try again", model="opus"
    )

    [record] = store.get_escalation_history()
    assert record.id == record_id
    assert record.job_hash == "3be846aefbc4433e"  # hash_job("myjob"), contract 1.3
    assert record.sheet_num == 3
    assert record.confidence == 0.42
    assert record.action == "retry"
    assert record.validation_pass_rate == 66.5
    assert record.retry_count == 2
    assert record.guidance == "try again"
    assert record.outcome_after_action is None
    assert record.recorded_at == clock.now  # naive local time
    assert record.model == "opus"


def test_values_are_stored_raw_and_clamped_when_read(store: GlobalLearningStore) -> None:
    record_id = store.record_escalation_decision("job", 1, 1.7, "reboot", 250.0, 0)

    with store._connection() as conn:
        row = conn.execute(
            select(tables.escalation_decisions).where(tables.escalation_decisions.c.id == record_id)
        ).one()
    assert row.confidence == 1.7
    assert row.action == "reboot"
    [record] = store.get_escalation_history()
    assert record.confidence == 1.0
    assert record.action == "abort"
    assert record.validation_pass_rate == 250.0
    # Filters use the stored string, not the record's.
    assert [r.id for r in store.get_escalation_history(action="reboot")] == [record_id]
    assert store.get_escalation_history(action="abort") == []


def test_nan_confidence_violates_not_null(store: GlobalLearningStore) -> None:
    with pytest.raises(_integrity_errors()):
        store.record_escalation_decision("job", 1, float("nan"), "retry", 50.0, 0)
    assert store.get_escalation_history() == []


def test_history_filters_orders_and_limits(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    first = store.record_escalation_decision("a", 1, 0.5, "retry", 50.0, 0)
    clock.advance(seconds=1)
    second = store.record_escalation_decision("b", 1, 0.5, "skip", 50.0, 0)
    clock.advance(seconds=1)
    third = store.record_escalation_decision("a", 2, 0.5, "skip", 50.0, 0)

    assert [r.id for r in store.get_escalation_history()] == [third, second, first]
    assert [r.id for r in store.get_escalation_history(job_id="a")] == [third, first]
    assert [r.id for r in store.get_escalation_history(action="skip")] == [third, second]
    assert [r.id for r in store.get_escalation_history(job_id="a", action="skip")] == [third]
    assert [r.id for r in store.get_escalation_history(limit=1)] == [third]
    assert len(store.get_escalation_history(limit=-1)) == 3
    assert store.get_escalation_history(job_id="nobody") == []


def test_similar_escalation_ranks_outcome_then_closeness(store: GlobalLearningStore) -> None:
    # Recorded in an order that is neither the outcome order nor the closeness order.
    failed = store.record_escalation_decision("j", 1, 0.5, "abort", 50.0, 0, None, "failed")
    unknown = store.record_escalation_decision("j", 1, 0.55, "retry", 50.0, 0)
    skipped = store.record_escalation_decision("j", 1, 0.6, "skip", 55.0, 0, None, "skipped")
    success = store.record_escalation_decision("j", 1, 0.62, "retry", 60.0, 0, None, "success")

    ranked = store.get_similar_escalation(0.5, 50.0)

    assert [r.id for r in ranked] == [success, skipped, unknown, failed]


def test_similar_escalation_closeness_within_a_rank(store: GlobalLearningStore) -> None:
    # closeness = |dc| + |dv| / 100: 0.1 + 0.0 = 0.1, 0.0 + 5/100 = 0.05, 0.02 + 0.02 = 0.04
    far = store.record_escalation_decision("j", 1, 0.6, "retry", 50.0, 0)
    middle = store.record_escalation_decision("j", 1, 0.5, "retry", 55.0, 0)
    near = store.record_escalation_decision("j", 1, 0.52, "retry", 48.0, 0)

    assert [r.id for r in store.get_similar_escalation(0.5, 50.0)] == [near, middle, far]
    assert [r.id for r in store.get_similar_escalation(0.5, 50.0, limit=2)] == [near, middle]


def test_similar_escalation_tolerances_are_inclusive_on_raw_values(
    store: GlobalLearningStore,
) -> None:
    # Values chosen to be exact in binary: |0.25 - 0.5| = 0.25 and |65 - 50| = 15.
    edge = store.record_escalation_decision("j", 1, 0.25, "retry", 65.0, 0)
    store.record_escalation_decision("j", 1, 0.25, "retry", 65.5, 0)  # rate just outside
    store.record_escalation_decision("j", 1, 0.24, "retry", 50.0, 0)  # confidence outside
    raw = store.record_escalation_decision("j", 1, 1.5, "retry", 50.0, 0)  # reads as 1.0

    found = store.get_similar_escalation(0.5, 50.0, confidence_tolerance=0.25)
    assert [r.id for r in found] == [edge]
    # A stored 1.5 is compared raw: 0.5 away from 1.0, not 0.0.
    assert [r.id for r in store.get_similar_escalation(1.0, 50.0)] == []
    assert [r.id for r in store.get_similar_escalation(1.5, 50.0)] == [raw]


def test_update_escalation_outcome(store: GlobalLearningStore) -> None:
    record_id = store.record_escalation_decision("j", 1, 0.5, "retry", 50.0, 0)

    assert store.update_escalation_outcome(record_id, "success") is True
    assert store.get_escalation_history()[0].outcome_after_action == "success"
    assert store.update_escalation_outcome(record_id, "anything at all") is True
    assert store.get_escalation_history()[0].outcome_after_action == "anything at all"
    assert store.update_escalation_outcome("unknown-id", "success") is False
