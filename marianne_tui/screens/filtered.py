"""The `/` filter of a list screen (Patterns, Drift, Escalations), wired once.

A screen mixes in ``ListFilterMixin``, binds ``FILTER_BINDING``, yields ``filter_input(...)``
in its layout and overrides ``filter_changed``: each asks the store again (the filter covers
every page; Drift and Escalations also narrow the rows they hold meanwhile, with
``text_matches``).
"""

from __future__ import annotations

from typing import Protocol

from marianne_tui.screens.base import StoreScreen
from marianne_tui.widgets.filter_bar import FilterInput, filter_key_free


class FilteredRead(Protocol):
    """A page the store filtered: by which text, and how many rows it matched in all."""

    @property
    def text(self) -> str: ...

    @property
    def matching(self) -> int: ...


class ListFilterMixin(StoreScreen):
    """The filter's text, its key, and the focus going back to the list."""

    #: The text the list is filtered by now ("" = no filter).
    filter_text = ""

    def filter_input(self, placeholder: str, *, id: str, return_to: str) -> FilterInput:
        """The screen's filter box (``return_to``: the id of its list)."""
        return FilterInput(placeholder, id=id, return_to=return_to, on_value=self._filter_typed)

    def filter_changed(self, text: str) -> None:
        """Show the list for the new filter ``text`` (already in ``filter_text``)."""

    def matching_count(self, read: FilteredRead | None, held: int) -> int:
        """How many rows the filter matches: the store's count when ``read`` was filtered
        by the text typed now, else ``held`` (the rows held that match, while the read
        for a new text is on its way)."""
        if read is not None and read.text == self.filter_text.strip():
            return read.matching
        return held

    def _filter_typed(self, text: str) -> None:
        if text != self.filter_text:
            self.filter_text = text
            self.filter_changed(text)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "focus_filter":
            return filter_key_free(self)
        return super().check_action(action, parameters)

    def action_focus_filter(self) -> None:
        self.query_one(FilterInput).focus_now()

    def on_filter_input_done(self, event: FilterInput.Done) -> None:
        # The input has already handed the focus back to the list.
        event.stop()
