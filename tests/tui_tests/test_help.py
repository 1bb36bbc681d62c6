"""`?` lists every key of the current screen and the global ones; the command palette
switches screens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from marianne_tui.app import SCREENS, MarianneApp
from marianne_tui.modals.help import HelpScreen, KeyHelp
from store import GlobalLearningStore

GLOBAL_KEYS = {"1", "2", "3", "4", "5", "space", "p", "?", "^q", "^p"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[GlobalLearningStore]:
    opened = GlobalLearningStore(tmp_path / "store.db")
    opened.record_pattern("retry_pattern", "a pattern")
    opened.record_escalation_decision("job", 1, 0.5, "retry", 50.0, 1)
    yield opened
    opened.close()


def _keys(rows: list[KeyHelp]) -> set[str]:
    return {key for row in rows for key in row.keys.split(", ")}


async def _open_help(app: MarianneApp, pilot: object, screen_key: str) -> HelpScreen:
    await pilot.press(screen_key)  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]
    await pilot.press("question_mark")  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]
    assert isinstance(app.screen, HelpScreen)
    return app.screen


@pytest.mark.parametrize(
    ("screen_key", "expected"),
    [
        ("1", {"q", "v", "x", "n", "u", "/", "⏎", "s", "f", "a"}),
        ("2", {"q", "v", "x", "n", "u", "r"}),
        ("4", {"o", "u"}),
    ],
)
async def test_help_lists_the_screens_keys_and_the_global_ones(
    store: GlobalLearningStore, screen_key: str, expected: set[str]
) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        help_screen = await _open_help(app, pilot, screen_key)
        listed = help_screen.key_help()
        assert expected <= _keys(listed)
        assert _keys(listed) >= GLOBAL_KEYS
        # hidden keys are listed too, with their descriptions
        described = {row.keys: row.description for row in listed}
        assert described["p"] == "Pause / resume live refresh"
        assert described["space"] == "Refresh now"
        # escape closes it and the screen is back
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_every_binding_of_the_screen_class_is_listed(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        for number, screen_class in enumerate(SCREENS.values(), start=1):
            help_screen = await _open_help(app, pilot, str(number))
            descriptions = {row.description for row in help_screen.key_help()}
            for binding in screen_class.__dict__.get("BINDINGS", []):
                description = getattr(binding, "description", None)
                if description:
                    assert description in descriptions, (screen_class.__name__, description)
            await pilot.press("escape")
            await pilot.pause()


async def test_read_only_keys_are_marked_disabled(tmp_path: Path) -> None:
    GlobalLearningStore(tmp_path / "store.db").close()
    store = GlobalLearningStore(tmp_path / "store.db", read_only=True, create=False)
    try:
        app = MarianneApp(store, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            help_screen = await _open_help(app, pilot, "1")
            rows = {row.keys: row for row in help_screen.key_help()}
            assert not rows["q"].enabled and not rows["v"].enabled
            assert rows["/"].enabled and rows["p"].enabled
    finally:
        store.close()


async def test_help_fits_at_80_by_24(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
        help_screen = await _open_help(app, pilot, "1")
        box = help_screen.query_one("VerticalScroll")
        assert box.region.right <= 80 and box.region.bottom <= 24


async def test_command_palette_lists_and_switches_screens(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for screen_class in SCREENS.values():
            assert screen_class.TITLE_TEXT in titles
        assert {"Refresh now", "Pause / resume", "Keys"} <= set(titles)

        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Escalations")
        await pilot.pause(0.3)  # the palette searches asynchronously
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_mode == "escalations"


@pytest.mark.parametrize(("screen_key", "listed"), [("1", True), ("2", True), ("4", False)])
async def test_help_lists_the_pattern_detail_keys_where_enter_opens_it(
    store: GlobalLearningStore, screen_key: str, listed: bool
) -> None:
    # `?` does not open over the detail itself, so the screens that open it list its keys.
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        help_screen = await _open_help(app, pilot, screen_key)
        shown = bool(help_screen.query("#help-detail-keys"))
        assert shown is listed
        if listed:
            described = {row.keys: row.description for row in help_screen.key_help()}
            assert described["]"] == "Older applications"
            assert described["["] == "Newer applications"
