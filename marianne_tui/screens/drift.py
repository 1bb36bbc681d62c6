"""Drift: effectiveness drift and epistemic drift side by side, per pattern.

Effectiveness drift compares the success rate of a pattern's newest W applications with
the W before them; epistemic drift does the same with the grounding confidence (belief).
The docs' rule of thumb: declining effectiveness *and* weakening belief means the pattern
is "losing ground". Window and thresholds are adjustable and sent to the store's set-based
``drift_report``.

The report pages through every drifting pattern, ROW_LIMIT rows at a time (``}`` next page,
``{`` previous; "N shown of M · rows a–b"). ``/`` filters every drifting pattern by name as
you type (the store filters the report; the rows already shown are narrowed meanwhile).

``r`` previews ``retire_drifting_patterns`` (a dry run that writes nothing) and offers to
run it. That sets priority 0 ("drift-retired") and leaves the status alone, unlike ``x``,
which sets the status "retired". The triage keys (q/v/x/n/u) act on the pattern under the
cursor, through the shared triage helper.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Static

from marianne_tui.screens.filtered import ListFilterMixin
from marianne_tui.status import DRIFT_RETIRED, STATUS_WIDTH, status_text
from marianne_tui.text import clean, untrusted
from marianne_tui.triage import TRIAGE_BINDINGS, PatternTriageMixin
from marianne_tui.widgets.filter_bar import FILTER_BINDING, text_matches
from marianne_tui.widgets.live_table import Column, LiveTable, Row
from marianne_tui.widgets.status_line import StatusLine
from store.drift import SUMMARY_DRIFT_THRESHOLD, SUMMARY_EPISTEMIC_THRESHOLD, SUMMARY_WINDOW

if TYPE_CHECKING:
    from store import (
        DriftMetrics,
        DriftReport,
        DriftRow,
        EpistemicDriftMetrics,
        GlobalLearningStore,
    )

ROW_LIMIT = 200
THRESHOLD_STEP = 0.05
MIN_THRESHOLD = 0.05
MAX_THRESHOLD = 1.0
MIN_WINDOW = 1
MAX_WINDOW = 50
#: Marianne's CLI defaults (learning-drift, learning-epistemic-drift), which its summaries use.
DEFAULT_WINDOW = SUMMARY_WINDOW
DEFAULT_DRIFT_THRESHOLD = SUMMARY_DRIFT_THRESHOLD
DEFAULT_EPISTEMIC_THRESHOLD = SUMMARY_EPISTEMIC_THRESHOLD

# Numbers first after a cut name; the priority is folded into the status cell
# ("↓ drift-retired") so the whole row fits 120 columns, and at 80 both drifts'
# before/after and change stay visible.
COLUMNS = (
    Column("name", "Pattern", 16),
    Column("eff", "Eff. b→a", 9),
    Column("eff_change", "Δ", 5),
    Column("eff_dir", "Direction", 11),
    Column("grounding", "Grnd", 4),
    Column("eff_exceeded", "✓", 1),
    Column("conf", "Bel. b→a", 9),
    Column("conf_change", "Δ", 5),
    Column("conf_dir", "Belief dir.", 15),
    Column("entropy", "Entr", 4),
    Column("conf_exceeded", "✓", 1),
    Column("status", "Status", STATUS_WIDTH),
)

_EFFECTIVENESS_DIRECTIONS = {
    "positive": ("↑ improving", "green"),
    "negative": ("↓ declining", "bold red"),
    "stable": ("→ stable", ""),
}
_EPISTEMIC_DIRECTIONS = {
    "strengthening": ("↑ strengthening", "green"),
    "weakening": ("↓ weakening", "bold red"),
    "stable": ("→ stable", ""),
}
_NO_DATA = Text("–", style="dim", justify="center")


@dataclass(frozen=True)
class DriftParams:
    window_size: int = DEFAULT_WINDOW
    drift_threshold: float = DEFAULT_DRIFT_THRESHOLD
    epistemic_threshold: float = DEFAULT_EPISTEMIC_THRESHOLD
    only_exceeding: bool = True
    limit: int = ROW_LIMIT
    offset: int = 0
    #: the `/` filter's text (pattern names)
    text: str = ""


def _direction(value: str, table: dict[str, tuple[str, str]]) -> Text:
    word, style = table.get(value, ("? " + clean(value, 12), "dim"))
    return Text(word, style=style, no_wrap=True)


def _exceeded(flag: bool) -> Text:
    if flag:
        return Text("✓", style="bold")
    return Text("·", style="dim")


def status_cell(status: str, priority: float) -> Text:
    """The shared glyph + word; priority 0 on a pending/validated pattern: drift-retired."""
    return status_text(status, drift_retired=priority <= 0.0)


def effectiveness_cells(metrics: DriftMetrics | None) -> tuple[Text, ...]:
    if metrics is None:
        return (_NO_DATA,) * 5
    change = metrics.effectiveness_after - metrics.effectiveness_before
    return (
        Text(f"{metrics.effectiveness_before:.2f}→{metrics.effectiveness_after:.2f}"),
        Text(f"{change:+.2f}", justify="right",
             style="bold red" if metrics.drift_magnitude > 0.3 else ""),
        _direction(metrics.drift_direction, _EFFECTIVENESS_DIRECTIONS),
        Text(f"{metrics.grounding_confidence_avg:.2f}", justify="right"),
        _exceeded(metrics.threshold_exceeded),
    )


def epistemic_cells(metrics: EpistemicDriftMetrics | None) -> tuple[Text, ...]:
    if metrics is None:
        return (_NO_DATA,) * 5
    return (
        Text(f"{metrics.confidence_before:.2f}→{metrics.confidence_after:.2f}"),
        Text(f"{metrics.belief_change:+.2f}", justify="right",
             style="bold red" if abs(metrics.belief_change) > 0.2 else ""),
        _direction(metrics.drift_direction, _EPISTEMIC_DIRECTIONS),
        Text(f"{metrics.belief_entropy:.2f}", justify="right",
             style="yellow" if metrics.belief_entropy > 0.3 else ""),
        _exceeded(metrics.threshold_exceeded),
    )


def losing_ground(row: DriftRow) -> bool:
    """Declining effectiveness and weakening belief together (the docs' warning sign)."""
    return (
        row.effectiveness is not None
        and row.effectiveness.drift_direction == "negative"
        and row.epistemic is not None
        and row.epistemic.drift_direction == "weakening"
    )


class DriftScreen(PatternTriageMixin, ListFilterMixin):
    """Effectiveness and epistemic drift (key 2)."""

    TITLE_TEXT = "Drift"

    BINDINGS = [  # noqa: RUF012
        *TRIAGE_BINDINGS,
        Binding("r", "retire_preview", "Retire preview"),
        replace(FILTER_BINDING, show=False),  # the footer has room for five keys
        Binding("plus,equals_sign", "threshold(1)", "Threshold +", show=False),
        Binding("minus", "threshold(-1)", "Threshold −", show=False),
        Binding("greater_than_sign", "epistemic_threshold(1)", "Belief threshold +",
                show=False),
        Binding("less_than_sign", "epistemic_threshold(-1)", "Belief threshold −",
                show=False),
        Binding("right_square_bracket", "window(1)", "Window +", show=False),
        Binding("left_square_bracket", "window(-1)", "Window −", show=False),
        Binding("e", "toggle_exceeding", "Only exceeding / all", show=False),
        Binding("right_curly_bracket", "page(1)", "Next page", show=False),
        Binding("left_curly_bracket", "page(-1)", "Previous page", show=False),
        Binding("y", "app.copy_id", "Copy id", show=False),
    ]

    DEFAULT_CSS = """
    DriftScreen #drift-bar { height: 1; }
    DriftScreen #drift-filter { width: 18; }
    DriftScreen #drift-status { width: 1fr; }
    DriftScreen #drift-summary { height: auto; padding: 0 1; border-top: solid $primary;
        text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.params = DriftParams()
        self.report: DriftReport | None = None
        self._names: dict[str, str] = {}
        self._shown = 0

    # -- layout -------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="drift-bar"):
            yield self.filter_input("/ filter name", id="drift-filter", return_to="drift-table")
            yield StatusLine(id="drift-status")
        yield LiveTable(COLUMNS, id="drift-table", saving_column="status")
        yield Static(id="drift-summary")

    def on_mount(self) -> None:
        if not self.body_built("#drift-status", "#drift-table"):
            return
        self._show_status()
        # The list, not the filter before it, takes the keys (q, v, x, ...) from the start.
        self.table.focus()

    def on_resize(self) -> None:
        self._show_status()  # the key hints come and go with the width

    def show_read_state(self) -> None:
        self._show_status()

    @property
    def table(self) -> LiveTable:
        return self.query_one("#drift-table", LiveTable)

    # -- refresh protocol ---------------------------------------------------------------

    def query_params(self) -> DriftParams:
        return self.params

    def fetch(self, store: GlobalLearningStore, params: DriftParams) -> DriftReport:
        return store.drift_report(
            window_size=params.window_size,
            drift_threshold=params.drift_threshold,
            epistemic_threshold=params.epistemic_threshold,
            only_exceeding=params.only_exceeding,
            limit=params.limit,
            offset=params.offset,
            text=params.text,
        )

    def apply(self, data: DriftReport) -> None:
        if not data.rows and data.offset > 0 and data.matching > 0:
            # Rows left the report under the last page: show the new last page instead.
            self._change(offset=(data.matching - 1) // ROW_LIMIT * ROW_LIMIT)
            return
        previous, self.report = self.report, data
        if previous is not None and previous.rows == data.rows:
            # A write elsewhere moved only the summary (the common case while Marianne
            # writes): building and comparing the page's cells again would cost more than
            # everything else in the refresh.
            if previous.summary != data.summary or (
                previous.epistemic_summary != data.epistemic_summary
            ):
                self._show_summary(data)
            self._show_status()  # "N shown of M" follows ``matching``
            return
        self._names = {row.pattern_id: row.pattern_name for row in data.rows}
        self._show_rows()
        self._show_summary(data)

    def _show_rows(self) -> None:
        rows = self.report.rows if self.report is not None else ()
        shown = [row for row in rows if text_matches(self.filter_text, (row.pattern_name,))]
        self._shown = self.matching_count(self.report, len(shown))
        self.table.apply([self._row(row) for row in shown])
        self._show_status()

    def _row(self, row: DriftRow) -> Row:
        return Row(
            row.pattern_id,
            (
                untrusted(row.pattern_name, 60),
                *effectiveness_cells(row.effectiveness),
                *epistemic_cells(row.epistemic),
                status_cell(row.status, row.priority),
            ),
        )

    def _show_status(self) -> None:
        # What is shown first, then the settings; their keys only where there is room
        # (at 80 columns the help lists them).
        p = self.params
        keys = self.app.size.width >= 120  # the app's "-wide" breakpoint
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.read_error is not None and (self.report is None or not self.report.rows):
            # An empty table while the store cannot be read is not good news.
            text.append(f"✖ could not read the store ({clean(self.read_error, 60)}): "
                        "the list is not known", style="bold red")
            text.append(" · ")
        elif self.report is None:
            text.append("loading…", style="dim")
        elif not self.report.rows and self.filter_text:
            text.append("No drifting pattern's name contains this text", style="bold")
            text.append(" · ")
        elif not self.report.rows:
            # An empty table must say why, and what to change.
            text.append("No pattern ", style="bold")
            text.append(f"exceeds these thresholds (e: all {2 * p.window_size}+ applications)"
                        if p.only_exceeding else
                        f"has the {2 * p.window_size} applications window {p.window_size} "
                        "needs ([ smaller)", style="bold")
            text.append(" · ")
        else:
            report = self.report
            text.append(f"{self._shown:,} shown of {report.total:,}", style="bold")
            if report.matching > len(report.rows):
                text.append(f" · rows {report.offset + 1:,}–{report.offset + len(report.rows):,}")
                if keys:
                    text.append(" { }", style="dim")
            text.append(" · ")
        if self.filter_text:
            text.append("name ")
            text.append_text(untrusted(self.filter_text, 24, style="bold"))
            text.append(" · ")
        text.append("exceeding" if p.only_exceeding else "all analysed", style="bold")
        if keys:
            text.append(" e", style="dim")
        text.append(f" · window {p.window_size}", style="bold")
        if keys:
            text.append(" [ ]", style="dim")
        text.append(f" · eff >{p.drift_threshold:.2f}", style="bold")
        if keys:
            text.append(" - +", style="dim")
        text.append(f" · belief >{p.epistemic_threshold:.2f}", style="bold")
        if keys:
            text.append(" < >", style="dim")
        self.query_one("#drift-status", StatusLine).show(text)

    def _show_summary(self, report: DriftReport) -> None:
        # Marianne's two summaries always use W=5 and the default thresholds: say so.
        eff: dict[str, Any] = dict(report.summary)
        epi: dict[str, Any] = dict(report.epistemic_summary)
        first = Text(no_wrap=True, overflow="ellipsis")
        first.append("Effectiveness ", style="bold")
        first.append(
            f"{eff.get('patterns_drifting', 0)} of {eff.get('patterns_analyzed', 0)} drifting"
            f" (W={SUMMARY_WINDOW}, {SUMMARY_DRIFT_THRESHOLD:.2f})"
            f" · avg |Δ| {float(eff.get('avg_drift_magnitude') or 0):.2f}"
        )
        if eff.get("most_drifted"):
            first.append(" · most: ")
            first.append_text(self._name_for(str(eff["most_drifted"])))
        second = Text(no_wrap=True, overflow="ellipsis")
        second.append("Belief ", style="bold")
        second.append(
            f"{epi.get('patterns_with_epistemic_drift', 0)} of "
            f"{epi.get('patterns_analyzed', 0)} drifting (W={SUMMARY_WINDOW}, "
            f"{SUMMARY_EPISTEMIC_THRESHOLD:.2f}) · avg Δ "
            f"{float(epi.get('avg_belief_change') or 0):+.2f} · entropy "
            f"{float(epi.get('avg_belief_entropy') or 0):.2f}"
        )
        if epi.get("most_unstable"):
            second.append(" · most: ")
            second.append_text(self._name_for(str(epi["most_unstable"])))
        third = Text(no_wrap=True, overflow="ellipsis")
        losing = sum(1 for row in report.rows if losing_ground(row))
        if losing:
            third.append(f"⚠ {losing} losing ground (↓ declining + ↓ weakening)", style="bold red")
            third.append(" · ")
        third.append(f"{DRIFT_RETIRED.glyph} {DRIFT_RETIRED.word} = priority 0, status unchanged",
                     style="dim")
        lines = Text("\n", no_wrap=True, overflow="ellipsis").join([first, second, third])
        self.query_one("#drift-summary", Static).update(lines)

    def _name_for(self, pattern_id: str) -> Text:
        name = self._names.get(pattern_id)
        return untrusted(name if name is not None else pattern_id, 24, "italic")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # enter: the pattern's full detail (every field, why-analysis, its drift).
        pattern_id = self.table.cursor_key
        if pattern_id is not None:
            # Deferred like on Patterns: the detail modal is not part of any first paint.
            from marianne_tui.modals.pattern_detail import PatternDetailScreen

            self.app.push_screen(PatternDetailScreen(pattern_id))

    # -- name filter (the store's; the rows here are narrowed meanwhile) -----------------

    def filter_changed(self, text: str) -> None:
        self._show_rows()
        self._change(text=text)

    # -- thresholds, window, only exceeding ----------------------------------------------

    def _change(self, **changes: Any) -> None:
        # Other thresholds or window: another list, shown from its first page.
        changes.setdefault("offset", 0)
        self.params = replace(self.params, **changes)
        self._show_status()
        self.host.request_refresh(force=True)

    def action_threshold(self, direction: int) -> None:
        value = self.params.drift_threshold + direction * THRESHOLD_STEP
        self._change(drift_threshold=round(min(MAX_THRESHOLD, max(MIN_THRESHOLD, value)), 2))

    def action_epistemic_threshold(self, direction: int) -> None:
        value = self.params.epistemic_threshold + direction * THRESHOLD_STEP
        self._change(
            epistemic_threshold=round(min(MAX_THRESHOLD, max(MIN_THRESHOLD, value)), 2)
        )

    def action_window(self, direction: int) -> None:
        value = self.params.window_size + direction
        self._change(window_size=min(MAX_WINDOW, max(MIN_WINDOW, value)))

    def action_toggle_exceeding(self) -> None:
        self._change(only_exceeding=not self.params.only_exceeding)

    def action_page(self, step: int) -> None:
        matching = self.report.matching if self.report is not None else 0
        offset = self.params.offset + step * ROW_LIMIT
        if 0 <= offset < matching:
            self._change(offset=offset)

    # -- retire_drifting_patterns: dry run, then (confirmed) the real thing --------------

    def action_retire_preview(self) -> None:
        # Captured now: the dialog describes exactly the parameters that will run.
        params = self.params
        store = self.host.store

        def read() -> list[tuple[str, str, float]]:
            return store.preview_retire_drifting_patterns(
                drift_threshold=params.drift_threshold,
                window_size=params.window_size,
                require_negative_drift=True,
            )

        def show(candidates: list[tuple[str, str, float]]) -> None:
            # Deferred: the preview dialog is only needed once `r` is pressed (first paint).
            from marianne_tui.modals.retire_preview import RetirePreviewScreen

            statuses = {row.pattern_id: row.status for row in (self.report.rows
                                                               if self.report else ())}
            screen = RetirePreviewScreen(
                candidates,
                drift_threshold=params.drift_threshold,
                window_size=params.window_size,
                statuses=statuses,
                read_only=self.host.read_only,
            )
            self.app.push_screen(screen, lambda go: self._retire_confirmed(go, params))

        self.host.run_store(read, show, label="Retire preview")

    def _retire_confirmed(self, confirmed: bool | None, params: DriftParams) -> None:
        if not confirmed or self.host.read_only:
            return
        store = self.host.store

        def write() -> list[tuple[str, str, float]]:
            return store.retire_drifting_patterns(
                drift_threshold=params.drift_threshold,
                window_size=params.window_size,
                require_negative_drift=True,
            )

        def done(retired: list[tuple[str, str, float]]) -> None:
            count = len(retired)
            self.notify(
                f"Drift-retired {count} pattern{'s' if count != 1 else ''}: priority set to 0, "
                "status unchanged.",
                title="retire_drifting_patterns", markup=False,
            )
            self.host.request_refresh(force=True)

        self.host.run_store(write, done, label="Drift retirement", write=True)
