"""Asks the operator why (before a quarantine): `enter` submits, `escape` cancels the action.

Dismisses with the typed text (stripped; "" when left empty) or None when cancelled. The
reason is stored in the store and the journal as typed; it is only ever displayed through
the sanitizer.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from marianne_tui.modals.backdrop import BackdropModalScreen

#: Longest reason accepted (a reason is a sentence, not a document).
MAX_REASON = 500


class ReasonScreen(BackdropModalScreen[str | None]):
    AUTO_FOCUS = "#reason"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]  # noqa: RUF012

    DEFAULT_CSS = """
    ReasonScreen { align: center middle; }
    ReasonScreen > #dialog {
        width: 76; max-width: 100%; height: auto;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    ReasonScreen #title { text-style: bold; }
    ReasonScreen #hint { color: $text-muted; }
    """

    def __init__(self, title: str, subject: Text, *, placeholder: str = "reason") -> None:
        """``title`` is our own text; ``subject`` is already sanitised."""
        super().__init__()
        self.dialog_title = title
        self.subject = subject
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(self.dialog_title), id="title")
            yield Static(self.subject, id="subject")
            # No blinking cursor: snapshots must be deterministic, and it costs bytes on SSH.
            reason = Input(placeholder=self.placeholder, max_length=MAX_REASON, id="reason")
            reason.cursor_blink = False
            yield reason
            yield Static(Text("enter: continue · escape: cancel"), id="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
