"""The header on every screen: where the store is and whether anything needs the operator.

Three lines at 120 columns and more (a label for every number), two compact lines below
(80 columns fit). The widget keeps the last values it was shown and renders for its own
width, so a resize re-lays it out; ``show`` repaints only when a value changed, so an idle
console sends nothing to the terminal.

The age ("updated 14 s ago") is shown while paused or after an error, when it can grow and
matters; while live the data is at most one refresh old, so the header says how often it
refreshes instead of ticking a clock every second.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from marianne_tui.formatting import interval, spoken_age
from marianne_tui.status import DRIFT_RETIRED, STATUS_LOOK
from marianne_tui.text import clean
from store import StoreOverview

#: At this width and above the header has room for three labelled lines.
WIDE = 120


def short_location(location: str, limit: int) -> str:
    """The location cut from the left: the file name is the part that tells stores apart."""
    text = clean(location, 10_000)
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


@dataclass(frozen=True)
class HeaderState:
    """Everything the header shows; equal states render identically."""

    overview: StoreOverview | None
    live: bool
    #: "14 s ago"; the text, not the seconds, so states that look the same are equal
    age: str = "never"
    error: str | None = None
    refresh_seconds: float = 2.0
    read_only: bool = False
    #: commits are pushed (PostgreSQL): "live · push", the interval is only a fallback
    pushed: bool = False
    #: why the store is read-only (the store's read_only_reason)
    read_only_reason: str | None = None
    #: True when other processes' changes are not seen (SQLite immutable=1)
    immutable: bool = False
    #: "saving…" or the busy notice while a write is in flight
    activity: str | None = None
    #: seconds until the next try after a failed read
    retry_seconds: float | None = None
    #: alerts not yet seen on the Events screen, and since the console opened
    alerts_unseen: int = 0
    alerts_total: int = 0
    #: rows the last refresh brought and took away (shown while they are marked)
    rows_arrived: int = 0
    rows_left: int = 0


def _status_part(state: HeaderState, wide: bool) -> Text:
    """"● live · every 2 s", "⏸ paused · updated 14 s ago", a write's progress or the
    error with its next retry."""
    part = Text(no_wrap=True, end="")
    age = state.age
    if state.activity:
        busy = state.activity.startswith(("store busy", "cancelling"))
        part.append(f"{'⧗' if busy else '⟳'} {clean(state.activity, 80 if wide else 60)}",
                    style="bold yellow" if busy else "bold")
    elif state.error:
        part.append(f"✖ {clean(state.error, 60 if wide else 30)}", style="bold red")
        part.append(f" · updated {age}", style="dim")
        if state.retry_seconds is not None:
            part.append(f" · retrying every {interval(state.retry_seconds)}", style="dim")
    elif state.live:
        part.append("● live", style="bold green")
        if state.pushed:
            part.append(" · push", style="green")
        part.append(f" · every {interval(state.refresh_seconds)}", style="dim")
    else:
        part.append("⏸ paused", style="bold yellow")
        part.append(f" · updated {age}", style="dim")
    return part


def _notes_part(state: HeaderState, wide: bool, *, rows: bool = True) -> Text:
    """"⚑ 2 new alerts (6)" and "+3 rows −1": what happened since the operator looked."""
    part = Text(no_wrap=True, end="")
    if rows and (state.rows_arrived or state.rows_left):
        moved = []
        if state.rows_arrived:
            moved.append(f"+{state.rows_arrived}{' new' if wide else ''}")
        if state.rows_left:
            moved.append(f"−{state.rows_left}{' left' if wide else ''}")
        part.append("  " + " ".join(moved), style="bold")
    if state.alerts_total:
        unseen = state.alerts_unseen
        if unseen and wide:
            part.append(f"  ⚑ {unseen} new alert{'s' if unseen != 1 else ''} "
                        f"({state.alerts_total}) · 6", style="bold reverse")
        elif unseen:
            part.append(f"  ⚑{unseen} new", style="bold reverse")
        else:
            part.append(f"  ⚑ {state.alerts_total}" + (" alerts" if wide else ""), style="dim")
    return part


def _counts_line(overview: StoreOverview, wide: bool) -> Text:
    line = Text(no_wrap=True, overflow="ellipsis", end="")
    line.append(f"{overview.total_patterns} patterns" if wide else f"{overview.total_patterns}")
    line.append(": ")
    parts = []
    for status, (glyph, short, word, style) in STATUS_LOOK.items():
        count = overview.status_counts.get(status, 0)
        parts.append(Text(f"{glyph} {word if wide else short} {count}",
                          style=style if count else "dim"))
    glyph, short, word, style = DRIFT_RETIRED
    parts.append(Text(f"{glyph} {word if wide else short} {overview.drift_retired}",
                      style=style if overview.drift_retired else "dim"))
    line.append_text(Text(" · ").join(parts))
    return line


def _unvouched(stored: str) -> Text:
    """"?abc": a stored value that is no number, marked as such (as the pattern list does)."""
    return Text.assemble(("?", "bold red"), (clean(stored, 8), "red reverse"), end="")


def _health_parts(overview: StoreOverview, wide: bool) -> list[Text]:
    """Budget, diversity, rate limits, escalations: each flags itself when it needs a look."""
    budget = Text(no_wrap=True, end="")
    budget.append("budget " if wide else "bud ")
    floor, ceiling = overview.budget_floor, overview.budget_ceiling
    if overview.budget_unvouched is not None:
        budget.append_text(_unvouched(overview.budget_unvouched))
    elif overview.budget is None:
        budget.append("–", style="dim")
    else:
        at_floor = overview.budget <= floor + 1e-9
        budget.append(f"{overview.budget:.2f}", style="bold yellow" if at_floor else "bold")
    budget.append(f" in {floor:.2f}–{ceiling:.2f}" if wide else f" [{floor:.2f}–{ceiling:.2f}]",
                  style="dim")
    if wide and overview.budget is not None and overview.budget <= floor + 1e-9:
        budget.append(" at floor", style="yellow")

    diversity = Text(no_wrap=True, end="")
    diversity.append("diversity " if wide else "div ")
    if overview.diversity_unvouched is not None:
        diversity.append_text(_unvouched(overview.diversity_unvouched))
    elif overview.diversity is None:
        diversity.append("–", style="dim")
    else:
        low = overview.diversity < overview.diversity_threshold
        diversity.append(f"{overview.diversity:.2f}", style="bold red" if low else "bold")
        if low:
            diversity.append(" ▼ low", style="bold red")
    diversity.append(f" (alert < {overview.diversity_threshold:.2f})" if wide
                     else f" ≥{overview.diversity_threshold:.2f}", style="dim")

    limits = Text(no_wrap=True, end="")
    count = overview.active_rate_limits
    limits.append(f"⏱ {count} rate limit{'' if count == 1 else 's'}" if wide
                  else f"⏱ limits {count}", style="bold yellow" if count else "dim")

    escalations = Text(no_wrap=True, end="")
    pending = overview.pending_escalations
    escalations.append(f"◌ {pending} awaiting an outcome" if wide else f"◌ awaiting {pending}",
                       style="bold yellow" if pending else "dim")
    return [budget, diversity, limits, escalations]


#: The fewest columns the store's location is given on the top line.
_LOCATION_MIN = 12


def _banners(state: HeaderState, wide: bool, detail: int, room: int) -> Text:
    """SNAPSHOT, READ-ONLY, a schema warning, then what happened since the operator looked.

    ``detail`` 3: all of it; 2: without the read-only reason; 1: the notes in short words;
    0: only what must stay (SNAPSHOT, READ-ONLY, unseen alerts). ``room``: the columns
    all of it should take; the schema warning gets what the others leave.
    """
    overview = state.overview
    banners = Text(no_wrap=True, end="")
    if state.immutable:
        banners.append("  SNAPSHOT: not live" if detail else "  SNAPSHOT",
                       style="bold black on yellow")
    if state.read_only or (overview is not None and overview.read_only):
        banners.append("  READ-ONLY", style="bold black on yellow")
        if wide and detail >= 3 and state.read_only_reason:
            banners.append(f": {clean(state.read_only_reason, 40)}",
                           style="bold black on yellow")
    banners.append_text(_notes_part(state, wide and detail >= 2, rows=detail > 0))
    if detail and overview is not None and overview.schema_warning:
        warning = clean(f"⚠ {overview.schema_warning}",
                        max(_LOCATION_MIN, room - banners.cell_len - 2))
        banners = Text.assemble(("  " + warning, "bold black on yellow"), banners)
    return banners


def _top_line(state: HeaderState, wide: bool, width: int) -> Text:
    """Title, location, banners and, at the right edge where the eye finds it, the
    live/paused state. When all of it does not fit, the banners give up detail step by
    step, the title goes, and last the banners are cut: the state and a short location
    always stay on the line."""
    status = _status_part(state, wide)
    free = width - status.cell_len - 2 - _LOCATION_MIN  # for the title and the banners
    for detail in (3, 2, 1, 0):
        banners = _banners(state, wide, detail, free)
        if banners.cell_len <= free:
            break
    else:
        banners.truncate(max(0, free), overflow="ellipsis")
    title = "Marianne store " if wide and banners.cell_len + 15 <= free else ""
    top = Text(no_wrap=True, overflow="ellipsis", end="")
    top.append(title, style="bold")
    location = state.overview.location if state.overview is not None else "…"
    room = width - len(title) - status.cell_len - banners.cell_len - 2
    top.append(short_location(location, max(_LOCATION_MIN, room)), style="italic")
    top.append_text(banners)
    top.append(" " * max(2, width - top.cell_len - status.cell_len))
    top.append_text(status)
    return top


def render_header(state: HeaderState, width: int) -> Text:
    """The header for a content ``width``: our own styles only, store text sanitised."""
    wide = width >= WIDE - 2  # the widget's padding takes 2 of the terminal's columns
    overview = state.overview
    top = _top_line(state, wide, width)

    if overview is None:
        lines = [top, Text("loading…", style="dim")]
    else:
        health = Text(" │ ", style="dim", end="").join(_health_parts(overview, wide))
        lines = [top, _counts_line(overview, wide), health]
    # One line each, whatever their length: a wrapped line would push the others out.
    joined = Text("\n", end="", no_wrap=True, overflow="ellipsis").join(lines)
    return joined


class StoreHeader(Widget):
    """Shows a StoreOverview; the app pushes new values after each poll."""

    DEFAULT_CSS = """
    StoreHeader {
        height: 3;
        background: $panel;
        color: $text;
        padding: 0 1;
    }
    """

    _state: HeaderState | None = None

    def show(
        self,
        overview: StoreOverview | None,
        *,
        live: bool,
        age_seconds: float | None,
        error: str | None = None,
        refresh_seconds: float = 2.0,
        read_only: bool = False,
        pushed: bool = False,
        read_only_reason: str | None = None,
        immutable: bool = False,
        activity: str | None = None,
        retry_seconds: float | None = None,
        alerts: tuple[int, int] = (0, 0),
        rows_moved: tuple[int, int] = (0, 0),
    ) -> None:
        """Repaint only when what is shown differs, so an idle console sends nothing."""
        # While live the age is not shown, so it must not make two states differ.
        age = spoken_age(age_seconds) if (error or not live) else ""
        state = HeaderState(overview, live, age, error, refresh_seconds, read_only, pushed,
                            read_only_reason, immutable, activity, retry_seconds,
                            alerts[0], alerts[1], rows_moved[0], rows_moved[1])
        if state == self._state:
            return
        self._state = state
        self.refresh()

    def render(self) -> Text:
        state = self._state or HeaderState(None, live=True)
        return render_header(state, self.size.width)

    def plain(self, width: int | None = None) -> str:
        """What the header says, as plain text (tests)."""
        state = self._state or HeaderState(None, live=True)
        return render_header(state, width or self.size.width).plain
