"""Exploration budget, entropy of the pattern population, and entropy responses.

Contract section 10. Budget rows are append-only: every "update" inserts a row, and the
current budget is the latest row. An entropy response boosts the budget and sends a few
quarantined patterns back to ``pending`` so they get another chance.

Reads that Marianne leaves unbounded are bounded here only where a list is returned; the
entropy calculation must see every pattern, so it runs as one grouped query and returns
one count per pattern.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import Integer, Text, case, func, insert, select, type_coerce, update
from sqlalchemy.engine import Row

from store import tables
from store.base import GlobalLearningStoreBase, with_limit
from store.metrics import EntropySummary, budget_step, clamp_budget
from store.models import EntropyResponseRecord, ExplorationBudgetRecord, PatternEntropyMetrics

__all__ = ["BudgetMixin", "EntropyResponseConfig", "EntropyTriggerContext"]

#: The budget an entropy response starts from when a job has no budget row yet.
INITIAL_BUDGET = 0.15

#: The reason written on a quarantined pattern an entropy response sends back to pending.
REVISIT_REASON = "Entropy response: revisiting for revalidation"


@dataclass
class EntropyResponseConfig:
    """What ``trigger_entropy_response`` does, and with which bounds."""

    boost_budget: bool = True
    revisit_quarantine: bool = True
    max_quarantine_revisits: int = 3
    budget_floor: float = 0.05
    budget_ceiling: float = 0.50
    budget_boost_amount: float = 0.10


@dataclass
class EntropyTriggerContext:
    """The job and the numbers that made a caller trigger an entropy response."""

    job_hash: str
    entropy_at_trigger: float
    threshold_used: float


_budget = tables.exploration_budget
_responses = tables.entropy_responses
_history = tables.pattern_entropy_history
_patterns = tables.patterns
_applications = tables.pattern_applications



def _budget_record(row: Row[Any]) -> ExplorationBudgetRecord:
    return ExplorationBudgetRecord(
        id=row.id,
        job_hash=row.job_hash,
        recorded_at=row.recorded_at,
        budget_value=row.budget_value,
        entropy_at_time=row.entropy_at_time,
        adjustment_type=row.adjustment_type,
        adjustment_reason=row.adjustment_reason,
    )


def _decode_revisited(raw: str | None) -> list[str]:
    # Marianne treats NULL and "" alike; the JSON column type would choke on "".
    if not raw:
        return []
    decoded: list[str] = json.loads(raw)
    return decoded


def _response_record(row: Row[Any]) -> EntropyResponseRecord:
    return EntropyResponseRecord(
        id=row.id,
        job_hash=row.job_hash,
        recorded_at=row.recorded_at,
        entropy_at_trigger=row.entropy_at_trigger,
        threshold_used=row.threshold_used,
        actions_taken=row.actions_taken,
        budget_boosted=bool(row.budget_boosted),
        quarantine_revisits=row.quarantine_revisits,
        patterns_revisited=_decode_revisited(row.patterns_revisited_text),
    )


def _response_columns() -> list[Any]:
    return [
        _responses.c.id,
        _responses.c.job_hash,
        _responses.c.recorded_at,
        _responses.c.entropy_at_trigger,
        _responses.c.threshold_used,
        _responses.c.actions_taken,
        _responses.c.budget_boosted,
        _responses.c.quarantine_revisits,
        type_coerce(_responses.c.patterns_revisited, Text()).label("patterns_revisited_text"),
    ]


class BudgetMixin(GlobalLearningStoreBase):
    """Exploration budget and automatic entropy response (contract section 10)."""

    @staticmethod
    def _where_job_hash(job_hash: str | None) -> tuple[str, tuple[str, ...]]:
        """Marianne's optional job filter for SQL text: ``("WHERE job_hash = ?", (h,))``.

        An empty or missing hash gives ``("", ())``: no filter.
        """
        if job_hash:
            return "WHERE job_hash = ?", (job_hash,)
        return "", ()

    # -- exploration budget -----------------------------------------------------------

    def get_exploration_budget(self, job_hash: str | None = None) -> ExplorationBudgetRecord | None:
        """The latest budget row; a falsy ``job_hash`` means any job."""
        statement = select(_budget)
        if job_hash:
            statement = statement.where(_budget.c.job_hash == job_hash)
        statement = statement.order_by(_budget.c.recorded_at.desc()).limit(1)
        with self._reads_connection() as conn:
            row = conn.execute(statement).first()
        return _budget_record(row) if row is not None else None

    def get_exploration_budget_history(
        self, job_hash: str | None = None, limit: int = 50
    ) -> list[ExplorationBudgetRecord]:
        """Budget rows newest first; a falsy ``job_hash`` means any job."""
        statement = select(_budget)
        if job_hash:
            statement = statement.where(_budget.c.job_hash == job_hash)
        statement = with_limit(statement.order_by(_budget.c.recorded_at.desc()), limit)
        with self._reads_connection() as conn:
            return [_budget_record(row) for row in conn.execute(statement)]

    def update_exploration_budget(
        self,
        job_hash: str,
        budget_value: float,
        adjustment_type: str,
        entropy_at_time: float | None = None,
        adjustment_reason: str | None = None,
        floor: float = 0.05,
        ceiling: float = 0.50,
    ) -> ExplorationBudgetRecord:
        """Append a budget row, held within [floor, ceiling].

        A value below the floor or above the ceiling is stored at the bound, with type
        ``floor_enforced``/``ceiling_enforced`` and a reason saying so; a NaN value is stored
        as the ceiling under the caller's type. A NaN ``entropy_at_time`` stays NaN in the
        returned record and is stored as NULL.
        """
        step = clamp_budget(
            budget_value, adjustment_type, adjustment_reason, floor, ceiling
        )
        record = ExplorationBudgetRecord(
            id=str(uuid.uuid4()),
            job_hash=job_hash,
            recorded_at=self._now_local(),
            budget_value=step.value,
            entropy_at_time=entropy_at_time,
            adjustment_type=step.adjustment_type,
            adjustment_reason=step.adjustment_reason,
        )
        with self._connection() as conn:
            conn.execute(
                insert(_budget).values(
                    id=record.id,
                    job_hash=record.job_hash,
                    recorded_at=record.recorded_at,
                    budget_value=record.budget_value,
                    entropy_at_time=record.entropy_at_time,
                    adjustment_type=record.adjustment_type,
                    adjustment_reason=record.adjustment_reason,
                )
            )
        self._logger.debug(
            "exploration budget %.3f (%s)", record.budget_value, record.adjustment_type
        )
        return record

    def calculate_budget_adjustment(
        self,
        job_hash: str,
        current_entropy: float,
        floor: float = 0.05,
        ceiling: float = 0.50,
        decay_rate: float = 0.95,
        boost_amount: float = 0.10,
        entropy_threshold: float = 0.3,
        initial_budget: float = 0.15,
    ) -> ExplorationBudgetRecord:
        """Append the next budget: initial, boost (low entropy) or decay. This writes a row."""
        current = self.get_exploration_budget(job_hash)
        step = budget_step(
            current.budget_value if current is not None else None,
            current_entropy,
            decay_rate=decay_rate,
            boost_amount=boost_amount,
            entropy_threshold=entropy_threshold,
            initial_budget=initial_budget,
        )
        return self.update_exploration_budget(
            job_hash=job_hash,
            budget_value=step.value,
            adjustment_type=step.adjustment_type,
            entropy_at_time=current_entropy,
            adjustment_reason=step.adjustment_reason,
            floor=floor,
            ceiling=ceiling,
        )

    def get_exploration_budget_statistics(self, job_hash: str | None = None) -> dict[str, Any]:
        """Aggregates over the budget rows (zeros and a None current budget when empty)."""

        def count_of(kind: str) -> Any:
            return func.sum(case((_budget.c.adjustment_type == kind, 1), else_=0))

        statement = select(
            func.count().label("total"),
            func.avg(_budget.c.budget_value).label("avg_value"),
            func.min(_budget.c.budget_value).label("min_value"),
            func.max(_budget.c.budget_value).label("max_value"),
            count_of("floor_enforced").label("floor_count"),
            count_of("boost").label("boost_count"),
            count_of("decay").label("decay_count"),
        ).select_from(_budget)
        if job_hash:
            statement = statement.where(_budget.c.job_hash == job_hash)
        with self._reads_connection() as conn:
            row = conn.execute(statement).one()
        if not row.total:
            return {
                "current_budget": None,
                "avg_budget": 0.0,
                "min_budget": 0.0,
                "max_budget": 0.0,
                "total_adjustments": 0,
                "floor_enforcements": 0,
                "boost_count": 0,
                "decay_count": 0,
            }
        current = self.get_exploration_budget(job_hash)
        return {
            "current_budget": current.budget_value if current is not None else None,
            "avg_budget": float(row.avg_value or 0.0),
            "min_budget": row.min_value or 0.0,
            "max_budget": row.max_value or 0.0,
            "total_adjustments": int(row.total),
            "floor_enforcements": int(row.floor_count or 0),
            "boost_count": int(row.boost_count or 0),
            "decay_count": int(row.decay_count or 0),
        }

    # -- entropy of the pattern population ----------------------------------------------

    def _entropy_now(self) -> tuple[EntropySummary, int]:
        """The entropy of applications over pattern rows, and how many rows there are.

        Counted as Marianne does (``COUNT(pa.id) ... GROUP BY p.id``); the counts are kept
        between reads with the drift windows, updated for the patterns whose applications
        changed, with running totals for the entropy (``DriftMixin._kept_entropy``).
        """
        kept: tuple[EntropySummary, int] = cast(Any, self)._kept_entropy()
        return kept

    def calculate_pattern_entropy(self) -> PatternEntropyMetrics:
        """Shannon entropy of applications over patterns, now. Read-only.

        ``unique_pattern_count`` counts every pattern row (inactive and unapplied too);
        the entropy itself covers the applied patterns only. ``threshold_exceeded`` is
        left False for the caller to set.
        """
        summary, pattern_rows = self._entropy_now()
        return PatternEntropyMetrics(
            calculated_at=self._now_local(),
            shannon_entropy=summary.shannon_entropy,
            max_possible_entropy=summary.max_possible_entropy,
            diversity_index=summary.diversity_index,
            unique_pattern_count=pattern_rows,
            effective_pattern_count=summary.effective_pattern_count,
            total_applications=summary.total_applications,
            dominant_pattern_share=summary.dominant_pattern_share,
        )

    def record_pattern_entropy(self, metrics: PatternEntropyMetrics) -> str:
        """Store an entropy snapshot (its own ``calculated_at``) and return the row id."""
        record_id = str(uuid.uuid4())
        snapshot = metrics
        with self._connection() as conn:
            conn.execute(
                insert(_history).values(
                    id=record_id,
                    calculated_at=snapshot.calculated_at,
                    shannon_entropy=snapshot.shannon_entropy,
                    max_possible_entropy=snapshot.max_possible_entropy,
                    diversity_index=snapshot.diversity_index,
                    unique_pattern_count=snapshot.unique_pattern_count,
                    effective_pattern_count=snapshot.effective_pattern_count,
                    total_applications=snapshot.total_applications,
                    dominant_pattern_share=snapshot.dominant_pattern_share,
                    threshold_exceeded=bool(snapshot.threshold_exceeded),
                )
            )
        return record_id

    def get_pattern_entropy_history(self, limit: int = 50) -> list[PatternEntropyMetrics]:
        """Stored entropy snapshots, newest ``calculated_at`` first."""
        statement = with_limit(select(_history).order_by(_history.c.calculated_at.desc()), limit)
        with self._reads_connection() as conn:
            rows = conn.execute(statement).all()
        return [
            PatternEntropyMetrics(
                calculated_at=row.calculated_at,
                shannon_entropy=row.shannon_entropy,
                max_possible_entropy=row.max_possible_entropy,
                diversity_index=row.diversity_index,
                unique_pattern_count=row.unique_pattern_count,
                effective_pattern_count=row.effective_pattern_count,
                total_applications=row.total_applications,
                dominant_pattern_share=row.dominant_pattern_share,
                threshold_exceeded=bool(row.threshold_exceeded),
            )
            for row in rows
        ]

    # -- entropy responses --------------------------------------------------------------

    def check_entropy_response_needed(
        self,
        job_hash: str,
        entropy_threshold: float = 0.3,
        cooldown_seconds: int = 3600,
    ) -> tuple[bool, float | None, str]:
        """Whether diversity is low enough for a response. Read-only.

        Returns ``(needed, diversity or None, reason)``. Only the cooldown looks at the
        job; the diversity covers every applied pattern.
        """
        last = self.get_last_entropy_response(job_hash)
        if last is not None:
            elapsed = (self._now_local() - last.recorded_at).total_seconds()
            if elapsed < cooldown_seconds:
                remaining = cooldown_seconds - elapsed
                return False, None, f"Cooldown active ({remaining:.0f}s remaining)"

        summary, _ = self._entropy_now()
        if summary.total_applications == 0:
            return False, None, "No pattern applications to analyze"
        diversity = summary.diversity_index
        if diversity < entropy_threshold:
            return (
                True,
                diversity,
                f"Entropy {diversity:.3f} < threshold {entropy_threshold:.3f}",
            )
        return (
            False,
            diversity,
            f"Entropy {diversity:.3f} >= threshold {entropy_threshold:.3f} (healthy)",
        )

    def trigger_entropy_response(
        self,
        job_hash: str = "",
        entropy_at_trigger: float = 0.0,
        threshold_used: float = 0.0,
        *,
        trigger: EntropyTriggerContext | None = None,
        config: EntropyResponseConfig | None = None,
        boost_budget: bool | None = None,
        revisit_quarantine: bool | None = None,
        max_quarantine_revisits: int | None = None,
        budget_floor: float | None = None,
        budget_ceiling: float | None = None,
        budget_boost_amount: float | None = None,
    ) -> EntropyResponseRecord:
        """Boost the budget and/or send quarantined patterns back to pending, and record it.

        Called either positionally (job hash, entropy, threshold) or with a bundled
        ``trigger``, whose fields then win. Keyword arguments that are not None override
        ``config`` (which is not modified). The cooldown and threshold are not checked.
        The budget boost, the revisits and the response row are three transactions.
        """
        if trigger is not None:
            job_hash = trigger.job_hash
            entropy_at_trigger = trigger.entropy_at_trigger
            threshold_used = trigger.threshold_used
        overrides: dict[str, Any] = {
            name: value
            for name, value in (
                ("boost_budget", boost_budget),
                ("revisit_quarantine", revisit_quarantine),
                ("max_quarantine_revisits", max_quarantine_revisits),
                ("budget_floor", budget_floor),
                ("budget_ceiling", budget_ceiling),
                ("budget_boost_amount", budget_boost_amount),
            )
            if value is not None
        }
        settings = replace(config or EntropyResponseConfig(), **overrides)

        actions: list[str] = []
        budget_boosted = False
        if settings.boost_budget:
            current = self.get_exploration_budget(job_hash)
            base = current.budget_value if current is not None else INITIAL_BUDGET
            self.update_exploration_budget(
                job_hash=job_hash,
                budget_value=base + settings.budget_boost_amount,
                adjustment_type="boost",
                entropy_at_time=entropy_at_trigger,
                adjustment_reason=(
                    f"Entropy response: diversity {entropy_at_trigger:.3f} "
                    f"< {threshold_used:.3f}"
                ),
                floor=settings.budget_floor,
                ceiling=settings.budget_ceiling,
            )
            budget_boosted = True
            actions.append("budget_boost")

        revisited: list[str] = []
        if settings.revisit_quarantine:
            revisited = self._revisit_quarantined(settings.max_quarantine_revisits)
            if revisited:
                actions.append("quarantine_revisit")

        record = EntropyResponseRecord(
            id=str(uuid.uuid4()),
            job_hash=job_hash,
            recorded_at=self._now_local(),
            entropy_at_trigger=entropy_at_trigger,
            threshold_used=threshold_used,
            actions_taken=actions,
            budget_boosted=budget_boosted,
            quarantine_revisits=len(revisited),
            patterns_revisited=revisited,
        )
        with self._connection() as conn:
            conn.execute(
                insert(_responses).values(
                    id=record.id,
                    job_hash=record.job_hash,
                    recorded_at=record.recorded_at,
                    entropy_at_trigger=record.entropy_at_trigger,
                    threshold_used=record.threshold_used,
                    actions_taken=list(actions),
                    budget_boosted=budget_boosted,
                    quarantine_revisits=len(revisited),
                    patterns_revisited=list(revisited),
                )
            )
        self._logger.info(
            "entropy response: %d actions, budget_boosted=%s, revisited=%d",
            len(actions), budget_boosted, len(revisited),
        )
        return record

    def _revisit_quarantined(self, max_revisits: int) -> list[str]:
        """Move the most recently seen quarantined patterns (active or not) to pending.

        ``quarantined_at`` is kept; the reason says why the pattern is pending again.
        """
        statement = with_limit(
            select(_patterns.c.id)
            .where(_patterns.c.quarantine_status == "quarantined")
            .order_by(_patterns.c.last_seen.desc()),
            max_revisits,
        )
        with self._connection() as conn:
            ids = [pattern_id for pattern_id in conn.execute(statement).scalars()]
            if ids:
                conn.execute(
                    update(_patterns)
                    .where(_patterns.c.id.in_(ids))
                    .values(quarantine_status="pending", quarantine_reason=REVISIT_REASON)
                )
        return ids

    def get_last_entropy_response(
        self, job_hash: str | None = None
    ) -> EntropyResponseRecord | None:
        """The latest entropy response; a falsy ``job_hash`` means any job."""
        history = self.get_entropy_response_history(job_hash, limit=1)
        return history[0] if history else None

    def get_entropy_response_history(
        self, job_hash: str | None = None, limit: int = 50
    ) -> list[EntropyResponseRecord]:
        """Entropy responses newest first; a falsy ``job_hash`` means any job."""
        statement = select(*_response_columns())
        if job_hash:
            statement = statement.where(_responses.c.job_hash == job_hash)
        statement = with_limit(statement.order_by(_responses.c.recorded_at.desc()), limit)
        with self._reads_connection() as conn:
            return [_response_record(row) for row in conn.execute(statement)]

    def get_entropy_response_statistics(self, job_hash: str | None = None) -> dict[str, Any]:
        """Aggregates over entropy responses (zeros and a None last response when empty)."""
        statement = select(
            func.count().label("total"),
            func.avg(_responses.c.entropy_at_trigger).label("avg_entropy"),
            # The flag column would turn the sum back into a bool; sum it as an integer.
            func.sum(type_coerce(_responses.c.budget_boosted, Integer())).label("budget_boosts"),
            func.sum(_responses.c.quarantine_revisits).label("revisits"),
        ).select_from(_responses)
        if job_hash:
            statement = statement.where(_responses.c.job_hash == job_hash)
        with self._reads_connection() as conn:
            row = conn.execute(statement).one()
        if not row.total:
            return {
                "total_responses": 0,
                "avg_entropy_at_trigger": 0.0,
                "budget_boosts": 0,
                "quarantine_revisits": 0,
                "last_response": None,
            }
        last = self.get_last_entropy_response(job_hash)
        return {
            "total_responses": int(row.total),
            "avg_entropy_at_trigger": float(row.avg_entropy or 0.0),
            "budget_boosts": int(row.budget_boosts or 0),
            "quarantine_revisits": int(row.revisits or 0),
            "last_response": last.recorded_at.isoformat() if last is not None else None,
        }

