"""The soak's other processes, run as ``python soak_processes.py writer|lock URL ...``.

writer URL SECONDS RATE PATTERN_ID...: records pattern applications through the store's
    API at RATE per second for SECONDS (exec ids ``soak-<n>``), on a schedule (call n is
    due at n/RATE s), then prints how many calls returned, the seconds it ran and the
    longest a single call took; and, on a second line, as JSON, the ``time.monotonic()``
    the schedule started and ended at and when each call began and returned.
lock URL SECONDS FLAG: holds the write lock on the patterns table for
    SECONDS (creates the file FLAG once it holds it, so the test never blocks waiting),
    then prints the ``time.monotonic()`` it took the lock at and let it go at.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from store import GlobalLearningStore, StoreError


def writer(url: str, seconds: float, rate: float, pattern_ids: list[str]) -> None:
    store = GlobalLearningStore(url)
    done = 0
    slowest = 0.0
    calls: list[tuple[float, float]] = []
    start = time.monotonic()
    while (now := time.monotonic()) - start < seconds:
        due = start + done / rate
        if due > now:
            time.sleep(due - now)
        began = time.monotonic()
        store.record_pattern_application(
            pattern_ids[done % len(pattern_ids)], f"soak-{done}", done % 3 != 0
        )
        returned = time.monotonic()
        slowest = max(slowest, returned - began)
        calls.append((round(began, 5), round(returned, 5)))
        done += 1
    end = time.monotonic()
    store.close()
    print(f"{done} {end - start:.3f} {slowest:.3f}", flush=True)
    print(json.dumps({"start": start, "end": end, "calls": calls}), flush=True)


def lock(url: str, seconds: float, flag: str) -> None:
    store = GlobalLearningStore(url)
    # One table only: a second lock taken while holding the first could deadlock with
    # the writer. Tried again until it is held (the writer may hold it for a moment).
    statement = ("UPDATE patterns SET priority_score = priority_score"
                 if store.dialect == "sqlite" else "LOCK TABLE patterns IN EXCLUSIVE MODE")
    while True:
        try:
            with store.batch_connection() as conn:
                conn.execute(statement)
                held = time.monotonic()
                Path(flag).touch()
                time.sleep(seconds)
            released = time.monotonic()
            break
        except StoreError:
            if Path(flag).exists():
                raise
            time.sleep(0.05)
    store.close()
    print(f"{held} {released}", flush=True)


if __name__ == "__main__":
    role, target = sys.argv[1], sys.argv[2]
    if role == "writer":
        writer(target, float(sys.argv[3]), float(sys.argv[4]), sys.argv[5:])
    else:
        lock(target, float(sys.argv[3]), sys.argv[4])
