"""Snapshots of the Drift, Budget, Escalations and Rate limits screens and the outcome dialog.

Deterministic: a store built through the API with a frozen clock, opened at a relative path
(so the header shows the same location everywhere), polling off, refreshes by hand. Update
on purpose with ``pytest --snapshot-update`` and look at the SVGs under ``__snapshots__``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FrozenClock
from screens_data import build_screens_store, switch_to

from marianne_tui.app import MarianneApp
from marianne_tui.screens.budget import BudgetScreen
from marianne_tui.screens.drift import DriftScreen
from marianne_tui.screens.escalations import EscalationsScreen
from marianne_tui.screens.rate_limits import RateLimitsScreen
from store import GlobalLearningStore

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
SCREENS = {
    "drift": ("2", DriftScreen),
    "budget": ("3", BudgetScreen),
    "escalations": ("4", EscalationsScreen),
    "rate_limits": ("5", RateLimitsScreen),
}


@pytest.fixture
def store(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GlobalLearningStore]:
    monkeypatch.chdir(tmp_path)
    opened = build_screens_store(Path("screens.db"), clock)
    yield opened
    opened.close()


def showing(name: str, *then: str) -> Any:
    key, screen_type = SCREENS[name]

    async def run_before(pilot: Any) -> None:
        await switch_to(pilot.app, pilot, key, screen_type)
        if then:
            await pilot.press(*then)
            await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", list(SCREENS))
def test_screen(snap_compare: Any, store: GlobalLearningStore, name: str, size: Any) -> None:
    app = MarianneApp(store, poll=False)
    assert snap_compare(app, terminal_size=size, run_before=showing(name))


@pytest.mark.parametrize("size", SIZES)
def test_outcome_dialog(snap_compare: Any, store: GlobalLearningStore, size: Any) -> None:
    app = MarianneApp(store, poll=False)
    assert snap_compare(app, terminal_size=size, run_before=showing("escalations", "o", "f"))


@pytest.mark.parametrize("size", SIZES)
def test_retire_preview(snap_compare: Any, store: GlobalLearningStore, size: Any) -> None:
    app = MarianneApp(store, poll=False)
    assert snap_compare(app, terminal_size=size, run_before=showing("drift", "r"))


@pytest.mark.parametrize("size", SIZES)
def test_escalations_stale_and_sorted(snap_compare: Any, store: GlobalLearningStore,
                                      clock: FrozenClock, size: Any) -> None:
    """Ten days on, two new escalations: the two left awaiting are stale, below, dimmed;
    then sorted by sheet (``>`` twice), high first within each group."""
    clock.advance(days=10)
    store.record_escalation_decision("job-eps", 12, 0.30, "retry", 30.0, 2, model="m-a",
                                     guidance="Retry with the lock released")
    clock.advance(minutes=5)
    store.record_escalation_decision("job-zeta", 5, 0.60, "abort", 70.0, 1, model="m-b")
    app = MarianneApp(store, poll=False)
    assert snap_compare(app, terminal_size=size,
                        run_before=showing("escalations", "greater_than_sign",
                                           "greater_than_sign"))
