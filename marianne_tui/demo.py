"""A realistic demo store, built only through the store's public API (no SQL).

``marianne-tui --demo`` opens one; tests, snapshots and ``scripts/screenshots.py`` build one
with a fixed clock and seed, so the same inputs always give the same store (apart from the
random UUIDs the store gives executions, escalations and applications; every timestamp is
distinct, so no ordering ever depends on them).

What is in it, as Marianne would have written it over three weeks:

* ~400 patterns of every type, on several instruments, in every quarantine state; most
  were judged by ``promote_ready_patterns`` from their applications, some by an operator
  (quarantines with reasons, validations, retirements, back to pending); a few soft-deleted;
* applications linked to executions, with patterns whose effectiveness and grounding
  decline (then ``retire_drifting_patterns`` drift-retires the worst), improve, or only
  lose confidence (epistemic drift);
* trust scores and success factors ("why"), daily entropy snapshots, budget adjustments
  twice a day, entropy responses when diversity was low;
* escalations, most with an outcome, the latest ones still waiting for one;
* rate limits: expired ones, and active ones expiring 30 s to 10 min after the build;
* hostile text as agents write it: Rich markup and action links, unmatched tags, ANSI and
  OSC escapes, control characters, bidi overrides, zalgo, emoji ZWJ sequences, a 5,000
  character description.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any

from store import Clock, GlobalLearningStore, QuarantineStatus

#: How far back the demo's history goes.
HISTORY_DAYS = 21
#: The job whose exploration budget the demo tracks.
BUDGET_JOB = "nightly-notifications"
#: Patterns in the demo besides the hostile ones.
PATTERN_COUNT = 320

INSTRUMENTS = ("claude-code", "claude-code", "codex-cli", "gemini-cli", None)
MODELS = (
    "claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5", "gpt-5", "gpt-5-codex",
    "gemini-2.5-pro",
)
JOBS = (
    "nightly-notifications", "port-ui-to-rust", "upgrade-deps", "test-coverage-metrics",
    "evolve-v385", "refactor-billing", "docs-site-rebuild", "migrate-auth",
)
MODULES = ("api", "ui", "billing", "auth", "infra", "docs", "cli", "scheduler")
FILES = (
    "src/api/routes.py", "web/src/summary.yaml", "tests/test_main.py", "infra/deploy.tf",
    "docs/index.md", "k8s/analysis.yaml", "scripts/release.sh", "src/auth/tokens.rs",
)
VALIDATIONS = ("file_exists", "command_succeeds", "content_regex", "file_modified")
ERROR_CODES = ("E101", "E102", "E103", "E104", "E203", "E009", "E301")
LONG_DESCRIPTION = (
    "Agents wrote this 5,000-character description to see whether a console survives it. "
    "[dim]Lorem[/dim] ipsum \x1b[33mdolor\x1b[0m sit amet 🔥 consectetur adipiscing elit. "
    * 40
)[:5000]

#: Text as AI agents write it: markup, action links, escapes, controls, bidi, zalgo, emoji.
HOSTILE_NAMES = (
    "[@click=app.quit]click me[/]",
    "unmatched closing tag [/] in a pattern name",
    "[link=file:///etc/passwd]x[/link] open this",
    "set the title \x1b]0;pwned\x07 quietly",
    "clear \x1b[2J the screen \x1b[31min red\x1b[0m",
    "multi\nline\tname\rwith controls\x00and NUL",
    "bidi override \u202egnp.exe\u202c isolate \u2066x\u2069",
    "z\u0337\u0321\u031ba\u0338\u0322\u035dl\u0335\u0328\u0360"
    "g\u0336\u031b\u035co\u0337\u0322 pattern",
    "family 👨\u200d👩\u200d👧\u200d👦 flag 🏳️\u200d🌈 thumbs 👍🏽",
    "format {0} %s ${HOME} $(rm -rf /) look-alikes",
)
HOSTILE_REASON = "[bold red]FORCED[/] by \x1b]0;pwned\x07 agent\nsecond line [@click=app.quit]x[/]"
HOSTILE_GUIDANCE = "Retry [@click=app.quit]now[/] \x1b[2J\u202eesrever\u202c\ttab"
HOSTILE_MODEL = "[blink red]gpt-5[/] \x1b[5mX\x1b[0m"
HOSTILE_INSTRUMENT = "[red]instrument[/]"


class FixedClock(Clock):
    """A clock that stands still until ``advance`` moves it: ``now`` is naive local time,
    and UTC is the same instant read as aware UTC (what a machine in UTC reports)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def local(self) -> datetime:
        return self.now

    def utc(self) -> datetime:
        return self.now.replace(tzinfo=UTC)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


#: The clock snapshots and screenshots use.
DEMO_NOW = datetime(2026, 11, 25, 12, 0, 0)


def demo_clock() -> FixedClock:
    return FixedClock(DEMO_NOW)


class _Timeline(Clock):
    """The build's clock: ``base`` minus an offset that the builder moves forward."""

    def __init__(self, local: datetime, utc: datetime) -> None:
        self.base_local, self.base_utc = local, utc
        self.ago = timedelta(0)

    def local(self) -> datetime:
        return self.base_local - self.ago

    def utc(self) -> datetime:
        return self.base_utc - self.ago


class Profile(str, Enum):
    """How a pattern behaves over the history."""

    COLD = "cold"  # seen, never applied
    GOOD = "good"
    BAD = "bad"
    MARGINAL = "marginal"
    HOT = "hot"  # applied a lot lately: dominates the entropy
    DECLINING = "declining"  # effectiveness and grounding fall in the last window
    IMPROVING = "improving"
    WEAKENING = "weakening"  # outcomes steady, grounding falls (epistemic drift only)


_PROFILE_WEIGHTS = {
    Profile.COLD: 30, Profile.GOOD: 22, Profile.BAD: 10, Profile.MARGINAL: 14,
    Profile.HOT: 2, Profile.DECLINING: 8, Profile.IMPROVING: 6, Profile.WEAKENING: 5,
}


@dataclass
class _Pattern:
    pattern_type: str
    name: str
    description: str | None
    suggested_action: str | None
    tags: list[str]
    instrument: str | None
    profile: Profile
    job: str
    sheet: int
    first_seen: float  # days ago
    id: str = ""
    sightings: int = 1


def _on_id(action: Callable[..., object], pattern: _Pattern, *args: object) -> None:
    """``action`` on the pattern's id as it is when the event runs (recording sets it)."""
    action(pattern.id, *args)


@dataclass(order=True)
class _Event:
    """One thing that happens at ``days_ago`` (larger = earlier)."""

    sort_key: tuple[float, int]
    run: Callable[[], Any] = field(compare=False)


def _name_for(rng: random.Random, pattern_type: str, n: int) -> tuple[str, str, str | None]:
    """A name, description and suggested action in the shape Marianne's learners write."""
    file = rng.choice(FILES)
    job = rng.choice(JOBS)
    module = rng.choice(MODULES)
    code = rng.choice(ERROR_CODES)
    if pattern_type == "validation_failure":
        check = rng.choice(VALIDATIONS)
        return (
            f"validation_failure:validation:{check}:{file}#{n}",
            f"{check} validation fails for {file} (expected output not matching)",
            f"⚠️ Common issue: {check} validation fails for {file}",
        )
    if pattern_type == "retry_success":
        backoff = rng.choice((15, 30, 60, 120))
        return (
            f"retry_success:error:{code}:{module}:{n}",
            f"Retry succeeds after {code} in {module} with backoff {backoff}s",
            f"✓ Tip: retry after {code} with backoff {backoff}s",
        )
    if pattern_type == "semantic_failure":
        reason = rng.choice(("truncated output", "wrong file edited", "stale plan", "no tests"))
        return (
            f"semantic_failure:{reason}:{file}#{n}",
            f"'{reason}' recurring for {file} across {rng.randint(2, 12)} sheets",
            f"🔍 Semantic insight: '{reason}' recurring for {file}",
        )
    if pattern_type == "first_attempt_success":
        return (
            f"first_attempt_success:{job}:sheet{rng.randint(1, 30)}:{n}",
            f"Sheet succeeds first try when the prompt lists {file} explicitly",
            "✓ Best practice: list the files to touch in the prompt",
        )
    if pattern_type == "output_pattern":
        return (
            f"output_pattern:npm ERR! code E{1000 + n} while installing {module}",
            f"stderr signature seen in {rng.randint(2, 30)} executions",
            None,
        )
    if pattern_type == "error":
        return (
            f"{code}:transient:{module}:{n}",
            f"{code} transient error in {module}: connection reset by peer",
            f"Wait {rng.choice((10, 30, 60))}s before retry",
        )
    if pattern_type == "resource_anomaly":
        return (
            f"resource_anomaly:memory:{module}:{n}",
            f"Memory above {rng.choice((2, 4, 8))} GiB while building {module}",
            "Split the sheet or raise the memory limit",
        )
    return (
        f"{pattern_type}:{job}:sheet{rng.randint(1, 30)}:{n}",
        f"Validation confidence pattern for {job} ({rng.randint(3, 40)} samples, {module})",
        None,
    )


_TYPES = (
    "validation_failure", "validation_failure", "semantic_failure", "semantic_insight",
    "retry_success", "first_attempt_success", "output_pattern", "error", "completion_mode",
    "resource_anomaly", "high_confidence", "low_confidence",
)


def _make_patterns(rng: random.Random) -> list[_Pattern]:
    profiles = list(_PROFILE_WEIGHTS)
    weights = list(_PROFILE_WEIGHTS.values())
    patterns: list[_Pattern] = []
    for n in range(PATTERN_COUNT):
        pattern_type = rng.choice(_TYPES)
        name, description, action = _name_for(rng, pattern_type, n)
        patterns.append(
            _Pattern(
                pattern_type=pattern_type,
                name=name,
                description=description,
                suggested_action=action,
                tags=[f"job:{rng.choice(JOBS)}", f"module:{rng.choice(MODULES)}"],
                instrument=rng.choice(INSTRUMENTS),
                profile=rng.choices(profiles, weights)[0],
                job=rng.choice(JOBS),
                sheet=rng.randint(1, 30),
                first_seen=rng.uniform(4, HISTORY_DAYS),
                sightings=rng.randint(1, 4),
            )
        )
    # The hostile ones behave like ordinary patterns, so they show up on every screen.
    hostile_profiles = (Profile.BAD, Profile.GOOD, Profile.DECLINING, Profile.MARGINAL)
    for n, name in enumerate(HOSTILE_NAMES):
        patterns.append(
            _Pattern(
                pattern_type="semantic_insight" if n % 2 else "validation_failure",
                name=name,
                description=LONG_DESCRIPTION if n == 0 else f"{name} — description {name}",
                suggested_action="[bold]Do the thing[/bold] \x1b[32mnow\x1b[0m 🚀",
                tags=["hostile", "tag\nnewline"],
                instrument=HOSTILE_INSTRUMENT if n % 3 == 0 else "claude-code",
                profile=hostile_profiles[n % len(hostile_profiles)],
                job=JOBS[n % len(JOBS)],
                sheet=n + 1,
                first_seen=HISTORY_DAYS - 1 - n * 0.5,
                sightings=3,
            )
        )
    return patterns


def _applications(
    rng: random.Random, pattern: _Pattern
) -> list[tuple[float, bool, float | None]]:
    """(days ago, led to success, grounding) for each application of a pattern."""
    start = pattern.first_seen - 0.05
    profile = pattern.profile
    if profile is Profile.COLD:
        return []
    count = {
        Profile.GOOD: rng.randint(3, 10), Profile.BAD: rng.randint(3, 7),
        Profile.MARGINAL: rng.randint(3, 8), Profile.HOT: rng.randint(25, 40),
        Profile.DECLINING: rng.randint(10, 13), Profile.IMPROVING: rng.randint(10, 13),
        Profile.WEAKENING: rng.randint(10, 12),
    }[profile]
    if profile is Profile.HOT:
        # Crowds into the last week: diversity drops, the budget gets boosted.
        times = sorted((rng.uniform(0.02, min(start, 7.0)) for _ in range(count)), reverse=True)
    else:
        times = sorted((rng.uniform(0.05, start) for _ in range(count)), reverse=True)
    result: list[tuple[float, bool, float | None]] = []
    grounding: float | None
    for index, days_ago in enumerate(times):
        # Drift compares the last window of 5 applications with the 5 before it.
        recent = index >= count - 5
        if profile is Profile.DECLINING:
            p, grounding = (0.1, rng.uniform(0.25, 0.45)) if recent else (0.9, rng.uniform(0.8, 1))
        elif profile is Profile.IMPROVING:
            p, grounding = (0.95, rng.uniform(0.8, 1)) if recent else (0.3, rng.uniform(0.5, 0.7))
        elif profile is Profile.WEAKENING:
            p, grounding = 0.7, (rng.uniform(0.2, 0.4) if recent else rng.uniform(0.85, 0.98))
        else:
            p = {Profile.GOOD: 0.85, Profile.BAD: 0.15, Profile.MARGINAL: 0.5, Profile.HOT: 0.75}[
                profile
            ]
            grounding = rng.uniform(0.5, 0.95) if rng.random() < 0.8 else None
        result.append((days_ago, rng.random() < p, grounding))
    return result


def _diversity(counts: Counter[str]) -> float:
    """Shannon diversity (H / H_max) of application counts, for the budget's entropy input."""
    total = sum(counts.values())
    if total == 0 or len(counts) < 2:
        return 0.0
    entropy = -sum(c / total * math.log2(c / total) for c in counts.values() if c)
    return entropy / math.log2(len(counts))


@dataclass(frozen=True)
class _Outcome:
    """The fields of Marianne's SheetOutcome that ``record_outcome`` reads."""

    sheet_id: str
    job_id: str
    timestamp: datetime
    execution_duration: float
    retry_count: int
    success_without_retry: bool
    validation_pass_rate: float
    final_status: Any
    validation_results: tuple[()] = ()
    completion_mode_used: bool = False
    patterns_detected: tuple[()] = ()
    patterns_applied: tuple[()] = ()


class _Status(str, Enum):
    COMPLETED = "completed"
    FAILED = "failed"


def build_demo_store(
    path: Path | str, *, clock: Clock | None = None, seed: int = 0
) -> Path:
    """Build the demo store at ``path`` (a new file) and return its path.

    ``clock`` fixes "now" (default: the real clock, so rate limits expire while you
    watch); the history runs up to it. The same ``clock`` time and ``seed`` give the same
    store.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} already exists; the demo builds a new store")
    path.parent.mkdir(parents=True, exist_ok=True)
    now = clock or Clock()
    timeline = _Timeline(now.local(), now.utc())
    rng = random.Random(seed)
    store = GlobalLearningStore(path, create=True, clock=timeline)
    try:
        with store.batch_connection():
            _Builder(store, now, timeline, rng).build()
    finally:
        store.close()
    return path


class _Builder:
    def __init__(
        self, store: GlobalLearningStore, now: Clock, timeline: _Timeline, rng: random.Random
    ) -> None:
        self.store = store
        self.now = now
        self.timeline = timeline
        self.rng = rng
        self.events: list[_Event] = []
        self.applied: Counter[str] = Counter()
        # (days ago, pattern id, job) of each application: the budget's entropy input
        self.recent: list[tuple[float, str, str]] = []
        self.last_response = math.inf
        self.execution_id: str | None = None

    def at(self, days_ago: float, run: Callable[[], Any]) -> None:
        # The sequence number keeps equal times in insertion order (deterministic).
        self.events.append(_Event((-days_ago, len(self.events)), run))

    def build(self) -> None:
        rng = self.rng
        patterns = _make_patterns(rng)
        for pattern in patterns:
            self.at(pattern.first_seen, partial(self._record, pattern))
            for k in range(1, pattern.sightings):
                seen = pattern.first_seen * (1 - k / (pattern.sightings + 1))
                self.at(seen, partial(self._record, pattern))
            for days_ago, success, grounding in _applications(rng, pattern):
                self.at(days_ago, partial(self._apply, pattern, success, grounding, days_ago))
        self._collapse(patterns)
        for day in range(HISTORY_DAYS, 0, -1):
            self.at(day - 0.5, self.store.promote_ready_patterns)
            self.at(day - 0.25, self._entropy_snapshot)
            for half in (0.1, 0.6):
                self.at(day - half, partial(self._budget, day - half))
        self._operator_actions(patterns)
        self._escalations()
        self._expired_rate_limits()

        for event in sorted(self.events):
            self.timeline.ago = timedelta(days=-event.sort_key[0])
            event.run()

        # The last hour: trust, drift retirement, what is waiting for the operator now.
        self.timeline.ago = timedelta(hours=1)
        for pattern in patterns:
            if pattern.profile is not Profile.COLD:
                self.store.calculate_trust_score(pattern.id)
        retire = getattr(self.store, "retire_drifting_patterns", None)
        if retire is not None:
            self.timeline.ago = timedelta(minutes=30)
            retire(drift_threshold=0.2, window_size=5, require_negative_drift=True)
        self.timeline.ago = timedelta(minutes=20)
        self._entropy_snapshot()
        self._pending_escalations()
        # Active limits count from the end of the build (with the real clock, the build
        # took a few seconds): the shortest one must still be there when the console opens.
        self.timeline.base_local, self.timeline.base_utc = self.now.local(), self.now.utc()
        self.timeline.ago = timedelta(0)
        self._active_rate_limits()

    # -- patterns -----------------------------------------------------------------------

    def _record(self, pattern: _Pattern) -> None:
        pattern.id = self.store.record_pattern(
            pattern.pattern_type,
            pattern.name,
            description=pattern.description,
            context_tags=pattern.tags,
            suggested_action=pattern.suggested_action,
            provenance_job_hash=self.store.hash_job(pattern.job),
            provenance_sheet_num=pattern.sheet,
            instrument_name=pattern.instrument,
        )

    def _apply(
        self, pattern: _Pattern, success: bool, grounding: float | None, days: float
    ) -> None:
        # One execution applies a few patterns (and keeps the build fast).
        if self.execution_id is None or self.rng.random() < 0.4:
            self.execution_id = self._execution(pattern, success)
        execution_id = self.execution_id
        retries = 0 if success else self.rng.randint(1, 3)
        self.store.record_pattern_application(
            pattern.id,
            execution_id,
            success,
            retry_count_before=retries,
            retry_count_after=0 if success else retries + 1,
            application_mode="exploration" if self.rng.random() < 0.15 else "exploitation",
            grounding_confidence=grounding,
        )
        if success and self.rng.random() < 0.4:
            self.store.update_success_factors(
                pattern.id,
                validation_types=self.rng.sample(VALIDATIONS, 2),
                error_categories=[self.rng.choice(("transient", "rate_limit", "validation"))],
                prior_sheet_status=self.rng.choice(("completed", "failed", None)),
                retry_iteration=self.rng.randint(0, 2),
                escalation_was_pending=self.rng.random() < 0.1,
                grounding_confidence=grounding,
            )
        self.applied[pattern.id] += 1
        self.recent.append((days, pattern.id, pattern.job))

    def _execution(self, pattern: _Pattern, success: bool) -> str:
        """An executions row for this application (when the store records executions)."""
        record = getattr(self.store, "record_outcome", None)
        retries = 0 if success else self.rng.randint(1, 3)
        if record is None:
            return f"exec-{len(self.recent):06d}"
        outcome = _Outcome(
            sheet_id=f"{pattern.job}-sheet{pattern.sheet}",
            job_id=pattern.job,
            timestamp=self.timeline.utc() - timedelta(seconds=self.rng.randint(30, 900)),
            execution_duration=round(self.rng.uniform(20, 900), 1),
            retry_count=retries,
            success_without_retry=success and retries == 0,
            validation_pass_rate=round(
                self.rng.uniform(0.8, 1.0) if success else self.rng.uniform(0.0, 0.6), 2
            ),
            final_status=_Status.COMPLETED if success else _Status.FAILED,
        )
        workspace = Path("/srv/workspaces") / pattern.job
        return str(
            record(
                outcome,
                workspace,
                model=self.rng.choice(MODELS),
                error_codes=[] if success else [self.rng.choice(ERROR_CODES)],
            )
        )

    def _collapse(self, patterns: list[_Pattern]) -> None:
        """Days 5 to 4 ago one pattern took nearly every application of the budget's job: its
        diversity collapsed, the budget was boosted and an entropy response fired."""
        hot = next(p for p in patterns if p.profile is Profile.HOT and p.first_seen > 6)
        hot.job = BUDGET_JOB
        for _ in range(220):
            days_ago = self.rng.uniform(4.2, 5.0)
            grounding = self.rng.uniform(0.7, 0.95)
            success = self.rng.random() < 0.8
            self.at(days_ago, partial(self._apply, hot, success, grounding, days_ago))

    def _operator_actions(self, patterns: list[_Pattern]) -> None:
        """Decisions an operator took by hand over the last ten days."""
        rng = self.rng
        applied = [p for p in patterns if p.profile is not Profile.COLD]
        chosen = rng.sample(applied, 40)
        reasons = (
            "misleads sheets into skipping the validation step",
            "suggests a retry loop that burned the budget twice",
            "duplicate of a validated pattern with a better description",
            HOSTILE_REASON,
        )

        def when(pattern: _Pattern) -> float:
            # After the pattern was first seen, within the last ten days.
            return rng.uniform(0.3, min(10.0, pattern.first_seen - 0.1))

        store = self.store
        for n, pattern in enumerate(chosen[:14]):
            reason = reasons[n % len(reasons)]
            self.at(when(pattern), partial(_on_id, store.quarantine_pattern, pattern, reason))
        for pattern in chosen[14:24]:
            self.at(when(pattern), partial(_on_id, store.validate_pattern, pattern))
        for pattern in chosen[24:36]:
            self.at(when(pattern), partial(_on_id, store.retire_pattern, pattern))
        for pattern in chosen[36:39]:
            self.at(
                min(when(pattern), 3.0),
                partial(_on_id, store.update_quarantine_status, pattern, QuarantineStatus.PENDING),
            )
        self.at(min(when(chosen[39]), 2.0), partial(_on_id, store.soft_delete_pattern, chosen[39]))
        cold = [p for p in patterns if p.profile is Profile.COLD]
        for pattern in cold[:2]:
            self.at(1.5, partial(_on_id, self.store.soft_delete_pattern, pattern))

    # -- budget and entropy -------------------------------------------------------------

    def _entropy_snapshot(self) -> None:
        if sum(self.applied.values()) == 0:
            return
        self.store.record_pattern_entropy(self.store.calculate_pattern_entropy())

    def _budget(self, days_ago: float) -> None:
        """A budget step from the job's diversity over the last day; a response when low.

        As Marianne's runner does, the entropy fed to the budget is the job's own (its
        applications only), so one dominating pattern moves it (the collapse below).
        """
        window = Counter(
            pid
            for when, pid, job in self.recent
            if job == BUDGET_JOB and days_ago <= when <= days_ago + 1
        )
        if sum(window.values()) < 10:
            return  # too little activity to say anything about diversity
        diversity = _diversity(window)
        job_hash = self.store.hash_job(BUDGET_JOB)
        self.store.calculate_budget_adjustment(job_hash, diversity)
        if diversity < 0.3 and self.last_response - days_ago >= 2:
            self.last_response = days_ago
            # A minute later: two budget rows never share a timestamp (stable ordering).
            self.timeline.ago -= timedelta(minutes=1)
            self.store.trigger_entropy_response(job_hash, diversity, 0.3)

    # -- escalations --------------------------------------------------------------------

    def _escalation(self, resolved: bool) -> Callable[[], None]:
        """Records one escalation when called (at the timeline's time), with an outcome or not."""
        rng = self.rng
        # Clustered confidence and pass rate, so "similar past escalations" finds some.
        cluster = rng.choice(((0.35, 40.0), (0.55, 60.0), (0.7, 75.0), (0.25, 20.0)))
        action = rng.choice(("retry", "retry", "modify_prompt", "skip", "abort"))
        guidance = rng.choice((
            None,
            "Modify prompt: state that the migration must run before the tests.",
            "Operator note: model keeps rewriting the lockfile; pin the expected diff.",
            "Escalated to a human reviewer; approved a retry with lower temperature.",
            HOSTILE_GUIDANCE,
        ))
        job = rng.choice(JOBS)
        sheet = rng.randint(1, 30)
        confidence = round(min(1.0, max(0.0, rng.gauss(cluster[0], 0.06))), 3)
        pass_rate = round(min(100.0, max(0.0, rng.gauss(cluster[1], 8))), 1)
        retries = rng.randint(0, 4)
        model = HOSTILE_MODEL if guidance is HOSTILE_GUIDANCE else rng.choice(MODELS)
        outcome = rng.choice(("success", "success", "failed", "aborted", "skipped"))

        def record() -> None:
            escalation_id = self.store.record_escalation_decision(
                job, sheet, confidence, action, pass_rate, retries,
                guidance=guidance, model=model,
            )
            if resolved:
                # As a handler would: the decision first, its outcome once the sheet ran.
                self.store.update_escalation_outcome(escalation_id, outcome)

        return record

    def _escalations(self) -> None:
        if not hasattr(self.store, "record_escalation_decision"):
            return
        for _ in range(70):
            self.at(self.rng.uniform(0.7, HISTORY_DAYS), self._escalation(resolved=True))

    def _pending_escalations(self) -> None:
        """The latest escalations, still waiting for an outcome (oldest 16 h ago)."""
        if not hasattr(self.store, "record_escalation_decision"):
            return
        for n in range(9):
            self.timeline.ago = timedelta(hours=16 - n * 1.7)
            self._escalation(resolved=False)()

    # -- rate limits --------------------------------------------------------------------

    def _expired_rate_limits(self) -> None:
        for _ in range(25):
            days_ago = self.rng.uniform(0.2, HISTORY_DAYS)
            code = self.rng.choice(ERROR_CODES[:4])
            model = self.rng.choice((*MODELS, None))
            job = self.rng.choice(JOBS)
            duration = self.rng.choice((60.0, 120.0, 300.0, 900.0))
            record = partial(self.store.record_rate_limit_event, code, duration, job, model)
            self.at(days_ago, record)

    def _active_rate_limits(self) -> None:
        """Limits that expire 30 s to 10 min from now (the store keeps 0.8 x duration)."""
        expiries = (30, 45, 75, 120, 200, 300, 450, 600)
        for n, seconds in enumerate(expiries):
            code = ERROR_CODES[n % 4] if n != 5 else "[@click=app.quit]E999[/]"
            model = HOSTILE_MODEL if n == 3 else MODELS[n % len(MODELS)]
            self.store.record_rate_limit_event(code, seconds / 0.8, JOBS[n % len(JOBS)], model)


def default_demo_path(now: datetime | None = None) -> Path:
    """A fresh file under the user data folder, e.g. ~/.local/share/marianne-tui/demo-....db."""
    from platformdirs import user_data_dir

    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S-%f")
    return Path(user_data_dir("marianne-tui")) / f"demo-{stamp}.db"
