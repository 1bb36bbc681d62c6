"""The Drift screen: both drifts per pattern, live thresholds and window, the retire dry run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FrozenClock
from screens_data import add_drift_patterns, open_drift, status_and_priority

from marianne_tui.app import MarianneApp
from marianne_tui.modals.confirm import ConfirmScreen
from marianne_tui.modals.pattern_detail import PatternDetailScreen
from marianne_tui.modals.reason import ReasonScreen
from marianne_tui.modals.retire_preview import RetirePreviewScreen
from marianne_tui.screens.drift import DriftScreen
from marianne_tui.widgets.live_table import LiveTable
from store import GlobalLearningStore


@pytest.fixture
def store(tmp_path: Path, clock: FrozenClock) -> Iterator[GlobalLearningStore]:
    opened = GlobalLearningStore(tmp_path / "drift.db", clock=clock)
    add_drift_patterns(opened)
    yield opened
    opened.close()


def ids(store: GlobalLearningStore) -> dict[str, str]:
    return {r.name: r.id for r in store.query_patterns(_all()).rows}


def _all() -> Any:
    from store import PatternQuery

    return PatternQuery(limit=100)


def cells(table: LiveTable, key: str) -> list[str]:
    return [cell.plain for cell in table.get_row(key)]


async def test_rows_show_both_drifts_side_by_side(store: GlobalLearningStore) -> None:
    names = ids(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_drift(app, pilot)
        # Only the patterns whose threshold is exceeded, by default; the steady one is not.
        assert set(table.row_keys_in_order) == {
            names["declining-retry-pattern"], names["improving-prompt-fix"],
            names["belief-wobbler"],
        }
        declining = cells(table, names["declining-retry-pattern"])
        assert declining[1:6] == ["0.92→0.08", "-0.83", "↓ declining", "0.70", "✓"]
        assert declining[6:11] == ["0.90→0.50", "-0.40", "↓ weakening", "0.29", "✓"]
        assert declining[11] == "○ pending"
        improving = cells(table, names["improving-prompt-fix"])
        assert improving[3] == "↑ improving" and improving[8] == "↑ strengthening"
        summary = str(app.screen.query_one("#drift-summary").render())
        assert "Effectiveness 3 of 4 drifting" in summary
        assert "2 losing ground" in summary


async def test_a_refresh_that_moves_only_the_summary_keeps_the_rows_and_redraws_it(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    names = ids(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_drift(app, pilot)
        before = {key: cells(table, key) for key in table.row_keys_in_order}
        # Another steady pattern: analysed by the summary, never a row of the report.
        steady = store.record_pattern("retry_strategy", "another-steady-one")
        for index in range(10):
            clock.advance(minutes=1)
            store.record_pattern_application(steady, f"exec-steady-{index}", True,
                                             grounding_confidence=0.8)
        app.refresh_now_sync(force=True)
        await pilot.pause()
        assert {key: cells(table, key) for key in table.row_keys_in_order} == before
        summary = str(app.screen.query_one("#drift-summary").render())
        assert "Effectiveness 3 of 5 drifting" in summary
        # A change to a shown row still reaches the table.
        store.quarantine_pattern(names["belief-wobbler"], "test")
        app.refresh_now_sync(force=True)
        await pilot.pause()
        assert "quarantined" in cells(table, names["belief-wobbler"])[11]


async def test_keys_change_the_query(
    store: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    real = store.drift_report

    def recording(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(store, "drift_report", recording)
    names = ids(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_drift(app, pilot)
        assert calls[-1] == {"window_size": 5, "drift_threshold": 0.2,
                             "epistemic_threshold": 0.15, "only_exceeding": True, "limit": 200,
                             "offset": 0, "text": ""}
        await pilot.press("plus", "plus")
        assert calls[-1]["drift_threshold"] == 0.3
        await pilot.press("minus", "minus", "minus")
        assert calls[-1]["drift_threshold"] == 0.15
        await pilot.press("greater_than_sign")
        assert calls[-1]["epistemic_threshold"] == 0.2
        await pilot.press("less_than_sign", "less_than_sign")
        assert calls[-1]["epistemic_threshold"] == 0.1
        await pilot.press("e")
        await pilot.pause()
        assert calls[-1]["only_exceeding"] is False
        assert names["steady-validation"] in table.row_keys_in_order
        status = str(app.screen.query_one("#drift-status").render())
        assert "eff >0.15" in status and "belief >0.10" in status
        assert "all analysed" in status
        # A window of 6 needs 12 applications: every pattern has 10, so none is analysed.
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert calls[-1]["window_size"] == 6
        assert table.row_count == 0
        # An empty list says why and what to change.
        status = str(app.screen.query_one("#drift-status").render())
        assert "No pattern has the 12 applications window 6 needs" in status
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert calls[-1]["window_size"] == 4


async def test_retire_preview_writes_nothing_and_confirm_retires(
    store: GlobalLearningStore,
) -> None:
    names = ids(store)
    before = status_and_priority(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_drift(app, pilot)
        await pilot.press("r")
        await pilot.pause()
        preview = app.screen
        assert isinstance(preview, RetirePreviewScreen)
        assert {c[1] for c in preview.candidates} == {"declining-retry-pattern",
                                                      "belief-wobbler"}
        assert preview.focused is not None and preview.focused.id == "no"
        # The reflexive enter lands on "No"; nothing was written by the preview either.
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, RetirePreviewScreen)
        assert status_and_priority(store) == before

        await pilot.press("r", "y")
        await pilot.pause()
        after = status_and_priority(store)
        for name in ("declining-retry-pattern", "belief-wobbler"):
            assert after[name] == (before[name][0], 0.0)  # priority 0, status unchanged
        for name in ("improving-prompt-fix", "steady-validation"):
            assert after[name] == before[name]
        assert store.journal() == []  # Marianne's bulk action is not an operator action
        assert cells(table, names["declining-retry-pattern"])[11] == "↓ drift-retired"


async def test_triage_keys_act_on_the_drift_row(store: GlobalLearningStore) -> None:
    names = ids(store)
    target = names["belief-wobbler"]
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_drift(app, pilot)
        assert table.select_key(target)
        await pilot.press("q")
        assert isinstance(app.screen, ReasonScreen)
        await pilot.press(*"weakening", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        state = status_and_priority(store)
        assert state["belief-wobbler"][0] == "quarantined"
        assert {name: s for name, (s, _p) in state.items()} == {
            "belief-wobbler": "quarantined", "declining-retry-pattern": "pending",
            "improving-prompt-fix": "pending", "steady-validation": "pending",
        }
        assert store.journal()[0].target_id == target
        assert cells(table, target)[11] == "✖ quarantined"
        await pilot.press("u")
        await pilot.pause()
        assert status_and_priority(store)["belief-wobbler"][0] == "pending"


async def test_enter_opens_the_pattern_detail(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_drift(app, pilot)
        key = table.cursor_key
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PatternDetailScreen)
        assert app.screen.pattern_id == key


async def test_read_only_previews_but_never_retires(tmp_path: Path, clock: FrozenClock) -> None:
    writable = GlobalLearningStore(tmp_path / "ro.db", clock=clock)
    add_drift_patterns(writable)
    before = status_and_priority(writable)
    writable.close()
    store = GlobalLearningStore(tmp_path / "ro.db", clock=clock, read_only=True)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_drift(app, pilot)
        await pilot.press("r")
        await pilot.pause()
        preview = app.screen
        assert isinstance(preview, RetirePreviewScreen)
        assert not preview.query("#yes")  # no way to run it
        await pilot.press("y")
        await pilot.pause()
        await pilot.press("escape")
        for key in ("q", "v", "x", "n", "u"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, DriftScreen)
    assert status_and_priority(store) == before
    store.close()


async def test_hostile_store_renders_without_escape_bytes(small_fixture: Path) -> None:
    store = GlobalLearningStore(small_fixture)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_drift(app, pilot)
        await pilot.press("e")  # every analysed pattern, hostile names included
        await pilot.pause()
        assert table.row_count > 0
        assert "\x1b" not in app.export_screenshot()
        await pilot.press("r")
        await pilot.pause()
        assert "\x1b" not in app.export_screenshot()
        await pilot.press("escape")
        assert app.is_running
    store.close()
