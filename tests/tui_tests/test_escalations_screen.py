"""The Escalations screen: pending queue first, similar past escalations, outcome entry, undo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FrozenClock
from screens_data import add_escalations, add_hostile_rows, open_escalations, outcomes

from marianne_tui.app import MarianneApp
from marianne_tui.modals.outcome import OutcomeScreen
from marianne_tui.screens.escalations import EscalationsScreen
from store import GlobalLearningStore


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
        review = store.escalations_for_review()
        assert table.row_keys_in_order == tuple(r.id for r in review)
        first = [c.plain for c in table.get_row(review[0].id)]
        # The oldest pending one: modify_prompt on sheet 4.
        assert first[0] == "◌ awaiting"
        assert first[3:8] == ["4", "0.44", "modify_prompt", "52%", "1"]
        # The table cuts the guidance to fit 120 columns; the panel shows all of it.
        assert first[8] == "claude-sonnet" and first[9] == "Add the schema to t…"
        assert "Guidance: Add the schema to the prompt" in detail_text(app)
        assert next(c.plain for c in table.get_row(review[2].id)).startswith("■ aborted")
        status = str(app.screen.query_one("#esc-status").render())
        assert "2 awaiting, listed first" in status


async def test_similar_escalations_follow_the_cursor(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, _table = await open_escalations(app, pilot)
        # The cursor starts on modify_prompt at (0.44, 52%): three past ones are close.
        text = detail_text(app)
        assert "Sheet 4 of job" in text
        assert "retry → ✓ success" in text
        assert "skip → ↷ skipped" in text
        assert "retry → ✗ failed" in text
        await pilot.press("down")  # retry at (0.75, 80%): nothing that close
        await pilot.pause()
        text = detail_text(app)
        assert "Sheet 9 of job" in text
        assert text.rstrip().endswith("none")


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
