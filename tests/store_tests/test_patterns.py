"""Pattern recording, scoring, queries and lifecycle (contract sections 4, 5 and 11).

Every test runs on SQLite and on PostgreSQL through the ``store`` fixture. The clock is
frozen at 2026-11-25T12:00:00.250000 local time unless a test moves it.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import FrozenClock
from sqlalchemy import func, insert, select, text

from store import GlobalLearningStore, PatternRecord, QuarantineStatus, SuccessFactors, tables
from store.base import content_hash_for, pattern_id_for
from store.patterns_crud import PatternProvenance
from store.patterns_lifecycle import (
    DEGRADATION_THRESHOLD,
    MIN_OCCURRENCES_FOR_PROMOTION,
    PROMOTION_EFFECTIVENESS_THRESHOLD,
    QUARANTINE_EFFECTIVENESS_THRESHOLD,
)

NOW = datetime(2026, 11, 25, 12, 0, 0, 250000)
NOW_TEXT = "2026-11-25T12:00:00.250000"
UNKNOWN = "0000000000000000"


# -- helpers ------------------------------------------------------------------------------


def raw(store: GlobalLearningStore, pattern_id: str, column: str) -> Any:
    """A column exactly as stored (no type decoding)."""
    with store._connection() as conn:
        return conn.execute(
            text(f"SELECT {column} FROM patterns WHERE id = :pid"), {"pid": pattern_id}
        ).scalar_one()


def set_raw(store: GlobalLearningStore, pattern_id: str, **values: Any) -> None:
    """Write columns directly, bypassing the store's methods (to build a situation)."""
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    with store._connection() as conn:
        conn.execute(
            text(f"UPDATE patterns SET {assignments} WHERE id = :pid"),
            {"pid": pattern_id, **values},
        )


def add_foreign_row(store: GlobalLearningStore, pattern_id: str, **values: Any) -> None:
    """A pattern row whose id was not made by ``record_pattern`` (legacy or foreign)."""
    row: dict[str, Any] = {
        "id": pattern_id,
        "pattern_type": "legacy",
        "pattern_name": pattern_id,
        "first_seen": NOW,
        "last_seen": NOW,
        "last_confirmed": NOW,
        "context_tags": "[]",
    }
    row.update(values)
    with store._connection() as conn:
        conn.execute(insert(tables.patterns).values(**row))


def application_count(store: GlobalLearningStore) -> int:
    with store._connection() as conn:
        return int(conn.execute(select(func.count()).select_from(tables.pattern_applications))
                   .scalar_one())


def ids(patterns: list[PatternRecord]) -> list[str]:
    return [p.id for p in patterns]


def apply_many(
    store: GlobalLearningStore, clock: FrozenClock, pattern_id: str,
    outcomes: list[tuple[bool, float | None]],
) -> None:
    """Record applications one second apart, oldest first."""
    for ok, grounding in outcomes:
        clock.advance(seconds=1)
        store.record_pattern_application(pattern_id, "exec", ok, grounding_confidence=grounding)


SEVEN = [(True, 0.5), (True, None), (False, 0.9), (True, 0.2), (True, None), (False, 0.1),
         (True, 0.6)]


# -- record_pattern: insert (5.1 case 3) ------------------------------------------------


def test_insert_writes_every_column(store: GlobalLearningStore) -> None:
    pid = store.record_pattern(
        "validation_failure", "File  Not Created", description="desc",
        context_tags=["a", "b"], suggested_action="touch it",
        provenance=PatternProvenance("jobhash", 4), instrument_name="claude",
    )
    assert pid == "5d4dc4465839e7be"
    p = store.get_pattern_by_id(pid)
    assert p is not None
    assert p.pattern_name == "File  Not Created"  # not normalised
    assert (p.occurrence_count, p.led_to_success_count, p.led_to_failure_count) == (1, 0, 0)
    assert p.first_seen == p.last_seen == p.last_confirmed == NOW
    assert (p.effectiveness_score, p.variance, p.priority_score, p.trust_score) == (
        0.5, 0.0, 0.5, 0.5)
    assert p.quarantine_status is QuarantineStatus.PENDING
    assert (p.provenance_job_hash, p.provenance_sheet_num) == ("jobhash", 4)
    assert p.trust_calculation_date == NOW
    assert p.content_hash == "9ce47ab20062eb08e4fef21129295623"
    assert p.instrument_name == "claude"
    assert p.active is True
    assert p.context_tags == ["a", "b"]
    assert p.quarantined_at is None and p.validated_at is None
    assert p.quarantine_reason is None and p.success_factors is None
    assert raw(store, pid, "active") == 1
    assert raw(store, pid, "quarantine_status") == "pending"


def test_stored_text_matches_marianne_formats(store: GlobalLearningStore) -> None:
    pid = store.record_pattern("t", "n", context_tags=["a", "é"])
    assert raw(store, pid, "first_seen") == NOW_TEXT
    assert raw(store, pid, "trust_calculation_date") == NOW_TEXT
    assert raw(store, pid, "context_tags") == '["a", "\\u00e9"]'
    assert store.get_pattern_by_id(pid).context_tags == ["a", "é"]  # type: ignore[union-attr]


def test_raw_sqlite_file_holds_marianne_text(sqlite_store: GlobalLearningStore,
                                             clock: FrozenClock) -> None:
    pid = sqlite_store.record_pattern("t", "n", context_tags=["a", "b"])
    clock.now = datetime(2026, 11, 26, 8, 30, 0)  # zero microseconds are left out
    sqlite_store.record_pattern_application(pid, "exec-1", True, grounding_confidence=0.25)
    with sqlite3.connect(str(sqlite_store.db_path)) as db:
        row = db.execute(
            "SELECT first_seen, last_seen, last_confirmed, context_tags, active, "
            "typeof(active), trust_calculation_date FROM patterns WHERE id = ?", (pid,)
        ).fetchone()
        app = db.execute(
            "SELECT applied_at, pattern_led_to_success, typeof(pattern_led_to_success), "
            "grounding_confidence, retry_count_before FROM pattern_applications"
        ).fetchone()
    assert row == (NOW_TEXT, NOW_TEXT, "2026-11-26T08:30:00", '["a", "b"]', 1, "integer",
                   NOW_TEXT)
    assert app == ("2026-11-26T08:30:00", 1, "integer", 0.25, 0)


def test_omitted_tags_are_stored_as_an_empty_array(store: GlobalLearningStore) -> None:
    pid = store.record_pattern("t", "n")
    assert raw(store, pid, "context_tags") == "[]"


def test_provenance_object_wins_even_with_none_fields(store: GlobalLearningStore) -> None:
    pid = store.record_pattern("t", "a", provenance=PatternProvenance(),
                               provenance_job_hash="ignored", provenance_sheet_num=9)
    other = store.record_pattern("t", "b", provenance_job_hash="legacy", provenance_sheet_num=2)
    p, q = store.get_pattern_by_id(pid), store.get_pattern_by_id(other)
    assert p is not None and q is not None
    assert (p.provenance_job_hash, p.provenance_sheet_num) == (None, None)
    assert (q.provenance_job_hash, q.provenance_sheet_num) == ("legacy", 2)


def test_provenance_is_frozen() -> None:
    provenance = PatternProvenance("j", 1)
    with pytest.raises(AttributeError):
        provenance.job_hash = "other"  # type: ignore[misc]


# -- record_pattern: upsert by id (5.1 case 1) -------------------------------------------


def test_upsert_updates_only_what_the_contract_lists(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    pid = store.record_pattern(
        "t", "File Not Created", description="first", context_tags=["x"],
        suggested_action="act", provenance=PatternProvenance("job", 1), instrument_name="i1",
    )
    store.quarantine_pattern(pid, "why")
    clock.advance(hours=1)
    again = store.record_pattern(
        "t", "  file   NOT created ", description=None, context_tags=None,
        suggested_action=None, provenance=PatternProvenance("job2", 7), instrument_name="i2",
    )
    assert again == pid
    p = store.get_pattern_by_id(pid)
    assert p is not None
    assert p.occurrence_count == 2
    assert p.first_seen == NOW and p.last_confirmed == NOW
    assert p.last_seen == NOW + timedelta(hours=1)
    assert p.description == "first" and p.suggested_action == "act"  # COALESCE(new, old)
    assert p.context_tags == []  # overwritten: None clears them
    assert p.content_hash == content_hash_for("t", "File Not Created", None)  # from argument
    assert p.pattern_name == "File Not Created"  # first spelling kept
    assert (p.provenance_job_hash, p.provenance_sheet_num) == ("job", 1)
    assert p.instrument_name == "i1"
    assert p.quarantine_status is QuarantineStatus.QUARANTINED
    assert (p.effectiveness_score, p.priority_score, p.trust_score) == (0.5, 0.5, 0.5)


def test_upsert_overwrites_description_and_tags_when_given(store: GlobalLearningStore) -> None:
    pid = store.record_pattern("t", "n", description="old", context_tags=["a"],
                               suggested_action="s1")
    store.record_pattern("t", "n", description="new", context_tags=["b", "c"],
                         suggested_action="s2")
    p = store.get_pattern_by_id(pid)
    assert p is not None
    assert (p.description, p.suggested_action, p.context_tags) == ("new", "s2", ["b", "c"])
    assert p.content_hash == content_hash_for("t", "n", "new")


def test_upsert_reactivates_a_soft_deleted_pattern(store: GlobalLearningStore) -> None:
    pid = store.record_pattern("t", "n")
    assert store.soft_delete_pattern(pid)
    assert store.get_patterns() == []
    store.record_pattern("t", "N")
    assert raw(store, pid, "active") == 1
    assert ids(store.get_patterns()) == [pid]


# -- record_pattern: content-hash merge (5.1 case 2) -------------------------------------


def test_ambiguous_colon_merges_by_content_hash(store: GlobalLearningStore,
                                                clock: FrozenClock) -> None:
    first = store.record_pattern("x", "b:c", description="d", instrument_name="orig",
                                 context_tags=["keep"])
    clock.advance(minutes=5)
    merged = store.record_pattern("x", "b", description="c:d", instrument_name="other",
                                  context_tags=["new"], suggested_action="ignored")
    assert merged == first
    assert store.get_pattern_by_id(pattern_id_for("x", "b")) is None
    p = store.get_pattern_by_id(first)
    assert p is not None
    assert p.occurrence_count == 2
    assert p.last_seen == NOW + timedelta(minutes=5)
    assert p.instrument_name == "orig"
    assert p.context_tags == ["keep"]
    assert p.suggested_action is None
    assert p.description == "d"


def test_merge_picks_the_highest_priority_row_and_reactivates(
    store: GlobalLearningStore,
) -> None:
    digest = content_hash_for("t", "shared", "same")
    add_foreign_row(store, "low", content_hash=digest, priority_score=0.2)
    add_foreign_row(store, "high", content_hash=digest, priority_score=0.9, active=0)
    assert store.record_pattern("t", "shared", description="same") == "high"
    assert raw(store, "high", "active") == 1
    assert raw(store, "high", "occurrence_count") == 2
    assert raw(store, "low", "occurrence_count") == 1
    assert store.get_pattern_by_id(pattern_id_for("t", "shared")) is None


# -- record_pattern_application (5.2) ----------------------------------------------------


def test_application_of_unknown_pattern_writes_nothing(store: GlobalLearningStore) -> None:
    app_id = store.record_pattern_application(UNKNOWN, "exec", True)
    assert str(uuid.UUID(app_id)) == app_id and len(app_id) == 36
    assert application_count(store) == 0


def test_first_application_drops_priority_to_033(store: GlobalLearningStore,
                                                 clock: FrozenClock) -> None:
    pid = store.record_pattern("t", "n")
    clock.advance(hours=2)
    store.record_pattern_application(pid, "exec", True, 1, 2, "exploration", True, 0.8)
    p = store.get_pattern_by_id(pid)
    assert p is not None
    assert p.effectiveness_score == 0.55
    assert p.priority_score == pytest.approx(0.33, abs=1e-12)
    assert p.led_to_success_count == 1 and p.led_to_failure_count == 0
    assert p.last_confirmed == NOW + timedelta(hours=2)
    assert p.occurrence_count == 1 and p.last_seen == NOW  # not touched
    with store._connection() as conn:
        row = conn.execute(text(
            "SELECT pattern_id, execution_id, applied_at, pattern_led_to_success, "
            "retry_count_before, retry_count_after, grounding_confidence "
            "FROM pattern_applications")).one()
    assert tuple(row) == (pid, "exec", "2026-11-25T14:00:00.250000", 1, 1, 2, 0.8)


def test_failure_counts_without_confirming(store: GlobalLearningStore,
                                           clock: FrozenClock) -> None:
    pid = store.record_pattern("t", "n")
    clock.advance(days=3)
    store.record_pattern_application(pid, "exec", False)
    p = store.get_pattern_by_id(pid)
    assert p is not None
    assert (p.led_to_success_count, p.led_to_failure_count) == (0, 1)
    assert p.last_confirmed == NOW
    assert raw(store, pid, "last_confirmed") == NOW_TEXT


def test_nan_grounding_is_stored_as_null(store: GlobalLearningStore) -> None:
    pid = store.record_pattern("t", "n")
    store.record_pattern_application(pid, "exec", True, grounding_confidence=float("nan"))
    with store._connection() as conn:
        assert conn.execute(text("SELECT grounding_confidence FROM pattern_applications")
                            ).scalar_one() is None


def test_soft_deleted_patterns_still_take_applications(store: GlobalLearningStore) -> None:
    pid = store.record_pattern("t", "n")
    store.soft_delete_pattern(pid)
    store.record_pattern_application(pid, "exec", True)
    assert application_count(store) == 1
    assert raw(store, pid, "led_to_success_count") == 1


def test_vector_two_successes_one_failure(store: GlobalLearningStore,
                                         clock: FrozenClock) -> None:
    pid = store.record_pattern("t", "n")
    apply_many(store, clock, pid, [(True, None), (True, None), (False, None)])
    # last success one second before now: d = 0
    p = store.get_pattern_by_id(pid)
    assert p is not None
    assert p.effectiveness_score == pytest.approx(0.6541667, abs=1e-7)
    assert p.priority_score == pytest.approx(0.3925, abs=1e-7)


def test_seven_application_vector_and_decay(store: GlobalLearningStore,
                                           clock: FrozenClock) -> None:
    pid = store.record_pattern("t", "n")
    apply_many(store, clock, pid, SEVEN[:6])
    set_raw(store, pid, occurrence_count=99, variance=0.2)
    apply_many(store, clock, pid, SEVEN[6:])
    p = store.get_pattern_by_id(pid)
    assert p is not None
    assert p.effectiveness_score == pytest.approx(0.52291875, abs=1e-12)
    assert p.priority_score == pytest.approx(0.418335, abs=1e-12)
    assert store.update_pattern_effectiveness(pid) == pytest.approx(0.52291875, abs=1e-12)
    clock.advance(days=60)
    assert store.update_pattern_effectiveness(pid) == pytest.approx(0.4235641875, abs=1e-12)
    # 59 days and 23 hours still count as 59 whole days
    clock.advance(hours=-1)
    expected_59 = 0.52291875 * 0.9 ** (59 / 30)
    assert store.update_pattern_effectiveness(pid) == pytest.approx(expected_59, abs=1e-12)


def test_null_last_confirmed_counts_as_now(store: GlobalLearningStore,
                                          clock: FrozenClock) -> None:
    pid = store.record_pattern("t", "n")
    apply_many(store, clock, pid, [(True, None), (True, None), (False, None)])
    set_raw(store, pid, last_confirmed=None)
    clock.advance(days=300)
    assert store.update_pattern_effectiveness(pid) == pytest.approx(0.6541667, abs=1e-7)


def test_effectiveness_is_stored_raw_and_clamped_on_read(store: GlobalLearningStore,
                                                         clock: FrozenClock) -> None:
    pid = store.record_pattern("t", "n")
    apply_many(store, clock, pid, [(True, 5.0)] * 3)
    # H = 3.5/4, R = 1 -> 0.9625; weight 0.7 + 0.3*5 = 2.2 -> 2.1175
    assert raw(store, pid, "effectiveness_score") == pytest.approx(2.1175, abs=1e-12)
    assert store.get_pattern_by_id(pid).effectiveness_score == 1.0  # type: ignore[union-attr]


# -- maintenance (5.5) ------------------------------------------------------------------


def test_update_effectiveness_of_unknown_id_is_none(store: GlobalLearningStore) -> None:
    assert store.update_pattern_effectiveness(UNKNOWN) is None


def test_recalculate_matches_one_by_one_and_undoes_retirement(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    seven = store.record_pattern("t", "seven")
    apply_many(store, clock, seven, SEVEN)
    set_raw(store, seven, occurrence_count=99, variance=0.2)
    three = store.record_pattern("t", "three")
    apply_many(store, clock, three, [(True, None), (True, None), (False, None)])
    fresh = store.record_pattern("t", "fresh")
    store.soft_delete_pattern(fresh)
    set_raw(store, seven, priority_score=0.0, effectiveness_score=0.0)
    set_raw(store, fresh, priority_score=0.0)
    clock.advance(days=60)
    assert store.recalculate_all_pattern_priorities() == 3
    assert raw(store, seven, "effectiveness_score") == pytest.approx(0.4235641875, abs=1e-12)
    assert raw(store, seven, "priority_score") == pytest.approx(0.4235641875 * 0.8, abs=1e-12)
    assert raw(store, three, "effectiveness_score") == pytest.approx(0.6541667 * 0.81, abs=1e-7)
    # the inactive, never-applied pattern: cold start 0.55 * 0.6
    assert raw(store, fresh, "effectiveness_score") == 0.55
    assert raw(store, fresh, "priority_score") == pytest.approx(0.33, abs=1e-12)
    recalculated = {pid: raw(store, pid, "effectiveness_score") for pid in (seven, three)}
    for pid, value in recalculated.items():
        assert store.update_pattern_effectiveness(pid) == pytest.approx(value, abs=1e-15)


def test_recalculate_on_empty_store(store: GlobalLearningStore) -> None:
    assert store.recalculate_all_pattern_priorities() == 0


def test_soft_delete(store: GlobalLearningStore) -> None:
    pid = store.record_pattern("t", "n")
    assert store.soft_delete_pattern(pid) is True
    assert store.soft_delete_pattern(pid) is False
    assert store.soft_delete_pattern(UNKNOWN) is False
    assert raw(store, pid, "active") == 0
    other = store.record_pattern("t", "other")
    set_raw(store, other, active=None)  # a pre-v14 row counts as active
    assert store.soft_delete_pattern(other) is True


# -- reading rows (section 4) -------------------------------------------------------------


def test_null_columns_read_with_marianne_defaults(store: GlobalLearningStore) -> None:
    add_foreign_row(store, "nulls", quarantine_status=None, trust_score=None, active=None,
                    context_tags=None)
    p = store.get_pattern_by_id("nulls")
    assert p is not None
    assert p.quarantine_status is QuarantineStatus.PENDING
    assert p.trust_score == 0.5
    assert p.active is True
    assert p.context_tags == []
    assert p.success_factors is None


def test_success_factors_json_reads_as_record(store: GlobalLearningStore) -> None:
    pid = store.record_pattern("t", "n")
    set_raw(store, pid, success_factors=(
        '{"validation_types": ["file_exists"], "error_categories": [], '
        '"prior_sheet_status": "completed", "time_of_day_bucket": "night", '
        '"retry_iteration": 1, "escalation_was_pending": true, "grounding_confidence": 0.4, '
        '"occurrence_count": 3, "success_rate": 1.5}'))
    factors = store.get_pattern_by_id(pid).success_factors  # type: ignore[union-attr]
    assert factors == SuccessFactors(["file_exists"], [], "completed", "night", 1, True, 0.4,
                                     3, 1.0)


def test_read_side_clamping(store: GlobalLearningStore) -> None:
    add_foreign_row(store, "wild", trust_score=1.7, effectiveness_score=-0.2, variance=-1.0,
                    priority_score=3.0)
    p = store.get_pattern_by_id("wild")
    assert p is not None
    assert (p.trust_score, p.effectiveness_score, p.variance, p.priority_score) == (
        1.0, 0.0, 0.0, 3.0)


def test_legacy_active_status_raises_on_every_read(store: GlobalLearningStore) -> None:
    add_foreign_row(store, "legacy", quarantine_status="active", priority_score=0.5)
    with pytest.raises(ValueError):
        store.get_pattern_by_id("legacy")
    with pytest.raises(ValueError):
        store.get_patterns()
    with pytest.raises(ValueError):
        store.get_pattern_provenance("legacy")
    with pytest.raises(ValueError):
        store.update_quarantine_status("legacy", QuarantineStatus.RETIRED)
    assert raw(store, "legacy", "quarantine_status") == "active"


def test_null_first_seen_makes_the_read_fail(store: GlobalLearningStore) -> None:
    add_foreign_row(store, "broken", first_seen=None)
    with pytest.raises(TypeError):
        store.get_pattern_by_id("broken")


def test_unknown_ids(store: GlobalLearningStore) -> None:
    assert store.get_pattern_by_id(UNKNOWN) is None
    assert store.get_pattern_provenance(UNKNOWN) is None
    assert store.quarantine_pattern(UNKNOWN) is False
    assert store.validate_pattern(UNKNOWN) is False
    assert store.retire_pattern(UNKNOWN) is False
    assert store.update_quarantine_status(UNKNOWN, QuarantineStatus.VALIDATED) is False
    assert store.soft_delete_pattern(UNKNOWN) is False
    assert store.update_pattern_effectiveness(UNKNOWN) is None


def test_empty_store_reads(store: GlobalLearningStore) -> None:
    assert store.get_patterns() == []
    assert store.get_quarantined_patterns() == []
    assert store.get_high_trust_patterns() == []
    assert store.get_low_trust_patterns() == []
    assert store.get_patterns_for_auto_apply() == []
    assert store.promote_ready_patterns() == {"promoted": [], "quarantined": [], "degraded": []}


# -- get_patterns filters (5.6) ----------------------------------------------------------


def make(store: GlobalLearningStore, name: str, **columns: Any) -> str:
    pid = store.record_pattern(columns.pop("pattern_type", "t"), name,
                               context_tags=columns.pop("tags", None),
                               instrument_name=columns.pop("instrument", None))
    if columns:
        set_raw(store, pid, **columns)
    return pid


def test_order_limit_and_min_priority(store: GlobalLearningStore) -> None:
    a = make(store, "a", priority_score=0.2)
    b = make(store, "b", priority_score=0.9)
    c = make(store, "c", priority_score=0.5)
    zero = make(store, "zero", priority_score=0.0)
    assert ids(store.get_patterns()) == [b, c, a]
    assert ids(store.get_patterns(limit=2)) == [b, c]
    assert ids(store.get_patterns(limit=0)) == []
    assert ids(store.get_patterns(limit=-1)) == [b, c, a]
    assert ids(store.get_patterns(min_priority=0.0)) == [b, c, a, zero]
    assert ids(store.get_patterns(min_priority=0.5)) == [b, c]


def test_inactive_hidden_unless_asked(store: GlobalLearningStore) -> None:
    kept = make(store, "kept", priority_score=0.9)
    gone = make(store, "gone")
    store.soft_delete_pattern(gone)
    legacy = make(store, "legacy", active=None, priority_score=0.1)
    assert ids(store.get_patterns()) == [kept, legacy]
    assert ids(store.get_patterns(include_inactive=True)) == [kept, gone, legacy]


def test_type_filter_and_empty_string(store: GlobalLearningStore) -> None:
    x = make(store, "x", pattern_type="alpha", priority_score=0.9)
    y = make(store, "y", pattern_type="beta")
    assert ids(store.get_patterns(pattern_type="alpha")) == [x]
    assert ids(store.get_patterns(pattern_type="")) == [x, y]


def test_instrument_filter(store: GlobalLearningStore) -> None:
    claude = make(store, "claude", instrument="claude", priority_score=0.9)
    universal = make(store, "universal", priority_score=0.8)
    other = make(store, "other", instrument="gemini", priority_score=0.7)
    assert ids(store.get_patterns(instrument_name="claude")) == [claude, universal]
    assert ids(store.get_patterns(instrument_name="claude", include_universal=False)) == [
        claude]
    assert ids(store.get_patterns()) == [claude, universal, other]


def test_quarantine_filters(store: GlobalLearningStore) -> None:
    pending = make(store, "pending", priority_score=0.9)
    quarantined = make(store, "quarantined", priority_score=0.8)
    store.quarantine_pattern(quarantined)
    retired = make(store, "retired", priority_score=0.7)
    store.retire_pattern(retired)
    null_status = make(store, "null", quarantine_status=None, priority_score=0.6)
    assert ids(store.get_patterns()) == [pending, quarantined, retired, null_status]
    assert ids(store.get_patterns(exclude_quarantined=True)) == [pending, retired]
    assert ids(store.get_patterns(quarantine_status=QuarantineStatus.QUARANTINED,
                                  exclude_quarantined=True)) == [quarantined]
    assert ids(store.get_patterns(quarantine_status=QuarantineStatus.RETIRED)) == [retired]


def test_trust_bounds_are_inclusive(store: GlobalLearningStore) -> None:
    low = make(store, "low", trust_score=0.2, priority_score=0.9)
    mid = make(store, "mid", trust_score=0.5, priority_score=0.8)
    high = make(store, "high", trust_score=0.8, priority_score=0.7)
    assert ids(store.get_patterns(min_trust=0.5)) == [mid, high]
    assert ids(store.get_patterns(max_trust=0.5)) == [low, mid]
    assert ids(store.get_patterns(min_trust=0.3, max_trust=0.7)) == [mid]


def test_tag_filter_matches_any_against_any(store: GlobalLearningStore) -> None:
    ab = make(store, "ab", tags=["a", "b"], priority_score=0.9)
    c = make(store, "c", tags=["c"], priority_score=0.8)
    none = make(store, "none", priority_score=0.7)
    make(store, "null", context_tags=None, priority_score=0.6)
    accented = make(store, "accented", tags=["é"], priority_score=0.5)
    assert ids(store.get_patterns(context_tags=["b"])) == [ab]
    assert ids(store.get_patterns(context_tags=["c", "a"])) == [ab, c]
    assert ids(store.get_patterns(context_tags=["z"])) == []
    assert ids(store.get_patterns(context_tags=["é"])) == [accented]
    assert none in ids(store.get_patterns(context_tags=[]))  # empty list: no filter
    assert len(store.get_patterns(context_tags=None)) == 5


def test_tag_filter_combines_with_other_filters(store: GlobalLearningStore) -> None:
    hit = make(store, "hit", tags=["a"], pattern_type="x", priority_score=0.5)
    make(store, "wrong type", tags=["a"], pattern_type="y", priority_score=0.5)
    make(store, "too low", tags=["a"], pattern_type="x", priority_score=0.005)
    assert ids(store.get_patterns(pattern_type="x", context_tags=["a"])) == [hit]


def test_tag_filter_on_malformed_json_raises(store: GlobalLearningStore) -> None:
    make(store, "bad", context_tags="[not json")
    with pytest.raises(Exception):  # noqa: B017 - each driver raises its own error class
        store.get_patterns(context_tags=["a"])


def test_lists_by_status_and_trust(store: GlobalLearningStore) -> None:
    q = make(store, "q", priority_score=0.0, trust_score=0.1)
    store.quarantine_pattern(q)
    q_inactive = make(store, "q2")
    store.quarantine_pattern(q_inactive)
    store.soft_delete_pattern(q_inactive)
    high = make(store, "high", priority_score=0.0, trust_score=0.7)
    mid = make(store, "mid", trust_score=0.5)
    assert ids(store.get_quarantined_patterns()) == [q]
    assert ids(store.get_high_trust_patterns()) == [high]
    assert ids(store.get_low_trust_patterns()) == [q]
    assert ids(store.get_high_trust_patterns(threshold=0.5)) == [mid, high]
    assert ids(store.get_low_trust_patterns(threshold=0.3, limit=0)) == []


def test_provenance_dict(store: GlobalLearningStore, clock: FrozenClock) -> None:
    pid = store.record_pattern("t", "n", provenance=PatternProvenance("job", 3))
    clock.advance(seconds=1)
    store.quarantine_pattern(pid, "flaky")
    assert store.get_pattern_provenance(pid) == {
        "pattern_id": pid,
        "pattern_name": "n",
        "quarantine_status": "quarantined",
        "first_seen": NOW_TEXT,
        "last_seen": NOW_TEXT,
        "last_confirmed": NOW_TEXT,
        "provenance_job_hash": "job",
        "provenance_sheet_num": 3,
        "quarantined_at": "2026-11-25T12:00:01.250000",
        "validated_at": None,
        "quarantine_reason": "flaky",
        "trust_score": 0.5,
        "trust_calculation_date": NOW_TEXT,
    }


def test_auto_apply_selection(store: GlobalLearningStore) -> None:
    best = make(store, "best", trust_score=0.95, priority_score=0.1, tags=["x"])
    second = make(store, "second", trust_score=0.9, priority_score=0.9, tags=["y"])
    tie_low = make(store, "tie low", trust_score=0.9, priority_score=0.2, tags=["x"])
    pending = make(store, "pending", trust_score=0.99)
    below = make(store, "below", trust_score=0.84)
    retired = make(store, "retired", trust_score=0.99)
    for pid in (best, second, tie_low, below):
        store.validate_pattern(pid)
    store.retire_pattern(retired)
    store.soft_delete_pattern(second)  # active is not checked
    assert ids(store.get_patterns_for_auto_apply()) == [best, second, tie_low]
    assert ids(store.get_patterns_for_auto_apply(limit=1)) == [best]
    assert ids(store.get_patterns_for_auto_apply(require_validated=False)) == [
        pending, best, second]
    assert ids(store.get_patterns_for_auto_apply(trust_threshold=0.84, limit=5)) == [
        best, second, tie_low, below]
    # SQL keeps 2 * limit = 2 rows (best, second) before the tag filter drops "second"
    assert ids(store.get_patterns_for_auto_apply(limit=1, context_tags=["y"])) == [second]
    assert ids(store.get_patterns_for_auto_apply(limit=1, context_tags=["x"])) == [best]
    assert ids(store.get_patterns_for_auto_apply(limit=1, context_tags=["z"])) == []
    assert ids(store.get_patterns_for_auto_apply(limit=2, context_tags=["x"])) == [
        best, tie_low]


def test_auto_apply_truncates_after_the_tag_filter(store: GlobalLearningStore) -> None:
    # Only the first 2 * limit rows by trust are looked at before the tag filter.
    for n, trust in enumerate((0.99, 0.98, 0.97)):
        pid = make(store, f"plain{n}", trust_score=trust)
        store.validate_pattern(pid)
    tagged = make(store, "tagged", trust_score=0.9, tags=["x"])
    store.validate_pattern(tagged)
    assert store.get_patterns_for_auto_apply(limit=1, context_tags=["x"]) == []  # 2 rows
    assert ids(store.get_patterns_for_auto_apply(limit=2, context_tags=["x"])) == [tagged]


# -- quarantine transitions (5.7) --------------------------------------------------------


def test_quarantine_validate_retire_side_columns(store: GlobalLearningStore,
                                                 clock: FrozenClock) -> None:
    pid = store.record_pattern("t", "n")
    store.soft_delete_pattern(pid)  # transitions ignore active
    clock.advance(seconds=10)
    assert store.quarantine_pattern(pid, "flaky") is True
    p = store.get_pattern_by_id(pid)
    assert p is not None
    assert p.quarantine_status is QuarantineStatus.QUARANTINED
    assert p.quarantined_at == NOW + timedelta(seconds=10)
    assert p.quarantine_reason == "flaky" and p.validated_at is None
    assert raw(store, pid, "quarantined_at") == "2026-11-25T12:00:10.250000"

    clock.advance(seconds=10)
    assert store.validate_pattern(pid) is True
    p = store.get_pattern_by_id(pid)
    assert p is not None
    assert p.quarantine_status is QuarantineStatus.VALIDATED
    assert p.validated_at == NOW + timedelta(seconds=20)
    assert p.quarantine_reason is None
    assert p.quarantined_at == NOW + timedelta(seconds=10)  # untouched

    clock.advance(seconds=10)
    assert store.quarantine_pattern(pid) is True  # no reason: NULL, validated_at kept
    p = store.get_pattern_by_id(pid)
    assert p is not None
    assert p.quarantine_reason is None
    assert p.quarantined_at == NOW + timedelta(seconds=30)
    assert p.validated_at == NOW + timedelta(seconds=20)

    clock.advance(seconds=10)
    assert store.retire_pattern(pid) is True
    p = store.get_pattern_by_id(pid)
    assert p is not None
    assert p.quarantine_status is QuarantineStatus.RETIRED
    assert p.quarantined_at == NOW + timedelta(seconds=30)
    assert p.validated_at == NOW + timedelta(seconds=20)
    assert p.active is False


def test_update_quarantine_status_side_columns(store: GlobalLearningStore,
                                               clock: FrozenClock) -> None:
    pid = store.record_pattern("t", "n")
    store.quarantine_pattern(pid, "kept reason")
    clock.advance(seconds=5)
    assert store.update_quarantine_status(pid, QuarantineStatus.VALIDATED) is True
    p = store.get_pattern_by_id(pid)
    assert p is not None
    assert p.quarantine_status is QuarantineStatus.VALIDATED
    assert p.validated_at == NOW + timedelta(seconds=5)
    assert p.quarantine_reason == "kept reason"  # not cleared, unlike validate_pattern
    assert p.quarantined_at == NOW

    clock.advance(seconds=5)
    assert store.update_quarantine_status(pid, QuarantineStatus.QUARANTINED) is True
    p = store.get_pattern_by_id(pid)
    assert p is not None
    assert p.quarantined_at == NOW + timedelta(seconds=10)
    assert p.validated_at == NOW + timedelta(seconds=5)
    assert p.quarantine_reason == "kept reason"

    clock.advance(seconds=5)
    for status in (QuarantineStatus.PENDING, QuarantineStatus.RETIRED):
        assert store.update_quarantine_status(pid, status) is True
        p = store.get_pattern_by_id(pid)
        assert p is not None
        assert p.quarantine_status is status
        assert p.quarantined_at == NOW + timedelta(seconds=10)
        assert p.validated_at == NOW + timedelta(seconds=5)


# -- promote_ready_patterns (5.7) --------------------------------------------------------


def test_lifecycle_constants() -> None:
    assert MIN_OCCURRENCES_FOR_PROMOTION == 3
    assert PROMOTION_EFFECTIVENESS_THRESHOLD == 0.60
    assert QUARANTINE_EFFECTIVENESS_THRESHOLD == 0.35
    assert DEGRADATION_THRESHOLD == 0.30


def judged(store: GlobalLearningStore, name: str, effectiveness: float, successes: int = 2,
           failures: int = 1, status: str = "pending") -> str:
    """A pattern with the given stored E and counts (E is not recomputed by the lifecycle)."""
    return make(store, name, effectiveness_score=effectiveness,
                led_to_success_count=successes, led_to_failure_count=failures,
                quarantine_status=status)


def test_promotion_boundaries(store: GlobalLearningStore, clock: FrozenClock) -> None:
    at_060 = judged(store, "at 0.60", 0.60)
    high = judged(store, "high", 0.95, successes=3, failures=0)
    at_035 = judged(store, "at 0.35", 0.35)
    middle = judged(store, "middle", 0.59999)
    just_below = judged(store, "just below", 0.34999)
    too_few = judged(store, "too few", 0.95, successes=1, failures=1)
    too_few_low = judged(store, "too few low", 0.1, successes=0, failures=2)
    null_status = judged(store, "null status", 0.95, status=None)  # type: ignore[arg-type]
    quarantined = judged(store, "quarantined", 0.95, status="quarantined")
    store.soft_delete_pattern(high)  # lifecycle ignores active
    clock.advance(minutes=1)
    result = store.promote_ready_patterns()
    assert sorted(result["promoted"]) == sorted([at_060, high])
    assert result["quarantined"] == [just_below]
    assert result["degraded"] == []
    status = {pid: raw(store, pid, "quarantine_status")
              for pid in (at_035, middle, too_few, too_few_low, null_status, quarantined)}
    assert status == {at_035: "pending", middle: "pending", too_few: "pending",
                      too_few_low: "pending", null_status: None, quarantined: "quarantined"}
    later = "2026-11-25T12:01:00.250000"
    assert raw(store, at_060, "validated_at") == later
    assert raw(store, at_060, "quarantined_at") is None
    assert raw(store, just_below, "quarantined_at") == later
    assert raw(store, just_below, "validated_at") is None
    # A second run has nothing left to do.
    assert store.promote_ready_patterns() == {"promoted": [], "quarantined": [],
                                              "degraded": []}


def test_degradation_of_validated_and_legacy_active(store: GlobalLearningStore,
                                                    clock: FrozenClock) -> None:
    validated = judged(store, "validated", 0.29999, status="validated")
    set_raw(store, validated, quarantine_reason="old reason")
    at_030 = judged(store, "at 0.30", 0.30, status="validated")
    legacy = judged(store, "legacy", 0.1, status="active")
    legacy_fine = judged(store, "legacy fine", 0.5, status="active")
    few = judged(store, "few", 0.1, successes=0, failures=2, status="validated")
    clock.advance(minutes=2)
    result = store.promote_ready_patterns()
    assert sorted(result["degraded"]) == sorted([validated, legacy])
    assert result["promoted"] == [] and result["quarantined"] == []
    later = "2026-11-25T12:02:00.250000"
    for pid in (validated, legacy):
        assert raw(store, pid, "quarantine_status") == "quarantined"
        assert raw(store, pid, "quarantined_at") == later
    assert raw(store, validated, "quarantine_reason") == "old reason"
    assert raw(store, at_030, "quarantine_status") == "validated"
    assert raw(store, legacy_fine, "quarantine_status") == "active"
    assert raw(store, few, "quarantine_status") == "validated"


def test_a_pattern_promoted_now_is_not_degraded(store: GlobalLearningStore) -> None:
    pid = judged(store, "fresh", 0.6)
    result = store.promote_ready_patterns()
    assert result == {"promoted": [pid], "quarantined": [], "degraded": []}


def test_applications_then_lifecycle_end_to_end(store: GlobalLearningStore,
                                                clock: FrozenClock) -> None:
    good = store.record_pattern("t", "good")
    bad = store.record_pattern("t", "bad")
    apply_many(store, clock, good, [(True, None)] * 3)
    apply_many(store, clock, bad, [(False, None)] * 3)
    # good: H = 3.5/4, R = 1 -> 0.9625; bad: H = 0.5/4 = 0.125, R = 0 -> 0.0375
    assert raw(store, good, "effectiveness_score") == pytest.approx(0.9625, abs=1e-12)
    assert raw(store, bad, "effectiveness_score") == pytest.approx(0.0375, abs=1e-12)
    assert store.promote_ready_patterns() == {"promoted": [good], "quarantined": [bad],
                                              "degraded": []}
    # good turns bad: three failures -> s=3, f=3, H = 3.5/7 = 0.5; the last five are
    # fail, fail, fail, ok, ok -> R = 0.4 -> 0.28 + 0.15 = 0.43 (not below 0.30)
    apply_many(store, clock, good, [(False, None)] * 3)
    assert raw(store, good, "effectiveness_score") == pytest.approx(0.43, abs=1e-12)
    assert store.promote_ready_patterns()["degraded"] == []
    # two more failures: s=3, f=5, H = 3.5/9, R = 0 -> 0.3*0.388889 = 0.1166667
    apply_many(store, clock, good, [(False, None)] * 2)
    assert raw(store, good, "effectiveness_score") == pytest.approx(0.35 / 3, abs=1e-12)
    assert store.promote_ready_patterns()["degraded"] == [good]


# -- Marianne's own file ------------------------------------------------------------------


def test_reads_every_pattern_of_a_marianne_file(small_fixture: Any, clock: FrozenClock) -> None:
    with sqlite3.connect(str(small_fixture)) as db:
        expected = db.execute(
            "SELECT id, context_tags FROM patterns ORDER BY priority_score DESC"
        ).fetchall()
    opened = GlobalLearningStore(small_fixture, clock=clock)
    try:
        every = opened.get_patterns(min_priority=0.0, limit=-1, include_inactive=True)
        assert sorted(ids(every)) == sorted(pid for pid, _ in expected)
        tag = "hostile"
        with_tag = {pid for pid, tags in expected if tags and tag in json.loads(tags)}
        matched = opened.get_patterns(min_priority=0.0, limit=-1, include_inactive=True,
                                      context_tags=[tag])
        assert 0 < len(with_tag) < len(expected)
        assert {p.id for p in matched} == with_tag
        assert all(opened.get_pattern_by_id(pid) is not None for pid, _ in expected[:20])
    finally:
        opened.close()
