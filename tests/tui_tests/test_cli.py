"""The command line: where the store comes from, and one clear line (never a traceback) when
it cannot be opened."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from marianne_tui import __main__ as cli
from marianne_tui.app import MarianneApp
from store import DEFAULT_GLOBAL_STORE_PATH, GlobalLearningStore


def _err_line(capsys: pytest.CaptureFixture[str]) -> str:
    """stderr must be exactly one line, with no traceback in it."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_missing_file_is_one_line_and_exit_1_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "nope" / "global-learning.db"
    assert cli.main(["--db", str(target)]) == 1
    line = _err_line(capsys)
    assert line.startswith("marianne-tui: no store at ")
    assert str(target) in line
    assert not target.exists() and not target.parent.exists()


def test_a_text_file_is_not_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("just some notes\n" * 100)
    assert cli.main(["--db", str(target)]) == 1
    assert "is not a SQLite database" in _err_line(capsys)
    assert target.read_text() == "just some notes\n" * 100


def test_a_sqlite_database_without_the_schema_is_not_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "other.db"
    with sqlite3.connect(target) as conn:
        conn.execute("CREATE TABLE t (x)")
    assert cli.main(["--db", str(target)]) == 1
    assert "is not a Marianne learning store" in _err_line(capsys)


def test_unreachable_postgresql_is_one_line_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Port 1 on localhost refuses at once: no waiting on a timeout.
    url = "postgresql+psycopg://operator:s3cret@127.0.0.1:1/marianne"
    assert cli.main(["--db", url]) == 1
    line = _err_line(capsys)
    assert "s3cret" not in line
    assert "127.0.0.1" in line


@pytest.mark.parametrize("value", ["0", "0.1", "3601", "abc", "nan", "-2"])
def test_bad_refresh_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.main(["--refresh", value])
    assert raised.value.code == 2
    assert "--refresh" in _err_line(capsys)


def test_demo_and_db_together_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.main(["--demo", "--db", "x.db"])
    assert raised.value.code == 2
    assert "--demo" in _err_line(capsys)


def test_store_location_precedence() -> None:
    env = {cli.STORE_ENV_VARIABLE: "/srv/marianne/store.db"}
    assert cli.store_target("/given.db", env) == "/given.db"
    assert cli.store_target(None, env) == "/srv/marianne/store.db"
    assert cli.store_target(None, {}) == str(DEFAULT_GLOBAL_STORE_PATH)
    assert cli.store_target(None, {cli.STORE_ENV_VARIABLE: "  "}) == str(
        DEFAULT_GLOBAL_STORE_PATH
    )


def test_environment_variable_is_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cli.STORE_ENV_VARIABLE, str(tmp_path / "from-env.db"))
    assert cli.main([]) == 1
    assert "from-env.db" in _err_line(capsys)


def test_redact_hides_only_the_password() -> None:
    assert cli.redact("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert cli.redact("/home/u/.marianne/global-learning.db") == (
        "/home/u/.marianne/global-learning.db"
    )


def test_opens_an_existing_store_and_runs_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "store.db"
    GlobalLearningStore(target).close()
    seen: dict[str, object] = {}

    def fake_run(self: MarianneApp, *, mouse: bool = True) -> None:
        seen.update(
            refresh=self.refresh_seconds, read_only=self.read_only, mouse=mouse,
            store_read_only=self.store.read_only, location=self.store.location,
        )

    monkeypatch.setattr(MarianneApp, "run", fake_run)
    assert cli.main(["--db", str(target), "--refresh", "0.5", "--read-only", "--no-mouse"]) == 0
    assert seen == {
        "refresh": 0.5, "read_only": True, "mouse": False,
        "store_read_only": True, "location": str(target),
    }


def _newer_schema_store(path: Path) -> Path:
    GlobalLearningStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM schema_version")
        conn.execute("INSERT INTO schema_version (version) VALUES (16)")
    return path


async def test_newer_schema_opens_read_only_with_a_banner(tmp_path: Path) -> None:
    store = cli.open_store(str(_newer_schema_store(tmp_path / "v16.db")), read_only=False)
    try:
        assert store.read_only
        app = MarianneApp(store, poll=False)
        assert app.read_only
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            header = app.screen.query_one("#store-header")
            text = header.plain()  # type: ignore[attr-defined]
            assert "READ-ONLY" in text
            assert "schema v16 is newer than v15" in text
    finally:
        store.close()


def test_process_exit_status_and_stderr(tmp_path: Path) -> None:
    """The installed entry point, as an operator runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "marianne_tui", "--db", str(tmp_path / "missing.db")],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_operator_names_who_acts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "store.db"
    GlobalLearningStore(target).close()
    seen: dict[str, object] = {}

    def fake_run(self: MarianneApp, *, mouse: bool = True) -> None:
        seen["operator"] = self.store.operator

    monkeypatch.setattr(MarianneApp, "run", fake_run)
    assert cli.main(["--db", str(target), "--operator", " night-shift "]) == 0
    assert seen == {"operator": "night-shift"}
    assert cli.main(["--db", str(target)]) == 0
    assert seen == {"operator": None}  # the journal then records the OS user


def test_an_unprintable_operator_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.main(["--operator", "evil\x1b]0;title\x07"])
    assert raised.value.code == 2
    assert "--operator" in capsys.readouterr().err
