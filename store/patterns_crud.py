"""Recording patterns and their applications, and keeping their scores (contract section 5).

Effectiveness and priority come from :mod:`store.metrics`; this module only gathers their
inputs from SQL and writes the results.

Deliberate differences from Marianne:

* ``recalculate_all_pattern_priorities`` reads every pattern and its five latest
  applications in two set-based queries and writes all scores in one transaction, instead
  of three queries per pattern; the numbers written are the same (one "now" for the run).
  It does not go through ``update_pattern_effectiveness``.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    Double,
    Text,
    bindparam,
    cast,
    exc,
    exists,
    func,
    insert,
    literal_column,
    select,
    update,
)

from store import metrics, tables
from store.base import (
    GlobalLearningStoreBase,
    MarianneConnection,
    _sha256_hex,
    content_hash_for,
    log_event,
    pattern_id_for,
)
from store.models import QuarantineStatus

__all__ = [
    "DECAY_BASE",
    "DECAY_PERIOD_DAYS",
    "GROUNDING_BASE_WEIGHT",
    "GROUNDING_SENSITIVITY",
    "PatternCrudMixin",
    "PatternProvenance",
]

_P = tables.patterns.c
_A = tables.pattern_applications.c


@dataclass(frozen=True)
class PatternProvenance:
    """Where a pattern was first seen: the job hash and sheet number travel together."""

    job_hash: str | None = None
    sheet_num: int | None = None


def _days_since(now: datetime, last_confirmed: datetime | None) -> int:
    """Whole days since the last success, floored; NULL counts as now."""
    if last_confirmed is None:
        return 0
    return metrics.whole_days((now - last_confirmed).total_seconds())


def _scores(
    pattern: Any, recent: list[tuple[bool, float | None]], now: datetime
) -> tuple[float, float]:
    """(effectiveness, priority) of a pattern row given its latest applications, newest first."""
    effectiveness = metrics.effectiveness(
        pattern.led_to_success_count,
        pattern.led_to_failure_count,
        [bool(ok) for ok, _ in recent],
        [grounding for _, grounding in recent],
        _days_since(now, pattern.last_confirmed),
    )
    priority = metrics.priority(effectiveness, pattern.occurrence_count, pattern.variance)
    return effectiveness, priority


_SCORE_INPUTS = (
    _P.id,
    _P.led_to_success_count,
    _P.led_to_failure_count,
    _P.last_confirmed,
    _P.occurrence_count,
    _P.variance,
)

# The statements of one application, built once: building and cache-keying them on every
# call was a third of record_pattern_application's time (the writer's hot path). The SQL
# and the values bound are those the per-call statements had.
_PATTERN_EXISTS = select(_P.id).where(_P.id == bindparam("pid"))
_INSERT_APPLICATION = insert(tables.pattern_applications)
_COUNT_SUCCESS = (
    update(tables.patterns)
    .where(_P.id == bindparam("pid"))
    .values(
        led_to_success_count=_P.led_to_success_count + 1,
        last_confirmed=bindparam("now", type_=_P.last_confirmed.type),
    )
)
_COUNT_FAILURE = (
    update(tables.patterns)
    .where(_P.id == bindparam("pid"))
    .values(led_to_failure_count=_P.led_to_failure_count + 1)
)
_SCORE_INPUTS_OF_ONE = select(*_SCORE_INPUTS).where(_P.id == bindparam("pid"))
_RECENT_OUTCOMES = (
    select(_A.pattern_led_to_success, _A.grounding_confidence)
    .where(_A.pattern_id == bindparam("pid"))
    .order_by(_A.applied_at.desc())
    .limit(metrics.RECENT_APPLICATIONS)
)
_WRITE_SCORES_OF_ONE = (
    update(tables.patterns)
    .where(_P.id == bindparam("pid"))
    .values(
        effectiveness_score=bindparam("e", type_=_P.effectiveness_score.type),
        priority_score=bindparam("p", type_=_P.priority_score.type),
    )
)

# PostgreSQL's application: each statement is a round trip to the server (and a wake-up
# of the writer and of its server process), so the same writes take three fewer. The
# existence check rides on the insert (a row is inserted only when the pattern is there;
# none inserted means unknown, and the transaction is rolled back, see
# ``_record_application_postgresql``), and the counter update returns the row it wrote,
# which is what the score-input read after it read (the row stays locked by this
# transaction until it commits). Same columns, same values bound (each with its column's
# own type, cast as the plain insert casts them), so the same rows.
_APPLICATION_COLUMNS = (
    "id",
    "pattern_id",
    "execution_id",
    "applied_at",
    "pattern_led_to_success",
    "retry_count_before",
    "retry_count_after",
    "grounding_confidence",
)
_INSERT_APPLICATION_OF_KNOWN = insert(tables.pattern_applications).from_select(
    list(_APPLICATION_COLUMNS),
    select(
        *(bindparam("pid" if name == "pattern_id" else name, type_=_A[name].type)
          for name in _APPLICATION_COLUMNS[:-1]),
        # A NULL in a select list would be text; VALUES gave it the column's type.
        cast(bindparam("grounding_confidence", type_=_A.grounding_confidence.type), Double),
    ).where(exists(select(literal_column("1")).where(_P.id == bindparam("pid")))),
).execution_options(preserve_rowcount=True)  # an INSERT's rowcount is not kept otherwise
_COUNT_SUCCESS_RETURNING = _COUNT_SUCCESS.returning(*_SCORE_INPUTS)
_COUNT_FAILURE_RETURNING = _COUNT_FAILURE.returning(*_SCORE_INPUTS)


class _UnknownPattern(Exception):
    """Inside ``_record_application_postgresql``: nothing was inserted, roll back."""


def _log_unknown_pattern(pattern_id: str) -> None:
    log_event(
        logging.WARNING,
        "pattern_application_skipped",
        pattern_id=pattern_id,
        reason="pattern_not_found",
    )


def _log_fk_error(pattern_id: str, execution_id: str, error: exc.IntegrityError) -> None:
    log_event(
        logging.WARNING,
        "pattern_application_insert_fk_error",
        pattern_id=pattern_id,
        execution_id=execution_id,
        error=str(error.orig),
    )


#: Marianne's names for the constants of the effectiveness formula (section 5.3).
DECAY_BASE: float = 0.9
DECAY_PERIOD_DAYS: float = 30.0
GROUNDING_BASE_WEIGHT: float = 0.7
GROUNDING_SENSITIVITY: float = 0.3


class PatternCrudMixin(GlobalLearningStoreBase):
    """Pattern writes: record, apply, rescore, soft-delete."""

    #: The least frequency factor of the priority formula (section 5.4).
    FREQUENCY_FACTOR_FLOOR: float = 0.6

    # -- Marianne's scoring helpers (its code and tests call them directly) ----------------

    @staticmethod
    def _compute_content_hash(
        pattern_type: str, normalized_name: str, description: str | None
    ) -> str:
        """32 hex chars of SHA-256 of ``type:name:description`` (name as given)."""
        return _sha256_hex(f"{pattern_type}:{normalized_name}:{description or ''}")[:32]

    @staticmethod
    def _fetch_recent_applications(
        conn: MarianneConnection, pattern_id: str, limit: int = metrics.RECENT_APPLICATIONS
    ) -> tuple[float | None, float]:
        """(success rate of the latest applications or None, their mean grounding or 1.0)."""
        rows = conn.execute(
            "SELECT pattern_led_to_success, grounding_confidence FROM pattern_applications "
            "WHERE pattern_id = ? ORDER BY applied_at DESC LIMIT ?",
            (pattern_id, limit),
        ).fetchall()
        if not rows:
            return None, 1.0
        rate = sum(1 for row in rows if row[0]) / len(rows)
        grounded = [row[1] for row in rows if row[1] is not None]
        return rate, (sum(grounded) / len(grounded) if grounded else 1.0)

    @staticmethod
    def _bayesian_effectiveness(
        historical: float,
        recent: float,
        days_since_confirmed: int,
        avg_grounding: float,
        alpha: float = 0.7,
    ) -> float:
        """Blend of recent and historical success, decayed by age, weighted by grounding."""
        combined = alpha * recent + (1 - alpha) * historical
        decay: float = DECAY_BASE ** (days_since_confirmed / DECAY_PERIOD_DAYS)
        return combined * decay * (GROUNDING_BASE_WEIGHT + GROUNDING_SENSITIVITY * avg_grounding)

    def _calculate_effectiveness(
        self,
        pattern_id: str,
        led_to_success_count: int,
        led_to_failure_count: int,
        last_confirmed: datetime,
        now: datetime,
        conn: MarianneConnection,
        min_applications: int = 3,
    ) -> float:
        """Effectiveness of a pattern from its counts and latest applications (section 5.3)."""
        total = led_to_success_count + led_to_failure_count
        if total < min_applications:
            return metrics.COLD_START_EFFECTIVENESS
        historical = (led_to_success_count + 0.5) / (total + 1)
        recent, grounding = self._fetch_recent_applications(conn, pattern_id)
        return self._bayesian_effectiveness(
            historical=historical,
            recent=historical if recent is None else recent,
            days_since_confirmed=(now - last_confirmed).days,
            avg_grounding=grounding,
        )

    def _calculate_priority_score(
        self, effectiveness: float, occurrence_count: int, variance: float
    ) -> float:
        """Priority from effectiveness, frequency and variance, clamped to [0, 1] (5.4).

        Reads the floor from ``self`` so that a subclass (or Marianne's test double) can
        change it.
        """
        raw_frequency = min(1.0, math.log10(occurrence_count + 1) / 2.0)
        frequency = max(self.FREQUENCY_FACTOR_FLOOR, raw_frequency)
        return max(0.0, min(1.0, effectiveness * frequency * (1 - variance)))

    def record_pattern(
        self,
        pattern_type: str,
        pattern_name: str,
        description: str | None = None,
        context_tags: list[str] | None = None,
        suggested_action: str | None = None,
        provenance: PatternProvenance | None = None,
        provenance_job_hash: str | None = None,
        provenance_sheet_num: int | None = None,
        instrument_name: str | None = None,
    ) -> str:
        """Record a sighting of a pattern and return the id it was recorded under (5.1).

        In one transaction: update the row with this type and name if there is one;
        otherwise merge into the highest-priority row with the same content hash; otherwise
        insert. The tags are overwritten on an update (None clears them to ``[]``), and
        either kind of match reactivates a soft-deleted row. ``provenance``, when given,
        wins over the deprecated ``provenance_job_hash``/``provenance_sheet_num``, even if
        its fields are None.
        """
        if provenance is not None:
            job_hash, sheet_num = provenance.job_hash, provenance.sheet_num
        else:
            job_hash, sheet_num = provenance_job_hash, provenance_sheet_num
        now = self._now_local()
        pattern_id = pattern_id_for(pattern_type, pattern_name)
        content_hash = content_hash_for(pattern_type, pattern_name, description)
        # Encoded here rather than by the column type so that any value is written
        # exactly as Marianne's json.dumps would write it.
        tags_json = json.dumps(context_tags or [])

        with self._connection() as conn:
            if conn.execute(select(_P.id).where(_P.id == pattern_id)).first() is not None:
                conn.execute(
                    update(tables.patterns)
                    .where(_P.id == pattern_id)
                    .values(
                        occurrence_count=_P.occurrence_count + 1,
                        last_seen=now,
                        description=func.coalesce(description, _P.description),
                        suggested_action=func.coalesce(suggested_action, _P.suggested_action),
                        context_tags=tags_json,
                        content_hash=content_hash,
                        active=True,
                    )
                )
                return pattern_id

            same_content = conn.execute(
                select(_P.id, func.coalesce(_P.active, 1).label("active"))
                .where(_P.content_hash == content_hash)
                .order_by(_P.priority_score.desc(), *self._postgresql_ties(_P.id))
                .limit(1)
            ).first()
            if same_content is not None:
                merged_id: str = same_content.id
                conn.execute(
                    update(tables.patterns)
                    .where(_P.id == merged_id)
                    .values(
                        occurrence_count=_P.occurrence_count + 1, last_seen=now, active=True
                    )
                )
                if same_content.active:
                    log_event(
                        logging.DEBUG,
                        "pattern_merged_via_content_hash",
                        merged_id=merged_id,
                        new_type=pattern_type,
                        new_name=pattern_name,
                        content_hash=content_hash,
                    )
                else:
                    log_event(
                        logging.INFO,
                        "pattern_reactivated_via_hash_merge",
                        merged_id=merged_id,
                        new_type=pattern_type,
                        new_name=pattern_name,
                    )
                return merged_id

            conn.execute(
                insert(tables.patterns).values(
                    id=pattern_id,
                    pattern_type=pattern_type,
                    pattern_name=pattern_name,
                    description=description,
                    occurrence_count=1,
                    first_seen=now,
                    last_seen=now,
                    last_confirmed=now,
                    led_to_success_count=0,
                    led_to_failure_count=0,
                    effectiveness_score=0.5,
                    variance=0.0,
                    suggested_action=suggested_action,
                    context_tags=tags_json,
                    priority_score=0.5,
                    quarantine_status=QuarantineStatus.PENDING.value,
                    provenance_job_hash=job_hash,
                    provenance_sheet_num=sheet_num,
                    trust_score=0.5,
                    trust_calculation_date=now,
                    content_hash=content_hash,
                    instrument_name=instrument_name,
                    active=True,
                )
            )
        return pattern_id

    def record_pattern_application(
        self,
        pattern_id: str,
        execution_id: str,
        pattern_led_to_success: bool,
        retry_count_before: int = 0,
        retry_count_after: int = 0,
        application_mode: str = "exploitation",
        validation_passed: bool | None = None,
        grounding_confidence: float | None = None,
    ) -> str:
        """Record one use of a pattern, count its outcome and rescore it (section 5.2).

        Returns a fresh id, also when nothing is written because the pattern is unknown.
        ``application_mode`` and ``validation_passed`` are accepted but not stored, as in
        Marianne. Soft-deleted patterns still take applications.
        """
        del validation_passed  # accepted for Marianne's callers; the schema has no column
        application_id = str(uuid.uuid4())
        now = self._now_local()
        values = {
            "id": application_id,
            "pattern_id": pattern_id,
            "execution_id": execution_id,
            "applied_at": now,
            "pattern_led_to_success": pattern_led_to_success,
            "retry_count_before": retry_count_before,
            "retry_count_after": retry_count_after,
            "grounding_confidence": grounding_confidence,
        }
        if self.is_postgresql:
            scores = self._record_application_postgresql(values, now)
            self._prune_drift_log_if_due()
        else:
            scores = self._record_application(values, now)
        if scores is not None:
            self._logger.debug(
                "pattern %s rescored (%s): effectiveness %.3f, priority %.3f",
                pattern_id, application_mode, *scores,
            )
        return application_id

    def _record_application(
        self, values: dict[str, Any], now: datetime
    ) -> tuple[float, float] | None:
        """Check, insert, count, rescore; the scores, or None when none were written."""
        pattern_id = values["pattern_id"]
        with self._connection() as conn:
            if conn.execute(_PATTERN_EXISTS, {"pid": pattern_id}).first() is None:
                _log_unknown_pattern(pattern_id)
                return None
            try:
                conn.execute(_INSERT_APPLICATION, values)
            except exc.IntegrityError as error:
                # Only a pre-v15 file with foreign keys on this table gets here.
                _log_fk_error(pattern_id, values["execution_id"], error)
                return None
            if values["pattern_led_to_success"]:
                conn.execute(_COUNT_SUCCESS, {"pid": pattern_id, "now": now})
            else:
                conn.execute(_COUNT_FAILURE, {"pid": pattern_id})
            return self._rescore(conn, pattern_id, now)

    def _record_application_postgresql(
        self, values: dict[str, Any], now: datetime
    ) -> tuple[float, float] | None:
        """``_record_application`` in four statements instead of six (see
        ``_INSERT_APPLICATION_OF_KNOWN``): the same rows, the same scores.

        An unknown pattern: the insert inserted nothing, and the transaction (a savepoint
        inside a batch) is rolled back, so nothing is committed or notified. Its triggers
        still ran (a statement trigger runs for no rows too), so the revision sequence
        moved: a console refreshes once for nothing.
        """
        pattern_id = values["pattern_id"]
        params = {key: value for key, value in values.items() if key != "pattern_id"}
        params["pid"] = pattern_id
        try:
            with self._connection() as conn:
                try:
                    inserted = conn.execute(_INSERT_APPLICATION_OF_KNOWN, params).rowcount
                except exc.IntegrityError as error:
                    # No store this code made on PostgreSQL has the legacy foreign keys;
                    # kept as the generic path has it.
                    _log_fk_error(pattern_id, values["execution_id"], error)
                    return None
                if inserted == 0:
                    raise _UnknownPattern
                if values["pattern_led_to_success"]:
                    pattern = conn.execute(
                        _COUNT_SUCCESS_RETURNING, {"pid": pattern_id, "now": now}
                    ).first()
                else:
                    pattern = conn.execute(_COUNT_FAILURE_RETURNING, {"pid": pattern_id}).first()
                if pattern is None:
                    return None
                return self._write_rescore(conn, pattern_id, pattern, now)
        except _UnknownPattern:
            _log_unknown_pattern(pattern_id)
            return None

    def _rescore(
        self, conn: Connection, pattern_id: str, now: datetime
    ) -> tuple[float, float] | None:
        """Recompute and write one pattern's effectiveness and priority; None if unknown."""
        pattern = conn.execute(_SCORE_INPUTS_OF_ONE, {"pid": pattern_id}).first()
        if pattern is None:
            return None
        return self._write_rescore(conn, pattern_id, pattern, now)

    def _write_rescore(
        self, conn: Connection, pattern_id: str, pattern: Any, now: datetime
    ) -> tuple[float, float]:
        """Score one pattern's row (its ``_SCORE_INPUTS``) with its latest applications."""
        recent = conn.execute(_RECENT_OUTCOMES, {"pid": pattern_id}).all()
        effectiveness, priority = _scores(pattern, [(r[0], r[1]) for r in recent], now)
        conn.execute(
            _WRITE_SCORES_OF_ONE, {"pid": pattern_id, "e": effectiveness, "p": priority}
        )
        return effectiveness, priority

    def update_pattern_effectiveness(self, pattern_id: str) -> float | None:
        """Recompute effectiveness and priority (sections 5.3-5.4); returns E, or None."""
        with self._connection() as conn:
            scores = self._rescore(conn, pattern_id, self._now_local())
        return scores[0] if scores is not None else None

    def recalculate_all_pattern_priorities(self) -> int:
        """Rescore every pattern, inactive ones included; returns how many were rescored.

        This also undoes drift retirement (priority 0), as in Marianne.
        """
        now = self._now_local()
        numbered = select(
            _A.pattern_id,
            _A.pattern_led_to_success,
            _A.grounding_confidence,
            func.row_number()
            .over(partition_by=_A.pattern_id, order_by=_A.applied_at.desc())
            .label("position"),
        ).subquery()
        latest = (
            select(numbered.c.pattern_id, numbered.c.pattern_led_to_success,
                   numbered.c.grounding_confidence)
            .where(numbered.c.position <= metrics.RECENT_APPLICATIONS)
            .order_by(numbered.c.pattern_id, numbered.c.position)
        )
        with self._connection() as conn:
            recent: dict[str, list[tuple[bool, float | None]]] = defaultdict(list)
            for pid, ok, grounding in conn.execute(latest):
                recent[pid].append((ok, grounding))
            rows = conn.execute(select(*_SCORE_INPUTS)).all()
            updates = []
            for pattern in rows:
                effectiveness, priority = _scores(pattern, recent.get(pattern.id, []), now)
                updates.append({"pid": pattern.id, "e": effectiveness, "p": priority})
            self._write_scores(conn, updates)
        log_event(logging.INFO, "priorities_recalculated", count=len(rows))
        return len(rows)

    def _write_scores(self, conn: Connection, updates: list[dict[str, Any]]) -> None:
        """Write (id, effectiveness, priority) triples: executemany on SQLite, one UPDATE on PG."""
        if not updates:
            return
        if not self.is_postgresql:
            conn.execute(
                update(tables.patterns)
                .where(_P.id == bindparam("pid"))
                .values(effectiveness_score=bindparam("e"), priority_score=bindparam("p")),
                updates,
            )
            return
        # One UPDATE per row would also fire the change trigger once per row; one UPDATE
        # joined to three unnested arrays (three parameters in all) does the whole set.
        scores = (
            func.unnest(
                bindparam("ids", [u["pid"] for u in updates], type_=ARRAY(Text)),
                bindparam("es", [u["e"] for u in updates], type_=ARRAY(Double)),
                bindparam("ps", [u["p"] for u in updates], type_=ARRAY(Double)),
            )
            .table_valued("pid", "e", "p")
            .render_derived()
        )
        conn.execute(
            update(tables.patterns)
            .where(_P.id == scores.c.pid)
            .values(effectiveness_score=scores.c.e, priority_score=scores.c.p)
        )

    def soft_delete_pattern(self, pattern_id: str) -> bool:
        """Mark an active pattern inactive; False if unknown or already inactive (5.5)."""
        with self._connection() as conn:
            result = conn.execute(
                update(tables.patterns)
                .where(_P.id == pattern_id, func.coalesce(_P.active, 1) == 1)
                .values(active=False)
            )
        changed = result.rowcount > 0
        if changed:
            log_event(logging.INFO, "pattern_soft_deleted", pattern_id=pattern_id)
        return changed
