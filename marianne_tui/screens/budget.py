"""PLACEHOLDER: the Budget & entropy screen is being written."""

from __future__ import annotations

from marianne_tui.screens.base import StoreScreen


class BudgetScreen(StoreScreen):
    TITLE_TEXT = "Budget & entropy"
