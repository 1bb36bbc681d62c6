"""Times as the console writes them: ages, stamps, countdowns and intervals, in one place."""

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


def spoken_age_of(moment: datetime, now: datetime) -> str:
    """``spoken_age`` of a stored moment; ``datetime.min`` is the store's "unparsable"."""
    if moment == datetime.min:
        return "unknown time"
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return "in the future"
    return spoken_age(seconds)


def stamp(moment: datetime) -> str:
    """Month-day and time ("11-25 12:00"); "?" for the store's unparsable ``datetime.min``."""
    if moment == datetime.min:
        return "?"
    return moment.strftime("%m-%d %H:%M")


def stamp_near(moment: datetime, now: datetime) -> str:
    """The time of day when ``moment`` is on ``now``'s date, otherwise a full ``stamp``."""
    if moment.date() == now.date():
        return moment.strftime("%H:%M:%S")
    return stamp(moment)


def countdown(seconds: float) -> str:
    """``3d 04h``, ``1h 02m``, ``4m 05s``, ``9s``: a remaining time as an operator reads it
    (days past 24 h, so the column keeps its width: "533h 18m" did not fit)."""
    whole = max(0, int(seconds + 0.999))  # round up: "0s" only once really expired
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def duration(seconds: float) -> str:
    """A stored duration in ``countdown`` units, signed; "?" for NaN."""
    if seconds != seconds:  # NaN never reaches the store, but a viewer must not crash
        return "?"
    return countdown(seconds) if seconds >= 0 else f"-{countdown(-seconds)}"


def interval(seconds: float) -> str:
    """A refresh interval: "2 s", "1.5 min", "1 h"."""
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"
