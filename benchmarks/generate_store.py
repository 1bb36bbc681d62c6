"""Generate a large learning store for benchmarks: realistic rows, written in bulk.

    python benchmarks/generate_store.py /tmp/big.db                       # 20k / 500k / 200k
    python benchmarks/generate_store.py /tmp/huge.db --patterns 100000 \\
        --applications 2500000 --executions 1000000
    python benchmarks/generate_store.py postgresql+psycopg://... --seed 3

The schema is made by ``GlobalLearningStore`` itself, and every row goes through the store's
own table definitions (``store.tables``), so each value is encoded by the same column types
the store writes with: ISO timestamps with a ``T``, ``json.dumps`` text, 0/1 flags, ids and
hashes from the store's hash functions. Rows are inserted with multi-row ``executemany``
instead of one API call each, which is what makes a 500,000-application store take seconds
rather than hours. Effectiveness and priority are then computed by the store's own
``recalculate_all_pattern_priorities``.

The shape follows the demo store (``marianne_tui/demo.py``): pattern profiles with the
demo's weights (never applied, good, bad, marginal, hot, declining, improving, weakening),
a long tail of applications per pattern, a few hot patterns crowding the last week,
applications linked to executions that ran at the same moment and inserted in time order
(as Marianne appends them), grounding missing on a fifth of ordinary applications,
quarantine states that follow the profile, a few soft-deleted patterns, escalations,
budget rows, entropy snapshots and rate limits.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import math
import random
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, insert

from store import GlobalLearningStore, tables
from store.base import content_hash_for, hash_job, hash_workspace, pattern_id_for
from store.metrics import execution_confidence

HISTORY_DAYS = 90
CHUNK = 20_000

PROFILE_WEIGHTS = {
    "cold": 30, "good": 22, "bad": 10, "marginal": 14,
    "hot": 2, "declining": 8, "improving": 6, "weakening": 5,
}
#: Success probability (older, recent) and grounding range (older, recent) by profile.
_Range = tuple[float, float]
_BEHAVIOUR: dict[str, tuple[_Range, tuple[_Range, _Range]]] = {
    "good": ((0.85, 0.85), ((0.5, 0.95), (0.5, 0.95))),
    "bad": ((0.15, 0.15), ((0.5, 0.95), (0.5, 0.95))),
    "marginal": ((0.5, 0.5), ((0.5, 0.95), (0.5, 0.95))),
    "hot": ((0.75, 0.75), ((0.5, 0.95), (0.5, 0.95))),
    "declining": ((0.9, 0.1), ((0.8, 1.0), (0.25, 0.45))),
    "improving": ((0.3, 0.95), ((0.5, 0.7), (0.8, 1.0))),
    "weakening": ((0.7, 0.7), ((0.85, 0.98), (0.2, 0.4))),
}
_STATUS_BY_PROFILE = {
    "cold": (("pending", 90), ("quarantined", 5), ("validated", 5)),
    "good": (("validated", 60), ("pending", 35), ("quarantined", 5)),
    "bad": (("quarantined", 55), ("pending", 35), ("retired", 10)),
    "marginal": (("pending", 70), ("validated", 15), ("quarantined", 15)),
    "hot": (("validated", 80), ("pending", 20)),
    "declining": (("validated", 50), ("pending", 35), ("quarantined", 15)),
    "improving": (("pending", 60), ("validated", 30), ("quarantined", 10)),
    "weakening": (("validated", 50), ("pending", 50)),
}
TYPES = (
    "validation_failure", "validation_failure", "semantic_failure", "semantic_insight",
    "retry_success", "first_attempt_success", "output_pattern", "error", "completion_mode",
    "resource_anomaly", "high_confidence", "low_confidence",
)
INSTRUMENTS = ("claude-code", "claude-code", "codex-cli", "gemini-cli", None)
MODELS = ("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5", "gpt-5", "gpt-5-codex",
          "gemini-2.5-pro")
MODULES = ("api", "ui", "billing", "auth", "infra", "docs", "cli", "scheduler")
FILES = ("src/api/routes.py", "web/src/summary.yaml", "tests/test_main.py", "infra/deploy.tf",
         "docs/index.md", "k8s/analysis.yaml", "scripts/release.sh", "src/auth/tokens.rs")
ERROR_CODES = ("E101", "E102", "E103", "E104", "E203", "E009", "E301")
ACTIONS = ("retry", "skip", "abort", "modify_prompt", "escalate")


@dataclass
class _Pattern:
    id: str
    pattern_type: str
    name: str
    profile: str
    first_seen: datetime
    applications: int
    job: str
    successes: int = 0
    failures: int = 0
    last_success: datetime | None = None
    last_applied: datetime | None = None


def _jobs(count: int) -> list[str]:
    return [f"{verb}-{module}-{n}" for n, (verb, module) in enumerate(
        (random.Random(n).choice(("nightly", "port", "upgrade", "refactor", "migrate", "evolve")),
         MODULES[n % len(MODULES)])
        for n in range(count)
    )]


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c for c, _ in choices], [w for _, w in choices])[0]


def _application_counts(profiles: list[str], total: int, rng: random.Random) -> list[int]:
    """A long tail over applied patterns: most have a handful of uses, a few thousands.

    Hot patterns weigh ten times more; drifting profiles get at least the 10 applications
    a drift window of 5 needs (as in the demo), ordinary ones at least 3.
    """
    floors = [0 if p == "cold" else 10 if p in ("declining", "improving", "weakening") else 3
              for p in profiles]
    remaining = total - sum(floors)
    if remaining < 0:
        raise SystemExit(f"{total} applications are too few for {len(profiles)} patterns")
    weights = [0.0 if p == "cold" else rng.lognormvariate(0.0, 1.1) * (10 if p == "hot" else 1)
               for p in profiles]
    scale = remaining / sum(weights)
    counts = [f + int(w * scale) for f, w in zip(floors, weights, strict=True)]
    applied = [i for i, p in enumerate(profiles) if p != "cold"]
    for index in rng.choices(applied, k=total - sum(counts)):
        counts[index] += 1
    return counts


def _chunks(rows: Iterable[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _insert(conn: Connection, table: Table, rows: Iterable[dict[str, Any]]) -> int:
    if conn.dialect.name == "postgresql":
        return _copy(conn, table, rows)
    written = 0
    for chunk in _chunks(rows):
        conn.execute(insert(table), chunk)
        written += len(chunk)
    return written


def _copy(conn: Connection, table: Table, rows: Iterable[dict[str, Any]]) -> int:
    """PostgreSQL: COPY, each value encoded by its column's own type (as an INSERT would)."""
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return 0
    columns = [column for column in table.c if column.name in first]
    processors = [column.type._cached_bind_processor(conn.dialect) for column in columns]
    names = ", ".join(column.name for column in columns)
    statement = f"COPY {table.name} ({names}) FROM STDIN"
    written = 0
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for row in itertools.chain([first], iterator):
            copy.write_row([
                process(row[column.name]) if process is not None else row[column.name]
                for column, process in zip(columns, processors, strict=True)
            ])
            written += 1
    return written


class _Generator:
    def __init__(self, patterns: int, applications: int, executions: int, seed: int,
                 now: datetime) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.start = now - timedelta(days=HISTORY_DAYS)
        self.pattern_count = patterns
        self.application_count = applications
        self.execution_count = executions
        self.jobs = _jobs(max(8, patterns // 400))
        self.job_hashes = {job: hash_job(job) for job in self.jobs}

    def _moment(self, earliest: datetime, latest: datetime | None = None) -> datetime:
        latest = latest or self.now
        span = (latest - earliest).total_seconds()
        return earliest + timedelta(seconds=self.rng.random() * span)

    # -- executions ---------------------------------------------------------------------

    def executions(self) -> tuple[list[datetime], list[str], Iterator[dict[str, Any]]]:
        """Execution completion times (sorted), their ids, and their rows."""
        rng = self.rng
        times = sorted(self._moment(self.start) for _ in range(self.execution_count))
        ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in times]
        # The store's own hashes, once per job (there are far fewer jobs than executions).
        hashes = {job: (hash_workspace(Path("/srv/workspaces") / job), hash_job(job))
                  for job in self.jobs}

        def rows() -> Iterator[dict[str, Any]]:
            for completed, execution_id in zip(times, ids, strict=True):
                job = rng.choice(self.jobs)
                success = rng.random() < 0.75
                retries = 0 if success and rng.random() < 0.8 else rng.randint(1, 3)
                duration = round(rng.uniform(20, 900), 1)
                pass_rate = round(rng.uniform(0.8, 1.0) if success else rng.uniform(0, 0.6), 2)
                first_try = success and retries == 0
                workspace_hash, job_hash = hashes[job]
                yield {
                    "id": execution_id,
                    "workspace_hash": workspace_hash,
                    "job_hash": job_hash,
                    "sheet_num": rng.randint(1, 30),
                    # Marianne stores the outcome's own (aware UTC) time as started_at and
                    # local time as completed_at.
                    "started_at": (completed - timedelta(seconds=duration)).replace(tzinfo=UTC),
                    "completed_at": completed,
                    "duration_seconds": duration,
                    "status": "completed" if success else "failed",
                    "retry_count": retries,
                    "success_without_retry": first_try,
                    "validation_pass_rate": pass_rate,
                    "confidence_score": execution_confidence(pass_rate, retries, first_try),
                    "model": rng.choice(MODELS),
                    "error_codes": [] if success else [rng.choice(ERROR_CODES)],
                }

        return times, ids, rows()

    # -- patterns and applications ------------------------------------------------------

    def patterns(self) -> list[_Pattern]:
        rng = self.rng
        profiles = rng.choices(list(PROFILE_WEIGHTS), list(PROFILE_WEIGHTS.values()),
                               k=self.pattern_count)
        counts = _application_counts(profiles, self.application_count, rng)
        result = []
        for number, (profile, count) in enumerate(zip(profiles, counts, strict=True)):
            pattern_type = rng.choice(TYPES)
            name = f"{pattern_type}:{rng.choice(MODULES)}:{rng.choice(FILES)}#{number}"
            first_seen = self._moment(self.start, self.now - timedelta(days=2))
            result.append(_Pattern(
                id=pattern_id_for(pattern_type, name), pattern_type=pattern_type, name=name,
                profile=profile,
                first_seen=first_seen, applications=count, job=rng.choice(self.jobs),
            ))
        return result

    def applications(
        self, patterns: list[_Pattern], execution_times: list[datetime], execution_ids: list[str]
    ) -> list[tuple[datetime, str, str, bool, float | None, int]]:
        """Every application as (applied_at, pattern id, execution id, success, grounding,
        retries), in time order."""
        rng = self.rng
        week_ago = self.now - timedelta(days=7)
        rows: list[tuple[datetime, str, str, bool, float | None, int]] = []
        for pattern in patterns:
            count = pattern.applications
            if not count:
                continue
            earliest = max(pattern.first_seen, week_ago) if pattern.profile == "hot" \
                else pattern.first_seen
            times = sorted(self._moment(earliest) for _ in range(count))
            (p_old, p_new), (g_old, g_new) = _BEHAVIOUR[pattern.profile]
            drifting = pattern.profile in ("declining", "improving", "weakening")
            for index, applied in enumerate(times):
                recent = index >= count - 5 if drifting else False
                success = rng.random() < (p_new if recent else p_old)
                low, high = g_new if recent else g_old
                grounding: float | None = rng.uniform(low, high)
                if not drifting and rng.random() < 0.2:
                    grounding = None
                at = bisect.bisect_right(execution_times, applied) - 1
                execution_id = execution_ids[at] if at >= 0 else execution_ids[0]
                retries = 0 if success else rng.randint(1, 3)
                rows.append((applied, pattern.id, execution_id, success, grounding, retries))
                if success:
                    pattern.successes += 1
                    pattern.last_success = applied
                else:
                    pattern.failures += 1
                pattern.last_applied = applied
        rows.sort(key=lambda row: row[0])
        return rows

    def pattern_rows(self, patterns: list[_Pattern]) -> Iterator[dict[str, Any]]:
        rng = self.rng
        for pattern in patterns:
            name, pattern_type = pattern.name, pattern.pattern_type
            description = f"{name.split('#')[0]} seen in {rng.randint(2, 40)} sheets"
            status = _weighted(rng, _STATUS_BY_PROFILE[pattern.profile])
            last_seen = max(pattern.last_applied or pattern.first_seen, pattern.first_seen)
            quarantined = status == "quarantined"
            trust = {"good": 0.8, "hot": 0.75, "bad": 0.25}.get(pattern.profile, 0.5)
            yield {
                "id": pattern.id,
                "pattern_type": pattern_type,
                "pattern_name": name,
                "description": description,
                "occurrence_count": 1 + rng.randint(0, 3) + pattern.applications // 3,
                "first_seen": pattern.first_seen,
                "last_seen": last_seen,
                "last_confirmed": pattern.last_success or pattern.first_seen,
                "led_to_success_count": pattern.successes,
                "led_to_failure_count": pattern.failures,
                "effectiveness_score": 0.5,
                "variance": 0.0,
                "suggested_action": f"Check {rng.choice(FILES)} before retrying",
                "context_tags": [f"job:{pattern.job}", f"module:{rng.choice(MODULES)}"],
                "priority_score": 0.5,
                "quarantine_status": status,
                "provenance_job_hash": self.job_hashes[pattern.job],
                "provenance_sheet_num": rng.randint(1, 30),
                "quarantined_at": self._moment(pattern.first_seen) if quarantined else None,
                "validated_at": self._moment(pattern.first_seen)
                if status == "validated" else None,
                "quarantine_reason": "Low effectiveness after repeated failures"
                if quarantined else None,
                "trust_score": min(1.0, max(0.0, rng.gauss(trust, 0.1))),
                "trust_calculation_date": last_seen,
                "active": rng.random() >= 0.03,  # a few soft-deleted
                "content_hash": content_hash_for(pattern_type, name, description),
                "instrument_name": rng.choice(INSTRUMENTS),
            }

    # -- the smaller tables the console shows -------------------------------------------

    def escalations(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        count = max(50, self.execution_count // 200)
        for number in range(count):
            recorded = self._moment(self.start)
            waiting = number >= count - 20  # the latest ones still wait for an outcome
            yield {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "job_hash": self.job_hashes[rng.choice(self.jobs)],
                "sheet_num": rng.randint(1, 30),
                "confidence": round(rng.uniform(0.1, 0.7), 3),
                "action": rng.choice(ACTIONS),
                "guidance": "Retry with a smaller prompt" if rng.random() < 0.5 else None,
                "validation_pass_rate": round(rng.uniform(0, 100), 1),
                "retry_count": rng.randint(0, 3),
                "outcome_after_action": None if waiting else rng.choice(
                    ("success", "failed", "aborted", "skipped")),
                "recorded_at": self.now - timedelta(minutes=count - number) if waiting
                else recorded,
                "model": rng.choice(MODELS),
            }

    def budget_rows(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        value = 0.15
        for half_day in range(HISTORY_DAYS * 2):
            value = min(0.5, max(0.05, value * 0.95 if rng.random() < 0.8 else value + 0.1))
            yield {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "job_hash": self.job_hashes[self.jobs[0]],
                "recorded_at": self.start + timedelta(hours=12 * half_day),
                "budget_value": value,
                "entropy_at_time": round(rng.uniform(0.2, 0.9), 3),
                "adjustment_type": "decay" if value < 0.3 else "boost",
                "adjustment_reason": None,
            }

    def entropy_rows(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        for day in range(HISTORY_DAYS):
            diversity = rng.uniform(0.4, 0.9)
            unique = self.pattern_count
            maximum = math.log2(unique) if unique > 1 else 0.0
            yield {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "calculated_at": self.start + timedelta(days=day),
                "shannon_entropy": diversity * maximum,
                "max_possible_entropy": maximum,
                "diversity_index": diversity,
                "unique_pattern_count": unique,
                "effective_pattern_count": int(unique * diversity),
                "total_applications": self.application_count * (day + 1) // HISTORY_DAYS,
                "dominant_pattern_share": round(rng.uniform(0.01, 0.2), 3),
                "threshold_exceeded": diversity < 0.5,
            }

    def rate_limit_rows(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        now_utc = self.now.astimezone(UTC)
        for number in range(40):
            recorded = now_utc - timedelta(hours=rng.uniform(0, 48))
            yield {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "error_code": rng.choice(("E101", "E102")),
                "model": rng.choice(MODELS),
                "recorded_at": recorded,
                "expires_at": now_utc + timedelta(minutes=rng.uniform(1, 30))
                if number < 4 else recorded + timedelta(minutes=5),
                "source_job_hash": self.job_hashes[rng.choice(self.jobs)],
                "duration_seconds": 300.0,
            }


#: How many VACUUM passes the load gets at most before its visibility map is left as it is.
_VACUUM_PASSES = 5


def _vacuum_postgresql(store: GlobalLearningStore) -> None:
    """Vacuum until every page of the big tables is marked all-visible (a few passes at most).

    One ``VACUUM`` right after the load may leave half the pages unmarked: an autovacuum
    worker analyzing the new rows at the same time holds back the horizon, so the tuples
    the priority recalculation rewrote are not yet visible to all. An index-only scan then
    still visits those pages (the header's status counts read twice as long as on a
    vacuumed store).
    """
    with store._engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        # The store's tables only: a bare VACUUM ANALYZE walks every schema of the database
        # (other copies, and whatever else the server holds).
        names = conn.exec_driver_sql(
            "SELECT string_agg(quote_ident(n.nspname) || '.' || quote_ident(c.relname), ', ' "
            "ORDER BY c.relname) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')"
        ).scalar_one()
        conn.exec_driver_sql(f"VACUUM ANALYZE {names}")
        for _ in range(_VACUUM_PASSES):
            unmarked = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_class WHERE relnamespace = "
                "CAST(current_schema() AS regnamespace) AND relkind = 'r' "
                "AND relpages > 0 AND relallvisible < relpages "
                "AND relname IN ('patterns', 'pattern_applications', 'executions')"
            ).scalar_one()
            if not unmarked:
                return
            time.sleep(1.0)
            conn.exec_driver_sql("VACUUM patterns, pattern_applications, executions")


def generate_store(
    target: str | Path,
    *,
    patterns: int = 20_000,
    applications: int = 500_000,
    executions: int = 200_000,
    seed: int = 7,
    now: datetime | None = None,
    progress: bool = False,
) -> None:
    """Fill a new store at ``target`` (a file path or a SQLAlchemy URL of an empty database)."""
    started = time.perf_counter()

    def say(step: str) -> None:
        if progress:
            print(f"  {time.perf_counter() - started:6.1f} s  {step}", file=sys.stderr)

    generator = _Generator(patterns, applications, executions, seed,
                           now or datetime.now().replace(microsecond=0))
    store = GlobalLearningStore(target, create=True)
    try:
        with store._batch() as conn:
            if not store.is_postgresql:
                conn.exec_driver_sql("PRAGMA synchronous=OFF")
            times, ids, execution_rows = generator.executions()
            count = _insert(conn, tables.executions, execution_rows)
            say(f"{count} executions")
            pattern_list = generator.patterns()
            application_rows = generator.applications(pattern_list, times, ids)
            say(f"{len(application_rows)} applications generated")
            count = _insert(conn, tables.patterns, generator.pattern_rows(pattern_list))
            say(f"{count} patterns")
            rng = generator.rng
            count = _insert(conn, tables.pattern_applications, (
                {
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "pattern_id": pattern_id,
                    "execution_id": execution_id,
                    "applied_at": applied,
                    "pattern_led_to_success": success,
                    "retry_count_before": retries,
                    "retry_count_after": 0 if success else retries + 1,
                    "grounding_confidence": grounding,
                }
                for applied, pattern_id, execution_id, success, grounding, retries
                in application_rows
            ))
            del application_rows
            say(f"{count} applications")
            _insert(conn, tables.escalation_decisions, generator.escalations())
            _insert(conn, tables.exploration_budget, generator.budget_rows())
            _insert(conn, tables.pattern_entropy_history, generator.entropy_rows())
            _insert(conn, tables.rate_limit_events, generator.rate_limit_rows())
            say("escalations, budget, entropy snapshots, rate limits")
        store.recalculate_all_pattern_priorities()
        say("effectiveness and priority recalculated")
        if store.is_postgresql:
            # What autovacuum does soon after a bulk load, done now: without the visibility
            # map an index-only scan (add_drift_index's) still visits every heap page, so
            # reads measured right after loading would be those of no store in service.
            _vacuum_postgresql(store)
            say("vacuumed and analyzed")
        else:
            with store._connection() as conn:
                conn.exec_driver_sql("ANALYZE")
            say("analyzed")
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="a new SQLite file, or a SQLAlchemy URL")
    parser.add_argument("--patterns", type=int, default=20_000)
    parser.add_argument("--applications", type=int, default=500_000)
    parser.add_argument("--executions", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()
    if "://" not in options.target and Path(options.target).exists():
        print(f"{options.target} already exists; give a new file", file=sys.stderr)
        return 2
    started = time.perf_counter()
    generate_store(options.target, patterns=options.patterns,
                   applications=options.applications, executions=options.executions,
                   seed=options.seed, progress=True)
    print(f"generated {options.target} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
