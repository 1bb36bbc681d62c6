"""The console: five screens over one store, a live poll loop, global keys.

Polling (see shared/docs/textual-engineering.md, B.5-B.7): a chained timer starts one thread
worker at a time; the worker asks the store's cheap change probe first and reads the current
screen's data only when something changed. Results are applied on the UI thread, never while
a dialog is open (the change is then applied when the dialog closes). On PostgreSQL a watcher
thread waits for the store's change push (LISTEN/NOTIFY) and starts a poll the moment any
host commits; the timer's poll is then only a fallback, every PUSH_FALLBACK_SECONDS at
most often, for as long as the push session listens. With ``poll=False``
(tests, snapshots, screenshots) there are no timers and refreshes run synchronously, so
nothing depends on the clock.

Alerts: after a poll that found the store changed, the same worker reads the store's watch
snapshot (``store.watch``) and the UI thread compares it with the previous one
(``marianne_tui.alerts``): toasts, the header's counter, the Events screen. The first watch
read (a cold drift report, seconds of CPU on a large store) waits for the first paint, so
that it does not slow it down.

Screens composed ahead: a screen's first compose (its widgets, their styles, the CSS of
widget types not seen yet) blocks the UI thread for 50-100 ms, more under load. So after the
first paint the live console composes every other screen, one at a time with pauses between
(``_compose_ahead``), and keeps them all (Textual keeps a mode's screen once made): a screen
key then only shows a screen that is already there.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState, get_current_worker

from marianne_tui.alerts import Alert, AlertLog, detect_alerts
from marianne_tui.component_styles import install as install_component_styles_keeping_nodes
from marianne_tui.config import ConsoleConfig
from marianne_tui.contract import ConsoleHost
from marianne_tui.screens.base import StoreScreen
from marianne_tui.screens.budget import BudgetScreen
from marianne_tui.screens.drift import DriftScreen
from marianne_tui.screens.escalations import EscalationsScreen
from marianne_tui.screens.events import EventsScreen
from marianne_tui.screens.journal import JournalScreen
from marianne_tui.screens.patterns import PatternsScreen
from marianne_tui.screens.rate_limits import RateLimitsScreen
from marianne_tui.store_calls import StoreCalls, short_failure
from marianne_tui.text import clean
from marianne_tui.textual_garbage import install as install_textual_garbage_fixes
from marianne_tui.widgets.live_table import LiveTable, showing_changes
from marianne_tui.widgets.store_header import StoreHeader
from store import GlobalLearningStore, StoreOverview, WatchSnapshot

# Before any strip is made or any CSS applied: see marianne_tui.textual_garbage and
# marianne_tui.component_styles.
install_textual_garbage_fixes()
install_component_styles_keeping_nodes()

T = TypeVar("T")
LiveTableRow = tuple["LiveTable", str]

#: After failed polls the next one waits longer, doubling up to this (seconds).
MAX_RETRY_SECONDS = 30.0

#: Mode name -> screen class, in the order of the 1-7 keys.
SCREENS: dict[str, type[StoreScreen]] = {
    "patterns": PatternsScreen,
    "drift": DriftScreen,
    "budget": BudgetScreen,
    "escalations": EscalationsScreen,
    "rate_limits": RateLimitsScreen,
    "events": EventsScreen,
    "journal": JournalScreen,
}
#: More alerts than this in one refresh are told in one toast (the Events screen has all).
TOASTS_PER_REFRESH = 3
#: The first watch read waits at most this long for the first paint (it may never come, e.g.
#: when a dialog was open; the alerts must start anyway).
FIRST_PAINT_WAIT_SECONDS = 5.0
#: Composing screens ahead: the UI loop is left to keys, paints and polls this long between
#: two steps (a step composes one screen).
COMPOSE_AHEAD_PAUSE_SECONDS = 0.05
#: ...and waits at most this long for one screen to be mounted before it goes on.
COMPOSE_AHEAD_MOUNT_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class Snapshot:
    """What one poll read: the probe value, the header's numbers, the screen's data."""

    token: int
    overview: StoreOverview
    screen: StoreScreen
    data: Any
    #: the screen's query parameters the data was read with
    params: Any = None


#: With change push, the timer's poll is only the fallback: at most this often. Short
#: enough that a server gone away shows within seconds even when the push session does
#: not see it go (the probe it runs is one cheap SELECT).
PUSH_FALLBACK_SECONDS = 5.0
#: How long the push watcher waits at a time before it checks whether to stop.
PUSH_WAIT_SECONDS = 1.0
#: After waking the console, the push watcher lets this long pass before it wakes it again:
#: commits meanwhile are one wake. A conductor commits all the time; woken for each (the
#: soak's 250 a second), the console handled ~225 wakes a second, each a message to the UI
#: loop, for polls that cannot run that often anyway.
PUSH_SPACING_SECONDS = 0.25


class MarianneApp(App[None]):
    """marianne-tui. Its screens and dialogs see it as a ``ConsoleHost``."""

    TITLE = "marianne-tui"
    # Each mode's screen is an installed screen of the same name: Textual makes it on first
    # use and keeps it, so a screen composed ahead (_compose_ahead) is the one its key shows.
    SCREENS = dict(SCREENS)  # noqa: RUF012 - Textual reads these class attributes
    MODES = {mode: mode for mode in SCREENS}  # noqa: RUF012
    DEFAULT_MODE = "patterns"

    BINDINGS = [  # noqa: RUF012
        Binding("1", "switch_mode('patterns')", "Patterns", show=False),
        Binding("2", "switch_mode('drift')", "Drift", show=False),
        Binding("3", "switch_mode('budget')", "Budget", show=False),
        Binding("4", "switch_mode('escalations')", "Escalations", show=False),
        Binding("5", "switch_mode('rate_limits')", "Rate limits", show=False),
        Binding("6", "switch_mode('events')", "Events (alerts)", show=False),
        Binding("7", "switch_mode('journal')", "Journal (operator actions)", show=False),
        Binding("space", "refresh_now", "Refresh now", show=False),
        Binding("p", "toggle_pause", "Pause / resume live refresh", show=False),
        Binding("question_mark", "help", "Help"),
        # Lowest priority: a dialog's or a filter's own escape comes first.
        Binding("escape", "cancel_store_call", "Cancel saving", show=False),
        Binding("colon", "command_line", "Command line", show=False),
        # Offered only on a snapshot (check_action).
        Binding("R", "reread_snapshot", "Reread snapshot"),
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
        compose_ahead: bool | None = None,
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
        self._poll_again = False
        #: polls failed in a row (the next one waits longer: see _next_poll_delay)
        self.failed_polls = 0
        self.store_calls = StoreCalls(self, threaded=poll, on_activity=self._refresh_header)
        #: alerts (marianne_tui.alerts): the last watch snapshot and the token it was read at
        self.alert_log = AlertLog()
        self._watch: WatchSnapshot | None = None
        self._watch_token: int | None = None
        #: mark changed cells and arrived rows (off with polling off: tests turn it on)
        self.show_changes = poll
        #: id(screen) -> (token, params) of its last applied refresh
        self._applied: dict[int, tuple[int, Any]] = {}
        self._heap_frozen = False
        #: holds full garbage collections while the operator types (after the first paint)
        self._gc_pacer: Any = None
        #: compose the other screens after the first paint (default: when polling, i.e. the
        #: live console; tests without polling compose a screen when it is first shown)
        self.compose_ahead = poll if compose_ahead is None else compose_ahead
        self._first_outcome_seen = False
        #: set at the first paint after the first read (the first watch read waits for it)
        self._first_paint = threading.Event()

    # -- lifecycle ----------------------------------------------------------------------

    def on_mount(self) -> None:
        if self.poll_enabled:
            # Ticks only while the age is shown (paused or failing): see _update_age_timer.
            self._age_timer = self.set_interval(1.0, self._tick_age, pause=True)
            if self.store.change_push_available:
                self._watch_changes()
        self._tell_read_only()

    async def on_event(self, event: Any) -> None:
        if self._gc_pacer is not None:
            self._gc_pacer.seen(event)
        await super().on_event(event)

    def on_unmount(self) -> None:
        # The frozen heap is collectable again (matters to a process that runs many apps).
        if self._heap_frozen:
            gc.unfreeze()
        if self._gc_pacer is not None:
            self._gc_pacer.release()
        self._first_paint.set()  # a poll worker still waiting for it goes on

    def _tell_read_only(self) -> None:
        """Why the store is read-only, whole (the header has room for a few words)."""
        reason = getattr(self.store, "read_only_reason", None)
        if getattr(self.store, "immutable_view", False):
            self.notify(
                "The store is read as a snapshot: changes other processes make are not "
                "shown until you press R to reread it (the folder is not writable, so "
                "SQLite cannot share its -shm file).",
                title="Snapshot", severity="warning", markup=False, timeout=15,
            )
        elif self.read_only and reason:
            self.notify(clean(f"The store is open read-only: {reason}. Keys that write "
                              "are hidden.", 300),
                        title="Read-only", markup=False, timeout=10)

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
        if self._poll_in_flight:
            # That poll may have read the store before what asked for this: once more.
            self._poll_again = True
        else:
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
            self._show_error(error, screen)
            return False
        if snapshot is None:
            self._mark_checked()
            return False
        applied = self._apply(snapshot)
        try:
            watch = self._read_watch(snapshot)
        except Exception as error:
            self._show_error(error, screen)
            return applied
        if watch is not None:
            self._apply_watch(snapshot.token, watch)
        return applied

    def _read_watch(self, snapshot: Snapshot) -> WatchSnapshot | None:
        """What alerts compare, read only when the store moved since the last read."""
        if snapshot.token == self._watch_token:
            return None
        return self.store.watch_snapshot(self._watch, snapshot.overview)

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
            self._poll_timer = self.set_timer(self.next_poll_delay(), self._on_poll_timer)

    def next_poll_delay(self) -> float:
        """The refresh interval (a longer fallback while commits are pushed); after failures
        it doubles each time, up to 30 s."""
        if not self.failed_polls:
            return self._poll_interval()
        backoff = self.refresh_seconds * 2.0 ** (self.failed_polls - 1)
        return max(self.refresh_seconds, min(MAX_RETRY_SECONDS, backoff))

    def _poll_interval(self) -> float:
        if self._pushed():
            return max(self.refresh_seconds, PUSH_FALLBACK_SECONDS)
        return self.refresh_seconds

    def _pushed(self) -> bool:
        return self.poll_enabled and self.store.change_push_active

    @work(thread=True, group="push", exit_on_error=False)
    def _watch_changes(self) -> None:
        """Start a poll as soon as any host commits (PostgreSQL's NOTIFY), until the end."""
        worker = get_current_worker()
        while not worker.is_cancelled:
            was_pushed = self.store.change_push_active
            try:
                changed = self.store.wait_for_change(PUSH_WAIT_SECONDS)
            except Exception:  # never the app's fatal path: the timer's poll goes on
                time.sleep(PUSH_WAIT_SECONDS)
                continue
            # A lost push session (the server went away) is news too: poll now, at the
            # normal pace again, rather than at the end of the long fallback interval.
            lost = was_pushed and not self.store.change_push_active
            if (changed or lost) and not worker.is_cancelled:
                try:
                    self.call_from_thread(self._on_pushed_change)
                except RuntimeError:  # the app is shutting down
                    return
                time.sleep(PUSH_SPACING_SECONDS)

    def _on_pushed_change(self) -> None:
        if not self.paused:
            self.request_refresh()

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
            self.call_from_thread(self._show_error, error, screen)
            return
        if snapshot is None:
            self.call_from_thread(self._mark_checked)
            return
        self.call_from_thread(self._apply, snapshot)
        # After the screen is painted: the first watch read computes drift from scratch.
        self._first_paint.wait(FIRST_PAINT_WAIT_SECONDS)
        try:
            watch = self._read_watch(snapshot)
        except Exception as error:
            self.call_from_thread(self._show_error, error, screen)
            return
        if watch is not None:
            self.call_from_thread(self._apply_watch, snapshot.token, watch)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Chain the next poll after this one finishes: polls never overlap.
        if event.worker.group != "poll" or event.state not in (
            WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED
        ):
            return
        self._poll_in_flight = False
        if self._force_next or self._poll_again:
            self._poll_again = False
            self._start_poll()
        else:
            self._schedule_next_poll()

    def _read(self, screen: StoreScreen, params: Any, *, force: bool) -> Snapshot | None:
        token = self.store.change_token()
        if not force and token == self._seen_token and screen.has_data:
            return None
        overview = self.store.store_overview()
        data = screen.fetch(self.store, params)
        return Snapshot(token, overview, screen, data, params)

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
        snapshot.screen.read_error = None
        # Changes are marked only when the store moved under the same query (not for a
        # new filter, sort or page).
        before = self._applied.get(id(snapshot.screen))
        moved = (before is not None and before[0] != snapshot.token
                 and before[1] == snapshot.params)
        self._applied[id(snapshot.screen)] = (snapshot.token, snapshot.params)
        try:
            with showing_changes(self.show_changes and moved):
                snapshot.screen.apply(snapshot.data)
            self._refresh_header()
        except Exception as error:  # a value the screen cannot show must not end it
            self._show_error(error, snapshot.screen)
            return False
        self._after_first_outcome()
        return True

    def _after_first_outcome(self) -> None:
        """The first read was shown (its rows, or why it failed): what waited for the first
        paint starts after it."""
        if not self._first_outcome_seen:
            self._first_outcome_seen = True
            self.call_after_refresh(self._after_first_paint)

    def _after_first_paint(self) -> None:
        self._freeze_heap()
        self._first_paint.set()
        if self.compose_ahead:
            self._compose_ahead()

    def _freeze_heap(self) -> None:
        """Move everything alive after the first paint out of the garbage collector's reach.

        Textual, Rich and the first screen leave hundreds of thousands of long-lived objects;
        without this, every full collection walks them all, and one lands in the middle of a
        scroll as a 60-110 ms frame (measured on the 20k store: the slowest frame fell to
        22-40 ms with it). Objects made later are still collected as usual. The command
        line pauses the collector for the start-up (``marianne_tui.__main__.main``): from
        here on it runs.
        """
        self._heap_frozen = True
        gc.freeze()
        gc.enable()
        if self.poll_enabled:
            # The live console: full collections wait while keys arrive (see the module).
            from marianne_tui.gc_pacing import CollectionPacer

            self._gc_pacer = CollectionPacer(self)

    def _mark_styles_current(self, screen: Screen[Any]) -> None:
        """What ``App.refresh_css`` does for a screen whose styles it brought up to date."""
        screen._css_update_count = self._css_update_count

    @work(group="compose-ahead", exit_on_error=False)
    async def _compose_ahead(self) -> None:
        """Compose every screen not made yet, one at a time, in the UI loop's quiet moments.

        A step starts one screen (its compose and mount then run as the screen's own
        messages, as for a shown screen) and waits until it is mounted; between steps the
        loop is left alone. A screen whose key is pressed first is made by Textual then, as
        without this.

        Textual 8.2.8 has no public call that starts a screen without showing it: this uses
        ``App._register`` (what ``push_screen`` and a mode's first switch call) and marks the
        screen's styles as current (``_css_update_count``), as Textual does for a screen it
        shows; otherwise the first switch to it would re-parse and re-apply every style of
        the app (``App.refresh_css``, 40-90 ms). Its styles are current: they were computed
        from the app's stylesheet as it is, and any later change of theme or CSS increments
        the app's count, so the switch refreshes them as before. tests/tui_tests/
        test_screens_ahead.py fails if a Textual upgrade changes this.
        """
        for mode in SCREENS:
            screen = self.get_screen(mode)
            if screen.is_running:
                # Shown already (the first screen: Textual re-parsed the stylesheet just
                # before mounting it, so it never marked it; switching back to it would).
                self._mark_styles_current(screen)
                continue
            await asyncio.sleep(COMPOSE_AHEAD_PAUSE_SECONDS)
            if screen.is_running:  # its key was pressed meanwhile
                continue
            self._register(self, screen)
            self._mark_styles_current(screen)
            waited = 0.0
            while not screen.is_mounted and waited < COMPOSE_AHEAD_MOUNT_WAIT_SECONDS:
                await asyncio.sleep(COMPOSE_AHEAD_PAUSE_SECONDS)
                waited += COMPOSE_AHEAD_PAUSE_SECONDS
        if self._heap_frozen:
            # The screens made here live as long as the console, like what the first paint
            # froze: out of the collector's reach too (each full collection walked them,
            # 20-34k objects: 3-14 ms a collection, ~0 after this).
            gc.freeze()

    def _apply_watch(self, token: int, watch: WatchSnapshot) -> None:
        """Compare with the last watch snapshot; log, toast and count what happened."""
        if self._watch_token is None and self._heap_frozen:
            # The first watch read computed drift from scratch: the store keeps what it
            # read (a window of every pattern: ~57k tracked tuples at 100,000 patterns)
            # for the console's life. Out of the collector's reach too, like the first
            # paint's heap: each full collection walked them (see _freeze_heap).
            gc.freeze()
        if token == self._watch_token:
            return
        alerts = detect_alerts(self._watch, watch, self.config.alerts)
        self._watch, self._watch_token = watch, token
        if not alerts:
            return
        self.alert_log.add(alerts)
        screen = self._store_screen()
        if isinstance(screen, EventsScreen) and screen.is_attached:
            screen.show_alerts()
        self._announce(alerts)
        self._refresh_header()

    def _announce(self, alerts: list[Alert]) -> None:
        if len(alerts) <= TOASTS_PER_REFRESH:
            for alert in alerts:
                self.notify(clean(f"{alert.subject}: {alert.detail}", 200),
                            title=alert.kind.value, markup=False,
                            severity="warning" if alert.warning else "information")
        else:
            kinds = ", ".join(sorted({alert.kind.value for alert in alerts}))
            self.notify(clean(f"{len(alerts)} alerts ({kinds}): press 6 for Events", 200),
                        title="Alerts", severity="warning", markup=False)
        if self.config.bell:
            self.bell()

    def on_live_table_faded(self, _event: LiveTable.Faded) -> None:
        self._refresh_header()

    def _mark_checked(self) -> None:
        self._last_success = time.monotonic()
        self.last_error = None
        self.failed_polls = 0
        self._update_age_timer()
        self._refresh_header()

    def _show_error(self, error: BaseException, screen: StoreScreen | None = None) -> None:
        # One line: a driver's message can span many lines; the header has one.
        self.last_error = short_failure(error)
        self.failed_polls += 1
        if screen is not None and screen.is_attached:
            screen.read_failed(self.last_error)
        self._update_age_timer()
        self._refresh_header()
        self._after_first_outcome()

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
        retry = self.next_poll_delay() if self.last_error and self.poll_enabled else None
        for header in screen.query(StoreHeader):
            header.show(
                self.overview,
                live=not self.paused,
                age_seconds=self._age_seconds(),
                error=self.last_error,
                refresh_seconds=self._poll_interval(),
                read_only=self.read_only,
                pushed=self._pushed(),
                read_only_reason=getattr(self.store, "read_only_reason", None),
                immutable=bool(getattr(self.store, "immutable_view", False)),
                activity=self.store_calls.activity(),
                retry_seconds=retry,
                alerts=(self.alert_log.unseen, len(self.alert_log)),
                rows_moved=self._rows_moved(screen),
            )

    @staticmethod
    def _rows_moved(screen: Screen[Any]) -> tuple[int, int]:
        arrived = left = 0
        for table in screen.query(LiveTable):
            new, gone = table.recent_rows()
            arrived, left = arrived + new, left + gone
        return arrived, left

    # -- store calls started by keys (the one path: marianne_tui.store_calls) ------------

    def run_store(
        self,
        job: Callable[[], T],
        then: Callable[[T], None],
        *,
        label: str,
        write: bool = False,
        saving: LiveTableRow | None = None,
        failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.store_calls.run(job, then, label=label, write=write, saving=saving,
                             failure=failure)

    def say_failure(self, label: str, error: BaseException) -> None:
        self.store_calls.say_failure(label, error)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_store_call":
            return self.store_calls.writing  # else escape is left to whoever wants it
        if action == "reread_snapshot":
            return bool(getattr(self.store, "immutable_view", False))
        return True

    def action_cancel_store_call(self) -> None:
        self.store_calls.cancel_writes()

    # -- actions ------------------------------------------------------------------------

    def action_refresh_now(self) -> None:
        self.request_refresh(force=True)

    def action_reread_snapshot(self) -> None:
        def reread() -> bool:
            self.store.reread_snapshot()
            return bool(self.store.immutable_view)

        def done(still_snapshot: bool) -> None:
            self.notify(
                f"Snapshot reread at {time.strftime('%H:%M:%S')}: it shows what the "
                "conductor had saved into the file by then." if still_snapshot
                else "The conductor's -shm file is there now: the store is read live.",
                title="Snapshot", markup=False,
            )
            self.refresh_bindings()
            self.request_refresh(force=True)

        self.run_store(reread, done, label="reread the snapshot")

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
