"""A DataTable that is refreshed in place, keyed by entity id.

A refresh hands over the rows the store returned, already sorted. When the keys and their
order are unchanged, only cells whose value changed are updated, so an idle console sends
nothing to the terminal and the cursor and scroll stay put. When rows reorder, or a few
appear or vanish, the rows are moved in place (``_place_rows``): only the rows that moved,
arrived or changed are rendered again, and only the arrived ones measured. When most rows
are new (another page, filter or sort), the table is rebuilt. Either way the cursor goes
back to the same entity (not the same row index: a removed row above the cursor must not
move a triage key onto another pattern).

Changes are visible (k9s, Dolphie): while the app applies a store refresh inside
``showing_changes()``, each cell whose text changed is shown bold and reversed, and each row
that arrived gets a reversed "+" before its first cell, for HIGHLIGHT_SECONDS; how many rows
arrived and left is kept as long (``recent_rows``) for the header to say. Reverse video
and the glyph need no colour, so the marks survive NO_COLOR. The first fill of a table is
never marked, nor anything applied outside ``showing_changes()`` (a new filter, sort or
page, a countdown tick), nor a column that moves with the clock (``Column.ticking``).
Marks fade on a timer when the app polls; with polling off (tests, snapshots) they stay
until ``fade()`` is called, so nothing depends on the clock.
"""

from __future__ import annotations

import contextlib
import operator
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual._two_way_dict import TwoWayDict
from textual.cache import LRUCache
from textual.color import Color
from textual.coordinate import Coordinate
from textual.geometry import Region, Size
from textual.message import Message
from textual.render import measure
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable
from textual.widgets._data_table import Row as _TableRow
from textual.widgets._data_table import default_cell_formatter
from textual.widgets.data_table import CellKey, ColumnKey, RowDoesNotExist, RowKey


@dataclass(frozen=True)
class Column:
    """One column: its key, its header label and an optional fixed width."""

    key: str
    label: str
    width: int | None = None
    #: its text moves with the clock (an age, a countdown): a change there is not news
    ticking: bool = False


@dataclass(frozen=True)
class Row:
    """One row: the entity id and the already rendered cells (``Text``, never raw ``str``)."""

    key: str
    cells: tuple[Text, ...]


#: What a row shows, in its ``saving_column``, while a write to it has not committed.
SAVING = Text("⟳ saving…", style="bold yellow", no_wrap=True, end="")

#: How long a changed cell or an arrived row stays marked.
HIGHLIGHT_SECONDS = 3.0
#: The style of a changed cell: no colour needed (NO_COLOR keeps it).
CHANGED_STYLE = "bold reverse"
#: Put before the first cell of a row that arrived.
ARRIVED_MARK = Text("+", style="bold reverse", end="")

#: The render caches hold the lines (and rows, and their cells) of this many heights of
#: the table: what it shows, with each row drawn with and without the cursor, and as much
#: again above or below. The DataTable keeps 1,000 lines and rows and 10,000 cells: after a
#: 200-row page was scrolled through, ~46,000 objects that every full garbage collection
#: walked (34,000 of them cells'), which made the slowest frames of a scroll (a full
#: collection costs ~1-2 µs an object on this machine under load). A row or cell drawn
#: again costs a few µs (``_text_cell_line``).
CACHED_HEIGHTS = 2
#: The height the caches are sized for until the table is laid out (they grow then).
_FIRST_HEIGHT = 1

#: A cursor on no row: what a row the cursor is not on is rendered with (see below).
_NO_ROW = Coordinate(-2, 0)


def _seen_from(row_index: int, coordinate: Coordinate) -> Coordinate:
    """A row cursor's (or hover's) coordinate as row ``row_index``'s render depends on it.

    A row is highlighted when the row cursor is on it and looks the same wherever else the
    cursor is: every other position is one key, so a cursor move reuses what was rendered.
    """
    return coordinate if coordinate.row == row_index else _NO_ROW


class _NormalisedCache(LRUCache[tuple[Any, ...], Any]):
    """A DataTable render cache whose keys are normalised (``_normal``) before use, so that
    what does not change the rendered result does not make a new entry."""

    def _normal(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        raise NotImplementedError

    def set(self, key: tuple[Any, ...], value: Any) -> None:
        super().set(self._normal(key), value)

    __setitem__ = set

    def __getitem__(self, key: tuple[Any, ...]) -> Any:
        return super().__getitem__(self._normal(key))

    def __contains__(self, key: object) -> bool:
        return super().__contains__(self._normal(key))  # type: ignore[arg-type]

    def get(self, key: tuple[Any, ...], default: Any = None) -> Any:
        return super().get(self._normal(key), default)


class _RowCursorLineCache(_NormalisedCache):
    """The DataTable's cache of rendered lines, sharing one entry for every cursor position
    that leaves the line unhighlighted, whatever the table's pseudo-classes.

    The DataTable keys a line on ``(y, x1, x2, width, cursor, hover, base_style, cursor type,
    show hover, update count, pseudo-classes)``, so each cursor move (and the one-line
    scroll that comes with it) rendered every visible line again: ~30 new Strips a frame,
    which also made the full garbage collections that caused the slowest frames. The
    cursor and hover are normalised only for ``cursor_type="row"`` tables; the
    pseudo-classes (focus, hover, disabled) always: what they change is the table's
    styles, which the table follows itself (``LiveTable._follow_styles``). Textual is
    pinned: the key layout is checked by the tests of this module.
    """

    def __init__(self, table: LiveTable, maxsize: int) -> None:
        super().__init__(maxsize)
        self._table = table

    def _normal(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        if key[7] != "row":  # the cursor type: a cell or column cursor keeps its place
            return (*key[:10], None)
        row_index = self._table._line_row_index(key[0])
        hover = _seen_from(row_index, key[5]) if key[8] else _NO_ROW  # key[8]: hover shown
        return (*key[:4], _seen_from(row_index, key[4]), hover, *key[6:10], None)


class _RowCache(_NormalisedCache):
    """The DataTable's cache of rendered rows, without the pseudo-classes in its keys
    ``(row key, line, base style, cursor, hover, cursor type, show cursor, show hover,
    update count, pseudo-classes)``; LiveTable already gives the cursor and hover as a row
    sees them (``_render_line_in_row``)."""

    def _normal(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        return (*key[:9], None)


class _CellCache(_NormalisedCache):
    """The DataTable's cache of rendered cells, without the pseudo-classes in its keys
    ``(row key, column key, base style, cursor, hover, show hover, update count,
    pseudo-classes)``."""

    def _normal(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        # key[5]: whether the hover is shown; when it is not, the hover has no style
        return (*key[:4], key[4] and key[5], *key[5:7], None)


def _highlighted_line(key: tuple[Any, ...]) -> bool:
    """Whether a (normalised) line cache entry is drawn with the cursor or hover's style."""
    return bool(key[7] != "row" or key[4] != _NO_ROW or key[5] != _NO_ROW)


def _highlighted_row(key: tuple[Any, ...]) -> bool:
    """Whether a (normalised) row cache entry is drawn with the cursor or hover's style."""
    return bool(key[5] != "row" or key[3] != _NO_ROW or key[4] != _NO_ROW)


def _highlighted_cell(key: tuple[Any, ...]) -> bool:
    """Whether a (normalised) cell cache entry is drawn with the cursor or hover's style."""
    return bool(key[3] or key[4])


#: The DataTable's component classes that style only the cells under the cursor or the
#: mouse; the others (header, fixed, odd and even rows) style every line.
_HIGHLIGHT_COMPONENTS = ("datatable--cursor", "datatable--fixed-cursor",
                         "datatable--header-cursor", "datatable--header-hover",
                         "datatable--hover")


def _fit(cache: LRUCache[Any, Any], maxsize: int) -> None:
    """Let ``cache`` hold up to ``maxsize`` entries from now on (never fewer than before)."""
    if maxsize > cache.maxsize:
        cache.maxsize = maxsize
        cache._full = False  # else each new entry still evicts one: it would not grow


def _discard(cache: LRUCache[Any, Any], stale: Callable[[Any], bool]) -> None:
    """Drop the entries of ``cache`` whose key is ``stale``."""
    for key in list(filter(stale, cache.keys())):
        LRUCache.discard(cache, key)  # the stored key: no normalising (_RowCursorLineCache)


def _text_cell_line(console: Console, options: ConsoleOptions, cell: Text, width: int,
                    padding: int) -> list[Segment] | None:
    """One line of ``width`` cells showing ``cell`` with ``padding`` blanks each side, before
    the table's styles: what the DataTable renders for a cell of a one-line row, which is
    ``Padding(cell, (0, padding))`` through Rich's generic render path (~120 µs a cell, and
    a new page draws ~350 cells in one frame).

    A cell without spans (most: a number, a name) is laid out here as ``Text.wrap`` and
    ``Text.render`` lay out one unwrapped line, in a few µs; any other ``Text`` goes
    through ``Text.__rich_console__`` itself, without the Padding and Styled around it.
    None when ``width`` leaves no room inside the padding (the DataTable's path then).
    The tests of this module compare both with the DataTable's own render.
    """
    inner = width - 2 * padding
    if inner < 1:
        return None
    blank = Style.null()  # Padding's style ("none")
    line = None if cell.spans else _plain_cell_line(console, options, cell, inner)
    if line is None:
        options = options.update_dimensions(inner, 1).update(no_wrap=True)
        line = console.render_lines(cell, options, style=blank, pad=True)[0]
    if not padding:
        return line
    side = Segment(" " * padding, blank)
    return [side, *line, side]


def _plain_cell_line(console: Console, options: ConsoleOptions, cell: Text,
                     inner: int) -> list[Segment] | None:
    """``cell`` (no spans) as Rich lays it out on one line of ``inner`` cells without
    wrapping (Text.wrap with no_wrap, Lines.justify, Text.truncate, Text("\\n").join,
    Text.render, then the pad of Console.render_lines); None for what that does not cover."""
    plain = cell.plain
    overflow = cell.overflow or options.overflow or "fold"
    if (not plain or "\n" in plain or "\t" in plain or cell.no_wrap is False
            or overflow == "ignore"):
        return None
    style = console.get_style(cell.style, default=Style.null()) if cell.style else None
    if style is not None and style.link:
        return None  # get_style gives each render a new link id: leave that to Rich

    def truncate(text: str) -> str:
        if cell_len(text) <= inner:
            return text
        if overflow == "ellipsis":
            return set_cell_size(text, inner - 1) + "…"
        return set_cell_size(text, inner)

    justify = cell.justify or options.justify or "default"
    if justify == "left":
        text = truncate(plain) + " " * (inner - cell_len(plain))
    elif justify == "right":
        text = truncate(plain.rstrip())
        text = " " * (inner - cell_len(text)) + text
    elif justify == "center":
        text = truncate(plain.rstrip())
        text = " " * ((inner - cell_len(text)) // 2) + text
        text += " " * (inner - cell_len(text))
    else:  # "default", or "full", which leaves the last line (here the only one) alone
        text = plain
    text = truncate(text)
    if not text:
        return None
    # Text("\n").join makes the cell's style a span over the line: Text.render then
    # combines it with the joined text's own (null) style.
    line = [Segment(text, None if style is None else Style.null() + style)]
    short = inner - cell_len(text)
    if short > 0:
        line.append(Segment(" " * short, Style.null()))
    return line


_showing_changes: ContextVar[bool] = ContextVar("live_table_showing_changes", default=False)


@contextlib.contextmanager
def showing_changes(enabled: bool = True) -> Iterator[None]:
    """Tables applied inside this block mark what changed (the app wraps store refreshes)."""
    token = _showing_changes.set(enabled)
    try:
        yield
    finally:
        _showing_changes.reset(token)


class LiveTable(DataTable[Text]):
    """Row-cursor table with keyed, in-place refresh.

    ``mark_saving(key, True)`` shows "saving…" in the row's ``saving_column`` (default:
    the first) until ``mark_saving(key, False)``; refreshes meanwhile keep the mark.
    """

    # The stock DataTable tints itself and its header when focused, so a focus change
    # (a filter field taking the keys, a screen switch) changed every line and the whole
    # table was rendered again (60-120 ms of UI thread at 120x40). Here the tint is the
    # same either way; which table has the keys is shown by its cursor row, whose focused
    # and blurred looks still differ (only that row is rendered again).
    DEFAULT_CSS = """
    LiveTable {
        height: 1fr;
        background-tint: $foreground 5%;
        & > .datatable--header { background-tint: $foreground 5%; }
    }
    """

    #: what render_lines reads once while it runs (styles, the column order); None outside
    _styles_in_render: dict[Any, Any] | None = None

    def __init__(
        self, columns: Sequence[Column], *, saving_column: str | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self._column_specs = tuple(columns)
        self._keys: tuple[str, ...] = ()
        self._cells: dict[str, tuple[Text, ...]] = {}
        keys = [column.key for column in self._column_specs]
        self._saving_index = keys.index(saving_column) if saving_column else 0
        self._saving: set[str] = set()
        self._ticking = frozenset(i for i, c in enumerate(self._column_specs) if c.ticking)
        #: what each row shows now (cells with their marks), to update only what differs
        self._displayed: dict[str, tuple[Text, ...]] = {}
        #: (row key, column index) -> when its change mark ends
        self._changed: dict[tuple[str, int], float] = {}
        #: row key -> when its "arrived" mark ends
        self._arrived: dict[str, float] = {}
        #: (when it ends, rows arrived, rows left) of the last refresh that moved rows
        self._moved: tuple[float, int, int] = (0.0, 0, 0)
        self._filled = False
        self._fade_timer: Timer | None = None
        self.clock: Callable[[], float] = time.monotonic
        self._line_cache = _RowCursorLineCache(self, 0)
        self._row_render_cache = _RowCache(0)
        self._cell_render_cache = _CellCache(0)
        self._fit_caches(_FIRST_HEIGHT)
        #: (own styles, highlight styles) the cached renders were drawn with
        self._drawn_look: tuple[tuple[Any, ...], tuple[Any, ...]] | None = None
        #: the component styles (objects) last looked at, and whether CSS was applied since
        self._seen_components: tuple[object, ...] = ()
        self._restyled = True
        #: the width of the table at its last resize (None: not resized yet)
        self._resized_width: int | None = None

    class Faded(Message):
        """The change marks ended (the header's "+N new" goes with them)."""

    def on_mount(self) -> None:
        for column in self._column_specs:
            self.add_column(Text(column.label), key=column.key, width=column.width)

    @property
    def row_keys_in_order(self) -> tuple[str, ...]:
        return self._keys

    @property
    def cursor_key(self) -> str | None:
        """The entity id under the cursor, or None for an empty table."""
        if not self._keys or self.cursor_row < 0 or self.cursor_row >= len(self._keys):
            return None
        return self._keys[self.cursor_row]

    def apply(self, rows: Sequence[Row]) -> bool:
        """Show ``rows``; returns True when anything on screen changed."""
        keys = tuple(row.key for row in rows)
        if _showing_changes.get() and self._filled:
            self._mark_changes(rows, keys)
        self._filled = True
        if keys == self._keys:
            changed = self._update_changed_cells(rows)
        elif self._mostly_kept(keys):
            self._rearrange(rows, keys)
            changed = True
        else:
            self._rebuild(rows)
            changed = True
        self._fade_later()
        return changed

    def _mark_changes(self, rows: Sequence[Row], keys: tuple[str, ...]) -> None:
        until = self.clock() + HIGHLIGHT_SECONDS
        for row in rows:
            old = self._cells.get(row.key)
            if old is None:
                self._arrived[row.key] = until
                continue
            if old is row.cells:  # the screen kept this row's cells: nothing changed
                continue
            for index, (before, after) in enumerate(zip(old, row.cells, strict=True)):
                # Identity first: a kept cell is the same object, and Text.__eq__ is slow.
                if before is not after and before != after and index not in self._ticking:
                    self._changed[(row.key, index)] = until
        if keys != self._keys:
            arrived = len(set(keys) - set(self._keys))
            left = len(set(self._keys) - set(keys))
            if arrived or left:
                self._moved = (until, arrived, left)

    def recent_rows(self) -> tuple[int, int]:
        """(rows arrived, rows left) in the last refresh that moved rows, while marked."""
        until, arrived, left = self._moved
        return (arrived, left) if until > self.clock() else (0, 0)

    def fade(self) -> None:
        """End the marks whose time is over (a timer calls this; tests call it by hand)."""
        now = self.clock()
        ended = {key for (key, _index), until in self._changed.items() if until <= now}
        ended |= {key for key, until in self._arrived.items() if until <= now}
        self._changed = {k: until for k, until in self._changed.items() if until > now}
        self._arrived = {k: until for k, until in self._arrived.items() if until > now}
        moved = self._moved[0] and self._moved[0] <= now
        if moved:
            self._moved = (0.0, 0, 0)
        for key in ended:
            cells = self._cells.get(key)
            if cells is not None:
                self._show_row(key, cells)
        if ended or moved:
            self.post_message(self.Faded())
        self._fade_later()

    def _fade_later(self) -> None:
        if not getattr(self.app, "poll_enabled", True):
            return  # polling off: marks stay until fade() (no clock in tests)
        pending = [*self._changed.values(), *self._arrived.values()]
        if self._moved[0]:
            pending.append(self._moved[0])
        if self._fade_timer is not None:
            self._fade_timer.stop()
            self._fade_timer = None
        if pending:
            # One timer per table, for the mark that ends first.
            self._fade_timer = self.set_timer(max(0.05, min(pending) - self.clock()),
                                              self.fade)

    def _update_changed_cells(self, rows: Sequence[Row]) -> bool:
        return self._show_rows([(row.key, row.cells) for row in rows])

    def _mostly_kept(self, keys: tuple[str, ...]) -> bool:
        """Whether at least half of ``keys`` are shown already (then rows move in place)."""
        if not keys:
            return False
        shown = set(self._keys)
        return 2 * sum(key not in shown for key in keys) <= len(keys)

    def _rearrange(self, rows: Sequence[Row], keys: tuple[str, ...]) -> None:
        """Show ``rows`` by moving, adding and removing rows, not clearing the table.

        A rebuild measured every cell again on idle and rendered every line again (~0.1 s
        of UI thread for a 200-row page); here only the rows that arrived are measured, and
        only the rows that arrived, moved or changed are rendered again.
        """
        keep_key = self.cursor_key
        keep_index = self.cursor_row
        old_keys = self._keys
        kept = set(keys)
        left = [key for key in old_keys if key not in kept]
        before = set(old_keys)
        arrived = [row for row in rows if row.key not in before]
        for key in left:
            self._cells.pop(key, None)
            self._displayed.pop(key, None)
        self._changed = {k: until for k, until in self._changed.items() if k[0] in kept}
        self._arrived = {k: until for k, until in self._arrived.items() if k in kept}
        added = []
        for row in arrived:
            shown = self._shown(row.key, row.cells)
            self._cells[row.key] = row.cells
            self._displayed[row.key] = shown
            added.append((row.key, shown))
        self._place_rows(keys, left, added)
        self._keys = keys
        # Rows shown at another index than before: zebra stripe and mouse meta differ.
        moved = {RowKey(key) for index, key in enumerate(keys)
                 if index >= len(old_keys) or old_keys[index] != key}
        moved.update(RowKey(key) for key in left)
        new_cells = [(RowKey(key), ColumnKey(column.key))
                     for key, _shown in added for column in self._column_specs]
        self._show_rows([(row.key, row.cells) for row in rows], moved=moved, written=new_cells)
        target = keys.index(keep_key) if keep_key in kept else keep_index
        target = max(0, min(target, len(keys) - 1))
        if target != self.cursor_row:
            self.move_cursor(row=target, animate=False, scroll=True)
        elif keep_key != keys[target]:
            # Another entity under the cursor (its row left): say so, as a move would.
            self.post_message(DataTable.RowHighlighted(self, target, RowKey(keys[target])))

    def _place_rows(self, keys: Sequence[str], left: Sequence[str],
                    added: Sequence[tuple[str, tuple[Text, ...]]]) -> None:
        """Make the DataTable's rows ``keys``, in that order: drop those in ``left``, append
        those in ``added`` (key, cells), then renumber, as DataTable.sort() does.

        DataTable's private state, textual 8.2.8 (pinned; the tests of this module compare
        the result with a table built afresh). Not add_row/remove_row/sort: each bumps the
        update count that every render cache key holds, so every visible line would be
        rendered again; sort(key=...) also sees only cell values, not row keys. The caller
        drops the render caches of the rows that moved (``_forget_rendered``).
        """
        for key in left:
            row_key = RowKey(key)
            self._updated_cells.difference_update(
                CellKey(row_key, column_key) for column_key in self._data[row_key])
            self._new_rows.discard(row_key)
            del self.rows[row_key]
            del self._data[row_key]
        columns = [ColumnKey(column.key) for column in self._column_specs]
        for key, cells in added:
            row_key = RowKey(key)
            self._data[row_key] = dict(zip(columns, cells, strict=True))
            self.rows[row_key] = _TableRow(row_key, 1, self._row_label(key))
            self._new_rows.add(row_key)  # measured on idle, as add_row's are
        self._row_locations = TwoWayDict({RowKey(key): index for index, key in enumerate(keys)})
        # Keyed on the update count, which did not change: the order is in them.
        self._offset_cache.clear()
        self._ordered_row_cache.clear()
        if left or added:
            self._require_update_dimensions = True  # the virtual height, on idle
            self.check_idle()

    def _row_label(self, key: str | None) -> Text | None:
        """The label of a row added for ``key`` (the row-label column; none here)."""
        return None

    def _show_row(self, key: str, cells: tuple[Text, ...]) -> bool:
        """Update the cells of row ``key`` that differ from what it shows; True if any."""
        return self._show_rows([(key, cells)])

    def _show_rows(
        self, rows: Sequence[tuple[str, tuple[Text, ...]]], *,
        moved: set[RowKey] | None = None, written: list[tuple[RowKey, ColumnKey]] | None = None,
    ) -> bool:
        """Update the cells that differ from what their rows show; True if any differed.

        DataTable.update_cell bumps the table's update counter, which is part of every
        render cache key, so one changed cell made every visible cell render again on the
        next frame. The new values are written into the table's data instead, and only the
        cache entries of the rows holding them are dropped (``_forget_rendered``), with
        those of the rows in ``moved`` and of the cells already ``written``.
        """
        written = [] if written is None else written
        any_changed = False
        for key, cells in rows:
            self._cells[key] = cells
            shown = self._shown(key, cells)
            displayed = self._displayed.get(key)
            if displayed == shown:
                continue
            any_changed = True
            self._displayed[key] = shown
            row_key = RowKey(key)
            data = self._data.get(row_key)
            if data is None or row_key not in self._row_locations:
                continue  # the row left meanwhile
            for index, (column, cell) in enumerate(zip(self._column_specs, shown, strict=True)):
                if displayed is None or displayed[index] != cell:
                    column_key = ColumnKey(column.key)
                    if column_key in data:
                        data[column_key] = cell
                        written.append((row_key, column_key))
        if written or moved:
            self._forget_rendered(written, moved or set())
        return any_changed

    def _forget_rendered(
        self, written: Sequence[tuple[RowKey, ColumnKey]], moved: set[RowKey] | None = None,
    ) -> None:
        """Drop what the table rendered from the cells in ``written`` and from the rows in
        ``moved`` (at another index: stripe and mouse meta differ), and refresh once."""
        wider = [cell for cell in written if self._widens_its_column(*cell)]
        if wider:
            # Every line changes when a column grows: do what update_cell(update_width=True)
            # does (the widths are measured on idle) and render everything again.
            self._updated_cells.update(CellKey(*cell) for cell in wider)
            self._require_update_dimensions = True
            self._update_count += 1
            self.refresh()
            return
        moved = moved or set()
        top = int(self.scroll_y)
        on_screen = [self._row_locations.get_key(index)
                     for index in range(top, top + self.size.height)]
        if 2 * sum(key in moved for key in on_screen) > len(on_screen):
            # Most rows on screen moved: they render again anyway, and dropping every
            # cache is cheaper than sifting them (the cell cache holds up to 10,000).
            self._clear_caches()
            self.refresh()
            return
        cells = set(written)
        row_keys = {row_key for row_key, _column_key in written} | moved
        row_indices = {self._row_locations.get(row_key) for row_key in row_keys}
        # Cache keys (textual is pinned; the tests of this module check what is drawn):
        # a cell's starts with (row key, column key), a row's with the row key, a row's
        # renderables' is (update count, row index), a line's starts with its y.
        _discard(self._cell_render_cache,
                 lambda key: key[0] in moved or (key[0], key[1]) in cells)
        _discard(self._row_render_cache, lambda key: key[0] in row_keys)
        _discard(self._row_renderable_cache, lambda key: key[1] in row_indices)
        _discard(self._line_cache, lambda key: self._line_row_index(key[0]) in row_indices)
        self.refresh()

    def _widens_its_column(self, row_key: RowKey, column_key: ColumnKey) -> bool:
        column = self.columns[column_key]
        if not column.auto_width:
            return False
        height = self.rows[row_key].height
        value = default_cell_formatter(
            self._data[row_key][column_key], wrap=height != 1, height=height
        )
        return measure(self.app.console, value, 1) > column.content_width

    def _rebuild(self, rows: Sequence[Row]) -> None:
        keep_key = self.cursor_key
        keep_index = self.cursor_row
        scroll_y = self.scroll_y
        with self.app.batch_update():
            self.clear()
            shown = [(row.key, self._shown(row.key, row.cells)) for row in rows]
            self._displayed = dict(shown)
            self._fill(shown)
            self._keys = tuple(row.key for row in rows)
            self._cells = {row.key: row.cells for row in rows}
            kept = set(self._keys)
            self._changed = {k: until for k, until in self._changed.items() if k[0] in kept}
            self._arrived = {k: until for k, until in self._arrived.items() if k in kept}
            if not rows:
                return
            try:
                target = self.get_row_index(keep_key) if keep_key is not None else keep_index
            except RowDoesNotExist:
                target = keep_index
            target = max(0, min(target, len(rows) - 1))
            self.scroll_to(y=scroll_y, animate=False, immediate=True)
            self.move_cursor(row=target, animate=False, scroll=True)

    def _fill(self, rows: Sequence[tuple[str, tuple[Text, ...]]]) -> None:
        """Add ``rows`` (key, cells) to the table just cleared, as add_row does one by one.

        add_row costs ~20 µs a row (it orders the columns again and bumps the update count
        each time): a new page of 200 took ~7 ms of UI thread, ~3 ms so. Placed at once
        (``_place_rows``), then what add_row also does: the update count (every render
        cache key holds it), the cursor clamped to the rows, and the highlight of the first
        row (RowHighlighted), which add_row gives when the table gets its first row.
        """
        self._place_rows([key for key, _cells in rows], (), rows)
        self._update_count += 1
        self.cursor_coordinate = self.cursor_coordinate
        if rows and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()

    def _shown(self, key: str, cells: tuple[Text, ...]) -> tuple[Text, ...]:
        """The cells as displayed: "saving…" in its column, then the change marks."""
        if not cells:
            return cells
        shown = list(cells)
        if key in self._saving:
            shown[self._saving_index] = SAVING
        if self._changed:
            for index in range(len(shown)):
                if (key, index) in self._changed:
                    marked = shown[index].copy()
                    marked.stylize(CHANGED_STYLE)
                    shown[index] = marked
        if key in self._arrived:
            shown[0] = Text.assemble(ARRIVED_MARK, shown[0], no_wrap=True, end="")
        return tuple(shown)

    def marked_cells(self) -> frozenset[tuple[str, str]]:
        """(row key, column key) of the cells marked as changed now (tests)."""
        return frozenset((key, self._column_specs[index].key) for key, index in self._changed)

    def arrived_keys(self) -> frozenset[str]:
        """Rows marked as arrived now (tests)."""
        return frozenset(self._arrived)

    @property
    def saving_keys(self) -> frozenset[str]:
        return frozenset(self._saving)

    def mark_saving(self, key: str, saving: bool) -> None:
        """Show (or stop showing) "saving…" on the row of ``key``."""
        if saving:
            self._saving.add(key)
        else:
            self._saving.discard(key)
        cells = self._cells.get(key)
        if cells is None:
            return
        self._show_row(key, cells)

    def set_column_label(self, key: str, label: Text) -> None:
        """Change a column's header label (e.g. a sort indicator) without touching rows."""
        column = self.columns.get(ColumnKey(key))
        if column is None or column.label == label:
            return
        column.label = label
        self._update_count += 1  # the header render caches are keyed on this counter
        self._clear_caches()
        self.refresh()

    def _on_resize(self, event: events.Resize) -> None:
        # DataTable._on_resize bumps the update count that every render cache key holds,
        # so each resize rendered every visible cell again. What a row and its cells draw
        # depends on the table's width alone (the fill after the last column): a resize
        # that keeps the width (the Escalations table grows and shrinks with its list)
        # keeps the renders. Lines are cached by their y in the table, not on the screen.
        width = self.size.width
        if width == self._resized_width:
            event.prevent_default()  # DataTable's handler, the only other, is not called
        self._resized_width = width
        self._fit_caches(self.size.height)

    def _fit_caches(self, height: int) -> None:
        """Size the render caches for a table ``height`` lines high (they only grow: the
        Escalations table grows and shrinks with its list)."""
        lines = CACHED_HEIGHTS * max(height, 1)
        _fit(self._line_cache, lines)
        _fit(self._row_render_cache, lines)
        _fit(self._cell_render_cache, lines * max(len(self._column_specs), 1))

    # -- following the CSS ------------------------------------------------------------------

    def notify_style_update(self) -> None:
        # The stock DataTable drops every render cache whenever CSS is applied to it: on
        # each focus change, screen resume and mode switch, though the styles are mostly
        # the same as before. What changed is found on the next render (_follow_styles),
        # when the component styles are up to date too (Textual applies them after this).
        Widget.notify_style_update(self)
        self._styles_cache.clear()
        self._restyled = True
        self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        self._follow_styles()
        # The DataTable reads the table's style, its background, its row styles and its
        # column order again for every line and row it renders, the styles each a walk up
        # the DOM blending colours: ~40% of the UI thread (profiled) of a frame that
        # renders the 35 rows of a page whose age column moved. Nothing restyles the
        # table or adds a column inside one render: each is read once in it.
        self._styles_in_render = {}
        try:
            return super().render_lines(crop)
        finally:
            self._styles_in_render = None

    @property
    def rich_style(self) -> Style:
        memo = self._styles_in_render
        if memo is None:
            return super().rich_style
        if "rich_style" not in memo:
            memo["rich_style"] = super().rich_style
        return memo["rich_style"]  # type: ignore[no-any-return]

    @property
    def background_colors(self) -> tuple[Color, Color]:
        memo = self._styles_in_render
        if memo is None:
            return super().background_colors
        if "background_colors" not in memo:
            memo["background_colors"] = super().background_colors
        return memo["background_colors"]  # type: ignore[no-any-return]

    def _get_row_style(self, row_index: int, base_style: Style) -> Style:
        memo = self._styles_in_render
        if memo is None or row_index < self.fixed_rows:
            return super()._get_row_style(row_index, base_style)
        # A body row's style is its stripe's (or base_style without stripes).
        key = ("row", row_index % 2 if self.zebra_stripes else None, base_style)
        if key not in memo:
            memo[key] = super()._get_row_style(row_index, base_style)
        return memo[key]  # type: ignore[no-any-return]

    def _console_options(self) -> ConsoleOptions:
        """The app's console options (a new object built on each read of the app's)."""
        memo = self._styles_in_render
        if memo is None:
            return self.app.console_options
        if "console_options" not in memo:
            memo["console_options"] = self.app.console_options
        return memo["console_options"]  # type: ignore[no-any-return]

    @property
    def ordered_columns(self) -> list[Any]:
        # A list built afresh on each read, read several times a row; the columns are
        # only added (on mount) and never reordered here.
        memo = self._styles_in_render
        if memo is None:
            return super().ordered_columns
        if "ordered_columns" not in memo:
            memo["ordered_columns"] = super().ordered_columns
        return memo["ordered_columns"]  # type: ignore[no-any-return]

    def _follow_styles(self) -> None:
        """Drop what was rendered with styles that changed since: every cached render when
        the table's own or its rows' styles changed, only the cursor's and hover's rows
        when only their styles did (a focus change), nothing when nothing did."""
        components = tuple(self._component_styles.values())
        pseudo_classes = self.get_pseudo_class_state()
        if (not self._restyled and pseudo_classes == self._pseudo_class_state
                and len(components) == len(self._seen_components)
                and all(map(operator.is_, components, self._seen_components))):
            return  # no CSS applied, no pseudo-class changed: the styles are the same
        self._restyled = False
        self._seen_components = components
        look = self._look()
        drawn, self._drawn_look = self._drawn_look, look
        if drawn == look:
            return
        # The component styles are cached without the pseudo-classes they depend on.
        self._rich_style_cache.clear()
        self._get_styles_to_render_cell.cache_clear()
        if drawn is None or drawn[0] != look[0]:
            self._clear_caches()
            return
        _discard(self._cell_render_cache, _highlighted_cell)
        _discard(self._row_render_cache, _highlighted_row)
        _discard(self._line_cache, _highlighted_line)

    def _look(self) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """What the rendering reads from the CSS now: (the table's own style and the
        styles of its header, fixed and odd and even rows; the styles of the cursor and
        the hover)."""
        styles = {name: self.get_component_styles(name).rich_style
                  for name in sorted(self._component_styles)}
        highlight = tuple(styles.pop(name, None) for name in _HIGHLIGHT_COMPONENTS)
        return (self.rich_style, self.background_colors, *styles.items()), highlight

    def _render_line_in_row(
        self, row_key: RowKey, line_no: int, base_style: Style,
        cursor_location: Coordinate, hover_location: Coordinate,
    ) -> tuple[list[list[Segment]], list[list[Segment]]]:
        # As for lines (_RowCursorLineCache): the DataTable caches a rendered row under the
        # cursor's and the hover's coordinate; a row cursor changes only the row it is on.
        if self.cursor_type != "row":
            return super()._render_line_in_row(
                row_key, line_no, base_style, cursor_location, hover_location)
        row_index = self._row_index(row_key)
        # The hover is drawn only while shown (after a mouse move): else it is no row.
        hover = _seen_from(row_index, hover_location) if self._show_hover_cursor else _NO_ROW
        return super()._render_line_in_row(
            row_key, line_no, base_style, _seen_from(row_index, cursor_location), hover)

    def _render_cell(
        self, row_index: int, column_index: int, base_style: Style, width: int,
        cursor: bool = False, hover: bool = False,
    ) -> list[list[Segment]]:
        """DataTable._render_cell (textual 8.2.8, pinned), the same cache key and styles,
        with a body cell of a one-line row laid out by ``_text_cell_line``: a new page
        drew ~350 cells at ~120 µs each in one frame (most of a 70-80 ms page flip)."""
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if (row_key is None or column_key is None or row_index < self.fixed_rows
                or column_index < self.fixed_columns):
            # the header, the row labels, the fixed rows and columns: as the DataTable does
            return super()._render_cell(row_index, column_index, base_style, width,
                                        cursor, hover)
        cache_key = (row_key, column_key, base_style, cursor, hover,
                     self._show_hover_cursor, self._update_count, self._pseudo_class_state)
        cached = self._cell_render_cache.get(cache_key)  # one lookup, not `in` then `[]`
        if cached is not None:
            return cached
        cell = self._get_row_renderables(row_index).cells[column_index]
        line = (_text_cell_line(self.app.console, self._console_options(), cell, width,
                                self.cell_padding)
                if isinstance(cell, Text) and self.rows[row_key].height == 1 else None)
        if line is None:
            return super()._render_cell(row_index, column_index, base_style, width,
                                        cursor, hover)
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        # What Styled(..., pre_style, post_style) does to the segments of the padded cell.
        pre_style = (base_style + Style.from_meta({"row": row_index, "column": column_index})
                     + component_style)
        lines = [list(Segment.apply_style(line, pre_style, post_style))]
        self._cell_render_cache[cache_key] = lines
        return lines

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # On idle after rows arrive, the DataTable measures every cell of every new row
        # (a new page: 2,000 Rich measures, ~50 ms of UI thread) to grow auto-width
        # columns. With every column of a fixed width and one-line rows, only the row
        # labels (MarkedTable's gutter) are measured, as there, and the virtual size set.
        new_rows = list(new_rows)
        rows = [self.rows[key] for key in new_rows if key in self._row_locations]
        if (any(column.auto_width for column in self.columns.values())
                or any(row.auto_height for row in rows)):
            super()._update_dimensions(new_rows)
            return
        widths: dict[int, int] = {}  # by label object: the gutter's two labels are shared
        for row in rows:
            if row.label is None:
                continue
            self._labelled_row_exists = True
            label = default_cell_formatter(row.label, wrap=row.height != 1, height=row.height)
            if id(label) not in widths:
                widths[id(label)] = measure(self.app.console, label, 1) if label else 0
            self._label_column.content_width = max(self._label_column.content_width,
                                                   widths[id(label)])
        width = sum(column.get_render_width(self) for column in self.columns.values())
        header_height = self.header_height if self.show_header else 0
        self.virtual_size = Size(width + self._row_label_column_width,
                                 self._total_row_height + header_height)

    def _row_index(self, row_key: RowKey) -> int:
        row_index = self._row_locations.get(row_key)
        return -1 if row_index is None else row_index  # -1: the header, as DataTable says

    def _line_row_index(self, y: int) -> int:
        """The index of the row that line ``y`` of the table shows (-1: the header)."""
        try:
            row_key, _line = self._get_offsets(y)
        except LookupError:
            return -1
        return self._row_index(row_key)

    def select_key(self, key: str) -> bool:
        """Put the cursor on the row of ``key``; False if it is not shown."""
        try:
            self.move_cursor(row=self.get_row_index(key), animate=False)
        except RowDoesNotExist:
            return False
        return True
