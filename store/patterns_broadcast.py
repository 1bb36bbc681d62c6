"""Pattern discovery broadcasts between concurrent jobs (contract section 5.10).

A job that finds a pattern records a short-lived event; other jobs poll for unexpired
ones. Times are naive local, and "unexpired" compares the stored text with ``now_local``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, select

from store import tables
from store.base import GlobalLearningStoreBase, hash_job, with_limit
from store.models import PatternDiscoveryEvent

__all__ = ["DEFAULT_ACTIVE_DISCOVERIES_LIMIT", "PatternBroadcastMixin"]

#: Bound of ``get_active_pattern_discoveries`` (Marianne's has none).
DEFAULT_ACTIVE_DISCOVERIES_LIMIT = 1000


class PatternBroadcastMixin(GlobalLearningStoreBase):
    """Recording, polling and cleaning up pattern discovery events."""

    def record_pattern_discovery(
        self,
        pattern_id: str,
        pattern_name: str,
        pattern_type: str,
        job_id: str,
        effectiveness_score: float = 1.0,
        context_tags: list[str] | None = None,
        ttl_seconds: float = 300.0,
    ) -> str:
        """Broadcast a discovery for ``ttl_seconds`` (negative TTLs allowed); return its id.

        The job id is hashed; the values are stored as given and the pattern is not
        checked to exist. A NaN effectiveness violates NOT NULL (IntegrityError).
        """
        event_id = str(uuid.uuid4())
        now = self._now_local()
        with self._connection() as conn:
            conn.execute(
                insert(tables.pattern_discovery_events).values(
                    id=event_id,
                    pattern_id=pattern_id,
                    pattern_name=pattern_name,
                    pattern_type=pattern_type,
                    source_job_hash=hash_job(job_id),
                    recorded_at=now,
                    expires_at=now + timedelta(seconds=ttl_seconds),
                    effectiveness_score=effectiveness_score,
                    context_tags=context_tags or [],
                )
            )
        self._logger.info(
            "broadcast discovery of %r (%s) for %.0fs", pattern_name, pattern_type, ttl_seconds
        )
        return event_id

    def check_recent_pattern_discoveries(
        self,
        exclude_job_id: str | None = None,
        pattern_type: str | None = None,
        min_effectiveness: float = 0.0,
        limit: int = 20,
    ) -> list[PatternDiscoveryEvent]:
        """Unexpired discoveries with at least ``min_effectiveness``, newest first.

        A truthy ``exclude_job_id`` leaves out that job's own broadcasts; ``pattern_type``
        filters whenever it is not None (so ``""`` matches only an empty type).
        """
        columns = tables.pattern_discovery_events.c
        query = select(tables.pattern_discovery_events).where(
            columns.expires_at > self._now_local(),
            columns.effectiveness_score >= min_effectiveness,
        )
        if exclude_job_id:
            query = query.where(columns.source_job_hash != hash_job(exclude_job_id))
        if pattern_type is not None:
            query = query.where(columns.pattern_type == pattern_type)
        return self._discoveries(query.order_by(columns.recorded_at.desc()), limit)

    def get_active_pattern_discoveries(
        self,
        pattern_type: str | None = None,
        *,
        limit: int = DEFAULT_ACTIVE_DISCOVERIES_LIMIT,
    ) -> list[PatternDiscoveryEvent]:
        """Every unexpired discovery, newest first; a truthy ``pattern_type`` filters.

        ``limit`` is ours (Marianne's method has no bound); it defaults to
        ``DEFAULT_ACTIVE_DISCOVERIES_LIMIT``, far above what a five-minute TTL leaves alive.
        A negative limit means no limit.
        """
        columns = tables.pattern_discovery_events.c
        query = select(tables.pattern_discovery_events).where(
            columns.expires_at > self._now_local()
        )
        if pattern_type:
            query = query.where(columns.pattern_type == pattern_type)
        return self._discoveries(query.order_by(columns.recorded_at.desc()), limit)

    def cleanup_expired_pattern_discoveries(self) -> int:
        """Delete discoveries whose ``expires_at <= now_local``; return how many went."""
        with self._connection() as conn:
            result = conn.execute(
                delete(tables.pattern_discovery_events).where(
                    tables.pattern_discovery_events.c.expires_at <= self._now_local()
                )
            )
        deleted = int(result.rowcount)
        if deleted:
            self._logger.debug("deleted %d expired pattern discoveries", deleted)
        return deleted

    def _discoveries(self, query: Any, limit: int) -> list[PatternDiscoveryEvent]:
        query = with_limit(query, limit)
        with self._connection() as conn:
            rows = conn.execute(query).all()
        return [
            PatternDiscoveryEvent(
                id=row.id,
                pattern_id=row.pattern_id,
                pattern_name=row.pattern_name,
                pattern_type=row.pattern_type,
                source_job_hash=row.source_job_hash,
                recorded_at=row.recorded_at,
                expires_at=row.expires_at,
                effectiveness_score=row.effectiveness_score,
                context_tags=row.context_tags if row.context_tags is not None else [],
            )
            for row in rows
        ]
