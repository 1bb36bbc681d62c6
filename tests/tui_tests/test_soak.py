"""Soak: the console next to a busy conductor, on SQLite and PostgreSQL.

A separate writer process records pattern applications through the store's API at 250 a
second; the console polls every 0.5 s while Pilot triages patterns and records escalation
outcomes; in the middle a third process holds the write lock for 3 s. Afterwards every
write the writer made is in the store, the journal holds the console's actions in the
order they were taken, the file is intact, and the UI thread was never blocked for long.

CI runs it for SOAK_SECONDS (8 s); ``MARIANNE_SOAK_SECONDS=60`` runs the full length. The
figures (writes per second, lost writes, the longest UI-thread block and the longest lock
wait shown to the operator) are printed, and written as JSON to ``$MARIANNE_SOAK_REPORT``
when that is set.

The writes per second over the whole run include the 3 s in which the store lets nobody
write, and the calls still owed when the run ends; in an 8 s run they say more about when
the lock fell than about the writer. So the report also gives the writer's rate outside
the lock, before it, and while catching up after it (flat out: the calls fell due during
the lock), and says on a line of its own whether the writer kept to WRITER_TARGET a second
whenever the store let it write (see :func:`writer_phases`).

The UI-thread block is measured by a 20 ms heartbeat timer on the UI loop: its longest gap
(wall time), and how much of that gap the UI thread actually ran (its CPU time,
``time.thread_time``). The two tell a UI thread busy with work (a screen's first compose, a
table rebuild: CPU close to the gap) from a process the machine did not schedule (CPU far
below the gap). Profiled on the shared 2-core machine (load 5-6), the long gaps, 0.6-1.4 s,
came after the lock holder let go, when the writer catches up flat out: the UI thread ran
for 0.1-0.25 s of them and the whole process, a 10 ms watchdog thread included, got no CPU
for the rest; the process used 3.4 s of CPU in 10 s, 3.2 s of it on the UI thread, so it was
not waiting for the GIL either. Hence the loose assertion (2.5 s): it fails only for a real
freeze, a store write on the UI thread during the 3 s lock, which blocks for the whole lock.
The measured figures are what the report gives.

What the UI thread did in its longest blocks: ``MARIANNE_SOAK_STACKS=path`` (see
:class:`BlockSampler`). Sampled on main after compose-ahead (load 2-5), the longest were the
Patterns table painting a page whose rows had mostly moved (every visible cell rendered
again, 0.07-0.13 s of UI-thread CPU), then a confirmation dialog's first frame (the
dialog and the tinted screen under it, 0.05-0.09 s), then a screen composed ahead
(0.03-0.07 s). In a 60 s run full garbage collections, which grew with every footer
rebuild until the footer let its old keys go, added up to 0.1 s to them.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fault_helpers import wait_until
from sqlalchemy import event

from marianne_tui.app import MarianneApp
from marianne_tui.modals.confirm import ConfirmScreen
from marianne_tui.modals.outcome import OutcomeScreen
from marianne_tui.screens.escalations import EscalationsScreen
from marianne_tui.screens.patterns import PatternsScreen
from marianne_tui.widgets.live_table import LiveTable
from store import GlobalLearningStore, JournalSubject

SOAK_SECONDS = float(os.environ.get("MARIANNE_SOAK_SECONDS", "8"))
WRITES_PER_SECOND = 250.0
LOCK_SECONDS = 3.0
PROCESSES = Path(__file__).with_name("soak_processes.py")
#: Generous on purpose (see the module docstring); the measured figure is reported.
UI_BLOCK_LIMIT_SECONDS = 2.5
#: The rate of issue #8: the report says whether the writer held it outside the lock.
WRITER_TARGET = 200.0
#: A phase shorter than this is reported but not judged (too few calls to give a rate).
SHORTEST_PHASE_SECONDS = 0.5


class Heartbeat:
    """A 20 ms timer on the UI loop: the longest gap between beats, and the UI thread's CPU
    time in that gap and at most between two beats."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        """From now: the app's start-up before the timer runs is not a gap."""
        self.last = time.monotonic()
        self.last_cpu = time.thread_time()
        self.longest_gap = 0.0
        self.cpu_in_longest_gap = 0.0
        self.longest_cpu = 0.0
        self.worst_at = self.last

    def beat(self) -> None:
        now, cpu = time.monotonic(), time.thread_time()
        if now - self.last > self.longest_gap:
            self.longest_gap = now - self.last
            self.cpu_in_longest_gap = cpu - self.last_cpu
            self.worst_at = now
        self.longest_cpu = max(self.longest_cpu, cpu - self.last_cpu)
        self.last, self.last_cpu = now, cpu


class BlockSampler:
    """``MARIANNE_SOAK_STACKS=path``: what the UI thread was doing in its long blocks.

    A watchdog thread samples the UI thread's stack (``sys._current_frames``) every 5 ms;
    when a beat comes more than LATE_SECONDS after the one before, the block (its length,
    the UI thread's CPU in it and how much of that went to garbage collections, the
    samples since the last beat) is kept; the longest TOP
    (by CPU) are written to ``path`` as a JSON line, each with its sampled stacks.
    Diagnosis only: the soak's figures and assertions do not depend on it.
    """

    LATE_SECONDS = 0.06
    TOP = 12
    SHOW_SELF = frozenset({"render_lines", "_on_compose", "_compose", "_on_screen_resume",
                           "refresh_css", "_post_mount", "update_styles"})

    def __init__(self, heartbeat: Heartbeat, path: str) -> None:
        self.heartbeat, self.path = heartbeat, path
        self.ui_thread = threading.get_ident()
        self.blocks: list[dict[str, Any]] = []
        #: UI-thread CPU spent in garbage collections since the start ([total], read by
        #: the watchdog: a collection holds the GIL, so no stack shows it)
        self.gc_cpu = [0.0]
        self._gc_started = 0.0
        gc.callbacks.append(self._on_gc)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _stack(self) -> tuple[str, ...]:
        frame = sys._current_frames().get(self.ui_thread)
        names = []
        while frame is not None:
            code = frame.f_code
            name = f"{Path(code.co_filename).name}:{code.co_name}"
            if code.co_name in self.SHOW_SELF:  # which widget or screen
                name += f"[{type(frame.f_locals.get('self')).__name__}]"
            names.append(f"{name}:{frame.f_lineno}")
            frame = frame.f_back
        return tuple(reversed(names))

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if threading.get_ident() != self.ui_thread:
            return
        if phase == "start":
            self._gc_started = time.thread_time()
        else:
            self.gc_cpu[0] += time.thread_time() - self._gc_started

    def _watch(self) -> None:
        # Sampled from the last beat on (the block's start is seen too); kept if it is late.
        clock = time.pthread_getcpuclockid(self.ui_thread)
        samples: list[tuple[str, ...]] = []
        last_seen, cpu_at_beat = self.heartbeat.last, time.clock_gettime(clock)
        gc_at_beat = self.gc_cpu[0]
        while not self._stop.wait(0.005):
            beat, cpu, gc_cpu = self.heartbeat.last, time.clock_gettime(clock), self.gc_cpu[0]
            if beat != last_seen:  # a beat came: the block (if any) has ended
                gap = beat - last_seen
                if gap > self.LATE_SECONDS:
                    self.blocks.append({"gap": gap, "cpu": cpu - cpu_at_beat,
                                        "gc": gc_cpu - gc_at_beat, "samples": samples})
                samples, last_seen, cpu_at_beat, gc_at_beat = [], beat, cpu, gc_cpu
            samples.append(self._stack())

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        gc.callbacks.remove(self._on_gc)
        worst = sorted(self.blocks, key=lambda block: -block["cpu"])[: self.TOP]
        out = []
        for block in worst:
            out.append({"gap_seconds": round(block["gap"], 3),
                        "cpu_seconds": round(block["cpu"], 3),
                        "gc_cpu_seconds": round(block["gc"], 3),
                        "stacks": [list(stack) for stack in block["samples"]]})
        with open(self.path, "a", encoding="utf-8") as report:
            report.write(json.dumps(out) + "\n")


def _rate(calls: int, seconds: float) -> float | None:
    return round(calls / seconds, 1) if seconds > 0 else None


def writer_phases(
    start: float,
    end: float,
    calls: list[tuple[float, float]],
    rate: float,
    held: float | None,
    released: float | None,
    seconds: float = SOAK_SECONDS,
) -> dict[str, Any]:
    """The writer's rate in each phase of its run (all times ``time.monotonic()``).

    ``calls`` are (began, returned) of each call, in order; call n was due at
    ``start + n / rate``, and no call begins after ``start + seconds``. The lock window is
    [held, released], clipped to the run. Phases: before the lock (on schedule unless the
    writer cannot keep up), catching up (from the release until the first call the writer
    had to wait for, or the end of the run), and after catching up. A call is counted in
    the phase it returned in. The ceiling is what a writer whose calls took no time would
    show over the whole run with the lock where it fell: every call due by the end, or,
    when the lock was still held at the end, the calls due before it, over a run that
    lasts until the release.
    """
    returned = [r for _, r in calls]

    def returned_in(a: float, b: float) -> int:
        return sum(1 for r in returned if a < r <= b)

    figures: dict[str, Any] = {}
    scheduled_end = start + seconds
    if held is not None and released is not None and held < scheduled_end < released:
        ceiling = _rate(math.floor((held - start) * rate) + 1, released - start)
    else:
        ceiling = _rate(math.floor(seconds * rate) + 1, seconds)
    figures["writes_per_second_ceiling"] = ceiling
    if held is None or released is None or held >= end or released <= start:
        figures["writes_per_second_outside_lock"] = _rate(len(calls), end - start)
        return figures
    held, released = max(held, start), min(released, end)
    outside = (end - start) - (released - held)
    figures["writes_per_second_outside_lock"] = _rate(
        len(calls) - returned_in(held, released), outside
    )
    figures["writes_per_second_before_lock"] = _rate(returned_in(start, held), held - start)
    due_by_release = math.floor((released - start) * rate) + 1
    figures["calls_behind_at_release"] = max(
        0, due_by_release - sum(1 for r in returned if r <= released)
    )
    # Caught up: a call after the release that began only when it fell due, i.e. the one
    # before it returned before then (the writer slept).
    caught_up = None
    for n in range(1, len(calls)):
        if returned[n - 1] >= released and start + n / rate > returned[n - 1]:
            caught_up = calls[n][0]
            break
    catch_up_end = caught_up if caught_up is not None else end
    figures["catch_up_seconds"] = (
        round(caught_up - released, 3) if caught_up is not None else None
    )
    figures["catch_up_writes_per_second"] = _rate(
        returned_in(released, catch_up_end), catch_up_end - released
    )
    figures["writes_per_second_after_catch_up"] = (
        _rate(returned_in(caught_up, end), end - caught_up) if caught_up is not None else None
    )
    judged = [
        figures[name]
        for name, seconds in (
            ("writes_per_second_before_lock", held - start),
            ("catch_up_writes_per_second", catch_up_end - released),
            ("writes_per_second_after_catch_up",
             end - caught_up if caught_up is not None else 0.0),
        )
        if seconds >= SHORTEST_PHASE_SECONDS and figures[name] is not None
    ]
    figures["lowest_phase_writes_per_second"] = min(judged) if judged else None
    return figures


def _build(url: str) -> tuple[list[str], list[str], list[str]]:
    """Writer patterns, console patterns, awaiting escalations."""
    store = GlobalLearningStore(url)
    writer = [store.record_pattern("retry_pattern", f"busy writer {n}") for n in range(5)]
    # Enough for every turn of the run: a full-length run makes ~2 actions a second.
    console = [store.record_pattern("validation_failure", f"triage me {n:03d}")
               for n in range(max(60, int(SOAK_SECONDS * 3)))]
    escalations = [
        store.record_escalation_decision(f"job-{n}", n, 0.4, "retry", 50.0, 1)
        for n in range(max(30, int(SOAK_SECONDS)))
    ]
    store.close()
    return writer, console, escalations


def _applications(store: GlobalLearningStore) -> int:
    with store._get_connection() as conn:
        row = conn.execute(
            "SELECT COUNT(*) AS n FROM pattern_applications WHERE execution_id LIKE 'soak-%'"
        ).fetchone()
    return int(row["n"])


async def _triage(app: MarianneApp, pilot: Any, pattern_id: str, key: str) -> None:
    table = app.screen.query_one("#patterns-table", LiveTable)
    await wait_until(pilot, lambda: pattern_id in table.row_keys_in_order, "the pattern", 30)
    assert table.select_key(pattern_id)
    await pilot.press(key)
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dialog", 30)
    await pilot.press("y")
    await wait_until(pilot, lambda: not app.store_calls.writing
                     and isinstance(app.screen, PatternsScreen), "the commit", 60)


async def _outcome(app: MarianneApp, pilot: Any, escalation_id: str) -> None:
    table = app.screen.query_one("#esc-table", LiveTable)
    await wait_until(pilot, lambda: escalation_id in table.row_keys_in_order, "the row", 30)
    assert table.select_key(escalation_id)
    await pilot.press("o")
    await wait_until(pilot, lambda: isinstance(app.screen, OutcomeScreen), "the dialog", 30)
    await pilot.press("s", *"soak", "enter")
    await wait_until(pilot, lambda: not app.store_calls.writing
                     and isinstance(app.screen, EscalationsScreen), "the commit", 60)


def _count_connections_on_this_thread(store: GlobalLearningStore) -> list[int]:
    """A counter (one-element list) of the store connections taken on the calling thread
    from now on: every pool checkout, and every call of the SQLite change probe."""
    thread = threading.get_ident()
    count = [0]

    def seen(*_: Any) -> None:
        if threading.get_ident() == thread:
            count[0] += 1

    event.listen(store._engine, "checkout", seen)
    probe = store.change_token

    def change_token() -> int:
        seen()
        return probe()

    store.change_token = change_token  # type: ignore[method-assign]
    return count


async def test_soak(store_url: str, tmp_path: Path) -> None:
    writer_ids, console_ids, escalation_ids = _build(store_url)
    writer = subprocess.Popen(
        [sys.executable, str(PROCESSES), "writer", store_url, str(SOAK_SECONDS),
         str(WRITES_PER_SECOND), *writer_ids],
        stdout=subprocess.PIPE, text=True,
    )
    store = GlobalLearningStore(store_url, busy_timeout=1.0)
    on_ui_thread = _count_connections_on_this_thread(store)
    app = MarianneApp(store, refresh_seconds=0.5)
    heartbeat = Heartbeat()
    actions: list[tuple[str, str]] = []
    lock_holder: subprocess.Popen[str] | None = None
    started = time.monotonic()
    async with app.run_test(size=(120, 40)) as pilot:
        app.set_interval(0.02, heartbeat.beat)
        heartbeat.start()
        stacks = os.environ.get("MARIANNE_SOAK_STACKS")
        sampler = BlockSampler(heartbeat, stacks) if stacks else None
        patterns = iter(console_ids)
        escalations = iter(escalation_ids)
        keys = iter(["v", "x", "v", "x"] * 100)

        async def hold_the_lock_midway() -> float:
            """Start the lock holder halfway through the run, whatever action is under way
            then (on a loaded machine one action can take several seconds: checked between
            actions, the lock could miss a short run altogether)."""
            nonlocal lock_holder
            await asyncio.sleep(max(0.0, started + SOAK_SECONDS / 2 - 1 - time.monotonic()))
            flag = tmp_path / "locked"
            lock_holder = subprocess.Popen(
                [sys.executable, str(PROCESSES), "lock", store_url, str(LOCK_SECONDS),
                 str(flag)],
                stdout=subprocess.PIPE, text=True,
            )
            # Polled: waiting here must not block the UI loop the heartbeat measures.
            deadline = time.monotonic() + 30
            while not flag.exists():
                assert time.monotonic() < deadline, "the lock holder did not start"
                await asyncio.sleep(0.02)
            return time.monotonic()

        locking = asyncio.create_task(hold_the_lock_midway())
        turn = 0
        while time.monotonic() - started < SOAK_SECONDS or not locking.done():
            if turn % 4 == 3:
                await pilot.press("4")
                await wait_until(pilot, lambda: isinstance(app.screen, EscalationsScreen),
                                 "screen 4")
                escalation = next(escalations)
                await _outcome(app, pilot, escalation)
                actions.append((escalation, "success"))
                await pilot.press("1")
                await wait_until(pilot, lambda: isinstance(app.screen, PatternsScreen),
                                 "screen 1")
            else:
                pattern, key = next(patterns), next(keys)
                await _triage(app, pilot, pattern, key)
                actions.append((pattern, {"v": "validate", "x": "retire"}[key]))
            turn += 1
        lock_started = await locking
        # Before the test's own blocking waits.
        longest_ui_block = heartbeat.longest_gap
        ui_thread_connections = on_ui_thread[0]
        ui_cpu_in_longest_block = heartbeat.cpu_in_longest_gap
        longest_ui_cpu = heartbeat.longest_cpu
        if sampler is not None:
            sampler.close()
        held: float | None = None
        released: float | None = None
        if lock_holder is not None:
            lock_out, _ = lock_holder.communicate(timeout=30)
            held, released = (float(value) for value in lock_out.split())
        assert writer.stdout is not None
        written, writer_seconds, slowest_write = writer.stdout.readline().split()
        timeline = json.loads(writer.stdout.readline())
        writer.wait(timeout=30)
        longest_busy = app.store_calls.longest_busy_notice
        longest_wait = app.store_calls.longest_write_wait
        assert app.return_code is None

    in_store = _applications(store)
    journal = [
        (entry.target_id, entry.action)
        for entry in reversed(store.journal(limit=1000))
        if entry.target_kind in (JournalSubject.PATTERN, JournalSubject.ESCALATION)
    ]
    store.close()
    integrity = "ok (PostgreSQL)"
    if "://" not in store_url:
        check = sqlite3.connect(store_url)
        integrity = check.execute("PRAGMA integrity_check").fetchone()[0]
        check.close()

    figures: dict[str, Any] = {
        "backend": "postgresql" if "://" in store_url else "sqlite",
        "store_connections_taken_on_the_ui_thread": ui_thread_connections,
        "seconds": SOAK_SECONDS,
        "writes": int(written),
        "writes_per_second": round(int(written) / float(writer_seconds), 1),
        "writes_in_store": in_store,
        "writes_lost": int(written) - in_store,
        "slowest_writer_call_seconds": float(slowest_write),
        "console_actions": len(actions),
        "lock_held_seconds": LOCK_SECONDS,
        "longest_ui_block_seconds": round(longest_ui_block, 3),
        "ui_thread_cpu_in_longest_block_seconds": round(ui_cpu_in_longest_block, 3),
        "longest_ui_thread_cpu_between_beats_seconds": round(longest_ui_cpu, 3),
        "longest_console_write_wait_seconds": round(longest_wait, 3),
        "longest_busy_notice_seconds": round(longest_busy, 3),
        "integrity_check": integrity,
        "worst_gap_at_seconds": round(heartbeat.worst_at - started, 2),
        "lock_at_seconds": round(lock_started - started, 2),
    }
    writer_start = float(timeline["start"])
    figures |= writer_phases(
        writer_start, float(timeline["end"]),
        [(float(began), float(ended)) for began, ended in timeline["calls"]],
        WRITES_PER_SECOND, held, released,
    )
    if held is not None and released is not None:
        figures["lock_in_writer_run_seconds"] = [
            round(held - writer_start, 2), round(released - writer_start, 2)
        ]
    lowest = figures.get("lowest_phase_writes_per_second")
    figures["writer_held_target_outside_lock"] = lowest is not None and lowest >= WRITER_TARGET
    print("SOAK", json.dumps(figures))
    print(
        f"SOAK writer ({figures['backend']}): {figures['writes_per_second']} writes/s over "
        f"the run (at most {figures['writes_per_second_ceiling']}/s with the lock where it "
        f"fell), {figures['writes_per_second_outside_lock']}/s outside the lock; "
        f"before it {figures.get('writes_per_second_before_lock')}/s, catching up "
        f"{figures.get('catch_up_writes_per_second')}/s "
        f"({figures.get('calls_behind_at_release')} calls behind at the release, caught up "
        f"in {figures.get('catch_up_seconds')} s), after "
        f"{figures.get('writes_per_second_after_catch_up')}/s; lock held "
        f"{figures.get('lock_in_writer_run_seconds')} s into the writer's "
        f"{float(writer_seconds):.1f} s"
    )
    if figures["writer_held_target_outside_lock"]:
        print(f"SOAK writer held >= {WRITER_TARGET:g} writes/s whenever the store let it "
              f"write (lowest phase {lowest}/s)")
    if report := os.environ.get("MARIANNE_SOAK_REPORT"):
        with open(report, "a", encoding="utf-8") as out:
            out.write(json.dumps(figures) + "\n")

    assert in_store == int(written)
    assert journal == actions
    assert integrity in ("ok", "ok (PostgreSQL)")
    assert longest_ui_block < UI_BLOCK_LIMIT_SECONDS, json.dumps(figures)
    # The UI thread never waits on the database: no connection of the console's store
    # (pooled, or its change probe's) was taken on it during the soak.
    assert ui_thread_connections == 0, json.dumps(figures)


def test_writer_phases_tell_the_lock_and_the_catch_up_apart() -> None:
    """A made-up run: 100 calls/s due for 4 s, nothing returns while the lock is held
    (1 s to 2 s), then the writer runs flat out at 400/s until it is back on schedule."""
    rate, calls, now, n = 100.0, [], 0.0, 0
    while now < 4.0:
        due = n / rate
        if 1.0 <= max(now, due) < 2.0:
            now = 2.0  # the call that meets the lock returns when it is let go
        elif due > now:
            now = due  # on schedule: the writer waits for the call to fall due
        began = now
        now += 0.0025 if due < began else 0.001
        calls.append((began, now))
        n += 1
    figures = writer_phases(0.0, 4.0, calls, rate, held=1.0, released=2.0, seconds=4.0)
    assert figures["writes_per_second_ceiling"] == pytest.approx(100, abs=1)
    assert figures["writes_per_second_before_lock"] == pytest.approx(100, abs=2)
    assert figures["calls_behind_at_release"] == pytest.approx(100, abs=2)
    assert figures["catch_up_writes_per_second"] == pytest.approx(400, abs=10)
    assert figures["catch_up_seconds"] == pytest.approx(100 / 300, abs=0.02)
    assert figures["writes_per_second_after_catch_up"] == pytest.approx(100, abs=2)
    assert figures["writes_per_second_outside_lock"] == pytest.approx(n / 3.0, abs=1)
    assert figures["lowest_phase_writes_per_second"] == pytest.approx(100, abs=2)


def test_the_ceiling_of_a_run_whose_lock_outlasts_it() -> None:
    """Held from 5 s to 8.5 s of an 8 s run at 250/s: the calls due before 5 s, over 8.5 s."""
    calls = [(n / 250, n / 250 + 0.001) for n in range(1250)] + [(5.0, 8.5)]
    figures = writer_phases(0.0, 8.5, calls, 250.0, held=5.0, released=8.5, seconds=8.0)
    assert figures["writes_per_second_ceiling"] == pytest.approx(1251 / 8.5, abs=0.1)
    assert figures["writes_per_second_before_lock"] == pytest.approx(250, abs=1)
