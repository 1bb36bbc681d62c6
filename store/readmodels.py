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

from store.models import DriftMetrics, EpistemicDriftMetrics, EscalationDecisionRecord

__all__ = [
    "ActionConflictError",
    "ActionPreview",
    "ApplicationPage",
    "BatchConflictError",
    "BatchItem",
    "BatchPreview",
    "BatchResult",
    "BatchUndoPreview",
    "BatchUndoRequiredError",
    "DriftReport",
    "DriftRow",
    "DriftWindows",
    "EffectivenessTrend",
    "EscalationGroup",
    "EscalationOutcome",
    "EscalationQueue",
    "EscalationSort",
    "JournalEntry",
    "JournalListing",
    "JournalSubject",
    "MatchingIds",
    "PatternAction",
    "PatternApplication",
    "PatternPage",
    "PatternQuery",
    "PatternRow",
    "PatternSort",
    "QueuedEscalation",
    "StoreOverview",
    "TrustBand",
    "UndoConflictError",
    "WatchSnapshot",
    "WatchedItem",
    "WindowStats",
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
    """The columns an action would change, before and after (for a confirm dialog).

    ``state`` is every state column as read for the preview, changed or not: what a
    compare-and-set must still find (``expected_before``). Validating a validated
    pattern changes only ``validated_at``, yet a retire by someone else meanwhile must
    still refuse it.
    """

    target_kind: JournalSubject
    target_id: str
    target_name: str
    action: str
    before: Mapping[str, Any]
    after: Mapping[str, Any]
    state: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


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
    #: the bulk action this entry is one pattern of (None for a single action); an undo
    #: of a batch shares a batch id of its own
    batch_id: str | None = None

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
    #: How many rows it has before ``text`` (the name filter, "" for none) kept some.
    total: int = 0
    text: str = ""


# ---------------------------------------------------------------------------------------
# Marks and bulk triage (one action on many patterns, one transaction, one batch id)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchingIds:
    """The ids a patterns query matches, in the list's order, up to a bound."""

    ids: tuple[str, ...]
    #: how many patterns match in all (more than ``len(ids)`` when the bound cut the list)
    matching: int

    @property
    def complete(self) -> bool:
        return len(self.ids) == self.matching


def _status_of(state: Mapping[str, Any]) -> str:
    """The status a stored state reads as (NULL is pending, as everywhere)."""
    return str(state.get("quarantine_status") or "pending")


@dataclass(frozen=True)
class BatchItem:
    """One pattern of a bulk action: its stored state now and the state the action writes.

    ``before`` holds every state column as stored (the compare-and-set checks all of them);
    a ``skipped`` item already has the action's status and is left alone.
    """

    pattern_id: str
    name: str
    before: Mapping[str, Any]
    after: Mapping[str, Any]
    skipped: bool

    @property
    def before_status(self) -> str:
        return _status_of(self.before)

    @property
    def after_status(self) -> str:
        return _status_of(self.after)


@dataclass(frozen=True)
class BatchPreview:
    """What a bulk action would do, per pattern, without writing anything."""

    action: str
    reason: str | None
    items: tuple[BatchItem, ...]
    #: ids asked for that the store no longer holds
    missing: tuple[str, ...] = ()

    @property
    def changing(self) -> tuple[BatchItem, ...]:
        return tuple(item for item in self.items if not item.skipped)

    @property
    def skipped(self) -> tuple[BatchItem, ...]:
        return tuple(item for item in self.items if item.skipped)

    def transitions(self) -> tuple[tuple[str, str, int], ...]:
        """(status before, status after, how many) for the changing items, largest first
        (ties in the order the items come)."""
        counts: dict[tuple[str, str], int] = {}
        for item in self.changing:
            key = (item.before_status, item.after_status)
            counts[key] = counts.get(key, 0) + 1
        ordered = sorted(counts.items(), key=lambda pair: -pair[1])
        return tuple((before, after, count) for (before, after), count in ordered)

    def skipped_by_status(self) -> tuple[tuple[str, int], ...]:
        """(status, how many) of the skipped items, largest first."""
        counts: dict[str, int] = {}
        for item in self.skipped:
            counts[item.before_status] = counts.get(item.before_status, 0) + 1
        return tuple(sorted(counts.items(), key=lambda pair: -pair[1]))


@dataclass(frozen=True)
class BatchResult:
    """A bulk action as committed: one journal row per changed pattern, one batch id."""

    batch_id: str | None
    action: str
    applied: tuple[str, ...]
    skipped: tuple[str, ...]
    missing: tuple[str, ...] = ()


class BatchConflictError(ActionConflictError):
    """Some patterns of a bulk action changed (or vanished) since its preview: the whole
    batch was refused and nothing was written.

    ``changed`` maps each such id to its stored state now (None: it no longer exists);
    ``current`` is the first one's state (empty if it vanished).
    """

    def __init__(self, message: str, changed: Mapping[str, Mapping[str, Any] | None]) -> None:
        first = next(iter(changed.values()), None) if changed else None
        super().__init__(message, first or {})
        self.changed: Mapping[str, Mapping[str, Any] | None] = MappingProxyType(
            {key: None if value is None else MappingProxyType(dict(value))
             for key, value in changed.items()}
        )


class BatchUndoRequiredError(UndoConflictError):
    """The action to undo is one pattern of a bulk action: undo the batch as a whole
    (``undo_batch(batch_id)``); nothing was written."""

    def __init__(self, message: str, batch_id: str, count: int) -> None:
        super().__init__(message)
        self.batch_id = batch_id
        self.count = count


@dataclass(frozen=True)
class BatchUndoPreview:
    """The entries an undo of a batch would restore, and the names of their patterns."""

    batch_id: str
    entries: tuple[JournalEntry, ...]
    names: Mapping[str, str]
    #: ids whose state moved on since the batch (the undo would be refused)
    conflicts: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------
# The evidence behind one pattern (store/evidence.py)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatternApplication:
    """One row of ``pattern_applications``, read tolerantly (a malformed value is None)."""

    id: str
    applied_at: datetime | None
    execution_id: str | None
    succeeded: bool | None
    grounding: float | None
    retries_before: int | None
    retries_after: int | None


@dataclass(frozen=True)
class ApplicationPage:
    """A page of one pattern's applications, newest first (``applied_at``, then id)."""

    pattern_id: str
    rows: tuple[PatternApplication, ...]
    #: how many applications the pattern has in all
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class EffectivenessTrend:
    """E right after each of the pattern's latest applications, oldest first.

    ``values[-1]`` is what the store wrote after the latest one (unless the counters or
    ``last_confirmed`` were changed since by something other than an application).
    """

    pattern_id: str
    values: tuple[float, ...]
    #: how many applications the pattern has in all (``values`` covers the latest ones)
    applications: int


@dataclass(frozen=True)
class WindowStats:
    """One drift window: the applications it holds and what the drift formula takes of them."""

    applications: int
    successes: int
    #: how many of them have a grounding value, and their mean (None when none has)
    grounded: int
    mean_grounding: float | None
    #: Laplace-smoothed success rate (s + 0.5) / (W + 1), the drift formula's effectiveness
    effectiveness: float
    first_at: datetime | None
    last_at: datetime | None


@dataclass(frozen=True)
class DriftWindows:
    """The two windows each drift formula compares, side by side (section 8.1 and 8.2).

    ``older``/``recent`` are the 2W latest applications; ``belief_older``/``belief_recent``
    the 2W latest with a grounding value. A pair is None when there are fewer than 2W rows.
    """

    pattern_id: str
    window_size: int
    older: WindowStats | None
    recent: WindowStats | None
    belief_older: WindowStats | None
    belief_recent: WindowStats | None


# ---------------------------------------------------------------------------------------
# The escalation queue (store/listings.py, escalation_queue)
# ---------------------------------------------------------------------------------------


class EscalationSort(str, Enum):
    """Columns the escalation queue can be sorted by (in SQL, within each group)."""

    OUTCOME = "outcome"
    RECORDED = "recorded"
    JOB = "job"
    SHEET = "sheet"
    CONFIDENCE = "confidence"
    ACTION = "action"
    PASS_RATE = "pass_rate"
    RETRIES = "retries"
    MODEL = "model"
    GUIDANCE = "guidance"


class EscalationGroup(str, Enum):
    """Where an escalation stands in the queue, in queue order."""

    #: awaiting an outcome and recorded since ``stale_before``: it can still be judged
    AWAITING = "awaiting"
    #: awaiting an outcome but older than the stale age: its context is likely gone
    STALE = "stale"
    #: has an outcome
    DECIDED = "decided"


@dataclass(frozen=True)
class QueuedEscalation:
    record: EscalationDecisionRecord
    group: EscalationGroup


@dataclass(frozen=True)
class EscalationQueue:
    """A page of the queue: awaiting first, then stale, then decided; sorted within each."""

    rows: tuple[QueuedEscalation, ...]
    #: counts of each group in the whole table (all pages)
    awaiting: int
    stale: int
    decided: int
    #: an awaiting escalation recorded before this (store clock, naive local) is stale
    stale_before: datetime
    sort: EscalationSort
    descending: bool
    offset: int
    #: the text the rows were filtered by ("" for none), and how many rows in the whole
    #: table it keeps (``total`` when there is no text)
    text: str = ""
    matching: int = 0

    @property
    def total(self) -> int:
        return self.awaiting + self.stale + self.decided


# ---------------------------------------------------------------------------------------
# What the console watches for alerts, and the journal as a list (issue 10, items 1-2)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchedItem:
    """One watched row: its id and a short label for an alert (untrusted text)."""

    id: str
    label: str
    #: for a pattern, its status when read (``stamped``); "" otherwise
    status: str = ""


@dataclass(frozen=True)
class WatchSnapshot:
    """A cheap read of what the console alerts on (``store.watch.WatchMixin``).

    Counts and bounded id sets only: comparing two snapshots (``marianne_tui.alerts``)
    tells what happened between them. ``journal_since`` are the journal entries newer than
    the previous snapshot's ``journal_mark`` (oldest first; ``journal_truncated`` when
    there were more than were read). ``stamped`` are patterns whose quarantine or
    validation time is newer than the previous read, read only when the status counts
    moved. ``me`` is (operator, host) of this store, as the journal records them.
    """

    read_at: datetime
    diversity: float | None
    diversity_threshold: float
    budget: float | None
    budget_floor: float
    status_counts: Mapping[str, int]
    pending_escalations: tuple[WatchedItem, ...]
    pending_escalations_total: int
    rate_limits: tuple[WatchedItem, ...]
    #: patterns past a drift threshold, largest drift first (at most WATCH_LIMIT) ...
    drifting: tuple[WatchedItem, ...]
    #: ... of this many in all
    drifting_total: int
    drift_threshold: float
    journal_mark: int
    journal_since: tuple[JournalEntry, ...] = ()
    journal_truncated: bool = False
    stamped: tuple[WatchedItem, ...] = ()
    #: pattern id -> name, for the patterns ``journal_since`` names
    names: Mapping[str, str] = field(default_factory=dict)
    me: tuple[str, str] = ("", "")
    #: the bound of each id set: a set this long may have left ids out
    watch_limit: int = 500


@dataclass(frozen=True)
class JournalListing:
    """One page of the journal, newest first, as ``journal_listing`` returns it."""

    entries: tuple[JournalEntry, ...]
    #: how many entries match the filter (all pages)
    matching: int
    offset: int
    #: ids of the entries on this page that are still the latest action on their row
    #: (not undone, no newer action since): the ones an undo may restore
    undoable: frozenset[int] = frozenset()
    #: pattern or escalation id -> a display name, for this page's entries
    names: Mapping[str, str] = field(default_factory=dict)
