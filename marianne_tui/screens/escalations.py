"""PLACEHOLDER: the Escalations screen is being written."""

from __future__ import annotations

from marianne_tui.screens.base import StoreScreen


class EscalationsScreen(StoreScreen):
    TITLE_TEXT = "Escalations"
