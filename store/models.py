"""Records and enums the store returns, with Marianne's field names and defaults.

Some records normalise values when they are built, that is whenever a row is read
(contract section 4): scores are clamped, counts floored. Stored values stay raw.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, ClassVar

from store.metrics import clamp as _clamp

__all__ = [
    "DriftMetrics",
    "EntropyResponseRecord",
    "EpistemicDriftMetrics",
    "ErrorRecoveryRecord",
    "EscalationDecisionRecord",
    "EvolutionEntryInput",
    "EvolutionTrajectoryEntry",
    "ExecutionRecord",
    "ExplorationBudgetRecord",
    "PatternDiscoveryEvent",
    "PatternEntropyMetrics",
    "PatternRecord",
    "QuarantineStatus",
    "RateLimitEvent",
    "SuccessFactors",
]


class QuarantineStatus(str, Enum):
    """Where a pattern stands in the quarantine lifecycle."""

    PENDING = "pending"
    QUARANTINED = "quarantined"
    VALIDATED = "validated"
    RETIRED = "retired"


#: The four escalation actions Marianne knows; anything else reads back as "abort".
ESCALATION_ACTIONS = frozenset({"retry", "skip", "abort", "modify_prompt"})


@dataclass
class SuccessFactors:
    """Why a pattern worked: the context conditions seen when it succeeded."""

    validation_types: list[str] = field(default_factory=list)
    error_categories: list[str] = field(default_factory=list)
    prior_sheet_status: str | None = None
    time_of_day_bucket: str | None = None
    retry_iteration: int = 0
    escalation_was_pending: bool = False
    grounding_confidence: float | None = None
    occurrence_count: int = 1
    success_rate: float = 1.0

    def __post_init__(self) -> None:
        self.success_rate = _clamp(self.success_rate, 0.0, 1.0)
        self.occurrence_count = max(1, self.occurrence_count)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object Marianne stores, keys in Marianne's order."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SuccessFactors:
        return cls(
            validation_types=list(data.get("validation_types", [])),
            error_categories=list(data.get("error_categories", [])),
            prior_sheet_status=data.get("prior_sheet_status"),
            time_of_day_bucket=data.get("time_of_day_bucket"),
            retry_iteration=data.get("retry_iteration", 0),
            escalation_was_pending=data.get("escalation_was_pending", False),
            grounding_confidence=data.get("grounding_confidence"),
            occurrence_count=data.get("occurrence_count", 1),
            success_rate=data.get("success_rate", 1.0),
        )

    @staticmethod
    def get_time_bucket(hour: int) -> str:
        """morning 5-11, afternoon 12-16, evening 17-20, night otherwise."""
        if 5 <= hour <= 11:
            return "morning"
        if 12 <= hour <= 16:
            return "afternoon"
        if 17 <= hour <= 20:
            return "evening"
        return "night"


@dataclass
class PatternRecord:
    """A row of ``patterns``. The id field is ``id`` (there is no ``pattern_id``)."""

    id: str
    pattern_type: str
    pattern_name: str
    description: str | None
    occurrence_count: int
    first_seen: datetime
    last_seen: datetime
    last_confirmed: datetime
    led_to_success_count: int
    led_to_failure_count: int
    effectiveness_score: float
    variance: float
    suggested_action: str | None
    context_tags: list[str]
    priority_score: float
    quarantine_status: QuarantineStatus = QuarantineStatus.PENDING
    provenance_job_hash: str | None = None
    provenance_sheet_num: int | None = None
    quarantined_at: datetime | None = None
    validated_at: datetime | None = None
    quarantine_reason: str | None = None
    trust_score: float = 0.5
    trust_calculation_date: datetime | None = None
    success_factors: SuccessFactors | None = None
    success_factors_updated_at: datetime | None = None
    active: bool = True
    content_hash: str | None = None
    instrument_name: str | None = None

    def __post_init__(self) -> None:
        self.trust_score = _clamp(self.trust_score, 0.0, 1.0)
        self.effectiveness_score = _clamp(self.effectiveness_score, 0.0, 1.0)
        self.variance = max(0.0, self.variance)
        self.priority_score = max(0.0, self.priority_score)


@dataclass
class ExecutionRecord:
    """A row of ``executions``: one sheet run."""

    id: str
    workspace_hash: str
    job_hash: str
    sheet_num: int
    started_at: datetime | None
    completed_at: datetime | None
    duration_seconds: float
    status: str
    retry_count: int
    success_without_retry: bool
    validation_pass_rate: float
    confidence_score: float
    model: str | None
    error_codes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.duration_seconds = max(0.0, self.duration_seconds or 0.0)
        self.retry_count = max(0, self.retry_count or 0)
        self.validation_pass_rate = _clamp(self.validation_pass_rate or 0.0, 0.0, 1.0)
        self.confidence_score = _clamp(self.confidence_score or 0.0, 0.0, 1.0)
        if self.status is None:
            self.status = ""


@dataclass
class ErrorRecoveryRecord:
    """A row of ``error_recoveries`` (no store method returns this type)."""

    id: str
    error_code: str
    suggested_wait: float
    actual_wait: float
    recovery_success: bool
    recorded_at: datetime
    model: str | None
    time_of_day: int

    def __post_init__(self) -> None:
        self.time_of_day = int(_clamp(self.time_of_day, 0, 23))


@dataclass
class RateLimitEvent:
    """A row of ``rate_limit_events``; times are aware UTC."""

    id: str
    error_code: str
    model: str | None
    recorded_at: datetime
    expires_at: datetime
    source_job_hash: str
    duration_seconds: float

    def __post_init__(self) -> None:
        if self.expires_at < self.recorded_at:
            self.expires_at = self.recorded_at


@dataclass
class EscalationDecisionRecord:
    """A row of ``escalation_decisions``.

    ``validation_pass_rate`` is a percentage (0-100) here, unlike executions.
    """

    id: str
    job_hash: str
    sheet_num: int
    confidence: float
    action: str
    guidance: str | None
    validation_pass_rate: float
    retry_count: int
    outcome_after_action: str | None = None
    recorded_at: datetime = field(default_factory=lambda: datetime.now(tz=UTC))
    model: str | None = None

    _VALID_ACTIONS: ClassVar[frozenset[str]] = frozenset(ESCALATION_ACTIONS)

    def __post_init__(self) -> None:
        self.confidence = _clamp(self.confidence, 0.0, 1.0)
        if self.action not in self._VALID_ACTIONS:
            self.action = "abort"


@dataclass
class PatternDiscoveryEvent:
    """A row of ``pattern_discovery_events``: a pattern broadcast to concurrent jobs."""

    id: str
    pattern_id: str
    pattern_name: str
    pattern_type: str
    source_job_hash: str
    recorded_at: datetime
    expires_at: datetime
    effectiveness_score: float
    context_tags: list[str] = field(default_factory=list)


@dataclass
class DriftMetrics:
    """Effectiveness drift of one pattern: older window against recent window."""

    pattern_id: str
    pattern_name: str
    window_size: int
    effectiveness_before: float
    effectiveness_after: float
    grounding_confidence_avg: float
    drift_magnitude: float
    drift_direction: str
    applications_analyzed: int
    threshold_exceeded: bool = False


@dataclass
class EpistemicDriftMetrics:
    """Drift in grounding confidence (belief) of one pattern."""

    pattern_id: str
    pattern_name: str
    window_size: int
    confidence_before: float
    confidence_after: float
    belief_change: float
    belief_entropy: float
    applications_analyzed: int
    threshold_exceeded: bool = False
    drift_direction: str = "stable"


@dataclass
class EvolutionTrajectoryEntry:
    """A row of ``evolution_trajectory``."""

    id: str
    cycle: int
    recorded_at: datetime
    evolutions_completed: int
    evolutions_deferred: int
    issue_classes: list[str]
    cv_avg: float
    implementation_loc: int
    test_loc: int
    loc_accuracy: float
    research_candidates_resolved: int = 0
    research_candidates_created: int = 0
    notes: str = ""


@dataclass
class EvolutionEntryInput:
    """The fields of an evolution entry a caller supplies (no id, no time)."""

    cycle: int
    evolutions_completed: int
    evolutions_deferred: int
    issue_classes: list[str]
    cv_avg: float
    implementation_loc: int
    test_loc: int
    loc_accuracy: float
    research_candidates_resolved: int = 0
    research_candidates_created: int = 0
    notes: str = ""


@dataclass
class PatternEntropyMetrics:
    """Shannon entropy of how applications spread over patterns."""

    calculated_at: datetime
    shannon_entropy: float
    max_possible_entropy: float
    diversity_index: float
    unique_pattern_count: int
    effective_pattern_count: int
    total_applications: int
    dominant_pattern_share: float
    threshold_exceeded: bool = False


@dataclass
class ExplorationBudgetRecord:
    """A row of ``exploration_budget`` (rows are appended, never updated)."""

    id: str
    job_hash: str
    recorded_at: datetime
    budget_value: float
    entropy_at_time: float | None
    adjustment_type: str
    adjustment_reason: str | None = None


@dataclass
class EntropyResponseRecord:
    """A row of ``entropy_responses``: what one diversity injection did."""

    id: str
    job_hash: str
    recorded_at: datetime
    entropy_at_trigger: float
    threshold_used: float
    actions_taken: list[str]
    budget_boosted: bool = False
    quarantine_revisits: int = 0
    patterns_revisited: list[str] = field(default_factory=list)
