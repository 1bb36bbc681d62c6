"""Rate limits shared across workspaces (contract section 7).

Unlike every other table, rate-limit events use the UTC clock: both timestamps are written
with a ``+00:00`` suffix and compared, as text, with ``now_utc`` in the same form.
"""

from __future__ import annotations

import math
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, select

from store import tables
from store.base import GlobalLearningStoreBase, hash_job, with_limit
from store.models import RateLimitEvent

__all__ = ["DEFAULT_ACTIVE_RATE_LIMITS_LIMIT", "RateLimitMixin"]

#: Bound of ``get_active_rate_limits`` (Marianne's has none).
DEFAULT_ACTIVE_RATE_LIMITS_LIMIT = 1000

#: Events expire after this share of the announced duration (a conservative TTL).
_EXPIRY_SHARE = 0.8


class RateLimitMixin(GlobalLearningStoreBase):
    """Recording and checking rate-limit events."""

    def record_rate_limit_event(
        self,
        error_code: str,
        duration_seconds: float,
        job_id: str,
        model: str | None = None,
    ) -> str:
        """Record that ``job_id`` hit a rate limit; it expires after 0.8 * duration.

        The duration is stored raw; a negative one makes an event that is already expired.
        A NaN duration raises ValueError before anything is written, as in Marianne.
        """
        if math.isnan(duration_seconds):
            raise ValueError("rate limit duration is NaN")
        event_id = str(uuid.uuid4())
        now = self._now_utc()
        expires_at = now + timedelta(seconds=duration_seconds * _EXPIRY_SHARE)
        with self._connection() as conn:
            conn.execute(
                insert(tables.rate_limit_events).values(
                    id=event_id,
                    error_code=error_code,
                    model=model,
                    recorded_at=now,
                    expires_at=expires_at,
                    source_job_hash=hash_job(job_id),
                    duration_seconds=duration_seconds,
                )
            )
        self._logger.info(
            "recorded rate limit %s (%s), expires in %.0fs",
            event_id, error_code, duration_seconds * _EXPIRY_SHARE,
        )
        return event_id

    def is_rate_limited(
        self, error_code: str | None = None, model: str | None = None
    ) -> tuple[bool, float | None]:
        """``(True, seconds left)`` while a matching event is unexpired, else ``(False, None)``.

        ``error_code`` and ``model`` filter whenever they are not None, so an event stored
        without a model does not block a model-specific check. The caller's own job is
        not excluded (Marianne's docstring says otherwise; its code does not).
        """
        columns = tables.rate_limit_events.c
        now = self._now_utc()
        query = select(columns.expires_at).where(columns.expires_at > now)
        if error_code is not None:
            query = query.where(columns.error_code == error_code)
        if model is not None:
            query = query.where(columns.model == model)
        query = query.order_by(columns.expires_at.desc()).limit(1)
        with self._connection() as conn:
            expires_at = conn.execute(query).scalar()
        if expires_at is None:
            return False, None
        remaining = (expires_at - now).total_seconds()
        if remaining <= 0:
            return False, None
        return True, remaining

    def get_active_rate_limits(
        self,
        model: str | None = None,
        *,
        limit: int = DEFAULT_ACTIVE_RATE_LIMITS_LIMIT,
    ) -> list[RateLimitEvent]:
        """Unexpired events, latest expiry first; a truthy ``model`` filters.

        ``limit`` is ours (Marianne's method has no bound); a negative limit means none.
        """
        columns = tables.rate_limit_events.c
        query: Any = select(tables.rate_limit_events).where(columns.expires_at > self._now_utc())
        if model:
            query = query.where(columns.model == model)
        query = query.order_by(columns.expires_at.desc())
        query = with_limit(query, limit)
        with self._reads_connection() as conn:
            rows = conn.execute(query).all()
        return [
            RateLimitEvent(
                id=row.id,
                error_code=row.error_code,
                model=row.model,
                recorded_at=row.recorded_at,
                expires_at=row.expires_at,
                source_job_hash=row.source_job_hash,
                duration_seconds=row.duration_seconds,
            )
            for row in rows
        ]

    def cleanup_expired_rate_limits(self) -> int:
        """Delete events whose ``expires_at <= now_utc``; return how many went."""
        with self._connection() as conn:
            result = conn.execute(
                delete(tables.rate_limit_events).where(
                    tables.rate_limit_events.c.expires_at <= self._now_utc()
                )
            )
        deleted = int(result.rowcount)
        if deleted:
            self._logger.debug("deleted %d expired rate limit events", deleted)
        return deleted
