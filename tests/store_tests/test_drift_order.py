"""Cold drift reads on SQLite: windows from insertion order (store.drift_order), and a
first drift report that ranks the summaries from its own results.

On a file whose rowid order is time order, the windows come from each pattern's highest
rowids; on any other file the windowed statement runs. Either way the numbers are those of
the windowed statement, which is compared here tuple for tuple (floats exactly), and the
public reads are compared with Marianne's per-pattern methods.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import FrozenClock
from sqlalchemy import delete, insert
from test_drift import _assert_scans_match_reference, add_pattern

from store import GlobalLearningStore, tables
from store.drift import _Windows, _windows_from_result
from store.drift_order import in_order_windows

_a = tables.pattern_applications.c


def _windowed(store: GlobalLearningStore, window: int) -> dict[Any, tuple[Any, ...]]:
    """The windowed statement's aggregates (the reference), by pattern id."""
    statement = store._window_statement(window, effectiveness=True, epistemic=True)
    with store._connection() as conn:
        return {w.pattern_id: tuple(w) for w in _windows_from_result(conn.execute(statement))}


def _in_order(store: GlobalLearningStore, window: int) -> dict[Any, tuple[Any, ...]] | None:
    with store._connection() as conn:
        found = in_order_windows(conn, window)
    return None if found is None else {row[0]: tuple(_Windows._make(row)) for row in found}


def _row(pattern_id: str | None, applied_at: datetime | None, chooser: random.Random,
         *, grounding: float | str | None = "random", identifier: str | None = "random",
         ) -> dict[str, Any]:
    if grounding == "random":
        grounding = None if chooser.random() < 0.3 else chooser.uniform(0.05, 1.0)
    return {
        "id": str(uuid.UUID(int=chooser.getrandbits(128), version=4))
        if identifier == "random" else identifier,
        "pattern_id": pattern_id,
        "execution_id": "exec",
        "applied_at": applied_at,
        "pattern_led_to_success": chooser.random() < 0.5,
        "grounding_confidence": grounding,
    }


def _insert(store: GlobalLearningStore, rows: list[dict[str, Any]]) -> None:
    """One row per statement, in list order: the list order is the rowid order."""
    with store._connection() as conn:
        for row in rows:
            conn.execute(insert(tables.pattern_applications).values(**row))


def _seed_in_order(store: GlobalLearningStore, clock: FrozenClock) -> None:
    """A store as Marianne leaves it, with every corner the in-order path must get right.

    Applications in time order, interleaved between patterns; ties on applied_at whose ids
    rise in insertion order; the oldest rows without a time (NULL sorts first); NULL
    grounding, including patterns whose newest 3W rows have too few grounded ones (the
    older rows are then read); orphan applications, applications without a pattern id, a
    soft-deleted pattern; and deleted rows (gaps in the rowids).
    """
    chooser = random.Random(20261203)
    ids = [f"p{number:02d}" for number in range(30)]
    for number, pattern_id in enumerate(ids):
        if number % 9:  # p00, p09, ... stay orphaned
            add_pattern(store, pattern_id, active=number % 7 != 3)
    def rising_ids(count: int) -> list[str]:
        return sorted(str(uuid.UUID(int=chooser.getrandbits(128), version=4))
                      for _ in range(count))

    rows = [_row(chooser.choice(ids), None, chooser, identifier=i) for i in rising_ids(15)]
    now = clock.now
    for step in range(900):
        now += timedelta(seconds=chooser.randint(1, 5))
        if step % 50 == 0:  # a run of equal times, ids rising with the rowid
            rows += [_row(chooser.choice(ids), now, chooser, identifier=i)
                     for i in rising_ids(6)]
            now += timedelta(seconds=1)
        pattern_id = None if step % 97 == 0 else chooser.choice(ids)
        # p05 and p06: grounded long ago, hardly ever lately.
        sparse = pattern_id in {"p05", "p06"} and step > 300
        rows.append(_row(pattern_id, now, chooser,
                         grounding=None if sparse and chooser.random() < 0.9 else "random"))
    _insert(store, rows)
    with store._connection() as conn:
        conn.execute(delete(tables.pattern_applications).where(
            _a.grounding_confidence > 0.97))


WINDOWS = (1, 2, 5)


def test_in_order_file_gives_the_windowed_statements_numbers(
    sqlite_store: GlobalLearningStore, clock: FrozenClock
) -> None:
    _seed_in_order(sqlite_store, clock)
    for window in WINDOWS:
        found = _in_order(sqlite_store, window)
        assert found is not None, "an in-order file must take the in-order path"
        expected = _windowed(sqlite_store, window)
        assert None in expected and "p00" in expected  # NULL ids and orphans qualify
        assert found == expected
    _assert_scans_match_reference(sqlite_store)


def test_older_rows_are_read_when_the_newest_lack_grounding(
    sqlite_store: GlobalLearningStore, clock: FrozenClock
) -> None:
    add_pattern(sqlite_store, "p")
    chooser = random.Random(3)
    rows = []
    for index in range(40):
        clock.advance(seconds=1)
        # Grounded only in the oldest ten: the epistemic windows are far behind.
        rows.append(_row("p", clock.now, chooser, grounding=0.1 + index / 100
                         if index < 10 else None))
    _insert(sqlite_store, rows)
    found = _in_order(sqlite_store, 5)
    assert found is not None
    assert found == _windowed(sqlite_store, 5)
    assert found["p"][6] == 10  # all ten grounded rows, the oldest of the pattern


def _later_than_its_predecessor(
    store: GlobalLearningStore, clock: FrozenClock, rows: list[dict[str, Any]]
) -> None:
    _seed_in_order(store, clock)
    _insert(store, rows)


def _back_in_time(store: GlobalLearningStore, clock: FrozenClock) -> None:
    chooser = random.Random(1)
    # The clock goes back an hour (a DST change in local time): older than its predecessor.
    _later_than_its_predecessor(
        store, clock, [_row("p01", clock.now + timedelta(days=1), chooser),
                       _row("p01", clock.now + timedelta(days=1, hours=-1), chooser)])


def _tie_with_falling_ids(store: GlobalLearningStore, clock: FrozenClock) -> None:
    chooser = random.Random(2)
    later = clock.now + timedelta(days=1)
    _later_than_its_predecessor(
        store, clock, [_row("p01", later, chooser, identifier="b"),
                       _row("p01", later, chooser, identifier="a")])


def _tie_with_null_id_last(store: GlobalLearningStore, clock: FrozenClock) -> None:
    chooser = random.Random(3)
    later = clock.now + timedelta(days=1)
    _later_than_its_predecessor(
        store, clock, [_row("p01", later, chooser, identifier="a"),
                       _row("p01", later, chooser, identifier=None)])


def _null_time_after_a_time(store: GlobalLearningStore, clock: FrozenClock) -> None:
    chooser = random.Random(4)
    _later_than_its_predecessor(store, clock, [_row("p02", None, chooser)])


def _out_of_order_across_a_gap(store: GlobalLearningStore, clock: FrozenClock) -> None:
    """Only the rows on both sides of a deleted one are out of order."""
    chooser = random.Random(5)
    later = clock.now + timedelta(days=1)
    _later_than_its_predecessor(
        store, clock, [_row("p03", later, chooser),
                       _row("p03", later + timedelta(hours=1), chooser, identifier="gone"),
                       _row("p03", later - timedelta(hours=1), chooser)])
    with store._connection() as conn:
        conn.execute(delete(tables.pattern_applications).where(_a.id == "gone"))


def _text_grounding(store: GlobalLearningStore, clock: FrozenClock) -> None:
    """In order, but a window holds text where a number belongs: SQL decides what it sums to."""
    _seed_in_order(store, clock)
    with store._connection() as conn:  # raw SQL: the table's type refuses text
        conn.exec_driver_sql("UPDATE pattern_applications SET grounding_confidence = 'high' "
                             "WHERE pattern_id = 'p04' AND grounding_confidence IS NOT NULL")


def assert_a_new_store_reads_as_the_windowed_statement(
    store: GlobalLearningStore, clock: FrozenClock, *, marianne: bool = True
) -> None:
    """A new store object on ``store``'s file keeps the windowed statement's windows
    (W = 5) and, with ``marianne``, scans as Marianne's per-pattern methods do (they
    cannot sum grounding stored as text)."""
    fresh = GlobalLearningStore(store.location, clock=clock)
    try:
        with fresh._connection() as conn:
            kept = fresh._all_windows(conn, 5)
        assert {k: tuple(w) for k, w in kept.items()} == _windowed(fresh, 5)
        if marianne:
            _assert_scans_match_reference(fresh)
    finally:
        fresh.close()


@pytest.mark.parametrize("make", [
    _back_in_time, _tie_with_falling_ids, _tie_with_null_id_last, _null_time_after_a_time,
    _out_of_order_across_a_gap, _text_grounding,
])
def test_any_other_file_falls_back_to_the_windowed_statement(
    sqlite_store: GlobalLearningStore, clock: FrozenClock,
    make: Callable[[GlobalLearningStore, FrozenClock], None],
) -> None:
    make(sqlite_store, clock)
    for window in WINDOWS:
        assert _in_order(sqlite_store, window) is None
    # The reads still give the windowed statement's numbers, through the statement.
    assert_a_new_store_reads_as_the_windowed_statement(
        sqlite_store, clock, marianne=make is not _text_grounding
    )


def test_a_file_in_order_again_after_a_gap_takes_the_in_order_path(
    sqlite_store: GlobalLearningStore, clock: FrozenClock
) -> None:
    """A deleted row between two in-order rows leaves the file provably in order."""
    chooser = random.Random(6)
    add_pattern(sqlite_store, "p")
    rows = []
    for _ in range(30):
        clock.advance(seconds=1)
        rows.append(_row("p", clock.now, chooser))
    rows[10]["id"] = "gone"
    _insert(sqlite_store, rows)
    with sqlite_store._connection() as conn:
        conn.execute(delete(tables.pattern_applications).where(_a.id == "gone"))
    found = _in_order(sqlite_store, 5)
    assert found is not None and found == _windowed(sqlite_store, 5)


def test_empty_and_tiny_files(sqlite_store: GlobalLearningStore, clock: FrozenClock) -> None:
    assert _in_order(sqlite_store, 5) == {} == _windowed(sqlite_store, 5)
    add_pattern(sqlite_store, "p")
    _insert(sqlite_store, [_row("p", clock.now, random.Random(7))])
    assert _in_order(sqlite_store, 1) == {} == _windowed(sqlite_store, 1)


def test_a_first_drift_report_ranks_the_summaries_from_its_own_results(
    sqlite_store: GlobalLearningStore, clock: FrozenClock
) -> None:
    """drift_report with the summaries' window and thresholds ranks them in the same pass.

    Its summaries, and those kept for later reads and updated after a write, are the ones
    a store that ranks each summary on its own computes.
    """
    _seed_in_order(sqlite_store, clock)

    def on_their_own() -> tuple[dict[str, Any], dict[str, Any]]:
        fresh = GlobalLearningStore(sqlite_store.location, clock=clock)
        try:
            return fresh.get_pattern_drift_summary(), fresh.get_epistemic_drift_summary()
        finally:
            fresh.close()

    first = GlobalLearningStore(sqlite_store.location, clock=clock)
    try:
        report = first.drift_report()
        expected = on_their_own()
        assert expected[0]["patterns_analyzed"] > 5 and expected[1]["patterns_analyzed"] > 5
        assert (report.summary, report.epistemic_summary) == expected
        assert (first.get_pattern_drift_summary(),
                first.get_epistemic_drift_summary()) == expected
        chooser = random.Random(8)
        later = clock.now + timedelta(days=30)
        _insert(sqlite_store, [_row(f"p{n:02d}", later + timedelta(seconds=n), chooser,
                                    grounding=0.99 if n % 2 else 0.05)
                               for n in range(1, 30) for _ in range(3)])
        report = first.drift_report()
        assert (report.summary, report.epistemic_summary) == on_their_own()
    finally:
        first.close()


def test_negative_rowids_are_read_too(
    sqlite_store: GlobalLearningStore, clock: FrozenClock
) -> None:
    """A rowid given by hand can be negative: a pattern's first rows may sit below -1."""
    chooser = random.Random(9)
    add_pattern(sqlite_store, "p")
    with sqlite_store._connection() as conn:
        for number in range(12):
            clock.advance(seconds=1)
            row = _row("p", clock.now, chooser, grounding=0.1 * (number % 9 + 1))
            conn.exec_driver_sql(
                "INSERT INTO pattern_applications (rowid, id, pattern_id, applied_at, "
                "pattern_led_to_success, grounding_confidence) VALUES (?, ?, ?, ?, ?, ?)",
                (number - 20, row["id"], "p", str(clock.now), row["pattern_led_to_success"],
                 row["grounding_confidence"]),
            )
    found = _in_order(sqlite_store, 5)
    assert found is not None and found == _windowed(sqlite_store, 5)


class _ScriptedCursor:
    """The driver cursor ``in_order_windows`` reads, answering with rows given here."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = iter(rows)

    def execute(self, _statement: str, _parameters: Any) -> _ScriptedCursor:
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        return next(self.rows, None)

    def __iter__(self) -> _ScriptedCursor:
        return self

    def __next__(self) -> tuple[Any, ...]:
        return next(self.rows)

    def close(self) -> None:
        pass


class _ScriptedConnection:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        cursor = _ScriptedCursor(rows)
        driver = type("Driver", (), {"cursor": lambda _self: cursor})()
        self.connection = type("Pooled", (), {"dbapi_connection": driver})()


def _scripted(rows_to_sum: list[tuple[Any, ...]]) -> list[tuple[Any, ...]] | None:
    """W = 1 (3 rows read per pattern) on two patterns of 3 applications each."""
    head: list[tuple[Any, ...]] = [
        (0, 0, None, None, None, None, None),
        (1, "a", 3, 1, "A", "pending", 0.5),
        (1, "b", 3, 2, "B", "active", None),
    ]
    conn = _ScriptedConnection(head + [(2, *row, None, None) for row in rows_to_sum])
    return in_order_windows(conn, 1)  # type: ignore[arg-type]


def test_each_patterns_rows_go_to_its_own_windows_newest_first() -> None:
    """The rows of two patterns interleaved in rowid order, summed per pattern by hand.

    a: rowids 1, 3, 5 (successes 1, 0, 1; groundings 0.5, NULL, 0.25). Newest first:
    5, 3, 1. Effectiveness over the newest 2: recent 1 (rowid 5), older 0 (rowid 3);
    grounding among them 0.25 (one value). Grounded, newest first: 0.25, 0.5 (epistemic
    recent 0.25, older 0.5, squares 0.0625 + 0.25). b: rowids 2, 4, 6 (0, 1, 1; all 1.0).
    """
    found = _scripted([("a", 1, 1, 0.5), ("b", 2, 0, 1.0), ("a", 3, 0, None),
                       ("b", 4, 1, 1.0), ("a", 5, 1, 0.25), ("b", 6, 1, 1.0)])
    assert found == [
        ("a", 2, 1, 0, 0.25, 1, 2, 0.25, 0.5, 0.3125, "A", "pending", 0.5),
        ("b", 2, 1, 1, 2.0, 2, 2, 1.0, 1.0, 2.0, "B", "active", None),
    ]


def test_rows_out_of_rowid_order_or_beyond_a_count_are_left_to_the_statement() -> None:
    in_order = [("a", 1, 1, 0.5), ("a", 3, 0, None), ("a", 5, 1, 0.25),
                ("b", 2, 0, 1.0), ("b", 4, 1, 1.0), ("b", 6, 1, 1.0)]
    assert _scripted(in_order) is not None
    assert _scripted([in_order[1], in_order[0], *in_order[2:]]) is None
    assert _scripted([*in_order, ("b", 7, 1, 1.0)]) is None
