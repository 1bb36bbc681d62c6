"""store.migrate: whole stores copied between SQLite and PostgreSQL, resumed, refused, verified."""

from __future__ import annotations

import dataclasses
import hashlib
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import fixture_copy, fresh_postgres_schema
from sqlalchemy import create_engine, insert, inspect

from store import GlobalLearningStore, PatternAction, PatternQuery, tables
from store.base import content_hash_for, pattern_id_for
from store.migrate import MigrationError, MigrationProgress, migrate

REPO = Path(__file__).resolve().parents[2]
NUL_PATTERN = "18e412c912cf61a3"  # the small fixture's pattern with a NUL in its description


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema (skips without a server, fails in CI without one)."""
    with fresh_postgres_schema("m") as url:
        yield url


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _plain(value: Any) -> Any:
    """Records as plain data, with NUL shown as PostgreSQL-bound text shows it (U+FFFD)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    return value


def _reads(location: str | Path) -> dict[str, Any]:
    """What the store's API answers about a store, in an order that ties cannot change."""
    store = GlobalLearningStore(location, read_only=True, create=False)
    try:
        by_id = lambda records: sorted(records, key=lambda record: record.id)  # noqa: E731
        patterns = by_id(store.get_patterns(min_priority=-1.0, limit=-1, include_inactive=True))
        reads = {
            "patterns": patterns,
            "pattern_by_id": [store.get_pattern_by_id(p.id) for p in patterns[:300]],
            # Averages: the backends add the same floats in different orders.
            "execution_stats": {
                key: round(value, 9) if isinstance(value, float) else value
                for key, value in store.get_execution_stats().items()
            },
            "executions": by_id(store.get_recent_executions(limit=-1)),
            "escalations": by_id(store.get_escalation_history(limit=1_000_000)),
            "budget": by_id(store.get_exploration_budget_history(limit=-1)),
            "entropy": sorted(
                store.get_pattern_entropy_history(limit=-1), key=lambda m: m.calculated_at
            ),
            "responses": by_id(store.get_entropy_response_history(limit=-1)),
            "trajectory": sorted(store.get_trajectory(limit=-1), key=lambda e: e.cycle),
            "types": store.pattern_types(),
            "page": sorted(
                store.query_patterns(PatternQuery(limit=100_000)).rows, key=lambda r: r.id
            ),
            "journal": store.journal(limit=10_000),
        }
    finally:
        store.close()
    return _plain(reads)


def _migrate_ok(source: str | Path, target: str | Path, **options: Any) -> Any:
    report = migrate(str(source), str(target), **options)
    assert report.verified, [check for check in report.checks if not check.matches]
    return report


def _with_journal(path: Path) -> Path:
    """A fixture copy on which an operator acted three times (so the journal is not empty)."""
    store = GlobalLearningStore(path)
    try:
        page = store.query_patterns(PatternQuery(limit=3)).rows
        store.apply_pattern_action(
            page[0].id, PatternAction.QUARANTINE, reason="flaky", actor="a@h"
        )
        store.apply_pattern_action(page[1].id, PatternAction.VALIDATE, actor="b@h")
        store.undo_last_action(actor="a@h")
    finally:
        store.close()
    return path


# ---------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["marianne-v15-small.db", "marianne-v15-empty.db"])
def test_fixture_to_postgresql_and_back_reads_the_same(
    fixture: str, tmp_path: Path, postgres_url: str
) -> None:
    source = fixture_copy(fixture, tmp_path)
    if fixture.endswith("small.db"):
        _with_journal(source)
    before = _sha256(source)
    expected = _reads(source)

    there = _migrate_ok(source, postgres_url)
    back_file = tmp_path / "back.db"
    back = _migrate_ok(postgres_url, back_file)

    assert _sha256(source) == before
    assert _reads(postgres_url) == expected
    assert _reads(back_file) == expected
    # Table by table, the three copies hold the same content.
    back_checks = {check.table: check for check in back.checks}
    for first in there.checks:
        second = back_checks[first.table]
        assert first.target_rows == second.source_rows == second.target_rows
        assert first.target_checksum == second.target_checksum
    names = [check.table for check in there.checks]
    assert names[0] == "schema_version"
    assert set(names) >= {t.name for t in tables.MARIANNE_TABLES}
    if fixture.endswith("small.db"):
        assert "marianne_tui_journal" in names
        assert {c.table: c.source_rows for c in there.checks}["pattern_applications"] == 5000


def test_nul_characters_become_replacement_characters_on_postgresql(
    small_fixture: Path, postgres_url: str, tmp_path: Path
) -> None:
    report = _migrate_ok(small_fixture, postgres_url)
    assert any("NUL" in note and note.startswith("patterns:") for note in report.notes)
    store = GlobalLearningStore(postgres_url, read_only=True, create=False)
    try:
        pattern = store.get_pattern_by_id(NUL_PATTERN)
    finally:
        store.close()
    assert pattern is not None
    assert pattern.description == "Embedded NUL here ->\ufffd<- after the NUL"
    # A file keeps the NUL: nothing needs replacing there.
    file_report = _migrate_ok(small_fixture, tmp_path / "copy.db")
    assert file_report.notes == ()
    copy = GlobalLearningStore(tmp_path / "copy.db", read_only=True, create=False)
    try:
        kept = copy.get_pattern_by_id(NUL_PATTERN)
    finally:
        copy.close()
    assert kept is not None and kept.description == "Embedded NUL here ->\x00<- after the NUL"


def test_file_to_file_copy_is_byte_for_byte_in_every_table(
    small_fixture: Path, tmp_path: Path
) -> None:
    target = tmp_path / "copy.db"
    _migrate_ok(small_fixture, target)
    with sqlite3.connect(small_fixture) as left, sqlite3.connect(target) as right:
        for table in tables.MARIANNE_TABLES:
            key = next(iter(table.primary_key.columns)).name
            query = f"SELECT * FROM {table.name} ORDER BY {key}"
            assert left.execute(query).fetchall() == right.execute(query).fetchall(), table.name
            types = f"SELECT {', '.join(f'typeof({c.name})' for c in table.columns)} " + (
                f"FROM {table.name} ORDER BY {key}"
            )
            assert left.execute(types).fetchall() == right.execute(types).fetchall()


def _generated_store(path: Path, patterns: int, applications: int) -> Path:
    """A store of the given size, written in bulk through the store's own column types."""
    store = GlobalLearningStore(path)
    start = datetime(2026, 9, 1, 8, 0, 0)
    kinds = ("validation_failure", "retry_success", "semantic_insight", "error")
    statuses = ("pending", "quarantined", "validated", "retired")
    pattern_rows = []
    for n in range(patterns):
        kind = kinds[n % len(kinds)]
        name = f"generated pattern {n} ({'é' if n % 7 == 0 else 'x'})"
        pattern_rows.append(
            {
                "id": pattern_id_for(kind, name),
                "pattern_type": kind,
                "pattern_name": name,
                "description": f"row {n}" if n % 5 else None,
                "occurrence_count": 1 + n % 13,
                "first_seen": start + timedelta(minutes=n),
                "last_seen": start + timedelta(minutes=n, microseconds=n % 3),
                "last_confirmed": start,
                "led_to_success_count": n % 9,
                "led_to_failure_count": n % 4,
                "effectiveness_score": (n % 100) / 100,
                "context_tags": [f"tag:{n % 10}"],
                "priority_score": ((n * 37) % 100) / 100,
                "quarantine_status": statuses[n % 4],
                "trust_score": ((n * 11) % 100) / 100,
                "active": n % 50 != 0,
                "content_hash": content_hash_for(kind, name, None),
                "instrument_name": "claude-code" if n % 3 else None,
            }
        )
    ids = [row["id"] for row in pattern_rows]
    application_rows = [
        {
            "id": f"app-{n:08d}",
            "pattern_id": ids[n % len(ids)],
            "execution_id": f"exec-{n // 3}",
            "applied_at": start + timedelta(seconds=n),
            "pattern_led_to_success": n % 3 != 0,
            "retry_count_before": n % 2,
            "retry_count_after": 0,
            "grounding_confidence": None if n % 5 == 0 else (n % 97) / 97,
        }
        for n in range(applications)
    ]
    with store._batch() as conn:
        conn.execute(insert(tables.patterns), pattern_rows)
        if application_rows:
            conn.execute(insert(tables.pattern_applications), application_rows)
    store.close()
    return path


def test_generated_20k_pattern_store_to_postgresql_and_back(
    tmp_path: Path, postgres_url: str
) -> None:
    source = _generated_store(tmp_path / "big.db", patterns=20_000, applications=20_000)
    expected = _reads(source)
    seen: list[MigrationProgress] = []
    there = _migrate_ok(source, postgres_url, batch_size=5000, on_progress=seen.append)
    back = _migrate_ok(postgres_url, tmp_path / "back.db")
    assert there.rows_copied == back.rows_copied == 40_000
    assert _reads(tmp_path / "back.db") == expected
    copies = [p.done for p in seen if p.phase == "copy" and p.table == "patterns"]
    assert copies == [0, 5000, 10_000, 15_000, 20_000, 20_000]
    assert {p.total for p in seen if p.phase == "copy" and p.table == "patterns"} == {20_000}


def test_journal_ids_go_on_after_a_copy_to_postgresql(
    small_fixture: Path, postgres_url: str
) -> None:
    _with_journal(small_fixture)
    _migrate_ok(small_fixture, postgres_url)
    store = GlobalLearningStore(postgres_url)
    try:
        pattern = store.query_patterns(PatternQuery(limit=5)).rows[4].id
        entry = store.apply_pattern_action(pattern, PatternAction.RETIRE, actor="c@h")
        assert entry.id == 4  # three copied rows: the id sequence was moved past them
    finally:
        store.close()


# ---------------------------------------------------------------------------------------
# Refusals and errors
# ---------------------------------------------------------------------------------------


def test_a_target_with_data_is_refused_unless_append_or_replace(
    small_fixture: Path, tmp_path: Path
) -> None:
    target = tmp_path / "target.db"
    _migrate_ok(small_fixture, target)
    before = _sha256(target)
    with pytest.raises(MigrationError, match=r"already holds data .*--append.*--replace"):
        migrate(str(small_fixture), str(target))
    assert _sha256(target) == before

    appended = _migrate_ok(small_fixture, target, mode="append")
    assert appended.rows_copied == 0  # every key was there already: nothing doubled
    replaced = _migrate_ok(small_fixture, target, mode="replace")
    assert replaced.rows_copied == 8066


def test_append_merges_two_stores_and_keeps_the_targets_rows(tmp_path: Path) -> None:
    first = _generated_store(tmp_path / "first.db", patterns=30, applications=10)
    second = _generated_store(tmp_path / "second.db", patterns=40, applications=0)
    _with_journal(first)
    _with_journal(second)
    with sqlite3.connect(second) as conn:  # one shared pattern now differs
        conn.execute("UPDATE patterns SET description = 'edited on host 2' WHERE rowid = 5")
    target = tmp_path / "merged.db"
    _migrate_ok(first, target)
    report = _migrate_ok(second, target, mode="append")
    checks = {check.table: check for check in report.checks}
    # The edited pattern, and the one each store quarantined at its own moment (the other
    # action was undone, which restores the row exactly).
    assert checks["patterns"].kept_in_target == 2
    assert report.rows_copied == 10 + 3  # 10 patterns new to the target, 3 journal rows
    merged = GlobalLearningStore(target, read_only=True, create=False)
    try:
        journal = merged.journal(limit=10)
    finally:
        merged.close()
    assert [entry.id for entry in journal] == [6, 5, 4, 3, 2, 1]
    assert journal[0].undoes == 5  # the second store's undo points at its own, renumbered row
    assert journal[3].undoes == 2


def test_refusals_are_one_line(tmp_path: Path, small_fixture: Path) -> None:
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine')")
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a database")
    cases = {
        (str(tmp_path / "missing.db"), str(tmp_path / "t.db")): "no store at",
        (str(text_file), str(tmp_path / "t.db")): "is not a SQLite database",
        (str(foreign), str(tmp_path / "t.db")): "not a Marianne learning store",
        (str(small_fixture), str(foreign)): "not a Marianne learning store",
        (str(small_fixture), str(small_fixture)): "the same store",
        (
            str(small_fixture),
            "postgresql+psycopg://operator:hunter2%21@127.0.0.1:9/marianne",
        ): "cannot open",
    }
    foreign_bytes = _sha256(foreign)
    for (source, target), expected in cases.items():
        with pytest.raises(MigrationError) as raised:
            migrate(source, target)
        message = str(raised.value)
        assert expected in message
        assert "\n" not in message
        assert "hunter2" not in message
    assert _sha256(foreign) == foreign_bytes
    assert not (tmp_path / "t.db").exists()


def test_a_source_with_a_newer_or_older_schema_is_refused(
    small_fixture: Path, tmp_path: Path
) -> None:
    for version in (16, 14):
        with sqlite3.connect(small_fixture) as conn:
            conn.execute("UPDATE schema_version SET version = ?", (version,))
        with pytest.raises(MigrationError, match=f"schema v{version}"):
            migrate(str(small_fixture), str(tmp_path / f"v{version}.db"))


# ---------------------------------------------------------------------------------------
# Interruption
# ---------------------------------------------------------------------------------------

_SLOW_CHILD = textwrap.dedent(
    """
    import sys, time
    from store.migrate import migrate

    def report(progress):
        print(progress.phase, progress.table, progress.done, flush=True)
        if progress.table == "pattern_applications":
            time.sleep(0.02)  # a slow link, so the kill lands in the middle

    migrate(sys.argv[1], sys.argv[2], batch_size=100, on_progress=report)
    """
)


def _kill_mid_copy(source: Path, target: str, tmp_path: Path) -> None:
    script = tmp_path / "slow_child.py"
    script.write_text(_SLOW_CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), str(source), target],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    for line in child.stdout:
        _phase, table, done = line.split()
        if table == "pattern_applications" and int(done) >= 1000:
            break
    else:
        pytest.fail(f"the child ended before the kill (status {child.wait()})")
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_killed_migration_resumes_without_duplicates(
    backend: str, small_fixture: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    target = (
        str(tmp_path / "target.db")
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    source_bytes = _sha256(small_fixture)
    _kill_mid_copy(small_fixture, target, tmp_path)

    probe = create_engine(target if "://" in target else f"sqlite:///{target}")
    with probe.connect() as conn:
        assert inspect(conn).has_table("marianne_tui_migration")  # the run did not finish
        copied = conn.exec_driver_sql("SELECT count(*) FROM pattern_applications").scalar_one()
    probe.dispose()
    assert 1000 <= copied <= 5000

    report = _migrate_ok(small_fixture, target)
    assert report.resumed
    checks = {check.table: check for check in report.checks}
    assert checks["pattern_applications"].target_rows == 5000
    assert report.rows_copied == 8066 - copied - checks["executions"].target_rows - 200
    assert _sha256(small_fixture) == source_bytes

    probe = create_engine(target if "://" in target else f"sqlite:///{target}")
    with probe.connect() as conn:
        assert not inspect(conn).has_table("marianne_tui_migration")
    probe.dispose()


def test_an_unfinished_migration_from_another_source_is_refused(
    small_fixture: Path, tmp_path: Path
) -> None:
    target = tmp_path / "target.db"
    _kill_mid_copy(small_fixture, str(target), tmp_path)
    (tmp_path / "other").mkdir()
    other = fixture_copy("marianne-v15-empty.db", tmp_path / "other")
    with pytest.raises(MigrationError, match=r"unfinished migration from .*small"):
        migrate(str(other), str(target))
    report = _migrate_ok(other, target, mode="replace")
    assert not report.resumed and report.rows_copied == 0


def test_replace_empties_the_targets_journal_too(small_fixture: Path, tmp_path: Path) -> None:
    target = tmp_path / "target.db"
    _migrate_ok(_with_journal(small_fixture), target)
    with sqlite3.connect(target) as conn:  # the journal is now the target's only data
        for table in tables.MARIANNE_TABLES[1:]:
            conn.execute(f"DELETE FROM {table.name}")
    (tmp_path / "other").mkdir()
    empty = fixture_copy("marianne-v15-empty.db", tmp_path / "other")  # has no journal
    with pytest.raises(MigrationError, match=r"table marianne_tui_journal"):
        migrate(str(empty), str(target))
    _migrate_ok(empty, target, mode="replace")
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM marianne_tui_journal").fetchone() == (0,)


def test_a_journal_from_before_hosts_is_copied_with_no_host(
    small_fixture: Path, tmp_path: Path, postgres_url: str
) -> None:
    _with_journal(small_fixture)
    with sqlite3.connect(small_fixture) as conn:
        conn.execute("ALTER TABLE marianne_tui_journal DROP COLUMN host")
    report = _migrate_ok(small_fixture, postgres_url)
    assert {c.table: c.target_rows for c in report.checks}["marianne_tui_journal"] == 3
    store = GlobalLearningStore(postgres_url, read_only=True, create=False)
    try:
        journal = store.journal()
    finally:
        store.close()
    assert [entry.host for entry in journal] == [None, None, None]
    assert [entry.actor for entry in journal] == ["a@h", "b@h", "a@h"]
