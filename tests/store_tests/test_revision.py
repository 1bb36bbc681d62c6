"""PostgreSQL's change revision (store.revision): writers never wait for one another on it,
every commit moves the probe, and a store made by the first design is upgraded in place."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy
from conftest import fresh_postgres_schema, wait_for_a_lock_wait
from sqlalchemy import Connection, event, insert

from store import GlobalLearningStore, tables
from store.push import ChangeListener
from store.revision import REVISION_SEQUENCE


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_postgres_schema("r") as fresh:
        yield fresh


@pytest.fixture
def admin(url: str) -> Iterator[sqlalchemy.Engine]:
    engine = sqlalchemy.create_engine(url)
    yield engine
    engine.dispose()


def _write(conn: Connection, key: str) -> None:
    conn.exec_driver_sql(
        f"INSERT INTO workspace_clusters (workspace_hash, cluster_id) VALUES ('{key}', 'c')"
    )


def _sequence_value(engine: sqlalchemy.Engine) -> int | None:
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            f"SELECT pg_sequence_last_value('{REVISION_SEQUENCE}')"
        ).scalar_one()


def test_a_commit_the_probe_saw_open_still_moves_the_token(
    url: str, admin: sqlalchemy.Engine
) -> None:
    """The sequence moves before the commit: the probe must not settle on that number."""
    GlobalLearningStore(url).close()
    viewer = GlobalLearningStore(url, read_only=True)
    try:
        with admin.connect() as writer:
            before = _sequence_value(admin)
            _write(writer, "open")
            # The race this guards against: the number has moved, the row is not visible.
            assert _sequence_value(admin) != before
            assert viewer.get_workspace_cluster("open") is None
            seen_open = viewer.change_token()
            assert viewer.change_token() == seen_open  # nothing new while it stays open
            writer.commit()
        assert viewer.get_workspace_cluster("open") == "c"
        assert viewer.change_token() != seen_open
    finally:
        viewer.close()


def test_the_probe_reads_in_one_statement_outside_a_transaction(url: str) -> None:
    """A poll's round trip: the source, the number and the holders in one statement; no
    BEGIN and COMMIT around it, nor around the header's statements (the driver sends none
    in autocommit)."""
    store = GlobalLearningStore(url)
    try:
        store.change_token()
        seen: list[tuple[str, bool]] = []

        @event.listens_for(store._engine, "before_cursor_execute")
        def _seen(conn: Connection, cursor: object, statement: str, *args: object) -> None:
            driver = conn.connection.driver_connection
            seen.append((statement.split(None, 1)[0].upper(), bool(driver.autocommit)))

        store.change_token()
        assert seen == [("SELECT", True)]
        seen.clear()
        overview = store.store_overview()
        # The first header read: the log's catalog check (``StatusWatch``), the status
        # counts, the other numbers.
        assert [autocommit for _, autocommit in seen] == [True, True, True]
        assert overview.total_patterns == 0
    finally:
        store.close()


def test_a_rolled_back_write_moves_the_token_at_most_once(
    url: str, admin: sqlalchemy.Engine
) -> None:
    store = GlobalLearningStore(url)
    try:
        first = store.change_token()
        with admin.connect() as writer:
            _write(writer, "undone")
            writer.rollback()
        second = store.change_token()
        assert store.change_token() == second
        assert second != first  # one refresh too many, never a missed one
    finally:
        store.close()


def test_writers_do_not_wait_for_each_other_on_the_revision(
    url: str, admin: sqlalchemy.Engine
) -> None:
    """The first design made every writer wait on one counter row until the other committed."""
    GlobalLearningStore(url).close()
    store = GlobalLearningStore(url, busy_timeout=0.5)
    try:
        with admin.connect() as writer:
            _write(writer, "held open")
            pattern = store.record_pattern("retry", "written while another writer is open")
            store.record_pattern_application(pattern, "exec-1", True)
            writer.commit()
        assert store.get_pattern_by_id(pattern) is not None
    finally:
        store.close()


def test_opening_a_store_does_not_lock_its_tables_once_installed(
    url: str, admin: sqlalchemy.Engine
) -> None:
    """Re-creating the triggers on every open waited for (and deadlocked with) writers."""
    GlobalLearningStore(url).record_pattern("retry", "a pattern")
    with admin.connect() as writer:
        writer.exec_driver_sql("UPDATE patterns SET priority_score = priority_score")
        opened = GlobalLearningStore(url, busy_timeout=0.5)
        opened.close()
        writer.commit()


def test_every_table_gets_its_trigger(url: str, admin: sqlalchemy.Engine) -> None:
    GlobalLearningStore(url).close()
    with admin.connect() as conn:
        triggered = set(conn.exec_driver_sql(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE starts_with(t.tgname, 'marianne_tui_rev_') AND c.relnamespace = "
            "to_regnamespace(current_schema())"
        ).scalars())
    assert triggered == {t.name for t in (*tables.MARIANNE_TABLES, tables.operator_journal)}


def test_consoles_opening_a_fresh_store_at_once_all_succeed(
    url: str, admin: sqlalchemy.Engine
) -> None:
    with admin.begin() as conn:
        tables.METADATA.create_all(conn, tables=list(tables.MARIANNE_TABLES))
        conn.execute(insert(tables.schema_version).values(version=15))
    failures: list[BaseException] = []

    def open_one() -> None:
        try:
            GlobalLearningStore(url).close()
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    test_every_table_gets_its_trigger(url, admin)


def test_an_installer_waiting_for_a_table_does_not_hold_up_its_writers(
    url: str, admin: sqlalchemy.Engine
) -> None:
    """A fresh store while a long writer holds ``patterns``: the installer's waiting
    ``CREATE TRIGGER`` queues every other writer of the table behind it, so it waits a
    second at a time and lets them through between attempts, until the long writer ends.
    (Waiting the whole busy timeout at once held the second writer for all of it.)"""
    with admin.begin() as conn:
        tables.METADATA.create_all(conn, tables=list(tables.MARIANNE_TABLES))
        conn.execute(insert(tables.schema_version).values(version=15))
    outcome: list[BaseException | None] = []

    def open_one() -> None:
        try:
            GlobalLearningStore(url).close()
            outcome.append(None)
        except BaseException as error:  # reported below
            outcome.append(error)

    with admin.connect() as long_writer, admin.connect() as other_writer:
        long_writer.exec_driver_sql("INSERT INTO patterns (id, pattern_type, pattern_name) "
                                    "VALUES ('long', 'retry', 'held open')")
        opener = threading.Thread(target=open_one, daemon=True)
        opener.start()
        wait_for_a_lock_wait(admin, "patterns")
        # Far less than the installer's whole wait (the store's 30 s busy timeout).
        other_writer.exec_driver_sql("SET lock_timeout = '10s'")
        other_writer.exec_driver_sql("INSERT INTO patterns (id, pattern_type, pattern_name) "
                                     "VALUES ('other', 'retry', 'let through')")
        other_writer.commit()
        long_writer.commit()
        opener.join(60)
    assert outcome == [None]
    test_every_table_gets_its_trigger(url, admin)


# -- a store made by the first design ------------------------------------------------------

_FIRST_DESIGN = """
CREATE FUNCTION marianne_tui_bump_revision() RETURNS trigger AS $$
BEGIN
    UPDATE marianne_tui_revision SET rev = rev + 1 WHERE id = 1;
    PERFORM pg_notify('marianne_tui_changes', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""


def _first_design_store(engine: sqlalchemy.Engine) -> None:
    """Marianne's tables, the journal, the counter row and the first design's triggers."""
    with engine.begin() as conn:
        made = [*tables.MARIANNE_TABLES, tables.operator_journal, tables.store_revision]
        tables.METADATA.create_all(conn, tables=made)
        conn.execute(insert(tables.schema_version).values(version=15))
        conn.execute(insert(tables.store_revision).values(id=1, rev=0))
        conn.exec_driver_sql(_FIRST_DESIGN)
        for table in (*tables.MARIANNE_TABLES, tables.operator_journal):
            conn.exec_driver_sql(
                f"CREATE TRIGGER marianne_tui_rev_{table.name} "
                f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table.name} "
                "FOR EACH STATEMENT EXECUTE FUNCTION marianne_tui_bump_revision()"
            )


def test_a_first_design_store_is_upgraded_in_place(
    url: str, admin: sqlalchemy.Engine
) -> None:
    _first_design_store(admin)
    store = GlobalLearningStore(url)
    try:
        with admin.connect() as conn:
            source = conn.exec_driver_sql(
                "SELECT prosrc FROM pg_proc WHERE oid = to_regproc('marianne_tui_bump_revision')"
            ).scalar_one()
            names = set(sqlalchemy.inspect(conn).get_table_names())
        assert "nextval" in source and "marianne_tui_revision " not in source
        assert tables.store_revision.name not in names
        test_every_table_gets_its_trigger(url, admin)

        listener = ChangeListener(store._engine)
        try:
            assert listener.wait(0.1) is False  # listening from here on
            assert listener.listening
            first = store.change_token()
            with admin.begin() as conn:
                _write(conn, "after the upgrade")
            assert listener.wait(10) is True
            assert store.change_token() != first
        finally:
            listener.close()
    finally:
        store.close()


def test_a_read_only_viewer_of_a_first_design_store_reads_its_counter(
    url: str, admin: sqlalchemy.Engine
) -> None:
    _first_design_store(admin)
    viewer = GlobalLearningStore(url, read_only=True)
    try:
        first = viewer.change_token()
        assert viewer.change_token() == first
        with admin.begin() as conn:
            _write(conn, "seen through the counter")
        assert viewer.change_token() != first
        with admin.connect() as conn:
            assert conn.exec_driver_sql(
                f"SELECT to_regclass('{REVISION_SEQUENCE}')"
            ).scalar_one() is None  # a read-only open changed nothing
    finally:
        viewer.close()


def test_the_first_read_after_an_install_opens_no_connection(
    url: str, admin: sqlalchemy.Engine
) -> None:
    """An open that installs (or upgrades) closes the install's session; it must still
    leave a connection in the pool, as every other open does, or the first read pays
    for connecting."""
    GlobalLearningStore(url).close()
    with admin.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER marianne_tui_rev_patterns ON patterns")
    store = GlobalLearningStore(url)
    try:
        connects: list[object] = []
        event.listen(store._engine, "connect", lambda *_: connects.append(1))
        store.change_token()
        store.store_overview()
        assert connects == []
    finally:
        store.close()
    test_every_table_gets_its_trigger(url, admin)
