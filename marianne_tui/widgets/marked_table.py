"""A LiveTable with a leading mark gutter: "◆" on the rows an operator has marked.

The gutter is the DataTable's row-label column, so it leads every row without being one of
its cells: cell indices, column keys and what export reads stay as they were. The gutter
shows only while something is marked (the list keeps its three columns otherwise); every
row then has a label (a space when unmarked), so its width does not depend on which rows
are marked.
"""

from __future__ import annotations

from collections.abc import Collection

from rich.text import Text
from textual.widgets.data_table import RowKey

from marianne_tui.widgets.live_table import LiveTable

#: The glyph of a marked row (no status uses it: ○ ✖ ✓ ■ ↓ are taken).
MARK_GLYPH = "◆"
_MARKED = Text(MARK_GLYPH, style="bold magenta", no_wrap=True, end="")
_UNMARKED = Text(" ", no_wrap=True, end="")


class MarkedTable(LiveTable):
    """``show_marks(ids)`` puts the glyph on those rows (and survives rebuilds)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, show_row_labels=False, **kwargs)  # type: ignore[arg-type]
        self._marked: frozenset[str] = frozenset()

    def add_row(self, *cells: object, height: int | None = 1, key: str | None = None,
                label: object = None) -> RowKey:
        if label is None:
            label = self._row_label(key)
        return super().add_row(*cells, height=height, key=key, label=label)  # type: ignore[arg-type]

    def _row_label(self, key: str | None) -> Text:
        # Also for the rows a refresh moves in without add_row (LiveTable._place_rows).
        return _MARKED if key in self._marked else _UNMARKED

    def mark_label(self, key: str) -> str:
        """What the gutter of ``key``'s row shows ("" if the row is not in the table)."""
        row = self.rows.get(RowKey(key))
        return "" if row is None or row.label is None else row.label.plain.strip()

    def show_marks(self, marked: Collection[str]) -> None:
        """Show the glyph on exactly the rows of ``marked`` (ids not shown are ignored)."""
        new = frozenset(marked)
        touched = False
        for key in new ^ self._marked:
            row = self.rows.get(RowKey(key))
            if row is not None:
                row.label = _MARKED if key in new else _UNMARKED
                touched = True
        self._marked = new
        # The DataTable measures labels only while it shows them: give the gutter its
        # one cell before showing it (its watcher then widens the table by that much).
        self._label_column.content_width = max(self._label_column.content_width, 1)
        self.show_row_labels = bool(new)
        if touched:
            self._update_count += 1  # the row render caches are keyed on this counter
            self._clear_caches()
            self.refresh()
