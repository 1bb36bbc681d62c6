"""The demo store: everything a screen needs is in it, hostile text included, and the same
clock and seed always build the same store."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from marianne_tui import __main__ as cli
from marianne_tui import demo
from marianne_tui.app import MarianneApp
from store import GlobalLearningStore, PatternQuery, PatternRow


def _open(path: Path) -> GlobalLearningStore:
    return GlobalLearningStore(path, create=False, clock=demo.demo_clock())


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    return demo.build_demo_store(folder / "demo.db", clock=demo.demo_clock(), seed=0)


@pytest.fixture
def demo_store(demo_path: Path) -> Iterator[GlobalLearningStore]:
    store = _open(demo_path)
    yield store
    store.close()


def _all_patterns(store: GlobalLearningStore) -> list[PatternRow]:
    rows: list[PatternRow] = []
    while True:
        page = store.query_patterns(PatternQuery(offset=len(rows), limit=200))
        rows.extend(page.rows)
        if not page.rows or len(rows) >= page.matching:
            return rows


def test_patterns_in_every_state(demo_store: GlobalLearningStore) -> None:
    overview = demo_store.store_overview()
    assert overview.total_patterns >= 300
    for status in ("pending", "quarantined", "validated", "retired"):
        assert overview.status_counts.get(status, 0) >= 10, status
    assert overview.drift_retired >= 5
    rows = _all_patterns(demo_store)
    assert len(rows) == overview.total_patterns
    assert any(not row.active for row in rows), "soft-deleted patterns"
    assert len({row.pattern_type for row in rows}) >= 8
    assert {row.instrument for row in rows} >= {"claude-code", "codex-cli", "gemini-cli", None}
    quarantined = demo_store.get_quarantined_patterns(limit=500)
    assert any(record.quarantine_reason for record in quarantined)


def test_drift_both_ways_and_drift_retired(demo_store: GlobalLearningStore) -> None:
    report = demo_store.drift_report(only_exceeding=True)
    directions = {row.effectiveness.drift_direction for row in report.rows if row.effectiveness}
    assert {"negative", "positive"} <= directions
    assert any(row.epistemic and row.epistemic.threshold_exceeded for row in report.rows)
    retired = demo_store.get_retired_patterns(limit=500)
    assert retired and all(record.priority_score == 0 for record in retired)
    assert any(
        (record.suggested_action or "").startswith("Auto-retired: drift") for record in retired
    )


def test_escalations_pending_and_resolved(demo_store: GlobalLearningStore) -> None:
    assert demo_store.pending_escalation_count() == 9
    history = demo_store.escalations_for_review(limit=500)
    outcomes = {record.outcome_after_action for record in history}
    assert None in outcomes
    assert outcomes - {None} <= {"success", "failed", "aborted", "skipped"}
    assert len(outcomes - {None}) >= 3
    assert len({record.action for record in history}) >= 4


def test_rate_limits_expire_within_ten_minutes(demo_store: GlobalLearningStore) -> None:
    now = demo_store.clock.utc()
    active = demo_store.get_active_rate_limits()
    assert len(active) == 8
    left = sorted((limit.expires_at - now).total_seconds() for limit in active)
    assert left[0] == pytest.approx(30, abs=1) and left[-1] == pytest.approx(600, abs=1)
    # ten minutes later every one of them has expired
    later = GlobalLearningStore(demo_store.db_path, create=False,
                                clock=demo.FixedClock(demo.DEMO_NOW + timedelta(minutes=11)))
    try:
        assert later.get_active_rate_limits() == []
    finally:
        later.close()


def test_budget_entropy_and_execution_history(demo_store: GlobalLearningStore) -> None:
    budget = demo_store.get_exploration_budget_history(limit=500)
    kinds = {record.adjustment_type for record in budget}
    assert {"initial", "boost", "decay"} <= kinds
    assert len(demo_store.get_pattern_entropy_history(limit=500)) >= 20
    responses = demo_store.get_entropy_response_history(limit=50)
    assert responses and responses[0].entropy_at_trigger < 0.3
    assert demo_store.get_execution_stats()["total_executions"] > 100


def test_hostile_text_is_in_the_store(demo_store: GlobalLearningStore) -> None:
    names = {row.name for row in _all_patterns(demo_store)}
    for name in demo.HOSTILE_NAMES:
        assert name in names, repr(name)
    descriptions = {row.description for row in _all_patterns(demo_store)}
    assert any(d is not None and len(d) == 5000 for d in descriptions)
    models = {record.model for record in demo_store.escalations_for_review(limit=500)}
    assert demo.HOSTILE_MODEL in models
    codes = {limit.error_code for limit in demo_store.get_active_rate_limits()}
    assert "[@click=app.quit]E999[/]" in codes


def _comparable(value: Any) -> Any:
    """A record as plain data, without the store's random UUIDs."""
    if dataclasses.is_dataclass(value):
        return {
            key: _comparable(item)
            for key, item in dataclasses.asdict(value).items()  # type: ignore[arg-type]
            if key not in ("id", "record_id", "execution_id")
        }
    if isinstance(value, list | tuple):
        return [_comparable(item) for item in value]
    return value


def _everything(path: Path) -> dict[str, Any]:
    store = _open(path)
    try:
        return {
            "patterns": _comparable(_all_patterns(store)),
            "overview": {**store.store_overview().__dict__, "location": None,
                         "status_counts": dict(store.store_overview().status_counts)},
            "escalations": _comparable(store.escalations_for_review(limit=500)),
            "budget": _comparable(store.get_exploration_budget_history(limit=500)),
            "entropy": _comparable(store.get_pattern_entropy_history(limit=500)),
            "responses": _comparable(store.get_entropy_response_history(limit=50)),
            "limits": _comparable(store.get_active_rate_limits()),
        }
    finally:
        store.close()


def test_same_seed_and_clock_build_the_same_store(demo_path: Path, tmp_path: Path) -> None:
    again = demo.build_demo_store(tmp_path / "again.db", clock=demo.demo_clock(), seed=0)
    first, second = _everything(demo_path), _everything(again)
    for key in first:
        assert first[key] == second[key], key


def test_build_refuses_an_existing_file(tmp_path: Path) -> None:
    existing = tmp_path / "store.db"
    existing.write_bytes(b"")
    with pytest.raises(FileExistsError):
        demo.build_demo_store(existing, clock=demo.demo_clock())


def test_default_path_is_a_fresh_file_in_the_user_data_folder() -> None:
    path = demo.default_demo_path()
    assert path.name.startswith("demo-") and path.suffix == ".db"
    assert "marianne-tui" in path.parent.name
    assert not path.exists()


def test_demo_flag_builds_prints_and_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "data" / "demo-now.db"
    monkeypatch.setattr(demo, "default_demo_path", lambda: target)
    opened: dict[str, Any] = {}

    def fake_run(self: MarianneApp, *, mouse: bool = True) -> None:
        opened["location"] = self.store.location
        opened["limits"] = self.store.store_overview().active_rate_limits

    monkeypatch.setattr(MarianneApp, "run", fake_run)
    status = cli.main(["--demo"])
    err = capsys.readouterr().err
    assert status == 0, err
    assert str(target) in err
    assert opened == {"location": str(target), "limits": 8}  # real clock: all still active
