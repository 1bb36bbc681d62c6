"""The chrome every yes/no dialog before a write shares: a bordered box with a title, the
dialog's own body, and buttons with "No" focused.

A reflexive Enter must never mutate (textual-engineering A.5), so "No" has the focus; `y`
confirms (when the dialog allows it), `n` or `escape` cancels. The dialog dismisses with
True only on an explicit yes.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from marianne_tui.modals.backdrop import BackdropModalScreen


class YesNoDialog(BackdropModalScreen[bool]):
    """Subclasses give ``compose_body`` and may refuse a yes (``can_confirm``)."""

    AUTO_FOCUS = "#no"
    BINDINGS = [  # noqa: RUF012
        Binding("y", "confirm", "Yes"),
        Binding("n", "cancel", "No"),
        Binding("escape", "cancel", "Cancel", show=False),
    ]

    DEFAULT_CSS = """
    YesNoDialog { align: center middle; }
    YesNoDialog > #dialog {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    YesNoDialog #title { text-style: bold; }
    YesNoDialog #buttons { height: 3; align-horizontal: right; }
    YesNoDialog Button { margin-left: 1; min-width: 10; }
    """

    #: The title line (our own text, never the store's).
    dialog_title = ""
    yes_label = "Yes (y)"

    @property
    def can_confirm(self) -> bool:
        """False when there is nothing a yes could do; the dialog then only closes."""
        return True

    @property
    def no_label(self) -> str:
        return "No (n)"

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(self.dialog_title), id="title")
            yield from self.compose_body()
            with Horizontal(id="buttons"):
                if self.can_confirm:
                    yield Button(self.yes_label, id="yes", variant="warning")
                yield Button(self.no_label, id="no", variant="primary")

    def compose_body(self) -> ComposeResult:
        """What the dialog asks about, between the title and the buttons."""
        return iter(())

    def refuse(self) -> None:
        """`y` pressed while ``can_confirm`` is False."""

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes" and self.can_confirm)

    def action_confirm(self) -> None:
        if self.can_confirm:
            self.dismiss(True)
        else:
            self.refuse()

    def action_cancel(self) -> None:
        self.dismiss(False)
