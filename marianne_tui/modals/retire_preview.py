"""Dry run of ``retire_drifting_patterns``: what it would do, and a "No"-focused confirmation.

The preview itself wrote nothing. Running the real thing sets ``priority_score = 0`` (and an
"Auto-retired: ..." suggested action) on each listed pattern; it does **not** change the
status, which is what ``x`` (status "retired") does. The dialog says so, because the two
meanings of "retired" are the store's most confusing trap (ux-anchors section 6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from marianne_tui.modals.dialog import YesNoDialog
from marianne_tui.status import DRIFT_RETIRED, status_text
from marianne_tui.text import untrusted


class RetirePreviewScreen(YesNoDialog):
    """Lists the patterns a drift retirement would touch; True only on an explicit yes."""

    BINDINGS = [Binding("y", "confirm", "Run it")]  # noqa: RUF012

    DEFAULT_CSS = """
    RetirePreviewScreen > #dialog { width: 90; }
    RetirePreviewScreen #explain { height: auto; }
    RetirePreviewScreen #candidates { height: auto; max-height: 10; margin: 1 0 0 0; }
    """

    def __init__(
        self,
        candidates: Sequence[tuple[str, str, float]],
        *,
        drift_threshold: float,
        window_size: int,
        statuses: Mapping[str, str] | None = None,
        read_only: bool = False,
    ) -> None:
        super().__init__()
        self.candidates = tuple(candidates)
        self.drift_threshold = drift_threshold
        self.window_size = window_size
        self.statuses = dict(statuses or {})
        self.read_only = read_only
        self.dialog_title = (
            f"Dry run: retire_drifting_patterns(threshold {drift_threshold:.2f}, "
            f"window {window_size}, negative drift only)"
        )
        self.yes_label = f"Retire {len(self.candidates)} (y)"

    @property
    def can_confirm(self) -> bool:
        return bool(self.candidates) and not self.read_only

    @property
    def no_label(self) -> str:
        return "No (n)" if self.can_confirm else "Close (esc)"

    def compose_body(self) -> ComposeResult:
        count = len(self.candidates)
        yield Static(self._explanation(count), id="explain")
        with VerticalScroll(id="candidates"):
            yield Static(self._table() if count else
                         Text("No pattern drifts negatively past this threshold: "
                              "nothing would be retired.", style="dim"))

    def _explanation(self, count: int) -> Text:
        text = Text()
        text.append("Nothing has been written. ", style="bold")
        if count:
            text.append(f"Running it would set priority_score = 0 on these {count} "
                        f"pattern(s) (shown as {DRIFT_RETIRED.glyph} {DRIFT_RETIRED.word}) "
                        "and write an \"Auto-retired: …\" suggested action.\n")
            text.append("It does NOT change their status", style="bold")
            text.append(" (pending, validated… stay as they are); x sets the status "
                        "\"retired\" instead. The next application of a pattern recomputes "
                        "its priority and silently un-retires it. u does not undo this.")
        if self.read_only:
            text.append("\nRead-only store: preview only.", style="bold yellow")
        return text

    def _table(self) -> Table:
        table = Table(box=None, padding=(0, 1), show_edge=False, expand=True)
        table.add_column("Pattern", ratio=3, no_wrap=True, overflow="ellipsis")
        table.add_column("|drift|", justify="right", no_wrap=True)
        table.add_column("Status now", no_wrap=True)
        table.add_column("Id", style="dim", ratio=1, no_wrap=True, overflow="ellipsis")
        for pattern_id, name, magnitude in self.candidates:
            table.add_row(
                untrusted(name, 60),
                Text(f"{magnitude:.2f}"),
                (status_text(self.statuses[pattern_id]) if pattern_id in self.statuses
                 else Text("–", style="dim")),
                untrusted(pattern_id, 40, "dim"),
            )
        return table

    def refuse(self) -> None:
        self.notify("Nothing to run." if not self.read_only else
                    "The store is open read-only.", severity="warning", markup=False)
