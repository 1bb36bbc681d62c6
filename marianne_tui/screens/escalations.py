"""Escalations: the decisions Marianne's escalation handlers made, and what happened after.

Escalations that can still be judged come first: awaiting an outcome, newest first (the one
just raised is the one whose context is fresh), marked "◌ awaiting". Below them, dimmed and
marked "◌ stale", the ones still awaiting but older than the configured stale age
(``stale_age_days``, 7 by default), with their count in the status line; then the decided
ones. ``>`` and ``<`` move the sort to the next or previous column and ``d`` flips its
direction; the sort (in SQL) applies within each group, the groups keep their order. A
panel shows the selected escalation and the similar past ones
(``get_similar_escalation``: confidence ±0.15, pass rate ±15 points) with what happened
after each, so the operator can tell which action tends to work. That lookup runs in a
thread worker whenever the cursor moves, and is cached until the store changes.

The queue is read one page (PAGE_SIZE rows) at a time; ``]`` and ``[`` page, as on
Patterns. ``/`` filters the whole queue as you type (job hash, action, outcome, guidance,
model, "stale"), in SQL like Patterns' filter; the rows already shown are narrowed at once
while the store is asked. The status line says "N shown of M" (N: every matching row, M:
the whole table) and which rows the page holds. ``:export`` and ``marianne-tui export
--screen escalations`` write every page, in this order, through the same filter.

``o`` opens the outcome dialog for the escalation under the cursor at key press; ``u``
undoes the last escalation outcome the journal holds. Both write, so both are disabled
in read-only mode.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, VerticalScroll
from textual.widgets import DataTable, Static

from marianne_tui import export
from marianne_tui.formatting import spoken_age_of, stamp
from marianne_tui.modals.outcome import OutcomeChoice, OutcomeScreen, outcome_text
from marianne_tui.screens.filtered import ListFilterMixin
from marianne_tui.text import clean, untrusted
from marianne_tui.widgets.filter_bar import FILTER_BINDING
from marianne_tui.widgets.live_table import Column, LiveTable, Row
from marianne_tui.widgets.status_line import StatusLine
from store import (
    ActionConflictError,
    EscalationDecisionRecord,
    EscalationGroup,
    EscalationQueue,
    EscalationSort,
    JournalSubject,
    UndoConflictError,
)

if TYPE_CHECKING:
    from store import GlobalLearningStore, JournalEntry

PAGE_SIZE = 200
SIMILAR_LIMIT = 5

COLUMNS = (
    Column("outcome", "Outcome", 10),
    Column("recorded", "Recorded", 11),
    Column("job", "Job hash", 8),
    Column("sheet", "Sheet", 5),
    Column("confidence", "Conf", 4),
    Column("action", "Action", 13),
    Column("pass_rate", "Pass %", 6),
    Column("retries", "Retry", 5),
    Column("model", "Model", 14),
    # 20 wide so the whole row fits 120 columns; the panel below shows the whole guidance.
    Column("guidance", "Guidance", 20),
)


#: The sort of each column, in the columns' order (``>`` and ``<`` walk through them).
SORT_OF_COLUMN: dict[str, EscalationSort] = {
    "outcome": EscalationSort.OUTCOME,
    "recorded": EscalationSort.RECORDED,
    "job": EscalationSort.JOB,
    "sheet": EscalationSort.SHEET,
    "confidence": EscalationSort.CONFIDENCE,
    "action": EscalationSort.ACTION,
    "pass_rate": EscalationSort.PASS_RATE,
    "retries": EscalationSort.RETRIES,
    "model": EscalationSort.MODEL,
    "guidance": EscalationSort.GUIDANCE,
}
#: Numbers and times start high-first, words A-first (``d`` flips either).
_DESCENDING_FIRST = frozenset({EscalationSort.RECORDED, EscalationSort.SHEET,
                               EscalationSort.CONFIDENCE, EscalationSort.PASS_RATE,
                               EscalationSort.RETRIES})
STALE_STYLE = "dim"


@dataclass(frozen=True)
class QueueParams:
    """What the next fetch reads (taken on the UI thread)."""

    stale_age_days: float
    sort: EscalationSort = EscalationSort.RECORDED
    descending: bool = True
    offset: int = 0
    #: the `/` filter's text
    text: str = ""


def sorted_label(column: Column, arrow: str) -> Text:
    """The header of the sorted column: its label and the arrow, within the column's width
    (a narrow column gives up its label's last letter, never the arrow)."""
    label = column.label
    if column.width is not None and len(label) + 1 > column.width:
        label = label[: column.width - 1]
    return Text(f"{label}{arrow}", style="bold")


def stale_text() -> Text:
    return Text("◌ stale", style="dim yellow", no_wrap=True)


def _pass_rate(value: float) -> str:
    # A percentage (0-100) in this table, unlike executions.
    return f"{value:.0f}%" if value == int(value) else f"{value:.1f}%"


def read_queue(store: GlobalLearningStore, params: QueueParams) -> EscalationQueue:
    """One page of the queue (worker thread)."""
    return store.escalation_queue(
        stale_age=timedelta(days=params.stale_age_days), sort=params.sort,
        descending=params.descending, limit=PAGE_SIZE, offset=params.offset,
        text=params.text,
    )


def _same_queue(shown: EscalationQueue, read: EscalationQueue) -> bool:
    """The same page in the same groups, with the same counts (``stale_before`` moves
    with the clock on every read; the rows' groups say what it changed)."""
    return (shown.rows, shown.awaiting, shown.stale, shown.decided, shown.offset,
            shown.matching) == (
        read.rows, read.awaiting, read.stale, read.decided, read.offset, read.matching)


class EscalationsScreen(ListFilterMixin):
    """Escalation history with the pending-outcome queue first (key 4).

    The detail panel sits under the table at every width: the table needs the full width
    for its ten columns, and at 120x40 there are rows to spare below it.
    """

    TITLE_TEXT = "Escalations"
    WRITE_ACTIONS = frozenset({"record_outcome", "undo"})
    READ_ONLY_NOTICE = "outcome entry and undo are disabled"

    BINDINGS = [  # noqa: RUF012
        Binding("o", "record_outcome", "Outcome"),
        Binding("u", "undo", "Undo"),
        FILTER_BINDING,
        Binding("y", "app.copy_id", "Copy id", show=False),
        # Not s: on this screen the outcome dialog's keys are o s f a k.
        Binding("greater_than_sign", "sort_column(1)", "Sort: next column"),
        Binding("less_than_sign", "sort_column(-1)", "Sort: previous column", show=False),
        Binding("d", "flip_sort", "Sort direction", show=False),
        Binding("right_square_bracket", "page(1)", "Next page", show=False),
        Binding("left_square_bracket", "page(-1)", "Previous page", show=False),
    ]

    DEFAULT_CSS = """
    EscalationsScreen #esc-bar { height: 1; }
    EscalationsScreen #esc-filter { width: 24; }
    EscalationsScreen #esc-status { width: 1fr; }
    EscalationsScreen #esc-body { layout: vertical; height: 1fr; }
    EscalationsScreen #esc-table { width: 1fr; }
    EscalationsScreen #esc-detail-scroll {
        height: 9; border-top: solid $primary; padding: 0 1;
    }
    EscalationsScreen.-wide #esc-detail-scroll { height: 14; }
    """

    def __init__(self) -> None:
        super().__init__()
        #: Every fetched record by id (the filter only hides rows from the table).
        self._records: dict[str, EscalationDecisionRecord] = {}
        self._shown = 0
        self._similar: dict[str, list[EscalationDecisionRecord]] = {}
        self._similar_wanted: str | None = None
        #: the parameters and queue the table and panel were last drawn from (see ``apply``)
        self._drawn: tuple[QueueParams, EscalationQueue] | None = None
        #: escalation id -> a typed note whose save failed (offered again by ``o``)
        self._unsaved_notes: dict[str, str] = {}
        #: escalation id -> its group in the queue (awaiting, stale, decided)
        self._groups: dict[str, EscalationGroup] = {}
        self.sort = EscalationSort.RECORDED
        self.descending = True
        self.page_offset = 0
        self._queue: EscalationQueue | None = None

    # -- layout -------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="esc-bar"):
            yield self.filter_input("/ filter job, action…", id="esc-filter",
                                    return_to="esc-table")
            yield StatusLine(id="esc-status")
        with Container(id="esc-body"):
            yield LiveTable(COLUMNS, id="esc-table", saving_column="outcome")
            with VerticalScroll(id="esc-detail-scroll"):
                yield Static(id="esc-detail")

    def on_mount(self) -> None:
        if not self.body_built("#esc-table"):
            return
        # The list, not the filter before it, takes the keys (o, u, ...) from the start.
        self.table.focus()
        self._show_sort()

    @property
    def table(self) -> LiveTable:
        return self.query_one("#esc-table", LiveTable)

    # -- refresh protocol ---------------------------------------------------------------

    def query_params(self) -> QueueParams:
        return QueueParams(self.host.config.stale_age_days, self.sort, self.descending,
                           self.page_offset, self.filter_text)

    def fetch(self, store: GlobalLearningStore, params: QueueParams) -> EscalationQueue:
        return read_queue(store, params)

    def apply(self, data: EscalationQueue) -> None:
        if not data.rows and data.offset > 0 and data.matching > 0:
            # The page emptied under us (rows left the store): show the last page there is.
            self.page_offset = (data.matching - 1) // PAGE_SIZE * PAGE_SIZE
            self.host.request_refresh(force=True, screen=self)
            return
        params = self.query_params()
        drawn, self._drawn = self._drawn, (params, data)
        if drawn is not None and drawn[0] == params and _same_queue(drawn[1], data):
            # The commit left the escalations as they were (a conductor records
            # applications far more often than escalations). Drawing the same rows again,
            # and looking up the similar ones again for the panel, was most of this
            # screen's CPU while Marianne writes (issue #7). A past outcome edited off
            # this page without moving a count is not seen until the queue next changes.
            self._queue = data
            return
        self._queue = data
        self._records = {row.record.id: row.record for row in data.rows}
        self._groups = {row.record.id: row.group for row in data.rows}
        self._similar.clear()  # the store changed: past outcomes may have too
        self._show_rows()

    def read_failed(self, message: str) -> None:
        self._drawn = None  # the next read draws everything again
        super().read_failed(message)

    def shown_reader(self) -> Any:
        """A function reading, off the UI thread, the exported rows of this screen: every
        page of the queue in its order, through the filter."""
        params, text = self.query_params(), self.filter_text
        return lambda store: export.queued_escalation_records(
            store, timedelta(days=params.stale_age_days), params.sort, params.descending,
            text)

    def _show_rows(self) -> None:
        """The fetched records the filter lets through, in the store's order.

        The store filtered them already; filtering again narrows the rows at once while a
        new filter's read is on its way."""
        shown = [record for record in self._records.values() if self._matches(record)]
        self._shown = self.matching_count(self._queue, len(shown))
        self.table.apply([self._row(record) for record in shown])
        self._show_status()
        self._show_detail()

    def _matches(self, record: EscalationDecisionRecord) -> bool:
        return export.escalation_matches(
            record, self.filter_text,
            stale=self._groups.get(record.id) is EscalationGroup.STALE)

    def _row(self, record: EscalationDecisionRecord) -> Row:
        stale = self._groups.get(record.id) is EscalationGroup.STALE
        row = Row(
            record.id,
            (
                stale_text() if stale else outcome_text(record.outcome_after_action),
                Text(stamp(record.recorded_at), no_wrap=True),
                untrusted(record.job_hash, 8),
                Text(str(record.sheet_num), justify="right"),
                Text(f"{record.confidence:.2f}", justify="right"),
                untrusted(record.action, 13),
                Text(_pass_rate(record.validation_pass_rate), justify="right"),
                Text(str(record.retry_count), justify="right"),
                untrusted(record.model or "–", 14),
                untrusted(record.guidance or "", 20),
            ),
        )
        if not stale:
            return row
        cells = tuple(cell.copy() for cell in row.cells)
        for cell in cells[1:]:
            cell.stylize(STALE_STYLE)
        return Row(row.key, cells)

    def _show_status(self) -> None:
        queue = self._queue
        status = Text(no_wrap=True, overflow="ellipsis")
        if queue is None:
            status.append("reading…", style="dim")
        elif queue.awaiting:
            # (first in the list; the sorted column's arrow says in which order)
            status.append(f"◌ {queue.awaiting} awaiting", style="bold yellow")
        elif not queue.stale:
            status.append("✓ Every escalation has an outcome", style="green")
        else:
            status.append("No escalation left to judge", style="yellow")
        if queue is not None and queue.stale:
            days = self.query_params().stale_age_days
            status.append(f" · {queue.stale} stale, older than {days:g} "
                          f"day{'' if days == 1 else 's'}", style="dim")
        total = queue.total if queue is not None else len(self._records)
        status.append(f" · {self._shown} shown of {total}", style="bold" if self.filter_text
                      else "")
        if queue is not None and queue.matching > len(self._records):
            first = queue.offset + 1 if self._records else queue.offset
            status.append(f" · rows {first}-{queue.offset + len(self._records)} ([ ] page)",
                          style="dim")
        if self.filter_text:
            status.append(" · text ")
            status.append_text(untrusted(self.filter_text, 30, style="bold"))
        if self.host.read_only:
            status.append(" · read-only: o and u disabled", style="yellow")
        # (o and u are in the footer: no key hints here, the counts need the room at 80.)
        self.query_one("#esc-status", StatusLine).show(status)

    # -- sort (in SQL, within each group) ----------------------------------------------

    def _show_sort(self) -> None:
        for column in COLUMNS:
            if SORT_OF_COLUMN[column.key] is self.sort:
                self.table.set_column_label(column.key, sorted_label(
                    column, "▼" if self.descending else "▲"))
            else:
                self.table.set_column_label(column.key, Text(column.label))

    def action_sort_column(self, step: int) -> None:
        sorts = list(SORT_OF_COLUMN.values())
        self.sort = sorts[(sorts.index(self.sort) + step) % len(sorts)]
        self.descending = self.sort in _DESCENDING_FIRST
        self._sort_changed()

    def action_page(self, step: int) -> None:
        total = self._queue.matching if self._queue is not None else 0
        offset = self.page_offset + step * PAGE_SIZE
        if 0 <= offset < max(total, 1) and offset != self.page_offset:
            self.page_offset = offset
            self.host.request_refresh(force=True, screen=self)

    def action_flip_sort(self) -> None:
        self.descending = not self.descending
        self._sort_changed()

    def _sort_changed(self) -> None:
        # No toast: the arrow in the column's header says it, and toasts would pile up.
        self.page_offset = 0  # a new order starts at its top
        self._show_sort()
        self.host.request_refresh(force=True)

    # -- the detail panel: selected escalation + similar past ones ------------------------

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        detail = self.query_one("#esc-detail", Static)
        key = self.table.cursor_key
        record = self._records.get(key) if key is not None else None
        if record is None:
            if not self._records and self.read_error is not None:
                empty = Text(f"✖ Could not read the store ({clean(self.read_error, 80)}): "
                             "the escalations are not known.", style="bold red")
            elif self.filter_text:
                empty = Text("No escalation matches ", style="dim")
                empty.append_text(untrusted(self.filter_text, 60, style="bold"))
                empty.append(" (job, action, outcome, guidance, model). / then escape "
                             "clears the filter.", style="dim")
            else:
                empty = Text(
                    "No escalation decisions in the store yet: Marianne records one each "
                    "time an escalation handler decides what to do with a failing sheet.",
                    style="dim",
                )
            detail.update(empty)
            return
        similar = self._similar.get(record.id)
        detail.update(self._render_detail(record, similar))
        if similar is None and self._similar_wanted != record.id:
            self._similar_wanted = record.id
            self._look_up_similar(record)

    def _look_up_similar(self, record: EscalationDecisionRecord) -> None:
        store = self.host.store

        def read() -> list[EscalationDecisionRecord]:
            return store.get_similar_escalation(
                record.confidence, record.validation_pass_rate, limit=SIMILAR_LIMIT + 1
            )

        def done(found: list[EscalationDecisionRecord]) -> None:
            self._similar[record.id] = [r for r in found if r.id != record.id][:SIMILAR_LIMIT]
            if self._similar_wanted == record.id:
                self._similar_wanted = None
            if self.is_attached and self.table.cursor_key == record.id:
                self._show_detail()

        def failed(_error: BaseException) -> None:
            # A failed lookup leaves the panel as it was ("looking up…"); the header
            # already says the store cannot be read, and moving the cursor tries again.
            if self._similar_wanted == record.id:
                self._similar_wanted = None

        self.host.run_store(read, done, label="Similar escalations", failure=failed)

    def _render_detail(
        self,
        record: EscalationDecisionRecord,
        similar: list[EscalationDecisionRecord] | None,
    ) -> Text:
        now = self.host.store.clock.local()
        text = Text()
        text.append("Sheet ", style="bold")
        text.append(str(record.sheet_num), style="bold")
        text.append(" of job ")
        text.append_text(untrusted(record.job_hash, 16))
        text.append("\n")
        text.append_text(untrusted(record.action, 20, "bold"))
        text.append(f" at confidence {record.confidence:.2f}, pass rate "
                    f"{_pass_rate(record.validation_pass_rate)}, "
                    f"{record.retry_count} {'retry' if record.retry_count == 1 else 'retries'}")
        text.append(f"\n{spoken_age_of(record.recorded_at, now)} · outcome ")
        text.append_text(outcome_text(record.outcome_after_action))
        if self._groups.get(record.id) is EscalationGroup.STALE:
            days = self.query_params().stale_age_days
            text.append(f" · stale: older than {days:g} day{'' if days == 1 else 's'}, "
                        "its context may be gone", style="dim")
        if record.guidance:
            text.append("\nGuidance: ", style="dim")
            text.append_text(untrusted(record.guidance, 300))
        text.append("\n\nSimilar past escalations", style="bold underline")
        text.append(" (conf ±0.15, pass ±15 pts)\n", style="dim")
        if similar is None:
            text.append("looking up…", style="dim")
            return text
        if not similar:
            text.append("none", style="dim")
            return text
        tally = Counter((r.action, r.outcome_after_action or "awaiting") for r in similar)
        summary = ", ".join(
            f"{clean(action, 20)} → {clean(outcome, 12)} ×{count}"
            for (action, outcome), count in tally.most_common()
        )
        text.append_text(untrusted(summary, 200, "italic"))
        for past in similar:
            text.append("\n")
            text.append_text(untrusted(past.action, 13))
            text.append(" → ")
            text.append_text(outcome_text(past.outcome_after_action))
            text.append(f"  conf {past.confidence:.2f} pass "
                        f"{_pass_rate(past.validation_pass_rate)} · "
                        f"{spoken_age_of(past.recorded_at, now)}", style="dim")
        return text

    # -- filter (in SQL; the rows already here are narrowed meanwhile) -----------------

    def filter_changed(self, text: str) -> None:
        self._show_rows()
        self.page_offset = 0  # the matches start at their top
        self.host.request_refresh(force=True, screen=self)

    def show_read_state(self) -> None:
        if not self._records:
            self._show_detail()

    # -- outcome entry and undo (writes) -----------------------------------------------

    def action_record_outcome(self) -> None:
        key = self.table.cursor_key  # the target is fixed now, whatever refreshes later
        record = self._records.get(key) if key is not None else None
        if record is None:
            self.notify("No escalation selected", severity="warning", markup=False)
            return
        self._open_outcome(record)

    def _open_outcome(self, record: EscalationDecisionRecord, note: str | None = None) -> None:
        # A note whose save failed is offered again, so nothing typed is lost.
        draft = note if note is not None else self._unsaved_notes.get(record.id)
        self.app.push_screen(
            OutcomeScreen(record, note=draft),
            lambda choice: self._outcome_chosen(choice, record),
        )

    def _outcome_chosen(
        self, choice: OutcomeChoice | None, record: EscalationDecisionRecord
    ) -> None:
        if choice is None:
            return
        store = self.host.store
        # What the dialog showed as "outcome now": the write is compare-and-set on it.
        before = {"outcome_after_action": record.outcome_after_action}

        def write() -> JournalEntry:
            return store.record_escalation_outcome(
                choice.escalation_id, choice.outcome, note=choice.note,
                expected_before=before,
            )

        def done(_entry: JournalEntry) -> None:
            self._unsaved_notes.pop(choice.escalation_id, None)
            where = f"sheet {record.sheet_num} of job {clean(record.job_hash, 8)}"
            self.notify(f"Recorded outcome {choice.outcome.value} for {where} (u undoes)",
                        markup=False)
            self.host.request_refresh(force=True)

        def refused(error: BaseException) -> None:
            if choice.note:
                self._unsaved_notes[choice.escalation_id] = choice.note
            kept = " Your note is kept: press o to try again." if choice.note else ""
            if isinstance(error, ActionConflictError):
                now = error.current.get("outcome_after_action") or "awaiting"
                self.notify(
                    clean(f"Not recorded: the escalation changed since the dialog opened "
                          f"(outcome now {now}). Nothing was written; the dialog shows it "
                          "as it is now.", 300),
                    severity="error", markup=False, timeout=8,
                )
                self.host.request_refresh(force=True)
                self._open_outcome(replace(record, outcome_after_action=now
                                           if now != "awaiting" else None), choice.note)
            elif isinstance(error, KeyError):
                self.notify("That escalation no longer exists", severity="error",
                            markup=False)
            else:
                self.host.say_failure("Outcome" + (" (note kept)" if kept else ""), error)
                if kept:
                    self.notify(kept.strip(), markup=False, timeout=8)

        self.host.run_store(
            write, done, label="Outcome", write=True,
            saving=(self.table, choice.escalation_id), failure=refused,
        )

    def action_undo(self) -> None:
        store = self.host.store

        def undo() -> JournalEntry | None:
            return store.undo_last_action(target_kind=JournalSubject.ESCALATION)

        def undone(entry: JournalEntry | None) -> None:
            if entry is None:
                self.notify("Nothing to undo for escalations", markup=False)
                return
            before: Any = entry.prior_state.get("outcome_after_action")
            self.notify(
                clean(f"Undone: outcome {entry.action} → back to {before or 'awaiting'}", 200),
                markup=False,
            )
            self.host.request_refresh(force=True)

        def refused(error: BaseException) -> None:
            if isinstance(error, UndoConflictError):
                self.notify(clean(f"Cannot undo: {error}", 300), severity="warning",
                            markup=False)
            else:
                self.host.say_failure("Undo", error)

        self.host.run_store(undo, undone, label="Undo", write=True, failure=refused)
