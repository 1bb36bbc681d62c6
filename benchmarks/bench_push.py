"""How long a console on PostgreSQL takes to show a row another store instance commits.

    source .ci/postgres.sh && pg_start
    .venv/bin/python benchmarks/bench_push.py "$MARIANNE_TEST_POSTGRES_URL" [--rounds 30]
    pg_stop

A headless console (read-only, its timer poll set to an hour so that only the change push can
refresh it) watches the Patterns screen; a second store instance commits one pattern per
round; the time from the end of that commit to the moment the row is in the console's table
is the refresh latency. Also printed: the store-level latency, commit to ``wait_for_change``
returning, without the console.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
import uuid

from sqlalchemy import create_engine

from marianne_tui.app import MarianneApp
from marianne_tui.widgets.live_table import LiveTable
from store import GlobalLearningStore


def _fresh_schema(base: str) -> str:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine.dispose()
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}"


def _summary(label: str, millis: list[float]) -> str:
    ordered = sorted(millis)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return (
        f"{label}: median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, "
        f"max {ordered[-1]:.1f} ms over {len(ordered)} commits"
    )


def store_latency(url: str, rounds: int) -> list[float]:
    writer = GlobalLearningStore(url)
    reader = GlobalLearningStore(url, read_only=True, create=False)
    reader.wait_for_change(0.1)  # opens the LISTEN session
    latencies = []
    for number in range(rounds):
        woke: list[float] = []

        def wait(woke: list[float] = woke) -> None:
            if reader.wait_for_change(10):
                woke.append(time.perf_counter())

        thread = threading.Thread(target=wait)
        thread.start()
        time.sleep(0.05)
        writer.record_pattern("bench", f"store round {number}")
        committed = time.perf_counter()
        thread.join()
        latencies.append((woke[0] - committed) * 1000)
    reader.close()
    writer.close()
    return latencies


async def console_latency(url: str, rounds: int) -> list[float]:
    writer = GlobalLearningStore(url)
    console = GlobalLearningStore(url, read_only=True, create=False)
    app = MarianneApp(console, poll=True, refresh_seconds=3600)
    latencies = []
    async with app.run_test(size=(120, 40)):
        table = app.screen.query_one("#patterns-table", LiveTable)
        while not console.change_push_active:
            await asyncio.sleep(0.05)
        for number in range(rounds):
            await asyncio.sleep(0.2)
            pattern_id = writer.record_pattern("bench", f"console round {number}")
            committed = time.perf_counter()
            while pattern_id not in table.row_keys_in_order:
                await asyncio.sleep(0.002)
            latencies.append((time.perf_counter() - committed) * 1000)
    console.close()
    writer.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="a PostgreSQL server's SQLAlchemy URL")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    url = _fresh_schema(args.url)
    print(_summary("store: commit -> wait_for_change()", store_latency(url, args.rounds)))
    millis = asyncio.run(console_latency(url, args.rounds))
    print(_summary("console: commit -> row on screen", millis))


if __name__ == "__main__":
    main()
