"""Executions, workspace clusters, error recovery and learned waits (contract section 6).

Expected numbers are the contract's vectors or worked out by hand in the comments.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import FrozenClock, raw_rows
from sqlalchemy import insert

from store import GlobalLearningStore, metrics, tables
from store.base import hash_job, hash_workspace
from store.executions import SheetOutcome, SheetStatus

STARTED = datetime(2026, 11, 25, 14, 51, 17, 724279, tzinfo=UTC)


def outcome(
    sheet_id: str = "job-sheet12",
    *,
    job_id: str = "job-1",
    status: SheetStatus | str = SheetStatus.COMPLETED,
    vpr: float = 0.8,
    retries: int = 0,
    first_try: bool = True,
    duration: float = 12.5,
) -> SheetOutcome:
    return SheetOutcome(
        sheet_id=sheet_id,
        job_id=job_id,
        validation_results=[],
        execution_duration=duration,
        retry_count=retries,
        completion_mode_used=False,
        final_status=status,
        validation_pass_rate=vpr,
        success_without_retry=first_try,
        timestamp=STARTED,
    )


# -- formulas used by record_outcome ------------------------------------------------------


def test_sheet_number_vectors() -> None:
    assert metrics.sheet_number("job-sheet12") == 12
    assert metrics.sheet_number("sheet-01") == 1
    assert metrics.sheet_number("abc") == 0


@pytest.mark.parametrize(
    ("vpr", "retries", "first_try", "expected"),
    [
        (0.8, 0, True, 0.9),  # the contract's vector
        (0.8, 7, False, 0.3),  # retries count at most 5: 0.8 - 0.5
        (1.0, 0, True, 1.0),  # the bonus stops at 1
        (0.05, 2, False, 0.0),  # -0.15 clamped
        (0.95, 1, True, 0.95),  # 0.95 - 0.1 + 0.1
    ],
)
def test_execution_confidence(vpr: float, retries: int, first_try: bool, expected: float) -> None:
    assert metrics.execution_confidence(vpr, retries, first_try) == pytest.approx(expected)


# -- record_outcome -----------------------------------------------------------------------


def test_record_outcome_row(store: GlobalLearningStore, tmp_path: Path) -> None:
    execution_id = store.record_outcome(
        outcome(), tmp_path, model="m1", error_codes=["E101", "E102"]
    )
    (row,) = raw_rows(store, "executions")
    assert row["id"] == execution_id
    assert row["workspace_hash"] == hash_workspace(tmp_path)
    assert row["job_hash"] == hash_job("job-1")
    assert row["sheet_num"] == 12
    assert row["started_at"] == "2026-11-25T14:51:17.724279+00:00"  # the outcome's UTC time
    assert row["completed_at"] == "2026-11-25T12:00:00.250000"  # local now
    assert row["duration_seconds"] == 12.5
    assert row["status"] == "completed"
    assert row["retry_count"] == 0
    assert row["success_without_retry"] == 1
    assert row["validation_pass_rate"] == 0.8
    assert row["confidence_score"] == pytest.approx(0.9)
    assert row["model"] == "m1"
    assert row["error_codes"] == '["E101", "E102"]'
    # Nothing is written to patterns.
    assert raw_rows(store, "patterns") == []


def test_record_outcome_variants(store: GlobalLearningStore, tmp_path: Path) -> None:
    class ForeignStatus(Enum):
        SKIPPED = "skipped"

    store.record_outcome(outcome("sheet-01", status="failed", first_try=False), tmp_path)
    store.record_outcome(outcome("abc", status=ForeignStatus.SKIPPED), tmp_path)
    duck = SimpleNamespace(
        sheet_id="s7", job_id="job-2", timestamp=STARTED, execution_duration=1.0,
        final_status=SheetStatus.CANCELLED, retry_count=2, success_without_retry=False,
        validation_pass_rate=0.5,
    )
    store.record_outcome(duck, tmp_path)  # type: ignore[arg-type]
    rows = sorted(raw_rows(store, "executions"), key=lambda r: r["sheet_num"])
    assert [(r["sheet_num"], r["status"]) for r in rows] == [
        (0, "skipped"), (1, "failed"), (7, "cancelled"),
    ]
    assert all(r["error_codes"] == "[]" for r in rows)
    assert rows[1]["success_without_retry"] == 0
    assert rows[2]["confidence_score"] == pytest.approx(0.3)  # 0.5 - 0.2


def test_sheet_outcome_defaults_to_aware_utc() -> None:
    made = SheetOutcome("s1", "j", [], 1.0, 0, False, SheetStatus.COMPLETED, 1.0, True)
    assert made.timestamp.tzinfo is UTC
    assert made.patterns_detected == []
    assert SheetStatus.COMPLETED == "completed"


# -- reads --------------------------------------------------------------------------------


def test_execution_stats_empty(store: GlobalLearningStore) -> None:
    assert store.get_execution_stats() == {
        "total_executions": 0,
        "success_without_retry_rate": 0.0,
        "total_patterns": 0,
        "avg_pattern_effectiveness": 0.0,
        "total_error_recoveries": 0,
        "unique_workspaces": 0,
    }


def test_execution_stats(store: GlobalLearningStore, tmp_path: Path) -> None:
    store.record_outcome(outcome(), tmp_path / "a")
    store.record_outcome(outcome(first_try=False), tmp_path / "a")
    store.record_outcome(outcome(), tmp_path / "b")
    seen = datetime(2026, 11, 1)
    with store._engine.begin() as conn:
        for pattern_id, effectiveness, active in (("p1", 0.5, True), ("p2", 0.9, False)):
            conn.execute(
                insert(tables.patterns).values(
                    id=pattern_id, pattern_type="t", pattern_name=pattern_id,
                    first_seen=seen, last_seen=seen, last_confirmed=seen,
                    effectiveness_score=effectiveness, active=active,
                )
            )
    store.record_error_recovery("E101", 10.0, 12.0, True)
    stats = store.get_execution_stats()
    assert stats == {
        "total_executions": 3,
        "success_without_retry_rate": pytest.approx(2 / 3),
        "total_patterns": 2,  # inactive included
        "avg_pattern_effectiveness": pytest.approx(0.7),
        "total_error_recoveries": 1,
        "unique_workspaces": 2,
    }


def test_recent_executions(store: GlobalLearningStore, clock: FrozenClock, tmp_path: Path) -> None:
    store.record_outcome(outcome("s1", vpr=1.5, duration=-3.0), tmp_path / "a")
    clock.advance(seconds=1)
    store.record_outcome(outcome("s2"), tmp_path / "b")
    clock.advance(seconds=1)
    store.record_outcome(outcome("s3"), tmp_path / "a")

    recent = store.get_recent_executions()
    assert [r.sheet_num for r in recent] == [3, 2, 1]
    oldest = recent[-1]
    assert oldest.started_at == STARTED
    assert oldest.completed_at == datetime(2026, 11, 25, 12, 0, 0, 250000)
    assert oldest.validation_pass_rate == 1.0  # stored 1.5, clamped when read
    assert oldest.duration_seconds == 0.0  # stored -3.0, floored when read
    assert oldest.success_without_retry is True
    assert oldest.error_codes == []
    assert raw_rows(store, "executions")[0]["validation_pass_rate"] == 1.5

    workspace = hash_workspace(tmp_path / "a")
    assert [r.sheet_num for r in store.get_recent_executions(workspace_hash=workspace)] == [3, 1]
    assert len(store.get_recent_executions(workspace_hash="")) == 3  # only truthy filters
    assert [r.sheet_num for r in store.get_recent_executions(limit=1)] == [3]
    assert len(store.get_recent_executions(limit=-1)) == 3


def test_execution_with_null_columns_reads_as_defaults(store: GlobalLearningStore) -> None:
    with store._engine.begin() as conn:
        conn.execute(
            insert(tables.executions).values(
                id="bare", workspace_hash="w", job_hash="j", sheet_num=4
            )
        )
    (record,) = store.get_recent_executions()
    assert (record.started_at, record.completed_at) == (None, None)
    assert (record.duration_seconds, record.status, record.retry_count) == (0.0, "", 0)
    assert (record.success_without_retry, record.validation_pass_rate) == (False, 0.0)
    assert (record.confidence_score, record.error_codes) == (0.0, [])


def test_similar_executions(store: GlobalLearningStore, clock: FrozenClock, tmp_path: Path) -> None:
    store.record_outcome(outcome("s1", job_id="j1"), tmp_path / "a")
    clock.advance(seconds=1)
    store.record_outcome(outcome("s2", job_id="j1"), tmp_path / "b")
    clock.advance(seconds=1)
    store.record_outcome(outcome("s1", job_id="j2"), tmp_path / "a")

    def sheets(**kwargs: Any) -> list[tuple[str, int]]:
        return [(r.job_hash, r.sheet_num) for r in store.get_similar_executions(**kwargs)]

    j1, j2 = hash_job("j1"), hash_job("j2")
    assert sheets() == [(j2, 1), (j1, 2), (j1, 1)]
    assert sheets(job_hash=j1) == [(j1, 2), (j1, 1)]
    assert sheets(job_hash="j1") == []  # compared as given, not hashed
    assert sheets(job_hash="") == []  # not None: filters for ""
    assert sheets(workspace_hash=hash_workspace(tmp_path / "a"), sheet_num=1) == [
        (j2, 1), (j1, 1),
    ]
    assert sheets(sheet_num=2, limit=5) == [(j1, 2)]
    assert sheets(limit=1) == [(j2, 1)]


# -- optimal window -----------------------------------------------------------------------


def add_recoveries(
    store: GlobalLearningStore, hour: int, outcomes: list[bool], error_code: str = "E101"
) -> None:
    with store._engine.begin() as conn:
        for index, success in enumerate(outcomes):
            conn.execute(
                insert(tables.error_recoveries).values(
                    id=f"{error_code}-{hour}-{index}", error_code=error_code,
                    suggested_wait=10.0, actual_wait=10.0, recovery_success=success,
                    recorded_at=datetime(2026, 11, 25, hour, 0, index), time_of_day=hour,
                )
            )


def test_optimal_window_empty(store: GlobalLearningStore) -> None:
    assert store.get_optimal_execution_window() == {
        "optimal_hours": [], "avoid_hours": [], "confidence": 0.0, "sample_count": 0,
    }


def test_optimal_window(store: GlobalLearningStore) -> None:
    add_recoveries(store, 15, [True, False, True, False])  # 0.5: neither
    add_recoveries(store, 12, [True, True, True])  # 1.0: optimal
    add_recoveries(store, 13, [True, False, False, False])  # 0.25: avoid
    add_recoveries(store, 14, [False, False])  # two samples: not judged
    add_recoveries(store, 9, [True, True, False, True, True, False, True, True, True, True])
    add_recoveries(store, 3, [False, False, False], error_code="E999")  # 0.0: avoid
    # Every code: 4 + 3 + 4 + 2 + 10 + 3 = 26 samples; hour 9 is 8/10.
    assert store.get_optimal_execution_window() == {
        "optimal_hours": [9, 12],
        "avoid_hours": [3, 13],
        "confidence": pytest.approx(26 / 50),
        "sample_count": 26,
    }
    assert store.get_optimal_execution_window("E999", model="ignored") == {
        "optimal_hours": [], "avoid_hours": [3], "confidence": pytest.approx(0.06),
        "sample_count": 3,
    }
    add_recoveries(store, 20, [True] * 40, error_code="E500")
    assert store.get_optimal_execution_window()["confidence"] == 1.0  # 66 samples, capped


# -- workspace clusters -------------------------------------------------------------------


def test_workspace_clusters(store: GlobalLearningStore, clock: FrozenClock) -> None:
    assert store.get_workspace_cluster("w1") is None
    store.assign_workspace_cluster("w1", "c1")
    clock.advance(seconds=1)
    store.assign_workspace_cluster("w2", "c1")
    clock.advance(seconds=1)
    store.assign_workspace_cluster("w3", "c2")
    assert store.get_workspace_cluster("w1") == "c1"
    assert store.get_similar_workspaces("c1") == ["w2", "w1"]  # the asker included
    assert store.get_similar_workspaces("c1", limit=1) == ["w2"]
    assert store.get_similar_workspaces("nope") == []

    clock.advance(seconds=1)
    store.assign_workspace_cluster("w2", "c2")  # one cluster per workspace: replaced
    assert store.get_workspace_cluster("w2") == "c2"
    assert store.get_similar_workspaces("c1") == ["w1"]
    assert store.get_similar_workspaces("c2") == ["w2", "w3"]
    rows = {row["workspace_hash"]: row for row in raw_rows(store, "workspace_clusters")}
    assert len(rows) == 3
    assert rows["w2"]["assigned_at"] == "2026-11-25T12:00:03.250000"


# -- error recovery and learned waits -----------------------------------------------------


def test_record_error_recovery_row(store: GlobalLearningStore, clock: FrozenClock) -> None:
    clock.advance(hours=9)  # 21:00 local
    record_id = store.record_error_recovery("E101", 30.0, 45.5, True, model="m1")
    (row,) = raw_rows(store, "error_recoveries")
    assert row == {
        "id": record_id,
        "error_code": "E101",
        "suggested_wait": 30.0,
        "actual_wait": 45.5,
        "recovery_success": 1,
        "recorded_at": "2026-11-25T21:00:00.250000",
        "model": "m1",
        "time_of_day": 21,
    }


def test_learned_wait_vectors(store: GlobalLearningStore, clock: FrozenClock) -> None:
    assert store.get_learned_wait_time("E101") is None
    assert store.get_learned_wait_time_with_fallback("E101", 30.0) == (
        30.0, 0.0, "static_fallback",
    )
    for wait in (10.0, 20.0):
        store.record_error_recovery("E101", 30.0, wait, True)
        clock.advance(seconds=1)
    store.record_error_recovery("E101", 30.0, 1.0, False)  # failures are ignored
    assert store.get_learned_wait_time("E101") is None  # two samples < 3
    assert store.get_learned_wait_time("E101", min_samples=2) == 12.5  # (15 + 10) / 2
    store.record_error_recovery("E101", 30.0, 30.0, True)

    assert store.get_learned_wait_time("E101") == 15.0  # (20 + 10) / 2: the vector
    assert store.get_error_recovery_sample_count("E101") == 3
    # confidence 0.3, weight 0.3/0.7; 3/7 * max(15, 15) + 4/7 * 30 = 23.5714...
    delay, confidence, strategy = store.get_learned_wait_time_with_fallback("E101", 30.0)
    assert delay == pytest.approx(165 / 7)
    assert (confidence, strategy) == (pytest.approx(0.3), "global_learned_blend")


def test_learned_wait_high_confidence_and_floor(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    for _ in range(7):
        store.record_error_recovery("E101", 30.0, 10.0, True)
        clock.advance(seconds=1)
    # learned 10, confidence 0.7 >= 0.7: the floor 0.5 * 30 = 15 wins
    assert store.get_learned_wait_time_with_fallback("E101", 30.0) == (
        15.0, pytest.approx(0.7), "global_learned",
    )
    assert store.get_learned_wait_time_with_fallback("E101", 8.0) == (
        10.0, pytest.approx(0.7), "global_learned",
    )


def test_learned_wait_uses_the_last_twenty(store: GlobalLearningStore, clock: FrozenClock) -> None:
    for wait in range(1, 26):  # waits 1..25, oldest first
        store.record_error_recovery("E101", 30.0, float(wait), True)
        clock.advance(seconds=1)
    # the newest twenty are 6..25: mean 15.5, min 6 -> 10.75
    assert store.get_learned_wait_time("E101") == 10.75
    assert store.get_error_recovery_sample_count("E101") == 25  # no cap here


def test_learned_wait_model_filter(store: GlobalLearningStore, clock: FrozenClock) -> None:
    for wait, model in ((10.0, "m1"), (20.0, "m1"), (30.0, "m1"), (100.0, "m2")):
        store.record_error_recovery("E101", 30.0, wait, True, model=model)
        clock.advance(seconds=1)
    assert store.get_learned_wait_time("E101", model="m1") == 15.0
    assert store.get_learned_wait_time("E101", model="m2") is None
    assert store.get_learned_wait_time("E101", model="") == 25.0  # no filter: (40 + 10) / 2
    # The confidence count ignores the model: 4 samples -> 0.4.
    delay, confidence, strategy = store.get_learned_wait_time_with_fallback(
        "E101", 30.0, model="m1"
    )
    assert (confidence, strategy) == (pytest.approx(0.4), "global_learned_blend")
    assert delay == pytest.approx(4 / 7 * 15 + 3 / 7 * 30)


def test_nan_wait_is_stored_as_null_and_breaks_learning(store: GlobalLearningStore) -> None:
    for wait in (10.0, 20.0, math.nan):
        store.record_error_recovery("E101", 30.0, wait, True)
    assert [row["actual_wait"] for row in raw_rows(store, "error_recoveries")].count(None) == 1
    with pytest.raises(TypeError):
        store.get_learned_wait_time("E101")
