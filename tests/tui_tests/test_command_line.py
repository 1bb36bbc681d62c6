"""The `:` command line: each command typed as an operator would, and what it leaves on
screen and in the store (commands never write to the store, except :save to the config)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from command_helpers import command, keys_for, record_toasts, shown_ids, started, toasts
from conftest import FrozenClock
from patterns_helpers import build_patterns_store, id_by_name, pattern_state
from screens_data import add_drift_patterns, add_escalations, add_rate_limits
from textual.binding import Binding

from marianne_tui.app import SCREENS, MarianneApp
from marianne_tui.commands import CommandError, completions, parse
from marianne_tui.config import ConsoleConfig, SavedView, load_config
from marianne_tui.modals.command_line import CommandLineScreen
from marianne_tui.modals.pattern_detail import PatternDetailScreen
from marianne_tui.screens.drift import DriftScreen
from marianne_tui.screens.escalations import EscalationsScreen
from marianne_tui.screens.patterns import PatternsScreen
from marianne_tui.screens.rate_limits import RateLimitsScreen
from marianne_tui.widgets.filter_bar import FilterInput
from marianne_tui.widgets.live_table import LiveTable
from store import GlobalLearningStore, PatternSort, StoreUnavailableError


@pytest.fixture
def store(tmp_path: Path, clock: FrozenClock) -> Iterator[GlobalLearningStore]:
    opened = build_patterns_store(tmp_path / "console.db", clock)
    add_drift_patterns(opened)
    add_escalations(opened)
    add_rate_limits(opened)
    yield opened
    opened.close()


# -- parsing and completion (pure) ------------------------------------------------------


def test_parse_names_aliases_and_errors() -> None:
    assert parse(":sort trust asc").name == "sort"
    assert parse("sort trust asc").args == ("trust", "asc")
    assert parse(":quit").name == "q"
    assert parse(":escalations pending").name == "esc"
    assert parse(':filter "two words"').args == ("two words",)
    with pytest.raises(CommandError, match="Unknown command :sotr"):
        parse(":sotr trust")
    with pytest.raises(CommandError, match="Type a command"):
        parse(":  ")


def test_completion_of_commands_and_their_arguments() -> None:
    views = {"triage-morning": SavedView(), "tired": SavedView()}
    assert completions("re", {}) == ["refresh", "readonly"]
    assert completions(":pat", {}) == ["patterns"]
    assert completions("patterns q", {}) == ["patterns quarantined"]
    assert completions("sort tr", {}) == ["sort trust"]
    assert completions("export n", {}) == ["export ndjson"]
    assert completions("view t", views) == ["view tired", "view triage-morning"]
    assert completions("esc ", {}) == ["esc pending", "esc all"]
    # a finished argument, or a command without choices, completes to nothing
    assert completions("sort trust", {}) == []
    assert completions("jump ab", {}) == []


# -- screens ----------------------------------------------------------------------------


async def test_patterns_with_a_status_then_all(store: GlobalLearningStore) -> None:
    quarantined = id_by_name(store, "quarantined: skip tests")
    app = record_toasts(MarianneApp(store, poll=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await pilot.press("2")
        await pilot.pause()
        await command(pilot, "patterns quarantined")
        assert isinstance(app.screen, PatternsScreen)
        assert app.screen.query_state.statuses == ("quarantined",)
        assert shown_ids(app) == (quarantined,)
        await command(pilot, "patterns all")
        assert app.screen.query_state.statuses == ()
        assert len(shown_ids(app)) == store.query_patterns(
            app.screen.query_state).matching


async def test_drift_budget_limits_and_esc_pending(store: GlobalLearningStore) -> None:
    app = record_toasts(MarianneApp(store, poll=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await command(pilot, "drift")
        assert isinstance(app.screen, DriftScreen)
        await command(pilot, "limits")
        assert isinstance(app.screen, RateLimitsScreen)
        await command(pilot, "budget")
        assert app.current_mode == "budget"
        await command(pilot, "esc pending")
        screen = app.screen
        assert isinstance(screen, EscalationsScreen)
        assert screen.filter_text == "awaiting"
        pending = {r.id for r in store.escalations_for_review() if r.outcome_after_action is None}
        assert set(shown_ids(app)) == pending and len(pending) == 2
        await command(pilot, "esc all")
        assert screen.filter_text == ""
        assert len(shown_ids(app)) == len(store.escalations_for_review())


async def test_filter_and_sort_on_patterns(store: GlobalLearningStore) -> None:
    app = record_toasts(MarianneApp(store, poll=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await command(pilot, "filter retry")
        screen = app.screen
        assert isinstance(screen, PatternsScreen)
        assert screen.query_one(FilterInput).value == "retry"
        assert screen.query_state.text == "retry"
        expected = store.query_patterns(screen.query_state).rows
        assert shown_ids(app) == tuple(row.id for row in expected)
        assert all("retry" in (row.name + (row.description or "")).lower() for row in expected)

        await command(pilot, "sort trust")
        assert (screen.query_state.sort, screen.query_state.descending) == (
            PatternSort.TRUST, True)
        trusts = [store.get_pattern_by_id(i).trust_score for i in shown_ids(app)]  # type: ignore[union-attr]
        assert trusts == sorted(trusts, reverse=True)
        await command(pilot, "sort name asc")
        assert (screen.query_state.sort, screen.query_state.descending) == (
            PatternSort.NAME, False)
        await command(pilot, "filter")
        assert screen.query_state.text == "" and screen.query_one(FilterInput).value == ""


async def test_sort_elsewhere_and_bad_arguments_only_say_so(
    store: GlobalLearningStore,
) -> None:
    app = record_toasts(MarianneApp(store, poll=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await command(pilot, "sort colour")
        await command(pilot, "refresh soon")
        await command(pilot, "refresh 0.01")
        await command(pilot, "frobnicate")
        await pilot.press("2")
        await pilot.pause()
        await command(pilot, "sort trust")
        messages = toasts(app)
        assert any(":sort takes one of" in m for m in messages)
        assert any(":refresh takes a number" in m for m in messages)
        assert any(":refresh takes 0.2 to 3600" in m for m in messages)
        assert any("Unknown command :frobnicate" in m for m in messages)
        assert any("Only the Patterns list sorts" in m for m in messages)
        assert app.refresh_seconds == 2.0


async def test_refresh_readonly_and_quit(store: GlobalLearningStore) -> None:
    before = pattern_state(store)
    app = record_toasts(MarianneApp(store, poll=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await command(pilot, "refresh 5")
        assert app.refresh_seconds == 5.0
        await command(pilot, "readonly")
        assert app.read_only
        await pilot.press("v")  # a write key now only says it is disabled
        await pilot.pause()
        assert not isinstance(app.screen, CommandLineScreen)
        assert any("read-only" in m for m in toasts(app))
        await command(pilot, "readonly")
        assert app.read_only  # one-way: a second :readonly keeps it
        await command(pilot, "q")
    assert app.return_code == 0
    assert pattern_state(store) == before


async def test_jump_by_id_prefix_by_name_and_nothing(store: GlobalLearningStore) -> None:
    target = id_by_name(store, "missing output file")
    app = record_toasts(MarianneApp(store, poll=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await command(pilot, f"jump {target[:10]}")
        assert isinstance(app.screen, PatternDetailScreen)
        assert app.screen.pattern_id == target
        await pilot.press("escape")
        await pilot.pause()
        await command(pilot, "jump quota reset")
        assert isinstance(app.screen, PatternDetailScreen)
        assert app.screen.pattern_id == id_by_name(store, "validated: wait for quota")
        await pilot.press("escape")
        await pilot.pause()
        await command(pilot, "jump retry")  # several names: listed, nothing opened
        assert isinstance(app.screen, PatternsScreen)
        assert any("patterns match" in m for m in toasts(app))
        await command(pilot, "jump zzz-nothing")
        assert any("No pattern's id starts with" in m for m in toasts(app))


async def test_jump_finds_a_pattern_the_filter_hides(store: GlobalLearningStore) -> None:
    target = id_by_name(store, "hallucinated import path")
    app = record_toasts(MarianneApp(store, poll=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await command(pilot, "patterns quarantined")
        assert target not in shown_ids(app)
        await command(pilot, f"jump {target}")
        assert isinstance(app.screen, PatternDetailScreen)
        assert app.screen.pattern_id == target


async def test_store_error_in_jump_is_a_toast(
    store: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = record_toasts(MarianneApp(store, poll=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)

        def server_gone(query: object) -> None:
            raise StoreUnavailableError("the server went away")

        monkeypatch.setattr(store, "query_patterns", server_gone)
        await command(pilot, "jump retry")
        assert "Jump failed: StoreUnavailableError: the server went away" in toasts(app)
        assert isinstance(app.screen, PatternsScreen)
        assert app.is_running


# -- saved views ------------------------------------------------------------------------


async def test_save_and_view_restore_screen_filters_and_sort(
    store: GlobalLearningStore, tmp_path: Path
) -> None:
    config_path = tmp_path / "config.toml"
    config_path.write_text("# my settings\nrefresh = 3\n")
    app = record_toasts(MarianneApp(store, poll=False, config=load_config(config_path)))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await command(pilot, "patterns pending")
        await command(pilot, "sort failures asc")
        await command(pilot, "filter claude")
        screen = app.screen
        assert isinstance(screen, PatternsScreen)
        wanted_query = screen.query_state
        wanted_rows = shown_ids(app)
        await command(pilot, "save triage-morning")
        await command(pilot, "esc pending")
        await command(pilot, "save esc-queue")

        await command(pilot, "patterns all")
        await command(pilot, "sort name")
        await command(pilot, "filter")
        await command(pilot, "drift")
        await command(pilot, "view triage-morning")
        assert app.screen is screen
        assert screen.query_state == wanted_query
        assert screen.query_one(FilterInput).value == "claude"
        assert shown_ids(app) == wanted_rows
        await command(pilot, "view esc-queue")
        assert isinstance(app.screen, EscalationsScreen)
        assert app.screen.filter_text == "awaiting"
        await command(pilot, "view nope")
        assert any("No view 'nope'" in m for m in toasts(app))

    text = config_path.read_text()
    assert text.startswith("# my settings\nrefresh = 3\n")  # the rest of the file is kept
    reread = load_config(config_path)
    assert reread.refresh == 3.0
    assert reread.views["triage-morning"] == SavedView(
        screen="patterns", filter="claude", status="pending", sort="failures",
        descending=False)
    assert reread.views["esc-queue"] == SavedView(screen="escalations", filter="awaiting")


async def test_save_again_replaces_the_view_and_a_bad_name_is_refused(
    store: GlobalLearningStore, tmp_path: Path
) -> None:
    config_path = tmp_path / "config.toml"
    app = record_toasts(MarianneApp(store, poll=False, config=ConsoleConfig(path=config_path)))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await command(pilot, "save mine")
        await command(pilot, "patterns quarantined")
        await command(pilot, "save mine")
        await command(pilot, "save no/slashes")
        assert any(":save NAME" in m for m in toasts(app))
    views = load_config(config_path).views
    assert list(views) == ["mine"]
    assert views["mine"].status == "quarantined"
    assert config_path.read_text().count("[views.mine]") == 1


async def test_escape_closes_the_line_without_running_it(store: GlobalLearningStore) -> None:
    app = record_toasts(MarianneApp(store, poll=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await pilot.press("colon", *keys_for("q"), "escape")
        await pilot.pause()
        assert isinstance(app.screen, PatternsScreen)
        assert app.is_running


async def test_tab_completes_and_up_recalls(store: GlobalLearningStore) -> None:
    app = record_toasts(MarianneApp(store, poll=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await pilot.press("colon", *keys_for("pat"), "tab", *keys_for("qu"), "tab")
        await pilot.pause()
        line = app.screen.query_one("#command-input")
        assert line.value == "patterns quarantined"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.query_state.statuses == ("quarantined",)  # type: ignore[attr-defined]
        await pilot.press("colon", "up")
        await pilot.pause()
        assert app.screen.query_one("#command-input").value == "patterns quarantined"  # type: ignore[attr-defined]


async def test_colon_in_a_filter_is_typed_not_a_command(store: GlobalLearningStore) -> None:
    app = record_toasts(MarianneApp(store, poll=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await pilot.press("slash", *keys_for("a:b"), "enter")
        await pilot.pause()
        assert isinstance(app.screen, PatternsScreen)
        assert app.screen.query_one(FilterInput).value == "a:b"


# -- y: copy the id ---------------------------------------------------------------------


@pytest.mark.parametrize(("key", "screen_type"), [
    ("1", PatternsScreen), ("2", DriftScreen), ("4", EscalationsScreen),
    ("5", RateLimitsScreen),
])
async def test_y_copies_the_id_under_the_cursor(
    store: GlobalLearningStore, key: str, screen_type: type
) -> None:
    app = record_toasts(MarianneApp(store, poll=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(key)
        await pilot.pause()
        assert isinstance(app.screen, screen_type)
        app.refresh_now_sync(force=True)
        await pilot.pause()
        await pilot.press("down")
        table = app.screen.query_one(LiveTable)
        expected = table.cursor_key
        assert expected is not None
        await pilot.press("y")
        await pilot.pause()
        assert app.clipboard == expected
        assert not isinstance(app.screen, CommandLineScreen)


async def test_y_on_the_confirm_dialog_still_confirms(store: GlobalLearningStore) -> None:
    app = record_toasts(MarianneApp(store, poll=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        target = app.screen.query_one(LiveTable).cursor_key
        await pilot.press("v")
        await pilot.pause()
        await pilot.press("y")
        for _ in range(3):
            await pilot.pause()
        assert app.clipboard == ""
        record = store.get_pattern_by_id(target)  # type: ignore[arg-type]
        assert record is not None and record.quarantine_status.value == "validated"


def _declared_keys(cls: type) -> list[str]:
    keys: list[str] = []
    for klass in cls.__mro__:
        if klass.__module__.startswith("marianne_tui") and "BINDINGS" in klass.__dict__:
            for binding in Binding.make_bindings(klass.__dict__["BINDINGS"]):
                keys.extend(binding.key.split(","))
    return keys


def test_colon_and_y_take_no_key_a_screen_already_had() -> None:
    app_keys = _declared_keys(MarianneApp)
    assert app_keys.count("colon") == 1
    for name, screen_class in SCREENS.items():
        keys = app_keys + _declared_keys(screen_class)
        assert len(keys) == len(set(keys)), (name, sorted(keys))
        assert ("y" in keys) == (name != "budget")


def test_the_command_modules_do_not_import_the_app() -> None:
    # They reach the app only through the object they are given (a fresh interpreter: this
    # process imported the app long ago).
    import subprocess
    import sys

    code = ("import sys, marianne_tui.commands, marianne_tui.modals.command_line, "
            "marianne_tui.export, marianne_tui.config, marianne_tui.cli_export; "
            "print('marianne_tui.app' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
