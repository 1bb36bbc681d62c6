"""Automatic promotion and degradation of patterns, and manual status changes (section 5.7).

Promotion goes to VALIDATED at effectiveness >= 0.60 (the old docstrings' "ACTIVE at > 0.60"
is not what Marianne does). Nothing moves a pattern to RETIRED automatically.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, select, update

from store import tables
from store.base import GlobalLearningStoreBase, log_event
from store.models import QuarantineStatus
from store.patterns_query import fetch_pattern

__all__ = [
    "DEGRADATION_THRESHOLD",
    "MIN_OCCURRENCES_FOR_PROMOTION",
    "PROMOTION_EFFECTIVENESS_THRESHOLD",
    "QUARANTINE_EFFECTIVENESS_THRESHOLD",
    "PatternLifecycleMixin",
]

#: Applications (successes + failures) a pattern needs before the lifecycle judges it.
MIN_OCCURRENCES_FOR_PROMOTION = 3
#: Pending patterns at or above this stored effectiveness become VALIDATED.
PROMOTION_EFFECTIVENESS_THRESHOLD = 0.60
#: Pending patterns below this stored effectiveness become QUARANTINED.
QUARANTINE_EFFECTIVENESS_THRESHOLD = 0.35
#: Validated (or legacy "active") patterns below this become QUARANTINED.
DEGRADATION_THRESHOLD = 0.30

#: The status Marianne used before "validated"; rows may still carry it.
_LEGACY_ACTIVE = "active"

_P = tables.patterns.c
_APPLICATIONS = _P.led_to_success_count + _P.led_to_failure_count


#: Ids per ``IN (...)`` list, well below SQLite's and PostgreSQL's parameter limits.
_ID_CHUNK = 1000


def _move(conn: Connection, pattern_ids: list[str], **values: object) -> None:
    for start in range(0, len(pattern_ids), _ID_CHUNK):
        chunk = pattern_ids[start:start + _ID_CHUNK]
        conn.execute(update(tables.patterns).where(_P.id.in_(chunk)).values(**values))


class PatternLifecycleMixin(GlobalLearningStoreBase):
    """promote_ready_patterns and update_quarantine_status."""

    def promote_ready_patterns(self) -> dict[str, list[str]]:
        """Judge patterns with enough applications by their **stored** effectiveness.

        In one transaction: pending patterns with E >= 0.60 become VALIDATED
        (``validated_at``), those with E < 0.35 become QUARANTINED (``quarantined_at``),
        the rest stay pending; then validated or legacy ``active`` patterns with E < 0.30
        become QUARANTINED. Returns the ids under ``promoted``, ``quarantined`` and
        ``degraded``. A pending row whose effectiveness is NULL stays pending (Marianne
        would fail comparing None).
        """
        now = self._now_local()
        promoted: list[str] = []
        quarantined: list[str] = []
        with self._connection() as conn:
            pending = conn.execute(
                select(_P.id, _P.effectiveness_score)
                .where(
                    _P.quarantine_status == QuarantineStatus.PENDING.value,
                    _APPLICATIONS >= MIN_OCCURRENCES_FOR_PROMOTION,
                )
                .order_by(_P.id)
            ).all()
            for pattern_id, effectiveness in pending:
                if effectiveness is None:
                    continue
                if effectiveness >= PROMOTION_EFFECTIVENESS_THRESHOLD:
                    promoted.append(pattern_id)
                elif effectiveness < QUARANTINE_EFFECTIVENESS_THRESHOLD:
                    quarantined.append(pattern_id)
            _move(conn, promoted,
                  quarantine_status=QuarantineStatus.VALIDATED.value, validated_at=now)
            _move(conn, quarantined,
                  quarantine_status=QuarantineStatus.QUARANTINED.value, quarantined_at=now)

            # After promotion, so a pattern promoted just now (E >= 0.60) is never degraded.
            degraded = list(
                conn.execute(
                    select(_P.id)
                    .where(
                        _P.quarantine_status.in_(
                            [QuarantineStatus.VALIDATED.value, _LEGACY_ACTIVE]
                        ),
                        _P.effectiveness_score < DEGRADATION_THRESHOLD,
                        _APPLICATIONS >= MIN_OCCURRENCES_FOR_PROMOTION,
                    )
                    .order_by(_P.id)
                ).scalars()
            )
            _move(conn, degraded,
                  quarantine_status=QuarantineStatus.QUARANTINED.value, quarantined_at=now)
        if promoted or quarantined or degraded:
            log_event(
                logging.INFO,
                "pattern_lifecycle.promotion_cycle_complete",
                promoted_count=len(promoted),
                quarantined_count=len(quarantined),
                degraded_count=len(degraded),
            )
        return {"promoted": promoted, "quarantined": quarantined, "degraded": degraded}

    def update_quarantine_status(
        self, pattern_id: str, new_status: QuarantineStatus
    ) -> bool:
        """Set a status by hand; False for an unknown id.

        VALIDATED stamps only ``validated_at`` and QUARANTINED only ``quarantined_at`` (the
        reason is left alone); PENDING and RETIRED touch nothing else. The pattern is read
        first, so a row with a legacy status raises ValueError, as in Marianne.
        """
        status = QuarantineStatus(new_status)
        with self._connection() as conn:
            pattern = fetch_pattern(conn, pattern_id)
        if pattern is None:
            log_event(logging.WARNING, "pattern_lifecycle.update_not_found", pattern_id=pattern_id)
            return False
        now = self._now_local()
        values: dict[str, object] = {"quarantine_status": status.value}
        if status is QuarantineStatus.VALIDATED:
            values["validated_at"] = now
        elif status is QuarantineStatus.QUARANTINED:
            values["quarantined_at"] = now
        with self._connection() as conn:
            conn.execute(update(tables.patterns).where(_P.id == pattern_id).values(**values))
        log_event(
            logging.INFO,
            "pattern_lifecycle.status_updated",
            pattern_id=pattern_id,
            old_status=pattern.quarantine_status.value,
            new_status=status.value,
        )
        return True
