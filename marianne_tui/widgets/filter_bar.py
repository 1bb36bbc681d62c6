"""A one-line text filter for a list: `/` focuses it, typing filters live, `enter` keeps the
filter and goes back to the list, `escape` clears it and goes back.

The screen binds `/` to ``filter_input.focus()``, listens to ``Input.Changed`` (from this
input: filter live, e.g. ``request_refresh(force=True)``) and to ``FilterInput.Done`` (give
the focus back to its list). While the input has focus, printable keys (q, v, 1, ...) are
typed into it and never reach the screen's bindings.

Patterns filters in SQL (``PatternQuery.text``); lists that already hold every row they can
show (Drift, Escalations) filter what they fetched with ``text_matches``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input

#: Longest filter text (it is a substring match, not a document).
MAX_FILTER = 200


def text_matches(needle: str, values: Iterable[object]) -> bool:
    """Case-insensitive substring match of ``needle`` in any of ``values`` ("" matches all).

    The raw values are searched (not their sanitised form), so what the operator types is
    found wherever it is stored; ``None`` values never match.
    """
    needle = needle.strip().casefold()
    if not needle:
        return True
    return any(value is not None and needle in str(value).casefold() for value in values)


class FilterInput(Input):
    DEFAULT_CSS = """
    FilterInput { width: 28; height: 1; }
    """

    BINDINGS = [Binding("escape", "clear_filter", "Clear filter", show=False)]  # noqa: RUF012

    @dataclass
    class Done(Message):
        """The operator left the filter: ``cleared`` is True after `escape`."""

        filter_input: FilterInput
        cleared: bool

        @property
        def control(self) -> FilterInput:
            return self.filter_input

    def __init__(self, placeholder: str = "/ filter", **kwargs: object) -> None:
        super().__init__(
            placeholder=placeholder, compact=True, max_length=MAX_FILTER,
            select_on_focus=False, **kwargs,  # type: ignore[arg-type]
        )
        # No blinking cursor: deterministic snapshots and no idle bytes over SSH.
        self.cursor_blink = False

    async def action_submit(self) -> None:
        # Enter keeps the filter; the list takes the focus back.
        self.post_message(self.Done(self, cleared=False))

    def action_clear_filter(self) -> None:
        self.value = ""
        self.post_message(self.Done(self, cleared=True))
