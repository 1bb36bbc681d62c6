"""Drift detection, drift retirement and the evolution trajectory (contract section 8).

Two ways to compute drift live here, on purpose:

* ``calculate_effectiveness_drift`` and ``calculate_epistemic_drift`` look at one pattern with
  two small queries, as Marianne does. They are the reference.
* Every scan and summary (``get_drifting_patterns``, ``get_pattern_drift_summary``, the two
  epistemic ones, ``retire_drifting_patterns`` and the console's ``drift_report``) works from
  the window aggregates of **all** patterns, computed set-based: in one windowed statement
  (applications numbered newest first per pattern with ``ROW_NUMBER()``, rows 1..2W summed
  per window, the table read in storage order and sorted once), or, when the optional index
  of ``add_drift_index`` is there on SQLite, with short per-pattern ``LIMIT`` reads of that
  index, or, on a SQLite file without it whose insertion order provably is time order (as
  Marianne writes them), from each pattern's highest rowids, with no sort at all
  (``store.drift_order``). Marianne runs two queries per pattern on a fresh connection
  instead, which takes seconds on a large store (contract section 13.3).

The aggregates are **kept** between reads (``_DriftState``): when the change probe says the
store moved, ``store.drift_cache.ChangeFeed`` names the patterns that got applications or
were inserted, and only their aggregates are recomputed, with the windowed statement
restricted to them; anything the feed cannot follow recomputes everything. What is derived
from them (the rankings of the scans, the report and the summaries, as sort keys and pattern
ids; the summaries' exact sums; the entropy's counts) is kept too and updated pattern by
pattern. Records (``DriftMetrics``, ``DriftRow``) are built only for the rows a read
returns. Both paths feed the same pure formulas (``store.metrics``) and return the same
metrics; the tests check this pattern by pattern, and check the kept results against a
fresh computation after every kind of write.

Deliberate differences from Marianne:

* **Tie-break.** Applications are ordered by ``applied_at DESC, id DESC`` (NULL
  ``applied_at`` last, as SQLite sorts it) in both paths. Marianne orders by ``applied_at``
  alone, so which of two applications with the same timestamp falls into which window is
  left to SQLite; here it is defined, and the same on SQLite and PostgreSQL.
  ``get_retired_patterns`` likewise breaks ``last_seen`` ties by id.
* **Sums.** The summaries' averages are taken from exact sums, rounded once (``math.fsum``,
  kept up to date exactly, see ``_Ranked``), so that they do not depend on the order
  patterns changed in, where Marianne adds left to right; the two can differ in the last
  bit of the float.
* A negative ``window_size`` raises ValueError. Marianne passes it to ``LIMIT`` (where
  SQLite reads it as "no limit") and slices with it, which yields meaningless numbers.
* ``get_recurring_issues`` takes a ``limit`` keyword (default 10,000) that bounds the
  rows it reads when ``window_cycles`` is not given.
"""

from __future__ import annotations

import bisect
import gc
import json
import math
import sqlite3
import threading
import uuid
from array import array
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from itertools import chain
from typing import Any, Literal, NamedTuple, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    case,
    func,
    insert,
    inspect,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.sql.elements import UnaryExpression

from store import tables
from store.base import GlobalLearningStoreBase, StoreError, in_bound_list, with_limit
from store.drift_cache import FEED_HEAD_SELECT, ChangeFeed
from store.drift_indexed import indexed_windows
from store.drift_order import in_order_windows
from store.metrics import (
    EffectivenessDriftResult,
    EntropySummary,
    EpistemicDriftResult,
    effectiveness_drift,
    effectiveness_drift_numbers,
    entropy_from_totals,
    epistemic_drift,
    epistemic_drift_numbers,
    weighted_log,
)
from store.models import (
    DriftMetrics,
    EpistemicDriftMetrics,
    EvolutionEntryInput,
    EvolutionTrajectoryEntry,
    PatternRecord,
)
from store.patterns_query import pattern_record_from_row
from store.readmodels import DriftReport, DriftRow
from store.revision import REVISION_LOCK_CLASS, revision_from_row
from store.revision import STATE_SELECT as REVISION_STATE_SELECT

__all__ = ["APPLICATION_ORDER_INDEX", "DriftMixin"]

_patterns = tables.patterns
_applications = tables.pattern_applications
_trajectory = tables.evolution_trajectory

#: Window and thresholds Marianne's two summaries always use.
SUMMARY_WINDOW = 5
SUMMARY_DRIFT_THRESHOLD = 0.2
SUMMARY_EPISTEMIC_THRESHOLD = 0.15
#: How many drifting patterns ``retire_drifting_patterns`` looks at, as in Marianne.
RETIRE_SCAN_LIMIT = 100
#: Upper bound on rows read by ``get_recurring_issues`` when no window is given.
RECURRING_ISSUES_ROW_LIMIT = 10_000

#: At most this many built report rows are kept between ``drift_report`` calls.
_KEPT_REPORT_ROWS = 1000

#: Name of the optional index that serves the drift window order (see ``add_drift_index``).
APPLICATION_ORDER_INDEX = "idx_marianne_tui_app_pattern_applied"



def _check_window(window_size: int) -> None:
    if window_size < 0:
        raise ValueError(f"window_size must be >= 0, not {window_size}")


class _Windows(NamedTuple):
    """Window aggregates of one pattern id, as the windowed statements return them.

    ``name`` is None when no ``patterns`` row has this id (an orphaned application).
    The ``eff_*`` fields cover the newest 2W applications, the ``epi_*`` fields the newest
    2W applications that have a grounding value. A named tuple, in the column order of
    the statements, so that a result row becomes one with a single tuple copy (tens of
    thousands of them are made on a cold read).
    """

    pattern_id: str | None
    eff_rows: int = 0
    recent_successes: int = 0
    older_successes: int = 0
    grounding_sum: float = 0.0
    grounding_count: int = 0
    epi_rows: int = 0
    recent_grounding: float = 0.0
    older_grounding: float = 0.0
    grounding_squares: float = 0.0
    name: str | None = None
    status: str | None = None
    priority: float | None = None

    @property
    def known(self) -> bool:
        return self.name is not None


def _by_pattern_id(windows: Iterable[_Windows]) -> list[_Windows]:
    """The order of Marianne's ``GROUP BY pattern_id`` on SQLite: NULL first, then bytes.

    Her scans sort with a stable sort and pick the first maximum, so this order decides ties.
    """
    return sorted(windows, key=lambda w: (w.pattern_id is not None, w.pattern_id or ""))


_T = TypeVar("_T")

#: Pattern ids bound in one statement (SQLite allows 32,766 parameters).
_IDS_PER_STATEMENT = 5_000


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _sum_if(condition: ColumnElement[bool], value: ColumnElement[Any]) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=None)), 0.0)


def _with_pattern_columns(windows: Any) -> Select[Any]:
    """The window aggregates with the pattern's name, status and priority (None: no row)."""
    p = _patterns.c
    return select(
        windows,
        p.pattern_name.label("name"),
        p.quarantine_status.label("status"),
        p.priority_score.label("priority"),
    ).select_from(windows.outerjoin(_patterns, p.id == windows.c.pattern_id))


def _windows_from_result(result: Any) -> Iterator[_Windows]:
    """The result rows of a windowed statement as ``_Windows``.

    A statement of both kinds has exactly the named tuple's columns, so each row is
    copied as it is; the others (one kind only) are matched by column name.
    """
    if tuple(result.keys()) == _Windows._fields:
        return map(_Windows._make, result)
    fields = set(_Windows._fields)
    return (
        _Windows(**{key: value for key, value in row.items() if key in fields})
        for row in result.mappings()
    )


def _effectiveness_result(
    windows: _Windows, window_size: int, drift_threshold: float
) -> EffectivenessDriftResult:
    return effectiveness_drift(
        windows.recent_successes,
        windows.older_successes,
        windows.grounding_sum,
        windows.grounding_count,
        window_size,
        drift_threshold,
    )


def _epistemic_result(
    windows: _Windows, window_size: int, drift_threshold: float
) -> EpistemicDriftResult:
    return epistemic_drift(
        windows.recent_grounding,
        windows.older_grounding,
        windows.grounding_squares,
        window_size,
        drift_threshold,
    )


def _effectiveness_metrics(
    windows: _Windows,
    window_size: int,
    drift_threshold: float,
    result: EffectivenessDriftResult | None = None,
) -> DriftMetrics:
    """The returned record of one pattern's effectiveness drift (``result``: already known)."""
    assert windows.name is not None
    if result is None:
        result = _effectiveness_result(windows, window_size, drift_threshold)
    return DriftMetrics(
        pattern_id=windows.pattern_id,  # type: ignore[arg-type]  # never None once known
        pattern_name=windows.name,
        window_size=window_size,
        effectiveness_before=result.effectiveness_before,
        effectiveness_after=result.effectiveness_after,
        grounding_confidence_avg=result.grounding_confidence_avg,
        drift_magnitude=result.drift_magnitude,
        drift_direction=result.drift_direction,
        applications_analyzed=2 * window_size,
        threshold_exceeded=result.threshold_exceeded,
    )


def _epistemic_metrics(
    windows: _Windows,
    window_size: int,
    drift_threshold: float,
    result: EpistemicDriftResult | None = None,
) -> EpistemicDriftMetrics:
    assert windows.name is not None
    if result is None:
        result = _epistemic_result(windows, window_size, drift_threshold)
    return EpistemicDriftMetrics(
        pattern_id=windows.pattern_id,  # type: ignore[arg-type]  # never None once known
        pattern_name=windows.name,
        window_size=window_size,
        confidence_before=result.confidence_before,
        confidence_after=result.confidence_after,
        belief_change=result.belief_change,
        belief_entropy=result.belief_entropy,
        applications_analyzed=2 * window_size,
        threshold_exceeded=result.threshold_exceeded,
        drift_direction=result.drift_direction,
    )


def _retirement_reason(metrics: DriftMetrics) -> str:
    return (
        f"Auto-retired: drift {metrics.drift_direction} ({metrics.drift_magnitude:.2f}), "
        f"effectiveness {metrics.effectiveness_before:.2f} \u2192 "
        f"{metrics.effectiveness_after:.2f}"
    )


def _shown_priority(priority: float | None) -> float:
    return max(0.0, priority) if priority is not None else 0.0


def _report_results(
    state: _DriftState,
    w: _Windows,
    span: int,
    window_size: int,
    drift_threshold: float,
    epistemic_threshold: float,
) -> tuple[EffectivenessDriftResult | None, EpistemicDriftResult | None]:
    """Both drifts of one pattern's report row (None: not enough applications for it)."""
    effectiveness = (
        state.effectiveness(w, window_size, drift_threshold) if w.eff_rows >= span else None
    )
    epistemic = (
        state.epistemic(w, window_size, epistemic_threshold) if w.epi_rows >= span else None
    )
    return effectiveness, epistemic


#: A ranking's entry of one pattern: the numbers its sort key starts with (the key ends
#: with the pattern's id order, ``_id_order``), and the numbers its totals add up.
_Entry = tuple[tuple[float, ...], tuple[float, ...]]


def _effectiveness_numbers(
    w: _Windows, window_size: int, threshold: float
) -> tuple[float, bool]:
    """(magnitude, exceeded) of a pattern's effectiveness drift: what the rankings use."""
    _, _, _, _, magnitude, exceeded = effectiveness_drift_numbers(
        w.recent_successes, w.older_successes, w.grounding_sum, w.grounding_count,
        window_size, threshold,
    )
    return magnitude, exceeded


def _epistemic_numbers(
    w: _Windows, window_size: int, threshold: float
) -> tuple[float, float, bool]:
    """(change, entropy, exceeded) of a pattern's epistemic drift."""
    _, _, change, entropy, exceeded = epistemic_drift_numbers(
        w.recent_grounding, w.older_grounding, w.grounding_squares, window_size, threshold
    )
    return change, entropy, exceeded


def _effectiveness_entry(magnitude: float, exceeded: bool) -> _Entry:
    """The effectiveness summary's ranking entry from a pattern's numbers."""
    # Marianne's max() keeps the first largest magnitude in pattern-id order.
    return (-magnitude,), (magnitude, 1.0 if exceeded else 0.0)


def _epistemic_entry(change: float, entropy: float, exceeded: bool) -> _Entry:
    """The epistemic summary's ranking entry from a pattern's numbers."""
    return (-abs(change),), (change, entropy, 1.0 if exceeded else 0.0)


def _effectiveness_summary_entry(w: _Windows) -> _Entry | None:
    """The effectiveness summary's ranking entry of one pattern."""
    if not w.known or w.eff_rows < 2 * SUMMARY_WINDOW:
        return None
    return _effectiveness_entry(
        *_effectiveness_numbers(w, SUMMARY_WINDOW, SUMMARY_DRIFT_THRESHOLD))


def _epistemic_summary_entry(w: _Windows) -> _Entry | None:
    if not w.known or w.epi_rows < 2 * SUMMARY_WINDOW:
        return None
    return _epistemic_entry(
        *_epistemic_numbers(w, SUMMARY_WINDOW, SUMMARY_EPISTEMIC_THRESHOLD))


_EFFECTIVENESS_SUMMARY = ("effectiveness summary", SUMMARY_WINDOW)
_EPISTEMIC_SUMMARY = ("epistemic summary", SUMMARY_WINDOW)


#: Every finite float is a whole multiple of 2**-1074, so sums of floats scaled by this are
#: exact integers: adding and taking away in any order gives the same total, and dividing
#: the total back rounds it once, correctly.
_FIXED_ONE = 1 << 1074


def _fixed(number: float) -> int:
    numerator, denominator = number.as_integer_ratio()
    # The denominator is a power of two (at most 2**1074): a shift, not a division.
    return numerator << (1074 - denominator.bit_length() + 1)


def _id_order(pattern_id: str | None) -> tuple[bool, str]:
    """Marianne's GROUP BY order of pattern ids on SQLite: NULL first, then bytes."""
    return (pattern_id is not None, pattern_id or "")


def _sum_exactly(values: Sequence[float]) -> float:
    """The exact sum of ``values``, rounded once: the same whatever order they come in.

    ``math.fsum`` rounds the exact sum correctly; where its partial sums overflow (finite
    numbers whose total does not fit a float on the way), the scaled integers do it. NaN
    and infinities give what ``fsum`` gives.
    """
    try:
        return math.fsum(values)
    except OverflowError:
        return sum(map(_fixed, values)) / _FIXED_ONE


def _exact_parts(values: Sequence[float]) -> list[float]:
    """Floats whose exact sum is the exact sum of ``values``, smallest first.

    Each part is the exact rest rounded (``fsum`` of the values less the parts so far),
    so the parts do not overlap and there are few (two or three for drift numbers).
    Raises OverflowError (or gives a non-finite part: ValueError) when a value is not
    finite or a partial sum overflows.
    """
    parts: list[float] = []
    rest = math.fsum(values)
    while rest:
        if not math.isfinite(rest):
            raise ValueError("not a finite sum")
        parts.append(rest)
        # Chained, not copied: each pass is one fsum over the numbers where they are.
        rest = math.fsum(chain(values, [-part for part in parts]))
    parts.reverse()
    return parts


def _add_exactly(parts: list[float], number: float) -> None:
    """Add ``number`` to the exact sum held in ``parts`` (Shewchuk's partials, in place).

    Every step is an exact two-sum, so ``math.fsum(parts)`` stays the correctly rounded
    exact total, whatever order numbers were added and taken away in.
    """
    kept = 0
    for part in parts:
        if abs(number) < abs(part):
            number, part = part, number
        high = number + part
        low = part - (high - number)
        if low:
            parts[kept] = low
            kept += 1
        number = high
    if not math.isfinite(number):
        raise OverflowError("not a finite sum")
    parts[kept:] = [number]


class _Ranked:
    """Pattern ids ranked by a key derived from their windows, kept as windows change.

    ``build`` gives a pattern's entry (``_Entry``: its key's numbers, and the numbers its
    totals add up) from its windows, or None to leave it out; the full sort key is the
    key's numbers followed by the pattern's id order (``_id_order``), so keys are unique.
    Only the keys are kept, and not as tuples: their numbers column by column in flat
    arrays beside the ids, the id order read from the ids. A read builds the records
    of the page it returns from the windows, so a cold read computes a few plain numbers per
    pattern and a record per returned row. ``build`` is a pure function of the windows, so
    a pattern's old entry is found again from its old windows.

    A ranking is made unsorted, and sorted only when something asks for rank order
    (``ids``: a scan, the report). A summary asks only for its first id (``first``): the
    smallest key, found with one ``min`` over the column and kept. While unsorted, a change
    appends the pattern's new entry and leaves its old one where it is, dead (``_latest``
    says which entry of a changed pattern is alive), so nothing is looked for; the kept
    first id stays unless its own pattern changed, as a new entry can only go before it.
    A dead entry matters only if it is the smallest: ``first`` then sets it to infinity
    and looks again, so each costs at most one more ``min``. Sorting or compacting drops
    the dead entries. Sorting the summaries' rankings was two thirds of the first refresh
    after a cold read at 100,000 patterns (~50 ms); a map from id to position, to take old
    entries out in place, costs ~4 ms and ~4 MB per ranking there (57,000 ids), and
    ``list.index`` ~0.2 ms per change. Once sorted, a change to a few patterns costs a few
    bisections instead of a new sort of every pattern.

    The totals of the entries' numbers are exact sums, rounded once when read, so that
    they do not depend on the order patterns came and went in: a few floats per total
    that hold its exact sum (``_exact_parts``), worked out from the numbers (kept column
    by column until then) when a total is first read, which a cold summary does anyway,
    and updated exactly from then on (``_add_exactly``). A number that is not finite
    leaves them summed afresh at each read (``plain``), as plainly as a full recompute
    sums them.

    Why columns: at 100,000 patterns the key tuples of the report's and the summaries'
    rankings (a tuple and a float or two each) were ~18 MB kept, all of them alive at
    the peak of a cold read, where the columns hold ~3 MB.
    """

    def __init__(
        self,
        build: Callable[[_Windows], _Entry | None],
        windows: dict[str | None, _Windows],
    ) -> None:
        self.build = build
        self.windows = windows  # the kept windows this ranks (updated in place)
        self.columns: list[array[float]] = []  # the keys' numbers, in ``_ids`` order
        self._ids: list[str | None] = []
        # While the ranking is made (``add``): the entries' numbers, flat, in ``_ids`` order.
        self._keys: array[float] = array("d")
        self._numbers: array[float] = array("d")
        # The totals: the numbers column by column (as made), or the exact parts.
        self.sums: list[array[float]] = []
        self.parts: list[list[float]] | None = None
        self.plain = False
        self._totals: list[float | None] = []
        self._unsorted = False
        self._adding = False  # ``add`` was given entries that ``finish`` has not cut yet
        # Unsorted only: the alive entry of each id changed since the ranking was made or
        # compacted (-1: none), how many entries are alive, the first one's position, or
        # None with ``_least`` a key no alive entry's is below, and whether a key number
        # may be NaN (None: not looked yet; NaN sorts anywhere: then sort).
        self._latest: dict[str | None, int] = {}
        self._alive = 0
        self._first: int | None = None
        self._least: tuple[Any, ...] | None = None
        self._nan: bool | None = None

    def __len__(self) -> int:
        return self._alive if self._unsorted else len(self._ids)

    @property
    def ids(self) -> list[str | None]:
        """The ranked ids, in rank order."""
        if self._unsorted:
            self._sort()
        return self._ids

    def fill(self) -> None:
        """Rank every kept window."""
        build = self.build
        add = self.add
        for w in self.windows.values():
            entry = build(w)
            if entry is not None:
                add(w.pattern_id, entry)
        self.finish()

    def add(self, pattern_id: str | None, entry: _Entry) -> None:
        """One pattern's entry (what ``build`` gives it) while the ranking is being made.

        Its numbers go to flat arrays; ``finish`` cuts them into columns.
        """
        self._ids.append(pattern_id)
        self._keys.extend(entry[0])
        self._numbers.extend(entry[1])
        self._adding = True

    def finish(self) -> None:
        """The ranking is made from what ``add`` was given (sorted when first needed)."""
        if not self._adding:
            return
        self._adding = False
        count = len(self._ids)
        width = len(self._keys) // count
        self.columns = [self._keys[i::width] for i in range(width)]
        width = len(self._numbers) // count
        self.sums = [self._numbers[i::width] for i in range(width)]
        self._totals = [None] * width
        self._keys = array("d")
        self._numbers = array("d")
        self._unsorted = True
        self._alive = count

    def _compact(self) -> None:
        """Unsorted: drop the dead entries."""
        latest = self._latest
        if not latest:
            return
        ids = self._ids
        alive = [i for i, pattern_id in enumerate(ids) if latest.get(pattern_id, i) == i]
        self.columns = [array("d", map(column.__getitem__, alive)) for column in self.columns]
        self._ids = list(map(ids.__getitem__, alive))
        self._latest = {}
        self._first = None  # ``_least`` stays a bound

    def _sort(self) -> None:
        self._compact()
        ids = self._ids
        # A stable sort per part of the key, the last part first, orders the positions
        # as the keys would (the id order: NULL first, then by id); no key tuple is made.
        order = [i for i, pattern_id in enumerate(ids) if pattern_id is None]
        named = [i for i, pattern_id in enumerate(ids) if pattern_id is not None]
        named.sort(key=cast(Callable[[int], str], ids.__getitem__))
        order += named
        del named
        for column in reversed(self.columns):
            order.sort(key=column.__getitem__)
        self.columns = [array("d", map(column.__getitem__, order)) for column in self.columns]
        self._ids = list(map(ids.__getitem__, order))
        self._unsorted = False
        self._first = self._least = None

    def first(self) -> str | None:
        """The first id in rank order (the ranking is not empty).

        Unsorted, with one key number: the smallest number of an alive entry, ties by id
        order, which is where the sort puts it, as long as no number is NaN.
        """
        if not self._unsorted or len(self.columns) != 1:
            return self.ids[0]
        if self._nan is None:
            # Once per made ranking (masked entries are infinite, never NaN); a sum is
            # NaN also for both infinities, which then sorts too: rare and still right.
            self._nan = math.isnan(sum(self.columns[0]))
        if self._nan:
            return self.ids[0]
        if self._first is None:
            column, ids, latest = self.columns[0], self._ids, self._latest
            while True:
                smallest = min(column)
                tied = [column.index(smallest)]
                try:
                    while True:
                        tied.append(column.index(smallest, tied[-1] + 1))
                except ValueError:
                    pass
                alive = [i for i in tied if latest.get(ids[i], i) == i]
                if alive:
                    break
                for i in tied:  # dead: never the first again
                    column[i] = math.inf
            self._first = min(alive, key=lambda i: _id_order(ids[i]))
            self._least = self._key(self._first)
        return self._ids[self._first]

    def _key(self, index: int) -> tuple[Any, ...]:
        return (*(column[index] for column in self.columns), *_id_order(self._ids[index]))

    def _find(self, key: tuple[Any, ...]) -> int:
        """Where the full ``key`` goes in a sorted ranking (by bisection)."""
        ids, columns = self._ids, self.columns
        # The full keys of ``_key``, made without its generator and calls for the scans'
        # and the report's widths: a third of the cost of a find (~3 instead of ~9 us at
        # 50,000 ids), which a batch of changes pays once per pattern and ranking.
        key_at: Callable[[int], tuple[Any, ...]]
        if len(columns) == 1:
            (only,) = columns
            def one(index: int) -> tuple[Any, ...]:
                pattern_id = ids[index]
                return (only[index], pattern_id is not None, pattern_id or "")
            key_at = one
        elif len(columns) == 2:
            first, second = columns
            def two(index: int) -> tuple[Any, ...]:
                pattern_id = ids[index]
                return (first[index], second[index], pattern_id is not None, pattern_id or "")
            key_at = two
        else:
            key_at = self._key
        return bisect.bisect_left(range(len(ids)), key, key=key_at)

    def update(self, pattern_id: str | None, old: _Windows | None, new: _Windows | None) -> None:
        """The pattern's windows went from ``old`` to ``new`` (None: it had or has none)."""
        entry = self.build(old) if old is not None else None
        if entry is not None:
            if self._unsorted:
                self._take_out(pattern_id)
            else:
                index = self._find((*entry[0], *_id_order(pattern_id)))
                for column in self.columns:
                    del column[index]
                del self._ids[index]
            self._count(entry[1], -1.0)
        entry = self.build(new) if new is not None else None
        if entry is not None:
            key, numbers = entry
            if not self.columns and not self._ids:
                self.columns = [array("d") for _ in key]
            if self._unsorted:
                self._append(pattern_id, key)
            else:
                index = self._find((*key, *_id_order(pattern_id)))
                for column, number in zip(self.columns, key, strict=True):
                    column.insert(index, number)
                self._ids.insert(index, pattern_id)
            self._count(numbers, 1.0)
        if self._unsorted and len(self._ids) > 2 * self._alive + 64:
            self._compact()  # more dead than alive: a pass over the ranking, now and then

    def _take_out(self, pattern_id: str | None) -> None:
        """Unsorted: the pattern's alive entry is dead (it stays where it is)."""
        if self._first is not None and self._ids[self._first] == pattern_id:
            self._first = None  # ``_least`` stays: every other key is above it
        self._latest[pattern_id] = -1
        self._alive -= 1

    def _append(self, pattern_id: str | None, key: tuple[float, ...]) -> None:
        """Unsorted: the pattern's new entry, at the end."""
        index = len(self._ids)
        self._ids.append(pattern_id)
        for column, number in zip(self.columns, key, strict=True):
            column.append(number)
        self._latest[pattern_id] = index
        self._alive += 1
        if any(map(math.isnan, key)):
            self._nan = True
        elif self._least is not None:
            full = (*key, *_id_order(pattern_id))
            if full <= self._least:  # below every other alive key: the new first
                self._first = index
                self._least = full

    def _make_parts(self) -> None:
        """The exact parts of each total, from the numbers kept as made (or ``plain``)."""
        try:
            self.parts = [_exact_parts(column) for column in self.sums]
        except (ValueError, OverflowError):  # NaN, infinity, overflow: sum plainly
            self.plain = True
            return
        self.sums = []

    def _count(self, numbers: tuple[float, ...], sign: float) -> None:
        """Add (sign 1) or take away (-1) an entry's numbers from the exact totals."""
        if not numbers:
            return
        if self.parts is None and not self.plain:
            self._make_parts()
        self.sums = []  # the numbers as made are out of date
        if self.parts is not None:
            try:
                self.parts += [[] for _ in range(len(numbers) - len(self.parts))]
                for parts, number in zip(self.parts, numbers, strict=True):
                    _add_exactly(parts, sign * number)
            except (ValueError, OverflowError):  # NaN, infinity, overflow: sum plainly
                self.plain = True
                self.parts = None
        self._totals = [None] * len(numbers)

    def total(self, index: int) -> float:
        """The exact sum of the ``index``-th number of every entry, rounded once."""
        if not len(self):
            return 0.0
        total = self._totals[index]
        if total is None:
            # Read once per change: the sums a summary reads are worked out when it asks.
            if self.parts is None and not self.plain:
                self._make_parts()
            if self.parts is not None:
                total = math.fsum(self.parts[index])
            elif self.sums:  # plain, and nothing changed since the ranking was made
                total = _sum_exactly(self.sums[index])
            else:
                built = (self.build(w) for w in self.windows.values())
                total = _sum_exactly([entry[1][index] for entry in built if entry is not None])
            self._totals[index] = total
        return total


def _counts_statement(*, restricted: bool, postgresql: bool) -> Select[Any]:
    """Applications per pattern row (see ``DriftMixin._pattern_counts``)."""
    a = _applications.c
    p = _patterns.c
    per_pattern = select(a.pattern_id, func.count().label("n"))
    # Rows with a NULL id are counted above but not by COUNT(pa.id); take them back out.
    without_id = select(a.pattern_id, func.count().label("n")).where(a.id.is_(None))
    if restricted:
        chosen = in_bound_list(a.pattern_id, "ids", postgresql=postgresql)
        per_pattern = per_pattern.where(chosen)
        without_id = without_id.where(chosen)
    per = per_pattern.group_by(a.pattern_id).subquery("per_pattern")
    missing = without_id.group_by(a.pattern_id).subquery("without_id")
    count = func.coalesce(func.max(per.c.n), 0) - func.coalesce(func.max(missing.c.n), 0)
    statement = (
        select(p.id, count.label("applications"))
        .select_from(
            _patterns.outerjoin(per, per.c.pattern_id == p.id)
            .outerjoin(missing, missing.c.pattern_id == p.id)
        )
        .group_by(p.id)
    )
    if restricted:
        statement = statement.where(in_bound_list(p.id, "pids", postgresql=postgresql))
    return statement


class _Counts:
    """Applications per pattern row, with the entropy's running totals (exact sums)."""

    def __init__(self, by_row: dict[str | None, int]) -> None:
        self.by_row = by_row
        # Made from how many rows have each count: a few hundred counts among 100,000
        # rows, so each count's term is scaled once (per row, that was ~60 ms there).
        self.sizes = Counter(by_row.values())
        for count in [count for count in self.sizes if count <= 0]:
            del self.sizes[count]
        self.total = sum(count * rows for count, rows in self.sizes.items())
        # the sum of weighted_log, scaled by _FIXED_ONE (exact)
        self.weighted = sum(_fixed(weighted_log(count)) * rows
                            for count, rows in self.sizes.items())
        self.applied = sum(self.sizes.values())

    def _count(self, count: int, sign: int) -> None:
        if count <= 0:
            return
        self.total += sign * count
        self.weighted += sign * _fixed(weighted_log(count))
        self.applied += sign
        self.sizes[count] += sign
        if not self.sizes[count]:
            del self.sizes[count]

    def set(self, pattern_id: str | None, count: int | None) -> None:
        """A row's new count; None when the id has no pattern row (any more)."""
        old = self.by_row.pop(pattern_id, None)
        if old is not None:
            self._count(old, -1)
        if count is not None:
            self.by_row[pattern_id] = count
            self._count(count, 1)

    def entropy(self) -> EntropySummary:
        largest = max(self.sizes) if self.sizes else 0
        return entropy_from_totals(
            self.total, self.weighted / _FIXED_ONE, self.applied, largest
        )


class _DriftState:
    """Window aggregates and what is derived from them, kept between reads (see ``_synced``).

    ``windows[W]`` holds the aggregates (both kinds) of every pattern id that qualifies for
    either kind at window W; ``ranked`` what the reads derive from them (sorted scans, report
    rows, summaries), updated pattern by pattern; ``counts`` the entropy's applications per
    pattern row.
    """

    def __init__(self, feed: ChangeFeed) -> None:
        self.feed = feed
        self.lock = threading.RLock()
        self.token: int | None = None
        self.synced = False
        #: reads in progress (nested), and whether the outermost one has looked for changes
        self.depth = 0
        self.fresh = False
        self.total_patterns = 0
        self.windows: dict[int, dict[str | None, _Windows]] = {}
        self.counts: _Counts | None = None
        self.ranked: dict[tuple[Any, ...], _Ranked] = {}
        #: the drift report's last page: (its windows, its row) by pattern id
        self.page_rows: dict[tuple[Any, ...], dict[str | None, tuple[_Windows, DriftRow]]] = {}

    # The formulas are recomputed wherever they are needed (a few microseconds each).
    # Sharing their results between the report and the summaries, within a read or between
    # reads, was measured slower and larger: at 100,000 patterns the held results added
    # 40 MB of peak RSS and their allocations set off garbage collections of everything.
    @staticmethod
    def effectiveness(
        w: _Windows, window_size: int, threshold: float
    ) -> EffectivenessDriftResult:
        return _effectiveness_result(w, window_size, threshold)

    @staticmethod
    def epistemic(w: _Windows, window_size: int, threshold: float) -> EpistemicDriftResult:
        return _epistemic_result(w, window_size, threshold)

    def effectiveness_metrics(
        self, pattern_id: str | None, window_size: int, threshold: float
    ) -> DriftMetrics:
        """The record returned for one pattern (built only for the rows a read returns)."""
        w = self.windows[window_size][pattern_id]
        return _effectiveness_metrics(w, window_size, threshold,
                                      self.effectiveness(w, window_size, threshold))

    def epistemic_metrics(
        self, pattern_id: str | None, window_size: int, threshold: float
    ) -> EpistemicDriftMetrics:
        w = self.windows[window_size][pattern_id]
        return _epistemic_metrics(w, window_size, threshold,
                                  self.epistemic(w, window_size, threshold))

    def clear(self) -> None:
        self.page_rows.clear()
        self.windows.clear()
        self.counts = None
        self.ranked.clear()

    def set_windows(self, window_size: int, windows: dict[str | None, _Windows]) -> None:
        """Replace every window at W (what was derived from the old ones goes too)."""
        self.windows[window_size] = windows
        for key in [k for k in self.ranked if k[1] == window_size]:
            del self.ranked[key]

    def rank(
        self,
        key: tuple[Any, ...],
        build: Callable[[_Windows], _Entry | None],
    ) -> _Ranked:
        """The ids ranked by ``build`` on the windows at W = ``key[1]``, kept (see _Ranked)."""
        ranked = self.ranked.get(key)
        if ranked is None:
            ranked = _Ranked(build, self.windows[key[1]])
            ranked.fill()
            self.ranked[key] = ranked
        return ranked


_STATE_LOCK = threading.Lock()
#: Window sizes kept at once; another one is computed afresh.
_WINDOW_SIZES_KEPT = 4
#: Above this share of the cached patterns changed, recomputing everything is cheaper.
_INCREMENTAL_SHARE = 0.25


#: The revision state (``store.revision``) and the change feed's first question
#: (``store.drift_cache``) in one request.
_REVISION_AND_FEED_HEAD = sql_text(
    f"SELECT head.xmin, head.signature, revision.* FROM ({FEED_HEAD_SELECT}) AS head, "
    f"({REVISION_STATE_SELECT}) AS revision"
).bindparams(key=REVISION_LOCK_CLASS)


class DriftMixin(GlobalLearningStoreBase):
    """Effectiveness and epistemic drift, drift retirement, and the evolution trajectory."""

    # -- ordering -----------------------------------------------------------------------

    def _newest_first(self, table: Any = _applications) -> list[UnaryExpression[Any]]:
        """``applied_at DESC, id DESC``, with NULL times last and byte order on both backends."""
        applied = table.c.applied_at.desc()
        identifier = table.c.id
        if self.is_postgresql:
            # SQLite sorts NULL last in DESC order and compares text byte-wise; PostgreSQL
            # needs both spelled out.
            return [applied.nulls_last(), identifier.collate("C").desc()]
        return [applied, identifier.desc()]

    # -- the windowed statement (no index of ours) ------------------------------------------

    def _window_statement(
        self,
        window_size: int,
        *,
        effectiveness: bool,
        epistemic: bool,
        restricted: bool = False,
    ) -> Select[Any]:
        """One statement: the drift window aggregates of every pattern id with 2W rows.

        ``rn`` numbers all applications of a pattern newest first; ``grn`` numbers only
        those with grounding (Marianne filters NULL grounding out before taking the
        epistemic windows, so the epistemic-only statement filters them out before
        numbering). Rows 1..2W are kept and summed per window. A pattern id qualifies for a
        kind when it has 2W rows of it.

        ``restricted`` limits the statement to the pattern ids bound as ``ids`` (the
        patterns whose applications changed); they are found through Marianne's
        ``pattern_id`` index. Unrestricted, on SQLite, the partition key is written
        ``+pattern_id`` so that the planner reads the table in storage order and sorts:
        walking the ``pattern_id`` index instead fetches every row at random and takes
        about half as long again on a 500,000-application file. On PostgreSQL the
        partition key is ``pattern_id COLLATE "C"`` for the same reason: the server's
        collation (even ``C.UTF-8``) compares with ``strcoll`` and without abbreviated
        keys, so the planner walks the ``pattern_id`` index instead of sorting byte-wise,
        and that costs the server about a fifth more CPU at 500,000 applications and
        three times the time at 2,500,000, where the table no longer stays in
        ``shared_buffers`` and the walk reads each page again and again (1.8 million
        buffer reads for a table of 53,000 pages). The groups are the same (a deterministic
        collation's equality is byte equality); the rows are put in byte order afterwards.
        """
        a = _applications.c
        span = 2 * window_size
        grounded = a.grounding_confidence.is_not(None)
        order = self._newest_first()
        success = case((a.pattern_led_to_success != 0, 1), else_=0)
        partition: Any = a.pattern_id
        if not restricted:
            partition = (
                a.pattern_id.collate("C")
                if self.is_postgresql
                else literal_column(f"+{_applications.name}.pattern_id")
            )
        # On PostgreSQL ``rn`` takes the frame of ``grn`` below (``row_number`` ignores
        # frames) so that both are one window: every row passes through one window node
        # per distinct window, and a second one costs about a sixth of the statement.
        # (SQLite times the same either way; its statement is left as it was.)
        frame: Any = (None, 0) if epistemic and self.is_postgresql else None

        columns: list[Any] = [
            a.pattern_id.label("pattern_id"),
            success.label("success"),
            a.grounding_confidence.label("g"),
        ]
        if effectiveness:
            columns.append(
                func.row_number()
                .over(partition_by=partition, order_by=order, rows=frame)
                .label("rn")
            )
        if epistemic and effectiveness:
            # A running count of grounding values gives each grounded row its number among
            # the grounded rows, over the same sort as ``rn`` (a second partitioning would
            # sort every application a second time).
            columns.append(
                func.count(a.grounding_confidence)
                .over(partition_by=partition, order_by=order, rows=(None, 0))
                .label("grn")
            )
        elif epistemic:
            columns.append(
                func.row_number().over(partition_by=partition, order_by=order).label("grn")
            )
        numbered_select = select(*columns)
        if not effectiveness:
            numbered_select = numbered_select.where(grounded)
        if restricted:
            numbered_select = numbered_select.where(
                in_bound_list(a.pattern_id, "ids", postgresql=self.is_postgresql)
            )
        numbered = numbered_select.subquery("numbered")
        n = numbered.c

        aggregates: list[Any] = [n.pattern_id]
        keep: list[ColumnElement[bool]] = []
        qualifies: list[ColumnElement[bool]] = []
        if effectiveness:
            in_span = n.rn <= span
            is_success = n.success == 1
            has_g = n.g.is_not(None)
            aggregates += [
                _count_if(in_span).label("eff_rows"),
                _count_if(and_(n.rn <= window_size, is_success)).label("recent_successes"),
                _count_if(and_(n.rn > window_size, in_span, is_success)).label(
                    "older_successes"
                ),
                _sum_if(in_span, n.g).label("grounding_sum"),
                _count_if(and_(in_span, has_g)).label("grounding_count"),
            ]
            keep.append(in_span)
            qualifies.append(_count_if(in_span) >= span)
        if epistemic:
            in_g_span = and_(n.g.is_not(None), n.grn <= span)
            in_g_recent = and_(n.g.is_not(None), n.grn <= window_size)
            in_g_older = and_(n.g.is_not(None), n.grn > window_size, n.grn <= span)
            aggregates += [
                _count_if(in_g_span).label("epi_rows"),
                _sum_if(in_g_recent, n.g).label("recent_grounding"),
                _sum_if(in_g_older, n.g).label("older_grounding"),
                _sum_if(in_g_span, n.g * n.g).label("grounding_squares"),
            ]
            keep.append(in_g_span)
            qualifies.append(_count_if(in_g_span) >= span)
        windows = (
            select(*aggregates)
            .where(or_(*keep))
            .group_by(n.pattern_id)
            .having(or_(*qualifies))
            .subquery("windows")
        )
        return _with_pattern_columns(windows)

    # -- the per-pattern statement (through the drift index) -------------------------------

    def _indexed_window_statement(
        self, window_size: int, *, effectiveness: bool, epistemic: bool
    ) -> Select[Any]:
        """The same aggregates, each pattern's windows read through :meth:`add_drift_index`.

        For every pattern id with 2W applications, small correlated subqueries take its
        newest W or 2W applications (or grounded applications) with ``LIMIT``: each is a
        short range of the index, which also holds the success flag and the grounding, so
        no table row is read and nothing is sorted. Every qualifying pattern has 2W
        applications, so ``eff_rows`` is 2W; ``epi_rows`` is counted.
        """
        a = _applications.c
        span = 2 * window_size
        qualifying = (
            select(a.pattern_id.label("pattern_id"))
            .group_by(a.pattern_id)
            .having(func.count() >= span)
            .subquery("qualifying")
        )

        def window(
            value: Any, limit: int, *, offset: int = 0, grounded: bool = False,
            count: bool = False,
        ) -> Any:
            rows = _applications.alias("w")
            picked = (
                select(value(rows.c).label("v"))
                # IS: applications without a pattern id are one group of their own.
                .where(rows.c.pattern_id.is_not_distinct_from(qualifying.c.pattern_id))
                .order_by(*self._newest_first(rows))
                .limit(limit)
                .offset(offset)
                .correlate(qualifying)
            )
            if grounded:
                picked = picked.where(rows.c.grounding_confidence.is_not(None))
            sub = picked.subquery("picked")
            total = func.count(sub.c.v) if count else func.coalesce(func.sum(sub.c.v), 0.0)
            return select(total).scalar_subquery()

        def success(c: Any) -> Any:
            return case((c.pattern_led_to_success != 0, 1), else_=0)

        def grounding(c: Any) -> Any:
            return c.grounding_confidence

        def square(c: Any) -> Any:
            return c.grounding_confidence * c.grounding_confidence

        columns: list[Any] = [qualifying.c.pattern_id]
        if effectiveness:
            columns += [
                literal(span).label("eff_rows"),
                window(success, window_size).label("recent_successes"),
                window(success, window_size, offset=window_size).label("older_successes"),
                window(grounding, span).label("grounding_sum"),
                window(grounding, span, count=True).label("grounding_count"),
            ]
        if epistemic:
            columns += [
                window(grounding, span, grounded=True, count=True).label("epi_rows"),
                window(grounding, window_size, grounded=True).label("recent_grounding"),
                window(grounding, window_size, offset=window_size, grounded=True).label(
                    "older_grounding"
                ),
                window(square, span, grounded=True).label("grounding_squares"),
            ]
        windows = select(*columns).subquery("windows")
        statement = _with_pattern_columns(windows)
        if not effectiveness:
            statement = statement.where(windows.c.epi_rows >= span)
        return statement

    def _lateral_window_statement(
        self, window_size: int, *, effectiveness: bool, epistemic: bool
    ) -> Select[Any]:
        """The same aggregates on PostgreSQL with the drift index: one index range per kind.

        For every pattern id with 2W applications, a ``LATERAL`` subquery numbers its newest
        applications in the index's order and stops after 2W of them (``row_number()``
        streams, so ``LIMIT`` ends the range scan), then sums both windows from those rows.
        The epistemic kind reads a second range, of grounded applications only. That is one
        or two short index scans per pattern, where the SQLite statement above needs one
        per aggregate (PostgreSQL's planner cannot merge correlated subqueries).
        """
        a = _applications.c
        span = 2 * window_size
        qualifying = (
            select(a.pattern_id.label("pattern_id"))
            .group_by(a.pattern_id)
            .having(func.count() >= span)
            .subquery("qualifying")
        )

        def newest(name: str, *, grounded: bool) -> Any:
            rows = _applications.alias(f"{name}_applications")
            order = self._newest_first(rows)
            picked = (
                select(
                    case((rows.c.pattern_led_to_success != 0, 1), else_=0).label("success"),
                    rows.c.grounding_confidence.label("g"),
                    func.row_number().over(order_by=order).label("rn"),
                )
                .where(rows.c.pattern_id == qualifying.c.pattern_id)
                .order_by(*order)
                .limit(span)
                .correlate(qualifying)
            )
            if grounded:
                picked = picked.where(rows.c.grounding_confidence.is_not(None))
            return picked.lateral(name)

        columns: list[Any] = [qualifying.c.pattern_id]
        froms: Any = qualifying
        if effectiveness:
            e = newest("eff", grounded=False).c
            recent, older = e.rn <= window_size, e.rn > window_size
            windows = (
                select(
                    literal(span).label("eff_rows"),
                    _count_if(and_(recent, e.success == 1)).label("recent_successes"),
                    _count_if(and_(older, e.success == 1)).label("older_successes"),
                    func.coalesce(func.sum(e.g), 0.0).label("grounding_sum"),
                    func.count(e.g).label("grounding_count"),
                )
                .lateral("eff_windows")
            )
            columns += list(windows.c)
            froms = froms.join(windows, literal(True))
        if epistemic:
            g = newest("epi", grounded=True).c
            recent, older = g.rn <= window_size, g.rn > window_size
            windows = (
                select(
                    func.count().label("epi_rows"),
                    _sum_if(recent, g.g).label("recent_grounding"),
                    _sum_if(older, g.g).label("older_grounding"),
                    func.coalesce(func.sum(g.g * g.g), 0.0).label("grounding_squares"),
                )
                .lateral("epi_windows")
            )
            columns += list(windows.c)
            froms = froms.join(windows, literal(True))
        found = select(*columns).select_from(froms).subquery("windows")
        statement = _with_pattern_columns(found)
        if not effectiveness:
            statement = statement.where(found.c.epi_rows >= span)
        return statement

    def _built(self, key: Hashable, build: Callable[[], _T]) -> _T:
        """A statement built once per store (building one costs more than running it)."""
        built: dict[Hashable, Any] = self.__dict__.setdefault("_drift_statements", {})
        if key not in built:
            built[key] = build()
        return cast(_T, built[key])

    def _scan_windows(
        self,
        conn: Connection,
        window_size: int,
        *,
        effectiveness: bool = False,
        epistemic: bool = False,
        pattern_ids: Sequence[str | None] | None = None,
        ordered: bool = True,
    ) -> list[_Windows]:
        """Window aggregates of every qualifying pattern id, in Marianne's GROUP BY order.

        With ``pattern_ids``, only those ids are looked at (a NULL id cannot be bound, and
        its applications are never "changed": they belong to no pattern). ``ordered=False``
        leaves them in the order the statement gave (for a dict, where order is not used).
        """
        if window_size == 0:
            return self._zero_windows(conn, grounded_only=not effectiveness)
        if pattern_ids is not None:
            ids = [i for i in pattern_ids if i is not None]
            found: list[_Windows] = []
            statement = self._built(
                ("restricted", window_size, effectiveness, epistemic),
                lambda: self._window_statement(
                    window_size, effectiveness=effectiveness, epistemic=epistemic,
                    restricted=True,
                ),
            )
            for start in range(0, len(ids), _IDS_PER_STATEMENT):
                found.extend(_windows_from_result(
                    conn.execute(statement, {"ids": ids[start:start + _IDS_PER_STATEMENT]})
                ))
            return _by_pattern_id(found) if ordered else found
        # Without the drift index, numbering every application in one sort beats fetching
        # each pattern's rows through Marianne's pattern_id index, on both backends.
        if self._has_drift_index(conn):
            if not self.is_postgresql and effectiveness and epistemic:
                # Each pattern's index range read once, summed in Python (see
                # store.drift_indexed); the statement below is its fallback.
                try:
                    through_index = indexed_windows(conn, window_size)
                except sqlite3.Error as error:  # the driver's own cursor: not wrapped yet
                    raise self._store_error(error) from error
                if through_index is not None:
                    found = list(map(_Windows._make, through_index))
                    return _by_pattern_id(found) if ordered else found
            indexed = (
                self._lateral_window_statement
                if self.is_postgresql
                else self._indexed_window_statement
            )
            statement = indexed(window_size, effectiveness=effectiveness, epistemic=epistemic)
        else:
            if not self.is_postgresql and effectiveness and epistemic:
                # Without our index, a file in insertion order needs no sort at all (see
                # store.drift_order); any other file gets the windowed statement below.
                try:
                    in_order = in_order_windows(conn, window_size, _Windows._make)
                except sqlite3.Error as error:  # the driver's own cursor: not wrapped yet
                    raise self._store_error(error) from error
                if in_order is not None:
                    return _by_pattern_id(in_order) if ordered else in_order
            statement = self._window_statement(
                window_size, effectiveness=effectiveness, epistemic=epistemic
            )
        windows = _windows_from_result(conn.execute(statement))
        return _by_pattern_id(windows) if ordered else list(windows)

    def _zero_windows(self, conn: Connection, *, grounded_only: bool) -> list[_Windows]:
        """W = 0: Marianne's ``HAVING count >= 0`` keeps every id that has an application.

        Every window is then empty, so all aggregates are zero.
        """
        a = _applications.c
        p = _patterns.c
        ids = select(a.pattern_id).distinct()
        if grounded_only:
            ids = ids.where(a.grounding_confidence.is_not(None))
        applied = ids.subquery("applied")
        rows = conn.execute(
            select(
                applied.c.pattern_id,
                p.pattern_name,
                p.quarantine_status,
                p.priority_score,
            ).select_from(applied.outerjoin(_patterns, p.id == applied.c.pattern_id))
        )
        return _by_pattern_id(
            _Windows(pattern_id=row[0], name=row[1], status=row[2], priority=row[3])
            for row in rows
        )

    def _count_patterns(self, conn: Connection) -> int:
        return int(conn.execute(select(func.count()).select_from(_patterns)).scalar_one())

    # -- the kept state -------------------------------------------------------------------

    def _drift_state(self) -> _DriftState:
        state: _DriftState | None = self.__dict__.get("_drift_state_value")
        if state is None:
            with _STATE_LOCK:
                state = self.__dict__.get("_drift_state_value")
                if state is None:
                    state = _DriftState(ChangeFeed(self.is_postgresql, not self.read_only))
                    self.__dict__["_drift_state_value"] = state
        return state

    def reset_drift_cache(self) -> None:
        """Forget every kept drift and entropy result: the next read recomputes in full.

        Only needed after a change the change feed cannot see (an application updated in
        place or an old one deleted by hand, see ``store.drift_cache``).
        """
        state = self._drift_state()
        with state.lock:
            state.feed.reset()
            state.clear()
            state.synced = False

    def _change_token_now(self) -> int | None:
        probe = getattr(self, "change_token", None)
        if probe is None:
            return None
        try:
            return int(probe())
        except Exception:  # a probe that fails only means: look for changes every time
            return None

    def _prune_drift_log_if_due(self) -> None:
        """After an application is written: prune the PostgreSQL drift log when it is due.

        Never waits: while a drift read holds the kept state, that read prunes. A failure
        only leaves the rows for the next prune; the application is already committed.
        """
        state = self._drift_state()
        if not state.feed.prune_due() or not state.lock.acquire(blocking=False):
            return
        try:
            with self._connection() as conn:
                state.feed.prune_if_due(conn)
        except StoreError as error:
            self._logger.debug("drift log not pruned: %s", error)
        finally:
            state.lock.release()

    @contextmanager
    def _reading(self) -> Iterator[_DriftState]:
        """Hold the kept state for one read; nested reads look for changes only once.

        The outermost read also pauses Python's cyclic garbage collector: a cold read
        makes a few objects per pattern (windows, sort keys, results), none of them in a
        reference cycle, and their number alone sets off collections that walk every live
        object again and again (150-250 ms of a cold ``drift_report`` at 20,000 and
        100,000 patterns). Reference counting still frees everything as usual.
        """
        state = self._drift_state()
        with state.lock:
            state.depth += 1
            collecting = state.depth == 1 and gc.isenabled()
            if collecting:
                gc.disable()
            try:
                yield state
            finally:
                if collecting:
                    gc.enable()
                state.depth -= 1
                if not state.depth:
                    state.fresh = False

    def _synced(self) -> _DriftState:
        """The kept state, brought up to date with the store (call with ``state.lock`` held).

        The change probe (on PostgreSQL the revision it reads, ``store.revision``) says
        whether anything was committed since the last look; if so,
        the change feed says which patterns got applications or were inserted, and only
        their aggregates and counts are recomputed (or everything, when the feed cannot
        tell). The token is read before the feed, and the feed before any aggregate, so a
        write landing in between is looked at again next time rather than missed.
        """
        state = self._drift_state()
        if state.fresh:
            return state  # already looked during this read
        state.fresh = state.depth > 0
        # Outside a transaction on PostgreSQL (its BEGIN and COMMIT were two of a warm
        # read's eight requests): its statements share no snapshot there anyway, at READ
        # COMMITTED, and the feed is made for that. SQLite's feed needs its transaction.
        with self._reads_connection() as conn:
            head: Sequence[Any] | None = None
            if self.is_postgresql:
                # The revision and the feed's first question in one statement: a refresh
                # after a change needs both. Read together they still come before the
                # log's rows, so a write landing in between is looked at again (a
                # transaction still open is among the revision's lock holders, and at
                # or after the oldest one running).
                row = conn.execute(_REVISION_AND_FEED_HEAD).one()
                token: Any = revision_from_row(conn, row[2:])
                head = row[:2]
            else:
                token = self._change_token_now()
            if state.synced and token is not None and token == state.token:
                return state
            try:
                self._catch_up(conn, state, head)
            except BaseException:
                # The feed has moved past changes that were not applied: only a full
                # recompute can answer for them now.
                state.feed.reset()
                state.synced = False
                raise
        state.token = token
        state.synced = True
        return state

    def _catch_up(
        self, conn: Connection, state: _DriftState, head: Sequence[Any] | None
    ) -> None:
        changes = state.feed.read(conn, head)
        # Rows leave ``patterns`` only by a delete, which the feed answers with a full
        # recompute, so the count moves only with inserts (a scan of the table on
        # PostgreSQL: 2-3 ms at 20,000 patterns, most of a warm read there).
        if changes.full or changes.inserted or not state.synced:
            state.total_patterns = self._count_patterns(conn)
        if changes.full:
            sizes = list(state.windows)
            had_counts = state.counts is not None
            state.clear()
            for window_size in sizes:
                state.set_windows(window_size, self._all_windows(conn, window_size))
            if had_counts:
                state.counts = _Counts(self._pattern_counts(conn))
        elif not changes.empty:
            self._apply_changes(conn, state, changes.pattern_ids)

    def _apply_changes(self, conn: Connection, state: _DriftState, ids: set[str]) -> None:
        ordered = sorted(ids)
        for window_size, windows in list(state.windows.items()):
            if len(ordered) > max(1000, _INCREMENTAL_SHARE * len(windows)):
                state.set_windows(window_size, self._all_windows(conn, window_size))
                continue
            old = {pattern_id: windows.pop(pattern_id, None) for pattern_id in ordered}
            for w in self._scan_windows(
                conn, window_size, effectiveness=True, epistemic=True, pattern_ids=ordered,
                ordered=False,
            ):
                windows[w.pattern_id] = w
            for key, ranked in state.ranked.items():
                if key[1] == window_size:
                    for pattern_id in ordered:
                        ranked.update(pattern_id, old[pattern_id], windows.get(pattern_id))
        if state.counts is not None:
            counted = self._pattern_counts(conn, ordered)
            for pattern_id in ordered:
                state.counts.set(pattern_id, counted.get(pattern_id))

    def _all_windows(self, conn: Connection, window_size: int) -> dict[str | None, _Windows]:
        windows = self._scan_windows(
            conn, window_size, effectiveness=True, epistemic=True, ordered=False
        )
        return {w.pattern_id: w for w in windows}

    def _kept(self, window_size: int) -> _DriftState:
        """The state, synced, with the windows at W computed (call with the lock held)."""
        state = self._synced()
        if window_size not in state.windows:
            if len(state.windows) >= _WINDOW_SIZES_KEPT:
                oldest = next(iter(state.windows))
                state.set_windows(oldest, {})
                del state.windows[oldest]
            with self._connection() as conn:
                state.set_windows(window_size, self._all_windows(conn, window_size))
        return state

    def _pattern_counts(
        self, conn: Connection, pattern_ids: Sequence[str] | None = None
    ) -> dict[str | None, int]:
        """Applications per pattern row, as Marianne's entropy counts them.

        Her ``COUNT(pa.id) ... LEFT JOIN ... GROUP BY p.id`` skips orphan applications and
        applications without an id, and folds pattern rows without an id into one group
        (of count 0). Here the applications are counted first, per pattern id, from the
        pattern index alone (about ten times faster on a 20,000-pattern file); with
        ``pattern_ids``, only those pattern rows are counted.
        """
        restricted = pattern_ids is not None
        statement = self._built(
            ("counts", restricted),
            lambda: _counts_statement(restricted=restricted, postgresql=self.is_postgresql),
        )
        if pattern_ids is None:
            return {row[0]: int(row[1]) for row in conn.execute(statement)}
        found: dict[str | None, int] = {}
        ids = list(pattern_ids)
        for start in range(0, len(ids), _IDS_PER_STATEMENT):
            chunk = ids[start:start + _IDS_PER_STATEMENT]
            found.update(
                (row[0], int(row[1]))
                for row in conn.execute(statement, {"ids": chunk, "pids": chunk})
            )
        return found

    def _kept_entropy(self) -> tuple[EntropySummary, int]:
        """The entropy of the kept counts, and how many pattern rows there are.

        Computed from running totals (:func:`store.metrics.entropy_from_totals`), so a
        changed count costs a few additions, not a pass over every pattern.
        """
        with self._reading():
            state = self._synced()
            if state.counts is None:
                with self._connection() as conn:
                    state.counts = _Counts(self._pattern_counts(conn))
            return state.counts.entropy(), len(state.counts.by_row)

    # -- 8.1 effectiveness drift ----------------------------------------------------------

    def calculate_effectiveness_drift(
        self,
        pattern_id: str,
        window_size: int = 5,
        drift_threshold: float = 0.2,
    ) -> DriftMetrics | None:
        """Effectiveness drift of one pattern: its newest W applications against the W before.

        Returns None for an unknown pattern or one with fewer than 2W applications.
        """
        _check_window(window_size)
        with self._connection() as conn:
            name = self._pattern_name(conn, pattern_id)
            if name is None:
                return None
            a = _applications.c
            rows = conn.execute(
                select(a.pattern_led_to_success, a.grounding_confidence)
                .where(a.pattern_id == pattern_id)
                .order_by(*self._newest_first())
                .limit(2 * window_size)
            ).all()
        if len(rows) < 2 * window_size:
            return None
        grounding = [g for _, g in rows if g is not None]
        windows = _Windows(
            pattern_id=pattern_id,
            name=name,
            status=None,
            priority=None,
            recent_successes=sum(1 for ok, _ in rows[:window_size] if ok),
            older_successes=sum(1 for ok, _ in rows[window_size:] if ok),
            grounding_sum=sum(grounding),
            grounding_count=len(grounding),
        )
        return _effectiveness_metrics(windows, window_size, drift_threshold)

    def _pattern_name(self, conn: Connection, pattern_id: str | None) -> str | None:
        if pattern_id is None:
            return None
        name = conn.execute(
            select(_patterns.c.pattern_name).where(_patterns.c.id == pattern_id)
        ).scalar_one_or_none()
        return None if name is None else str(name)

    # -- 8.2 epistemic drift --------------------------------------------------------------

    def calculate_epistemic_drift(
        self,
        pattern_id: str,
        window_size: int = 5,
        drift_threshold: float = 0.15,
    ) -> EpistemicDriftMetrics | None:
        """Drift of the grounding confidence of one pattern (applications with grounding).

        Returns None for an unknown pattern or fewer than 2W grounded applications;
        W = 0 raises ZeroDivisionError, as in Marianne.
        """
        _check_window(window_size)
        with self._connection() as conn:
            name = self._pattern_name(conn, pattern_id)
            if name is None:
                return None
            a = _applications.c
            values = list(
                conn.execute(
                    select(a.grounding_confidence)
                    .where(a.pattern_id == pattern_id, a.grounding_confidence.is_not(None))
                    .order_by(*self._newest_first())
                    .limit(2 * window_size)
                ).scalars()
            )
        if len(values) < 2 * window_size:
            return None
        windows = _Windows(
            pattern_id=pattern_id,
            name=name,
            status=None,
            priority=None,
            recent_grounding=sum(values[:window_size]),
            older_grounding=sum(values[window_size:]),
            grounding_squares=sum(v * v for v in values),
        )
        return _epistemic_metrics(windows, window_size, drift_threshold)

    # -- 8.3 scans and summaries ----------------------------------------------------------

    def _effectiveness_ranked(
        self, drift_threshold: float, window_size: int, *, drifting: bool,
        limit: int | None = None,
    ) -> list[DriftMetrics]:
        """Effectiveness drift of known patterns with 2W applications (kept, see ``_synced``).

        In pattern-id order, or with ``drifting`` only those exceeding the threshold,
        largest magnitude first (ties in pattern-id order, as Marianne's stable sort);
        ``limit`` slices the ranking as ``[:limit]`` before any record is built.
        """
        span = 2 * window_size

        def build(w: _Windows) -> _Entry | None:
            if not w.known or w.eff_rows < span:
                return None
            if not drifting:
                return (), ()
            magnitude, exceeded = _effectiveness_numbers(w, window_size, drift_threshold)
            return ((-magnitude,), ()) if exceeded else None

        with self._reading():
            state = self._kept(window_size)
            ranked = state.rank(("effectiveness", window_size, drift_threshold, drifting), build)
            ids = ranked.ids if limit is None else ranked.ids[:limit]
            return [state.effectiveness_metrics(i, window_size, drift_threshold) for i in ids]

    def _epistemic_ranked(
        self, drift_threshold: float, window_size: int, *, drifting: bool,
        limit: int | None = None,
    ) -> list[EpistemicDriftMetrics]:
        """Epistemic drift of known patterns with 2W grounded applications (as above)."""
        span = 2 * window_size

        def build(w: _Windows) -> _Entry | None:
            if not w.known or w.epi_rows < span:
                return None
            if not drifting:
                return (), ()
            change, _, exceeded = _epistemic_numbers(w, window_size, drift_threshold)
            return ((-abs(change),), ()) if exceeded else None

        with self._reading():
            state = self._kept(window_size)
            ranked = state.rank(("epistemic", window_size, drift_threshold, drifting), build)
            ids = ranked.ids if limit is None else ranked.ids[:limit]
            return [state.epistemic_metrics(i, window_size, drift_threshold) for i in ids]

    def _effectiveness_scan(
        self, drift_threshold: float, window_size: int
    ) -> list[DriftMetrics]:
        """Drift of every known pattern with 2W applications, in pattern-id order."""
        _check_window(window_size)
        if window_size == 0:
            with self._connection() as conn:
                windows = self._scan_windows(conn, 0, effectiveness=True)
            return [_effectiveness_metrics(w, 0, drift_threshold) for w in windows if w.known]
        return self._effectiveness_ranked(drift_threshold, window_size, drifting=False)

    def _qualifying_count(self, state: _DriftState, *, grounded: bool) -> int:
        span = 2 * SUMMARY_WINDOW
        return sum(
            1 for w in state.windows[SUMMARY_WINDOW].values()
            if (w.epi_rows if grounded else w.eff_rows) >= span
        )

    def _effectiveness_summary_now(self) -> dict[str, Any]:
        """``get_pattern_drift_summary`` from kept drift, ranked by magnitude, with sums."""
        with self._reading():
            state = self._kept(SUMMARY_WINDOW)
            ranked = state.rank(_EFFECTIVENESS_SUMMARY, _effectiveness_summary_entry)
            analyzed = len(ranked)
            if not analyzed:
                # Marianne reports the number of qualifying ids here, orphans included.
                return {
                    "total_patterns": state.total_patterns,
                    "patterns_analyzed": self._qualifying_count(state, grounded=False),
                    "patterns_drifting": 0,
                    "avg_drift_magnitude": 0.0,
                    "most_drifted": None,
                }
            return {
                "total_patterns": state.total_patterns,
                "patterns_analyzed": analyzed,
                "patterns_drifting": round(ranked.total(1)),
                "avg_drift_magnitude": ranked.total(0) / analyzed,
                "most_drifted": ranked.first(),
            }

    def _epistemic_summary_now(self) -> dict[str, Any]:
        """``get_epistemic_drift_summary`` from kept drift, ranked by |change|, with sums."""
        with self._reading():
            state = self._kept(SUMMARY_WINDOW)
            ranked = state.rank(_EPISTEMIC_SUMMARY, _epistemic_summary_entry)
            analyzed = len(ranked)
            if not analyzed:
                return {
                    "total_patterns": state.total_patterns,
                    "patterns_analyzed": self._qualifying_count(state, grounded=True),
                    "patterns_with_epistemic_drift": 0,
                    "avg_belief_change": 0.0,
                    "avg_belief_entropy": 0.0,
                    "most_unstable": None,
                }
            return {
                "total_patterns": state.total_patterns,
                "patterns_analyzed": analyzed,
                "patterns_with_epistemic_drift": round(ranked.total(2)),
                "avg_belief_change": ranked.total(0) / analyzed,
                "avg_belief_entropy": ranked.total(1) / analyzed,
                "most_unstable": ranked.first(),
            }

    def get_drifting_patterns(
        self,
        drift_threshold: float = 0.2,
        window_size: int = 5,
        limit: int = 20,
    ) -> list[DriftMetrics]:
        """Patterns whose effectiveness drift exceeds the threshold, largest magnitude first.

        Computed from the kept window aggregates (see ``_synced``). Ties keep pattern-id
        order, as Marianne's stable sort over her GROUP BY does.
        """
        _check_window(window_size)
        if window_size == 0:
            drifting = [m for m in self._effectiveness_scan(drift_threshold, 0)
                        if m.threshold_exceeded]
            drifting.sort(key=lambda m: m.drift_magnitude, reverse=True)
            return drifting[:limit]
        return self._effectiveness_ranked(drift_threshold, window_size, drifting=True,
                                          limit=limit)

    def get_pattern_drift_summary(self) -> dict[str, Any]:
        """Effectiveness drift over all patterns with 10+ applications (W=5, threshold 0.2).

        Keys: total_patterns, patterns_analyzed, patterns_drifting, avg_drift_magnitude,
        most_drifted.
        """
        return self._effectiveness_summary_now()

    def get_epistemic_drifting_patterns(
        self,
        drift_threshold: float = 0.15,
        window_size: int = 5,
        limit: int = 20,
    ) -> list[EpistemicDriftMetrics]:
        """Patterns whose epistemic drift exceeds the threshold, largest |change| first."""
        _check_window(window_size)
        if window_size == 0:
            # Marianne divides by W for every qualifying id: ZeroDivisionError.
            with self._connection() as conn:
                windows = self._scan_windows(conn, 0, epistemic=True)
            metrics = [_epistemic_metrics(w, 0, drift_threshold) for w in windows if w.known]
            drifting = [m for m in metrics if m.threshold_exceeded]
            drifting.sort(key=lambda m: abs(m.belief_change), reverse=True)
            return drifting[:limit]
        return self._epistemic_ranked(drift_threshold, window_size, drifting=True,
                                      limit=limit)

    def get_epistemic_drift_summary(self) -> dict[str, Any]:
        """Epistemic drift over all patterns with 10+ grounded applications (W=5, 0.15).

        Keys: total_patterns, patterns_analyzed, patterns_with_epistemic_drift,
        avg_belief_change (signed), avg_belief_entropy, most_unstable.
        """
        return self._epistemic_summary_now()

    # -- 8.5 drift retirement -------------------------------------------------------------

    def _retirement_plan(
        self, drift_threshold: float, window_size: int, require_negative_drift: bool
    ) -> list[tuple[DriftMetrics, str]]:
        drifting = self.get_drifting_patterns(
            drift_threshold=drift_threshold, window_size=window_size, limit=RETIRE_SCAN_LIMIT
        )
        return [
            (metrics, _retirement_reason(metrics))
            for metrics in drifting
            if metrics.threshold_exceeded
            and not (require_negative_drift and metrics.drift_direction != "negative")
        ]

    def retire_drifting_patterns(
        self,
        drift_threshold: float = 0.2,
        window_size: int = 5,
        require_negative_drift: bool = True,
    ) -> list[tuple[str, str, float]]:
        """Set priority 0 (and explain why in ``suggested_action``) on drifting patterns.

        Looks at the 100 largest drifts; with ``require_negative_drift`` only declining
        patterns are retired. Status and ``active`` are left alone, and the next priority
        recalculation brings the pattern back (contract section 8.5).
        """
        plan = self._retirement_plan(drift_threshold, window_size, require_negative_drift)
        if not plan:
            return []
        statement = (
            update(_patterns)
            .where(_patterns.c.id == bindparam("target_id"))
            .values(priority_score=0.0, suggested_action=bindparam("reason"))
        )
        with self._connection() as conn:
            conn.execute(
                statement,
                [{"target_id": m.pattern_id, "reason": reason} for m, reason in plan],
            )
        for metrics, reason in plan:
            self._logger.info("retired pattern %r: %s", metrics.pattern_name, reason)
        return [(m.pattern_id, m.pattern_name, m.drift_magnitude) for m, _ in plan]

    def preview_retire_drifting_patterns(
        self,
        drift_threshold: float = 0.2,
        window_size: int = 5,
        require_negative_drift: bool = True,
    ) -> list[tuple[str, str, float]]:
        """Dry run of ``retire_drifting_patterns``: what it would retire, writing nothing."""
        plan = self._retirement_plan(drift_threshold, window_size, require_negative_drift)
        return [(m.pattern_id, m.pattern_name, m.drift_magnitude) for m, _ in plan]

    def get_retired_patterns(self, limit: int = 50) -> list[PatternRecord]:
        """Patterns with priority exactly 0, most recently seen first (inactive included).

        As in Marianne, these records leave ``active``, ``content_hash`` and
        ``instrument_name`` out: they read True, None and None whatever is stored.
        """
        last_seen = _patterns.c.last_seen.desc()
        if self.is_postgresql:
            last_seen = last_seen.nulls_last()
        statement = with_limit(
            select(_patterns)
            .where(_patterns.c.priority_score == 0)
            .order_by(last_seen, *self._postgresql_ties(_patterns.c.id)),
            limit,
        )
        with self._connection() as conn:
            rows = conn.execute(statement).all()
        return [
            replace(
                pattern_record_from_row(row), active=True, content_hash=None, instrument_name=None
            )
            for row in rows
        ]

    # -- console: both drifts side by side ------------------------------------------------

    def drift_report(
        self,
        *,
        window_size: int = 5,
        drift_threshold: float = 0.2,
        epistemic_threshold: float = 0.15,
        only_exceeding: bool = True,
        limit: int = 200,
        offset: int = 0,
        text: str = "",
    ) -> DriftReport:
        """Effectiveness and epistemic drift of every pattern with enough data, one page.

        Rows are sorted by the larger magnitude whose threshold is exceeded, then by the
        larger magnitude, then by id; a metric is None when the pattern lacks 2W
        (grounded) applications for it. ``offset``/``limit`` pick the page (a negative
        limit: every row from ``offset``) and ``matching`` says how many rows there are in
        all. Everything comes from the kept window aggregates (see ``_synced``); only the
        status and priority of the page's rows are read afresh. ``window_size`` must be at
        least 1 here.

        ``text`` keeps only the rows whose pattern name contains it (case folded); then
        ``matching`` counts those and ``total`` every row the report has.
        """
        if window_size < 1:
            raise ValueError(f"window_size must be >= 1, not {window_size}")
        span = 2 * window_size

        # With the summaries' window and thresholds (the console's defaults) and nothing
        # ranked yet, the summaries' rankings are made from the results the report's
        # ranking works out anyway: each formula then runs once per pattern, not twice.
        # Each summary's entry goes to its ranking as it is worked out (nothing per pattern
        # is held for it but its key: lists of entries held for the summaries took ~30 MB
        # of peak RSS at 100,000 patterns).
        shared = (window_size, drift_threshold, epistemic_threshold) == (
            SUMMARY_WINDOW, SUMMARY_DRIFT_THRESHOLD, SUMMARY_EPISTEMIC_THRESHOLD)
        summaries: tuple[_Ranked, _Ranked] | None = None

        def build(w: _Windows) -> _Entry | None:
            """Larger exceeded magnitude first; rows exceeding nothing after, by magnitude.

            Plain numbers only: the records are built for the page (``row``).
            """
            (pattern_id, eff_rows, recent_successes, older_successes, grounding_sum,
             grounding_count, epi_rows, recent_grounding, older_grounding, squares,
             name, _, _) = w
            if name is None:  # not w.known
                return None
            # -1.0: nothing exceeded; each larger value replaces the one before, as max().
            exceeded = -1.0
            magnitude = 0.0
            if eff_rows >= span:
                _, _, _, _, eff_magnitude, eff_exceeded = effectiveness_drift_numbers(
                    recent_successes, older_successes, grounding_sum, grounding_count,
                    window_size, drift_threshold)
                if eff_magnitude > magnitude:
                    magnitude = eff_magnitude
                if eff_exceeded and eff_magnitude > exceeded:
                    exceeded = eff_magnitude
                if summaries is not None:
                    summaries[0].add(pattern_id, _effectiveness_entry(eff_magnitude, eff_exceeded))
            if epi_rows >= span:
                _, _, change, entropy, epi_exceeded = epistemic_drift_numbers(
                    recent_grounding, older_grounding, squares, window_size,
                    epistemic_threshold)
                epi_magnitude = abs(change)
                if epi_magnitude > magnitude:
                    magnitude = epi_magnitude
                if epi_exceeded and epi_magnitude > exceeded:
                    exceeded = epi_magnitude
                if summaries is not None:
                    summaries[1].add(pattern_id, _epistemic_entry(change, entropy, epi_exceeded))
            if only_exceeding and exceeded == -1.0:
                return None
            return (-exceeded, -magnitude), ()

        def row(pattern_id: str | None) -> DriftRow:
            w = state.windows[window_size][pattern_id]
            kept = kept_rows.get(pattern_id)
            if kept is not None and kept[0] is w:  # the same windows: the same row
                shown_rows[pattern_id] = kept
                return kept[1]
            effectiveness, epistemic = _report_results(
                state, w, span, window_size, drift_threshold, epistemic_threshold
            )
            built = DriftRow(
                pattern_id=str(w.pattern_id),
                pattern_name=str(w.name),
                status=w.status or "pending",
                priority=_shown_priority(w.priority),
                effectiveness=None if effectiveness is None else _effectiveness_metrics(
                    w, window_size, drift_threshold, effectiveness),
                epistemic=None if epistemic is None else _epistemic_metrics(
                    w, window_size, epistemic_threshold, epistemic),
            )
            shown_rows[pattern_id] = (w, built)
            return built

        with self._reading():
            state = self._kept(window_size)
            report_key = (
                "report", window_size, drift_threshold, epistemic_threshold, only_exceeding)
            if shared and not {report_key, _EFFECTIVENESS_SUMMARY, _EPISTEMIC_SUMMARY} & set(
                state.ranked
            ):
                windows = state.windows[window_size]
                summaries = (_Ranked(_effectiveness_summary_entry, windows),
                             _Ranked(_epistemic_summary_entry, windows))
            ranked = state.rank(report_key, build).ids
            if summaries is not None:
                for summary_key, made in zip(
                    (_EFFECTIVENESS_SUMMARY, _EPISTEMIC_SUMMARY), summaries, strict=True
                ):
                    made.finish()
                    state.ranked[summary_key] = made
                summaries = None
            total = len(ranked)
            needle = text.strip().casefold()
            if needle:
                windows = state.windows[window_size]
                ranked = [i for i in ranked if needle in str(windows[i].name).casefold()]
            start = max(0, offset)
            # The rows of the last page are kept, so a refresh rebuilds only the rows
            # whose windows changed.
            page_key = (window_size, drift_threshold, epistemic_threshold)
            kept_rows = state.page_rows.get(page_key, {})
            shown_rows: dict[str | None, tuple[_Windows, DriftRow]] = {}
            page = [row(i) for i in (ranked[start:] if limit < 0
                                     else ranked[start:start + limit])]
            # Rows kept from earlier calls stay too, for every set of thresholds, up to a
            # bound: the alerts' watch reads one row between two reads of the Drift
            # screen's page (with the screen's thresholds or other ones), which would
            # otherwise rebuild that page's rows every time. A kept row is used only while
            # its windows are the same object, so keeping more is never stale.
            state.page_rows[page_key] = {**kept_rows, **shown_rows}
            if sum(len(rows) for rows in state.page_rows.values()) > _KEPT_REPORT_ROWS:
                state.page_rows = {page_key: shown_rows}
            matching = len(ranked)
            summary = self._effectiveness_summary_now()
            epistemic_summary = self._epistemic_summary_now()
        return DriftReport(
            rows=tuple(self._with_current_state(page)),
            window_size=window_size,
            drift_threshold=drift_threshold,
            epistemic_threshold=epistemic_threshold,
            summary=summary,
            epistemic_summary=epistemic_summary,
            matching=matching,
            offset=start,
            total=total,
            text=text.strip(),
        )

    def _with_current_state(self, rows: Sequence[DriftRow]) -> list[DriftRow]:
        """The rows with the status and priority stored now (they change without drift)."""
        if not rows:
            return []
        p = _patterns.c
        statement = self._built(
            "current state",
            lambda: select(p.id, p.quarantine_status, p.priority_score).where(
                in_bound_list(p.id, "ids", postgresql=self.is_postgresql)
            ),
        )
        current: dict[str, tuple[str | None, float | None]] = {}
        ids = [row.pattern_id for row in rows]
        # Each chunk is a read of its own rows: no snapshot in common is needed.
        with self._reads_connection() as conn:
            for start in range(0, len(ids), _IDS_PER_STATEMENT):
                for pattern_id, status, priority in conn.execute(
                    statement, {"ids": ids[start:start + _IDS_PER_STATEMENT]}
                ):
                    current[pattern_id] = (status, priority)
        fresh = []
        for row in rows:
            status, priority = current.get(row.pattern_id, (row.status, row.priority))
            status, priority = status or "pending", _shown_priority(priority)
            if (status, priority) != (row.status, row.priority):
                row = replace(row, status=status, priority=priority)
            fresh.append(row)
        return fresh

    # -- optional index -----------------------------------------------------------------

    def add_drift_index(self) -> bool:
        """Opt in to an index that serves the drift windows. Never done on open.

        Creates, under the name :data:`APPLICATION_ORDER_INDEX`, an index of
        ``pattern_applications`` on ``(pattern_id, applied_at DESC, id DESC)`` that also
        carries ``pattern_led_to_success`` and ``grounding_confidence``, and returns True if
        it was created. With it, each pattern's newest 2W applications are a short range of
        the index, read without touching the table and without sorting (see
        ``_indexed_window_statement``). Marianne ignores an extra index, but it does change
        the file's schema (and grows it by about 100 bytes per application), which
        is why this is a separate, explicit step (contract section 13.4).
        """
        self._assert_writable()
        if self.is_postgresql:
            definition = (
                'pattern_id, applied_at DESC NULLS LAST, id COLLATE "C" DESC) '
                "INCLUDE (pattern_led_to_success, grounding_confidence"
            )
        else:
            definition = (
                "pattern_id, applied_at DESC, id DESC, pattern_led_to_success, "
                "grounding_confidence"
            )
        with self._connection() as conn:
            existed = self._has_drift_index(conn)
            conn.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS {APPLICATION_ORDER_INDEX} "
                f"ON pattern_applications ({definition})"
            )
        return not existed

    def drop_drift_index(self) -> bool:
        """Remove the index :meth:`add_drift_index` created; True if it existed."""
        self._assert_writable()
        with self._connection() as conn:
            existed = self._has_drift_index(conn)
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {APPLICATION_ORDER_INDEX}")
        return existed

    def has_drift_index(self) -> bool:
        """Whether the optional drift index is there (the console offers it when not)."""
        with self._connection() as conn:
            return self._has_drift_index(conn)

    def _has_drift_index(self, conn: Connection) -> bool:
        names = {index["name"] for index in inspect(conn).get_indexes("pattern_applications")}
        return APPLICATION_ORDER_INDEX in names

    # -- 8.6 evolution trajectory ---------------------------------------------------------

    def record_evolution_entry(
        self,
        cycle: int | None = None,
        evolutions_completed: int | None = None,
        evolutions_deferred: int | None = None,
        issue_classes: list[str] | None = None,
        cv_avg: float | None = None,
        implementation_loc: int | None = None,
        test_loc: int | None = None,
        loc_accuracy: float | None = None,
        research_candidates_resolved: int = 0,
        research_candidates_created: int = 0,
        notes: str = "",
        *,
        entry: EvolutionEntryInput | None = None,
    ) -> str:
        """Record one evolution cycle; ``entry`` replaces every argument when given.

        Raises:
            TypeError: a required value is None.
            sqlite3.IntegrityError (the driver's own error): the cycle is already recorded.
        """
        if entry is not None:
            cycle = entry.cycle
            evolutions_completed = entry.evolutions_completed
            evolutions_deferred = entry.evolutions_deferred
            issue_classes = entry.issue_classes
            cv_avg = entry.cv_avg
            implementation_loc = entry.implementation_loc
            test_loc = entry.test_loc
            loc_accuracy = entry.loc_accuracy
            research_candidates_resolved = entry.research_candidates_resolved
            research_candidates_created = entry.research_candidates_created
            notes = entry.notes
        if cycle is None or evolutions_completed is None or evolutions_deferred is None:
            raise TypeError("cycle, evolutions_completed, evolutions_deferred are required")
        if issue_classes is None or cv_avg is None:
            raise TypeError("issue_classes, cv_avg are required")
        if implementation_loc is None or test_loc is None or loc_accuracy is None:
            raise TypeError("implementation_loc, test_loc, loc_accuracy are required")

        entry_id = str(uuid.uuid4())
        with self._connection() as conn:
            conn.execute(
                insert(_trajectory).values(
                    id=entry_id,
                    cycle=cycle,
                    recorded_at=self._now_local(),
                    evolutions_completed=evolutions_completed,
                    evolutions_deferred=evolutions_deferred,
                    # Encoded here so that a caller's string is stored as a JSON string,
                    # as json.dumps does in Marianne.
                    issue_classes=json.dumps(issue_classes),
                    cv_avg=cv_avg,
                    implementation_loc=implementation_loc,
                    test_loc=test_loc,
                    loc_accuracy=loc_accuracy,
                    research_candidates_resolved=research_candidates_resolved,
                    research_candidates_created=research_candidates_created,
                    notes=notes,
                )
            )
        self._logger.info(
            "recorded evolution cycle %s: %s completed, %s deferred",
            cycle, evolutions_completed, evolutions_deferred,
        )
        return entry_id

    def record_evolution_cycle(
        self,
        cycle_number: int,
        candidates_generated: int,
        candidates_applied: int,
        changes_summary: str,
        outcome: Literal["SUCCESS", "PARTIAL", "DEFERRED"],
        learning_snapshot: dict[str, Any],
    ) -> str:
        """The short form of ``record_evolution_entry`` used by evolution cycles."""
        return self.record_evolution_entry(
            cycle=cycle_number,
            evolutions_completed=candidates_applied,
            evolutions_deferred=candidates_generated - candidates_applied,
            issue_classes=[outcome.lower()],
            cv_avg=0.0,
            implementation_loc=0,
            test_loc=0,
            loc_accuracy=1.0,
            research_candidates_resolved=0,
            research_candidates_created=0,
            notes=(
                f"{changes_summary}\n\nOutcome: {outcome}"
                f"\nLearning snapshot: {json.dumps(learning_snapshot)}"
            ),
        )

    def get_trajectory(
        self,
        start_cycle: int | None = None,
        end_cycle: int | None = None,
        limit: int = 50,
    ) -> list[EvolutionTrajectoryEntry]:
        """Trajectory entries within the inclusive cycle bounds, highest cycle first."""
        t = _trajectory.c
        statement = select(_trajectory)
        if start_cycle is not None:
            statement = statement.where(t.cycle >= start_cycle)
        if end_cycle is not None:
            statement = statement.where(t.cycle <= end_cycle)
        statement = with_limit(statement.order_by(t.cycle.desc()), limit)
        with self._connection() as conn:
            rows = conn.execute(statement).mappings().all()
        return [
            EvolutionTrajectoryEntry(
                id=row["id"],
                cycle=row["cycle"],
                recorded_at=row["recorded_at"],
                evolutions_completed=row["evolutions_completed"],
                evolutions_deferred=row["evolutions_deferred"],
                issue_classes=row["issue_classes"],
                cv_avg=row["cv_avg"],
                implementation_loc=row["implementation_loc"],
                test_loc=row["test_loc"],
                loc_accuracy=row["loc_accuracy"],
                research_candidates_resolved=row["research_candidates_resolved"] or 0,
                research_candidates_created=row["research_candidates_created"] or 0,
                notes=row["notes"] or "",
            )
            for row in rows
        ]

    def get_evolution_history(self, last_n: int = 10) -> list[EvolutionTrajectoryEntry]:
        """The last ``last_n`` cycles, highest first."""
        return self.get_trajectory(limit=last_n)

    def get_recurring_issues(
        self,
        min_occurrences: int = 2,
        window_cycles: int | None = None,
        *,
        limit: int = RECURRING_ISSUES_ROW_LIMIT,
    ) -> dict[str, list[int]]:
        """Issue classes seen in at least ``min_occurrences`` cycles, with those cycles.

        ``window_cycles`` keeps only the latest that many cycles. Cycle lists are sorted
        descending; keys come in the order first seen from the latest cycle down.
        ``limit`` (not in Marianne) bounds the rows read when no window is given.
        """
        t = _trajectory.c
        statement = select(t.cycle, t.issue_classes).order_by(t.cycle.desc())
        bound = window_cycles if window_cycles is not None and window_cycles >= 0 else limit
        statement = with_limit(statement, bound)
        with self._connection() as conn:
            rows = conn.execute(statement).all()
        cycles_by_issue: dict[str, list[int]] = {}
        for row in rows:
            cycle: int = row[0]
            issues: list[str] = row[1]
            for issue in issues:
                cycles_by_issue.setdefault(issue, []).append(cycle)
        return {
            issue: sorted(cycles, reverse=True)
            for issue, cycles in cycles_by_issue.items()
            if len(cycles) >= min_occurrences
        }

