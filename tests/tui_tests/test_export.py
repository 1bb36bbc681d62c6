"""Export: `:export` writes exactly the rows the list shows (its filter and sort, every page),
and `marianne-tui export` writes the same rows for scripts, with exit codes as an API."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from command_helpers import command, record_toasts, started, toasts
from conftest import FrozenClock
from patterns_helpers import build_patterns_store
from screens_data import add_drift_patterns, add_escalations, add_hostile_rows, add_rate_limits

from marianne_tui import __main__ as cli
from marianne_tui import cli_export, export
from marianne_tui.app import MarianneApp
from marianne_tui.config import ConsoleConfig
from marianne_tui.screens import escalations as escalations_module
from marianne_tui.screens import patterns as patterns_module
from marianne_tui.screens.drift import DriftScreen
from marianne_tui.screens.escalations import EscalationsScreen
from marianne_tui.screens.patterns import PatternsScreen
from marianne_tui.widgets.live_table import LiveTable
from store import GlobalLearningStore, PatternQuery, PatternSort


@pytest.fixture
def store_path(tmp_path: Path, clock: FrozenClock) -> Iterator[Path]:
    path = tmp_path / "export.db"
    opened = build_patterns_store(path, clock)
    add_drift_patterns(opened)
    add_escalations(opened)
    add_rate_limits(opened)
    add_hostile_rows(opened)
    opened.close()
    yield path


@pytest.fixture
def store(store_path: Path, clock: FrozenClock) -> Iterator[GlobalLearningStore]:
    opened = GlobalLearningStore(store_path, clock=clock, create=False)
    yield opened
    opened.close()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def written_file(app: MarianneApp) -> Path:
    """The file the export toast names."""
    line = next(m for m in reversed(toasts(app)) if " written to " in m)
    return Path(line.split(" written to ", 1)[1])


def cells(table: LiveTable, key: str) -> list[str]:
    return [cell.plain for cell in table.get_row(key)]


async def test_patterns_export_holds_every_page_in_the_screens_order(
    store: GlobalLearningStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three rows a page on screen, two a read while exporting: paging is exercised twice.
    monkeypatch.setattr(patterns_module, "PAGE_SIZE", 3)
    monkeypatch.setattr(export, "EXPORT_PAGE", 2)
    out = tmp_path / "out"
    app = record_toasts(MarianneApp(store, poll=False,
                                    config=ConsoleConfig(export_dir=str(out))))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await command(pilot, "patterns pending")
        await command(pilot, "sort applications asc")
        screen = app.screen
        assert isinstance(screen, PatternsScreen)
        table = screen.query_one(LiveTable)
        # What the screen shows, page by page ( ] ), with each row's cells.
        shown: list[tuple[str, list[str]]] = []
        while True:
            shown.extend((key, cells(table, key)) for key in table.row_keys_in_order)
            before = screen.query_state.offset
            await pilot.press("right_square_bracket")
            await pilot.pause()
            if screen.query_state.offset == before:
                break
        matching = store.query_patterns(PatternQuery(statuses=("pending",))).matching
        assert len(shown) == matching > 3
        await command(pilot, "export csv")
        rows = read_csv(written_file(app))
    assert written_file(app).parent == out.resolve()
    assert [row["id"] for row in rows] == [key for key, _ in shown]
    for row, (_key, screen_cells) in zip(rows, shown, strict=True):
        status, trust, eff, prio, apps, outcomes, _seen, name, ptype = screen_cells[:9]
        assert status.endswith(row["status"]) or row["drift_retired"] == "true"
        assert trust == f"{float(row['trust']):.2f}"
        assert eff == f"{float(row['effectiveness']):.2f}"
        assert prio == f"{float(row['priority']):.2f}"
        assert apps == row["applications"]
        assert outcomes == f"{row['successes']}/{row['failures']}"
        # the cell is the sanitised name, cut; the export holds the whole sanitised name
        assert row["name"].startswith(name.removesuffix(" (inactive)").rstrip("…"))
        assert ptype == row["type"][:40]
    apps = [int(row["applications"]) for row in rows]
    assert apps == sorted(apps) and {row["status"] for row in rows} == {"pending"}


async def test_export_never_lets_an_escape_sequence_through(
    store: GlobalLearningStore, tmp_path: Path
) -> None:
    app = record_toasts(MarianneApp(store, poll=False,
                                    config=ConsoleConfig(export_dir=str(tmp_path))))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await command(pilot, "export json")
        patterns_file = written_file(app)
        await command(pilot, "esc")
        await command(pilot, "export ndjson")
        escalations_file = written_file(app)
    for path in (patterns_file, escalations_file):
        text = path.read_text(encoding="utf-8")
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    names = [row["name"] for row in json.loads(patterns_file.read_text())]
    assert any("[@click=app.quit]" in name and "␛" in name for name in names)
    guidance = [json.loads(line)["guidance"] for line in
                escalations_file.read_text().splitlines()]
    assert any(g and "␛]2;PWNED" in g for g in guidance)


async def test_drift_and_escalation_exports_follow_the_filter(
    store: GlobalLearningStore, tmp_path: Path
) -> None:
    app = record_toasts(MarianneApp(store, poll=False,
                                    config=ConsoleConfig(export_dir=str(tmp_path))))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await command(pilot, "drift")
        app.refresh_now_sync(force=True)
        await pilot.pause()
        await pilot.press("e")  # every analysed pattern, not only those exceeding
        await pilot.pause()
        await command(pilot, "filter e")
        drift = app.screen
        assert isinstance(drift, DriftScreen)
        drift_shown = drift.query_one(LiveTable).row_keys_in_order
        await command(pilot, "export csv")
        drift_rows = read_csv(written_file(app))

        await command(pilot, "esc")
        app.refresh_now_sync(force=True)
        await pilot.pause()
        await command(pilot, "filter retry")
        esc = app.screen
        assert isinstance(esc, EscalationsScreen)
        esc_table = esc.query_one(LiveTable)
        esc_shown = [(key, cells(esc_table, key)) for key in esc_table.row_keys_in_order]
        await command(pilot, "export csv")
        esc_rows = read_csv(written_file(app))

        await command(pilot, "budget")
        await command(pilot, "export csv")
        assert any("Budget & entropy is not a list" in m or "is not a list" in m
                   for m in toasts(app))

    assert [row["id"] for row in drift_rows] == list(drift_shown)
    assert 0 < len(drift_shown) < drift.report.total  # type: ignore[union-attr]
    assert all("e" in row["name"].lower() for row in drift_rows)
    assert [row["id"] for row in esc_rows] == [key for key, _ in esc_shown]
    assert len(esc_rows) == 4  # three retries by action, one by the hostile row's action
    for row, (_key, screen_cells) in zip(esc_rows, esc_shown, strict=True):
        assert row["job_hash"].startswith(screen_cells[2].rstrip("…"))
        assert screen_cells[5] == row["action"]
        assert screen_cells[0].endswith(row["outcome"])


# -- marianne-tui export ----------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["export", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_headless_export_matches_the_console_export(
    store_path: Path, clock: FrozenClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "--db", str(store_path), "--screen", "patterns",
                             "--status", "pending,validated", "--sort", "trust",
                             "--filter", "e", "--format", "csv")
    assert (code, err) == (0, "")
    headless = list(csv.DictReader(io.StringIO(out)))
    opened = GlobalLearningStore(store_path, clock=clock, create=False)
    try:
        app = record_toasts(MarianneApp(opened, poll=False,
                                        config=ConsoleConfig(export_dir=str(tmp_path))))
        async with app.run_test(size=(120, 40)) as pilot:
            await started(app, pilot)
            screen = app.screen
            assert isinstance(screen, PatternsScreen)
            screen._set_query(statuses=("pending", "validated"), sort=PatternSort.TRUST,
                              descending=True)
            await command(pilot, "filter e")
            await command(pilot, "export csv")
            console = read_csv(written_file(app))
    finally:
        opened.close()
    assert headless == console
    assert headless and {row["status"] for row in headless} <= {"pending", "validated"}
    trusts = [float(row["trust"]) for row in headless]
    assert trusts == sorted(trusts, reverse=True)


def test_headless_formats_and_output_file(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "--db", str(store_path), "--screen", "escalations",
                           "--format", "json")
    assert code == 0
    records = json.loads(out)
    assert len(records) == 7 and list(records[0]) == list(export.COLUMNS["escalations"])
    assert [r["outcome"] for r in records[:3]] == ["awaiting"] * 3  # pending first

    # The command line runs on the wall clock: the frozen clock's limits have expired.
    live = GlobalLearningStore(store_path, create=False)
    add_rate_limits(live)
    live.close()
    target = tmp_path / "limits.ndjson"
    code, out, err = run_cli(capsys, "--db", str(store_path), "--screen", "rate-limits",
                             "--format", "ndjson", "--output", str(target))
    assert (code, out) == (0, "")
    assert err == f"marianne-tui export: 3 rows written to {target}\n"
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    # latest expiry first, as the screen lists them
    assert [r["error_code"] for r in lines] == ["E429", "RATE_LIMIT", "E101"]

    code, out, _ = run_cli(capsys, "--db", str(store_path), "--screen", "drift", "--all",
                           "--window", "5")
    assert code == 0
    drift = list(csv.DictReader(io.StringIO(out)))
    assert list(drift[0]) == list(export.COLUMNS["drift"])
    assert {row["name"] for row in drift} >= {
        "declining-retry-pattern", "improving-prompt-fix", "steady-validation",
        "belief-wobbler"}

    code, out, _ = run_cli(capsys, "--db", str(store_path), "--status", "retired",
                           "--filter", "no such text anywhere")
    assert code == 0 and out == ",".join(export.COLUMNS["patterns"]) + "\n"


def test_headless_store_from_the_environment_and_the_config_file(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(cli.STORE_ENV_VARIABLE, str(store_path))
    code, out, _ = run_cli(capsys, "--status", "quarantined")
    assert code == 0 and out.count("\n") == 2  # header + the quarantined pattern
    monkeypatch.delenv(cli.STORE_ENV_VARIABLE)
    config = tmp_path / "config.toml"
    config.write_text(f"store = {json.dumps(str(store_path))}\n")
    code, out2, _ = run_cli(capsys, "--config", str(config), "--status", "quarantined")
    assert (code, out2) == (0, out)


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["--db", "{missing}"], cli_export.EXIT_STORE, "no store at "),
    (["--db", "{text}"], cli_export.EXIT_STORE, "is not a SQLite database"),
    (["--db", "{store}", "--screen", "budget"], cli_export.EXIT_USAGE, "is not a list"),
    (["--db", "{store}", "--status", "happy"], cli_export.EXIT_USAGE, "'happy' is not one"),
    (["--db", "{store}", "--format", "xml"], cli_export.EXIT_USAGE, "invalid choice"),
    (["--db", "{store}", "--config", "{bad_config}"], cli_export.EXIT_CONFIG,
     "colour: unknown key"),
    (["--db", "{store}", "--output", "{text}"], cli_export.EXIT_OUTPUT, "exists already"),
    (["--db", "{store}", "--output", "{unwritable}"], cli_export.EXIT_OUTPUT,
     "cannot write"),
])
def test_headless_exit_codes_are_one_line(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    argv: list[str], code: int, message: str,
) -> None:
    (tmp_path / "notes.txt").write_text("not a store\n")
    (tmp_path / "bad.toml").write_text("colour = 'red'\n")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, so nothing can be made under it")
    places: dict[str, Any] = {
        "missing": tmp_path / "none.db", "text": tmp_path / "notes.txt", "store": store_path,
        "bad_config": tmp_path / "bad.toml", "unwritable": blocked / "out.csv",
    }
    argv = [arg.format(**places) for arg in argv]
    with pytest.raises(SystemExit) if code == cli_export.EXIT_USAGE else _no_exit() as raised:
        result, out, err = run_cli(capsys, *argv)
    if code == cli_export.EXIT_USAGE:
        assert raised.value.code == code  # type: ignore[union-attr]
        err = capsys.readouterr().err
    else:
        assert result == code and out == ""
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert (tmp_path / "notes.txt").read_text() == "not a store\n"


class _no_exit:
    value = None

    def __enter__(self) -> _no_exit:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False


def test_export_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.main(["export", "--help"])
    assert raised.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    for part in ("0 exported", "1 store cannot be opened or read", "2 bad command line",
                 "3 bad configuration file", "4 output cannot be written"):
        assert part in help_text


async def test_headless_escalations_export_is_the_screens_queue_every_page(
    store_path: Path, clock: FrozenClock, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Three rows a page on screen, two a read while exporting: paging is exercised twice.
    monkeypatch.setattr(escalations_module, "PAGE_SIZE", 3)
    monkeypatch.setattr(export, "EXPORT_PAGE", 2)
    code, out, err = run_cli(capsys, "--db", str(store_path), "--screen", "escalations")
    assert (code, err) == (0, "")
    headless = list(csv.DictReader(io.StringIO(out)))
    code, out, _ = run_cli(capsys, "--db", str(store_path), "--screen", "escalations",
                           "--filter", "retry")
    headless_retry = list(csv.DictReader(io.StringIO(out)))
    opened = GlobalLearningStore(store_path, clock=clock, create=False)
    try:
        app = record_toasts(MarianneApp(opened, poll=False,
                                        config=ConsoleConfig(export_dir=str(tmp_path))))
        async with app.run_test(size=(120, 40)) as pilot:
            await started(app, pilot)
            await command(pilot, "esc")
            app.refresh_now_sync(force=True)
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, EscalationsScreen)
            pages: list[str] = []
            for _page in range(3):  # 7 escalations: 3 + 3 + 1
                pages.extend(screen.table.row_keys_in_order)
                await pilot.press("right_square_bracket")
                await pilot.pause()
                app.refresh_now_sync(force=True)
                await pilot.pause()
            await command(pilot, "filter retry")
            await command(pilot, "export csv")
            console_retry = read_csv(written_file(app))
    finally:
        opened.close()
    assert [row["id"] for row in headless] == pages and len(set(pages)) == 7
    # The queue's order: awaiting newest first, then the decided ones newest first.
    awaiting = [row for row in headless if row["outcome"] == "awaiting"]
    assert headless[:len(awaiting)] == awaiting and len(awaiting) == 3
    for group in (awaiting, headless[len(awaiting):]):
        stamps = [row["recorded_at"] for row in group]
        assert stamps == sorted(stamps, reverse=True)
    assert headless_retry == console_retry
    assert [row["id"] for row in headless_retry] == [
        row["id"] for row in headless
        if "retry" in (row["action"] + row["guidance"]).lower()]
