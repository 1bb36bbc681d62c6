"""marianne_tui.component_styles: a restyle keeps each component's virtual node.

A table whose component styles follow its focus and a class of its own is restyled; the
component styles must then be exactly those Textual's own method computes, and come from
the same virtual nodes as before (nothing left for the collector). When the table is
removed, reference counting alone frees those nodes.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

from textual.app import App, ComposeResult
from textual.css.stylesheet import Stylesheet
from textual.widgets import DataTable, Input

from marianne_tui import component_styles


class _TableApp(App[None]):
    CSS = """
    DataTable > .datatable--cursor { background: blue; }
    DataTable:focus > .datatable--cursor { background: red; }
    DataTable.alert > .datatable--header { color: yellow; text-style: bold; }
    """

    def compose(self) -> ComposeResult:
        yield Input()
        yield DataTable()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("name", "state")
        table.add_row("p1", "pending")
        self.query_one(Input).focus()


def _rules(table: DataTable[Any]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    return {name: component_styles._rules(styles)
            for name, styles in table._component_styles.items()}


def _nodes(table: DataTable[Any]) -> dict[str, object]:
    return {name: styles.node for name, styles in table._component_styles.items()}


def _textuals_rules(app: App[Any], table: DataTable[Any]) -> dict[str, Any]:
    """The component styles Textual's own method gives the table now (on fresh nodes)."""
    kept = dict(table._component_styles)
    component_styles._process_component_classes(app.stylesheet, table)
    theirs = _rules(table)
    table._component_styles.clear()
    table._component_styles.update(kept)
    return theirs


async def test_a_restyle_keeps_the_nodes_and_gives_textuals_styles() -> None:
    component_styles.install()
    app = _TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(DataTable)
        await pilot.pause()
        nodes = _nodes(table)
        assert len(nodes) == len(DataTable.COMPONENT_CLASSES) == 9
        cursor_before = table._component_styles["datatable--cursor"]

        for change in (table.focus, lambda: table.add_class("alert"),
                       app.query_one(Input).focus, lambda: table.remove_class("alert")):
            change()
            await pilot.pause()
            assert _rules(table) == _textuals_rules(app, table)
            assert _nodes(table) == nodes  # the same virtual nodes: nothing dropped

        # Only what changed is a new object; the focus change moved the cursor's style.
        assert table._component_styles["datatable--cursor"] is not cursor_before
        assert table._component_styles["datatable--odd-row"].node is nodes["datatable--odd-row"]


async def test_unchanged_styles_stay_the_same_object() -> None:
    component_styles.install()
    app = _TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(DataTable)
        await pilot.pause()
        before = dict(table._component_styles)
        table.add_class("unstyled")  # a class no rule names: CSS is applied, nothing changes
        await pilot.pause()
        assert all(table._component_styles[name] is styles for name, styles in before.items())
        table.add_class("alert")
        await pilot.pause()
        changed = {name for name, styles in before.items()
                   if table._component_styles[name] is not styles}
        assert changed == {"datatable--header"}
        header = table._component_styles["datatable--header"]
        assert header.base.color is not None and header.base.text_style is not None


async def test_textual_still_makes_a_new_node_per_component() -> None:
    """Why the module exists: if this fails, Textual no longer throws the nodes away."""
    app = _TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(DataTable)
        await pilot.pause()
        before = _nodes(table)
        component_styles._process_component_classes(app.stylesheet, table)
        after = _nodes(table)
        assert before.keys() == after.keys()
        assert all(after[name] is not node for name, node in before.items())
    component_styles.install()
    assert Stylesheet._process_component_classes is component_styles._process_keeping_nodes


async def _virtual_nodes_left_after_removal(*, textuals: bool) -> int:
    """How many of a removed table's virtual nodes are alive with the collector paused."""
    if textuals:
        Stylesheet._process_component_classes = (  # type: ignore[method-assign]
            component_styles._process_component_classes
        )
    try:
        app = _TableApp()
        async with app.run_test() as pilot:
            table = app.query_one(DataTable)
            table.focus()  # a restyle too
            await pilot.pause()
            nodes = [weakref.ref(styles.node) for styles in table._component_styles.values()]
            assert nodes and all(node() is not None for node in nodes)
            gc.disable()
            try:
                await table.remove()
                del table
                await pilot.pause()
                return sum(node() is not None for node in nodes)
            finally:
                gc.enable()
    finally:
        component_styles.install()


async def test_a_removed_widgets_virtual_nodes_are_freed_without_a_collection() -> None:
    assert await _virtual_nodes_left_after_removal(textuals=False) == 0


async def test_textual_leaves_a_removed_widgets_virtual_nodes_to_the_collector() -> None:
    """Why the module holds the nodes itself: Textual's nodes keep themselves alive."""
    assert await _virtual_nodes_left_after_removal(textuals=True) == len(
        DataTable.COMPONENT_CLASSES
    )
