"""Snapshots of the Patterns screen and its dialogs at 80×24 and 120×40.

Deterministic: the store is built through the API with a FrozenClock at a relative path (the
header shows the location), every journalled action names its actor, polling is off.
Regenerate on purpose with ``pytest --snapshot-update tests/tui_tests/test_snapshots_patterns.py``
and look at the SVGs under ``tests/tui_tests/__snapshots__/``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FrozenClock
from patterns_helpers import build_patterns_store, id_by_name
from rich.console import Console

from marianne_tui.app import MarianneApp
from marianne_tui.modals.pattern_detail import render_detail
from marianne_tui.widgets.live_table import LiveTable
from store import GlobalLearningStore, PatternAction

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.fixture
def store(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GlobalLearningStore]:
    monkeypatch.chdir(tmp_path)
    opened = build_patterns_store(Path("patterns.db"), clock)
    opened.operator_host = "console"  # journalled as "ops@console" on any machine
    quarantined = id_by_name(opened, "quarantined:")
    clock.advance(minutes=2)
    opened.apply_pattern_action(quarantined, PatternAction.PENDING, reason="second look",
                                actor="ops")
    clock.advance(minutes=1)
    opened.apply_pattern_action(quarantined, PatternAction.QUARANTINE,
                                reason="still tells agents to skip the tests",
                                actor="ops")
    clock.advance(minutes=1)
    yield opened
    opened.close()


def on_pattern(prefix: str, store: GlobalLearningStore,
               then: Callable[[Any], Awaitable[None]] | None = None):
    """A run_before that refreshes, puts the cursor on a pattern and runs ``then``."""

    async def run_before(pilot: Any) -> None:
        pilot.app.refresh_now_sync(force=True)
        await pilot.pause()
        pilot.app.query_one("#patterns-table", LiveTable).select_key(id_by_name(store, prefix))
        await pilot.pause()
        if then is not None:
            await then(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_patterns_screen(snap_compare: Any, store: GlobalLearningStore,
                         size: tuple[int, int]) -> None:
    app = MarianneApp(store, poll=False)
    assert snap_compare(app, terminal_size=size, run_before=on_pattern("E101", store))


@pytest.mark.parametrize("size", SIZES)
def test_patterns_filtered_and_sorted(snap_compare: Any, store: GlobalLearningStore,
                                      size: tuple[int, int]) -> None:
    app = MarianneApp(store, poll=False)
    assert snap_compare(
        app, terminal_size=size, run_before=on_pattern("E101", store),
        press=["a", "s", "S", "slash", *"o", "enter"],
    )


@pytest.mark.parametrize("size", SIZES)
def test_pattern_detail(snap_compare: Any, store: GlobalLearningStore,
                        size: tuple[int, int]) -> None:
    async def open_detail(pilot: Any) -> None:
        await pilot.press("enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    app = MarianneApp(store, poll=False)
    assert snap_compare(app, terminal_size=size,
                        run_before=on_pattern("quarantined:", store, open_detail))


@pytest.mark.parametrize("size", SIZES)
def test_pattern_detail_evidence(snap_compare: Any, store: GlobalLearningStore,
                                 size: tuple[int, int]) -> None:
    """The evidence of the drifting pattern: trend, applications, drift windows, history."""

    async def open_at_evidence(pilot: Any) -> None:
        await pilot.press("enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        screen = pilot.app.screen
        body = screen.query_one("#detail-body")
        console = Console(width=body.content_region.width, record=True,
                          file=open(os.devnull, "w"))  # noqa: SIM115
        console.print(render_detail(screen.detail))
        lines = console.export_text().splitlines()
        top = next(i for i, line in enumerate(lines)
                   if line.startswith("Effectiveness over its applications"))
        screen.query_one("#detail-scroll").scroll_to(y=top, animate=False)
        await pilot.pause()

    app = MarianneApp(store, poll=False)
    assert snap_compare(app, terminal_size=size,
                        run_before=on_pattern("drifting:", store, open_at_evidence))


@pytest.mark.parametrize("size", SIZES)
def test_reason_dialog(snap_compare: Any, store: GlobalLearningStore,
                       size: tuple[int, int]) -> None:
    app = MarianneApp(store, poll=False)
    assert snap_compare(app, terminal_size=size, run_before=on_pattern("missing", store),
                        press=["q", *"loops on the same file"])


@pytest.mark.parametrize("size", SIZES)
def test_confirm_dialog_with_guard_rails(snap_compare: Any, store: GlobalLearningStore,
                                         size: tuple[int, int]) -> None:
    app = MarianneApp(store, poll=False)
    assert snap_compare(app, terminal_size=size,
                        run_before=on_pattern("hallucinated", store), press=["v"])
