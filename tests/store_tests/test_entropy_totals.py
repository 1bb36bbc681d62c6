"""The entropy from running totals (store.metrics.entropy_from_totals), by hand."""

from __future__ import annotations

import math

import pytest

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
