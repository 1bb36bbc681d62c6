"""LiveTable lays out its body cells itself (``_text_cell_line``), not through Rich's generic
render of ``Padding(cell)``: what it draws must be what the stock DataTable draws.

Two levels: the cell line against Rich's own render for many generated cells (wide
characters, every justify and overflow, spans, styles, widths, paddings), and whole tables
(a new page, cursor moves, marks in the gutter) against a LiveTable that renders and
measures cells as the stock DataTable does.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.renderables.styled import Styled
from textual.widgets import DataTable

from marianne_tui.text import untrusted
from marianne_tui.widgets import live_table
from marianne_tui.widgets.live_table import Column, LiveTable, Row
from marianne_tui.widgets.marked_table import MarkedTable

_CHARACTERS = ["a", "b", "Z", " ", "é", "e\u0301", "漢", "字", "😀", "…", "-", "\u3000", "[", "]"]
_STYLES: list[str | Style] = ["", "dim", "bold red", "none", Style(color="green", italic=True)]


def _random_cell(rng: random.Random) -> Text:
    plain = "".join(rng.choice(_CHARACTERS) for _ in range(rng.randrange(0, 14)))
    cell = Text(plain, style=rng.choice(_STYLES),
                justify=rng.choice([None, "default", "left", "right", "center", "full"]),
                overflow=rng.choice([None, "fold", "crop", "ellipsis"]),
                no_wrap=rng.choice([None, True]), end=rng.choice(["", "\n"]))
    if rng.random() < 0.25:
        cell.stylize("reverse", 0, rng.randrange(0, 6))
    return cell


def test_a_cell_line_is_what_rich_renders_for_the_padded_cell() -> None:
    console = Console(width=120, force_terminal=True, color_system="truecolor")
    rng = random.Random(7)
    laid_out_here = 0
    for _ in range(4000):
        cell = _random_cell(rng)
        width, padding = rng.randrange(1, 14), rng.choice([0, 1, 2])
        pre = Style(bgcolor="blue") + Style.from_meta({"row": 1, "column": 2})
        post = Style(bold=rng.random() < 0.5)
        # What DataTable._render_cell renders for a cell of a one-line row.
        options = console.options.update_dimensions(width, 1).update(no_wrap=True)
        expected = console.render_lines(
            Styled(Padding(cell, (0, padding)), pre_style=pre, post_style=post), options)
        line = live_table._text_cell_line(console, console.options, cell, width, padding)
        if line is None:
            assert width <= 2 * padding
            continue
        if not cell.spans and live_table._plain_cell_line(
                console, console.options, cell, width - 2 * padding) is not None:
            laid_out_here += 1
        assert [list(Segment.apply_style(line, pre, post))] == expected, (
            repr(cell), cell.justify, cell.overflow, width, padding)
    assert laid_out_here > 1000  # the fast layout was exercised, not only Rich's


COLUMNS = (Column("status", "status", 9), Column("score", "score", 5),
           Column("count", "n", 4), Column("name", "name", 12), Column("kind", "kind", 7))


def _row(n: int) -> Row:
    score = (n * 37 % 100) / 100
    status = Text.assemble(("●", "green" if n % 3 else "red"), " active" if n % 2 else " 漢字")
    name = untrusted(f"[b]{n}[/b] \x1b[31mred\x1b[0m pattern 😀", 40,
                     style="dim" if n % 5 == 0 else "")
    if n % 7 == 0:
        name.append(" (inactive)", style="dim italic")
    return Row(f"p{n}", (
        status,
        Text(f"{score:.2f}", style="green" if score > 0.5 else "red", justify="right", end=""),
        Text(str(n * 131), justify="right", no_wrap=True, end=""),
        name,
        Text("mid" if n % 4 else "", justify="center", end=""),
    ))


class StockCellTable(MarkedTable):
    """A MarkedTable that renders and measures its cells as the stock DataTable does, and
    fills a new page with add_row."""

    _render_cell = DataTable._render_cell
    _update_dimensions = DataTable._update_dimensions

    def _fill(self, rows: Sequence[tuple[str, tuple[Text, ...]]]) -> None:
        for key, cells in rows:
            self.add_row(*cells, key=key)


class PageApp(App[None]):
    def __init__(self, table_class: type[LiveTable]) -> None:
        super().__init__()
        self.table_class = table_class
        self.highlighted: list[tuple[int, str | None]] = []

    def compose(self) -> ComposeResult:
        yield self.table_class(COLUMNS)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.highlighted.append((event.cursor_row, event.row_key.value))


def _lines(table: LiveTable) -> list[list[Any]]:
    width, height = table.size
    return [list(strip) for strip in table.render_lines(Region(0, 0, width, height))]


async def _drawn(table_class: type[LiveTable]) -> list[Any]:
    """What the table draws, where its cursor and scroll are and the rows it said were
    highlighted, after each step: a first page, cursor moves that scroll, marks in the
    gutter, a new page (rebuilt), a scroll to its end, no rows, then a page again."""
    app = PageApp(table_class)
    shown: list[Any] = []
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(LiveTable)
        assert isinstance(table, MarkedTable)

        async def step() -> None:
            await pilot.pause()
            await pilot.pause()
            shown.append((_lines(table), table.cursor_row, table.scroll_y,
                          list(app.highlighted)))

        table.focus()
        table.apply([_row(n) for n in range(30)])
        await step()
        for _ in range(12):
            await pilot.press("down")
        await step()
        table.show_marks({"p3", "p11"})
        await step()
        table.apply([_row(n) for n in range(100, 130)])
        await step()
        assert table.virtual_size.height == 31  # the header and 30 one-line rows
        await pilot.press("end")
        await step()
        table.apply([])
        await step()
        table.apply([_row(n) for n in range(200, 210)])
        await step()
    return shown


async def test_a_table_draws_what_it_draws_with_the_stock_cell_render() -> None:
    ours = await _drawn(MarkedTable)
    stock = await _drawn(StockCellTable)
    for step, (mine, theirs) in enumerate(zip(ours, stock, strict=True)):
        assert mine == theirs, f"step {step}"
    assert ours[-1][3][-1] == (0, "p200")  # the new first row was said to be highlighted
    text = "".join(segment.text for line in ours[0][0] for segment in line)
    assert "[b]1[/b]" in text  # store text is shown literally, never parsed
    assert "\x1b" not in text
