"""One labelled trend line: a title, a Sparkline (oldest left, newest right) and a caption.

The Sparkline scales to the range of its own data, so the caption always states the range
and the latest value in numbers: the shape shows the trend, the numbers say how big it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Sparkline, Static


class SparklinePanel(Horizontal):
    """``title  ▁▂▃▅▇  caption`` on one line."""

    DEFAULT_CSS = """
    SparklinePanel { height: 1; }
    SparklinePanel > .spark-title { width: 18; }
    SparklinePanel > Sparkline { width: 1fr; min-width: 10; height: 1; margin: 0 1 0 0; }
    SparklinePanel > .spark-caption { width: auto; max-width: 44; }
    """

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._title = title
        self._data: tuple[float, ...] = ()
        self._caption: Text | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._title, classes="spark-title", markup=False)
        yield Sparkline([], summary_function=max)
        yield Static("", classes="spark-caption")

    def show(self, values: Sequence[float], caption: Text) -> None:
        """Plot ``values`` (oldest first); repaint only what changed."""
        data = tuple(float(v) for v in values)
        if data != self._data:
            self._data = data
            self.query_one(Sparkline).data = list(data)
        if caption != self._caption:
            self._caption = caption
            self.query_one(".spark-caption", Static).update(caption)
