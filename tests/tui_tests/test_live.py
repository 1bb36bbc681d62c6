"""Live polling, driven by hand (no sleeps, no timers): a write from another connection is
picked up, an idle poll reads nothing, a dialog freezes the table until it closes, pause
stops fetching, and the worker path does the same as the synchronous one."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from marianne_tui.app import MarianneApp
from marianne_tui.modals.help import HelpScreen
from marianne_tui.widgets.live_table import LiveTable
from marianne_tui.widgets.store_header import StoreHeader
from store import Clock, GlobalLearningStore

#: Methods that read what a screen shows (the probe, change_token, is not one of them).
READS = ("store_overview", "query_patterns", "pattern_types", "pattern_instruments")


def _build(path: Path, clock: Clock) -> list[str]:
    store = GlobalLearningStore(path, clock=clock)
    try:
        ids = []
        for n in range(5):
            clock.advance(minutes=1)  # type: ignore[attr-defined]
            pattern_id = store.record_pattern("retry_pattern", f"pattern {n}")
            for k in range(n):
                store.record_pattern_application(pattern_id, f"exec-{n}-{k}", True)
            ids.append(pattern_id)
        return ids
    finally:
        store.close()


class Spy:
    """Counts calls to the store's read methods, on the instance only."""

    def __init__(self, store: GlobalLearningStore) -> None:
        self.calls: Counter[str] = Counter()
        for name in (*READS, "change_token"):
            original = getattr(store, name)
            setattr(store, name, self._counting(name, original))

    def _counting(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return original(*args, **kwargs)

        return wrapper

    def reads(self) -> int:
        return sum(self.calls[name] for name in READS)


@pytest.fixture
def store_path(tmp_path: Path, clock: Clock) -> Path:
    path = tmp_path / "live.db"
    _build(path, clock)
    return path


@pytest.fixture
def console_store(store_path: Path, clock: Clock) -> Iterator[GlobalLearningStore]:
    store = GlobalLearningStore(store_path, create=False, clock=clock)
    yield store
    store.close()


@pytest.fixture
def other_writer(store_path: Path, clock: Clock) -> Iterator[GlobalLearningStore]:
    """Marianne, writing through its own connection while the console watches."""
    store = GlobalLearningStore(store_path, create=False, clock=clock)
    yield store
    store.close()


def _table(app: MarianneApp) -> LiveTable:
    return app.screen.query_one("#patterns-table", LiveTable)


def _names(app: MarianneApp) -> list[str]:
    table = _table(app)
    return [str(table.get_row(key)[-3]) for key in table.row_keys_in_order]


def _status_of(app: MarianneApp, pattern_id: str) -> str:
    table = _table(app)
    return str(table.get_row(pattern_id)[0])


async def test_a_write_from_another_connection_is_picked_up(
    console_store: GlobalLearningStore, other_writer: GlobalLearningStore
) -> None:
    app = MarianneApp(console_store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        before = _table(app).row_keys_in_order
        assert len(before) == 5
        new_id = other_writer.record_pattern("retry_pattern", "seen by another process")
        assert app.refresh_now_sync() is True
        await pilot.pause()
        assert new_id in _table(app).row_keys_in_order
        assert "○ pend 6" not in app.screen.query_one(StoreHeader).plain()  # wide labels
        assert "○ pending 6" in app.screen.query_one(StoreHeader).plain()

        target = before[0]
        other_writer.quarantine_pattern(target, "bad advice")
        assert app.refresh_now_sync() is True
        await pilot.pause()
        assert "quarantined" in _status_of(app, target)


async def test_an_idle_poll_reads_nothing_and_repaints_nothing(
    console_store: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = MarianneApp(console_store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        spy = Spy(console_store)
        table = _table(app)
        header = app.screen.query_one(StoreHeader)
        repaints: list[str] = []
        monkeypatch.setattr(table, "update_cell", lambda *a, **k: repaints.append("cell"))
        monkeypatch.setattr(header, "refresh", lambda *a, **k: repaints.append("header"))
        for _ in range(5):
            assert app.refresh_now_sync() is False
        assert spy.calls["change_token"] == 5
        assert spy.reads() == 0
        assert repaints == []
        # A forced refresh (space) reads again even when nothing changed.
        await pilot.press("space")
        await pilot.pause()
        assert spy.calls["store_overview"] == 1 and spy.calls["query_patterns"] == 1


async def test_nothing_changes_under_an_open_dialog_until_it_closes(
    console_store: GlobalLearningStore, other_writer: GlobalLearningStore
) -> None:
    app = MarianneApp(console_store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        before = _table(app).row_keys_in_order
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        new_id = other_writer.record_pattern("retry_pattern", "written under the dialog")
        assert app.refresh_now_sync(force=True) is False
        app.request_refresh(force=True)
        await pilot.pause()
        under = app.screen_stack[-2].query_one("#patterns-table", LiveTable)
        assert under.row_keys_in_order == before
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        assert new_id in _table(app).row_keys_in_order


async def test_worker_path_picks_up_a_write_and_idles_without_reading(
    console_store: GlobalLearningStore, other_writer: GlobalLearningStore
) -> None:
    # Polling on, but with an interval no test will reach: the test drives every poll.
    app = MarianneApp(console_store, poll=True, refresh_seconds=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(_table(app).row_keys_in_order) == 5
        spy = Spy(console_store)

        app._on_poll_timer()  # what the timer does
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert spy.calls["change_token"] == 1 and spy.reads() == 0

        new_id = other_writer.record_pattern("retry_pattern", "picked up by the worker")
        app._on_poll_timer()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert new_id in _table(app).row_keys_in_order
        assert spy.calls["query_patterns"] == 1
        assert app._poll_timer is not None  # the next poll is chained


async def test_a_refresh_asked_for_during_a_poll_polls_once_more(
    console_store: GlobalLearningStore, other_writer: GlobalLearningStore
) -> None:
    """The poll in flight may have probed the store before the change that asked for the
    refresh: the refresh is another poll after it, not the one already running."""
    app = MarianneApp(console_store, poll=True, refresh_seconds=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        probed, go_on = threading.Event(), threading.Event()
        probe = console_store.change_token

        def probe_then_wait() -> Any:
            token = probe()
            if not probed.is_set():
                probed.set()
                go_on.wait(10)
            return token

        console_store.change_token = probe_then_wait  # type: ignore[method-assign]
        app._on_poll_timer()  # a poll probes: nothing new yet, and it is held there
        await asyncio.get_running_loop().run_in_executor(None, probed.wait, 10)
        new_id = other_writer.record_pattern("retry_pattern", "written during the poll")
        app.request_refresh()
        go_on.set()
        await app.workers.wait_for_complete()  # the held poll, then the one asked for
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert new_id in _table(app).row_keys_in_order


async def test_pause_stops_fetching_and_resume_fetches_at_once(
    console_store: GlobalLearningStore, other_writer: GlobalLearningStore
) -> None:
    app = MarianneApp(console_store, poll=True, refresh_seconds=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("p")
        await pilot.pause()
        assert app.paused
        assert app._poll_timer is None  # nothing scheduled while paused
        header = app.screen.query_one(StoreHeader).plain()
        assert "⏸ paused · updated" in header

        spy = Spy(console_store)
        new_id = other_writer.record_pattern("retry_pattern", "written while paused")
        app._on_poll_timer()  # a timer that was already due fires anyway
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert spy.calls["change_token"] == 0 and spy.reads() == 0
        assert new_id not in _table(app).row_keys_in_order

        await pilot.press("p")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.paused
        assert new_id in _table(app).row_keys_in_order
        assert "● live" in app.screen.query_one(StoreHeader).plain()


async def test_a_failing_store_shows_in_the_header_and_recovers(
    console_store: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = MarianneApp(console_store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()

        def locked() -> int:
            raise RuntimeError("database is locked\nsecond line of driver noise")

        monkeypatch.setattr(console_store, "change_token", locked)
        assert app.refresh_now_sync() is False
        await pilot.pause()
        text = app.screen.query_one(StoreHeader).plain()
        assert "✖ RuntimeError: database is locked" in text
        assert "driver noise" not in text
        monkeypatch.undo()
        assert app.refresh_now_sync(force=True) is True
        assert "● live" in app.screen.query_one(StoreHeader).plain()


async def test_the_heap_alive_at_the_first_paint_is_frozen_once_and_thawed_on_exit(
    console_store: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr("gc.freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr("gc.unfreeze", lambda: calls.append("unfreeze"))
    app = MarianneApp(console_store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert calls == ["freeze"]
        for _ in range(3):
            await pilot.press("space")
            await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        assert calls == ["freeze"]
    assert calls == ["freeze", "unfreeze"]
