"""marianne_tui.strip_cycles: a whole strip no longer keeps itself alive.

A strip subclass with a weak reference slot tells when a strip is freed; the collector
is paused, so only reference counting can free it.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from marianne_tui import strip_cycles


class _Watched(Strip):
    __slots__ = ("__weakref__",)


@pytest.fixture
def no_collection() -> Iterator[None]:
    strip_cycles.install()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _strip() -> _Watched:
    return _Watched([Segment("abc"), Segment("de", Style(bold=True))], 5)


def _texts(strips: object) -> list[str]:
    return [strip.text for strip in strips]  # type: ignore[attr-defined]


def test_textual_still_caches_a_whole_strip_in_itself(no_collection: None) -> None:
    """Why the module exists: if this fails, Textual no longer makes the cycle."""
    for call in (lambda s: strip_cycles._divide(s, [5]),
                 lambda s: strip_cycles._crop_extend(s, 0, 5, None)):
        strip = _strip()
        call(strip)
        gone = weakref.ref(strip)
        del strip
        assert gone() is not None  # only a collection frees it
        gc.collect()
        assert gone() is None


def test_a_whole_strip_is_freed_by_reference_counting(no_collection: None) -> None:
    strip = _strip()
    assert strip.divide([5]) == [strip]
    assert strip.divide([5, 7]) == [strip]  # cuts past the end are dropped, as before
    assert strip.crop_extend(0, 5, None) is strip
    assert strip.crop_extend(-2, 5, None) is strip
    gone = weakref.ref(strip)
    del strip
    assert gone() is None


@pytest.mark.parametrize("cuts", [[2, 5], [1, 2, 5], [3], [2, 9], [], [7]])
def test_other_cuts_divide_as_textual_does(no_collection: None, cuts: list[int]) -> None:
    assert _texts(_strip().divide(cuts)) == _texts(strip_cycles._divide(_strip(), cuts))


def test_what_divide_gives(no_collection: None) -> None:
    assert _texts(_strip().divide([2, 5])) == ["ab", "cde"]
    assert _texts(_strip().divide([5])) == ["abcde"]


@pytest.mark.parametrize("span", [(0, 3), (1, 5), (0, 8), (2, 9), (0, 4)])
def test_other_crops_are_textual_s(no_collection: None, span: tuple[int, int]) -> None:
    start, end = span
    ours = _strip().crop_extend(start, end, None)
    theirs = strip_cycles._crop_extend(_strip(), start, end, None)
    assert (ours.text, ours.cell_length) == (theirs.text, theirs.cell_length)


def test_what_crop_extend_gives(no_collection: None) -> None:
    assert _strip().crop_extend(1, 4, None).text == "bcd"
    assert _strip().crop_extend(0, 7, None).text == "abcde  "
