"""Cold drift reads on SQLite through the optional drift index (store.drift_indexed).

Each pattern's range of the index is read once and cut into windows in Python; the numbers
must be the windowed statement's (compared tuple for tuple, floats exactly) and those of
Marianne's per-pattern methods. Where that path cannot answer exactly, the generic indexed
statement runs instead, with the same numbers.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from conftest import FrozenClock
from test_drift import _assert_scans_match_reference, add_pattern
from test_drift_order import (
    _back_in_time,
    _insert,
    _null_time_after_a_time,
    _row,
    _seed_in_order,
    _text_grounding,
    _tie_with_falling_ids,
    _tie_with_null_id_last,
    _windowed,
    assert_a_new_store_reads_as_the_windowed_statement,
)

from store import GlobalLearningStore
from store.drift import _Windows
from store.drift_indexed import indexed_windows

WINDOWS = (1, 2, 3, 5)


def _through_index(store: GlobalLearningStore, window: int) -> dict[Any, tuple[Any, ...]] | None:
    with store._connection() as conn:
        found = indexed_windows(conn, window)
    return None if found is None else {row[0]: tuple(_Windows._make(row)) for row in found}


def _shuffled(store: GlobalLearningStore, clock: FrozenClock) -> None:
    """Applications in no particular order: ties, NULL times and ids, sparse grounding."""
    chooser = random.Random(20261203)
    ids = [f"q{number:02d}" for number in range(40)]
    for number, pattern_id in enumerate(ids):
        if number % 9:  # q00, q09, ... stay orphaned
            add_pattern(store, pattern_id)
    rows = []
    for step in range(1500):
        pattern_id = None if step % 89 == 0 else chooser.choice(ids)
        applied_at = None if step % 173 == 0 else (
            clock.now + timedelta(seconds=chooser.randint(0, 400)))
        # q05 and q06: hardly ever grounded; q07 never.
        grounding: Any = "random"
        if (pattern_id in {"q05", "q06"} and chooser.random() < 0.9) or pattern_id == "q07":
            grounding = None
        rows.append(_row(pattern_id, applied_at, chooser, grounding=grounding,
                         identifier=None if step % 211 == 0 else "random"))
    chooser.shuffle(rows)
    _insert(store, rows)


@pytest.mark.parametrize("make", [_seed_in_order, _shuffled])
def test_the_index_path_gives_the_windowed_statements_numbers(
    sqlite_store: GlobalLearningStore, clock: FrozenClock,
    make: Callable[[GlobalLearningStore, FrozenClock], None],
) -> None:
    make(sqlite_store, clock)
    assert sqlite_store.add_drift_index() is True
    for window in WINDOWS:
        found = _through_index(sqlite_store, window)
        assert found is not None, "this file must take the index path"
        expected = _windowed(sqlite_store, window)
        assert None in expected  # applications without a pattern id qualify, as one group
        assert found == expected
    _assert_scans_match_reference(sqlite_store)


def test_patterns_short_of_grounding_read_their_older_grounded_rows(
    sqlite_store: GlobalLearningStore, clock: FrozenClock
) -> None:
    chooser = random.Random(3)
    rows = []
    for pattern_id, grounded in (("few", 7), ("none", 0), ("old", 10), ("enough", 40)):
        add_pattern(sqlite_store, pattern_id)
        for index in range(40):
            clock.advance(seconds=1)
            # Grounded only in the oldest rows: the epistemic windows are far behind.
            rows.append(_row(pattern_id, clock.now, chooser,
                             grounding=0.1 + index / 100 if index < grounded else None))
    _insert(sqlite_store, rows)
    sqlite_store.add_drift_index()
    found = _through_index(sqlite_store, 5)
    assert found is not None and found == _windowed(sqlite_store, 5)
    assert {key: found[key][6] for key in found} == {
        "few": 7, "none": 0, "old": 10, "enough": 10}
    assert found["old"][7] == pytest.approx(0.1 + 0.11 + 0.12 + 0.13 + 0.14 + 0.05 * 5)
    _assert_scans_match_reference(sqlite_store)


@pytest.mark.parametrize("make", [
    _back_in_time, _tie_with_falling_ids, _tie_with_null_id_last, _null_time_after_a_time,
])
def test_files_out_of_insertion_order_take_the_index_path_too(
    sqlite_store: GlobalLearningStore, clock: FrozenClock,
    make: Callable[[GlobalLearningStore, FrozenClock], None],
) -> None:
    make(sqlite_store, clock)
    sqlite_store.add_drift_index()
    for window in WINDOWS:
        found = _through_index(sqlite_store, window)
        assert found is not None and found == _windowed(sqlite_store, window)


def _null_bound(store: GlobalLearningStore, clock: FrozenClock) -> None:
    """A pattern whose 2W-th newest grounded row has no time: it sorts last."""
    chooser = random.Random(4)
    add_pattern(store, "p")
    rows = [_row("p", clock.now + timedelta(seconds=index), chooser, grounding=0.5)
            for index in range(9)]
    rows += [_row("p", None, chooser, grounding=0.25), _row("p", None, chooser, grounding=0.75)]
    _insert(store, rows)


def _null_key_bound(store: GlobalLearningStore, clock: FrozenClock) -> None:
    """The same with neither time nor id, behind ungrounded rows: as if there were no bound.

    Its newest 2W rows all have a time (four of twelve are ungrounded), and it has eleven
    grounded rows in all: the path for patterns short of grounding would take all eleven.
    """
    chooser = random.Random(6)
    add_pattern(store, "p")
    rows = [_row("p", clock.now + timedelta(seconds=index), chooser,
                 grounding=None if index % 3 == 0 else 0.5) for index in range(12)]
    rows += [_row("p", None, chooser, grounding=0.25 * (1 + index), identifier=None)
             for index in range(3)]
    _insert(store, rows)


@pytest.mark.parametrize("make", [_null_bound, _null_key_bound, _text_grounding])
def test_what_the_index_path_cannot_sum_exactly_falls_back(
    sqlite_store: GlobalLearningStore, clock: FrozenClock,
    make: Callable[[GlobalLearningStore, FrozenClock], None],
) -> None:
    make(sqlite_store, clock)
    sqlite_store.add_drift_index()
    assert _through_index(sqlite_store, 5) is None
    assert_a_new_store_reads_as_the_windowed_statement(
        sqlite_store, clock, marianne=make is not _text_grounding
    )


@pytest.mark.parametrize("definition", [
    "(pattern_id, applied_at DESC, id DESC)",  # the shape before it carried the values
    "(execution_id)",
    "(pattern_id COLLATE NOCASE, applied_at DESC, id DESC, pattern_led_to_success, "
    "grounding_confidence)",
    "(pattern_id, applied_at DESC, id DESC, pattern_led_to_success, grounding_confidence) "
    "WHERE grounding_confidence > 0.5",  # partial: it cannot serve the statement at all
])
def test_an_index_of_our_name_with_another_definition_gives_the_same_numbers(
    sqlite_store: GlobalLearningStore, clock: FrozenClock, definition: str
) -> None:
    _seed_in_order(sqlite_store, clock)
    with sqlite_store._connection() as conn:
        conn.exec_driver_sql("CREATE INDEX idx_marianne_tui_app_pattern_applied "
                             f"ON pattern_applications {definition}")
    assert sqlite_store.has_drift_index()
    found = _through_index(sqlite_store, 5)
    assert found is None  # not read through it: the generic statement answers
    fresh = GlobalLearningStore(sqlite_store.location, clock=clock)
    try:
        _assert_scans_match_reference(fresh)
    finally:
        fresh.close()


def test_empty_and_tiny_files(sqlite_store: GlobalLearningStore, clock: FrozenClock) -> None:
    sqlite_store.add_drift_index()
    assert _through_index(sqlite_store, 5) == {} == _windowed(sqlite_store, 5)
    add_pattern(sqlite_store, "p")
    _insert(sqlite_store, [_row("p", clock.now, random.Random(7))])
    assert _through_index(sqlite_store, 1) == {} == _windowed(sqlite_store, 1)
    _insert(sqlite_store, [_row("p", clock.now + timedelta(seconds=1), random.Random(8))])
    assert _through_index(sqlite_store, 1) == _windowed(sqlite_store, 1) != {}
