"""Snapshots of the `:` command line at 80×24 and 120×40: opened (every command listed),
part of a command typed (completions with their usage), an argument being completed.

Deterministic: the Patterns test store at a relative path, a FrozenClock, polling off.
Regenerate on purpose with ``pytest --snapshot-update`` on this file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from command_helpers import keys_for
from conftest import FrozenClock
from patterns_helpers import build_patterns_store

from marianne_tui.app import MarianneApp
from marianne_tui.config import ConsoleConfig, SavedView
from store import GlobalLearningStore

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
TYPED = {
    "opened": "",
    "command": "re",
    "argument": "sort t",
    "views": "view ",
}


@pytest.fixture
def store(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GlobalLearningStore]:
    monkeypatch.chdir(tmp_path)
    opened = build_patterns_store(Path("patterns.db"), clock)
    yield opened
    opened.close()


def typing(text: str) -> Any:
    async def run_before(pilot: Any) -> None:
        pilot.app.refresh_now_sync(force=True)
        await pilot.pause()
        await pilot.press("colon", *keys_for(text))
        await pilot.pause()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("state", list(TYPED))
def test_command_line(snap_compare: Any, store: GlobalLearningStore, state: str,
                      size: Any) -> None:
    views = {"triage-morning": SavedView(status="quarantined"),
             "esc-queue": SavedView(screen="escalations", filter="awaiting")}
    app = MarianneApp(store, poll=False, config=ConsoleConfig(views=views))
    assert snap_compare(app, terminal_size=size, run_before=typing(TYPED[state]))
