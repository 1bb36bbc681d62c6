"""Alerts: what changed between two watch snapshots that an operator must not miss.

``detect_alerts(previous, current, rules)`` is a pure function of two
``store.WatchSnapshot`` values and the configured ``AlertRules``; the app calls it after
each refresh in which the store changed and keeps the result in an ``AlertLog`` (the
Events screen). The first snapshot is the baseline: no alerts at start-up.

Each alert is said once because it is a *transition* between the two snapshots (a
threshold crossed, an id that was not there before, a journal entry newer than the
previous mark); the next snapshot compares with this one, so the same state never alerts
twice.

Everything in an alert's ``subject`` and ``detail`` may come from the store (names, error
codes, operators): untrusted text, to be shown through ``marianne_tui.text`` only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from marianne_tui.config import AlertRules
from store import JournalEntry, JournalSubject, WatchedItem, WatchSnapshot

#: More new items of one kind than this in one refresh are told in one alert.
MAX_NAMED = 5
#: The Events screen keeps this many alerts (the oldest are dropped).
LOG_LIMIT = 2000
#: A budget this close to its floor is at the floor (as the header says it).
FLOOR_EPSILON = 1e-9


class AlertKind(str, Enum):
    DIVERSITY_LOW = "diversity low"
    DIVERSITY_BACK = "diversity back"
    BUDGET_FLOOR = "budget at floor"
    ESCALATION = "new escalation"
    RATE_LIMIT = "rate limit"
    RATE_LIMIT_BURST = "rate-limit burst"
    STATUS_CHANGED = "status changed"
    DRIFT = "drift"


@dataclass(frozen=True)
class Alert:
    """One thing that happened. ``screen``/``key``: where its row is (mode, row key)."""

    at: datetime
    kind: AlertKind
    subject: str
    detail: str
    screen: str
    key: str | None = None
    warning: bool = True


def detect_alerts(
    previous: WatchSnapshot | None, current: WatchSnapshot, rules: AlertRules
) -> list[Alert]:
    """What happened from ``previous`` to ``current`` (nothing when there is no previous)."""
    if previous is None:
        return []
    found: list[Alert] = []
    if rules.diversity:
        found.extend(_diversity(previous, current))
    if rules.budget_floor:
        found.extend(_budget(previous, current))
    if rules.escalations:
        found.extend(_escalations(previous, current))
    if rules.rate_limits:
        found.extend(_rate_limits(previous, current, rules.rate_limit_burst))
    if rules.status_changes:
        found.extend(_status_changes(previous, current))
    if rules.drift:
        found.extend(_drift(previous, current))
    return found


# -- thresholds -------------------------------------------------------------------------


def _low(snapshot: WatchSnapshot) -> bool:
    return snapshot.diversity is not None and snapshot.diversity < snapshot.diversity_threshold


def _diversity(previous: WatchSnapshot, current: WatchSnapshot) -> Iterator[Alert]:
    value = current.diversity
    if value is None:
        return
    limit = current.diversity_threshold
    if _low(current) and not _low(previous):
        yield Alert(current.read_at, AlertKind.DIVERSITY_LOW, f"diversity {value:.2f}",
                    f"fell below its threshold {limit:.2f}", "budget")
    elif _low(previous) and not _low(current):
        yield Alert(current.read_at, AlertKind.DIVERSITY_BACK, f"diversity {value:.2f}",
                    f"back at or above its threshold {limit:.2f}", "budget", warning=False)


def _at_floor(snapshot: WatchSnapshot) -> bool:
    return snapshot.budget is not None and snapshot.budget <= snapshot.budget_floor + FLOOR_EPSILON


def _budget(previous: WatchSnapshot, current: WatchSnapshot) -> Iterator[Alert]:
    if _at_floor(current) and not _at_floor(previous):
        yield Alert(current.read_at, AlertKind.BUDGET_FLOOR, f"budget {current.budget:.2f}",
                    f"hit its floor {current.budget_floor:.2f}", "budget")


# -- new rows ---------------------------------------------------------------------------


def new_items(
    previous: Sequence[WatchedItem], current: Sequence[WatchedItem], limit: int
) -> list[WatchedItem]:
    """The items of ``current`` that ``previous`` did not hold.

    Both lists are newest first and cut at ``limit``. When ``previous`` was cut, an item
    missing from it may only have been below the cut (an item above it left): then only
    the items ahead of the first one ``previous`` knew are new.
    """
    known = {item.id for item in previous}
    if len(previous) < limit:
        return [item for item in current if item.id not in known]
    ahead: list[WatchedItem] = []
    for item in current:
        if item.id in known:
            break
        ahead.append(item)
    return ahead


def _escalations(previous: WatchSnapshot, current: WatchSnapshot) -> Iterator[Alert]:
    new = new_items(previous.pending_escalations, current.pending_escalations,
                    previous.watch_limit)
    if len(new) > MAX_NAMED:
        yield Alert(current.read_at, AlertKind.ESCALATION, f"{len(new)} escalations",
                    "new, awaiting an outcome", "escalations", new[0].id)
        return
    for item in new:
        yield Alert(current.read_at, AlertKind.ESCALATION, item.label, "awaiting an outcome",
                    "escalations", item.id)


def _rate_limits(previous: WatchSnapshot, current: WatchSnapshot, burst: int) -> Iterator[Alert]:
    new = new_items(previous.rate_limits, current.rate_limits, previous.watch_limit)
    if len(new) >= burst:
        codes = Counter(item.label for item in new)
        shown = ", ".join(f"{label} ×{count}" if count > 1 else label
                          for label, count in codes.most_common(3))
        yield Alert(current.read_at, AlertKind.RATE_LIMIT_BURST, f"{len(new)} new rate limits",
                    shown, "rate_limits", new[0].id)
        return
    for item in new:
        yield Alert(current.read_at, AlertKind.RATE_LIMIT, item.label, "new rate limit",
                    "rate_limits", item.id)


def _drift(previous: WatchSnapshot, current: WatchSnapshot) -> Iterator[Alert]:
    complete = (previous.drifting_total <= len(previous.drifting)
                and current.drifting_total <= len(current.drifting))
    threshold = f"past the drift threshold {current.drift_threshold:.2f}"
    if not complete:
        # Only the largest drifts were read: ids entering them may have drifted before.
        if current.drifting_total > previous.drifting_total:
            first = current.drifting[0].id if current.drifting else None
            yield Alert(current.read_at, AlertKind.DRIFT,
                        f"{previous.drifting_total} → {current.drifting_total} patterns",
                        threshold, "drift", first)
        return
    known = {item.id for item in previous.drifting}
    new = [item for item in current.drifting if item.id not in known]
    if len(new) > MAX_NAMED:
        yield Alert(current.read_at, AlertKind.DRIFT, f"{len(new)} patterns",
                    f"started drifting {threshold}", "drift", new[0].id)
        return
    for item in new:
        yield Alert(current.read_at, AlertKind.DRIFT, item.label, f"started drifting {threshold}",
                    "drift", item.id)


# -- status changes by someone else -------------------------------------------------------


def _status_of(state: object) -> str:
    return str(state or "pending")


def status_move(entry: JournalEntry) -> tuple[str, str] | None:
    """(before, after) of a pattern journal entry that changed a status, else None."""
    if entry.target_kind is not JournalSubject.PATTERN:
        return None
    before = _status_of(entry.prior_state.get("quarantine_status"))
    after = _status_of(entry.new_state.get("quarantine_status"))
    return None if before == after else (before, after)


def is_mine(entry: JournalEntry, me: tuple[str, str]) -> bool:
    """Whether this console's store wrote the entry (same operator on the same host)."""
    actor, host = me
    if entry.host is None:  # older entries hold "user@host" in actor
        return entry.actor == f"{actor}@{host}"
    return (entry.actor, entry.host) == (actor, host)


def unexplained_moves(
    before: Mapping[str, int], after: Mapping[str, int], explained: Mapping[str, int]
) -> dict[str, int]:
    """How the status counts moved beyond what the journal ``explained`` (status -> delta).

    Patterns are created pending (Marianne's ``record_pattern``), so growth of the total
    is taken as new pending patterns. When the total shrank (patterns deleted) nothing
    can be told apart, and nothing is returned.
    """
    grown = sum(after.values()) - sum(before.values())
    if grown < 0:
        return {}
    moved: dict[str, int] = {}
    for status in sorted(set(before) | set(after) | set(explained)):
        rest = after.get(status, 0) - before.get(status, 0) - explained.get(status, 0)
        if status == "pending":
            rest -= grown
        if rest:
            moved[status] = rest
    return moved


def _status_changes(previous: WatchSnapshot, current: WatchSnapshot) -> Iterator[Alert]:
    explained: Counter[str] = Counter()
    journalled: set[str] = set()
    for entry in current.journal_since:
        move = status_move(entry)
        if move is None:
            continue
        before, after = move
        explained[before] -= 1
        explained[after] += 1
        journalled.add(entry.target_id)
        if not is_mine(entry, current.me):
            name = current.names.get(entry.target_id, entry.target_id)
            verb = "undone" if entry.action == "undo" else entry.action
            yield Alert(current.read_at, AlertKind.STATUS_CHANGED, name,
                        f"{before} → {after} ({verb} by {entry.who})", "patterns",
                        entry.target_id)
    if current.journal_truncated:
        return  # the journal was not read whole: the counts cannot be explained
    moved = unexplained_moves(previous.status_counts, current.status_counts, explained)
    if not moved:
        return
    named = [item for item in current.stamped if item.id not in journalled]
    if named and len(named) <= MAX_NAMED:
        for item in named:
            yield Alert(current.read_at, AlertKind.STATUS_CHANGED, item.label,
                        f"now {item.status} (not by an operator: the conductor or a script)",
                        "patterns", item.id)
        return
    counts = ", ".join(f"{status} {count:+d}" for status, count in sorted(moved.items()))
    yield Alert(current.read_at, AlertKind.STATUS_CHANGED, "patterns",
                f"statuses changed outside the console: {counts}", "patterns")


# -- the log ----------------------------------------------------------------------------


class AlertLog:
    """Every alert since the console opened, newest first; counts what was not yet seen.

    Each alert gets a serial number (the Events screen's row key), counting from 1.
    """

    def __init__(self, limit: int = LOG_LIMIT) -> None:
        self.limit = limit
        self._alerts: list[tuple[int, Alert]] = []
        self._serial = 0
        self.unseen = 0

    def add(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            self._serial += 1
            self._alerts.insert(0, (self._serial, alert))
        del self._alerts[self.limit:]
        self.unseen = min(self.limit, self.unseen + len(alerts))

    def seen(self) -> None:
        self.unseen = 0

    def numbered(self) -> tuple[tuple[int, Alert], ...]:
        """(serial, alert), newest first."""
        return tuple(self._alerts)

    @property
    def alerts(self) -> tuple[Alert, ...]:
        return tuple(alert for _serial, alert in self._alerts)

    def __len__(self) -> int:
        return len(self._alerts)
