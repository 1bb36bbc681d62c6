"""Snapshots of the Events (6) and Journal (7) screens, and of the change marks.

Deterministic as the other screen snapshots: a store built through the API with a frozen
clock at a relative path, polling off, refreshes and writes from a second store instance
by hand. Update on purpose with ``--snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FrozenClock
from screens_data import build_screens_store, switch_to

from marianne_tui.app import MarianneApp
from marianne_tui.screens.events import EventsScreen
from marianne_tui.screens.journal import JournalScreen
from store import GlobalLearningStore, PatternAction, PatternQuery

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.fixture
def stores(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[GlobalLearningStore, GlobalLearningStore]]:
    monkeypatch.chdir(tmp_path)
    build_screens_store(Path("events.db"), clock).close()
    console = GlobalLearningStore(Path("events.db"), create=False, clock=clock)
    console.operator, console.operator_host = "ops", "console-host"
    other = GlobalLearningStore(Path("events.db"), create=False, clock=clock)
    other.operator, other.operator_host = "alice", "alice-laptop"
    yield console, other
    other.close()
    console.close()


def _id(store: GlobalLearningStore, name: str) -> str:
    return store.query_patterns(PatternQuery(text=name, limit=5)).rows[0].id


def _writes(console: GlobalLearningStore, other: GlobalLearningStore,
            clock: FrozenClock) -> None:
    """What happens while the console watches: alerts of most kinds."""
    clock.advance(seconds=30)
    other.record_escalation_decision("job-new", 5, 0.4, "retry", 40.0, 1)
    for code in ("E503", "E429", "E429"):
        other.record_rate_limit_event(code, 600, "job-new", model="claude-opus")
    other.quarantine_pattern(_id(console, "steady-validation"), "conductor")
    other.apply_pattern_action(_id(console, "improving-prompt-fix"), PatternAction.RETIRE,
                               reason="superseded by v2")


@pytest.mark.parametrize("size", SIZES)
def test_events(snap_compare: Any, stores: Any, clock: FrozenClock, size: Any) -> None:
    console, other = stores
    app = MarianneApp(console, poll=False)

    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        _writes(console, other, clock)
        app.refresh_now_sync()
        await pilot.pause()
        app.screen.query_one("#patterns-table").focus()
        app.clear_notifications()
        await switch_to(app, pilot, "6", EventsScreen)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_journal(snap_compare: Any, stores: Any, clock: FrozenClock, size: Any) -> None:
    console, other = stores
    steady = _id(console, "steady-validation")
    console.apply_pattern_action(steady, PatternAction.QUARANTINE, reason="noisy retries")
    clock.advance(minutes=3)
    other.apply_pattern_action(_id(console, "belief-wobbler"), PatternAction.VALIDATE)
    clock.advance(minutes=3)
    console.apply_pattern_action(steady, PatternAction.VALIDATE, reason="fixed upstream")
    console.undo_last_action()
    app = MarianneApp(console, poll=False)

    async def run_before(pilot: Any) -> None:
        await switch_to(app, pilot, "7", JournalScreen)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_changes_marked(snap_compare: Any, stores: Any, clock: FrozenClock,
                        size: Any) -> None:
    console, other = stores
    app = MarianneApp(console, poll=False)
    app.show_changes = True

    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        other.quarantine_pattern(_id(console, "steady-validation"), "conductor")
        other.record_pattern("retry_strategy", "arrived-just-now", description="new")
        app.refresh_now_sync()
        await pilot.pause()
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
