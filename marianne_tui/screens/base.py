"""What every store screen shares: the header, the footer, and the refresh protocol.

A screen never queries the store on the UI thread during live polling. The app asks the
screen for its query parameters on the UI thread (``query_params``), runs ``fetch`` in a
thread worker with those parameters, then hands the result to ``apply`` on the UI thread.
``fetch`` may only call ``store`` methods: it must not touch widgets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

from marianne_tui.widgets.store_header import StoreHeader

if TYPE_CHECKING:
    from marianne_tui.app import MarianneApp
    from store import GlobalLearningStore


class StoreScreen(Screen[None]):
    """Base class of the five screens."""

    #: Shown in the command palette and the help screen.
    TITLE_TEXT = ""
    #: Set once the first fetch was applied (until then every poll fetches).
    has_data = False

    @property
    def console(self) -> MarianneApp:
        from marianne_tui.app import MarianneApp

        assert isinstance(self.app, MarianneApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield StoreHeader(id="store-header")
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        """The screen's own widgets, between header and footer."""
        return iter(())

    def query_params(self) -> Any:
        """Immutable parameters of the next fetch, read on the UI thread."""
        return None

    def fetch(self, store: GlobalLearningStore, params: Any) -> Any:
        """Read what the screen shows (runs in a worker thread; store calls only)."""
        return None

    def apply(self, data: Any) -> None:
        """Show fetched data (UI thread)."""

    def on_screen_resume(self) -> None:
        self.console.show_header_on(self)
        self.console.request_refresh(force=True, screen=self)
