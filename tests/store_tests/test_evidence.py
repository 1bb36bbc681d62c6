"""The evidence behind a pattern and the escalation queue: paged, ordered, bounded reads.

The effectiveness series is checked by hand against section 5.3 (and its contract test
vector), the store reads on both backends.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import TEST_NOW, FrozenClock

from store import (
    EscalationGroup,
    EscalationSort,
    GlobalLearningStore,
)
from store.evidence import APPLICATION_PAGE_LIMIT, TREND_LIMIT
from store.metrics import AppliedOutcome, effectiveness_series

#: The contract's seven applications (section 5.3), oldest first: (success, grounding).
SEVEN = [(True, 0.5), (True, None), (False, 0.9), (True, 0.2), (True, None), (False, 0.1),
         (True, 0.6)]
#: E after each of them, by hand (all on one day, so no decay):
#:   1, 2: n < 3 -> 0.55
#:   3: H = 2.5/4, R = 2/3, G = (0.5+0.9)/2      -> (0.7*2/3 + 0.3*0.625) * 0.91  = 0.5952917
#:   4: H = 3.5/5, R = 3/4, G = 1.6/3            -> (0.525 + 0.21) * 0.86          = 0.6321
#:   5: H = 4.5/6, R = 4/5, G = 1.6/3            -> (0.56 + 0.225) * 0.86          = 0.6751
#:   6: H = 4.5/7, R = 3/5 (rows 2-6), G = 1.2/3 -> (0.42 + 0.3*4.5/7) * 0.82      = 0.5025429
#:   7: H = 5.5/8, R = 3/5 (rows 3-7), G = 1.8/4 -> (0.42 + 0.20625) * 0.835       = 0.52291875
SEVEN_E = [0.55, 0.55, 0.5952917, 0.6321, 0.6751, 0.5025429, 0.52291875]


def outcomes(pairs: list[tuple[bool, float | None]], start: datetime = TEST_NOW,
             step: timedelta = timedelta(minutes=1)) -> list[AppliedOutcome]:
    return [AppliedOutcome(start + index * step, ok, grounding)
            for index, (ok, grounding) in enumerate(pairs)]


# -- the pure series ---------------------------------------------------------------------


def test_series_replays_the_contract_vector() -> None:
    assert effectiveness_series(outcomes(SEVEN)) == pytest.approx(SEVEN_E, abs=1e-7)


def test_series_counts_prior_applications_and_decays_from_the_last_success() -> None:
    start = TEST_NOW
    series = effectiveness_series(
        [AppliedOutcome(start, False, None),
         AppliedOutcome(start + timedelta(days=10), True, None),
         AppliedOutcome(start + timedelta(days=40), False, None)],
        prior_successes=2, prior_failures=0, confirmed_at=start - timedelta(days=60),
    )
    # 1: s=2 f=1, H=2.5/4, R=0, 60 days since the success before: (0.3*0.625)*0.9^2
    # 2: s=3 f=1, H=3.5/5, R=1/2, confirmed now:                   0.35 + 0.21
    # 3: s=3 f=2, H=3.5/6, R=1/3, 30 days since application 2:     (0.7/3 + 0.175)*0.9
    assert series == pytest.approx([0.151875, 0.56, 0.3675])


def test_series_of_nothing_is_empty_and_unknown_times_do_not_decay() -> None:
    assert effectiveness_series([]) == ()
    series = effectiveness_series([AppliedOutcome(None, False, None)], prior_successes=3,
                                  confirmed_at=TEST_NOW - timedelta(days=300))
    # s=3 f=1, H=0.7, R=0, d=0 (the time is unknown): 0.3*0.7
    assert series == pytest.approx([0.21])


# -- the store reads ---------------------------------------------------------------------


def seven_applications(store: GlobalLearningStore, clock: FrozenClock) -> str:
    pattern_id = store.record_pattern("validation_failure", "seven", "the contract's vector")
    for index, (ok, grounding) in enumerate(SEVEN):
        clock.advance(minutes=1)
        store.record_pattern_application(pattern_id, f"exec-{index}", ok,
                                         retry_count_before=index, retry_count_after=index + 1,
                                         grounding_confidence=grounding)
    return pattern_id


def test_applications_are_paged_newest_first(store: GlobalLearningStore,
                                             clock: FrozenClock) -> None:
    pattern_id = seven_applications(store, clock)
    first = store.pattern_applications_page(pattern_id, limit=3)
    assert first.total == 7 and first.offset == 0 and first.limit == 3
    assert [row.execution_id for row in first.rows] == ["exec-6", "exec-5", "exec-4"]
    newest = first.rows[0]
    assert (newest.succeeded, newest.grounding, newest.retries_before,
            newest.retries_after) == (True, 0.6, 6, 7)
    assert newest.applied_at == TEST_NOW + timedelta(minutes=7)
    assert first.rows[1].succeeded is False and first.rows[2].grounding is None
    second = store.pattern_applications_page(pattern_id, limit=3, offset=3)
    assert [row.execution_id for row in second.rows] == ["exec-3", "exec-2", "exec-1"]
    last = store.pattern_applications_page(pattern_id, limit=3, offset=6)
    assert [row.execution_id for row in last.rows] == ["exec-0"]
    assert store.pattern_applications_page(pattern_id, limit=3, offset=7).rows == ()


def test_application_pages_are_bounded(store: GlobalLearningStore,
                                       clock: FrozenClock) -> None:
    pattern_id = seven_applications(store, clock)
    assert store.pattern_applications_page(pattern_id, limit=10**9).limit \
        == APPLICATION_PAGE_LIMIT
    assert store.pattern_applications_page(pattern_id, offset=-5).offset == 0
    assert len(store.pattern_applications_page(pattern_id, limit=0).rows) == 0
    unknown = store.pattern_applications_page("no-such-pattern")
    assert (unknown.total, unknown.rows) == (0, ())


def test_same_time_applications_are_ordered_by_id(store: GlobalLearningStore) -> None:
    pattern_id = store.record_pattern("validation_failure", "ties", "one instant")
    for index in range(4):
        store.record_pattern_application(pattern_id, f"exec-{index}", True)
    ids = [row.id for row in store.pattern_applications_page(pattern_id).rows]
    assert ids == sorted(ids, reverse=True)


def test_trend_ends_at_the_stored_effectiveness(store: GlobalLearningStore,
                                               clock: FrozenClock) -> None:
    pattern_id = seven_applications(store, clock)
    trend = store.effectiveness_trend(pattern_id)
    assert trend.applications == 7
    assert trend.values == pytest.approx(SEVEN_E, abs=1e-7)
    record = store.get_pattern_by_id(pattern_id)
    assert record is not None
    assert trend.values[-1] == pytest.approx(record.effectiveness_score, abs=1e-12)


def test_a_short_trend_carries_the_older_counts_and_window(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    # Two points: the five before them are not fetched as points, but their counts (one
    # aggregate) and four of them (the recent window) still shape both values.
    pattern_id = seven_applications(store, clock)
    assert store.effectiveness_trend(pattern_id, limit=2).values == pytest.approx(
        SEVEN_E[-2:], abs=1e-7)
    assert store.effectiveness_trend(pattern_id, limit=0).values == ()
    assert len(store.effectiveness_trend(pattern_id, limit=10**6).values) == 7  # capped


def test_trend_decays_from_the_older_success(store: GlobalLearningStore,
                                            clock: FrozenClock) -> None:
    pattern_id = store.record_pattern("validation_failure", "decaying", "")
    for ok in (True, True, False):
        store.record_pattern_application(pattern_id, "early", ok)
    clock.advance(days=60)
    for _ in range(5):
        store.record_pattern_application(pattern_id, "late", False)
    # One point: the five late failures are fetched (the point and its window), the three
    # early rows only counted, and the latest early success is last_confirmed:
    # s=2 f=6, H=2.5/9, R=0, 60 days: 0.3 * 2.5/9 * 0.9^2 = 0.0675
    values = store.effectiveness_trend(pattern_id, limit=1).values
    assert values == pytest.approx([0.0675])
    record = store.get_pattern_by_id(pattern_id)
    assert record is not None and values[-1] == pytest.approx(record.effectiveness_score)
    assert TREND_LIMIT >= 120


def test_drift_windows_side_by_side(store: GlobalLearningStore, clock: FrozenClock) -> None:
    # Section 8.1's vector: five older successes, five newer failures, grounding
    # 0.9, 0.85, ..., 0.45 oldest first.
    pattern_id = store.record_pattern("validation_failure", "drifting", "")
    grounding = [0.9 - 0.05 * index for index in range(10)]
    for index, value in enumerate(grounding):
        clock.advance(minutes=1)
        store.record_pattern_application(pattern_id, f"exec-{index}", index < 5,
                                         grounding_confidence=value)
    windows = store.drift_windows(pattern_id)
    assert windows.older is not None and windows.recent is not None
    assert (windows.older.applications, windows.older.successes) == (5, 5)
    assert (windows.recent.applications, windows.recent.successes) == (5, 0)
    assert windows.older.effectiveness == pytest.approx(5.5 / 6)
    assert windows.recent.effectiveness == pytest.approx(0.5 / 6)
    assert windows.older.mean_grounding == pytest.approx(0.8)
    assert windows.recent.mean_grounding == pytest.approx(0.55)
    assert windows.older.first_at == TEST_NOW + timedelta(minutes=1)
    assert windows.recent.last_at == TEST_NOW + timedelta(minutes=10)
    assert windows.belief_recent is not None
    assert windows.belief_recent.mean_grounding == pytest.approx(0.55)
    drift = store.calculate_effectiveness_drift(pattern_id)
    assert drift is not None
    assert drift.effectiveness_before == pytest.approx(windows.older.effectiveness)
    assert drift.effectiveness_after == pytest.approx(windows.recent.effectiveness)


def test_drift_windows_need_two_full_windows(store: GlobalLearningStore,
                                            clock: FrozenClock) -> None:
    pattern_id = seven_applications(store, clock)
    windows = store.drift_windows(pattern_id)
    assert (windows.older, windows.recent, windows.belief_older) == (None, None, None)
    small = store.drift_windows(pattern_id, window_size=2)
    assert small.recent is not None and small.recent.successes == 1  # rows 7 and 6
    # Grounded rows only: 0.6, 0.1 recent; 0.2, 0.9 older.
    assert small.belief_recent is not None and small.belief_older is not None
    assert small.belief_recent.mean_grounding == pytest.approx(0.35)
    assert small.belief_older.mean_grounding == pytest.approx(0.55)


# -- the escalation queue ----------------------------------------------------------------


def escalations(store: GlobalLearningStore, clock: FrozenClock) -> dict[int, str]:
    """Six escalations three days apart (sheet n at day 3n); sheets 0 and 3 decided."""
    ids = {}
    for sheet in range(6):
        ids[sheet] = store.record_escalation_decision(
            f"job-{'abcdef'[sheet]}", sheet, 0.9 - 0.1 * sheet, "retry" if sheet % 2 else
            "abort", 40.0 + (sheet * 7) % 30, (sheet * 5) % 4,
            guidance=f"guide {'zyxwvu'[sheet]}",
            outcome_after_action=None if sheet % 3 else "success",
            model=None if sheet == 4 else f"model-{sheet}",
        )
        clock.advance(days=3)
    return ids


def test_queue_puts_awaiting_first_newest_first_then_stale_then_decided(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    escalations(store, clock)
    # now = day 18; stale before day 11: sheets 4 (day 12) and 5 (day 15) can be judged.
    queue = store.escalation_queue(timedelta(days=7))
    assert [(row.group, row.record.sheet_num) for row in queue.rows] == [
        (EscalationGroup.AWAITING, 5), (EscalationGroup.AWAITING, 4),
        (EscalationGroup.STALE, 2), (EscalationGroup.STALE, 1),
        (EscalationGroup.DECIDED, 3), (EscalationGroup.DECIDED, 0),
    ]
    assert (queue.awaiting, queue.stale, queue.decided, queue.total) == (2, 2, 2, 6)
    assert queue.stale_before == TEST_NOW + timedelta(days=11)


def test_stale_boundary(store: GlobalLearningStore, clock: FrozenClock) -> None:
    escalations(store, clock)
    # Sheet 4 was recorded at day 12, now is day 18: exactly 6 days old.
    at_boundary = store.escalation_queue(timedelta(days=6))
    assert (at_boundary.awaiting, at_boundary.stale) == (2, 2)
    just_past = store.escalation_queue(timedelta(days=6) - timedelta(microseconds=1))
    assert (just_past.awaiting, just_past.stale) == (1, 3)
    assert [row.record.sheet_num for row in just_past.rows
            if row.group is EscalationGroup.STALE] == [4, 2, 1]


@pytest.mark.parametrize(("sort", "ascending"), [
    (EscalationSort.OUTCOME, [5, 4, 2, 1, 3, 0]),     # equal within groups: newest first
    (EscalationSort.RECORDED, [4, 5, 1, 2, 0, 3]),
    # job hashes (hash_job): 0 118c…, 1 e2e5…, 2 064e…, 3 e99b…, 4 9d22…, 5 8ac1…
    (EscalationSort.JOB, [5, 4, 2, 1, 0, 3]),
    (EscalationSort.SHEET, [4, 5, 1, 2, 0, 3]),
    (EscalationSort.CONFIDENCE, [5, 4, 2, 1, 3, 0]),
    (EscalationSort.ACTION, [4, 5, 2, 1, 0, 3]),       # abort < retry
    (EscalationSort.PASS_RATE, [5, 4, 1, 2, 0, 3]),    # 40 + 7n mod 30: 40 47 54 61 68 45
    (EscalationSort.RETRIES, [4, 5, 1, 2, 0, 3]),      # 5n mod 4: 0 1 2 3 0 1
    (EscalationSort.MODEL, [4, 5, 1, 2, 0, 3]),        # sheet 4 has none ("")
    (EscalationSort.GUIDANCE, [5, 4, 2, 1, 3, 0]),     # z y x w v u
])
def test_queue_sorts_on_each_column_within_groups(
    store: GlobalLearningStore, clock: FrozenClock, sort: EscalationSort,
    ascending: list[int],
) -> None:
    escalations(store, clock)
    up = store.escalation_queue(timedelta(days=7), sort=sort, descending=False)
    assert [row.record.sheet_num for row in up.rows] == ascending
    assert [row.group for row in up.rows] == [EscalationGroup.AWAITING] * 2 + [
        EscalationGroup.STALE] * 2 + [EscalationGroup.DECIDED] * 2
    if sort is not EscalationSort.OUTCOME:  # every key differs within a group
        down = store.escalation_queue(timedelta(days=7), sort=sort, descending=True)
        expected = [*ascending[1::-1], *ascending[3:1:-1], *ascending[5:3:-1]]
        assert [row.record.sheet_num for row in down.rows] == expected


def test_queue_is_paged_and_bounded(store: GlobalLearningStore, clock: FrozenClock) -> None:
    escalations(store, clock)
    page = store.escalation_queue(timedelta(days=7), limit=2, offset=2)
    assert [row.record.sheet_num for row in page.rows] == [2, 1]
    assert page.total == 6 and page.offset == 2
    assert store.escalation_queue(timedelta(days=7), limit=0).rows == ()
    assert len(store.escalation_queue(timedelta(days=7), limit=10**9).rows) == 6


@pytest.mark.parametrize(("text", "sheets"), [
    ("RETRY", [5, 1, 3]),              # odd sheets; the groups keep their order
    ("  retry ", [5, 1, 3]),           # as typed, spaces around it
    ("stale", [2, 1]),                 # a word for the group, not a column
    ("awaiting", [5, 4, 2, 1]),        # no outcome yet, stale ones too
    ("success", [3, 0]),
    ("guide x", [2]),
    ("MODEL-", [5, 2, 1, 3, 0]),       # sheet 4 has no model
    ("l_5", []),                       # _ and % are not wildcards: "model-5" has no "l_5"
    ("%", []),
    ("", [5, 4, 2, 1, 3, 0]),
])
def test_queue_keeps_the_escalations_the_text_is_in_across_the_whole_table(
    store: GlobalLearningStore, clock: FrozenClock, text: str, sheets: list[int]
) -> None:
    escalations(store, clock)
    queue = store.escalation_queue(timedelta(days=7), text=text)
    assert [row.record.sheet_num for row in queue.rows] == sheets
    assert queue.matching == len(sheets) and queue.text == text.strip()
    assert (queue.awaiting, queue.stale, queue.decided) == (2, 2, 2)  # the whole table


def test_a_filtered_queue_is_paged_over_its_matches(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    escalations(store, clock)
    page = store.escalation_queue(timedelta(days=7), text="retry", limit=1, offset=1)
    assert [row.record.sheet_num for row in page.rows] == [1]
    assert page.matching == 3 and page.total == 6


def test_replayed_trend_matches_what_marianne_stored(small_fixture: Path) -> None:
    # A store Marianne itself wrote: for every pattern with applications, E replayed over
    # its rows ends at the effectiveness Marianne stored after the latest one.
    store = GlobalLearningStore(small_fixture, read_only=True)
    try:
        stored = {row[0]: row[1] for row in raw_rows_of(small_fixture)}
        assert len(stored) > 100
        for pattern_id, effectiveness in stored.items():
            values = store.effectiveness_trend(pattern_id, limit=3).values
            assert values[-1] == pytest.approx(effectiveness, abs=1e-12), pattern_id
    finally:
        store.close()


def raw_rows_of(path: Path) -> list[tuple[str, float]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(
            "SELECT id, effectiveness_score FROM patterns p WHERE EXISTS "
            "(SELECT 1 FROM pattern_applications a WHERE a.pattern_id = p.id)"
        ).fetchall()
