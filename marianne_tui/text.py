"""Untrusted text -> safe renderables. The one sanitizer every store string passes through.

AI agents wrote what the store holds. Textual and Rich interpret markup in plain ``str``
(``[@click=app.quit]`` fires an action, an unmatched ``[/]`` crashes rendering), and nothing in
either strips ESC, so an OSC sequence in a pattern name could retitle the terminal or clear the
screen. Every string from the store therefore becomes a ``rich.text.Text`` built here:

* C0/C1 control characters become U+FFFD, ESC becomes U+241B (a visible "ESC" symbol),
  newline becomes U+23CE and tab a single space, so one value stays on one line;
* bidi embedding/override/isolate marks are dropped so text cannot reorder the screen;
* long values are cut with an ellipsis (tables); detail views pass a larger limit.

A ``Text`` is never parsed as markup, so brackets stay literal.
"""

from __future__ import annotations

from rich.text import Text

#: Default cut for table cells and one-line labels.
CELL_LIMIT = 80
#: Cut for detail views (the whole value, within reason).
DETAIL_LIMIT = 20_000

_BIDI_CONTROLS = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]

_TRANSLATION: dict[int, str | None] = {
    code: "\N{REPLACEMENT CHARACTER}" for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
}
_TRANSLATION[0x1B] = "\N{SYMBOL FOR ESCAPE}"
_TRANSLATION[0x0A] = "\N{RETURN SYMBOL}"
_TRANSLATION[0x0D] = "\N{RETURN SYMBOL}"
_TRANSLATION[0x09] = " "
_TRANSLATION.update({code: None for code in _BIDI_CONTROLS})


def clean(value: object, limit: int = CELL_LIMIT) -> str:
    """The printable, one-line form of an untrusted value, cut to ``limit`` characters."""
    if value is None:
        return ""
    cleaned = str(value).translate(_TRANSLATION)
    if len(cleaned) > limit:
        cleaned = cleaned[: max(0, limit - 1)] + "…"
    return cleaned


def untrusted(value: object, limit: int = CELL_LIMIT, style: str = "") -> Text:
    """A ``Text`` for an untrusted value: literal, control-free, one line, cut to ``limit``."""
    return Text(clean(value, limit), style=style, no_wrap=True, overflow="ellipsis", end="")


def untrusted_block(value: object, limit: int = DETAIL_LIMIT, style: str = "") -> Text:
    """Multi-line untrusted text for detail views: newlines kept, everything else cleaned."""
    if value is None:
        return Text("", end="")
    lines = str(value).replace("\r\n", "\n").split("\n")
    body = "\n".join(clean(line, limit) for line in lines)
    if len(body) > limit:
        body = body[: limit - 1] + "…"
    return Text(body, style=style, end="")
