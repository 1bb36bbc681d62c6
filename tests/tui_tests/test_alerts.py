"""The alert detector, a pure function of two hand-made watch snapshots (no database).

Each case builds the snapshot before and after one event and checks exactly which alerts
come out, with the values worked out by hand.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

from marianne_tui.alerts import (
    AlertKind,
    AlertLog,
    detect_alerts,
    new_items,
    unexplained_moves,
)
from marianne_tui.config import AlertRules
from store import JournalEntry, JournalSubject, WatchedItem, WatchSnapshot

T0 = datetime(2026, 1, 5, 12, 0, 0)
T1 = datetime(2026, 1, 5, 12, 0, 2)
ME = ("ops", "console-host")
RULES = AlertRules()


def snap(**changes: Any) -> WatchSnapshot:
    base = WatchSnapshot(
        read_at=T0, diversity=0.5, diversity_threshold=0.3, budget=0.2, budget_floor=0.05,
        status_counts=MappingProxyType({"pending": 5, "quarantined": 1}),
        pending_escalations=(), pending_escalations_total=0, rate_limits=(),
        drifting=(), drifting_total=0, drift_threshold=0.2, journal_mark=0, me=ME,
        watch_limit=4,
    )
    return replace(base, **changes)


def items(*ids: str) -> tuple[WatchedItem, ...]:
    return tuple(WatchedItem(i, f"label {i}") for i in ids)


def entry(entry_id: int, target: str, before: str, after: str, *, actor: str = "ops",
          host: str | None = "console-host", action: str = "quarantine") -> JournalEntry:
    return JournalEntry(
        id=entry_id, acted_at=T1, actor=actor, host=host,
        target_kind=JournalSubject.PATTERN, target_id=target, action=action, reason=None,
        prior_state=MappingProxyType({"quarantine_status": before}),
        new_state=MappingProxyType({"quarantine_status": after}),
    )


def kinds(alerts: list[Any]) -> list[tuple[AlertKind, str, str | None]]:
    return [(alert.kind, alert.subject, alert.key) for alert in alerts]


def test_the_first_snapshot_is_the_baseline() -> None:
    loud = snap(diversity=0.1, budget=0.05, rate_limits=items("r1"),
                pending_escalations=items("e1"), pending_escalations_total=1)
    assert detect_alerts(None, loud, RULES) == []


def test_the_same_state_twice_says_nothing() -> None:
    state = snap(diversity=0.1, budget=0.05, rate_limits=items("r1"), drifting=items("p1"),
                 drifting_total=1)
    assert detect_alerts(state, replace(state, read_at=T1), RULES) == []


def test_diversity_crossing_below_and_back() -> None:
    below = snap(read_at=T1, diversity=0.29)
    down = detect_alerts(snap(), below, RULES)
    assert kinds(down) == [(AlertKind.DIVERSITY_LOW, "diversity 0.29", None)]
    assert down[0].screen == "budget" and down[0].at == T1 and down[0].warning
    # Still below: nothing new. Exactly at the threshold is not below (0.30 >= 0.30).
    assert detect_alerts(below, replace(below, diversity=0.12), RULES) == []
    back = detect_alerts(below, snap(diversity=0.3), RULES)
    assert kinds(back) == [(AlertKind.DIVERSITY_BACK, "diversity 0.30", None)]
    assert not back[0].warning
    # No diversity recorded any more: no claim either way.
    assert detect_alerts(below, snap(diversity=None), RULES) == []


def test_budget_hitting_its_floor_once() -> None:
    at_floor = snap(budget=0.05)
    alerts = detect_alerts(snap(budget=0.06), at_floor, RULES)
    assert kinds(alerts) == [(AlertKind.BUDGET_FLOOR, "budget 0.05", None)]
    assert detect_alerts(at_floor, snap(budget=0.05), RULES) == []
    assert detect_alerts(snap(budget=None), snap(budget=0.2), RULES) == []


def test_new_escalations_and_many_at_once() -> None:
    before = snap(pending_escalations=items("e1"), pending_escalations_total=1)
    after = snap(pending_escalations=items("e2", "e1"), pending_escalations_total=2)
    assert kinds(detect_alerts(before, after, RULES)) == [
        (AlertKind.ESCALATION, "label e2", "e2")]
    # One resolved (e1 left) and nothing new: no alert.
    assert detect_alerts(after, snap(pending_escalations=items("e2")), RULES) == []
    many = snap(pending_escalations=items(*(f"n{i}" for i in range(6)), "e1"),
                pending_escalations_total=7, watch_limit=10)
    summary = detect_alerts(replace(before, watch_limit=10), many, RULES)
    assert kinds(summary) == [(AlertKind.ESCALATION, "6 escalations", "n0")]


def test_a_cut_list_counts_only_what_is_ahead_of_the_first_known_item() -> None:
    # previous holds the limit (4): "d" was newest; "x" is new, "e" only came into view
    # because "a" left.
    previous = items("d", "c", "b", "a")
    current = items("x", "d", "c", "b")
    assert [item.id for item in new_items(previous, current, 4)] == ["x"]
    assert [item.id for item in new_items(items("d", "c"), items("e", "d", "c"), 4)] == ["e"]
    assert [item.id for item in new_items(previous, items("d", "c", "b", "e"), 4)] == []


def test_rate_limits_one_by_one_and_as_a_burst() -> None:
    one = detect_alerts(snap(), snap(rate_limits=items("r1")), RULES)
    assert kinds(one) == [(AlertKind.RATE_LIMIT, "label r1", "r1")]
    assert one[0].screen == "rate_limits"
    two = detect_alerts(snap(), snap(rate_limits=items("r1", "r2")), RULES)
    assert [alert.kind for alert in two] == [AlertKind.RATE_LIMIT] * 2
    burst = detect_alerts(snap(), snap(rate_limits=items("r1", "r2", "r3")), RULES)
    assert kinds(burst) == [(AlertKind.RATE_LIMIT_BURST, "3 new rate limits", "r1")]
    assert burst[0].detail == "label r1, label r2, label r3"
    assert detect_alerts(snap(), snap(rate_limits=items("r1", "r2")),
                         replace(RULES, rate_limit_burst=2))[0].kind is AlertKind.RATE_LIMIT_BURST


def test_drift_starting_and_a_cut_list() -> None:
    before = snap(drifting=items("p1"), drifting_total=1)
    after = snap(drifting=items("p2", "p1"), drifting_total=2)
    alerts = detect_alerts(before, after, RULES)
    assert kinds(alerts) == [(AlertKind.DRIFT, "label p2", "p2")]
    assert alerts[0].screen == "drift"
    # A pattern that stops drifting says nothing.
    assert detect_alerts(after, before, RULES) == []
    # Only the 4 largest were read (watch_limit 4): the count is all that can be told.
    cut_before = snap(drifting=items("a", "b", "c", "d"), drifting_total=9)
    cut_after = snap(drifting=items("e", "a", "b", "c"), drifting_total=10)
    assert kinds(detect_alerts(cut_before, cut_after, RULES)) == [
        (AlertKind.DRIFT, "9 → 10 patterns", "e")]
    assert detect_alerts(cut_before, replace(cut_after, drifting_total=9), RULES) == []


def test_status_changes_by_others_are_told_and_mine_are_not() -> None:
    before = snap(journal_mark=10)
    mine = entry(11, "pat-a", "pending", "quarantined")
    theirs = entry(12, "pat-b", "pending", "validated", actor="alice", host="other-host",
                   action="validate")
    after = snap(journal_mark=12, journal_since=(mine, theirs),
                 status_counts={"pending": 3, "quarantined": 2, "validated": 1},
                 names={"pat-a": "A", "pat-b": "B"})
    alerts = detect_alerts(before, after, RULES)
    assert kinds(alerts) == [(AlertKind.STATUS_CHANGED, "B", "pat-b")]
    assert alerts[0].detail == "pending → validated (validate by alice@other-host)"
    # An old entry without a host column holds "user@host" in its actor.
    legacy = replace(mine, host=None, actor="ops@console-host")
    assert detect_alerts(before, replace(after, journal_since=(legacy,),
                                         status_counts={"pending": 4, "quarantined": 2}),
                         RULES) == []


def test_a_status_change_outside_the_journal_is_named_when_stamped() -> None:
    before = snap()
    stamped = (WatchedItem("pat-c", "C", "quarantined"),)
    after = snap(status_counts={"pending": 4, "quarantined": 2}, stamped=stamped)
    alerts = detect_alerts(before, after, RULES)
    assert kinds(alerts) == [(AlertKind.STATUS_CHANGED, "C", "pat-c")]
    assert "now quarantined" in alerts[0].detail
    # Not stamped (Marianne's retire_pattern stamps nothing): the counts are told.
    retired = snap(status_counts={"pending": 4, "quarantined": 1, "retired": 1})
    told = detect_alerts(before, retired, RULES)
    assert kinds(told) == [(AlertKind.STATUS_CHANGED, "patterns", None)]
    assert told[0].detail == "statuses changed outside the console: pending -1, retired +1"


def test_new_patterns_are_not_status_changes() -> None:
    grown = snap(status_counts={"pending": 7, "quarantined": 1})
    assert detect_alerts(snap(), grown, RULES) == []
    assert unexplained_moves({"pending": 5}, {"pending": 6, "validated": 1}, {}) == {
        "pending": -1, "validated": 1}
    # Patterns deleted: nothing can be told apart.
    assert unexplained_moves({"pending": 5, "quarantined": 1}, {"pending": 5}, {}) == {}


def test_a_truncated_journal_does_not_claim_unexplained_moves() -> None:
    after = snap(status_counts={"pending": 4, "quarantined": 2}, journal_truncated=True)
    assert detect_alerts(snap(), after, RULES) == []


def test_rules_switch_each_alert_off() -> None:
    after = snap(diversity=0.1, budget=0.05, rate_limits=items("r1"),
                 pending_escalations=items("e1"), pending_escalations_total=1,
                 drifting=items("p1"), drifting_total=1,
                 status_counts={"pending": 4, "quarantined": 2})
    assert len(detect_alerts(snap(), after, RULES)) == 6
    off = AlertRules(diversity=False, budget_floor=False, escalations=False,
                     rate_limits=False, status_changes=False, drift=False)
    assert detect_alerts(snap(), after, off) == []


def test_the_log_is_newest_first_and_counts_unseen() -> None:
    log = AlertLog(limit=3)
    first = detect_alerts(snap(), snap(rate_limits=items("r1")), RULES)
    second = detect_alerts(snap(), snap(rate_limits=items("r2", "r3")), RULES)
    log.add(first)
    log.add(second)
    assert [alert.key for alert in log.alerts] == ["r3", "r2", "r1"]
    assert [serial for serial, _alert in log.numbered()] == [3, 2, 1]
    assert log.unseen == 3
    log.seen()
    log.add(detect_alerts(snap(), snap(rate_limits=items("r4")), RULES))
    assert log.unseen == 1 and len(log) == 3
    assert [alert.key for alert in log.alerts] == ["r4", "r3", "r2"]
