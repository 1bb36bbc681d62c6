"""Manual quarantine transitions of a pattern (contract section 5.7).

Each transition works on any pattern whatever its status or ``active`` flag, touches
exactly the side columns of the contract's table, and returns False for an unknown id.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import update

from store import tables
from store.base import GlobalLearningStoreBase, log_event
from store.models import QuarantineStatus

__all__ = ["PatternQuarantineMixin"]

_P = tables.patterns.c


class PatternQuarantineMixin(GlobalLearningStoreBase):
    """quarantine_pattern, validate_pattern, retire_pattern."""

    def _set_status(
        self,
        pattern_id: str,
        operation: str,
        event: str,
        event_fields: dict[str, object],
        **values: Any,
    ) -> bool:
        """One UPDATE by id; False (and Marianne's ``pattern_not_found``) for an unknown id.

        ``operation``, ``event`` and ``event_fields`` are what Marianne logs for the change.
        """
        with self._connection() as conn:
            result = conn.execute(
                update(tables.patterns).where(_P.id == pattern_id).values(**values)
            )
        if result.rowcount == 0:
            log_event(
                logging.WARNING, "pattern_not_found", pattern_id=pattern_id, operation=operation
            )
            return False
        log_event(logging.INFO, event, pattern_id=pattern_id, **event_fields)
        return True

    def quarantine_pattern(self, pattern_id: str, reason: str | None = None) -> bool:
        """Move to QUARANTINED: stamp ``quarantined_at``, overwrite the reason (NULL if none)."""
        return self._set_status(
            pattern_id,
            "quarantine",
            "pattern_quarantined",
            {"reason": reason or "no reason given"},
            quarantine_status=QuarantineStatus.QUARANTINED.value,
            quarantined_at=self._now_local(),
            quarantine_reason=reason,
        )

    def validate_pattern(self, pattern_id: str) -> bool:
        """Move to VALIDATED: stamp ``validated_at`` and clear the quarantine reason."""
        return self._set_status(
            pattern_id,
            "validation",
            "pattern_validated",
            {},
            quarantine_status=QuarantineStatus.VALIDATED.value,
            validated_at=self._now_local(),
            quarantine_reason=None,
        )

    def retire_pattern(self, pattern_id: str) -> bool:
        """Move to RETIRED; no timestamp is written."""
        return self._set_status(
            pattern_id,
            "retirement",
            "pattern_retired",
            {},
            quarantine_status=QuarantineStatus.RETIRED.value,
        )
