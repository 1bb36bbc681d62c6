"""`?`: every key of the current screen, then the keys that work everywhere.

Read from the bindings themselves (the screen's, its own widgets', the app's), hidden ones
included, so the help never drifts from the code. A key that read-only mode disables is
listed as such.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.actions import parse
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Static

from marianne_tui.modals.backdrop import BackdropModalScreen
from marianne_tui.status import legend


@dataclass(frozen=True)
class KeyHelp:
    keys: str
    description: str
    enabled: bool = True


def _describe(binding: Binding) -> str:
    return binding.description or binding.tooltip or binding.action.replace("_", " ")


def _ours(cls: type) -> bool:
    return cls.__module__.startswith("marianne_tui")


def _bindings_of(node: DOMNode) -> list[Binding]:
    """The bindings our own classes declare on a node, in declaration order.

    Textual's inherited defaults (focus keys, the Input's editing keys, the DataTable's
    cursor keys) are left out: they are the same everywhere and would bury the keys that
    matter here.
    """
    bindings: list[Binding] = []
    for cls in reversed(type(node).__mro__):
        if _ours(cls) and "BINDINGS" in cls.__dict__:
            bindings.extend(Binding.make_bindings(cls.__dict__["BINDINGS"]))
    return bindings


#: Textual's own app keys worth listing (the others are terminal conveniences).
_APP_DEFAULTS = {"quit": "Quit", "command_palette": "Command palette (screens, refresh, pause)"}


def _enabled(node: DOMNode, binding: Binding) -> bool:
    """False when the node's check_action disables the key (read-only mode, for example)."""
    try:
        _namespace, action, params = parse(binding.action)
    except Exception:  # an action string we cannot parse is simply listed
        return True
    return node.check_action(action, params) is True


def _rows(node: DOMNode, seen: set[tuple[str, str]]) -> list[KeyHelp]:
    """Keys of a node, one row per action ("escape, ?" when several keys share one)."""
    rows: dict[tuple[str, str], KeyHelp] = {}
    for binding in _bindings_of(node):
        if binding.system:
            continue
        identity = (binding.action, _describe(binding))
        if identity in seen and identity not in rows:
            continue  # already listed for another node (e.g. the screen)
        key = node.app.get_key_display(binding)
        known = rows.get(identity)
        if known is None:
            rows[identity] = KeyHelp(key, identity[1], _enabled(node, binding))
        elif key not in known.keys.split(", "):
            rows[identity] = replace(known, keys=f"{known.keys}, {key}")
    seen.update(rows)
    return list(rows.values())


def screen_keys(screen: Screen[Any]) -> list[KeyHelp]:
    """The screen's keys, then the keys of its own (marianne_tui) widgets, e.g. the filter."""
    seen: set[tuple[str, str]] = set()
    rows = _rows(screen, seen)
    for widget in screen.walk_children():
        if _ours(type(widget)):
            rows.extend(_rows(widget, seen))
    return rows


def global_keys(screen: Screen[Any]) -> list[KeyHelp]:
    """The app's keys, then quit and the command palette."""
    rows = _rows(screen.app, set())
    for _key, binding in screen.app._bindings:
        if binding.action in _APP_DEFAULTS:
            key = screen.app.get_key_display(binding)
            rows.append(KeyHelp(key, _APP_DEFAULTS[binding.action]))
    return rows


# -- the pattern detail's own keys (issue #10: the evidence behind a pattern) -------------
# `?` does not open over a dialog, so a screen that opens the pattern detail lists its keys.


def detail_keys(screen: Screen[Any]) -> list[KeyHelp]:
    """The pattern detail's keys, for a screen whose `enter` opens it (else none)."""
    from marianne_tui.modals.pattern_detail import PatternDetailScreen
    from marianne_tui.screens.drift import DriftScreen
    from marianne_tui.screens.patterns import PatternsScreen

    if not isinstance(screen, PatternsScreen | DriftScreen):
        return []
    return [KeyHelp(screen.app.get_key_display(binding), _describe(binding))
            for binding in Binding.make_bindings(PatternDetailScreen.BINDINGS)]


def _table(title: str, rows: list[KeyHelp]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(min_width=10, style="bold")
    table.add_column()
    table.title = title
    table.title_justify = "left"
    table.title_style = "bold underline"
    for row in rows:
        description = Text(row.description)
        if not row.enabled:
            description.append("  (disabled: read-only)", style="dim italic")
        table.add_row(Text(row.keys, style="bold" if row.enabled else "dim"), description)
    return table


def changes_legend() -> Text:
    """What the marks of a live list and the header's alert counter mean."""
    text = Text("Changes: ", style="dim")
    text.append("cell", style="bold reverse")
    text.append(" changed in the last refresh · ")
    text.append("+", style="bold reverse")
    text.append(" row arrived · header +N −N rows arrived / left · ")
    text.append("⚑ N new", style="bold reverse")
    text.append(" alerts not yet seen (6: Events, 7: Journal)")
    return text


class HelpScreen(BackdropModalScreen[None]):
    """Every key of the screen under it; escape (or ?) closes."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 90%;
        border: round $accent;
        background: $panel;
        padding: 0 1;
    }
    """

    BINDINGS = [  # noqa: RUF012
        Binding("escape,question_mark", "dismiss", "Close"),
    ]

    def __init__(self, over: Screen[Any]) -> None:
        super().__init__()
        self.over = over

    def compose(self) -> ComposeResult:
        title = getattr(self.over, "TITLE_TEXT", "") or "This screen"
        with VerticalScroll() as scroll:
            scroll.border_title = "Keys"
            scroll.border_subtitle = "escape closes"
            yield Static(_table(f"{title}", screen_keys(self.over)), id="help-screen-keys")
            if (note := marks_note(self.over)) is not None:
                yield Static(note, id="help-marks")
            yield Static(" ")
            detail = detail_keys(self.over)
            if detail:
                yield Static(_table("In the pattern detail (enter)", detail),
                             id="help-detail-keys")
                yield Static(" ")
            yield Static(_table("Everywhere", global_keys(self.over)), id="help-global-keys")
            statuses = Text("Statuses: ", style="dim")
            statuses.append_text(legend())
            yield Static(statuses)
            yield Static(changes_legend(), id="help-changes")

    def key_help(self) -> list[KeyHelp]:
        """Everything listed (tests)."""
        return [*screen_keys(self.over), *detail_keys(self.over), *global_keys(self.over)]


# -- marks and bulk triage (screens that bind the mark keys) ----------------------------


def marks_note(screen: Screen[Any]) -> Text | None:
    """What the mark keys change about the triage keys, on a screen that has them."""
    if not any(binding.action == "toggle_mark" for binding in _bindings_of(screen)):
        return None
    note = Text("With marks (◆), ", style="dim")
    note.append("q v x n", style="bold")
    note.append(" act on every marked pattern: one dialog, one transaction, one batch in "
                "the journal; ", style="dim")
    note.append("u", style="bold")
    note.append(" on a bulk action undoes all of it.", style="dim")
    return note
