"""Frozen read-models for the console (and any other viewer), never ORM objects.

The console asks the store for exactly what one screen shows: already filtered, sorted and
paged in SQL. Everything here is a plain immutable value that is safe to hand to another
thread. Strings inside are untrusted text written by AI agents: a viewer must sanitise
them before display.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from types import MappingProxyType
from typing import Any

from store.models import DriftMetrics, EpistemicDriftMetrics

__all__ = [
    "ActionConflictError",
    "ActionPreview",
    "DriftReport",
    "DriftRow",
    "EscalationOutcome",
    "JournalEntry",
    "JournalSubject",
    "PatternAction",
    "PatternPage",
    "PatternQuery",
    "PatternRow",
    "PatternSort",
    "StoreOverview",
    "TrustBand",
    "UndoConflictError",
]


class PatternSort(str, Enum):
    """Columns the patterns list can be sorted by (in SQL)."""

    PRIORITY = "priority"
    NAME = "name"
    TYPE = "type"
    STATUS = "status"
    TRUST = "trust"
    EFFECTIVENESS = "effectiveness"
    APPLICATIONS = "applications"
    SUCCESSES = "successes"
    FAILURES = "failures"
    LAST_SEEN = "last_seen"
    INSTRUMENT = "instrument"


class TrustBand(str, Enum):
    """Trust bands used by Marianne's CLI: low <= 0.3 < medium < 0.7 <= high."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


#: Thresholds of the trust bands and of "needs attention".
LOW_TRUST = 0.3
HIGH_TRUST = 0.7


@dataclass(frozen=True)
class PatternQuery:
    """One page of the patterns list: filters, sort and window, all applied in SQL.

    ``text`` is a case-insensitive substring match on name or description; ``id_prefix``
    keeps the ids that start with it (SQL LIKE: ASCII case folds on SQLite).
    ``needs_attention`` keeps patterns an operator should look at: quarantined, low trust
    (<= 0.3), drift-retired (priority 0), or pending with at least 3 applications and stored
    effectiveness below 0.35 (the ones the lifecycle will quarantine).
    """

    text: str = ""
    statuses: tuple[str, ...] = ()
    pattern_type: str | None = None
    instrument: str | None = None
    trust_band: TrustBand | None = None
    needs_attention: bool = False
    include_inactive: bool = True
    sort: PatternSort = PatternSort.PRIORITY
    descending: bool = True
    offset: int = 0
    limit: int = 200
    id_prefix: str = ""


@dataclass(frozen=True)
class PatternRow:
    """One line of the patterns list. Scores are clamped as Marianne's records clamp them.

    A score whose stored value the store cannot vouch for (text, NaN, ±Inf, out of range)
    is listed in ``unvouched``: its number here is only the stand-in the list sorts by,
    and a viewer must show it as doubtful (see :meth:`unvouched_value`).
    """

    id: str
    name: str
    pattern_type: str
    status: str
    trust: float
    effectiveness: float
    priority: float
    applications: int
    successes: int
    failures: int
    last_seen: datetime | None
    instrument: str | None
    active: bool
    description: str | None
    #: (score, stored value as text) for "trust", "effectiveness" or "priority"
    unvouched: tuple[tuple[str, str], ...] = ()

    def unvouched_value(self, score: str) -> str | None:
        """The stored value of ``score`` as text if it is not trustworthy, else None."""
        return dict(self.unvouched).get(score)

    @property
    def drift_retired(self) -> bool:
        """Priority exactly 0: retired by drift (status unchanged), not status "retired"."""
        return self.priority == 0.0


@dataclass(frozen=True)
class PatternPage:
    rows: tuple[PatternRow, ...]
    #: how many patterns match the filters (all pages)
    matching: int
    #: how many patterns the store holds
    total: int
    offset: int


@dataclass(frozen=True)
class StoreOverview:
    """What the console header shows on every screen; cheap to compute (a few aggregates)."""

    location: str
    read_only: bool
    schema_warning: str | None
    status_counts: Mapping[str, int]
    drift_retired: int
    total_patterns: int
    budget: float | None
    budget_floor: float
    budget_ceiling: float
    #: latest recorded diversity index (pattern_entropy_history), None if never recorded
    diversity: float | None
    diversity_threshold: float
    active_rate_limits: int
    pending_escalations: int
    #: the stored budget / diversity as text when it is no number in [0, 1] (``budget`` /
    #: ``diversity`` are then None): to be shown marked, never as a plausible number
    budget_unvouched: str | None = None
    diversity_unvouched: str | None = None


class PatternAction(str, Enum):
    """Operator triage actions on a pattern."""

    QUARANTINE = "quarantine"
    VALIDATE = "validate"
    RETIRE = "retire"
    PENDING = "pending"


class EscalationOutcome(str, Enum):
    """The four outcomes Marianne documents for an escalation."""

    SUCCESS = "success"
    FAILED = "failed"
    ABORTED = "aborted"
    SKIPPED = "skipped"


class JournalSubject(str, Enum):
    """The kinds of row an operator acts on, and so the journal's ``target_kind``."""

    PATTERN = "pattern"
    ESCALATION = "escalation"


@dataclass(frozen=True)
class ActionPreview:
    """The columns an action would change, before and after (for a confirm dialog)."""

    target_kind: JournalSubject
    target_id: str
    target_name: str
    action: str
    before: Mapping[str, Any]
    after: Mapping[str, Any]


@dataclass(frozen=True)
class JournalEntry:
    """One operator action as journalled: who, when, what, why, and the state it replaced."""

    id: int
    acted_at: datetime
    actor: str
    target_kind: JournalSubject
    target_id: str
    action: str
    reason: str | None
    prior_state: Mapping[str, Any]
    new_state: Mapping[str, Any]
    undone_at: datetime | None = None
    #: for an "undo" entry, the id of the entry it undid
    undoes: int | None = None
    #: the host the action ran on (None for entries journalled before hosts were)
    host: str | None = None

    @property
    def who(self) -> str:
        """``operator@host``; older entries already hold ``user@host`` as their actor."""
        return f"{self.actor}@{self.host}" if self.host else self.actor


class UndoConflictError(Exception):
    """The row changed after the action, so undoing it would overwrite someone's change."""


class ActionConflictError(Exception):
    """The row no longer holds the state the operator confirmed the action against.

    Nothing was written. ``current`` is the row's state now (the same columns, as stored).
    """

    def __init__(self, message: str, current: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.current: Mapping[str, Any] = MappingProxyType(dict(current))


@dataclass(frozen=True)
class DriftRow:
    """Both drifts of one pattern side by side (either may be missing for lack of data)."""

    pattern_id: str
    pattern_name: str
    status: str
    priority: float
    effectiveness: DriftMetrics | None
    epistemic: EpistemicDriftMetrics | None


@dataclass(frozen=True)
class DriftReport:
    rows: tuple[DriftRow, ...]
    window_size: int
    drift_threshold: float
    epistemic_threshold: float
    summary: Mapping[str, Any] = field(default_factory=dict)
    epistemic_summary: Mapping[str, Any] = field(default_factory=dict)
    #: How many rows the report has in all (``rows`` is the page from ``offset``).
    matching: int = 0
    offset: int = 0
