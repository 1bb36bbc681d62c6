"""Cold drift windows on SQLite from insertion order, when the file proves it is time order.

The windowed statement of ``store.drift`` numbers every application of a pattern newest
first, which makes SQLite sort the whole table (about a second at 500,000 applications).
Marianne stamps an application with the time it is recorded, so in a file she wrote, rowid
order (the order rows were inserted in) is already time order. When it is, a pattern's
newest applications are simply its highest rowids, and the ``pattern_id`` index Marianne
creates keeps each pattern's entries in rowid order: the newest ``reach`` of them are the
last ``reach`` entries of the pattern's range of that index, found without touching the
table or sorting anything. Only those rows are then read (in rowid order, so the table's
pages are visited once each, front to back) and summed here, newest first, exactly as
Marianne's per-pattern methods add them up. (The windowed statement mostly adds them in
that order too, but not always: on the 100,000-pattern benchmark file 6 of 56,864 patterns
get a last-bit different sum from it, and the same sums as Marianne's from this path.)

**The proof.** Drift orders applications by ``applied_at DESC, id DESC`` with NULL last
(``DriftMixin._newest_first``). This path is used only if every row is strictly *later* in
that order than the row inserted just before it: a later ``applied_at`` (NULL being the
earliest), or the same one and a larger id (NULL the smallest). That is checked on the
whole table, in the same statement, so in the same snapshot, as the windows are read: each
row against the row with the next rowid, and, where a delete left a gap, against the next
row that exists. Since "later" is a total order, a table that is ordered as a whole is
ordered within every pattern. Anything else (a clock that went back, an imported or merged
file, two applications with the same time and ids out of order, equal keys) answers None,
and the caller runs the windowed statement: never another answer, only a slower one.
A grounding value that is not a float (text a hand edit left there) also answers None,
so that how SQL would have summed it never has to be imitated.

**What is read.** For each pattern id with at least 2W applications (NULL ids included,
as one group, like ``GROUP BY``), the newest ``reach`` = 3W applications. Those give the
effectiveness windows (the newest 2W) and, usually, the newest 2W applications that have a
grounding value (the epistemic windows). A pattern whose newest 3W rows hold fewer than 2W
grounded ones while it has older rows gets those older rows in a second, per-pattern read
(about 3% of the patterns on the benchmark stores).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection

__all__ = ["in_order_windows"]

T = TypeVar("T")

#: A NULL grounding in the flat arrays (SQLite stores no NaN, so none is ever read).
_NULL = math.nan

#: How many of a pattern's newest applications are read at first, in windows (W).
REACH_WINDOWS = 3


def _out_of_order(b: str, a: str) -> str:
    """SQL, 1 or 0: row ``b`` is *not* strictly after row ``a`` in (applied_at, id), NULL first.

    Written as ``CASE WHEN later THEN 0 ELSE 1 END``: the condition of a CASE is evaluated
    with short cuts (as a WHERE is, and as an OR computed as a value is not: that took twice
    as long), and a comparison with a NULL, which is NULL, falls to ELSE: not later.
    """
    return (
        f"CASE WHEN {b}.applied_at > {a}.applied_at"
        f" OR ({a}.applied_at IS NULL AND {b}.applied_at IS NOT NULL)"
        f" OR ({b}.applied_at IS {a}.applied_at AND ({b}.id > {a}.id"
        f" OR ({a}.id IS NULL AND {b}.id IS NOT NULL)))"
        " THEN 0 ELSE 1 END"
    )


# The three parts of one statement come out in this order (a UNION ALL runs its parts in
# turn), told apart by the first column: 0, the number of rows out of order (if it is not
# 0, the caller stops reading and nothing else is computed); 1, one row per qualifying
# pattern id (its count; the rowid of its reach-th newest application, or the smallest
# rowid there can be; its pattern row's name, status and priority); 2, the rows to sum
# (rowid, success as 1 or 0 as the windowed statement counts it, grounding).
_STATEMENT = f"""
WITH qualifying AS (
    SELECT pattern_id, count(*) AS n FROM pattern_applications
    GROUP BY pattern_id HAVING count(*) >= :span
), bounds AS MATERIALIZED (
    SELECT q.pattern_id, q.n, coalesce((
        SELECT x.rowid FROM pattern_applications AS x
        WHERE x.pattern_id IS q.pattern_id
        ORDER BY x.rowid DESC LIMIT 1 OFFSET :reach - 1
    ), -9223372036854775808) AS low
    FROM qualifying AS q
), wanted AS (
    SELECT a.rowid FROM bounds AS b CROSS JOIN pattern_applications AS a
    ON a.pattern_id IS b.pattern_id AND a.rowid >= b.low
)
SELECT 0, CASE WHEN pairs.n IS (SELECT max(rowid) FROM pattern_applications)
                              - (SELECT min(rowid) FROM pattern_applications)
    THEN pairs.bad
    ELSE pairs.bad + (
        SELECT count(*) FROM pattern_applications AS a
        WHERE NOT EXISTS (SELECT 1 FROM pattern_applications AS b WHERE b.rowid = a.rowid + 1)
        AND coalesce((
            SELECT {_out_of_order("n", "a")} FROM pattern_applications AS n
            WHERE n.rowid > a.rowid ORDER BY n.rowid LIMIT 1
        ), 0)
    ) END, NULL, NULL, NULL, NULL, NULL
FROM (
    SELECT count(*) AS n, coalesce(sum({_out_of_order("b", "a")}), 0) AS bad
    FROM pattern_applications AS a NOT INDEXED
    JOIN pattern_applications AS b ON b.rowid = a.rowid + 1
) AS pairs
UNION ALL
SELECT 1, b.pattern_id, b.n, b.low, p.pattern_name, p.quarantine_status, p.priority_score
FROM bounds AS b LEFT JOIN patterns AS p ON p.id = b.pattern_id
UNION ALL
SELECT 2, pattern_id, rowid, CASE WHEN pattern_led_to_success != 0 THEN 1 ELSE 0 END,
    grounding_confidence, NULL, NULL
FROM pattern_applications WHERE rowid IN wanted
"""

#: A pattern's older grounded applications, newest first (only grounding is used there).
_OLDER_GROUNDED = (
    "SELECT rowid, 0, grounding_confidence FROM pattern_applications "
    "WHERE pattern_id IS ? AND rowid < ? AND grounding_confidence IS NOT NULL "
    "ORDER BY rowid DESC LIMIT ?"
)

#: One pattern id's window aggregates, in the field order of ``store.drift._Windows``.
WindowsRow = tuple[Any, ...]


def _windows(
    pattern_id: str | None,
    successes_newest_first: list[int],
    grounding_newest_first: list[float | None],
    info: tuple[Any, ...],
    window_size: int,
) -> WindowsRow:
    """One pattern's aggregates from its successes (1 or 0) and groundings, newest first.

    Raises TypeError for a grounding value that is not a number.
    """
    span = 2 * window_size
    successes = successes_newest_first[:span]
    grounding = [g for g in grounding_newest_first[:span] if g is not None]
    grounded = [g for g in grounding_newest_first if g is not None]
    del grounded[span:]
    recent_grounded = grounded[:window_size]
    older_grounded = grounded[window_size:]
    # Python adds left to right, newest first, as Marianne's methods do (and SQLite's
    # sum() in the windowed statement, given its rows in that order); an empty sum is the
    # statement's coalesce(NULL, 0.0).
    return (
        pattern_id,
        len(successes),
        sum(successes[:window_size]),
        sum(successes[window_size:]),
        sum(grounding) if grounding else 0.0,
        len(grounding),
        len(grounded),
        sum(recent_grounded) if recent_grounded else 0.0,
        sum(older_grounded) if older_grounded else 0.0,
        sum([g * g for g in grounded]) if grounded else 0.0,
        *info,
    )


def in_order_windows(
    conn: Connection, window_size: int, make: Callable[[WindowsRow], T] = tuple  # type: ignore[assignment]
) -> list[T] | None:
    """Both kinds of window aggregates of every pattern id with 2W applications.

    None when the file does not prove that insertion order is time order (see the module
    docstring): the caller then runs the windowed statement. ``window_size`` >= 1.
    ``make`` turns each pattern's aggregates into what the list holds (one at a time, so
    that no second list of them is ever made).

    The rows to sum arrive in rowid order, every pattern's interleaved with the others',
    and are all held until the last one has arrived (~850,000 at 100,000 patterns). Each
    pattern's share of them is known beforehand (its newest min(n, 3W)), so they go
    straight to their pattern's slots in two flat arrays (successes, groundings), laid
    out pattern after pattern: a few large allocations, given back whole when the read
    ends, where objects per pattern (three arrays each) took ~40 MB of small blocks that
    mostly stayed in the process as fragments of the heap. Only each pattern's last
    rowid is kept, to check that its rows come in rowid order.
    """
    span = 2 * window_size
    reach = REACH_WINDOWS * window_size
    index: dict[str | None, int] = {}  # pattern id -> its number, in statement order
    lows = array("q")  # each pattern's lowest rowid read
    counts = array("q")  # each pattern's applications in all
    names: list[Any] = []
    statuses: list[Any] = []
    priorities: list[float | None] = []
    seen: dict[Any, Any] = {}  # each status text once (a handful of values, one per row)
    ends = starts = next_slot = last_rowids = array("q")
    successes = array("b")
    grounding = array("d")
    # The driver's own cursor: SQLAlchemy's result rows cost as much again as the reads.
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        result = cursor.execute(_STATEMENT, {"span": span, "reach": reach})
        first = result.fetchone()
        if first is None or first[0] != 0 or first[1] != 0:
            return None  # out of order: the rest of the statement is never run
        for kind, pattern_id, a, b, c, d, e in result:
            if kind == 2:
                if not ends:
                    ends, starts, next_slot = _slots(counts, reach)
                    total = ends[-1] if ends else 0
                    last_rowids = array("q", [0]) * len(counts)
                    successes = array("b", [0]) * total
                    grounding = array("d", [0.0]) * total
                number = index[pattern_id]
                slot = next_slot[number]
                if slot >= ends[number] or (slot > starts[number] and a <= last_rowids[number]):
                    # More rows than the pattern's count, or not in rowid order (SQLite
                    # reads ``rowid IN`` in rowid order): never guess, leave it to SQL.
                    return None
                next_slot[number] = slot + 1
                last_rowids[number] = a
                successes[slot] = b
                try:
                    grounding[slot] = _NULL if c is None else c
                except TypeError:  # text or a blob as grounding: leave it to SQL
                    return None
            else:
                index[pattern_id] = len(lows)
                counts.append(a)
                lows.append(b)
                names.append(c)
                statuses.append(seen.setdefault(d, d))
                # float(): what the table's type makes of a priority read through it.
                priorities.append(None if e is None else float(e))
        if not ends:
            ends, starts, next_slot = _slots(counts, reach)
        found = []
        for pattern_id, number in index.items():
            start, stop = starts[number], next_slot[number]
            order = range(stop - 1, start - 1, -1)
            newest = [successes[i] for i in order]
            groundings = [None if math.isnan(g) else g for g in (grounding[i] for i in order)]
            if counts[number] > stop - start:
                missing = span - sum(1 for g in groundings if g is not None)
                if missing > 0:
                    # Fewer than 2W grounded among the newest: the epistemic windows reach
                    # further back (the effectiveness windows are complete already).
                    for _rowid, success, older in cursor.execute(
                        _OLDER_GROUNDED, (pattern_id, lows[number], missing)
                    ):
                        newest.append(success)
                        groundings.append(older)
            info = (names[number], statuses[number], priorities[number])
            try:
                found.append(make(_windows(pattern_id, newest, groundings, info, window_size)))
            except TypeError:  # text or a blob as grounding: leave it to SQL
                return None
        return found
    finally:
        cursor.close()


def _slots(counts: array[int], reach: int) -> tuple[array[int], array[int], array[int]]:
    """(end, start, start) of each pattern's slots: min(its count, reach) of them, in turn."""
    ends = array("q", [0]) * len(counts)
    total = 0
    for number, count in enumerate(counts):
        total += min(count, reach)
        ends[number] = total
    starts = array("q", [0]) * len(counts)
    starts[1:] = ends[:-1]
    return ends, starts, array("q", starts)
