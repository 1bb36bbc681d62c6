"""The pattern detail: every field, provenance, why, drift, journal; whole values, sanitised."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FrozenClock
from patterns_helpers import build_patterns_store, id_by_name
from rich.console import Console

from marianne_tui.app import MarianneApp
from marianne_tui.modals.pattern_detail import (
    PatternDetailScreen,
    load_detail,
    render_detail,
)
from marianne_tui.screens.patterns import PatternsScreen
from marianne_tui.widgets.live_table import LiveTable
from store import GlobalLearningStore, PatternAction


@pytest.fixture
def store(tmp_path: Path, clock: FrozenClock) -> Iterator[GlobalLearningStore]:
    opened = build_patterns_store(tmp_path / "patterns.db", clock)
    yield opened
    opened.close()


def as_text(store: GlobalLearningStore, pattern_id: str, width: int = 200) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(render_detail(load_detail(store, pattern_id)))
    return console.export_text()


def test_quarantined_pattern_shows_reason_dates_and_journal(
    store: GlobalLearningStore,
) -> None:
    target = id_by_name(store, "quarantined:")
    store.apply_pattern_action(target, PatternAction.PENDING, reason="second look",
                               actor="ops@host")
    store.apply_pattern_action(target, PatternAction.QUARANTINE, reason="still misleading",
                               actor="ops@host")
    text = as_text(store, target)
    for expected in ("quarantined: skip tests", "Record", target, "validation_failure",
                     "skipping tests hides failures", "quarantined at",
                     "still misleading", "provenance job", "Operator journal",
                     "ops@host", "second look", "pending → quarantined",
                     "quarantined → pending", "Effectiveness drift", "Epistemic drift",
                     "Recent applications", "no read of single applications"):
        assert expected in text, expected


def test_why_factors_and_drift(store: GlobalLearningStore) -> None:
    validated = as_text(store, id_by_name(store, "validated:"))
    for expected in ("validation types", "file_exists", "rate_limit", "why it works",
                     "factors summary", "key conditions", "recommendations", "validated at"):
        assert expected in validated, expected
    drifting = as_text(store, id_by_name(store, "drifting:"))
    for expected in ("drift-retired", "effectiveness before", "drift direction",
                     "applications analyzed", "threshold exceeded"):
        assert expected in drifting, expected
    assert "not enough applications" in as_text(store, id_by_name(store, "long sheet"))


def test_hostile_values_are_shown_whole_and_inert(store: GlobalLearningStore) -> None:
    target = id_by_name(store, "[@click")
    text = as_text(store, target)
    assert "[@click=app.quit]click me[/]" in text
    assert "\x1b" not in text
    assert "␛]2;PWNED␛\\" in text


def test_unknown_pattern(store: GlobalLearningStore) -> None:
    assert "no longer exists" in as_text(store, "no-such-id")


def test_a_failing_read_shows_its_error_and_the_rest(
    store: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("drift exploded")

    monkeypatch.setattr(store, "calculate_effectiveness_drift", broken)
    text = as_text(store, id_by_name(store, "drifting:"))
    assert "could not read: RuntimeError: drift exploded" in text
    assert "Epistemic drift" in text and "Operator journal" in text


async def test_enter_opens_scrollable_detail_escape_closes(
    store: GlobalLearningStore,
) -> None:
    target = id_by_name(store, "validated:")
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.refresh_now_sync(force=True)
        await pilot.pause()
        app.query_one("#patterns-table", LiveTable).select_key(target)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PatternDetailScreen)
        assert screen.detail is not None and screen.detail.pattern_id == target
        scroll = screen.query_one("#detail-scroll")
        assert scroll.has_focus
        assert scroll.max_scroll_y > 0  # more than one screen of evidence
        await pilot.press("pagedown")
        await pilot.pause()
        assert scroll.scroll_y > 0
        # Triage keys do nothing in the detail: it only reads.
        await pilot.press("q", "v", "x")
        assert app.screen is screen
        await pilot.press("escape")
        assert isinstance(app.screen, PatternsScreen)
    assert store.journal() == []
