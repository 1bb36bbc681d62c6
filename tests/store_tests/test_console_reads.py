"""The console's reads: the patterns page, filters, overview, escalations, change probe.

Every expected value below is worked out by hand from the rows each test inserts.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from conftest import FrozenClock
from sqlalchemy import insert

from store import (
    EscalationDecisionRecord,
    GlobalLearningStore,
    PatternQuery,
    PatternSort,
    QuarantineStatus,
    TrustBand,
    tables,
)
from store.escalation import escalation_record_from_row

# id, name, type, status, trust, effectiveness, priority, successes, failures,
# last_seen, instrument, active, description
_ROWS: list[tuple[Any, ...]] = [
    ("p1", "Alpha retry", "retry", "pending", 0.5, 0.6, 0.7, 2, 1,
     "2026-01-01T10:00:00", "claude", 1, "Retries 100% of the time"),
    ("p2", "beta_timeout", "timeout", "quarantined", 0.2, 0.3, 0.4, 1, 4,
     "2026-01-02T10:00:00", None, 1, None),
    ("p3", "Gamma", "retry", "validated", 0.9, 1.4, 0.9, 10, 0,
     "2026-01-03T10:00:00", "gpt", 1, "the 50% rule"),
    ("p4", "delta", "retry", "pending", 0.3, 0.2, 0.0, 2, 2,
     "2026-01-04T10:00:00", "claude", 0, "x"),
    ("p5", "Epsilon", "timeout", "pending", 0.7, 0.34, 0.5, 1, 2,
     None, None, None, "under_score"),
    ("p6", "zeta", "validation", "retired", None, -0.2, -1.0, 0, 0,
     "2026-01-06T10:00:00", "gpt", 1, None),
    ("p7", "eta legacy", "validation", "active", 1.5, 0.8, 0.6, 5, 1,
     "2026-01-07T10:00:00", "claude", 1, None),
    ("p8", "theta", "retry", None, 0.31, 0.5, 0.5, 0, 0,
     "2026-01-08T10:00:00", None, 1, "Alpha mention"),
]


def _insert_patterns(store: GlobalLearningStore, rows: list[tuple[Any, ...]]) -> None:
    values = [
        {
            "id": row[0], "pattern_name": row[1], "pattern_type": row[2],
            "quarantine_status": row[3], "trust_score": row[4],
            "effectiveness_score": row[5], "priority_score": row[6],
            "led_to_success_count": row[7], "led_to_failure_count": row[8],
            "last_seen": row[9], "instrument_name": row[10], "active": row[11],
            "description": row[12], "first_seen": "2026-01-01T00:00:00",
            "last_confirmed": "2026-01-01T00:00:00",
        }
        for row in rows
    ]
    with store._engine.begin() as conn:
        conn.execute(insert(tables.patterns), values)


@pytest.fixture
def populated(store: GlobalLearningStore) -> GlobalLearningStore:
    _insert_patterns(store, _ROWS)
    return store


def _ids(store: GlobalLearningStore, **query: Any) -> list[str]:
    return [row.id for row in store.query_patterns(PatternQuery(**query)).rows]


# -- filters -----------------------------------------------------------------------------


def test_unfiltered_page_counts_everything(populated: GlobalLearningStore) -> None:
    page = populated.query_patterns(PatternQuery())
    assert (page.matching, page.total, page.offset) == (8, 8, 0)
    assert len(page.rows) == 8


def test_text_matches_name_or_description_case_insensitively(
    populated: GlobalLearningStore,
) -> None:
    assert sorted(_ids(populated, text="ALPHA")) == ["p1", "p8"]
    assert _ids(populated, text="gamm") == ["p3"]


def test_text_wildcards_are_literal(populated: GlobalLearningStore) -> None:
    assert sorted(_ids(populated, text="%")) == ["p1", "p3"]
    assert sorted(_ids(populated, text="_")) == ["p2", "p5"]
    assert _ids(populated, text="\\") == []


def test_status_filter_reads_null_as_pending_and_keeps_legacy(
    populated: GlobalLearningStore,
) -> None:
    assert sorted(_ids(populated, statuses=("pending",))) == ["p1", "p4", "p5", "p8"]
    assert _ids(populated, statuses=("active",)) == ["p7"]
    assert sorted(_ids(populated, statuses=("retired", "quarantined"))) == ["p2", "p6"]
    assert _ids(populated, statuses=(QuarantineStatus.RETIRED,)) == ["p6"]


def test_type_and_instrument_filters(populated: GlobalLearningStore) -> None:
    assert sorted(_ids(populated, pattern_type="retry")) == ["p1", "p3", "p4", "p8"]
    assert sorted(_ids(populated, instrument="claude")) == ["p1", "p4", "p7"]
    assert _ids(populated, pattern_type="retry", instrument="gpt") == ["p3"]


def test_trust_bands_with_boundaries(populated: GlobalLearningStore) -> None:
    # low <= 0.3 (p4 sits on it), high >= 0.7 (p5 sits on it), NULL reads 0.5
    assert sorted(_ids(populated, trust_band=TrustBand.LOW)) == ["p2", "p4"]
    assert sorted(_ids(populated, trust_band=TrustBand.HIGH)) == ["p3", "p5", "p7"]
    assert sorted(_ids(populated, trust_band=TrustBand.MEDIUM)) == ["p1", "p6", "p8"]


def test_needs_attention(populated: GlobalLearningStore) -> None:
    # p2 quarantined and low trust; p4 low trust and priority 0; p6 priority below 0;
    # p5 pending with 3 applications and stored effectiveness 0.34 < 0.35.
    assert sorted(_ids(populated, needs_attention=True)) == ["p2", "p4", "p5", "p6"]


def test_inactive_rows_can_be_hidden(populated: GlobalLearningStore) -> None:
    page = populated.query_patterns(PatternQuery(include_inactive=False))
    assert sorted(row.id for row in page.rows) == ["p1", "p2", "p3", "p5", "p6", "p7", "p8"]
    assert (page.matching, page.total) == (7, 8)


# -- sorting and paging ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "descending", "expected"),
    [
        (PatternSort.PRIORITY, True, ["p3", "p1", "p7", "p5", "p8", "p2", "p4", "p6"]),
        (PatternSort.PRIORITY, False, ["p4", "p6", "p2", "p5", "p8", "p7", "p1", "p3"]),
        (PatternSort.NAME, False, ["p1", "p5", "p3", "p2", "p4", "p7", "p8", "p6"]),
        (PatternSort.TYPE, False, ["p1", "p3", "p4", "p8", "p2", "p5", "p6", "p7"]),
        (PatternSort.STATUS, False, ["p7", "p1", "p4", "p5", "p8", "p2", "p6", "p3"]),
        (PatternSort.TRUST, False, ["p2", "p4", "p8", "p1", "p6", "p5", "p3", "p7"]),
        (PatternSort.EFFECTIVENESS, True, ["p3", "p7", "p1", "p8", "p5", "p2", "p4", "p6"]),
        (PatternSort.APPLICATIONS, True, ["p3", "p7", "p2", "p4", "p1", "p5", "p6", "p8"]),
        (PatternSort.SUCCESSES, True, ["p3", "p7", "p1", "p4", "p2", "p5", "p6", "p8"]),
        (PatternSort.FAILURES, True, ["p2", "p4", "p5", "p1", "p7", "p3", "p6", "p8"]),
        (PatternSort.LAST_SEEN, True, ["p8", "p7", "p6", "p4", "p3", "p2", "p1", "p5"]),
        (PatternSort.LAST_SEEN, False, ["p1", "p2", "p3", "p4", "p6", "p7", "p8", "p5"]),
        (PatternSort.INSTRUMENT, False, ["p1", "p4", "p7", "p3", "p6", "p2", "p5", "p8"]),
        (PatternSort.INSTRUMENT, True, ["p3", "p6", "p1", "p4", "p7", "p2", "p5", "p8"]),
    ],
)
def test_sorts_break_ties_by_id_and_put_nulls_last(
    populated: GlobalLearningStore, sort: PatternSort, descending: bool, expected: list[str]
) -> None:
    assert _ids(populated, sort=sort, descending=descending) == expected


def test_paging_keeps_the_counts(populated: GlobalLearningStore) -> None:
    page = populated.query_patterns(PatternQuery(offset=2, limit=3))
    assert [row.id for row in page.rows] == ["p7", "p5", "p8"]
    assert (page.matching, page.total, page.offset) == (8, 8, 2)

    page = populated.query_patterns(PatternQuery(pattern_type="retry", offset=1, limit=2))
    assert [row.id for row in page.rows] == ["p1", "p8"]
    assert (page.matching, page.total) == (4, 8)

    page = populated.query_patterns(PatternQuery(offset=50))
    assert page.rows == ()
    assert (page.matching, page.total) == (8, 8)


# Stored scores that read as a clamp, the NULL default or themselves, with repeats (ties).
_AWKWARD_PRIORITIES = [None, -1.0, -0.0, 0.0, 0.1, 0.1, 0.49, 0.5, 0.5, 0.51, 0.9, 1.0,
                       2.5, float("inf"), float("-inf")]
_AWKWARD_TRUSTS = [None, -0.5, 0.0, 0.2, 0.5, 0.5, 0.7, 0.99, 1.0, 1.0, 1.2, float("inf")]


@pytest.fixture
def awkward(store: GlobalLearningStore) -> GlobalLearningStore:
    """60 active patterns, ids in no order of their scores, a few scores stored as text."""
    rng = random.Random(3)
    names = [f"q{number:02d}" for number in range(60)]
    rng.shuffle(names)
    _insert_patterns(store, [
        (name, name, "retry", "pending", rng.choice(_AWKWARD_TRUSTS), 0.5,
         rng.choice(_AWKWARD_PRIORITIES), 1, 1, "2026-01-01T10:00:00", None, 1, None)
        for name in names
    ])
    if not store.is_postgresql:  # SQLite keeps text in a REAL column; it sorts above numbers
        with store._engine.begin() as conn:
            for name, text in (("q07", "abc"), ("q11", "0.7x"), ("q12", "abc")):
                conn.exec_driver_sql(
                    "UPDATE patterns SET priority_score = ?, trust_score = ? WHERE id = ?",
                    (text, text, name))
    return store


@pytest.mark.parametrize("sort", [PatternSort.PRIORITY, PatternSort.TRUST])
@pytest.mark.parametrize("descending", [True, False])
def test_an_unfiltered_page_read_through_the_index_is_the_sorted_one(
    awkward: GlobalLearningStore, sort: PatternSort, descending: bool
) -> None:
    # Unfiltered, the first pages of these sorts are read through the score's index
    # (``_index_ranges``); hiding inactive patterns (there are none) takes the plain sort.
    for offset, limit in ((0, 100), (0, 7), (5, 9), (20, 20), (55, 10), (70, 5), (3, 0)):
        read = dict(sort=sort, descending=descending, offset=offset, limit=limit)
        assert _ids(awkward, **read) == _ids(awkward, include_inactive=False, **read)
    query = PatternQuery(sort=sort, descending=descending)
    assert awkward.pattern_ids_matching(query, 25) == awkward.pattern_ids_matching(
        replace(query, include_inactive=False), 25)


def test_the_first_page_by_priority_does_not_sort_every_pattern(
    awkward: GlobalLearningStore,
) -> None:
    if awkward.is_postgresql:
        pytest.skip("the plan checked is SQLite's")
    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    sqlalchemy.event.listen(awkward._engine, "before_cursor_execute", record)
    try:
        awkward.query_patterns(PatternQuery())
    finally:
        sqlalchemy.event.remove(awkward._engine, "before_cursor_execute", record)
    statement, parameters = statements[0]  # the page's ids
    with awkward._engine.connect() as conn:
        plan = [row[3] for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {statement}", parameters)]
    reads = [line for line in plan if "patterns" in line]
    assert reads and all(
        line.startswith("SEARCH patterns USING INDEX idx_patterns_priority") for line in reads
    ), plan


def test_rows_are_clamped_like_pattern_records(populated: GlobalLearningStore) -> None:
    rows = {row.id: row for row in populated.query_patterns(PatternQuery()).rows}
    p3, p6, p7 = rows["p3"], rows["p6"], rows["p7"]
    assert (p3.trust, p3.effectiveness, p3.priority) == (0.9, 1.0, 0.9)
    assert (p3.applications, p3.successes, p3.failures) == (10, 10, 0)
    assert p3.last_seen == datetime(2026, 1, 3, 10, 0, 0)
    assert (p6.trust, p6.effectiveness, p6.priority) == (0.5, 0.0, 0.0)
    assert p6.drift_retired and not p3.drift_retired
    assert (p7.status, p7.trust) == ("active", 1.0)
    assert rows["p8"].status == "pending"
    assert rows["p4"].active is False and rows["p5"].active is True
    assert rows["p5"].last_seen is None and rows["p5"].instrument is None
    assert rows["p1"].description == "Retries 100% of the time"


def test_hostile_text_comes_back_verbatim(store: GlobalLearningStore) -> None:
    name = "[bold red]boom[/] \x1b[2J\x1b]0;pwned\x07\nsecond line\ttab [/]"
    description = "[@click=app.quit]click me[/]\r\n\u202eevil\u202c {0} %s"
    _insert_patterns(
        store,
        [("h1", name, "[link=file:///etc/passwd]t[/link]", "pending", 0.5, 0.5, 0.5,
          0, 0, "2026-01-01T00:00:00", "\x1b[31mred", 1, description)],
    )
    (row,) = store.query_patterns(PatternQuery(text="boom")).rows
    assert row.name == name
    assert row.description == description
    assert row.pattern_type == "[link=file:///etc/passwd]t[/link]"
    assert row.instrument == "\x1b[31mred"
    assert store.pattern_types() == ["[link=file:///etc/passwd]t[/link]"]
    assert store.pattern_instruments() == ["\x1b[31mred"]


def test_distinct_types_and_instruments(populated: GlobalLearningStore) -> None:
    assert populated.pattern_types() == ["retry", "timeout", "validation"]
    assert populated.pattern_types(limit=2) == ["retry", "timeout"]
    assert populated.pattern_instruments() == ["claude", "gpt"]


# -- overview --------------------------------------------------------------------------


def _insert(
    store: GlobalLearningStore, table: sqlalchemy.Table, rows: list[dict[str, Any]]
) -> None:
    with store._engine.begin() as conn:
        conn.execute(insert(table), rows)


def _escalation(ident: str, recorded_at: str, outcome: str | None) -> dict[str, Any]:
    return {
        "id": ident, "job_hash": "job", "sheet_num": 1, "confidence": 0.5,
        "action": "retry", "guidance": None, "validation_pass_rate": 50.0,
        "retry_count": 0, "outcome_after_action": outcome, "recorded_at": recorded_at,
        "model": None,
    }


def _entropy(calculated_at: str, diversity: float) -> dict[str, Any]:
    return {
        "id": calculated_at, "calculated_at": calculated_at, "shannon_entropy": 1.0,
        "max_possible_entropy": 2.0, "diversity_index": diversity,
        "unique_pattern_count": 4, "effective_pattern_count": 4, "total_applications": 9,
        "dominant_pattern_share": 0.5,
    }


def test_overview_of_an_empty_store(store: GlobalLearningStore) -> None:
    overview = store.store_overview()
    assert dict(overview.status_counts) == {}
    assert (overview.total_patterns, overview.drift_retired) == (0, 0)
    assert overview.budget is None and overview.diversity is None
    assert (overview.budget_floor, overview.budget_ceiling) == (0.05, 0.50)
    assert overview.diversity_threshold == 0.3
    assert (overview.active_rate_limits, overview.pending_escalations) == (0, 0)
    assert overview.read_only is False and overview.schema_warning is None
    assert overview.location == store.location


def test_overview_numbers(populated: GlobalLearningStore, clock: FrozenClock) -> None:
    store = populated
    _insert(store, tables.exploration_budget, [
        {"id": "b1", "job_hash": "a", "recorded_at": "2026-11-25T10:00:00",
         "budget_value": 0.2, "adjustment_type": "initial"},
        {"id": "b2", "job_hash": "b", "recorded_at": "2026-11-25T11:00:00",
         "budget_value": 0.35, "adjustment_type": "boost"},
        {"id": "b3", "job_hash": "a", "recorded_at": "2026-11-25T09:00:00",
         "budget_value": 0.1, "adjustment_type": "decay"},
    ])
    _insert(store, tables.pattern_entropy_history, [
        _entropy("2026-11-25T09:00:00", 0.8), _entropy("2026-11-25T10:00:00", 0.25),
    ])
    now = clock.now
    _insert(store, tables.rate_limit_events, [
        {"id": ident, "error_code": "E101", "model": None,
         "recorded_at": (now - timedelta(hours=1)).isoformat() + "+00:00",
         "expires_at": expires.isoformat() + "+00:00", "source_job_hash": "j",
         "duration_seconds": 60.0}
        for ident, expires in [
            ("r1", now + timedelta(hours=1)), ("r2", now - timedelta(seconds=1)), ("r3", now),
        ]
    ])
    _insert(store, tables.escalation_decisions, [
        _escalation("e1", "2026-11-25T10:00:00", None),
        _escalation("e2", "2026-11-25T09:00:00", None),
        _escalation("e3", "2026-11-25T11:00:00", "success"),
    ])
    overview = store.store_overview()
    assert dict(overview.status_counts) == {
        "pending": 4, "quarantined": 1, "validated": 1, "retired": 1, "active": 1,
    }
    assert (overview.total_patterns, overview.drift_retired) == (8, 2)
    assert overview.budget == 0.35
    assert overview.diversity == 0.25
    assert overview.active_rate_limits == 1  # r3 expires exactly now: not active
    assert overview.pending_escalations == 2


def test_overview_counts_a_missing_status_as_pending_and_only_priority_at_or_below_zero(
    store: GlobalLearningStore,
) -> None:
    # The header counts come from indexes now; NULL status and NULL/negative priority must
    # still read as the patterns list reads them (pending; 0.5, clamped to 0).
    _insert(store, tables.patterns, [
        {"id": ident, "pattern_type": "t", "pattern_name": ident,
         "quarantine_status": status, "priority_score": priority}
        for ident, status, priority in [
            ("p1", None, None), ("p2", "pending", 0.0), ("p3", "validated", -0.25),
            ("p4", "validated", 0.75), ("p5", None, 1e-9), ("p6", "quarantined", -0.0),
        ]
    ])
    overview = store.store_overview()
    assert dict(overview.status_counts) == {"pending": 3, "validated": 2, "quarantined": 1}
    assert (overview.total_patterns, overview.drift_retired) == (6, 3)  # p2, p3, p6


def test_overview_counts_every_stored_status_as_stored(store: GlobalLearningStore) -> None:
    # On SQLite the counts are differences of index ranges (``_sqlite_status_counts``):
    # the first and last statuses in sort order, legacy and empty ones, and NULLs must each
    # come out as GROUP BY would count them.
    statuses = (["", "active", "active", "pending", "quarantined", "retired", "retired",
                 "validated", "zz legacy", "zz legacy", "zz legacy"] + [None] * 2)
    _insert(store, tables.patterns, [
        {"id": f"p{number}", "pattern_type": "t", "pattern_name": "n",
         "quarantine_status": status}
        for number, status in enumerate(statuses)
    ])
    overview = store.store_overview()
    assert dict(overview.status_counts) == {
        "pending": 3, "": 1, "active": 2, "quarantined": 1, "retired": 2, "validated": 1,
        "zz legacy": 3,
    }
    assert overview.total_patterns == 13


def test_a_malformed_escalation_time_reads_as_unknown_on_the_review_list(
    sqlite_store: GlobalLearningStore,
) -> None:
    _insert(sqlite_store, tables.escalation_decisions, [
        _escalation("e1", "2026-11-25T10:00:00", None),
        _escalation("e2", "2026-11-25T09:00:00", None),
    ])
    # Another writer leaves text that is no timestamp (the typed insert above cannot).
    with sqlite3.connect(sqlite_store.db_path) as db:
        db.execute("UPDATE escalation_decisions SET recorded_at = 'last tuesday' "
                   "WHERE id = 'e2'")
    by_id = {record.id: record for record in sqlite_store.escalations_for_review()}
    assert by_id["e2"].recorded_at == datetime.min
    assert by_id["e1"].recorded_at == datetime(2026, 11, 25, 10, 0, 0)


def test_one_escalation_builder_lenient_only_for_viewers() -> None:
    stored = {
        "id": "e1", "job_hash": "job", "sheet_num": 2, "confidence": None,
        "action": "retry", "guidance": None, "validation_pass_rate": None,
        "retry_count": 1, "outcome_after_action": None, "recorded_at": "last tuesday",
        "model": None,
    }
    viewer = escalation_record_from_row(stored, tolerant=True)
    assert (viewer.confidence, viewer.validation_pass_rate, viewer.recorded_at) == (
        0.0, 0.0, datetime.min
    )
    well_formed = {**stored, "confidence": 1.7, "validation_pass_rate": 80.0,
                   "recorded_at": "2026-11-25T10:00:00"}
    assert escalation_record_from_row(well_formed, tolerant=True) == EscalationDecisionRecord(
        id="e1", job_hash="job", sheet_num=2, confidence=1.0, action="retry", guidance=None,
        validation_pass_rate=80.0, retry_count=1, recorded_at=datetime(2026, 11, 25, 10),
    )
    # Marianne's reads get the values as the row holds them: nothing is parsed or filled in.
    exact = escalation_record_from_row({**stored, "confidence": 0.4,
                                        "validation_pass_rate": 80.0})
    assert (exact.confidence, exact.validation_pass_rate, exact.recorded_at) == (
        0.4, 80.0, "last tuesday"
    )


def test_escalations_for_review_order(store: GlobalLearningStore) -> None:
    _insert(store, tables.escalation_decisions, [
        _escalation("e1", "2026-11-25T10:00:00", None),
        _escalation("e2", "2026-11-25T09:00:00", None),
        _escalation("e3", "2026-11-25T11:00:00", "success"),
        _escalation("e4", "2026-11-25T12:00:00", "failed"),
        _escalation("e5", "2026-11-25T08:00:00", "skipped"),
        _escalation("e6", "2026-11-25T11:30:00", None),
    ])
    review = store.escalations_for_review()
    assert [record.id for record in review] == ["e2", "e1", "e6", "e4", "e3", "e5"]
    assert [record.id for record in store.escalations_for_review(limit=4)] == [
        "e2", "e1", "e6", "e4",
    ]
    assert [record.id for record in store.escalations_for_review(limit=2)] == ["e2", "e1"]
    assert review[0].recorded_at == datetime(2026, 11, 25, 9, 0, 0)
    assert review[3].outcome_after_action == "failed"
    assert store.pending_escalation_count() == 3


# -- change probe ----------------------------------------------------------------------


def _write_elsewhere(store: GlobalLearningStore) -> None:
    """A commit by a connection the store does not own."""
    if store.is_postgresql:
        engine = sqlalchemy.create_engine(store.url)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO workspace_clusters (workspace_hash, cluster_id) VALUES ('w', 'c')"
            )
        engine.dispose()
    else:
        other = sqlite3.connect(str(store.db_path))
        with other:
            other.execute(
                "INSERT INTO workspace_clusters (workspace_hash, cluster_id) VALUES ('w', 'c')"
            )
        other.close()


def test_change_token_moves_on_every_commit_and_only_then(store: GlobalLearningStore) -> None:
    first = store.change_token()
    assert store.change_token() == first  # an idle poll changes nothing
    store.query_patterns(PatternQuery())
    assert store.change_token() == first  # nor does a read

    store.record_pattern("retry", "Some pattern")
    after_store_write = store.change_token()
    assert after_store_write != first
    assert store.change_token() == after_store_write

    _write_elsewhere(store)
    after_other_write = store.change_token()
    assert after_other_write != after_store_write
    assert store.change_token() == after_other_write


def test_change_token_survives_close(store: GlobalLearningStore) -> None:
    before = store.change_token()
    store.close()
    store.record_pattern("retry", "Written after close")
    assert store.change_token() != before


def test_change_token_of_a_read_only_store(store: GlobalLearningStore) -> None:
    viewer = GlobalLearningStore(
        store.url if store.is_postgresql else store.db_path, read_only=True
    )
    try:
        first = viewer.change_token()
        assert viewer.change_token() == first
        store.record_pattern("retry", "Seen by the viewer")
        assert viewer.change_token() != first
    finally:
        viewer.close()


def test_change_token_of_a_postgresql_store_without_the_counter(
    store_url: str, clock: FrozenClock
) -> None:
    """A database this project never opened writable has no revision table or triggers."""
    if "://" not in store_url:
        pytest.skip("PostgreSQL only")
    engine = sqlalchemy.create_engine(store_url)
    with engine.begin() as conn:
        tables.METADATA.create_all(conn, tables=list(tables.MARIANNE_TABLES))
        conn.execute(insert(tables.schema_version).values(version=15))
    viewer = GlobalLearningStore(store_url, read_only=True, clock=clock)
    try:
        first = viewer.change_token()
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO workspace_clusters (workspace_hash, cluster_id) VALUES ('w', 'c')"
            )
        assert viewer.change_token() != first
        with engine.connect() as conn:
            names = set(sqlalchemy.inspect(conn).get_table_names())
        assert "marianne_tui_revision" not in names
    finally:
        viewer.close()
        engine.dispose()


# -- Marianne's own file ---------------------------------------------------------------


def test_reads_every_pattern_of_marianne_small_fixture(small_fixture: Path) -> None:
    with sqlite3.connect(small_fixture) as raw:
        expected = dict(
            raw.execute(
                "SELECT quarantine_status, count(*) FROM patterns GROUP BY quarantine_status"
            ).fetchall()
        )
    raw.close()
    store = GlobalLearningStore(small_fixture, read_only=True)
    try:
        page = store.query_patterns(PatternQuery(limit=1000))
        assert (len(page.rows), page.matching, page.total) == (200, 200, 200)
        counted: dict[str, int] = {}
        for row in page.rows:
            counted[row.status] = counted.get(row.status, 0) + 1
        assert counted == expected
        assert dict(store.store_overview().status_counts) == expected
        for status, count in expected.items():
            assert store.query_patterns(PatternQuery(statuses=(status,))).matching == count
    finally:
        store.close()
