"""The console's configuration file: a TOML file in the user config folder.

Where it is: ``--config PATH``, else ``<user config folder>/marianne-tui/config.toml``
(platformdirs; ``~/.config/marianne-tui/config.toml`` on Linux). A missing default file is
simply no configuration; a missing ``--config`` file is an error. Every key is optional::

    store = "~/.marianne/global-learning.db"   # or a SQLAlchemy URL
    refresh = 2.0                               # seconds between polls
    read_only = false                           # open the store so nothing can be written
    theme = "ansi-dark"                         # any Textual theme (ansi-* keep your palette)
    bell = false                                # ring the terminal bell on an alert
    stale_age_days = 7                          # an escalation older than this is stale
    export_dir = "~/exports"                    # where :export writes (default: current dir)

    [alerts]                                    # what the console alerts on
    diversity = true                            # diversity crossing its threshold (and back)
    budget_floor = true                         # the exploration budget at its floor
    escalations = true                          # a new escalation awaiting an outcome
    rate_limits = true                          # a new rate limit
    rate_limit_burst = 3                        # this many new limits in one refresh: a burst
    status_changes = true                       # a pattern's status changed by someone else
    drift = true                                # a pattern starting to drift past threshold

    [views.triage-morning]                      # a saved view (:save NAME writes these)
    screen = "patterns"
    status = "quarantined"
    filter = "retry"
    sort = "trust"
    descending = false

``stale_age_days``, ``bell`` and ``[alerts]`` are read and checked now, and kept on
``ConsoleConfig`` for the alert and stale-escalation features that use them.

An unknown key, a value of the wrong type or out of range is a ``ConfigError`` whose
message is one line naming the file and the key.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

#: How long a poll may be apart (the command line and :refresh use the same bounds).
MIN_REFRESH = 0.2
MAX_REFRESH = 3600.0

#: Screens a saved view or an export can name (the app's modes).
SCREEN_NAMES = ("patterns", "drift", "budget", "escalations", "rate_limits")
#: Pattern statuses a view may filter on ("" = all).
STATUSES = ("pending", "quarantined", "validated", "retired")
#: Sort names of the Patterns screen (store.PatternSort values).
SORTS = (
    "priority", "effectiveness", "trust", "applications", "successes", "failures",
    "last_seen", "status", "name", "type", "instrument",
)
#: A view's name: what :save and :view accept and a TOML bare key can hold.
VIEW_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")


class ConfigError(ValueError):
    """The configuration file cannot be used; the message is one line."""


@dataclass(frozen=True)
class AlertRules:
    """Which alerts the console raises (used by the alerts feature)."""

    diversity: bool = True
    budget_floor: bool = True
    escalations: bool = True
    rate_limits: bool = True
    rate_limit_burst: int = 3
    status_changes: bool = True
    drift: bool = True


@dataclass(frozen=True)
class SavedView:
    """A screen with its filters and sort, as :save recorded it."""

    screen: str = "patterns"
    filter: str = ""
    status: str = ""
    type: str | None = None
    attention: bool = False
    sort: str | None = None
    descending: bool | None = None

    def to_toml(self, name: str) -> str:
        """The ``[views.NAME]`` table for this view (only the keys that are set)."""
        lines = [f"[views.{name}]", f"screen = {json.dumps(self.screen)}"]
        if self.filter:
            lines.append(f"filter = {json.dumps(self.filter)}")
        if self.status:
            lines.append(f"status = {json.dumps(self.status)}")
        if self.type is not None:
            lines.append(f"type = {json.dumps(self.type)}")
        if self.attention:
            lines.append("attention = true")
        if self.sort is not None:
            lines.append(f"sort = {json.dumps(self.sort)}")
        if self.descending is not None:
            lines.append(f"descending = {'true' if self.descending else 'false'}")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ConsoleConfig:
    """Everything the file can set, with the defaults of a console run without one."""

    store: str | None = None
    refresh: float = 2.0
    read_only: bool = False
    theme: str | None = None
    bell: bool = False
    stale_age_days: float = 7.0
    export_dir: str | None = None
    alerts: AlertRules = field(default_factory=AlertRules)
    views: Mapping[str, SavedView] = field(default_factory=dict)
    #: the file this came from (None: no file); :save writes views there
    path: Path | None = None


def default_config_path() -> Path:
    """``config.toml`` in the user config folder."""
    return platformdirs.user_config_path("marianne-tui") / "config.toml"


def load_config(path: Path | None = None) -> ConsoleConfig:
    """Read ``path`` (given with --config: must exist), else the default file if any."""
    if path is None:
        default = default_config_path()
        if not default.exists():
            return ConsoleConfig(path=default)
        path = default
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it: {error.strerror or error}") from None
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return parse_config(document, path)


def parse_config(document: Mapping[str, Any], path: Path) -> ConsoleConfig:
    """Check every key of a parsed file; the first problem is a one-line ConfigError."""
    where = str(path)
    top = _Section(document, where, "")
    top.only(
        "store", "refresh", "read_only", "theme", "bell", "stale_age_days", "export_dir",
        "alerts", "views",
    )
    alerts = _Section(top.table("alerts"), where, "alerts.")
    alerts.only(*(item.name for item in fields(AlertRules)))
    views_table = top.table("views")
    views: dict[str, SavedView] = {}
    for name in views_table:
        if not VIEW_NAME.fullmatch(name):
            raise ConfigError(
                f"{where}: views.{name}: a view name is 1-40 letters, digits, - or _"
            )
        views[name] = _view(_Section(views_table[name], where, f"views.{name}."))
    theme = top.text("theme")
    if theme is not None:
        _check_theme(theme, where)
    store = top.text("store")
    if store is not None and "://" not in store:
        store = str(Path(store).expanduser())
    return ConsoleConfig(
        store=store,
        refresh=top.number("refresh", 2.0, MIN_REFRESH, MAX_REFRESH),
        read_only=top.flag("read_only", False),
        theme=theme,
        bell=top.flag("bell", False),
        stale_age_days=top.number("stale_age_days", 7.0, 0.0, 3650.0),
        export_dir=top.text("export_dir"),
        alerts=AlertRules(
            diversity=alerts.flag("diversity", True),
            budget_floor=alerts.flag("budget_floor", True),
            escalations=alerts.flag("escalations", True),
            rate_limits=alerts.flag("rate_limits", True),
            rate_limit_burst=int(alerts.number("rate_limit_burst", 3, 1, 10_000, integer=True)),
            status_changes=alerts.flag("status_changes", True),
            drift=alerts.flag("drift", True),
        ),
        views=views,
        path=path,
    )


def theme_names() -> tuple[str, ...]:
    """Textual's built-in themes (ansi-dark and ansi-light keep the terminal's palette)."""
    from textual.theme import BUILTIN_THEMES

    return tuple(sorted(BUILTIN_THEMES))


def _check_theme(theme: str, where: str) -> None:
    if theme not in theme_names():
        raise ConfigError(
            f"{where}: theme: unknown theme {theme!r} (one of: {', '.join(theme_names())})"
        )


def _view(section: _Section) -> SavedView:
    section.only("screen", "filter", "status", "type", "attention", "sort", "descending")
    screen = section.choice("screen", SCREEN_NAMES) or "patterns"
    return SavedView(
        screen=screen,
        filter=section.text("filter") or "",
        status=section.choice("status", STATUSES) or "",
        type=section.text("type"),
        attention=section.flag("attention", False),
        sort=section.choice("sort", SORTS),
        descending=section.flag("descending", None),
    )


class _Section:
    """One table of the file, read key by key with the file and key in every message."""

    def __init__(self, table: object, where: str, prefix: str) -> None:
        if table is None:
            table = {}
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: {prefix.rstrip('.')}: must be a table")
        self.values: dict[str, Any] = table
        self.where = where
        self.prefix = prefix

    def _fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.where}: {self.prefix}{key}: {message}")

    def only(self, *known: str) -> None:
        for key in self.values:
            if key not in known:
                raise self._fail(key, f"unknown key (known here: {', '.join(known)})")

    def table(self, key: str) -> dict[str, Any]:
        value = self.values.get(key, {})
        if not isinstance(value, dict):
            raise self._fail(key, "must be a table, e.g. [" + self.prefix + key + "]")
        return value

    def text(self, key: str) -> str | None:
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self._fail(key, f"must be a non-empty string, not {value!r}")
        return value.strip()

    def choice(self, key: str, allowed: tuple[str, ...]) -> str | None:
        value = self.text(key)
        if value is not None and value not in allowed:
            raise self._fail(key, f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def flag(self, key: str, default: bool | None) -> Any:
        value = self.values.get(key, default)
        if value is not default and not isinstance(value, bool):
            raise self._fail(key, f"must be true or false, not {value!r}")
        return value

    def number(
        self, key: str, default: float, low: float, high: float, *, integer: bool = False
    ) -> float:
        value = self.values.get(key, default)
        wrong = isinstance(value, bool) or not isinstance(value, int | float)
        if not wrong and integer and not isinstance(value, int):
            wrong = True
        if wrong or not math.isfinite(value) or not low <= value <= high:
            kind = "a whole number" if integer else "a number"
            raise self._fail(key, f"must be {kind} from {low:g} to {high:g}, not {value!r}")
        return float(value)


def save_view(path: Path, name: str, view: SavedView) -> None:
    """Write ``[views.NAME]`` into the file at ``path``, replacing a table of that name.

    The rest of the file (comments included) is kept as it is; the new file replaces the
    old one atomically, so a failed write leaves the old file whole.
    """
    if not VIEW_NAME.fullmatch(name):
        raise ConfigError(f"{name!r}: a view name is 1-40 letters, digits, - or _")
    try:
        old = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read it: {error}") from None
    kept = _without_table(old, f"views.{name}")
    if kept and not kept.endswith("\n"):
        kept += "\n"
    new = kept + ("\n" if kept.strip() else "") + view.to_toml(name)
    try:
        tomllib.loads(new)
    except tomllib.TOMLDecodeError as error:  # e.g. the file already had a broken table
        raise ConfigError(f"{path}: would not stay valid TOML: {error}") from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(new, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:
        raise ConfigError(f"{path}: cannot write it: {error.strerror or error}") from None


_TABLE_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def _without_table(text: str, table: str) -> str:
    """``text`` without the lines of the table ``[table]`` (up to the next header)."""
    kept: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        header = _TABLE_HEADER.match(line)
        if header:
            name = header.group(1).replace('"', "").replace(" ", "")
            skipping = name == table
        if not skipping:
            kept.append(line)
    return "".join(kept).rstrip("\n") + ("\n" if kept else "")
