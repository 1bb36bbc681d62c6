"""Success factors: the context in which a pattern worked, and the "why" read from it.

Contract section 5.9. The factors are stored as one JSON object in
``patterns.success_factors``, keys in ``SuccessFactors`` field order (section 3.3).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from store import tables
from store.base import GlobalLearningStoreBase, log_event, with_limit
from store.models import PatternRecord, SuccessFactors
from store.patterns_query import pattern_record_from_row

__all__ = ["PatternSuccessFactorsMixin"]


class PatternSuccessFactorsMixin(GlobalLearningStoreBase):
    """Recording success factors and explaining why a pattern succeeds."""

    if TYPE_CHECKING:
        # Provided by PatternQueryMixin in the composed store.
        def get_pattern_by_id(self, pattern_id: str) -> PatternRecord | None: ...

    def update_success_factors(
        self,
        pattern_id: str,
        validation_types: list[str] | None = None,
        error_categories: list[str] | None = None,
        prior_sheet_status: str | None = None,
        retry_iteration: int = 0,
        escalation_was_pending: bool = False,
        grounding_confidence: float | None = None,
    ) -> SuccessFactors | None:
        """Fold one successful application's context into the pattern's factors.

        The first call stores the lists as given; later calls merge them into the stored
        ones as sorted unions (only when the argument is non-empty), overwrite the retry
        iteration and escalation flag, replace the prior status only when truthy and the
        grounding only when not None, add one observation, and set the success rate to
        s/(s+f) when the pattern has applications. The time bucket always comes from the
        current local hour. Returns None (and writes nothing) for an unknown id.
        """
        pattern = self.get_pattern_by_id(pattern_id)
        if pattern is None:
            log_event(
                logging.WARNING,
                "update_success_factors_skipped",
                pattern_id=pattern_id,
                reason="pattern_not_found",
            )
            return None

        now = self._now_local()
        bucket = SuccessFactors.get_time_bucket(now.hour)
        factors = pattern.success_factors
        if factors is None:
            factors = SuccessFactors(
                validation_types=validation_types or [],
                error_categories=error_categories or [],
                prior_sheet_status=prior_sheet_status,
                time_of_day_bucket=bucket,
                retry_iteration=retry_iteration,
                escalation_was_pending=escalation_was_pending,
                grounding_confidence=grounding_confidence,
                occurrence_count=1,
                success_rate=1.0,
            )
        else:
            factors.occurrence_count += 1
            if validation_types:
                factors.validation_types = sorted({*factors.validation_types, *validation_types})
            if error_categories:
                factors.error_categories = sorted({*factors.error_categories, *error_categories})
            if prior_sheet_status:
                factors.prior_sheet_status = prior_sheet_status
            factors.time_of_day_bucket = bucket
            factors.retry_iteration = retry_iteration
            factors.escalation_was_pending = escalation_was_pending
            if grounding_confidence is not None:
                factors.grounding_confidence = grounding_confidence
            applications = pattern.led_to_success_count + pattern.led_to_failure_count
            if applications > 0:
                factors.success_rate = pattern.led_to_success_count / applications

        with self._connection() as conn:
            conn.execute(
                update(tables.patterns)
                .where(tables.patterns.c.id == pattern_id)
                .values(success_factors=factors.to_dict(), success_factors_updated_at=now)
            )
        self._logger.debug(
            "success factors of %s: %d observations, success rate %.2f",
            pattern_id, factors.occurrence_count, factors.success_rate,
        )
        return factors

    def get_success_factors(self, pattern_id: str) -> SuccessFactors | None:
        """The pattern's factors; None if the pattern is unknown or has none yet."""
        pattern = self.get_pattern_by_id(pattern_id)
        return None if pattern is None else pattern.success_factors

    def analyze_pattern_why(self, pattern_id: str) -> dict[str, Any]:
        """A structured explanation of why the pattern succeeds (read-only).

        Always has ``pattern_name``, ``pattern_type``, ``has_factors``, ``trust_score``,
        ``effectiveness_score``, ``factors_summary``, ``key_conditions``, ``confidence`` and
        ``recommendations``; with factors also ``observation_count`` and ``success_rate``.
        An unknown id gives ``{"error": "Pattern <id> not found"}``.
        """
        pattern = self.get_pattern_by_id(pattern_id)
        if pattern is None:
            return {"error": f"Pattern {pattern_id} not found"}
        return _why(pattern)

    def _why_order(self) -> tuple[Any, ...]:
        """Marianne's ``priority_score DESC, trust_score DESC``; on PostgreSQL (where a
        descending order puts NULL first) NULLs last, as SQLite puts them, then by id."""
        columns = tables.patterns.c
        if not self.is_postgresql:
            return (columns.priority_score.desc(), columns.trust_score.desc())
        return (
            columns.priority_score.desc().nulls_last(),
            columns.trust_score.desc().nulls_last(),
            columns.id,
        )

    def get_patterns_with_why(
        self, min_observations: int = 1, limit: int = 20
    ) -> list[tuple[PatternRecord, dict[str, Any]]]:
        """Patterns that have factors, best first, each with its "why" analysis.

        Takes the ``limit`` rows with factors (inactive ones included) by priority, then
        trust, descending, and keeps those whose factors hold at least ``min_observations``
        observations; the filter runs after the limit, so fewer may come back.

        Deliberate difference from Marianne: the analysis is built from the row already
        read instead of reading each pattern again (Marianne's N+1); the result is the
        same unless the pattern changes in between. On PostgreSQL NULL scores sort last, as on
        SQLite, and ties are broken by id. A negative limit means no limit.
        """
        columns = tables.patterns.c
        query = (
            select(tables.patterns)
            .where(columns.success_factors.is_not(None))
            .order_by(*self._why_order())
        )
        query = with_limit(query, limit)
        with self._connection() as conn:
            rows = conn.execute(query).all()
        results: list[tuple[PatternRecord, dict[str, Any]]] = []
        for row in rows:
            pattern = pattern_record_from_row(row)
            factors = pattern.success_factors
            if factors is not None and factors.occurrence_count >= min_observations:
                results.append((pattern, _why(pattern)))
        return results


def _why(pattern: PatternRecord) -> dict[str, Any]:
    result: dict[str, Any] = {
        "pattern_name": pattern.pattern_name,
        "pattern_type": pattern.pattern_type,
        "has_factors": pattern.success_factors is not None,
        "trust_score": pattern.trust_score,
        "effectiveness_score": pattern.effectiveness_score,
    }
    factors = pattern.success_factors
    if factors is None:
        result["factors_summary"] = "No success factors captured yet"
        result["key_conditions"] = []
        result["confidence"] = 0.0
        result["recommendations"] = ["Apply this pattern more times to capture success factors"]
        return result

    parts: list[str] = []
    if factors.validation_types:
        parts.append(f"validation types: {', '.join(factors.validation_types)}")
    if factors.error_categories:
        parts.append(f"error categories: {', '.join(factors.error_categories)}")
    if factors.time_of_day_bucket:
        parts.append(f"typically succeeds in: {factors.time_of_day_bucket}")
    if factors.prior_sheet_status:
        parts.append(f"prior sheet was: {factors.prior_sheet_status}")
    result["factors_summary"] = "; ".join(parts) if parts else "Context captured"

    conditions: list[str] = []
    if factors.grounding_confidence and factors.grounding_confidence > 0.7:
        conditions.append(f"High grounding confidence ({factors.grounding_confidence:.2f})")
    if factors.retry_iteration == 0:
        conditions.append("Succeeds on first attempt")
    elif factors.retry_iteration > 0:
        conditions.append(f"Often succeeds after {factors.retry_iteration} retries")
    if factors.validation_types:
        conditions.append(f"Works with {len(factors.validation_types)} validation types")
    if not factors.escalation_was_pending:
        conditions.append("Succeeds without escalation")
    result["key_conditions"] = conditions

    result["confidence"] = min(1.0, factors.occurrence_count / 10) * factors.success_rate

    recommendations: list[str] = []
    if factors.occurrence_count < 5:
        recommendations.append("Need more observations for reliable analysis")
    if factors.success_rate > 0.8:
        recommendations.append("High confidence pattern - consider for auto-apply")
    if factors.success_rate < 0.5:
        recommendations.append("Low success rate - review pattern relevance")
    if factors.time_of_day_bucket:
        recommendations.append(f"Best applied during {factors.time_of_day_bucket}")
    result["recommendations"] = recommendations
    result["observation_count"] = factors.occurrence_count
    result["success_rate"] = factors.success_rate
    return result
