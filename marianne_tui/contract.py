"""The contract between the app and the screens and dialogs it runs.

Screens and dialogs never import the app (it imports every screen): they see it through
``ConsoleHost``, the few things the app promises them. ``MarianneApp`` implements it (mypy
checks that in ``app.py``); a test may run a screen under any app that does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

if TYPE_CHECKING:
    from textual.dom import DOMNode
    from textual.screen import Screen

    from marianne_tui.alerts import AlertLog
    from marianne_tui.config import ConsoleConfig
    from marianne_tui.screens.base import StoreScreen
    from marianne_tui.widgets.live_table import LiveTable
    from store import GlobalLearningStore

T = TypeVar("T")


class ConsoleHost(Protocol):
    """What a screen or dialog may use of the app that shows it."""

    @property
    def store(self) -> GlobalLearningStore:
        """The open store. Off the UI thread (``fetch``, workers) only; it may be slow."""

    @property
    def read_only(self) -> bool:
        """True when no key may write (asked for, or the store was opened read-only)."""

    @property
    def config(self) -> ConsoleConfig:
        """The configuration file's settings (stale age, alert rules, bell, saved views)."""

    @property
    def alert_log(self) -> AlertLog:
        """Every alert since the console opened (the Events screen shows it)."""

    @property
    def poll_enabled(self) -> bool:
        """False in tests, snapshots and screenshots: store calls then run synchronously."""

    def request_refresh(
        self, *, force: bool = False, screen: StoreScreen | None = None
    ) -> None:
        """Re-read the current screen (or ``screen``) soon: after a write, a new filter."""

    def show_header_on(self, screen: Screen[Any]) -> None:
        """Draw the store header, with the latest overview, on ``screen``."""

    def run_store(
        self,
        job: Callable[[], T],
        then: Callable[[T], None],
        *,
        label: str,
        write: bool = False,
        saving: tuple[LiveTable, str] | None = None,
        failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        """The one way a key reaches the store (see ``marianne_tui.store_calls``).

        ``job`` runs off the UI thread (store calls only), ``then`` gets its result on
        it. Errors go to ``failure``, else to one toast ("<label> failed: ..."). A write
        (``write=True``) marks ``saving`` (table, row key) "saving…", retries while the
        store is busy, says so after a second, and escape cancels it.
        """

    def say_failure(self, label: str, error: BaseException) -> None:
        """The one toast for a failed store call (for a ``failure`` that handles some
        errors itself and leaves the rest)."""


def host_of(node: DOMNode) -> ConsoleHost:
    """The app running ``node``, seen through the contract."""
    return cast("ConsoleHost", node.app)
