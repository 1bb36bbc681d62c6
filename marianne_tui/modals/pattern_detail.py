"""Everything about one pattern, scrollable: the evidence to read before triaging it.

Shows every field of the record, its provenance, quarantine dates and reason, trust, success
factors with the "why" analysis, both drifts, and the operator journal for it. The reads run
in a thread worker (all of them are pure reads: ``analyze_pattern_why`` and the two drift
calculations write nothing); a failing read shows its error in its own section and the rest
still shows. Values are shown whole (within ``DETAIL_LIMIT``), sanitised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from marianne_tui.contract import host_of
from marianne_tui.formatting import short_age
from marianne_tui.text import clean, untrusted, untrusted_block
from store import GlobalLearningStore

#: Journal entries shown for one pattern.
JOURNAL_LIMIT = 20


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


def load_detail(store: GlobalLearningStore, pattern_id: str) -> PatternDetail:
    """All the reads of the detail view (worker thread: store calls only)."""
    return PatternDetail(
        pattern_id=pattern_id,
        now=store.clock.local(),
        record=_read(lambda: store.get_pattern_by_id(pattern_id)),
        provenance=_read(lambda: store.get_pattern_provenance(pattern_id)),
        why=_read(lambda: store.analyze_pattern_why(pattern_id)),
        drift=_read(lambda: store.calculate_effectiveness_drift(pattern_id)),
        epistemic=_read(lambda: store.calculate_epistemic_drift(pattern_id)),
        journal=_read(lambda: store.journal(limit=JOURNAL_LIMIT, target_id=pattern_id)),
        doubtful=_read(lambda: store.unvouched_scores(pattern_id)),
    )


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


def _drift_fields(metrics: Any) -> Table | Text:
    if metrics is None:
        return Text("not enough applications to compare two windows", style="dim")
    values = (asdict(metrics) if is_dataclass(metrics) and not isinstance(metrics, type)
              else {})
    values.pop("pattern_id", None)
    values.pop("pattern_name", None)
    return _fields((key.replace("_", " "), value) for key, value in values.items())


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


def render_detail(detail: PatternDetail) -> Group:
    """The whole detail view as one renderable."""
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
    parts.append(_section("Success factors and why", _factors_and_why(record, detail.why)))
    parts.append(_section("Effectiveness drift (window 5, threshold 0.2)",
                          _drift_fields(detail.drift.value), detail.drift))
    parts.append(_section("Epistemic drift (window 5, threshold 0.15)",
                          _drift_fields(detail.epistemic.value), detail.epistemic))
    parts.append(_section(
        "Recent applications",
        Text("The store offers no read of single applications; the drift windows above "
             "summarise the most recent ones.", style="dim"),
    ))
    parts.append(_section("Operator journal", _journal_table(detail.journal.value or []),
                          detail.journal))
    return Group(*parts)


class PatternDetailScreen(ModalScreen[None]):
    """The detail of one pattern; `escape` closes it."""

    AUTO_FOCUS = "#detail-scroll"
    BINDINGS = [Binding("escape", "close", "Close")]  # noqa: RUF012

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

    def compose(self) -> ComposeResult:
        with Vertical(id="detail-dialog"):
            with VerticalScroll(id="detail-scroll"):
                yield Static(Text("loading…", style="dim"), id="detail-body")
            yield Static(Text("escape: close · ↑ ↓ PgUp PgDn: scroll"), id="detail-hint")

    def on_mount(self) -> None:
        host = host_of(self)
        store = host.store
        host.run_store(lambda: load_detail(store, self.pattern_id), self._show,
                       label="Pattern detail")

    def _show(self, detail: PatternDetail) -> None:
        if not self.is_attached:
            return
        self.detail = detail
        self.query_one("#detail-body", Static).update(render_detail(detail))

    def action_close(self) -> None:
        self.dismiss(None)
