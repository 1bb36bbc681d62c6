"""Patterns: the whole store, one page at a time, sorted and filtered in SQL; triage keys.

Only one page (PAGE_SIZE rows) is ever in the table: ``store.query_patterns`` filters, sorts
and pages in SQL, so the screen costs the same at 200 or 50,000 patterns. The numeric columns
come first and the name after them, so a name whose width the terminal disagrees about
(emoji sequences, combining marks) can only shift the text columns to its right.

Marks (``m``, ``shift+↑/↓``, ``ctrl+a`` for every page the filter matches, ``M`` clears)
show as "◆" in a leading gutter and as "N marked" in the status line; with marks, the triage
keys act on all of them (see ``marianne_tui.triage``). Each fetch also asks which marked ids
still exist, so a pattern deleted from the store leaves the marks.

A refresh builds cells (Rich ``Text``) only for the rows whose displayed values changed:
each row's cells are kept with what they were built from (the row, its age text and the
signs of its scores, see ``shown_from``), and a row that still reads the same reuses them.
The known pattern types (``t``) are read when ``t`` is pressed, not on every refresh.

Priority 0 means "retired by drift" (``retire_drifting_patterns`` leaves the status alone);
it is labelled "drift-retired" and kept apart from the status "retired".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable

from marianne_tui.formatting import short_age
from marianne_tui.screens.filtered import ListFilterMixin
from marianne_tui.status import STATUS_WIDTH, status_text
from marianne_tui.text import clean, untrusted
from marianne_tui.triage import MARK_BINDINGS, TRIAGE_BINDINGS, PatternTriageMixin
from marianne_tui.widgets.filter_bar import FILTER_BINDING
from marianne_tui.widgets.live_table import Column, Row
from marianne_tui.widgets.marked_table import MARK_GLYPH, MarkedTable
from marianne_tui.widgets.status_line import StatusLine
from store import GlobalLearningStore, PatternPage, PatternQuery, PatternRow, PatternSort

#: Rows per page: one page is what the table holds (DataTable is fast up to a few thousand).
PAGE_SIZE = 200

#: `f` cycles through these status filters ("" = all).
STATUS_FILTERS = ("", "pending", "quarantined", "validated", "retired")

#: `s` cycles through these sorts; each starts in its natural direction (True = descending).
SORT_CYCLE: tuple[tuple[PatternSort, bool], ...] = (
    (PatternSort.PRIORITY, True),
    (PatternSort.EFFECTIVENESS, True),
    (PatternSort.TRUST, True),
    (PatternSort.APPLICATIONS, True),
    (PatternSort.FAILURES, True),
    (PatternSort.LAST_SEEN, True),
    (PatternSort.STATUS, False),
    (PatternSort.NAME, False),
    (PatternSort.TYPE, False),
    (PatternSort.INSTRUMENT, False),
)

#: Sort -> the column that shows its indicator.
SORT_COLUMN = {
    PatternSort.PRIORITY: "priority",
    PatternSort.EFFECTIVENESS: "effectiveness",
    PatternSort.TRUST: "trust",
    PatternSort.APPLICATIONS: "applications",
    PatternSort.SUCCESSES: "outcomes",
    PatternSort.FAILURES: "outcomes",
    PatternSort.LAST_SEEN: "last_seen",
    PatternSort.STATUS: "status",
    PatternSort.NAME: "name",
    PatternSort.TYPE: "type",
    PatternSort.INSTRUMENT: "instrument",
}

# Fixed widths: nothing re-measures a column on refresh, and the header has room for ▲▼.
COLUMNS = (
    Column("status", "status", STATUS_WIDTH),
    Column("trust", "trust", 6),
    Column("effectiveness", "eff", 4),
    Column("priority", "prio", 5),
    Column("applications", "apps", 5),
    Column("outcomes", "✓/✗", 7),
    Column("last_seen", "seen", 5, ticking=True),
    Column("name", "name", 28),
    Column("type", "type", 13),
    Column("instrument", "instrument", 10),
)
_LABELS = {column.key: column.label for column in COLUMNS}


def status_cell(row: PatternRow) -> Text:
    """Glyph + word. Priority 0 on a pending/validated pattern reads "drift-retired"."""
    return status_text(row.status, drift_retired=row.drift_retired)


def score_cell(
    value: float, *, good: float = 0.7, fair: float = 0.4, doubtful: str | None = None
) -> Text:
    """A 0-1 score, coloured as Marianne's CLI colours it (the number is always shown).

    ``doubtful`` is the stored text of a score the store cannot vouch for (NaN, ±Inf,
    out of range, text): it is shown as such, marked, never as a plausible number.
    """
    if doubtful is not None:
        return unvouched_cell(doubtful)
    style = "green" if value >= good else "yellow" if value >= fair else "red"
    return Text(f"{value:.2f}", style=style, justify="right", end="")


#: Infinities as the score columns (four cells wide) can show them whole: "?+Inf" was
#: cut to "?+In".
_SHORT_INFINITIES = {"+inf": "+∞", "inf": "+∞", "infinity": "+∞", "+infinity": "+∞",
                     "-inf": "-∞", "-infinity": "-∞"}


def unvouched_cell(stored: str) -> Text:
    """"?NaN": the stored value, cut and sanitised, marked as not a score."""
    shown = _SHORT_INFINITIES.get(stored.strip().lower(), stored)
    return Text.assemble(("?", "bold red"), untrusted(shown, 5, style="red reverse"),
                         justify="right", no_wrap=True, end="")


def number_cell(text: str, style: str = "") -> Text:
    return Text(text, style=style, justify="right", no_wrap=True, end="")


def pattern_cells(row: PatternRow, now: datetime) -> tuple[Text, ...]:
    """The cells of one row, in COLUMNS order; store strings go through the sanitizer."""
    dim = "" if row.active else "dim"
    name = untrusted(row.name, 80, style=dim)
    if not row.active:
        name.append(" (inactive)", style="dim italic")
    return (
        status_cell(row),
        score_cell(row.trust, doubtful=row.unvouched_value("trust")),
        score_cell(row.effectiveness, fair=0.35, doubtful=row.unvouched_value("effectiveness")),
        unvouched_cell(doubtful_priority) if (doubtful_priority := row.unvouched_value("priority"))
        else number_cell(f"{row.priority:.2f}", "dim" if row.drift_retired else ""),
        number_cell(str(row.applications)),
        number_cell(f"{row.successes}/{row.failures}"),
        number_cell(short_age(row.last_seen, now)),
        name,
        untrusted(row.pattern_type, 40),
        untrusted(row.instrument, 40) if row.instrument else Text("—", style="dim", end=""),
    )


def shown_from(row: PatternRow, now: datetime) -> tuple[object, ...]:
    """What ``pattern_cells(row, now)`` depends on: equal for two rows, equal cells.

    The row itself (a frozen dataclass: its fields compare), the age text (it moves with
    the clock alone) and the sign of each score (-0.0 equals 0.0 but reads "-0.00"). A
    NaN read afresh equals nothing, so a row holding one is built again on each refresh.
    """
    return (row, short_age(row.last_seen, now),
            math.copysign(1.0, row.trust), math.copysign(1.0, row.effectiveness),
            math.copysign(1.0, row.priority))


@dataclass(frozen=True)
class PatternsData:
    """What one fetch read: the page and "now" by the store's clock."""

    page: PatternPage
    now: datetime
    #: the query this page answers (the operator may have changed it since)
    query: PatternQuery | None = None
    #: the marked ids this fetch checked, and those of them the store still holds
    marks_checked: frozenset[str] = frozenset()
    marks_existing: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PatternsParams:
    """What one fetch reads: the list's query, and the marks whose existence it checks."""

    query: PatternQuery
    marks: frozenset[str] = frozenset()


class PatternsScreen(PatternTriageMixin, ListFilterMixin):
    TITLE_TEXT = "Patterns"

    BINDINGS = [  # noqa: RUF012
        *TRIAGE_BINDINGS,
        *MARK_BINDINGS,
        FILTER_BINDING,
        Binding("enter", "open_detail", "Detail", show=False),
        Binding("s", "next_sort", "Sort column", show=False),
        Binding("S", "flip_sort", "Sort direction", show=False),
        Binding("f", "cycle_status", "Status filter", show=False),
        Binding("t", "cycle_type", "Type filter", show=False),
        Binding("a", "toggle_attention", "Needs attention", show=False),
        Binding("right_square_bracket", "page(1)", "Next page", show=False),
        Binding("left_square_bracket", "page(-1)", "Previous page", show=False),
        Binding("y", "app.copy_id", "Copy id", show=False),
    ]

    DEFAULT_CSS = """
    PatternsScreen #patterns-bar { height: 1; }
    PatternsScreen #patterns-status { width: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.query_state = PatternQuery(limit=PAGE_SIZE)
        self.page: PatternPage | None = None
        self.page_query: PatternQuery | None = None
        #: pattern id -> (what its cells were built from, the cells), for the shown page
        self._built: dict[str, tuple[tuple[object, ...], tuple[Text, ...]]] = {}

    # -- layout -------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="patterns-bar"):
            yield self.filter_input("/ filter name, text", id="patterns-filter",
                                    return_to="patterns-table")
            yield StatusLine(id="patterns-status")
        yield MarkedTable(COLUMNS, id="patterns-table")

    def on_mount(self) -> None:
        self._show_sort()
        self.table.focus()

    @property
    def table(self) -> MarkedTable:
        return self.query_one("#patterns-table", MarkedTable)

    # -- refresh protocol ---------------------------------------------------------------

    def query_params(self) -> PatternsParams:
        return PatternsParams(self.query_state, frozenset(self.marks))

    def fetch(self, store: GlobalLearningStore, params: PatternsParams) -> PatternsData:
        page = store.query_patterns(params.query)
        existing = store.existing_pattern_ids(params.marks) if params.marks else frozenset()
        return PatternsData(page, store.clock.local(), params.query, params.marks, existing)

    def apply(self, data: PatternsData) -> None:
        page = data.page
        if not page.rows and page.offset > 0 and page.matching > 0:
            # Rows vanished under the last page: show the new last page instead.
            last = (page.matching - 1) // PAGE_SIZE * PAGE_SIZE
            self._set_query(offset=last)
            return
        self.page = page
        self.page_query = data.query
        self.table.apply(self.rows_of(page.rows, data.now))
        self.table.show_marks(self.marks)
        self.drop_vanished_marks(data.marks_checked, data.marks_existing)
        self._show_status()

    def rows_of(self, rows: tuple[PatternRow, ...], now: datetime) -> list[Row]:
        """The table's rows: kept cells for a row that reads as before, new ones otherwise.

        Only the rows of this page are kept afterwards.
        """
        kept = self._built
        built: dict[str, tuple[tuple[object, ...], tuple[Text, ...]]] = {}
        table_rows = []
        for row in rows:
            source = shown_from(row, now)
            before = kept.get(row.id)
            if before is not None and before[0] == source:
                cells = before[1]
            else:
                cells = pattern_cells(row, now)
            built[row.id] = (source, cells)
            table_rows.append(Row(row.id, cells))
        self._built = built
        return table_rows

    def triage_target(self) -> str | None:
        # Until the page for the current filter/sort arrives, the row under the cursor
        # belongs to the previous query: acting on it could hit a pattern the operator
        # has just filtered out.
        if self.page_query is not None and self.page_query != self.query_state:
            self.notify("The list is still updating: press the key again.",
                                markup=False)
            return None
        return self.table.cursor_key

    # -- marks ----------------------------------------------------------------------------

    def marks_changed(self) -> None:
        self.table.show_marks(self.marks)
        self._show_status()

    def marks_query(self) -> PatternQuery:
        return self.query_state

    # -- status line --------------------------------------------------------------------

    def _show_status(self) -> None:
        query = self.query_state
        status = Text(no_wrap=True, overflow="ellipsis", end="")
        if self.read_error is not None and (self.page is None or not self.page.rows):
            status.append(f"✖ could not read the store ({clean(self.read_error, 80)})",
                          style="bold red")
        elif self.page is None:
            status.append("loading…", style="dim")
        else:
            page = self.page
            status.append(f"{page.matching:,} shown of {page.total:,}", style="bold")
            if page.matching > len(page.rows) or page.offset:
                first = page.offset + 1 if page.rows else 0
                status.append(f" · rows {first:,}–{page.offset + len(page.rows):,}")
                status.append(" [ ]", style="dim")
        if self.marks:
            status.append(f" · {MARK_GLYPH} {len(self.marks):,} marked", style="bold magenta")
        if query.needs_attention:
            status.append(" · ⚑ needs attention", style="bold yellow")
        if query.statuses:
            status.append(" · status ")
            status.append_text(untrusted(", ".join(query.statuses), 30, style="bold"))
        if query.pattern_type is not None:
            status.append(" · type ")
            status.append_text(untrusted(query.pattern_type, 30, style="bold"))
        if query.text:
            status.append(" · text ")
            status.append_text(untrusted(query.text, 30, style="bold"))
        self.query_one("#patterns-status", StatusLine).show(status)

    def show_read_state(self) -> None:
        self._show_status()

    def _show_sort(self) -> None:
        query = self.query_state
        sorted_column = SORT_COLUMN.get(query.sort)
        for key, label in _LABELS.items():
            if key == sorted_column:
                arrow = "▼" if query.descending else "▲"
                self.table.set_column_label(key, Text(f"{label}{arrow}", style="bold"))
            else:
                self.table.set_column_label(key, Text(label))

    def _set_query(self, **changes: object) -> None:
        """Change the query (a new filter or sort starts at the first page) and re-read."""
        if "offset" not in changes:
            changes["offset"] = 0
        self.query_state = replace(self.query_state, **changes)  # type: ignore[arg-type]
        self._show_sort()
        self._show_status()
        self.host.request_refresh(force=True)

    # -- filters ------------------------------------------------------------------------

    def filter_changed(self, text: str) -> None:
        self._set_query(text=text)

    def action_cycle_status(self) -> None:
        current = self.query_state.statuses[0] if self.query_state.statuses else ""
        following = STATUS_FILTERS[(STATUS_FILTERS.index(current) + 1) % len(STATUS_FILTERS)]
        self._set_query(statuses=(following,) if following else ())

    def action_cycle_type(self) -> None:
        """The next type filter, from the types the store holds now (read for this key:
        nothing on screen shows them, so a refresh does not read them)."""
        self.host.run_store(self.host.store.pattern_types, self._next_type,
                            label="Type filter")

    def _next_type(self, types: list[str]) -> None:
        if not self.is_attached:
            return
        choices: tuple[str | None, ...] = (None, *types)
        current = self.query_state.pattern_type
        index = choices.index(current) if current in choices else 0
        self._set_query(pattern_type=choices[(index + 1) % len(choices)])

    def action_toggle_attention(self) -> None:
        self._set_query(needs_attention=not self.query_state.needs_attention)

    # -- sort and pages -----------------------------------------------------------------

    def action_next_sort(self) -> None:
        sorts = [sort for sort, _ in SORT_CYCLE]
        current = sorts.index(self.query_state.sort) if self.query_state.sort in sorts else -1
        sort, descending = SORT_CYCLE[(current + 1) % len(SORT_CYCLE)]
        self._set_query(sort=sort, descending=descending)

    def action_flip_sort(self) -> None:
        self._set_query(descending=not self.query_state.descending)

    def action_page(self, step: int) -> None:
        matching = self.page.matching if self.page is not None else 0
        offset = self.query_state.offset + step * PAGE_SIZE
        if offset < 0 or offset >= matching:
            return
        self._set_query(offset=offset)

    # -- detail -------------------------------------------------------------------------

    def action_open_detail(self) -> None:
        self._open_detail(self.table.cursor_key)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._open_detail(event.row_key.value)

    def _open_detail(self, pattern_id: str | None) -> None:
        if pattern_id is None:
            return
        from marianne_tui.modals.pattern_detail import PatternDetailScreen

        self.app.push_screen(PatternDetailScreen(pattern_id))
