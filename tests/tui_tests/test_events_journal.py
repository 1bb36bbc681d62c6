"""Alerts, the Events screen (6), the Journal screen (7) and the marks of live changes.

Writes come from another store instance on the same file (the conductor, or an operator
"alice" on another host); the console polls by hand (``poll=False``, ``refresh_now_sync``)
under a frozen clock, so every alert is checked to come once and none at start-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FrozenClock
from screens_data import build_screens_store, switch_to

from marianne_tui.alerts import AlertKind
from marianne_tui.app import MarianneApp
from marianne_tui.config import AlertRules, ConsoleConfig
from marianne_tui.modals.bulk_confirm import BatchUndoScreen
from marianne_tui.modals.help import HelpScreen
from marianne_tui.modals.pattern_detail import PatternDetailScreen
from marianne_tui.screens.events import EventsScreen
from marianne_tui.screens.journal import JournalScreen
from marianne_tui.screens.patterns import PatternsScreen
from marianne_tui.widgets.live_table import LiveTable
from marianne_tui.widgets.store_header import StoreHeader
from store import GlobalLearningStore, PatternAction, PatternQuery, QuarantineStatus


@pytest.fixture
def path(tmp_path: Path, clock: FrozenClock) -> Path:
    build_screens_store(tmp_path / "events.db", clock).close()
    return tmp_path / "events.db"


@pytest.fixture
def store(path: Path, clock: FrozenClock) -> Iterator[GlobalLearningStore]:
    opened = GlobalLearningStore(path, create=False, clock=clock)
    opened.operator, opened.operator_host = "ops", "console-host"
    yield opened
    opened.close()


@pytest.fixture
def other(path: Path, clock: FrozenClock) -> Iterator[GlobalLearningStore]:
    opened = GlobalLearningStore(path, create=False, clock=clock)
    opened.operator, opened.operator_host = "alice", "alice-laptop"
    yield opened
    opened.close()


def _id(store: GlobalLearningStore, name: str) -> str:
    return store.query_patterns(PatternQuery(text=name, limit=5)).rows[0].id


def _kinds(app: MarianneApp) -> list[tuple[AlertKind, str]]:
    return [(alert.kind, alert.subject) for alert in app.alert_log.alerts]


async def test_each_alert_comes_once_and_none_at_start_up(
    store: GlobalLearningStore, other: GlobalLearningStore, clock: FrozenClock
) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.refresh_now_sync(force=True)
        assert len(app.alert_log) == 0  # the store has limits, escalations, drift: baseline

        clock.advance(seconds=10)
        other.record_escalation_decision("job-new", 5, 0.4, "retry", 40.0, 1)
        other.record_rate_limit_event("E503", 600, "job-new", model="opus")
        steady = _id(store, "steady-validation")
        improving = _id(store, "improving-prompt-fix")
        other.quarantine_pattern(steady, "conductor says so")  # not journalled
        other.apply_pattern_action(improving, PatternAction.RETIRE, reason="stale")
        assert app.refresh_now_sync() is True
        await pilot.pause()
        assert sorted(_kinds(app)) == sorted([
            (AlertKind.ESCALATION, f"sheet 5 of job {store.hash_job('job-new')}"),
            (AlertKind.RATE_LIMIT, "E503 on opus"),
            (AlertKind.STATUS_CHANGED, "steady-validation"),
            (AlertKind.STATUS_CHANGED, "improving-prompt-fix"),
        ])
        header = app.screen.query_one(StoreHeader).plain()
        assert "⚑ 4 new alerts (4)" in header

        # Nothing new: nothing said again, even on a forced refresh.
        clock.advance(seconds=10)
        app.refresh_now_sync(force=True)
        assert len(app.alert_log) == 4

        # The console's own action is not "someone else's".
        store.apply_pattern_action(_id(store, "belief-wobbler"), PatternAction.VALIDATE)
        assert app.refresh_now_sync() is True
        assert len(app.alert_log) == 4

        screen = await switch_to(app, pilot, "6", EventsScreen)
        table = screen.query_one(LiveTable)
        assert len(table.row_keys_in_order) == 4
        assert table.row_keys_in_order == ("4", "3", "2", "1")  # newest first
        assert app.alert_log.unseen == 0
        assert "⚑ 4 alerts" in screen.query_one(StoreHeader).plain()


async def test_diversity_and_budget_alerts(
    store: GlobalLearningStore, other: GlobalLearningStore, clock: FrozenClock
) -> None:
    from store import PatternEntropyMetrics

    app = MarianneApp(store, poll=False, config=ConsoleConfig(bell=True))
    rings: list[bool] = []
    app.bell = lambda: rings.append(True)  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        clock.advance(minutes=5)
        other.update_exploration_budget(store.hash_job("job-alpha"), 0.05, "decay")
        other.record_pattern_entropy(PatternEntropyMetrics(
            calculated_at=clock.local(), shannon_entropy=0.5, max_possible_entropy=4.0,
            diversity_index=0.1, unique_pattern_count=3, effective_pattern_count=1,
            total_applications=90, dominant_pattern_share=0.9))
        app.refresh_now_sync()
        assert _kinds(app) == [(AlertKind.BUDGET_FLOOR, "budget 0.05"),
                               (AlertKind.DIVERSITY_LOW, "diversity 0.10")]
        assert rings == [True]


async def test_rules_from_the_configuration_switch_alerts_off(
    store: GlobalLearningStore, other: GlobalLearningStore, clock: FrozenClock
) -> None:
    config = ConsoleConfig(alerts=AlertRules(rate_limits=False))
    app = MarianneApp(store, poll=False, config=config)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        other.record_rate_limit_event("E503", 600, "job-new", model="opus")
        app.refresh_now_sync()
        assert len(app.alert_log) == 0


async def test_enter_on_an_event_jumps_to_its_row(
    store: GlobalLearningStore, other: GlobalLearningStore, clock: FrozenClock
) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        limit = other.record_rate_limit_event("E503", 600, "job-new", model="opus")
        steady = _id(store, "steady-validation")
        clock.advance(seconds=5)
        other.apply_pattern_action(steady, PatternAction.QUARANTINE)
        app.refresh_now_sync()
        screen = await switch_to(app, pilot, "6", EventsScreen)
        keys = {alert.key: str(serial) for serial, alert in app.alert_log.numbered()}
        screen.table.select_key(keys[steady])
        await pilot.press("enter")
        for _ in range(50):
            if isinstance(app.screen, PatternsScreen):
                break
            await pilot.pause()
        assert isinstance(app.screen, PatternsScreen)
        assert app.screen.query_one(LiveTable).cursor_key == steady

        screen = await switch_to(app, pilot, "6", EventsScreen)
        screen.table.select_key(keys[limit])
        await pilot.press("enter")
        for _ in range(50):
            if app.current_mode == "rate_limits":
                break
            await pilot.pause()
        await pilot.pause()
        assert app.screen.query_one(LiveTable).cursor_key == limit


async def test_a_pattern_not_on_the_list_opens_its_detail(
    store: GlobalLearningStore, other: GlobalLearningStore, clock: FrozenClock
) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        patterns = app.screen
        assert isinstance(patterns, PatternsScreen)
        await pilot.press("f")  # status filter: pending only
        await pilot.pause()
        steady = _id(store, "steady-validation")
        other.apply_pattern_action(steady, PatternAction.VALIDATE)
        app.refresh_now_sync()
        await switch_to(app, pilot, "6", EventsScreen)
        await pilot.press("enter")
        for _ in range(50):
            if isinstance(app.screen, PatternDetailScreen):
                break
            await pilot.pause()
        assert isinstance(app.screen, PatternDetailScreen)
        assert app.screen.pattern_id == steady


async def test_journal_lists_filters_and_undoes_the_selected_entry(
    store: GlobalLearningStore, other: GlobalLearningStore
) -> None:
    steady = _id(store, "steady-validation")
    wobbler = _id(store, "belief-wobbler")
    mine = store.apply_pattern_action(steady, PatternAction.QUARANTINE, reason="noisy")
    theirs = other.apply_pattern_action(wobbler, PatternAction.VALIDATE)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = await switch_to(app, pilot, "7", JournalScreen)
        table = screen.table
        assert table.row_keys_in_order == (str(theirs.id), str(mine.id))
        row = [str(cell) for cell in table.get_row(str(mine.id))]
        assert row[0] == "●" and row[2] == "quarantine" and row[5] == "ops@console-host"
        assert row[3].startswith("steady-validation") and row[4] == "○ pend → ✖ quar"
        assert row[6] == "noisy"

        await pilot.press("slash", *"alice", "enter")
        await pilot.pause()
        assert table.row_keys_in_order == (str(theirs.id),)
        await pilot.press("slash", "escape")  # escape clears the filter
        await pilot.pause()
        assert table.row_keys_in_order == (str(theirs.id), str(mine.id))

        # The older entry is still the latest on its own row: it can be undone.
        table.select_key(str(mine.id))
        await pilot.press("u")
        await pilot.pause()
        assert store.get_pattern_by_id(steady).quarantine_status is QuarantineStatus.PENDING
        assert store.get_pattern_by_id(wobbler).quarantine_status is QuarantineStatus.VALIDATED
        newest = store.journal(limit=1)[0]
        assert (newest.action, newest.undoes) == ("undo", mine.id)
        assert str(table.get_row(str(mine.id))[0]) == "↶"

        # Undone already: refused, nothing written.
        table.select_key(str(mine.id))
        await pilot.press("u")
        await pilot.pause()
        assert len(store.journal(limit=10)) == 3


async def test_undo_refused_when_the_row_changed_since(
    store: GlobalLearningStore, other: GlobalLearningStore
) -> None:
    steady = _id(store, "steady-validation")
    entry = store.apply_pattern_action(steady, PatternAction.QUARANTINE)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = await switch_to(app, pilot, "7", JournalScreen)
        other.retire_pattern(steady)  # the conductor, after the list was read
        screen.table.select_key(str(entry.id))
        await pilot.press("u")
        await pilot.pause()
        assert store.get_pattern_by_id(steady).quarantine_status is QuarantineStatus.RETIRED
        assert [e.action for e in store.journal(limit=5)] == ["quarantine"]


async def test_undo_of_a_batch_entry_confirms_and_undoes_the_whole_batch(
    store: GlobalLearningStore, other: GlobalLearningStore
) -> None:
    steady, wobbler, third = (_id(store, name) for name in (
        "steady-validation", "belief-wobbler", "improving-prompt-fix"))
    batch = store.apply_batch_action(store.preview_batch_action(
        [steady, wobbler], PatternAction.RETIRE))
    single = other.apply_pattern_action(third, PatternAction.QUARANTINE, reason="theirs")
    in_batch = [e for e in store.journal(limit=10) if e.batch_id == batch.batch_id]
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = await switch_to(app, pilot, "7", JournalScreen)
        screen.table.select_key(str(in_batch[0].id))
        await pilot.press("u")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, BatchUndoScreen)
        assert sorted(e.id for e in dialog.preview.entries) == sorted(e.id for e in in_batch)
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, JournalScreen)
    # Both patterns of the batch are back, the other operator's action is untouched.
    assert sorted(e.target_id for e in in_batch) == sorted([steady, wobbler])
    for entry in in_batch:
        assert store.get_pattern_by_id(entry.target_id).quarantine_status.value == (
            entry.prior_state.get("quarantine_status") or "pending")
    assert store.get_pattern_by_id(third).quarantine_status is QuarantineStatus.QUARANTINED
    undos = [e for e in store.journal(limit=10) if e.action == "undo"]
    assert sorted(e.undoes for e in undos) == sorted(e.id for e in in_batch)
    assert len({e.batch_id for e in undos}) == 1
    assert next(e for e in store.journal(limit=10) if e.id == single.id).undone_at is None


async def test_undo_of_a_batch_entry_is_refused_whole_when_one_moved_on(
    store: GlobalLearningStore, other: GlobalLearningStore
) -> None:
    steady, wobbler = _id(store, "steady-validation"), _id(store, "belief-wobbler")
    batch = store.apply_batch_action(store.preview_batch_action(
        [steady, wobbler], PatternAction.RETIRE))
    other.quarantine_pattern(wobbler, "the conductor, not journalled")
    first = next(e for e in store.journal(limit=10) if e.target_id == steady)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = await switch_to(app, pilot, "7", JournalScreen)
        screen.table.select_key(str(first.id))
        await pilot.press("u")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, BatchUndoScreen)
        assert dialog.preview.conflicts == (wobbler,) and not dialog.can_confirm
        await pilot.press("y")  # nothing to confirm: only closing is offered
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, JournalScreen)
    assert batch.batch_id is not None
    assert store.get_pattern_by_id(steady).quarantine_status is QuarantineStatus.RETIRED
    assert store.get_pattern_by_id(wobbler).quarantine_status is QuarantineStatus.QUARANTINED
    assert [e.action for e in store.journal(limit=10)].count("undo") == 0


async def test_undo_is_disabled_read_only(store: GlobalLearningStore) -> None:
    steady = _id(store, "steady-validation")
    store.apply_pattern_action(steady, PatternAction.QUARANTINE)
    app = MarianneApp(store, poll=False, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await switch_to(app, pilot, "7", JournalScreen)
        await pilot.press("u")
        await pilot.pause()
        assert store.get_pattern_by_id(steady).quarantine_status is QuarantineStatus.QUARANTINED


async def test_command_line_opens_events_and_a_filtered_journal(
    store: GlobalLearningStore,
) -> None:
    store.apply_pattern_action(_id(store, "steady-validation"), PatternAction.QUARANTINE)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("colon", *"events", "enter")
        for _ in range(50):
            if isinstance(app.screen, EventsScreen):
                break
            await pilot.pause()
        assert isinstance(app.screen, EventsScreen)
        await pilot.press("colon", *"journal nobody", "enter")
        for _ in range(50):
            if isinstance(app.screen, JournalScreen) and app.screen.params.text:
                break
            await pilot.pause()
        screen = app.screen
        assert isinstance(screen, JournalScreen) and screen.params.text == "nobody"
        app.refresh_now_sync(force=True)
        await pilot.pause()
        assert screen.table.row_keys_in_order == ()


async def test_help_lists_the_new_screens(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        listed = {(row.keys, row.description) for row in app.screen.key_help()}
        assert ("6", "Events (alerts)") in listed
        assert ("7", "Journal (operator actions)") in listed


# -- changes visible ---------------------------------------------------------------------


def _pattern_table(app: MarianneApp) -> LiveTable:
    return app.screen.query_one("#patterns-table", LiveTable)


async def test_changed_cells_and_arrived_rows_are_marked_then_fade(
    store: GlobalLearningStore, other: GlobalLearningStore, monkeypatch: Any
) -> None:
    app = MarianneApp(store, poll=False)
    app.show_changes = True
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = _pattern_table(app)
        assert table.marked_cells() == frozenset() and table.arrived_keys() == frozenset()
        steady = _id(store, "steady-validation")
        other.quarantine_pattern(steady, "x")
        new = other.record_pattern("retry", "arrived-pattern", description="new")
        assert app.refresh_now_sync() is True
        await pilot.pause()
        assert (steady, "status") in table.marked_cells()
        assert all(key == steady for key, _column in table.marked_cells())
        assert table.arrived_keys() == {new}
        cell = table.get_row(steady)[0]
        assert any("reverse" in str(span.style) for span in cell.spans)
        assert str(table.get_row(new)[0]).startswith("+")
        assert "+1 new" in app.screen.query_one(StoreHeader).plain()

        # A new filter is not a change of the store: no marks for it.
        table.fade()  # nothing is due yet
        assert table.arrived_keys() == {new}
        now = table.clock()
        monkeypatch.setattr(table, "clock", lambda: now + 10)
        table.fade()
        await pilot.pause()
        assert table.marked_cells() == frozenset() and table.arrived_keys() == frozenset()
        assert not str(table.get_row(new)[0]).startswith("+")
        assert "+1 new" not in app.screen.query_one(StoreHeader).plain()


async def test_a_new_sort_marks_nothing(
    store: GlobalLearningStore, other: GlobalLearningStore
) -> None:
    app = MarianneApp(store, poll=False)
    app.show_changes = True
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
        table = _pattern_table(app)
        assert table.marked_cells() == frozenset() and table.arrived_keys() == frozenset()


async def test_the_poll_worker_reads_the_watch_only_when_the_store_moved(
    store: GlobalLearningStore, other: GlobalLearningStore, clock: FrozenClock,
    monkeypatch: Any,
) -> None:
    # Polling on, with an interval no test reaches: the test drives every poll.
    app = MarianneApp(store, poll=True, refresh_seconds=3600)
    reads: list[int] = []
    watch = store.watch_snapshot
    monkeypatch.setattr(store, "watch_snapshot",
                        lambda *a, **k: reads.append(1) or watch(*a, **k))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(reads) == 1 and len(app.alert_log) == 0  # the baseline

        app._on_poll_timer()  # nothing changed: no watch read
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(reads) == 1

        other.record_rate_limit_event("E503", 600, "job-new", model="opus")
        app._on_poll_timer()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(reads) == 2
        assert _kinds(app) == [(AlertKind.RATE_LIMIT, "E503 on opus")]
        app.action_refresh_now()  # forced, but the store did not move
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(reads) == 2 and len(app.alert_log) == 1


def test_the_marks_need_no_colour() -> None:
    from rich.style import Style

    from marianne_tui.widgets.live_table import ARRIVED_MARK, CHANGED_STYLE

    for style in (Style.parse(CHANGED_STYLE), Style.parse(str(ARRIVED_MARK.style))):
        assert style.color is None and style.bgcolor is None
        assert style.reverse and style.bold
    assert ARRIVED_MARK.plain == "+"


def test_the_header_counts_alerts_and_moved_rows() -> None:
    from marianne_tui.widgets.store_header import HeaderState, render_header

    state = HeaderState(None, live=True, alerts_unseen=2, alerts_total=5, rows_arrived=3,
                        rows_left=1)
    assert "+3 new −1 left  ⚑ 2 new alerts (5) · 6" in render_header(state, 118).plain
    narrow = render_header(state, 78).plain
    assert "+3 −1  ⚑2 new" in narrow and "● live" in narrow
    seen = HeaderState(None, live=True, alerts_total=5)
    assert "⚑ 5 alerts" in render_header(seen, 118).plain
    assert "⚑" not in render_header(HeaderState(None, live=True), 118).plain
