"""Effectiveness and epistemic drift, scans, summaries and drift retirement (contract 8.1-8.5).

Expected values are worked out by hand from the contract's formulas:
eff(window) = (successes + 0.5) / (W + 1); exceeded = |drift| / max(avg grounding, 0.5) > t;
epistemic exceeded = |change| * (1 + sigma/mu) > t, sigma the population deviation.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import FrozenClock
from sqlalchemy import insert, select, update

from store import GlobalLearningStore, tables
from store.models import DriftMetrics, EpistemicDriftMetrics

# The contract's vector (8.1, 8.2): oldest first, five successes then five failures.
VECTOR = [
    (True, 0.9), (True, 0.85), (True, 0.8), (True, 0.75), (True, 0.7),
    (False, 0.65), (False, 0.6), (False, 0.55), (False, 0.5), (False, 0.45),
]


def add_pattern(
    store: GlobalLearningStore,
    pattern_id: str,
    *,
    name: str | None = None,
    priority: float = 0.5,
    status: str = "pending",
    last_seen: datetime | None = None,
    active: bool = True,
) -> str:
    """A pattern row written directly, so that tests control every column."""
    now = store.clock.local()
    with store._connection() as conn:
        conn.execute(
            insert(tables.patterns).values(
                id=pattern_id,
                pattern_type="validation_failure",
                pattern_name=name or f"name of {pattern_id}",
                description="d",
                occurrence_count=1,
                first_seen=now,
                last_seen=last_seen or now,
                last_confirmed=now,
                led_to_success_count=0,
                led_to_failure_count=0,
                effectiveness_score=0.5,
                variance=0.0,
                context_tags=[],
                priority_score=priority,
                quarantine_status=status,
                trust_score=0.5,
                active=active,
                content_hash=f"hash-{pattern_id}",
                instrument_name="claude",
            )
        )
    return pattern_id


def add_applications(
    store: GlobalLearningStore,
    clock: FrozenClock,
    pattern_id: str,
    outcomes: list[tuple[bool, float | None]],
) -> None:
    """Applications oldest first, one second apart on the frozen clock."""
    rows = []
    for success, grounding in outcomes:
        clock.advance(seconds=1)
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "pattern_id": pattern_id,
                "execution_id": "exec",
                "applied_at": clock.now,
                "pattern_led_to_success": success,
                "retry_count_before": 0,
                "retry_count_after": 0,
                "grounding_confidence": grounding,
            }
        )
    with store._connection() as conn:
        conn.execute(insert(tables.pattern_applications), rows)


def priority_of(store: GlobalLearningStore, pattern_id: str) -> tuple[float, str | None]:
    with store._connection() as conn:
        row = conn.execute(
            select(tables.patterns.c.priority_score, tables.patterns.c.suggested_action).where(
                tables.patterns.c.id == pattern_id
            )
        ).one()
    return row[0], row[1]


# ---------------------------------------------------------------------------------------
# 8.1 / 8.2: the contract's vectors, through the public API
# ---------------------------------------------------------------------------------------


def test_effectiveness_drift_contract_vector(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    pattern_id = store.record_pattern("validation_failure", "drifting down")
    for success, grounding in VECTOR:
        clock.advance(seconds=1)
        store.record_pattern_application(
            pattern_id, "exec", success, grounding_confidence=grounding
        )

    metrics = store.calculate_effectiveness_drift(pattern_id)

    assert metrics is not None
    assert metrics.pattern_id == pattern_id
    assert metrics.pattern_name == "drifting down"
    assert metrics.window_size == 5
    assert metrics.effectiveness_before == pytest.approx(5.5 / 6)  # 0.91667
    assert metrics.effectiveness_after == pytest.approx(0.5 / 6)  # 0.08333
    assert metrics.drift_magnitude == pytest.approx(5 / 6)  # 0.83333
    assert metrics.drift_direction == "negative"
    assert metrics.grounding_confidence_avg == pytest.approx(0.675)
    assert metrics.applications_analyzed == 10
    assert metrics.threshold_exceeded is True


def test_epistemic_drift_contract_vector(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    pattern_id = store.record_pattern("validation_failure", "drifting down")
    for success, grounding in VECTOR:
        clock.advance(seconds=1)
        store.record_pattern_application(
            pattern_id, "exec", success, grounding_confidence=grounding
        )

    metrics = store.calculate_epistemic_drift(pattern_id)

    assert metrics is not None
    assert metrics.confidence_before == pytest.approx(0.8)
    assert metrics.confidence_after == pytest.approx(0.55)
    assert metrics.belief_change == pytest.approx(-0.25)
    # sigma of ten values 0.05 apart: 0.05 * sqrt(99 / 12); mu = 0.675.
    assert metrics.belief_entropy == pytest.approx(0.2127616, abs=1e-7)
    assert metrics.drift_direction == "weakening"
    assert metrics.applications_analyzed == 10
    assert metrics.threshold_exceeded is True


def test_scans_and_summaries_agree_with_the_vector(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    add_pattern(store, "p-vector", name="vector")
    add_applications(store, clock, "p-vector", VECTOR)

    [drifting] = store.get_drifting_patterns()
    assert drifting.pattern_id == "p-vector"
    assert drifting.drift_magnitude == pytest.approx(5 / 6)
    assert drifting.grounding_confidence_avg == pytest.approx(0.675)
    [epistemic] = store.get_epistemic_drifting_patterns()
    assert epistemic.belief_change == pytest.approx(-0.25)
    assert epistemic.belief_entropy == pytest.approx(0.2127616, abs=1e-7)

    assert store.get_pattern_drift_summary() == {
        "total_patterns": 1,
        "patterns_analyzed": 1,
        "patterns_drifting": 1,
        "avg_drift_magnitude": pytest.approx(5 / 6),
        "most_drifted": "p-vector",
    }
    assert store.get_epistemic_drift_summary() == {
        "total_patterns": 1,
        "patterns_analyzed": 1,
        "patterns_with_epistemic_drift": 1,
        "avg_belief_change": pytest.approx(-0.25),
        "avg_belief_entropy": pytest.approx(0.2127616, abs=1e-7),
        "most_unstable": "p-vector",
    }


# ---------------------------------------------------------------------------------------
# Windows, NULL grounding, too little data
# ---------------------------------------------------------------------------------------


def test_unknown_pattern_gives_none(store: GlobalLearningStore) -> None:
    assert store.calculate_effectiveness_drift("nope") is None
    assert store.calculate_epistemic_drift("nope") is None


def test_too_few_applications_gives_none(store: GlobalLearningStore, clock: FrozenClock) -> None:
    add_pattern(store, "p")
    add_applications(store, clock, "p", VECTOR[:9])

    assert store.calculate_effectiveness_drift("p") is None
    assert store.calculate_epistemic_drift("p") is None
    assert store.get_drifting_patterns(drift_threshold=-1.0) == []
    assert store.get_pattern_drift_summary()["patterns_analyzed"] == 0


def test_epistemic_windows_skip_null_grounding(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    # Oldest first. Grounded newest first: 0.8 0.6 | 0.4 0.2 (W = 2).
    add_pattern(store, "p")
    add_applications(
        store, clock, "p",
        [(True, 0.2), (True, None), (True, 0.4), (False, 0.6), (False, None), (False, 0.8)],
    )

    metrics = store.calculate_epistemic_drift("p", window_size=2)
    assert metrics is not None
    assert metrics.confidence_after == pytest.approx(0.7)
    assert metrics.confidence_before == pytest.approx(0.3)
    assert metrics.belief_change == pytest.approx(0.4)
    # mu 0.5, population variance (0.09 + 0.01 + 0.01 + 0.09) / 4 = 0.05.
    assert metrics.belief_entropy == pytest.approx(0.05**0.5 / 0.5)
    assert metrics.drift_direction == "strengthening"
    assert metrics.threshold_exceeded is True
    [scanned] = store.get_epistemic_drifting_patterns(window_size=2)
    assert scanned == metrics

    # Effectiveness counts every row: newest four are F(0.8) F(None) F(0.6) T(0.4).
    drift = store.calculate_effectiveness_drift("p", window_size=2)
    assert drift is not None
    assert drift.effectiveness_after == pytest.approx(0.5 / 3)
    assert drift.effectiveness_before == pytest.approx(1.5 / 3)
    assert drift.grounding_confidence_avg == pytest.approx((0.8 + 0.6 + 0.4) / 3)
    [scanned_drift] = store.get_drifting_patterns(window_size=2)
    assert scanned_drift == drift


def test_epistemic_needs_2w_grounded_rows(store: GlobalLearningStore, clock: FrozenClock) -> None:
    add_pattern(store, "p")
    add_applications(store, clock, "p", [(True, None), *VECTOR[1:]])  # nine grounded of ten

    assert store.calculate_effectiveness_drift("p") is not None
    assert store.calculate_epistemic_drift("p") is None
    assert store.get_epistemic_drifting_patterns(drift_threshold=-1.0) == []
    assert store.get_epistemic_drift_summary()["patterns_analyzed"] == 0
    assert store.get_pattern_drift_summary()["patterns_analyzed"] == 1


def test_only_the_newest_2w_applications_count(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    add_pattern(store, "p")
    # Old history that must be ignored, then the vector.
    add_applications(store, clock, "p", [(False, 0.1)] * 7 + VECTOR)

    for metrics in (store.calculate_effectiveness_drift("p"), *store.get_drifting_patterns()):
        assert metrics is not None
        assert metrics.effectiveness_before == pytest.approx(5.5 / 6)
        assert metrics.grounding_confidence_avg == pytest.approx(0.675)


def test_effectiveness_threshold_is_strict_and_uses_the_grounding_floor(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    # W = 1: older success, newer failure -> 0.75 then 0.25, |drift| = 0.5 exactly.
    add_pattern(store, "ungrounded")
    add_applications(store, clock, "ungrounded", [(True, None), (False, None)])
    # Grounding 0.25 is floored to 0.5: weighted 0.5 / 0.5 = 1.0 (not 2.0).
    add_pattern(store, "weak")
    add_applications(store, clock, "weak", [(True, 0.25), (False, 0.25)])

    def exceeded(pattern_id: str, threshold: float) -> bool:
        metrics = store.calculate_effectiveness_drift(pattern_id, 1, threshold)
        assert metrics is not None
        scanned = {m.pattern_id for m in store.get_drifting_patterns(threshold, 1)}
        assert metrics.threshold_exceeded is (pattern_id in scanned)
        return metrics.threshold_exceeded

    assert exceeded("ungrounded", 0.5) is False  # 0.5 / 1.0 > 0.5 is false
    assert exceeded("ungrounded", 0.49) is True
    assert exceeded("weak", 1.0) is False  # would be 2.0 > 1.0 without the floor
    assert exceeded("weak", 0.99) is True


def test_epistemic_threshold_is_strict(store: GlobalLearningStore, clock: FrozenClock) -> None:
    # W = 1: 0.25 then 0.75. change 0.5, mu 0.5, sigma 0.25, entropy 0.5 -> weighted 0.75.
    add_pattern(store, "p")
    add_applications(store, clock, "p", [(True, 0.25), (True, 0.75)])

    at = store.calculate_epistemic_drift("p", 1, 0.75)
    below = store.calculate_epistemic_drift("p", 1, 0.74)
    assert at is not None and below is not None
    assert at.belief_entropy == pytest.approx(0.5)
    assert at.threshold_exceeded is False
    assert below.threshold_exceeded is True
    assert store.get_epistemic_drifting_patterns(0.75, 1) == []
    assert [m.pattern_id for m in store.get_epistemic_drifting_patterns(0.74, 1)] == ["p"]


def test_equal_timestamps_are_ordered_by_id_in_both_paths(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    """Documented tie-break: applied_at DESC, then id DESC."""
    add_pattern(store, "p")
    same_time = clock.now
    rows = [
        # id "b" sorts after "a", so with equal times "b" is the newer of the two.
        ("a", True, 0.2),
        ("b", False, 0.9),
    ]
    with store._connection() as conn:
        conn.execute(
            insert(tables.pattern_applications),
            [
                {"id": i, "pattern_id": "p", "applied_at": same_time,
                 "pattern_led_to_success": ok, "grounding_confidence": g}
                for i, ok, g in rows
            ],
        )

    drift = store.calculate_effectiveness_drift("p", 1, 0.0)
    epistemic = store.calculate_epistemic_drift("p", 1, 0.0)
    assert drift is not None and epistemic is not None
    assert drift.effectiveness_after == pytest.approx(0.25)  # "b" failed
    assert drift.effectiveness_before == pytest.approx(0.75)
    assert epistemic.confidence_after == pytest.approx(0.9)
    assert store.get_drifting_patterns(0.0, 1) == [drift]
    assert store.get_epistemic_drifting_patterns(0.0, 1) == [epistemic]


# ---------------------------------------------------------------------------------------
# W = 0 and negative windows
# ---------------------------------------------------------------------------------------


def test_window_zero_effectiveness_degenerates(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    add_pattern(store, "b")
    add_pattern(store, "a")
    add_pattern(store, "never-applied")
    add_applications(store, clock, "b", [(True, 0.9)])
    add_applications(store, clock, "a", [(False, None)])

    metrics = store.calculate_effectiveness_drift("never-applied", window_size=0)
    assert metrics == DriftMetrics(
        pattern_id="never-applied",
        pattern_name="name of never-applied",
        window_size=0,
        effectiveness_before=0.5,
        effectiveness_after=0.5,
        grounding_confidence_avg=1.0,
        drift_magnitude=0.0,
        drift_direction="stable",
        applications_analyzed=0,
        threshold_exceeded=False,
    )
    assert store.get_drifting_patterns(window_size=0) == []
    # Every pattern that has an application qualifies ("count >= 0"); ties keep id order.
    everything = store.get_drifting_patterns(drift_threshold=-1.0, window_size=0)
    assert [m.pattern_id for m in everything] == ["a", "b"]
    assert all(m.applications_analyzed == 0 for m in everything)


def test_window_zero_epistemic_raises(store: GlobalLearningStore, clock: FrozenClock) -> None:
    add_pattern(store, "p")
    add_applications(store, clock, "p", [(True, None)])

    assert store.calculate_epistemic_drift("unknown", window_size=0) is None
    with pytest.raises(ZeroDivisionError):
        store.calculate_epistemic_drift("p", window_size=0)
    # No grounded application yet: nothing qualifies, nothing to divide.
    assert store.get_epistemic_drifting_patterns(window_size=0) == []
    add_applications(store, clock, "p", [(True, 0.5)])
    with pytest.raises(ZeroDivisionError):
        store.get_epistemic_drifting_patterns(window_size=0)


def test_negative_window_is_refused(store: GlobalLearningStore) -> None:
    with pytest.raises(ValueError):
        store.calculate_effectiveness_drift("p", window_size=-1)
    with pytest.raises(ValueError):
        store.get_drifting_patterns(window_size=-1)
    with pytest.raises(ValueError):
        store.get_epistemic_drifting_patterns(window_size=-1)


# ---------------------------------------------------------------------------------------
# 8.3 ordering, orphans and summaries
# ---------------------------------------------------------------------------------------


def test_scan_sorts_by_magnitude_then_pattern_id_and_truncates(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    failing = [(True, None)] * 5 + [(False, None)] * 5  # magnitude 5/6
    slipping = [(True, None)] * 5 + [(True, None)] * 3 + [(False, None)] * 2  # 2/6
    for pattern_id in ("p-c", "p-b"):
        add_pattern(store, pattern_id)
        add_applications(store, clock, pattern_id, failing)
    add_pattern(store, "p-a")
    add_applications(store, clock, "p-a", slipping)

    assert [m.pattern_id for m in store.get_drifting_patterns()] == ["p-b", "p-c", "p-a"]
    assert [m.pattern_id for m in store.get_drifting_patterns(limit=1)] == ["p-b"]
    # Python slicing, as in Marianne: a negative limit drops from the end.
    assert [m.pattern_id for m in store.get_drifting_patterns(limit=-1)] == ["p-b", "p-c"]
    summary = store.get_pattern_drift_summary()
    assert summary["most_drifted"] == "p-b"  # first of the tied maxima, by id
    assert summary["patterns_drifting"] == 3
    assert summary["avg_drift_magnitude"] == pytest.approx((5 / 6 + 5 / 6 + 2 / 6) / 3)


def test_epistemic_scan_sorts_by_absolute_change(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    add_pattern(store, "up")
    add_applications(store, clock, "up", [(True, 0.4)] * 5 + [(True, 0.6)] * 5)  # +0.2
    add_pattern(store, "down")
    add_applications(store, clock, "down", [(True, 0.9)] * 5 + [(True, 0.5)] * 5)  # -0.4

    result = store.get_epistemic_drifting_patterns()
    assert [m.pattern_id for m in result] == ["down", "up"]
    summary = store.get_epistemic_drift_summary()
    assert summary["most_unstable"] == "down"
    assert summary["avg_belief_change"] == pytest.approx((0.2 - 0.4) / 2)  # signed
    assert summary["patterns_with_epistemic_drift"] == 2


def test_applications_of_missing_patterns_are_skipped(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    add_applications(store, clock, "gone", VECTOR)

    assert store.get_drifting_patterns() == []
    assert store.get_epistemic_drifting_patterns() == []
    # Marianne's quirk: when every qualifying id is orphaned, they are still "analyzed".
    assert store.get_pattern_drift_summary() == {
        "total_patterns": 0,
        "patterns_analyzed": 1,
        "patterns_drifting": 0,
        "avg_drift_magnitude": 0.0,
        "most_drifted": None,
    }
    assert store.get_epistemic_drift_summary() == {
        "total_patterns": 0,
        "patterns_analyzed": 1,
        "patterns_with_epistemic_drift": 0,
        "avg_belief_change": 0.0,
        "avg_belief_entropy": 0.0,
        "most_unstable": None,
    }

    # With one real pattern beside the orphan, only computed metrics count.
    add_pattern(store, "real")
    add_applications(store, clock, "real", VECTOR)
    assert store.get_pattern_drift_summary()["patterns_analyzed"] == 1
    assert store.get_epistemic_drift_summary()["patterns_analyzed"] == 1


def test_empty_store_summaries(store: GlobalLearningStore) -> None:
    add_pattern(store, "idle")
    assert store.get_pattern_drift_summary() == {
        "total_patterns": 1,
        "patterns_analyzed": 0,
        "patterns_drifting": 0,
        "avg_drift_magnitude": 0.0,
        "most_drifted": None,
    }
    assert store.get_epistemic_drift_summary() == {
        "total_patterns": 1,
        "patterns_analyzed": 0,
        "patterns_with_epistemic_drift": 0,
        "avg_belief_change": 0.0,
        "avg_belief_entropy": 0.0,
        "most_unstable": None,
    }


def test_summaries_count_inactive_patterns(store: GlobalLearningStore, clock: FrozenClock) -> None:
    add_pattern(store, "off", active=False)
    add_applications(store, clock, "off", VECTOR)
    assert store.get_pattern_drift_summary()["total_patterns"] == 1
    assert store.get_pattern_drift_summary()["patterns_analyzed"] == 1


# ---------------------------------------------------------------------------------------
# 8.5 retirement
# ---------------------------------------------------------------------------------------


def test_retire_drifting_patterns(store: GlobalLearningStore, clock: FrozenClock) -> None:
    add_pattern(store, "down", name="going down", status="validated")
    add_applications(store, clock, "down", VECTOR)
    add_pattern(store, "up", name="going up")
    add_applications(store, clock, "up", [(ok is False, g) for ok, g in VECTOR])

    preview = store.preview_retire_drifting_patterns()
    assert preview == [("down", "going down", pytest.approx(5 / 6))]
    assert priority_of(store, "down") == (0.5, None)  # the preview wrote nothing

    retired = store.retire_drifting_patterns()

    assert retired == preview
    assert priority_of(store, "down") == (
        0.0,
        "Auto-retired: drift negative (0.83), effectiveness 0.92 \u2192 0.08",
    )
    assert priority_of(store, "up") == (0.5, None)
    record = store.get_pattern_by_id("down")
    assert record is not None
    assert record.quarantine_status.value == "validated"
    assert record.active is True

    both = store.retire_drifting_patterns(require_negative_drift=False)
    assert [r[0] for r in both] == ["down", "up"]  # equal magnitudes: id order
    assert priority_of(store, "up") == (
        0.0,
        "Auto-retired: drift positive (0.83), effectiveness 0.08 \u2192 0.92",
    )


def test_retire_with_nothing_drifting(store: GlobalLearningStore) -> None:
    assert store.retire_drifting_patterns() == []
    assert store.preview_retire_drifting_patterns() == []


def test_get_retired_patterns_leaves_out_three_fields(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    start = clock.now
    add_pattern(store, "old", priority=0.0, last_seen=start - timedelta(days=2))
    add_pattern(store, "new", priority=0.0, last_seen=start - timedelta(days=1), active=False)
    add_pattern(store, "alive", priority=0.01)

    retired = store.get_retired_patterns()

    assert [p.id for p in retired] == ["new", "old"]
    for record in retired:
        assert record.active is True
        assert record.content_hash is None
        assert record.instrument_name is None
        assert record.priority_score == 0.0
    assert [p.id for p in store.get_retired_patterns(limit=1)] == ["new"]


# ---------------------------------------------------------------------------------------
# The console's report
# ---------------------------------------------------------------------------------------


def test_drift_report(store: GlobalLearningStore, clock: FrozenClock) -> None:
    add_pattern(store, "both", status="validated", priority=0.7)
    add_applications(store, clock, "both", VECTOR)
    # Effectiveness only (no grounding), magnitude 2/6.
    add_pattern(store, "eff-only")
    add_applications(store, clock, "eff-only", [(True, None)] * 8 + [(False, None)] * 2)
    # Stable in both.
    add_pattern(store, "calm")
    add_applications(store, clock, "calm", [(True, 0.8)] * 10)

    report = store.drift_report()

    assert [r.pattern_id for r in report.rows] == ["both", "eff-only"]
    both, eff_only = report.rows
    assert both.status == "validated"
    assert both.priority == 0.7
    assert both.effectiveness == store.calculate_effectiveness_drift("both")
    assert both.epistemic == store.calculate_epistemic_drift("both")
    assert eff_only.epistemic is None
    assert eff_only.effectiveness is not None
    assert eff_only.effectiveness.drift_magnitude == pytest.approx(2 / 6)
    assert report.summary == store.get_pattern_drift_summary()
    assert report.epistemic_summary == store.get_epistemic_drift_summary()

    everything = store.drift_report(only_exceeding=False)
    assert [r.pattern_id for r in everything.rows] == ["both", "eff-only", "calm"]
    assert [r.pattern_id for r in store.drift_report(limit=1).rows] == ["both"]

    other_window = store.drift_report(window_size=2)
    assert other_window.window_size == 2
    assert other_window.summary == store.get_pattern_drift_summary()
    with pytest.raises(ValueError):
        store.drift_report(window_size=0)


def test_drift_report_keeps_the_rows_whose_name_has_the_text(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    for pattern_id, name in (("a", "Retry on Timeout"), ("b", "retry storm"), ("c", "calm")):
        add_pattern(store, pattern_id, name=name)
        add_applications(store, clock, pattern_id, VECTOR)

    def shown(**kwargs: object) -> tuple[list[str], int, int]:
        report = store.drift_report(**kwargs)  # type: ignore[arg-type]
        return [r.pattern_id for r in report.rows], report.matching, report.total

    assert shown() == (["a", "b", "c"], 3, 3)
    assert shown(text=" RETRY ") == (["a", "b"], 2, 3)  # case folded, as typed
    assert shown(text="retry", limit=1, offset=1) == (["b"], 2, 3)  # pages of the matches
    assert shown(text="on t") == (["a"], 1, 3)
    assert shown(text="no such name") == ([], 0, 3)
    assert store.drift_report(text="Storm").text == "Storm"


# ---------------------------------------------------------------------------------------
# Equivalence of the set-based scans with the per-pattern reference
# ---------------------------------------------------------------------------------------


def _reference_effectiveness(
    store: GlobalLearningStore, threshold: float, window: int
) -> list[DriftMetrics]:
    """Marianne's loop: group by pattern id, one calculate call per qualifying id."""
    ids = _qualifying_ids(store, window, grounded=False)
    metrics = [store.calculate_effectiveness_drift(i, window, threshold) for i in ids]
    found = [m for m in metrics if m is not None and m.threshold_exceeded]
    found.sort(key=lambda m: m.drift_magnitude, reverse=True)
    return found


def _reference_epistemic(
    store: GlobalLearningStore, threshold: float, window: int
) -> list[EpistemicDriftMetrics]:
    ids = _qualifying_ids(store, window, grounded=True)
    metrics = [store.calculate_epistemic_drift(i, window, threshold) for i in ids]
    found = [m for m in metrics if m is not None and m.threshold_exceeded]
    found.sort(key=lambda m: abs(m.belief_change), reverse=True)
    return found


def _qualifying_ids(store: GlobalLearningStore, window: int, *, grounded: bool) -> list[str]:
    from sqlalchemy import func

    a = tables.pattern_applications.c
    statement = select(a.pattern_id).group_by(a.pattern_id).having(func.count() >= 2 * window)
    if grounded:
        statement = statement.where(a.grounding_confidence.is_not(None))
    with store._connection() as conn:
        ids = [row[0] for row in conn.execute(statement)]
    return sorted(i for i in ids if i is not None)


def _pattern_count(store: GlobalLearningStore) -> int:
    from sqlalchemy import func

    with store._connection() as conn:
        return int(conn.execute(select(func.count()).select_from(tables.patterns)).scalar_one())


def _reference_summary(store: GlobalLearningStore) -> dict[str, object]:
    ids = _qualifying_ids(store, 5, grounded=False)
    metrics = [m for m in (store.calculate_effectiveness_drift(i) for i in ids) if m]
    most = max(metrics, key=lambda m: m.drift_magnitude)
    return {
        "total_patterns": _pattern_count(store),
        "patterns_analyzed": len(metrics),
        "patterns_drifting": sum(1 for m in metrics if m.threshold_exceeded),
        "avg_drift_magnitude": pytest.approx(
            sum(m.drift_magnitude for m in metrics) / len(metrics)
        ),
        "most_drifted": most.pattern_id,
    }


def _reference_epistemic_summary(store: GlobalLearningStore) -> dict[str, object]:
    ids = _qualifying_ids(store, 5, grounded=True)
    metrics = [m for m in (store.calculate_epistemic_drift(i) for i in ids) if m]
    most = max(metrics, key=lambda m: abs(m.belief_change))
    return {
        "total_patterns": _pattern_count(store),
        "patterns_analyzed": len(metrics),
        "patterns_with_epistemic_drift": sum(1 for m in metrics if m.threshold_exceeded),
        "avg_belief_change": pytest.approx(sum(m.belief_change for m in metrics) / len(metrics)),
        "avg_belief_entropy": pytest.approx(
            sum(m.belief_entropy for m in metrics) / len(metrics)
        ),
        "most_unstable": most.pattern_id,
    }


def _assert_same_metrics(
    actual: list[DriftMetrics] | list[EpistemicDriftMetrics],
    expected: list[DriftMetrics] | list[EpistemicDriftMetrics],
) -> None:
    assert [m.pattern_id for m in actual] == [m.pattern_id for m in expected]
    for got, want in zip(actual, expected, strict=True):
        assert vars(got) == pytest.approx(vars(want))


def _assert_scans_match_reference(store: GlobalLearningStore) -> None:
    for window in (5, 3, 1):
        for threshold in (-1.0, 0.2, 0.5):
            _assert_same_metrics(
                store.get_drifting_patterns(threshold, window, limit=100_000),
                _reference_effectiveness(store, threshold, window),
            )
        for threshold in (-1.0, 0.15, 0.3):
            _assert_same_metrics(
                store.get_epistemic_drifting_patterns(threshold, window, limit=100_000),
                _reference_epistemic(store, threshold, window),
            )
    assert store.get_pattern_drift_summary() == _reference_summary(store)
    assert store.get_epistemic_drift_summary() == _reference_epistemic_summary(store)
    for window in (5, 2):
        _assert_report_matches_reference(store, window)


def _assert_report_matches_reference(store: GlobalLearningStore, window: int) -> None:
    """The report's single statement computes both drifts as the two calculate_* do."""
    report = store.drift_report(window_size=window, only_exceeding=False, limit=-1)
    ids = set(_qualifying_ids(store, window, grounded=False))
    expected_ids = {i for i in ids if store.calculate_effectiveness_drift(i, window)}
    assert {row.pattern_id for row in report.rows} == expected_ids
    for row in report.rows:
        effectiveness = store.calculate_effectiveness_drift(row.pattern_id, window, 0.2)
        epistemic = store.calculate_epistemic_drift(row.pattern_id, window, 0.15)
        assert row.effectiveness is not None and effectiveness is not None
        assert vars(row.effectiveness) == pytest.approx(vars(effectiveness))
        if epistemic is None:
            assert row.epistemic is None
        else:
            assert row.epistemic is not None
            assert vars(row.epistemic) == pytest.approx(vars(epistemic))
    assert report.summary == _reference_summary(store)
    assert report.epistemic_summary == _reference_epistemic_summary(store)


def test_set_based_scans_equal_the_reference_on_marianne_data(
    small_fixture: Path, clock: FrozenClock
) -> None:
    opened = GlobalLearningStore(small_fixture, clock=clock)
    try:
        with opened._connection() as conn:
            pattern_ids = [
                row[0] for row in conn.execute(select(tables.patterns.c.id).limit(20))
            ]
            # Sharpen the fixture: ties on applied_at, and applications of a lost pattern.
            a = tables.pattern_applications.c
            for pattern_id in pattern_ids[:10]:
                newest = conn.execute(
                    select(a.applied_at).where(a.pattern_id == pattern_id)
                    .order_by(a.applied_at.desc()).limit(1)
                ).scalar_one_or_none()
                if newest is not None:
                    conn.execute(
                        update(tables.pattern_applications)
                        .where(a.pattern_id == pattern_id)
                        .values(applied_at=newest)
                    )
        add_applications(opened, clock, "lost-pattern", VECTOR * 2)

        assert len(opened.get_drifting_patterns(-1.0, limit=1000)) > 50  # real coverage
        _assert_scans_match_reference(opened)
    finally:
        opened.close()


def test_set_based_scans_equal_the_reference_on_random_data(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    chooser = random.Random(20261125)
    rows = []
    start = clock.now
    for number in range(40):
        pattern_id = f"p{number:02d}"
        if number % 13:  # a few stay orphaned
            add_pattern(store, pattern_id)
        trend = chooser.uniform(-0.6, 0.6)
        for index in range(chooser.randint(0, 24)):
            ratio = index / 24
            rows.append(
                {
                    "id": str(uuid.UUID(int=chooser.getrandbits(128), version=4)),
                    "pattern_id": pattern_id,
                    # Few distinct instants, so many applications tie on applied_at.
                    "applied_at": start + timedelta(seconds=chooser.randint(0, 12)),
                    "pattern_led_to_success": chooser.random() < 0.5 + trend * (ratio - 0.5),
                    "grounding_confidence": None if chooser.random() < 0.3
                    else round(chooser.uniform(0.1, 1.0), 3),
                }
            )
    with store._connection() as conn:
        conn.execute(insert(tables.pattern_applications), rows)

    _assert_scans_match_reference(store)


def test_optional_drift_index_is_opt_in_and_changes_no_result(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    from sqlalchemy import inspect

    def index_names() -> set[str]:
        with store._connection() as conn:
            return {i["name"] for i in inspect(conn).get_indexes("pattern_applications")}

    add_pattern(store, "p")
    add_applications(store, clock, "p", VECTOR)
    before = (store.get_drifting_patterns(), store.get_epistemic_drifting_patterns())
    assert "idx_marianne_tui_app_pattern_applied" not in index_names()  # never on open

    assert store.add_drift_index() is True
    assert store.add_drift_index() is False
    assert "idx_marianne_tui_app_pattern_applied" in index_names()
    assert (store.get_drifting_patterns(), store.get_epistemic_drifting_patterns()) == before

    assert store.drop_drift_index() is True
    assert store.drop_drift_index() is False
    assert "idx_marianne_tui_app_pattern_applied" not in index_names()


def test_scans_through_the_drift_index_equal_the_reference(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    """With the optional index, each pattern's windows are read through it: same numbers."""
    chooser = random.Random(7)
    rows = []
    for number in range(30):
        pattern_id = f"q{number:02d}"
        if number % 11:
            add_pattern(store, pattern_id)
        for _ in range(chooser.randint(0, 30)):
            rows.append(
                {
                    "id": str(uuid.UUID(int=chooser.getrandbits(128), version=4)),
                    "pattern_id": pattern_id,
                    "applied_at": clock.now + timedelta(seconds=chooser.randint(0, 15)),
                    "pattern_led_to_success": chooser.random() < 0.5,
                    "grounding_confidence": None if chooser.random() < 0.4
                    else round(chooser.uniform(0.1, 1.0), 3),
                }
            )
    with store._connection() as conn:
        conn.execute(insert(tables.pattern_applications), rows)
    without = (store.get_drifting_patterns(-1.0, 3, 1000),
               store.get_epistemic_drifting_patterns(-1.0, 4, 1000),
               store.drift_report(only_exceeding=False, limit=-1))

    assert store.add_drift_index() is True
    assert store.has_drift_index()
    _assert_scans_match_reference(store)
    assert (store.get_drifting_patterns(-1.0, 3, 1000),
            store.get_epistemic_drifting_patterns(-1.0, 4, 1000),
            store.drift_report(only_exceeding=False, limit=-1)) == pytest.approx(without)
