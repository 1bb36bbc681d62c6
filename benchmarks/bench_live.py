"""The live-at-scale benchmark: every read a refresh makes, cold and as applications arrive.

    .venv/bin/python benchmarks/bench_live.py                         # 20k / 500k / 200k, SQLite
    .venv/bin/python benchmarks/bench_live.py --postgres URL          # and PostgreSQL beside it
    .venv/bin/python benchmarks/bench_live.py --marianne-python PATH/TO/python   # Marianne too
    .venv/bin/python benchmarks/bench_live.py --console               # and the console in tmux
    .venv/bin/python benchmarks/bench_live.py --patterns 100000 --applications 2500000 \\
        --executions 1000000

Prints one table and, with ``--postgres``, the ratio PostgreSQL / SQLite of each of its
cells (issue #7 asks for 2x at most). The store is made once by ``generate_store.py``
(SQLite: a file in ``--cache``; PostgreSQL: a schema named after the size, the seed and the
building run's pid, kept for the next run; see ``cached_postgres``) and every run works on a
copy of the SQLite file, so the cached one never changes (the PostgreSQL schema gains the
few thousand applications each run records).

Rows, for each backend:

* **cold**: a new store object (nothing kept in the process) and its first call of the read,
  the median of ``--cold-samples`` such objects (3);
* **indexed**: the drift reads cold again with the optional index of ``add_drift_index()``
  (built and timed once, warmed by one read left out of the column, dropped at the end),
  the median of ``--cold-samples`` new store objects;
* **+1 / +10 / +100**: the same read on a store object that has already answered, right
  after another store object (another connection) recorded that many applications through
  ``record_pattern_application``: what one refresh costs while Marianne writes; the median
  of ``--warm-samples`` repetitions (5), each writing its own applications before its read;
* **loop**: the per-pattern reference (one ``calculate_*`` call per pattern with 10 or more
  applications, as Marianne computes scans and summaries), on SQLite, and the ratio cold /
  loop; with ``--marianne-python``, Marianne's own store timed on the same file in that
  interpreter (cold, one new store object per read), and the ratio.

With ``--console``, the console itself on a copy of the SQLite file, in tmux at 120x40:
time to the first painted Patterns page (its modules byte-compiled first, as a user's first
start leaves them), then on each screen the CPU of the console process
over ``--seconds`` while a writer records 1 and then 10 applications per second, the CPU
and the bytes written to the terminal while nothing changes (measured once the console has
settled: its first reads finished, reported as their own row), and the peak RSS; then, in
this process, the slowest frame while scrolling Patterns from top to bottom
(``measure_scrolling``).

All times are wall-clock milliseconds (the machine's other load shows in them); the
store reads are medians of repeated samples (``--samples`` prints them all), the loops,
the index build, Marianne and the console one run each. Nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_drift import (  # the sibling scripts, found through sys.path
    _loop_drifting,
    _loop_epistemic_drifting,
    _loop_epistemic_summary,
    _loop_summary,
)
from generate_store import _vacuum_postgresql, generate_store

from store import GlobalLearningStore, PatternQuery

Read = Callable[[GlobalLearningStore], Any]


def _budget_screen(store: GlobalLearningStore) -> Any:
    """What the Budget & entropy screen reads on each refresh."""
    return (
        store.get_exploration_budget(None),
        store.get_exploration_budget_history(None, limit=60),
        store.get_exploration_budget_statistics(None),
        store.get_pattern_entropy_history(limit=60),
        store.get_entropy_response_history(None, limit=20),
        store.get_entropy_response_statistics(None),
        store.check_entropy_response_needed("", entropy_threshold=0.3),
    )


#: (label, read, the per-pattern reference or None, Marianne's method name or None)
READS: list[tuple[str, Read, Read | None, str | None]] = [
    ("change_token (every poll)", lambda s: s.change_token(), None, None),
    ("store_overview (header)", lambda s: s.store_overview(), None, None),
    ("Patterns: query_patterns", lambda s: s.query_patterns(PatternQuery()), None, None),
    ("Drift: drift_report", lambda s: s.drift_report(), None, None),
    ("Budget: the screen's 7 reads", _budget_screen, None, None),
    ("Escalations: escalations_for_review", lambda s: s.escalations_for_review(200), None, None),
    ("Rate limits: get_active_rate_limits", lambda s: s.get_active_rate_limits(limit=200),
     None, None),
    ("get_drifting_patterns", lambda s: s.get_drifting_patterns(), _loop_drifting,
     "get_drifting_patterns"),
    ("get_pattern_drift_summary", lambda s: s.get_pattern_drift_summary(), _loop_summary,
     "get_pattern_drift_summary"),
    ("get_epistemic_drifting_patterns", lambda s: s.get_epistemic_drifting_patterns(),
     _loop_epistemic_drifting, "get_epistemic_drifting_patterns"),
    ("get_epistemic_drift_summary", lambda s: s.get_epistemic_drift_summary(),
     _loop_epistemic_summary, "get_epistemic_drift_summary"),
    ("calculate_pattern_entropy", lambda s: s.calculate_pattern_entropy(), None,
     "calculate_pattern_entropy"),
    ("preview_retire_drifting_patterns", lambda s: s.preview_retire_drifting_patterns(),
     None, None),
]
#: The read that warms the new index before the indexed column: it reads every window.
WARMING_READ = "Drift: drift_report"
#: Its column in the samples (not in the table).
FIRST_INDEXED = "indexed, first after the build"
DRIFT_READS = {"Drift: drift_report", "get_drifting_patterns", "get_pattern_drift_summary",
               "get_epistemic_drifting_patterns", "get_epistemic_drift_summary",
               "preview_retire_drifting_patterns"}
BATCHES = (1, 10, 100)
#: Samples behind each +1 / +10 / +100 cell: one sub-millisecond read is at the mercy of a
#: garbage collection or the scheduler, and a single slow one flipped the 2x comparison.
WARM_SAMPLES = 5
#: Samples behind each cold and indexed cell (each a new store object): fewer, as a cold
#: drift read costs half a second at 20,000 patterns. Three are enough for the median to
#: drop one slow sample: a hiccup, or the first pass of the process, which pays one-off
#: costs (the first cold escalations read 4.9 ms, the next two 2.4) on the backend timed
#: first only.
COLD_SAMPLES = 3

#: {read label: {column: [ms, ...]}}, every sample in the order taken.
Samples = dict[str, dict[str, list[float]]]


def _ms(read: Callable[[], Any]) -> float:
    started = time.perf_counter()
    read()
    return (time.perf_counter() - started) * 1000


class _Writer:
    """Another connection recording applications, as Marianne's conductor does."""

    def __init__(self, location: str) -> None:
        self.store = GlobalLearningStore(location)
        with self.store._connection() as conn:
            self.ids = [row[0] for row in conn.exec_driver_sql(
                "SELECT id FROM patterns ORDER BY id LIMIT 5000")]
        self.rng = random.Random(1)

    def write(self, count: int) -> None:
        for _ in range(count):
            self.store.record_pattern_application(
                self.rng.choice(self.ids), "bench-live", self.rng.random() < 0.6,
                grounding_confidence=None if self.rng.random() < 0.2 else self.rng.random(),
            )

    def close(self) -> None:
        self.store.close()


def _cold_ms(location: str, read: Read) -> float:
    """A new store object's first call of ``read``."""
    store = GlobalLearningStore(location)
    try:
        return _ms(lambda: read(store))
    finally:
        store.close()


def medians(samples: Samples) -> dict[str, dict[str, float]]:
    """{read label: {column: the median of its samples}} (a cell without samples left out)."""
    return {label: {column: statistics.median(values)
                    for column, values in cells.items() if values}
            for label, cells in samples.items()}


def measure_backend(
    location: str,
    loops: bool,
    samples: Samples | None = None,
    *,
    cold_samples: int = COLD_SAMPLES,
    warm_samples: int = WARM_SAMPLES,
) -> dict[str, dict[str, float]]:
    """{read label: {column: median ms}} for one store location.

    ``samples``, when given, receives every sample taken. Each kind of cell is sampled in
    rounds of every read (not one read's samples back to back), so that a burst of the
    machine's other load costs each cell one sample, which the median drops.
    """
    taken: Samples = {} if samples is None else samples
    for label, *_ in READS:
        taken.setdefault(label, {})

    def add(label: str, column: str, ms: float) -> None:
        taken.setdefault(label, {}).setdefault(column, []).append(ms)

    for _ in range(cold_samples):
        for label, read, _, _ in READS:
            add(label, "cold", _cold_ms(location, read))
    writer = _Writer(location)
    console = GlobalLearningStore(location)
    try:
        for _, read, _, _ in READS:
            read(console)
        # Each repetition is the whole +1, +10, +100 sequence again. The reads that keep
        # state between calls (the drift windows and the entropy counts) share it, and the
        # last of READS is one of them: in every repetition, a sample follows the same
        # writes since that state was last brought up to date as in the first.
        for _ in range(warm_samples):
            for count in BATCHES:
                for label, read, _, _ in READS:
                    writer.write(count)
                    add(label, f"+{count}", _ms(lambda: read(console)))  # noqa: B023
        if loops:
            for label, _, loop, _ in READS:
                if loop is not None:
                    add(label, "loop", _ms(lambda: loop(console)))  # noqa: B023
        started = time.perf_counter()
        console.add_drift_index()
        built = (time.perf_counter() - started) * 1000
        try:
            # Left out of the column: the first read after the build still paid for it (at
            # 100,000 patterns 1.6 s, against 1.0 s on a copy indexed beforehand). Once
            # read, the index is as warm as the rest of the file is for the cold column,
            # and what is timed is only the store object being new. (Kept for --samples.)
            add(WARMING_READ, FIRST_INDEXED, _cold_ms(
                location, next(read for label, read, *_ in READS if label == WARMING_READ)))
            for _ in range(cold_samples):
                for label, read, _, _ in READS:
                    if label in DRIFT_READS:
                        add(label, "indexed", _cold_ms(location, read))
        finally:
            console.drop_drift_index()
        add("add_drift_index() build", "cold", built)
    finally:
        console.close()
        writer.close()
    return medians(taken)


_MARIANNE_PROGRAM = """
import json, sys, time
from pathlib import Path
from marianne.learning.store import GlobalLearningStore
results = {}
for name in sys.argv[2:]:
    store = GlobalLearningStore(Path(sys.argv[1]))
    started = time.perf_counter()
    getattr(store, name)()
    results[name] = (time.perf_counter() - started) * 1000
print(json.dumps(results))
"""


def measure_marianne(python: str, path: Path) -> dict[str, float]:
    names = [name for *_, name in READS if name is not None]
    done = subprocess.run([python, "-c", _MARIANNE_PROGRAM, str(path), *names],
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        print(f"Marianne could not be timed: {done.stderr.strip().splitlines()[-1:]}",
              file=sys.stderr)
        return {}
    return {k: float(v) for k, v in json.loads(done.stdout).items()}


# ---------------------------------------------------------------------------------------
# The console in tmux
# ---------------------------------------------------------------------------------------


SCREENS = (("Patterns", "1"), ("Drift", "2"), ("Budget", "3"), ("Escalations", "4"),
           ("Rate limits", "5"))


def measure_console(
    path: Path, seconds: float, screens: tuple[str, ...] = ()
) -> list[tuple[str, str]]:
    from bench_ui import STATUS_MARK, Tmux, _cpu_seconds, compile_console, console_command

    if shutil.which("tmux") is None:
        return [("console", "tmux not found: skipped")]
    compile_console()
    rows: list[tuple[str, str]] = []
    tmux = Tmux()
    tmux.open()
    try:
        for number, (screen, key) in enumerate(SCREENS):
            if screens and screen not in screens and number:
                continue
            name = f"live{number}"
            started = time.perf_counter()
            pid = tmux.start(name, (120, 40), console_command(path))
            try:
                while STATUS_MARK not in tmux.screen(name):
                    if time.perf_counter() - started > 60:
                        raise RuntimeError("the console did not start:\n" + tmux.screen(name))
                    time.sleep(0.02)
                if number == 0:
                    rows.append(("console: start to first painted Patterns page",
                                 f"{(time.perf_counter() - started) * 1000:.0f} ms"))
                pressed, pressed_cpu = time.perf_counter(), _cpu_seconds(pid)
                tmux.run("send-keys", "-t", name, key)
                time.sleep(0.5)  # the switch itself
                loading = False
                while "loading" in tmux.screen(name) and time.perf_counter() - pressed < 120:
                    loading = True  # the screen's first (cold) fetch is still running
                    time.sleep(0.05)
                if loading:
                    rows.append((f"console on {screen}: rows painted after its key",
                                 f"{(time.perf_counter() - pressed) * 1000:.0f} ms"))
                settled, settle_cpu = _settle(pid, pressed, pressed_cpu)
                rows.append((f"console on {screen}: settled after its key (CPU spent)",
                             f"{settled:.1f} s ({settle_cpu:.1f} s)"))
                idle_cpu, idle_bytes = _idle(tmux, name, pid, seconds, path.parent)
                rows.append((f"console on {screen}: idle CPU, bytes to the terminal",
                             f"{idle_cpu:.1f} % · {idle_bytes} B"))
                for rate in (1, 10):
                    cpu = _cpu_with_writer(pid, str(path), rate, seconds, _cpu_seconds)
                    rows.append((f"console on {screen}: CPU with {rate} write/s", f"{cpu:.1f} %"))
                peak = _peak_rss(pid)
                rows.append((f"console on {screen}: peak RSS", f"{peak / 1024:.0f} MB"))
            finally:
                tmux.stop(name, pid)
    finally:
        tmux.close()
    return rows


def measure_scrolling(path: Path, pages: int = 5) -> list[tuple[str, str]]:
    """The slowest frame while scrolling Patterns from the top row to the bottom one.

    In this process, at 120x40: the cursor goes down every row of the first ``pages``
    pages (``down`` to the page's end, then ``]`` and ``ctrl+home`` on the next one), one key at
    a time, each key waited for until the screen is idle. A frame is one compositor pass
    of the screen (Textual's update timer: layout and the render of what changed); the
    slowest one and the slowest key are reported. A key's time runs from its press to the
    end of the first frame after the cursor moved: what the operator waits for. (Pilot's
    own wait after a press lasts until the whole process is idle, up to 3 s while the
    first reads run in worker threads, so it is not what a key costs.)
    """
    import asyncio

    from bench_ui import _until, timed

    from marianne_tui.app import MarianneApp
    from marianne_tui.screens.patterns import PAGE_SIZE, PatternsScreen
    from marianne_tui.widgets.live_table import LiveTable

    frames: list[float] = []  # frames of cursor moves
    flips: list[float] = []  # frames of page flips (a new page of rows is laid out)
    keys: list[float] = []
    painted_at: list[float] = []  # when each frame ended
    moved_at: list[float] = []  # when the cursor moved
    original = PatternsScreen._on_timer_update
    original_move = LiveTable.watch_cursor_coordinate
    timed_frame = timed(original, frames)

    def frame(*args: Any) -> Any:
        try:
            return timed_frame(*args)
        finally:
            painted_at.append(time.perf_counter())

    def moved(table: LiveTable, old: Any, new: Any) -> None:
        # Textual calls a watcher with as many arguments as it names: name all three.
        moved_at.append(time.perf_counter())
        original_move(table, old, new)

    # The screen's update timer binds the method when the screen is made: patch the class.
    PatternsScreen._on_timer_update = frame  # type: ignore[method-assign]
    LiveTable.watch_cursor_coordinate = moved  # type: ignore[method-assign]

    def seen(since: int) -> float | None:
        """When the first frame after the cursor's move number ``since`` ended."""
        if len(moved_at) <= since:
            return None
        return next((end for end in painted_at if end >= moved_at[since]), None)

    async def scroll() -> None:
        store = GlobalLearningStore(path, create=False)
        try:
            app = MarianneApp(store, refresh_seconds=3600)
            applied: list[float] = []
            app._apply = timed(app._apply, applied)  # type: ignore[method-assign]
            async with app.run_test(size=(120, 40)) as pilot:
                await _until(lambda: bool(applied), pilot, timeout=120)
                await pilot.pause()
                frames.clear()
                for page in range(pages):
                    if page:
                        applied.clear()
                        flipped = len(frames)
                        await pilot.press("right_square_bracket")
                        await _until(lambda: bool(applied), pilot, timeout=120)
                        # The table's top row (``home`` is its leftmost column: with it,
                        # the cursor stayed on the last row and every ``down`` was a no-op).
                        await pilot.press("ctrl+home")
                        await pilot.pause()
                        table = app.screen.query_one("#patterns-table", LiveTable)
                        if table.cursor_row != 0:
                            raise RuntimeError("the cursor is not on the page's first row")
                        flips.extend(frames[flipped:])
                        del frames[flipped:]
                    for _ in range(PAGE_SIZE - 1):
                        started, moves = time.perf_counter(), len(moved_at)
                        await pilot.press("down")
                        await pilot.pause()
                        while (painted := seen(moves)) is None:
                            if time.perf_counter() - started > 30:
                                raise RuntimeError("the cursor did not move")
                            await pilot.pause(0.002)
                        keys.append((painted - started) * 1000)
        finally:
            store.close()

    try:
        asyncio.run(scroll())
    finally:
        PatternsScreen._on_timer_update = original  # type: ignore[method-assign]
        LiveTable.watch_cursor_coordinate = original_move  # type: ignore[method-assign]
    if not frames:
        return [("Patterns scrolling", "no frame was painted")]
    painted = sorted(frame for frame in frames if frame >= 0.1)  # a tick that drew
    return [
        (f"Patterns: slowest frame scrolling {pages} pages top to bottom",
         f"{max(frames):.1f} ms on a row move (median of {len(painted)} painted "
         f"{painted[len(painted) // 2] if painted else 0:.1f} ms); "
         f"{max(flips, default=0):.1f} ms on a page flip"),
        ("Patterns: slowest key while scrolling (press to painted)",
         f"{max(keys):.1f} ms (median {sorted(keys)[len(keys) // 2]:.1f} ms)"),
    ]


def _settle(
    pid: int, since: float, since_cpu: float, quiet: float = 2.0, limit: float = 180.0
) -> tuple[float, float]:
    """Wait until the console has used under 2 % of a core for ``quiet`` seconds.

    A screen's first reads (at 100k patterns, the cold watch and drift reads: several
    seconds of CPU in worker threads) go on after its rows are painted; idle CPU measured
    while they run says nothing about idle. Returns (seconds since ``since`` until the
    quiet stretch began, CPU seconds the process used meanwhile).
    """
    from bench_ui import _cpu_seconds

    while time.perf_counter() - since < limit:
        began, cpu = time.perf_counter(), _cpu_seconds(pid)
        time.sleep(quiet)
        if _cpu_seconds(pid) - cpu < 0.02 * quiet:
            return began - since, cpu - since_cpu
    return time.perf_counter() - since, _cpu_seconds(pid) - since_cpu


def _idle(tmux: Any, name: str, pid: int, seconds: float, folder: Path) -> tuple[float, int]:
    from bench_ui import _cpu_seconds

    log = folder / f"{name}-terminal.bytes"
    tmux.run("pipe-pane", "-o", "-t", name, f"cat > {log}")
    time.sleep(0.2)
    cpu, wall = _cpu_seconds(pid), time.perf_counter()
    time.sleep(seconds)
    percent = 100 * (_cpu_seconds(pid) - cpu) / (time.perf_counter() - wall)
    tmux.run("pipe-pane", "-t", name)
    time.sleep(0.2)
    return percent, log.stat().st_size if log.exists() else -1


def _cpu_with_writer(
    pid: int, location: str, rate: int, seconds: float, cpu_seconds: Callable[[int], float]
) -> float:
    writer = _Writer(location)
    stop = threading.Event()

    def run() -> None:
        interval = 1.0 / rate
        next_write = time.monotonic()
        while not stop.is_set():
            writer.write(1)
            next_write += interval
            stop.wait(max(0.0, next_write - time.monotonic()))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        time.sleep(2.0)
        cpu, wall = cpu_seconds(pid), time.perf_counter()
        time.sleep(seconds)
        return 100 * (cpu_seconds(pid) - cpu) / (time.perf_counter() - wall)
    finally:
        stop.set()
        thread.join()
        writer.close()


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1


# ---------------------------------------------------------------------------------------
# Stores and the table
# ---------------------------------------------------------------------------------------


def cached_sqlite(cache: Path, sizes: tuple[int, int, int], seed: int) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"live-{sizes[0]}p-{sizes[1]}a-{sizes[2]}e-seed{seed}.db"
    if not path.exists():
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        started = time.perf_counter()
        generate_store(partial, patterns=sizes[0], applications=sizes[1],
                       executions=sizes[2], seed=seed)
        partial.rename(path)
        print(f"generated {path} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return path


#: First key of the session advisory lock a run holds while it builds a PostgreSQL copy
#: ("mtbb"; the store's own locks use "mtui" and the next key).
_BUILD_LOCK_CLASS = 0x6D746262
_READY_TABLE = "marianne_tui_bench_ready"


def cached_postgres(base_url: str, sizes: tuple[int, int, int], seed: int) -> str:
    """The URL of a ready PostgreSQL copy of this size and seed, built when there is none.

    Each build goes into a schema of its own (the size, the seed and the builder's pid),
    marked ready only once complete; a run uses the first ready one (the unsuffixed name
    of earlier runs too). Builders of one size take a session advisory lock first, so a
    second run waits for the first and uses its copy, and a copy that is not ready is
    dropped only by a run holding that lock: its builder is gone. An unsuffixed copy that
    is not ready (an earlier run's, which took no lock) is dropped only when no other
    session holds a lock on one of its tables.
    """
    from sqlalchemy import create_engine, text

    prefix = f"bench_live_{sizes[0]}_{sizes[1]}_{sizes[2]}_{seed}"
    engine = create_engine(base_url)
    try:
        with engine.connect() as session:
            session = session.execution_options(isolation_level="AUTOCOMMIT")
            ready = _ready_copy(session, prefix)
            if ready is not None:
                return _schema_url(base_url, ready)
            lock = text(f"SELECT pg_try_advisory_lock({_BUILD_LOCK_CLASS}, hashtext(:name))")
            if not session.execute(lock, {"name": prefix}).scalar_one():
                print(f"waiting for another run building {prefix}...", file=sys.stderr)
                session.execute(
                    text(f"SELECT pg_advisory_lock({_BUILD_LOCK_CLASS}, hashtext(:name))"),
                    {"name": prefix},
                )
            ready = _ready_copy(session, prefix)  # the run we waited for built one
            if ready is not None:
                return _schema_url(base_url, ready)
            _drop_unfinished_copies(session, prefix)
            schema = f"{prefix}_{os.getpid()}"
            session.exec_driver_sql(f"CREATE SCHEMA {schema}")
            started = time.perf_counter()
            url = _schema_url(base_url, schema)
            generate_store(url, patterns=sizes[0], applications=sizes[1],
                           executions=sizes[2], seed=seed)
            session.exec_driver_sql(f"CREATE TABLE {schema}.{_READY_TABLE} (x int)")
            print(f"generated PostgreSQL schema {schema} in "
                  f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
            return url  # the session's end releases the lock
    finally:
        engine.dispose()


def vacuum_postgres(url: str) -> None:
    """Vacuum the copy, as autovacuum will have in a store in service, before timing it.

    Each run records some 7,000 applications in the copy, and autovacuum leaves them for a
    long time (its insert threshold is a fifth of the table): their pages are not marked
    all-visible, and every index-only scan (the drift index's, the counts) visits them in
    the heap. Without this, the copy's reads get slower from one run to the next (after
    seven runs the indexed drift read fetched 30,000 of its 125,000 rows from the heap).
    """
    store = GlobalLearningStore(url)
    try:
        started = time.perf_counter()
        _vacuum_postgresql(store)
        print(f"vacuumed the PostgreSQL copy in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
    finally:
        store.close()


def _schema_url(base_url: str, schema: str) -> str:
    from urllib.parse import quote

    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}options={quote(f'-csearch_path={schema}')}"


def _copies(session: Any, prefix: str) -> list[tuple[str, bool]]:
    """(schema, ready) of every copy of this size and seed, by name."""
    from sqlalchemy import text

    return [(name, bool(ready)) for name, ready in session.execute(text(
        "SELECT nspname, to_regclass(quote_ident(nspname) || '." + _READY_TABLE + "') "
        "IS NOT NULL FROM pg_namespace WHERE nspname = :prefix "
        "OR nspname ~ ('^' || :prefix || '_[0-9]+$') ORDER BY nspname"
    ), {"prefix": prefix})]


def _ready_copy(session: Any, prefix: str) -> str | None:
    return next((name for name, ready in _copies(session, prefix) if ready), None)


def _drop_unfinished_copies(session: Any, prefix: str) -> None:
    """Drop the copies that are not ready; called with the builders' lock held."""
    from sqlalchemy import text

    for name, ready in _copies(session, prefix):
        if ready:
            continue
        if name == prefix:
            in_use = session.execute(text(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relnamespace = to_regnamespace(:name) AND l.pid <> pg_backend_pid()"
            ), {"name": name}).scalar_one()
            if in_use:
                raise SystemExit(f"{name} is being built by another run; try again later")
        session.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")


def _cell(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


#: The columns of each backend in the table, and of the ratios below it.
COLUMNS = ["cold", "indexed", "+1", "+10", "+100"]
#: How many times SQLite's time issue #7 allows PostgreSQL, read by read.
RATIO_LIMIT = 2.0


def ratios(backends: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """{read label: {column: PostgreSQL ms / SQLite ms}}, for the cells both backends have."""
    sqlite, postgres = backends.get("SQLite", {}), backends.get("PostgreSQL", {})
    found: dict[str, dict[str, float]] = {}
    for label, *_ in READS:
        for column in COLUMNS:
            ours = sqlite.get(label, {}).get(column)
            theirs = postgres.get(label, {}).get(column)
            if ours and theirs is not None:
                found.setdefault(label, {})[column] = theirs / ours
    return found


def _print_rows(table: list[list[str]]) -> list[int]:
    """Print ``table`` (its first row the header) as Markdown; returns the column widths."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for number, row in enumerate(table):
        print("| " + " | ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))) + " |")
        if number == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return widths


def print_table(
    sizes: tuple[int, int, int],
    backends: dict[str, dict[str, dict[str, float]]],
    marianne: dict[str, float],
    console: list[tuple[str, str]],
    *,
    cold_samples: int = COLD_SAMPLES,
    warm_samples: int = WARM_SAMPLES,
) -> None:
    columns = COLUMNS
    header = ["read (ms)"]
    for backend in backends:
        header += [f"{backend} {column}" for column in columns]
    header += ["loop", "loop/cold", "Marianne", "Marianne/cold"]
    labels = [label for label, *_ in READS] + ["add_drift_index() build"]
    marianne_names = {label: name for label, *_, name in READS}
    table: list[list[str]] = [header]
    for label in labels:
        line = [label]
        for results in backends.values():
            line += [_cell(results.get(label, {}).get(column)) for column in columns]
        sqlite = backends.get("SQLite", {}).get(label, {})
        loop, cold = sqlite.get("loop"), sqlite.get("cold")
        line += [_cell(loop), f"{loop / cold:.1f}x" if loop and cold else "—"]
        ours_name = marianne_names.get(label)
        theirs = marianne.get(ours_name) if ours_name else None
        line += [_cell(theirs), f"{theirs / cold:.1f}x" if theirs and cold else "—"]
        table.append(line)
    print(f"\nstore: {sizes[0]:,} patterns, {sizes[1]:,} applications, {sizes[2]:,} executions"
          " (benchmarks/generate_store.py)")
    if backends:
        print(f"cold, indexed: median of {cold_samples} new store objects; +1, +10, +100: "
              f"median of {warm_samples}, each after its own writes; the loops, the build "
              "and Marianne: one run")
    widths = _print_rows(table)
    for label, value in console:
        print(f"| {label.ljust(widths[0])} | {value} |")


def print_ratios(backends: dict[str, dict[str, dict[str, float]]]) -> None:
    """PostgreSQL / SQLite of every cell of the table, "!" where it is over ``RATIO_LIMIT``."""
    found = ratios(backends)
    if not found:
        return
    over = [(label, column) for label, cells in found.items()
            for column, ratio in cells.items() if ratio > RATIO_LIMIT]
    cells = sum(len(cells) for cells in found.values())
    print(f"\nPostgreSQL / SQLite, cell by cell (medians, unrounded; issue #7: at most "
          f"{RATIO_LIMIT:g}x; ! over it): {len(over)} of {cells} over")
    table = [["read", *COLUMNS]]
    for label, *_ in READS:
        row = found.get(label, {})
        table.append([label] + [
            "—" if column not in row else
            f"{row[column]:.1f}x" + (" !" if row[column] > RATIO_LIMIT else "  ")
            for column in COLUMNS])
    _print_rows(table)


def print_samples(backends: dict[str, Samples]) -> None:
    """Every sample behind the medians, in the order taken (``--samples``)."""
    print("\nsamples (ms, in the order taken):")
    for backend, samples in backends.items():
        for label, cells in samples.items():
            for column, values in cells.items():
                print(f"  {backend} {column} · {label}: "
                      + ", ".join(f"{value:.2f}" for value in values))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(".bench-cache"))
    parser.add_argument("--patterns", type=int, default=20_000)
    parser.add_argument("--applications", type=int, default=500_000)
    parser.add_argument("--executions", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", default=os.environ.get("MARIANNE_BENCH_POSTGRES_URL"),
                        help="a SQLAlchemy URL of a PostgreSQL database to use beside SQLite")
    parser.add_argument("--marianne-python", help="a Python that can import marianne")
    parser.add_argument("--no-loops", action="store_true", help="skip the per-pattern loops")
    parser.add_argument("--console", action="store_true", help="also time the console in tmux")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--screens", default="",
                        help="with --console: only these screens, comma-separated (Drift,...)")
    parser.add_argument("--no-reads", action="store_true",
                        help="leave out the store reads (with --console: only the console)")
    parser.add_argument("--cold-samples", type=int, default=COLD_SAMPLES,
                        help="new store objects behind each cold and indexed cell (median)")
    parser.add_argument("--warm-samples", type=int, default=WARM_SAMPLES,
                        help="repetitions behind each +1, +10, +100 cell (median)")
    parser.add_argument("--samples", action="store_true",
                        help="also print every sample behind the medians")
    options = parser.parse_args()
    sizes = (options.patterns, options.applications, options.executions)

    cached = cached_sqlite(options.cache, sizes, options.seed)
    backends: dict[str, dict[str, dict[str, float]]] = {}
    samples: dict[str, Samples] = {}
    counts = {"cold_samples": options.cold_samples, "warm_samples": options.warm_samples}
    marianne: dict[str, float] = {}
    console: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench_live_") as folder:
        copy = Path(folder) / cached.name
        shutil.copyfile(cached, copy)
        if options.marianne_python:
            marianne = measure_marianne(options.marianne_python, copy)
        if not options.no_reads:
            backends["SQLite"] = measure_backend(
                str(copy), not options.no_loops, samples.setdefault("SQLite", {}), **counts)
        if options.postgres and not options.no_reads:
            url = cached_postgres(options.postgres, sizes, options.seed)
            vacuum_postgres(url)
            backends["PostgreSQL"] = measure_backend(
                url, False, samples.setdefault("PostgreSQL", {}), **counts)
        if options.console:
            console_copy = Path(folder) / f"console-{cached.name}"
            shutil.copyfile(cached, console_copy)
            screens = tuple(name.strip() for name in options.screens.split(",") if name.strip())
            console = measure_console(console_copy, options.seconds, screens)
            console += measure_scrolling(console_copy)
    print_table(sizes, backends, marianne, console, **counts)
    print_ratios(backends)
    if options.samples:
        print_samples(samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
