"""Change push on PostgreSQL: wake a console the moment any host commits to the store.

The statement-level triggers that bump the store's revision (``store.revision``) also send
``NOTIFY marianne_tui_changes``; PostgreSQL delivers it when the writing transaction
commits, to every session listening on the channel, whichever host it runs on.
:class:`ChangeListener` keeps one such session: :meth:`ChangeListener.wait` blocks until a
notification arrives (True) or the timeout passes (False). A console runs it in a thread
of its own and reads the store when woken, polling only as a fallback.

It never raises for a lost or refused connection: it waits out the timeout and returns
False, so the caller's fallback poll goes on, and it reconnects on the next call.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from sqlalchemy import Engine

__all__ = ["CHANNEL", "ChangeListener"]

#: The channel the revision triggers notify, one per database. The payload names the
#: store's schema (quoted as ``quote_ident`` does), so that a commit to a store in another
#: schema of the same database wakes nobody here; an older trigger sends ``''``, which
#: wakes every listener, as it always did.
CHANNEL = "marianne_tui_changes"


class ChangeListener:
    """One dedicated ``LISTEN`` session on a PostgreSQL store, outside the engine's pool."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._connection: Any = None
        self._closed = False
        #: whether the store's revision triggers notify (an older trigger, or none, does not)
        self._notified = False
        #: the payloads that are this store's: its schema, and the older triggers' ''
        self._ours: frozenset[str] = frozenset({""})

    @property
    def listening(self) -> bool:
        """True while a LISTEN session is open on a store whose triggers notify (both are
        found out by the first wait)."""
        return self._connection is not None and self._notified and not self._closed

    def _listening(self) -> Any:
        if self._connection is None:
            pooled = self._engine.raw_connection()
            driver = pooled.driver_connection
            assert driver is not None
            # Detached, the session stays ours for good and the pool opens another.
            pooled.detach()
            driver.rollback()
            driver.autocommit = True
            driver.execute(f"LISTEN {CHANNEL}")
            source, schema = driver.execute(
                "SELECT (SELECT prosrc FROM pg_proc "
                "WHERE oid = to_regproc('marianne_tui_bump_revision')), "
                "quote_ident(current_schema())"
            ).fetchone()
            self._notified = source is not None and "pg_notify" in str(source)
            self._ours = frozenset({"", str(schema)})
            self._connection = driver
        return self._connection

    def wait(self, timeout: float) -> bool:
        """True as soon as a change is notified; False after ``timeout`` seconds without."""
        deadline = time.monotonic() + timeout
        with self._lock:
            try:
                while not self._closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    connection = self._listening()
                    # Short slices, so that close() is honoured within half a second.
                    slice_ = min(remaining, 0.5)
                    woken = any(note.payload in self._ours
                                for note in connection.notifies(timeout=slice_, stop_after=1))
                    if woken:
                        # Commits in a burst arrive as several notifications: take the
                        # ones already here, so that one read answers for them.
                        for _more in connection.notifies(timeout=0):
                            pass
                        return True
                self._discard()
                return False
            except Exception:  # the server went away, or refused us: fall back to polling
                self._discard()
        time.sleep(max(0.0, deadline - time.monotonic()))
        return False

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def close(self) -> None:
        """Stop listening; a waiting :meth:`wait` returns within its timeout."""
        self._closed = True
        if self._lock.acquire(timeout=0):
            try:
                self._discard()
            finally:
                self._lock.release()
