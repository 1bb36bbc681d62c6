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
Every store call goes through ``host.run_store``: previews and writes run off the UI
thread, the row shows "saving…" until the write commits, and the write is compare-and-set
on the "before" the dialog showed: if another operator changed the pattern meanwhile,
nothing is written and the dialog opens again on the pattern's state now.

In read-only mode the screen base disables the keys (``WRITE_ACTIONS``: the footer hides
them) and pressing one only says that the store is read-only. Store errors become one
error toast each.

The screen can override ``triage_target`` (which id) and ``triage_done`` (what happens after
a successful action or undo; default: a forced refresh).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
    ActionConflictError,
    JournalSubject,
    PatternAction,
    UndoConflictError,
)

if TYPE_CHECKING:
    from store import ActionPreview, GlobalLearningStore, JournalEntry

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

        def undo() -> tuple[JournalEntry | None, str]:
            entry = store.undo_last_action(target_kind=JournalSubject.PATTERN)
            return entry, (_name_in(store, entry.target_id) if entry is not None else "")

        def undone(result: tuple[JournalEntry | None, str]) -> None:
            entry, name = result
            if entry is None:
                self.notify("Nothing to undo.", markup=False)
                return
            restored = entry.prior_state.get("quarantine_status") or "pending"
            self.notify(
                f"Undid {entry.action} of {clean(name, 60)}: back to {clean(restored, 20)}.",
                title="Undone", markup=False,
            )
            self.triage_done(entry.target_id)

        def refused(error: BaseException) -> None:
            if isinstance(error, UndoConflictError):
                self._error(f"Cannot undo: {error}")
            else:
                self.host.say_failure("Undo", error)

        self.host.run_store(undo, undone, label="Undo", write=True, failure=refused)

    # -- the flow -----------------------------------------------------------------------

    def _start_triage(self, action: PatternAction) -> None:
        # Captured now: whatever a refresh does later, the action targets this pattern.
        target = self.triage_target()
        if target is None:
            self.notify("No pattern selected.", markup=False)
            return
        if action is PatternAction.QUARANTINE:
            self._read_preview(target, action, None, self._ask_reason)
        else:
            self._read_preview(target, action, None, self._confirm)

    def _read_preview(
        self,
        target: str,
        action: PatternAction,
        reason: str | None,
        then: Callable[[_Planned], None],
        *,
        changed_meanwhile: bool = False,
    ) -> None:
        """Read the before -> after (and the guard rails) off the UI thread, then ``then``."""
        store = self.host.store

        def read() -> _Planned:
            preview = store.preview_pattern_action(target, action, reason)
            warnings = list(triage_warnings(store, target, action))
            if changed_meanwhile:
                warnings.insert(0, "It changed while the last dialog was open: this is its "
                                   "state now.")
            return _Planned(target, action, reason, preview, tuple(warnings))

        self.host.run_store(read, then, label="Preview", failure=self._preview_failed)

    def _preview_failed(self, error: BaseException) -> None:
        if isinstance(error, KeyError):
            self._error("That pattern no longer exists.")
        else:
            self.host.say_failure("Preview", error)

    def _ask_reason(self, planned: _Planned) -> None:
        subject = pattern_subject(planned.preview.target_name, planned.target)

        def with_reason(reason: str | None) -> None:
            if reason is not None:  # None = escape: the whole action is cancelled
                self._read_preview(planned.target, planned.action, reason or None,
                                   self._confirm)

        self.app.push_screen(
            ReasonScreen("Why quarantine this pattern?", subject,
                         placeholder="reason (kept in the journal)"),
            with_reason,
        )

    def _confirm(self, planned: _Planned) -> None:
        preview = planned.preview
        if not preview.before and not preview.after:
            self.notify(
                f"Nothing to do: the pattern is already {planned.action.value}.", markup=False
            )
            return

        def on_answer(confirmed: bool | None) -> None:
            if confirmed:
                self._apply(planned)

        self.app.push_screen(
            ConfirmScreen(
                _TITLES[planned.action],
                pattern_subject(preview.target_name, planned.target),
                preview.before,
                preview.after,
                warnings=planned.warnings,
            ),
            on_answer,
        )

    def _apply(self, planned: _Planned) -> None:
        store = self.host.store
        action, target = planned.action, planned.target
        table = self._table_showing(target)

        def write() -> JournalEntry:
            # Compare-and-set: only if the pattern still is what the dialog showed.
            return store.apply_pattern_action(
                target, action, reason=planned.reason,
                expected_before=planned.preview.before,
            )

        def done(_entry: JournalEntry) -> None:
            self.notify(
                f"{_DONE[action]}: {clean(planned.preview.target_name, 60)}. Press u to undo.",
                title="Done", markup=False,
            )
            self.triage_done(target)

        def refused(error: BaseException) -> None:
            if isinstance(error, ActionConflictError):
                now = error.current.get("quarantine_status") or "pending"
                self._error(
                    f"{_DONE[action]} refused: the pattern changed since the dialog opened "
                    f"(status now {now}). Nothing was written; the dialog shows it as it is now."
                )
                self.host.request_refresh(force=True)
                self._read_preview(target, action, planned.reason, self._confirm,
                                   changed_meanwhile=True)
            elif isinstance(error, KeyError):
                self._error("That pattern no longer exists.")
            else:
                self.host.say_failure(_DONE[action], error)

        self.host.run_store(
            write, done, label=_DONE[action], write=True,
            saving=(table, target) if table is not None else None, failure=refused,
        )

    def _table_showing(self, target: str) -> LiveTable | None:
        for table in self.query(LiveTable):
            if target in table.row_keys_in_order:
                return table
        return None

    def _error(self, message: str) -> None:
        self.notify(clean(message, 300), severity="error", markup=False, timeout=8)


@dataclass(frozen=True)
class _Planned:
    """An action as the confirm dialog will show it: target, preview, guard rails."""

    target: str
    action: PatternAction
    reason: str | None
    preview: ActionPreview
    warnings: tuple[str, ...]


def _name_in(store: GlobalLearningStore, target: str) -> str:
    try:
        return store.preview_pattern_action(target, PatternAction.PENDING).target_name
    except Exception:  # only for a toast
        return target


def triage_warnings(
    store: GlobalLearningStore, target: str, action: PatternAction
) -> list[str]:
    """Guard rails shown in the confirm dialog (ux-anchors: validating weak evidence).

    Worker thread: it reads the pattern's record.
    """
    if action is not PatternAction.VALIDATE:
        return []
    try:
        record = store.get_pattern_by_id(target)
        doubtful = dict(store.unvouched_scores(target))
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
    if "effectiveness" in doubtful:
        warnings.append(
            f"Effectiveness is stored as {clean(doubtful['effectiveness'], 24)!r}, not a "
            "score: the store cannot vouch for it."
        )
    elif record.effectiveness_score < QUARANTINE_EFFECTIVENESS_THRESHOLD:
        warnings.append(
            f"Effectiveness {record.effectiveness_score:.2f} is below "
            f"{QUARANTINE_EFFECTIVENESS_THRESHOLD:.2f}: the lifecycle would quarantine it."
        )
    return warnings


__all__: list[str] = [
    "TRIAGE_ACTIONS",
    "TRIAGE_BINDINGS",
    "PatternTriageMixin",
    "pattern_subject",
    "triage_warnings",
]
