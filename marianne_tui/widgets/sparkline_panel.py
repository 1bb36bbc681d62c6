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

#: Eighths of a cell, lowest first.
BARS = "▁▂▃▄▅▆▇█"


def bars(values: Sequence[float], low: float = 0.0, high: float = 1.0) -> str:
    """One bar per value on a fixed scale (``low`` -> ▁, ``high`` -> █), clamped to it.

    Unlike the Sparkline widget, which stretches its own range over the eight heights, a
    fixed scale shows how high a score is, not only how it moved: 0.50 and 0.52 look alike.
    """
    span = high - low
    if span <= 0:
        return BARS[0] * len(values)
    top = len(BARS) - 1
    return "".join(
        BARS[round(min(max((value - low) / span, 0.0), 1.0) * top)] for value in values
    )


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
