"""PLACEHOLDER: the Patterns screen is being written."""

from __future__ import annotations

from marianne_tui.screens.base import StoreScreen


class PatternsScreen(StoreScreen):
    TITLE_TEXT = "Patterns"
