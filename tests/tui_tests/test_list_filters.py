"""`/` on the Escalations and Drift lists: live filtering, enter keeps, escape clears.

Both lists filter the rows they fetched (the store is not asked again per key press); the
keys typed into the filter must never reach the screen's actions.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from conftest import FrozenClock
from screens_data import (
    add_drift_patterns,
    add_escalations,
    open_drift,
    open_escalations,
    outcomes,
    status_and_priority,
)
from textual import events
from textual._wait import wait_for_idle
from textual.keys import _character_to_key

from marianne_tui.app import MarianneApp
from marianne_tui.modals.confirm import ConfirmScreen
from marianne_tui.modals.reason import ReasonScreen
from marianne_tui.screens.patterns import PatternsScreen
from marianne_tui.widgets.filter_bar import FilterInput, text_matches
from store import GlobalLearningStore


def test_text_matches_is_a_case_insensitive_substring_of_any_value() -> None:
    assert text_matches("", ["anything"]) and text_matches("  ", [None])
    assert text_matches("SCHEMA", ["Add the schema", None])
    assert not text_matches("opus", ["claude-sonnet", None])
    assert not text_matches("none", [None])  # a missing value is not the word "None"


# -- Escalations ------------------------------------------------------------------------


def escalation_store(tmp_path: Path, clock: FrozenClock) -> GlobalLearningStore:
    store = GlobalLearningStore(tmp_path / "esc.db", clock=clock)
    add_escalations(store)
    return store


def esc_status(app: MarianneApp) -> str:
    return str(app.screen.query_one("#esc-status").render())


async def test_escalation_filter_live_enter_keeps_escape_clears(
    tmp_path: Path, clock: FrozenClock
) -> None:
    store = escalation_store(tmp_path, clock)
    review = [row.record for row in store.escalation_queue().rows]  # the screen's order
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await open_escalations(app, pilot)
        assert table.has_focus  # the list, not the filter, has the keys at first
        await pilot.press("slash")
        filter_input = screen.query_one("#esc-filter", FilterInput)
        assert filter_input.has_focus
        # job-beta's hash (the store keeps a hash of the job id), typed in capitals
        job = next(r.job_hash for r in review if r.action == "skip")[:8].upper()
        await pilot.press(*job)
        await pilot.pause()
        beta = tuple(r.id for r in review if r.job_hash.upper().startswith(job))
        assert len(beta) == 2 and table.row_keys_in_order == beta  # store order kept
        assert "2 shown of 6" in esc_status(app) and job in esc_status(app)
        await pilot.press("enter")
        assert table.has_focus and filter_input.value == job
        assert table.row_keys_in_order == beta
        await pilot.press("slash", "escape")
        await pilot.pause()
        assert table.has_focus and filter_input.value == ""
        assert table.row_keys_in_order == tuple(r.id for r in review)
        assert "6 shown of 6" in esc_status(app)
    store.close()


async def test_escalation_filter_covers_action_outcome_guidance_model(
    tmp_path: Path, clock: FrozenClock
) -> None:
    store = escalation_store(tmp_path, clock)
    by_id = {r.id: r for r in store.escalations_for_review()}
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await open_escalations(app, pilot)
        filter_input = screen.query_one("#esc-filter", FilterInput)
        for text, expected in [
            ("modify", {"modify_prompt"}),          # action
            ("aborted", {"abort"}),                 # outcome
            ("awaiting", {"modify_prompt", "retry"}),  # no outcome yet
            ("schema", {"modify_prompt"}),          # guidance
            ("opus", {"retry"}),                    # model
        ]:
            filter_input.value = text
            await pilot.pause()
            shown = [by_id[key] for key in table.row_keys_in_order]
            assert {r.action for r in shown} == expected, text
        filter_input.value = "opus"
        await pilot.pause()
        assert [by_id[k].sheet_num for k in table.row_keys_in_order] == [9]
        filter_input.value = "no-such-thing"
        await pilot.pause()
        assert table.row_count == 0
        detail = str(screen.query_one("#esc-detail").render())
        assert "No escalation matches no-such-thing" in detail
    store.close()


async def test_keys_typed_into_the_escalation_filter_fire_nothing(
    tmp_path: Path, clock: FrozenClock
) -> None:
    store = escalation_store(tmp_path, clock)
    before = outcomes(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, _table = await open_escalations(app, pilot)
        await pilot.press("slash", *"osfaku12345", "question_mark", "p", "space")
        await pilot.pause()
        assert app.screen is screen  # no outcome dialog, no help, no mode switch
        assert screen.query_one("#esc-filter", FilterInput).value == "osfaku12345?p "
        assert not app.paused
    assert outcomes(store) == before
    assert store.journal() == []
    store.close()


async def test_outcome_targets_the_filtered_row_and_the_filter_survives_the_refresh(
    tmp_path: Path, clock: FrozenClock
) -> None:
    store = escalation_store(tmp_path, clock)
    before = outcomes(store)
    target = next(r.id for r in store.escalations_for_review() if r.model == "claude-opus")
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_escalations(app, pilot)
        await pilot.press("slash", *"opus", "enter", "o", "s", "enter")
        await pilot.pause()
        assert outcomes(store) == {**before, target: "success"}  # that one, only it
        assert table.row_keys_in_order == (target,)  # still filtered after the refresh
        assert table.get_row(target)[0].plain.endswith("success")
    store.close()


# -- Drift ------------------------------------------------------------------------------


def drift_store(tmp_path: Path, clock: FrozenClock) -> tuple[GlobalLearningStore, dict[str, str]]:
    store = GlobalLearningStore(tmp_path / "drift.db", clock=clock)
    return store, add_drift_patterns(store)


def drift_status(app: MarianneApp) -> str:
    return str(app.screen.query_one("#drift-status").render())


async def test_drift_filter_by_name_enter_keeps_escape_clears(
    tmp_path: Path, clock: FrozenClock
) -> None:
    store, names = drift_store(tmp_path, clock)
    calls: list[object] = []
    real = store.drift_report
    store.drift_report = lambda **kw: calls.append(kw) or real(**kw)  # type: ignore[method-assign]
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await open_drift(app, pilot)
        assert table.has_focus and table.row_count == 3
        assert "3 shown of 3" in drift_status(app)
        reads = len(calls)
        await pilot.press("slash", *"Wobb")
        await pilot.pause()
        assert table.row_keys_in_order == (names["belief-wobbler"],)
        assert "1 shown of 3" in drift_status(app) and "Wobb" in drift_status(app)
        # Every drifting pattern is filtered, not only the page: the store's report is.
        assert len(calls) > reads and calls[-1]["text"] == "Wobb"
        await pilot.press("enter")
        filter_input = screen.query_one("#drift-filter", FilterInput)
        assert table.has_focus and filter_input.value == "Wobb"
        await pilot.press("slash", "escape")
        await pilot.pause()
        assert table.has_focus and filter_input.value == ""
        assert table.row_count == 3
    store.close()


async def test_keys_typed_into_the_drift_filter_fire_nothing(
    tmp_path: Path, clock: FrozenClock
) -> None:
    store, _names = drift_store(tmp_path, clock)
    before = status_and_priority(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, _table = await open_drift(app, pilot)
        params = screen.params
        await pilot.press("slash", *"qvxnure", "plus", "minus", "less_than_sign",
                          "greater_than_sign", "left_square_bracket", *"12345")
        await pilot.pause()
        assert app.screen is screen  # no reason, confirm or preview dialog, same mode
        assert screen.query_one("#drift-filter", FilterInput).value == "qvxnure+-<>[12345"
        assert screen.params == replace(params, text="qvxnure+-<>[12345")  # nothing else
    assert status_and_priority(store) == before
    assert store.journal() == []
    store.close()


async def test_triage_acts_on_the_filtered_drift_row(tmp_path: Path, clock: FrozenClock) -> None:
    store, names = drift_store(tmp_path, clock)
    before = status_and_priority(store)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_drift(app, pilot)
        await pilot.press("slash", *"improving", "enter", "v")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert table.row_keys_in_order == (names["improving-prompt-fix"],)
    after = status_and_priority(store)
    assert after["improving-prompt-fix"][0] == "validated"
    assert {k: v for k, v in after.items() if k != "improving-prompt-fix"} == {
        k: v for k, v in before.items() if k != "improving-prompt-fix"
    }
    assert [e.target_id for e in store.journal()] == [names["improving-prompt-fix"]]
    store.close()


# -- keys in one burst (a script driving tmux): focus must move before the next key ----


async def burst(app: MarianneApp, pilot: Any, *keys: str) -> None:
    """Queue every key before any is handled, as a terminal delivers a pasted burst.

    ``pilot.press`` waits for idle after each key, which hides a deferred focus change.
    """
    assert app._driver is not None
    for key in keys:
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        char = {"slash": "/", "enter": "\r"}.get(key, key if len(key) == 1 else None)
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)
    await wait_for_idle(0)
    await pilot.pause()
    await pilot.pause()


async def test_a_burst_after_slash_is_typed_into_the_patterns_filter(
    tmp_path: Path, clock: FrozenClock
) -> None:
    store, _names = drift_store(tmp_path, clock)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PatternsScreen)
        sort = screen.query_state.sort
        await burst(app, pilot, "slash", *"stead", "slash")  # s would cycle the sort
        filter_input = screen.query_one("#patterns-filter", FilterInput)
        assert filter_input.value == "stead/"  # a second / is typed: paths can be filtered
        assert screen.query_state.sort == sort
        await burst(app, pilot, "backspace", "enter")
        assert screen.table.has_focus and screen.table.row_count == 1
        await pilot.press("q")
        assert isinstance(app.screen, ReasonScreen)
    assert store.journal() == []
    store.close()


async def test_a_burst_filters_then_triages_on_drift(tmp_path: Path, clock: FrozenClock) -> None:
    store, names = drift_store(tmp_path, clock)
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        _screen, table = await open_drift(app, pilot)
        await burst(app, pilot, "slash", *"wobb", "enter")
        assert table.row_keys_in_order == (names["belief-wobbler"],) and table.has_focus
        await pilot.press("v")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
    assert [e.target_id for e in store.journal()] == [names["belief-wobbler"]]
    store.close()


async def test_keys_behind_enter_in_one_burst_never_act_on_a_stale_row(
    tmp_path: Path, clock: FrozenClock
) -> None:
    store = escalation_store(tmp_path, clock)
    before = outcomes(store)
    target = next(r.id for r in store.escalations_for_review() if r.model == "claude-opus")
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await open_escalations(app, pilot)
        # enter is handled after the keys typed before it; what follows it in the same
        # burst is typed into the filter too: safe, never an outcome on the wrong row.
        await burst(app, pilot, "slash", *"opus", "enter", "o", "f", "enter")
        assert outcomes(store) == before
        assert screen.query_one("#esc-filter", FilterInput).value == "opusof"
        await burst(app, pilot, "slash", "backspace", "backspace", "enter")
        assert table.row_keys_in_order == (target,) and table.has_focus
        await burst(app, pilot, "o", "f", "enter")
    assert outcomes(store) == {**before, target: "failed"}
    store.close()
