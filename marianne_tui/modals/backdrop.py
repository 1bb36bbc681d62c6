"""A modal screen that paints the dimmed screen under it one line at a time.

A ModalScreen's translucent background is the screen below, tinted: Textual renders it as
one renderable (``BackgroundScreen``), so whenever any line of the screen below changes
(a table refresh, the header's clock, a row losing focus as the dialog opens) the modal
renders every line of that screen again and tints every segment, computing two colour
blends per segment. At 120x40 that was 15-30 ms of UI thread each time, two or three
times as a confirmation dialog opened, and the longest frames of the soak after the
garbage collections.

Here each line of the backdrop is kept, and only the lines the screen below reported as
changed (Textual forwards them to the top screen as dirty regions) are rendered again,
through that screen's compositor, in one pass. The tint of a segment depends only on its
style, so it is worked out once per style (by Textual's own code on a one-segment probe,
which keeps the look identical; the tests of this module compare it line by line) and
then looked up. Textual is pinned: this reads its compositor's ``_render_chops``.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any, TypeVar

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from textual._context import visible_screen_stack
from textual.color import Color
from textual.geometry import Region
from textual.renderables.background_screen import BackgroundScreen
from textual.screen import ModalScreen, Screen
from textual.strip import Strip

ResultType = TypeVar("ResultType")

#: (tint, base style, segment style without its meta, control) -> (style, control) as the
#: modal draws the segment, or None when Textual's render drops it. Shared by every modal:
#: a dialog opened again meets the same styles.
_TINTED: dict[tuple[Color, Style, Style | None, Any], tuple[Style | None, Any] | None] = {}
#: Bounded: a theme change or a new screen brings new styles; old ones are not needed.
_TINTED_LIMIT = 8192


class _Tinted:
    """Segments tinted as BackgroundScreen tints the screen it renders."""

    def __init__(self, segments: Iterable[Segment], color: Color) -> None:
        self.segments, self.color = segments, color

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        return BackgroundScreen.process_segments(self.segments, self.color)


class BackdropModalScreen(ModalScreen[ResultType]):
    """A ModalScreen whose tinted backdrop is repainted only where the screen below changed.

    Looks the same as a ModalScreen (the tests compare every line with Textual's render).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: y -> (the strips of the screen below it was drawn from, the line as drawn)
        self._backdrop: dict[int, tuple[tuple[Strip | None, ...], Strip]] = {}
        #: lines the screen below reported as changed since they were drawn
        self._stale: set[int] = set()
        #: what the kept lines were drawn for: (screen below, size, tint, base style, how
        #: often this screen was suspended or resumed: the screen below may have changed
        #: while another screen was on top, and only the top screen hears of it)
        self._backdrop_for: tuple[Any, ...] | None = None

    def _on_unmount(self) -> None:
        # A dismissed dialog is garbage in reference cycles, as every Textual widget is, so
        # only a full collection frees it, with all it holds. The kept lines were most of
        # it (a confirmation: ~2,900 of its ~3,800 objects, strips with their caches and
        # segments): dropped here, reference counting frees them at once.
        self._backdrop.clear()
        self._stale.clear()
        self._backdrop_for = None
        super()._on_unmount()

    def _screen_below(self) -> Screen[Any] | None:
        """The screen the backdrop shows, or None when this screen's background is opaque
        (or it is not on the stack): then Textual's own render is used."""
        if self.styles.background.a >= 1:
            return None
        stack = self.app._screen_stack
        if self not in stack:
            return None
        index = stack.index(self)
        return stack[index - 1] if index > 0 else None

    def _set_dirty(self, *regions: Region) -> None:
        # A refresh of the whole modal (its layout, focus, resume) leaves the screen below
        # as it was: what changed there arrives as regions (Screen._compositor_refresh).
        super()._set_dirty(*regions)
        for region in regions:
            self._stale.update(region.line_range)

    def render_lines(self, crop: Region) -> list[Strip]:
        below = self._screen_below()
        if below is None:
            self._backdrop_for = None
            self._backdrop.clear()
        else:
            self._paint_backdrop(below, crop)
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        # Asked only for the lines the styles cache holds as dirty (or never drew).
        kept = self._backdrop.get(y) if self._backdrop_for is not None else None
        if kept is None:
            return super().render_line(y)
        return kept[1]

    def _paint_backdrop(self, below: Screen[Any], crop: Region) -> None:
        """Draw the lines of ``crop`` not drawn yet or reported changed, from one render of
        them by the screen below; a line whose strips there are the very ones it was drawn
        from (widgets keep the strips of lines that did not change) is not tinted again."""
        size = self.size
        color = self.styles.background
        base = self.visual_style.rich_style
        drawn_for = (below, size, color, base, self.stack_updates)
        if drawn_for != self._backdrop_for:
            self._backdrop.clear()
            self._stale.clear()
            self._backdrop_for = drawn_for
        lines = range(max(crop.y, 0), min(crop.bottom, size.height, below.size.height))
        wanted = [y for y in lines if y in self._stale or y not in self._backdrop]
        if not wanted:
            return
        self._stale.difference_update(wanted)
        # What Screen.render does when it renders the screen below: take it off the
        # visible stack, so a modal under it finds its own screen below.
        stack = visible_screen_stack.get(None)
        if stack and stack[-1] is below:
            stack.pop()
        chops = below._compositor._render_chops(
            Region(0, wanted[0], size.width, wanted[-1] - wanted[0] + 1),
            frozenset(wanted).__contains__,
        )
        for y in wanted:
            sources = tuple(chops[y].values())
            kept = self._backdrop.get(y)
            if kept is not None and len(kept[0]) == len(sources) and all(
                map(operator.is_, kept[0], sources)
            ):
                continue
            line = self._tint(Strip.join(sources), color, base, size.width)
            self._backdrop[y] = (sources, line)

    def _tint(self, strip: Strip, color: Color, base: Style, width: int) -> Strip:
        """``strip`` as the modal's render draws it: tinted, under the modal's base style."""
        if len(_TINTED) > _TINTED_LIMIT:
            _TINTED.clear()
        segments = []
        for text, style, control in strip:
            # The tint drops a style's meta and links first (BackgroundScreen), and the
            # DataTable gives each cell its own meta (row, column): key on what is left.
            if style is not None and not control:
                style = style.clear_meta_and_links()
            key = (color, base, style, control)
            if key not in _TINTED:
                _TINTED[key] = self._probe(style, control, color, base)
            drawn = _TINTED[key]
            if drawn is not None:
                segments.append(Segment(text, *drawn))
        line = Strip(segments)
        return line.crop(0, width) if line.cell_length > width else line

    def _probe(self, style: Style | None, control: Any, color: Color,
               base: Style) -> tuple[Style | None, Any] | None:
        """What Textual's render of a translucent modal makes of one segment's style (the
        text does not matter: the tint and the styles are per segment)."""
        renderable = self.post_render(_Tinted([Segment("x", style, control)], color), base)
        rendered = list(self.app.console.render(renderable, self.app.console_options))
        if not rendered:
            return None
        return rendered[0].style, rendered[0].control
