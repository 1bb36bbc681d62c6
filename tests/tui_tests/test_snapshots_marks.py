"""Snapshots of marks and bulk triage at 80×24 and 120×40: the Patterns screen with marks,
the bulk confirm dialog, and the dialog that undoes a batch.

Deterministic as the other Patterns snapshots: a FrozenClock, a relative store path,
polling off. Regenerate on purpose with
``pytest --snapshot-update tests/tui_tests/test_snapshots_marks.py`` and look at the SVGs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FrozenClock
from patterns_helpers import build_patterns_store, id_by_name

from marianne_tui.app import MarianneApp
from marianne_tui.widgets.live_table import LiveTable
from store import GlobalLearningStore

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.fixture
def store(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GlobalLearningStore]:
    monkeypatch.chdir(tmp_path)
    opened = build_patterns_store(Path("patterns.db"), clock)
    opened.operator, opened.operator_host = "ops", "console"
    yield opened
    opened.close()


def with_marks(store: GlobalLearningStore, *, then: list[str] = ()):  # type: ignore[assignment]
    """Refresh, mark four patterns with the keys (one already validated), press ``then``."""

    async def run_before(pilot: Any) -> None:
        pilot.app.refresh_now_sync(force=True)
        await pilot.pause()
        table = pilot.app.query_one("#patterns-table", LiveTable)
        table.select_key(id_by_name(store, "retry after transient 502"))
        await pilot.press("shift+down", "shift+down", "m")  # three in a row
        table.select_key(id_by_name(store, "validated:"))
        await pilot.press("m")
        table.select_key(id_by_name(store, "E101"))
        await pilot.pause()
        if then:
            await pilot.press(*then)
            await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_patterns_with_marks(snap_compare: Any, store: GlobalLearningStore,
                             size: tuple[int, int]) -> None:
    app = MarianneApp(store, poll=False)
    assert snap_compare(app, terminal_size=size, run_before=with_marks(store))


@pytest.mark.parametrize("size", SIZES)
def test_bulk_confirm_dialog(snap_compare: Any, store: GlobalLearningStore,
                             size: tuple[int, int]) -> None:
    app = MarianneApp(store, poll=False)
    # ctrl+a marks the rest: four transitions, a skip, more rows than the dialog lists
    assert snap_compare(app, terminal_size=size,
                        run_before=with_marks(store, then=["ctrl+a", "v"]))


@pytest.mark.parametrize("size", SIZES)
def test_batch_undo_dialog(snap_compare: Any, store: GlobalLearningStore,
                           size: tuple[int, int]) -> None:
    app = MarianneApp(store, poll=False)
    assert snap_compare(app, terminal_size=size,
                        run_before=with_marks(store, then=["v", "y", "u"]))
