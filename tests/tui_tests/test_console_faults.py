"""The faults a live store brings, met the way an operator meets them.

A lock another process holds (the screen stays live, the row says "saving…", the header
says why it waits, escape cancels, nothing is applied twice), a lock held past every
retry, two operators on one row (compare-and-set), a value the store cannot vouch for, a
read-only store, and a PostgreSQL server that stops while keys are pressed.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FrozenClock
from fault_helpers import PrivateServer, notes, wait_for_note, wait_until, write_lock_held
from patterns_helpers import build_patterns_store, id_by_name
from rich.console import Console
from screens_data import add_drift_patterns, add_escalations, add_rate_limits

from marianne_tui import store_calls
from marianne_tui.app import MarianneApp
from marianne_tui.modals.confirm import ConfirmScreen
from marianne_tui.modals.help import HelpScreen
from marianne_tui.modals.outcome import OutcomeScreen
from marianne_tui.modals.pattern_detail import PatternDetailScreen, render_detail
from marianne_tui.screens.drift import DriftScreen
from marianne_tui.screens.escalations import EscalationsScreen
from marianne_tui.screens.patterns import PatternsScreen
from marianne_tui.widgets.live_table import LiveTable
from marianne_tui.widgets.store_header import HeaderState, StoreHeader, render_header
from store import GlobalLearningStore, PatternAction, PatternQuery

PENDING_NAME = "missing output file"


def header_text(app: MarianneApp) -> str:
    return app.screen.query_one(StoreHeader).plain(120)


def status_of(store: GlobalLearningStore, pattern_id: str) -> str:
    record = store.get_pattern_by_id(pattern_id)
    assert record is not None
    return record.quarantine_status.value


@pytest.fixture
def path(tmp_path: Path, clock: FrozenClock) -> Path:
    target = tmp_path / "patterns.db"
    build_patterns_store(target, clock).close()
    return target


@pytest.fixture
def store(path: Path, clock: FrozenClock) -> Iterator[GlobalLearningStore]:
    # The console's short busy timeout, shorter still so the tests wait little.
    opened = GlobalLearningStore(path, clock=clock, busy_timeout=0.2)
    yield opened
    opened.close()


async def live_patterns(app: MarianneApp, pilot: Any, target: str) -> LiveTable:
    table = app.screen.query_one("#patterns-table", LiveTable)
    await wait_until(pilot, lambda: target in table.row_keys_in_order, "the first page")
    assert table.select_key(target)
    return table


async def open_validate_dialog(app: MarianneApp, pilot: Any, target: str) -> None:
    """Press v on ``target`` and stop at its confirm dialog (before y)."""
    app.refresh_now_sync(force=True)
    await pilot.pause()
    await live_patterns(app, pilot, target)
    await pilot.press("v")
    assert isinstance(app.screen, ConfirmScreen)


async def confirm_validate(app: MarianneApp, pilot: Any) -> None:
    await pilot.press("v")
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dialog")
    await pilot.press("y")


# -- a lock held by another process -------------------------------------------------------


async def test_a_write_waiting_on_a_lock_keeps_the_screen_live_and_commits_once(
    path: Path, store: GlobalLearningStore
) -> None:
    target = id_by_name(store, PENDING_NAME)
    app = MarianneApp(store, refresh_seconds=60)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await live_patterns(app, pilot, target)
        with write_lock_held(path):
            await confirm_validate(app, pilot)
            await wait_until(pilot, lambda: "another process is writing" in header_text(app),
                             "the busy notice")
            assert "saving…" in table.get_row(target)[0].plain
            assert "esc cancels" in header_text(app)
            # Keys still answer while the write waits; the dialog's escape closes the
            # dialog and leaves the write alone.
            await pilot.press("question_mark")
            await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.screen, PatternsScreen), "back")
            assert app.store_calls.writing
            assert status_of(store, target) == "pending"
        await wait_until(pilot, lambda: not app.store_calls.writing, "the commit")
        await wait_until(pilot, lambda: "validated" in table.get_row(target)[0].plain,
                         "the row's new state")
        assert "saving" not in header_text(app)
        assert app.store_calls.longest_busy_notice > 0
    assert status_of(store, target) == "validated"
    assert [entry.action for entry in store.journal(target_id=target)] == ["validate"]


async def test_escape_cancels_a_waiting_write_and_nothing_is_written(
    path: Path, store: GlobalLearningStore
) -> None:
    target = id_by_name(store, PENDING_NAME)
    app = MarianneApp(store, refresh_seconds=60)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await live_patterns(app, pilot, target)
        with write_lock_held(path):
            await confirm_validate(app, pilot)
            await wait_until(pilot, lambda: "store busy" in header_text(app), "busy notice")
            await pilot.press("escape")
            await wait_until(pilot, lambda: not app.store_calls.writing, "the cancel")
            await wait_for_note(pilot, app, "cancelled: nothing was written")
            assert "saving" not in table.get_row(target)[0].plain
        await pilot.pause(0.3)  # the lock is free: a cancelled write must not sneak in
    assert status_of(store, target) == "pending"
    assert store.journal(target_id=target) == []


async def test_a_lock_held_past_every_retry_is_refused_in_one_toast(
    path: Path, store: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_calls, "GIVE_UP_SECONDS", 0.6)
    target = id_by_name(store, PENDING_NAME)
    app = MarianneApp(store, refresh_seconds=60)
    async with app.run_test(size=(120, 40)) as pilot:
        await live_patterns(app, pilot, target)
        with write_lock_held(path):
            await confirm_validate(app, pilot)
            await wait_until(pilot, lambda: not app.store_calls.writing, "the refusal")
            await wait_for_note(pilot, app, "Validate failed")
        refusals = [note for note in notes(app) if "failed" in note]
        assert refusals == ["Validate failed: store busy: another process kept the write "
                            "lock; nothing was written"]
        assert app.return_code is None  # still running, no fatal-error path
        assert app.store_calls.longest_write_wait >= 0.6
    assert status_of(store, target) == "pending"
    assert store.journal(target_id=target) == []


async def test_a_failed_outcome_keeps_the_typed_note(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_calls, "GIVE_UP_SECONDS", 0.6)
    path = tmp_path / "escalations.db"
    builder = GlobalLearningStore(path, clock=clock)
    add_escalations(builder)
    builder.close()
    store = GlobalLearningStore(path, clock=clock, busy_timeout=0.2)
    app = MarianneApp(store, refresh_seconds=60)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await wait_until(pilot, lambda: isinstance(app.screen, EscalationsScreen), "screen 4")
        table = app.screen.query_one("#esc-table", LiveTable)
        await wait_until(pilot, lambda: bool(table.row_keys_in_order), "the list")
        target = table.cursor_key  # awaiting ones come first
        with write_lock_held(path):
            await pilot.press("o")
            await wait_until(pilot, lambda: isinstance(app.screen, OutcomeScreen), "dialog")
            await pilot.press("s", *"worked after the retry", "enter")
            # The refusal itself: "not writing" also holds before the write has started.
            await wait_until(pilot, lambda: any("note is kept" in note for note in notes(app)),
                             "the refusal")
        assert not app.store_calls.writing
        await pilot.press("o")
        await wait_until(pilot, lambda: isinstance(app.screen, OutcomeScreen), "reopened")
        assert app.screen.query_one("#outcome-note").value == "worked after the retry"
    assert {r.id: r.outcome_after_action for r in store.escalations_for_review()}[
        target] is None
    store.close()


# -- two operators on one row ---------------------------------------------------------------


async def test_an_action_on_a_pattern_changed_meanwhile_is_refused_and_reopened(
    path: Path, store: GlobalLearningStore, clock: FrozenClock
) -> None:
    target = id_by_name(store, PENDING_NAME)
    other = GlobalLearningStore(path, clock=clock)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_validate_dialog(app, pilot, target)
        assert app.screen.before["quarantine_status"] == "pending"
        other.apply_pattern_action(target, PatternAction.QUARANTINE, reason="the other one")
        await pilot.press("y")
        await pilot.pause()
        assert any("refused" in note and "status now quarantined" in note
                   for note in notes(app))
        # The dialog is back, on the pattern as it is now.
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.before["quarantine_status"] == "quarantined"
        assert any("changed while" in warning for warning in app.screen.warnings)
        await pilot.press("y")
        await pilot.pause()
    other.close()
    assert status_of(store, target) == "validated"
    actions = [entry.action for entry in reversed(store.journal(target_id=target))]
    assert actions == ["quarantine", "validate"]


async def test_a_retire_meanwhile_refuses_a_validate_that_shows_only_a_timestamp(
    path: Path, store: GlobalLearningStore, clock: FrozenClock
) -> None:
    target = id_by_name(store, PENDING_NAME)
    store.apply_pattern_action(target, PatternAction.VALIDATE)
    clock.advance(minutes=1)
    other = GlobalLearningStore(path, clock=clock)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_validate_dialog(app, pilot, target)
        assert "quarantine_status" not in app.screen.before  # validated -> validated
        other.retire_pattern(target)
        await pilot.press("y")
        await pilot.pause()
        assert any("refused" in note and "status now retired" in note for note in notes(app))
    other.close()
    assert status_of(store, target) == "retired"
    actions = [entry.action for entry in reversed(store.journal(target_id=target))]
    assert actions == ["validate"]


async def test_an_outcome_recorded_meanwhile_by_someone_else_is_refused(
    tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "escalations.db"
    store = GlobalLearningStore(path, clock=clock)
    add_escalations(store)
    other = GlobalLearningStore(path, clock=clock)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await wait_until(pilot, lambda: isinstance(app.screen, EscalationsScreen), "screen 4")
        app.refresh_now_sync(force=True)
        await pilot.pause()
        target = app.screen.query_one("#esc-table", LiveTable).cursor_key
        assert target is not None
        await pilot.press("o")
        assert isinstance(app.screen, OutcomeScreen)
        other.record_escalation_outcome(target, "failed", note="theirs")
        await pilot.press("s", *"mine", "enter")
        await pilot.pause()
        assert any("outcome now failed" in note for note in notes(app))
        reopened = app.screen
        assert isinstance(reopened, OutcomeScreen)
        assert reopened.escalation.outcome_after_action == "failed"
        assert reopened.query_one("#outcome-note").value == "mine"
        await pilot.press("escape")
    entries = store.journal(target_id=target)
    assert [(entry.action, entry.reason) for entry in entries] == [("failed", "theirs")]
    other.close()
    store.close()


# -- values the store cannot vouch for ------------------------------------------------------


async def test_a_nan_effectiveness_is_shown_as_such_never_as_a_score(
    path: Path, store: GlobalLearningStore
) -> None:
    target = id_by_name(store, PENDING_NAME)
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("UPDATE patterns SET effectiveness_score = 'NaN', trust_score = ? "
                    "WHERE id = ?", (float("inf"), target))
    raw.close()
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        app.refresh_now_sync(force=True)
        await pilot.pause()
        table = await live_patterns(app, pilot, target)
        cells = [cell.plain for cell in table.get_row(target)]
        assert cells[1] == "?+∞"  # trust: "?+Inf" did not fit the column
        assert cells[2] == "?NaN"  # effectiveness
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PatternDetailScreen), "detail")
        detail = app.screen
        await wait_until(pilot, lambda: detail.detail is not None, "the detail's reads")
        console = Console(width=120, record=True, file=io.StringIO())
        console.print(render_detail(detail.detail))
        text = console.export_text()
        assert "effectiveness         ? stored as NaN: not a score" in text
        assert "trust                 ? stored as +Inf: not a score" in text


# -- read-only --------------------------------------------------------------------------------


async def test_a_read_only_store_says_why_and_hides_the_keys_that_write(
    path: Path, clock: FrozenClock
) -> None:
    store = GlobalLearningStore(path, clock=clock, read_only=True)
    target = id_by_name(store, PENDING_NAME)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        app.refresh_now_sync(force=True)
        await pilot.pause()
        await live_patterns(app, pilot, target)
        assert "READ-ONLY: opened read-only on request" in header_text(app)
        assert any("Keys that write are hidden" in note for note in notes(app))
        footer_keys = {binding.key for (_, binding, enabled, _) in
                       app.screen.active_bindings.values() if enabled}
        assert not {"q", "v", "x", "n", "u"} & footer_keys
        await pilot.press("v")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
    assert status_of(store, target) == "pending"
    store.close()


def test_a_snapshot_view_says_that_changes_are_not_seen() -> None:
    text = render_header(HeaderState(None, live=True, read_only=True, immutable=True,
                                     read_only_reason="the folder is not writable"), 118)
    assert "SNAPSHOT: not live" in text.plain
    assert "READ-ONLY: the folder is not writable" in text.plain



async def test_r_rereads_a_snapshot_and_is_offered_only_on_one(
    path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real reread runs as an unprivileged user in store_tests/test_read_only.py; here
    the store is told it is a snapshot, and its reread turns it live."""
    store = GlobalLearningStore(path, clock=clock, read_only=True)
    rereads: list[str] = []

    def reread() -> bool:
        rereads.append("reread")
        store.immutable_view = False  # the conductor's -shm has appeared
        return True

    monkeypatch.setattr(store, "reread_snapshot", reread)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("R")  # not a snapshot: the key does nothing
        await pilot.pause()
        assert rereads == []

        store.immutable_view = True
        app.refresh_bindings()
        app._refresh_header()
        await pilot.pause()
        assert "SNAPSHOT: not live" in header_text(app)
        footer_keys = {binding.key for (_, binding, enabled, _) in
                       app.screen.active_bindings.values() if enabled}
        assert "R" in footer_keys
        await pilot.press("R")
        await wait_until(pilot, lambda: any("read live" in note for note in notes(app)),
                         "the toast")
        await pilot.pause()
        assert rereads == ["reread"]
        assert "SNAPSHOT" not in header_text(app)
    store.close()


# -- PostgreSQL stopped while the console runs ----------------------------------------------


@pytest.fixture
def server() -> Iterator[PrivateServer]:
    private = PrivateServer()
    private.start()
    yield private
    private.remove()


async def test_a_postgresql_server_stopped_under_every_key_then_back(
    server: PrivateServer, clock: FrozenClock
) -> None:
    password = "sekret-pw-123"
    store = GlobalLearningStore(server.url(password), clock=clock)
    add_drift_patterns(store)
    add_escalations(store)
    add_rate_limits(store)
    some_pattern = store.query_patterns(PatternQuery(limit=1)).rows[0].id
    app = MarianneApp(store, refresh_seconds=0.3)
    async with app.run_test(size=(120, 40)) as pilot:
        await live_patterns(app, pilot, some_pattern)
        await pilot.press("4")
        await wait_until(pilot, lambda: isinstance(app.screen, EscalationsScreen), "screen 4")
        escalations = app.screen.query_one("#esc-table", LiveTable)
        await wait_until(pilot, lambda: bool(escalations.row_keys_in_order), "escalations")
        await pilot.press("1")
        await wait_until(pilot, lambda: isinstance(app.screen, PatternsScreen), "screen 1")

        server.stop()
        await wait_until(pilot, lambda: app.last_error is not None, "the outage banner")
        assert "store unavailable" in header_text(app)
        assert "retrying every" in header_text(app)

        async def settle() -> None:
            # Store calls end; the poll chain and the push watcher (for good) stay.
            await wait_until(pilot, lambda: not app.workers._workers or all(
                w.group in ("poll", "push") for w in app.workers._workers), "store calls", 30)
            await pilot.pause(0.1)

        for key in ("v", "x", "n", "q", "u"):  # every triage key: refused, one toast each
            await pilot.press(key)
            await settle()
        await pilot.press("enter")  # the detail shows its failed reads, section by section
        await wait_until(pilot, lambda: isinstance(app.screen, PatternDetailScreen), "detail")
        await settle()
        await pilot.press("escape", "space")
        await pilot.press("2")  # never read before: "could not read", not "nothing found"
        await wait_until(pilot, lambda: isinstance(app.screen, DriftScreen), "screen 2")
        drift = app.screen
        await wait_until(pilot, lambda: "could not read" in str(
            drift.query_one("#drift-status").render()), "drift's status")
        assert "No pattern" not in str(drift.query_one("#drift-status").render())
        await pilot.press("r")
        await settle()
        await pilot.press("3", "4")
        await wait_until(pilot, lambda: isinstance(app.screen, EscalationsScreen), "screen 4")
        await pilot.press("o", "s", *"typed during the outage", "enter")
        await settle()
        await pilot.press("u")
        await settle()
        await pilot.press("5", "c")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "cleanup")
        await pilot.press("y")
        await settle()

        errors = [n.message for n in app._notifications if n.severity == "error"]
        # q, v, x, n: previews; u twice; r; the outcome; the cleanup: one toast each.
        assert len(errors) == 9, errors
        assert all("unavailable" in message for message in errors), errors
        assert any("note is kept" in note for note in notes(app))
        everything = " ".join([*notes(app), header_text(app), app.export_screenshot()])
        assert password not in everything
        assert app.return_code is None

        server.start()
        await pilot.press("1")
        await wait_until(pilot, lambda: app.last_error is None, "recovery", 60)
        table = await live_patterns(app, pilot, some_pattern)
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "dialog")
        await pilot.press("y")
        await wait_until(pilot, lambda: "validated" in table.get_row(some_pattern)[0].plain,
                         "the write after recovery")

        server.stop()
        await wait_until(pilot, lambda: app.last_error is not None, "the second outage")
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: app._exit_renderables == [] and not app.is_running,
                         "quit", 30)
    assert app.return_code == 0
    store.close()
