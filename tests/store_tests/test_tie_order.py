"""List reads return Marianne's rows in Marianne's order, ties included.

On SQLite each read is compared with plain ``sqlite3`` running the SQL text Marianne's own
method runs (written out below, with its parameters) on a copy of Marianne's fixture file.
Many rows are first given equal sort keys, so that a LIMIT cuts through a run of ties: a
read that broke ties its own way would return other rows, not only another order.
On PostgreSQL, ties fall by id (documented in ``GlobalLearningStoreBase._postgresql_ties``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from store import GlobalLearningStore, QuarantineStatus

PATTERNS_WHERE_ACTIVE = "priority_score >= ? AND COALESCE(active, 1) = 1"

#: (our call, Marianne's SQL text for it, its parameters): the text as Marianne's methods
#: build it (WhereBuilder clauses joined by AND, then ORDER BY and LIMIT).
Read = Callable[[GlobalLearningStore], list[Any]]
#: ``keep``: how many of the rows Marianne's SQL reads its method returns (None: all).
CASES: list[tuple[str, Read, str, tuple[Any, ...], int | None]] = [
    (
        "get_patterns()",
        lambda s: s.get_patterns(),
        f"SELECT * FROM patterns WHERE {PATTERNS_WHERE_ACTIVE} "
        "ORDER BY priority_score DESC LIMIT ?",
        (0.01, 20),
        None,
    ),
    (
        "get_patterns(min_priority=0, limit=1000)",
        lambda s: s.get_patterns(min_priority=0.0, limit=1000),
        f"SELECT * FROM patterns WHERE {PATTERNS_WHERE_ACTIVE} "
        "ORDER BY priority_score DESC LIMIT ?",
        (0.0, 1000),
        None,
    ),
    (
        "get_patterns(include_inactive=True, limit=35)",
        lambda s: s.get_patterns(include_inactive=True, limit=35),
        "SELECT * FROM patterns WHERE priority_score >= ? ORDER BY priority_score DESC LIMIT ?",
        (0.01, 35),
        None,
    ),
    (
        "get_patterns(exclude_quarantined=True, limit=30)",
        lambda s: s.get_patterns(min_priority=0.0, exclude_quarantined=True, limit=30),
        f"SELECT * FROM patterns WHERE {PATTERNS_WHERE_ACTIVE} AND quarantine_status != ? "
        "ORDER BY priority_score DESC LIMIT ?",
        (0.0, "quarantined", 30),
        None,
    ),
    (
        "get_patterns(instrument_name='claude-code', limit=30)",
        lambda s: s.get_patterns(min_priority=0.0, instrument_name="claude-code", limit=30),
        f"SELECT * FROM patterns WHERE {PATTERNS_WHERE_ACTIVE} "
        "AND (instrument_name = ? OR instrument_name IS NULL) "
        "ORDER BY priority_score DESC LIMIT ?",
        (0.0, "claude-code", 30),
        None,
    ),
    (
        "get_quarantined_patterns(limit=3)",
        lambda s: s.get_quarantined_patterns(limit=3),
        f"SELECT * FROM patterns WHERE {PATTERNS_WHERE_ACTIVE} AND quarantine_status = ? "
        "ORDER BY priority_score DESC LIMIT ?",
        (0.0, QuarantineStatus.QUARANTINED.value, 3),
        None,
    ),
    (
        "get_high_trust_patterns(0.4, 12)",
        lambda s: s.get_high_trust_patterns(threshold=0.4, limit=12),
        f"SELECT * FROM patterns WHERE {PATTERNS_WHERE_ACTIVE} AND trust_score >= ? "
        "ORDER BY priority_score DESC LIMIT ?",
        (0.0, 0.4, 12),
        None,
    ),
    (
        "get_low_trust_patterns(0.6, 5)",
        lambda s: s.get_low_trust_patterns(threshold=0.6, limit=5),
        f"SELECT * FROM patterns WHERE {PATTERNS_WHERE_ACTIVE} AND trust_score <= ? "
        "ORDER BY priority_score DESC LIMIT ?",
        (0.0, 0.6, 5),
        None,
    ),
    (
        "get_patterns_for_auto_apply(0.3, False, 10)",
        lambda s: s.get_patterns_for_auto_apply(
            trust_threshold=0.3, require_validated=False, limit=10
        ),
        # Marianne fetches twice the limit, filters tags in Python and keeps the first 10.
        "SELECT * FROM patterns WHERE trust_score >= ? AND quarantine_status != 'retired' "
        "ORDER BY trust_score DESC, priority_score DESC LIMIT ?",
        (0.3, 20),
        10,
    ),
    (
        "get_patterns_with_why(min_observations=0, limit=15)",
        lambda s: [p for p, _ in s.get_patterns_with_why(min_observations=0, limit=15)],
        "SELECT * FROM patterns WHERE success_factors IS NOT NULL "
        "ORDER BY priority_score DESC, trust_score DESC LIMIT ?",
        (15,),
        None,
    ),
    (
        "get_retired_patterns(limit=9)",
        lambda s: s.get_retired_patterns(limit=9),
        "SELECT * FROM patterns WHERE priority_score = 0 ORDER BY last_seen DESC LIMIT ?",
        (9,),
        None,
    ),
    (
        "get_escalation_history(limit=15)",
        lambda s: s.get_escalation_history(limit=15),
        "SELECT * FROM escalation_decisions WHERE 1=1 ORDER BY recorded_at DESC LIMIT ?",
        (15,),
        None,
    ),
]

#: Runs of equal sort keys: a third of the patterns share one priority and one trust, every
#: ninth is drift-retired with one last_seen, and escalations come in pairs of one time.
MAKE_TIES = [
    "UPDATE patterns SET priority_score = 0.42, trust_score = 0.42 WHERE rowid % 3 = 0",
    "UPDATE patterns SET priority_score = 0, last_seen = '2026-11-01T08:00:00' "
    "WHERE rowid % 9 = 1",
    "UPDATE escalation_decisions SET recorded_at = "
    "(SELECT MIN(e.recorded_at) FROM escalation_decisions e WHERE e.rowid IN "
    "(escalation_decisions.rowid, escalation_decisions.rowid - 1))",
]


@pytest.fixture
def tied_fixture(small_fixture: Path) -> Iterator[Path]:
    with sqlite3.connect(small_fixture) as conn:
        for statement in MAKE_TIES:
            conn.execute(statement)
    yield small_fixture


def _marianne_ids(path: Path, sql: str, parameters: tuple[Any, ...]) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute(sql.replace("SELECT *", "SELECT id"), parameters)]
    finally:
        conn.close()


def test_the_fixture_has_ties_across_each_limit(tied_fixture: Path) -> None:
    # Without ties at the cut the comparison below could not tell the orders apart.
    conn = sqlite3.connect(tied_fixture)
    tied = conn.execute(
        "SELECT COUNT(*) FROM patterns WHERE priority_score = 0.42 AND COALESCE(active, 1) = 1"
    ).fetchone()[0]
    retired = conn.execute("SELECT COUNT(*) FROM patterns WHERE priority_score = 0").fetchone()
    conn.close()
    assert tied > 35 and retired[0] > 9


@pytest.mark.parametrize(
    ("label", "read", "sql", "parameters", "keep"), CASES, ids=[c[0] for c in CASES]
)
def test_sqlite_returns_marianne_rows_in_marianne_order(
    tied_fixture: Path,
    label: str,
    read: Read,
    sql: str,
    parameters: tuple[Any, ...],
    keep: int | None,
) -> None:
    expected = _marianne_ids(tied_fixture, sql, parameters)[:keep]
    assert expected, f"{label}: Marianne's query returns nothing on the fixture"
    store = GlobalLearningStore(tied_fixture)
    try:
        assert [record.id for record in read(store)] == expected
    finally:
        store.close()


def test_postgresql_breaks_ties_by_id(store: GlobalLearningStore) -> None:
    if not store.is_postgresql:
        pytest.skip("SQLite ties follow Marianne's order (tested above)")
    names = ["delta", "alpha", "echo", "charlie", "bravo"]
    ids = [store.record_pattern("tie", name) for name in names]
    store.record_pattern("tie", "alpha")  # seen twice, still priority 0.5: a tie
    assert [p.id for p in store.get_patterns()] == sorted(ids)
    assert [p.id for p in store.get_patterns(limit=2)] == sorted(ids)[:2]
    with store._get_connection() as conn:
        conn.execute("UPDATE patterns SET priority_score = 0.9 WHERE id = ?", (ids[2],))
    assert [p.id for p in store.get_patterns(limit=3)] == [ids[2], *sorted(set(ids) - {ids[2]})[:2]]
