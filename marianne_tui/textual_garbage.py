"""Textual's objects freed when they are dropped, not at the next garbage collection.

Three places where Textual 8.2.8 leaves objects for the cyclic collector: a ``Strip`` that
caches itself, an ``LRUCache`` that is cleared, and a widget that is removed.

``Strip.divide`` caches what it returns in the strip's own ``_divide_cache``, and when the
only cut is at the strip's end (every line the compositor lays out whole) that is
``[self]``; ``Strip.crop_extend`` caches ``self`` the same way when nothing is cropped or
added. Such a strip is freed only by a garbage collection of the generation it reached,
with its seven caches and its segments: scrolling five Patterns pages at 100,000
patterns left ~6,000 of them, ~75,000 objects in all (measured with
``gc.DEBUG_SAVEALL``), and in the soak they were most of what each full collection
walked and freed (10-15k objects, 40-100 ms of UI-thread CPU, every 1.5 s). Without the
cycle, reference counting frees a strip as soon as its last cache lets it go.

Both methods return the same strip as before; only the cache of ``self`` is skipped
(building ``[self]`` costs less than looking it up).

``LRUCache`` keeps its entries in a ring of ``[prev, next, key, value]`` lists; its
``clear()`` drops only the dict and the head, so the ring is left as garbage that only a
collection frees, with every value it holds. A DataTable clears its render caches on
each new page: scrolling a 200-row Patterns page to its end and turning it left ~52,000
objects so (4,000 cached cells, 400 rows, 400 lines), and the full collections that
walked and freed them were the slowest frames of the scroll (50-220 ms, measured with
``gc.callbacks`` on the 20k store). ``discard`` of the last entry leaves it referring to
itself. Here both unlink what they drop, so reference counting frees it at once; what
the cache holds afterwards is the same.

A removed widget is garbage in reference cycles (its node list, message queue, styles and
bindings refer back to it), so a full collection frees it, with whatever it holds. Textual
drops its render and arrangement caches as it leaves (``Widget._message_loop_exit``) but
not its styles cache, the strips of every line it drew, each with its seven caches, its
segments and the strips derived from it. Here that cache is emptied there too. In the
60 s soak (a dialog and a toast or two per action, ~2 actions a second) the rendered lines
of removed widgets were most of what each full collection walked: without this, the
strips alive after a full collection grew to ~4,000 within 20 s (~930 with it), the
objects each full collection walked from ~50,000 to ~100,000, and a collection took
0.08-0.14 s of the UI thread against 0.03-0.05 s.

Checked against Textual 8.2.8 by tests/tui_tests/test_textual_garbage.py, which fails when
an upgrade changes any of these methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.style import Style
from textual.cache import LRUCache
from textual.strip import Strip
from textual.widget import Widget

_divide = Strip.divide
_crop_extend = Strip.crop_extend
_lru_clear = LRUCache.clear
_lru_discard = LRUCache.discard
_message_loop_exit = Widget._message_loop_exit


def _divide_without_cycle(self: Strip, cuts: Iterable[int]) -> Sequence[Strip]:
    cell_length = self.cell_length
    kept = [cut for cut in cuts if cut <= cell_length]  # as Textual filters them
    if kept == [cell_length]:
        return [self]  # one cut, at the end: the strip whole
    return _divide(self, kept)


def _crop_extend_without_cycle(self: Strip, start: int, end: int, style: Style | None) -> Strip:
    if start <= 0 and end == self.cell_length:
        return self  # nothing to crop nor to add
    return _crop_extend(self, start, end, style)


def _clear_without_cycle(self: LRUCache[Any, Any]) -> None:
    for link in self._cache.values():
        link.clear()  # its neighbours, key and value: the ring is no more
    _lru_clear(self)


def _discard_without_cycle(self: LRUCache[Any, Any], key: Any) -> None:
    link = self._cache.get(key)
    _lru_discard(self, key)
    if link is not None:
        link.clear()  # out of the ring now; the last one referred to itself


async def _message_loop_exit_dropping_lines(self: Widget) -> None:
    await _message_loop_exit(self)
    self._styles_cache.clear()  # the lines it drew: nothing draws it any more


def install() -> None:
    """Replace the five methods (idempotent)."""
    Strip.divide = _divide_without_cycle  # type: ignore[method-assign]
    Strip.crop_extend = _crop_extend_without_cycle  # type: ignore[method-assign]
    LRUCache.clear = _clear_without_cycle  # type: ignore[method-assign]
    LRUCache.discard = _discard_without_cycle  # type: ignore[method-assign]
    Widget._message_loop_exit = _message_loop_exit_dropping_lines  # type: ignore[method-assign]
