"""LiveTable renders a line once for every cursor position that leaves it unhighlighted.

A cursor move must repaint only the row it left and the row it reached; every other line
comes from the cache, and what the cache serves is what a fresh render draws.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.cache import LRUCache
from textual.geometry import Region
from textual.widgets import DataTable, Input

from marianne_tui.widgets.live_table import Column, LiveTable, Row
from marianne_tui.widgets.marked_table import MarkedTable

COLUMNS = (Column("name", "Name", width=10), Column("score", "Score", width=6))


class StockCacheTable(LiveTable):
    """A LiveTable that caches lines and rows the way the stock DataTable does."""

    _render_line_in_row = DataTable._render_line_in_row

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._line_cache = LRUCache(1000)


class TableApp(App[None]):
    def __init__(self, table_class: type[LiveTable] = LiveTable) -> None:
        super().__init__()
        self.table_class = table_class

    def compose(self) -> ComposeResult:
        yield self.table_class(COLUMNS)

    def on_mount(self) -> None:
        table = self.query_one(LiveTable)
        table.apply([Row(f"p{i}", (Text(f"pattern {i}"), Text(f"{i / 10:.2f}")))
                     for i in range(40)])
        table.focus()


def _lines(table: LiveTable) -> list[list[Any]]:
    """Every visible line of ``table`` as its segments (text and style)."""
    width, height = table.size
    return [list(strip) for strip in table.render_lines(Region(0, 0, width, height))]


#: Moves within the view, then 20 past its bottom (each scrolls a line), then back up.
KEYS = ("down", "down", "down", "up", *(["down"] * 20), "up", "up")


async def _lines_after_each_key(table_class: type[LiveTable]) -> list[list[list[Any]]]:
    app = TableApp(table_class)
    shown = []
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(LiveTable)
        shown.append(_lines(table))
        for key in KEYS:
            await pilot.press(key)
            await pilot.pause()
            shown.append(_lines(table))
        assert table.cursor_row == 20
    return shown


async def test_lines_drawn_after_cursor_moves_equal_the_stock_data_tables() -> None:
    ours = await _lines_after_each_key(LiveTable)
    stock = await _lines_after_each_key(StockCacheTable)
    assert len(ours) == len(KEYS) + 1
    for step, (mine, theirs) in enumerate(zip(ours, stock, strict=True)):
        assert mine == theirs, f"after key {step}: {KEYS[step - 1] if step else 'none'}"
    assert ours[1] != ours[0]  # the cursor's highlight did move


async def test_a_cursor_move_reuses_the_lines_it_does_not_touch() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(LiveTable)
        await pilot.press("down")  # the cursor on row 1 (line 2: the header is line 0)
        await pilot.pause()
        width = table.size.width
        before = [table._render_line(y, 0, width, table.rich_style) for y in range(1, 8)]
        await pilot.press("down")  # row 1 -> row 2
        await pilot.pause()
        after = [table._render_line(y, 0, width, table.rich_style) for y in range(1, 8)]
        reused = [b is a for b, a in zip(before, after, strict=True)]
        # rows 0, 3, 4, 5, 6 are the same Strip objects; rows 1 and 2 were drawn again
        assert reused == [True, False, False, True, True, True, True]
        assert before[1] != after[1] and before[2] != after[2]



async def test_the_render_caches_hold_two_heights_of_the_table() -> None:
    """At 40x12 the table is 12 lines high: 24 lines and rows, 48 cells (2 columns)
    are kept, however far the cursor goes (the DataTable kept 1,000 and 10,000)."""
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(LiveTable)
        assert table.size.height == 12
        for _ in range(39):
            await pilot.press("down")
            await pilot.pause()
        assert table.cursor_row == 39
        assert (table._line_cache.maxsize, table._row_render_cache.maxsize,
                table._cell_render_cache.maxsize) == (24, 24, 48)
        assert len(table._line_cache) == 24  # full: 40 rows, each drawn with the cursor
        assert len(table._row_render_cache) == 24
        assert len(table._cell_render_cache) == 48


async def test_the_render_caches_grow_with_the_table_and_never_shrink() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(LiveTable)
        for _ in range(39):  # fill the caches: a full cache must still grow
            await pilot.press("down")
            await pilot.pause()
        await pilot.resize_terminal(40, 30)
        await pilot.pause()
        assert table.size.height == 30
        assert table._line_cache.maxsize == 60
        await pilot.press("ctrl+home")  # the top row ("home" is the leftmost column)
        for _ in range(39):
            await pilot.press("down")
            await pilot.pause()
        assert table.cursor_row == 39
        assert len(table._line_cache) == 60  # full again, at its new size
        await pilot.resize_terminal(40, 10)
        await pilot.pause()
        assert table._line_cache.maxsize == 60

#: An in-place refresh: three cells of rows 1, 4 and 6 change, one of them wider than its
#: column was (a column without a fixed width must grow, as for the stock DataTable).
AUTO_COLUMNS = (Column("name", "Name"), Column("score", "Score"))
UPDATES = {(1, 1): "0.99", (4, 0): "renamed pattern 4", (6, 1): "1.50"}


def _initial_rows() -> list[Row]:
    return [Row(f"p{i}", (Text(f"pattern {i}"), Text(f"{i / 10:.2f}"))) for i in range(40)]


def _updated_rows() -> list[Row]:
    rows = []
    for index, row in enumerate(_initial_rows()):
        cells = [UPDATES.get((index, column), cell) for column, cell in enumerate(row.cells)]
        rows.append(Row(row.key, tuple(Text(c) if isinstance(c, str) else c for c in cells)))
    return rows


class StockApp(App[None]):
    """A stock DataTable, filled as LiveTable is and updated with update_cell."""

    def __init__(self, columns: tuple[Column, ...]) -> None:
        super().__init__()
        self.columns = columns

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in self.columns:
            table.add_column(Text(column.label), key=column.key, width=column.width)
        for row in _initial_rows():
            table.add_row(*row.cells, key=row.key)
        table.focus()


class AutoWidthApp(TableApp):
    def compose(self) -> ComposeResult:
        yield LiveTable(AUTO_COLUMNS)


async def _settle(pilot: Any) -> None:
    """Let the first fill's measuring on idle happen (it renders everything again)."""
    await pilot.pause()
    await pilot.pause()


async def _lines_after_update(columns: tuple[Column, ...], stock: bool) -> list[list[Any]]:
    app: App[None] = StockApp(columns) if stock else (
        TableApp() if columns is COLUMNS else AutoWidthApp())
    async with app.run_test(size=(40, 12)) as pilot:
        await _settle(pilot)
        table = app.query_one(DataTable)
        # render_line, not the widget's own line cache: what the table caches now is drawn
        before = [list(table.render_line(y)) for y in range(table.size.height)]
        if isinstance(table, LiveTable):
            table.apply(_updated_rows())
        else:
            for (row, column), value in UPDATES.items():
                table.update_cell(f"p{row}", columns[column].key, Text(value), update_width=True)
        await pilot.pause()
        after = _lines(table)  # type: ignore[arg-type]
        assert after != before
        return after


async def test_an_in_place_update_draws_what_the_stock_data_table_draws() -> None:
    for columns in (COLUMNS, AUTO_COLUMNS):
        ours = await _lines_after_update(columns, stock=False)
        theirs = await _lines_after_update(columns, stock=True)
        assert ours == theirs, [column.width for column in columns]
    # the wider name made its column grow (it is not cropped)
    assert "renamed pattern 4" in "".join(segment.text for segment in ours[5])


async def test_an_in_place_update_reuses_the_lines_of_untouched_rows() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(LiveTable)
        await _settle(pilot)
        width = table.size.width
        before = [table._render_line(y, 0, width, table.rich_style) for y in range(1, 9)]
        table.apply(_updated_rows())
        await pilot.pause()
        after = [table._render_line(y, 0, width, table.rich_style) for y in range(1, 9)]
        reused = [b is a for b, a in zip(before, after, strict=True)]
        # rows 1, 4 and 6 (lines 2, 5 and 7: the header is line 0) were drawn again
        assert reused == [True, False, True, True, False, True, False, True]
        assert "0.99" in "".join(segment.text for segment in after[1])


# -- rows that reorder, arrive or leave move in place ----------------------------------------


def _row(index: int, score: str | None = None, name: str | None = None) -> Row:
    return Row(f"p{index}", (Text(name or f"pattern {index}"),
                             Text(score or f"{index / 10:.2f}")))


class CountingTable(LiveTable):
    """A LiveTable that counts the calls of the rebuild's DataTable methods."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls = {"clear": 0, "add_row": 0}

    #: how often every render cache was dropped (a class attribute: __init__ drops them)
    caches_cleared = 0

    def _clear_caches(self) -> None:
        self.caches_cleared += 1
        super()._clear_caches()

    def clear(self, columns: bool = False) -> Any:
        self.calls["clear"] += 1
        return super().clear(columns)

    def add_row(self, *args: Any, **kwargs: Any) -> Any:
        self.calls["add_row"] += 1
        return super().add_row(*args, **kwargs)


class CountingMarkedTable(MarkedTable, CountingTable):
    """The Patterns screen's table (a mark gutter), counting as CountingTable does."""


class RowsApp(App[None]):
    def __init__(self, rows: list[Row], columns: tuple[Column, ...] = COLUMNS,
                 marked: frozenset[str] | None = None) -> None:
        super().__init__()
        self.rows, self.columns, self.marked = rows, columns, marked
        self.highlighted: list[str | None] = []

    def compose(self) -> ComposeResult:
        yield CountingTable(self.columns, id="t") if self.marked is None else (
            CountingMarkedTable(self.columns, id="t"))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.highlighted.append(event.row_key.value)

    def on_mount(self) -> None:
        table = self.query_one("#t", CountingTable)
        table.apply(self.rows)
        if isinstance(table, MarkedTable):
            table.show_marks(self.marked or ())
        table.focus()


async def _fresh_lines(rows: list[Row], columns: tuple[Column, ...], cursor_row: int,
                       scroll_y: float, marked: frozenset[str] | None = None,
                       ) -> list[list[Any]]:
    """What a table filled with ``rows`` at once draws, cursor and scroll as given."""
    app = RowsApp(rows, columns, marked)
    async with app.run_test(size=(40, 12)) as pilot:
        await _settle(pilot)
        table = app.query_one("#t", CountingTable)
        table.move_cursor(row=cursor_row, animate=False, scroll=False)
        table.scroll_to(y=scroll_y, animate=False, immediate=True)
        await pilot.pause()
        assert (table.cursor_row, table.scroll_y) == (cursor_row, scroll_y)
        return _lines(table)


def _cells_in_order(table: LiveTable) -> list[tuple[str, list[str]]]:
    """Each row of the DataTable, in the order it shows them: key and cell texts."""
    return [(str(row.key.value), [cell.plain for cell in table.get_row(row.key)])
            for row in table.ordered_rows]


#: Each step applies these rows after the one before; the cursor starts on p15 (scrolled).
REORDERS: dict[str, list[Row]] = {
    # p15 and its neighbours move up, p2 goes to the end; p20's score changes meanwhile
    "reordered": [*(_row(i) for i in (0, 1, 15, 16, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)),
                  *(_row(i, "9.99" if i == 20 else None) for i in range(17, 40)), _row(2)],
    # p3 and p30 leave; p40 arrives first, p41 in the middle (the cursor's p15 moves down)
    "arrived and left": [_row(40), *(_row(i) for i in (0, 1, 15, 16, 4, 5, 6, 7, 8)),
                         _row(41), *(_row(i) for i in (9, 10, 11, 12, 13, 14)),
                         *(_row(i) for i in range(17, 40) if i != 30), _row(2)],
    # p3 comes back above the cursor with another score (what it rendered before is stale)
    "came back": [_row(3, "7.77"), _row(40), *(_row(i) for i in (0, 1, 15, 16, 4, 5, 6)),
                  *(_row(i) for i in (7, 8, 41, 9, 10, 11, 12, 13, 14)),
                  *(_row(i) for i in range(17, 40) if i != 30), _row(2)],
}
# nearly every row moves (the render caches are dropped whole)
REORDERS["reversed"] = REORDERS["came back"][::-1]
# near the cursor (now on row 36), rows 30 and 32 swap (same stripe: only the rows' mouse
# meta tells them apart) and p42 takes the place of row 35
_few = list(REORDERS["reversed"])
_few[30], _few[32], _few[35] = _few[32], _few[30], _row(42)
REORDERS["few moved"] = _few


async def test_rows_that_move_arrive_or_leave_draw_what_a_fresh_table_draws() -> None:
    app = RowsApp([_row(i) for i in range(40)])
    async with app.run_test(size=(40, 12)) as pilot:
        await _settle(pilot)
        table = app.query_one("#t", CountingTable)
        assert table.select_key("p15")
        await pilot.pause()
        assert table.scroll_y > 0  # the cursor's row is below the first screen
        table.calls = {"clear": 0, "add_row": 0}
        for step, rows in REORDERS.items():
            before = _lines(table)
            cleared = table.caches_cleared
            assert table.apply(rows)
            await pilot.pause()
            after = _lines(table)
            assert after != before, step
            keys = [row.key for row in rows]
            assert table.row_keys_in_order == tuple(keys), step
            assert _cells_in_order(table) == [
                (row.key, [cell.plain for cell in row.cells]) for row in rows], step
            assert table.cursor_key == "p15", step
            assert table.cursor_row == keys.index("p15"), step
            fresh = await _fresh_lines(rows, COLUMNS, table.cursor_row, table.scroll_y)
            assert after == fresh, step
        # the last step dropped only the caches of the rows it moved
        assert table.caches_cleared == cleared
        # the rows moved in place: the table was never cleared nor filled again
        assert table.calls == {"clear": 0, "add_row": 0}


async def test_an_arrived_row_wider_than_its_column_grows_it_as_a_fresh_table_does() -> None:
    rows = [_row(i) for i in range(40)]
    app = RowsApp(rows, AUTO_COLUMNS)
    async with app.run_test(size=(40, 12)) as pilot:
        await _settle(pilot)
        table = app.query_one("#t", CountingTable)
        table.calls = {"clear": 0, "add_row": 0}
        moved = [_row(1), _row(0), _row(99, name="a much longer pattern"), *rows[3:]]
        table.apply(moved)
        await _settle(pilot)
        after = _lines(table)
        assert "a much longer pattern" in "".join(segment.text for segment in after[3])
        assert after == await _fresh_lines(moved, AUTO_COLUMNS, table.cursor_row,
                                           table.scroll_y)
        assert table.calls == {"clear": 0, "add_row": 0}


async def test_a_move_draws_again_only_the_lines_whose_row_changed() -> None:
    app = RowsApp([_row(i) for i in range(40)])
    async with app.run_test(size=(40, 12)) as pilot:
        await _settle(pilot)
        table = app.query_one("#t", CountingTable)
        table.calls = {"clear": 0, "add_row": 0}
        width = table.size.width
        before = [table._render_line(y, 0, width, table.rich_style) for y in range(1, 9)]
        # rows 2 and 5 swap places, row 3's score changes
        table.apply([_row(0), _row(1), _row(5), _row(3, "8.88"), _row(4), _row(2),
                     *(_row(i) for i in range(6, 40))])
        await pilot.pause()
        after = [table._render_line(y, 0, width, table.rich_style) for y in range(1, 9)]
        reused = [b is a for b, a in zip(before, after, strict=True)]
        assert reused == [True, True, False, False, True, False, True, True]
        assert table.calls["clear"] == 0


async def test_when_the_cursors_row_leaves_the_cursor_stays_at_its_index() -> None:
    app = RowsApp([_row(i) for i in range(40)])
    async with app.run_test(size=(40, 12)) as pilot:
        await _settle(pilot)
        table = app.query_one("#t", CountingTable)
        assert table.select_key("p5")
        await pilot.pause()
        table.calls = {"clear": 0, "add_row": 0}
        app.highlighted.clear()
        table.apply([_row(i) for i in range(40) if i != 5])
        await pilot.pause()
        assert (table.cursor_row, table.cursor_key) == (5, "p6")
        assert app.highlighted == ["p6"]  # a detail panel follows, as after a cursor move
        assert table.calls["clear"] == 0


async def test_an_arrived_row_keeps_its_mark_in_the_gutter() -> None:
    marked = frozenset({"p1", "p40"})  # p40 is marked before it reaches the page
    app = RowsApp([_row(i) for i in range(40)], marked=marked)
    async with app.run_test(size=(40, 12)) as pilot:
        await _settle(pilot)
        table = app.query_one("#t", CountingMarkedTable)
        table.calls = {"clear": 0, "add_row": 0}
        rows = [_row(40), _row(41), *(_row(i) for i in range(38))]
        table.apply(rows)
        table.show_marks(marked)  # as the Patterns screen does after each apply
        await pilot.pause()
        assert [table.mark_label(key) for key in ("p40", "p41", "p0", "p1")] == [
            "◆", "", "", "◆"]
        assert _lines(table) == await _fresh_lines(rows, COLUMNS, table.cursor_row,
                                                   table.scroll_y, marked)
        assert table.calls == {"clear": 0, "add_row": 0}


# -- focus changes and CSS applied again ------------------------------------------------------


class FocusApp(App[None]):
    """A LiveTable (the cursor on row 3) and a field that can take the focus from it."""

    def compose(self) -> ComposeResult:
        yield Input(id="field")
        yield LiveTable(COLUMNS, id="t")

    def on_mount(self) -> None:
        table = self.query_one("#t", LiveTable)
        table.apply(_initial_rows())
        table.move_cursor(row=3, animate=False)
        table.focus()


def _drawn_afresh(table: LiveTable) -> list[list[Any]]:
    """What ``table`` draws with nothing cached (styles included): a fresh render."""
    table._clear_caches()  # the cell style cache too
    table._rich_style_cache.clear()
    table._styles_cache.clear()
    return _lines(table)


def _count_cell_renders(table: LiveTable) -> list[int]:
    """A counter (one-element list) of the cells ``table`` renders from now on (not those
    its cell cache serves: each rendered cell is stored in that cache)."""
    count = [0]
    cache = table._cell_render_cache

    class Counting(type(cache)):  # type: ignore[misc]
        __slots__ = ()

        def set(self, key: Any, value: Any) -> None:
            count[0] += 1
            super().set(key, value)

        __setitem__ = set

    cache.__class__ = Counting
    return count


async def test_after_a_focus_change_the_table_draws_what_a_fresh_render_draws() -> None:
    app = FocusApp()
    async with app.run_test(size=(40, 14)) as pilot:
        await _settle(pilot)
        table = app.query_one("#t", LiveTable)
        focused = _lines(table)
        assert focused == _drawn_afresh(table)
        app.query_one("#field", Input).focus()
        await pilot.pause()
        assert not table.has_focus
        blurred = _lines(table)
        assert blurred == _drawn_afresh(table)
        table.focus()
        await pilot.pause()
        assert _lines(table) == focused
    # The cursor's row (line 4: the header is line 0) tells a focused table from a blurred
    # one; every other line looks the same either way.
    assert [y for y, (a, b) in enumerate(zip(focused, blurred, strict=True)) if a != b] == [4]


async def test_a_focus_change_renders_again_only_the_cursors_row() -> None:
    app = FocusApp()
    async with app.run_test(size=(40, 14)) as pilot:
        await _settle(pilot)
        table = app.query_one("#t", LiveTable)
        _lines(table)
        rendered = _count_cell_renders(table)
        app.query_one("#field", Input).focus()
        await pilot.pause()
        _lines(table)
        assert not table.has_focus
        assert rendered[0] == len(COLUMNS)  # the cursor's row, nothing else
        rendered[0] = 0
        table.focus()
        await pilot.pause()
        _lines(table)
        assert rendered[0] == len(COLUMNS)


async def test_css_applied_again_unchanged_renders_nothing_again() -> None:
    # What a screen coming back (ScreenResume) or a mode switch (refresh_css) does.
    app = FocusApp()
    async with app.run_test(size=(40, 14)) as pilot:
        await _settle(pilot)
        table = app.query_one("#t", LiveTable)
        before = _lines(table)
        rendered = _count_cell_renders(table)
        app.screen.update_node_styles(animate=False)
        await pilot.pause()
        assert _lines(table) == before
        assert rendered[0] == 0


async def test_css_that_changes_the_look_is_drawn() -> None:
    app = FocusApp()
    async with app.run_test(size=(40, 14)) as pilot:
        await _settle(pilot)
        table = app.query_one("#t", LiveTable)
        dark = _lines(table)
        app.theme = "textual-light"  # every style of the table changes
        await pilot.pause()
        light = _lines(table)
        assert light != dark
        assert light == _drawn_afresh(table)


async def test_a_resize_that_keeps_the_width_renders_no_cell_again() -> None:
    # The Escalations table's height follows its list; only a new width changes a row.
    # (What is on screen is not drawn again on a resize; what the next scroll draws is.)
    app = FocusApp()
    async with app.run_test(size=(40, 16)) as pilot:
        await _settle(pilot)
        table = app.query_one("#t", LiveTable)
        _lines(table)
        rendered = _count_cell_renders(table)
        await pilot.resize_terminal(40, 12)  # fewer lines, the same width
        await pilot.pause()
        assert table.size.height < 13
        table.scroll_to(y=2, animate=False, immediate=True)  # rows 2-9: all drawn before
        await pilot.pause()
        shorter = _lines(table)
        assert rendered[0] == 0
        assert shorter == _drawn_afresh(table)
        await pilot.resize_terminal(36, 12)
        await pilot.pause()
        narrower = _lines(table)
        assert narrower == _drawn_afresh(table)
        assert narrower != shorter
