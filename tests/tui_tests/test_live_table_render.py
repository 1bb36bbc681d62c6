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
from textual.widgets import DataTable

from marianne_tui.widgets.live_table import Column, LiveTable, Row

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
