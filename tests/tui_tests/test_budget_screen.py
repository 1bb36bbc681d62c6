"""The Budget & entropy screen: band gauge, trends, snapshot, response check, advice; no writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import FrozenClock
from screens_data import add_budget_history, add_drift_patterns, switch_to

from marianne_tui.app import MarianneApp
from marianne_tui.screens.budget import BudgetData, BudgetScreen, advice, band_bar, budget_band
from marianne_tui.widgets.live_table import LiveTable
from marianne_tui.widgets.sparkline_panel import SparklinePanel
from store import GlobalLearningStore, PatternEntropyMetrics


@pytest.fixture
def store(tmp_path: Path, clock: FrozenClock) -> Iterator[GlobalLearningStore]:
    opened = GlobalLearningStore(tmp_path / "budget.db", clock=clock)
    add_drift_patterns(opened)
    add_budget_history(opened)
    yield opened
    opened.close()


def text_of(app: MarianneApp, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def test_everything_is_shown(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await switch_to(app, pilot, "3", BudgetScreen)
        gauge = text_of(app, "#budget-gauge")
        assert "Exploration budget 0.42 ▲ high (exploring)" in gauge
        assert "floor 0.05 ├" in gauge and "┤ 0.50 ceiling" in gauge
        assert "entropy at last check 0.22" in gauge
        spark = screen.query_one("#spark-budget", SparklinePanel)
        history = store.get_exploration_budget_history(limit=200)
        assert spark._data == tuple(r.budget_value for r in reversed(history))
        diversity = screen.query_one("#spark-diversity", SparklinePanel)
        assert diversity._data == (0.62, 0.51, 0.33, 0.28, 0.45, 0.58)
        snapshot = text_of(app, "#entropy-now")
        assert "diversity 0.58 ✓ ok" in snapshot and "dominant 21%" in snapshot
        needed = text_of(app, "#response-needed")
        assert "✓ no" in needed and "Cooldown active" in needed
        stats = text_of(app, "#budget-stats")
        assert "Adjustments 11: ▲ 4 boosts · ▼ 5 decays · floor hits 1 (9%)" in stats
        assert "Entropy responses 2" in stats
        responses = screen.query_one("#responses-table", LiveTable)
        assert responses.row_keys_in_order == tuple(
            r.id for r in store.get_entropy_response_history()
        )
        budget_rows = screen.query_one("#budget-table", LiveTable)
        assert budget_rows.row_count == len(history)


async def test_refresh_never_writes(
    store: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("calculate_budget_adjustment", "trigger_entropy_response",
                 "record_pattern_entropy", "update_exploration_budget"):
        def refuse(*_args: Any, _name: str = name, **_kwargs: Any) -> Any:
            raise AssertionError(f"{_name} called on refresh")

        monkeypatch.setattr(store, name, refuse)
    checks: list[str] = []
    real_check = store.check_entropy_response_needed

    def counting(*args: Any, **kwargs: Any) -> Any:
        checks.append("check")
        return real_check(*args, **kwargs)

    monkeypatch.setattr(store, "check_entropy_response_needed", counting)
    token = store.change_token()
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await switch_to(app, pilot, "3", BudgetScreen)
        assert app.last_error is None
        count = len(checks)
        assert count >= 1
        # The expensive check runs only when the change probe fired (or on a forced refresh).
        assert app.refresh_now_sync() is False
        assert len(checks) == count
    assert store.change_token() == token


async def test_response_needed_when_diversity_is_low(tmp_path: Path, clock: FrozenClock) -> None:
    store = GlobalLearningStore(tmp_path / "low.db", clock=clock)
    only = store.record_pattern("retry_strategy", "the only pattern")
    for index in range(5):
        store.record_pattern_application(only, f"e{index}", True)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await switch_to(app, pilot, "3", BudgetScreen)
        needed = text_of(app, "#response-needed")
        assert "⚠ yes" in needed and "< threshold 0.300" in needed
        assert "– (no budget recorded yet)" in text_of(app, "#budget-gauge")
        assert "none recorded" in text_of(app, "#entropy-now")
    store.close()


def _data(**overrides: Any) -> BudgetData:
    values: dict[str, Any] = {
        "budget": None,
        "history": (),
        "budget_stats": {"total_adjustments": 10, "floor_enforcements": 1, "boost_count": 2,
                         "decay_count": 7},
        "entropy_history": (),
        "responses": (),
        "response_stats": {"total_responses": 1},
        "needed": (False, 0.5, "healthy"),
        "now": datetime(2026, 11, 25, 12, 0),
    }
    values.update(overrides)
    return BudgetData(**values)


def test_advice_rules() -> None:
    assert advice(_data()) == [("✓ No advice: budget and diversity look healthy.", "green")]
    floor = advice(_data(budget_stats={"total_adjustments": 10, "floor_enforcements": 4}))
    assert "hit the floor in 40% of 10 adjustments" in floor[0][0]
    boosts = advice(_data(budget_stats={"total_adjustments": 10, "boost_count": 6,
                                        "decay_count": 4}))
    assert "More boosts (6) than decays (4)" in boosts[0][0]
    many = advice(_data(response_stats={"total_responses": 11}))
    assert "11 entropy responses" in many[0][0]
    low = PatternEntropyMetrics(datetime(2026, 1, 1), 0.8, 4.0, 0.2, 10, 2, 100, 0.6)
    lines = [line for line, _style in advice(_data(entropy_history=(low,)))]
    assert any("model collapse risk" in line for line in lines)
    assert any("dangerous convergence" in line for line in lines)
    assert any("60% of the applications" in line for line in lines)


def test_band_and_bar() -> None:
    assert budget_band(0.05)[0] == "▼ low (near floor)"
    assert budget_band(0.2)[0] == "● normal"
    assert budget_band(0.3)[0] == "▲ high (exploring)"
    assert band_bar(0.05, width=10).plain == "floor 0.05 ├●─────────┤ 0.50 ceiling"
    assert band_bar(0.50, width=10).plain == "floor 0.05 ├─────────●┤ 0.50 ceiling"
    assert band_bar(9.0, width=10).plain.endswith("─●┤ 0.50 ceiling")


async def test_marianne_fixture_renders_without_escape_bytes(small_fixture: Path) -> None:
    store = GlobalLearningStore(small_fixture)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await switch_to(app, pilot, "3", BudgetScreen)
        assert app.last_error is None
        assert "\x1b" not in app.export_screenshot()
        await pilot.press("pagedown", "pagedown")
        assert "\x1b" not in app.export_screenshot()
    store.close()
