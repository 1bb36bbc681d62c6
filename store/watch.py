"""What a console watches for alerts, read cheaply: counts and bounded id sets.

``watch_snapshot`` is read by the console's poll worker only when the change probe moved,
and compared with the previous one by a pure function (``marianne_tui.alerts``). Every
read is an aggregate or a bounded, indexed read; none reads every pattern row:

* the status counts: one GROUP BY over ``idx_patterns_quarantine`` (the header's own);
* active rate limits: ``idx_rate_limit_expires``, newest expiry first, at most WATCH_LIMIT;
* escalations awaiting an outcome: newest first, at most WATCH_LIMIT (the table is small:
  one row per escalation a conductor raised);
* drifting patterns (effectiveness or epistemic drift past its threshold, as the Drift
  screen lists them): the kept drift aggregates (``drift_report``), recomputed only for
  the patterns that got applications since the last read; the first read computes them
  all (~1.8 s at 20,000 patterns and 500,000 applications), which the console does after
  showing its first screen. Their ids are read only while they fit WATCH_LIMIT; past it
  the alert uses only the count and the largest drift, so only those are read
  (``drift_report(limit=1)``, when the previous snapshot was already past the limit);
* the journal entries newer than the previous snapshot's mark (primary key range);
* only when the status counts moved: the patterns whose ``quarantined_at`` or
  ``validated_at`` is newer than the previous read, at most STAMPED_LIMIT (a scan, but
  only on the rare refresh where a status changed).

A status change that is neither journalled nor stamped (Marianne's ``retire_pattern``
stamps nothing) still shows in the counts; the alert then says how the counts moved
without naming the pattern. Two changes that cancel out in the counts between two reads
(one pattern pending -> quarantined, another quarantined -> pending, neither journalled
nor stamped) are not seen: the price of never reading the whole status map.
"""

from __future__ import annotations

from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol, cast

from sqlalchemy import Text, func, or_, select, type_coerce

from store import tables
from store.base import GlobalLearningStoreBase, in_bound_list
from store.journal import _journal_entry, default_operator, this_host
from store.listings import _status
from store.readmodels import (
    DriftReport,
    JournalEntry,
    StoreOverview,
    WatchedItem,
    WatchSnapshot,
)
from store.tables import to_iso

__all__ = ["JOURNAL_LIMIT", "STAMPED_LIMIT", "WATCH_LIMIT", "WatchMixin"]

#: At most this many ids per watched set (rate limits, escalations, drifting patterns).
WATCH_LIMIT = 500
#: At most this many new journal entries per snapshot (more: ``journal_truncated``).
JOURNAL_LIMIT = 1000
#: At most this many newly stamped patterns are named.
STAMPED_LIMIT = 50
#: The drift the console alerts on: Marianne's summary window and threshold.
WATCH_DRIFT_WINDOW = 5
WATCH_DRIFT_THRESHOLD = 0.2

_P = tables.patterns
_E = tables.escalation_decisions
_L = tables.rate_limit_events
_J = tables.operator_journal


class _WatchedStore(Protocol):
    """What the other mixins of the composed store give this one."""

    operator: str | None
    operator_host: str | None

    def store_overview(self) -> StoreOverview: ...

    def drift_report(self, *, window_size: int = 5, drift_threshold: float = 0.2,
                     epistemic_threshold: float = 0.15, only_exceeding: bool = True,
                     limit: int = 200, offset: int = 0) -> DriftReport: ...

    def _journal_exists(self, conn: Any) -> bool: ...

    def _journal_select(self, conn: Any) -> Any: ...


class WatchMixin(GlobalLearningStoreBase):
    """``watch_snapshot``: the read-model of what a console alerts on."""

    def watch_snapshot(
        self,
        previous: WatchSnapshot | None = None,
        overview: StoreOverview | None = None,
    ) -> WatchSnapshot:
        """What is watched now. ``previous`` bounds the journal and stamp reads to what is
        new since it; ``overview`` (read in the same poll) saves reading its numbers again.
        """
        me = cast(_WatchedStore, self)
        overview = overview or me.store_overview()
        read_at = self._now_local()
        drifting, drifting_total = self._drifting(
            previous is not None and previous.drifting_total > WATCH_LIMIT
        )
        counts = dict(overview.status_counts)
        with self._connection() as conn:
            escalations = conn.execute(
                select(_E.c.id, _E.c.job_hash, _E.c.sheet_num)
                .where(_E.c.outcome_after_action.is_(None))
                .order_by(type_coerce(_E.c.recorded_at, Text).desc(), _E.c.id.desc())
                .limit(WATCH_LIMIT)
            ).all()
            limits = conn.execute(
                select(_L.c.id, _L.c.error_code, _L.c.model)
                .where(_L.c.expires_at > self._now_utc())
                .order_by(_L.c.expires_at.desc())
                .limit(WATCH_LIMIT)
            ).all()
            mark, entries, truncated = self._journal_since(
                conn, previous.journal_mark if previous is not None else None
            )
            stamped: tuple[WatchedItem, ...] = ()
            if previous is not None and counts != dict(previous.status_counts):
                stamped = self._stamped_since(conn, previous.read_at)
            names = self._pattern_names(conn, {entry.target_id for entry in entries
                                               if entry.target_kind.value == "pattern"})
        return WatchSnapshot(
            read_at=read_at,
            diversity=overview.diversity,
            diversity_threshold=overview.diversity_threshold,
            budget=overview.budget,
            budget_floor=overview.budget_floor,
            status_counts=MappingProxyType(counts),
            pending_escalations=tuple(
                WatchedItem(str(row.id), f"sheet {row.sheet_num} of job {row.job_hash}")
                for row in escalations
            ),
            pending_escalations_total=overview.pending_escalations,
            rate_limits=tuple(
                WatchedItem(str(row.id), f"{row.error_code} on {row.model or 'any model'}")
                for row in limits
            ),
            drifting=drifting,
            drifting_total=drifting_total,
            drift_threshold=WATCH_DRIFT_THRESHOLD,
            journal_mark=mark,
            journal_since=entries,
            journal_truncated=truncated,
            stamped=stamped,
            names=MappingProxyType(names),
            me=(me.operator or default_operator(), me.operator_host or this_host()),
            watch_limit=WATCH_LIMIT,
        )

    def _drifting(self, past_limit: bool) -> tuple[tuple[WatchedItem, ...], int]:
        """(the drifting patterns, largest drift first, how many drift in all).

        At most WATCH_LIMIT of them, and past it only the largest: the alert then says
        how the count moved and points at the largest (``marianne_tui.alerts``), so the
        other rows would be read for nothing (each read row also costs a look-up of its
        current status and priority). ``past_limit`` (the previous snapshot was past it)
        reads the largest alone first, and the whole list only if it fits again.
        """
        me = cast(_WatchedStore, self)

        def read(limit: int) -> DriftReport:
            return me.drift_report(
                window_size=WATCH_DRIFT_WINDOW, drift_threshold=WATCH_DRIFT_THRESHOLD,
                only_exceeding=True, limit=limit,
            )

        drift = read(1 if past_limit else WATCH_LIMIT)
        if len(drift.rows) < drift.matching <= WATCH_LIMIT:
            drift = read(WATCH_LIMIT)  # it fits again
        rows = drift.rows if drift.matching <= WATCH_LIMIT else drift.rows[:1]
        items = tuple(WatchedItem(row.pattern_id, row.pattern_name) for row in rows)
        return items, drift.matching

    def _journal_since(
        self, conn: Any, mark: int | None
    ) -> tuple[int, tuple[JournalEntry, ...], bool]:
        """(the newest journal id, the entries after ``mark`` oldest first, truncated?).

        Without a mark (the first snapshot) only the newest id is read: the baseline.
        """
        me = cast(_WatchedStore, self)
        if not me._journal_exists(conn):
            return 0, (), False
        newest = int(conn.execute(select(func.coalesce(func.max(_J.c.id), 0))).scalar_one())
        if mark is None or newest <= mark:
            return max(newest, mark or 0), (), False
        rows = conn.execute(
            me._journal_select(conn).where(_J.c.id > mark).order_by(_J.c.id)
            .limit(JOURNAL_LIMIT + 1)
        ).all()
        entries = tuple(_journal_entry(row) for row in rows[:JOURNAL_LIMIT])
        return newest, entries, len(rows) > JOURNAL_LIMIT

    def _stamped_since(self, conn: Any, since: datetime) -> tuple[WatchedItem, ...]:
        after = to_iso(since)
        rows = conn.execute(
            select(_P.c.id, _P.c.pattern_name, _status.label("status"))
            .where(or_(type_coerce(_P.c.quarantined_at, Text) > after,
                       type_coerce(_P.c.validated_at, Text) > after))
            .limit(STAMPED_LIMIT)
        ).all()
        return tuple(WatchedItem(str(row.id), str(row.pattern_name), str(row.status))
                     for row in rows)

    def _pattern_names(self, conn: Any, ids: set[str]) -> dict[str, str]:
        if not ids:
            return {}
        statement = select(_P.c.id, _P.c.pattern_name).where(
            in_bound_list(_P.c.id, "ids", postgresql=self.is_postgresql)
        )
        names: dict[str, str] = {}
        ordered = sorted(ids)
        for start in range(0, len(ordered), 500):
            for pattern_id, name in conn.execute(statement, {"ids": ordered[start:start + 500]}):
                names[str(pattern_id)] = str(name)
        return names
