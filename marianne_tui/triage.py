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

Marks and bulk triage (a screen binds ``MARK_BINDINGS`` and shows ``marks``; Patterns does):
``m`` marks or unmarks the row under the cursor, ``shift+down``/``shift+up`` mark it and
move, ``ctrl+a`` marks every pattern the current filter matches (all pages, read from the
store, at most MARK_LIMIT), ``M`` clears the marks. Marks are ids: they survive refreshes,
paging and filter changes; one that leaves the store is dropped (with a toast). With marks,
``q``/``v``/``x``/``n`` act on all of them: one dialog with the count per before -> after
and the first rows, then one transaction (``apply_batch_action``), compare-and-set on every
marked pattern: if any changed since the dialog, nothing is written, the toast says which,
and the dialog opens again on their state now. After a bulk action the marks it covered are
cleared. ``u`` on a bulk action (the newest one is) confirms, then undoes the whole batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.binding import Binding

from marianne_tui.modals.bulk_confirm import BatchUndoScreen, BulkConfirmScreen, plural
from marianne_tui.modals.confirm import ConfirmScreen
from marianne_tui.modals.reason import ReasonScreen
from marianne_tui.screens.base import StoreScreen
from marianne_tui.text import clean, untrusted
from marianne_tui.widgets.live_table import LiveTable
from store import (
    MIN_OCCURRENCES_FOR_PROMOTION,
    QUARANTINE_EFFECTIVENESS_THRESHOLD,
    ActionConflictError,
    BatchConflictError,
    BatchUndoRequiredError,
    JournalSubject,
    PatternAction,
    UndoConflictError,
)

if TYPE_CHECKING:
    from store import (
        ActionPreview,
        BatchPreview,
        BatchResult,
        BatchUndoPreview,
        GlobalLearningStore,
        JournalEntry,
        MatchingIds,
        PatternQuery,
        PatternRow,
    )

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

#: At most this many marks, and so patterns in one bulk action. A bulk action is one
#: transaction: on SQLite it holds the store's write lock while it runs, and Marianne's
#: own writers wait for it (its busy timeout is 30 s). Measured on a loaded 2-core box:
#: 1,000 patterns commit in 0.26-0.36 s on SQLite and ~1 s on PostgreSQL, their undo in
#: 0.5-1.2 s and 0.6-0.9 s. The bound keeps that wait around a second (far inside the
#: busy timeout, on a slower disk too) and the dialog, the journal and an undo readable.
#: ctrl+a on a larger match marks the first 1,000 in the list's order and says so.
MARK_LIMIT = 1000

#: Marking keys (none writes: they work in read-only mode too; bulk writes do not).
MARK_BINDINGS = [
    Binding("m", "toggle_mark", "Mark / unmark", show=False),
    Binding("shift+down", "extend_marks(1)", "Mark and move down", show=False),
    Binding("shift+up", "extend_marks(-1)", "Mark and move up", show=False),
    Binding("ctrl+a", "mark_all", "Mark all the filter matches", show=False),
    Binding("M", "clear_marks", "Clear marks", show=False),
]

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
#: The action's name where it did not happen ("Validate failed", "… cancelled", "… refused").
_VERB = {
    PatternAction.QUARANTINE: "Quarantine",
    PatternAction.VALIDATE: "Validate",
    PatternAction.RETIRE: "Retire",
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

    _marks: dict[str, None] | None = None

    @property
    def marks(self) -> dict[str, None]:
        """The marked pattern ids, in the order they were marked (a dict used as a set)."""
        if self._marks is None:
            self._marks = {}
        return self._marks

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

    def marks_changed(self) -> None:
        """Called when the marks changed: show them (the mark glyphs and the count)."""

    def marks_query(self) -> PatternQuery | None:
        """The query whose matches ``ctrl+a`` marks (None: this screen cannot)."""
        return None

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
            if isinstance(error, BatchUndoRequiredError):
                self._confirm_batch_undo(error.batch_id)  # nothing was written
            elif isinstance(error, UndoConflictError):
                self._error(f"Cannot undo: {error}")
            else:
                self.host.say_failure("Undo", error)

        self.host.run_store(undo, undone, label="Undo", write=True, failure=refused)

    # -- marks --------------------------------------------------------------------------

    def action_toggle_mark(self) -> None:
        target = self.triage_target()
        if target is None:
            return
        if target in self.marks:
            del self.marks[target]
        elif self._room_for_marks():
            self.marks[target] = None
        self.marks_changed()

    def action_extend_marks(self, step: int) -> None:
        target = self.triage_target()
        if target is None:
            return
        if target not in self.marks:
            if not self._room_for_marks():
                return
            self.marks[target] = None
            self.marks_changed()
        table = self._table_showing(target)
        if table is not None:
            table.move_cursor(row=max(0, table.cursor_row + step), animate=False)

    def action_mark_all(self) -> None:
        query = self.marks_query()
        if query is None:
            self.notify("This list cannot mark everything it matches.", markup=False)
            return
        store = self.host.store

        def read() -> MatchingIds:
            return store.pattern_ids_matching(query, MARK_LIMIT)

        def marked(found: MatchingIds) -> None:
            if self.marks_query() != query:
                self.notify("The filter changed meanwhile: press ctrl+a again.", markup=False)
                return
            before = len(self.marks)
            for pattern_id in found.ids:
                if len(self.marks) >= MARK_LIMIT:
                    break
                self.marks.setdefault(pattern_id, None)
            added = len(self.marks) - before
            message = f"Marked {plural(added, 'more pattern')}: {len(self.marks):,} marked."
            if not found.complete:
                message += (f" The filter matches {found.matching:,}: ctrl+a marks the first "
                            f"{MARK_LIMIT:,} in the list's order (the limit of one bulk action).")
            elif len(self.marks) >= MARK_LIMIT and added < len(found.ids):
                message += f" The limit of one bulk action is {MARK_LIMIT:,} marks."
            self.notify(message, title="Marks", markup=False)
            self.marks_changed()

        self.host.run_store(read, marked, label="Mark all")

    def action_clear_marks(self) -> None:
        if not self.marks:
            self.notify("Nothing is marked.", markup=False)
            return
        count = len(self.marks)
        self.marks.clear()
        self.notify(f"Cleared {plural(count, 'mark')}.", markup=False)
        self.marks_changed()

    def drop_vanished_marks(self, checked: Collection[str], existing: Collection[str]) -> None:
        """Unmark the ids of ``checked`` the store no longer holds (``existing``: those it
        does, read with them), and say so."""
        gone = [key for key in checked if key not in existing and key in self.marks]
        if not gone:
            return
        for key in gone:
            del self.marks[key]
        self.notify(f"{plural(len(gone), 'marked pattern')} no longer in the store: dropped "
                    "from the marks.", severity="warning", markup=False)
        self.marks_changed()

    def _room_for_marks(self) -> bool:
        if len(self.marks) < MARK_LIMIT:
            return True
        self.notify(f"At most {MARK_LIMIT:,} marks (the limit of one bulk action).",
                    severity="warning", markup=False)
        return False

    # -- the flow -----------------------------------------------------------------------

    def _start_triage(self, action: PatternAction) -> None:
        if self.marks:
            self._start_bulk(action)
            return
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
            # Compare-and-set: only if the pattern is still in the state the dialog was
            # built from (all of it: a status changed by someone else refuses the action
            # even where the dialog shows only a timestamp changing).
            return store.apply_pattern_action(
                target, action, reason=planned.reason,
                expected_before=planned.preview.state,
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
                    f"{_VERB[action]} refused: the pattern changed since the dialog opened "
                    f"(status now {now}). Nothing was written; the dialog shows it as it is now."
                )
                self.host.request_refresh(force=True)
                self._read_preview(target, action, planned.reason, self._confirm,
                                   changed_meanwhile=True)
            elif isinstance(error, KeyError):
                self._error("That pattern no longer exists.")
            else:
                self.host.say_failure(_VERB[action], error)

        self.host.run_store(
            write, done, label=_VERB[action], write=True,
            saving=(table, target) if table is not None else None, failure=refused,
        )

    # -- the bulk flow ------------------------------------------------------------------

    def _start_bulk(self, action: PatternAction) -> None:
        ids = tuple(self.marks)  # captured now, like a single action's target
        if action is not PatternAction.QUARANTINE:
            self._read_bulk_preview(ids, action, None)
            return

        def with_reason(reason: str | None) -> None:
            if reason is not None:  # None = escape: the whole action is cancelled
                self._read_bulk_preview(ids, action, reason or None)

        self.app.push_screen(
            ReasonScreen("Why quarantine the marked patterns?",
                         Text(f"{plural(len(ids))} marked", style="bold"),
                         placeholder="reason (kept in the journal of each)"),
            with_reason,
        )

    def _read_bulk_preview(
        self, ids: tuple[str, ...], action: PatternAction, reason: str | None,
        *, changed_meanwhile: str | None = None,
    ) -> None:
        store = self.host.store

        def read() -> tuple[BatchPreview, list[str]]:
            preview = store.preview_batch_action(ids, action, reason)
            rails: list[str] = []
            if action is PatternAction.VALIDATE and preview.changing:
                rails = bulk_guard_rail_warnings(store.patterns_by_id(
                    item.pattern_id for item in preview.changing))
            return preview, rails

        def then(read: tuple[BatchPreview, list[str]]) -> None:
            preview, rails = read
            self._confirm_bulk(preview, changed_meanwhile, rails)

        self.host.run_store(read, then, label="Preview", failure=self._preview_failed)

    def _confirm_bulk(self, preview: BatchPreview, changed_meanwhile: str | None,
                      rails: Sequence[str] = ()) -> None:
        if preview.missing:
            self.drop_vanished_marks(preview.missing, ())
        if not preview.changing:
            self.notify(f"Nothing to do: the {plural(len(preview.items), 'marked pattern')} "
                        f"already {'is' if len(preview.items) == 1 else 'are'} "
                        f"{_DONE[PatternAction(preview.action)].lower()}.", markup=False)
            return

        def on_answer(confirmed: bool | None) -> None:
            if confirmed:
                self._apply_bulk(preview)

        warnings = (changed_meanwhile,) if changed_meanwhile else ()
        self.app.push_screen(BulkConfirmScreen(preview, warnings=warnings, rails=rails),
                             on_answer)

    def _apply_bulk(self, preview: BatchPreview) -> None:
        store = self.host.store
        action = PatternAction(preview.action)
        ids = tuple(item.pattern_id for item in preview.items)
        names = {item.pattern_id: item.name for item in preview.items}

        def write() -> BatchResult:
            # Compare-and-set on every pattern: all of it as the dialog showed, or nothing.
            return store.apply_batch_action(preview)

        def done(result: BatchResult) -> None:
            for pattern_id in (*result.applied, *result.skipped):
                self.marks.pop(pattern_id, None)
            skipped = f", {len(result.skipped):,} skipped" if result.skipped else ""
            self.notify(f"{_DONE[action]}: {plural(len(result.applied))}{skipped}. "
                        "Press u to undo the whole batch.", title="Done", markup=False)
            self.marks_changed()
            self.triage_done(result.applied[0] if result.applied else ids[0])

        def refused(error: BaseException) -> None:
            if isinstance(error, BatchConflictError):
                changes = _describe_changes(error.changed, names)
                self._error(
                    f"{_VERB[action]} refused: {plural(len(error.changed))} changed since the "
                    f"dialog opened ({changes}). Nothing was written; the dialog shows the "
                    "marked patterns as they are now."
                )
                self.host.request_refresh(force=True)
                self._read_bulk_preview(
                    ids, action, preview.reason,
                    changed_meanwhile=f"{plural(len(error.changed))} changed while the last "
                                      f"dialog was open ({changes}): these are the states now.",
                )
            else:
                self.host.say_failure(_VERB[action], error)

        self.host.run_store(write, done, label=_VERB[action], write=True,
                            saving=self._rows_saving(item.pattern_id for item in preview.changing),
                            failure=refused)

    def _confirm_batch_undo(self, batch_id: str) -> None:
        def undone(entries: tuple[JournalEntry, ...]) -> None:
            self.triage_done(entries[0].target_id)

        confirm_batch_undo(
            self, batch_id, undone,
            saving=lambda preview: self._rows_saving(e.target_id for e in preview.entries),
        )

    def _rows_saving(self, ids: Iterable[str]) -> tuple[LiveTable, str] | None:
        """``run_store``'s ``saving`` for a bulk write: every shown row of it says
        "saving…" until the write ends, however it ends (cancelled too)."""
        tables = list(self.query(LiveTable))
        if not tables:
            return None
        return rows_saving(tables[0], ids)

    def _table_showing(self, target: str) -> LiveTable | None:
        for table in self.query(LiveTable):
            if target in table.row_keys_in_order:
                return table
        return None

    def _error(self, message: str) -> None:
        self.notify(clean(message, 300), severity="error", markup=False, timeout=8)


def confirm_batch_undo(
    screen: StoreScreen,
    batch_id: str,
    undone: Callable[[tuple[JournalEntry, ...]], None],
    *,
    saving: Callable[[BatchUndoPreview], tuple[LiveTable, str] | None] | None = None,
) -> None:
    """Undo the bulk action ``batch_id`` as a whole (``u`` on Patterns, Drift, Journal):
    read what it would restore, confirm in ``BatchUndoScreen`` (which refuses when a
    pattern moved on since), then ``store.undo_batch`` off the UI thread. ``undone`` runs
    after a successful undo with the entries undone (never empty); ``saving`` picks the
    shown rows that say "saving…" while it writes."""
    host = screen.host
    store = host.store

    def read() -> BatchUndoPreview:
        return store.preview_batch_undo(batch_id)

    def ask(preview: BatchUndoPreview) -> None:
        if not preview.entries:
            screen.notify("Nothing to undo.", markup=False)
            return

        def on_answer(confirmed: bool | None) -> None:
            if confirmed:
                write(preview)

        screen.app.push_screen(BatchUndoScreen(preview), on_answer)

    def write(preview: BatchUndoPreview) -> None:
        def undo() -> tuple[JournalEntry, ...]:
            return store.undo_batch(batch_id)

        def done(entries: tuple[JournalEntry, ...]) -> None:
            if not entries:
                screen.notify("Nothing to undo.", markup=False)
                return
            screen.notify(f"Undid the bulk {clean(entries[0].action, 20)} of "
                          f"{plural(len(entries))}: each is back to its prior state.",
                          title="Undone", markup=False)
            undone(entries)

        def refused(error: BaseException) -> None:
            if isinstance(error, UndoConflictError):
                screen.notify(clean(f"Cannot undo: {error}", 300), severity="error",
                              markup=False, timeout=8)
                host.request_refresh(force=True)
            else:
                host.say_failure("Undo", error)

        host.run_store(undo, done, label="Undo", write=True, failure=refused,
                       saving=saving(preview) if saving is not None else None)

    host.run_store(read, ask, label="Undo preview")


@dataclass(frozen=True)
class _Planned:
    """An action as the confirm dialog will show it: target, preview, guard rails."""

    target: str
    action: PatternAction
    reason: str | None
    preview: ActionPreview
    warnings: tuple[str, ...]


class _RowsSaving:
    """Stands in for a LiveTable in ``run_store(saving=...)``, which marks one row: this
    marks every row of a bulk write, and store_calls clears them whatever the outcome."""

    def __init__(self, table: LiveTable, keys: list[str]) -> None:
        self.table = table
        self.keys = keys

    @property
    def is_attached(self) -> bool:
        return self.table.is_attached

    def mark_saving(self, _key: str, saving: bool) -> None:
        for key in self.keys:
            self.table.mark_saving(key, saving)


def rows_saving(table: LiveTable, keys: Iterable[str]) -> tuple[LiveTable, str] | None:
    """``run_store``'s ``saving`` that marks every row of ``keys`` the table shows."""
    shown = [key for key in keys if key in table.row_keys_in_order]
    if not shown:
        return None
    return cast(LiveTable, _RowsSaving(table, shown)), shown[0]


def _describe_changes(
    changed: Mapping[str, Mapping[str, object] | None], names: Mapping[str, str], limit: int = 3
) -> str:
    """"name (now validated), name (deleted)" for the first few changed patterns."""
    parts = []
    for pattern_id, state in list(changed.items())[:limit]:
        now = "deleted" if state is None else f"now {state.get('quarantine_status') or 'pending'}"
        parts.append(f"{clean(names.get(pattern_id, pattern_id), 40)} ({clean(now, 30)})")
    if len(changed) > limit:
        parts.append(f"{len(changed) - limit:,} more")
    return ", ".join(parts)


def _name_in(store: GlobalLearningStore, target: str) -> str:
    try:
        return store.preview_pattern_action(target, PatternAction.PENDING).target_name
    except Exception:  # only for a toast
        return target


class GuardRail(Enum):
    """Why validating a pattern deserves a second look (ux-anchors: weak evidence)."""

    FEW_APPLICATIONS = "few applications"
    UNVOUCHED_EFFECTIVENESS = "unvouched effectiveness"
    LOW_EFFECTIVENESS = "low effectiveness"


def validate_guard_rails(
    applications: int, effectiveness: float, unvouched_effectiveness: str | None
) -> tuple[GuardRail, ...]:
    """The guard rails validating a pattern with this evidence trips (pure; the one rule
    for the single and the bulk dialog). ``unvouched_effectiveness`` is the stored value
    when the store cannot vouch for it as a score; the number is then not judged."""
    rails = []
    if applications < MIN_OCCURRENCES_FOR_PROMOTION:
        rails.append(GuardRail.FEW_APPLICATIONS)
    if unvouched_effectiveness is not None:
        rails.append(GuardRail.UNVOUCHED_EFFECTIVENESS)
    elif effectiveness < QUARANTINE_EFFECTIVENESS_THRESHOLD:
        rails.append(GuardRail.LOW_EFFECTIVENESS)
    return tuple(rails)


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
    applications = record.led_to_success_count + record.led_to_failure_count
    messages = {
        GuardRail.FEW_APPLICATIONS:
            f"Only {applications} application(s): the lifecycle needs "
            f"{MIN_OCCURRENCES_FOR_PROMOTION} before it judges a pattern.",
        GuardRail.UNVOUCHED_EFFECTIVENESS:
            f"Effectiveness is stored as {clean(doubtful.get('effectiveness'), 24)!r}, not "
            "a score: the store cannot vouch for it.",
        GuardRail.LOW_EFFECTIVENESS:
            f"Effectiveness {record.effectiveness_score:.2f} is below "
            f"{QUARANTINE_EFFECTIVENESS_THRESHOLD:.2f}: the lifecycle would quarantine it.",
    }
    rails = validate_guard_rails(applications, record.effectiveness_score,
                                 doubtful.get("effectiveness"))
    return [messages[rail] for rail in rails]


def bulk_guard_rail_warnings(rows: Iterable[PatternRow]) -> list[str]:
    """The bulk validate dialog's guard rails: how many of ``rows`` trip each, in a few
    words (pure; the single dialog says why each matters)."""
    counts = Counter(
        rail for row in rows
        for rail in validate_guard_rails(row.applications, row.effectiveness,
                                         row.unvouched_value("effectiveness"))
    )
    wording = {
        GuardRail.FEW_APPLICATIONS: f"with fewer than {MIN_OCCURRENCES_FOR_PROMOTION} "
                                    "applications",
        GuardRail.UNVOUCHED_EFFECTIVENESS: "with an effectiveness the store cannot vouch for",
        GuardRail.LOW_EFFECTIVENESS: "with effectiveness below "
                                     f"{QUARANTINE_EFFECTIVENESS_THRESHOLD:.2f}",
    }
    return [f"{counts[rail]:,} {wording[rail]}" for rail in GuardRail if counts[rail]]


__all__: list[str] = [
    "MARK_BINDINGS",
    "MARK_LIMIT",
    "TRIAGE_ACTIONS",
    "TRIAGE_BINDINGS",
    "GuardRail",
    "PatternTriageMixin",
    "bulk_guard_rail_warnings",
    "pattern_subject",
    "triage_warnings",
    "validate_guard_rails",
]
