"""Trust scores of patterns (contract section 5.8).

Trust weighs a pattern's successes and failures against how often it was seen, decays with
the days since it was last confirmed, and moves with its quarantine status. The formula is
``store.metrics.trust``; this module reads its inputs and writes the result.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Double, Text, bindparam, column, select, update, values

from store import metrics, tables
from store.base import GlobalLearningStoreBase, log_event
from store.models import PatternRecord, QuarantineStatus

__all__ = ["PatternTrustMixin"]

#: Patterns read per round trip by ``recalculate_all_trust_scores``.
_RECALCULATION_CHUNK = 2000


class PatternTrustMixin(GlobalLearningStoreBase):
    """Calculating, nudging and recalculating pattern trust."""

    if TYPE_CHECKING:
        # Provided by PatternQueryMixin in the composed store.
        def get_pattern_by_id(self, pattern_id: str) -> PatternRecord | None: ...

    def calculate_trust_score(self, pattern_id: str) -> float | None:
        """Compute the pattern's trust, store it with ``now_local``, and return it.

        T = 0.5 + 0.3*min(1, s/N) - 0.4*min(1, f/N) + 0.2*0.9^(d/30), where N is the
        occurrence count (0 counts as 1) and d the whole days since ``last_confirmed``;
        -0.2 when quarantined, +0.1 when validated; clamped to [0, 1].

        As in Marianne, the read and the write are two separate transactions (one, inside
        ``batch_connection()``). Returns None for an unknown id, writing nothing.
        """
        pattern = self.get_pattern_by_id(pattern_id)
        if pattern is None:
            return None
        now = self._now_local()
        score = _trust_of(
            pattern.occurrence_count,
            pattern.led_to_success_count,
            pattern.led_to_failure_count,
            pattern.last_confirmed,
            pattern.quarantine_status,
            now,
        )
        with self._connection() as conn:
            _write_trust(conn, pattern_id, score, now)
        self._logger.debug("trust score of %s is now %.3f", pattern_id, score)
        return score

    def update_trust_score(self, pattern_id: str, delta: float) -> float | None:
        """Add ``delta`` to the (clamped) stored trust, clamp to [0, 1], store and return it.

        The calculation date is set to ``now_local``. Returns None for an unknown id.
        """
        pattern = self.get_pattern_by_id(pattern_id)
        if pattern is None:
            return None
        score = metrics.clamp(float(pattern.trust_score) + delta, 0.0, 1.0)
        with self._connection() as conn:
            _write_trust(conn, pattern_id, score, self._now_local())
        self._logger.debug(
            "trust score of %s moved from %.3f to %.3f", pattern_id, pattern.trust_score, score
        )
        return score

    def recalculate_all_trust_scores(self) -> int:
        """Recalculate the trust of every pattern (inactive ones included); return the count.

        Deliberate difference from Marianne, for speed: Marianne calls
        ``calculate_trust_score`` once per pattern, with two connections and one commit each
        (95 s for 20,000 patterns). This reads the few columns the formula needs in chunks
        and writes every score in one transaction (one connection, one commit). The stored
        scores, calculation dates and the returned count are identical.

        One visible difference: if a row cannot be read as a pattern (a legacy
        ``quarantine_status='active'`` raises ValueError and a NULL ``last_confirmed``
        TypeError, as every pattern read does), nothing is written, where Marianne would
        have kept the scores it had committed before reaching that row.
        """
        columns = tables.patterns.c
        now = self._now_local()
        updated = 0
        with self._connection() as conn:
            last_id: str | None = None
            while True:
                query = (
                    select(
                        columns.id,
                        columns.occurrence_count,
                        columns.led_to_success_count,
                        columns.led_to_failure_count,
                        columns.last_confirmed,
                        columns.quarantine_status,
                    )
                    .where(columns.id.is_not(None))
                    .order_by(columns.id)
                    .limit(_RECALCULATION_CHUNK)
                )
                if last_id is not None:
                    query = query.where(columns.id > last_id)
                rows = conn.execute(query).all()
                if not rows:
                    break
                scores = [
                    (
                        row.id,
                        _trust_of(
                            row.occurrence_count,
                            row.led_to_success_count,
                            row.led_to_failure_count,
                            _required_time(row.last_confirmed),
                            QuarantineStatus(row.quarantine_status or "pending"),
                            now,
                        ),
                    )
                    for row in rows
                ]
                self._write_trust_scores(conn, scores, now)
                updated += len(rows)
                last_id = rows[-1].id
        log_event(logging.INFO, "trust_scores_recalculated", count=updated)
        return updated

    def _write_trust_scores(
        self, conn: Connection, scores: list[tuple[str, float]], now: datetime
    ) -> None:
        columns = tables.patterns.c
        if self.is_postgresql:
            # One UPDATE ... FROM (VALUES ...) per chunk: an executemany would be one
            # round trip (and one change-trigger firing) per pattern.
            chunk = values(
                column("target_id", Text), column("score", Double), name="new_trust"
            ).data(scores)
            conn.execute(
                update(tables.patterns)
                .where(columns.id == chunk.c.target_id)
                .values(trust_score=chunk.c.score, trust_calculation_date=now)
            )
            return
        # SQLite runs an executemany in-process, which is fast, and needs no UPDATE FROM.
        conn.execute(
            update(tables.patterns)
            .where(columns.id == bindparam("target_id"))
            .values(trust_score=bindparam("score"), trust_calculation_date=now),
            [{"target_id": pattern_id, "score": score} for pattern_id, score in scores],
        )


def _trust_of(
    occurrence_count: int | None,
    successes: int | None,
    failures: int | None,
    last_confirmed: datetime,
    status: QuarantineStatus,
    now: datetime,
) -> float:
    days = (now - last_confirmed).days
    return metrics.trust(
        occurrence_count or 0, successes or 0, failures or 0, days, status.value
    )


def _required_time(value: datetime | None) -> datetime:
    # A pattern row must carry last_confirmed (contract section 4); reading fails otherwise.
    if value is None:
        raise TypeError("pattern row has no last_confirmed")
    return value


def _write_trust(conn: Connection, pattern_id: str, score: float, now: datetime) -> None:
    conn.execute(
        update(tables.patterns)
        .where(tables.patterns.c.id == pattern_id)
        .values(trust_score=score, trust_calculation_date=now)
    )
