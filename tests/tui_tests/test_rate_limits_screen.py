"""The Rate limits screen: a countdown against the store's UTC clock; rows leave as they expire."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FrozenClock
from screens_data import add_hostile_rows, add_rate_limits, switch_to

from marianne_tui.app import MarianneApp
from marianne_tui.formatting import countdown
from marianne_tui.modals.confirm import ConfirmScreen
from marianne_tui.screens.rate_limits import RateLimitsScreen
from marianne_tui.widgets.live_table import LiveTable
from store import GlobalLearningStore


@pytest.fixture
def store(tmp_path: Path, clock: FrozenClock) -> Iterator[GlobalLearningStore]:
    opened = GlobalLearningStore(tmp_path / "rl.db", clock=clock)
    add_rate_limits(opened)
    yield opened
    opened.close()


async def open_limits(app: MarianneApp, pilot: Any) -> tuple[RateLimitsScreen, LiveTable]:
    screen = await switch_to(app, pilot, "5", RateLimitsScreen)
    return screen, screen.query_one("#rl-table", LiveTable)


def countdowns(table: LiveTable) -> dict[str, str]:
    return {
        table.get_row(key)[1].plain: table.get_row(key)[0].plain
        for key in table.row_keys_in_order
    }


def test_countdown() -> None:
    assert countdown(0.2) == "1s"
    assert countdown(48) == "48s"
    assert countdown(240) == "4m 00s"
    assert countdown(3600) == "1h 00m"
    assert countdown(86399) == "23h 59m"
    assert countdown(533 * 3600 + 18 * 60) == "22d 05h"  # fits the 10-wide column
    assert countdown(-5) == "0s"


async def test_rows_with_countdown_and_utc_times(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_limits(app, pilot)
        assert countdowns(table) == {"E429": "⏳ 1h 00m", "RATE_LIMIT": "⏳ 4m 00s",
                                     "E101": "⏳ 48s"}
        e101 = next(k for k in table.row_keys_in_order if table.get_row(k)[1].plain == "E101")
        row = [c.plain for c in table.get_row(e101)]
        assert row[2] == "claude-sonnet"
        assert row[4:7] == ["12:00:48", "12:00:00", "1m 00s"]  # expires, recorded (UTC), duration
        labels = [c.label.plain for c in table.columns.values()]
        assert "Expires UTC" in labels and "Recorded UTC" in labels
        note = str(app.screen.query_one("#rl-note").render())
        assert "mzt clear-rate-limits" in note


async def test_countdown_ticks_and_rows_leave_as_they_expire(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await open_limits(app, pilot)
        clock.advance(seconds=30)
        screen.tick()
        await pilot.pause()
        assert countdowns(table) == {"E429": "⏳ 59m 30s", "RATE_LIMIT": "⏳ 3m 30s",
                                     "E101": "⏳ 18s"}
        clock.advance(seconds=18)  # E101 expires exactly now
        screen.tick()
        await pilot.pause()
        assert set(countdowns(table)) == {"E429", "RATE_LIMIT"}
        clock.advance(seconds=200)
        screen.tick()
        await pilot.pause()
        assert countdowns(table) == {"E429": "⏳ 55m 52s"}  # 3600 - 248 s
        assert app.overview is not None and app.overview.active_rate_limits == 1
        clock.advance(hours=1)
        screen.tick()
        await pilot.pause()
        assert table.row_count == 0
        assert "No active rate limits" in str(screen.query_one("#rl-status").render())


async def test_no_timer_without_polling(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, _table = await open_limits(app, pilot)
        assert screen._timer is None  # snapshots and tests stay deterministic


async def test_cleanup_deletes_only_expired_rows_after_confirm(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, _table = await open_limits(app, pilot)
        clock.advance(seconds=60)  # E101 has expired, the other two have not
        screen.tick()
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        clock.advance(seconds=-60)
        assert len(store.get_active_rate_limits()) == 3  # n kept the expired row
        clock.advance(seconds=60)
        await pilot.press("c", "y")
        await pilot.pause()
        assert len(store.get_active_rate_limits()) == 2
        clock.advance(seconds=-60)  # back when E101 was active: it is gone for good
        assert {e.error_code for e in store.get_active_rate_limits()} == {"E429", "RATE_LIMIT"}


async def test_read_only_refuses_cleanup(tmp_path: Path, clock: FrozenClock) -> None:
    writable = GlobalLearningStore(tmp_path / "ro.db", clock=clock)
    add_rate_limits(writable)
    writable.close()
    clock.advance(seconds=60)
    store = GlobalLearningStore(tmp_path / "ro.db", clock=clock, read_only=True)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await open_limits(app, pilot)
        assert table.row_count == 2
        assert screen.check_action("cleanup_expired", ()) is False
        await pilot.press("c", "y")
        await pilot.pause()
        assert isinstance(app.screen, RateLimitsScreen)
    clock.advance(seconds=-60)
    assert len(store.get_active_rate_limits()) == 3
    store.close()


async def test_hostile_text_is_literal(tmp_path: Path, clock: FrozenClock) -> None:
    store = GlobalLearningStore(tmp_path / "h.db", clock=clock)
    add_hostile_rows(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_limits(app, pilot)
        assert app.last_error is None, app.last_error
        row = [c.plain for c in table.get_row(table.row_keys_in_order[0])]
        assert row[1].startswith("[@click=app.quit]")
        assert row[2] == "[/]oops"
        assert "\x1b" not in app.export_screenshot()


async def test_marianne_fixture_renders(small_fixture: Path) -> None:
    store = GlobalLearningStore(small_fixture)  # the real clock: the fixture's limits expired
    store.record_rate_limit_event("E\x1b]2;x\x07", 120, "job", model="\u202emodel")
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
        _screen, table = await open_limits(app, pilot)
        assert table.row_count >= 1  # ours, and any fixture event that has not expired yet
        assert "\x1b" not in app.export_screenshot()
    store.close()
