"""PLACEHOLDER: the help screen is being written."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]  # noqa: RUF012

    def __init__(self, over: Screen[None]) -> None:
        super().__init__()
        self.over = over

    def compose(self) -> ComposeResult:
        yield Static("Help")
