"""The one-line status a screen shows above its list: counts, filters, what is disabled."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class StatusLine(Static):
    """A fixed-height line whose updates repaint it alone."""

    DEFAULT_CSS = """
    StatusLine { height: 1; padding: 0 1; }
    """

    def show(self, text: Text) -> None:
        # A fixed-height line never changes the layout, and a relayout of the whole
        # screen would cost ~35 ms on the UI thread.
        self.update(text, layout=False)
