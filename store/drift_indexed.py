"""Cold drift windows on SQLite through the optional drift index, cut into windows in Python.

``add_drift_index`` makes an index of ``pattern_applications`` on ``(pattern_id, applied_at
DESC, id DESC)`` that also carries the success flag and the grounding: a pattern's
applications newest first, with everything the windows need, without touching the table.
The generic indexed statement (``DriftMixin._indexed_window_statement``) sums each window in
SQL with its own ``LIMIT`` subquery: nine short reads of the same index range per pattern,
plus a ``GROUP BY`` over every application. Here each range is read **once**:

1. ``h``: every distinct pattern id (Marianne's ``pattern_id`` index, no aggregate) and the
   ``(applied_at, id)`` of its 2W-th newest application *with a grounding*, read from the
   index (two seeks each).
2. ``hb``: where that row exists, its ``(applied_at, id)`` is where the pattern's range of
   the index stops: the rows up to it hold the newest 2W applications (the effectiveness
   windows) and exactly the newest 2W grounded ones (the epistemic windows).
3. ``hu``: a pattern with fewer than 2W grounded applications (where it has 2W at all) ends
   at its 2W-th newest application instead, and its few grounded ones further back are read
   too (the epistemic fields of such a pattern are still computed, as the windowed
   statement computes them, though they never qualify).
4. The statement returns the patterns' names, states and counts, then those rows as
   ``(success, grounding)`` pairs, in the order of ``hb`` and ``hu``. Two columns only: each
   row fetched into Python costs far more than a column (measured with Valgrind: ~3,000
   instructions a row), so the patterns' own values come as rows of two columns too.

Python cuts the pairs into patterns (each bounded pattern ends at its 2W-th grounded row)
and adds each window up left to right, newest first: the order in which Marianne's
per-pattern methods add them, and SQLite's ``sum()`` in the generic statements, so the
numbers are the same to the bit (the tests compare them tuple for tuple).

Everything is one statement, so one snapshot. ``None`` (the caller then runs the generic
indexed statement: the same numbers, more slowly) when a bound row has a NULL time or id
(never written by Marianne: row values would compare as NULL there), when a grounding is
not a number (text a hand edit left), or when the index of that name cannot serve the
statement (another definition under our name: its rows would come in another order).
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_left
from operator import itemgetter, mul
from typing import Any

from sqlalchemy import Connection

__all__ = ["indexed_windows"]

#: The index ``add_drift_index`` creates (``store.drift.APPLICATION_ORDER_INDEX``).
_INDEX = "idx_marianne_tui_app_pattern_applied"
_NEWEST_FIRST = "ORDER BY x.applied_at DESC, x.id DESC"


def _nth(column: str, pattern: str, *, grounded: bool) -> str:
    """A column of the pattern's 2W-th newest (grounded) application, or NULL."""
    grounding = " AND x.grounding_confidence IS NOT NULL" if grounded else ""
    return (
        f"(SELECT x.{column} FROM pattern_applications AS x INDEXED BY {_INDEX} "
        f"WHERE x.pattern_id IS {pattern}{grounding} {_NEWEST_FIRST} "
        "LIMIT 1 OFFSET :span - 1)"
    )


_SUCCESS = "CASE WHEN a.pattern_led_to_success != 0 THEN 1 ELSE 0 END"

# Sections, in this order (a UNION ALL runs its parts in turn): the sizes (bounded and
# unbounded patterns, and how many bounds have a NULL key); then per bounded pattern
# (id, name) and (status, priority); per unbounded pattern the same and (grounded count,
# NULL); then the rows of the bounded patterns and those of the unbounded ones.
#
# ``h`` reads the bound's time and id from the index itself (two short reads of the same
# range) rather than its rowid and then the table row: at 100,000 patterns the table rows
# were random reads all over the file, ~60 ms more. A bound with a NULL key then reads as
# one NULL (counted in the first section), or two: such a pattern falls to ``hu``, where
# its 2W grounded applications show it (``ng >= :span``, counted too).
_STATEMENT = f"""
WITH h AS MATERIALIZED (
    SELECT d.p AS p, {_nth('applied_at', 'd.p', grounded=True)} AS t,
        {_nth('id', 'd.p', grounded=True)} AS i
    FROM (SELECT DISTINCT pattern_id AS p FROM pattern_applications) AS d
), hb AS MATERIALIZED (
    SELECT h.p AS p, h.t AS t, h.i AS i, q.pattern_name AS name,
        q.quarantine_status AS status, q.priority_score AS priority
    FROM h LEFT JOIN patterns AS q ON q.id = h.p
    WHERE h.t IS NOT NULL OR h.i IS NOT NULL
), hu AS MATERIALIZED (
    SELECT u.p AS p, z.applied_at AS t, z.id AS i,
        (SELECT count(x.grounding_confidence) FROM pattern_applications AS x
         INDEXED BY {_INDEX} WHERE x.pattern_id IS u.p) AS ng,
        q.pattern_name AS name, q.quarantine_status AS status, q.priority_score AS priority
    FROM (SELECT h.p AS p, {_nth('rowid', 'h.p', grounded=False)} AS r FROM h
          WHERE h.t IS NULL AND h.i IS NULL) AS u
    CROSS JOIN pattern_applications AS z ON z.rowid = u.r
    LEFT JOIN patterns AS q ON q.id = u.p
)
SELECT (SELECT count(*) FROM hb), (SELECT count(*) FROM hu)
UNION ALL SELECT (SELECT count(*) FROM hb WHERE t IS NULL OR i IS NULL)
    + (SELECT count(*) FROM hu WHERE t IS NULL OR i IS NULL OR ng >= :span), NULL
UNION ALL SELECT p, name FROM hb
UNION ALL SELECT status, priority FROM hb
UNION ALL SELECT p, name FROM hu
UNION ALL SELECT status, priority FROM hu
UNION ALL SELECT ng, NULL FROM hu
UNION ALL SELECT {_SUCCESS}, a.grounding_confidence
FROM hb CROSS JOIN pattern_applications AS a INDEXED BY {_INDEX}
    ON a.pattern_id IS hb.p AND a.applied_at >= hb.t
WHERE a.applied_at > hb.t OR a.id >= hb.i
UNION ALL SELECT {_SUCCESS}, a.grounding_confidence
FROM hu CROSS JOIN pattern_applications AS a INDEXED BY {_INDEX} ON a.pattern_id IS hu.p
WHERE a.applied_at > hu.t OR (a.applied_at = hu.t AND a.id >= hu.i)
    OR a.grounding_confidence IS NOT NULL
"""

#: One pattern id's window aggregates, in the field order of ``store.drift._Windows``.
WindowsRow = tuple[Any, ...]

_first = itemgetter(0)
_second = itemgetter(1)


def _priority(value: Any) -> float | None:
    # float(): what the table's type makes of a priority read through it.
    return None if value is None else float(value)


#: ``(column, descending)`` of the index ``add_drift_index`` makes, in key order.
_SHAPE = [
    ("pattern_id", 0), ("applied_at", 1), ("id", 1), ("pattern_led_to_success", 0),
    ("grounding_confidence", 0),
]
#: Its collations (SQLite's default): the order every other drift read compares in.
_COLLATIONS = ["BINARY"] * len(_SHAPE)


def _index_has_our_shape(cursor: Any) -> bool:
    """Whether the index under our name is the one ``add_drift_index`` makes (not partial).

    The rows are cut into windows by their order in that index; an index of another
    definition under the same name (an older console's, or anyone's) gives them in another.
    """
    shape = cursor.execute(
        "SELECT name, \"desc\", coll FROM pragma_index_xinfo(?) WHERE key ORDER BY seqno",
        (_INDEX,),
    ).fetchall()
    partial = cursor.execute(
        "SELECT partial FROM pragma_index_list('pattern_applications') WHERE name = ?",
        (_INDEX,),
    ).fetchall()
    return (
        [column[:2] for column in shape] == _SHAPE
        and [column[2].upper() for column in shape] == _COLLATIONS
        and partial == [(0,)]
    )


def indexed_windows(conn: Connection, window_size: int) -> list[WindowsRow] | None:
    """Both kinds of window aggregates of every pattern id with 2W applications.

    None when this statement cannot give them exactly (see the module docstring): the
    caller then runs the generic indexed statement. ``window_size`` >= 1.
    """
    span = 2 * window_size
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if not _index_has_our_shape(cursor):
            return None
        try:
            rows = cursor.execute(_STATEMENT, {"span": span}).fetchall()
        except sqlite3.OperationalError as error:
            if "no query solution" in str(error):
                return None  # our index's name on another definition
            raise
    finally:
        cursor.close()
    (bounded, unbounded), (null_keys, _) = rows[0], rows[1]
    if null_keys:
        return None
    at = 2
    heads = rows[at:at + bounded]
    states = rows[at + bounded:at + 2 * bounded]
    at += 2 * bounded
    loose_heads = rows[at:at + unbounded]
    loose_states = rows[at + unbounded:at + 2 * unbounded]
    loose_counts = rows[at + 2 * unbounded:at + 3 * unbounded]
    data = rows[at + 3 * unbounded:]
    del rows
    # Flat lists, cut by position below: every per-row step stays in C.
    successes = list(map(_first, data))
    grounding = list(map(_second, data))
    del data
    grounded_at = [index for index, value in enumerate(grounding) if value is not None]
    grounded = list(map(grounding.__getitem__, grounded_at))
    try:
        return _cut(
            window_size, successes, grounded, grounded_at,
            zip(heads, states, strict=True),
            zip(loose_heads, loose_states, loose_counts, strict=True),
        )
    except TypeError:  # text or a blob as grounding: leave it to SQL
        return None


def _cut(
    window_size: int,
    successes: list[int],
    grounded: list[Any],
    grounded_at: list[int],
    heads: Any,
    loose_heads: Any,
) -> list[WindowsRow]:
    """The windows of each pattern from its rows (positions ``pos`` and ``gpos`` onwards).

    ``pos`` walks the rows, ``gpos`` the grounded ones among them (their values in
    ``grounded``, their row positions in ``grounded_at``). Each pattern's grounded values
    are sliced once (``window``); the sums of its parts add left to right all the same.
    """
    w = window_size
    span = 2 * w
    found: list[WindowsRow] = []
    append = found.append
    pos = gpos = 0
    for (pattern_id, name), (status, priority) in heads:
        top = gpos + span
        # Grounded rows among the newest 2W: those before row pos + 2W.
        counted = bisect_left(grounded_at, pos + span, gpos, top) - gpos
        window = grounded[gpos:top]
        append((
            pattern_id, span,
            sum(successes[pos:pos + w]), sum(successes[pos + w:pos + span]),
            (sum(window) if counted == span else sum(window[:counted])) if counted else 0.0,
            counted,
            span, sum(window[:w]), sum(window[w:]), sum(map(mul, window, window)),
            name, status, _priority(priority),
        ))
        pos = grounded_at[top - 1] + 1
        gpos = top
    for (pattern_id, name), (status, priority), (count, _) in loose_heads:
        top = gpos + count
        counted = bisect_left(grounded_at, pos + span, gpos, top) - gpos
        window = grounded[gpos:top]
        append((
            pattern_id, span,
            sum(successes[pos:pos + w]), sum(successes[pos + w:pos + span]),
            sum(window[:counted]) if counted else 0.0, counted,
            count,
            sum(window[:w]) if count else 0.0,
            sum(window[w:]) if count > w else 0.0,
            sum(map(mul, window, window)) if count else 0.0,
            name, status, _priority(priority),
        ))
        # Its newest 2W rows, then its grounded rows further back.
        pos += span + count - counted
        gpos = top
    return found
