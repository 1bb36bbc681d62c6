"""The Patterns screen: rows, labels, filters and "N shown of M", sort keys, pages, hostile text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FrozenClock
from patterns_helpers import build_patterns_store, id_by_name

from marianne_tui.app import MarianneApp
from marianne_tui.formatting import short_age
from marianne_tui.modals.pattern_detail import PatternDetailScreen
from marianne_tui.screens import patterns as patterns_module
from marianne_tui.screens.patterns import PatternsScreen
from marianne_tui.widgets.filter_bar import FilterInput
from marianne_tui.widgets.live_table import LiveTable
from store import GlobalLearningStore, PatternQuery, PatternSort


@pytest.fixture
def store(tmp_path: Path, clock: FrozenClock) -> Iterator[GlobalLearningStore]:
    opened = build_patterns_store(tmp_path / "patterns.db", clock)
    yield opened
    opened.close()


def screen_of(app: MarianneApp) -> PatternsScreen:
    screen = app.screen
    assert isinstance(screen, PatternsScreen)
    return screen


def status_text(app: MarianneApp) -> str:
    return str(app.query_one("#patterns-status").render())


def column_label(table: LiveTable, key: str) -> str:
    return next(c.label.plain for k, c in table.columns.items() if k.value == key)


def store_order(store: GlobalLearningStore, **query: object) -> tuple[str, ...]:
    page = store.query_patterns(PatternQuery(limit=200, **query))  # type: ignore[arg-type]
    return tuple(row.id for row in page.rows)


async def started(app: MarianneApp, pilot: object) -> LiveTable:
    app.refresh_now_sync(force=True)
    await pilot.pause()  # type: ignore[attr-defined]
    return app.query_one("#patterns-table", LiveTable)


async def test_rows_in_priority_order_with_labels(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await started(app, pilot)
        assert table.row_keys_in_order == store_order(store)
        assert "12 shown of 12" in status_text(app)
        assert column_label(table, "priority") == "prio▼"
        drifting = table.get_row(id_by_name(store, "drifting:"))
        retired = table.get_row(id_by_name(store, "retired:"))
        assert drifting[0].plain == "↓ drift-retired"
        assert retired[0].plain == "■ retired"
        assert table.get_row(id_by_name(store, "quarantined:"))[0].plain == "✖ quarantined"
        assert "(inactive)" in table.get_row(id_by_name(store, "inactive:"))[7].plain


def test_short_age() -> None:
    from datetime import datetime, timedelta

    now = datetime(2026, 11, 25, 12, 0)
    assert short_age(None, now) == "—"
    assert short_age(now - timedelta(seconds=5), now) == "5s"
    assert short_age(now - timedelta(minutes=12), now) == "12m"
    assert short_age(now - timedelta(days=3, hours=2), now) == "3d"
    assert short_age(now - timedelta(days=400), now) == "1y"
    assert short_age(now + timedelta(minutes=1), now) == "future"


async def test_text_filter_live_enter_keeps_escape_clears(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await started(app, pilot)
        await pilot.press("slash")
        filter_input = app.query_one(FilterInput)
        assert filter_input.has_focus
        await pilot.press(*"description")  # the seven patterns with a description
        await pilot.pause()
        expected = store_order(store, text="description")
        assert len(expected) == 7
        assert table.row_keys_in_order == expected
        assert "7 shown of 12" in status_text(app)
        await pilot.press("enter")
        assert table.has_focus
        assert filter_input.value == "description"
        assert table.row_keys_in_order == expected
        await pilot.press("slash", "escape")
        await pilot.pause()
        assert table.has_focus and filter_input.value == ""
        assert "12 shown of 12" in status_text(app)


async def test_keys_typed_into_the_filter_fire_no_action(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await pilot.press("slash", *"qvxnu1234sSfta", "question_mark", "p", "space")
        await pilot.pause()
        assert screen_of(app) is app.screen  # no dialog, no mode switch
        assert app.query_one(FilterInput).value == "qvxnu1234sSfta?p "
        assert not app.paused
    assert store.journal() == []


async def test_status_type_and_attention_filters(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await started(app, pilot)
        await pilot.press("f")
        assert table.row_keys_in_order == store_order(store, statuses=("pending",))
        assert "9 shown of 12" in status_text(app)
        await pilot.press("f")
        assert table.row_keys_in_order == store_order(store, statuses=("quarantined",))
        assert "1 shown of 12" in status_text(app)
        await pilot.press("f", "f", "f")  # validated, retired, back to all
        assert "12 shown of 12" in status_text(app)

        types = store.pattern_types()
        await pilot.press("t")
        assert table.row_keys_in_order == store_order(store, pattern_type=types[0])
        assert f"type {types[0]}" in status_text(app)
        for _ in types:
            await pilot.press("t")
        assert "12 shown of 12" in status_text(app)

        await pilot.press("a")
        attention = store.query_patterns(PatternQuery(needs_attention=True))
        assert table.row_keys_in_order == tuple(row.id for row in attention.rows)
        assert f"{attention.matching} shown of 12" in status_text(app)
        assert "needs attention" in status_text(app)
        await pilot.press("a")
        assert "12 shown of 12" in status_text(app)


async def test_sort_keys(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await started(app, pilot)
        cursor = table.cursor_key
        await pilot.press("s")
        assert table.row_keys_in_order == store_order(store, sort=PatternSort.EFFECTIVENESS)
        assert column_label(table, "effectiveness") == "eff▼"
        assert column_label(table, "priority") == "prio"
        assert table.cursor_key == cursor  # the cursor stays on its pattern
        await pilot.press("S")
        assert table.row_keys_in_order == store_order(
            store, sort=PatternSort.EFFECTIVENESS, descending=False
        )
        assert column_label(table, "effectiveness") == "eff▲"
        for _ in range(6):  # trust, applications, failures, last seen, status, name
            await pilot.press("s")
        assert table.row_keys_in_order == store_order(
            store, sort=PatternSort.NAME, descending=False
        )
        assert column_label(table, "name") == "name▲"


async def test_pages(store: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patterns_module, "PAGE_SIZE", 5)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await started(app, pilot)
        everything = store_order(store)
        assert table.row_keys_in_order == everything[:5]
        assert "rows 1–5" in status_text(app)
        await pilot.press("right_square_bracket")
        assert table.row_keys_in_order == everything[5:10]
        assert "rows 6–10" in status_text(app)
        await pilot.press("right_square_bracket", "right_square_bracket")  # last page stays
        assert table.row_keys_in_order == everything[10:]
        assert "rows 11–12" in status_text(app)
        await pilot.press("left_square_bracket")
        assert table.row_keys_in_order == everything[5:10]
        await pilot.press("f")  # a new filter starts at the first page
        assert "rows 1–5" in status_text(app)


async def test_last_page_that_emptied_moves_back(
    store: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(patterns_module, "PAGE_SIZE", 5)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await started(app, pilot)
        await pilot.press("f")  # 9 pending: pages of 5 and 4
        await pilot.press("right_square_bracket")
        last_page = table.row_keys_in_order
        assert len(last_page) == 4
        for gone in last_page:
            store.quarantine_pattern(gone, "external")
        app.refresh_now_sync(force=True)
        await pilot.pause()
        assert table.row_keys_in_order == store_order(store, statuses=("pending",))
        assert "5 shown of 12" in status_text(app)


async def test_enter_opens_the_detail(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await started(app, pilot)
        target = id_by_name(store, "quarantined:")
        table.select_key(target)
        await pilot.press("enter")
        assert isinstance(app.screen, PatternDetailScreen)
        assert app.screen.pattern_id == target
        await pilot.press("escape")
        assert screen_of(app) is app.screen


async def test_hostile_store_renders_without_escape_bytes(small_fixture: Path) -> None:
    store = GlobalLearningStore(small_fixture)
    app = MarianneApp(store, poll=False)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            table = await started(app, pilot)
            assert len(table.row_keys_in_order) > 0
            for keys in ([], ["s"] * 7, ["S"], ["a"], ["f"], ["t"]):
                await pilot.press(*keys)
                await pilot.pause()
                svg = app.export_screenshot()
                assert "\x1b" not in svg
            # Click every visible row's name: no markup action may fire.
            await pilot.press("a", "f", "f", "f", "f")
            for row in range(1, 30):
                await pilot.click("#patterns-table", offset=(70, row))
            await pilot.pause()
            assert isinstance(app.screen, PatternsScreen)
            assert app.is_running
            # The detail of every row on the first page shows whole values, still no ESC.
            for key in table.row_keys_in_order[:25]:
                table.select_key(key)
                await pilot.press("enter")
                await app.workers.wait_for_complete()
                await pilot.pause()
                assert isinstance(app.screen, PatternDetailScreen)
                assert app.screen.detail is not None
                assert "\x1b" not in app.export_screenshot()
                await pilot.press("escape")
    finally:
        store.close()
