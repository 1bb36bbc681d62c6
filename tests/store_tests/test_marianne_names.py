"""The private names Marianne's code and tests reach for behave as Marianne's do.

Expected numbers are worked by hand from the formulas of the store contract (sections 5.3,
5.4 and 6.1).
"""

from __future__ import annotations

import hashlib
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import store as store_package
from store import GlobalLearningStore, get_global_store
from store.base import WhereBuilder, content_hash_for
from store.models import EscalationDecisionRecord
from store.patterns_crud import PatternCrudMixin


def test_where_builder_joins_clauses_and_collects_parameters() -> None:
    builder = WhereBuilder()
    assert builder.build() == ("1=1", ())
    builder.add("status = ?", "done")
    builder.add("score BETWEEN ? AND ?", 0.2, 0.8)
    builder.add("active = 1")
    assert builder.build() == (
        "status = ? AND score BETWEEN ? AND ? AND active = 1",
        ("done", 0.2, 0.8),
    )


def test_where_builder_output_runs_through_get_connection(store: GlobalLearningStore) -> None:
    store.record_pattern("a", "one")
    store.record_pattern("b", "two")
    builder = WhereBuilder()
    builder.add("pattern_type = ?", "b")
    where, parameters = builder.build()
    with store._get_connection() as conn:
        rows = conn.execute(f"SELECT pattern_name FROM patterns WHERE {where}", parameters)
        assert [row["pattern_name"] for row in rows.fetchall()] == ["two"]


def test_bayesian_effectiveness_by_hand() -> None:
    # 0.7 * 1.0 + 0.3 * 0.5 = 0.85, no decay, full grounding weight 0.7 + 0.3 * 1.0
    assert PatternCrudMixin._bayesian_effectiveness(0.5, 1.0, 0, 1.0) == pytest.approx(0.85)
    # 30 days: one decay period of 0.9; no grounding: weight 0.7 -> 0.85 * 0.9 * 0.7
    assert PatternCrudMixin._bayesian_effectiveness(0.5, 1.0, 30, 0.0) == pytest.approx(0.5355)
    # alpha moves the blend: 0.5 * 1.0 + 0.5 * 0.5
    assert PatternCrudMixin._bayesian_effectiveness(0.5, 1.0, 0, 1.0, alpha=0.5) == 0.75


class _Floor:
    """Marianne's tests call the method on any object that has the floor."""

    FREQUENCY_FACTOR_FLOOR = 0.1


def test_priority_score_reads_the_floor_from_self() -> None:
    assert PatternCrudMixin.FREQUENCY_FACTOR_FLOOR == 0.6
    score = PatternCrudMixin._calculate_priority_score
    mixin: Any = _Floor()
    default: Any = type("Default", (), {"FREQUENCY_FACTOR_FLOOR": 0.6})()
    # one sighting: log10(2) / 2 = 0.1505 is below the floor 0.6 -> 0.8 * 0.6 * 0.75
    assert score(default, 0.8, 1, 0.25) == pytest.approx(0.36)
    # with a floor of 0.1 the raw frequency counts: 0.8 * 0.150515 * 0.75
    assert score(mixin, 0.8, 1, 0.25) == pytest.approx(0.0903090, abs=1e-6)
    # 999 sightings: log10(1000) / 2 = 1.5, capped at 1 -> 0.8 * 1 * 0.75
    assert score(default, 0.8, 999, 0.25) == pytest.approx(0.6)
    # clamped to [0, 1]
    assert score(default, 3.0, 999, 0.0) == 1.0 and score(default, 0.5, 1, 1.5) == 0.0


def test_content_hash_of_a_normalized_name() -> None:
    expected = hashlib.sha256(b"TYPE:file not created:desc").hexdigest()[:32]
    assert PatternCrudMixin._compute_content_hash("TYPE", "file not created", "desc") == expected
    assert content_hash_for("TYPE", "File  Not Created", "desc") == expected
    assert PatternCrudMixin._compute_content_hash("TYPE", "name", None) == (
        hashlib.sha256(b"TYPE:name:").hexdigest()[:32]
    )


def test_effectiveness_helpers_over_a_raw_connection(store: GlobalLearningStore) -> None:
    pid = store.record_pattern("t", "four applications")
    for ok, grounding in ((True, None), (True, 0.4), (False, None), (True, 0.8)):
        store.record_pattern_application(pid, "e", ok, grounding_confidence=grounding)
    now = store.clock.local()
    with store._get_connection() as conn:
        rate, grounding = store._fetch_recent_applications(conn, pid)
        effectiveness = store._calculate_effectiveness(pid, 3, 1, now, now, conn)
        cold = store._calculate_effectiveness(pid, 1, 1, now, now, conn)
    assert (rate, grounding) == (0.75, pytest.approx(0.6))
    # historical (3 + 0.5) / 5 = 0.7; 0.7 * 0.75 + 0.3 * 0.7 = 0.735; weight 0.7 + 0.3 * 0.6
    assert effectiveness == pytest.approx(0.735 * 0.88)
    assert cold == 0.55


@dataclass
class _Outcome:
    validation_pass_rate: float
    retry_count: int
    success_without_retry: bool


def test_execution_helpers(store: GlobalLearningStore) -> None:
    assert store._extract_sheet_num("job-sheet12") == 12
    assert store._extract_sheet_num("7") == 7 and store._extract_sheet_num("sheet") == 0
    # 0.8 - 0.1 * 2 = 0.6; 0.95 - 0 + 0.1 capped at 1.0; 0.3 - 0.1 * 5 (at most 5) -> 0
    assert store._calculate_confidence(_Outcome(0.8, 2, False)) == pytest.approx(0.6)  # type: ignore[arg-type]
    assert store._calculate_confidence(_Outcome(0.95, 0, True)) == 1.0  # type: ignore[arg-type]
    assert store._calculate_confidence(_Outcome(0.3, 9, False)) == 0.0  # type: ignore[arg-type]


def test_where_job_hash() -> None:
    assert GlobalLearningStore._where_job_hash("abc") == ("WHERE job_hash = ?", ("abc",))
    assert GlobalLearningStore._where_job_hash(None) == ("", ())
    assert GlobalLearningStore._where_job_hash("") == ("", ())


def test_the_singleton_lives_in_the_package(tmp_path: Path) -> None:
    store_package._global_store = None
    try:
        first = get_global_store(tmp_path / "a.db")
        assert store_package._global_store is first
        assert get_global_store() is first
        store_package._global_store = None  # what Marianne's test fixtures do
        second = get_global_store(tmp_path / "a.db")
        assert second is not first and store_package._global_store is second
    finally:
        if store_package._global_store is not None:
            store_package._global_store.close()
        store_package._global_store = None


def test_repair_of_unapplied_priorities(sqlite_store: GlobalLearningStore) -> None:
    never = sqlite_store.record_pattern("t", "never applied")
    applied = sqlite_store.record_pattern("t", "applied")
    sqlite_store.record_pattern_application(applied, "e", False)
    with sqlite_store._get_connection() as conn:
        conn.execute("UPDATE patterns SET priority_score = 0.1")
        sqlite_store._repair_unapplied_pattern_priorities(conn)
    scores = {p.id: p.priority_score for p in sqlite_store.get_patterns(min_priority=0.0)}
    assert scores == {never: 0.5, applied: 0.1}


def test_class_attributes() -> None:
    assert {"retry", "skip", "abort", "modify_prompt"} == EscalationDecisionRecord._VALID_ACTIONS
    assert GlobalLearningStore._DATA_TABLES[0] == "pattern_applications"
    assert len(GlobalLearningStore._DATA_TABLES) == 12
    assert ("outcome_improved", "pattern_led_to_success") in (
        GlobalLearningStore._COLUMN_RENAMES["pattern_applications"]
    )


# -- Marianne's event names -----------------------------------------------------------------


def test_events_go_to_the_standard_logger_outside_marianne(
    sqlite_store: GlobalLearningStore,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("store.base._marianne_structlog", lambda: None)
    with caplog.at_level(logging.WARNING, logger="store"):
        sqlite_store.record_pattern_application("nope", "e", True)
        assert sqlite_store.update_success_factors("gone") is None
        assert not sqlite_store.quarantine_pattern("gone")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.WARNING,
            "pattern_application_skipped pattern_id='nope' reason='pattern_not_found'",
        ),
        (
            logging.WARNING,
            "update_success_factors_skipped pattern_id='gone' reason='pattern_not_found'",
        ),
        (logging.WARNING, "pattern_not_found pattern_id='gone' operation='quarantine'"),
    ]


class _StructlogDouble:
    """Records what would reach structlog in Marianne's process."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.bound: dict[str, Any] = {}

    def get_logger(self) -> _StructlogDouble:
        return self

    def bind(self, **context: Any) -> _StructlogDouble:
        self.bound = context
        return self

    def __getattr__(self, level: str) -> Any:
        return lambda event, **fields: self.events.append((level, event, fields))


def test_events_go_through_structlog_inside_marianne(
    sqlite_store: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    double = _StructlogDouble()
    monkeypatch.setattr("store.base._marianne_structlog", lambda: double)
    pid = sqlite_store.record_pattern("t", "soon gone")
    sqlite_store.soft_delete_pattern(pid)
    sqlite_store.record_pattern_application("nope", "e", True)
    assert double.bound == {"component": "learning.global_store"}
    assert double.events == [
        ("info", "pattern_soft_deleted", {"pattern_id": pid}),
        ("warning", "pattern_application_skipped",
         {"pattern_id": "nope", "reason": "pattern_not_found"}),
    ]


def test_structlog_is_used_only_inside_mariannes_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from store.base import _marianne_structlog

    double = _StructlogDouble()
    monkeypatch.setitem(sys.modules, "structlog", double)  # type: ignore[arg-type]
    monkeypatch.delitem(sys.modules, "marianne.core.logging", raising=False)
    assert _marianne_structlog() is None  # installed is not enough: it would print to stdout
    monkeypatch.setitem(sys.modules, "marianne.core.logging", ModuleType("marianne.core.logging"))
    assert _marianne_structlog() is double


def test_effectiveness_is_mariannes_to_the_last_bit() -> None:
    from store import metrics

    # Two successes, one failure: 0.7 * 2/3 + (1 - 0.7) * 0.625. Marianne's weight for
    # history is 1 - 0.7 = 0.30000000000000004; with 0.3 the result is 0.6541666666666666.
    assert metrics.effectiveness(2, 1, [True, True, False], [None] * 3, 0) == 0.6541666666666667
    for successes in range(8):
        for failures in range(8):
            if successes + failures < 3:
                continue
            historical = (successes + 0.5) / (successes + failures + 1)
            outcomes = [True] * min(successes, 5) + [False] * max(0, 5 - min(successes, 5))
            outcomes = outcomes[: min(5, successes + failures)]
            recent = sum(outcomes) / len(outcomes)
            for days, grounding in ((0, None), (45, 0.25)):
                assert metrics.effectiveness(
                    successes, failures, outcomes, [grounding] * len(outcomes), days
                ) == PatternCrudMixin._bayesian_effectiveness(
                    historical, recent, days, 1.0 if grounding is None else grounding
                )
