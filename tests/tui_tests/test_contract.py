"""Screens and dialogs see the app only through the written contract, never by import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: Every module a screen or dialog is built from.
CONSOLE_PARTS = [
    "marianne_tui.screens.base",
    "marianne_tui.screens.filtered",
    "marianne_tui.screens.patterns",
    "marianne_tui.screens.drift",
    "marianne_tui.screens.budget",
    "marianne_tui.screens.escalations",
    "marianne_tui.screens.rate_limits",
    "marianne_tui.triage",
    "marianne_tui.modals.confirm",
    "marianne_tui.modals.retire_preview",
    "marianne_tui.modals.pattern_detail",
    "marianne_tui.modals.outcome",
    "marianne_tui.modals.reason",
    "marianne_tui.modals.help",
]

#: A screen run by a bare Textual app that keeps the contract (ConsoleHost) and nothing
#: more: read-only, so the screen's key gating and its refresh both go through the host.
UNDER_ANOTHER_HOST = """
import asyncio, sys
from textual.app import App
from marianne_tui.screens.rate_limits import RateLimitsScreen
from store import GlobalLearningStore

class Host(App[None]):
    def __init__(self, store):
        super().__init__()
        self.store, self.read_only, self.poll_enabled = store, True, False
        self.headers = self.refreshes = 0

    def request_refresh(self, *, force=False, screen=None):
        self.refreshes += 1
        target = screen or self.screen
        target.apply(target.fetch(self.store, target.query_params()))

    def show_header_on(self, screen):
        self.headers += 1

async def main():
    app = Host(GlobalLearningStore(sys.argv[1]))
    async with app.run_test() as pilot:
        await app.push_screen(RateLimitsScreen())
        await pilot.press("c")
        await pilot.pause()
        notes = [n.message for n in app._notifications]
    print(app.headers > 0, app.refreshes > 0, notes, "marianne_tui.app" in sys.modules)

asyncio.run(main())
"""


def _run(*argv: str) -> str:
    # A fresh interpreter: this test process has long imported the app.
    result = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                            check=True)
    return result.stdout.strip()


def test_importing_the_screens_and_dialogs_does_not_import_the_app() -> None:
    code = f"import sys, {', '.join(CONSOLE_PARTS)}; print('marianne_tui.app' in sys.modules)"
    assert _run("-c", code) == "False"


def test_a_screen_runs_under_any_app_that_keeps_the_contract(tmp_path: Path) -> None:
    out = _run("-c", UNDER_ANOTHER_HOST, str(tmp_path / "store.db"))
    assert out == ("True True ['The store is open read-only: cleanup is disabled.'] False")
