"""The footer of every store screen: Textual's, recomposed only when what it shows changed.

Textual's Footer rebuilds all its keys whenever the screen's bindings are updated: on every
switch to the screen and every focus change, even when the keys are the same. That is a
few dozen widgets mounted and styled each time (20-40 ms of the UI thread per screen switch,
measured on this machine), for an identical footer. This one compares what it would show
with what it shows and skips the rebuild when they are equal. A rebuild is also garbage
in reference cycles, as every removed widget is (~70 objects a key), which only a full
collection frees.

A rebuild also lets the keys it removed go (``_forget_removed_keys``): Textual keeps them
alive otherwise.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer


class StoreFooter(Footer):
    #: what the keys on show were built from (None: nothing built yet)
    _shown: object = None

    def _what_it_shows(self) -> object:
        """Everything Footer.compose reads, in a comparable form.

        Only the bindings it shows count: the hidden ones come and go without changing the
        footer (the app's ``escape`` is active only while a write is saving, so every triage
        key rebuilt every key twice: in the soak, a third of the garbage each full
        collection freed).
        """
        app = self.app
        active = self.screen.active_bindings

        def key(binding: Binding, enabled: bool, tooltip: str) -> tuple[object, ...]:
            return (binding.key, app.get_key_display(binding), binding.description,
                    binding.action, enabled, tooltip, binding.group)

        keys = tuple(key(binding, enabled, tooltip)
                     for (_, binding, enabled, tooltip) in active.values() if binding.show)
        # Footer.compose looks the palette's key up whether it is shown or not, and shows
        # the binding's own tooltip.
        palette = active.get(app.COMMAND_PALETTE_BINDING)
        palette_key = None if palette is None else key(
            palette.binding, palette.enabled, palette.binding.tooltip
        )
        return (keys, palette_key, self.show_command_palette, app.ENABLE_COMMAND_PALETTE,
                self.compact)

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if (self._shown is not None and self.is_attached and screen is self.screen
                and self._what_it_shows() == self._shown):
            return
        super().bindings_changed(screen)

    async def recompose(self) -> None:
        await super().recompose()
        self._forget_removed_keys()

    def _forget_removed_keys(self) -> None:
        """Drop the footer's watchers held by keys it has removed.

        Footer.compose binds each key's ``compact`` to the footer's (``data_bind``), which
        adds a watcher to the footer holding the key; Textual 8.2.8 drops the watchers of
        removed widgets only when ``compact`` changes, i.e. never here. So every rebuild
        kept the keys it replaced alive, each a widget with its styles and caches: in the
        soak ~80 keys and ~20k objects every 20 s, which every full garbage collection
        walked (after 60 s one took ~0.1 s of UI thread). Removed widgets are the ones
        Textual itself would drop (``_closing``).
        """
        watchers: dict[str, list[tuple[Any, Any]]] = getattr(self, "__watchers", {})
        for watcher_list in watchers.values():
            watcher_list[:] = [(node, callback) for node, callback in watcher_list
                               if not node._closing]

    def compose(self) -> ComposeResult:
        # Footer.compose shows nothing until the first bindings update: nothing to keep.
        self._shown = self._what_it_shows() if self._bindings_ready else None
        yield from super().compose()
