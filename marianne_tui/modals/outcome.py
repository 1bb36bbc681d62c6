"""The escalation outcome dialog: one key per documented outcome, an optional note.

``s`` success, ``f`` failed, ``a`` aborted, ``k`` skipped choose the outcome and move focus
to the note field; ``enter`` saves, ``escape`` cancels, ``up`` goes back to the choice.
Only the four outcomes Marianne documents are offered: ``update_escalation_outcome``
accepts any string, so the dialog is what keeps the vocabulary closed.

The dialog only collects the choice; the screen that opened it writes it (through the
store's journalled ``record_escalation_outcome``).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from marianne_tui.modals.backdrop import BackdropModalScreen
from marianne_tui.text import clean, untrusted
from store import EscalationDecisionRecord, EscalationOutcome

#: key -> outcome, glyph and style; the glyph + word never rely on colour alone.
OUTCOME_KEYS: dict[str, EscalationOutcome] = {
    "s": EscalationOutcome.SUCCESS,
    "f": EscalationOutcome.FAILED,
    "a": EscalationOutcome.ABORTED,
    "k": EscalationOutcome.SKIPPED,
}

OUTCOME_GLYPHS: dict[str, tuple[str, str]] = {
    EscalationOutcome.SUCCESS.value: ("✓", "green"),
    EscalationOutcome.FAILED.value: ("✗", "red"),
    EscalationOutcome.ABORTED.value: ("■", "red"),
    EscalationOutcome.SKIPPED.value: ("↷", "yellow"),
}

NOTE_LIMIT = 500


def outcome_text(outcome: str | None) -> Text:
    """Glyph + word for a stored outcome (None = still awaiting one)."""
    if outcome is None:
        return Text("◌ awaiting", style="bold yellow", no_wrap=True)
    glyph, style = OUTCOME_GLYPHS.get(outcome, ("?", "dim"))
    return Text.assemble((f"{glyph} ", style), untrusted(outcome, 20, style))


@dataclass(frozen=True)
class OutcomeChoice:
    """What the operator chose in the dialog."""

    escalation_id: str
    outcome: EscalationOutcome
    note: str | None


class OutcomeScreen(BackdropModalScreen[OutcomeChoice | None]):
    """Pick the outcome of one escalation (captured when ``o`` was pressed)."""

    # Nothing focused at first, so s/f/a/k reach the dialog's bindings, not the note field.
    AUTO_FOCUS = None

    BINDINGS = [  # noqa: RUF012
        Binding("s", "choose('s')", "Success"),
        Binding("f", "choose('f')", "Failed"),
        Binding("a", "choose('a')", "Aborted"),
        Binding("k", "choose('k')", "Skipped"),
        Binding("enter", "save", "Save", show=False),
        Binding("up", "back_to_choice", "Change outcome", show=False),
        Binding("escape", "cancel", "Cancel"),
    ]

    DEFAULT_CSS = """
    OutcomeScreen { align: center middle; }
    OutcomeScreen > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    OutcomeScreen #outcome-title { text-style: bold; }
    OutcomeScreen #outcome-summary { height: auto; max-height: 8; }
    OutcomeScreen #outcome-choices { height: auto; margin: 1 0 0 0; }
    OutcomeScreen #outcome-note { margin: 0; }
    OutcomeScreen #outcome-help { color: $text-muted; height: auto; }
    """

    def __init__(self, escalation: EscalationDecisionRecord, *, note: str | None = None) -> None:
        """``note``: a note typed before whose save failed, offered again."""
        super().__init__()
        self.escalation = escalation
        self.chosen: EscalationOutcome | None = None
        self.draft = note or ""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Record what happened after this escalation", id="outcome-title")
            yield Static(self._summary(), id="outcome-summary")
            yield Static(self._choices(), id="outcome-choices")
            note = Input(self.draft, placeholder="optional note (enter saves)",
                         id="outcome-note", max_length=NOTE_LIMIT)
            note.disabled = True  # until an outcome is chosen
            yield note
            yield Static(
                "[b]s[/b]/[b]f[/b]/[b]a[/b]/[b]k[/b] choose · [b]enter[/b] save · "
                "[b]↑[/b] change outcome · [b]esc[/b] cancel",
                id="outcome-help",
            )

    def _summary(self) -> Text:
        record = self.escalation
        text = Text()
        text.append("Job ")
        text.append_text(untrusted(record.job_hash, 16))
        text.append(f"  sheet {record.sheet_num}  ")
        text.append("action ")
        text.append_text(untrusted(record.action, 20, "bold"))
        text.append(f"\nconfidence {record.confidence:.2f} · pass rate "
                    f"{record.validation_pass_rate:.0f}% · retries {record.retry_count}")
        text.append("\nrecorded ")
        text.append(record.recorded_at.strftime("%Y-%m-%d %H:%M") + " (local)")
        if record.model:
            text.append(" · model ")
            text.append_text(untrusted(record.model, 30))
        text.append("\noutcome now: ")
        text.append_text(outcome_text(record.outcome_after_action))
        if record.guidance:
            text.append("\nguidance: ", style="dim")
            text.append_text(untrusted(record.guidance, 140))
        return text

    def _choices(self) -> Text:
        text = Text()
        for index, (key, outcome) in enumerate(OUTCOME_KEYS.items()):
            if index:
                text.append("   ")
            glyph, style = OUTCOME_GLYPHS[outcome.value]
            selected = outcome is self.chosen
            marker = "▶" if selected else " "
            text.append(f"{marker}[{key}] ", style="bold" if selected else "")
            text.append(f"{glyph} {outcome.value}",
                        style=f"{style} bold reverse" if selected else style)
        return text

    # -- actions --------------------------------------------------------------------------

    def action_choose(self, key: str) -> None:
        self.chosen = OUTCOME_KEYS[key]
        self.query_one("#outcome-choices", Static).update(self._choices())
        note = self.query_one("#outcome-note", Input)
        note.disabled = False
        note.focus()

    def action_back_to_choice(self) -> None:
        self.set_focus(None)

    def action_save(self) -> None:
        if self.chosen is None:
            self.notify("Choose an outcome first: s, f, a or k", severity="warning",
                        markup=False)
            return
        note = clean(self.query_one("#outcome-note", Input).value, NOTE_LIMIT).strip()
        self.dismiss(OutcomeChoice(self.escalation.id, self.chosen, note or None))

    @on(Input.Submitted, "#outcome-note")
    def _note_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_cancel(self) -> None:
        self.dismiss(None)
