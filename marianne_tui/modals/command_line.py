"""The `:` command line: one input at the bottom of the screen, with completion.

Typing shows the commands (or arguments) that complete what is typed, and the first one
greyed after the cursor; `tab` (or `right` at the end) takes it. `enter` runs the line,
`escape` closes without running anything, `up`/`down` walk the lines run before in this
session. The dialog only returns the line: ``commands.CommandRunner`` runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.suggester import Suggester
from textual.widgets import Input, Static

from marianne_tui.commands import COMMANDS, SPECS, completions, describe
from marianne_tui.config import SavedView
from marianne_tui.modals.backdrop import BackdropModalScreen
from marianne_tui.text import clean

#: Completions listed above the line (the rest are a count).
SHOWN_COMPLETIONS = 6


class CommandSuggester(Suggester):
    """The first completion of the line, shown greyed after the cursor."""

    def __init__(self, views: Callable[[], Mapping[str, SavedView]]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.views = views

    async def get_suggestion(self, value: str) -> str | None:
        found = completions(value, self.views())
        return found[0] if found else None


class CommandLineScreen(BackdropModalScreen[str | None]):
    """Returns the line typed (None after `escape`)."""

    DEFAULT_CSS = """
    CommandLineScreen { align: left bottom; background: $background 30%; }
    CommandLineScreen > #command-box {
        width: 100%; height: auto; background: $panel; border-top: solid $accent;
    }
    CommandLineScreen #command-hints { height: auto; max-height: 8; padding: 0 1;
        color: $text-muted; }
    CommandLineScreen #command-row { height: 1; }
    CommandLineScreen #command-prompt { width: 2; padding-left: 1; text-style: bold; }
    CommandLineScreen #command-input { width: 1fr; }
    """

    BINDINGS = [  # noqa: RUF012
        Binding("escape", "close", "Close", show=False),
        Binding("tab", "complete", "Complete", show=False, priority=True),
        Binding("up", "history(-1)", "Earlier command", show=False),
        Binding("down", "history(1)", "Later command", show=False),
    ]

    def __init__(self, views: Mapping[str, SavedView], history: list[str]) -> None:
        super().__init__()
        self.views = views
        self.history = history
        self._history_index = len(history)

    def compose(self) -> ComposeResult:
        with Vertical(id="command-box"):
            yield Static(id="command-hints")
            with Horizontal(id="command-row"):
                yield Static(":", id="command-prompt")
                yield self._input()

    def _input(self) -> Input:
        command_input = Input(
                placeholder="command (tab completes, enter runs, escape closes)",
                id="command-input", compact=True, max_length=300,
                suggester=CommandSuggester(lambda: self.views), select_on_focus=False,
            )
        command_input.cursor_blink = False  # deterministic snapshots, quiet over SSH
        return command_input

    def on_mount(self) -> None:
        self.input.focus()
        self._show_hints("")

    @property
    def input(self) -> Input:
        return self.query_one("#command-input", Input)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._show_hints(event.value)

    def _show_hints(self, value: str) -> None:
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        found = completions(value, self.views)
        head = value.lstrip(":").partition(" ")[0].lower()
        lines: list[Text] = []
        if " " in value.strip() or (head in SPECS and not found[1:]):
            spec = SPECS.get(head)
            if spec is not None:
                lines.append(Text(describe(spec), style="bold", no_wrap=True,
                                  overflow="ellipsis"))
            found = [line for line in found if line != value]
        elif not value.strip():
            found = []
            lines.append(Text(
                "  ".join(f":{spec.name}" for spec in COMMANDS), no_wrap=False, style="dim"
            ))
        for line in found[:SHOWN_COMPLETIONS]:
            spec = SPECS.get(line.partition(" ")[0])
            entry = Text(f":{clean(line, 60)}", style="bold", no_wrap=True,
                         overflow="ellipsis")
            if spec is not None and " " not in line:
                entry.append(f" {spec.usage}".rstrip(), style="")
                entry.append(f"  {spec.help}", style="dim")
            lines.append(entry)
        if len(found) > SHOWN_COMPLETIONS:
            lines.append(Text(f"… {len(found) - SHOWN_COMPLETIONS} more", style="dim"))
        if value.strip() and not lines:
            lines.append(Text("no completion: enter runs the line as typed", style="dim"))
        text = Text("\n", end="").join(lines)
        self.query_one("#command-hints", Static).update(text)

    def action_complete(self) -> None:
        found = completions(self.input.value, self.views)
        if not found:
            return
        completed = found[0]
        # A command word (or its last argument) is followed by a space for the next one.
        if " " not in completed and SPECS[completed].usage:
            completed += " "
        self.input.value = completed
        self.input.cursor_position = len(completed)

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._history_index = max(0, min(len(self.history), self._history_index + step))
        line = self.history[self._history_index] if self._history_index < len(
            self.history) else ""
        self.input.value = line
        self.input.cursor_position = len(line)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        line = event.value.strip()
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
        self.dismiss(line or None)

    def action_close(self) -> None:
        self.dismiss(None)
