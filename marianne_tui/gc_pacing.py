"""Full garbage collections wait while the operator is pressing keys or using the mouse.

A full (generation 2) collection walks every tracked object not frozen
(``MarianneApp._freeze_heap``): ~25,000 while a Patterns page is scrolled, 5-20 ms of
UI-thread CPU on this 2-core machine, 2-3 times that in wall time when other processes
load it. CPython starts one when enough objects have grown old since the last one, which
while scrolling is every ~6 s, in the middle of a keypress: the slowest row-move frames
of the scroll (``benchmarks/bench_live.py``'s ``measure_scrolling``, attributed with
``gc.callbacks``: every frame over 40 ms held one).

So while input events arrive (and until QUIET_SECONDS after the last one), automatic full
collections are held (their threshold set out of reach); the younger generations are
collected as usual, and reference counting frees what has no cycle as always. When the
input pauses, the thresholds are restored and CPython runs the collection it held back at
its next check, while nobody waits for a frame.

Input that never pauses (a held key, the soak's Pilot) cannot hold them for more than
MAX_HOLD_SECONDS, or garbage in cycles would pile up without bound. Then the pacer runs
the collection CPython owes itself, right after the next frame is painted: let go to
CPython's next check instead, it landed anywhere, often in the middle of a table's update
after a poll, and the two together were the soak's longest blocks of the UI thread.
"""

from __future__ import annotations

import gc
import time
from typing import TYPE_CHECKING, Any

from textual import events

if TYPE_CHECKING:
    from textual.app import App
    from textual.timer import Timer

#: Full collections come back this long after the last input event.
QUIET_SECONDS = 0.5
#: ...and one owed runs at the latest this long after they were held. What a held
#: collection walks grows with the hold: in the 60 s soak, whose keys never pause for
#: QUIET_SECONDS, a collection held for the whole run walked 250,000 objects of garbage
#: at its end (0.5 s).
MAX_HOLD_SECONDS = 5.0
#: A generation-2 threshold no count reaches (counted in generation-1 collections).
_OUT_OF_REACH = 1 << 30


class CollectionPacer:
    """Holds full collections while ``seen`` is given input events (see the module)."""

    def __init__(self, app: App[Any]) -> None:
        self._app = app
        self._timer: Timer | None = None
        self._held_since: float | None = None
        self._collection_due = False  # one is to run after the next frame
        self._thresholds = gc.get_threshold()

    @property
    def holding(self) -> bool:
        return self._held_since is not None

    def seen(self, event: events.Event) -> None:
        """Called for each event the app receives; only input events count."""
        if not isinstance(event, events.InputEvent):
            return
        now = time.monotonic()
        if self._held_since is None:
            self._thresholds = gc.get_threshold()
            young, middle, _old = self._thresholds
            gc.set_threshold(young, middle, _OUT_OF_REACH)
            self._held_since = now
        elif now - self._held_since > MAX_HOLD_SECONDS and not self._collection_due:
            self._collection_due = True
            self._app.call_after_refresh(self._collect_if_owed)
        if self._timer is None:
            self._timer = self._app.set_timer(QUIET_SECONDS, self._quiet, name="gc-pacer")
        else:
            self._timer.reset()

    def _collect_if_owed(self) -> None:
        """The full collection CPython would have run by now, if it owes one, and the hold
        goes on."""
        self._collection_due = False
        if self._held_since is None:
            return  # the input paused meanwhile: CPython runs it at its own pace
        # CPython's own test: enough younger collections since the last full one.
        if gc.get_count()[2] >= self._thresholds[2]:
            gc.collect()
        self._held_since = time.monotonic()

    def _quiet(self) -> None:
        self._timer = None
        self.release()

    def release(self) -> None:
        """Full collections as CPython paces them again (also when the app closes)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self._held_since is not None:
            self._held_since = None
            gc.set_threshold(*self._thresholds)
