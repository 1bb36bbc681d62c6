"""A DataTable that is refreshed in place, keyed by entity id.

A refresh hands over the rows the store returned, already sorted. When the keys and their
order are unchanged, only cells whose value changed are updated, so an idle console sends
nothing to the terminal and the cursor and scroll stay put. When rows appear, vanish or
reorder, the table is rebuilt and the cursor goes back to the same entity (not the same row
index: a removed row above the cursor must not move a triage key onto another pattern).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist


@dataclass(frozen=True)
class Column:
    """One column: its key, its header label and an optional fixed width."""

    key: str
    label: str
    width: int | None = None


@dataclass(frozen=True)
class Row:
    """One row: the entity id and the already rendered cells (``Text``, never raw ``str``)."""

    key: str
    cells: tuple[Text, ...]


#: What a row shows, in its ``saving_column``, while a write to it has not committed.
SAVING = Text("⟳ saving…", style="bold yellow", no_wrap=True, end="")


class LiveTable(DataTable[Text]):
    """Row-cursor table with keyed, in-place refresh.

    ``mark_saving(key, True)`` shows "saving…" in the row's ``saving_column`` (default:
    the first) until ``mark_saving(key, False)``; refreshes meanwhile keep the mark.
    """

    DEFAULT_CSS = """
    LiveTable { height: 1fr; }
    """

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
        if keys == self._keys:
            return self._update_changed_cells(rows)
        self._rebuild(rows)
        return True

    def _update_changed_cells(self, rows: Sequence[Row]) -> bool:
        changed = False
        for row in rows:
            old = self._cells.get(row.key)
            if old == row.cells:
                continue
            shown = self._shown(row.key, row.cells)
            for index, (column, cell) in enumerate(zip(self._column_specs, shown,
                                                       strict=True)):
                if old is None or self._shown(row.key, old)[index] != cell:
                    self.update_cell(row.key, column.key, cell)
            self._cells[row.key] = row.cells
            changed = True
        return changed

    def _rebuild(self, rows: Sequence[Row]) -> None:
        keep_key = self.cursor_key
        keep_index = self.cursor_row
        scroll_y = self.scroll_y
        with self.app.batch_update():
            self.clear()
            for row in rows:
                self.add_row(*self._shown(row.key, row.cells), key=row.key)
            self._keys = tuple(row.key for row in rows)
            self._cells = {row.key: row.cells for row in rows}
            if not rows:
                return
            try:
                target = self.get_row_index(keep_key) if keep_key is not None else keep_index
            except RowDoesNotExist:
                target = keep_index
            target = max(0, min(target, len(rows) - 1))
            self.scroll_to(y=scroll_y, animate=False, immediate=True)
            self.move_cursor(row=target, animate=False, scroll=True)

    def _shown(self, key: str, cells: tuple[Text, ...]) -> tuple[Text, ...]:
        if key not in self._saving or not cells:
            return cells
        index = self._saving_index
        return (*cells[:index], SAVING, *cells[index + 1:])

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
        column = self._column_specs[self._saving_index].key
        with contextlib.suppress(RowDoesNotExist, CellDoesNotExist):  # the row left meanwhile
            self.update_cell(key, column, self._shown(key, cells)[self._saving_index])

    def set_column_label(self, key: str, label: Text) -> None:
        """Change a column's header label (e.g. a sort indicator) without touching rows."""
        column = self.columns.get(ColumnKey(key))
        if column is None or column.label == label:
            return
        column.label = label
        self._update_count += 1  # the header render caches are keyed on this counter
        self._clear_caches()
        self.refresh()

    def select_key(self, key: str) -> bool:
        """Put the cursor on the row of ``key``; False if it is not shown."""
        try:
            self.move_cursor(row=self.get_row_index(key), animate=False)
        except RowDoesNotExist:
            return False
        return True
