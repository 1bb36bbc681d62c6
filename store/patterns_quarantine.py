"""Manual quarantine transitions of a pattern (contract section 5.7).

Each transition works on any pattern whatever its status or ``active`` flag, touches
exactly the side columns of the contract's table, and returns False for an unknown id.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from store import tables
from store.base import GlobalLearningStoreBase
from store.models import QuarantineStatus

__all__ = ["PatternQuarantineMixin"]

_P = tables.patterns.c


class PatternQuarantineMixin(GlobalLearningStoreBase):
    """quarantine_pattern, validate_pattern, retire_pattern."""

    def _set_status(self, pattern_id: str, operation: str, **values: Any) -> bool:
        """One UPDATE by id; False (and a warning) when no row has that id."""
        with self._connection() as conn:
            result = conn.execute(
                update(tables.patterns).where(_P.id == pattern_id).values(**values)
            )
        if result.rowcount == 0:
            self._logger.warning("%s: pattern %s not found", operation, pattern_id)
            return False
        self._logger.info("%s: pattern %s", operation, pattern_id)
        return True

    def quarantine_pattern(self, pattern_id: str, reason: str | None = None) -> bool:
        """Move to QUARANTINED: stamp ``quarantined_at``, overwrite the reason (NULL if none)."""
        return self._set_status(
            pattern_id,
            "quarantine",
            quarantine_status=QuarantineStatus.QUARANTINED.value,
            quarantined_at=self._now_local(),
            quarantine_reason=reason,
        )

    def validate_pattern(self, pattern_id: str) -> bool:
        """Move to VALIDATED: stamp ``validated_at`` and clear the quarantine reason."""
        return self._set_status(
            pattern_id,
            "validate",
            quarantine_status=QuarantineStatus.VALIDATED.value,
            validated_at=self._now_local(),
            quarantine_reason=None,
        )

    def retire_pattern(self, pattern_id: str) -> bool:
        """Move to RETIRED; no timestamp is written."""
        return self._set_status(
            pattern_id, "retire", quarantine_status=QuarantineStatus.RETIRED.value
        )
