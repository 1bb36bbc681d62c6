"""The header: what it says at 80 and 120 columns, and that it repaints only on change."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest
from rich.cells import cell_len

from marianne_tui.app import MarianneApp
from marianne_tui.widgets.store_header import HeaderState, StoreHeader, render_header
from store import GlobalLearningStore, StoreOverview

OVERVIEW = StoreOverview(
    location="/home/operator/.marianne/global-learning.db",
    read_only=False,
    schema_warning=None,
    status_counts=MappingProxyType(
        {"pending": 116, "quarantined": 99, "validated": 103, "retired": 12}
    ),
    drift_retired=33,
    total_patterns=330,
    budget=0.05,
    budget_floor=0.05,
    budget_ceiling=0.50,
    diversity=0.21,
    diversity_threshold=0.3,
    active_rate_limits=8,
    pending_escalations=9,
)


def _lines(state: HeaderState, columns: int) -> list[str]:
    # The widget has one column of padding on each side.
    text = render_header(state, columns - 2)
    return text.plain.split("\n")


@pytest.mark.parametrize("columns", [80, 120, 200])
def test_every_number_is_there_and_every_line_fits(columns: int) -> None:
    lines = _lines(HeaderState(OVERVIEW, live=True, refresh_seconds=2.0), columns)
    assert len(lines) == 3
    assert all(cell_len(line) <= columns - 2 for line in lines), lines
    text = "\n".join(lines)
    for number in ("330", "116", "99", "103", "12", "33", "0.05", "0.50", "0.21", "0.30"):
        assert number in text
    assert "global-learning.db" in lines[0]
    assert "● live" in lines[0] and "every 2 s" in lines[0]
    assert "limits 8" in text or "8 rate limits" in text
    assert "awaiting 9" in text or "9 awaiting an outcome" in text
    assert "…" not in lines[1] + lines[2], "counts and health must not be cut"


def test_wide_header_spells_out_the_labels() -> None:
    top, counts, health = _lines(HeaderState(OVERVIEW, live=True), 120)
    assert counts.startswith("330 patterns: ○ pending 116 · ✖ quarantined 99 · ✓ validated 103")
    assert "■ retired 12 · ↓ drift-retired 33" in counts
    assert "budget 0.05 in 0.05–0.50 at floor" in health
    assert "diversity 0.21 ▼ low (alert < 0.30)" in health
    assert "⏱ 8 rate limits" in health and "◌ 9 awaiting an outcome" in health
    assert top.startswith("Marianne store /home/operator/.marianne/global-learning.db")


def test_narrow_header_uses_short_labels_with_glyphs() -> None:
    top, counts, health = _lines(HeaderState(OVERVIEW, live=True), 80)
    assert counts == "330: ○ pend 116 · ✖ quar 99 · ✓ valid 103 · ■ ret 12 · ↓ drift 33"
    assert health.startswith("bud 0.05 [0.05–0.50] │ div 0.21 ▼ low ≥0.30 │ ⏱ limits 8")
    assert top.rstrip().endswith("● live · every 2 s")


def test_paused_error_read_only_and_schema_banner() -> None:
    paused = _lines(HeaderState(OVERVIEW, live=False, age="14 s ago"), 80)[0]
    assert "⏸ paused · updated 14 s ago" in paused
    failing = _lines(HeaderState(OVERVIEW, live=True, age="3 min ago",
                                 error="OperationalError: database is locked"), 120)[0]
    assert "✖ OperationalError: database is locked · updated 3 min ago" in failing
    newer = StoreOverview(**{**OVERVIEW.__dict__, "read_only": True,
                             "schema_warning": "schema v16 is newer than v15: read-only"})
    for columns in (80, 120):
        top = _lines(HeaderState(newer, live=True), columns)[0]
        assert "READ-ONLY" in top and "schema v16" in top
        assert cell_len(top) <= columns - 2


def test_long_and_hostile_locations_are_cut_from_the_left_and_cleaned() -> None:
    hostile = StoreOverview(**{**OVERVIEW.__dict__,
                               "location": "/srv/" + "deep/" * 40 + "\x1b]0;pwned\x07store.db"})
    for columns in (80, 120):
        text = render_header(HeaderState(hostile, live=True), columns - 2)
        top = text.plain.split("\n")[0]
        assert "\x1b" not in text.plain and "\x07" not in text.plain
        assert "…" in top and "␛]0;pwned" in top and "store.db" in top  # the tail is kept
        assert cell_len(top) <= columns - 2
        assert "● live" in top  # the state is never pushed off the line


def test_show_repaints_only_when_what_is_shown_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    header = StoreHeader()
    repaints: list[int] = []
    monkeypatch.setattr(header, "refresh", lambda *a, **k: repaints.append(1))
    header.show(OVERVIEW, live=True, age_seconds=0.1)
    header.show(OVERVIEW, live=True, age_seconds=1.7)  # live: the age is not shown
    header.show(OVERVIEW, live=True, age_seconds=95.0)
    assert len(repaints) == 1
    header.show(OVERVIEW, live=False, age_seconds=5.2)
    header.show(OVERVIEW, live=False, age_seconds=5.9)  # still "5 s ago"
    assert len(repaints) == 2
    header.show(OVERVIEW, live=False, age_seconds=6.1)
    assert len(repaints) == 3
    changed = StoreOverview(**{**OVERVIEW.__dict__, "pending_escalations": 10})
    header.show(changed, live=False, age_seconds=6.1)
    assert len(repaints) == 4


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_header_in_the_app(tmp_path: Path, size: tuple[int, int]) -> None:
    store = GlobalLearningStore(tmp_path / "store.db")
    try:
        store.record_pattern("retry_pattern", "one pattern")
        store.record_rate_limit_event("E101", 600, "job-a", "gpt-5")
        app = MarianneApp(store, poll=False)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            header = app.screen.query_one(StoreHeader)
            assert header.size.height == 3
            lines = header.plain().split("\n")
            assert all(cell_len(line) <= size[0] - 2 for line in lines)
            assert str(tmp_path.name) in lines[0] or "store.db" in lines[0]
            assert "1" in lines[1] and ("○ pend 1" in lines[1] or "○ pending 1" in lines[1])
            assert "limits 1" in lines[2] or "1 rate limit" in lines[2]
            # The same header on every screen.
            for key in "2345":
                await pilot.press(key)
                await pilot.pause()
                assert app.screen.query_one(StoreHeader).plain().split("\n")[1] == lines[1]
    finally:
        store.close()


def test_a_budget_or_diversity_the_store_cannot_vouch_for_is_marked() -> None:
    from dataclasses import replace

    doubtful = replace(OVERVIEW, budget=None, budget_unvouched="abc\x1b[2J",
                       diversity=None, diversity_unvouched="NaN")
    text = render_header(HeaderState(doubtful, live=True), 118).plain
    assert "budget ?abc" in text and "diversity ?NaN" in text
    assert "\x1b" not in text


@pytest.mark.parametrize("columns", [80, 120, 160])
@pytest.mark.parametrize("live", [True, False])
def test_every_banner_at_once_never_pushes_the_state_off_the_line(
    columns: int, live: bool
) -> None:
    """SNAPSHOT, a long READ-ONLY reason, a schema warning, row changes and new alerts all
    at once: they give up detail, the store's location and the live/paused state stay."""
    newer = StoreOverview(**{**OVERVIEW.__dict__, "read_only": True,
                             "schema_warning": "schema v16 is newer than v15: read-only"})
    state = HeaderState(
        newer, live=live, age="14 s ago", pushed=True, read_only=True, immutable=True,
        read_only_reason="the directory /srv/conductor/.marianne is not writable by you",
        alerts_unseen=2, alerts_total=6, rows_arrived=3, rows_left=1,
    )
    top = _lines(state, columns)[0]
    assert cell_len(top) <= columns - 2
    assert top.rstrip().endswith("every 2 s" if live else "updated 14 s ago"), top
    assert "SNAPSHOT" in top and "READ-ONLY" in top
    assert "store.db" in top or "learning.db" in top, top
