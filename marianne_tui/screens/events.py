"""Events: every alert since the console opened, newest first (key 6).

The app detects alerts after each refresh (``marianne_tui.alerts``) and keeps them in its
``AlertLog``; this screen only shows that log, so it never reads the store itself. `enter`
jumps to the alert's row on its own screen (a pattern not listed there opens its detail
view); `/` filters the list as you type. Showing the screen marks the alerts as seen (the
header's counter of new alerts goes back to none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable

from marianne_tui.alerts import Alert
from marianne_tui.formatting import stamp_near
from marianne_tui.screens.filtered import ListFilterMixin
from marianne_tui.text import clean, untrusted
from marianne_tui.widgets.filter_bar import FILTER_BINDING, text_matches
from marianne_tui.widgets.live_table import Column, LiveTable, Row
from marianne_tui.widgets.status_line import StatusLine

if TYPE_CHECKING:
    from store import GlobalLearningStore

COLUMNS = (
    Column("time", "Time", 8),
    Column("kind", "Kind", 18),
    Column("subject", "Subject", 22),
    Column("detail", "What happened", 50),
    Column("where", "Row on", 11),
)

#: Mode -> how the Row on column names it.
SCREEN_WORDS = {
    "patterns": "1 Patterns", "drift": "2 Drift", "budget": "3 Budget",
    "escalations": "4 Escalat.", "rate_limits": "5 Limits",
}


def alert_cells(alert: Alert, now: Any) -> tuple[Text, ...]:
    mark = "⚠" if alert.warning else "✓"
    return (
        Text(stamp_near(alert.at, now), no_wrap=True),
        Text(f"{mark} {alert.kind.value}", style="bold" if alert.warning else "",
             no_wrap=True, overflow="ellipsis"),
        untrusted(alert.subject),
        untrusted(alert.detail),
        Text(SCREEN_WORDS.get(alert.screen, alert.screen), style="dim", no_wrap=True),
    )


class EventsScreen(ListFilterMixin):
    """The alert log (key 6)."""

    TITLE_TEXT = "Events"
    AUTO_FOCUS = "#events-table"

    BINDINGS = [  # noqa: RUF012
        Binding("enter", "jump", "Jump to row"),
        FILTER_BINDING,
        Binding("y", "copy_subject_id", "Copy the subject's id", show=False),
    ]

    DEFAULT_CSS = """
    EventsScreen #events-bar { height: 1; }
    EventsScreen #events-filter { width: 24; }
    EventsScreen #events-status { width: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._alerts: dict[str, Alert] = {}

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="events-bar"):
            yield self.filter_input("/ filter kind, subject…", id="events-filter",
                                    return_to="events-table")
            yield StatusLine(id="events-status")
        yield LiveTable(COLUMNS, id="events-table")

    @property
    def table(self) -> LiveTable:
        return self.query_one("#events-table", LiveTable)

    # -- refresh protocol: nothing to read, the log is the app's ---------------------------

    def fetch(self, store: GlobalLearningStore, params: object) -> None:
        return None

    def apply(self, data: object) -> None:
        self.show_alerts()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.show_alerts()

    def show_alerts(self) -> None:
        """Show the log as it is now (the app calls this when alerts arrive)."""
        log = self.host.alert_log
        log.seen()
        self.host.show_header_on(self)
        now = self.host.store.clock.local()
        rows = []
        self._alerts = {}
        for serial, alert in log.numbered():
            if not text_matches(self.filter_text, (alert.kind.value, alert.subject,
                                                   alert.detail, alert.key)):
                continue
            key = str(serial)
            self._alerts[key] = alert
            rows.append(Row(key, alert_cells(alert, now)))
        self.table.apply(rows)
        self._show_status(len(log), len(rows))

    def _show_status(self, total: int, shown: int) -> None:
        status = Text(no_wrap=True, overflow="ellipsis")
        if not total:
            status.append("✓ No alerts since the console opened", style="green")
            status.append(" · the first refresh is the baseline", style="dim")
        else:
            status.append(f"⚑ {total} alert{'s' if total != 1 else ''} since the console "
                          "opened", style="bold")
            if shown != total:
                status.append(f" · {shown} match the filter")
            status.append(" · enter jumps to the row", style="dim")
        self.query_one("#events-status", StatusLine).show(status)

    def filter_changed(self, text: str) -> None:
        self.show_alerts()

    def action_copy_subject_id(self) -> None:
        """Copy the id of the alert's row (a pattern, escalation or rate limit), OSC 52."""
        alert = self._alerts.get(self.table.cursor_key or "")
        if alert is None or alert.key is None:
            self.notify("This alert has no row id to copy", severity="warning")
            return
        self.app.copy_to_clipboard(alert.key)
        self.notify(f"Copied {clean(alert.key, 60)} (if the terminal allows OSC 52 clipboard "
                    "writes)", markup=False)

    # -- jump ---------------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_jump()

    def action_jump(self) -> None:
        alert = self._alerts.get(self.table.cursor_key or "")
        if alert is None:
            self.notify("No alert under the cursor", severity="warning")
            return
        self.app.run_worker(self._jump(alert), group="jump", exclusive=True)

    async def _jump(self, alert: Alert) -> None:
        from marianne_tui.modals.pattern_detail import PatternDetailScreen

        app = self.app
        await app.switch_mode(alert.screen)
        if alert.key is None:
            return
        screen = app.screen
        tables = screen.query(LiveTable)
        if tables and tables.first().select_key(alert.key):
            tables.first().focus()
            return
        if alert.screen in ("patterns", "drift"):
            # Not on the list as filtered and paged now: its detail view shows it anyway.
            app.push_screen(PatternDetailScreen(alert.key))
            return
        self.notify(clean(f"{alert.subject} is no longer listed on {alert.screen}", 120),
                    markup=False)
