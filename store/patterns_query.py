"""Reading patterns: filtered lists, single lookups, provenance (contract sections 4 and 5.6).

This module owns the one conversion from a ``patterns`` row to a :class:`PatternRecord`
(:func:`pattern_record_from_row`); every other module that reads pattern rows imports it, so
the read rules of section 4 live in one place.

Deliberate differences from Marianne:

* On PostgreSQL, lists ordered by ``priority_score DESC`` (or trust, then priority) break
  ties by ``id``. On SQLite they order exactly as Marianne's queries do and leave ties to
  SQLite, which then returns the same rows in the same order as Marianne does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    cast,
    exists,
    func,
    literal,
    select,
)
from sqlalchemy.types import Text

from store import tables
from store.base import GlobalLearningStoreBase, with_limit
from store.models import PatternRecord, QuarantineStatus, SuccessFactors

__all__ = ["PatternQueryMixin", "fetch_pattern", "pattern_record_from_row"]

_P = tables.patterns.c


def pattern_record_from_row(row: Any) -> PatternRecord:
    """Build a :class:`PatternRecord` from a ``patterns`` row (contract section 4).

    ``row`` is a SQLAlchemy ``Row`` of ``select(tables.patterns)`` or any mapping of column
    name to decoded value (the table's column types already turn timestamp text into
    datetimes and JSON text into lists and dicts).

    Raises:
        ValueError: the status is not one of the four (for example the legacy ``active``).
        TypeError: ``first_seen``, ``last_seen`` or ``last_confirmed`` is NULL.
    """
    values: Mapping[str, Any] = row._mapping if hasattr(row, "_mapping") else row
    for name in ("first_seen", "last_seen", "last_confirmed"):
        if values[name] is None:
            # Marianne parses these unconditionally, so a NULL makes the read fail.
            raise TypeError(f"pattern {values['id']!r} has no {name}")
    status = values["quarantine_status"]
    factors = values["success_factors"]
    trust = values["trust_score"]
    active = values["active"]
    return PatternRecord(
        id=values["id"],
        pattern_type=values["pattern_type"],
        pattern_name=values["pattern_name"],
        description=values["description"],
        occurrence_count=values["occurrence_count"],
        first_seen=values["first_seen"],
        last_seen=values["last_seen"],
        last_confirmed=values["last_confirmed"],
        led_to_success_count=values["led_to_success_count"],
        led_to_failure_count=values["led_to_failure_count"],
        effectiveness_score=values["effectiveness_score"],
        variance=values["variance"],
        suggested_action=values["suggested_action"],
        context_tags=values["context_tags"] or [],
        priority_score=values["priority_score"],
        quarantine_status=QuarantineStatus(status) if status else QuarantineStatus.PENDING,
        provenance_job_hash=values["provenance_job_hash"],
        provenance_sheet_num=values["provenance_sheet_num"],
        quarantined_at=values["quarantined_at"],
        validated_at=values["validated_at"],
        quarantine_reason=values["quarantine_reason"],
        trust_score=trust if trust is not None else 0.5,
        trust_calculation_date=values["trust_calculation_date"],
        success_factors=SuccessFactors.from_dict(factors) if factors else None,
        success_factors_updated_at=values["success_factors_updated_at"],
        active=bool(active) if active is not None else True,
        content_hash=values["content_hash"],
        instrument_name=values["instrument_name"],
    )


def fetch_pattern(conn: Connection, pattern_id: str) -> PatternRecord | None:
    """The pattern with this id on an open connection, or None (``active`` is ignored)."""
    row = conn.execute(select(tables.patterns).where(_P.id == pattern_id)).first()
    return pattern_record_from_row(row) if row is not None else None


def _status_value(status: QuarantineStatus | str) -> str:
    return QuarantineStatus(status).value



class PatternQueryMixin(GlobalLearningStoreBase):
    """Pattern reads. None of these methods writes."""

    def _tags_match(self, tags: list[str]) -> ColumnElement[bool]:
        """Any element of the stored JSON array equals any of ``tags``.

        NULL tags never match and malformed JSON raises, on both backends.
        """
        if self.is_postgresql:
            # Deferred: the PostgreSQL dialect costs ~25 ms of every console start-up,
            # and a SQLite store never needs it (issue #7, first paint).
            from sqlalchemy.dialects.postgresql import JSONB, array

            matched: ColumnElement[bool] = cast(_P.context_tags, JSONB).has_any(
                array(tags, type_=Text)
            )
            return matched
        elements = func.json_each(_P.context_tags).table_valued("value")
        return exists(select(literal(1)).select_from(elements).where(elements.c.value.in_(tags)))

    def get_patterns(
        self,
        pattern_type: str | None = None,
        min_priority: float = 0.01,
        limit: int = 20,
        context_tags: list[str] | None = None,
        quarantine_status: QuarantineStatus | None = None,
        exclude_quarantined: bool = False,
        min_trust: float | None = None,
        max_trust: float | None = None,
        include_inactive: bool = False,
        instrument_name: str | None = None,
        include_universal: bool = True,
    ) -> list[PatternRecord]:
        """Patterns matching every given filter, highest priority first (section 5.6).

        ``quarantine_status`` wins over ``exclude_quarantined``; the latter also drops rows
        whose status is NULL. Retired patterns are not excluded. A negative ``limit`` means
        no limit.
        """
        query = select(tables.patterns).where(_P.priority_score >= min_priority)
        if not include_inactive:
            query = query.where(func.coalesce(_P.active, 1) == 1)
        if pattern_type:
            query = query.where(_P.pattern_type == pattern_type)
        if instrument_name is not None:
            if include_universal:
                query = query.where(
                    (_P.instrument_name == instrument_name) | _P.instrument_name.is_(None)
                )
            else:
                query = query.where(_P.instrument_name == instrument_name)
        if quarantine_status is not None:
            query = query.where(_P.quarantine_status == _status_value(quarantine_status))
        elif exclude_quarantined:
            query = query.where(_P.quarantine_status != QuarantineStatus.QUARANTINED.value)
        if min_trust is not None:
            query = query.where(_P.trust_score >= min_trust)
        if max_trust is not None:
            query = query.where(_P.trust_score <= max_trust)
        if context_tags:
            query = query.where(self._tags_match(list(context_tags)))
        query = query.order_by(_P.priority_score.desc(), *self._postgresql_ties(_P.id))
        query = with_limit(query, limit)
        with self._connection() as conn:
            rows = conn.execute(query).all()
        return [pattern_record_from_row(row) for row in rows]

    def get_pattern_by_id(self, pattern_id: str) -> PatternRecord | None:
        """The pattern with this id, active or not; None if there is none."""
        with self._connection() as conn:
            return fetch_pattern(conn, pattern_id)

    def get_pattern_provenance(self, pattern_id: str) -> dict[str, Any] | None:
        """Where a pattern came from and where it stands; None for an unknown id."""
        pattern = self.get_pattern_by_id(pattern_id)
        if pattern is None:
            return None

        def iso(value: Any) -> str | None:
            return value.isoformat() if value else None

        return {
            "pattern_id": pattern.id,
            "pattern_name": pattern.pattern_name,
            "quarantine_status": pattern.quarantine_status.value,
            "first_seen": pattern.first_seen.isoformat(),
            "last_seen": pattern.last_seen.isoformat(),
            "last_confirmed": pattern.last_confirmed.isoformat(),
            "provenance_job_hash": pattern.provenance_job_hash,
            "provenance_sheet_num": pattern.provenance_sheet_num,
            "quarantined_at": iso(pattern.quarantined_at),
            "validated_at": iso(pattern.validated_at),
            "quarantine_reason": pattern.quarantine_reason,
            "trust_score": pattern.trust_score,
            "trust_calculation_date": iso(pattern.trust_calculation_date),
        }

    def get_quarantined_patterns(self, limit: int = 50) -> list[PatternRecord]:
        """Active patterns in QUARANTINED status, whatever their priority."""
        return self.get_patterns(
            quarantine_status=QuarantineStatus.QUARANTINED, min_priority=0.0, limit=limit
        )

    def get_high_trust_patterns(
        self, threshold: float = 0.7, limit: int = 50
    ) -> list[PatternRecord]:
        """Active patterns with ``trust_score >= threshold``, whatever their priority."""
        return self.get_patterns(min_priority=0.0, min_trust=threshold, limit=limit)

    def get_low_trust_patterns(
        self, threshold: float = 0.3, limit: int = 50
    ) -> list[PatternRecord]:
        """Active patterns with ``trust_score <= threshold``, whatever their priority."""
        return self.get_patterns(min_priority=0.0, max_trust=threshold, limit=limit)

    def get_patterns_for_auto_apply(
        self,
        trust_threshold: float = 0.85,
        require_validated: bool = True,
        limit: int = 3,
        context_tags: list[str] | None = None,
    ) -> list[PatternRecord]:
        """Trusted, non-retired patterns that may be applied without asking (section 5.6).

        As in Marianne: ``active`` is not checked, SQL fetches ``2 * limit`` rows by trust
        then priority, and the tag filter runs afterwards, so fewer than ``limit`` may come
        back even when more would qualify.
        """
        query = select(tables.patterns).where(
            _P.trust_score >= trust_threshold,
            _P.quarantine_status != QuarantineStatus.RETIRED.value,
        )
        if require_validated:
            query = query.where(_P.quarantine_status == QuarantineStatus.VALIDATED.value)
        query = query.order_by(
            _P.trust_score.desc(), _P.priority_score.desc(), *self._postgresql_ties(_P.id)
        )
        query = with_limit(query, limit * 2)
        with self._connection() as conn:
            rows = conn.execute(query).all()
        patterns = [pattern_record_from_row(row) for row in rows]
        if context_tags:
            wanted = set(context_tags)
            patterns = [p for p in patterns if wanted.intersection(p.context_tags)]
        return patterns[:limit]

