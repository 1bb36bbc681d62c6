"""Exploration budget, pattern entropy and entropy responses (contract section 10).

Expected numbers are the contract's vectors or worked out by hand in the comments.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta

import pytest
from conftest import FrozenClock
from sqlalchemy import insert, select, text

from store import GlobalLearningStore, tables
from store.budget import EntropyResponseConfig, EntropyTriggerContext
from store.models import PatternEntropyMetrics

# -- helpers: rows written directly, so these tests do not depend on the pattern API ----


def add_pattern(
    store: GlobalLearningStore,
    pattern_id: str,
    *,
    status: str = "pending",
    last_seen: datetime | None = None,
    active: bool = True,
    quarantined_at: datetime | None = None,
) -> None:
    seen = last_seen or datetime(2026, 11, 1, 9, 0, 0)
    with store._engine.begin() as conn:
        conn.execute(
            insert(tables.patterns).values(
                id=pattern_id,
                pattern_type="validation_failure",
                pattern_name=f"name of {pattern_id}",
                first_seen=seen,
                last_seen=seen,
                last_confirmed=seen,
                context_tags=[],
                quarantine_status=status,
                quarantined_at=quarantined_at,
                quarantine_reason="low effectiveness" if status == "quarantined" else None,
                active=active,
            )
        )


def add_applications(store: GlobalLearningStore, pattern_id: str, count: int) -> None:
    with store._engine.begin() as conn:
        for _ in range(count):
            conn.execute(
                insert(tables.pattern_applications).values(
                    id=str(uuid.uuid4()),
                    pattern_id=pattern_id,
                    execution_id="exec",
                    applied_at=datetime(2026, 11, 20, 8, 0, 0),
                    pattern_led_to_success=True,
                )
            )


def raw_values(store: GlobalLearningStore, sql: str) -> list[tuple[object, ...]]:
    with store._engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql))]


# -- budget -----------------------------------------------------------------------------


def test_budget_sequence_initial_decay_boost(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    expected = [
        (0.5, 0.15, "initial", "Initial budget set"),
        (0.5, 0.1425, "decay", "Entropy 0.500 >= threshold, decaying"),
        (0.5, 0.135375, "decay", "Entropy 0.500 >= threshold, decaying"),
        (0.1, 0.235375, "boost", "Entropy 0.100 < threshold 0.300"),
        (0.1, 0.335375, "boost", "Entropy 0.100 < threshold 0.300"),
    ]
    for entropy, value, kind, reason in expected:
        clock.advance(seconds=1)
        record = store.calculate_budget_adjustment("job-a", entropy)
        assert record.budget_value == pytest.approx(value, abs=1e-12)
        assert (record.adjustment_type, record.adjustment_reason) == (kind, reason)
        assert record.entropy_at_time == entropy
        assert record.recorded_at == clock.now

    current = store.get_exploration_budget("job-a")
    assert current is not None
    assert current.budget_value == pytest.approx(0.335375, abs=1e-12)
    history = store.get_exploration_budget_history("job-a")
    assert [round(r.budget_value, 9) for r in history] == [
        0.335375, 0.235375, 0.135375, 0.1425, 0.15
    ]
    assert [len(store.get_exploration_budget_history("job-a", limit=2))] == [2]


def test_twenty_one_decays_stay_above_the_floor_and_the_22nd_is_floored(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    store.calculate_budget_adjustment("job", 0.9)
    for _ in range(21):
        clock.advance(seconds=1)
        record = store.calculate_budget_adjustment("job", 0.9)
        assert record.adjustment_type == "decay"
    # 0.15 * 0.95**21 = 0.0510842...
    assert record.budget_value == pytest.approx(0.0510842, abs=1e-7)
    clock.advance(seconds=1)
    floored = store.calculate_budget_adjustment("job", 0.9)
    # 0.0510842 * 0.95 = 0.04853 < 0.05
    assert floored.budget_value == 0.05
    assert floored.adjustment_type == "floor_enforced"
    assert floored.adjustment_reason == "Budget 0.049 enforced to floor 0.050"
    stats = store.get_exploration_budget_statistics("job")
    assert stats["total_adjustments"] == 23
    assert stats["decay_count"] == 21
    assert stats["floor_enforcements"] == 1
    assert stats["boost_count"] == 0
    assert stats["current_budget"] == 0.05
    assert stats["min_budget"] == 0.05
    assert stats["max_budget"] == 0.15


def test_ceiling_enforced_including_infinity(store: GlobalLearningStore) -> None:
    record = store.update_exploration_budget("job", 0.7, "boost", adjustment_reason="why")
    assert (record.budget_value, record.adjustment_type) == (0.5, "ceiling_enforced")
    assert record.adjustment_reason == "Budget 0.700 enforced to ceiling 0.500"
    record = store.update_exploration_budget("job", math.inf, "boost", floor=0.1, ceiling=0.4)
    assert (record.budget_value, record.adjustment_type) == (0.4, "ceiling_enforced")
    assert record.adjustment_reason == "Budget inf enforced to ceiling 0.400"


def test_nan_budget_is_stored_as_the_ceiling_with_the_callers_type(
    store: GlobalLearningStore,
) -> None:
    record = store.update_exploration_budget("job", math.nan, "decay", adjustment_reason="r")
    assert (record.budget_value, record.adjustment_type, record.adjustment_reason) == (
        0.5, "decay", "r"
    )
    stored = store.get_exploration_budget("job")
    assert stored is not None
    assert (stored.budget_value, stored.adjustment_type) == (0.5, "decay")


def test_nan_entropy_stays_nan_in_the_record_and_is_stored_as_null(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    store.calculate_budget_adjustment("job", 0.5)
    clock.advance(seconds=1)
    record = store.calculate_budget_adjustment("job", math.nan)
    # NaN is not below the threshold, so it decays.
    assert record.adjustment_type == "decay"
    assert record.adjustment_reason == "Entropy nan >= threshold, decaying"
    assert record.entropy_at_time is not None and math.isnan(record.entropy_at_time)
    stored = store.get_exploration_budget("job")
    assert stored is not None and stored.entropy_at_time is None
    assert raw_values(store, "SELECT COUNT(*) FROM exploration_budget "
                             "WHERE entropy_at_time IS NULL") == [(1,)]


def test_budget_job_filter_is_applied_only_when_truthy(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    store.update_exploration_budget("job-a", 0.2, "initial")
    clock.advance(seconds=1)
    store.update_exploration_budget("job-b", 0.3, "initial")
    for any_job in (None, ""):
        latest = store.get_exploration_budget(any_job)
        assert latest is not None and latest.job_hash == "job-b"
        assert len(store.get_exploration_budget_history(any_job)) == 2
    only_a = store.get_exploration_budget("job-a")
    assert only_a is not None and only_a.budget_value == 0.2
    assert store.get_exploration_budget("job-c") is None


def test_budget_statistics_keys_and_counts(store: GlobalLearningStore, clock: FrozenClock) -> None:
    kinds = [(0.15, "initial"), (0.25, "boost"), (0.9, "boost"), (0.2375, "decay")]
    for value, kind in kinds:
        clock.advance(seconds=1)
        store.update_exploration_budget("job", value, kind)
    stats = store.get_exploration_budget_statistics()
    assert list(stats) == [
        "current_budget", "avg_budget", "min_budget", "max_budget",
        "total_adjustments", "floor_enforcements", "boost_count", "decay_count",
    ]
    # Stored: 0.15, 0.25, 0.5 (ceiling_enforced), 0.2375 -> mean 1.1375 / 4.
    assert stats["current_budget"] == 0.2375
    assert stats["avg_budget"] == pytest.approx(0.284375)
    assert (stats["min_budget"], stats["max_budget"]) == (0.15, 0.5)
    assert stats["total_adjustments"] == 4
    # ceiling_enforced and initial rows count only in the total.
    assert (stats["floor_enforcements"], stats["boost_count"], stats["decay_count"]) == (0, 1, 1)


# -- entropy ----------------------------------------------------------------------------


def test_entropy_vector_one_two_three_four(store: GlobalLearningStore, clock: FrozenClock) -> None:
    for index, count in enumerate([1, 2, 3, 4]):
        add_pattern(store, f"p{index}", active=index != 2)
        add_applications(store, f"p{index}", count)
    add_pattern(store, "never-applied")
    add_applications(store, "no-such-pattern", 5)  # orphans are ignored

    result = store.calculate_pattern_entropy()
    # p = .1 .2 .3 .4: H = .332193 + .464386 + .521090 + .528771 = 1.846439
    assert result.shannon_entropy == pytest.approx(1.8464393, abs=1e-7)
    assert result.max_possible_entropy == 2.0  # log2(4 applied patterns)
    assert result.diversity_index == pytest.approx(0.9232197, abs=1e-7)
    assert result.dominant_pattern_share == pytest.approx(0.4)
    assert result.unique_pattern_count == 5
    assert result.effective_pattern_count == 4
    assert result.total_applications == 10
    assert result.threshold_exceeded is False
    assert result.calculated_at == clock.now

    needed, diversity, reason = store.check_entropy_response_needed("job")
    assert needed is False
    assert diversity == pytest.approx(0.9232197, abs=1e-7)
    assert reason == "Entropy 0.923 >= threshold 0.300 (healthy)"
    needed, _, reason = store.check_entropy_response_needed("job", entropy_threshold=0.95)
    assert needed is True
    assert reason == "Entropy 0.923 < threshold 0.950"


def test_single_pattern_gives_negative_zero_and_always_needs_a_response(
    store: GlobalLearningStore,
) -> None:
    add_pattern(store, "only")
    add_applications(store, "only", 3)
    add_pattern(store, "idle")
    result = store.calculate_pattern_entropy()
    assert result.shannon_entropy == 0.0
    assert math.copysign(1.0, result.shannon_entropy) == -1.0
    assert math.copysign(1.0, result.diversity_index) == -1.0
    assert (result.max_possible_entropy, result.dominant_pattern_share) == (1.0, 1.0)
    assert (result.unique_pattern_count, result.effective_pattern_count) == (2, 1)

    needed, diversity, reason = store.check_entropy_response_needed("job")
    assert needed is True
    assert diversity is not None and math.copysign(1.0, diversity) == -1.0
    assert reason == "Entropy -0.000 < threshold 0.300"
    # Any positive threshold, however small, asks for a response.
    assert store.check_entropy_response_needed("job", entropy_threshold=1e-9)[0] is True


def test_record_and_read_entropy_history(store: GlobalLearningStore) -> None:
    older = PatternEntropyMetrics(
        calculated_at=datetime(2026, 11, 24, 10, 0, 0),
        shannon_entropy=1.5, max_possible_entropy=2.0, diversity_index=0.75,
        unique_pattern_count=6, effective_pattern_count=4, total_applications=40,
        dominant_pattern_share=0.5, threshold_exceeded=True,
    )
    newer = PatternEntropyMetrics(
        calculated_at=datetime(2026, 11, 25, 10, 0, 0, 123456),
        shannon_entropy=0.5, max_possible_entropy=1.0, diversity_index=0.5,
        unique_pattern_count=3, effective_pattern_count=2, total_applications=8,
        dominant_pattern_share=0.875,
    )
    ids = [store.record_pattern_entropy(older), store.record_pattern_entropy(newer)]
    assert all(len(record_id) == 36 for record_id in ids)
    assert store.get_pattern_entropy_history() == [newer, older]
    assert store.get_pattern_entropy_history(limit=1) == [newer]
    assert raw_values(
        store, "SELECT calculated_at, threshold_exceeded FROM pattern_entropy_history "
               "ORDER BY calculated_at"
    ) == [("2026-11-24T10:00:00", 1), ("2026-11-25T10:00:00.123456", 0)]


# -- entropy responses ------------------------------------------------------------------


def test_trigger_positional_boosts_and_revisits(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    flagged = datetime(2026, 11, 2, 9, 0, 0)
    for day in range(1, 6):
        add_pattern(
            store, f"q{day}", status="quarantined", last_seen=datetime(2026, 11, day),
            quarantined_at=flagged, active=day != 5,
        )
    add_pattern(store, "fine", status="validated", last_seen=datetime(2026, 11, 30))

    response = store.trigger_entropy_response("job", 0.1, 0.3)
    assert response.actions_taken == ["budget_boost", "quarantine_revisit"]
    assert response.budget_boosted is True
    # Three most recently seen quarantined patterns, inactive ones included.
    assert response.patterns_revisited == ["q5", "q4", "q3"]
    assert response.quarantine_revisits == 3
    assert (response.job_hash, response.entropy_at_trigger, response.threshold_used) == (
        "job", 0.1, 0.3
    )
    assert response.recorded_at == clock.now

    budget = store.get_exploration_budget("job")
    assert budget is not None
    assert budget.budget_value == pytest.approx(0.25)  # 0.15 start + 0.10 boost
    assert budget.adjustment_type == "boost"
    assert budget.adjustment_reason == "Entropy response: diversity 0.100 < 0.300"
    assert budget.entropy_at_time == 0.1

    rows = raw_values(
        store, "SELECT id, quarantine_status, quarantine_reason, quarantined_at "
               "FROM patterns ORDER BY id"
    )
    revisit = "Entropy response: revisiting for revalidation"
    assert rows == [
        ("fine", "validated", None, None),
        ("q1", "quarantined", "low effectiveness", "2026-11-02T09:00:00"),
        ("q2", "quarantined", "low effectiveness", "2026-11-02T09:00:00"),
        ("q3", "pending", revisit, "2026-11-02T09:00:00"),
        ("q4", "pending", revisit, "2026-11-02T09:00:00"),
        ("q5", "pending", revisit, "2026-11-02T09:00:00"),
    ]
    assert raw_values(
        store, "SELECT actions_taken, budget_boosted, quarantine_revisits, patterns_revisited "
               "FROM entropy_responses"
    ) == [('["budget_boost", "quarantine_revisit"]', 1, 3, '["q5", "q4", "q3"]')]
    assert store.get_last_entropy_response("job") == response


def test_trigger_bundled_with_config_and_overrides(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    store.update_exploration_budget("other-job", 0.3, "initial")
    clock.advance(seconds=1)
    add_pattern(store, "q", status="quarantined")
    config = EntropyResponseConfig(revisit_quarantine=False, budget_boost_amount=0.4)
    trigger = EntropyTriggerContext(job_hash="", entropy_at_trigger=0.05, threshold_used=0.2)

    # The trigger's fields win over the positional ones; "" reads any job's budget.
    response = store.trigger_entropy_response(
        "ignored", 0.9, 0.9, trigger=trigger, config=config, budget_ceiling=0.6
    )
    assert config == EntropyResponseConfig(revisit_quarantine=False, budget_boost_amount=0.4)
    assert (response.job_hash, response.entropy_at_trigger, response.threshold_used) == (
        "", 0.05, 0.2
    )
    assert response.actions_taken == ["budget_boost"]
    assert (response.quarantine_revisits, response.patterns_revisited) == (0, [])
    latest = store.get_exploration_budget("")
    assert latest is not None and latest.job_hash == ""
    # 0.3 (other job's latest row) + 0.4 = 0.7 > 0.6
    assert (latest.budget_value, latest.adjustment_type) == (0.6, "ceiling_enforced")
    assert latest.adjustment_reason == "Budget 0.700 enforced to ceiling 0.600"
    assert raw_values(store, "SELECT quarantine_status FROM patterns") == [("quarantined",)]

    # Keyword overrides switch the config's choices the other way.
    clock.advance(seconds=1)
    second = store.trigger_entropy_response(
        "job", 0.1, 0.3, config=config, boost_budget=False, revisit_quarantine=True,
        max_quarantine_revisits=5,
    )
    assert second.actions_taken == ["quarantine_revisit"]
    assert (second.budget_boosted, second.patterns_revisited) == (False, ["q"])
    assert config.revisit_quarantine is False


def test_trigger_with_nothing_to_do_still_writes_json_lists(store: GlobalLearningStore) -> None:
    response = store.trigger_entropy_response(
        "job", 0.2, 0.3, boost_budget=False, revisit_quarantine=True
    )
    assert (response.actions_taken, response.patterns_revisited) == ([], [])
    assert raw_values(
        store, "SELECT actions_taken, budget_boosted, quarantine_revisits, patterns_revisited "
               "FROM entropy_responses"
    ) == [("[]", 0, 0, "[]")]
    assert store.get_exploration_budget() is None


def test_cooldown_message(store: GlobalLearningStore, clock: FrozenClock) -> None:
    for pattern_id, count in (("a", 9), ("b", 1)):
        add_pattern(store, pattern_id)
        add_applications(store, pattern_id, count)
    store.trigger_entropy_response("job", 0.1, 0.3, revisit_quarantine=False)
    assert store.check_entropy_response_needed("job") == (
        False, None, "Cooldown active (3600s remaining)"
    )
    clock.advance(seconds=600.4)
    assert store.check_entropy_response_needed("job") == (
        False, None, "Cooldown active (3000s remaining)"
    )
    # Another job has no response yet, so only the diversity decides.
    needed, diversity, reason = store.check_entropy_response_needed("other-job", 0.5)
    # p = .9 .1: H = .136803 + .332193 = .468996 over log2(2) = 1
    assert needed is True
    assert diversity == pytest.approx(0.4689956, abs=1e-7)
    assert reason == "Entropy 0.469 < threshold 0.500"
    # A falsy job hash sees every job's responses.
    assert store.check_entropy_response_needed("")[2] == "Cooldown active (3000s remaining)"
    clock.advance(seconds=3000)
    assert store.check_entropy_response_needed("job", 0.5)[0] is True


def test_entropy_response_reads_and_statistics(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    add_pattern(store, "q1", status="quarantined")
    add_pattern(store, "q2", status="quarantined", last_seen=datetime(2026, 11, 3))
    first = store.trigger_entropy_response("job-a", 0.1, 0.3, max_quarantine_revisits=1)
    clock.advance(minutes=5)
    second = store.trigger_entropy_response("job-a", 0.2, 0.3)
    clock.advance(minutes=5)
    third = store.trigger_entropy_response("job-b", 0.3, 0.3, boost_budget=False)

    assert first.patterns_revisited == ["q2"] and second.patterns_revisited == ["q1"]
    assert third.actions_taken == []
    assert store.get_entropy_response_history() == [third, second, first]
    assert store.get_entropy_response_history("job-a", limit=1) == [second]
    assert store.get_last_entropy_response() == third
    assert store.get_last_entropy_response("job-c") is None

    stats = store.get_entropy_response_statistics()
    assert stats == {
        "total_responses": 3,
        "avg_entropy_at_trigger": pytest.approx(0.2),
        "budget_boosts": 2,
        "quarantine_revisits": 2,
        "last_response": (clock.now).isoformat(),
    }
    assert store.get_entropy_response_statistics("job-a")["last_response"] == (
        clock.now - timedelta(minutes=5)
    ).isoformat()
    assert store.get_entropy_response_statistics("job-b")["budget_boosts"] == 0


def test_legacy_empty_patterns_revisited_reads_as_empty_list(
    store: GlobalLearningStore,
) -> None:
    with store._engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO entropy_responses (id, job_hash, recorded_at, entropy_at_trigger,"
                " threshold_used, actions_taken, patterns_revisited) VALUES"
                " ('r1', 'j', '2026-11-25T10:00:00', 0.1, 0.3, '[]', ''),"
                " ('r2', 'j', '2026-11-25T09:00:00', 0.1, 0.3, '[]', NULL)"
            )
        )
    history = store.get_entropy_response_history()
    assert [(r.id, r.patterns_revisited, r.budget_boosted, r.quarantine_revisits)
            for r in history] == [("r1", [], False, 0), ("r2", [], False, 0)]


# -- empty store (section 11) -----------------------------------------------------------


def test_empty_store_behaviour(store: GlobalLearningStore, clock: FrozenClock) -> None:
    assert store.get_exploration_budget() is None
    assert store.get_exploration_budget_history() == []
    assert store.get_exploration_budget_statistics() == {
        "current_budget": None, "avg_budget": 0.0, "min_budget": 0.0, "max_budget": 0.0,
        "total_adjustments": 0, "floor_enforcements": 0, "boost_count": 0, "decay_count": 0,
    }
    assert store.calculate_pattern_entropy() == PatternEntropyMetrics(
        calculated_at=clock.now, shannon_entropy=0.0, max_possible_entropy=0.0,
        diversity_index=0.0, unique_pattern_count=0, effective_pattern_count=0,
        total_applications=0, dominant_pattern_share=0.0,
    )
    assert store.check_entropy_response_needed("job") == (
        False, None, "No pattern applications to analyze"
    )
    assert store.get_last_entropy_response() is None
    assert store.get_entropy_response_history() == []
    assert store.get_entropy_response_statistics() == {
        "total_responses": 0, "avg_entropy_at_trigger": 0.0, "budget_boosts": 0,
        "quarantine_revisits": 0, "last_response": None,
    }
    assert store.get_pattern_entropy_history() == []


def test_patterns_without_applications_report_their_count(store: GlobalLearningStore) -> None:
    add_pattern(store, "a")
    add_pattern(store, "b", active=False)
    result = store.calculate_pattern_entropy()
    assert (result.unique_pattern_count, result.total_applications) == (2, 0)
    assert (result.shannon_entropy, result.max_possible_entropy) == (0.0, 0.0)
    assert store.check_entropy_response_needed("job")[2] == "No pattern applications to analyze"


def test_read_only_entropy_calls_write_nothing(store: GlobalLearningStore) -> None:
    add_pattern(store, "a")
    add_applications(store, "a", 2)
    store.calculate_pattern_entropy()
    store.check_entropy_response_needed("job")
    with store._engine.connect() as conn:
        for table in (tables.pattern_entropy_history, tables.entropy_responses,
                      tables.exploration_budget):
            assert conn.execute(select(table)).first() is None


def test_entropy_counts_match_mariannes_group_by_on_id_less_rows(
    sqlite_store: GlobalLearningStore,
) -> None:
    """SQLite lets ids be NULL; Marianne's COUNT(pa.id) ... GROUP BY p.id decides how."""
    add_pattern(sqlite_store, "a")
    add_applications(sqlite_store, "a", 3)
    with sqlite_store._engine.begin() as conn:
        # Not counted: an application without an id.
        conn.execute(text("INSERT INTO pattern_applications (id, pattern_id) VALUES (NULL, 'a')"))
        # Two id-less patterns fold into one group with no applications.
        conn.execute(
            text("INSERT INTO patterns (id, pattern_type, pattern_name) VALUES"
                 " (NULL, 't', 'x'), (NULL, 't', 'y')")
        )
    add_pattern(sqlite_store, "b")
    add_applications(sqlite_store, "b", 1)
    result = sqlite_store.calculate_pattern_entropy()
    assert (result.unique_pattern_count, result.effective_pattern_count) == (3, 2)
    assert result.total_applications == 4
    assert result.dominant_pattern_share == 0.75
    # p = .75 .25: H = .311278 + .5 = .811278
    assert result.shannon_entropy == pytest.approx(0.8112781, abs=1e-7)
