"""The one path for store calls that a key starts: off the UI thread, retried while the
store is busy, cancellable, and never able to crash the console.

A screen or dialog calls ``host.run_store(job, then, label=...)``. ``job`` runs in a thread
worker and may only call the store; ``then`` receives its result on the UI thread. An error
never escapes: it goes to ``failure`` when the caller gives one, else it is said in one
toast. So no store error can reach Textual's fatal-error path, whatever a screen forgets.

A write (``write=True``) also:

- marks its row "saving…" (``saving=(table, key)``) until it commits or fails, and the
  header says "saving…";
- when it still waits after ``BUSY_NOTICE_SECONDS``, the header says "store busy: another
  process is writing, retrying… · esc cancels";
- tries again while the store answers ``StoreBusyError`` (each try waits at most the
  store's busy timeout), until it commits, escape cancels it or ``GIVE_UP_SECONDS`` pass.

Trying again cannot apply an action twice: a ``StoreBusyError`` means the transaction was
rolled back, and the console's actions are compare-and-set on the state the operator saw.

With polling off (tests, snapshots, screenshots) the job runs synchronously, one try, so
nothing depends on the clock.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from marianne_tui.text import clean
from store import (
    ReadOnlyStoreError,
    SchemaError,
    StoreBusyError,
    StoreError,
    StoreUnavailableError,
)

if TYPE_CHECKING:
    from textual.app import App

    from marianne_tui.widgets.live_table import LiveTable

T = TypeVar("T")

#: The console's store waits at most this long for a lock per try (the store's default is
#: 30 s): between tries the console can say why it waits and honour a cancel.
CONSOLE_BUSY_TIMEOUT_SECONDS = 1.0
#: After this long a waiting write says why it waits.
BUSY_NOTICE_SECONDS = 1.0
#: A write still refused as busy after this long is given up (nothing written).
GIVE_UP_SECONDS = 120.0
#: Pause between two tries of a busy write (each try already waited the busy timeout).
RETRY_PAUSE_SECONDS = 0.1


def _detail(error: BaseException, limit: int = 110) -> str:
    """The driver's words, without the store's "<location> is unavailable: " prefix."""
    first = (str(error).strip().splitlines() or [""])[0]
    for marker in (" is unavailable: ", " is busy: "):
        if marker in first:
            first = first.split(marker, 1)[1]
    return first if len(first) <= limit else first[: limit - 1] + "…"


def short_failure(error: BaseException) -> str:
    """A few words for the header: what is wrong with the store."""
    if isinstance(error, StoreBusyError):
        return "store busy"
    if isinstance(error, StoreUnavailableError):
        return "store unavailable"
    if isinstance(error, (ReadOnlyStoreError, SchemaError)):
        return "store read-only"
    return f"{type(error).__name__}: {_detail(error, 40)}"


def describe_failure(error: BaseException, *, write: bool = True) -> str:
    """One line for an operator: what went wrong, in their terms, and what it means."""
    nothing = "; nothing was written" if write else ""
    if isinstance(error, StoreBusyError):
        return f"store busy: another process kept the write lock{nothing}"
    if isinstance(error, StoreUnavailableError):
        return f"store unavailable ({_detail(error)}){nothing}"
    if isinstance(error, (ReadOnlyStoreError, SchemaError)):
        return f"the store is read-only ({_detail(error)})"
    if isinstance(error, KeyError):
        return "it no longer exists in the store"
    first = _detail(error, 200)
    if isinstance(error, StoreError):
        return first or type(error).__name__
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


@dataclass
class StoreCall:
    """One call in flight. ``busy`` and ``done`` are only touched on the UI thread."""

    label: str
    write: bool
    saving: tuple[LiveTable, str] | None
    started: float = field(default_factory=time.monotonic)
    cancel: threading.Event = field(default_factory=threading.Event)
    busy: bool = False
    done: bool = False
    tries: int = 0


@dataclass(frozen=True)
class _Outcome:
    value: Any = None
    error: BaseException | None = None
    cancelled: bool = False


class StoreCalls:
    """Runs the store calls of one app; the app shows ``activity`` in the header."""

    def __init__(
        self, app: App[Any], *, threaded: bool, on_activity: Callable[[], None]
    ) -> None:
        self._app = app
        self._threaded = threaded
        self._on_activity = on_activity
        self._writes: list[StoreCall] = []
        #: the longest a write waited before it finished (seconds): the soak reports it
        self.longest_write_wait = 0.0
        #: the longest "store busy" was on screen (seconds)
        self.longest_busy_notice = 0.0

    # -- what the header shows ----------------------------------------------------------

    @property
    def writing(self) -> bool:
        return bool(self._writes)

    def activity(self) -> str | None:
        """"saving…", the busy notice, or None when no write is in flight."""
        if not self._writes:
            return None
        if any(call.cancel.is_set() for call in self._writes):
            return "cancelling… (nothing is written unless it already committed)"
        if any(call.busy for call in self._writes):
            return "store busy: another process is writing, retrying… · esc cancels"
        return "saving…"

    def cancel_writes(self) -> bool:
        """Escape: stop retrying every waiting write. True if there was one."""
        for call in self._writes:
            call.cancel.set()
        self._on_activity()
        return bool(self._writes)

    # -- running a call -----------------------------------------------------------------

    def run(
        self,
        job: Callable[[], T],
        then: Callable[[T], None],
        *,
        label: str,
        write: bool = False,
        saving: tuple[LiveTable, str] | None = None,
        failure: Callable[[BaseException], None] | None = None,
    ) -> StoreCall:
        call = StoreCall(label, write, saving)
        if write:
            self._writes.append(call)
            if saving is not None:
                saving[0].mark_saving(saving[1], True)
            self._on_activity()
        if not self._threaded:
            self._finish(call, self._attempt(job, call, retry=False), then, failure)
            return call
        if write:
            self._app.set_timer(BUSY_NOTICE_SECONDS, partial(self._busy_notice, call))
        self._app.run_worker(
            partial(self._in_thread, job, call, then, failure),
            thread=True, group="store-call", exit_on_error=False,
        )
        return call

    def _in_thread(
        self,
        job: Callable[[], T],
        call: StoreCall,
        then: Callable[[T], None],
        failure: Callable[[BaseException], None] | None,
    ) -> None:
        outcome = self._attempt(job, call, retry=call.write)
        with contextlib.suppress(RuntimeError):  # the app is shutting down: nobody to tell
            self._app.call_from_thread(self._finish, call, outcome, then, failure)

    def _attempt(self, job: Callable[[], T], call: StoreCall, *, retry: bool) -> _Outcome:
        while True:
            call.tries += 1
            try:
                return _Outcome(job())
            except StoreBusyError as error:
                waited = time.monotonic() - call.started
                if not retry or call.cancel.is_set() or waited > GIVE_UP_SECONDS:
                    return _Outcome(error=error, cancelled=call.cancel.is_set())
                if call.cancel.wait(RETRY_PAUSE_SECONDS):
                    return _Outcome(error=error, cancelled=True)
            except Exception as error:  # every failure is shown, none is raised
                return _Outcome(error=error)

    def _busy_notice(self, call: StoreCall) -> None:
        if not call.done:
            call.busy = True
            self._on_activity()

    def _finish(
        self,
        call: StoreCall,
        outcome: _Outcome,
        then: Callable[[T], None],
        failure: Callable[[BaseException], None] | None,
    ) -> None:
        call.done = True
        waited = time.monotonic() - call.started
        if call.write:
            self.longest_write_wait = max(self.longest_write_wait, waited)
            if call.busy:
                self.longest_busy_notice = max(
                    self.longest_busy_notice, waited - BUSY_NOTICE_SECONDS
                )
            if call in self._writes:
                self._writes.remove(call)
            if call.saving is not None and call.saving[0].is_attached:
                call.saving[0].mark_saving(call.saving[1], False)
            self._on_activity()
        try:
            if outcome.cancelled:
                self._app.notify(f"{call.label} cancelled: nothing was written.",
                                 title="Cancelled", markup=False)
            elif outcome.error is not None:
                if failure is not None:
                    failure(outcome.error)
                else:
                    self.say_failure(call.label, outcome.error, write=call.write)
            else:
                then(outcome.value)
        except Exception as error:  # a bug in a callback must not end the console
            self.say_failure(call.label, error, write=call.write)

    def say_failure(self, label: str, error: BaseException, *, write: bool = True) -> None:
        """The one toast for a refused or failed call."""
        self._app.notify(clean(f"{label} failed: {describe_failure(error, write=write)}", 300),
                         severity="error", markup=False, timeout=8)
