"""LiveTable alone: what one ``apply()`` costs on the UI thread when a page's rows change.

    .venv/bin/python benchmarks/bench_live_table.py                 # 200 rows, 30 runs a case
    .venv/bin/python benchmarks/bench_live_table.py --rows 500 --runs 50

No store: a headless app (``App.run_test()``, 120x40) holds one LiveTable with ten fixed-width
columns, like the Patterns page, filled with ``--rows`` synthetic rows, the cursor on row 10.
Each case then applies ``--runs`` refreshes:

* **unchanged**: the same rows (the idle console's refresh);
* **5 moved**: five rows taken out and put back elsewhere (a sort by a score that a writer
  keeps changing);
* **shuffled**: every row somewhere else;
* **1 in, 1 out**: one row leaves, a new one arrives at a random place;
* **new page**: every row new (a page flip, filter or sort: the rebuild).

For each it prints the median and the largest ``apply()`` (wall time), the median UI-thread
CPU (``time.thread_time``) from the call to the end of the ``pilot.pause()`` after it (the
measuring on idle and the compositor pass that paints the result), and the UI-thread CPU of
the frames (one compositor pass of the screen each) of the case: median and slowest. As the
console does after its first paint, the heap is frozen (``gc.freeze()``) after the first
fill, so that a full collection does not walk what start-up made. This is a measurement,
not a test: it asserts nothing about timings. The 2-core machine is shared: run it twice.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.screen import Screen

from marianne_tui.widgets.live_table import Column, LiveTable, Row

WIDTHS = (9, 6, 4, 5, 5, 7, 5, 28, 13, 10)
COLUMNS = tuple(Column(f"c{i}", f"c{i}", width) for i, width in enumerate(WIDTHS))


def make_row(n: int) -> Row:
    return Row(f"p{n}", tuple(
        Text(f"pattern name {n}" if column == 7 else f"{column}:{n}", end="")
        for column in range(len(COLUMNS))))


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LiveTable(COLUMNS)


def _frames_into(frames: list[float]) -> Callable[[], None]:
    """Append the UI-thread CPU (s) of each compositor pass of a screen made from now on
    to ``frames``; returns the undo. (The update timer binds the method when the screen
    is made: the class is patched.)"""
    original = Screen._on_timer_update

    def timed(self: Screen[Any]) -> None:
        started = time.thread_time()
        try:
            original(self)
        finally:
            frames.append(time.thread_time() - started)

    Screen._on_timer_update = timed  # type: ignore[method-assign]

    def undo() -> None:
        Screen._on_timer_update = original  # type: ignore[method-assign]

    return undo


async def measure(
    rows_count: int, runs: int, seed: int
) -> dict[str, tuple[float, float, float, float, float]]:
    rng = random.Random(seed)
    fresh = iter(range(rows_count, 10**9))
    app = TableApp()
    results: dict[str, tuple[float, float, float, float, float]] = {}
    frames: list[float] = []
    undo = _frames_into(frames)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(LiveTable)
        table.focus()
        rows = [make_row(n) for n in range(rows_count)]
        table.apply(rows)
        await pilot.pause()
        await pilot.pause()
        table.move_cursor(row=10)
        await pilot.pause()
        gc.collect()
        gc.freeze()

        def moved() -> None:
            for _ in range(5):
                row = rows.pop(rng.randrange(len(rows)))
                rows.insert(rng.randrange(len(rows) + 1), row)

        def one_in_one_out() -> None:
            rows.pop(rng.randrange(len(rows)))
            rows.insert(rng.randrange(len(rows) + 1), make_row(next(fresh)))

        def new_page() -> None:
            rows[:] = [make_row(next(fresh)) for _ in range(rows_count)]

        cases: dict[str, Callable[[], None]] = {
            "unchanged": lambda: None,
            "5 moved": moved,
            "shuffled": lambda: rng.shuffle(rows),
            "1 in, 1 out": one_in_one_out,
            "new page": new_page,
        }
        for name, change in cases.items():
            applies, cpus = [], []
            frames.clear()
            for _ in range(runs):
                change()
                cpu, start = time.thread_time(), time.perf_counter()
                table.apply(list(rows))
                applies.append(time.perf_counter() - start)
                await pilot.pause()
                cpus.append(time.thread_time() - cpu)
                assert table.row_keys_in_order == tuple(row.key for row in rows)
            painted = [frame for frame in frames if frame > 0.0001] or [0.0]  # ticks that drew
            results[name] = (statistics.median(applies), max(applies), statistics.median(cpus),
                             statistics.median(painted), max(painted))
    undo()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200, help="rows on the page")
    parser.add_argument("--runs", type=int, default=30, help="refreshes per case")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    results = asyncio.run(measure(args.rows, args.runs, args.seed))
    print(f"LiveTable.apply, {args.rows} rows x {len(COLUMNS)} columns, 120x40, "
          f"{args.runs} runs a case (ms)")
    print(f"  {'case':12s} {'apply median':>13s} {'apply max':>10s} {'UI CPU to next frame':>21s}"
          f" {'frame CPU median':>17s} {'frame CPU max':>14s}")
    for name, (median, largest, cpu, frame, slowest) in results.items():
        print(f"  {name:12s} {median * 1000:13.2f} {largest * 1000:10.2f} {cpu * 1000:21.1f}"
              f" {frame * 1000:17.1f} {slowest * 1000:14.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
