"""Typing a `:` command as an operator would, and reading back the toasts it raised."""

from __future__ import annotations

from typing import Any

from textual.keys import _character_to_key

from marianne_tui.app import MarianneApp
from marianne_tui.modals.command_line import CommandLineScreen
from marianne_tui.widgets.live_table import LiveTable


def keys_for(text: str) -> list[str]:
    return [_character_to_key(char) for char in text]


async def command(pilot: Any, line: str) -> None:
    """`:`, the line typed key by key, enter; then let the command and its refresh land."""
    await pilot.press("colon")
    await pilot.pause()
    assert isinstance(pilot.app.screen, CommandLineScreen)
    await pilot.press(*keys_for(line), "enter")
    for _ in range(5):
        await pilot.pause()


async def started(app: MarianneApp, pilot: Any) -> None:
    app.refresh_now_sync(force=True)
    await pilot.pause()


def shown_ids(app: MarianneApp) -> tuple[str, ...]:
    return app.screen.query_one(LiveTable).row_keys_in_order


def toasts(app: MarianneApp) -> list[str]:
    """Every toast since the app started (Textual forgets expired ones: we keep them)."""
    seen: list[str] | None = getattr(app, "_toasts_seen", None)
    assert seen is not None, "call record_toasts(app) first"
    return seen


def record_toasts(app: MarianneApp) -> MarianneApp:
    seen: list[str] = []
    notify = app.notify

    def recording(message: str, *args: Any, **kwargs: Any) -> None:
        seen.append(str(message))
        notify(message, *args, **kwargs)

    app.notify = recording  # type: ignore[method-assign]
    app._toasts_seen = seen  # type: ignore[attr-defined]
    return app
