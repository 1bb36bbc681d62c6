"""Trust scores and success factors ("why") of patterns (contract sections 5.8 and 5.9).

Expected numbers are the contract's vectors or worked out by hand in the comments.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import FrozenClock, raw_rows
from sqlalchemy import insert, update

from store import GlobalLearningStore, patterns_trust, tables
from store.models import SuccessFactors

NOW_TEXT = "2026-11-25T12:00:00.250000"  # the frozen clock's local time, as stored


def add_pattern(
    store: GlobalLearningStore,
    pattern_id: str,
    *,
    occurrence_count: int = 1,
    successes: int = 0,
    failures: int = 0,
    last_confirmed: datetime | None = None,
    status: str | None = "pending",
    priority: float = 0.5,
    trust: float | None = 0.5,
    effectiveness: float = 0.5,
    active: bool = True,
    success_factors: dict[str, Any] | None = None,
) -> None:
    """A pattern row written with Core, so these tests do not depend on record_pattern."""
    seen = datetime(2026, 11, 1, 9, 0, 0)
    with store._engine.begin() as conn:
        conn.execute(
            insert(tables.patterns).values(
                id=pattern_id,
                pattern_type="validation_failure",
                pattern_name=f"name of {pattern_id}",
                occurrence_count=occurrence_count,
                first_seen=seen,
                last_seen=seen,
                last_confirmed=last_confirmed or seen,
                led_to_success_count=successes,
                led_to_failure_count=failures,
                effectiveness_score=effectiveness,
                variance=0.0,
                context_tags=[],
                priority_score=priority,
                quarantine_status=status,
                trust_score=trust,
                active=active,
                success_factors=success_factors,
            )
        )


def raw_pattern(store: GlobalLearningStore, pattern_id: str) -> dict[str, Any]:
    (row,) = [r for r in raw_rows(store, "patterns") if r["id"] == pattern_id]
    return row


# -- trust ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        # 0.5 + 0.3*0.6 - 0.4*0.2 + 0.2*0.9^1.5 = 0.6 + 0.17076299 ...
        ("pending", 0.77076299),
        ("quarantined", 0.57076299),  # - 0.2
        ("validated", 0.87076299),  # + 0.1
        (None, 0.77076299),  # NULL status reads as pending
    ],
)
def test_trust_vector(
    store: GlobalLearningStore, clock: FrozenClock, status: str | None, expected: float
) -> None:
    add_pattern(
        store,
        "p1",
        occurrence_count=10,
        successes=6,
        failures=2,
        last_confirmed=clock.now - timedelta(days=45),
        status=status,
    )
    clock.advance(hours=3)  # still 45 whole days
    score = store.calculate_trust_score("p1")
    assert score == pytest.approx(expected, abs=1e-8)
    row = raw_pattern(store, "p1")
    assert row["trust_score"] == pytest.approx(expected, abs=1e-8)
    assert row["trust_calculation_date"] == "2026-11-25T15:00:00.250000"


def test_brand_new_pattern_scores_0_7_and_becomes_high_trust(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    pattern_id = store.record_pattern("validation_failure", "file not created")
    assert store.get_high_trust_patterns() == []
    assert store.calculate_trust_score(pattern_id) == pytest.approx(0.7)
    assert [p.id for p in store.get_high_trust_patterns()] == [pattern_id]


def test_zero_occurrences_count_as_one(store: GlobalLearningStore, clock: FrozenClock) -> None:
    # N = 1: 0.5 - 0.4*min(1, 1/1) + 0.2 = 0.3
    add_pattern(store, "p0", occurrence_count=0, failures=1, last_confirmed=clock.now)
    assert store.calculate_trust_score("p0") == pytest.approx(0.3)
    # Ratios are capped at 1: s = 5 of N = 2 gives 0.5 + 0.3 + 0.2 = 1.0, clamped there.
    add_pattern(store, "p5", occurrence_count=2, successes=5, last_confirmed=clock.now)
    assert store.calculate_trust_score("p5") == pytest.approx(1.0)


def test_trust_is_clamped_at_zero(store: GlobalLearningStore, clock: FrozenClock) -> None:
    # 0.5 - 0.4 + 0.2*0.9^(300/30) - 0.2 = -0.1 + 0.0697 < 0
    add_pattern(
        store,
        "bad",
        occurrence_count=1,
        failures=3,
        last_confirmed=clock.now - timedelta(days=300),
        status="quarantined",
    )
    assert store.calculate_trust_score("bad") == 0.0


def test_unknown_id_gives_none_and_writes_nothing(store: GlobalLearningStore) -> None:
    add_pattern(store, "p1")
    assert store.calculate_trust_score("nope") is None
    assert store.update_trust_score("nope", 0.1) is None
    assert raw_pattern(store, "p1")["trust_calculation_date"] is None


def test_update_trust_score_adds_and_clamps(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    add_pattern(store, "p1", trust=0.5)
    assert store.update_trust_score("p1", 0.3) == pytest.approx(0.8)
    assert raw_pattern(store, "p1")["trust_score"] == pytest.approx(0.8)
    assert raw_pattern(store, "p1")["trust_calculation_date"] == NOW_TEXT
    assert store.update_trust_score("p1", 0.5) == 1.0
    assert store.update_trust_score("p1", -2.0) == 0.0
    assert raw_pattern(store, "p1")["trust_score"] == 0.0


def test_update_trust_starts_from_the_clamped_stored_value(store: GlobalLearningStore) -> None:
    add_pattern(store, "high", trust=1.7)  # stored raw, read back as 1.0
    assert store.update_trust_score("high", -0.25) == pytest.approx(0.75)
    add_pattern(store, "null", trust=None)  # NULL reads as 0.5
    assert store.update_trust_score("null", 0.1) == pytest.approx(0.6)


def test_recalculate_all_matches_one_by_one(
    store: GlobalLearningStore, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A chunk of two makes the five patterns span three reads.
    monkeypatch.setattr(patterns_trust, "_RECALCULATION_CHUNK", 2)
    confirmed = clock.now - timedelta(days=45)
    add_pattern(store, "a", occurrence_count=10, successes=6, failures=2,
                last_confirmed=confirmed)
    add_pattern(store, "b", occurrence_count=10, successes=6, failures=2,
                last_confirmed=confirmed, status="validated", active=False)
    add_pattern(store, "c", occurrence_count=10, successes=6, failures=2,
                last_confirmed=confirmed, status="quarantined")
    add_pattern(store, "d", last_confirmed=clock.now)
    add_pattern(store, "e", occurrence_count=0, failures=1, last_confirmed=clock.now)
    clock.advance(minutes=5)

    assert store.recalculate_all_trust_scores() == 5
    expected = {"a": 0.77076299, "b": 0.87076299, "c": 0.57076299, "d": 0.7, "e": 0.3}
    rows = {row["id"]: row for row in raw_rows(store, "patterns")}
    for pattern_id, trust in expected.items():
        assert rows[pattern_id]["trust_score"] == pytest.approx(trust, abs=1e-8)
        assert rows[pattern_id]["trust_calculation_date"] == "2026-11-25T12:05:00.250000"

    # The one-by-one method, which is Marianne's, stores exactly the same numbers.
    for pattern_id in expected:
        assert store.calculate_trust_score(pattern_id) == rows[pattern_id]["trust_score"]


def test_recalculate_all_on_an_empty_store(store: GlobalLearningStore) -> None:
    assert store.recalculate_all_trust_scores() == 0


def test_recalculate_all_fails_on_a_legacy_status(store: GlobalLearningStore) -> None:
    add_pattern(store, "a")
    add_pattern(store, "legacy", status="active")
    with pytest.raises(ValueError):
        store.recalculate_all_trust_scores()
    with pytest.raises(ValueError):
        store.calculate_trust_score("legacy")


# -- success factors ----------------------------------------------------------------------


def test_first_success_factors_are_stored_as_given(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    add_pattern(store, "p1", successes=3, failures=1)
    factors = store.update_success_factors(
        "p1", validation_types=["regex", "file"], prior_sheet_status="completed"
    )
    assert factors == SuccessFactors(
        validation_types=["regex", "file"],
        error_categories=[],
        prior_sheet_status="completed",
        time_of_day_bucket="afternoon",  # 12:00
        retry_iteration=0,
        escalation_was_pending=False,
        grounding_confidence=None,
        occurrence_count=1,
        success_rate=1.0,  # a new record starts at 1.0, whatever s and f are
    )
    row = raw_pattern(store, "p1")
    assert row["success_factors"] == (
        '{"validation_types": ["regex", "file"], "error_categories": [], '
        '"prior_sheet_status": "completed", "time_of_day_bucket": "afternoon", '
        '"retry_iteration": 0, "escalation_was_pending": false, '
        '"grounding_confidence": null, "occurrence_count": 1, "success_rate": 1.0}'
    )
    assert row["success_factors_updated_at"] == NOW_TEXT
    assert store.get_success_factors("p1") == factors


def test_later_success_factors_are_merged(store: GlobalLearningStore, clock: FrozenClock) -> None:
    add_pattern(store, "p1", successes=3, failures=1)
    store.update_success_factors(
        "p1",
        validation_types=["regex", "file"],
        error_categories=["timeout"],
        prior_sheet_status="completed",
        retry_iteration=2,
        escalation_was_pending=True,
        grounding_confidence=0.8,
    )
    clock.advance(hours=6)  # 18:00
    factors = store.update_success_factors(
        "p1", validation_types=["artifact", "file"], prior_sheet_status=""
    )
    assert factors is not None
    assert factors.validation_types == ["artifact", "file", "regex"]  # sorted union
    assert factors.error_categories == ["timeout"]  # no new ones: kept
    assert factors.prior_sheet_status == "completed"  # "" is not truthy: kept
    assert factors.time_of_day_bucket == "evening"
    assert factors.retry_iteration == 0  # always overwritten
    assert factors.escalation_was_pending is False
    assert factors.grounding_confidence == 0.8  # None keeps it
    assert factors.occurrence_count == 2
    assert factors.success_rate == 0.75  # 3 / (3 + 1)
    row = raw_pattern(store, "p1")
    assert json.loads(row["success_factors"]) == {
        "validation_types": ["artifact", "file", "regex"],
        "error_categories": ["timeout"],
        "prior_sheet_status": "completed",
        "time_of_day_bucket": "evening",
        "retry_iteration": 0,
        "escalation_was_pending": False,
        "grounding_confidence": 0.8,
        "occurrence_count": 2,
        "success_rate": 0.75,
    }
    assert row["success_factors_updated_at"] == "2026-11-25T18:00:00.250000"


def test_success_rate_is_kept_without_applications(store: GlobalLearningStore) -> None:
    add_pattern(store, "p1", success_factors={"occurrence_count": 4, "success_rate": 0.25})
    factors = store.update_success_factors("p1")
    assert factors is not None
    assert (factors.occurrence_count, factors.success_rate) == (5, 0.25)


def test_success_factors_of_unknown_or_bare_patterns(store: GlobalLearningStore) -> None:
    add_pattern(store, "bare")
    assert store.update_success_factors("nope", validation_types=["x"]) is None
    assert store.get_success_factors("nope") is None
    assert store.get_success_factors("bare") is None


def test_why_of_unknown_and_bare_patterns(store: GlobalLearningStore) -> None:
    assert store.analyze_pattern_why("nope") == {"error": "Pattern nope not found"}
    add_pattern(store, "bare", trust=1.4, effectiveness=0.61)
    assert store.analyze_pattern_why("bare") == {
        "pattern_name": "name of bare",
        "pattern_type": "validation_failure",
        "has_factors": False,
        "trust_score": 1.0,  # clamped record value
        "effectiveness_score": 0.61,
        "factors_summary": "No success factors captured yet",
        "key_conditions": [],
        "confidence": 0.0,
        "recommendations": ["Apply this pattern more times to capture success factors"],
    }


def test_why_with_factors(store: GlobalLearningStore) -> None:
    add_pattern(
        store,
        "p1",
        trust=0.7,
        success_factors={
            "validation_types": ["file", "regex"],
            "error_categories": ["auth"],
            "prior_sheet_status": "completed",
            "time_of_day_bucket": "afternoon",
            "retry_iteration": 0,
            "escalation_was_pending": False,
            "grounding_confidence": 0.8,
            "occurrence_count": 2,
            "success_rate": 0.75,
        },
    )
    assert store.analyze_pattern_why("p1") == {
        "pattern_name": "name of p1",
        "pattern_type": "validation_failure",
        "has_factors": True,
        "trust_score": 0.7,
        "effectiveness_score": 0.5,
        "factors_summary": (
            "validation types: file, regex; error categories: auth; "
            "typically succeeds in: afternoon; prior sheet was: completed"
        ),
        "key_conditions": [
            "High grounding confidence (0.80)",
            "Succeeds on first attempt",
            "Works with 2 validation types",
            "Succeeds without escalation",
        ],
        "confidence": pytest.approx(0.15),  # min(1, 2/10) * 0.75
        "recommendations": [
            "Need more observations for reliable analysis",
            "Best applied during afternoon",
        ],
        "observation_count": 2,
        "success_rate": 0.75,
    }


def test_why_with_sparse_factors(store: GlobalLearningStore) -> None:
    add_pattern(
        store,
        "low",
        success_factors={
            "retry_iteration": 2,
            "escalation_was_pending": True,
            "grounding_confidence": 0.7,  # not above 0.7
            "occurrence_count": 12,
            "success_rate": 0.4,
        },
    )
    why = store.analyze_pattern_why("low")
    assert why["factors_summary"] == "Context captured"
    assert why["key_conditions"] == ["Often succeeds after 2 retries"]
    assert why["confidence"] == pytest.approx(0.4)  # min(1, 12/10) * 0.4
    assert why["recommendations"] == ["Low success rate - review pattern relevance"]

    add_pattern(store, "high", success_factors={"occurrence_count": 5, "success_rate": 0.9})
    assert store.analyze_pattern_why("high")["recommendations"] == [
        "High confidence pattern - consider for auto-apply"
    ]


def test_patterns_with_why(store: GlobalLearningStore) -> None:
    add_pattern(store, "top", priority=0.9, success_factors={"occurrence_count": 3})
    add_pattern(store, "off", priority=0.8, active=False, success_factors={"occurrence_count": 2})
    add_pattern(store, "once", priority=0.7, success_factors={"occurrence_count": 1})
    add_pattern(store, "tie-b", priority=0.6, trust=0.9, success_factors={"occurrence_count": 2})
    add_pattern(store, "tie-a", priority=0.6, trust=0.4, success_factors={"occurrence_count": 2})
    add_pattern(store, "bare", priority=1.0)

    found = store.get_patterns_with_why()
    assert [p.id for p, _ in found] == ["top", "off", "once", "tie-b", "tie-a"]
    for pattern, why in found:
        assert why == store.analyze_pattern_why(pattern.id)

    # The observation filter runs after the limit, so the result can come back short.
    assert [p.id for p, _ in store.get_patterns_with_why(min_observations=2, limit=3)] == [
        "top",
        "off",
    ]
    assert store.get_patterns_with_why(min_observations=4) == []
    assert [p.id for p, _ in store.get_patterns_with_why(limit=-1)][-1] == "tie-a"


def test_factors_update_through_a_batch(store: GlobalLearningStore) -> None:
    add_pattern(store, "p1", successes=1)
    with store._batch() as conn:
        store.update_success_factors("p1", error_categories=["b"])
        store.update_success_factors("p1", error_categories=["a"])
        conn.execute(update(tables.patterns).values(led_to_failure_count=1))
        store.calculate_trust_score("p1")
    factors = store.get_success_factors("p1")
    assert factors is not None
    assert (factors.error_categories, factors.occurrence_count) == (["a", "b"], 2)
