"""Escalation decisions: what a handler decided when a sheet escalated (contract section 9).

Values are stored exactly as given (a confidence of 1.7, an unknown action string); the
record clamps the confidence and reads an unknown action as "abort" (section 4).

On SQLite both lists order exactly as Marianne's queries do and leave ties to SQLite, so
they return the same rows in the same order as Marianne. On PostgreSQL ties are settled:
``get_similar_escalation`` orders rows of equal outcome rank and closeness by
``recorded_at DESC, id``, and ``get_escalation_history`` orders equal ``recorded_at`` by id.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, literal, select, update

from store import tables
from store.base import GlobalLearningStoreBase, with_limit
from store.models import EscalationDecisionRecord

__all__ = ["EscalationMixin", "escalation_record_from_row", "parse_stored_time"]

_escalations = tables.escalation_decisions
_E = _escalations.c


def parse_stored_time(raw: Any) -> datetime | None:
    """A stored timestamp as a datetime; None when NULL or when it does not parse."""
    if raw is None or isinstance(raw, datetime):
        return raw
    try:
        return datetime.fromisoformat(str(raw))
    except ValueError:
        return None


def escalation_record_from_row(row: Any, *, tolerant: bool = False) -> EscalationDecisionRecord:
    """Build the record from a row of ``escalation_decisions`` (all its columns).

    Marianne's reads (``tolerant=False``) pass the stored values as they are, as Marianne
    does. A viewer's read (``tolerant=True``, ``recorded_at`` selected as text) reads a NULL
    score as 0 and a timestamp that does not parse as ``datetime.min``, so that one
    malformed row cannot break a screen.
    """
    values = row._mapping if hasattr(row, "_mapping") else row
    confidence = values["confidence"]
    pass_rate = values["validation_pass_rate"]
    recorded_at = values["recorded_at"]
    if tolerant:
        confidence = 0.0 if confidence is None else confidence
        pass_rate = 0.0 if pass_rate is None else pass_rate
        recorded_at = parse_stored_time(recorded_at) or datetime.min
    return EscalationDecisionRecord(
        id=values["id"],
        job_hash=values["job_hash"],
        sheet_num=values["sheet_num"],
        confidence=confidence,
        action=values["action"],
        guidance=values["guidance"],
        validation_pass_rate=pass_rate,
        retry_count=values["retry_count"],
        outcome_after_action=values["outcome_after_action"],
        recorded_at=recorded_at,
        model=values["model"],
    )


class EscalationMixin(GlobalLearningStoreBase):
    """Record escalation decisions, find similar past ones, and close the loop on outcomes."""

    def record_escalation_decision(
        self,
        job_id: str,
        sheet_num: int,
        confidence: float,
        action: str,
        validation_pass_rate: float,
        retry_count: int,
        guidance: str | None = None,
        outcome_after_action: str | None = None,
        model: str | None = None,
    ) -> str:
        """Insert one decision (job id hashed, values raw) and return its new id.

        ``validation_pass_rate`` is a percentage (0-100). A NaN confidence is stored as
        NULL and so violates NOT NULL: the driver's IntegrityError propagates.
        """
        record_id = str(uuid.uuid4())
        with self._connection() as conn:
            conn.execute(
                insert(_escalations).values(
                    id=record_id,
                    job_hash=self.hash_job(job_id),
                    sheet_num=sheet_num,
                    confidence=confidence,
                    action=action,
                    guidance=guidance,
                    validation_pass_rate=validation_pass_rate,
                    retry_count=retry_count,
                    outcome_after_action=outcome_after_action,
                    recorded_at=self._now_local(),
                    model=model,
                )
            )
        self._logger.info(
            "recorded escalation decision %s: sheet=%s action=%s", record_id, sheet_num, action
        )
        return record_id

    def get_escalation_history(
        self,
        job_id: str | None = None,
        action: str | None = None,
        limit: int = 20,
    ) -> list[EscalationDecisionRecord]:
        """Past decisions, newest first, optionally of one job and/or one raw action."""
        statement = select(_escalations)
        if job_id is not None:
            statement = statement.where(_E.job_hash == self.hash_job(job_id))
        if action is not None:
            statement = statement.where(_E.action == action)
        statement = statement.order_by(_E.recorded_at.desc(), *self._postgresql_ties(_E.id))
        statement = with_limit(statement, limit)
        with self._connection() as conn:
            rows = conn.execute(statement).all()
        return [escalation_record_from_row(row) for row in rows]

    def get_similar_escalation(
        self,
        confidence: float,
        validation_pass_rate: float,
        confidence_tolerance: float = 0.15,
        pass_rate_tolerance: float = 15.0,
        limit: int = 5,
    ) -> list[EscalationDecisionRecord]:
        """Past decisions made in a similar situation, the most useful first.

        Both tolerances are inclusive and compare raw stored values. Order: outcome
        ``success``, then ``skipped``, then none yet, then anything else; within a rank,
        the closest first by ``|Δconfidence| + |Δpass rate| / 100``.
        """
        # Bound as plain floats so both backends do the same double arithmetic in SQL.
        c = literal(float(confidence))
        v = literal(float(validation_pass_rate))
        confidence_gap = func.abs(_E.confidence - c)
        pass_rate_gap = func.abs(_E.validation_pass_rate - v)
        outcome_rank = case(
            (_E.outcome_after_action == "success", 0),
            (_E.outcome_after_action == "skipped", 1),
            (_E.outcome_after_action.is_(None), 2),
            else_=3,
        )
        statement = with_limit(
            select(_escalations)
            .where(
                confidence_gap <= float(confidence_tolerance),
                pass_rate_gap <= float(pass_rate_tolerance),
            )
            .order_by(
                outcome_rank,
                confidence_gap + pass_rate_gap / 100.0,
                *self._postgresql_ties(_E.recorded_at.desc(), _E.id),
            ),
            limit,
        )
        with self._connection() as conn:
            rows = conn.execute(statement).all()
        return [escalation_record_from_row(row) for row in rows]

    def update_escalation_outcome(self, escalation_id: str, outcome_after_action: str) -> bool:
        """Set the free-text outcome of one decision; False if the id is unknown."""
        if escalation_id is None:
            return False
        with self._connection() as conn:
            result = conn.execute(
                update(_escalations)
                .where(_E.id == escalation_id)
                .values(outcome_after_action=outcome_after_action)
            )
            updated = result.rowcount > 0
        if updated:
            self._logger.debug(
                "escalation %s outcome: %s", escalation_id, outcome_after_action
            )
        return updated
