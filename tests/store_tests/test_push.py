"""store.push: a commit by one store instance wakes a listener of another (PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from conftest import fresh_postgres_schema
from sqlalchemy import create_engine

from store import GlobalLearningStore
from store.push import ChangeListener


@pytest.fixture
def postgres_store_url(store_url: str) -> str:
    if "://" not in store_url:
        pytest.skip("change push exists on PostgreSQL only")
    return store_url


@pytest.fixture
def writer(postgres_store_url: str) -> Iterator[GlobalLearningStore]:
    opened = GlobalLearningStore(postgres_store_url)
    yield opened
    opened.close()


@pytest.fixture
def listener(postgres_store_url: str, writer: GlobalLearningStore) -> Iterator[ChangeListener]:
    """Listening through a second, read-only store, as a console on another host would."""
    reader = GlobalLearningStore(postgres_store_url, read_only=True)
    listening = ChangeListener(reader._engine)
    assert listening.wait(0.05) is False  # connects, and nothing has happened yet
    yield listening
    listening.close()
    reader.close()


def _wait_in_thread(
    listener: ChangeListener, timeout: float
) -> tuple[threading.Thread, list[bool]]:
    outcome: list[bool] = []
    thread = threading.Thread(target=lambda: outcome.append(listener.wait(timeout)))
    thread.start()
    return thread, outcome


def test_a_commit_by_another_instance_wakes_the_listener(
    writer: GlobalLearningStore, listener: ChangeListener
) -> None:
    thread, outcome = _wait_in_thread(listener, timeout=60)
    writer.record_pattern("validation_failure", "seen from another host")
    thread.join(timeout=90)
    assert outcome == [True]  # woken by the commit, long before its 60 s timeout


def test_no_commit_means_no_wake(listener: ChangeListener) -> None:
    assert listener.wait(0.3) is False


def test_a_rolled_back_write_sends_nothing(
    writer: GlobalLearningStore, listener: ChangeListener
) -> None:
    with pytest.raises(RuntimeError), writer._batch():
        writer.record_pattern("validation_failure", "never committed")
        raise RuntimeError("abort")
    assert listener.wait(0.5) is False


def test_one_transaction_of_many_writes_is_one_wake(
    writer: GlobalLearningStore, listener: ChangeListener
) -> None:
    with writer._batch():
        for number in range(5):
            writer.record_pattern("validation_failure", f"batched {number}")
    assert listener.wait(10) is True
    assert listener.wait(0.3) is False  # the statements' notifications were one


def test_a_lost_server_connection_falls_back_to_waiting(
    postgres_store_url: str, writer: GlobalLearningStore, listener: ChangeListener
) -> None:
    session = listener._connection
    pid = session.info.backend_pid
    engine = create_engine(postgres_store_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    engine.dispose()
    assert listener.wait(0.3) is False  # no exception: the caller keeps polling
    thread, outcome = _wait_in_thread(listener, timeout=60)  # and it listens again
    while listener._connection is None and thread.is_alive():
        thread.join(timeout=0.05)
    writer.record_pattern("validation_failure", "after the reconnect")
    thread.join(timeout=90)
    assert outcome == [True]


def test_close_ends_a_wait(listener: ChangeListener) -> None:
    thread, outcome = _wait_in_thread(listener, timeout=60)
    listener.close()
    thread.join(timeout=10)
    assert not thread.is_alive() and outcome == [False]


def test_a_commit_to_a_store_in_another_schema_wakes_nobody_here(
    writer: GlobalLearningStore, listener: ChangeListener
) -> None:
    """One channel serves the whole database: the payload tells the stores apart."""
    with fresh_postgres_schema("other") as other_url:
        neighbour = GlobalLearningStore(other_url)
        try:
            thread, outcome = _wait_in_thread(listener, timeout=1.0)
            neighbour.record_pattern("validation_failure", "in the schema next door")
            thread.join(timeout=30)
            assert outcome == [False]  # the whole second, not woken
            thread, outcome = _wait_in_thread(listener, timeout=60)
            writer.record_pattern("validation_failure", "in this store")
            thread.join(timeout=90)
            assert outcome == [True]
        finally:
            neighbour.close()


def test_an_older_trigger_without_a_payload_still_wakes_the_listener(
    postgres_store_url: str, listener: ChangeListener
) -> None:
    """A store whose trigger function predates the payload (its owner has not opened it
    since) sends '': every listener wakes, as before, and finds out by its revision."""
    engine = create_engine(postgres_store_url)
    try:
        thread, outcome = _wait_in_thread(listener, timeout=60)
        with engine.begin() as conn:
            conn.exec_driver_sql("SELECT pg_notify('marianne_tui_changes', '')")
        thread.join(timeout=90)
        assert outcome == [True]
    finally:
        engine.dispose()
