"""The `:` command line: what each command means, its completion, and running it.

Parsing and completion are pure functions (``parse``, ``completions``); ``CommandRunner``
carries a parsed command out on the app. Store reads (``:jump``, ``:export``) run in a thread
worker (synchronously when polling is off, as every store call in tests), and a store error
becomes a toast, never a crash.

Commands change only what the screen shows, except ``:readonly`` (one-way for the session)
and ``:save`` (writes the view into the configuration file).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from marianne_tui import export
from marianne_tui.config import (
    MAX_REFRESH,
    MIN_REFRESH,
    SCREEN_NAMES,
    SORTS,
    STATUSES,
    VIEW_NAME,
    ConfigError,
    SavedView,
    default_config_path,
    save_view,
    theme_names,
)

if TYPE_CHECKING:
    from textual.app import App

    from marianne_tui.screens.base import StoreScreen
    from store import GlobalLearningStore, PatternRow

T = TypeVar("T")

#: How many matches :jump looks at (it names them when there is more than one).
JUMP_LIMIT = 20
#: Escalations awaiting an outcome read "awaiting" in the Outcome column and the filter.
AWAITING = "awaiting"


@dataclass(frozen=True)
class CommandSpec:
    name: str
    usage: str
    help: str
    #: what the first argument completes from (None: nothing to complete)
    choices: Callable[[Mapping[str, SavedView]], Sequence[str]] | None = None


def _fixed(*words: str) -> Callable[[Mapping[str, SavedView]], Sequence[str]]:
    return lambda _views: words


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("patterns", "[STATUS|all]", "show Patterns, with that status only",
                _fixed(*STATUSES, "all")),
    CommandSpec("drift", "", "show Drift"),
    CommandSpec("budget", "", "show Budget & entropy"),
    CommandSpec("esc", "[pending|all]", "show Escalations (pending: awaiting an outcome)",
                _fixed("pending", "all")),
    CommandSpec("limits", "", "show Rate limits"),
    CommandSpec("events", "", "show Events: every alert since the console opened"),
    CommandSpec("journal", "[TEXT]", "show the operator Journal (filtered by TEXT)"),
    CommandSpec("jump", "ID-PREFIX|NAME", "find a pattern in the whole store and open it"),
    CommandSpec("sort", "COLUMN [asc|desc]", "sort the Patterns list", _fixed(*SORTS)),
    CommandSpec("filter", "[TEXT]", "filter this list (no text: clear the filter)"),
    CommandSpec("refresh", "SECONDS", f"poll every SECONDS ({MIN_REFRESH:g}-{MAX_REFRESH:g})"),
    CommandSpec("readonly", "", "refuse every write until the console closes"),
    CommandSpec("export", "[csv|json|ndjson]", "write this list (all pages) to a file",
                _fixed(*export.FORMATS)),
    CommandSpec("save", "NAME", "save this screen, its filters and sort as a view",
                lambda views: sorted(views)),
    CommandSpec("view", "NAME", "show a saved view", lambda views: sorted(views)),
    CommandSpec("views", "", "list the saved views"),
    CommandSpec("theme", "NAME", "change the colours", lambda _views: theme_names()),
    CommandSpec("q", "", "quit"),
)
SPECS = {spec.name: spec for spec in COMMANDS}
ALIASES = {
    "quit": "q", "escalations": "esc", "rate_limits": "limits", "rate-limits": "limits",
    "ratelimits": "limits", "read-only": "readonly", "read_only": "readonly",
    "alerts": "events",
}

#: Command -> the mode it shows.
SCREEN_OF = {"patterns": "patterns", "drift": "drift", "budget": "budget",
             "esc": "escalations", "limits": "rate_limits", "events": "events",
             "journal": "journal"}


class CommandError(ValueError):
    """The command cannot run as typed; the message is one line for a toast."""


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...]

    @property
    def rest(self) -> str:
        return " ".join(self.args)


def parse(line: str) -> Command:
    """``"sort trust asc"`` -> Command("sort", ("trust", "asc")); a leading ':' is allowed."""
    text = line.strip().removeprefix(":").strip()
    if not text:
        raise CommandError("Type a command after ':' (tab completes, :q quits)")
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    name = ALIASES.get(words[0].lower(), words[0].lower())
    if name not in SPECS:
        close = [spec.name for spec in COMMANDS if spec.name.startswith(name[:1])]
        hint = f" (did you mean {', '.join(':' + c for c in close)}?)" if close else ""
        raise CommandError(f"Unknown command :{words[0]}{hint}")
    return Command(name, tuple(words[1:]))


def completions(line: str, views: Mapping[str, SavedView]) -> list[str]:
    """Whole lines that complete ``line`` (without the ':'), best first."""
    text = line.lstrip(":")
    if " " not in text:
        word = text.lower()
        return [spec.name for spec in COMMANDS if spec.name.startswith(word)]
    head, _, tail = text.partition(" ")
    name = ALIASES.get(head.lower(), head.lower())
    spec = SPECS.get(name)
    if spec is None or spec.choices is None or " " in tail.strip():
        return []
    return [f"{head} {choice}" for choice in spec.choices(views)
            if choice.startswith(tail.strip()) and choice != tail.strip()]


def describe(spec: CommandSpec) -> str:
    return f":{spec.name} {spec.usage}".rstrip() + f"  {spec.help}"


# -- saved views ------------------------------------------------------------------------


def capture_view(mode: str, screen: StoreScreen) -> SavedView:
    """What :save records of the screen shown now."""
    from marianne_tui.screens.filtered import ListFilterMixin
    from marianne_tui.screens.patterns import PatternsScreen

    if isinstance(screen, PatternsScreen):
        query = screen.query_state
        return SavedView(
            screen=mode,
            filter=query.text,
            status=query.statuses[0] if query.statuses else "",
            type=query.pattern_type,
            attention=query.needs_attention,
            sort=query.sort.value,
            descending=query.descending,
        )
    if isinstance(screen, ListFilterMixin):
        return SavedView(screen=mode, filter=screen.filter_text)
    return SavedView(screen=mode)


def set_filter(screen: StoreScreen, text: str) -> bool:
    """Put ``text`` in the screen's `/` filter (as if typed); False if it has none."""
    from marianne_tui.widgets.filter_bar import FilterInput

    inputs = screen.query(FilterInput)
    if not inputs:
        return False
    inputs.first().value = text
    return True


def natural_descending(sort: str) -> bool:
    """The direction `s` starts a sort in (scores high first, names A first)."""
    from marianne_tui.screens.patterns import SORT_CYCLE
    from store import PatternSort

    return dict(SORT_CYCLE).get(PatternSort(sort), True)


def apply_view(screen: StoreScreen, view: SavedView) -> None:
    """Show ``view`` on ``screen`` (already the view's screen)."""
    from marianne_tui.screens.patterns import PatternsScreen
    from store import PatternSort

    if isinstance(screen, PatternsScreen):
        sort = view.sort or "priority"
        screen.query_state = replace(
            screen.query_state,
            text=view.filter,
            statuses=(view.status,) if view.status else (),
            pattern_type=view.type,
            needs_attention=view.attention,
            sort=PatternSort(sort),
            descending=natural_descending(sort) if view.descending is None else view.descending,
        )
        # The filter box shows the text (typing it there re-reads too), then one re-read
        # of the whole new query.
        set_filter(screen, view.filter)
        screen._set_query()
        return
    set_filter(screen, view.filter)


# -- running a command ------------------------------------------------------------------


class CommandRunner:
    """Carries out parsed commands on the app (a ``MarianneApp``)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    # The app as Textual knows it (for notify, switch_mode, workers).
    @property
    def textual(self) -> App[None]:
        app: App[None] = self.app
        return app

    def say(self, message: str, *, severity: str = "information", title: str = "") -> None:
        self.textual.notify(message, severity=severity, title=title,  # type: ignore[arg-type]
                            markup=False)

    async def run(self, line: str) -> None:
        try:
            command = parse(line)
            await getattr(self, f"_{command.name}")(command)
        except CommandError as error:
            self.say(str(error), severity="warning")

    async def _show(self, mode: str) -> StoreScreen:
        from marianne_tui.screens.base import StoreScreen

        if self.textual.current_mode != mode:
            await self.textual.switch_mode(mode)
        screen = self.app._store_screen()
        assert isinstance(screen, StoreScreen)
        return screen

    def _current(self) -> tuple[str, StoreScreen]:
        screen = self.app._store_screen()
        if screen is None:
            raise CommandError("No list is shown")
        return self.textual.current_mode, screen

    # -- screens ---------------------------------------------------------------------

    async def _patterns(self, command: Command) -> None:
        from marianne_tui.screens.patterns import PatternsScreen

        status = command.rest.lower()
        if status and status not in (*STATUSES, "all"):
            raise CommandError(f":patterns {status}: one of {', '.join(STATUSES)} or all")
        screen = await self._show("patterns")
        if status and isinstance(screen, PatternsScreen):
            screen._set_query(statuses=() if status == "all" else (status,))

    async def _drift(self, command: Command) -> None:
        await self._show("drift")

    async def _budget(self, command: Command) -> None:
        await self._show("budget")

    async def _limits(self, command: Command) -> None:
        await self._show("rate_limits")

    async def _events(self, command: Command) -> None:
        await self._show("events")

    async def _journal(self, command: Command) -> None:
        screen = await self._show("journal")
        if command.rest:
            set_filter(screen, command.rest)

    async def _esc(self, command: Command) -> None:
        which = command.rest.lower()
        if which not in ("", "pending", "all"):
            raise CommandError(":esc takes pending or all")
        screen = await self._show("escalations")
        if which:
            set_filter(screen, AWAITING if which == "pending" else "")

    # -- the list shown --------------------------------------------------------------

    async def _filter(self, command: Command) -> None:
        _mode, screen = self._current()
        if not set_filter(screen, command.rest):
            raise CommandError(f"{screen.TITLE_TEXT} has no filter")

    async def _sort(self, command: Command) -> None:
        from marianne_tui.screens.patterns import PatternsScreen
        from store import PatternSort

        _mode, screen = self._current()
        if not isinstance(screen, PatternsScreen):
            raise CommandError("Only the Patterns list sorts (:patterns first)")
        if not command.args or command.args[0].lower() not in SORTS:
            raise CommandError(f":sort takes one of {', '.join(SORTS)}")
        sort = command.args[0].lower()
        direction = command.args[1].lower() if len(command.args) > 1 else ""
        if direction not in ("", "asc", "desc"):
            raise CommandError(":sort COLUMN asc or :sort COLUMN desc")
        descending = natural_descending(sort) if not direction else direction == "desc"
        screen._set_query(sort=PatternSort(sort), descending=descending)

    # -- the console -----------------------------------------------------------------

    async def _refresh(self, command: Command) -> None:
        try:
            seconds = float(command.rest)
        except ValueError:
            raise CommandError(":refresh takes a number of seconds, e.g. :refresh 5") from None
        if not MIN_REFRESH <= seconds <= MAX_REFRESH:
            raise CommandError(f":refresh takes {MIN_REFRESH:g} to {MAX_REFRESH:g} seconds")
        self.app.set_refresh_seconds(seconds)
        self.say(f"Refreshing every {seconds:g} s")

    async def _readonly(self, command: Command) -> None:
        if self.app.read_only:
            self.say("Already read-only")
            return
        self.app.make_read_only()
        self.say("Read-only until the console closes: no key will write.", title="read-only")

    async def _theme(self, command: Command) -> None:
        if command.rest not in theme_names():
            raise CommandError(f":theme takes one of {', '.join(theme_names())}")
        self.textual.theme = command.rest

    async def _q(self, command: Command) -> None:
        self.textual.exit()

    # -- saved views -----------------------------------------------------------------

    async def _save(self, command: Command) -> None:
        name = command.rest
        if not VIEW_NAME.fullmatch(name):
            raise CommandError(":save NAME (1-40 letters, digits, - or _)")
        mode, screen = self._current()
        if mode not in SCREEN_NAMES:  # Events and Journal are not views the file can hold
            raise CommandError(f":save works on {', '.join(SCREEN_NAMES)}")
        view = capture_view(mode, screen)
        config = self.app.config
        self.app.config = replace(config, views={**config.views, name: view})
        path: Path = config.path or default_config_path()
        try:
            save_view(path, name, view)
        except ConfigError as error:
            self.say(f"View {name} kept for this session only: {error}", severity="warning")
            return
        self.say(f"Saved view {name} in {path}")

    async def _view(self, command: Command) -> None:
        view = self.app.config.views.get(command.rest)
        if view is None:
            known = ", ".join(sorted(self.app.config.views)) or "none yet (:save NAME)"
            raise CommandError(f"No view {command.rest!r}; saved views: {known}")
        screen = await self._show(view.screen)
        apply_view(screen, view)

    async def _views(self, command: Command) -> None:
        names = sorted(self.app.config.views)
        self.say("Saved views: " + (", ".join(names) if names else "none yet (:save NAME)"))

    # -- store reads: jump and export -------------------------------------------------

    async def _jump(self, command: Command) -> None:
        term = command.rest.strip()
        if not term:
            raise CommandError(":jump takes an id prefix or part of a name")
        self.in_background(lambda store: find_patterns(store, term),
                           lambda rows: self._jumped(term, rows), "Jump failed")

    def _jumped(self, term: str, rows: Sequence[PatternRow]) -> None:
        from marianne_tui.modals.pattern_detail import PatternDetailScreen

        if not rows:
            self.say(f"No pattern's id starts with, or name contains, {term!r}",
                     severity="warning")
            return
        if len(rows) == 1:
            self.textual.push_screen(PatternDetailScreen(rows[0].id))
            return
        shown = ", ".join(f"{row.name[:30]} ({row.id[:8]})" for row in rows[:5])
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        self.say(f"{len(rows) if len(rows) < JUMP_LIMIT else f'{JUMP_LIMIT}+'} patterns match: "
                 f"{shown}{more}. Type more of the id or name.", title=":jump")

    async def _export(self, command: Command) -> None:
        fmt = (command.rest or "csv").lower()
        if fmt not in export.FORMATS:
            raise CommandError(f":export takes {', '.join(export.FORMATS)}")
        mode, screen = self._current()
        read = export_reader(mode, screen)
        folder = Path(self.app.config.export_dir or ".").expanduser()
        now = datetime.now()

        def job(store: GlobalLearningStore) -> tuple[Path, int]:
            records = read(store)
            path = export.export_path(folder.resolve(), mode, fmt, now)
            return path, export.write_file(path, records, export.COLUMNS[mode], fmt)

        def done(result: tuple[Path, int]) -> None:
            path, count = result
            self.say(f"{count} row{'s' if count != 1 else ''} written to {path}",
                     title=":export")

        self.in_background(job, done, "Export failed")

    def in_background(self, job: Callable[[GlobalLearningStore], T],
                      then: Callable[[T], None], failure: str) -> None:
        """``job(store)`` off the UI thread, then ``then`` on it; errors become a toast.

        With polling off (tests, snapshots) it runs at once, like the app's refreshes.
        """
        store = self.app.store

        def report(error: Exception) -> None:
            message = (str(error).strip().splitlines() or [""])[0]
            self.say(f"{failure}: {type(error).__name__}: {message}", severity="error")

        if not self.app.poll_enabled:
            try:
                result = job(store)
            except Exception as error:  # a store or file error is shown, never raised
                report(error)
                return
            then(result)
            return

        def work() -> None:
            try:
                result = job(store)
            except Exception as error:
                self.textual.call_from_thread(report, error)
                return
            self.textual.call_from_thread(then, result)

        self.textual.run_worker(work, thread=True, group="command", exit_on_error=False)


def find_patterns(store: GlobalLearningStore, term: str) -> list[PatternRow]:
    """Patterns whose id starts with ``term`` (first) or whose name/description contains
    it, from the whole store; an exact id alone if there is one."""
    from store import PatternQuery

    by_id = store.query_patterns(PatternQuery(id_prefix=term, limit=JUMP_LIMIT)).rows
    exact = [row for row in by_id if row.id == term]
    if exact:
        return exact
    by_text = store.query_patterns(PatternQuery(text=term, limit=JUMP_LIMIT)).rows
    seen = {row.id for row in by_id}
    return [*by_id, *(row for row in by_text if row.id not in seen)][:JUMP_LIMIT]


def export_reader(mode: str, screen: StoreScreen) -> Callable[[GlobalLearningStore],
                                                              list[export.Record]]:
    """A function that reads, off the UI thread, the rows ``screen`` shows now."""
    from marianne_tui.screens.drift import DriftScreen
    from marianne_tui.screens.escalations import EscalationsScreen
    from marianne_tui.screens.patterns import PatternsScreen
    from marianne_tui.screens.rate_limits import FETCH_LIMIT as RATE_LIMITS_LIMIT
    from marianne_tui.widgets.live_table import LiveTable

    if mode not in export.COLUMNS:
        raise CommandError(f"{screen.TITLE_TEXT} is not a list: :export works on Patterns, "
                           "Drift, Escalations and Rate limits")
    if isinstance(screen, PatternsScreen):
        query = screen.query_state
        return lambda store: [export.pattern_record(row)
                              for row in export.all_pattern_rows(store, query)]
    shown = screen.query_one(LiveTable).row_keys_in_order
    if isinstance(screen, DriftScreen):
        rows = screen.report.rows if screen.report is not None else ()
        kept = export.in_shown_order(rows, lambda row: row.pattern_id, shown)
        return lambda _store: [export.drift_record(row) for row in kept]
    if isinstance(screen, EscalationsScreen):
        # The screen's own read (its sort, stale age and filter; every page).
        reader: Callable[[GlobalLearningStore], list[export.Record]] = screen.shown_reader()
        return reader
    return lambda store: [
        export.rate_limit_record(event)
        for event in export.in_shown_order(
            store.get_active_rate_limits(limit=RATE_LIMITS_LIMIT),
            lambda event: event.id, shown)
    ]
