"""How long ago something happened, in the two forms the console shows."""

from __future__ import annotations

from datetime import datetime

_COMPACT_UNITS = (("y", 365 * 86400), ("mo", 30 * 86400), ("d", 86400), ("h", 3600), ("m", 60))


def short_age(then: datetime | None, now: datetime) -> str:
    """A table-cell age ("45s", "12m", "5h", "3d", "4mo", "2y"); "—" if unknown."""
    if then is None:
        return "—"
    try:
        seconds = (now - then.replace(tzinfo=None)).total_seconds()
    except (TypeError, OverflowError):
        return "?"
    if seconds < 0:
        return "future"
    for unit, size in _COMPACT_UNITS:
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def spoken_age(seconds: float | None) -> str:
    """An age for a sentence: "just now", "14 s ago", "3 min ago", "5 h ago", "3 days ago"."""
    if seconds is None:
        return "never"
    if seconds < 2:
        return "just now"
    if seconds < 120:
        return f"{int(seconds)} s ago"
    if seconds < 7200:
        return f"{int(seconds // 60)} min ago"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"
