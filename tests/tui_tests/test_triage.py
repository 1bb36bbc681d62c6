"""Triage keys on the Patterns screen: q/v/x/n/u, their dialogs, the store state after them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FrozenClock
from patterns_helpers import build_patterns_store, id_by_name, pattern_state

from marianne_tui.app import MarianneApp
from marianne_tui.modals.confirm import ConfirmScreen
from marianne_tui.modals.reason import ReasonScreen
from marianne_tui.screens.patterns import PatternsScreen
from marianne_tui.triage import GuardRail, bulk_guard_rail_warnings, validate_guard_rails
from marianne_tui.widgets.live_table import LiveTable
from store import GlobalLearningStore, PatternQuery, PatternRow, SchemaError

PENDING_NAME = "missing output file"


@pytest.fixture
def store(tmp_path: Path, clock: FrozenClock) -> Iterator[GlobalLearningStore]:
    opened = build_patterns_store(tmp_path / "patterns.db", clock)
    yield opened
    opened.close()


def table_of(app: MarianneApp) -> LiveTable:
    return app.query_one("#patterns-table", LiveTable)


async def start(app: MarianneApp, pilot: object) -> LiveTable:
    app.refresh_now_sync(force=True)
    await pilot.pause()  # type: ignore[attr-defined]
    return table_of(app)


def only_changed(before: dict, after: dict) -> set[str]:
    assert before.keys() == after.keys()
    return {key for key in before if before[key] != after[key]}


def status_of(store: GlobalLearningStore, pattern_id: str) -> str:
    record = store.get_pattern_by_id(pattern_id)
    assert record is not None
    return record.quarantine_status.value


async def test_quarantine_asks_a_reason_then_confirms(store: GlobalLearningStore) -> None:
    target = id_by_name(store, PENDING_NAME)
    before = pattern_state(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await start(app, pilot)
        assert table.select_key(target)
        await pilot.press("q")
        assert isinstance(app.screen, ReasonScreen)
        await pilot.press(*"loops forever", "enter")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.after["quarantine_status"] == "quarantined"
        assert app.screen.after["quarantine_reason"] == "loops forever"
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, PatternsScreen)
        # The table shows the new state after the forced refresh, cursor on the same row.
        assert table.cursor_key == target
        assert "quarantined" in table.get_row(target)[0].plain

    after = pattern_state(store)
    assert only_changed(before, after) == {target}
    record = store.get_pattern_by_id(target)
    assert record is not None
    assert record.quarantine_status.value == "quarantined"
    assert record.quarantine_reason == "loops forever"
    [entry] = store.journal(target_id=target)
    assert (entry.action, entry.reason, entry.target_kind) == ("quarantine", "loops forever",
                                                             "pattern")
    assert entry.prior_state["quarantine_status"] == "pending"
    assert entry.new_state["quarantine_status"] == "quarantined"


@pytest.mark.parametrize(
    ("key", "name", "expected", "action"),
    [
        ("v", PENDING_NAME, "validated", "validate"),
        ("x", PENDING_NAME, "retired", "retire"),
        ("n", "quarantined: skip tests", "pending", "pending"),
    ],
)
async def test_each_key_changes_only_its_pattern(
    store: GlobalLearningStore, key: str, name: str, expected: str, action: str
) -> None:
    target = id_by_name(store, name)
    before = pattern_state(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await start(app, pilot)
        table.select_key(target)
        await pilot.press(key)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, PatternsScreen)

    assert only_changed(before, pattern_state(store)) == {target}
    assert status_of(store, target) == expected
    [entry] = store.journal(target_id=target)
    assert entry.action == action
    assert entry.new_state["quarantine_status"] == expected


async def test_undo_restores_the_prior_state_exactly(store: GlobalLearningStore) -> None:
    target = id_by_name(store, "quarantined: skip tests")
    before = pattern_state(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await start(app, pilot)
        table.select_key(target)
        # validate wipes the quarantine reason; undo must bring it back
        await pilot.press("v", "y")
        await pilot.pause()
        assert status_of(store, target) == "validated"
        await pilot.press("u")
        await pilot.pause()
        assert "quarantined" in table.get_row(target)[0].plain

    assert pattern_state(store) == before
    record = store.get_pattern_by_id(target)
    assert record is not None
    assert record.quarantine_reason == "misleads agents into skipping tests"
    undo, action = store.journal(target_id=target)
    assert (undo.action, undo.undoes) == ("undo", action.id)
    assert action.undone_at is not None


async def test_confirm_default_is_no(store: GlobalLearningStore) -> None:
    target = id_by_name(store, PENDING_NAME)
    before = pattern_state(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await start(app, pilot)
        table.select_key(target)
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.focused is not None and app.screen.focused.id == "no"
        await pilot.press("enter")  # a reflexive Enter lands on "No"
        await pilot.pause()
        assert isinstance(app.screen, PatternsScreen)
    assert pattern_state(store) == before
    assert store.journal() == []


@pytest.mark.parametrize("cancel", ["escape", "n"])
async def test_escape_and_n_cancel(store: GlobalLearningStore, cancel: str) -> None:
    target = id_by_name(store, PENDING_NAME)
    before = pattern_state(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await start(app, pilot)
        table.select_key(target)
        await pilot.press("v")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press(cancel)
        await pilot.pause()
        assert isinstance(app.screen, PatternsScreen)
    assert pattern_state(store) == before


async def test_escape_in_the_reason_cancels_the_whole_action(
    store: GlobalLearningStore,
) -> None:
    target = id_by_name(store, PENDING_NAME)
    before = pattern_state(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await start(app, pilot)
        table.select_key(target)
        await pilot.press("q", *"yyy", "escape")
        await pilot.pause()
        assert isinstance(app.screen, PatternsScreen)
    assert pattern_state(store) == before


async def test_target_is_captured_when_the_key_is_pressed(store: GlobalLearningStore) -> None:
    target = id_by_name(store, PENDING_NAME)
    elsewhere = id_by_name(store, "hallucinated import path")
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await start(app, pilot)
        table.select_key(target)
        await pilot.press("v")
        assert isinstance(app.screen, ConfirmScreen)
        # Under the open dialog the cursor moves to another pattern (a refresh, a mouse
        # click), and another writer changes the store.
        assert table.select_key(elsewhere)
        assert table.cursor_key == elsewhere
        store.quarantine_pattern(id_by_name(store, "retry after"), "external")
        app.refresh_now_sync(force=True)
        await pilot.press("y")
        await pilot.pause()
    # The pattern under the cursor when v was pressed is validated, and only that one.
    assert status_of(store, target) == "validated"
    assert status_of(store, elsewhere) == "pending"
    assert [e.target_id for e in store.journal()] == [target]


async def test_cursor_follows_its_pattern_when_rows_above_disappear(
    store: GlobalLearningStore,
) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await start(app, pilot)
        await pilot.press("f")  # status: pending only
        keys = table.row_keys_in_order
        target = keys[-1]
        table.select_key(target)
        old_index = table.cursor_row
        # Two pending rows above the cursor leave the filtered list (another writer).
        for gone in keys[:2]:
            store.quarantine_pattern(gone, "external")
        app.refresh_now_sync(force=True)
        await pilot.pause()
        assert table.cursor_key == target
        assert table.cursor_row == old_index - 2
        await pilot.press("x", "y")
        await pilot.pause()
    assert status_of(store, target) == "retired"
    assert [e.target_id for e in store.journal()] == [target]


async def test_validate_warns_about_weak_evidence(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await start(app, pilot)
        table.select_key(id_by_name(store, "long sheet"))  # 1 application
        await pilot.press("v")
        assert isinstance(app.screen, ConfirmScreen)
        assert any("Only 1 application" in w for w in app.screen.warnings)
        await pilot.press("escape")
        table.select_key(id_by_name(store, "hallucinated"))  # 0/3, effectiveness ~0.03
        await pilot.press("v")
        assert isinstance(app.screen, ConfirmScreen)
        assert any("below 0.35" in w for w in app.screen.warnings)
        await pilot.press("escape")
        table.select_key(id_by_name(store, "retry after"))  # 10 applications, 0.9
        await pilot.press("v")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.warnings == ()


async def test_no_dialog_when_nothing_would_change(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await start(app, pilot)
        table.select_key(id_by_name(store, "retired:"))
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, PatternsScreen)
    assert store.journal() == []


async def test_undo_with_nothing_to_undo_and_after_a_conflict(
    store: GlobalLearningStore,
) -> None:
    target = id_by_name(store, PENDING_NAME)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await start(app, pilot)
        await pilot.press("u")  # empty journal: a toast, nothing else
        await pilot.pause()
        table.select_key(target)
        await pilot.press("x", "y")
        await pilot.pause()
        store.validate_pattern(target)  # someone else acts after us
        state = pattern_state(store)
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, PatternsScreen)
        assert any("Cannot undo" in n.message for n in app._notifications)
    assert pattern_state(store) == state  # the conflicting undo wrote nothing


async def test_store_errors_become_toasts(
    store: GlobalLearningStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise SchemaError("schema v99 is newer")

    monkeypatch.setattr(store, "apply_pattern_action", broken)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await start(app, pilot)
        table.select_key(id_by_name(store, PENDING_NAME))
        await pilot.press("v", "y")
        await pilot.pause()
        assert isinstance(app.screen, PatternsScreen)
        assert any("schema v99" in n.message and n.severity == "error"
                   for n in app._notifications)


@pytest.mark.parametrize("how", ["flag", "store"])
async def test_read_only_refuses_every_mutation(
    tmp_path: Path, clock: FrozenClock, how: str
) -> None:
    build_patterns_store(tmp_path / "patterns.db", clock).close()
    store = GlobalLearningStore(tmp_path / "patterns.db", clock=clock,
                                read_only=how == "store")
    before = pattern_state(store)
    app = MarianneApp(store, poll=False, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await start(app, pilot)
        screen = app.screen
        for action in ("triage_quarantine", "triage_validate", "triage_retire",
                       "triage_pending", "triage_undo"):
            assert not screen.check_action(action, ())
        footer_keys = {b.binding.key for b in screen.active_bindings.values()
                       if b.enabled and b.binding.show}
        assert not footer_keys & {"q", "v", "x", "n", "u"}
        table.select_key(id_by_name(store, PENDING_NAME))
        for key in ("q", "v", "x", "n", "u"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, PatternsScreen), key
        assert any("read-only" in n.message for n in app._notifications)
    assert pattern_state(store) == before
    assert store.journal() == []
    store.close()


async def test_quarantine_reason_with_hostile_text_is_stored_as_typed(
    store: GlobalLearningStore,
) -> None:
    target = id_by_name(store, PENDING_NAME)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await start(app, pilot)
        table.select_key(target)
        await pilot.press("q", *"[/]x[@click=app.quit]", "enter", "y")
        await pilot.pause()
        assert isinstance(app.screen, PatternsScreen)
    record = store.get_pattern_by_id(target)
    assert record is not None and record.quarantine_reason == "[/]x[@click=app.quit]"
    assert store.query_patterns(PatternQuery(statuses=("quarantined",))).matching == 2


# -- the guard-rail rule, shared by the single and the bulk validate dialog (pure) -------


def _row(ident: str, applications: int, effectiveness: float,
         unvouched: tuple[tuple[str, str], ...] = ()) -> PatternRow:
    return PatternRow(
        id=ident, name=ident, pattern_type="t", status="pending", trust=0.5,
        effectiveness=effectiveness, priority=0.5, applications=applications,
        successes=applications, failures=0, last_seen=None, instrument=None, active=True,
        description=None, unvouched=unvouched,
    )


def test_validate_guard_rails_at_their_bounds() -> None:
    # MIN_OCCURRENCES_FOR_PROMOTION is 3, QUARANTINE_EFFECTIVENESS_THRESHOLD 0.35.
    assert validate_guard_rails(3, 0.35, None) == ()
    assert validate_guard_rails(2, 0.35, None) == (GuardRail.FEW_APPLICATIONS,)
    assert validate_guard_rails(3, 0.349, None) == (GuardRail.LOW_EFFECTIVENESS,)
    assert validate_guard_rails(0, 0.1, None) == (GuardRail.FEW_APPLICATIONS,
                                                  GuardRail.LOW_EFFECTIVENESS)
    # An unvouched score is not judged as a number.
    assert validate_guard_rails(5, 0.1, "abc") == (GuardRail.UNVOUCHED_EFFECTIVENESS,)


def test_bulk_guard_rail_warnings_count_each_rail() -> None:
    rows = [_row("a", 0, 0.9), _row("b", 1, 0.2), _row("c", 9, 0.2), _row("d", 9, 0.9),
            _row("e", 9, 0.5, (("effectiveness", "abc"),)), _row("f", 2, 0.5)]
    assert bulk_guard_rail_warnings(rows) == [
        "3 with fewer than 3 applications",
        "1 with an effectiveness the store cannot vouch for",
        "2 with effectiveness below 0.35",
    ]
    assert bulk_guard_rail_warnings([_row("d", 9, 0.9)]) == []
