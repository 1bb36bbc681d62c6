"""Small deterministic stores for the Drift, Budget, Escalations and Rate limits tests, and
the helpers those tests share (open a screen, read back what the store holds).

Built only through the store's public API, with a frozen clock that the builder moves
forward between writes, so every timestamp (and so every ordering) is fixed. Row ids are
random UUIDs, which no snapshot shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from conftest import TEST_NOW

from marianne_tui.screens.drift import DriftScreen
from marianne_tui.screens.escalations import EscalationsScreen
from marianne_tui.widgets.live_table import LiveTable
from store import GlobalLearningStore, PatternEntropyMetrics, PatternQuery

T = TypeVar("T")

#: The instant the builders start from (the tests' FrozenClock default).
START = TEST_NOW


def _clock_of(store: GlobalLearningStore):  # -> the tests' FrozenClock
    return store.clock


def add_drift_patterns(store: GlobalLearningStore) -> dict[str, str]:
    """Four patterns with 10 applications each: declining, improving, stable, weakening.

    Returns name -> id. Applications are one minute apart, older first.
    """
    clock = _clock_of(store)
    plans = {
        # (older 5 outcomes, newer 5 outcomes, older grounding, newer grounding)
        "declining-retry-pattern": ([True] * 5, [False] * 5, 0.9, 0.5),
        "improving-prompt-fix": ([False] * 5, [True] * 5, 0.6, 0.9),
        "steady-validation": ([True, False] * 2 + [True], [True, False] * 2 + [True], 0.8, 0.8),
        "belief-wobbler": ([True] * 5, [True] * 4 + [False], 0.95, 0.55),
    }
    ids: dict[str, str] = {}
    for name, (older, newer, g_old, g_new) in plans.items():
        pattern_id = store.record_pattern("retry_strategy", name, description=f"{name} desc")
        ids[name] = pattern_id
        for index, outcome in enumerate([*older, *newer]):
            clock.advance(minutes=1)
            grounding = g_old if index < len(older) else g_new
            store.record_pattern_application(
                pattern_id, f"exec-{name}-{index}", outcome, grounding_confidence=grounding
            )
    return ids


def add_escalations(store: GlobalLearningStore) -> list[str]:
    """Six decisions, two still awaiting an outcome; returns ids in insertion order."""
    clock = _clock_of(store)
    rows = [
        ("job-alpha", 1, 0.42, "retry", 50.0, 1, "Retry with a smaller batch", "success",
         "claude-sonnet"),
        ("job-alpha", 2, 0.45, "retry", 55.0, 2, "Retry again", "failed", "claude-sonnet"),
        ("job-beta", 3, 0.40, "skip", 48.0, 0, None, "skipped", "claude-haiku"),
        ("job-gamma", 7, 0.90, "abort", 95.0, 3, "Abort: unrecoverable", "aborted", None),
        ("job-beta", 4, 0.44, "modify_prompt", 52.0, 1, "Add the schema to the prompt", None,
         "claude-sonnet"),
        ("job-delta", 9, 0.75, "retry", 80.0, 0, "Retry once", None, "claude-opus"),
    ]
    ids = []
    for job, sheet, conf, action, rate, retries, guidance, outcome, model in rows:
        clock.advance(minutes=7)
        ids.append(
            store.record_escalation_decision(
                job, sheet, conf, action, rate, retries,
                guidance=guidance, outcome_after_action=outcome, model=model,
            )
        )
    return ids


def add_rate_limits(store: GlobalLearningStore) -> list[str]:
    """Three limits expiring 48 s, 4 min and 1 h after the current clock (0.8 x duration)."""
    return [
        store.record_rate_limit_event("E101", 60, "job-alpha", model="claude-sonnet"),
        store.record_rate_limit_event("RATE_LIMIT", 300, "job-beta", model=None),
        store.record_rate_limit_event("E429", 4500, "job-gamma", model="claude-opus"),
    ]


def add_budget_history(store: GlobalLearningStore) -> None:
    """Budget adjustments, entropy snapshots and two entropy responses."""
    clock = _clock_of(store)
    job = store.hash_job("job-alpha")
    values = [
        (0.15, 0.6, "initial"), (0.14, 0.55, "decay"), (0.13, 0.5, "decay"),
        (0.03, 0.25, "decay"), (0.15, 0.22, "boost"), (0.14, 0.35, "decay"),
        (0.25, 0.2, "boost"), (0.24, 0.4, "decay"), (0.22, 0.45, "decay"),
    ]
    for value, entropy, kind in values:
        clock.advance(minutes=10)
        store.update_exploration_budget(
            job, value, kind, entropy_at_time=entropy, adjustment_reason=f"{kind} step"
        )
    for index, (diversity, bits, dominant) in enumerate(
        [(0.62, 2.4, 0.18), (0.51, 2.0, 0.25), (0.33, 1.3, 0.41), (0.28, 1.1, 0.47),
         (0.45, 1.8, 0.30), (0.58, 2.2, 0.21)]
    ):
        clock.advance(minutes=10)
        store.record_pattern_entropy(
            PatternEntropyMetrics(
                calculated_at=clock.local(),
                shannon_entropy=bits,
                max_possible_entropy=4.0,
                diversity_index=diversity,
                unique_pattern_count=16 + index,
                effective_pattern_count=6 + index,
                total_applications=40 + 10 * index,
                dominant_pattern_share=dominant,
            )
        )
    for entropy in (0.28, 0.22):
        clock.advance(minutes=15)
        store.trigger_entropy_response(job, entropy, 0.3, revisit_quarantine=False)


def add_hostile_rows(store: GlobalLearningStore) -> None:
    """Agent-written text where every screen shows strings."""
    hostile = "[@click=app.quit]boom[/] \x1b]2;PWNED\x07 \x1b[31mred \u202eevil"
    store.record_escalation_decision("job-\x1b[2J", 1, 0.5, "retry", 50.0, 0,
                                     guidance=hostile, model=hostile)
    store.record_rate_limit_event(hostile, 600, "job-x", model="[/]oops")


def build_screens_store(path: Path, clock: object) -> GlobalLearningStore:
    """Everything above in one store (the snapshot tests' data)."""
    store = GlobalLearningStore(path, clock=clock)  # type: ignore[arg-type]
    add_drift_patterns(store)
    add_escalations(store)
    add_budget_history(store)
    add_rate_limits(store)
    return store


async def switch_to(app: Any, pilot: Any, key: str, screen_type: type[T]) -> T:
    """Press a mode key, wait until that screen is current, then refresh it by hand.

    Under load the mode switch can finish after one ``pilot.pause()``, and a refresh run
    before it lands on the previous screen; so wait for the screen itself (no sleeping).
    """
    await pilot.press(key)
    for _ in range(100):
        if isinstance(app.screen, screen_type) and app.screen.is_current:
            break
        await pilot.pause()
    screen = app.screen
    assert isinstance(screen, screen_type)
    app.refresh_now_sync(force=True)
    await pilot.pause()
    return screen


async def open_drift(app: Any, pilot: Any) -> tuple[DriftScreen, LiveTable]:
    screen = await switch_to(app, pilot, "2", DriftScreen)
    return screen, screen.query_one("#drift-table", LiveTable)


async def open_escalations(app: Any, pilot: Any) -> tuple[EscalationsScreen, LiveTable]:
    screen = await switch_to(app, pilot, "4", EscalationsScreen)
    return screen, screen.query_one("#esc-table", LiveTable)


def status_and_priority(store: GlobalLearningStore) -> dict[str, tuple[str, float]]:
    """Every pattern's status and priority, by name."""
    return {r.name: (r.status, r.priority) for r in store.query_patterns(
        PatternQuery(limit=100)).rows}


def outcomes(store: GlobalLearningStore) -> dict[str, str | None]:
    """Every escalation's outcome, by id."""
    return {r.id: r.outcome_after_action for r in store.escalations_for_review()}
