"""The Patterns screen's refresh: cells are built again only for rows that read differently,
and the type filter reads the store's types when `t` is pressed, not on every refresh."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import FrozenClock
from patterns_helpers import build_patterns_store, id_by_name

from marianne_tui.app import MarianneApp
from marianne_tui.screens.patterns import PatternsScreen, pattern_cells
from marianne_tui.widgets.live_table import LiveTable
from store import GlobalLearningStore, PatternRow

NOW = datetime(2026, 11, 25, 12, 0)


def _row(**changes: Any) -> PatternRow:
    row = PatternRow(
        id="p1", name="retry on quota", pattern_type="retry_pattern", status="pending",
        trust=0.5, effectiveness=0.25, priority=0.75, applications=3, successes=2,
        failures=1, last_seen=NOW - timedelta(minutes=12), instrument=None, active=True,
        description=None,
    )
    return replace(row, **changes)


def _cells(screen: PatternsScreen, *rows: PatternRow, now: datetime = NOW) -> list[Any]:
    return [table_row.cells for table_row in screen.rows_of(rows, now)]


def test_an_unchanged_row_keeps_its_cells_a_changed_one_gets_fresh_ones() -> None:
    screen = PatternsScreen()
    first, other = _row(), _row(id="p2", name="other")
    before = _cells(screen, first, other)
    assert before == [pattern_cells(first, NOW), pattern_cells(other, NOW)]
    # The same values: the very cells built before.
    again = _cells(screen, first, other)
    assert again[0] is before[0] and again[1] is before[1]
    # A value changed in one row: that row is built again, the other one is kept.
    changed = replace(first, applications=4, successes=3)
    after = _cells(screen, changed, other)
    assert after[0] == pattern_cells(changed, NOW) != before[0]
    assert after[1] is before[1]


def test_a_row_whose_age_text_moved_is_built_again() -> None:
    screen = PatternsScreen()
    row = _row()
    before = _cells(screen, row)[0]
    # 30 s later the age still reads "12m": kept.
    later = NOW + timedelta(seconds=30)
    assert _cells(screen, row, now=later)[0] is before
    # A minute later it reads "13m": fresh cells, equal to freshly built ones.
    later = NOW + timedelta(minutes=1)
    after = _cells(screen, row, now=later)[0]
    assert after == pattern_cells(row, later) != before
    assert after[6].plain == "13m"


@pytest.mark.parametrize("score", ["trust", "effectiveness", "priority"])
def test_the_sign_of_a_zero_score_counts_as_a_change(score: str) -> None:
    screen = PatternsScreen()
    positive, negative = _row(**{score: 0.0}), _row(**{score: -0.0})
    assert positive == negative  # the rows compare equal: -0.0 == 0.0 ...
    first = _cells(screen, positive)[0]
    second = _cells(screen, negative)[0]
    # ... but they do not read the same, and the kept cells are not reused.
    assert first != second
    assert second == pattern_cells(negative, NOW)


def test_only_the_shown_page_is_kept() -> None:
    screen = PatternsScreen()
    rows = [_row(id=f"p{n}") for n in range(5)]
    _cells(screen, *rows)
    _cells(screen, rows[0])
    assert set(screen._built) == {"p0"}


def test_a_row_holding_nan_is_shown_as_built_afresh() -> None:
    # Two NaNs never compare equal: such a row is simply built again (never wrongly kept).
    screen = PatternsScreen()
    first = _cells(screen, _row(priority=float("nan")))[0]
    row = _row(priority=float("nan"))
    second = _cells(screen, row)[0]
    assert second is not first and second == pattern_cells(row, NOW)


# -- on the screen -----------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path, clock: FrozenClock) -> Iterator[GlobalLearningStore]:
    opened = build_patterns_store(tmp_path / "patterns.db", clock)
    yield opened
    opened.close()


def _shown(table: LiveTable) -> dict[str, tuple[Any, ...]]:
    return {key: tuple(table.get_row(key)) for key in table.row_keys_in_order}


async def test_after_writes_and_time_the_table_shows_freshly_built_cells(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        app.refresh_now_sync(force=True)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PatternsScreen)
        table = app.query_one("#patterns-table", LiveTable)
        before = _shown(table)
        # One pattern gets an application (its counts and its age change) and a minute
        # passes (ages in minutes move, ages in hours do not).
        applied = id_by_name(store, "validated:")
        clock.advance(minutes=1)
        store.record_pattern_application(applied, "exec-cells", True)
        app.refresh_now_sync()
        await pilot.pause()
        now = store.clock.local()
        page = store.query_patterns(screen.query_state)
        assert table.row_keys_in_order == tuple(row.id for row in page.rows)
        shown = _shown(table)
        for row in page.rows:
            assert shown[row.id] == pattern_cells(row, now), row.name
        kept = [key for key in shown if all(
            a is b for a, b in zip(shown[key], before[key], strict=True))]
        moved = [key for key in shown if shown[key] != before[key]]
        assert applied in moved
        assert kept and moved  # some rows kept their cells, the others were built again
        assert set(kept).isdisjoint(moved)


class _TypeReads:
    def __init__(self, store: GlobalLearningStore) -> None:
        self.count = 0
        original = store.pattern_types

        def counted(*args: Any, **kwargs: Any) -> list[str]:
            self.count += 1
            return original(*args, **kwargs)

        store.pattern_types = counted  # type: ignore[method-assign]


async def test_type_filter_reads_types_on_its_key_only(store_url: str) -> None:
    store = GlobalLearningStore(store_url)
    try:
        for pattern_type in ("retry_pattern", "output_pattern"):
            store.record_pattern(pattern_type, f"a {pattern_type}")
        reads = _TypeReads(store)
        app = MarianneApp(store, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            app.refresh_now_sync(force=True)
            store.record_pattern("retry_pattern", "one more")
            app.refresh_now_sync()
            await pilot.pause()
            assert reads.count == 0  # refreshes do not read the types
            screen = app.screen
            assert isinstance(screen, PatternsScreen)
            await pilot.press("t")
            assert reads.count == 1
            assert screen.query_state.pattern_type == "output_pattern"
            # A type that appears after the screen opened is offered on the next press.
            store.record_pattern("completion_pattern", "a completion_pattern")
            await pilot.press("t")
            assert screen.query_state.pattern_type == "retry_pattern"
            await pilot.press("t")
            assert screen.query_state.pattern_type is None
            await pilot.press("t")
            assert screen.query_state.pattern_type == "completion_pattern"
            table = app.query_one("#patterns-table", LiveTable)
            assert len(table.row_keys_in_order) == 1
            assert reads.count == 4
    finally:
        store.close()
