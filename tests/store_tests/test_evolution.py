"""Evolution trajectory (contract section 8.6)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import FrozenClock

from store import GlobalLearningStore
from store.models import EvolutionEntryInput


def _integrity_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [sqlite3.IntegrityError]
    try:
        import psycopg

        errors.append(psycopg.IntegrityError)
    except ImportError:  # pragma: no cover - PostgreSQL extras not installed
        pass
    return tuple(errors)


def _entry(store: GlobalLearningStore, cycle: int, issues: list[str]) -> str:
    return store.record_evolution_entry(
        cycle=cycle,
        evolutions_completed=2,
        evolutions_deferred=1,
        issue_classes=issues,
        cv_avg=0.7,
        implementation_loc=120,
        test_loc=80,
        loc_accuracy=0.9,
    )


def test_record_and_read_an_entry(store: GlobalLearningStore, clock: FrozenClock) -> None:
    entry_id = store.record_evolution_entry(
        16, 3, 1, ["infrastructure_activation", "caf\u00e9"], 0.62, 300, 150, 0.8,
        research_candidates_resolved=2, research_candidates_created=5, notes="n",
    )

    [entry] = store.get_trajectory()
    assert entry.id == entry_id
    assert entry.cycle == 16
    assert entry.recorded_at == clock.now
    assert entry.evolutions_completed == 3
    assert entry.evolutions_deferred == 1
    assert entry.issue_classes == ["infrastructure_activation", "caf\u00e9"]
    assert entry.cv_avg == 0.62
    assert entry.implementation_loc == 300
    assert entry.test_loc == 150
    assert entry.loc_accuracy == 0.8
    assert entry.research_candidates_resolved == 2
    assert entry.research_candidates_created == 5
    assert entry.notes == "n"


def test_issue_classes_are_stored_as_json_dumps_text(store: GlobalLearningStore) -> None:
    _entry(store, 1, ["a", "\u00e9"])
    with store._connection() as conn:
        raw = conn.exec_driver_sql("SELECT issue_classes FROM evolution_trajectory").scalar_one()
    assert raw == '["a", "\\u00e9"]'
    assert raw == json.dumps(["a", "\u00e9"])


def test_entry_argument_replaces_every_argument(store: GlobalLearningStore) -> None:
    bundled = EvolutionEntryInput(
        cycle=7, evolutions_completed=4, evolutions_deferred=0, issue_classes=["x"],
        cv_avg=0.5, implementation_loc=10, test_loc=5, loc_accuracy=1.0,
        research_candidates_resolved=1, research_candidates_created=2, notes="bundled",
    )

    store.record_evolution_entry(cycle=99, notes="ignored", entry=bundled)

    [entry] = store.get_trajectory()
    assert entry.cycle == 7
    assert entry.evolutions_completed == 4
    assert entry.notes == "bundled"
    assert entry.research_candidates_created == 2


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("cycle", "cycle, evolutions_completed, evolutions_deferred are required"),
        ("evolutions_deferred", "cycle, evolutions_completed, evolutions_deferred are required"),
        ("issue_classes", "issue_classes, cv_avg are required"),
        ("cv_avg", "issue_classes, cv_avg are required"),
        ("implementation_loc", "implementation_loc, test_loc, loc_accuracy are required"),
        ("loc_accuracy", "implementation_loc, test_loc, loc_accuracy are required"),
    ],
)
def test_missing_required_values_raise_type_error(
    store: GlobalLearningStore, missing: str, message: str
) -> None:
    arguments: dict[str, object] = {
        "cycle": 1, "evolutions_completed": 1, "evolutions_deferred": 0,
        "issue_classes": ["x"], "cv_avg": 0.1, "implementation_loc": 1, "test_loc": 1,
        "loc_accuracy": 1.0,
    }
    arguments[missing] = None
    with pytest.raises(TypeError) as raised:
        store.record_evolution_entry(**arguments)  # type: ignore[arg-type]
    assert str(raised.value) == message
    assert store.get_trajectory() == []


def test_duplicate_cycle_raises_the_drivers_integrity_error(store: GlobalLearningStore) -> None:
    _entry(store, 5, ["a"])
    with pytest.raises(_integrity_errors()):
        _entry(store, 5, ["b"])
    assert [e.issue_classes for e in store.get_trajectory()] == [["a"]]


def test_duplicate_cycle_inside_a_batch_can_be_caught(store: GlobalLearningStore) -> None:
    with store.batch_connection():
        _entry(store, 1, ["a"])
        with pytest.raises(Exception):  # noqa: B017 - the batch's own wrapper varies by backend
            _entry(store, 1, ["b"])
        _entry(store, 2, ["c"])
    assert [e.cycle for e in store.get_trajectory()] == [2, 1]


def test_record_evolution_cycle_maps_onto_an_entry(store: GlobalLearningStore) -> None:
    store.record_evolution_cycle(25, 5, 3, "Fixed export", "SUCCESS", {"patterns": 6})

    [entry] = store.get_evolution_history()
    assert entry.cycle == 25
    assert entry.evolutions_completed == 3
    assert entry.evolutions_deferred == 2
    assert entry.issue_classes == ["success"]
    assert entry.cv_avg == 0.0
    assert entry.implementation_loc == 0
    assert entry.test_loc == 0
    assert entry.loc_accuracy == 1.0
    assert entry.research_candidates_resolved == 0
    assert entry.research_candidates_created == 0
    assert entry.notes == 'Fixed export\n\nOutcome: SUCCESS\nLearning snapshot: {"patterns": 6}'


def test_trajectory_bounds_order_and_limit(store: GlobalLearningStore) -> None:
    for cycle in (3, 1, 4, 2, 5):
        _entry(store, cycle, ["x"])

    assert [e.cycle for e in store.get_trajectory()] == [5, 4, 3, 2, 1]
    assert [e.cycle for e in store.get_trajectory(start_cycle=2, end_cycle=4)] == [4, 3, 2]
    assert [e.cycle for e in store.get_trajectory(start_cycle=4)] == [5, 4]
    assert [e.cycle for e in store.get_trajectory(end_cycle=1)] == [1]
    assert [e.cycle for e in store.get_trajectory(limit=2)] == [5, 4]
    assert [e.cycle for e in store.get_evolution_history(last_n=3)] == [5, 4, 3]


def test_null_research_counts_and_notes_read_as_defaults(store: GlobalLearningStore) -> None:
    _entry(store, 1, ["x"])
    with store._connection() as conn:
        conn.exec_driver_sql(
            "UPDATE evolution_trajectory SET research_candidates_resolved = NULL, "
            "research_candidates_created = NULL, notes = NULL"
        )
    [entry] = store.get_trajectory()
    assert entry.research_candidates_resolved == 0
    assert entry.research_candidates_created == 0
    assert entry.notes == ""


def test_recurring_issues(store: GlobalLearningStore) -> None:
    _entry(store, 1, ["alpha", "beta"])
    _entry(store, 2, ["beta"])
    _entry(store, 3, ["gamma", "alpha"])
    _entry(store, 4, ["gamma", "beta"])

    recurring = store.get_recurring_issues()
    # Keys in first-seen order walking down from the latest cycle; cycles descending.
    assert list(recurring) == ["gamma", "beta", "alpha"]
    assert recurring == {"gamma": [4, 3], "beta": [4, 2, 1], "alpha": [3, 1]}
    assert store.get_recurring_issues(min_occurrences=3) == {"beta": [4, 2, 1]}
    assert store.get_recurring_issues(window_cycles=2) == {"gamma": [4, 3]}
    assert store.get_recurring_issues(window_cycles=0) == {}
    assert store.get_recurring_issues(min_occurrences=1, limit=1) == {"gamma": [4], "beta": [4]}
