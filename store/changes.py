"""The change probe: one cheap number that moves whenever anyone commits to the store.

A console polls it every couple of seconds and reads the screen's data only when it moved.
On PostgreSQL it can also be woken: ``wait_for_change()`` returns as soon as any host commits
(LISTEN/NOTIFY, see ``store.push``), so that polling is only the fallback.
``ChangeProbe`` owns everything the probe keeps between calls (its SQLite connection, the
lock around it, the generation that survives ``close()``, the PostgreSQL revision state),
so that no other part of the store holds probe state.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection

from store.base import GlobalLearningStoreBase
from store.push import ChangeListener
from store.revision import read_revision

__all__ = ["ChangeProbe", "ChangesMixin"]


class ChangeProbe:
    """The probe's state and its two ways of reading a revision (SQLite, PostgreSQL)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        #: bumped on every reopen: a reopened connection restarts data_version
        self._generation = 0
        #: PostgreSQL: the revision state last read, and how many states were seen
        self._postgresql_state: tuple[Any, ...] | None = None
        self._postgresql_token = 0

    def sqlite_token(self, connect: Callable[[], sqlite3.Connection]) -> int:
        """``PRAGMA data_version`` on one kept-open connection (microseconds).

        That counter moves only for commits by *other* connections; the store's own writes
        go through its pool, never through this connection, so they count too.
        """
        with self._lock:
            if self._connection is None:
                self._connection = connect()
                # The generation keeps the token from repeating an old value after close().
                self._generation += 1
            version = self._connection.execute("PRAGMA data_version").fetchone()[0]
            return self._generation << 32 | int(version)

    def postgresql_token(
        self, connection: Callable[[], AbstractContextManager[Connection]]
    ) -> int:
        """A counter that moves whenever the store's revision state does (``store.revision``).

        The state itself is a tuple (a sequence value and the open transactions that bumped
        it, or an older source), so the token is this probe's count of the distinct states
        it has seen in a row: never an earlier value again. ``connection`` is the store's
        own, so a failure arrives as a store error.
        """
        with connection() as conn:
            state = read_revision(conn)
        with self._lock:
            if state != self._postgresql_state:
                self._postgresql_state = state
                self._postgresql_token += 1
            return self._postgresql_token

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


class ChangesMixin(GlobalLearningStoreBase):
    """``change_token()``, and the probe released with the store's other connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Before the base opens the store: a failed open may already call close().
        self._changes = ChangeProbe()
        self._push_lock = threading.Lock()
        self._push: ChangeListener | None = None
        super().__init__(*args, **kwargs)

    @property
    def change_push_available(self) -> bool:
        """True where commits are pushed (PostgreSQL): ``wait_for_change`` can wake early."""
        return self.is_postgresql

    @property
    def change_push_active(self) -> bool:
        """True while a push session is listening (False before the first wait, or after a
        lost connection until the next wait reconnects): poll at the normal pace then."""
        listener = self._push
        return listener is not None and listener.listening

    def wait_for_change(self, timeout: float) -> bool:
        """Block until another commit is notified (True) or ``timeout`` seconds pass (False).

        Never raises for connection trouble; on SQLite, which has no push, it just waits.
        Meant for one watcher thread; ``close()`` ends a wait within half a second.
        """
        if not self.change_push_available:
            time.sleep(timeout)
            return False
        with self._push_lock:
            if self._push is None:
                self._push = ChangeListener(self._engine)
            listener = self._push
        return listener.wait(timeout)

    def change_token(self) -> int:
        """A number that changes whenever any connection commits a write to the store."""
        if self.is_postgresql:
            return self._changes.postgresql_token(self._reads_connection)
        # Opened as the store's own connections are: same URI, immutable view, query_only.
        return self._changes.sqlite_token(self._connect_sqlite)

    def close(self) -> None:
        """Release pooled connections and the change probe; the store stays usable."""
        self._changes.close()
        with self._push_lock:
            listener, self._push = self._push, None
        if listener is not None:
            listener.close()
        super().close()
