"""What the console needs beyond Marianne's API: paged reads, a change probe, a journal.

INTERFACE STUB: the signatures below are the contract between `store` and `marianne_tui`.
They are being implemented (see the store issue); keep them stable.
"""

from __future__ import annotations

from store.base import GlobalLearningStoreBase
from store.models import EscalationDecisionRecord
from store.readmodels import (
    ActionPreview,
    DriftReport,
    EscalationOutcome,
    JournalEntry,
    PatternAction,
    PatternPage,
    PatternQuery,
    StoreOverview,
)


class ConsoleMixin(GlobalLearningStoreBase):
    """Read-models, change probe and operator journal for the console."""

    # -- reads --------------------------------------------------------------------------

    def query_patterns(self, query: PatternQuery) -> PatternPage:
        """One page of patterns, filtered, sorted and paged in SQL."""
        raise NotImplementedError

    def pattern_types(self, limit: int = 200) -> list[str]:
        """Distinct pattern types, alphabetical (for the type filter)."""
        raise NotImplementedError

    def pattern_instruments(self, limit: int = 200) -> list[str]:
        """Distinct non-NULL instrument names, alphabetical."""
        raise NotImplementedError

    def store_overview(self) -> StoreOverview:
        """The header's numbers in a handful of cheap aggregates."""
        raise NotImplementedError

    def escalations_for_review(self, limit: int = 200) -> list[EscalationDecisionRecord]:
        """Escalations awaiting an outcome first (oldest first), then the rest newest first."""
        raise NotImplementedError

    def pending_escalation_count(self) -> int:
        raise NotImplementedError

    def drift_report(
        self,
        *,
        window_size: int = 5,
        drift_threshold: float = 0.2,
        epistemic_threshold: float = 0.15,
        only_exceeding: bool = True,
        limit: int = 200,
    ) -> DriftReport:
        """Effectiveness and epistemic drift of every pattern with enough data, set-based."""
        raise NotImplementedError

    def preview_retire_drifting_patterns(
        self,
        drift_threshold: float = 0.2,
        window_size: int = 5,
        require_negative_drift: bool = True,
    ) -> list[tuple[str, str, float]]:
        """Dry run of ``retire_drifting_patterns``: what it would retire, writing nothing."""
        raise NotImplementedError

    # -- change probe -------------------------------------------------------------------

    def change_token(self) -> int:
        """A number that changes whenever any connection commits a write to the store.

        SQLite: ``PRAGMA data_version`` on one kept-open connection (microseconds).
        PostgreSQL: the revision counter that the store's triggers bump.
        """
        raise NotImplementedError

    # -- operator actions (journalled, undoable) ----------------------------------------

    def preview_pattern_action(
        self, pattern_id: str, action: PatternAction, reason: str | None = None
    ) -> ActionPreview:
        """Before -> after of the columns ``action`` would change. KeyError if unknown."""
        raise NotImplementedError

    def apply_pattern_action(
        self,
        pattern_id: str,
        action: PatternAction,
        *,
        reason: str | None = None,
        actor: str | None = None,
    ) -> JournalEntry:
        """Quarantine/validate/retire/back-to-pending through Marianne's own transitions,
        journalled with the full prior state, in one transaction. KeyError if unknown."""
        raise NotImplementedError

    def preview_escalation_outcome(
        self, escalation_id: str, outcome: EscalationOutcome
    ) -> ActionPreview:
        raise NotImplementedError

    def record_escalation_outcome(
        self,
        escalation_id: str,
        outcome: EscalationOutcome,
        *,
        note: str | None = None,
        actor: str | None = None,
    ) -> JournalEntry:
        """``update_escalation_outcome`` plus a journal row (the note lives in the journal)."""
        raise NotImplementedError

    def undo_last_action(
        self, *, target_kind: str | None = None, actor: str | None = None
    ) -> JournalEntry | None:
        """Restore the prior state of the newest not-yet-undone action (optionally of one
        target kind: "pattern" or "escalation"). Returns the undone entry, None if there is
        nothing to undo; raises UndoConflictError if the row changed since."""
        raise NotImplementedError

    def journal(self, limit: int = 50, target_id: str | None = None) -> list[JournalEntry]:
        """Newest first."""
        raise NotImplementedError
