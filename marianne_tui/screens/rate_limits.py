"""PLACEHOLDER: the Rate limits screen is being written."""

from __future__ import annotations

from marianne_tui.screens.base import StoreScreen


class RateLimitsScreen(StoreScreen):
    TITLE_TEXT = "Rate limits"
