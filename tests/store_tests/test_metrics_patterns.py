"""Effectiveness, priority and trust as pure formulas (contract sections 5.3, 5.4, 5.8).

Every expected value is worked out by hand in the comment beside it; no database.
"""

from __future__ import annotations

import math

import pytest

from store import metrics


def test_effectiveness_vector_two_successes_one_failure() -> None:
    # H = 2.5/4 = 0.625; R = 2/3; no grounding -> G = 1 -> weight 1.0; d = 0.
    # E = 0.7*2/3 + 0.3*0.625 = 0.4666667 + 0.1875 = 0.6541667
    value = metrics.effectiveness(2, 1, [True, True, False], [None, None, None], 0)
    assert value == pytest.approx(0.6541667, abs=1e-7)
    # Priority at one occurrence: frequency 0.6 -> 0.3925
    assert metrics.priority(value, 1, 0.0) == pytest.approx(0.3925, abs=1e-7)


def test_effectiveness_seven_application_vector() -> None:
    # s=5, f=2: H = 5.5/8 = 0.6875. The five latest, newest first:
    # (ok,0.6) (fail,0.1) (ok,-) (ok,0.2) (fail,0.9) -> R = 3/5 = 0.6,
    # G = (0.6+0.1+0.2+0.9)/4 = 0.45 -> weight 0.7 + 0.135 = 0.835.
    # E = (0.42 + 0.20625) * 0.835 = 0.52291875
    outcomes = [True, False, True, True, False]
    grounding = [0.6, 0.1, None, 0.2, 0.9]
    value = metrics.effectiveness(5, 2, outcomes, grounding, 0)
    assert value == pytest.approx(0.52291875, abs=1e-12)
    # occurrence 99 -> frequency log10(100)/2 = 1.0; variance 0.2 -> * 0.8 = 0.418335
    assert metrics.priority(value, 99, 0.2) == pytest.approx(0.418335, abs=1e-12)
    # 60 days -> decay 0.9^2 = 0.81 -> 0.4235641875
    aged = metrics.effectiveness(5, 2, outcomes, grounding, 60)
    assert aged == pytest.approx(0.4235641875, abs=1e-12)


def test_effectiveness_cold_start_is_055_below_three_applications() -> None:
    assert metrics.effectiveness(0, 0, [], [], 0) == 0.55
    assert metrics.effectiveness(2, 0, [True, True], [0.0, 0.0], 400) == 0.55
    assert metrics.effectiveness(1, 1, [True, False], [None, None], 0) == 0.55


def test_effectiveness_without_recent_rows_uses_the_historical_rate() -> None:
    # s=3, f=1: H = 3.5/5 = 0.7, R = H -> 0.7; weight 1.0
    assert metrics.effectiveness(3, 1, [], [], 0) == pytest.approx(0.7, abs=1e-12)


def test_effectiveness_is_not_clamped() -> None:
    # s=3, f=0: H = 3.5/4 = 0.875, R = 1 -> 0.7 + 0.2625 = 0.9625;
    # G = 5.0 -> weight 0.7 + 1.5 = 2.2 -> 2.1175 (the contract's observed value)
    value = metrics.effectiveness(3, 0, [True, True, True], [5.0, 5.0, 5.0], 0)
    assert value == pytest.approx(2.1175, abs=1e-12)


def test_effectiveness_decay_grows_for_a_future_confirmation() -> None:
    # d = -30 -> 0.9^-1 = 1.1111; H = 0.625, R = 2/3 as in the first vector
    value = metrics.effectiveness(2, 1, [True, True, False], [None] * 3, -30)
    assert value == pytest.approx(0.6541667 / 0.9, abs=1e-6)


def test_whole_days_floors_like_timedelta_days() -> None:
    assert metrics.whole_days(86399) == 0
    assert metrics.whole_days(86400) == 1
    assert metrics.whole_days(-1) == -1
    assert metrics.whole_days(60 * 86400 + 5) == 60


@pytest.mark.parametrize(
    ("occurrences", "expected"),
    [
        (1, 0.6),
        (14, 0.6),  # log10(15)/2 = 0.588 -> floor 0.6
        (15, 0.60206),  # log10(16)/2 = 0.6020600
        (50, 0.853785),  # log10(51)/2 = 1.7075702/2 = 0.8537851
        (99, 1.0),
        (10_000, 1.0),
    ],
)
def test_frequency_factor(occurrences: int, expected: float) -> None:
    assert metrics.frequency_factor(occurrences) == pytest.approx(expected, abs=1e-6)


def test_frequency_factor_contract_roundings() -> None:
    assert round(metrics.frequency_factor(15), 3) == 0.602
    assert round(metrics.frequency_factor(50), 3) == 0.854


def test_priority_clamps_to_zero_and_one() -> None:
    assert metrics.priority(0.55, 1, 0.0) == pytest.approx(0.33, abs=1e-12)
    assert metrics.priority(0.5, 1, 1.5) == 0.0  # variance above 1 -> negative -> 0
    assert metrics.priority(2.1175, 99, 0.0) == 1.0
    assert metrics.priority(math.nan, 1, 0.0) == 1.0  # as Python's min/max do in Marianne


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        # occurrence 4, s=2, f=1, d=0: 0.5 + 0.3*0.5 - 0.4*0.25 + 0.2 = 0.75
        ("pending", 0.75),
        ("validated", 0.85),
        ("quarantined", 0.55),
        ("retired", 0.75),
    ],
)
def test_trust_by_status(status: str, expected: float) -> None:
    assert metrics.trust(4, 2, 1, 0, status) == pytest.approx(expected, abs=1e-12)


def test_trust_age_and_clamps() -> None:
    # d = 60: age term 0.2 * 0.81 = 0.162 -> 0.5 + 0.15 - 0.1 + 0.162 = 0.712
    assert metrics.trust(4, 2, 1, 60, "pending") == pytest.approx(0.712, abs=1e-12)
    # occurrence 0 counts as 1; ratios capped at 1: 0.5 + 0.3 + 0.2 + 0.1 = 1.1 -> 1.0
    assert metrics.trust(0, 3, 0, 0, "validated") == 1.0
    # all failures, quarantined: 0.5 - 0.4 + 0.2 - 0.2 = 0.1
    assert metrics.trust(1, 0, 5, 0, "quarantined") == pytest.approx(0.1, abs=1e-12)
    # very old and failing: 0.5 - 0.4 + 0.2*0.9^100 - 0.2 < 0 -> 0.0
    assert metrics.trust(1, 0, 1, 3000, "quarantined") == 0.0
