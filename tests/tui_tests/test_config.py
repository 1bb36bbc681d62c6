"""The configuration file: what each key sets, what the command line overrides, and one
clear line with exit status 3 for every mistake in it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from patterns_helpers import build_patterns_store

from marianne_tui import __main__ as cli
from marianne_tui import config as config_module
from marianne_tui.app import MarianneApp
from marianne_tui.config import (
    AlertRules,
    ConfigError,
    ConsoleConfig,
    SavedView,
    load_config,
    save_view,
)
from store import DEFAULT_GLOBAL_STORE_PATH, GlobalLearningStore

FULL = """
store = "~/stores/learning.db"
refresh = 5
read_only = true
theme = "ansi-light"
bell = true
stale_age_days = 3.5
export_dir = "/tmp/exports"

[alerts]
diversity = false
rate_limit_burst = 10
drift = false

[views.triage-morning]
screen = "patterns"
status = "quarantined"
filter = "retry"
sort = "trust"
descending = false

[views.queue]
screen = "escalations"
filter = "awaiting"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_key_is_read(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))
    assert config.store == str(Path.home() / "stores" / "learning.db")
    assert (config.refresh, config.read_only, config.theme) == (5.0, True, "ansi-light")
    assert (config.bell, config.stale_age_days, config.export_dir) == (True, 3.5,
                                                                       "/tmp/exports")
    assert config.alerts == AlertRules(diversity=False, rate_limit_burst=10, drift=False)
    assert config.views == {
        "triage-morning": SavedView(screen="patterns", filter="retry", status="quarantined",
                                    sort="trust", descending=False),
        "queue": SavedView(screen="escalations", filter="awaiting"),
    }


def test_no_file_is_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = tmp_path / "nowhere" / "config.toml"
    monkeypatch.setattr(config_module, "default_config_path", lambda: default)
    config = load_config()
    assert config == ConsoleConfig(path=default)
    assert (config.refresh, config.stale_age_days, config.bell) == (2.0, 7.0, False)
    assert config.alerts.rate_limit_burst == 3 and config.alerts.escalations


@pytest.mark.parametrize(("text", "message"), [
    ("refersh = 2\n", "refersh: unknown key (known here: store, refresh,"),
    ("[alerts]\nbudget = true\n", "alerts.budget: unknown key (known here: diversity,"),
    ("[views.x]\nscreen = 'patterns'\ncolour = 1\n", "views.x.colour: unknown key"),
    ("refresh = 'fast'\n", "refresh: must be a number from 0.2 to 3600, not 'fast'"),
    ("refresh = 0.01\n", "refresh: must be a number from 0.2 to 3600, not 0.01"),
    ("refresh = nan\n", "refresh: must be a number"),
    ("read_only = 'yes'\n", "read_only: must be true or false, not 'yes'"),
    ("bell = 1\n", "bell: must be true or false, not 1"),
    ("stale_age_days = -1\n", "stale_age_days: must be a number from 0 to 3650"),
    ("[alerts]\nrate_limit_burst = 2.5\n", "alerts.rate_limit_burst: must be a whole number"),
    ("theme = 'hotdog'\n", "theme: unknown theme 'hotdog' (one of: ansi-dark, ansi-light,"),
    ("store = ''\n", "store: must be a non-empty string"),
    ("alerts = 3\n", "alerts: must be a table"),
    ("[views.x]\nscreen = 'journal'\n", "views.x.screen: 'journal' is not one of patterns,"),
    ("[views.x]\nstatus = 'happy'\n", "views.x.status: 'happy' is not one of pending,"),
    ("[views.x]\nsort = 'colour'\n", "views.x.sort: 'colour' is not one of priority,"),
    ('[views."two words"]\n', 'views.two words: a view name is 1-40 letters'),
    ("refresh = = 2\n", "not valid TOML: "),
])
def test_mistakes_are_one_line_naming_the_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    line = str(raised.value)
    assert line.startswith(f"{path}: ")
    assert message in line
    assert "\n" not in line


def test_missing_or_binary_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "absent.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(binary)


def test_console_exit_status_3_on_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "[alerts]\nbell = true\n")
    assert cli.main(["--config", str(path), "--db", str(tmp_path / "x.db")]) == 3
    err = capsys.readouterr().err
    assert err == f"marianne-tui: {path}: alerts.bell: unknown key (known here: diversity, " \
        "budget_floor, escalations, rate_limits, rate_limit_burst, status_changes, drift)\n"


def _capture_app(monkeypatch: pytest.MonkeyPatch) -> list[MarianneApp]:
    started: list[MarianneApp] = []

    def fake_run(self: MarianneApp, **_: object) -> None:
        started.append(self)

    monkeypatch.setattr(MarianneApp, "run", fake_run)
    return started


def test_the_console_takes_store_refresh_read_only_and_theme_from_the_file(
    tmp_path: Path, clock: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_patterns_store(tmp_path / "s.db", clock).close()  # type: ignore[arg-type]
    path = write(tmp_path, f"store = {json.dumps(str(tmp_path / 's.db'))}\nrefresh = 7\n"
                 "read_only = true\ntheme = 'ansi-dark'\nbell = true\n")
    monkeypatch.delenv(cli.STORE_ENV_VARIABLE, raising=False)
    started = _capture_app(monkeypatch)
    assert cli.main(["--config", str(path)]) == 0
    app = started[0]
    assert (app.refresh_seconds, app.read_only, app.theme) == (7.0, True, "ansi-dark")
    assert app.store.read_only  # opened read-only, not only gated
    assert app.config.bell and app.config.path == path  # kept for the alert feature

    # The command line wins over the file; the environment wins over the file's store.
    other = tmp_path / "other.db"
    build_patterns_store(other, clock).close()  # type: ignore[arg-type]
    monkeypatch.setenv(cli.STORE_ENV_VARIABLE, str(other))
    assert cli.main(["--config", str(path), "--refresh", "1"]) == 0
    assert started[1].refresh_seconds == 1.0
    assert Path(started[1].store.location).name == "other.db"  # type: ignore[attr-defined]


def test_no_color_makes_the_console_monochrome(
    tmp_path: Path, clock: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = build_patterns_store(tmp_path / "s.db", clock)  # type: ignore[arg-type]
    try:
        monkeypatch.setenv("NO_COLOR", "1")
        assert MarianneApp(store, poll=False).no_color
        monkeypatch.delenv("NO_COLOR")
        assert not MarianneApp(store, poll=False).no_color
    finally:
        store.close()


def test_save_view_keeps_comments_and_replaces_only_its_table(tmp_path: Path) -> None:
    path = write(tmp_path, "# top comment\nrefresh = 3  # seconds\n\n[views.a]\n"
                 "screen = 'drift'\n# about b\n[views.b]\nscreen = 'budget'\n\n[alerts]\n"
                 "bell_like = 1\n")
    # the file is broken ([alerts] has an unknown key) but still TOML: saving keeps it so
    save_view(path, "a", SavedView(screen="patterns", filter='say "hi"\\'))
    text = path.read_text()
    assert text.startswith("# top comment\nrefresh = 3  # seconds\n\n")
    assert "[views.b]\nscreen = 'budget'\n" in text and text.count("[views.a]") == 1
    path.write_text(text.replace("bell_like = 1\n", ""))
    assert load_config(path).views["a"] == SavedView(screen="patterns", filter='say "hi"\\')
    assert load_config(path).views["b"] == SavedView(screen="budget")


def test_save_view_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="a view name is"):
        save_view(tmp_path / "c.toml", "bad name", SavedView())
    blocked = tmp_path / "blocked"
    blocked.write_text("")
    with pytest.raises(ConfigError, match="cannot write it"):
        save_view(blocked / "c.toml", "ok", SavedView())


def test_store_in_a_url_is_kept_as_written(tmp_path: Path) -> None:
    path = write(tmp_path, 'store = "postgresql+psycopg://me@db/marianne"\n')
    assert load_config(path).store == "postgresql+psycopg://me@db/marianne"


def test_store_default_when_nothing_is_set() -> None:
    assert cli.store_target(None, {}) == str(DEFAULT_GLOBAL_STORE_PATH)
    assert cli.store_target(None, {}, configured="/x.db") == "/x.db"
    assert cli.store_target(None, {cli.STORE_ENV_VARIABLE: "/env.db"},
                            configured="/x.db") == "/env.db"
    assert cli.store_target("/flag.db", {cli.STORE_ENV_VARIABLE: "/env.db"},
                            configured="/x.db") == "/flag.db"


def test_theme_is_applied(tmp_path: Path, clock: object) -> None:
    store: GlobalLearningStore = build_patterns_store(tmp_path / "s.db", clock)  # type: ignore[arg-type]
    try:
        assert MarianneApp(store, poll=False,
                           config=ConsoleConfig(theme="ansi-light")).theme == "ansi-light"
    finally:
        store.close()
