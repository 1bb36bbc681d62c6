"""Time the console itself on a store of 20,000 patterns: start-up, refresh cost, idle cost.

    .venv/bin/python benchmarks/bench_ui.py                          # cache in /tmp/bench_ui_cache
    .venv/bin/python benchmarks/bench_ui.py --cache DIR --patterns 20000 --runs 5 --changes 20
    .venv/bin/python benchmarks/bench_ui.py --idle-seconds 10        # a shorter idle window

Needs tmux (and Linux's /proc for the CPU figure). The store is filled by
``bench_console.build`` (bulk inserts of 20,000 patterns plus escalations, budget, entropy and
rate-limit rows) once and kept in the cache folder; every run works on a copy of it, so
the cached file is never changed.

1. Start-up: ``python -m marianne_tui --db STORE`` in a detached tmux session (on its own
   tmux socket) at 120x40 and 80x24; ``tmux capture-pane -p`` every 20 ms until the
   Patterns status line ("shown of") is on the screen. Measured from just before
   ``tmux new-session``, so it includes Python's start, the imports and the first read.
   One unmeasured run first warms the OS page cache. For reference: a Python that only
   imports the console, and the in-process figure, from ``App.run_test()`` (store
   already open) to the end of the first applied fetch.
2. A change made by another connection (a second ``GlobalLearningStore`` quarantines one
   pattern on the shown page), picked up by the console's own poll worker (started with
   ``request_refresh()``; the timer is set to an hour so it never fires on its own).
   Timed by wrapping, in this process only: the worker's probe (``change_token``),
   ``store_overview`` and the screen's ``fetch``; on the UI thread ``app._apply``,
   ``PatternsScreen.apply`` and ``LiveTable.apply``, and the compositor pass that paints
   the result (headless, so no terminal write). Also page flips (``]``/``[``), which
   replace all 200 rows (a rebuild; rows that only reorder move in place, see
   ``bench_live_table.py``).
3. Idle: the console in tmux at 120x40 with the default 2 s refresh, nothing changing.
   After a 5 s warm-up, process CPU time (utime + stime of all its threads, from
   /proc/PID/stat) over 30 s, and the bytes the console wrote to the terminal in that time
   (``tmux pipe-pane``).

This is a measurement, not a test: it asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_console import build  # the sibling script, found through sys.path

from store import GlobalLearningStore, PatternAction, PatternQuery

STATUS_MARK = "shown of"  # the Patterns status line: "20,000 shown of 20,000 · rows 1–200"
POLL_SECONDS = 0.02
START_TIMEOUT = 60.0


# ---------------------------------------------------------------------------------------
# Store
# ---------------------------------------------------------------------------------------


def cached_store(cache: Path, patterns: int) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"console-{patterns}p.db"
    if path.exists():
        print(f"reusing {path}")
        return path
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    store = GlobalLearningStore(partial)
    try:
        seconds = build(store, patterns)
    finally:
        store.close()
    partial.rename(path)
    print(f"generated {path} ({patterns:,} patterns) in {seconds:.1f} s")
    return path


@contextmanager
def working_copy(path: Path) -> Iterator[Path]:
    """A scratch copy: quarantining patterns must not change the cached store."""
    with tempfile.TemporaryDirectory(prefix="bench_ui_") as folder:
        copy = Path(folder) / path.name
        shutil.copyfile(path, copy)
        yield copy


# ---------------------------------------------------------------------------------------
# tmux
# ---------------------------------------------------------------------------------------


class Tmux:
    """Sessions on a private tmux server (its own socket), killed on the way out."""

    def __init__(self) -> None:
        self.socket = f"bench_ui_{os.getpid()}"
        self.pids: set[int] = set()
        self.socket_path: Path | None = None

    def run(self, *args: str, check: bool = True) -> str:
        # -f /dev/null: no user configuration changes what is measured.
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True, text=True, check=check,
        )
        return done.stdout

    def open(self) -> None:
        # Without exit-empty off the server quits with its last session, and a session
        # started right then can race its shutdown.
        self.run("start-server", ";", "set-option", "-g", "exit-empty", "off")

    def start(self, name: str, size: tuple[int, int], command: list[str]) -> int:
        width, height = size
        # Several arguments after the options: tmux runs the command without a shell.
        self.run("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height),
                 *command)
        pid = int(self.run("display-message", "-p", "-t", name, "#{pane_pid}").strip())
        if self.socket_path is None:
            self.socket_path = Path(
                self.run("display-message", "-p", "-t", name, "#{socket_path}").strip())
        self.pids.add(pid)
        return pid

    def screen(self, name: str) -> str:
        return self.run("capture-pane", "-p", "-t", name, check=False)

    def stop(self, name: str, pid: int) -> None:
        self.run("kill-session", "-t", name, check=False)  # SIGHUP to the console
        if not _wait_gone(pid, 5.0):
            _kill(pid, signal.SIGKILL)
            _wait_gone(pid, 2.0)
        self.pids.discard(pid)

    def close(self) -> None:
        for pid in list(self.pids):
            _kill(pid, signal.SIGKILL)
        self.run("kill-server", check=False)
        if self.socket_path is not None:  # tmux leaves its socket file behind
            self.socket_path.unlink(missing_ok=True)


def _kill(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":  # exited; tmux reaps it
            return True
        time.sleep(0.02)
    return False


def console_command(store: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "marianne_tui", "--db", str(store), *extra]


def compile_console() -> None:
    """Byte-compile the console's own packages, as its first start on a user's machine does.

    With ``PYTHONDONTWRITEBYTECODE`` set (this workplace's shells set it) nothing writes
    ``__pycache__`` for an editable install, so every timed start would compile ~30 modules
    from source: ~0.3 s of CPU that a user pays once, not on each start.
    """
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(root / "marianne_tui"),
                    str(root / "store")], check=True, stdout=subprocess.DEVNULL)


def startup_in_tmux(tmux: Tmux, store: Path, size: tuple[int, int], runs: int) -> list[float]:
    """Seconds from `tmux new-session` to the painted status line, one per run."""
    timings = []
    for number in range(runs + 1):  # run 0 warms the page cache and is not counted
        name = f"start{size[0]}x{size[1]}_{number}"
        started = time.perf_counter()
        pid = tmux.start(name, size, console_command(store))
        try:
            while STATUS_MARK not in tmux.screen(name):
                if time.perf_counter() - started > START_TIMEOUT:
                    raise RuntimeError(f"no {STATUS_MARK!r} after {START_TIMEOUT:.0f} s:\n"
                                       + tmux.screen(name))
                time.sleep(POLL_SECONDS)
            elapsed = time.perf_counter() - started
        finally:
            tmux.stop(name, pid)
        if number:
            timings.append(elapsed)
    return timings


def imports_only(runs: int) -> list[float]:
    """Seconds for a Python that only imports the console and exits: start-up's floor."""
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import marianne_tui.app"], check=True)
        timings.append(time.perf_counter() - started)
    return timings


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the ")": state is field 3, so utime (14) and stime (15) are at 11 and 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_in_tmux(
    tmux: Tmux, store: Path, warmup: float, seconds: float, folder: Path
) -> tuple[float, int, int]:
    """(% of one core, bytes written to the terminal, bytes written during start-up)."""
    name = "idle"
    log = folder / "idle-terminal.bytes"
    startup_log = folder / "startup-terminal.bytes"
    pid = tmux.start(name, (120, 40), console_command(store))
    try:
        tmux.run("pipe-pane", "-o", "-t", name, f"cat > {startup_log}")
        started = time.perf_counter()
        while STATUS_MARK not in tmux.screen(name):
            if time.perf_counter() - started > START_TIMEOUT:
                raise RuntimeError("the console did not start")
            time.sleep(POLL_SECONDS)
        time.sleep(warmup)
        tmux.run("pipe-pane", "-t", name)  # close the start-up pipe
        time.sleep(0.2)
        tmux.run("pipe-pane", "-o", "-t", name, f"cat > {log}")
        time.sleep(0.2)  # let the pipe's `cat` start before the window opens
        cpu_before, wall_before = _cpu_seconds(pid), time.perf_counter()
        time.sleep(seconds)
        cpu_after, wall_after = _cpu_seconds(pid), time.perf_counter()
        tmux.run("pipe-pane", "-t", name)
        time.sleep(0.2)
    finally:
        tmux.stop(name, pid)
    percent = 100 * (cpu_after - cpu_before) / (wall_after - wall_before)
    size = log.stat().st_size if log.exists() else -1
    startup_size = startup_log.stat().st_size if startup_log.exists() else -1
    return percent, size, startup_size


# ---------------------------------------------------------------------------------------
# In process
# ---------------------------------------------------------------------------------------


def timed(function: Callable[..., Any], into: list[float]) -> Callable[..., Any]:
    """``function``, appending each call's duration (ms) to ``into``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            into.append((time.perf_counter() - started) * 1000)

    return wrapper


async def _until(condition: Callable[[], bool], pilot: Any, timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise RuntimeError("timed out waiting for the console")
        await pilot.pause(0.002)


async def startup_in_process(store_path: Path, runs: int) -> list[float]:
    """ms from entering App.run_test() (store already open) to the first applied fetch."""
    from marianne_tui.app import MarianneApp

    timings = []
    for _ in range(runs):
        store = GlobalLearningStore(store_path, create=False)
        try:
            app = MarianneApp(store)
            applied: list[float] = []
            app._apply = timed(app._apply, applied)  # type: ignore[method-assign]
            started = time.perf_counter()
            async with app.run_test(size=(120, 40)) as pilot:
                await _until(lambda applied=applied: bool(applied), pilot)
                timings.append((time.perf_counter() - started) * 1000)
        finally:
            store.close()
    return timings


async def refresh_costs(store_path: Path, changes: int) -> dict[str, list[float]]:
    """Per-phase ms for `changes` quarantines and as many page flips."""
    from marianne_tui.app import MarianneApp
    from marianne_tui.screens.patterns import PAGE_SIZE, PatternsScreen

    # Compositor passes (layout + render of dirty regions) of the Patterns screen. The
    # screen's update timer binds the method when it is created, so patch the class first.
    paints: list[float] = []
    layouts: list[float] = []
    original_paint = PatternsScreen._on_timer_update
    original_layout = PatternsScreen._refresh_layout
    PatternsScreen._on_timer_update = timed(original_paint, paints)  # type: ignore[method-assign]
    PatternsScreen._refresh_layout = timed(original_layout, layouts)  # type: ignore[method-assign]

    store = GlobalLearningStore(store_path, create=False)
    writer = GlobalLearningStore(store_path, create=False)  # "another process"
    times: dict[str, list[float]] = {key: [] for key in (
        "probe", "overview", "fetch", "app_apply", "screen_apply", "table_apply", "paint",
        "paint_passes", "layout", "flip_fetch", "flip_app_apply", "flip_table_apply",
        "flip_paint", "flip_layout", "latency")}
    try:
        # An hour: the timer never fires; request_refresh() starts the same worker it would.
        app = MarianneApp(store, refresh_seconds=3600)
        fetches: list[float] = []
        probes: list[float] = []
        overviews: list[float] = []
        applies: list[float] = []
        screen_applies: list[float] = []
        table_applies: list[float] = []
        store.change_token = timed(store.change_token, probes)  # type: ignore[method-assign]
        store.store_overview = timed(store.store_overview, overviews)  # type: ignore[method-assign]
        app._apply = timed(app._apply, applies)  # type: ignore[method-assign]
        async with app.run_test(size=(120, 40)) as pilot:
            await _until(lambda: bool(applies), pilot)
            screen = app.screen
            assert isinstance(screen, PatternsScreen)
            screen.fetch = timed(screen.fetch, fetches)  # type: ignore[method-assign]
            screen.apply = timed(screen.apply, screen_applies)  # type: ignore[method-assign]
            table = screen.table
            table.apply = timed(table.apply, table_applies)  # type: ignore[method-assign]
            await pilot.pause()

            shown = store.query_patterns(PatternQuery(limit=PAGE_SIZE)).rows
            targets = [row.id for row in shown if row.status != "quarantined"][:changes]

            async def one_refresh(change: Callable[[], None]) -> float:
                for bucket in (probes, overviews, fetches, applies, screen_applies,
                               table_applies, paints, layouts):
                    bucket.clear()
                started = time.perf_counter()
                change()
                await _until(lambda: bool(applies), pilot)
                latency = (time.perf_counter() - started) * 1000
                await pilot.pause()  # let the compositor paint the change
                await pilot.pause()
                return latency

            for pattern_id in targets:

                def quarantine(pattern_id: str = pattern_id) -> None:
                    writer.apply_pattern_action(pattern_id, PatternAction.QUARANTINE,
                                                reason="bench_ui")
                    app.request_refresh()  # what the poll timer would do on its next tick

                latency = await one_refresh(quarantine)
                assert table.cursor_key is not None
                times["latency"].append(latency)
                times["probe"].append(probes[-1])
                times["overview"].append(overviews[-1])
                times["fetch"].append(fetches[-1])
                times["app_apply"].append(applies[-1])
                times["screen_apply"].append(screen_applies[-1])
                times["table_apply"].append(table_applies[-1])
                times["paint"].append(sum(paints))
                times["paint_passes"].append(len(paints))
                times["layout"].append(sum(layouts))

            for number in range(changes):
                key = "right_square_bracket" if number % 2 == 0 else "left_square_bracket"
                for bucket in (fetches, applies, table_applies, paints, layouts):
                    bucket.clear()
                await pilot.press(key)
                await _until(lambda: bool(applies), pilot)
                await pilot.pause()
                await pilot.pause()
                times["flip_fetch"].append(fetches[-1])
                times["flip_app_apply"].append(applies[-1])
                times["flip_table_apply"].append(table_applies[-1])
                times["flip_paint"].append(sum(paints))
                times["flip_layout"].append(sum(layouts))
    finally:
        PatternsScreen._on_timer_update = original_paint  # type: ignore[method-assign]
        PatternsScreen._refresh_layout = original_layout  # type: ignore[method-assign]
        writer.close()
        store.close()
    return times


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


def _row(label: str, values: list[float], unit: str) -> None:
    print(f"  {label:<58} {statistics.median(values):>9.1f} {min(values):>9.1f} "
          f"{max(values):>9.1f}  {unit}  (n={len(values)})")


def _header(title: str) -> None:
    print(f"\n{title}")
    print(f"  {'':<58} {'median':>9} {'min':>9} {'max':>9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/bench_ui_cache"))
    parser.add_argument("--patterns", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5, help="start-ups per terminal size")
    parser.add_argument("--changes", type=int, default=20, help="refreshes to time")
    parser.add_argument("--warmup", type=float, default=5.0, help="idle warm-up, seconds")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    options = parser.parse_args()

    if shutil.which("tmux") is None:
        raise SystemExit("bench_ui: tmux is needed")
    cached = cached_store(options.cache, options.patterns)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
          f"console: {' '.join(console_command(cached))}")

    compile_console()
    tmux = Tmux()
    try:
        tmux.open()
        with working_copy(cached) as store:
            starts = {size: startup_in_tmux(tmux, store, size, options.runs)
                      for size in ((120, 40), (80, 24))}
            imports = imports_only(options.runs)
            in_process = asyncio.run(startup_in_process(store, options.runs))
            refresh = asyncio.run(refresh_costs(store, options.changes))
            idle_percent, idle_bytes, startup_bytes = idle_in_tmux(
                tmux, store, options.warmup, options.idle_seconds, store.parent)
    finally:
        tmux.close()

    _header(f"1. start-up to the painted Patterns screen ({options.patterns:,} patterns)")
    for (width, height), values in starts.items():
        _row(f"process start -> status line painted, tmux {width}x{height}",
             [v * 1000 for v in values], "ms")
    _row("python -c 'import marianne_tui.app' (start + imports only)",
         [v * 1000 for v in imports], "ms")
    _row("in process: App.run_test() -> first fetch applied, 120x40", in_process, "ms")

    _header("2. one change by another connection (quarantine), 120x40, 200-row page")
    _row("worker: change_token probe", refresh["probe"], "ms")
    _row("worker: store_overview", refresh["overview"], "ms")
    _row("worker: screen fetch (query_patterns + pattern_types)", refresh["fetch"], "ms")
    _row("UI thread: app._apply (header + screen apply)", refresh["app_apply"], "ms")
    _row("UI thread:   PatternsScreen.apply (cells + status)", refresh["screen_apply"], "ms")
    _row("UI thread:     LiveTable.apply (in-place diff)", refresh["table_apply"], "ms")
    _row("UI thread: compositor passes painting it (headless)", refresh["paint"], "ms")
    _row("UI thread:   of which layout (_refresh_layout)", refresh["layout"], "ms")
    _row("  number of compositor passes", refresh["paint_passes"], "")
    _row("commit -> applied (request_refresh, worker, apply)", refresh["latency"], "ms")
    print("  page flip ] / [ (all 200 rows replaced: a rebuild):")
    _row("worker: screen fetch", refresh["flip_fetch"], "ms")
    _row("UI thread: app._apply", refresh["flip_app_apply"], "ms")
    _row("UI thread:   LiveTable.apply (rebuild)", refresh["flip_table_apply"], "ms")
    _row("UI thread: compositor passes painting it (headless)", refresh["flip_paint"], "ms")
    _row("UI thread:   of which layout (_refresh_layout)", refresh["flip_layout"], "ms")

    print(f"\n3. idle, tmux 120x40, refresh 2 s, {options.warmup:g} s warm-up, "
          f"{options.idle_seconds:g} s window")
    print(f"  CPU: {idle_percent:.2f} % of one core")
    print(f"  bytes written to the terminal while idle: {idle_bytes:,}"
          f"  (start-up + warm-up wrote {startup_bytes:,})")


if __name__ == "__main__":
    main()
