"""The evidence behind one pattern: its applications, its effectiveness, its drift windows.

Every read here names one pattern and goes through ``idx_app_pattern`` (the index Marianne's
schema has on ``pattern_applications.pattern_id``), and every read is bounded: a page of
rows (limit and offset), the latest N for the trend, the 2W latest for the drift windows.
The only statements that touch all of a pattern's rows are counts and one MAX, aggregates
over that index. Values are read tolerantly (a malformed time or grounding is None), as the
console's other reads are: one bad row must not hide a pattern's evidence.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Row, Text, case, func, select, type_coerce
from sqlalchemy.sql.elements import UnaryExpression

from store import metrics, tables
from store.base import GlobalLearningStoreBase
from store.escalation import parse_stored_time
from store.readmodels import (
    ApplicationPage,
    DriftWindows,
    EffectivenessTrend,
    PatternApplication,
    WindowStats,
)

__all__ = ["APPLICATION_PAGE_LIMIT", "TREND_LIMIT", "EvidenceMixin"]

#: The most application rows one page may hold.
APPLICATION_PAGE_LIMIT = 500
#: The most points an effectiveness trend may hold.
TREND_LIMIT = 1000

_A = tables.pattern_applications
_P = tables.patterns


def _number(raw: Any) -> float | None:
    """A stored REAL as a float; None when NULL, NaN or not a number at all."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _whole(raw: Any) -> int | None:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def _application(row: Row[Any]) -> PatternApplication:
    success = row.succeeded
    return PatternApplication(
        id=str(row.id),
        applied_at=parse_stored_time(row.applied_at),
        execution_id=row.execution_id,
        succeeded=None if success is None else bool(_whole(success)),
        grounding=_number(row.grounding),
        retries_before=_whole(row.retries_before),
        retries_after=_whole(row.retries_after),
    )


def _window(rows: list[PatternApplication], window_size: int) -> WindowStats:
    grounding = [row.grounding for row in rows if row.grounding is not None]
    successes = sum(1 for row in rows if row.succeeded)
    times = [row.applied_at for row in rows if row.applied_at is not None]
    return WindowStats(
        applications=len(rows),
        successes=successes,
        grounded=len(grounding),
        mean_grounding=sum(grounding) / len(grounding) if grounding else None,
        effectiveness=metrics.window_effectiveness(successes, window_size),
        first_at=min(times, default=None) if _comparable(times) else None,
        last_at=max(times, default=None) if _comparable(times) else None,
    )


def _comparable(times: list[datetime]) -> bool:
    """Naive and aware stamps cannot be ordered together (min/max would raise)."""
    return len({time.tzinfo is None for time in times}) <= 1


def _pair(newest_first: list[PatternApplication], window_size: int
          ) -> tuple[WindowStats | None, WindowStats | None]:
    """(older, recent) windows of the 2W rows, or (None, None) when there are fewer."""
    if window_size <= 0 or len(newest_first) < 2 * window_size:
        return None, None
    recent = newest_first[:window_size]
    older = newest_first[window_size : 2 * window_size]
    return _window(older, window_size), _window(recent, window_size)


class EvidenceMixin(GlobalLearningStoreBase):
    """Bounded reads of one pattern's application history, for a detail view."""

    def _applications_select(self) -> Any:
        return select(
            _A.c.id,
            type_coerce(_A.c.applied_at, Text).label("applied_at"),
            _A.c.execution_id,
            type_coerce(_A.c.pattern_led_to_success, Integer).label("succeeded"),
            type_coerce(_A.c.grounding_confidence, Text).label("grounding"),
            type_coerce(_A.c.retry_count_before, Text).label("retries_before"),
            type_coerce(_A.c.retry_count_after, Text).label("retries_after"),
        )

    def _latest_first(self) -> list[UnaryExpression[Any]]:
        """``applied_at DESC, id DESC`` in byte order, NULL times last, on both backends.

        The drift reads order the same way, so the windows here are the windows they use.
        """
        if self.is_postgresql:
            return [_A.c.applied_at.desc().nulls_last(), _A.c.id.collate("C").desc()]
        return [_A.c.applied_at.desc(), _A.c.id.desc()]

    def _latest_applications(self, conn: Any, pattern_id: str, limit: int, offset: int = 0,
                             *, grounded: bool = False) -> list[PatternApplication]:
        statement = self._applications_select().where(_A.c.pattern_id == pattern_id)
        if grounded:
            statement = statement.where(_A.c.grounding_confidence.is_not(None))
        statement = statement.order_by(*self._latest_first()).limit(limit).offset(offset)
        return [_application(row) for row in conn.execute(statement)]

    def _application_counts(self, conn: Any, pattern_id: str) -> tuple[int, int]:
        """(applications, successes) of a pattern, from its application rows."""
        row = conn.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((_A.c.pattern_led_to_success == 1, 1), else_=0)),
                              0),
            ).where(_A.c.pattern_id == pattern_id)
        ).one()
        return int(row[0]), int(row[1])

    # -- the reads ----------------------------------------------------------------------

    def pattern_applications_page(
        self, pattern_id: str, limit: int = 20, offset: int = 0
    ) -> ApplicationPage:
        """One page of a pattern's applications, newest first, and how many it has.

        ``limit`` is capped at ``APPLICATION_PAGE_LIMIT``; a negative offset counts as 0.
        An unknown pattern id gives an empty page (application rows need no pattern row:
        the store has no foreign keys, so rows of a deleted pattern are listed too).
        """
        limit = max(0, min(limit, APPLICATION_PAGE_LIMIT))
        offset = max(0, offset)
        with self._connection() as conn:
            total = int(conn.execute(
                select(func.count()).where(_A.c.pattern_id == pattern_id)
            ).scalar_one())
            rows = (self._latest_applications(conn, pattern_id, limit, offset)
                    if limit and offset < total else [])
        return ApplicationPage(pattern_id=pattern_id, rows=tuple(rows), total=total,
                               offset=offset, limit=limit)

    def effectiveness_trend(self, pattern_id: str, limit: int = 120) -> EffectivenessTrend:
        """E after each of the ``limit`` latest applications (capped at ``TREND_LIMIT``).

        The store's own formula (section 5.3) replayed in application order by
        ``metrics.effectiveness_series``: the counts before the first point come from
        the older application rows (one aggregate), the recent window from the four rows
        before it, and ``last_confirmed`` from the latest older success (or the pattern's
        creation, when ``record_pattern`` set it).
        """
        limit = max(0, min(limit, TREND_LIMIT))
        lead_in = metrics.RECENT_APPLICATIONS - 1
        with self._connection() as conn:
            total, successes = self._application_counts(conn, pattern_id)
            newest_first = self._latest_applications(conn, pattern_id, limit + lead_in)
            fetched = list(reversed(newest_first))
            older = total - len(fetched)
            older_successes = successes - sum(1 for row in fetched if row.succeeded)
            confirmed = self._confirmed_before(conn, pattern_id, fetched, older_successes)
        outcomes = [
            metrics.AppliedOutcome(row.applied_at, bool(row.succeeded), row.grounding)
            for row in fetched
        ]
        values = metrics.effectiveness_series(
            outcomes,
            prior_successes=older_successes,
            prior_failures=older - older_successes,
            confirmed_at=confirmed,
        )
        shown = min(limit, len(values))
        return EffectivenessTrend(pattern_id=pattern_id,
                                  values=values[len(values) - shown :],
                                  applications=total)

    def _confirmed_before(self, conn: Any, pattern_id: str,
                          fetched: list[PatternApplication], older_successes: int
                          ) -> datetime | None:
        """``last_confirmed`` just before the first fetched application."""
        if fetched and older_successes > 0 and fetched[0].applied_at is not None:
            latest = conn.execute(
                select(func.max(type_coerce(_A.c.applied_at, Text)))
                .where(_A.c.pattern_id == pattern_id)
                .where(_A.c.pattern_led_to_success == 1)
                .where(_A.c.applied_at <= fetched[0].applied_at)
            ).scalar_one_or_none()
            found = parse_stored_time(latest)
            if found is not None:
                return found
        created = conn.execute(
            select(type_coerce(_P.c.first_seen, Text)).where(_P.c.id == pattern_id)
        ).scalar_one_or_none()
        return parse_stored_time(created)

    def drift_windows(self, pattern_id: str, window_size: int = 5) -> DriftWindows:
        """The windows both drift formulas compare: 2W latest rows, 2W latest grounded rows."""
        window_size = max(0, min(window_size, APPLICATION_PAGE_LIMIT // 2))
        with self._connection() as conn:
            latest = self._latest_applications(conn, pattern_id, 2 * window_size)
            if len(latest) == 2 * window_size and all(
                row.grounding is not None for row in latest
            ):
                grounded = latest  # the usual case: no second pass over the pattern's rows
            else:
                grounded = self._latest_applications(conn, pattern_id, 2 * window_size,
                                                     grounded=True)
        older, recent = _pair(latest, window_size)
        belief_older, belief_recent = _pair(grounded, window_size)
        return DriftWindows(pattern_id=pattern_id, window_size=window_size,
                            older=older, recent=recent,
                            belief_older=belief_older, belief_recent=belief_recent)
