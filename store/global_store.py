"""The composed store, and the module Marianne's callers import it from.

``from store.global_store import GlobalLearningStore`` works as
``from marianne.learning.global_store import GlobalLearningStore`` does in Marianne.
"""

from __future__ import annotations

from pathlib import Path

from store.base import (
    DEFAULT_GLOBAL_STORE_PATH,
    SCHEMA_VERSION,
    Clock,
    GlobalLearningStoreBase,
    ReadOnlyStoreError,
    SchemaError,
    StoreBusyError,
    StoreDatabaseError,
    StoreError,
    StoreOpenError,
    StoreUnavailableError,
)
from store.budget import BudgetMixin, EntropyResponseConfig, EntropyTriggerContext
from store.changes import ChangesMixin
from store.drift import DriftMixin
from store.escalation import EscalationMixin
from store.evidence import EvidenceMixin
from store.executions import ExecutionMixin, SheetOutcome, SheetStatus
from store.journal import JournalMixin
from store.listings import BUDGET_CEILING, BUDGET_FLOOR, DIVERSITY_THRESHOLD, ListingsMixin
from store.models import (
    DriftMetrics,
    EntropyResponseRecord,
    EpistemicDriftMetrics,
    ErrorRecoveryRecord,
    EscalationDecisionRecord,
    EvolutionEntryInput,
    EvolutionTrajectoryEntry,
    ExecutionRecord,
    ExplorationBudgetRecord,
    PatternDiscoveryEvent,
    PatternEntropyMetrics,
    PatternRecord,
    QuarantineStatus,
    RateLimitEvent,
    SuccessFactors,
)
from store.patterns import PatternMixin
from store.patterns_crud import PatternProvenance
from store.patterns_lifecycle import (
    DEGRADATION_THRESHOLD,
    MIN_OCCURRENCES_FOR_PROMOTION,
    PROMOTION_EFFECTIVENESS_THRESHOLD,
    QUARANTINE_EFFECTIVENESS_THRESHOLD,
    PatternLifecycleMixin,
)
from store.rate_limits import RateLimitMixin
from store.watch import WatchMixin

__all__ = [
    "BUDGET_CEILING",
    "BUDGET_FLOOR",
    "DEFAULT_GLOBAL_STORE_PATH",
    "DEGRADATION_THRESHOLD",
    "DIVERSITY_THRESHOLD",
    "MIN_OCCURRENCES_FOR_PROMOTION",
    "PROMOTION_EFFECTIVENESS_THRESHOLD",
    "QUARANTINE_EFFECTIVENESS_THRESHOLD",
    "SCHEMA_VERSION",
    "BudgetMixin",
    "Clock",
    "DriftMetrics",
    "DriftMixin",
    "EntropyResponseConfig",
    "EntropyResponseRecord",
    "EntropyTriggerContext",
    "EpistemicDriftMetrics",
    "ErrorRecoveryRecord",
    "EscalationDecisionRecord",
    "EscalationMixin",
    "EvolutionEntryInput",
    "EvolutionTrajectoryEntry",
    "ExecutionMixin",
    "ExecutionRecord",
    "ExplorationBudgetRecord",
    "GlobalLearningStore",
    "GlobalLearningStoreBase",
    "PatternDiscoveryEvent",
    "PatternEntropyMetrics",
    "PatternLifecycleMixin",
    "PatternMixin",
    "PatternProvenance",
    "PatternRecord",
    "QuarantineStatus",
    "RateLimitEvent",
    "RateLimitMixin",
    "ReadOnlyStoreError",
    "SchemaError",
    "SheetOutcome",
    "SheetStatus",
    "StoreBusyError",
    "StoreDatabaseError",
    "StoreError",
    "StoreOpenError",
    "StoreUnavailableError",
    "SuccessFactors",
    "get_global_store",
]


class GlobalLearningStore(
    PatternMixin,
    ExecutionMixin,
    RateLimitMixin,
    DriftMixin,
    EscalationMixin,
    BudgetMixin,
    ListingsMixin,
    EvidenceMixin,
    JournalMixin,
    WatchMixin,
    ChangesMixin,
    GlobalLearningStoreBase,
):
    """Marianne's global learning store on SQLModel: SQLite by default, PostgreSQL by URL.

    ``GlobalLearningStore(db_path=None)`` opens ``~/.marianne/global-learning.db``;
    ``db_path`` may also be another path or a SQLAlchemy URL. See ``store.base`` for
    ``read_only``, ``create`` and ``clock``.
    """

    def reread_snapshot(self) -> bool:
        """Let an immutable view (``immutable_view``) see its file as it is now.

        SQLite was told the file never changes, so only new connections see what the
        conductor has checkpointed into it since; kept drift results are dropped with the
        old connections. If the conductor's ``-shm`` has appeared meanwhile, the view is
        live from now on (``immutable_view`` turns False). False, and nothing done, for a
        store that is not an immutable view.
        """
        if not self.immutable_view:
            return False
        self._reopen_snapshot()
        self.reset_drift_cache()
        return True


def get_global_store(db_path: Path | str | None = None) -> GlobalLearningStore:
    """One store per path: a new instance only when a different ``db_path`` is given.

    The instance lives in ``store._global_store``, where Marianne keeps it (its tests reset
    ``marianne.learning.store._global_store = None``).
    """
    import store as package  # the package imports this module first

    with package._global_store_lock:
        current = package._global_store
        if current is None or (db_path is not None and current.db_path != _normalised(db_path)):
            current = package._global_store = GlobalLearningStore(db_path)
        return current


def _normalised(db_path: Path | str) -> Path | str:
    if isinstance(db_path, str) and "://" in db_path:
        return db_path
    return Path(db_path).expanduser()
