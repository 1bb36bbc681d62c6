"""Everything about one pattern, scrollable: the evidence to read before triaging it.

Shows every field of the record, its provenance, quarantine dates and reason, trust, then
the evidence: effectiveness over its latest applications (the store's formula replayed),
a page of its applications (``]`` older, ``[`` newer), the two drift windows side by side,
its status history as far as the store tells, the operator journal for it, and last the
success factors with the "why" analysis. The reads run in a thread worker (all of them are
pure reads: ``analyze_pattern_why`` and the two drift calculations write nothing); a failing
read shows its error in its own section and the rest still shows. Values are shown whole
(within ``DETAIL_LIMIT``), sanitised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, is_dataclass, replace
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from marianne_tui.contract import host_of
from marianne_tui.formatting import short_age, stamp, stamp_near
from marianne_tui.modals.backdrop import BackdropModalScreen
from marianne_tui.text import clean, untrusted, untrusted_block
from marianne_tui.widgets.sparkline_panel import bars
from store import GlobalLearningStore

#: Journal entries shown for one pattern.
JOURNAL_LIMIT = 20
#: Applications on one page of the detail.
APPLICATIONS_PAGE = 10
#: Points of the effectiveness trend (one character each).
TREND_POINTS = 60
#: The drift windows the detail compares (the store's defaults, as the Drift screen starts).
WINDOW = 5
DRIFT_THRESHOLD = 0.2
EPISTEMIC_THRESHOLD = 0.15


@dataclass(frozen=True)
class Read:
    """The result of one store read: its value, or the error it raised."""

    value: Any = None
    error: str | None = None


def _read(call: Callable[[], Any]) -> Read:
    try:
        return Read(call())
    except Exception as error:  # one failing read must not hide the others
        return Read(error=f"{type(error).__name__}: {error}")


@dataclass(frozen=True)
class PatternDetail:
    pattern_id: str
    now: datetime
    record: Read
    provenance: Read
    why: Read
    drift: Read
    epistemic: Read
    journal: Read
    #: (score, stored text) the store cannot vouch for: shown as such, not as numbers
    doubtful: Read = Read(())
    #: the evidence: ApplicationPage, EffectivenessTrend, DriftWindows
    applications: Read = Read()
    trend: Read = Read()
    windows: Read = Read()


def load_detail(store: GlobalLearningStore, pattern_id: str) -> PatternDetail:
    """All the reads of the detail view (worker thread: store calls only)."""
    return PatternDetail(
        pattern_id=pattern_id,
        now=store.clock.local(),
        record=_read(lambda: store.get_pattern_by_id(pattern_id)),
        provenance=_read(lambda: store.get_pattern_provenance(pattern_id)),
        why=_read(lambda: store.analyze_pattern_why(pattern_id)),
        drift=_read(lambda: store.calculate_effectiveness_drift(
            pattern_id, window_size=WINDOW, drift_threshold=DRIFT_THRESHOLD)),
        epistemic=_read(lambda: store.calculate_epistemic_drift(
            pattern_id, window_size=WINDOW, drift_threshold=EPISTEMIC_THRESHOLD)),
        journal=_read(lambda: store.journal(limit=JOURNAL_LIMIT, target_id=pattern_id)),
        doubtful=_read(lambda: store.unvouched_scores(pattern_id)),
        applications=_read(lambda: load_applications(store, pattern_id, 0)),
        trend=_read(lambda: store.effectiveness_trend(pattern_id, limit=TREND_POINTS)),
        windows=_read(lambda: store.drift_windows(pattern_id, window_size=WINDOW)),
    )


def load_applications(store: GlobalLearningStore, pattern_id: str, offset: int) -> Any:
    """One page of applications (worker thread)."""
    return store.pattern_applications_page(pattern_id, limit=APPLICATIONS_PAGE, offset=offset)


# ---------------------------------------------------------------------------------------
# rendering (store values -> sanitised Text only; our labels are plain Text too)
# ---------------------------------------------------------------------------------------


def _value(value: Any, now: datetime | None = None) -> Text:
    if value is None or value == "":
        return Text("—", style="dim", end="")
    if isinstance(value, bool):
        return Text("yes" if value else "no", end="")
    if isinstance(value, float):
        return Text(f"{value:.4f}".rstrip("0").rstrip(".") if value else "0", end="")
    if isinstance(value, datetime):
        text = untrusted(value.isoformat(sep=" "), 40)
        if now is not None:
            text.append(f"  ({short_age(value, now)} ago)", style="dim")
        return text
    if hasattr(value, "value") and isinstance(value.value, str):  # an Enum
        return untrusted(value.value)
    if isinstance(value, list | tuple):
        if not value:
            return Text("none", style="dim", end="")
        return Text("\n").join(untrusted_block(item) for item in value)
    return untrusted_block(value)


def _fields(rows: Iterable[tuple[str, Any]], now: datetime | None = None) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True, min_width=20)
    table.add_column(overflow="fold")
    for label, value in rows:
        table.add_row(Text(label), value if isinstance(value, Text) else _value(value, now))
    return table


def _section(title: str, body: RenderableType | None, read: Read | None = None) -> Group:
    heading = Text(f"\n{title}", style="bold underline")
    if read is not None and read.error is not None:
        return Group(heading, Text(f"could not read: {clean(read.error, 300)}", style="red"))
    return Group(heading, body if body is not None else Text("none", style="dim"))


def _doubtful(stored: str) -> Text:
    text = Text("? stored as ", style="bold red", end="")
    text.append_text(untrusted(stored, 40, style="red reverse"))
    text.append(": not a score the store can vouch for", style="red")
    return text


def _record_fields(
    record: Any, now: datetime, doubtful: dict[str, str] | None = None
) -> Table:
    applications = record.led_to_success_count + record.led_to_failure_count
    doubtful = doubtful or {}
    priority = Text(
        f"{record.priority_score:g}"
        + ("  (drift-retired: priority 0, status unchanged)"
           if record.priority_score == 0 else ""), end="")
    return _fields(
        [
            ("id", record.id),
            ("type", record.pattern_type),
            ("instrument", record.instrument_name),
            ("active", record.active),
            ("trust", _doubtful(doubtful["trust"]) if "trust" in doubtful
             else record.trust_score),
            ("trust calculated", record.trust_calculation_date),
            ("effectiveness", _doubtful(doubtful["effectiveness"])
             if "effectiveness" in doubtful else record.effectiveness_score),
            ("variance", record.variance),
            ("priority", _doubtful(doubtful["priority"]) if "priority" in doubtful
             else priority),
            ("occurrences", record.occurrence_count),
            ("applications", Text(
                f"{applications} ({record.led_to_success_count} ✓ success, "
                f"{record.led_to_failure_count} ✗ failure)", end="")),
            ("first seen", record.first_seen),
            ("last seen", record.last_seen),
            ("last confirmed", record.last_confirmed),
            ("content hash", record.content_hash),
            ("context tags", list(record.context_tags or [])),
            ("description", record.description),
            ("suggested action", record.suggested_action),
        ],
        now,
    )


def _quarantine_fields(record: Any, provenance: Read, now: datetime) -> Table:
    rows: list[tuple[str, Any]] = [
        ("status", record.quarantine_status),
        ("quarantined at", record.quarantined_at),
        ("validated at", record.validated_at),
        ("quarantine reason", record.quarantine_reason),
    ]
    if provenance.error is not None:
        rows.append(("provenance", Text(f"could not read: {clean(provenance.error)}",
                                        style="red")))
    elif provenance.value:
        rows.append(("provenance job", provenance.value.get("provenance_job_hash")))
        rows.append(("provenance sheet", provenance.value.get("provenance_sheet_num")))
    return _fields(rows, now)


def _factors_and_why(record: Any, why: Read) -> Group:
    parts: list[RenderableType] = []
    factors = record.success_factors if record is not None else None
    if factors is None:
        parts.append(Text("No success factors captured yet.", style="dim"))
    else:
        values = (asdict(factors) if is_dataclass(factors) and not isinstance(factors, type)
                  else dict(factors))
        rows = [(key.replace("_", " "), value) for key, value in values.items()]
        rows.append(("updated at", record.success_factors_updated_at))
        parts.append(_fields(rows))
    if why.error is not None:
        parts.append(Text(f"why: could not read: {clean(why.error, 300)}", style="red"))
    elif isinstance(why.value, dict):
        analysis = why.value
        parts.append(Text("\nwhy it works (analyze_pattern_why)", style="bold"))
        shown = {"pattern_name", "pattern_type", "trust_score", "effectiveness_score"}
        parts.append(_fields(
            (key.replace("_", " "), value)
            for key, value in analysis.items() if key not in shown
        ))
    return Group(*parts)


def _number(value: float | None, digits: int = 3) -> Text:
    if value is None:
        return Text("—", style="dim", end="")
    return Text(f"{value:.{digits}f}", end="")


def _when(moment: datetime | None, now: datetime) -> Text:
    if moment is None or moment == datetime.min:
        return Text("?", style="dim", end="")
    return Text(stamp_near(moment, now) if moment.tzinfo is None else stamp(moment), end="")


def _outcome(succeeded: bool | None) -> Text:
    if succeeded is None:
        return Text("? unknown", style="dim", end="")
    return Text("✓ success", style="green", end="") if succeeded \
        else Text("✗ failure", style="red", end="")


def _trend(trend: Any) -> Text:
    """``▃▅▆▅▃  0.55 → 0.52 (low 0.50, high 0.68) over the latest 7 of 7 applications``."""
    values = tuple(trend.values)
    if not values:
        return Text("no application recorded", style="dim")
    text = Text(bars([min(max(value, 0.0), 1.0) for value in values]), style="bold cyan")
    text.append(f"  {values[0]:.2f} → {values[-1]:.2f}")
    text.append(f" (low {min(values):.2f}, high {max(values):.2f})", style="dim")
    text.append(f"\nE after each of the latest {len(values)} of {trend.applications} "
                "applications, oldest left, on a 0–1 scale: the store's effectiveness "
                "formula replayed in application order.", style="dim")
    return text


def _applications(read: Read, now: datetime, loading: bool) -> RenderableType:
    page = read.value
    if page is None:
        return Text("loading…", style="dim")
    if not page.rows:
        return Text("no application recorded for this pattern" if page.total == 0
                    else "no application on this page", style="dim")
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    # Every column but the execution id keeps its width; the id (a UUID in Marianne's
    # stores) is cut to 26 so the row fits 80 columns: its head is what tells ids apart.
    table.add_column(Text("when"), no_wrap=True, min_width=11)
    table.add_column(Text("execution"), no_wrap=True, overflow="ellipsis", max_width=26)
    table.add_column(Text("outcome"), no_wrap=True, min_width=9)
    table.add_column(Text("grounding"), justify="right", no_wrap=True, min_width=9)
    table.add_column(Text("retries"), justify="right", no_wrap=True, min_width=7)
    for row in page.rows:
        retries = Text("—", style="dim", end="") if row.retries_before is None \
            and row.retries_after is None \
            else Text(f"{row.retries_before if row.retries_before is not None else '?'} → "
                      f"{row.retries_after if row.retries_after is not None else '?'}", end="")
        table.add_row(_when(row.applied_at, now), untrusted(row.execution_id or "—", 36),
                      _outcome(row.succeeded), _number(row.grounding, 2), retries)
    first, last = page.offset + 1, page.offset + len(page.rows)
    hint = Text(f"{first}–{last} of {page.total}, newest first", style="dim")
    if last < page.total:
        hint.append(" · ] older", style="dim")
    if page.offset > 0:
        hint.append(" · [ newer", style="dim")
    if loading:
        hint.append(" · loading…", style="bold")
    return Group(table, hint)


def _window_counts(window: Any) -> Text:
    return Text(f"{window.applications}: {window.successes} ✓ "
                f"{window.applications - window.successes} ✗", end="")


def _windows(windows: Any, drift: Read, epistemic: Read, now: datetime) -> RenderableType:
    """The two windows of each drift formula side by side, then each formula's verdict."""
    if windows is None:
        return Text("loading…", style="dim")
    size = windows.window_size
    table = Table(box=None, padding=(0, 2), show_edge=False, header_style="bold")
    table.add_column(Text(""), no_wrap=True)
    table.add_column(Text(f"older {size}"), justify="right", no_wrap=True)
    table.add_column(Text(f"recent {size}"), justify="right", no_wrap=True)
    table.add_column(Text("change"), no_wrap=True)
    older, recent = windows.older, windows.recent
    if older is None or recent is None:
        table.add_row(Text("applications"), Text("—", style="dim"), Text("—", style="dim"),
                      Text(f"fewer than {2 * size}: no effectiveness drift yet", style="dim"))
    else:
        metrics = drift.value
        change = Text(f"{recent.effectiveness - older.effectiveness:+.3f}", end="")
        if metrics is not None:
            change.append(f" {clean(metrics.drift_direction, 20)}")
        table.add_row(Text("applications"), _window_counts(older), _window_counts(recent),
                      Text(""))
        table.add_row(Text("effectiveness"), _number(older.effectiveness),
                      _number(recent.effectiveness), change)
        table.add_row(Text("mean grounding"), _number(older.mean_grounding, 2),
                      _number(recent.mean_grounding, 2), Text(""))
        table.add_row(Text("from"), _when(older.first_at, now), _when(recent.first_at, now),
                      Text(""))
    belief_older, belief_recent = windows.belief_older, windows.belief_recent
    if belief_older is None or belief_recent is None:
        table.add_row(Text("belief (grounding)"), Text("—", style="dim"),
                      Text("—", style="dim"),
                      Text(f"fewer than {2 * size} grounded: no epistemic drift yet",
                           style="dim"))
    else:
        belief = epistemic.value
        moved = (belief_recent.mean_grounding or 0.0) - (belief_older.mean_grounding or 0.0)
        change = Text(f"{moved:+.3f}", end="")
        if belief is not None:
            change.append(f" {clean(belief.drift_direction, 20)}, entropy "
                          f"{belief.belief_entropy:.2f}")
        table.add_row(Text("belief (grounding)"), _number(belief_older.mean_grounding, 2),
                      _number(belief_recent.mean_grounding, 2), change)
    parts: list[RenderableType] = [table]
    for read, label, threshold in ((drift, "effectiveness drift", DRIFT_THRESHOLD),
                                   (epistemic, "epistemic drift", EPISTEMIC_THRESHOLD)):
        if read.error is not None:
            parts.append(Text(f"{label}: could not read: {clean(read.error, 300)}",
                              style="red"))
        elif read.value is not None:
            parts.append(_verdict(label, read.value, threshold))
    return Group(*parts)


def _verdict(label: str, metrics: Any, threshold: float) -> Text:
    exceeded = bool(metrics.threshold_exceeded)
    text = Text(f"{label}: ", style="bold")
    if hasattr(metrics, "drift_magnitude"):
        text.append(f"|{metrics.drift_magnitude:.3f}| / max(grounding "
                    f"{metrics.grounding_confidence_avg:.2f}, 0.5)")
    else:
        text.append(f"|{metrics.belief_change:.3f}| × (1 + entropy "
                    f"{metrics.belief_entropy:.2f})")
    if exceeded:
        text.append(f" > {threshold:g}: ▲ threshold exceeded", style="bold yellow")
    else:
        text.append(f" ≤ {threshold:g}: within the threshold", style="green")
    text.append(f" ({metrics.applications_analyzed} applications analyzed)", style="dim")
    return text


def _status_history(record: Any, journal: list[Any], now: datetime) -> RenderableType:
    """Every status-related time the store keeps, newest first.

    The pattern row keeps only the latest quarantine and validation times; the journal
    adds every change an operator made through a console (not the conductor's).
    """
    events: list[tuple[datetime, Text]] = []
    for moment, label in ((record.first_seen, "first seen (created pending)"),
                          (record.quarantined_at, "quarantined (latest time)"),
                          (record.validated_at, "validated (latest time)"),
                          (record.last_confirmed, "last confirmed (a success, or the creation)")):
        if isinstance(moment, datetime) and moment.tzinfo is None:
            events.append((moment, Text(label, end="")))
    for entry in journal:
        before = entry.prior_state.get("quarantine_status")
        after = entry.new_state.get("quarantine_status")
        if before is None and after is None:
            continue
        line = Text.assemble(untrusted(before or "—", 20), " → ", untrusted(after or "—", 20),
                             " by ", untrusted(entry.who, 60))
        if entry.undone_at is not None:
            line.append(" (undone)", style="dim italic")
        moment = entry.acted_at.replace(tzinfo=None) if entry.acted_at.tzinfo else entry.acted_at
        events.append((moment, line))
    if not events:
        return Text("no status time recorded", style="dim")
    events.sort(key=lambda event: event[0], reverse=True)
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True, min_width=20)
    table.add_column(overflow="fold")
    for moment, line in events:
        table.add_row(Text(moment.isoformat(sep=" ", timespec="seconds")), line)
    status = Text("now ", style="dim")
    status.append_text(untrusted(record.quarantine_status.value
                                 if hasattr(record.quarantine_status, "value")
                                 else record.quarantine_status, 20, style="bold"))
    status.append(" · the pattern keeps only its latest quarantine and validation times; "
                  "the journal keeps every operator change", style="dim")
    return Group(table, status)


def _journal_table(entries: list[Any]) -> Table | Text:
    if not entries:
        return Text("no operator action recorded for this pattern", style="dim")
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    for label in ("when", "who", "action", "status", "reason"):
        table.add_column(Text(label), overflow="fold")
    for entry in entries:
        before = entry.prior_state.get("quarantine_status")
        after = entry.new_state.get("quarantine_status")
        action = untrusted(entry.action, 20)
        if entry.undone_at is not None:
            action.append(" (undone)", style="dim italic")
        table.add_row(
            untrusted(entry.acted_at.isoformat(sep=" ", timespec="seconds"), 30),
            untrusted(entry.who, 60),
            action,
            Text.assemble(untrusted(before or "—", 20), " → ", untrusted(after or "—", 20)),
            untrusted_block(entry.reason) if entry.reason else Text("—", style="dim"),
        )
    return table


def render_detail(detail: PatternDetail, loading: bool = False) -> Group:
    """The whole detail view as one renderable (``loading``: a page is being read)."""
    record_read = detail.record
    record = record_read.value
    now = detail.now
    parts: list[RenderableType] = []
    if record_read.error is None and record is None:
        parts.append(Text("This pattern no longer exists.", style="bold red"))
        parts.append(untrusted(detail.pattern_id, 80, style="dim"))
        return Group(*parts)
    if record is not None:
        parts.append(untrusted_block(record.pattern_name, style="bold"))
    else:
        parts.append(untrusted(detail.pattern_id, 80, style="bold"))
    parts.append(_section("Record", _record_fields(record, now, dict(detail.doubtful.value or ()))
                                    if record else None,
                          record_read))
    parts.append(_section(
        "Quarantine and provenance",
        _quarantine_fields(record, detail.provenance, now) if record else None,
        record_read,
    ))
    parts.append(_section("Effectiveness over its applications",
                          _trend(detail.trend.value) if detail.trend.value else None,
                          detail.trend))
    parts.append(_section("Recent applications",
                          _applications(detail.applications, now, loading), detail.applications))
    parts.append(_section(f"Drift windows side by side (window {WINDOW}, thresholds "
                          f"{DRIFT_THRESHOLD:g} and {EPISTEMIC_THRESHOLD:g})",
                          _windows(detail.windows.value, detail.drift, detail.epistemic, now),
                          detail.windows))
    if record is not None:
        parts.append(_section("Status history",
                              _status_history(record, detail.journal.value or [], now)))
    parts.append(_section("Operator journal", _journal_table(detail.journal.value or []),
                          detail.journal))
    parts.append(_section("Success factors and why", _factors_and_why(record, detail.why)))
    return Group(*parts)


class PatternDetailScreen(BackdropModalScreen[None]):
    """The detail of one pattern; `escape` closes it, `]` and `[` page its applications."""

    AUTO_FOCUS = "#detail-scroll"
    BINDINGS = [  # noqa: RUF012
        Binding("escape", "close", "Close"),
        # The patterns list pages with the same keys; the scroll keys stay the scroll's.
        Binding("right_square_bracket", "applications_page(1)", "Older applications"),
        Binding("left_square_bracket", "applications_page(-1)", "Newer applications"),
    ]

    DEFAULT_CSS = """
    PatternDetailScreen { align: center middle; }
    PatternDetailScreen > #detail-dialog {
        width: 110; max-width: 100%; height: 100%;
        border: thick $primary; background: $surface;
    }
    PatternDetailScreen #detail-scroll { height: 1fr; padding: 0 1; }
    PatternDetailScreen #detail-hint { height: 1; color: $text-muted; padding: 0 1; }
    """

    def __init__(self, pattern_id: str) -> None:
        super().__init__()
        self.pattern_id = pattern_id
        self.detail: PatternDetail | None = None
        #: the offset of the page being read, None when no page read is under way
        self._paging_to: int | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="detail-dialog"):
            with VerticalScroll(id="detail-scroll"):
                yield Static(Text("loading…", style="dim"), id="detail-body")
            yield Static(Text("escape: close · ↑ ↓ PgUp PgDn: scroll · ] [: older, newer "
                              "applications"), id="detail-hint")

    def on_mount(self) -> None:
        host = host_of(self)
        store = host.store
        host.run_store(lambda: load_detail(store, self.pattern_id), self._show,
                       label="Pattern detail")

    def _show(self, detail: PatternDetail) -> None:
        if not self.is_attached:
            return
        self.detail = detail
        self._show_body()

    def _show_body(self) -> None:
        if self.detail is not None:
            self.query_one("#detail-body", Static).update(
                render_detail(self.detail, loading=self._paging_to is not None))

    @property
    def applications_offset(self) -> int:
        page = self.detail.applications.value if self.detail is not None else None
        return int(page.offset) if page is not None else 0

    def action_applications_page(self, step: int) -> None:
        page = self.detail.applications.value if self.detail is not None else None
        if page is None or self._paging_to is not None:
            return  # nothing shown yet, or a page is on its way
        offset = page.offset + step * APPLICATIONS_PAGE
        if offset < 0 or offset >= max(page.total, 1):
            self.notify("No newer applications" if step < 0 else "No older applications",
                        markup=False, timeout=2)
            return
        self._paging_to = offset
        self._show_body()
        host = host_of(self)
        store = host.store

        def shown(new_page: Any) -> None:
            self._paging_to = None
            if self.is_attached and self.detail is not None:
                self.detail = replace(self.detail, applications=Read(new_page))
                self._show_body()

        def failed(error: BaseException) -> None:
            self._paging_to = None
            if self.is_attached:
                self._show_body()
            host.say_failure("Applications", error)

        host.run_store(lambda: load_applications(store, self.pattern_id, offset), shown,
                       label="Applications", failure=failed)

    def action_close(self) -> None:
        self.dismiss(None)
