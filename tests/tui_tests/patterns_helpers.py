"""A small deterministic store for the Patterns tests, built only through the store API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from store import Clock, GlobalLearningStore, PatternQuery, PatternSort

#: (type, name, successes, failures, instrument) of the pending patterns.
PENDING = [
    ("retry_pattern", "retry after transient 502", 9, 1, "claude-code"),
    ("validation_failure", "missing output file", 2, 6, "claude-code"),
    ("error_code_pattern", "E101 rate limit backoff", 4, 4, "gemini-cli"),
    ("completion_pattern", "long sheet completes in two passes", 1, 0, None),
    ("semantic_failure", "hallucinated import path", 0, 3, "claude-code"),
    ("output_pattern", "漢字テスト wide name 👨‍👩‍👧‍👦", 3, 1, None),
    ("output_pattern", "[@click=app.quit]click me[/] \x1b]2;PWNED\x1b\\ [/bold]", 1, 1, None),
]


def _apply(store: GlobalLearningStore, clock: Any, pattern_id: str, outcomes: list[bool],
           tag: str) -> None:
    for index, ok in enumerate(outcomes):
        clock.advance(minutes=1)
        store.record_pattern_application(
            pattern_id, f"exec-{tag}-{index}", ok, grounding_confidence=0.8 if ok else 0.4
        )


def build_patterns_store(path: Path, clock: Clock) -> GlobalLearningStore:
    """Ten patterns in every state: validated, quarantined (with a reason), retired,
    drift-retired (priority 0 through retire_drifting_patterns), pending, inactive, and
    two with hostile or wide names. Every timestamp comes from ``clock``."""
    store = GlobalLearningStore(path, clock=clock)
    ids: dict[str, str] = {}
    for index, (ptype, name, ok, bad, instrument) in enumerate(PENDING):
        clock.advance(minutes=7)  # type: ignore[attr-defined]
        pattern_id = store.record_pattern(
            ptype, name, description=f"description of {name}", instrument_name=instrument,
            context_tags=["demo", ptype],
        )
        ids[name] = pattern_id
        # failures first: a late failure would make it drift and get drift-retired
        _apply(store, clock, pattern_id, [False] * bad + [True] * ok, f"p{index}")

    clock.advance(hours=1)  # type: ignore[attr-defined]
    validated = store.record_pattern("retry_pattern", "validated: wait for quota reset",
                                     description="wait until the quota window resets")
    _apply(store, clock, validated, [True] * 8, "v")
    store.validate_pattern(validated)
    store.update_success_factors(validated, validation_types=["file_exists"],
                                 error_categories=["rate_limit"], grounding_confidence=0.9)

    quarantined = store.record_pattern("validation_failure", "quarantined: skip tests",
                                       description="skipping tests hides failures")
    _apply(store, clock, quarantined, [False] * 4, "q")
    store.quarantine_pattern(quarantined, "misleads agents into skipping tests")

    retired = store.record_pattern("completion_pattern", "retired: old workspace layout")
    store.retire_pattern(retired)

    drifting = store.record_pattern("retry_pattern", "drifting: resume from checkpoint")
    _apply(store, clock, drifting, [True] * 5 + [False] * 5, "d")
    store.retire_drifting_patterns(drift_threshold=0.2, window_size=5)

    inactive = store.record_pattern("output_pattern", "inactive: deleted pattern")
    store.soft_delete_pattern(inactive)
    clock.advance(minutes=5)  # type: ignore[attr-defined]
    return store


def all_rows(store: GlobalLearningStore) -> dict[str, Any]:
    """Every pattern row by id (for "only this pattern changed" assertions)."""
    page = store.query_patterns(PatternQuery(limit=1000, sort=PatternSort.NAME))
    return {row.id: row for row in page.rows}


def pattern_state(store: GlobalLearningStore) -> dict[str, tuple[Any, ...]]:
    """Every pattern's full record as a tuple, by id."""
    state = {}
    for pattern_id in all_rows(store):
        record = store.get_pattern_by_id(pattern_id)
        assert record is not None
        state[pattern_id] = tuple(sorted(vars(record).items(), key=lambda item: item[0]))
    return state


def id_by_name(store: GlobalLearningStore, prefix: str) -> str:
    matches = [row.id for row in all_rows(store).values() if row.name.startswith(prefix)]
    assert len(matches) == 1, (prefix, matches)
    return matches[0]
