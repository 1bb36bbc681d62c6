"""Drift pages through every drifting pattern ("N shown of M · rows a–b", keys } and {)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import FrozenClock
from screens_data import switch_to
from sqlalchemy import insert

from marianne_tui.app import MarianneApp
from marianne_tui.screens.drift import ROW_LIMIT, DriftScreen
from marianne_tui.widgets.live_table import LiveTable
from store import GlobalLearningStore, tables

DRIFTING = ROW_LIMIT + 37


@pytest.fixture
def store(tmp_path: Path, clock: FrozenClock) -> Iterator[GlobalLearningStore]:
    """ROW_LIMIT + 37 patterns that all decline: five successes, then five failures."""
    opened = GlobalLearningStore(tmp_path / "many.db", clock=clock)
    patterns, applications = [], []
    for number in range(DRIFTING):
        pattern_id = f"p{number:04d}"
        patterns.append({"id": pattern_id, "pattern_type": "t",
                         "pattern_name": f"declining {number}", "priority_score": 0.5,
                         "quarantine_status": "pending"})
        for index in range(10):
            applications.append({
                "id": str(uuid.uuid4()), "pattern_id": pattern_id, "execution_id": "e",
                "applied_at": clock.now + timedelta(seconds=index),
                "pattern_led_to_success": index < 5, "grounding_confidence": 0.8,
            })
    with opened._connection() as conn:
        conn.execute(insert(tables.patterns), patterns)
        conn.execute(insert(tables.pattern_applications), applications)
    yield opened
    opened.close()


def status_line(app: MarianneApp) -> str:
    return str(app.screen.query_one("#drift-status").render())


async def test_pages_through_every_drifting_pattern(store: GlobalLearningStore) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await switch_to(app, pilot, "2", DriftScreen)
        table = screen.query_one("#drift-table", LiveTable)
        assert len(table.row_keys_in_order) == ROW_LIMIT
        # As on Patterns: every match of the filter (none here) of every drifting pattern.
        assert f"{DRIFTING} shown of {DRIFTING} · rows 1–{ROW_LIMIT}" in status_line(app)
        first_page = set(table.row_keys_in_order)

        await pilot.press("right_curly_bracket")
        await pilot.pause()
        second_page: Any = set(table.row_keys_in_order)
        assert len(second_page) == DRIFTING - ROW_LIMIT
        assert not second_page & first_page
        second = f"rows {ROW_LIMIT + 1}–{DRIFTING}"
        assert f"{DRIFTING} shown of {DRIFTING} · {second}" in status_line(app)

        await pilot.press("right_curly_bracket")  # no page after the last
        await pilot.pause()
        assert set(table.row_keys_in_order) == second_page

        await pilot.press("left_curly_bracket")
        await pilot.pause()
        assert set(table.row_keys_in_order) == first_page

        await pilot.press("right_curly_bracket")
        await pilot.pause()
        await pilot.press("e")  # another list: back to its first page
        await pilot.pause()
        assert f"rows 1–{ROW_LIMIT}" in status_line(app)


async def test_the_name_filter_finds_drifting_patterns_on_every_page(
    store: GlobalLearningStore,
) -> None:
    app = MarianneApp(store, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await switch_to(app, pilot, "2", DriftScreen)
        table = screen.query_one("#drift-table", LiveTable)
        await pilot.press("slash", *"DECLINING 23")
        await app.workers.wait_for_complete()
        await pilot.pause()
        # All drift alike, so ties go by id: 23 on the first page, 230-236 on the second.
        expected = ("p0023", *(f"p{n:04d}" for n in range(230, DRIFTING)))
        assert table.row_keys_in_order == expected
        assert f"{len(expected)} shown of {DRIFTING}" in status_line(app)
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(table.row_keys_in_order) == ROW_LIMIT
