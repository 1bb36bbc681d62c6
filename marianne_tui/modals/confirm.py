"""A yes/no dialog for a mutation: what it changes, before -> after, with "No" focused.

Everything from the store arrives here as values that are sanitised before display; the
title and the labels are our own strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from marianne_tui.modals.dialog import YesNoDialog
from marianne_tui.text import untrusted

#: How much of one before/after value the dialog shows (the detail view shows all of it).
VALUE_LIMIT = 160


def describe_value(value: Any, limit: int = VALUE_LIMIT) -> Text:
    """A stored value for display: None is shown as a dim dash, the rest sanitised."""
    if value is None or value == "":
        return Text("—", style="dim", end="")
    return untrusted(value, limit)


def changes_table(before: Mapping[str, Any], after: Mapping[str, Any]) -> Table:
    """One line per changed column: name, before, arrow, after."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for key in (*before, *(k for k in after if k not in before)):
        table.add_row(
            Text(key.replace("_", " ")),
            describe_value(before.get(key)),
            Text("→", style="bold"),
            describe_value(after.get(key)),
        )
    return table


class ConfirmScreen(YesNoDialog):
    """Dismisses with True only on `y` (or the Yes button); False otherwise."""

    DEFAULT_CSS = """
    ConfirmScreen #body { height: auto; max-height: 14; }
    ConfirmScreen #warnings { color: $warning; }
    """

    def __init__(
        self,
        title: str,
        subject: Text,
        before: Mapping[str, Any],
        after: Mapping[str, Any],
        *,
        warnings: Sequence[str] = (),
        yes_label: str = "Yes (y)",
    ) -> None:
        """``title`` and ``warnings`` are our own text; ``subject`` is already sanitised."""
        super().__init__()
        self.dialog_title = title
        self.subject = subject
        self.before = dict(before)
        self.after = dict(after)
        self.warnings = tuple(warnings)
        self.yes_label = yes_label

    def compose_body(self) -> ComposeResult:
        yield Static(self.subject, id="subject")
        with VerticalScroll(id="body"):
            if self.before or self.after:
                yield Static(changes_table(self.before, self.after), id="changes")
            else:
                yield Static(Text("No stored value would change.", style="dim"))
            if self.warnings:
                yield Static(
                    Text("\n").join(Text(f"⚠ {w}") for w in self.warnings), id="warnings"
                )
