"""Faults a live store meets: a lock held too long, a refused write, a bad value, a schema
it must not write, a PostgreSQL server that goes away and comes back.

Every error the store lets out must be catchable both as the driver's own exception (what
Marianne's callers catch) and as a ``StoreError`` (what the console catches), and its chain
of causes and contexts must end: Rich renders a looping chain forever.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    POSTGRES_URL_VARIABLE,
    FrozenClock,
    fresh_postgres_schema,
    postgres_base_url_or_skip,
)

from store import (
    GlobalLearningStore,
    ReadOnlyStoreError,
    SchemaError,
    StoreBusyError,
    StoreDatabaseError,
    StoreOpenError,
    StoreUnavailableError,
)
from store.base import redact

PASSWORD = "Pw-4-redaction-test"


def links(error: BaseException) -> list[BaseException]:
    return [linked for linked in (error.__cause__, error.__context__) if linked is not None]


def assert_chain_ends(error: BaseException) -> None:
    """Walk every ``__cause__``/``__context__`` link; no path may come back to itself.

    Also walks the chain the way a traceback renderer does (the cause, else an unsuppressed
    context) and checks it visits no exception twice.
    """
    on_path: list[int] = []

    def visit(current: BaseException, depth: int) -> None:
        assert id(current) not in on_path, f"cause chain loops at {type(current).__name__}"
        assert depth < 50, "cause chain does not end"
        on_path.append(id(current))
        for linked in links(current):
            visit(linked, depth + 1)
        on_path.pop()

    visit(error, 0)

    rendered: list[int] = []
    current: BaseException | None = error
    while current is not None:
        assert id(current) not in rendered, "the rendered chain revisits an exception"
        rendered.append(id(current))
        if current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None


def raised_by(call: Callable[[], object]) -> BaseException:
    with pytest.raises(Exception) as caught:
        call()
    return caught.value


# -- SQLite --------------------------------------------------------------------------------


@pytest.fixture
def holder_of_the_write_lock(sqlite_store: GlobalLearningStore) -> Iterator[sqlite3.Connection]:
    """Another process's connection, inside BEGIN IMMEDIATE until the test ends."""
    other = sqlite3.connect(str(sqlite_store.db_path), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    yield other
    other.close()


def test_a_lock_held_past_the_busy_timeout_is_store_busy(
    tmp_path: Path, holder_of_the_write_lock: sqlite3.Connection
) -> None:
    store = GlobalLearningStore(tmp_path / "store.db", busy_timeout=0.05, clock=FrozenClock())
    try:
        assert store.busy_timeout == 0.05
        error = raised_by(lambda: store.record_pattern("validation_failure", "locked out"))
        assert isinstance(error, StoreBusyError)
        assert isinstance(error, sqlite3.OperationalError)
        assert "database is locked" in str(error)
        assert isinstance(error.__cause__, sqlite3.OperationalError)
        assert_chain_ends(error)

        holder_of_the_write_lock.rollback()
        pattern_id = store.record_pattern("validation_failure", "locked out")
        assert [record.id for record in store.get_patterns(min_priority=0)] == [pattern_id]
    finally:
        store.close()


def test_the_busy_timeout_defaults_to_thirty_seconds(sqlite_store: GlobalLearningStore) -> None:
    assert sqlite_store.busy_timeout == 30.0
    with sqlite_store._connection() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 30000


def test_a_lock_inside_a_batch_is_store_busy_too(
    tmp_path: Path, holder_of_the_write_lock: sqlite3.Connection
) -> None:
    store = GlobalLearningStore(tmp_path / "store.db", busy_timeout=0.05, clock=FrozenClock())
    try:
        def batched() -> None:
            with store.batch_connection():
                store.record_pattern("validation_failure", "in a batch")

        error = raised_by(batched)
        assert isinstance(error, StoreBusyError) and isinstance(error, sqlite3.OperationalError)
        assert_chain_ends(error)
    finally:
        store.close()


def test_a_raw_driver_error_is_translated_the_same_way(
    sqlite_store: GlobalLearningStore, holder_of_the_write_lock: sqlite3.Connection
) -> None:
    """For code holding a raw DBAPI connection (Marianne's ``_get_connection``)."""
    raw = sqlite3.connect(str(sqlite_store.db_path), timeout=0, isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError) as locked:
            raw.execute("BEGIN IMMEDIATE")
    finally:
        raw.close()
    driver_error = locked.value
    with pytest.raises(StoreBusyError) as caught:
        raise sqlite_store._store_error(driver_error) from driver_error
    assert isinstance(caught.value, sqlite3.OperationalError)
    assert caught.value.__cause__ is driver_error
    assert_chain_ends(caught.value)


def test_an_integrity_error_is_the_drivers_and_a_store_error(
    sqlite_store: GlobalLearningStore,
) -> None:
    error = raised_by(
        lambda: sqlite_store.record_escalation_decision("job", 1, math.nan, "retry", 50.0, 0)
    )
    assert isinstance(error, sqlite3.IntegrityError)
    assert isinstance(error, StoreDatabaseError)
    assert "NOT NULL" in str(error)
    assert_chain_ends(error)
    assert sqlite_store.get_escalation_history() == []


def test_a_refused_write_on_a_read_only_store(tmp_path: Path) -> None:
    GlobalLearningStore(tmp_path / "store.db").close()
    store = GlobalLearningStore(tmp_path / "store.db", read_only=True)
    try:
        error = raised_by(lambda: store.record_pattern("validation_failure", "refused"))
        assert isinstance(error, ReadOnlyStoreError)
        assert isinstance(error, sqlite3.OperationalError)
        assert "open read-only" in str(error)
        assert_chain_ends(error)
    finally:
        store.close()


def test_a_write_to_a_newer_schema_is_a_schema_error(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    GlobalLearningStore(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE schema_version SET version = 16")
    raw.close()
    store = GlobalLearningStore(path)
    try:
        assert store.read_only and store.newer_schema
        assert store.read_only_reason == "schema v16 is newer than v15"
        error = raised_by(lambda: store.record_pattern("validation_failure", "refused"))
        assert isinstance(error, SchemaError)
        assert isinstance(error, sqlite3.OperationalError)
        assert_chain_ends(error)
    finally:
        store.close()


def test_a_failure_at_open_is_one_store_open_error_whose_chain_ends(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    error = raised_by(lambda: GlobalLearningStore(junk))
    assert isinstance(error, StoreOpenError)
    assert_chain_ends(error)


# -- passwords -----------------------------------------------------------------------------


def test_redact_masks_passwords_in_urls_and_key_value_strings() -> None:
    url = f"postgresql+psycopg://marianne:{PASSWORD}@db.example/learning"
    assert redact(f"cannot reach {url}") == (
        "cannot reach postgresql+psycopg://marianne:***@db.example/learning"
    )
    assert redact(f"host=db user=u password={PASSWORD} dbname=x") == (
        "host=db user=u password=*** dbname=x"
    )
    assert redact(f"server said: wrong {PASSWORD}", url) == "server said: wrong ***"
    encoded = "postgresql://u:p%40ss@h/db"
    assert redact("p%40ss and p@ss", encoded) == "*** and ***"
    assert redact("postgresql://u@h/db has none") == "postgresql://u@h/db has none"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://u:{PASSWORD}@h:notaport/db",
        f"post gresql://u:{PASSWORD}@h/db",
    ],
)
def test_an_unparsable_url_does_not_echo_its_password(url: str) -> None:
    error = raised_by(lambda: GlobalLearningStore(url))
    assert isinstance(error, StoreOpenError)
    assert PASSWORD not in str(error) and "u:***@" in str(error)
    assert_chain_ends(error)


def test_an_unreachable_server_is_reported_without_its_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("psycopg")
    url = f"postgresql+psycopg://marianne:{PASSWORD}@/learning?host={tmp_path}/no-server"
    with caplog.at_level(logging.DEBUG):
        error = raised_by(lambda: GlobalLearningStore(url, create=False))
    assert isinstance(error, StoreOpenError)
    assert "marianne:***@" in str(error)
    assert_chain_ends(error)
    for message in [str(linked) for linked in (error, *links(error))] + caplog.messages:
        assert PASSWORD not in message


# -- PostgreSQL ----------------------------------------------------------------------------


def _pg_ctl(*arguments: str) -> None:
    binary = Path(os.environ["PG_BIN"]) / "pg_ctl"
    command = [str(binary), "-D", f"{os.environ['PG_TMP']}/data", *arguments]
    if os.geteuid() == 0:
        command = ["su", "-s", "/bin/sh", "postgres", "-c", " ".join(f"'{a}'" for a in command)]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def _stop_server() -> None:
    _pg_ctl("-m", "fast", "-w", "stop")


def _start_server() -> None:
    folder = os.environ["PG_TMP"]
    options = (
        f"-c listen_addresses='' -c unix_socket_directories='{folder}' -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off"
    )
    _pg_ctl("-l", f"{folder}/log", "-w", "-o", options, "start")


@pytest.fixture
def restartable_server() -> Iterator[str]:
    """The throwaway server's URL, on a schema of its own, for a test that restarts it.

    (The shared ``store_url`` fixture would find its pooled connection killed by the
    restart when it drops its schema.)
    """
    postgres_base_url_or_skip()
    if not (os.environ.get("PG_TMP") and os.environ.get("PG_BIN")):
        pytest.skip("needs the throwaway server of .ci/postgres.sh (PG_TMP, PG_BIN) to restart")
    with fresh_postgres_schema() as url:
        yield url


def _with_password(url: str) -> str:
    return url.replace("postgresql+psycopg://postgres@", f"postgresql+psycopg://postgres:{PASSWORD}@")


def test_a_server_that_goes_away_and_comes_back(
    restartable_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    import psycopg

    url = _with_password(restartable_server)
    assert PASSWORD in url
    store = GlobalLearningStore(url, clock=FrozenClock())
    try:
        kept = store.record_pattern("validation_failure", "before the outage")
        token = store.change_token()
        _stop_server()
        try:
            calls: list[Callable[[], object]] = [
                lambda: store.get_patterns(min_priority=0),
                lambda: store.record_pattern("validation_failure", "during the outage"),
                lambda: store.quarantine_pattern(kept, "outage"),
                store.change_token,
                store.store_overview,
            ]
            with caplog.at_level(logging.DEBUG):
                for call in calls:
                    error = raised_by(call)
                    assert isinstance(error, StoreUnavailableError), repr(error)
                    assert isinstance(error, psycopg.OperationalError)
                    assert_chain_ends(error)
                    for message in [str(error), *(str(linked) for linked in links(error))]:
                        assert PASSWORD not in message
            assert all(PASSWORD not in message for message in caplog.messages)
        finally:
            _start_server()
        # The same store object reconnects by itself.
        assert [record.id for record in store.get_patterns(min_priority=0)] == [kept]
        store.record_pattern("validation_failure", "after the outage")
        assert store.change_token() != token
    finally:
        store.close()


def _pooled_backends(store: GlobalLearningStore) -> list[int]:
    pool: Any = store._engine.pool
    return [
        record.dbapi_connection.info.backend_pid
        for record in list(pool._pool.queue)
        if record.dbapi_connection is not None
    ]


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_pooled_session_the_server_ended_is_replaced_before_the_call(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool pings a connection only when its socket says the server may have ended it
    (``store.base._quiet_and_idle``), instead of before every call; a call after the
    server ended the session still succeeds, as it did with the pre-ping."""
    import sqlalchemy

    store = GlobalLearningStore(store_url, clock=FrozenClock())
    admin = sqlalchemy.create_engine(store_url)
    pings: list[object] = []
    ping = store._engine.dialect.do_ping
    monkeypatch.setattr(store._engine.dialect, "do_ping",
                        lambda connection: pings.append(connection) or ping(connection))
    try:
        pattern = store.record_pattern("validation_failure", "kept")
        for n in range(5):
            store.record_pattern_application(pattern, f"exec-{n}", True)
        assert pings == []  # a healthy idle connection is not pinged

        backends = _pooled_backends(store)
        assert backends
        with admin.connect() as conn:
            for pid in backends:
                conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid}, 5000)")
        store.record_pattern_application(pattern, "after", False)
        assert len(pings) == 1
        assert [record.id for record in store.get_patterns(min_priority=0)] == [pattern]
        assert set(_pooled_backends(store)).isdisjoint(backends)
    finally:
        admin.dispose()
        store.close()


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_postgresql_lock_past_the_busy_timeout_is_store_busy(store_url: str) -> None:
    import psycopg
    import sqlalchemy

    store = GlobalLearningStore(store_url, busy_timeout=0.05, clock=FrozenClock())
    engine = sqlalchemy.create_engine(store_url)
    try:
        with engine.connect() as other:
            other.exec_driver_sql("LOCK TABLE patterns IN ACCESS EXCLUSIVE MODE")
            error = raised_by(lambda: store.record_pattern("validation_failure", "locked"))
            other.rollback()
        assert isinstance(error, StoreBusyError)
        assert isinstance(error, psycopg.errors.LockNotAvailable)
        assert_chain_ends(error)
        store.record_pattern("validation_failure", "locked")
        assert len(store.get_patterns(min_priority=0)) == 1
    finally:
        engine.dispose()
        store.close()


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_postgresql_integrity_and_read_only_errors(store_url: str) -> None:
    import psycopg

    store = GlobalLearningStore(store_url, clock=FrozenClock())
    viewer = GlobalLearningStore(store_url, read_only=True)
    try:
        error = raised_by(
            lambda: store.record_escalation_decision("job", 1, math.nan, "retry", 50.0, 0)
        )
        assert isinstance(error, psycopg.errors.IntegrityError)
        assert isinstance(error, StoreDatabaseError)
        assert_chain_ends(error)

        refused = raised_by(lambda: viewer.record_pattern("validation_failure", "refused"))
        assert isinstance(refused, ReadOnlyStoreError)
        assert isinstance(refused, psycopg.errors.ReadOnlySqlTransaction)
        assert_chain_ends(refused)

        def leak() -> None:
            with viewer._connection() as conn:
                conn.exec_driver_sql("DELETE FROM patterns")

        assert isinstance(raised_by(leak), ReadOnlyStoreError)
    finally:
        viewer.close()
        store.close()


def test_a_password_from_the_environment_or_a_password_file(
    restartable_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libpq finds the password itself when the URL has none (PGPASSWORD, PGPASSFILE)."""
    import sqlalchemy

    hba = Path(os.environ["PG_TMP"]) / "data" / "pg_hba.conf"
    if not os.access(hba, os.W_OK):
        pytest.skip("cannot edit the throwaway server's pg_hba.conf")
    role = "marianne_password_test"
    admin = sqlalchemy.create_engine(os.environ[POSTGRES_URL_VARIABLE])
    original = hba.read_text()
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
            conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{PASSWORD}'")
        hba.write_text(f"local all {role} scram-sha-256\n{original}")
        with admin.begin() as conn:
            conn.exec_driver_sql("SELECT pg_reload_conf()")
        url = restartable_server.replace(
            "postgresql+psycopg://postgres@", f"postgresql+psycopg://{role}@"
        )
        for variable in ("PGPASSWORD", "PGPASSFILE"):
            monkeypatch.delenv(variable, raising=False)
        monkeypatch.setenv("PGPASSFILE", str(tmp_path / "absent"))

        refused = raised_by(lambda: GlobalLearningStore(url))
        assert isinstance(refused, StoreOpenError) and "password" in str(refused)

        monkeypatch.setenv("PGPASSWORD", PASSWORD)
        GlobalLearningStore(url).close()

        monkeypatch.delenv("PGPASSWORD")
        passfile = tmp_path / "pgpass"
        passfile.write_text(f"*:*:*:{role}:{PASSWORD}\n")
        passfile.chmod(0o600)
        monkeypatch.setenv("PGPASSFILE", str(passfile))
        opened = GlobalLearningStore(url)
        try:
            assert opened.get_patterns(min_priority=0) == []
        finally:
            opened.close()
    finally:
        hba.write_text(original)
        with admin.begin() as conn:
            conn.exec_driver_sql("SELECT pg_reload_conf()")
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.dispose()
