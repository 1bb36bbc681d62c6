"""Textual's component styles without a throwaway node per component on every restyle.

A widget's component classes (a DataTable has ten: ``datatable--cursor``,
``datatable--header``...) get their styles from a virtual ``DOMNode`` each: Textual's
``Stylesheet._process_component_classes`` makes a new one per component every time CSS is
applied to the widget (a focus change, a screen resumed, a dialog opened) and drops the
previous one. A ``DOMNode`` is a knot of reference cycles (its styles, bindings, node
list and signals point back at it), so each dropped node, ~40 objects, waits for a full
garbage collection. In the 30 s soak that was 2,525 nodes, ~100,000 of the 126,000
objects the collector freed (measured with ``gc.DEBUG_SAVEALL``), and what made full
collections come back every couple of seconds, each a 50-100 ms pause of the UI thread.

This version applies the stylesheet again to the component's existing virtual node, so
nothing is dropped. The rules a node gets depend only on the stylesheet and on the node's
place under its widget, which a kept node shares with a new one, so the styles are the
same as Textual's. Where they changed, the component gets a new ``RenderStyles`` object,
as before, and the widget is refreshed: code that tells a restyle by a new object (our
``LiveTable``) still sees one, only when there is something to see. Checked against
Textual 8.2.8 by tests/tui_tests/test_component_styles.py, which fails when an upgrade
changes the method.

A virtual node is also freed without a collection once its widget goes (Textual clears the
widget's component styles when it is removed: the footer's keys are rebuilt on most
screen switches and dialogs, ~25 keys a second in the soak). Textual keeps the node alive
through its own styles (``Styles.node``), a cycle; here the component's ``RenderStyles``
holds the node and the node's styles do not point back. Nothing reads ``Styles.node`` of
a virtual node but a refresh or an animation of it, which a node outside the DOM never
has.
"""

from __future__ import annotations

from typing import Any

from textual.css.styles import RenderStyles
from textual.css.stylesheet import Stylesheet
from textual.dom import DOMNode

_process_component_classes = Stylesheet._process_component_classes


def _rules(styles: RenderStyles) -> tuple[dict[str, Any], dict[str, Any]]:
    """What ``RenderStyles.__eq__`` compares, copied (applying the CSS changes it in place)."""
    return dict(styles._base_styles._rules), dict(styles._inline_styles._rules)


def _held(virtual: DOMNode) -> RenderStyles:
    """New styles of the component's virtual node that hold it, as its own let go of it.

    Not the node's own ``styles``: the node holds those, which would be a cycle again.
    """
    virtual._css_styles.node = None
    virtual._inline_styles.node = None
    styles = RenderStyles(virtual, virtual._css_styles, virtual._inline_styles)
    styles._component_node = virtual  # type: ignore[attr-defined]
    return styles


def _process_keeping_nodes(self: Stylesheet, node: DOMNode) -> None:
    component_classes = node._get_component_classes()
    if not component_classes:
        return
    previous = dict(node._component_styles)
    node._component_styles.clear()
    refresh_node = False
    for component in sorted(component_classes):
        old = previous.get(component)
        virtual = old.node if old is not None else None
        if old is None or virtual is None or virtual._parent is not node:
            virtual = DOMNode(classes=component)
            virtual._attach(node)
            styles = _held(virtual)
            self.apply(virtual, animate=False)
            changed = old != styles
        else:
            before = _rules(old)
            self.apply(virtual, animate=False)
            changed = _rules(old) != before
            # A new object where the rules changed, as Textual would give.
            styles = _held(virtual) if changed else old
        refresh_node = refresh_node or changed
        node._component_styles[component] = styles
    if refresh_node:
        node.refresh()


def install() -> None:
    """Replace the method (idempotent)."""
    Stylesheet._process_component_classes = _process_keeping_nodes  # type: ignore[method-assign]
