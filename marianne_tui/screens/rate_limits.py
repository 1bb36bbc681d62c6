"""Rate limits: the store's active rate-limit events, each with a live countdown to expiry.

The store's events are written in UTC, so the countdown is computed against
``store.clock.utc()``. Expiry changes nothing in the database (the change probe stays
quiet), so a 1 s UI timer, running only while this screen is shown and limits exist,
updates the countdown cells and drops rows as they expire; each expiry also asks for a
forced refresh so the header's count follows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import Static

from marianne_tui.formatting import countdown, duration, stamp_near
from marianne_tui.modals.confirm import ConfirmScreen
from marianne_tui.screens.base import StoreScreen
from marianne_tui.text import clean, untrusted
from marianne_tui.widgets.live_table import Column, LiveTable, Row
from marianne_tui.widgets.status_line import StatusLine

if TYPE_CHECKING:
    from store import GlobalLearningStore, RateLimitEvent

#: More than any store should hold at once; the screen shows how many are not listed.
FETCH_LIMIT = 500

# The countdown, what is limited and when it ends first: all visible at 80 columns.
COLUMNS = (
    Column("remaining", "Expires in", 10, ticking=True),
    Column("error_code", "Error code", 12),
    Column("model", "Model", 14),
    Column("job", "Job hash", 8),
    Column("expires", "Expires UTC", 11),
    Column("recorded", "Recorded UTC", 12),
    Column("duration", "Duration", 8),
)

CONDUCTOR_NOTE = (
    "These are the learning store's limits. The conductor keeps its own rate-limit state: "
    "[b]mzt clear-rate-limits[/b] clears the conductor's, not these."
)


class RateLimitsScreen(StoreScreen):
    """Active store rate limits (key 5)."""

    TITLE_TEXT = "Rate limits"
    WRITE_ACTIONS = frozenset({"cleanup_expired"})
    READ_ONLY_NOTICE = "cleanup is disabled"

    BINDINGS = [  # noqa: RUF012
        Binding("c", "cleanup_expired", "Clean up expired"),
        Binding("y", "app.copy_id", "Copy id", show=False),
    ]

    DEFAULT_CSS = """
    RateLimitsScreen #rl-note { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._events: tuple[RateLimitEvent, ...] = ()
        self._timer: Timer | None = None

    # -- layout -------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        yield StatusLine(id="rl-status")
        yield LiveTable(COLUMNS, id="rl-table")
        yield Static(CONDUCTOR_NOTE, id="rl-note")

    @property
    def table(self) -> LiveTable:
        return self.query_one("#rl-table", LiveTable)

    # -- refresh protocol ---------------------------------------------------------------

    def fetch(self, store: GlobalLearningStore, params: object) -> list[RateLimitEvent]:
        return store.get_active_rate_limits(limit=FETCH_LIMIT)

    def apply(self, data: Sequence[RateLimitEvent]) -> None:
        self._events = tuple(data)
        self.tick()

    def tick(self) -> None:
        """Recompute the countdowns against the store's UTC clock; drop expired rows.

        Called by the 1 s timer (and directly by tests, which move a frozen clock).
        """
        now = self.host.store.clock.utc()
        live = tuple(event for event in self._events if event.expires_at > now)
        expired = len(live) < len(self._events)
        self._events = live
        self.table.apply([self._row(event, now) for event in live])
        self._show_status(now)
        self._sync_timer()
        if expired:
            # The store did not change, so the probe would not refresh the header's count.
            self.host.request_refresh(force=True)

    def _row(self, event: RateLimitEvent, now: datetime) -> Row:
        remaining = (event.expires_at - now).total_seconds()
        style = "bold yellow" if remaining < 60 else ""
        return Row(
            event.id,
            (
                Text(f"⏳ {countdown(remaining)}", style=style, no_wrap=True),
                untrusted(event.error_code),
                untrusted(event.model or "(any model)"),
                untrusted(event.source_job_hash, 8),
                Text(stamp_near(event.expires_at, now), no_wrap=True),
                Text(stamp_near(event.recorded_at, now), no_wrap=True),
                Text(duration(event.duration_seconds), no_wrap=True),
            ),
        )

    def _show_status(self, now: datetime) -> None:
        status = Text(no_wrap=True, overflow="ellipsis")
        count = len(self._events)
        if count:
            status.append(f"⚠ {count} active rate limit{'s' if count != 1 else ''}",
                          style="bold yellow")
            status.append(" · rows leave the list as they expire")
        elif self.read_error is not None and not self.has_data:
            status.append(f"✖ could not read the store ({clean(self.read_error, 60)})",
                          style="bold red")
        else:
            status.append("✓ No active rate limits in the store", style="green")
        status.append(f" · now {now.strftime('%H:%M:%S')} UTC", style="dim")
        if count >= FETCH_LIMIT:
            status.append(f" · first {FETCH_LIMIT} shown", style="dim")
        if self.host.read_only:
            status.append(" · read-only: cleanup disabled", style="yellow")
        self.query_one("#rl-status", StatusLine).show(status)

    # -- the countdown timer (only while shown, only while there is something to count) --

    def _sync_timer(self) -> None:
        wanted = bool(self._events) and self.host.poll_enabled and self.is_current
        if wanted and self._timer is None:
            self._timer = self.set_interval(1.0, self.tick)
        elif not wanted and self._timer is not None:
            self._timer.stop()
            self._timer = None

    def on_screen_suspend(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self.has_data:
            self.tick()

    # -- cleanup of expired rows (a write) ------------------------------------------------

    def action_cleanup_expired(self) -> None:
        self.app.push_screen(
            ConfirmScreen(
                "Clean up expired rate limits?",
                Text("cleanup_expired_rate_limits() deletes every store rate-limit event "
                     "whose expiry has passed. Active limits are kept."),
                {"expired events": "in the store"},
                {"expired events": "deleted"},
                warnings=["Deleted rows cannot be restored (u does not undo this)."],
                yes_label="Delete (y)",
            ),
            self._cleanup_confirmed,
        )

    def _cleanup_confirmed(self, confirmed: bool | None) -> None:
        if not confirmed:
            return
        store = self.host.store

        def done(deleted: int) -> None:
            self.notify(
                f"Deleted {deleted} expired rate-limit event{'s' if deleted != 1 else ''}",
                markup=False,
            )
            self.host.request_refresh(force=True)

        self.host.run_store(store.cleanup_expired_rate_limits, done, label="Cleanup",
                            write=True)
