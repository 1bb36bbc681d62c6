"""On PostgreSQL the console refreshes when another host commits, not when its timer fires.

Two store instances share one database: the console's (read-only, as a colleague's) and a
writer's (a conductor elsewhere). The console's timer is set to an hour, so only the change
push can bring the writer's row to the screen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from marianne_tui.app import PUSH_FALLBACK_SECONDS, PUSH_SPACING_SECONDS, MarianneApp
from marianne_tui.widgets.live_table import LiveTable
from marianne_tui.widgets.store_header import StoreHeader
from store import GlobalLearningStore


@pytest.fixture
def postgres_url(store_url: str) -> str:
    if "://" not in store_url:
        pytest.skip("change push exists on PostgreSQL only")
    writer = GlobalLearningStore(store_url)  # creates the schema, and the notifying triggers
    for number in range(3):
        writer.record_pattern("retry_pattern", f"pattern {number}")
    writer.close()
    return store_url


@pytest.fixture
def writer(postgres_url: str) -> Iterator[GlobalLearningStore]:
    opened = GlobalLearningStore(postgres_url)
    yield opened
    opened.close()


@pytest.fixture
def console_store(postgres_url: str) -> Iterator[GlobalLearningStore]:
    opened = GlobalLearningStore(postgres_url, read_only=True, create=False)
    yield opened
    opened.close()


async def _until(condition: object, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        await asyncio.sleep(0.05)
    return False


def _rows(app: MarianneApp) -> list[str]:
    table = app.screen.query_one("#patterns-table", LiveTable)
    return [str(key) for key in table.row_keys_in_order]


async def test_a_commit_on_another_instance_refreshes_the_console(
    console_store: GlobalLearningStore, writer: GlobalLearningStore
) -> None:
    app = MarianneApp(console_store, poll=True, refresh_seconds=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await _until(lambda: len(_rows(app)) == 3)
        assert await _until(lambda: console_store.change_push_active)
        await pilot.pause()

        new_id = writer.record_pattern("retry_pattern", "committed on another host")
        assert await _until(lambda: new_id in _rows(app))
        # The poll that showed the row still reads the alerts' watch; the fallback poll is
        # chained when that worker ends.
        assert await _until(lambda: app._poll_timer is not None)
        assert app._poll_interval() == 3600  # ...at the console's own (long) interval

        header = app.screen.query_one(StoreHeader).plain()
        assert "● live · push · every 1 h" in header


async def test_with_push_the_timer_poll_is_a_slow_fallback(
    console_store: GlobalLearningStore,
) -> None:
    app = MarianneApp(console_store, poll=True, refresh_seconds=2)
    async with app.run_test(size=(120, 40)):
        assert await _until(lambda: console_store.change_push_active)
        assert app._poll_interval() == PUSH_FALLBACK_SECONDS
    console_store.close()  # the push session goes with the store's other connections
    assert not console_store.change_push_active
    assert app._poll_interval() == 2  # without push, the console polls at its own pace


async def test_a_stream_of_commits_wakes_the_console_a_few_times_a_second(
    console_store: GlobalLearningStore, writer: GlobalLearningStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A conductor commits all the time: the console is woken at most once per
    PUSH_SPACING_SECONDS, and still shows the last commit."""
    wakes: list[float] = []
    on_pushed_change = MarianneApp._on_pushed_change

    def counted(app: MarianneApp) -> None:
        wakes.append(time.monotonic())
        on_pushed_change(app)

    monkeypatch.setattr(MarianneApp, "_on_pushed_change", counted)
    app = MarianneApp(console_store, poll=True, refresh_seconds=3600)
    async with app.run_test(size=(120, 40)):
        assert await _until(lambda: len(_rows(app)) == 3)
        assert await _until(lambda: console_store.change_push_active)
        await asyncio.sleep(PUSH_SPACING_SECONDS * 2)
        wakes.clear()
        started = time.monotonic()
        last = ""
        for number in range(60):  # ~1.5 s of commits, one every 25 ms
            last = writer.record_pattern("retry_pattern", f"streamed {number}")
            await asyncio.sleep(0.025)
        seconds = time.monotonic() - started
        assert await _until(lambda: last in _rows(app))
        during = [at for at in wakes if at <= started + seconds]
        assert 1 <= len(during) <= seconds / PUSH_SPACING_SECONDS + 2
