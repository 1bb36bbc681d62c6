"""The one vocabulary of pattern statuses: a glyph and a word, never colour alone.

Every screen, the header, the dialogs and the help take their status glyphs from here, so
an operator learns one set: ○ pending, ✖ quarantined, ✓ validated, ■ retired, and
↓ drift-retired for priority 0 (what ``retire_drifting_patterns`` sets; the status is left
as it was, unlike ``x``, which sets the status "retired").
"""

from __future__ import annotations

from typing import NamedTuple

from rich.text import Text

from marianne_tui.text import untrusted


class StatusLook(NamedTuple):
    glyph: str
    #: the word where 80 columns are tight (the header's counts)
    short: str
    word: str
    style: str


STATUS_LOOK: dict[str, StatusLook] = {
    "pending": StatusLook("○", "pend", "pending", ""),
    "quarantined": StatusLook("✖", "quar", "quarantined", "bold red"),
    "validated": StatusLook("✓", "valid", "validated", "green"),
    "retired": StatusLook("■", "ret", "retired", "dim"),
}
DRIFT_RETIRED = StatusLook("↓", "drift", "drift-retired", "italic")

#: Widest status cell ("↓ drift-retired"): tables size their status column with it.
STATUS_WIDTH = 15

#: The statuses a drift retirement hides: a quarantined or retired pattern keeps its word.
_DRIFT_RETIRED_SHOWN_FOR = frozenset({"pending", "validated"})


def status_text(status: str, *, drift_retired: bool = False, short: bool = False) -> Text:
    """Glyph + word for a stored status; ``drift_retired`` (priority 0) on a pending or
    validated pattern reads "drift-retired". An unknown stored value (a legacy "active",
    say) is shown as stored, sanitised, behind a "?"."""
    look = STATUS_LOOK.get(status)
    if drift_retired and status in _DRIFT_RETIRED_SHOWN_FOR:
        look = DRIFT_RETIRED
    if look is None:
        return Text.assemble(Text("? ", style="yellow"), untrusted(status, 13, style="yellow"))
    word = look.short if short else look.word
    return Text(f"{look.glyph} {word}", style=look.style, no_wrap=True, end="")


def legend() -> Text:
    """"○ pending · ✖ quarantined · … · ↓ drift-retired (priority 0, status unchanged)"."""
    parts = [Text(f"{look.glyph} {look.word}") for look in STATUS_LOOK.values()]
    parts.append(Text(f"{DRIFT_RETIRED.glyph} {DRIFT_RETIRED.word} "
                      "(priority 0, status unchanged)"))
    return Text(" · ", end="").join(parts)
