"""Journal: the operator actions the store journalled, newest first (key 7).

Its own screen rather than a view inside Events: the two answer different questions
(what happened in the store / what operators did), they are read differently (the alert
log is the console's memory, the journal is a table every console shares) and both need
the whole width for their columns at 80 columns.

Each row: when, who (operator@host), the action, its subject, the state before → after,
the reason. `/` filters in SQL (operator, host, action, subject id, reason) across the
whole journal; `[` and `]` page. `u` undoes the entry under the cursor when it is still
the latest action on its row (● in the first column; ↶ marks an undone one): the store then checks,
in the same transaction, that the row still holds what the entry left, and refuses
otherwise (``store.journal_listing`` / ``undo_journal_entry``). An entry of a bulk action is
never undone alone: `u` on it opens the Patterns screen's batch undo dialog (the whole
batch, refused whole if one of its patterns moved on since; ``triage.confirm_batch_undo``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal

from marianne_tui.formatting import stamp
from marianne_tui.screens.filtered import ListFilterMixin
from marianne_tui.status import status_text
from marianne_tui.text import clean, untrusted
from marianne_tui.triage import confirm_batch_undo, rows_saving
from marianne_tui.widgets.filter_bar import FILTER_BINDING
from marianne_tui.widgets.live_table import Column, LiveTable, Row
from marianne_tui.widgets.status_line import StatusLine
from store import (
    BatchUndoRequiredError,
    JournalEntry,
    JournalListing,
    JournalSubject,
    UndoConflictError,
)

if TYPE_CHECKING:
    from store import BatchUndoPreview, GlobalLearningStore

PAGE_SIZE = 200

# What was done to what comes first: at 80 columns Who and Reason are cut, not the change.
COLUMNS = (
    Column("state", "", 1),
    Column("when", "When", 11),
    Column("action", "Action", 10),
    Column("subject", "Subject", 18),
    Column("change", "Before → after", 18),
    Column("who", "Who", 18),
    Column("reason", "Reason", 30),
)
#: The State column: still the latest action on its row (u may undo it), or undone.
LATEST = Text("●", style="bold", no_wrap=True)
UNDONE = Text("↶", style="dim", no_wrap=True)

#: The state column an entry's change is told by, per kind of subject.
_TOLD_BY = {JournalSubject.PATTERN: "quarantine_status",
            JournalSubject.ESCALATION: "outcome_after_action"}


@dataclass(frozen=True)
class JournalParams:
    text: str = ""
    offset: int = 0


def change_text(entry: JournalEntry) -> str:
    """"pending → quarantined" (a pattern's status, an escalation's outcome)."""
    column = _TOLD_BY.get(entry.target_kind, "")
    empty = "pending" if entry.target_kind is JournalSubject.PATTERN else "awaiting"

    def shown(state: Mapping[str, Any]) -> str:
        return str(state.get(column) or empty)

    return f"{shown(entry.prior_state)} → {shown(entry.new_state)}"


def change_cell(entry: JournalEntry) -> Text:
    """"○ pend → ✖ quar" for a pattern (glyph and word, as everywhere), else the text."""
    if entry.target_kind is not JournalSubject.PATTERN:
        return untrusted(change_text(entry))
    before, after = (str(state.get("quarantine_status") or "pending")
                     for state in (entry.prior_state, entry.new_state))
    return Text.assemble(status_text(before, short=True), " → ",
                         status_text(after, short=True), no_wrap=True, end="")


def entry_cells(entry: JournalEntry, listing: JournalListing) -> tuple[Text, ...]:
    if entry.undone_at is not None:
        state = UNDONE
    elif entry.id in listing.undoable:
        state = LATEST
    else:
        state = Text("")
    # The name says which row; y copies the id.
    subject = listing.names.get(entry.target_id) or entry.target_id
    action = entry.action if entry.undoes is None else f"undo #{entry.undoes}"
    return (
        state,
        Text(stamp(entry.acted_at), no_wrap=True),
        untrusted(action),
        untrusted(subject),
        change_cell(entry),
        untrusted(entry.who),
        untrusted(entry.reason or ""),
    )


class JournalScreen(ListFilterMixin):
    """The operator journal (key 7)."""

    TITLE_TEXT = "Journal"
    AUTO_FOCUS = "#journal-table"
    WRITE_ACTIONS = frozenset({"undo_entry"})
    READ_ONLY_NOTICE = "undo is disabled"

    BINDINGS = [  # noqa: RUF012
        Binding("u", "undo_entry", "Undo this"),
        FILTER_BINDING,
        Binding("right_square_bracket", "page(1)", "Next page", show=False),
        Binding("left_square_bracket", "page(-1)", "Previous page", show=False),
        Binding("y", "copy_subject_id", "Copy the subject's id", show=False),
    ]

    DEFAULT_CSS = """
    JournalScreen #journal-bar { height: 1; }
    JournalScreen #journal-filter { width: 24; }
    JournalScreen #journal-status { width: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.params = JournalParams()
        self.listing: JournalListing | None = None
        self._entries: dict[str, JournalEntry] = {}

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="journal-bar"):
            yield self.filter_input("/ filter who, action…", id="journal-filter",
                                    return_to="journal-table")
            yield StatusLine(id="journal-status")
        yield LiveTable(COLUMNS, id="journal-table", saving_column="state")

    @property
    def table(self) -> LiveTable:
        return self.query_one("#journal-table", LiveTable)

    # -- refresh protocol ---------------------------------------------------------------

    def query_params(self) -> JournalParams:
        return self.params

    def fetch(self, store: GlobalLearningStore, params: JournalParams) -> JournalListing:
        return store.journal_listing(params.text, offset=params.offset, limit=PAGE_SIZE)

    def apply(self, data: JournalListing) -> None:
        if not data.entries and data.offset > 0 and data.matching > 0:
            # The page emptied under us: show the last page there is.
            self._change(offset=(data.matching - 1) // PAGE_SIZE * PAGE_SIZE)
            return
        self.listing = data
        self._entries = {str(entry.id): entry for entry in data.entries}
        self.table.apply([Row(str(entry.id), entry_cells(entry, data))
                          for entry in data.entries])
        self.show_read_state()

    def show_read_state(self) -> None:
        status = Text(no_wrap=True, overflow="ellipsis")
        listing = self.listing
        if listing is None or not listing.matching:
            if self.read_error is not None and listing is None:
                status.append(f"✖ could not read the store ({clean(self.read_error, 60)})",
                              style="bold red")
            elif self.params.text:
                status.append("No journal entry matches the filter", style="yellow")
            else:
                status.append("No operator action journalled yet", style="dim")
        else:
            last = listing.offset + len(listing.entries)
            status.append(f"{listing.matching} entr{'ies' if listing.matching != 1 else 'y'}",
                          style="bold")
            if listing.matching > len(listing.entries):
                status.append(f" · {listing.offset + 1}-{last} ([ ] page)")
            status.append(" · ● latest on its row: u undoes it · ↶ undone", style="dim")
        if self.host.read_only:
            status.append(" · read-only: undo disabled", style="yellow")
        self.query_one("#journal-status", StatusLine).show(status)

    def _change(self, **changes: Any) -> None:
        self.params = replace(self.params, **changes)
        self.host.request_refresh(force=True, screen=self)

    def filter_changed(self, text: str) -> None:
        self._change(text=text, offset=0)

    def action_page(self, step: int) -> None:
        matching = self.listing.matching if self.listing is not None else 0
        offset = self.params.offset + step * PAGE_SIZE
        if 0 <= offset < max(matching, 1):
            self._change(offset=offset)

    def action_copy_subject_id(self) -> None:
        """Copy the id of the entry's pattern or escalation (OSC 52)."""
        entry = self._entries.get(self.table.cursor_key or "")
        if entry is None:
            self.notify("No journal entry under the cursor", severity="warning")
            return
        self.app.copy_to_clipboard(entry.target_id)
        self.notify(f"Copied {clean(entry.target_id, 60)} (if the terminal allows OSC 52 "
                    "clipboard writes)", markup=False)

    # -- undo of the entry under the cursor ---------------------------------------------

    def action_undo_entry(self) -> None:
        key = self.table.cursor_key
        entry = self._entries.get(key or "")
        listing = self.listing
        if entry is None or listing is None:
            self.notify("No journal entry under the cursor", severity="warning")
            return
        if entry.batch_id is not None and entry.undone_at is None and entry.undoes is None:
            # One pattern of a bulk action: undone whole or not at all (the dialog lists
            # the batch and refuses when one of its patterns moved on since).
            self._undo_batch(entry.batch_id)
            return
        if entry.id not in listing.undoable:
            why = ("it was undone already" if entry.undone_at is not None
                   else "it is an undo" if entry.undoes is not None
                   else "a newer action on the same row comes first")
            self.notify(f"Cannot undo entry #{entry.id}: {why}", severity="warning",
                        markup=False)
            return
        store = self.host.store

        def undo() -> JournalEntry:
            return store.undo_journal_entry(entry.id)

        def undone(result: JournalEntry) -> None:
            self.notify(clean(f"Undone #{result.id}: {result.action} of "
                              f"{result.target_id[:8]} ({change_text(result)} reversed)", 200),
                        markup=False)
            self.host.request_refresh(force=True)

        def refused(error: BaseException) -> None:
            if isinstance(error, BatchUndoRequiredError):  # became one: nothing written
                self._undo_batch(error.batch_id)
            elif isinstance(error, UndoConflictError):
                self.notify(clean(f"Cannot undo: {error}", 300), severity="warning",
                            markup=False)
                self.host.request_refresh(force=True)
            else:
                self.host.say_failure("Undo", error)

        self.host.run_store(undo, undone, label="Undo", write=True,
                            saving=(self.table, str(entry.id)), failure=refused)

    def _undo_batch(self, batch_id: str) -> None:
        def saving(preview: BatchUndoPreview) -> tuple[LiveTable, str] | None:
            return rows_saving(self.table, (str(entry.id) for entry in preview.entries))

        confirm_batch_undo(self, batch_id, lambda _entries: self.host.request_refresh(
            force=True), saving=saving)
