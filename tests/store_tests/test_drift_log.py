"""PostgreSQL's drift change log (store.drift_cache): installed on open, beside the revision's
objects and under the same lock, only when missing; a reader never trusts an incomplete one."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy
from conftest import FrozenClock, fresh_postgres_schema, wait_for_a_lock_wait
from sqlalchemy import Connection, event, insert
from sqlalchemy.engine import Engine

from store import GlobalLearningStore, drift_cache, revision, tables
from store.drift_cache import _FUNCTIONS, _TRIGGERS, DRIFT_LOG_TABLE, SCHEMA_MARK, _log_state

_TRIGGER_NAMES = [t.name for t in _TRIGGERS]
_ALL_FUNCTIONS = (*_FUNCTIONS, (revision.REVISION_FUNCTION, revision._FUNCTION_BODY))


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_postgres_schema("d") as fresh:
        yield fresh


@pytest.fixture
def admin(url: str) -> Iterator[sqlalchemy.Engine]:
    engine = sqlalchemy.create_engine(url)
    yield engine
    engine.dispose()


def _log_ready(engine: sqlalchemy.Engine) -> bool:
    with engine.connect() as conn:
        return _log_state(conn).ready


def _drop_drift_log(engine: sqlalchemy.Engine) -> None:
    """The store as the lazy install left it before a console computed drift."""
    with engine.begin() as conn:
        for trigger in _TRIGGERS:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger.name} ON {trigger.table}")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {DRIFT_LOG_TABLE}, {DRIFT_LOG_TABLE}_meta")


def _triggers(engine: sqlalchemy.Engine) -> dict[str, tuple[int, str]]:
    """Each drift trigger's oid and row version: both move if it is made again."""
    with engine.connect() as conn:
        return {
            name: (oid, xmin)
            for name, oid, xmin in conn.exec_driver_sql(
                "SELECT tgname, CAST(oid AS bigint), CAST(xmin AS text) FROM pg_trigger "
                "WHERE tgname = ANY(%(names)s)",
                {"names": _TRIGGER_NAMES},
            )
        }


@contextmanager
def _statements() -> Iterator[list[str]]:
    """Every statement any engine of this process sends meanwhile."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _is_ddl_or_lock(statement: str) -> bool:
    words = statement.lstrip().upper()
    return words.startswith(("CREATE", "ALTER", "DROP")) or "PG_ADVISORY_LOCK" in words


def _in_thread(work: Callable[[], Any], timeout: float = 60) -> Any:
    """``work()``'s result, failing (not hanging) when it does not end within ``timeout``."""
    outcome: list[Any] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as error:  # reported below
            failures.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"still waiting after {timeout} s"
    if failures:
        raise failures[0]
    return outcome[0]


def _drift(store: GlobalLearningStore) -> Any:
    report = store.drift_report(window_size=3, only_exceeding=False, limit=-1)
    entropy = store.calculate_pattern_entropy()
    return (report.rows, report.summary,
            {k: v for k, v in vars(entropy).items() if k != "calculated_at"})


def _feed_changes(store: GlobalLearningStore) -> Any:
    """What the store's drift feed reads as changed since its last read."""
    with store._connection() as conn:
        return store._drift_state().feed.read(conn)


def _fresh_drift(url: str) -> Any:
    """Drift computed afresh from the tables (read-only: it installs nothing)."""
    other = GlobalLearningStore(url, read_only=True, clock=FrozenClock())
    try:
        return _drift(other)
    finally:
        other.close()


def _seed(store: GlobalLearningStore) -> str:
    pattern_id = store.record_pattern("retry", "a pattern")
    for n in range(8):
        store.record_pattern_application(pattern_id, f"exec-{n}", n % 3 == 0)
    return pattern_id


def _insert_application(conn: Connection, pattern_id: str, execution: str) -> None:
    conn.execute(insert(tables.pattern_applications).values(
        id=str(uuid.uuid4()), pattern_id=pattern_id, execution_id=execution,
        applied_at=FrozenClock().now, pattern_led_to_success=False,
        retry_count_before=0, retry_count_after=0,
    ))


def test_the_first_open_installs_the_log_and_a_second_does_no_ddl(
    url: str, admin: sqlalchemy.Engine
) -> None:
    store = GlobalLearningStore(url, clock=FrozenClock())
    _seed(store)
    _drift(store)
    store.close()
    assert _log_ready(admin)
    before = _triggers(admin)
    assert set(before) == set(_TRIGGER_NAMES)
    with _statements() as sent:
        again = GlobalLearningStore(url, clock=FrozenClock())
        try:
            _drift(again)
            again.record_pattern_application(again.get_patterns()[0].id, "later", True)
            _drift(again)
        finally:
            again.close()
    assert [s for s in sent if _is_ddl_or_lock(s)] == []
    assert _triggers(admin) == before


def test_an_old_lazily_installed_log_is_taken_as_it_is(
    url: str, admin: sqlalchemy.Engine
) -> None:
    """The log the first design made on the first drift read has the same definition."""
    GlobalLearningStore(url).close()
    before = _triggers(admin)
    with admin.begin() as conn:  # what the lazy install ran, but its own function bodies
        conn.exec_driver_sql(
            "CREATE OR REPLACE FUNCTION marianne_tui_log_reset() RETURNS trigger AS $$\n"
            "    BEGIN\n        INSERT INTO marianne_tui_drift_log (kind) VALUES ('r');\n"
            "        RETURN NULL;\n    END;\n    $$ LANGUAGE plpgsql"
        )
    assert not _log_ready(admin)  # another body: replaced, the triggers stay
    GlobalLearningStore(url).close()
    assert _log_ready(admin)
    assert _triggers(admin) == before


def test_opening_beside_an_open_writer_neither_blocks_nor_deadlocks(
    url: str, admin: sqlalchemy.Engine
) -> None:
    """A conductor's transaction that wrote both tables and stays open: the open reads the
    catalog only, and drift reads go on (they only wait for no one)."""
    store = GlobalLearningStore(url, clock=FrozenClock())
    pattern_id = _seed(store)
    store.close()
    with admin.connect() as writer:
        writer.execute(insert(tables.patterns).values(
            id=str(uuid.uuid4()), pattern_type="retry", pattern_name="held open",
        ))
        _insert_application(writer, pattern_id, "open")

        def open_and_read() -> Any:
            opened = GlobalLearningStore(url, busy_timeout=0.5, clock=FrozenClock())
            try:
                return _drift(opened)
            finally:
                opened.close()

        seen_while_open = _in_thread(open_and_read)
        writer.commit()
    assert seen_while_open != _fresh_drift(url)  # the held rows were not visible, now are


def test_installing_beside_a_conductor_writing_never_deadlocks(
    url: str, admin: sqlalchemy.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A conductor's transaction holds ``patterns`` and then writes
    ``pattern_applications`` while the installer waits for ``patterns``: the installer
    holds no other table meanwhile (one table per transaction), so the conductor goes on,
    and once it commits the installer completes. (All four triggers in one transaction
    deadlocked here: the installer held ``pattern_applications``.)"""
    store = GlobalLearningStore(url, clock=FrozenClock())
    pattern_id = _seed(store)
    store.close()
    _drop_drift_log(admin)
    monkeypatch.setattr(revision, "ATTEMPT_LOCK_TIMEOUT_MS", 60_000)  # waits it out
    with admin.connect() as writer:
        writer.exec_driver_sql("SET lock_timeout = '20s'")
        writer.exec_driver_sql(
            f"UPDATE patterns SET priority_score = 0.9 WHERE id = '{pattern_id}'"
        )
        outcome: list[Any] = []
        opener = threading.Thread(
            target=lambda: outcome.append(_in_thread(
                lambda: GlobalLearningStore(url, clock=FrozenClock()).close(), 90
            )),
            daemon=True,
        )
        opener.start()
        wait_for_a_lock_wait(admin, "patterns")
        _insert_application(writer, pattern_id, "while the installer waits")
        writer.commit()
        opener.join(90)
    assert outcome == [None]
    assert _log_ready(admin)


def test_installing_beside_a_long_writer_gives_up_and_recomputes(
    url: str, admin: sqlalchemy.Engine
) -> None:
    """A writer holding ``patterns`` past the install's lock timeout: the open goes on
    without the log, drift reads stay exact (in full), a later open completes it."""
    store = GlobalLearningStore(url, clock=FrozenClock())
    pattern_id = _seed(store)
    store.close()
    _drop_drift_log(admin)
    with admin.connect() as writer:
        writer.exec_driver_sql(
            f"UPDATE patterns SET priority_score = 0.9 WHERE id = '{pattern_id}'"
        )
        opened = _in_thread(lambda: GlobalLearningStore(url, clock=FrozenClock()))
        writer.commit()
    try:
        assert not _log_ready(admin)  # patterns' triggers are missing
        assert _drift(opened) == _fresh_drift(url)
        opened.record_pattern_application(pattern_id, "after", True)
        assert _drift(opened) == _fresh_drift(url)
    finally:
        opened.close()
    GlobalLearningStore(url).close()  # nothing in the way now
    assert _log_ready(admin)


def test_stores_opening_at_once_all_end_with_the_log(
    url: str, admin: sqlalchemy.Engine
) -> None:
    with admin.begin() as conn:
        tables.METADATA.create_all(conn, tables=list(tables.MARIANNE_TABLES))
        conn.execute(insert(tables.schema_version).values(version=15))
    barrier = threading.Barrier(4)

    results: list[GlobalLearningStore | BaseException] = []

    def open_one() -> None:
        barrier.wait(30)
        try:
            results.append(GlobalLearningStore(url, clock=FrozenClock()))
        except BaseException as error:  # reported below
            results.append(error)

    threads = [threading.Thread(target=open_one, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    stores = [r for r in results if isinstance(r, GlobalLearningStore)]
    try:
        assert [r for r in results if not isinstance(r, GlobalLearningStore)] == []
        assert len(stores) == 4  # none still waiting
        assert _log_ready(admin)
        pattern_id = _seed(stores[0])
        for store in stores:
            assert _drift(store) == _fresh_drift(url)
        stores[1].record_pattern_application(pattern_id, "one more", False)
        changes = _feed_changes(stores[2])  # the kept reader now reads the log
        assert not changes.full and changes.applied == {pattern_id}
    finally:
        for store in stores:
            store.close()


def test_a_dropped_trigger_makes_readers_recompute(
    url: str, admin: sqlalchemy.Engine
) -> None:
    """A log that stopped logging (a trigger dropped by hand, or with its table) must not
    be read as "nothing changed"."""
    store = GlobalLearningStore(url, clock=FrozenClock())
    try:
        pattern_id = _seed(store)
        _drift(store)
        with admin.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER marianne_tui_drift_applied ON pattern_applications")
        store.record_pattern_application(pattern_id, "unlogged", False)
        assert _drift(store) == _fresh_drift(url)
        # Made again (by a console opening): other oids, so the reader starts afresh.
        GlobalLearningStore(url).close()
        assert _log_ready(admin)
        store.record_pattern_application(pattern_id, "logged again", True)
        assert _drift(store) == _fresh_drift(url)
    finally:
        store.close()


@pytest.mark.parametrize("replacement", [
    "CREATE OR REPLACE TRIGGER marianne_tui_drift_applied AFTER UPDATE "
    "ON pattern_applications FOR EACH STATEMENT EXECUTE FUNCTION marianne_tui_log_reset()",
    "CREATE OR REPLACE FUNCTION marianne_tui_log_applied() RETURNS trigger AS "
    "$$ BEGIN RETURN NULL; END; $$ LANGUAGE plpgsql",
], ids=["trigger", "function"])
def test_an_object_replaced_by_hand_makes_readers_recompute_until_reinstalled(
    url: str, admin: sqlalchemy.Engine, replacement: str
) -> None:
    """Same name, same oid, another definition: the reader sees the row version move."""
    store = GlobalLearningStore(url, clock=FrozenClock())
    try:
        pattern_id = _seed(store)
        _drift(store)
        before = _triggers(admin)
        with admin.begin() as conn:
            conn.exec_driver_sql(replacement)
        store.record_pattern_application(pattern_id, "unlogged", False)
        assert _drift(store) == _fresh_drift(url)
        GlobalLearningStore(url).close()  # puts the definition back
        assert _log_ready(admin)
        assert {n: oid for n, (oid, _) in _triggers(admin).items()} == {
            n: oid for n, (oid, _) in before.items()
        }
        store.record_pattern_application(pattern_id, "logged again", True)
        assert _drift(store) == _fresh_drift(url)
    finally:
        store.close()


def test_a_disabled_trigger_is_left_alone_and_not_trusted(
    url: str, admin: sqlalchemy.Engine
) -> None:
    store = GlobalLearningStore(url, clock=FrozenClock())
    try:
        pattern_id = _seed(store)
        _drift(store)
        with admin.begin() as conn:
            conn.exec_driver_sql(
                "ALTER TABLE pattern_applications DISABLE TRIGGER marianne_tui_drift_applied"
            )
        with _statements() as sent:
            GlobalLearningStore(url).close()
        assert [s for s in sent if _is_ddl_or_lock(s)] == []
        store.record_pattern_application(pattern_id, "unlogged", False)
        assert _drift(store) == _fresh_drift(url)
    finally:
        store.close()


@contextmanager
def _role(admin: sqlalchemy.Engine, url: str, *grants: str) -> Iterator[str]:
    """The URL of a new login role with these grants on the store's schema."""
    role = f"marianne_drift_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.begin() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        for grant in grants:
            conn.exec_driver_sql(grant.format(schema=schema, role=role))
    try:
        yield url.replace("postgresql+psycopg://postgres@", f"postgresql+psycopg://{role}@")
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")


_WRITER_GRANTS = (
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
    "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
)
#: With the writer's grants: a user who may not prune the log.
_NO_DELETE = f"REVOKE DELETE ON {{schema}}.{DRIFT_LOG_TABLE} FROM {{role}}"


def test_a_writer_who_may_not_create_triggers_opens_and_recomputes(
    url: str, admin: sqlalchemy.Engine
) -> None:
    GlobalLearningStore(url).close()
    _drop_drift_log(admin)
    with admin.begin() as conn:  # nor grant what another user owns
        conn.exec_driver_sql("REVOKE ALL ON SEQUENCE marianne_tui_revision_seq FROM PUBLIC")
    with _role(admin, url, *_WRITER_GRANTS) as limited:
        with _statements() as sent:
            store = GlobalLearningStore(limited, clock=FrozenClock())
        try:
            assert not store.read_only
            assert [s for s in sent if _is_ddl_or_lock(s)] == []
            pattern_id = _seed(store)
            assert _drift(store) == _fresh_drift(url)
            store.record_pattern_application(pattern_id, "more", True)
            assert _drift(store) == _fresh_drift(url)
        finally:
            store.close()
    assert not _log_ready(admin)


def test_a_reader_who_may_not_read_the_log_recomputes(
    url: str, admin: sqlalchemy.Engine
) -> None:
    GlobalLearningStore(url).close()
    with admin.begin() as conn:
        conn.exec_driver_sql(f"REVOKE ALL ON {DRIFT_LOG_TABLE} FROM PUBLIC")
    grants = ("GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}",
              f"REVOKE SELECT ON {DRIFT_LOG_TABLE} FROM {{role}}",
              "GRANT SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}")
    with _role(admin, url, *grants) as reader:
        viewer = GlobalLearningStore(reader, clock=FrozenClock())
        writer = GlobalLearningStore(url, clock=FrozenClock())
        try:
            assert viewer.read_only
            pattern_id = _seed(writer)
            assert _drift(viewer) == _fresh_drift(url)
            writer.record_pattern_application(pattern_id, "more", False)
            assert _drift(viewer) == _fresh_drift(url)
        finally:
            viewer.close()
            writer.close()


def test_a_read_only_open_creates_nothing(url: str, admin: sqlalchemy.Engine) -> None:
    store = GlobalLearningStore(url, clock=FrozenClock())
    pattern_id = _seed(store)
    store.close()
    _drop_drift_log(admin)
    with _statements() as sent:
        viewer = GlobalLearningStore(url, read_only=True, clock=FrozenClock())
    try:
        first = _drift(viewer)
        writer = GlobalLearningStore(url, clock=FrozenClock())
        try:
            writer.record_pattern_application(pattern_id, "more", False)
        finally:
            writer.close()
        # The writer's open installed the log meanwhile: the viewer starts using it.
        assert _log_ready(admin)
        assert _drift(viewer) == _fresh_drift(url) != first
        writer = GlobalLearningStore(url, clock=FrozenClock())
        try:
            writer.record_pattern_application(pattern_id, "logged", True)
        finally:
            writer.close()
        changes = _feed_changes(viewer)
        assert not changes.full and changes.applied == {pattern_id}
    finally:
        viewer.close()
    assert [s for s in sent if _is_ddl_or_lock(s)] == []


def test_a_conductor_of_another_user_still_writes_once_the_log_is_installed(
    url: str, admin: sqlalchemy.Engine
) -> None:
    """The triggers run as whoever writes Marianne's tables: a user the console's never
    granted anything on the log (made after its grants) must not have its writes fail."""
    GlobalLearningStore(url).close()
    _drop_drift_log(admin)
    with _role(admin, url, *_WRITER_GRANTS) as conductor:
        kept = GlobalLearningStore(url, clock=FrozenClock())  # installs the log
        try:
            assert _log_ready(admin)
            writer = GlobalLearningStore(conductor, clock=FrozenClock())
            try:
                pattern_id = _seed(writer)
                assert _drift(kept) == _fresh_drift(url)
                writer.record_pattern_application(pattern_id, "more", True)
            finally:
                writer.close()
            changes = _feed_changes(kept)
            assert not changes.full and changes.applied == {pattern_id}
        finally:
            kept.close()


def test_a_conductor_granted_only_marianne_tables_still_writes(
    url: str, admin: sqlalchemy.Engine
) -> None:
    """A database administrator's usual grant (the tables, nothing else) to the
    conductor's user, made before any console opened: the console's triggers (revision
    and drift log) must not make that user's writes fail."""
    with admin.begin() as conn:
        tables.METADATA.create_all(conn, tables=list(tables.MARIANNE_TABLES))
        conn.execute(insert(tables.schema_version).values(version=15))
    table_grant = ("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} "
                   "TO {role}",)
    with _role(admin, url, *table_grant) as conductor:
        kept = GlobalLearningStore(url, clock=FrozenClock())  # installs everything
        try:
            first = kept.change_token()
            with _statements() as sent:
                writer = GlobalLearningStore(conductor, clock=FrozenClock())
            assert [s for s in sent if _is_ddl_or_lock(s)] == []
            try:
                assert not writer.read_only
                pattern_id = _seed(writer)
            finally:
                writer.close()
            assert kept.change_token() != first
            assert _drift(kept) == _fresh_drift(url)
            assert pattern_id
        finally:
            kept.close()


def test_a_write_from_a_session_without_the_stores_schema_is_still_seen(
    url: str, admin: sqlalchemy.Engine
) -> None:
    """A session whose search_path leaves out the store's schema (pg_restore sets it empty,
    an administrator's psql may name the tables in full) writes Marianne's tables: the
    triggers must find their own objects, not fail that write or log it elsewhere."""
    store = GlobalLearningStore(url, clock=FrozenClock())
    try:
        pattern_id = _seed(store)
        _drift(store)

        def write_without_the_schema(execution: str) -> None:
            with admin.begin() as conn:
                schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
                conn.exec_driver_sql("SET LOCAL search_path = ''")
                qualified = conn.execution_options(schema_translate_map={None: schema})
                _insert_application(qualified, pattern_id, execution)

        first = store.change_token()
        write_without_the_schema("from a restore")
        assert store.change_token() != first
        assert _drift(store) == _fresh_drift(url)
        write_without_the_schema("from psql")
        changes = _feed_changes(store)
        assert not changes.full and changes.applied == {pattern_id}
    finally:
        store.close()


def _unqualify_trigger_functions(admin: sqlalchemy.Engine) -> None:
    """The trigger functions as earlier versions made them: names left to the search_path."""
    with admin.begin() as conn:
        for name, body in _ALL_FUNCTIONS:
            plain = body.replace(f"{SCHEMA_MARK}.", "")
            conn.exec_driver_sql(
                f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $f${plain}$f$ "
                "LANGUAGE plpgsql"
            )


def _qualified(admin: sqlalchemy.Engine) -> set[bool]:
    """For each trigger function, whether its body names the store's schema."""
    names = [name for name, _ in _ALL_FUNCTIONS]
    with admin.connect() as conn:
        return {
            f"{_schema(admin)}.marianne_tui_" in source
            for (source,) in conn.exec_driver_sql(
                "SELECT prosrc FROM pg_proc WHERE oid = ANY(ARRAY(SELECT to_regproc(n) "
                "FROM unnest(CAST(%(names)s AS text[])) AS n))",
                {"names": names},
            )
        }


def test_an_earlier_install_gets_qualified_names_and_keeps_its_triggers(
    url: str, admin: sqlalchemy.Engine
) -> None:
    GlobalLearningStore(url).close()
    assert _qualified(admin) == {True}
    before = _triggers(admin)
    _unqualify_trigger_functions(admin)
    assert _qualified(admin) == {False}
    assert not _log_ready(admin)

    GlobalLearningStore(url).close()
    assert _qualified(admin) == {True}
    assert _log_ready(admin)
    assert _triggers(admin) == before


def test_another_users_earlier_functions_are_left_for_their_owner(
    url: str, admin: sqlalchemy.Engine
) -> None:
    """Only a function's owner may replace it: another user's open must not fail trying."""
    GlobalLearningStore(url).close()
    _unqualify_trigger_functions(admin)
    with _role(admin, url, *_WRITER_GRANTS) as conductor:
        writer = GlobalLearningStore(conductor, clock=FrozenClock())
        try:
            assert not writer.read_only
            pattern_id = _seed(writer)
            assert _drift(writer) == _fresh_drift(url)  # the log is not trusted meanwhile
        finally:
            writer.close()
    assert _qualified(admin) == {False}
    GlobalLearningStore(url).close()  # its owner
    assert _qualified(admin) == {True}
    assert pattern_id


def _schema(admin: sqlalchemy.Engine) -> str:
    with admin.connect() as conn:
        return str(conn.exec_driver_sql("SELECT current_schema()").scalar_one())


def _log_rows(admin: sqlalchemy.Engine) -> int:
    with admin.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {DRIFT_LOG_TABLE}").scalar_one())


def _age_the_log(admin: sqlalchemy.Engine) -> None:
    with admin.begin() as conn:
        conn.exec_driver_sql(
            f"UPDATE {DRIFT_LOG_TABLE} SET logged_at = logged_at - interval '2 hours'"
        )


def test_a_writer_that_never_reads_drift_prunes_the_log(
    url: str, admin: sqlalchemy.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A conductor with only read-only consoles watching (or none): its own writes keep the
    log short, and a reader left behind by the prune recomputes instead of missing rows."""
    kept = GlobalLearningStore(url, read_only=True, clock=FrozenClock())
    viewer = GlobalLearningStore(url, read_only=True, clock=FrozenClock())
    conductor = GlobalLearningStore(url, clock=FrozenClock())
    try:
        pattern_id = _seed(conductor)
        other_id = conductor.record_pattern("retry", "another pattern")
        for n in range(8):
            conductor.record_pattern_application(other_id, f"other-{n}", n % 2 == 0)
        assert _drift(kept) == _fresh_drift(url)
        conductor.record_pattern_application(other_id, "not yet read", True)
        _age_the_log(admin)
        monkeypatch.setattr(drift_cache, "PRUNE_EVERY", 0.0)
        aged = _log_rows(admin)

        viewer.get_drifting_patterns()
        _drift(viewer)
        assert _log_rows(admin) == aged > 1  # a read-only reader never deletes
        conductor.record_pattern_application(pattern_id, "prunes", False)
        assert _log_rows(admin) == 1  # only the row of the write that pruned
        # Its next rows, of the other pattern, were pruned: it must recompute everything.
        assert _drift(kept) == _fresh_drift(url)
    finally:
        conductor.close()
        viewer.close()
        kept.close()


def test_a_writable_reader_prunes_as_it_reads(
    url: str, admin: sqlalchemy.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drift read catches up outside a transaction: the prune is a statement of its own."""
    reader = GlobalLearningStore(url, clock=FrozenClock())
    conductor = GlobalLearningStore(url, clock=FrozenClock())
    try:
        pattern_id = _seed(conductor)
        assert _drift(reader) == _fresh_drift(url)
        conductor.record_pattern_application(pattern_id, "seen by the reader", True)
        _age_the_log(admin)
        monkeypatch.setattr(drift_cache, "PRUNE_EVERY", 0.0)
        assert _log_rows(admin) > 1
        assert _drift(reader) == _fresh_drift(url)
        assert _log_rows(admin) == 0
    finally:
        conductor.close()
        reader.close()


def test_a_reader_that_may_not_prune_still_reads(
    url: str, admin: sqlalchemy.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    GlobalLearningStore(url).close()
    conductor = GlobalLearningStore(url, clock=FrozenClock())
    with _role(admin, url, *_WRITER_GRANTS, _NO_DELETE) as reader_url:
        reader = GlobalLearningStore(reader_url, clock=FrozenClock())
        try:
            pattern_id = _seed(conductor)
            assert _drift(reader) == _fresh_drift(url)
            _age_the_log(admin)
            # Not due for the conductor, which pruned at its first write.
            conductor.record_pattern_application(pattern_id, "after the age", False)
            logged = _log_rows(admin)
            monkeypatch.setattr(drift_cache, "PRUNE_EVERY", 0.0)
            assert _drift(reader) == _fresh_drift(url)
            assert _log_rows(admin) == logged > 1
        finally:
            reader.close()
            conductor.close()


def test_a_prune_that_fails_leaves_the_write_committed(
    url: str, admin: sqlalchemy.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user who may not delete from the log (another user made it) still writes."""
    GlobalLearningStore(url).close()
    with _role(admin, url, *_WRITER_GRANTS, _NO_DELETE) as conductor_url:
        conductor = GlobalLearningStore(conductor_url, clock=FrozenClock())
        try:
            pattern_id = _seed(conductor)
            _age_the_log(admin)
            monkeypatch.setattr(drift_cache, "PRUNE_EVERY", 0.0)
            aged = _log_rows(admin)
            conductor.record_pattern_application(pattern_id, "kept", True)
        finally:
            conductor.close()
    assert _log_rows(admin) == aged + 1
    with admin.connect() as conn:
        assert conn.exec_driver_sql(
            "SELECT count(*) FROM pattern_applications WHERE execution_id = 'kept'"
        ).scalar_one() == 1
