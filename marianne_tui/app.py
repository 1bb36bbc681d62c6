"""The console: five screens over one store, a live poll loop, global keys.

Polling (see shared/docs/textual-engineering.md, B.5-B.7): a chained timer starts one thread
worker at a time; the worker asks the store's cheap change probe first and reads the current
screen's data only when something changed. Results are applied on the UI thread, never while
a dialog is open (the change is then applied when the dialog closes). With ``poll=False``
(tests, snapshots, screenshots) there are no timers and refreshes run synchronously, so
nothing depends on the clock.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from marianne_tui.config import ConsoleConfig
from marianne_tui.contract import ConsoleHost
from marianne_tui.screens.base import StoreScreen
from marianne_tui.screens.budget import BudgetScreen
from marianne_tui.screens.drift import DriftScreen
from marianne_tui.screens.escalations import EscalationsScreen
from marianne_tui.screens.patterns import PatternsScreen
from marianne_tui.screens.rate_limits import RateLimitsScreen
from marianne_tui.widgets.store_header import StoreHeader
from store import GlobalLearningStore, StoreOverview

#: Mode name -> screen class, in the order of the 1-5 keys.
SCREENS: dict[str, type[StoreScreen]] = {
    "patterns": PatternsScreen,
    "drift": DriftScreen,
    "budget": BudgetScreen,
    "escalations": EscalationsScreen,
    "rate_limits": RateLimitsScreen,
}


@dataclass(frozen=True)
class Snapshot:
    """What one poll read: the probe value, the header's numbers, the screen's data."""

    token: int
    overview: StoreOverview
    screen: StoreScreen
    data: Any


class MarianneApp(App[None]):
    """marianne-tui. Its screens and dialogs see it as a ``ConsoleHost``."""

    TITLE = "marianne-tui"
    MODES = dict(SCREENS)  # noqa: RUF012 - Textual reads this class attribute
    DEFAULT_MODE = "patterns"

    BINDINGS = [  # noqa: RUF012
        Binding("1", "switch_mode('patterns')", "Patterns", show=False),
        Binding("2", "switch_mode('drift')", "Drift", show=False),
        Binding("3", "switch_mode('budget')", "Budget", show=False),
        Binding("4", "switch_mode('escalations')", "Escalations", show=False),
        Binding("5", "switch_mode('rate_limits')", "Rate limits", show=False),
        Binding("space", "refresh_now", "Refresh now", show=False),
        Binding("p", "toggle_pause", "Pause / resume live refresh", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("colon", "command_line", "Command line", show=False),
    ]

    HORIZONTAL_BREAKPOINTS = [(0, "-tiny"), (80, "-normal"), (120, "-wide")]  # noqa: RUF012
    VERTICAL_BREAKPOINTS = [(0, "-short"), (24, "-tall")]  # noqa: RUF012

    def __init__(
        self,
        store: GlobalLearningStore,
        *,
        refresh_seconds: float = 2.0,
        read_only: bool = False,
        poll: bool = True,
        config: ConsoleConfig | None = None,
    ) -> None:
        super().__init__()
        #: The configuration file's settings (alert rules, stale age, bell, saved views...).
        self.config = config or ConsoleConfig()
        if self.config.theme is not None:
            self.theme = self.config.theme
        self.command_history: list[str] = []
        self.store = store
        self.refresh_seconds = refresh_seconds
        self.read_only = read_only or store.read_only
        self.poll_enabled = poll
        self.paused = False
        self.overview: StoreOverview | None = None
        self.last_error: str | None = None
        self._seen_token: int | None = None
        self._last_success: float | None = None
        self._poll_timer: Timer | None = None
        self._age_timer: Timer | None = None
        self._poll_in_flight = False
        self._force_next = False

    # -- lifecycle ----------------------------------------------------------------------

    def on_mount(self) -> None:
        if self.poll_enabled:
            # Ticks only while the age is shown (paused or failing): see _update_age_timer.
            self._age_timer = self.set_interval(1.0, self._tick_age, pause=True)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The command palette (ctrl+p) also switches screens, refreshes and pauses."""
        for number, (mode, screen_class) in enumerate(SCREENS.items(), start=1):
            title = screen_class.TITLE_TEXT or mode.replace("_", " ").capitalize()
            yield SystemCommand(
                title, f"Show the {title} screen (key {number})", partial(self.switch_mode, mode)
            )
        yield SystemCommand("Refresh now", "Read the store now (space)", self.action_refresh_now)
        yield SystemCommand(
            "Pause / resume", "Stop or restart live refresh (p)", self.action_toggle_pause
        )
        yield SystemCommand("Keys", "Every key of this screen (?)", self.action_help)
        yield from super().get_system_commands(screen)

    # -- refresh ------------------------------------------------------------------------

    def request_refresh(self, *, force: bool = False, screen: StoreScreen | None = None) -> None:
        """Refresh ``screen`` (default: the current one) soon; now, when polling is off.

        A screen being resumed passes itself: during a mode switch the screen stack may
        still show the screen being left.
        """
        if not self.poll_enabled:
            self.refresh_now_sync(force=force, screen=screen)
            return
        self._force_next = self._force_next or force
        if not self._poll_in_flight:
            self._start_poll(screen)

    def refresh_now_sync(self, *, force: bool = False, screen: StoreScreen | None = None) -> bool:
        """Probe, fetch and apply on the calling (UI) thread; True if something was applied.

        Used when polling is off (tests drive the console with it, no sleeps).
        """
        screen = screen or self._store_screen()
        if screen is None:
            return False
        try:
            snapshot = self._read(screen, screen.query_params(), force=force)
        except Exception as error:  # any store failure is shown, not raised
            self._show_error(error)
            return False
        if snapshot is None:
            self._mark_checked()
            return False
        return self._apply(snapshot)

    def _store_screen(self) -> StoreScreen | None:
        """The screen under any dialogs, if it is one of ours."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, StoreScreen):
                return screen
        return None

    def _dialog_open(self) -> bool:
        return isinstance(self.screen, ModalScreen)

    def _start_poll(self, screen: StoreScreen | None = None) -> None:
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None
        screen = screen or self._store_screen()
        if screen is None or self._dialog_open():
            self._schedule_next_poll()
            return
        force = self._force_next
        self._force_next = False
        self._poll_in_flight = True
        self._poll_worker(screen, screen.query_params(), force)

    def _schedule_next_poll(self) -> None:
        # Paused: the chain stops here; resuming (or space) starts it again.
        if self.poll_enabled and not self.paused and self._poll_timer is None:
            self._poll_timer = self.set_timer(self.refresh_seconds, self._on_poll_timer)

    def _on_poll_timer(self) -> None:
        self._poll_timer = None
        if self.paused or self._poll_in_flight:
            # Paused: nothing is scheduled; in flight: the worker's end chains the next poll.
            return
        self._start_poll()

    @work(thread=True, group="poll", exit_on_error=False)
    def _poll_worker(self, screen: StoreScreen, params: Any, force: bool) -> None:
        try:
            snapshot = self._read(screen, params, force=force)
        except Exception as error:  # shown in the header, never raised
            self.call_from_thread(self._show_error, error)
            return
        if snapshot is None:
            self.call_from_thread(self._mark_checked)
        else:
            self.call_from_thread(self._apply, snapshot)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Chain the next poll after this one finishes: polls never overlap.
        if event.worker.group != "poll" or event.state not in (
            WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED
        ):
            return
        self._poll_in_flight = False
        if self._force_next:
            self._start_poll()
        else:
            self._schedule_next_poll()

    def _read(self, screen: StoreScreen, params: Any, *, force: bool) -> Snapshot | None:
        token = self.store.change_token()
        if not force and token == self._seen_token and screen.has_data:
            return None
        overview = self.store.store_overview()
        data = screen.fetch(self.store, params)
        return Snapshot(token, overview, screen, data)

    def _apply(self, snapshot: Snapshot) -> bool:
        if self._dialog_open() or not snapshot.screen.is_attached:
            # Never change a table under a dialog; the next poll re-reads it.
            self._force_next = True
            return False
        self.overview = snapshot.overview
        self.last_error = None
        self._seen_token = snapshot.token
        self._mark_checked()
        snapshot.screen.has_data = True
        snapshot.screen.apply(snapshot.data)
        return True

    def _mark_checked(self) -> None:
        self._last_success = time.monotonic()
        self.last_error = None
        self._update_age_timer()
        self._refresh_header()

    def _show_error(self, error: BaseException) -> None:
        # First line only: a driver's message can span many lines; the header has one.
        message = (str(error).strip().splitlines() or [""])[0]
        self.last_error = f"{type(error).__name__}: {message}"
        self._update_age_timer()
        self._refresh_header()

    def _update_age_timer(self) -> None:
        """Tick the header's age only while it is shown: when paused or failing."""
        if self._age_timer is None:
            return
        if self.paused or self.last_error:
            self._age_timer.resume()
        else:
            self._age_timer.pause()

    def _age_seconds(self) -> float | None:
        if self._last_success is None:
            return None
        if not self.poll_enabled:
            return 0.0
        return time.monotonic() - self._last_success

    def _tick_age(self) -> None:
        self._refresh_header()

    def _refresh_header(self) -> None:
        screen = self._store_screen()
        if screen is not None:
            self.show_header_on(screen)

    def show_header_on(self, screen: Screen[Any]) -> None:
        for header in screen.query(StoreHeader):
            header.show(
                self.overview,
                live=not self.paused,
                age_seconds=self._age_seconds(),
                error=self.last_error,
                refresh_seconds=self.refresh_seconds,
                read_only=self.read_only,
            )

    # -- actions ------------------------------------------------------------------------

    def action_refresh_now(self) -> None:
        self.request_refresh(force=True)

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if self.paused and self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None
        self._update_age_timer()
        self.notify("Paused: press p to resume" if self.paused else "Live again")
        self._refresh_header()
        if not self.paused:
            self.request_refresh(force=True)

    def action_command_line(self) -> None:
        from marianne_tui.commands import CommandRunner
        from marianne_tui.modals.command_line import CommandLineScreen

        if self._store_screen() is None or self._dialog_open():
            return

        def run(line: str | None) -> None:
            if line:
                self.call_later(CommandRunner(self).run, line)

        self.push_screen(CommandLineScreen(self.config.views, self.command_history), run)

    def action_copy_id(self) -> None:
        """Copy the id of the row under the cursor (OSC 52: works over SSH and tmux)."""
        from marianne_tui.text import clean
        from marianne_tui.widgets.live_table import LiveTable

        screen = self._store_screen()
        tables = screen.query(LiveTable) if screen is not None else None
        key = tables.first().cursor_key if tables else None
        if key is None:
            self.notify("No row under the cursor to copy", severity="warning")
            return
        self.copy_to_clipboard(key)
        self.notify(f"Copied {clean(key, 60)} (if the terminal allows OSC 52 clipboard writes)",
                    markup=False)

    def set_refresh_seconds(self, seconds: float) -> None:
        """Poll every ``seconds`` from now on (the next poll is rescheduled)."""
        self.refresh_seconds = seconds
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None
            self._schedule_next_poll()
        self._refresh_header()

    def make_read_only(self) -> None:
        """No key writes from now until the console closes (there is no way back)."""
        self.read_only = True
        self.refresh_bindings()
        self._refresh_header()
        self.request_refresh(force=True)

    def action_help(self) -> None:
        from marianne_tui.modals.help import HelpScreen

        screen = self._store_screen()
        if screen is not None and not self._dialog_open():
            self.push_screen(HelpScreen(screen))


if TYPE_CHECKING:

    def _keeps_the_contract(app: MarianneApp) -> ConsoleHost:
        return app  # mypy checks here that the app gives screens what they rely on
