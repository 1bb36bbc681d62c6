"""``marianne-tui migrate``: the verification table, one-line refusals, exit statuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from marianne_tui import __main__ as cli
from marianne_tui.cli_migrate import ProgressBars, _progress
from store.migrate import MigrationProgress


def test_a_copy_prints_every_table_verified_and_exits_0(
    small_fixture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "copy.db"
    assert cli.main(["migrate", str(small_fixture), str(target)]) == 0
    out = capsys.readouterr().out
    rows = {
        line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 5
    }
    assert rows["pattern_applications"].split("│")[2].strip() == "5,000"
    assert rows["pattern_applications"].split("│")[3].strip() == "5,000"
    for name in ("schema_version", "executions", "patterns", "escalation_decisions"):
        cells = [cell.strip() for cell in rows[name].split("│")]
        assert cells[4] == cells[5] and len(cells[4]) == 16  # source and target checksums
        assert cells[6] == "ok"
    assert "8,066 rows copied from" in out


def test_a_second_run_is_refused_in_one_line(
    small_fixture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "copy.db"
    assert cli.main(["migrate", str(small_fixture), str(target)]) == 0
    capsys.readouterr()
    assert cli.main(["migrate", str(small_fixture), str(target)]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("marianne-tui migrate: ")
    assert "--append" in captured.err and "--replace" in captured.err
    assert cli.main(["migrate", "--replace", str(small_fixture), str(target)]) == 0


def test_a_wrong_server_is_one_line_with_the_password_masked(
    small_fixture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql+psycopg://ops:s3cret-pw@127.0.0.1:9/marianne"
    assert cli.main(["migrate", str(small_fixture), url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "s3cret-pw" not in err
    assert "ops:***@127.0.0.1:9" in err


def test_append_and_replace_together_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.main(["migrate", "--append", "--replace", "a.db", "b.db"])
    assert raised.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_progress_bars_show_rows_done_of_total_per_table() -> None:
    progress = _progress(Console(width=120))
    bars = ProgressBars(progress)
    bars(MigrationProgress("copy", "patterns", 0, 200))
    bars(MigrationProgress("copy", "patterns", 150, 200))
    bars(MigrationProgress("copy", "executions", 0, 2000))
    bars(MigrationProgress("verify", "patterns (source)", 0, 200))
    bars(MigrationProgress("verify", "patterns (target)", 0, 200))
    bars.stop()
    tasks = {task.description: task for task in progress.tasks}
    assert tasks["copy patterns"].completed == 150 and tasks["copy patterns"].total == 200
    assert tasks["copy executions"].total == 2000
    # One bar for the verification, showing the table being checked now.
    assert "check patterns (target)" in tasks and "check patterns (source)" not in tasks


def test_the_command_runs_as_a_program(small_fixture: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "marianne_tui", "migrate", str(small_fixture), str(tmp_path / "c")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "copy pattern_applications" in result.stderr  # the bars go to stderr
    assert "5000/5000" in result.stderr
    assert "Verification" in result.stdout
