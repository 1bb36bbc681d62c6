"""marianne_tui.gc_pacing: full collections wait while input arrives, and come back.

The pacer is driven by hand here (``seen``, ``release``, a clock that is set), except in
the last test, which presses a key in the live console and waits for the pause to end.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.app import App

from marianne_tui import gc_pacing
from marianne_tui.app import MarianneApp
from marianne_tui.gc_pacing import MAX_HOLD_SECONDS, CollectionPacer
from store import GlobalLearningStore


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    """Known thresholds for the test, CPython's own put back after it."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield (700, 10, 10)
    finally:
        gc.set_threshold(*before)


def _key() -> events.Key:
    return events.Key("down", None)


class _Timer:
    """The pacer's quiet timer, for a pacer whose app is not running."""

    def reset(self) -> None: ...

    def stop(self) -> None: ...


def test_an_input_event_holds_full_collections_until_released(
    thresholds: tuple[int, int, int],
) -> None:
    app: App[None] = App()
    pacer = CollectionPacer(app)
    pacer.seen(events.Resize(app.size, app.size))  # not input: nothing held
    assert not pacer.holding and gc.get_threshold() == (700, 10, 10)
    pacer._timer = _Timer()  # type: ignore[assignment]
    pacer.seen(_key())
    assert pacer.holding
    young, middle, old = gc.get_threshold()
    assert (young, middle) == (700, 10) and old > 10**9  # the young ones as before
    pacer.seen(events.MouseScrollDown(None, 1, 1, 0, 0, 0, False, False, False))
    assert pacer.holding
    pacer.release()
    assert not pacer.holding and gc.get_threshold() == (700, 10, 10)
    pacer.release()  # twice is harmless
    assert gc.get_threshold() == (700, 10, 10)


class _App:
    """What the pacer asks of its app: a timer, and a call after the next frame."""

    def __init__(self) -> None:
        self.after_frame: list[Callable[[], None]] = []

    def set_timer(self, *_: Any, **__: Any) -> _Timer:
        return _Timer()

    def call_after_refresh(self, callback: Callable[[], None]) -> None:
        self.after_frame.append(callback)


def _full_collections() -> int:
    return gc.get_stats()[2]["collections"]


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pacer's clock, set by the test."""
    clock = [1000.0]
    monkeypatch.setattr(gc_pacing.time, "monotonic", lambda: clock[0])
    return clock


def test_under_endless_input_the_owed_collection_runs_after_a_frame(
    thresholds: tuple[int, int, int], now: list[float],
) -> None:
    app = _App()
    pacer = CollectionPacer(app)  # type: ignore[arg-type]
    pacer.seen(_key())
    now[0] += MAX_HOLD_SECONDS  # still within
    pacer.seen(_key())
    assert pacer.holding and app.after_frame == []
    now[0] += 0.5  # past it: the collection is asked for once, after the next frame
    pacer.seen(_key())
    pacer.seen(_key())
    assert pacer.holding and len(app.after_frame) == 1
    gc.collect()
    for _ in range(thresholds[2]):  # as many younger collections as CPython waits for
        gc.collect(1)
    collections = _full_collections()
    app.after_frame.pop()()
    assert _full_collections() == collections + 1
    assert pacer.holding and gc.get_threshold()[2] > 10**9  # and the keys still hold
    # The hold starts again from the collection.
    now[0] += MAX_HOLD_SECONDS
    pacer.seen(_key())
    assert app.after_frame == []
    now[0] += 0.5
    pacer.seen(_key())
    assert len(app.after_frame) == 1


def test_nothing_owed_nothing_collected_and_a_pause_lets_cpython_pace_it(
    thresholds: tuple[int, int, int], now: list[float],
) -> None:
    app = _App()
    pacer = CollectionPacer(app)  # type: ignore[arg-type]
    pacer.seen(_key())
    now[0] += MAX_HOLD_SECONDS + 0.5
    pacer.seen(_key())
    gc.collect()  # nothing owed: no younger collection since the last full one
    collections = _full_collections()
    app.after_frame.pop()()
    assert _full_collections() == collections and pacer.holding
    now[0] += MAX_HOLD_SECONDS + 0.5
    pacer.seen(_key())
    pacer.release()  # the input paused before the frame
    for _ in range(thresholds[2]):
        gc.collect(1)
    collections = _full_collections()
    app.after_frame.pop()()
    assert _full_collections() == collections  # CPython's own pacing runs it now
    assert not pacer.holding and gc.get_threshold() == (700, 10, 10)


def _store(path: Path) -> GlobalLearningStore:
    store = GlobalLearningStore(path)
    store.record_pattern("retry_pattern", "a pattern")
    return store


async def test_the_live_console_holds_while_keys_arrive_and_lets_go_after(
    tmp_path: Path, thresholds: tuple[int, int, int],
) -> None:
    store = _store(tmp_path / "store.db")
    try:
        app = MarianneApp(store, poll=True, refresh_seconds=3600)
        async with app.run_test(size=(120, 40)) as pilot:
            deadline = time.monotonic() + 30
            while app._gc_pacer is None and time.monotonic() < deadline:
                await pilot.pause(0.01)  # made after the first paint
            assert app._gc_pacer is not None
            await pilot.press("down")
            assert app._gc_pacer.holding and gc.get_threshold()[2] > 10**9
            deadline = time.monotonic() + 30
            while app._gc_pacer.holding and time.monotonic() < deadline:
                await pilot.pause(0.05)  # no input: the quiet timer ends the hold
            assert not app._gc_pacer.holding
            assert gc.get_threshold() == (700, 10, 10)
            await pilot.press("down")
            assert app._gc_pacer.holding
        assert gc.get_threshold() == (700, 10, 10)  # closing lets go too
    finally:
        store.close()


async def test_the_console_without_polling_never_holds(
    tmp_path: Path, thresholds: tuple[int, int, int],
) -> None:
    store = _store(tmp_path / "store.db")
    try:
        app = MarianneApp(store, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await pilot.press("down")
            assert app._gc_pacer is None and gc.get_threshold() == (700, 10, 10)
    finally:
        store.close()
