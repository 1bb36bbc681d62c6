"""marianne_tui.textual_garbage: a whole strip no longer keeps itself alive, what an
LRUCache drops is freed, and a removed widget lets the lines it drew go.

A strip subclass with a weak reference slot tells when a strip is freed (a cached value,
likewise); the collector is paused, so only reference counting can free it.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult
from textual.cache import LRUCache
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from marianne_tui import textual_garbage


class _Watched(Strip):
    __slots__ = ("__weakref__",)


@pytest.fixture
def no_collection() -> Iterator[None]:
    textual_garbage.install()
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
    for call in (lambda s: textual_garbage._divide(s, [5]),
                 lambda s: textual_garbage._crop_extend(s, 0, 5, None)):
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
    assert _texts(_strip().divide(cuts)) == _texts(textual_garbage._divide(_strip(), cuts))


def test_what_divide_gives(no_collection: None) -> None:
    assert _texts(_strip().divide([2, 5])) == ["ab", "cde"]
    assert _texts(_strip().divide([5])) == ["abcde"]


@pytest.mark.parametrize("span", [(0, 3), (1, 5), (0, 8), (2, 9), (0, 4)])
def test_other_crops_are_textual_s(no_collection: None, span: tuple[int, int]) -> None:
    start, end = span
    ours = _strip().crop_extend(start, end, None)
    theirs = textual_garbage._crop_extend(_strip(), start, end, None)
    assert (ours.text, ours.cell_length) == (theirs.text, theirs.cell_length)


def test_what_crop_extend_gives(no_collection: None) -> None:
    assert _strip().crop_extend(1, 4, None).text == "bcd"
    assert _strip().crop_extend(0, 7, None).text == "abcde  "


class _Value:
    """A cache value that tells when it is freed."""


def _filled(size: int, count: int) -> tuple[LRUCache[int, _Value], list[weakref.ref[_Value]]]:
    cache: LRUCache[int, _Value] = LRUCache(size)
    values = [_Value() for _ in range(count)]
    for key, value in enumerate(values):
        cache.set(key, value)
    return cache, [weakref.ref(value) for value in values]


def test_textual_s_lru_cache_leaves_its_ring_to_the_collector(no_collection: None) -> None:
    """Why: if this fails, Textual's clear() no longer leaves the entries in a cycle."""
    cache, gone = _filled(10, 3)
    textual_garbage._lru_clear(cache)
    assert [ref() is not None for ref in gone] == [True, True, True]
    gc.collect()
    assert [ref() is None for ref in gone] == [True, True, True]
    cache, gone = _filled(10, 1)
    textual_garbage._lru_discard(cache, 0)
    assert gone[0]() is not None  # the last entry referred to itself
    gc.collect()
    assert gone[0]() is None


def test_what_an_lru_cache_drops_is_freed_by_reference_counting(no_collection: None) -> None:
    cache, gone = _filled(10, 3)
    cache.clear()
    assert [ref() is None for ref in gone] == [True, True, True]
    assert len(cache) == 0 and cache.get(1) is None
    cache, gone = _filled(10, 3)
    cache.discard(1)  # from the middle of the ring
    assert [ref() is None for ref in gone] == [False, True, False]
    cache.discard(2)  # the newest, the ring's head
    cache.discard(0)  # the last one
    assert [ref() is None for ref in gone] == [True, True, True]
    cache, gone = _filled(2, 3)  # a full cache evicted key 0 (as before)
    assert [ref() is None for ref in gone] == [True, False, False]


def test_an_lru_cache_works_as_before_after_clear_and_discard(no_collection: None) -> None:
    cache: LRUCache[str, int] = LRUCache(3)
    for key, value in (("a", 1), ("b", 2), ("c", 3)):
        cache.set(key, value)
    cache.discard("b")
    cache.set("d", 4)
    assert cache.get("a") == 1  # "a" is the most recently used now
    cache.set("e", 5)  # full: evicts the least recently used, "c"
    assert sorted(cache.keys()) == ["a", "d", "e"]
    cache.clear()
    cache.set("f", 6)
    cache.set("g", 7)
    assert (cache.get("f"), cache.get("g"), len(cache)) == (6, 7, 2)


class _OneLabel(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("hello", id="label")


async def _lines_left_by_a_removed_widget() -> dict[int, Strip]:
    app = _OneLabel()
    async with app.run_test(size=(20, 3)) as pilot:
        label = app.query_one("#label", Static)
        await pilot.pause()
        assert label._styles_cache._cache  # it drew its line
        await label.remove()
        await pilot.pause()
        assert not label.is_attached
        return dict(label._styles_cache._cache)


async def test_textual_keeps_the_lines_of_a_removed_widget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why: if this fails, Textual drops them itself and the replacement can go."""
    textual_garbage.install()
    monkeypatch.setattr(Widget, "_message_loop_exit", textual_garbage._message_loop_exit)
    assert await _lines_left_by_a_removed_widget()


async def test_a_removed_widget_lets_the_lines_it_drew_go() -> None:
    textual_garbage.install()
    assert await _lines_left_by_a_removed_widget() == {}
