"""Drop-in compatibility with the files Marianne itself writes (SQLite only, by nature).

Every read is checked against what plain ``sqlite3`` sees in the same file; every write is
checked to leave text in the same format as Marianne's own rows; opening must not touch a
file it is not asked to change; older files migrate as contract section 1.4 says.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import FrozenClock
from sqlalchemy import Table, select

from store import (
    GlobalLearningStore,
    PatternEntropyMetrics,
    QuarantineStatus,
    SchemaError,
    tables,
)
from store.base import hash_job
from store.tables import FlagInteger, IntBool, IsoTimestamp, JsonText, Real

NAIVE_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?$")
UTC_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?\+00:00$")

MARIANNE_TABLE_NAMES = [table.name for table in tables.MARIANNE_TABLES]


# -- reading the file the way Marianne's sqlite3 code does -------------------------------


def raw_rows(path: Path, sql: str, parameters: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    connection = sqlite3.connect(path)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute(sql, parameters)]
    finally:
        connection.close()


def ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def js(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def decode(column_type: Any, value: Any) -> Any:
    """What a reader gets from one stored value, per the contract's encodings (section 3)."""
    if value is None:
        return None
    if isinstance(column_type, IsoTimestamp):
        return datetime.fromisoformat(value)
    if isinstance(column_type, JsonText):
        return json.loads(value)
    if isinstance(column_type, IntBool | FlagInteger):
        return bool(value)
    if isinstance(column_type, Real):
        return float(value)
    return value


def by_key(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    keyed = {row[key]: row for row in rows}
    assert len(keyed) == len(rows), f"duplicate {key} values"
    return keyed


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wal_is_empty(path: Path) -> bool:
    wal = path.with_name(path.name + "-wal")
    return not wal.exists() or wal.stat().st_size == 0


@pytest.fixture
def small_store(small_fixture: Path) -> Iterator[GlobalLearningStore]:
    opened = GlobalLearningStore(small_fixture, clock=FrozenClock())
    yield opened
    opened.close()


# -- 1. every table, every row, through Core ---------------------------------------------


@pytest.mark.parametrize("fixture_name", ["small_fixture", "empty_fixture"])
@pytest.mark.parametrize("table", tables.MARIANNE_TABLES, ids=MARIANNE_TABLE_NAMES)
def test_every_row_reads_as_sqlite3_sees_it(
    fixture_name: str, table: Table, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(fixture_name)
    store = GlobalLearningStore(path)
    try:
        assert (store.schema_version, store.read_only, store.needs_migration) == (15, False, False)
        with store._engine.connect() as conn:
            read = [dict(row._mapping) for row in conn.execute(select(table))]
    finally:
        store.close()

    stored = raw_rows(path, f"SELECT * FROM {table.name}")
    expected = [
        {column.name: decode(column.type, row[column.name]) for column in table.columns}
        for row in stored
    ]
    key = next(iter(table.primary_key.columns)).name
    assert len(read) == len(expected)
    assert by_key(read, key) == by_key(expected, key)
    if fixture_name == "empty_fixture" and table.name != "schema_version":
        assert read == []


# -- 2. the public record-returning methods ----------------------------------------------


def test_patterns_through_get_patterns(
    small_fixture: Path, small_store: GlobalLearningStore
) -> None:
    records = small_store.get_patterns(min_priority=0, limit=-1, include_inactive=True)
    stored = raw_rows(small_fixture, "SELECT * FROM patterns")
    assert len(records) == len(stored) == 200
    priorities = [record.priority_score for record in records]
    assert priorities == sorted(priorities, reverse=True)

    expected: dict[str, dict[str, Any]] = {}
    for row in stored:
        trust = row["trust_score"]
        expected[row["id"]] = {
            "id": row["id"],
            "pattern_type": row["pattern_type"],
            "pattern_name": row["pattern_name"],
            "description": row["description"],
            "occurrence_count": row["occurrence_count"],
            "first_seen": ts(row["first_seen"]),
            "last_seen": ts(row["last_seen"]),
            "last_confirmed": ts(row["last_confirmed"]),
            "led_to_success_count": row["led_to_success_count"],
            "led_to_failure_count": row["led_to_failure_count"],
            "effectiveness_score": clamp(row["effectiveness_score"], 0.0, 1.0),
            "variance": max(0.0, row["variance"]),
            "suggested_action": row["suggested_action"],
            "context_tags": js(row["context_tags"]) or [],
            "priority_score": max(0.0, row["priority_score"]),
            "quarantine_status": row["quarantine_status"] or "pending",
            "provenance_job_hash": row["provenance_job_hash"],
            "provenance_sheet_num": row["provenance_sheet_num"],
            "quarantined_at": ts(row["quarantined_at"]),
            "validated_at": ts(row["validated_at"]),
            "quarantine_reason": row["quarantine_reason"],
            "trust_score": clamp(0.5 if trust is None else trust, 0.0, 1.0),
            "trust_calculation_date": ts(row["trust_calculation_date"]),
            "success_factors": js(row["success_factors"]),
            "success_factors_updated_at": ts(row["success_factors_updated_at"]),
            "active": True if row["active"] is None else bool(row["active"]),
            "content_hash": row["content_hash"],
            "instrument_name": row["instrument_name"],
        }
    read = {record.id: asdict(record) for record in records}
    assert read == expected
    assert all(isinstance(record.quarantine_status, QuarantineStatus) for record in records)

    for pattern_id in list(expected)[:20]:
        single = small_store.get_pattern_by_id(pattern_id)
        assert single is not None and asdict(single) == expected[pattern_id]


def test_executions_through_get_recent_executions(
    small_fixture: Path, small_store: GlobalLearningStore
) -> None:
    records = small_store.get_recent_executions(limit=10_000)
    stored = raw_rows(small_fixture, "SELECT * FROM executions")
    assert len(records) == len(stored) == 2000
    completed = [record.completed_at for record in records]
    assert completed == sorted(completed, reverse=True)  # type: ignore[type-var]
    expected = {
        row["id"]: {
            "id": row["id"],
            "workspace_hash": row["workspace_hash"],
            "job_hash": row["job_hash"],
            "sheet_num": row["sheet_num"],
            "started_at": ts(row["started_at"]),
            "completed_at": ts(row["completed_at"]),
            "duration_seconds": max(0.0, row["duration_seconds"] or 0.0),
            "status": row["status"] or "",
            "retry_count": max(0, row["retry_count"] or 0),
            "success_without_retry": bool(row["success_without_retry"]),
            "validation_pass_rate": clamp(row["validation_pass_rate"] or 0.0, 0.0, 1.0),
            "confidence_score": clamp(row["confidence_score"] or 0.0, 0.0, 1.0),
            "model": row["model"],
            "error_codes": js(row["error_codes"]) or [],
        }
        for row in stored
    }
    assert {record.id: asdict(record) for record in records} == expected
    # Marianne's own mix: started_at mostly aware UTC, completed_at naive local.
    assert any(r.started_at is not None and r.started_at.tzinfo is not None for r in records)
    assert all(r.completed_at is not None and r.completed_at.tzinfo is None for r in records)


def test_escalations_through_get_escalation_history(
    small_fixture: Path, small_store: GlobalLearningStore
) -> None:
    records = small_store.get_escalation_history(limit=1000)
    stored = raw_rows(small_fixture, "SELECT * FROM escalation_decisions")
    assert len(records) == len(stored) == 100
    known = {"retry", "skip", "abort", "modify_prompt"}
    expected = {
        row["id"]: {
            "id": row["id"],
            "job_hash": row["job_hash"],
            "sheet_num": row["sheet_num"],
            "confidence": clamp(row["confidence"], 0.0, 1.0),
            "action": row["action"] if row["action"] in known else "abort",
            "guidance": row["guidance"],
            "validation_pass_rate": row["validation_pass_rate"],
            "retry_count": row["retry_count"],
            "outcome_after_action": row["outcome_after_action"],
            "recorded_at": ts(row["recorded_at"]),
            "model": row["model"],
        }
        for row in stored
    }
    assert {record.id: asdict(record) for record in records} == expected


def test_trajectory_through_get_trajectory(
    small_fixture: Path, small_store: GlobalLearningStore
) -> None:
    records = small_store.get_trajectory(limit=1000)
    stored = raw_rows(small_fixture, "SELECT * FROM evolution_trajectory ORDER BY cycle DESC")
    assert [record.cycle for record in records] == [row["cycle"] for row in stored]
    assert [asdict(record) for record in records] == [
        {
            "id": row["id"],
            "cycle": row["cycle"],
            "recorded_at": ts(row["recorded_at"]),
            "evolutions_completed": row["evolutions_completed"],
            "evolutions_deferred": row["evolutions_deferred"],
            "issue_classes": js(row["issue_classes"]),
            "cv_avg": row["cv_avg"],
            "implementation_loc": row["implementation_loc"],
            "test_loc": row["test_loc"],
            "loc_accuracy": row["loc_accuracy"],
            "research_candidates_resolved": row["research_candidates_resolved"] or 0,
            "research_candidates_created": row["research_candidates_created"] or 0,
            "notes": row["notes"] or "",
        }
        for row in stored
    ]


def test_budget_and_entropy_tables_through_their_reads(
    small_fixture: Path, small_store: GlobalLearningStore
) -> None:
    budget = small_store.get_exploration_budget_history(limit=-1)
    stored = raw_rows(small_fixture, "SELECT * FROM exploration_budget")
    assert len(budget) == len(stored) == 50
    assert {record.id: asdict(record) for record in budget} == {
        row["id"]: {
            "id": row["id"],
            "job_hash": row["job_hash"],
            "recorded_at": ts(row["recorded_at"]),
            "budget_value": row["budget_value"],
            "entropy_at_time": row["entropy_at_time"],
            "adjustment_type": row["adjustment_type"],
            "adjustment_reason": row["adjustment_reason"],
        }
        for row in stored
    }
    latest = max(stored, key=lambda row: row["recorded_at"])
    current = small_store.get_exploration_budget()
    assert current is not None and current.id == latest["id"]

    responses = small_store.get_entropy_response_history(limit=-1)
    stored = raw_rows(small_fixture, "SELECT * FROM entropy_responses")
    assert len(responses) == len(stored) == 10
    assert {record.id: asdict(record) for record in responses} == {
        row["id"]: {
            "id": row["id"],
            "job_hash": row["job_hash"],
            "recorded_at": ts(row["recorded_at"]),
            "entropy_at_trigger": row["entropy_at_trigger"],
            "threshold_used": row["threshold_used"],
            "actions_taken": js(row["actions_taken"]),
            "budget_boosted": bool(row["budget_boosted"]),
            "quarantine_revisits": row["quarantine_revisits"],
            "patterns_revisited": js(row["patterns_revisited"]) or [],
        }
        for row in stored
    }

    history = small_store.get_pattern_entropy_history(limit=-1)
    stored = raw_rows(
        small_fixture, "SELECT * FROM pattern_entropy_history ORDER BY calculated_at DESC"
    )
    assert len(history) == len(stored) == 40
    assert history == [
        PatternEntropyMetrics(
            calculated_at=datetime.fromisoformat(row["calculated_at"]),
            shannon_entropy=row["shannon_entropy"],
            max_possible_entropy=row["max_possible_entropy"],
            diversity_index=row["diversity_index"],
            unique_pattern_count=row["unique_pattern_count"],
            effective_pattern_count=row["effective_pattern_count"],
            total_applications=row["total_applications"],
            dominant_pattern_share=row["dominant_pattern_share"],
            threshold_exceeded=bool(row["threshold_exceeded"]),
        )
        for row in stored
    ]

    # The live entropy, recomputed by hand from the raw application counts.
    counts = [
        row["n"]
        for row in raw_rows(
            small_fixture,
            "SELECT COUNT(a.id) AS n FROM patterns p "
            "LEFT JOIN pattern_applications a ON a.pattern_id = p.id GROUP BY p.id",
        )
    ]
    total = sum(counts)
    shares = [count / total for count in counts if count]
    entropy = small_store.calculate_pattern_entropy()
    assert entropy.unique_pattern_count == 200
    assert entropy.total_applications == total == 5000
    assert entropy.effective_pattern_count == len(shares)
    assert entropy.shannon_entropy == pytest.approx(-sum(p * math.log2(p) for p in shares))
    assert entropy.dominant_pattern_share == pytest.approx(max(shares))


def test_rate_limits_and_discoveries_inside_their_windows(small_fixture: Path) -> None:
    events = raw_rows(small_fixture, "SELECT * FROM rate_limit_events ORDER BY recorded_at")
    middle = events[len(events) // 2]
    # Rate-limit rows carry UTC; the frozen clock's naive time is that same instant.
    instant = datetime.fromisoformat(middle["recorded_at"]) + timedelta(seconds=1)
    store = GlobalLearningStore(small_fixture, clock=FrozenClock(instant.replace(tzinfo=None)))
    try:
        active = store.get_active_rate_limits()
        expected = [row for row in events if datetime.fromisoformat(row["expires_at"]) > instant]
        assert expected, "the chosen instant should fall inside at least one event"
        assert {event.id: asdict(event) for event in active} == {
            row["id"]: {
                "id": row["id"],
                "error_code": row["error_code"],
                "model": row["model"],
                "recorded_at": ts(row["recorded_at"]),
                "expires_at": ts(row["expires_at"]),
                "source_job_hash": row["source_job_hash"],
                "duration_seconds": row["duration_seconds"],
            }
            for row in expected
        }
        assert all(event.recorded_at.tzinfo == UTC for event in active)
        limited, seconds = store.is_rate_limited()
        latest = max(datetime.fromisoformat(row["expires_at"]) for row in expected)
        assert limited is True
        assert seconds == pytest.approx((latest - instant).total_seconds())
    finally:
        store.close()

    discoveries = raw_rows(small_fixture, "SELECT * FROM pattern_discovery_events")
    chosen = sorted(discoveries, key=lambda row: row["recorded_at"])[len(discoveries) // 2]
    local = datetime.fromisoformat(chosen["recorded_at"]) + timedelta(seconds=1)
    store = GlobalLearningStore(small_fixture, clock=FrozenClock(local))
    try:
        active_discoveries = store.get_active_pattern_discoveries()
        expected = [row for row in discoveries if datetime.fromisoformat(row["expires_at"]) > local]
        assert expected
        assert {event.id: asdict(event) for event in active_discoveries} == {
            row["id"]: {
                "id": row["id"],
                "pattern_id": row["pattern_id"],
                "pattern_name": row["pattern_name"],
                "pattern_type": row["pattern_type"],
                "source_job_hash": row["source_job_hash"],
                "recorded_at": ts(row["recorded_at"]),
                "expires_at": ts(row["expires_at"]),
                "effectiveness_score": row["effectiveness_score"],
                "context_tags": js(row["context_tags"]) or [],
            }
            for row in expected
        }
    finally:
        store.close()


def test_workspace_clusters_and_recoveries_through_their_reads(
    small_fixture: Path, small_store: GlobalLearningStore
) -> None:
    clusters = raw_rows(small_fixture, "SELECT * FROM workspace_clusters")
    assert clusters
    for row in clusters:
        assert small_store.get_workspace_cluster(row["workspace_hash"]) == row["cluster_id"]
        members = [
            other["workspace_hash"]
            for other in sorted(clusters, key=lambda r: r["assigned_at"], reverse=True)
            if other["cluster_id"] == row["cluster_id"]
        ]
        assert small_store.get_similar_workspaces(row["cluster_id"]) == members

    successes = raw_rows(
        small_fixture,
        "SELECT error_code, COUNT(*) AS n FROM error_recoveries "
        "WHERE recovery_success = 1 GROUP BY error_code",
    )
    assert successes
    for row in successes:
        assert small_store.get_error_recovery_sample_count(row["error_code"]) == row["n"]


def test_statistics_match_plain_sql(small_fixture: Path, small_store: GlobalLearningStore) -> None:
    raw = raw_rows(
        small_fixture,
        "SELECT COUNT(*) AS total, AVG(budget_value) AS avg, MIN(budget_value) AS min,"
        " MAX(budget_value) AS max,"
        " SUM(adjustment_type = 'floor_enforced') AS floors,"
        " SUM(adjustment_type = 'boost') AS boosts, SUM(adjustment_type = 'decay') AS decays"
        " FROM exploration_budget",
    )[0]
    stats = small_store.get_exploration_budget_statistics()
    assert stats["total_adjustments"] == raw["total"] == 50
    assert stats["avg_budget"] == pytest.approx(raw["avg"])
    assert (stats["min_budget"], stats["max_budget"]) == (raw["min"], raw["max"])
    assert (stats["floor_enforcements"], stats["boost_count"], stats["decay_count"]) == (
        raw["floors"], raw["boosts"], raw["decays"]
    )
    raw = raw_rows(
        small_fixture,
        "SELECT COUNT(*) AS total, AVG(entropy_at_trigger) AS avg,"
        " SUM(budget_boosted) AS boosts, SUM(quarantine_revisits) AS revisits,"
        " MAX(recorded_at) AS last FROM entropy_responses",
    )[0]
    assert small_store.get_entropy_response_statistics() == {
        "total_responses": raw["total"],
        "avg_entropy_at_trigger": pytest.approx(raw["avg"]),
        "budget_boosts": raw["boosts"],
        "quarantine_revisits": raw["revisits"],
        "last_response": raw["last"],
    }


# -- 3. writes leave Marianne's formats --------------------------------------------------


def column_profile(path: Path, table: str, where: str = "1") -> dict[str, set[str]]:
    """The typeof() values each column holds in the selected rows."""
    columns = [row["name"] for row in raw_rows(path, f"PRAGMA table_info({table})")]
    profile: dict[str, set[str]] = {}
    for column in columns:
        rows = raw_rows(path, f"SELECT DISTINCT typeof({column}) AS t FROM {table} WHERE {where}")
        profile[column] = {row["t"] for row in rows}
    return profile


def timestamp_kind(value: str) -> str:
    if NAIVE_LOCAL.match(value):
        return "naive"
    if UTC_OFFSET.match(value):
        return "utc"
    return f"unexpected: {value!r}"


def assert_same_format(
    path: Path, table: str, new_ids: list[str], key: str = "id"
) -> dict[str, Any]:
    """New rows hold the same storage types and text formats as Marianne's rows."""
    placeholders = ", ".join("?" for _ in new_ids)
    marked = f"{key} IN ({', '.join(repr(i) for i in new_ids)})"
    original = column_profile(path, table, f"NOT ({marked})")
    written = column_profile(path, table, marked)
    for column, kinds in written.items():
        assert kinds <= original[column], (table, column, kinds, original[column])

    timestamp_columns = [c.name for c in getattr(tables, table).columns
                         if isinstance(c.type, IsoTimestamp)]
    json_columns = [c.name for c in getattr(tables, table).columns
                    if isinstance(c.type, JsonText)]
    new_rows = raw_rows(path, f"SELECT * FROM {table} WHERE {key} IN ({placeholders})",
                        tuple(new_ids))
    old_rows = raw_rows(path, f"SELECT * FROM {table} WHERE NOT ({marked})")
    for column in timestamp_columns:
        marianne_kinds = {timestamp_kind(r[column]) for r in old_rows if r[column] is not None}
        for row in new_rows:
            if row[column] is not None:
                assert {timestamp_kind(row[column])} <= marianne_kinds, (column, row[column])
    for column in json_columns:
        for row in [*old_rows, *new_rows]:
            if row[column] is not None:
                assert row[column] == json.dumps(json.loads(row[column])), (column, row[column])
    return {row[key]: row for row in new_rows}


def test_writes_produce_mariannes_formats(small_fixture: Path) -> None:
    clock = FrozenClock(datetime(2026, 11, 25, 12, 0, 0, 250000))
    store = GlobalLearningStore(small_fixture, clock=clock)
    try:
        pending = raw_rows(
            small_fixture,
            "SELECT id FROM patterns WHERE quarantine_status = 'pending' ORDER BY id LIMIT 2",
        )
        to_quarantine, to_validate = pending[0]["id"], pending[1]["id"]
        response = store.trigger_entropy_response("6e78c485ae49a922", 0.1, 0.3)
        assert store.quarantine_pattern(to_quarantine, "flaky: [b]bold[/b] \u00e9") is True
        assert store.validate_pattern(to_validate) is True

        open_escalation = raw_rows(
            small_fixture,
            "SELECT id FROM escalation_decisions WHERE outcome_after_action IS NULL LIMIT 1",
        )[0]["id"]
        assert store.update_escalation_outcome(open_escalation, "success") is True

        budget = store.update_exploration_budget(
            "6e78c485ae49a922", 0.2, "boost", entropy_at_time=0.25, adjustment_reason="test"
        )
        nan_budget = store.update_exploration_budget(
            "6e78c485ae49a922", 0.1, "decay", entropy_at_time=math.nan, adjustment_reason="nan"
        )
        limit_id = store.record_rate_limit_event("E101", 120.0, "my-job", model="gpt-5")
        snapshot = store.calculate_pattern_entropy()
        snapshot.threshold_exceeded = True
        snapshot_id = store.record_pattern_entropy(snapshot)
    finally:
        store.close()

    patterns = assert_same_format(small_fixture, "patterns", [to_quarantine, to_validate])
    assert patterns[to_quarantine]["quarantine_status"] == "quarantined"
    assert patterns[to_quarantine]["quarantined_at"] == "2026-11-25T12:00:00.250000"
    assert patterns[to_quarantine]["quarantine_reason"] == "flaky: [b]bold[/b] \u00e9"
    assert patterns[to_validate]["quarantine_status"] == "validated"
    assert patterns[to_validate]["validated_at"] == "2026-11-25T12:00:00.250000"
    assert patterns[to_validate]["quarantine_reason"] is None

    escalations = assert_same_format(small_fixture, "escalation_decisions", [open_escalation])
    assert escalations[open_escalation]["outcome_after_action"] == "success"

    budgets = assert_same_format(small_fixture, "exploration_budget", [budget.id, nan_budget.id])
    assert budgets[budget.id]["recorded_at"] == "2026-11-25T12:00:00.250000"
    assert (budgets[budget.id]["budget_value"], budgets[budget.id]["entropy_at_time"]) == (
        0.2, 0.25
    )
    assert budgets[nan_budget.id]["entropy_at_time"] is None

    limits = assert_same_format(small_fixture, "rate_limit_events", [limit_id])
    assert limits[limit_id]["recorded_at"] == "2026-11-25T12:00:00.250000+00:00"
    assert limits[limit_id]["expires_at"] == "2026-11-25T12:01:36.250000+00:00"  # + 0.8 * 120 s
    assert limits[limit_id]["source_job_hash"] == hash_job("my-job")

    responses = assert_same_format(small_fixture, "entropy_responses", [response.id])
    stored_response = responses[response.id]
    assert stored_response["actions_taken"] == '["budget_boost", "quarantine_revisit"]'
    assert stored_response["budget_boosted"] == 1
    assert json.loads(stored_response["patterns_revisited"]) == response.patterns_revisited
    assert len(response.patterns_revisited) == 3

    history = assert_same_format(small_fixture, "pattern_entropy_history", [snapshot_id])
    assert history[snapshot_id]["threshold_exceeded"] == 1
    assert history[snapshot_id]["calculated_at"] == "2026-11-25T12:00:00.250000"


def test_whole_second_timestamps_drop_microseconds(small_fixture: Path) -> None:
    store = GlobalLearningStore(small_fixture, clock=FrozenClock(datetime(2026, 11, 25, 12)))
    try:
        record = store.update_exploration_budget("job", 0.2, "boost")
        limit_id = store.record_rate_limit_event("E101", 10.0, "job")
    finally:
        store.close()
    assert raw_rows(small_fixture, "SELECT recorded_at FROM exploration_budget WHERE id = ?",
                    (record.id,)) == [{"recorded_at": "2026-11-25T12:00:00"}]
    assert raw_rows(small_fixture, "SELECT recorded_at, expires_at FROM rate_limit_events "
                                   "WHERE id = ?", (limit_id,)) == [
        {"recorded_at": "2026-11-25T12:00:00+00:00", "expires_at": "2026-11-25T12:00:08+00:00"}
    ]


# -- 4. a newer schema is never written ---------------------------------------------------


def stamp_version(path: Path, version: int) -> None:
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("UPDATE schema_version SET version = ?", (version,))
    connection.close()


def test_v16_file_opens_read_only_and_is_never_written(empty_fixture: Path) -> None:
    stamp_version(empty_fixture, 16)
    before = sha256(empty_fixture)
    assert wal_is_empty(empty_fixture)

    store = GlobalLearningStore(empty_fixture, clock=FrozenClock())
    try:
        assert (store.read_only, store.newer_schema, store.schema_version) == (True, True, 16)
        assert store.needs_migration is False
        assert store.schema_warning is not None and "v16" in store.schema_warning
        assert store.get_patterns(min_priority=0, limit=-1, include_inactive=True) == []
        assert store.get_exploration_budget() is None
        assert store.get_exploration_budget_statistics()["total_adjustments"] == 0
        assert store.calculate_pattern_entropy().unique_pattern_count == 0
        assert store.check_entropy_response_needed("job")[2] == (
            "No pattern applications to analyze"
        )
        assert store.get_entropy_response_history() == []
        assert store.get_active_rate_limits() == []

        writes: list[Callable[[], object]] = [
            lambda: store.record_pattern("validation_failure", "file not created"),
            lambda: store.update_exploration_budget("job", 0.2, "boost"),
            lambda: store.calculate_budget_adjustment("job", 0.5),
            lambda: store.trigger_entropy_response("job", 0.1, 0.3),
            lambda: store.record_pattern_entropy(store.calculate_pattern_entropy()),
            lambda: store.record_rate_limit_event("E101", 60.0, "job"),
            lambda: store.quarantine_pattern("no-such-id", "why"),
            lambda: store.validate_pattern("no-such-id"),
            lambda: store.update_escalation_outcome("no-such-id", "success"),
            store.clear_all,
        ]
        for write in writes:
            with pytest.raises(SchemaError):
                write()
    finally:
        store.close()

    assert sha256(empty_fixture) == before
    assert wal_is_empty(empty_fixture)
    assert raw_rows(empty_fixture, "SELECT version FROM schema_version") == [{"version": 16}]


def test_v15_file_read_and_closed_keeps_its_bytes(small_fixture: Path) -> None:
    before = sha256(small_fixture)
    store = GlobalLearningStore(small_fixture, clock=FrozenClock())
    try:
        assert not store.read_only
        store.get_patterns(min_priority=0, limit=-1, include_inactive=True)
        store.get_exploration_budget_history(limit=-1)
        store.get_exploration_budget_statistics()
        store.calculate_pattern_entropy()
        store.check_entropy_response_needed("job")
        store.get_entropy_response_statistics()
        store.get_pattern_entropy_history()
        store.get_active_rate_limits()
    finally:
        store.close()
    assert sha256(small_fixture) == before
    assert wal_is_empty(small_fixture)


# -- 5. an older file migrates as Marianne migrates it ------------------------------------

V12_SCHEMA = """
CREATE TABLE schema_version (version INTEGER PRIMARY KEY);
INSERT INTO schema_version VALUES (12);
CREATE TABLE executions (
  id TEXT PRIMARY KEY, workspace_hash TEXT NOT NULL, job_hash TEXT NOT NULL,
  sheet_num INTEGER NOT NULL, started_at TIMESTAMP, completed_at TIMESTAMP,
  duration_seconds REAL, status TEXT, retry_count INTEGER DEFAULT 0,
  first_attempt_success BOOLEAN, validation_pass_rate REAL, confidence_score REAL,
  model TEXT, error_codes TEXT
);
CREATE TABLE patterns (
  id TEXT PRIMARY KEY, pattern_type TEXT NOT NULL, pattern_name TEXT NOT NULL,
  description TEXT, occurrence_count INTEGER DEFAULT 1, first_seen TIMESTAMP,
  last_seen TIMESTAMP, last_confirmed TIMESTAMP, led_to_success_count INTEGER DEFAULT 0,
  led_to_failure_count INTEGER DEFAULT 0, effectiveness_score REAL DEFAULT 0.5,
  variance REAL DEFAULT 0.0, suggested_action TEXT, context_tags TEXT,
  priority_score REAL DEFAULT 0.5
);
CREATE TABLE pattern_applications (
  id TEXT PRIMARY KEY,
  pattern_id TEXT REFERENCES patterns(id),
  execution_id TEXT REFERENCES executions(id),
  applied_at TIMESTAMP,
  outcome_improved BOOLEAN,
  retry_count_before INTEGER,
  retry_count_after INTEGER
);
CREATE INDEX idx_app_pattern ON pattern_applications(pattern_id);
CREATE TABLE error_recoveries (
  id TEXT PRIMARY KEY, error_code TEXT NOT NULL, suggested_wait REAL, actual_wait REAL,
  recovery_success BOOLEAN, recorded_at TIMESTAMP, model TEXT, time_of_day INTEGER
);
"""

#: (id, s, f, priority before) -> priority after the v<13 repair (s + f = 0 and P < 0.3).
V12_PATTERNS = [
    ("unused-low", 0, 0, 0.2, 0.5),
    ("unused-boundary", 0, 0, 0.3, 0.3),
    ("unused-ok", 0, 0, 0.45, 0.45),
    ("used-low", 1, 1, 0.1, 0.1),
]


def build_v12_file(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.executescript(V12_SCHEMA)
    with connection:
        for pattern_id, successes, failures, priority, _ in V12_PATTERNS:
            connection.execute(
                "INSERT INTO patterns (id, pattern_type, pattern_name, description,"
                " occurrence_count, first_seen, last_seen, last_confirmed,"
                " led_to_success_count, led_to_failure_count, effectiveness_score,"
                " context_tags, priority_score) VALUES"
                " (?, 'validation_failure', ?, NULL, 2, '2025-06-01T10:00:00',"
                " '2025-06-02T10:00:00.5', '2025-06-02T10:00:00', ?, ?, 0.5, '[\"old\"]', ?)",
                (pattern_id, f"name {pattern_id}", successes, failures, priority),
            )
        connection.execute(
            "INSERT INTO executions (id, workspace_hash, job_hash, sheet_num, completed_at,"
            " status, first_attempt_success) VALUES"
            " ('e1', 'ws', 'job', 3, '2025-06-02T10:00:00', 'completed', 1)"
        )
        connection.execute(
            "INSERT INTO pattern_applications VALUES"
            " ('a1', 'used-low', 'e1', '2025-06-02T10:00:00', 1, 0, 0),"
            " ('a2', 'used-low', 'e1', '2025-06-02T11:00:00', 0, 1, 2)"
        )
    connection.close()


def test_v12_file_migrates_to_v15(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    build_v12_file(path)
    assert raw_rows(path, "PRAGMA foreign_key_list(pattern_applications)")

    store = GlobalLearningStore(path, clock=FrozenClock())
    try:
        assert (store.schema_version, store.needs_migration, store.read_only) == (15, False, False)
        records = {r.id: r for r in store.get_patterns(min_priority=0, limit=-1,
                                                        include_inactive=True)}
    finally:
        store.close()

    assert raw_rows(path, "SELECT version FROM schema_version") == [{"version": 15}]
    names = {row["name"] for row in raw_rows(path, "SELECT name FROM sqlite_master "
                                                   "WHERE type = 'table'")}
    assert set(MARIANNE_TABLE_NAMES) <= names
    assert "pattern_applications_new" not in names

    # Columns added with their defaults; the old rows pick the defaults up.
    pattern_columns = [row["name"] for row in raw_rows(path, "PRAGMA table_info(patterns)")]
    assert pattern_columns == [c.name for c in tables.patterns.columns]
    stored = by_key(raw_rows(path, "SELECT * FROM patterns"), "id")
    for pattern_id, _, _, _, repaired in V12_PATTERNS:
        row = stored[pattern_id]
        assert (row["quarantine_status"], row["trust_score"], row["active"]) == (
            "pending", 0.5, 1
        )
        for column in ("provenance_job_hash", "quarantined_at", "validated_at",
                       "quarantine_reason", "success_factors", "content_hash",
                       "instrument_name", "trust_calculation_date"):
            assert row[column] is None
        assert row["priority_score"] == repaired
        record = records[pattern_id]
        assert record.quarantine_status is QuarantineStatus.PENDING
        assert (record.priority_score, record.trust_score, record.active) == (repaired, 0.5, True)
        assert record.context_tags == ["old"]
        assert record.last_seen == datetime(2025, 6, 2, 10, 0, 0, 500000)

    # Renames, and the applications table rebuilt without foreign keys, data kept.
    application_columns = [
        row["name"] for row in raw_rows(path, "PRAGMA table_info(pattern_applications)")
    ]
    assert application_columns == [c.name for c in tables.pattern_applications.columns]
    assert raw_rows(path, "PRAGMA foreign_key_list(pattern_applications)") == []
    assert raw_rows(path, "SELECT * FROM pattern_applications ORDER BY id") == [
        {"id": "a1", "pattern_id": "used-low", "execution_id": "e1",
         "applied_at": "2025-06-02T10:00:00", "pattern_led_to_success": 1,
         "retry_count_before": 0, "retry_count_after": 0, "grounding_confidence": None},
        {"id": "a2", "pattern_id": "used-low", "execution_id": "e1",
         "applied_at": "2025-06-02T11:00:00", "pattern_led_to_success": 0,
         "retry_count_before": 1, "retry_count_after": 2, "grounding_confidence": None},
    ]
    indexes = {row["name"] for row in raw_rows(path, "PRAGMA index_list(pattern_applications)")}
    assert {"idx_app_pattern", "idx_app_execution"} <= indexes
    execution_columns = [row["name"] for row in raw_rows(path, "PRAGMA table_info(executions)")]
    assert "success_without_retry" in execution_columns
    assert "first_attempt_success" not in execution_columns
    assert raw_rows(path, "SELECT success_without_retry FROM executions") == [
        {"success_without_retry": 1}
    ]

    # The migrated file works for the whole store.
    store = GlobalLearningStore(path, clock=FrozenClock())
    try:
        assert store.calculate_pattern_entropy().total_applications == 2
        assert store.calculate_budget_adjustment("job", 0.5).budget_value == 0.15
    finally:
        store.close()


def test_read_only_open_of_an_older_file_does_not_migrate(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    build_v12_file(path)
    before = sha256(path)
    store = GlobalLearningStore(path, read_only=True)
    try:
        assert (store.read_only, store.needs_migration, store.schema_version) == (True, True, 12)
        assert store.newer_schema is False
        assert store.schema_warning is not None and "migration" in store.schema_warning
    finally:
        store.close()
    assert sha256(path) == before
    assert raw_rows(path, "SELECT version FROM schema_version") == [{"version": 12}]
    assert raw_rows(path, "PRAGMA foreign_key_list(pattern_applications)")
