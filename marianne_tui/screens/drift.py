"""PLACEHOLDER: the Drift screen is being written."""

from __future__ import annotations

from marianne_tui.screens.base import StoreScreen


class DriftScreen(StoreScreen):
    TITLE_TEXT = "Drift"
