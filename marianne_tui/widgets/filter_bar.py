"""A one-line text filter for a list: `/` focuses it, typing filters live, `enter` keeps the
filter and goes back to the list, `escape` clears it and goes back.

The screen binds `/` with ``FILTER_BINDING`` to ``filter_input.focus_now()``, passes
``on_value`` (called with the text on every change: filter live) and ``return_to`` (the id
of its list, which `enter` and `escape` hand the focus back to). While the input has focus,
printable keys (q, v, 1, ...) are typed into it and never reach the screen's bindings.

Key bursts (a script sending "/opus" to tmux in one go): Textual hands each key to the
widget focused when the *app* reads it, long before a normal binding on the screen runs.
So `/` is a priority binding (run as the app reads it) and the focus moves synchronously
(``Widget.focus()`` only schedules it): the keys queued behind `/` land in the filter.
`enter` stays an ordinary binding of the input, handled after the keys typed before it:
keys queued behind it in the same burst land in the filter too, never on a row the filter
has not caught up with. ``on_value`` runs synchronously for the same reason.

Patterns filters in SQL (``PatternQuery.text``); lists that already hold every row they can
show (Drift, Escalations) filter what they fetched with ``text_matches``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input

#: Longest filter text (it is a substring match, not a document).
MAX_FILTER = 200

#: The screen's `/` (priority: see the module docstring); its action is ``focus_filter``,
#: which the screen's ``check_action`` disables with ``filter_key_free``.
FILTER_BINDING = Binding("slash", "focus_filter", "Filter", priority=True)


def filter_key_free(screen: Screen[Any]) -> bool:
    """False while a filter has the focus: `/` is then typed into it (paths, "a/b")."""
    return not isinstance(screen.focused, FilterInput)


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

    def __init__(
        self,
        placeholder: str = "/ filter",
        *,
        return_to: str | None = None,
        on_value: Callable[[str], None] | None = None,
        **kwargs: object,
    ) -> None:
        self.return_to = return_to
        self.on_value = on_value
        super().__init__(
            placeholder=placeholder, compact=True, max_length=MAX_FILTER,
            select_on_focus=False, **kwargs,  # type: ignore[arg-type]
        )
        # No blinking cursor: deterministic snapshots and no idle bytes over SSH.
        self.cursor_blink = False

    def watch_value(self, value: str) -> None:
        if self.on_value is not None and self.is_mounted:
            self.on_value(value.strip())

    def focus_now(self) -> None:
        """Take the focus before the next queued key is dispatched."""
        self.screen.set_focus(self)

    def _give_back_focus(self) -> None:
        if self.return_to is not None:
            self.screen.set_focus(self.screen.query_one(f"#{self.return_to}"))

    async def action_submit(self) -> None:
        # Enter keeps the filter; the list takes the focus back.
        self._give_back_focus()
        self.post_message(self.Done(self, cleared=False))

    def action_clear_filter(self) -> None:
        self.value = ""
        self._give_back_focus()
        self.post_message(self.Done(self, cleared=True))
