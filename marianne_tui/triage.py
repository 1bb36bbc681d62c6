"""Pattern triage keys, shared by every screen whose rows are patterns (Patterns, Drift).

Usage: mix ``PatternTriageMixin`` into a ``StoreScreen`` (mixin first) and add its bindings::

    class DriftScreen(PatternTriageMixin, StoreScreen):
        BINDINGS = [*TRIAGE_BINDINGS, ...]

        def triage_target(self) -> str | None:      # optional: the default reads the
            return self.query_one(LiveTable).cursor_key   # first LiveTable's cursor row

Keys: ``q`` quarantine (asks a reason first), ``v`` validate, ``x`` retire, ``n`` back to
pending, ``u`` undo the last pattern action. The target is the pattern id under the cursor
*when the key is pressed*; it is captured then, before any dialog opens, so a refresh
cannot move the action onto another pattern. Each action shows a confirm dialog with the
store's before -> after preview ("No" focused; ``y`` confirms), then calls
``store.apply_pattern_action`` (the store journals it), shows a toast and forces a refresh.

In read-only mode the screen base disables the keys (``WRITE_ACTIONS``: the footer hides
them) and pressing one only says that the store is read-only. Store errors become error
toasts.

The screen can override ``triage_target`` (which id) and ``triage_done`` (what happens after
a successful action or undo; default: a forced refresh).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.binding import Binding

from marianne_tui.modals.confirm import ConfirmScreen
from marianne_tui.modals.reason import ReasonScreen
from marianne_tui.screens.base import StoreScreen
from marianne_tui.text import clean, untrusted
from marianne_tui.widgets.live_table import LiveTable
from store import (
    MIN_OCCURRENCES_FOR_PROMOTION,
    QUARANTINE_EFFECTIVENESS_THRESHOLD,
    JournalSubject,
    PatternAction,
    StoreError,
    UndoConflictError,
)

if TYPE_CHECKING:
    from store import ActionPreview

TRIAGE_BINDINGS = [
    Binding("q", "triage_quarantine", "Quarantine"),
    Binding("v", "triage_validate", "Validate"),
    Binding("x", "triage_retire", "Retire"),
    Binding("n", "triage_pending", "Pending", show=False),
    Binding("u", "triage_undo", "Undo", show=False),
]

#: Action name -> the PatternAction it runs (undo is separate).
_ACTIONS = {
    "triage_quarantine": PatternAction.QUARANTINE,
    "triage_validate": PatternAction.VALIDATE,
    "triage_retire": PatternAction.RETIRE,
    "triage_pending": PatternAction.PENDING,
}
TRIAGE_ACTIONS = frozenset({*_ACTIONS, "triage_undo"})

_TITLES = {
    PatternAction.QUARANTINE: "Quarantine this pattern?",
    PatternAction.VALIDATE: "Validate this pattern?",
    PatternAction.RETIRE: "Retire this pattern (status \"retired\")?",
    PatternAction.PENDING: "Put this pattern back to pending?",
}
_DONE = {
    PatternAction.QUARANTINE: "Quarantined",
    PatternAction.VALIDATE: "Validated",
    PatternAction.RETIRE: "Retired",
    PatternAction.PENDING: "Back to pending",
}


def pattern_subject(name: str, pattern_id: str) -> Text:
    """The sanitised "name (id)" line the dialogs show."""
    subject = untrusted(name, 120, style="bold")
    subject.append_text(Text(" "))
    subject.append_text(untrusted(f"({pattern_id})", 60, style="dim"))
    return subject


class PatternTriageMixin(StoreScreen):
    """Triage actions for a StoreScreen whose table rows are keyed by pattern id."""

    WRITE_ACTIONS = TRIAGE_ACTIONS
    READ_ONLY_NOTICE = "triage keys are disabled"

    # -- hooks a screen may override ----------------------------------------------------

    def triage_target(self) -> str | None:
        """The pattern id under the cursor now (the focused LiveTable, else the first)."""
        focused = self.app.focused
        table = focused if isinstance(focused, LiveTable) else None
        if table is None:
            tables = list(self.query(LiveTable))
            table = tables[0] if tables else None
        return None if table is None else table.cursor_key

    def triage_done(self, pattern_id: str) -> None:
        """Called after a successful action or undo on ``pattern_id``."""
        self.host.request_refresh(force=True)

    # -- actions ------------------------------------------------------------------------

    def action_triage_quarantine(self) -> None:
        self._start_triage(PatternAction.QUARANTINE)

    def action_triage_validate(self) -> None:
        self._start_triage(PatternAction.VALIDATE)

    def action_triage_retire(self) -> None:
        self._start_triage(PatternAction.RETIRE)

    def action_triage_pending(self) -> None:
        self._start_triage(PatternAction.PENDING)

    def action_triage_undo(self) -> None:
        store = self.host.store
        try:
            entry = store.undo_last_action(target_kind=JournalSubject.PATTERN)
        except UndoConflictError as error:
            self._error(f"Cannot undo: {error}")
            return
        except (StoreError, KeyError, ValueError) as error:
            self._error(f"Undo failed: {type(error).__name__}: {error}")
            return
        if entry is None:
            self.notify("Nothing to undo.", markup=False)
            return
        restored = entry.prior_state.get("quarantine_status") or "pending"
        name = self._name_of(entry.target_id)
        self.notify(
            f"Undid {entry.action} of {clean(name, 60)}: back to {clean(restored, 20)}.",
            title="Undone", markup=False,
        )
        self.triage_done(entry.target_id)

    # -- the flow -----------------------------------------------------------------------

    def _start_triage(self, action: PatternAction) -> None:
        # Captured now: whatever a refresh does later, the action targets this pattern.
        target = self.triage_target()
        if target is None:
            self.notify("No pattern selected.", markup=False)
            return
        preview = self._preview(target, action, None)
        if preview is None:
            return
        if action is PatternAction.QUARANTINE:
            subject = pattern_subject(preview.target_name, target)

            def with_reason(reason: str | None) -> None:
                if reason is not None:  # None = escape: the whole action is cancelled
                    self._confirm(target, action, reason or None)

            self.app.push_screen(
                ReasonScreen("Why quarantine this pattern?", subject,
                             placeholder="reason (kept in the journal)"),
                with_reason,
            )
        else:
            self._confirm(target, action, None, preview)

    def _preview(
        self, target: str, action: PatternAction, reason: str | None
    ) -> ActionPreview | None:
        try:
            return self.host.store.preview_pattern_action(target, action, reason)
        except KeyError:
            self._error("That pattern no longer exists.")
        except (StoreError, ValueError) as error:
            self._error(f"{type(error).__name__}: {error}")
        return None

    def _confirm(
        self,
        target: str,
        action: PatternAction,
        reason: str | None,
        preview: ActionPreview | None = None,
    ) -> None:
        preview = preview or self._preview(target, action, reason)
        if preview is None:
            return
        if not preview.before and not preview.after:
            self.notify(
                f"Nothing to do: the pattern is already {action.value}.", markup=False
            )
            return

        def on_answer(confirmed: bool | None) -> None:
            if confirmed:
                self._apply(target, action, reason, preview.target_name)

        self.app.push_screen(
            ConfirmScreen(
                _TITLES[action],
                pattern_subject(preview.target_name, target),
                preview.before,
                preview.after,
                warnings=self.triage_warnings(target, action),
            ),
            on_answer,
        )

    def triage_warnings(self, target: str, action: PatternAction) -> list[str]:
        """Guard rails shown in the confirm dialog (ux-anchors: validating weak evidence)."""
        if action is not PatternAction.VALIDATE:
            return []
        try:
            record = self.host.store.get_pattern_by_id(target)
        except Exception:  # a legacy row the record cannot read: no advice
            return []
        if record is None:
            return []
        warnings = []
        applications = record.led_to_success_count + record.led_to_failure_count
        if applications < MIN_OCCURRENCES_FOR_PROMOTION:
            warnings.append(
                f"Only {applications} application(s): the lifecycle needs "
                f"{MIN_OCCURRENCES_FOR_PROMOTION} before it judges a pattern."
            )
        if record.effectiveness_score < QUARANTINE_EFFECTIVENESS_THRESHOLD:
            warnings.append(
                f"Effectiveness {record.effectiveness_score:.2f} is below "
                f"{QUARANTINE_EFFECTIVENESS_THRESHOLD:.2f}: the lifecycle would quarantine it."
            )
        return warnings

    def _apply(
        self, target: str, action: PatternAction, reason: str | None, name: str
    ) -> None:
        try:
            self.host.store.apply_pattern_action(target, action, reason=reason)
        except KeyError:
            self._error("That pattern no longer exists.")
            return
        except (StoreError, ValueError) as error:
            self._error(f"{_DONE[action]} failed: {type(error).__name__}: {error}")
            return
        self.notify(
            f"{_DONE[action]}: {clean(name, 60)}. Press u to undo.",
            title="Done", markup=False,
        )
        self.triage_done(target)

    def _name_of(self, target: str) -> str:
        try:
            return self.host.store.preview_pattern_action(
                target, PatternAction.PENDING
            ).target_name
        except Exception:  # only for a toast
            return target

    def _error(self, message: str) -> None:
        self.notify(clean(message, 300), severity="error", markup=False, timeout=8)


__all__: list[str] = [
    "TRIAGE_ACTIONS",
    "TRIAGE_BINDINGS",
    "PatternTriageMixin",
    "pattern_subject",
]
