"""A modal's dimmed backdrop, painted line by line (BackdropModalScreen), looks exactly as
Textual's own render of a translucent ModalScreen, also after the screen below changed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FrozenClock
from patterns_helpers import build_patterns_store, id_by_name
from rich.segment import Segment
from rich.text import Text
from textual._context import visible_screen_stack
from textual.screen import ModalScreen

from marianne_tui.app import MarianneApp
from marianne_tui.modals.backdrop import BackdropModalScreen
from marianne_tui.modals.confirm import ConfirmScreen
from marianne_tui.modals.pattern_detail import PatternDetailScreen
from marianne_tui.widgets.live_table import LiveTable
from store import GlobalLearningStore

PENDING_NAME = "missing output file"


@pytest.fixture
def store(tmp_path: Path, clock: FrozenClock) -> Iterator[GlobalLearningStore]:
    opened = build_patterns_store(tmp_path / "patterns.db", clock)
    yield opened
    opened.close()


def textuals_backdrop(screen: BackdropModalScreen[object]) -> list[list[Segment]]:
    """Every line of ``screen``'s own content as ModalScreen renders it (BackgroundScreen)."""
    visible_screen_stack.set(list(screen.app._background_screens))
    screen._layout_cache.clear()  # the cached visual (Screen.render's BackgroundScreen)
    screen._dirty_regions.add(screen.size.region)
    return [list(ModalScreen.render_line(screen, y)) for y in range(screen.size.height)]


def backdrop(screen: BackdropModalScreen[object]) -> list[list[Segment]]:
    """Every line of the backdrop as BackdropModalScreen painted it."""
    return [list(screen._backdrop[y][1]) for y in range(screen.size.height)]


async def press_on_the_pending_pattern(app: MarianneApp, pilot: Any, key: str) -> LiveTable:
    """The Patterns table read, its pending pattern selected, ``key`` pressed."""
    app.refresh_now_sync(force=True)
    await pilot.pause()
    table = app.query_one("#patterns-table", LiveTable)
    assert table.select_key(id_by_name(app.store, PENDING_NAME))
    await pilot.press(key)
    await pilot.pause()
    return table


async def test_the_backdrop_is_textuals_and_follows_the_screen_below(
    store: GlobalLearningStore,
) -> None:
    target = id_by_name(store, PENDING_NAME)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await press_on_the_pending_pattern(app, pilot, "v")
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        drawn = backdrop(dialog)
        assert len(drawn) == 40
        assert drawn == textuals_backdrop(dialog)

        # A row of the table under the dialog changes: the backdrop shows it, as Textual's.
        table.mark_saving(target, True)
        await pilot.pause()
        after = backdrop(dialog)
        assert after != drawn
        changed = [y for y in range(40) if after[y] != drawn[y]]
        assert 1 <= len(changed) <= 2  # the row (and nothing but the row)
        assert after == textuals_backdrop(dialog)
        table.mark_saving(target, False)
        await pilot.press("n")
        await pilot.pause()


async def test_a_modal_over_a_modal_shows_both(store: GlobalLearningStore) -> None:
    """The detail view (a modal) under the confirmation dialog: each backdrop is the screen
    right below it, tinted, as Textual draws a stack of translucent screens."""
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await press_on_the_pending_pattern(app, pilot, "enter")
        detail = app.screen
        assert isinstance(detail, PatternDetailScreen)
        detail_drawn = backdrop(detail)
        assert detail_drawn == textuals_backdrop(detail)
        app.push_screen(ConfirmScreen("Validate?", Text("a pattern"), {"a": 1}, {"a": 2}))
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert backdrop(dialog) == textuals_backdrop(dialog)
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is detail


async def test_a_dismissed_dialog_lets_its_backdrop_go(store: GlobalLearningStore) -> None:
    """A dismissed dialog is garbage in cycles; the lines it kept must not wait with it."""
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await press_on_the_pending_pattern(app, pilot, "v")
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert len(dialog._backdrop) == 40
        await pilot.press("escape")
        await pilot.pause()
        assert not dialog.is_attached
        assert dialog._backdrop == {}
        assert dialog._backdrop_for is None
