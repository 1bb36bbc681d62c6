"""Pattern discovery broadcasts (contract section 5.10).

Times are naive local text; "unexpired" means ``expires_at > now_local``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pytest
from conftest import FrozenClock, raw_rows

from store import GlobalLearningStore
from store.base import hash_job


def broadcast(store: GlobalLearningStore, name: str, job: str = "job-a", **kwargs: Any) -> str:
    return store.record_pattern_discovery(
        f"id-{name}", name, kwargs.pop("pattern_type", "validation_failure"), job, **kwargs
    )


def test_record_stores_local_text_and_hashed_job(store: GlobalLearningStore) -> None:
    event_id = store.record_pattern_discovery(
        "p1", "file not created", "validation_failure", "job-a", 0.8, ["é", "b"]
    )
    broadcast(store, "plain")
    rows = {row["id"]: row for row in raw_rows(store, "pattern_discovery_events")}
    assert len(rows) == 2
    assert len(event_id) == 36
    row = rows[event_id]
    assert row["pattern_id"] == "p1"
    assert row["pattern_name"] == "file not created"
    assert row["source_job_hash"] == hash_job("job-a")
    assert row["recorded_at"] == "2026-11-25T12:00:00.250000"
    assert row["expires_at"] == "2026-11-25T12:05:00.250000"  # default TTL 300 s
    assert row["effectiveness_score"] == 0.8
    assert row["context_tags"] == '["\\u00e9", "b"]'
    (plain,) = [r for r in rows.values() if r["pattern_name"] == "plain"]
    assert plain["context_tags"] == "[]"
    assert plain["effectiveness_score"] == 1.0


def test_record_reads_back_as_events(store: GlobalLearningStore) -> None:
    event_id = store.record_pattern_discovery(
        "p1", "n", "t", "job-a", effectiveness_score=1.7, context_tags=["x"], ttl_seconds=60
    )
    (event,) = store.get_active_pattern_discoveries()
    assert event.id == event_id
    assert (event.pattern_id, event.pattern_name, event.pattern_type) == ("p1", "n", "t")
    assert event.recorded_at == datetime(2026, 11, 25, 12, 0, 0, 250000)
    assert event.expires_at == datetime(2026, 11, 25, 12, 1, 0, 250000)
    assert event.effectiveness_score == 1.7  # stored and read raw
    assert event.context_tags == ["x"]
    assert event.source_job_hash == hash_job("job-a")


def test_nan_effectiveness_violates_not_null(store: GlobalLearningStore) -> None:
    with pytest.raises(Exception) as raised:
        broadcast(store, "nan", effectiveness_score=math.nan)
    assert any(cls.__name__ == "IntegrityError" for cls in type(raised.value).__mro__)
    assert store.get_active_pattern_discoveries() == []


def test_check_recent_filters(store: GlobalLearningStore, clock: FrozenClock) -> None:
    broadcast(store, "mine", job="job-a", effectiveness_score=0.9)
    clock.advance(seconds=1)
    broadcast(store, "weak", job="job-b", effectiveness_score=0.2)
    clock.advance(seconds=1)
    broadcast(store, "other", job="job-b", effectiveness_score=0.9, pattern_type="")
    clock.advance(seconds=1)
    broadcast(store, "newest", job="job-c", effectiveness_score=0.5)

    def names(**kwargs: Any) -> list[str]:
        return [e.pattern_name for e in store.check_recent_pattern_discoveries(**kwargs)]

    assert names() == ["newest", "other", "weak", "mine"]
    assert names(exclude_job_id="job-a") == ["newest", "other", "weak"]
    assert names(exclude_job_id="") == ["newest", "other", "weak", "mine"]
    assert names(min_effectiveness=0.5) == ["newest", "other", "mine"]
    assert names(pattern_type="") == ["other"]  # not None: filters for the empty type
    assert names(pattern_type="validation_failure", limit=2) == ["newest", "weak"]
    assert names(limit=-1) == ["newest", "other", "weak", "mine"]


def test_expiry_is_strict_and_cleanup_takes_the_boundary(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    broadcast(store, "short", ttl_seconds=10)
    broadcast(store, "long", ttl_seconds=20)
    broadcast(store, "already gone", ttl_seconds=-5)  # a negative TTL is allowed
    # Recorded at the same instant, so compare without order.
    assert {e.pattern_name for e in store.get_active_pattern_discoveries()} == {"short", "long"}
    assert store.cleanup_expired_pattern_discoveries() == 1

    clock.advance(seconds=10)  # expires_at == now: expired
    assert [e.pattern_name for e in store.check_recent_pattern_discoveries()] == ["long"]
    assert [e.pattern_name for e in store.get_active_pattern_discoveries()] == ["long"]
    assert store.cleanup_expired_pattern_discoveries() == 1
    assert [row["pattern_name"] for row in raw_rows(store, "pattern_discovery_events")] == [
        "long"
    ]
    assert store.cleanup_expired_pattern_discoveries() == 0


def test_active_discoveries_filter_and_limit(
    store: GlobalLearningStore, clock: FrozenClock
) -> None:
    for index in range(5):
        broadcast(store, f"d{index}", pattern_type="a" if index % 2 else "b")
        clock.advance(seconds=1)
    assert [e.pattern_name for e in store.get_active_pattern_discoveries()] == [
        "d4", "d3", "d2", "d1", "d0",
    ]
    assert [e.pattern_name for e in store.get_active_pattern_discoveries("a")] == ["d3", "d1"]
    # Only a truthy type filters here (unlike check_recent_pattern_discoveries).
    assert len(store.get_active_pattern_discoveries("")) == 5
    assert [e.pattern_name for e in store.get_active_pattern_discoveries(limit=2)] == [
        "d4",
        "d3",
    ]


def test_empty_store(store: GlobalLearningStore) -> None:
    assert store.check_recent_pattern_discoveries() == []
    assert store.get_active_pattern_discoveries() == []
    assert store.cleanup_expired_pattern_discoveries() == 0
