"""One status vocabulary: the Patterns and Drift cells, the header and the help agree."""

from __future__ import annotations

import pytest

from marianne_tui.screens import drift, patterns
from marianne_tui.status import legend, status_text
from marianne_tui.widgets.store_header import HeaderState, render_header
from store import StoreOverview

WORDS = {
    "pending": "○ pending",
    "quarantined": "✖ quarantined",
    "validated": "✓ validated",
    "retired": "■ retired",
}


@pytest.mark.parametrize("status", sorted(WORDS))
def test_drift_and_patterns_cells_read_the_same(status: str) -> None:
    assert status_text(status).plain == WORDS[status]
    assert drift.status_cell(status, 0.5).plain == WORDS[status]
    row = type("Row", (), {"status": status, "drift_retired": False})()
    assert patterns.status_cell(row).plain == WORDS[status]  # type: ignore[arg-type]


def test_drift_retired_reads_the_same_on_both_screens() -> None:
    for status in ("pending", "validated"):
        assert drift.status_cell(status, 0.0).plain == "↓ drift-retired"
        row = type("Row", (), {"status": status, "drift_retired": True})()
        assert patterns.status_cell(row).plain == "↓ drift-retired"  # type: ignore[arg-type]
    # A quarantined or retired pattern at priority 0 keeps its status word.
    assert drift.status_cell("quarantined", 0.0).plain == "✖ quarantined"
    assert drift.status_cell("retired", 0.0).plain == "■ retired"


def test_unknown_status_is_shown_as_stored_and_sanitised() -> None:
    assert status_text("active").plain == "? active"
    assert "\x1b" not in status_text("\x1b[2Jevil").plain


def test_header_and_help_use_the_same_glyphs() -> None:
    overview = StoreOverview(
        location="/tmp/x.db", read_only=False, schema_warning=None,
        status_counts={"pending": 1, "quarantined": 2, "validated": 3, "retired": 4},
        drift_retired=5, total_patterns=15, budget=None, budget_floor=0.05,
        budget_ceiling=0.5, diversity=None, diversity_threshold=0.3,
        active_rate_limits=0, pending_escalations=0,
    )
    wide = render_header(HeaderState(overview, live=True), 118).plain
    narrow = render_header(HeaderState(overview, live=True), 78).plain
    assert ("15 patterns: ○ pending 1 · ✖ quarantined 2 · ✓ validated 3 · ■ retired 4 · "
            "↓ drift-retired 5") in wide
    assert "15: ○ pend 1 · ✖ quar 2 · ✓ valid 3 · ■ ret 4 · ↓ drift 5" in narrow
    assert legend().plain == ("○ pending · ✖ quarantined · ✓ validated · ■ retired · "
                              "↓ drift-retired (priority 0, status unchanged)")
