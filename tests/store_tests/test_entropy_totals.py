"""The entropy from running totals (store.metrics.entropy_from_totals), by hand."""

from __future__ import annotations

import math

import pytest

from store.drift import _Counts, _fixed
from store.metrics import entropy_from_totals, entropy_of_counts, weighted_log


def _from_counts(counts: list[int]) -> object:
    positive = [c for c in counts if c > 0]
    return entropy_from_totals(
        sum(positive), sum(weighted_log(c) for c in positive), len(positive),
        max(positive, default=0),
    )


def test_one_two_three_four() -> None:
    # T = 10; sum c log2 c = 0 + 2 + 3 log2 3 + 8 = 14.7548875; H = log2 10 - 1.47548875.
    result = entropy_from_totals(10, 2 + 3 * math.log2(3) + 8, 4, 4)
    assert result.shannon_entropy == pytest.approx(1.8464393, abs=1e-7)
    assert result.max_possible_entropy == 2.0
    assert result.diversity_index == pytest.approx(1.8464393 / 2, abs=1e-7)
    assert result.effective_pattern_count == 4
    assert result.total_applications == 10
    assert result.dominant_pattern_share == 0.4


def test_even_counts_reach_the_maximum() -> None:
    result = entropy_from_totals(12, 4 * weighted_log(3), 4, 3)
    assert result.shannon_entropy == pytest.approx(2.0)
    assert result.diversity_index == pytest.approx(1.0)


def test_one_applied_pattern_is_minus_zero_and_nothing_applied_is_zero() -> None:
    single = entropy_from_totals(7, weighted_log(7), 1, 7)
    assert single.shannon_entropy == 0.0 and math.copysign(1.0, single.shannon_entropy) == -1.0
    assert (single.max_possible_entropy, single.dominant_pattern_share) == (1.0, 1.0)
    assert entropy_from_totals(0, 0.0, 0, 0) == entropy_of_counts([])
    assert weighted_log(0) == 0.0


@pytest.mark.parametrize("counts", [[1, 1], [5, 1, 1, 1], [100, 3, 0, 0, 7], [2] * 50])
def test_agrees_with_the_sum_over_shares(counts: list[int]) -> None:
    expected = entropy_of_counts(counts)
    got = _from_counts(counts)
    assert vars(got) == pytest.approx(vars(expected))


def test_counts_made_at_once_are_the_counts_set_one_by_one() -> None:
    by_row: dict[str | None, int] = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 0, None: 2, "f": 2}
    made = _Counts(dict(by_row))
    one_by_one = _Counts({})
    for pattern_id, count in by_row.items():
        one_by_one.set(pattern_id, count)
    for counts in (made, one_by_one):
        assert (counts.total, counts.applied, counts.sizes) == (14, 6, {1: 1, 2: 3, 3: 1, 4: 1})
        # sum c log2 c = 0 + 3 * 2 + 3 log2 3 + 8 exactly, scaled: as the terms one by one.
        assert counts.weighted == sum(_fixed(weighted_log(c)) for c in (1, 2, 2, 2, 3, 4))
    assert made.entropy() == one_by_one.entropy()
    # T = 14: H = log2 14 - (14 + 3 log2 3) / 14 = 3.8073549 - 1.3396348 = 2.4677201.
    assert made.entropy().shannon_entropy == pytest.approx(2.4677201, abs=1e-7)
    made.set("d", 0)
    made.set(None, None)
    # Left: 1, 2, 3, 2; T = 8: H = 3 - (0 + 2 + 3 log2 3 + 2) / 8 = 3 - 1.0943609.
    assert (made.total, made.applied, made.sizes) == (8, 4, {1: 1, 2: 2, 3: 1})
    assert made.entropy().shannon_entropy == pytest.approx(1.9056391, abs=1e-7)
