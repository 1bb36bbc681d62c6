"""What the fault tests share: waiting for a condition, a process that holds the write lock,
and a private PostgreSQL server a test may stop and start again."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

#: A sqlite3 process that takes the write lock, says so, and keeps it until stdin closes.
_HOLD_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
connection.execute("ROLLBACK")
"""


async def wait_until(
    pilot: Any, predicate: Callable[[], bool], what: str, timeout: float = 20.0
) -> None:
    """Let the app run until ``predicate()`` holds (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for: {what}")
        await pilot.pause(0.05)


def notes(app: Any) -> list[str]:
    return [notification.message for notification in app._notifications]


async def wait_for_note(pilot: Any, app: Any, text: str) -> None:
    """Wait for a toast containing ``text``: ``notify`` only posts a message, the toast
    exists once the app has handled it, which may be after the call that sent it ended."""
    await wait_until(pilot, lambda: any(text in note for note in notes(app)),
                     f"a toast saying {text!r}")


@contextmanager
def write_lock_held(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holds ``path``'s write lock (BEGIN IMMEDIATE) inside the block."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        holder.wait(timeout=10)


class PrivateServer:
    """A throwaway PostgreSQL cluster on a Unix socket, for one test to stop and start."""

    def __init__(self) -> None:
        if not os.environ.get("MARIANNE_TEST_POSTGRES_URL"):
            pytest.skip("PostgreSQL tests need MARIANNE_TEST_POSTGRES_URL (.ci/postgres.sh)")
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not bins or not shutil.which("su"):
            pytest.skip("no PostgreSQL server binaries here")
        self.bin = bins[-1].parent
        self.root = Path(tempfile.mkdtemp(prefix="marianne-pgfault."))
        self.data = self.root / "data"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self.root.chmod(0o700)
        self._run(f"'{self.bin}/initdb' -D '{self.data}' -U postgres --auth=trust "
                  "--locale=C.UTF-8 -E UTF8")

    def url(self, password: str | None = None) -> str:
        user = f"postgres:{password}" if password else "postgres"
        return f"postgresql+psycopg://{user}@/postgres?host={self.root}"

    def _run(self, command: str) -> None:
        full = ["su", "-s", "/bin/sh", "postgres", "-c", command] if os.geteuid() == 0 \
            else ["sh", "-c", command]
        done = subprocess.run(full, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            pytest.skip(f"cannot run a private PostgreSQL server: {done.stderr.strip()[:200]}")

    def start(self) -> None:
        options = (f"-c listen_addresses='' -c unix_socket_directories='{self.root}' "
                   "-c fsync=off")
        self._run(f"'{self.bin}/pg_ctl' -D '{self.data}' -l '{self.root}/log' -w "
                  f"-o \"{options}\" start")

    def stop(self) -> None:
        self._run(f"'{self.bin}/pg_ctl' -D '{self.data}' -m fast -w stop")

    def remove(self) -> None:
        subprocess.run(
            ["su", "-s", "/bin/sh", "postgres", "-c",
             f"'{self.bin}/pg_ctl' -D '{self.data}' -m immediate -w stop"]
            if os.geteuid() == 0 else
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
            capture_output=True, timeout=60,
        )
        shutil.rmtree(self.root, ignore_errors=True)
