"""The two dialogs of bulk triage: one action on every marked pattern, and the undo of one.

Both say how many patterns go from which status to which ("8 pending → quarantined"), what
is skipped and why, and list the first rows; "No" has the focus, `y` confirms. Names and
ids come from the store and are sanitised here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from marianne_tui.modals.confirm import describe_value
from marianne_tui.modals.dialog import YesNoDialog
from marianne_tui.status import STATUS_WIDTH, status_text
from marianne_tui.text import untrusted
from store import BatchPreview, BatchUndoPreview

#: Rows a dialog lists by name (the counts above them cover the rest).
FIRST_ROWS = 5

#: Action -> (title with {what}, the yes button's verb)
_WORDING = {
    "quarantine": ("Quarantine {what}?", "Quarantine"),
    "validate": ("Validate {what}?", "Validate"),
    "retire": ("Retire {what} (status \"retired\")?", "Retire"),
    "pending": ("Put {what} back to pending?", "Pending"),
}


def plural(count: int, word: str = "pattern") -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def transition_line(count: int, before: str, after: str) -> Text:
    """"8 ○ pending → ✖ quarantined" (glyph and word, never colour alone)."""
    line = Text(f"{count:,} ", style="bold", end="")
    line.append_text(status_text(before))
    line.append(" → ", style="bold")
    line.append_text(status_text(after))
    return line


def _rows_table(
    rows: Iterable[tuple[str, str, str, str]], shown: int, total: int
) -> RenderableType:
    """(status before, status after, name, id) of the first rows, then "… and N more".

    The statuses keep their full width (a long name is what gets cut)."""
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(no_wrap=True, width=STATUS_WIDTH - 2)
    table.add_column(no_wrap=True, width=1)
    table.add_column(no_wrap=True, width=STATUS_WIDTH - 2)
    table.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    table.add_column(style="dim", no_wrap=True, overflow="ellipsis", width=10)
    for before, after, name, pattern_id in rows:
        table.add_row(status_text(before), Text("→"), status_text(after),
                      untrusted(name, 60), untrusted(pattern_id, 40, style="dim"))
    if total <= shown:
        return table
    return Group(table, Text(f"… and {total - shown:,} more", style="dim"))


class BulkConfirmScreen(YesNoDialog):
    """Confirm one action on many patterns; True only on an explicit yes."""

    DEFAULT_CSS = """
    BulkConfirmScreen > #dialog { width: 90; }
    BulkConfirmScreen #summary { height: auto; margin: 1 0 0 0; }
    BulkConfirmScreen #rows { height: auto; max-height: 8; margin: 1 0 0 0; }
    BulkConfirmScreen #warnings { color: $warning; height: auto; }
    BulkConfirmScreen #rails { color: $warning; height: auto; margin: 1 0 0 0; }
    BulkConfirmScreen.-rails #summary { margin: 0; }
    BulkConfirmScreen.-rails #rows { margin: 0; }
    """

    def __init__(self, preview: BatchPreview, *, warnings: Sequence[str] = (),
                 rails: Sequence[str] = ()) -> None:
        super().__init__()
        self.preview = preview
        self.warnings = tuple(warnings)
        #: the guard rails of a bulk validate, counted ("2 with fewer than 3 applications")
        self.rails = tuple(rails)
        if self.rails:
            # Its line takes the margins above the summary and the rows: the dialog keeps
            # its height, and its buttons stay on an 80x24 screen.
            self.add_class("-rails")
        changing = len(preview.changing)
        marked = len(preview.items) + len(preview.missing)
        title, verb = _WORDING.get(preview.action, ("{what}: " + preview.action + "?",
                                                    preview.action))
        what = (f"the {plural(marked, 'marked pattern')}" if changing == marked
                else f"{changing:,} of the {plural(marked, 'marked pattern')}")
        self.dialog_title = title.format(what=what)
        self.yes_label = f"{verb} {changing:,} (y)"

    @property
    def can_confirm(self) -> bool:
        return bool(self.preview.changing)

    @property
    def no_label(self) -> str:
        return "No (n)" if self.can_confirm else "Close (esc)"

    def compose_body(self) -> ComposeResult:
        yield Static(self._summary(), id="summary")
        if self.rails:
            yield Static(Text("⚠ " + " · ".join(self.rails), style="bold"), id="rails")
        changing = self.preview.changing
        first = changing[:FIRST_ROWS]
        with VerticalScroll(id="rows"):
            yield Static(_rows_table(
                ((item.before_status, item.after_status, item.name, item.pattern_id)
                 for item in first),
                len(first), len(changing),
            ))
        notes = [*self.warnings, "One journal row per pattern, one batch: u undoes all of it."]
        yield Static(Text("\n").join(Text(f"⚠ {note}") for note in notes), id="warnings")

    def _summary(self) -> Text:
        preview = self.preview
        lines = [transition_line(count, before, after)
                 for before, after, count in preview.transitions()]
        for status, count in preview.skipped_by_status():
            line = Text(f"{count:,} already ", style="dim", end="")
            line.append_text(status_text(status))
            line.append(": skipped", style="dim")
            lines.append(line)
        if preview.missing:
            lines.append(Text(f"{len(preview.missing):,} no longer in the store: skipped",
                              style="dim"))
        if not preview.changing:
            lines.append(Text("Nothing would change.", style="bold"))
        if preview.reason:
            reason = Text("reason: ", style="bold")
            reason.append_text(describe_value(preview.reason, 120))
            lines.append(reason)
        return Text("\n").join(lines)


class BatchUndoScreen(YesNoDialog):
    """Confirm the undo of a whole bulk action; refuses when a pattern moved on since."""

    DEFAULT_CSS = """
    BatchUndoScreen > #dialog { width: 90; }
    BatchUndoScreen #summary { height: auto; margin: 1 0 0 0; }
    BatchUndoScreen #rows { height: auto; max-height: 8; margin: 1 0 0 0; }
    BatchUndoScreen #warnings { color: $warning; height: auto; }
    """

    def __init__(self, preview: BatchUndoPreview) -> None:
        super().__init__()
        self.preview = preview
        count = len(preview.entries)
        action = preview.entries[0].action if preview.entries else "action"
        self.dialog_title = f"Undo the bulk {action} of {plural(count)} (one transaction)?"
        self.yes_label = f"Undo {count:,} (y)"

    @property
    def can_confirm(self) -> bool:
        return bool(self.preview.entries) and not self.preview.conflicts

    @property
    def no_label(self) -> str:
        return "No (n)" if self.can_confirm else "Close (esc)"

    def compose_body(self) -> ComposeResult:
        entries = self.preview.entries
        counts: dict[tuple[str, str], int] = {}
        for entry in entries:
            key = (_status(entry.new_state), _status(entry.prior_state))
            counts[key] = counts.get(key, 0) + 1
        lines = [transition_line(count, now, back)
                 for (now, back), count in sorted(counts.items(), key=lambda kv: -kv[1])]
        yield Static(Text("\n").join(lines) if lines else Text("Nothing left to undo."),
                     id="summary")
        first = entries[:FIRST_ROWS]
        names = self.preview.names
        with VerticalScroll(id="rows"):
            yield Static(_rows_table(
                ((_status(entry.new_state), _status(entry.prior_state),
                  names.get(entry.target_id, "(no longer in the store)"), entry.target_id)
                 for entry in first),
                len(first), len(entries),
            ))
        conflicts = self.preview.conflicts
        note = (f"{plural(len(conflicts))} changed after the batch: undoing it would "
                "overwrite that, so it is refused as a whole." if conflicts else
                "Every pattern gets back the exact state it had before the batch.")
        yield Static(Text(f"⚠ {note}"), id="warnings")

    def refuse(self) -> None:
        self.notify("Cannot undo this batch: some of its patterns changed since.",
                    severity="warning", markup=False)


def _status(state: Mapping[str, Any]) -> str:
    """The status a journalled state reads as (NULL is pending)."""
    return str(state.get("quarantine_status") or "pending")
