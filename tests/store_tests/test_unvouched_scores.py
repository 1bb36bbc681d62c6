"""Scores the store cannot vouch for are marked in the console's read-models.

SQLite keeps text such as ``'NaN'`` in a REAL column, and text sorts above every number:
the list's clamp turned it into a perfect 1.00. ±Inf and out-of-range values were clamped
silently. The read-model keeps the clamp (the list sorts by it) and says which scores are
not to be believed, with their stored value.
"""

from __future__ import annotations

import math
import sqlite3

import pytest

from store import GlobalLearningStore, PatternQuery
from store.metrics import unvouched_score


@pytest.mark.parametrize(
    ("stored", "upper", "expected"),
    [
        (None, 1.0, None),
        (0.0, 1.0, None),
        (0.42, 1.0, None),
        (1.0, 1.0, None),
        (1, 1.0, None),
        ("NaN", 1.0, "NaN"),
        ("abc", 1.0, "abc"),
        ("0.5", 1.0, "0.5"),  # a number stored as text is still text
        (math.nan, 1.0, "NaN"),
        (math.inf, 1.0, "+Inf"),
        (-math.inf, None, "-Inf"),
        (1.7, 1.0, "1.7"),
        (-0.2, 1.0, "-0.2"),
        (-0.2, None, "-0.2"),
        (7.5, None, None),  # priority has no upper bound
        ("x" * 40, 1.0, "x" * 24),
    ],
)
def test_unvouched_score(stored: object, upper: float | None, expected: str | None) -> None:
    assert unvouched_score(stored, upper) == expected


def _store_with_scores(
    store: GlobalLearningStore, scores: dict[str, object], *, raw_sqlite: bool
) -> dict[str, str]:
    ids = {name: store.record_pattern("validation_failure", name) for name in scores}
    statement = (
        "UPDATE patterns SET trust_score = {v}, effectiveness_score = {v}, "
        "priority_score = {v} WHERE id = '{id}'"
    )
    if raw_sqlite:
        connection = sqlite3.connect(store.db_path)
        for name, value in scores.items():
            connection.execute(
                "UPDATE patterns SET trust_score = ?, effectiveness_score = ?, "
                "priority_score = ? WHERE id = ?",
                (value, value, value, ids[name]),
            )
        connection.commit()
        connection.close()
    else:
        with store._connection() as conn:
            for name, value in scores.items():
                conn.exec_driver_sql(statement.format(v=value, id=ids[name]))
    return ids


def test_text_nan_infinities_and_out_of_range_are_marked_on_sqlite(
    sqlite_store: GlobalLearningStore,
) -> None:
    ids = _store_with_scores(
        sqlite_store,
        {
            "text nan": "NaN",
            "text abc": "abc",
            "plus inf": math.inf,
            "minus inf": -math.inf,
            "too high": 1.7,
            "negative": -0.2,
            "fine": 0.42,
        },
        raw_sqlite=True,
    )
    rows = {row.name: row for row in sqlite_store.query_patterns(PatternQuery()).rows}
    assert len(rows) == 7

    every = ("trust", "effectiveness", "priority")
    assert rows["text nan"].unvouched == tuple((score, "NaN") for score in every)
    assert rows["text nan"].effectiveness == 1.0  # the stand-in the list sorts by
    assert rows["text nan"].unvouched_value("effectiveness") == "NaN"
    # Text that is no number used to fail the whole page (float('abc')).
    assert rows["text abc"].unvouched == tuple((score, "abc") for score in every)
    assert rows["text abc"].priority == 0.5
    assert rows["plus inf"].unvouched == tuple((score, "+Inf") for score in every)
    assert rows["minus inf"].unvouched == tuple((score, "-Inf") for score in every)
    assert rows["too high"].unvouched == (("trust", "1.7"), ("effectiveness", "1.7"))
    assert rows["too high"].priority == 1.7
    assert rows["negative"].unvouched == tuple((score, "-0.2") for score in every)
    assert rows["fine"].unvouched == ()
    assert rows["fine"].unvouched_value("trust") is None
    assert (rows["fine"].trust, rows["fine"].effectiveness) == (0.42, 0.42)

    assert sqlite_store.unvouched_scores(ids["text nan"]) == rows["text nan"].unvouched
    assert sqlite_store.unvouched_scores(ids["fine"]) == ()
    assert sqlite_store.unvouched_scores("no-such-pattern") == ()


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_nan_and_infinity_are_marked_on_postgresql(store: GlobalLearningStore) -> None:
    ids = _store_with_scores(
        store,
        {"nan": "'NaN'", "inf": "'Infinity'", "high": "1.7", "fine": "0.42"},
        raw_sqlite=False,
    )
    rows = {row.name: row for row in store.query_patterns(PatternQuery()).rows}
    assert rows["nan"].unvouched_value("effectiveness") == "NaN"
    assert rows["nan"].effectiveness == 1.0
    assert rows["inf"].unvouched_value("trust") == "+Inf"
    assert rows["high"].unvouched == (("trust", "1.7"), ("effectiveness", "1.7"))
    assert rows["fine"].unvouched == ()
    assert store.unvouched_scores(ids["nan"]) == rows["nan"].unvouched


def _overview_with(store: GlobalLearningStore, budget: object, diversity: object) -> None:
    """One budget and one entropy row, then their values replaced as stored text or NaN."""
    from datetime import datetime

    from store.models import PatternEntropyMetrics

    store.update_exploration_budget("job", 0.2, "decay")
    store.record_pattern_entropy(
        PatternEntropyMetrics(datetime(2026, 11, 25, 12), 1.0, 2.0, 0.5, 4, 2, 10, 0.4)
    )
    if store.dialect == "sqlite":
        connection = sqlite3.connect(store.db_path)
        connection.execute("UPDATE exploration_budget SET budget_value = ?", (budget,))
        connection.execute("UPDATE pattern_entropy_history SET diversity_index = ?", (diversity,))
        connection.commit()
        connection.close()
    else:
        with store._connection() as conn:
            conn.exec_driver_sql(f"UPDATE exploration_budget SET budget_value = {budget}")
            conn.exec_driver_sql(
                f"UPDATE pattern_entropy_history SET diversity_index = {diversity}"
            )


def test_text_in_the_budget_and_diversity_is_marked_not_fatal(
    sqlite_store: GlobalLearningStore,
) -> None:
    """float('abc') used to fail store_overview, and so every poll's header."""
    _overview_with(sqlite_store, "abc", "NaN")
    overview = sqlite_store.store_overview()
    assert (overview.budget, overview.budget_unvouched) == (None, "abc")
    assert (overview.diversity, overview.diversity_unvouched) == (None, "NaN")


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_nan_and_infinity_in_the_budget_and_diversity_on_postgresql(
    store: GlobalLearningStore,
) -> None:
    _overview_with(store, "'NaN'", "'-Infinity'")
    overview = store.store_overview()
    assert (overview.budget, overview.budget_unvouched) == (None, "NaN")
    assert (overview.diversity, overview.diversity_unvouched) == (None, "-Inf")


def test_plain_budget_and_diversity_are_vouched(store: GlobalLearningStore) -> None:
    _overview_with(store, 0.25, 0.75)
    overview = store.store_overview()
    assert (overview.budget, overview.budget_unvouched) == (0.25, None)
    assert (overview.diversity, overview.diversity_unvouched) == (0.75, None)


def test_a_text_nan_effectiveness_in_the_record_and_beside_it(
    sqlite_store: GlobalLearningStore,
) -> None:
    """``get_pattern_by_id`` returns Marianne's record, which clamps with min/max: a NaN
    becomes 1.0 there exactly as in Marianne (models.py, PatternRecord.__post_init__), so the
    drop-in keeps it; the doubt travels beside the record, as for the list's stand-in."""
    ids = _store_with_scores(sqlite_store, {"text nan": "NaN"}, raw_sqlite=True)
    record = sqlite_store.get_pattern_by_id(ids["text nan"])
    assert record is not None
    assert record.effectiveness_score == 1.0
    assert dict(sqlite_store.unvouched_scores(ids["text nan"]))["effectiveness"] == "NaN"
