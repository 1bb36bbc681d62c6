"""Start-up and screen switches: what waits for the first paint, and screens composed ahead.

After the first paint the console composes every other screen, one at a time, and keeps
them: a screen key then shows a screen that is already composed (a first compose blocks
the UI thread for 50-100 ms). These tests check it through what Textual does on a first
switch: the screen's ``compose`` and a re-parse of the whole stylesheet (``refresh_css``).
They also guard the two Textual internals this relies on (see ``MarianneApp._compose_ahead``):
after a Textual upgrade that changes them they fail.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fault_helpers import wait_until
from textual.app import ComposeResult
from textual.containers import Container, Horizontal
from textual.widgets import Static

from marianne_tui import __main__ as cli
from marianne_tui.app import SCREENS, MarianneApp
from marianne_tui.screens.base import StoreScreen
from marianne_tui.screens.drift import COLUMNS as DRIFT_COLUMNS
from marianne_tui.screens.drift import DriftScreen
from marianne_tui.screens.escalations import EscalationsScreen
from marianne_tui.widgets.live_table import LiveTable
from store import GlobalLearningStore


@pytest.fixture
def composed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The modes whose screen was composed, in order (every screen composes through
    StoreScreen.compose)."""
    calls: list[str] = []
    original = StoreScreen.compose

    def compose(self: StoreScreen) -> Any:
        calls.append(type(self).__name__)
        return original(self)

    monkeypatch.setattr(StoreScreen, "compose", compose)
    yield calls


def _count_css_refreshes(app: MarianneApp, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    count = [0]
    original = app.refresh_css

    def refresh_css(*args: Any, **kwargs: Any) -> None:
        count[0] += 1
        original(*args, **kwargs)

    monkeypatch.setattr(app, "refresh_css", refresh_css)
    return count


def _all_mounted(app: MarianneApp) -> bool:
    return all(app.get_screen(mode).is_mounted for mode in SCREENS)


async def _composed_ahead(app: MarianneApp, pilot: Any) -> None:
    """Until the first paint and every screen composed after it (its worker done)."""
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_a_screen_key_shows_a_screen_composed_ahead(
    sqlite_store: GlobalLearningStore, composed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = MarianneApp(sqlite_store, poll=False, compose_ahead=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await _composed_ahead(app, pilot)
        # Every screen, each once, the first one first.
        assert sorted(composed) == sorted(cls.__name__ for cls in SCREENS.values())
        assert composed[0] == "PatternsScreen"
        ahead = {mode: app.get_screen(mode) for mode in SCREENS}
        # Composing ahead reads nothing: a screen reads the store when it is shown.
        assert not any(ahead[mode].has_data for mode in SCREENS if mode != "patterns")

        composed.clear()
        refreshes = _count_css_refreshes(app, monkeypatch)
        for number, mode in enumerate([*list(SCREENS)[1:], "patterns"], start=2):
            await pilot.press(str(number % (len(SCREENS) + 1) or 1))
            await pilot.pause()
            assert app.screen is ahead[mode], mode
            assert app.screen.has_data, mode  # shown, it reads as before
        assert composed == []
        assert refreshes[0] == 0


async def test_without_composing_ahead_a_key_composes_its_screen(
    sqlite_store: GlobalLearningStore, composed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the test above guards against (and what tests without polling still do).
    app = MarianneApp(sqlite_store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert composed == ["PatternsScreen"]
        refreshes = _count_css_refreshes(app, monkeypatch)
        await pilot.press("2")
        await pilot.pause()
        assert composed == ["PatternsScreen", "DriftScreen"]
        assert refreshes[0] > 0


async def test_the_live_console_composes_every_screen_ahead(
    sqlite_store: GlobalLearningStore, composed: list[str]
) -> None:
    app = MarianneApp(sqlite_store, refresh_seconds=60.0)
    assert app.compose_ahead
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: _all_mounted(app), "every screen composed")
        composed.clear()
        for key in "4251":
            await pilot.press(key)
            await pilot.pause()
        assert composed == []


async def test_a_key_pressed_before_its_screen_is_composed_ahead_composes_it(
    sqlite_store: GlobalLearningStore, composed: list[str]
) -> None:
    app = MarianneApp(sqlite_store, poll=False, compose_ahead=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("7")  # before the first pause: nothing was composed ahead yet
        await pilot.pause()
        await app.workers.wait_for_complete()
        journal = app.get_screen("journal")
        assert app.screen is journal
        assert composed.count("JournalScreen") == 1  # made once, by the key


async def test_the_first_watch_read_waits_for_the_first_paint(
    sqlite_store: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []
    lock = threading.Lock()

    def note(what: str) -> None:
        with lock:
            order.append(what)

    monkeypatch.setattr("gc.freeze", lambda: note("first paint"))
    monkeypatch.setattr("gc.unfreeze", lambda: None)
    original = sqlite_store.watch_snapshot

    def watch_snapshot(*args: Any, **kwargs: Any) -> Any:
        note("watch read")
        return original(*args, **kwargs)

    monkeypatch.setattr(sqlite_store, "watch_snapshot", watch_snapshot)
    app = MarianneApp(sqlite_store, refresh_seconds=60.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: "watch read" in order, "the first watch read")
    assert order[:2] == ["first paint", "watch read"]


async def test_what_the_first_watch_read_kept_is_frozen_once(
    sqlite_store: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first watch read computes drift from scratch and the store keeps it: the heap
    is frozen again once it is shown, after the first paint's freeze, and never again for
    later watch reads (each freeze would keep whatever cyclic garbage is alive then)."""
    callers: list[str] = []
    lock = threading.Lock()

    def freeze() -> None:
        with lock:
            callers.append(sys._getframe(1).f_code.co_name)

    monkeypatch.setattr("gc.freeze", freeze)
    monkeypatch.setattr("gc.unfreeze", lambda: None)
    watched: list[int] = []
    painted_first: list[bool] = []  # whether the first paint's freeze came before the read
    app = MarianneApp(sqlite_store, refresh_seconds=60.0, compose_ahead=False)
    original = app._apply_watch

    def apply_watch(token: int, watch: Any) -> None:
        painted_first.append(app._heap_frozen)
        original(token, watch)
        watched.append(token)

    monkeypatch.setattr(app, "_apply_watch", apply_watch)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: bool(watched), "the first watch read")
        await wait_until(pilot, lambda: app._heap_frozen, "the first paint")
        # A read shown before the first paint (a loaded machine) is in what that paint
        # freezes: then it needs no freeze of its own.
        expected = ["_freeze_heap", "_apply_watch"] if painted_first[0] else ["_freeze_heap"]
        assert callers == expected
        sqlite_store.record_pattern("retry_pattern", "a change for the next watch read")
        app.request_refresh()
        await wait_until(pilot, lambda: len(watched) == 2, "the second watch read")
        assert callers == expected


async def test_the_collector_runs_again_from_the_first_paint(
    sqlite_store: GlobalLearningStore,
) -> None:
    # The command line pauses it for the start-up; the app turns it back on.
    gc.disable()
    try:
        app = MarianneApp(sqlite_store, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            assert gc.isenabled()
    finally:
        gc.enable()


def test_the_command_line_turns_the_collector_back_on_when_it_ends_early(
    tmp_path: Any,
) -> None:
    assert cli.main(["--db", str(tmp_path / "missing.db")]) == cli.EXIT_CANNOT_OPEN
    assert gc.isenabled()


async def test_a_footer_is_rebuilt_only_when_its_keys_change(
    sqlite_store: GlobalLearningStore,
) -> None:
    from textual.widgets._footer import FooterKey

    app = MarianneApp(sqlite_store, poll=False, compose_ahead=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await _composed_ahead(app, pilot)

        def keys() -> list[FooterKey]:
            return list(app.screen.query(FooterKey))

        shown = keys()
        assert "q" in [key.key for key in shown]
        for key in "21":
            await pilot.press(key)
            await pilot.pause()
        assert keys() == shown  # the very same widgets: the footer was not rebuilt

        app.make_read_only()  # the keys that write leave the footer
        await pilot.pause()
        await pilot.pause()
        assert "q" not in [key.key for key in keys()]


async def test_the_screens_composed_ahead_are_out_of_the_collectors_reach(
    sqlite_store: GlobalLearningStore,
) -> None:
    """Like the heap at the first paint (gc.freeze): a full collection does not walk the
    screens the console keeps for as long as it runs."""
    app = MarianneApp(sqlite_store, refresh_seconds=60.0)
    async with app.run_test(size=(120, 40)) as pilot:  # its unmount unfreezes the heap
        await wait_until(pilot, lambda: _all_mounted(app), "every screen composed")
        await app.workers.wait_for_complete()
        budget = app.get_screen("budget")
        assert not any(tracked is budget for tracked in gc.get_objects())


async def test_a_footer_rebuilt_lets_the_keys_it_removed_go(
    sqlite_store: GlobalLearningStore,
) -> None:
    """Textual's Footer binds each key to itself (data_bind): the footer's watchers must not
    keep the keys of earlier rebuilds alive."""
    from textual.widgets._footer import FooterKey

    from marianne_tui.widgets.store_footer import StoreFooter

    def alive_keys() -> int:
        gc.collect()
        return sum(isinstance(tracked, FooterKey) for tracked in gc.get_objects())

    app = MarianneApp(sqlite_store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        footer = app.screen.query_one(StoreFooter)

        async def rebuild() -> None:
            footer._shown = None  # as when the keys changed: the footer rebuilds them
            app.screen.bindings_updated_signal.publish(app.screen)
            await pilot.pause()
            await pilot.pause()

        await rebuild()
        shown = [key.key for key in app.screen.query(FooterKey)]
        before = alive_keys()
        for _ in range(5):
            await rebuild()
        assert [key.key for key in app.screen.query(FooterKey)] == shown
        assert alive_keys() == before


async def test_a_hidden_key_coming_and_going_leaves_the_footer_as_it_is(
    sqlite_store: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`escape` is active only while a write is saving, and hidden: the footer keeps its
    keys (it rebuilt them all twice per triage key); a shown key that changes rebuilds."""
    from textual.widgets._footer import FooterKey

    from marianne_tui.store_calls import StoreCalls

    app = MarianneApp(sqlite_store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen

        def keys() -> list[FooterKey]:
            return list(screen.query(FooterKey))

        def escape_active() -> bool:
            return any(binding.action == "cancel_store_call"
                       for (_, binding, _, _) in screen.active_bindings.values())

        shown = keys()
        assert shown and not escape_active()
        monkeypatch.setattr(StoreCalls, "writing", property(lambda calls: True))
        screen.refresh_bindings()
        await pilot.pause()
        await pilot.pause()
        assert escape_active()
        assert all(now is before for now, before in zip(keys(), shown, strict=True))
        monkeypatch.undo()
        screen.refresh_bindings()
        await pilot.pause()
        await pilot.pause()
        assert not escape_active()
        assert all(now is before for now, before in zip(keys(), shown, strict=True))

        app.make_read_only()  # the write keys go from the footer
        await pilot.pause()
        await pilot.pause()
        assert len(keys()) < len(shown)
        assert not any(key is before for key in keys() for before in shown)


class _ClosedEscalations(EscalationsScreen):
    """What an app that closes while this screen is composed ahead leaves: the screen's
    containers mounted but never composed (Textual mounts nothing into a closing node)."""

    def compose_body(self) -> ComposeResult:
        yield Horizontal(id="esc-bar")
        yield Container(id="esc-body")


class _ClosedDrift(DriftScreen):
    def compose_body(self) -> ComposeResult:
        yield Horizontal(id="drift-bar")
        yield LiveTable(DRIFT_COLUMNS, id="drift-table", saving_column="status")
        yield Static(id="drift-summary")


@pytest.mark.parametrize("screen_class", [_ClosedEscalations, _ClosedDrift])
async def test_a_screen_whose_containers_were_never_composed_mounts_quietly(
    sqlite_store: GlobalLearningStore, screen_class: type[StoreScreen]
) -> None:
    """Seen once in ten runs of the PostgreSQL push tests: the test ended (the app
    closed) while the Escalations screen was composed ahead, and its on_mount's query
    for its table, in a container that had composed nothing, took the fatal-error path."""
    app = MarianneApp(sqlite_store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = screen_class()
        app._register(app, screen)  # composed ahead, as _compose_ahead starts a screen
        await wait_until(pilot, lambda: screen.is_mounted, "the screen's mount")
        await pilot.pause()
    assert app.return_code in (None, 0)  # not the fatal-error path (return code 1)
