"""The pattern detail: every field, provenance, why, drift, journal; whole values, sanitised."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import FrozenClock
from patterns_helpers import build_patterns_store, id_by_name
from rich.console import Console

from marianne_tui.app import MarianneApp
from marianne_tui.modals.pattern_detail import (
    PatternDetailScreen,
    Read,
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
                     "quarantined → pending", "Drift windows side by side",
                     "fewer than 10: no effectiveness drift yet", "Recent applications",
                     "exec-q-3", "1–4 of 4, newest first", "Status history",
                     "quarantined (latest time)", "pending → quarantined by ops@host"):
        assert expected in text, expected


def test_why_factors_and_drift(store: GlobalLearningStore) -> None:
    validated = as_text(store, id_by_name(store, "validated:"))
    for expected in ("validation types", "file_exists", "rate_limit", "why it works",
                     "factors summary", "key conditions", "recommendations", "validated at"):
        assert expected in validated, expected
    drifting = as_text(store, id_by_name(store, "drifting:"))
    for expected in ("drift-retired", "older 5", "recent 5", "5: 5 ✓ 0 ✗", "5: 0 ✓ 5 ✗",
                     "0.917", "0.083", "-0.833 negative", "-0.400 weakening",
                     "|0.833| / max(grounding 0.60, 0.5) > 0.2: ▲ threshold exceeded",
                     "10 applications analyzed"):
        assert expected in drifting, expected
    assert "no effectiveness drift yet" in as_text(store, id_by_name(store, "long sheet"))


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
    assert "epistemic drift: |" in text and "Operator journal" in text


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


# -- the evidence: trend, applications (paged), drift windows, status history ----------------


def test_trend_is_the_replayed_effectiveness(store: GlobalLearningStore) -> None:
    # The drifting pattern: five successes (grounding 0.8), then five failures (0.4).
    # By hand (section 5.3, no decay), on the fixed 0-1 scale of eight bars:
    #   1, 2: 0.55 -> round(3.85) = ▅;  3: (0.7 + 0.3*3.5/4) * 0.94 = 0.905 -> ▇
    #   4: 0.912 -> ▇;  5: 0.917 -> ▇;  6: (0.56 + 0.3*5.5/7) * 0.916 = 0.729 -> ▆
    text = as_text(store, id_by_name(store, "drifting:"))
    assert "▅▅▇▇▇▆▅▄▃▂  0.55 → 0.12 (low 0.12, high 0.92)" in text
    assert "latest 10 of 10 applications" in text


def test_hostile_execution_ids_are_inert(store: GlobalLearningStore) -> None:
    target = id_by_name(store, "long sheet")
    store.record_pattern_application(target, "[@click=app.quit]x[/] \x1b]2;PWNED\x07", True)
    text = as_text(store, target)
    assert "[@click=app.quit]x[/]" in text
    assert "\x1b" not in text and "\x07" not in text


def test_evidence_not_read_yet_says_loading(store: GlobalLearningStore) -> None:
    detail = replace(load_detail(store, id_by_name(store, "drifting:")),
                     applications=Read(), windows=Read())
    console = Console(width=120, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(render_detail(detail))
    assert console.export_text().count("loading…") == 2
    console.print(render_detail(load_detail(store, id_by_name(store, "drifting:")),
                                loading=True))
    assert "1–10 of 10, newest first · loading…" in console.export_text()


def many_applications(store: GlobalLearningStore, clock: FrozenClock, count: int) -> str:
    pattern_id = store.record_pattern("validation_failure", "busy pattern", "applied a lot")
    for index in range(count):
        clock.advance(minutes=1)
        store.record_pattern_application(pattern_id, f"run-{index:02d}", index % 3 != 0)
    return pattern_id


def shown_executions(screen: PatternDetailScreen) -> list[str]:
    assert screen.detail is not None
    return [row.execution_id for row in screen.detail.applications.value.rows]


async def test_brackets_page_the_applications(store: GlobalLearningStore,
                                              clock: FrozenClock) -> None:
    target = many_applications(store, clock, 25)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        app.refresh_now_sync(force=True)
        screen = PatternDetailScreen(target)
        await app.push_screen(screen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert shown_executions(screen) == [f"run-{i:02d}" for i in range(24, 14, -1)]
        console = Console(width=120, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
        console.print(render_detail(screen.detail))  # type: ignore[arg-type]
        assert "1–10 of 25, newest first · ] older" in console.export_text()
        await pilot.press("right_square_bracket")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.applications_offset == 10
        assert shown_executions(screen) == [f"run-{i:02d}" for i in range(14, 4, -1)]
        await pilot.press("right_square_bracket")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert shown_executions(screen) == [f"run-{i:02d}" for i in range(4, -1, -1)]
        await pilot.press("right_square_bracket")  # no older page: stays
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.applications_offset == 20
        await pilot.press("left_square_bracket", "left_square_bracket")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.applications_offset in (0, 10)  # the second press may meet the first
        await pilot.press("left_square_bracket")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.applications_offset == 0
        assert app.screen is screen  # the app's keys did not take the brackets
    # Reading the evidence wrote nothing.
    assert store.journal() == []
    assert store.pattern_applications_page(target).total == 25
