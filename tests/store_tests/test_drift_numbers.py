"""The drift formulas as plain numbers, and the exact totals of the summaries, by hand.

The scans rank every pattern from ``effectiveness_drift_numbers`` and
``epistemic_drift_numbers`` and build result records only for the rows they return, so the
numbers must be the records' fields to the bit. The summaries' averages come from exact
sums (``store.drift._sum_exactly``, kept up to date by ``_exact_parts``/``_add_exactly``),
which must not depend on the order patterns were added and taken away in.
"""

from __future__ import annotations

import math
import random

import pytest

from store.drift import _add_exactly, _exact_parts, _Ranked, _sum_exactly, _Windows
from store.metrics import (
    effectiveness_drift,
    effectiveness_drift_numbers,
    epistemic_drift,
    epistemic_drift_numbers,
)


def test_effectiveness_numbers_of_the_contract_vector() -> None:
    # Newest five are failures, the five before successes; groundings 0.9 .. 0.45 (8.1).
    before, after, average, change, magnitude, exceeded = effectiveness_drift_numbers(
        0, 5, 6.75, 10, 5, 0.2
    )
    assert before == 5.5 / 6 and after == 0.5 / 6
    assert average == 0.675
    assert change == pytest.approx(-5 / 6) and magnitude == -change
    assert exceeded  # 0.8333 / 0.675 = 1.23 > 0.2


def test_effectiveness_numbers_without_grounding_and_below_the_floor() -> None:
    # No grounding: average 1.0. change = 3.5/6 - 2.5/6 = 0.1667: > 0.15, not > 0.2.
    change = 3.5 / 6 - 2.5 / 6
    assert effectiveness_drift_numbers(3, 2, 0.0, 0, 5, 0.15)[2:] == (
        1.0, change, change, True)
    assert effectiveness_drift_numbers(3, 2, 0.0, 0, 5, 0.2)[5] is False
    # Grounding 0.1 on average is floored at 0.5: 0.1667 / 0.5 = 0.333 > 0.3.
    assert effectiveness_drift_numbers(3, 2, 0.4, 4, 5, 0.3)[5] is True
    assert effectiveness_drift_numbers(3, 2, 0.4, 4, 5, 0.34)[5] is False


def test_epistemic_numbers_of_the_contract_vector() -> None:
    # Recent 0.65 .. 0.45 (sum 2.75), older 0.9 .. 0.7 (sum 4.0), squares sum 4.7625.
    before, after, change, entropy, exceeded = epistemic_drift_numbers(
        2.75, 4.0, 4.7625, 5, 0.15
    )
    assert (before, after) == (0.8, 0.55)
    assert change == pytest.approx(-0.25)
    # variance 0.47625 - 0.675^2 = 0.020625; sigma / mu = 0.1436 / 0.675 = 0.2128
    assert entropy == pytest.approx(math.sqrt(0.020625) / 0.675)
    assert exceeded  # 0.25 * 1.2128 = 0.303 > 0.15
    assert epistemic_drift_numbers(2.75, 4.0, 4.7625, 5, 0.31)[4] is False


def test_epistemic_numbers_of_zero_grounding_and_zero_window() -> None:
    assert epistemic_drift_numbers(0.0, 0.0, 0.0, 2, 0.0) == (0.0, 0.0, 0.0, 0.0, False)
    with pytest.raises(ZeroDivisionError):
        epistemic_drift_numbers(0.0, 0.0, 0.0, 0, 0.1)


def _same(a: object, b: object) -> bool:
    """The same value: floats to the bit (NaN is NaN, -0.0 is not 0.0), others by ==."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return a == b


def test_the_numbers_are_the_records_fields_to_the_bit() -> None:
    rng = random.Random(11)
    odd = [math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324]
    for _ in range(2000):
        window = rng.randint(1, 8)
        grounding = [rng.choice([rng.random(), rng.choice(odd)]) for _ in range(3)]
        recent, older = rng.randint(0, window), rng.randint(0, window)
        count = rng.randint(0, 2 * window)
        threshold = rng.choice([0.0, 0.15, 0.2, rng.random()])
        numbers = effectiveness_drift_numbers(
            recent, older, grounding[0], count, window, threshold)
        record = effectiveness_drift(recent, older, grounding[0], count, window, threshold)
        fields = (record.effectiveness_before, record.effectiveness_after,
                  record.grounding_confidence_avg, record.drift, record.drift_magnitude,
                  record.threshold_exceeded)
        assert all(map(_same, numbers, fields))
        numbers_e = epistemic_drift_numbers(*grounding, window, threshold)
        record_e = epistemic_drift(*grounding, window, threshold)
        fields_e = (record_e.confidence_before, record_e.confidence_after,
                    record_e.belief_change, record_e.belief_entropy,
                    record_e.threshold_exceeded)
        assert all(map(_same, numbers_e, fields_e))


def test_exact_sums_round_once() -> None:
    # Left to right, 0.1 ten times is 0.9999999999999999; exactly, it rounds to 1.0.
    assert sum([0.1] * 10) != 1.0
    assert _sum_exactly([0.1] * 10) == 1.0
    assert _sum_exactly([1e16, 1.0, -1e16]) == 1.0
    assert _sum_exactly([]) == 0.0
    # Finite numbers whose running total overflows still have a finite exact sum.
    assert _sum_exactly([1.7e308, 1.7e308, -1.7e308]) == 1.7e308
    assert math.isnan(_sum_exactly([1.0, math.nan]))


def test_exact_parts_hold_the_exact_total() -> None:
    parts = _exact_parts([1e16, 1.0, 1.0])
    assert math.fsum(parts) == 1e16 + 2.0 and len(parts) == 1
    parts = _exact_parts([1.0, 2.0**-80, 2.0**-80])
    assert parts == [2.0**-79, 1.0]  # the rest below 1.0's last bit, kept apart
    assert _exact_parts([]) == [] and _exact_parts([0.5, -0.5]) == []
    for bad in ([1.0, math.inf], [math.nan], [1.7e308, 1.7e308]):
        with pytest.raises((ValueError, OverflowError)):
            _exact_parts(bad)


def test_adding_and_taking_away_in_any_order_gives_the_full_sum() -> None:
    rng = random.Random(5)
    for _ in range(300):
        values = [rng.choice([rng.random(), -rng.random(), 0.1, 1e-17, 3.0]) for _ in
                  range(rng.randint(0, 40))]
        kept = values[: len(values) // 2]
        parts = _exact_parts(kept)
        # Take the kept ones away again in another order, add all of them in another.
        for value in rng.sample(kept, len(kept)):
            _add_exactly(parts, -value)
        for value in rng.sample(values, len(values)):
            _add_exactly(parts, value)
        assert math.fsum(parts) == math.fsum(values) == _sum_exactly(values)
    parts = [1e308]
    with pytest.raises(OverflowError):
        _add_exactly(parts, 1e308)


def _ranking(entries: dict[str | None, float]) -> _Ranked:
    """A ranking by one key number (ties by id order), made but not sorted yet."""
    windows = {pattern_id: _Windows(pattern_id) for pattern_id in entries}
    ranked = _Ranked(lambda w: ((entries[w.pattern_id],), (entries[w.pattern_id],)), windows)
    ranked.fill()
    return ranked


def test_the_first_of_an_unsorted_ranking_is_the_first_of_the_sorted_one() -> None:
    rng = random.Random(8)
    for _ in range(200):
        ids: list[str | None] = rng.sample(["a", "b", "c", "d", "e", "é", "B", None], 5)
        keys = {i: rng.choice([-0.5, -0.25, -0.0, 0.0, -math.inf]) for i in ids}
        first = _ranking(keys).first()
        expected = min(ids, key=lambda i: (keys[i], i is not None, i or ""))
        assert first == expected == _ranking(keys).ids[0]


def test_a_ranking_with_nan_sorts_for_its_first() -> None:
    keys = {"a": -0.5, "b": math.nan, "c": -0.75}
    assert _ranking(keys).first() == _ranking(keys).ids[0]
    assert _ranking({"x": -1.0}).first() == "x"


class _Changing:
    """A ranking by one key number, with two numbers to total, whose windows change.

    Each change gives the pattern new windows (a new ``eff_rows``, its version), so the
    build finds the old entry again from the old windows, as the store's builds do.
    """

    def __init__(self, entries: dict[str | None, tuple[float, float]]) -> None:
        self.entries: dict[tuple[str | None, int], tuple[float, float]] = {}
        self.windows: dict[str | None, _Windows] = {}
        self.version = 0
        for pattern_id, entry in entries.items():
            self.windows[pattern_id] = self._windows(pattern_id, entry)
        self.ranked = self.fresh()

    def _windows(self, pattern_id: str | None, entry: tuple[float, float] | None) -> _Windows:
        self.version += 1
        if entry is not None:
            self.entries[pattern_id, self.version] = entry
        return _Windows(pattern_id, eff_rows=self.version)

    def build(self, w: _Windows) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        entry = self.entries.get((w.pattern_id, w.eff_rows))
        return None if entry is None else ((entry[0],), (entry[1], 1.0))

    def fresh(self) -> _Ranked:
        ranked = _Ranked(self.build, self.windows)
        ranked.fill()
        return ranked

    def change(self, pattern_id: str | None, entry: tuple[float, float] | None) -> None:
        """The pattern now ranks by ``entry`` (None: it leaves the ranking)."""
        old = self.windows.get(pattern_id)
        new = self.windows[pattern_id] = self._windows(pattern_id, entry)
        self.ranked.update(pattern_id, old, new)


def test_a_changed_ranking_stays_unsorted_for_its_first_and_totals() -> None:
    changing = _Changing({"a": (-0.5, 0.1), "b": (-0.25, 0.2), "c": (-0.75, 0.3)})
    ranked = changing.ranked
    # Exactly, 0.1 + 0.2 + 0.3 rounds to 0.6; left to right it is 0.6000000000000001.
    assert ranked.first() == "c" and ranked.total(0) == 0.6 != 0.1 + 0.2 + 0.3
    assert ranked.parts is not None  # worked out with the first total, not at a change
    changing.change("c", (-0.1, 0.4))  # the first one falls behind: "a" is first now
    changing.change("d", (-0.5, 0.0))  # ties with "a": "a" stays first (id order)
    assert ranked._unsorted and len(ranked) == 4
    assert ranked.first() == "a"
    assert ranked.total(0) == 0.7000000000000001  # 0.1 + 0.2 + 0.4, exactly, rounded
    assert ranked.total(1) == 4.0
    changing.change("a", None)
    assert ranked.first() == "d" and len(ranked) == 3 and ranked.total(1) == 3.0
    changing.change(None, (-0.5, 0.0))  # the NULL id ties first in id order
    assert ranked.first() is None
    assert ranked._unsorted
    assert ranked.ids == [None, "d", "b", "c"] == changing.fresh().ids


def test_a_dead_entry_below_the_others_is_never_the_first() -> None:
    changing = _Changing({"a": (-3.0, 0.0), "b": (-2.0, 0.0), "c": (-1.0, 0.0)})
    ranked = changing.ranked
    assert ranked.first() == "a"
    changing.change("a", (0.0, 0.0))  # its old key (-3.0) stays in the column, dead
    changing.change("b", None)
    assert ranked.first() == "c"
    changing.change("c", (1.0, 0.0))
    assert ranked.first() == "a"
    assert ranked.ids == ["a", "c"]


def test_an_unsorted_ranking_changed_many_times_is_a_fresh_one() -> None:
    rng = random.Random(12)
    names: list[str | None] = [None, "a", "b", "B", "é", "c", "d", "e", "f", "g"]
    keys = [-0.5, -0.25, -0.0, 0.0, -math.inf, -1.0, -0.1]
    for _ in range(60):
        changing = _Changing({i: (rng.choice(keys), rng.random()) for i in
                              rng.sample(names, rng.randint(0, len(names)))})
        ranked = changing.ranked
        for step in range(rng.randint(1, 200)):
            pattern_id = rng.choice(names)
            entry = None if rng.random() < 0.3 else (rng.choice(keys), rng.choice(
                [rng.random(), 0.1, 1e-17, -rng.random()]))
            changing.change(pattern_id, entry)
            if step % 7 and len(ranked):
                fresh = changing.fresh()
                assert ranked.first() == fresh.first() == fresh.ids[0]
                assert len(ranked) == len(fresh)
                assert ranked.total(0) == fresh.total(0)
                assert ranked.total(1) == fresh.total(1)
        assert len(ranked._ids) <= 2 * len(ranked) + 64  # the dead ones do not pile up
        assert ranked.ids == changing.fresh().ids


def test_a_nan_key_arriving_in_an_unsorted_ranking_sorts_it() -> None:
    changing = _Changing({"a": (-0.5, 1.0), "b": (-0.25, 1.0)})
    ranked = changing.ranked
    assert ranked.first() == "a" and ranked._unsorted
    changing.change("c", (math.nan, 1.0))
    first = ranked.first()
    assert not ranked._unsorted and first == ranked.ids[0]
    assert ranked.total(1) == 3.0


def test_an_empty_ranking_takes_entries() -> None:
    changing = _Changing({})
    ranked = changing.ranked
    assert len(ranked) == 0 and ranked.total(0) == 0.0
    changing.change("b", (-1.0, 0.25))
    changing.change("a", (-1.0, 0.5))
    assert ranked.first() == "a" and ranked.total(0) == 0.75
    # Emptied while unsorted, then filled again.
    changing = _Changing({"a": (-1.0, 0.5)})
    ranked = changing.ranked
    assert ranked.first() == "a"
    changing.change("a", None)
    assert len(ranked) == 0 and ranked.total(0) == 0.0
    changing.change("b", (2.0, 0.25))
    assert ranked.first() == "b" and ranked.total(0) == 0.25 and ranked.ids == ["b"]
