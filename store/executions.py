"""Sheet executions, workspace clusters and error recoveries (contract section 6).

``record_outcome`` accepts Marianne's own ``SheetOutcome`` (or anything with the same
attributes); callers without Marianne can use the ``SheetOutcome`` and ``SheetStatus``
defined here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Row, case, distinct, func, insert, select
from sqlalchemy.dialects import sqlite

from store import metrics, tables
from store.base import GlobalLearningStoreBase, hash_job, hash_workspace, with_limit
from store.models import ExecutionRecord

__all__ = [
    "ExecutionMixin",
    "OutcomeLike",
    "SheetOutcome",
    "SheetStatus",
]

#: How many recent successful recoveries a learned wait looks at.
_LEARNED_WAIT_WINDOW = 20
#: An hour needs this many recoveries before it is called optimal or to avoid.
_MIN_SAMPLES_PER_HOUR = 3


class SheetStatus(str, Enum):
    """The status of a sheet, with the values of Marianne's ``SheetStatus``."""

    PENDING = "pending"
    READY = "ready"
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting"
    RETRY_SCHEDULED = "retry_scheduled"
    FERMATA = "fermata"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


@dataclass
class SheetOutcome:
    """The outcome of one sheet run: the fields of Marianne's ``SheetOutcome`` that the
    store reads, in Marianne's order (so positional construction works the same way).
    """

    sheet_id: str
    job_id: str
    validation_results: list[dict[str, Any]]
    execution_duration: float
    retry_count: int
    completion_mode_used: bool
    final_status: SheetStatus | str
    validation_pass_rate: float
    success_without_retry: bool
    patterns_detected: list[str] = field(default_factory=list)
    timestamp: datetime = field(default_factory=lambda: datetime.now(tz=UTC))


class OutcomeLike(Protocol):
    """What ``record_outcome`` reads from an outcome (Marianne's ``SheetOutcome`` fits)."""

    @property
    def sheet_id(self) -> str: ...
    @property
    def job_id(self) -> str: ...
    @property
    def timestamp(self) -> datetime: ...
    @property
    def execution_duration(self) -> float: ...
    @property
    def final_status(self) -> object: ...
    @property
    def retry_count(self) -> int: ...
    @property
    def success_without_retry(self) -> bool: ...
    @property
    def validation_pass_rate(self) -> float: ...


class ExecutionMixin(GlobalLearningStoreBase):
    """Execution outcomes, their statistics, workspace clusters and learned waits."""

    # -- Marianne's helpers (its tests call them directly) --------------------------------

    def _extract_sheet_num(self, sheet_id: str) -> int:
        """The trailing digits of a sheet id, or 0 (``"job-sheet12"`` -> 12)."""
        return metrics.sheet_number(sheet_id)

    def _calculate_confidence(self, outcome: OutcomeLike) -> float:
        """The confidence stored with an outcome (section 6.1)."""
        return metrics.execution_confidence(
            outcome.validation_pass_rate, outcome.retry_count, outcome.success_without_retry
        )

    # -- executions ---------------------------------------------------------------------

    def record_outcome(
        self,
        outcome: OutcomeLike,
        workspace_path: Path,
        model: str | None = None,
        error_codes: list[str] | None = None,
    ) -> str:
        """Insert one ``executions`` row for a finished sheet; return its id.

        ``started_at`` is the outcome's own timestamp (normally aware UTC) while
        ``completed_at`` is ``now_local``, as in Marianne. ``final_status`` may be an enum
        (its ``.value`` is stored) or a plain string. Nothing is written to patterns.
        """
        execution_id = str(uuid.uuid4())
        status = outcome.final_status
        status_text = str(getattr(status, "value", status))
        with self._connection() as conn:
            conn.execute(
                insert(tables.executions).values(
                    id=execution_id,
                    workspace_hash=hash_workspace(workspace_path),
                    job_hash=hash_job(outcome.job_id),
                    sheet_num=self._extract_sheet_num(outcome.sheet_id),
                    started_at=outcome.timestamp,
                    completed_at=self._now_local(),
                    duration_seconds=outcome.execution_duration,
                    status=status_text,
                    retry_count=outcome.retry_count,
                    success_without_retry=outcome.success_without_retry,
                    validation_pass_rate=outcome.validation_pass_rate,
                    confidence_score=self._calculate_confidence(outcome),
                    model=model,
                    error_codes=error_codes or [],
                )
            )
        self._logger.debug("recorded outcome %s of sheet %s", execution_id, outcome.sheet_id)
        return execution_id

    def get_execution_stats(self) -> dict[str, Any]:
        """Totals over the whole store, with exactly Marianne's keys (section 6.2)."""
        executions = tables.executions.c
        patterns = tables.patterns.c
        with self._connection() as conn:
            runs = conn.execute(
                select(
                    func.count().label("total"),
                    func.sum(case((executions.success_without_retry != 0, 1), else_=0)).label(
                        "successes"
                    ),
                    func.count(distinct(executions.workspace_hash)).label("workspaces"),
                ).select_from(tables.executions)
            ).one()
            pattern_totals = conn.execute(
                select(func.count().label("total"), func.avg(patterns.effectiveness_score))
                .select_from(tables.patterns)
            ).one()
            recoveries = conn.execute(
                select(func.count()).select_from(tables.error_recoveries)
            ).scalar_one()
        total = int(runs.total)
        return {
            "total_executions": total,
            "success_without_retry_rate": int(runs.successes) / total if total else 0.0,
            "total_patterns": int(pattern_totals[0]),
            "avg_pattern_effectiveness": float(pattern_totals[1] or 0.0),
            "total_error_recoveries": int(recoveries),
            "unique_workspaces": int(runs.workspaces),
        }

    def get_recent_executions(
        self, limit: int = 20, workspace_hash: str | None = None
    ) -> list[ExecutionRecord]:
        """The latest executions by ``completed_at``; a truthy ``workspace_hash`` filters.

        A negative limit means no limit (SQLite's reading of ``LIMIT -1``).
        """
        columns = tables.executions.c
        query = select(tables.executions)
        if workspace_hash:
            query = query.where(columns.workspace_hash == workspace_hash)
        query = query.order_by(columns.completed_at.desc().nulls_last())
        query = with_limit(query, limit)
        with self._connection() as conn:
            rows = conn.execute(query).all()
        return [_execution_record(row) for row in rows]

    def get_similar_executions(
        self,
        job_hash: str | None = None,
        workspace_hash: str | None = None,
        sheet_num: int | None = None,
        limit: int = 10,
    ) -> list[ExecutionRecord]:
        """Executions matching every filter that is not None, latest completed first.

        The hashes are compared as given (not hashed again); ``""`` matches only ``""``.
        """
        columns = tables.executions.c
        query = select(tables.executions)
        if job_hash is not None:
            query = query.where(columns.job_hash == job_hash)
        if workspace_hash is not None:
            query = query.where(columns.workspace_hash == workspace_hash)
        if sheet_num is not None:
            query = query.where(columns.sheet_num == sheet_num)
        query = query.order_by(columns.completed_at.desc().nulls_last())
        query = with_limit(query, limit)
        with self._connection() as conn:
            rows = conn.execute(query).all()
        return [_execution_record(row) for row in rows]

    def get_optimal_execution_window(
        self, error_code: str | None = None, model: str | None = None
    ) -> dict[str, Any]:
        """Local hours when error recoveries tend to succeed (>= 70%) or fail (<= 30%).

        Only hours with at least three recoveries are judged; ``confidence`` grows with
        the total sample count, reaching 1.0 at 50. ``model`` is accepted and ignored, as
        in Marianne (reserved).
        """
        del model
        columns = tables.error_recoveries.c
        query = select(
            columns.time_of_day,
            func.count().label("total"),
            func.sum(case((columns.recovery_success != 0, 1), else_=0)).label("successes"),
        ).group_by(columns.time_of_day)
        if error_code:
            query = query.where(columns.error_code == error_code)
        with self._connection() as conn:
            rows = conn.execute(query.order_by(columns.time_of_day)).all()
        if not rows:
            return {"optimal_hours": [], "avoid_hours": [], "confidence": 0.0, "sample_count": 0}

        optimal: list[int] = []
        avoid: list[int] = []
        samples = 0
        for row in rows:
            total = int(row.total)
            samples += total
            if total < _MIN_SAMPLES_PER_HOUR:
                continue
            rate = int(row.successes) / total
            if rate >= 0.7:
                optimal.append(row.time_of_day)
            elif rate <= 0.3:
                avoid.append(row.time_of_day)
        return {
            "optimal_hours": sorted(optimal),
            "avoid_hours": sorted(avoid),
            "confidence": min(samples / 50.0, 1.0),
            "sample_count": samples,
        }

    # -- workspace clusters -------------------------------------------------------------

    def assign_workspace_cluster(self, workspace_hash: str, cluster_id: str) -> None:
        """Put the workspace in ``cluster_id`` (replacing any earlier cluster), now_local."""
        values = {
            "workspace_hash": workspace_hash,
            "cluster_id": cluster_id,
            "assigned_at": self._now_local(),
        }
        # Deferred: the PostgreSQL dialect costs ~25 ms of every console start-up, and a
        # SQLite store never needs it (issue #7, first paint).
        from sqlalchemy.dialects import postgresql

        # Marianne's INSERT OR REPLACE, spelled as an upsert both backends understand.
        dialect_insert = postgresql.insert if self.is_postgresql else sqlite.insert
        statement = dialect_insert(tables.workspace_clusters).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[tables.workspace_clusters.c.workspace_hash],
            set_={"cluster_id": cluster_id, "assigned_at": values["assigned_at"]},
        )
        with self._connection() as conn:
            conn.execute(statement)

    def get_workspace_cluster(self, workspace_hash: str) -> str | None:
        """The workspace's cluster id, or None if it has none."""
        columns = tables.workspace_clusters.c
        with self._connection() as conn:
            row = conn.execute(
                select(columns.cluster_id).where(columns.workspace_hash == workspace_hash)
            ).first()
        return None if row is None else row.cluster_id

    def get_similar_workspaces(self, cluster_id: str, limit: int = 10) -> list[str]:
        """Workspace hashes of the cluster, latest assigned first (the asker included)."""
        columns = tables.workspace_clusters.c
        query = (
            select(columns.workspace_hash)
            .where(columns.cluster_id == cluster_id)
            .order_by(columns.assigned_at.desc().nulls_last())
        )
        query = with_limit(query, limit)
        with self._connection() as conn:
            return [row.workspace_hash for row in conn.execute(query)]

    # -- error recovery and learned waits -----------------------------------------------

    def record_error_recovery(
        self,
        error_code: str,
        suggested_wait: float,
        actual_wait: float,
        recovery_success: bool,
        model: str | None = None,
    ) -> str:
        """Record how long a recovery waited and whether it worked; return the row id.

        Values are stored raw (a NaN wait becomes NULL); ``time_of_day`` is the local hour.
        """
        record_id = str(uuid.uuid4())
        now = self._now_local()
        with self._connection() as conn:
            conn.execute(
                insert(tables.error_recoveries).values(
                    id=record_id,
                    error_code=error_code,
                    suggested_wait=suggested_wait,
                    actual_wait=actual_wait,
                    recovery_success=recovery_success,
                    recorded_at=now,
                    model=model,
                    time_of_day=now.hour,
                )
            )
        return record_id

    def get_learned_wait_time(
        self, error_code: str, model: str | None = None, min_samples: int = 3
    ) -> float | None:
        """(mean + min) / 2 of the last 20 successful waits; None below ``min_samples``.

        A truthy ``model`` filters. A stored NULL wait (written from NaN) raises
        TypeError, as in Marianne.
        """
        columns = tables.error_recoveries.c
        query = select(columns.actual_wait).where(
            columns.error_code == error_code, columns.recovery_success == 1
        )
        if model:
            query = query.where(columns.model == model)
        query = query.order_by(columns.recorded_at.desc().nulls_last()).limit(
            _LEARNED_WAIT_WINDOW
        )
        with self._connection() as conn:
            waits: list[Any] = list(conn.execute(query).scalars())
        if len(waits) < min_samples:
            return None
        return metrics.learned_wait([float(wait) for wait in waits])

    def get_learned_wait_time_with_fallback(
        self,
        error_code: str,
        static_delay: float,
        model: str | None = None,
        min_samples: int = 3,
        min_confidence: float = 0.7,
    ) -> tuple[float, float, str]:
        """``(delay, confidence, strategy)``: the learned wait blended with ``static_delay``.

        Confidence is the share of ten successful recoveries of this error code (any
        model, no 20-row cap); see ``metrics.learned_wait_with_fallback``.
        """
        learned = self.get_learned_wait_time(error_code, model=model, min_samples=min_samples)
        if learned is None:
            return metrics.learned_wait_with_fallback(None, 0, static_delay, min_confidence)
        samples = self.get_error_recovery_sample_count(error_code)
        return metrics.learned_wait_with_fallback(learned, samples, static_delay, min_confidence)

    def get_error_recovery_sample_count(self, error_code: str) -> int:
        """How many successful recoveries of ``error_code`` are recorded."""
        columns = tables.error_recoveries.c
        with self._connection() as conn:
            count = conn.execute(
                select(func.count()).where(
                    columns.error_code == error_code, columns.recovery_success == 1
                )
            ).scalar_one()
        return int(count)


def _execution_record(row: Row[Any]) -> ExecutionRecord:
    return ExecutionRecord(
        id=row.id,
        workspace_hash=row.workspace_hash,
        job_hash=row.job_hash,
        sheet_num=row.sheet_num,
        started_at=row.started_at,
        completed_at=row.completed_at,
        duration_seconds=row.duration_seconds,
        status=row.status,
        retry_count=row.retry_count,
        success_without_retry=bool(row.success_without_retry),
        validation_pass_rate=row.validation_pass_rate,
        confidence_score=row.confidence_score,
        model=row.model,
        error_codes=row.error_codes if row.error_codes is not None else [],
    )
