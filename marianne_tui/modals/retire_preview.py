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
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from marianne_tui.status import DRIFT_RETIRED, status_text
from marianne_tui.text import untrusted


class RetirePreviewScreen(ModalScreen[bool]):
    """Lists the patterns a drift retirement would touch; True only on an explicit yes."""

    AUTO_FOCUS = "#no"
    BINDINGS = [  # noqa: RUF012
        Binding("y", "confirm", "Run it"),
        Binding("n", "cancel", "No"),
        Binding("escape", "cancel", "Close", show=False),
    ]

    DEFAULT_CSS = """
    RetirePreviewScreen { align: center middle; }
    RetirePreviewScreen > #dialog {
        width: 90; max-width: 100%; height: auto; max-height: 100%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    RetirePreviewScreen #title { text-style: bold; }
    RetirePreviewScreen #explain { height: auto; }
    RetirePreviewScreen #candidates { height: auto; max-height: 10; margin: 1 0 0 0; }
    RetirePreviewScreen #buttons { height: 3; align-horizontal: right; }
    RetirePreviewScreen Button { margin-left: 1; min-width: 10; }
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

    @property
    def can_run(self) -> bool:
        return bool(self.candidates) and not self.read_only

    def compose(self) -> ComposeResult:
        count = len(self.candidates)
        with Vertical(id="dialog"):
            yield Static(
                Text(f"Dry run: retire_drifting_patterns(threshold {self.drift_threshold:.2f}, "
                     f"window {self.window_size}, negative drift only)"),
                id="title",
            )
            yield Static(self._explanation(count), id="explain")
            with VerticalScroll(id="candidates"):
                yield Static(self._table() if count else
                             Text("No pattern drifts negatively past this threshold: "
                                  "nothing would be retired.", style="dim"))
            with Horizontal(id="buttons"):
                if self.can_run:
                    yield Button(f"Retire {count} (y)", id="yes", variant="warning")
                yield Button("No (n)" if self.can_run else "Close (esc)", id="no",
                             variant="primary")

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

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes" and self.can_run)

    def action_confirm(self) -> None:
        if self.can_run:
            self.dismiss(True)
        else:
            self.notify("Nothing to run." if not self.read_only else
                        "The store is open read-only.", severity="warning", markup=False)

    def action_cancel(self) -> None:
        self.dismiss(False)
