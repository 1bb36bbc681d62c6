"""Time the console's reads on a store of 20,000 patterns.

    python benchmarks/bench_console.py                       # a temporary SQLite file
    python benchmarks/bench_console.py --url postgresql+psycopg://...   # a scratch schema

On PostgreSQL the store lives in a schema created for the run and dropped after it.
The store is filled with bulk inserts (a second or two), not through ``record_pattern``,
because only the shape of the rows matters to these reads. Each read is run ``--repeat``
times; the median and the fastest run are printed in milliseconds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, insert

from store import GlobalLearningStore, PatternQuery, PatternSort, TrustBand, tables

_TYPES = ["retry", "timeout", "validation_failure", "rate_limit", "prompt_shape", "tooling"]
_STATUSES = ["pending"] * 4 + ["validated"] * 3 + ["quarantined"] * 2 + ["retired"]
_INSTRUMENTS = ["claude-code", "gemini-cli", "codex", None]
_WORDS = ["file", "not", "created", "timeout", "retry", "schema", "drift", "test", "lint",
          "import", "missing", "network", "flaky", "budget", "sheet", "prompt"]


def _patterns(count: int, rng: random.Random) -> list[dict[str, Any]]:
    start = datetime(2026, 1, 1)
    rows = []
    for number in range(count):
        successes = rng.randint(0, 40)
        failures = rng.randint(0, 20)
        seen = start + timedelta(minutes=rng.randint(0, 400_000))
        status = rng.choice(_STATUSES)
        name = " ".join(rng.choices(_WORDS, k=4)) + f" #{number}"
        rows.append({
            "id": f"{number:016x}",
            "pattern_type": rng.choice(_TYPES),
            "pattern_name": name,
            "description": f"When {name} happens, {' '.join(rng.choices(_WORDS, k=12))}.",
            "occurrence_count": rng.randint(1, 60),
            "first_seen": start.isoformat(),
            "last_seen": seen.isoformat(),
            "last_confirmed": seen.isoformat(),
            "led_to_success_count": successes,
            "led_to_failure_count": failures,
            "effectiveness_score": rng.random(),
            "variance": rng.random() / 10,
            "priority_score": 0.0 if rng.random() < 0.03 else rng.random(),
            "quarantine_status": status,
            "quarantined_at": seen.isoformat() if status == "quarantined" else None,
            "trust_score": rng.random(),
            "active": 0 if rng.random() < 0.05 else 1,
            "instrument_name": rng.choice(_INSTRUMENTS),
        })
    return rows


def _side_rows(rng: random.Random) -> dict[Any, list[dict[str, Any]]]:
    now = datetime.now()
    return {
        tables.escalation_decisions: [
            {"id": f"e{n}", "job_hash": "job", "sheet_num": n, "confidence": rng.random(),
             "action": "retry", "validation_pass_rate": 50.0, "retry_count": 1,
             "outcome_after_action": None if n % 3 else "success",
             "recorded_at": (now - timedelta(minutes=n)).isoformat()}
            for n in range(500)
        ],
        tables.exploration_budget: [
            {"id": f"b{n}", "job_hash": f"job{n % 5}", "budget_value": 0.05 + rng.random() / 3,
             "adjustment_type": "decay", "recorded_at": (now - timedelta(hours=n)).isoformat()}
            for n in range(2000)
        ],
        tables.pattern_entropy_history: [
            {"id": f"h{n}", "calculated_at": (now - timedelta(hours=n)).isoformat(),
             "shannon_entropy": 3.0, "max_possible_entropy": 4.0, "diversity_index": 0.75,
             "unique_pattern_count": 20000, "effective_pattern_count": 15000,
             "total_applications": 200000, "dominant_pattern_share": 0.01}
            for n in range(1000)
        ],
        tables.rate_limit_events: [
            {"id": f"r{n}", "error_code": "E101", "recorded_at": now.isoformat() + "+00:00",
             "expires_at": (now + timedelta(minutes=n - 100)).isoformat() + "+00:00",
             "source_job_hash": "job", "duration_seconds": 60.0}
            for n in range(200)
        ],
    }


def build(store: GlobalLearningStore, count: int) -> float:
    rng = random.Random(15)
    started = time.perf_counter()
    with store._engine.begin() as conn:
        conn.execute(insert(tables.patterns), _patterns(count, rng))
        for table, rows in _side_rows(rng).items():
            conn.execute(insert(table), rows)
    return time.perf_counter() - started


def measure(label: str, read: Callable[[], object], repeat: int) -> None:
    read()  # warm the statement cache and the page cache
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        read()
        timings.append((time.perf_counter() - started) * 1000)
    print(f"{label:<46} median {statistics.median(timings):9.3f} ms   "
          f"min {min(timings):9.3f} ms")


@contextmanager
def scratch_schema(url: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped on the way out."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a PostgreSQL server URL (default: temp SQLite)")
    parser.add_argument("--patterns", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    if args.url:
        with scratch_schema(args.url) as url:
            run(url, args.patterns, args.repeat)
    else:
        with tempfile.TemporaryDirectory() as folder:
            run(str(Path(folder) / "bench.db"), args.patterns, args.repeat)


def run(target: str, patterns: int, repeat: int) -> None:
    store = GlobalLearningStore(target)
    try:
        seconds = build(store, patterns)
        print(f"{store.dialect}: {patterns} patterns built in {seconds:.2f} s")
        reads: list[tuple[str, Callable[[], object]]] = [
            ("query_patterns default (priority desc, 200)",
             lambda: store.query_patterns(PatternQuery())),
            ("query_patterns sort name asc",
             lambda: store.query_patterns(
                 PatternQuery(sort=PatternSort.NAME, descending=False))),
            ("query_patterns sort last_seen desc",
             lambda: store.query_patterns(PatternQuery(sort=PatternSort.LAST_SEEN))),
            ("query_patterns sort applications desc",
             lambda: store.query_patterns(PatternQuery(sort=PatternSort.APPLICATIONS))),
            ("query_patterns sort instrument asc",
             lambda: store.query_patterns(
                 PatternQuery(sort=PatternSort.INSTRUMENT, descending=False))),
            ("query_patterns text 'flaky network'",
             lambda: store.query_patterns(PatternQuery(text="flaky network"))),
            ("query_patterns needs_attention",
             lambda: store.query_patterns(PatternQuery(needs_attention=True))),
            ("query_patterns quarantined + low trust + type",
             lambda: store.query_patterns(PatternQuery(
                 statuses=("quarantined",), trust_band=TrustBand.LOW,
                 pattern_type="retry"))),
            (f"query_patterns last page (offset {patterns - 200:,})",
             lambda: store.query_patterns(PatternQuery(offset=patterns - 200))),
            ("pattern_types + pattern_instruments",
             lambda: (store.pattern_types(), store.pattern_instruments())),
            ("store_overview", store.store_overview),
            ("escalations_for_review", store.escalations_for_review),
            ("change_token (idle poll)", store.change_token),
        ]
        for label, read in reads:
            measure(label, read, repeat)
    finally:
        store.close()

if __name__ == "__main__":
    main()
