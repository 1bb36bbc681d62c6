"""Marks and bulk triage on the Patterns screen: m, shift+↑/↓, ctrl+a (every page of the
filter), M, one dialog and one transaction for q/v/x/n on the marks, u undoing the batch.
Every test checks the store afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FrozenClock
from patterns_helpers import all_rows, build_patterns_store, id_by_name, pattern_state
from textual.widgets import Static

from marianne_tui.app import MarianneApp
from marianne_tui.modals.bulk_confirm import BatchUndoScreen, BulkConfirmScreen
from marianne_tui.modals.reason import ReasonScreen
from marianne_tui.screens import patterns as patterns_screen
from marianne_tui.screens.patterns import PatternsScreen
from marianne_tui.widgets.marked_table import MarkedTable
from marianne_tui.widgets.status_line import StatusLine
from store import GlobalLearningStore, PatternAction, PatternQuery

#: Rows per page in these tests: the 10 patterns of the store fill three pages.
PAGE = 4


@pytest.fixture
def store(tmp_path: Path, clock: FrozenClock,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[GlobalLearningStore]:
    monkeypatch.setattr(patterns_screen, "PAGE_SIZE", PAGE)
    opened = build_patterns_store(tmp_path / "patterns.db", clock)
    yield opened
    opened.close()


async def start(app: MarianneApp, pilot: object) -> tuple[PatternsScreen, MarkedTable]:
    app.refresh_now_sync(force=True)
    await pilot.pause()  # type: ignore[attr-defined]
    screen = app.screen
    assert isinstance(screen, PatternsScreen)
    return screen, app.query_one("#patterns-table", MarkedTable)


def status_line(app: MarianneApp) -> str:
    return str(app.query_one("#patterns-status", StatusLine).render())


def marked_rows(table: MarkedTable) -> list[str]:
    return [key for key in table.row_keys_in_order if table.mark_label(key) == "◆"]


async def mark_with_keys(pilot: object, table: MarkedTable, target: str) -> None:
    """Page to ``target`` with ] and mark it with m (then back to the first page)."""
    press = pilot.press  # type: ignore[attr-defined]
    for _page in range(4):
        if table.select_key(target):
            await press("m")
            break
        await press("right_square_bracket")
        await pilot.pause()  # type: ignore[attr-defined]
    else:
        raise AssertionError(f"{target} is on no page")
    await press("left_square_bracket", "left_square_bracket", "left_square_bracket")
    await pilot.pause()  # type: ignore[attr-defined]


def pending_ids(store: GlobalLearningStore) -> list[str]:
    """Every pending pattern in the list's default order (priority, descending)."""
    page = store.query_patterns(PatternQuery(statuses=("pending",), limit=1000))
    return [row.id for row in page.rows]


async def test_m_marks_and_unmarks_and_marks_survive_refresh_and_paging(
    store: GlobalLearningStore,
) -> None:
    before = pattern_state(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await start(app, pilot)
        first, second = table.row_keys_in_order[:2]
        await pilot.press("m", "down", "m")
        assert list(screen.marks) == [first, second]
        assert marked_rows(table) == [first, second]
        assert "◆ 2 marked" in status_line(app)
        assert "saving" not in status_line(app)

        app.refresh_now_sync(force=True)
        await pilot.press("right_square_bracket")  # the next page: the marks stay
        await pilot.pause()
        assert first not in table.row_keys_in_order and marked_rows(table) == []
        assert "2 marked" in status_line(app)
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert marked_rows(table) == [first, second]

        table.select_key(first)
        await pilot.press("m")  # unmarks
        assert list(screen.marks) == [second] and marked_rows(table) == [second]
        assert "1 marked" in status_line(app)
    assert pattern_state(store) == before  # marking writes nothing


async def test_shift_down_and_up_mark_the_row_and_move(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await start(app, pilot)
        keys = table.row_keys_in_order
        await pilot.press("shift+down", "shift+down")
        assert list(screen.marks) == list(keys[:2]) and table.cursor_row == 2
        await pilot.press("shift+up")  # marks row 2, back to row 1 (already marked)
        assert list(screen.marks) == list(keys[:3]) and table.cursor_row == 1
        assert marked_rows(table) == list(keys[:3])


async def test_ctrl_a_marks_every_page_of_the_filter_and_M_clears(
    store: GlobalLearningStore,
) -> None:
    expected = pending_ids(store)
    assert len(expected) > 2 * PAGE  # the filter spans three pages
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await start(app, pilot)
        await pilot.press("f")  # status filter: pending
        await pilot.pause()
        assert screen.query_state.statuses == ("pending",)
        assert len(table.row_keys_in_order) == PAGE
        await pilot.press("ctrl+a")
        await pilot.pause()
        assert list(screen.marks) == expected
        assert marked_rows(table) == list(table.row_keys_in_order)
        assert f"{len(expected)} marked" in status_line(app)
        await pilot.press("M")
        assert screen.marks == {} and marked_rows(table) == []
        assert "marked" not in status_line(app)


async def test_ctrl_a_is_bounded(store: GlobalLearningStore,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from marianne_tui import triage

    monkeypatch.setattr(triage, "MARK_LIMIT", 3)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, _table = await start(app, pilot)
        await pilot.press("ctrl+a")
        await pilot.pause()
        everything = store.pattern_ids_matching(PatternQuery(), 100).ids
        assert list(screen.marks) == list(everything[:3])


async def test_bulk_quarantine_one_dialog_one_batch_then_u_undoes_it_all(
    store: GlobalLearningStore,
) -> None:
    targets = [id_by_name(store, name) for name in
               ("missing output file", "E101", "validated:", "quarantined:")]
    before = pattern_state(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await start(app, pilot)
        for target in targets:  # marked on whichever page shows them
            await mark_with_keys(pilot, table, target)
        assert list(screen.marks) == targets
        await pilot.press("q")
        assert isinstance(app.screen, ReasonScreen)
        await pilot.press(*"bad batch", "enter")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, BulkConfirmScreen)
        assert dialog.preview.transitions() == (("pending", "quarantined", 2),
                                                ("validated", "quarantined", 1))
        assert dialog.preview.skipped_by_status() == (("quarantined", 1),)
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, PatternsScreen)
        assert screen.marks == {}  # the batch covered every mark

        after = pattern_state(store)
        changed = {key for key in before if before[key] != after[key]}
        assert changed == set(targets[:3])
        journal = store.journal()
        assert sorted(entry.target_id for entry in journal) == sorted(targets[:3])
        (batch_id,) = {entry.batch_id for entry in journal}
        assert batch_id is not None
        assert {entry.reason for entry in journal} == {"bad batch"}
        for target in targets[:3]:
            record = store.get_pattern_by_id(target)
            assert record is not None and record.quarantine_status.value == "quarantined"

        await pilot.press("u")
        await pilot.pause()
        undo = app.screen
        assert isinstance(undo, BatchUndoScreen)
        assert len(undo.preview.entries) == 3
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, PatternsScreen)
    assert pattern_state(store) == before
    undos = [entry for entry in store.journal() if entry.action == "undo"]
    assert sorted(entry.target_id for entry in undos) == sorted(targets[:3])


async def test_a_pattern_changed_under_the_dialog_refuses_the_batch_and_reopens_it(
    store: GlobalLearningStore, tmp_path: Path
) -> None:
    first, second = (id_by_name(store, "missing output file"), id_by_name(store, "E101"))
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await start(app, pilot)
        await mark_with_keys(pilot, table, first)
        await mark_with_keys(pilot, table, second)
        await pilot.press("x")
        assert isinstance(app.screen, BulkConfirmScreen)
        other = GlobalLearningStore(tmp_path / "patterns.db", create=False)
        try:  # another operator validates one of them while the dialog is open
            other.apply_pattern_action(second, PatternAction.VALIDATE, actor="alice")
        finally:
            other.close()
        await pilot.press("y")
        await pilot.pause()
        reopened = app.screen
        assert isinstance(reopened, BulkConfirmScreen)  # on the state now
        assert any("changed while the last dialog was open" in w for w in reopened.warnings)
        assert reopened.preview.transitions() == (("pending", "retired", 1),
                                                  ("validated", "retired", 1))
        # Nothing of the refused batch was written.
        assert [entry.actor for entry in store.journal()] == ["alice"]
        await pilot.press("n")
        await pilot.pause()
    assert store.get_pattern_by_id(first).quarantine_status.value == "pending"  # type: ignore[union-attr]


async def test_a_marked_pattern_deleted_from_the_store_leaves_the_marks(
    store: GlobalLearningStore,
) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, _table = await start(app, pilot)
        await pilot.press("m", "down", "m")
        gone, kept = list(screen.marks)
        with store._engine.begin() as conn:
            conn.exec_driver_sql(f"DELETE FROM patterns WHERE id = '{gone}'")
        app.refresh_now_sync(force=True)
        await pilot.pause()
        assert list(screen.marks) == [kept]
        assert "1 marked" in status_line(app)
        assert gone not in all_rows(store)


async def test_read_only_keeps_marks_but_refuses_the_bulk_write(
    store: GlobalLearningStore, tmp_path: Path
) -> None:
    path = tmp_path / "patterns.db"
    store.close()
    viewer = GlobalLearningStore(path, read_only=True, create=False)
    try:
        before = pattern_state(viewer)
        app = MarianneApp(viewer, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            screen, _table = await start(app, pilot)
            await pilot.press("m", "down", "m", "v")
            await pilot.pause()
            assert len(screen.marks) == 2
            assert isinstance(app.screen, PatternsScreen)  # no dialog
        assert pattern_state(viewer) == before
    finally:
        viewer.close()


async def test_help_lists_the_mark_keys_and_what_marks_do(store: GlobalLearningStore) -> None:
    from marianne_tui.modals.help import HelpScreen

    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await start(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        described = {row.keys: row.description for row in help_screen.key_help()}
        assert described["m"] == "Mark / unmark"
        assert described["M"] == "Clear marks"
        assert described["^a"] == "Mark all the filter matches"
        assert {"Mark and move down", "Mark and move up"} <= set(described.values())
        note = str(help_screen.query_one("#help-marks", Static).render())
        assert "act on every marked pattern" in note
        await pilot.press("escape", "2", "question_mark")  # Drift has no marks
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen) and not app.screen.query("#help-marks")
        assert "m" not in {row.keys for row in app.screen.key_help()}


async def test_a_bulk_write_waiting_on_a_lock_shows_saving_on_its_rows_and_escape_cancels(
    tmp_path: Path, clock: FrozenClock
) -> None:
    """With the thread worker (polling on): every shown row of the batch says saving…,
    escape cancels the whole batch (nothing written) and clears them all."""
    from fault_helpers import wait_for_note, wait_until, write_lock_held

    path = tmp_path / "live.db"
    build_patterns_store(path, clock).close()
    store = GlobalLearningStore(path, clock=clock, busy_timeout=0.2)
    try:
        before = pattern_state(store)
        app = MarianneApp(store, refresh_seconds=60)
        async with app.run_test(size=(120, 40)) as pilot:
            table = app.screen.query_one("#patterns-table", MarkedTable)
            await wait_until(pilot, lambda: len(table.row_keys_in_order) > 3, "the first page")
            await pilot.press("shift+down", "shift+down", "shift+down")
            marked = list(app.screen.marks)  # type: ignore[attr-defined]
            assert len(marked) == 3
            with write_lock_held(path):
                await pilot.press("x")
                await wait_until(pilot, lambda: isinstance(app.screen, BulkConfirmScreen),
                                 "the dialog")
                await pilot.press("y")
                await wait_until(pilot, lambda: app.store_calls.writing, "the write")
                await wait_until(
                    pilot, lambda: all("saving…" in table.get_row(key)[0].plain
                                       for key in marked), "saving… on every row")
                await pilot.press("escape")
                await wait_until(pilot, lambda: not app.store_calls.writing, "the cancel")
                await wait_for_note(pilot, app, "cancelled: nothing was written")
                assert not any("saving" in table.get_row(key)[0].plain for key in marked)
            await pilot.pause(0.3)
        assert pattern_state(store) == before
        assert store.journal() == []
    finally:
        store.close()


async def test_bulk_validate_counts_the_patterns_each_guard_rail_flags(
    store: GlobalLearningStore,
) -> None:
    # (applications, effectiveness) as built: 1, 0.55 · 2, 0.55 · 8, 0.315 · 3, 0.031 ·
    # 10, 0.90: two with fewer than 3 applications, two below 0.35, one with neither.
    targets = [id_by_name(store, name) for name in (
        "long sheet", "[@click", "missing output file", "hallucinated", "retry after")]
    before = pattern_state(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await start(app, pilot)
        for target in targets:
            await mark_with_keys(pilot, table, target)
        await pilot.press("v")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, BulkConfirmScreen)
        assert dialog.rails == ("2 with fewer than 3 applications",
                                "2 with effectiveness below 0.35")
        shown = str(dialog.query_one("#rails", Static).render())
        assert shown == ("⚠ 2 with fewer than 3 applications · 2 with effectiveness below "
                         "0.35")
        await pilot.press("y")  # the guard rails warn, they do not forbid
        await pilot.pause()
    after = pattern_state(store)
    assert {key for key in before if before[key] != after[key]} == set(targets)
    assert {store.get_pattern_by_id(t).quarantine_status.value  # type: ignore[union-attr]
            for t in targets} == {"validated"}
    assert len({entry.batch_id for entry in store.journal()}) == 1


async def test_bulk_quarantine_shows_no_validate_guard_rails(
    store: GlobalLearningStore,
) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await start(app, pilot)
        await mark_with_keys(pilot, table, id_by_name(store, "long sheet"))
        await pilot.press("q", *"why", "enter")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, BulkConfirmScreen) and dialog.rails == ()
