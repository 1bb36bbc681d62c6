"""What every store screen shares: the header, the footer, the refresh protocol, and
read-only gating of the keys that write.

A screen never queries the store on the UI thread during live polling. The app asks the
screen for its query parameters on the UI thread (``query_params``), runs ``fetch`` in a
thread worker with those parameters, then hands the result to ``apply`` on the UI thread.
``fetch`` may only call ``store`` methods: it must not touch widgets.

A screen reaches the app only through ``self.host`` (``marianne_tui.contract``), never by
importing it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen

from marianne_tui.contract import ConsoleHost, host_of
from marianne_tui.widgets.store_footer import StoreFooter
from marianne_tui.widgets.store_header import StoreHeader

if TYPE_CHECKING:
    from store import GlobalLearningStore


class StoreScreen(Screen[None]):
    """Base class of the five screens."""

    #: Shown in the command palette and the help screen.
    TITLE_TEXT = ""
    #: Actions that write to the store. When the console is read-only they are hidden from
    #: the footer and refused, and pressing their key says so with READ_ONLY_NOTICE.
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset()
    READ_ONLY_NOTICE: ClassVar[str] = "writes are disabled"
    #: Set once the first fetch was applied (until then every poll fetches).
    has_data = False
    #: Why the last fetch failed (None once one succeeds): an empty list must then say
    #: "could not read", never "nothing found".
    read_error: str | None = None

    @property
    def host(self) -> ConsoleHost:
        return host_of(self)

    def compose(self) -> ComposeResult:
        yield StoreHeader(id="store-header")
        yield from self.compose_body()
        yield StoreFooter()

    def compose_body(self) -> ComposeResult:
        """The screen's own widgets, between header and footer."""
        return iter(())

    def body_built(self, *selectors: str) -> bool:
        """Whether the widgets ``selectors`` name are there, for ``on_mount``.

        They may not be: when the app closes while a screen is composed ahead (in the
        first seconds, a ``ctrl+q``), Textual starts no more message pumps, so the screen's
        containers never compose their children, and it still mounts the screen.
        """
        return all(self.query(selector) for selector in selectors)

    # -- refresh protocol ---------------------------------------------------------------

    def query_params(self) -> Any:
        """Immutable parameters of the next fetch, read on the UI thread."""
        return None

    def fetch(self, store: GlobalLearningStore, params: Any) -> Any:
        """Read what the screen shows (runs in a worker thread; store calls only)."""
        return None

    def apply(self, data: Any) -> None:
        """Show fetched data (UI thread)."""

    def read_failed(self, message: str) -> None:
        """The last fetch failed (UI thread); the screen's empty states read ``read_error``."""
        self.read_error = message
        self.show_read_state()

    def show_read_state(self) -> None:
        """Redraw whatever says what was read (a screen's status line)."""

    def on_screen_resume(self) -> None:
        self.host.show_header_on(self)
        self.host.request_refresh(force=True, screen=self)

    # -- read-only gating ---------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Textual asks this for keys, the footer and the command palette alike.
        return not (action in self.WRITE_ACTIONS and self.host.read_only)

    def on_key(self, event: events.Key) -> None:
        # A disabled key does nothing at all; say why. (Keys typed into an Input never
        # bubble this far.)
        if self.host.read_only and event.key in self._write_keys():
            event.stop()
            self.notify(f"The store is open read-only: {self.READ_ONLY_NOTICE}.",
                        severity="warning", markup=False)

    def _write_keys(self) -> frozenset[str]:
        return frozenset(
            binding.key
            for binding in self.BINDINGS
            if isinstance(binding, Binding) and binding.action in self.WRITE_ACTIONS
        )
