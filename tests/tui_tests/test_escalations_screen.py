"""The Escalations screen: pending queue first, similar past escalations, outcome entry, undo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FrozenClock
from screens_data import add_escalations, add_hostile_rows, open_escalations, outcomes
from textual.widgets._data_table import ColumnKey

from marianne_tui.app import MarianneApp
from marianne_tui.config import ConsoleConfig
from marianne_tui.modals.outcome import OutcomeScreen
from marianne_tui.screens import escalations as escalations_module
from marianne_tui.screens.escalations import EscalationsScreen
from store import EscalationSort, GlobalLearningStore


@pytest.fixture
def store(tmp_path: Path, clock: FrozenClock) -> Iterator[GlobalLearningStore]:
    opened = GlobalLearningStore(tmp_path / "esc.db", clock=clock)
    add_escalations(opened)
    yield opened
    opened.close()


def detail_text(app: MarianneApp) -> str:
    return str(app.screen.query_one("#esc-detail").render())


async def test_pending_queue_first_with_every_column(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_escalations(app, pilot)
        review = [row.record for row in store.escalation_queue().rows]
        assert table.row_keys_in_order == tuple(r.id for r in review)
        first = [c.plain for c in table.get_row(review[0].id)]
        # The newest pending one, its context fresh: retry on sheet 9.
        assert first[0] == "◌ awaiting"
        assert first[3:8] == ["9", "0.75", "retry", "80%", "0"]
        assert first[8] == "claude-opus" and first[9] == "Retry once"
        second = [c.plain for c in table.get_row(review[1].id)]
        assert second[0] == "◌ awaiting" and second[3] == "4"
        # The table cuts the guidance to fit 120 columns; the panel shows all of it.
        assert second[8] == "claude-sonnet" and second[9] == "Add the schema to t…"
        assert next(c.plain for c in table.get_row(review[2].id)).startswith("■ aborted")
        status = str(app.screen.query_one("#esc-status").render())
        assert "◌ 2 awaiting · 6 shown of 6" in status
        assert "stale" not in status
        await pilot.press("down")
        await pilot.pause()
        assert "Guidance: Add the schema to the prompt" in detail_text(app)


async def test_similar_escalations_follow_the_cursor(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, _table = await open_escalations(app, pilot)
        # The cursor starts on retry at (0.75, 80%): nothing that close.
        text = detail_text(app)
        assert "Sheet 9 of job" in text
        assert text.rstrip().endswith("none")
        await pilot.press("down")  # modify_prompt at (0.44, 52%): three past ones are close
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = detail_text(app)
        assert "Sheet 4 of job" in text
        assert "retry → ✓ success" in text
        assert "skip → ↷ skipped" in text
        assert "retry → ✗ failed" in text


@pytest.mark.parametrize(
    ("key", "outcome"), [("s", "success"), ("f", "failed"), ("a", "aborted"), ("k", "skipped")]
)
async def test_outcome_dialog_records_the_choice_and_note(
    store: GlobalLearningStore, key: str, outcome: str
) -> None:
    before = outcomes(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_escalations(app, pilot)
        target = table.cursor_key
        assert target is not None and before[target] is None
        await pilot.press("o")
        assert isinstance(app.screen, OutcomeScreen)
        await pilot.press(key)
        # The note field has focus now: letters go into it, not to the outcome keys.
        await pilot.press(*"saw it fail", "enter")
        await pilot.pause()
        assert isinstance(app.screen, EscalationsScreen)
        after = outcomes(store)
        assert after[target] == outcome
        assert {k: v for k, v in after.items() if k != target} == {
            k: v for k, v in before.items() if k != target
        }
        entry = store.journal()[0]
        assert (entry.target_kind, entry.target_id, entry.action, entry.reason) == (
            "escalation", target, outcome, "saw it fail"
        )
        assert dict(entry.prior_state) == {"outcome_after_action": None}
        assert table.get_row(target)[0].plain.endswith(outcome)


async def test_enter_without_a_note_saves_no_note(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_escalations(app, pilot)
        target = table.cursor_key
        await pilot.press("o", "f", "enter")
        await pilot.pause()
        assert outcomes(store)[target] == "failed"
        assert store.journal()[0].reason is None


async def test_only_the_four_outcomes_and_a_choice_is_required(
    store: GlobalLearningStore,
) -> None:
    before = outcomes(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_escalations(app, pilot)
        await pilot.press("o", "r", "x", "m", "enter")  # not outcome keys; enter needs one
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, OutcomeScreen)
        assert dialog.chosen is None
        await pilot.press("escape")
    assert outcomes(store) == before
    assert store.journal() == []


async def test_escape_leaves_the_store_unchanged(store: GlobalLearningStore) -> None:
    before = outcomes(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_escalations(app, pilot)
        await pilot.press("o", "s", *"a note", "escape")
        await pilot.pause()
        assert isinstance(app.screen, EscalationsScreen)
    assert outcomes(store) == before
    assert store.journal() == []


async def test_up_goes_back_to_change_the_outcome(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_escalations(app, pilot)
        target = table.cursor_key
        await pilot.press("o", "s", "up", "k", "enter")
        await pilot.pause()
        assert outcomes(store)[target] == "skipped"


async def test_undo_restores_exactly(store: GlobalLearningStore) -> None:
    before = outcomes(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_escalations(app, pilot)
        # Change an escalation that already had an outcome: undo must bring that one back.
        done = next(k for k, v in before.items() if v == "aborted")
        assert table.select_key(done)
        await pilot.press("o", "s", "enter")
        await pilot.pause()
        assert outcomes(store)[done] == "success"
        await pilot.press("u")
        await pilot.pause()
        assert outcomes(store) == before
        entries = store.journal()
        assert entries[0].action == "undo" and entries[1].undone_at is not None
        assert table.get_row(done)[0].plain == "■ aborted"
        await pilot.press("u")  # nothing left to undo: no change, no crash
        await pilot.pause()
    assert outcomes(store) == before


async def test_read_only_refuses_outcome_and_undo(tmp_path: Path, clock: FrozenClock) -> None:
    writable = GlobalLearningStore(tmp_path / "ro.db", clock=clock)
    add_escalations(writable)
    before = outcomes(writable)
    writable.close()
    store = GlobalLearningStore(tmp_path / "ro.db", clock=clock, read_only=True)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, _table = await open_escalations(app, pilot)
        assert screen.check_action("record_outcome", ()) is False
        assert screen.check_action("undo", ()) is False
        await pilot.press("o", "s", "enter", "u")
        await pilot.pause()
        assert isinstance(app.screen, EscalationsScreen)
        assert "read-only" in str(screen.query_one("#esc-status").render())
    assert outcomes(store) == before
    store.close()


async def test_hostile_text_is_literal(tmp_path: Path, clock: FrozenClock) -> None:
    store = GlobalLearningStore(tmp_path / "h.db", clock=clock)
    add_hostile_rows(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_escalations(app, pilot)
        assert table.row_count == 1
        svg = app.export_screenshot()
        assert "\x1b" not in svg
        assert table.get_row(table.cursor_key)[9].plain.startswith("[@click=app.quit]bo")
        assert "[@click=app.quit]boom[/]" in detail_text(app)  # whole and literal
        await pilot.press("o")
        await pilot.pause()
        assert "\x1b" not in app.export_screenshot()
        await pilot.press("escape")
        assert app.is_running
    store.close()


async def test_marianne_fixture_renders_without_escape_bytes(small_fixture: Path) -> None:
    store = GlobalLearningStore(small_fixture)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
        _screen, table = await open_escalations(app, pilot)
        assert table.row_count > 0
        for _ in range(5):
            await pilot.press("down")
        await pilot.pause()
        assert "\x1b" not in app.export_screenshot()
        await pilot.press("o")
        await pilot.pause()
        assert "\x1b" not in app.export_screenshot()
        await pilot.press("escape")
    store.close()


# -- what can still be judged first: stale group and sort keys --------------------------------


def with_stale(store: GlobalLearningStore, clock: FrozenClock) -> None:
    """The six of add_escalations, then ten days later two new ones awaiting an outcome:
    sheets 4 and 9 (awaiting, ten days old) are now stale."""
    clock.advance(days=10)
    store.record_escalation_decision("job-eps", 12, 0.30, "retry", 30.0, 2, model="m-a")
    clock.advance(minutes=5)
    store.record_escalation_decision("job-zeta", 5, 0.60, "abort", 70.0, 1, model="m-b")


def sheets(app: MarianneApp) -> list[int]:
    screen = app.screen
    assert isinstance(screen, EscalationsScreen)
    table = screen.table
    return [int(table.get_row(key)[3].plain) for key in table.row_keys_in_order]


def esc_status(app: MarianneApp) -> str:
    return str(app.screen.query_one("#esc-status").render())


async def test_stale_ones_are_grouped_below_dimmed_and_counted(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    with_stale(store, clock)
    before = outcomes(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_escalations(app, pilot)
        # Awaiting newest first (5, 12), stale (9, 4), decided newest first (7, 3, 2, 1).
        assert sheets(app) == [5, 12, 9, 4, 7, 3, 2, 1]
        keys = table.row_keys_in_order
        stale_row = table.get_row(keys[2])
        assert stale_row[0].plain == "◌ stale"  # told by a word, not only by the dimming
        assert "dim" in str(stale_row[4].spans[0].style if stale_row[4].spans
                            else stale_row[4].style)
        assert table.get_row(keys[0])[0].plain == "◌ awaiting"
        assert "◌ 2 awaiting · 2 stale, older than 7 days · 8 shown" in esc_status(app)
        assert table.select_key(keys[2])
        await pilot.pause()
        assert "stale: older than 7 days" in detail_text(app)
        # The filter finds them by that word too.
        await pilot.press("slash", *"stale", "enter")
        await pilot.pause()
        assert sheets(app) == [9, 4]
    assert outcomes(store) == before and store.journal() == []


async def test_the_stale_age_comes_from_the_configuration(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    with_stale(store, clock)
    app = MarianneApp(store, poll=False, config=ConsoleConfig(stale_age_days=30))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_escalations(app, pilot)
        assert sheets(app) == [5, 12, 9, 4, 7, 3, 2, 1]
        assert "◌ 4 awaiting · 8 shown" in esc_status(app)
        assert "stale" not in esc_status(app)
    app = MarianneApp(store, poll=False, config=ConsoleConfig(stale_age_days=0.5))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_escalations(app, pilot)
        assert "2 stale, older than 0.5 days" in esc_status(app)


async def test_sort_keys_walk_the_columns_and_flip(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    with_stale(store, clock)
    before = outcomes(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await open_escalations(app, pilot)
        assert table.columns[ColumnKey("recorded")].label.plain == "Recorded▼"
        await pilot.press("greater_than_sign", "greater_than_sign")  # job, then sheet
        await pilot.pause()
        assert screen.sort is EscalationSort.SHEET and screen.descending
        assert table.columns[ColumnKey("sheet")].label.plain == "Shee▼"  # 5 wide
        assert table.columns[ColumnKey("recorded")].label.plain == "Recorded"
        # Within each group, high sheet first; the groups keep their order.
        assert sheets(app) == [12, 5, 9, 4, 7, 3, 2, 1]
        await pilot.press("d")
        await pilot.pause()
        assert sheets(app) == [5, 12, 4, 9, 1, 2, 3, 7]
        assert table.columns[ColumnKey("sheet")].label.plain == "Shee▲"
        await pilot.press("greater_than_sign")  # confidence, high first
        await pilot.pause()
        # awaiting 0.60 (5), 0.30 (12); stale 0.75 (9), 0.44 (4); decided .90 .45 .42 .40
        assert sheets(app) == [5, 12, 9, 4, 7, 2, 1, 3]
        await pilot.press("less_than_sign", "less_than_sign", "less_than_sign",
                          "less_than_sign")  # sheet, job, recorded, outcome
        await pilot.pause()
        assert screen.sort is EscalationSort.OUTCOME and not screen.descending
        # decided by outcome A-Z: aborted (7), failed (2), skipped (3), success (1)
        assert sheets(app) == [5, 12, 9, 4, 7, 2, 3, 1]
        await pilot.press("less_than_sign")  # wraps to the last column, guidance
        await pilot.pause()
        assert screen.sort is EscalationSort.GUIDANCE
    # Sorting reads only.
    assert outcomes(store) == before and store.journal() == []


async def test_sort_keys_are_in_the_help(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_escalations(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        rows = {row.keys: row.description for row in app.screen.key_help()}  # type: ignore[attr-defined]
        assert rows[">"] == "Sort: next column"
        assert rows["<"] == "Sort: previous column"
        assert rows["d"] == "Sort direction"
        assert rows["o"] == "Outcome" and rows["u"] == "Undo"  # the old keys stay


async def test_pages_of_the_queue_with_n_shown_of_m(
    store: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(escalations_module, "PAGE_SIZE", 2)
    queue = [row.record.id for row in store.escalation_queue().rows]
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await open_escalations(app, pilot)

        def status() -> str:
            return str(screen.query_one("#esc-status").render())

        assert table.row_keys_in_order == tuple(queue[:2])
        assert "◌ 2 awaiting · 6 shown of 6 · rows 1-2 ([ ] page)" in status()  # as Patterns
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert table.row_keys_in_order == tuple(queue[2:4])
        assert "6 shown of 6 · rows 3-4" in status()
        await pilot.press("right_square_bracket", "right_square_bracket")  # no page 4
        await pilot.pause()
        assert table.row_keys_in_order == tuple(queue[4:6])
        # o acts on the row under the cursor on this page.
        target = table.cursor_key
        assert target == queue[4]
        await pilot.press("o", "s", "enter")
        await pilot.pause()
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert table.row_keys_in_order == tuple(queue[2:4])
        await pilot.press("greater_than_sign")  # a new sort starts at its first page
        await pilot.pause()
        assert "rows 1-2" in status()
    assert outcomes(store)[target] == "success"


async def test_the_filter_finds_escalations_on_every_page(
    store: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two rows a page: the one the operator looks for is on the last page, not the first."""
    monkeypatch.setattr(escalations_module, "PAGE_SIZE", 2)
    queue = [row.record for row in store.escalation_queue().rows]
    wanted = queue[-1]
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await open_escalations(app, pilot)
        assert wanted.id not in table.row_keys_in_order
        await pilot.press("slash", *wanted.job_hash[:8])
        await app.workers.wait_for_complete()
        await pilot.pause()
        status = str(screen.query_one("#esc-status").render())
        matching = [r.id for r in queue if r.job_hash.startswith(wanted.job_hash[:8])]
        assert table.row_keys_in_order == tuple(matching[:2])
        assert wanted.id in matching[:2]
        assert f"{len(matching)} shown of 6" in status


async def test_a_commit_that_leaves_the_escalations_alone_redraws_nothing(
    store: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[float] = []
    similar = store.get_similar_escalation

    def counted(confidence: float, *args: object, **kwargs: object) -> object:
        looked_up.append(confidence)
        return similar(confidence, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "get_similar_escalation", counted)
    pattern = store.record_pattern("retry_pattern", "applied while the screen is open")
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_escalations(app, pilot)
        await app.workers.wait_for_complete()
        await pilot.pause()
        panel, lookups = detail_text(app), len(looked_up)
        assert lookups
        redrawn: list[object] = []
        monkeypatch.setattr(table, "apply", lambda rows: redrawn.append(rows))
        # An application (what a conductor writes all the time) moves the change token...
        store.record_pattern_application(pattern, "exec-1", True)
        assert app.refresh_now_sync() is True
        await app.workers.wait_for_complete()
        await pilot.pause()
        # ...and leaves the queue, so nothing is drawn or looked up again.
        assert redrawn == [] and len(looked_up) == lookups
        assert detail_text(app) == panel
        # An outcome is a change of the queue: drawn again.
        store.update_escalation_outcome(str(table.cursor_key), "success")
        assert app.refresh_now_sync() is True
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(redrawn) == 1 and len(looked_up) == lookups + 1
