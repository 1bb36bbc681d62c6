"""Fixtures and helpers shared by every test: stores on each backend, a fixed clock,
Marianne's files, and the rows of a table exactly as stored."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from marianne_tui.demo import FixedClock
from store import GlobalLearningStore

REPO = Path(__file__).resolve().parents[1]
#: ../shared beside the clone (CI always has it; a user's clone may not).
SHARED = Path(os.environ.get("MARIANNE_SHARED_DIR", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures"
POSTGRES_URL_VARIABLE = "MARIANNE_TEST_POSTGRES_URL"


#: Where the tests' clock starts (a quarter second past noon, so that sub-second storage shows).
TEST_NOW = datetime(2026, 11, 25, 12, 0, 0, 250000)


class FrozenClock(FixedClock):
    """The demo's stopped clock, starting at TEST_NOW unless told otherwise."""

    def __init__(self, now: datetime | None = None) -> None:
        super().__init__(now or TEST_NOW)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def _postgres_base_url() -> str | None:
    return os.environ.get(POSTGRES_URL_VARIABLE) or None


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store location on each backend.

    PostgreSQL tests skip with a reason when no server URL is set, except in CI
    (``CI=true``), where a missing server is a failure.
    """
    if request.param == "sqlite":
        yield str(tmp_path / "store.db")
        return
    with fresh_postgres_schema() as url:
        yield url


def postgres_base_url_or_skip() -> str:
    """The test server's URL; skips without one, except in CI (``CI=true``), where it fails."""
    base = _postgres_base_url()
    if base is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {POSTGRES_URL_VARIABLE} is not set")
        pytest.skip(f"PostgreSQL: set {POSTGRES_URL_VARIABLE} to run (see .ci/postgres.sh)")
    return base


@contextmanager
def fresh_postgres_schema(prefix: str = "t") -> Iterator[str]:
    """The URL of a fresh, empty schema on the test server, dropped afterwards.

    Skips (or fails in CI) without a server, as ``postgres_base_url_or_skip``. The engine
    that drops the schema pings its connection first: a test may have restarted the server.
    """
    import sqlalchemy

    base = postgres_base_url_or_skip()
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(base, pool_pre_ping=True)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        engine.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema, for the tests of PostgreSQL alone."""
    with fresh_postgres_schema("p") as fresh:
        yield fresh


@pytest.fixture
def pg_admin(pg_url: str) -> Iterator[Any]:
    """An engine of its own on ``pg_url``: what another session does, by hand."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(pg_url)
    yield engine
    engine.dispose()


def wait_for_a_lock_wait(admin: Any, table: str) -> None:
    """Until some session of the test server waits for a lock on ``table`` (an engine on
    it, ``admin``); fails after 30 s."""
    deadline = time.monotonic() + 30
    with admin.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_locks WHERE NOT granted "
                f"AND relation = to_regclass('{table}')"
            ).scalar_one()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError(f"nobody waited for {table}")


@pytest.fixture
def store(store_url: str, clock: FrozenClock) -> Iterator[GlobalLearningStore]:
    """An empty store on SQLite and on PostgreSQL, with a frozen clock."""
    opened = GlobalLearningStore(store_url, clock=clock)
    yield opened
    opened.close()


@pytest.fixture
def sqlite_store(tmp_path: Path, clock: FrozenClock) -> Iterator[GlobalLearningStore]:
    """An empty SQLite store only (for SQLite-specific behaviour)."""
    opened = GlobalLearningStore(tmp_path / "store.db", clock=clock)
    yield opened
    opened.close()


def fixture_copy(name: str, destination: Path) -> Path:
    """A writable copy of one of Marianne's fixture files; skips when shared/ is absent."""
    source = FIXTURES / name
    if not source.exists():
        pytest.skip(f"{source} not found (../shared is not beside this clone)")
    target = destination / name
    shutil.copyfile(source, target)
    target.chmod(0o644)
    return target


@pytest.fixture
def small_fixture(tmp_path: Path) -> Path:
    """A copy of marianne-v15-small.db: 200 patterns, hostile text, every table filled."""
    return fixture_copy("marianne-v15-small.db", tmp_path)


@pytest.fixture
def empty_fixture(tmp_path: Path) -> Path:
    """A copy of marianne-v15-empty.db: a fresh v15 store made by Marianne."""
    return fixture_copy("marianne-v15-empty.db", tmp_path)


def raw_rows(store: GlobalLearningStore, table: str) -> list[dict[str, Any]]:
    """Rows exactly as stored: sqlite3 on the file, or the driver without column types."""
    if store.dialect == "sqlite":
        with closing(sqlite3.connect(store.db_path)) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(f"SELECT * FROM {table}")]
    with store._engine.connect() as conn:
        return [dict(row._mapping) for row in conn.exec_driver_sql(f"SELECT * FROM {table}")]
