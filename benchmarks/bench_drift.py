"""Time the drift scans: one windowed query against Marianne's per-pattern loop.

    python benchmarks/bench_drift.py                          # cache under ./.bench-cache
    python benchmarks/bench_drift.py --cache /tmp/bench --repeat 5
    python benchmarks/bench_drift.py --patterns 2000 --applications 50000   # a quick run

The store (20,000 patterns and 500,000 applications by default) is generated once with bulk
``executemany`` inserts into a schema made by ``GlobalLearningStore``, and kept in the cache
folder for the next run. Patterns get a realistic spread: a long-tailed number of
applications each, about a fifth declining and a tenth improving, grounding missing on
about 30% of the applications and drifting on some patterns, and a few applications whose
pattern no longer exists.

Each set-based read is timed ``--repeat`` times (median and fastest, in milliseconds), then
the same numbers are computed by the per-pattern loop (one ``calculate_*`` call per pattern
with 10 or more applications, as Marianne does) and checked against the set-based result.
Everything is measured twice: without and with the opt-in index of
``add_drift_index()``; the index is dropped again afterwards unless ``--keep-index``.
"""

from __future__ import annotations

import argparse
import math
import random
import sqlite3
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from store import GlobalLearningStore
from store.models import DriftMetrics, EpistemicDriftMetrics

_TYPES = ["retry", "timeout", "validation_failure", "rate_limit", "prompt_shape", "tooling"]
_START = datetime(2026, 9, 1)
_SPAN_SECONDS = 80 * 86400


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------


def _application_counts(patterns: int, applications: int, rng: random.Random) -> list[int]:
    """A long tail: most patterns have a handful of uses, a few have hundreds."""
    weights = [rng.lognormvariate(0.0, 1.2) for _ in range(patterns)]
    scale = applications / sum(weights)
    counts = [int(w * scale) for w in weights]
    for index in rng.sample(range(patterns), applications - sum(counts)):
        counts[index] += 1
    return counts


def _generate(path: Path, patterns: int, applications: int, seed: int) -> None:
    rng = random.Random(seed)
    GlobalLearningStore(path).close()  # the v15 schema, exactly as the store creates it
    pattern_rows: list[tuple[Any, ...]] = []
    application_rows: list[tuple[Any, ...]] = []
    counts = _application_counts(patterns, applications, rng)
    orphans = max(1, patterns // 500)
    for number, count in enumerate(counts):
        pattern_id = f"{number:016x}"
        seen = (_START + timedelta(seconds=_SPAN_SECONDS)).isoformat()
        if number >= orphans:  # the first few ids lost their pattern row
            pattern_rows.append((
                pattern_id, rng.choice(_TYPES), f"pattern {number}", "generated", count or 1,
                _START.isoformat(), seen, seen, 0, 0, 0.5, 0.0, "[]",
                rng.random(), rng.choice(["pending", "validated", "quarantined"]), 0.5, 1,
            ))
        profile = rng.random()
        before = rng.uniform(0.3, 0.95)
        if profile < 0.2:  # declining
            after = max(0.02, before - rng.uniform(0.2, 0.7))
        elif profile < 0.3:  # improving
            after = min(0.98, before + rng.uniform(0.2, 0.6))
        else:
            after = min(0.98, max(0.02, before + rng.uniform(-0.08, 0.08)))
        grounding_start = rng.uniform(0.4, 0.95)
        grounding_end = min(1.0, max(0.1, grounding_start + rng.uniform(-0.4, 0.2)))
        moments = sorted(rng.randrange(_SPAN_SECONDS * 1000) for _ in range(count))
        for index, moment in enumerate(moments):
            ratio = index / max(1, count - 1)
            grounding = None
            if rng.random() >= 0.3:
                centre = grounding_start + (grounding_end - grounding_start) * ratio
                grounding = round(min(1.0, max(0.0, rng.gauss(centre, 0.05))), 4)
            applied = _START + timedelta(milliseconds=moment)
            application_rows.append((
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                pattern_id,
                f"exec-{rng.randrange(100_000)}",
                applied.isoformat(),
                1 if rng.random() < before + (after - before) * ratio else 0,
                0,
                0,
                grounding,
            ))
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA synchronous=OFF")
        connection.executemany(
            "INSERT INTO patterns (id, pattern_type, pattern_name, description, "
            "occurrence_count, first_seen, last_seen, last_confirmed, led_to_success_count, "
            "led_to_failure_count, effectiveness_score, variance, context_tags, priority_score, "
            "quarantine_status, trust_score, active) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            pattern_rows,
        )
        connection.executemany(
            "INSERT INTO pattern_applications (id, pattern_id, execution_id, applied_at, "
            "pattern_led_to_success, retry_count_before, retry_count_after, "
            "grounding_confidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            application_rows,
        )
        connection.commit()
        connection.execute("ANALYZE")
        connection.commit()
    finally:
        connection.close()


def _store_path(cache: Path, patterns: int, applications: int, seed: int) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"drift-{patterns}p-{applications}a-seed{seed}.db"
    if not path.exists():
        started = time.perf_counter()
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        _generate(partial, patterns, applications, seed)
        partial.rename(path)
        print(f"generated {path} in {time.perf_counter() - started:.1f} s")
    else:
        print(f"reusing {path}")
    return path


# ---------------------------------------------------------------------------------------
# Reference: Marianne's per-pattern loop
# ---------------------------------------------------------------------------------------


def _qualifying_ids(store: GlobalLearningStore, grounded: bool) -> list[str]:
    where = "WHERE grounding_confidence IS NOT NULL " if grounded else ""
    with store._connection() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT pattern_id FROM pattern_applications {where}"
            "GROUP BY pattern_id HAVING COUNT(*) >= 10"
        ).all()
    return [row[0] for row in rows]


def _loop_effectiveness(store: GlobalLearningStore) -> list[DriftMetrics]:
    metrics = (store.calculate_effectiveness_drift(i) for i in _qualifying_ids(store, False))
    return [m for m in metrics if m is not None]


def _loop_epistemic(store: GlobalLearningStore) -> list[EpistemicDriftMetrics]:
    metrics = (store.calculate_epistemic_drift(i) for i in _qualifying_ids(store, True))
    return [m for m in metrics if m is not None]


def _loop_drifting(store: GlobalLearningStore) -> list[DriftMetrics]:
    found = [m for m in _loop_effectiveness(store) if m.threshold_exceeded]
    found.sort(key=lambda m: m.drift_magnitude, reverse=True)
    return found[:20]


def _loop_epistemic_drifting(store: GlobalLearningStore) -> list[EpistemicDriftMetrics]:
    found = [m for m in _loop_epistemic(store) if m.threshold_exceeded]
    found.sort(key=lambda m: abs(m.belief_change), reverse=True)
    return found[:20]


def _loop_summary(store: GlobalLearningStore) -> dict[str, Any]:
    metrics = _loop_effectiveness(store)
    return {
        "patterns_analyzed": len(metrics),
        "patterns_drifting": sum(1 for m in metrics if m.threshold_exceeded),
        "avg_drift_magnitude": sum(m.drift_magnitude for m in metrics) / len(metrics),
    }


def _loop_epistemic_summary(store: GlobalLearningStore) -> dict[str, Any]:
    metrics = _loop_epistemic(store)
    return {
        "patterns_analyzed": len(metrics),
        "patterns_with_epistemic_drift": sum(1 for m in metrics if m.threshold_exceeded),
        "avg_belief_change": sum(m.belief_change for m in metrics) / len(metrics),
    }


# ---------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------


def _time(read: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    runs = []
    result: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = read()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs), min(runs), result


def _same(set_based: Any, reference: Any) -> bool:
    if isinstance(set_based, dict):
        return all(
            math.isclose(set_based[key], value, rel_tol=1e-9, abs_tol=1e-12)
            for key, value in reference.items()
        )
    if len(set_based) != len(reference):
        return False
    return all(
        a.pattern_id == b.pattern_id
        and all(
            math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
            if isinstance(x, float) else x == y
            for x, y in zip(vars(a).values(), vars(b).values(), strict=True)
        )
        for a, b in zip(set_based, reference, strict=True)
    )


def _measure(
    store: GlobalLearningStore, repeat: int, loop_repeat: int, with_loops: bool
) -> list[tuple[str, float, float, str]]:
    reads: list[tuple[str, Callable[[], Any], Callable[[GlobalLearningStore], Any] | None]] = [
        ("get_pattern_drift_summary", store.get_pattern_drift_summary, _loop_summary),
        ("get_drifting_patterns", store.get_drifting_patterns, _loop_drifting),
        ("get_epistemic_drift_summary", store.get_epistemic_drift_summary,
         _loop_epistemic_summary),
        ("get_epistemic_drifting_patterns", store.get_epistemic_drifting_patterns,
         _loop_epistemic_drifting),
        ("drift_report (both drifts + summaries)", store.drift_report, None),
        ("preview_retire_drifting_patterns", store.preview_retire_drifting_patterns, None),
    ]
    entropy = getattr(store, "calculate_pattern_entropy", None)
    if entropy is not None:
        reads.append(("calculate_pattern_entropy", entropy, None))
    rows = []
    for name, read, loop in reads:
        median, fastest, result = _time(read, repeat)
        rows.append((name, median, fastest, ""))
        if loop is not None and with_loops:
            loop_median, loop_fastest, expected = _time(partial(loop, store), loop_repeat)
            verdict = "same result" if _same(result, expected) else "DIFFERENT RESULT"
            rows.append((f"  per-pattern loop ({name})", loop_median, loop_fastest, verdict))
    return rows


def _print_table(title: str, rows: list[tuple[str, float, float, str]]) -> None:
    print(f"\n{title}")
    print(f"{'read':<56} {'median ms':>10} {'fastest ms':>11}  check")
    print("-" * 92)
    for name, median, fastest, note in rows:
        print(f"{name:<56} {median:>10.1f} {fastest:>11.1f}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(".bench-cache"))
    parser.add_argument("--patterns", type=int, default=20_000)
    parser.add_argument("--applications", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--loop-repeat", type=int, default=1)
    parser.add_argument("--no-loops", action="store_true", help="skip the per-pattern loops")
    parser.add_argument("--keep-index", action="store_true")
    options = parser.parse_args()

    path = _store_path(options.cache, options.patterns, options.applications, options.seed)
    store = GlobalLearningStore(path)
    try:
        store.drop_drift_index()
        with store._connection() as conn:
            qualifying = conn.exec_driver_sql(
                "SELECT COUNT(*) FROM (SELECT pattern_id FROM pattern_applications "
                "GROUP BY pattern_id HAVING COUNT(*) >= 10)"
            ).scalar_one()
        print(f"sqlite {sqlite3.sqlite_version}; {qualifying} pattern ids have 10+ applications")
        _print_table(
            "without the optional index",
            _measure(store, options.repeat, options.loop_repeat, not options.no_loops),
        )
        started = time.perf_counter()
        store.add_drift_index()
        built = time.perf_counter() - started
        _print_table(
            f"with add_drift_index() (built in {built:.1f} s)",
            _measure(store, options.repeat, options.loop_repeat, not options.no_loops),
        )
        if not options.keep_index:
            store.drop_drift_index()
    finally:
        store.close()


if __name__ == "__main__":
    main()
