"""The store's formulas as pure functions: no database, no clock, no I/O.

Each function reproduces one formula of the store contract exactly (section numbers in the
docstrings). The domain modules feed them numbers read from SQL, and where a module computes
in SQL for speed (drift, entropy over every pattern) these functions are the reference the
SQL is tested against.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "AppliedOutcome",
    "BudgetStep",
    "EffectivenessDriftResult",
    "EntropySummary",
    "EpistemicDriftResult",
    "budget_step",
    "clamp",
    "clamp_budget",
    "drift_direction",
    "effectiveness",
    "effectiveness_drift",
    "effectiveness_drift_numbers",
    "effectiveness_series",
    "entropy_from_totals",
    "entropy_of_counts",
    "epistemic_direction",
    "epistemic_drift",
    "epistemic_drift_numbers",
    "execution_confidence",
    "frequency_factor",
    "learned_wait",
    "learned_wait_with_fallback",
    "priority",
    "sheet_number",
    "trust",
    "unvouched_score",
    "weighted_log",
    "whole_days",
    "window_effectiveness",
]

#: Effectiveness while a pattern has fewer than three applications (section 5.3).
COLD_START_EFFECTIVENESS = 0.55
#: How many recent applications the effectiveness formula looks at.
RECENT_APPLICATIONS = 5
#: Grounding below this does not amplify drift further (section 8.1).
GROUNDING_FLOOR = 0.5


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def whole_days(seconds: float) -> int:
    """Whole days in a span, floored like ``timedelta.days`` (negative for the future)."""
    return math.floor(seconds / 86400)


def effectiveness(
    successes: int,
    failures: int,
    recent_outcomes: Sequence[bool],
    recent_grounding: Sequence[float | None],
    days_since_confirmed: int,
) -> float:
    """Effectiveness E of a pattern (section 5.3). Not clamped: E can exceed 1.

    ``recent_outcomes`` and ``recent_grounding`` describe the (at most five) most recent
    applications; ``None`` grounding values are ignored.
    """
    n = successes + failures
    if n < 3:
        return COLD_START_EFFECTIVENESS
    historical = (successes + 0.5) / (n + 1)
    recent = sum(1 for ok in recent_outcomes if ok) / len(recent_outcomes) if recent_outcomes \
        else historical
    grounded = [g for g in recent_grounding if g is not None]
    grounding = sum(grounded) / len(grounded) if grounded else 1.0
    decay = math.pow(0.9, days_since_confirmed / 30)
    # History weighs 1 - 0.7 (0.30000000000000004, not 0.3), as Marianne writes it: the
    # stored REAL then matches hers to the last bit.
    return (0.7 * recent + (1 - 0.7) * historical) * decay * (0.7 + 0.3 * grounding)


def frequency_factor(occurrence_count: int) -> float:
    """0.6 up to 14 occurrences, rising with log10 to 1.0 from 99 (section 5.4)."""
    return float(max(0.6, min(1.0, math.log10(occurrence_count + 1) / 2)))


def priority(effectiveness_score: float, occurrence_count: int, variance: float) -> float:
    """Priority P = clamp(E * frequency * (1 - variance), 0, 1) (section 5.4).

    A NaN effectiveness gives 1.0, as Python's min/max do in Marianne.
    """
    raw = effectiveness_score * frequency_factor(occurrence_count) * (1 - variance)
    return max(0.0, min(1.0, raw))


def trust(
    occurrence_count: int,
    successes: int,
    failures: int,
    days_since_confirmed: int,
    status: str,
) -> float:
    """Trust T of a pattern (section 5.8)."""
    n = occurrence_count if occurrence_count else 1
    success_ratio = min(1.0, successes / n)
    failure_ratio = min(1.0, failures / n)
    value = 0.5 + 0.3 * success_ratio - 0.4 * failure_ratio
    value += 0.2 * math.pow(0.9, days_since_confirmed / 30)
    if status == "quarantined":
        value -= 0.2
    elif status == "validated":
        value += 0.1
    return clamp(value, 0.0, 1.0)


# ---------------------------------------------------------------------------------------
# Drift (section 8)
# ---------------------------------------------------------------------------------------


def window_effectiveness(successes: int, window_size: int) -> float:
    """Laplace-smoothed success rate of one window: (successes + 0.5) / (W + 1)."""
    return (successes + 0.5) / (window_size + 1)


def drift_direction(change: float) -> str:
    if change > 0.05:
        return "positive"
    if change < -0.05:
        return "negative"
    return "stable"


def epistemic_direction(change: float) -> str:
    if change > 0.05:
        return "strengthening"
    if change < -0.05:
        return "weakening"
    return "stable"


@dataclass(frozen=True)
class EffectivenessDriftResult:
    effectiveness_before: float
    effectiveness_after: float
    grounding_confidence_avg: float
    drift: float
    drift_magnitude: float
    drift_direction: str
    threshold_exceeded: bool


def effectiveness_drift_numbers(
    recent_successes: int,
    older_successes: int,
    grounding_sum: float,
    grounding_count: int,
    window_size: int,
    drift_threshold: float,
) -> tuple[float, float, float, float, float, bool]:
    """Effectiveness drift from window aggregates (section 8.1), as plain numbers.

    ``(before, after, average grounding, change, magnitude, exceeded)``: the fields of
    :func:`effectiveness_drift` but the direction. The scans rank every pattern from these
    and build a result only for the rows they return. ``grounding_sum``/``grounding_count``
    cover the non-NULL grounding of all 2W rows.
    """
    before = (older_successes + 0.5) / (window_size + 1)  # window_effectiveness, inlined
    after = (recent_successes + 0.5) / (window_size + 1)
    average_grounding = grounding_sum / grounding_count if grounding_count else 1.0
    change = after - before
    magnitude = abs(change)
    exceeded = magnitude / max(average_grounding, GROUNDING_FLOOR) > drift_threshold
    return before, after, average_grounding, change, magnitude, exceeded


def effectiveness_drift(
    recent_successes: int,
    older_successes: int,
    grounding_sum: float,
    grounding_count: int,
    window_size: int,
    drift_threshold: float,
) -> EffectivenessDriftResult:
    """Effectiveness drift from window aggregates (section 8.1).

    ``grounding_sum``/``grounding_count`` cover the non-NULL grounding of all 2W rows.
    """
    before, after, average_grounding, change, magnitude, exceeded = (
        effectiveness_drift_numbers(
            recent_successes, older_successes, grounding_sum, grounding_count,
            window_size, drift_threshold,
        )
    )
    return EffectivenessDriftResult(
        effectiveness_before=before,
        effectiveness_after=after,
        grounding_confidence_avg=average_grounding,
        drift=change,
        drift_magnitude=magnitude,
        drift_direction=drift_direction(change),
        threshold_exceeded=exceeded,
    )


@dataclass(frozen=True)
class EpistemicDriftResult:
    confidence_before: float
    confidence_after: float
    belief_change: float
    belief_entropy: float
    drift_direction: str
    threshold_exceeded: bool


def epistemic_drift_numbers(
    recent_sum: float,
    older_sum: float,
    sum_of_squares: float,
    window_size: int,
    drift_threshold: float,
) -> tuple[float, float, float, float, bool]:
    """Epistemic drift from window aggregates (section 8.2), as plain numbers.

    ``(before, after, change, entropy, exceeded)``: the fields of :func:`epistemic_drift`
    but the direction (see :func:`effectiveness_drift_numbers`). ``sum_of_squares`` covers
    all 2W values. W = 0 raises ZeroDivisionError, as in Marianne.
    """
    after = recent_sum / window_size
    before = older_sum / window_size
    change = after - before
    count = 2 * window_size
    mean = (recent_sum + older_sum) / count
    if mean > 0:
        variance = max(0.0, sum_of_squares / count - mean * mean)
        entropy = min(1.0, math.sqrt(variance) / mean)
    else:
        entropy = 0.0
    exceeded = abs(change) * (1 + entropy) > drift_threshold
    return before, after, change, entropy, exceeded


def epistemic_drift(
    recent_sum: float,
    older_sum: float,
    sum_of_squares: float,
    window_size: int,
    drift_threshold: float,
) -> EpistemicDriftResult:
    """Epistemic drift from window aggregates of grounding values (section 8.2).

    ``sum_of_squares`` covers all 2W values. W = 0 raises ZeroDivisionError, as in Marianne.
    """
    before, after, change, entropy, exceeded = epistemic_drift_numbers(
        recent_sum, older_sum, sum_of_squares, window_size, drift_threshold
    )
    return EpistemicDriftResult(
        confidence_before=before,
        confidence_after=after,
        belief_change=change,
        belief_entropy=entropy,
        drift_direction=epistemic_direction(change),
        threshold_exceeded=exceeded,
    )


# ---------------------------------------------------------------------------------------
# Entropy and budget (section 10)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntropySummary:
    shannon_entropy: float
    max_possible_entropy: float
    diversity_index: float
    effective_pattern_count: int
    total_applications: int
    dominant_pattern_share: float


def entropy_of_counts(counts: Iterable[int]) -> EntropySummary:
    """Shannon entropy of application counts per pattern (section 10.2).

    Zero counts are ignored. One applied pattern gives H = -0.0, as in Marianne.
    """
    positive = [c for c in counts if c > 0]
    total = sum(positive)
    if total == 0:
        return EntropySummary(0.0, 0.0, 0.0, 0, 0, 0.0)
    shares = [c / total for c in positive]
    entropy = -sum(p * math.log2(p) for p in shares)
    effective = len(positive)
    maximum = math.log2(effective) if effective > 1 else 1.0
    return EntropySummary(
        shannon_entropy=entropy,
        max_possible_entropy=maximum,
        diversity_index=entropy / maximum,
        effective_pattern_count=effective,
        total_applications=total,
        dominant_pattern_share=max(shares),
    )


def weighted_log(count: int) -> float:
    """``c * log2(c)``, one application count's term of :func:`entropy_from_totals`."""
    return count * math.log2(count) if count > 0 else 0.0


def entropy_from_totals(
    total: int, weighted_logs: float, applied: int, largest: int
) -> EntropySummary:
    """:func:`entropy_of_counts` from running totals, for counts kept up to date one by one.

    ``total`` is the sum of the positive counts, ``weighted_logs`` the sum of
    :func:`weighted_log` over them, ``applied`` how many there are and ``largest`` the
    largest. With shares p = c / T, -sum(p log2 p) = log2 T - sum(c log2 c) / T, so no
    count has to be read again when one changes. The value may differ from
    :func:`entropy_of_counts` in the last bits of the float; one applied pattern still
    gives H = -0.0, as in Marianne.
    """
    if total <= 0:
        return EntropySummary(0.0, 0.0, 0.0, 0, 0, 0.0)
    # Rounding can leave a hair below zero where the entropy is 0 (all in one pattern).
    entropy = -0.0 if applied == 1 else max(0.0, math.log2(total) - weighted_logs / total)
    maximum = math.log2(applied) if applied > 1 else 1.0
    return EntropySummary(
        shannon_entropy=entropy,
        max_possible_entropy=maximum,
        diversity_index=entropy / maximum,
        effective_pattern_count=applied,
        total_applications=total,
        dominant_pattern_share=largest / total,
    )


@dataclass(frozen=True)
class BudgetStep:
    value: float
    adjustment_type: str
    adjustment_reason: str | None


def clamp_budget(
    proposed: float,
    adjustment_type: str,
    adjustment_reason: str | None,
    floor: float,
    ceiling: float,
) -> BudgetStep:
    """Floor and ceiling enforcement of ``update_exploration_budget`` (section 10.1).

    A NaN proposal is stored as the ceiling and keeps the caller's type and reason.
    """
    stored = max(floor, min(ceiling, proposed))
    if proposed < floor:
        return BudgetStep(
            stored, "floor_enforced", f"Budget {proposed:.3f} enforced to floor {floor:.3f}"
        )
    if proposed > ceiling:
        return BudgetStep(
            stored,
            "ceiling_enforced",
            f"Budget {proposed:.3f} enforced to ceiling {ceiling:.3f}",
        )
    if math.isnan(proposed):
        stored = ceiling
    return BudgetStep(stored, adjustment_type, adjustment_reason)


def budget_step(
    current: float | None,
    current_entropy: float,
    *,
    decay_rate: float = 0.95,
    boost_amount: float = 0.10,
    entropy_threshold: float = 0.3,
    initial_budget: float = 0.15,
) -> BudgetStep:
    """The proposal of ``calculate_budget_adjustment`` before clamping (section 10.1).

    NaN entropy is not below the threshold, so it decays.
    """
    if current is None:
        return BudgetStep(initial_budget, "initial", "Initial budget set")
    if current_entropy < entropy_threshold:
        return BudgetStep(
            current + boost_amount,
            "boost",
            f"Entropy {current_entropy:.3f} < threshold {entropy_threshold:.3f}",
        )
    return BudgetStep(
        current * decay_rate,
        "decay",
        f"Entropy {current_entropy:.3f} >= threshold, decaying",
    )


# ---------------------------------------------------------------------------------------
# Executions and error recovery (section 6)
# ---------------------------------------------------------------------------------------

_TRAILING_DIGITS = re.compile(r"(\d+)$")


def sheet_number(sheet_id: str) -> int:
    """The trailing run of digits of a sheet id, or 0 ("job-sheet12" -> 12)."""
    match = _TRAILING_DIGITS.search(sheet_id)
    return int(match.group(1)) if match else 0


def execution_confidence(
    validation_pass_rate: float, retry_count: int, success_without_retry: bool
) -> float:
    """Confidence of one execution (section 6.1)."""
    value = validation_pass_rate - 0.1 * min(retry_count, 5)
    if success_without_retry:
        value = min(1.0, value + 0.1)
    return clamp(value, 0.0, 1.0)


def learned_wait(waits: Sequence[float]) -> float:
    """(mean + min) / 2 of successful waits (section 6.4)."""
    return (sum(waits) / len(waits) + min(waits)) / 2


def learned_wait_with_fallback(
    learned: float | None,
    successful_samples: int,
    static_delay: float,
    min_confidence: float = 0.7,
) -> tuple[float, float, str]:
    """Blend a learned wait with the static delay by sample confidence (section 6.4)."""
    if learned is None:
        return static_delay, 0.0, "static_fallback"
    confidence = min(successful_samples / 10, 1.0)
    floor = 0.5 * static_delay
    bounded = max(learned, floor)
    if confidence >= min_confidence:
        return bounded, confidence, "global_learned"
    weight = confidence / min_confidence
    return weight * bounded + (1 - weight) * static_delay, confidence, "global_learned_blend"


def unvouched_score(stored: object, upper: float | None = 1.0) -> str | None:
    """The stored value of a score as text when it is not a number in ``[0, upper]``.

    None when the value can be shown as it is (or as its clamp, for NULL, which reads as
    the column default). Text (SQLite keeps ``'NaN'`` or ``'abc'`` as text in a REAL
    column), NaN, ±Inf and values out of range come back as a short text to show instead:
    their clamped stand-in would look like a real score.
    """
    if stored is None:
        return None
    if isinstance(stored, bool) or not isinstance(stored, (int, float)):
        return str(stored)[:24]
    value = float(stored)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value < 0.0 or (upper is not None and value > upper):
        return f"{value:g}"
    return None


# ---------------------------------------------------------------------------------------
# Effectiveness over a pattern's applications (the evidence behind a pattern)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppliedOutcome:
    """One application as the effectiveness formula sees it."""

    applied_at: datetime | None
    succeeded: bool
    grounding: float | None


def _days_between(earlier: datetime | None, later: datetime | None) -> int:
    """Whole days from ``earlier`` to ``later``; 0 when either is unknown (NULL counts as now)."""
    if earlier is None or later is None:
        return 0
    try:
        return whole_days((later - earlier).total_seconds())
    except TypeError:  # a naive and an aware stamp: the store cannot tell the span
        return 0


def effectiveness_series(
    applications: Sequence[AppliedOutcome],
    *,
    prior_successes: int = 0,
    prior_failures: int = 0,
    confirmed_at: datetime | None = None,
) -> tuple[float, ...]:
    """E (section 5.3) as the store computed it right after each application, oldest first.

    Replays ``record_pattern_application``: after application k the counters hold the
    ``prior_*`` counts plus the outcomes up to k; the recent window is the (at most five)
    applications up to k; a success moves ``last_confirmed`` to its own time, and "now"
    is the application's time. ``confirmed_at`` is ``last_confirmed`` before the first one
    (the pattern's creation time when nothing succeeded earlier). The counts come from the
    application rows, so a store whose counters were edited by hand stored other values.
    """
    successes, failures = prior_successes, prior_failures
    confirmed = confirmed_at
    values: list[float] = []
    for index, application in enumerate(applications):
        if application.succeeded:
            successes += 1
            confirmed = application.applied_at
        else:
            failures += 1
        recent = applications[max(0, index + 1 - RECENT_APPLICATIONS) : index + 1]
        values.append(effectiveness(
            successes,
            failures,
            [item.succeeded for item in recent],
            [item.grounding for item in recent],
            _days_between(confirmed, application.applied_at),
        ))
    return tuple(values)
