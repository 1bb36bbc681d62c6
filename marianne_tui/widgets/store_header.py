"""The header on every screen: where the store is and whether anything needs the operator."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from marianne_tui.text import clean
from store import StoreOverview

_STATUS_STYLES = {
    "pending": "",
    "quarantined": "bold red",
    "validated": "green",
    "retired": "dim",
}


def describe_age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 2:
        return "just now"
    if seconds < 120:
        return f"{int(seconds)} s ago"
    return f"{int(seconds // 60)} min ago"


def render_header(
    overview: StoreOverview | None,
    *,
    live: bool,
    age_seconds: float | None,
    error: str | None = None,
) -> Text:
    """Two lines of header text; our own styles only, store text sanitised."""
    top = Text(no_wrap=True, overflow="ellipsis")
    top.append("Marianne learning store ", style="bold")
    if overview is not None:
        top.append(clean(overview.location, 60), style="italic")
        if overview.read_only:
            top.append("  READ-ONLY", style="bold yellow")
        if overview.schema_warning:
            top.append(f"  ⚠ {clean(overview.schema_warning)}", style="bold yellow")
    top.append("  ")
    if error:
        top.append(f"✖ {clean(error)}", style="bold red")
    elif live:
        top.append("● live", style="bold green")
    else:
        top.append("⏸ paused", style="bold yellow")
    top.append(f" · updated {describe_age(age_seconds)}", style="dim")

    bottom = Text(no_wrap=True, overflow="ellipsis")
    if overview is None:
        bottom.append("loading…", style="dim")
        return Text("\n").join([top, bottom])
    bottom.append(f"{overview.total_patterns} patterns: ")
    parts = []
    for status in ("pending", "quarantined", "validated", "retired"):
        count = overview.status_counts.get(status, 0)
        parts.append(Text(f"{status} {count}", style=_STATUS_STYLES[status] if count else ""))
    parts.append(Text(f"drift-retired {overview.drift_retired}", style="dim italic"))
    bottom.append_text(Text(" · ").join(parts))
    bottom.append(" │ budget ")
    if overview.budget is None:
        bottom.append("–")
    else:
        bottom.append(f"{overview.budget:.2f}")
    bottom.append(f" [{overview.budget_floor:.2f}–{overview.budget_ceiling:.2f}]", style="dim")
    bottom.append(" │ diversity ")
    if overview.diversity is None:
        bottom.append("–")
    else:
        low = overview.diversity < overview.diversity_threshold
        bottom.append(f"{overview.diversity:.2f}", style="bold red" if low else "")
    bottom.append(f" (≥{overview.diversity_threshold:.2f})", style="dim")
    bottom.append(" │ rate limits ")
    bottom.append(str(overview.active_rate_limits),
                  style="bold yellow" if overview.active_rate_limits else "")
    bottom.append(" │ escalations awaiting outcome ")
    bottom.append(str(overview.pending_escalations),
                  style="bold yellow" if overview.pending_escalations else "")
    return Text("\n").join([top, bottom])


class StoreHeader(Static):
    """Shows a StoreOverview; the app pushes new values after each poll."""

    DEFAULT_CSS = """
    StoreHeader {
        height: 2;
        background: $panel;
        color: $text;
        padding: 0 1;
    }
    """

    _shown: Text | None = None

    def show(self, overview: StoreOverview | None, *, live: bool, age_seconds: float | None,
             error: str | None = None) -> None:
        """Repaint only when the text differs, so an idle console sends nothing."""
        rendered = render_header(overview, live=live, age_seconds=age_seconds, error=error)
        if rendered == self._shown:
            return
        self._shown = rendered
        self.update(rendered)
