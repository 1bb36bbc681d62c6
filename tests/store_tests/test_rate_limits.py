"""Cross-workspace rate limits (contract section 7).

Rate-limit rows are the only ones on the UTC clock: both times carry ``+00:00``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from conftest import FrozenClock, raw_rows

from store import GlobalLearningStore
from store.base import hash_job


def test_record_writes_utc_text(store: GlobalLearningStore) -> None:
    event_id = store.record_rate_limit_event("E101", 60.0, "job-a", model="m1")
    (row,) = raw_rows(store, "rate_limit_events")
    assert row == {
        "id": event_id,
        "error_code": "E101",
        "model": "m1",
        "recorded_at": "2026-11-25T12:00:00.250000+00:00",
        "expires_at": "2026-11-25T12:00:48.250000+00:00",  # 0.8 * 60 s
        "source_job_hash": hash_job("job-a"),
        "duration_seconds": 60.0,
    }


def test_nan_duration_raises_before_writing(store: GlobalLearningStore) -> None:
    with pytest.raises(ValueError):
        store.record_rate_limit_event("E101", math.nan, "job-a")
    assert raw_rows(store, "rate_limit_events") == []


def test_is_rate_limited_counts_down(store: GlobalLearningStore, clock: FrozenClock) -> None:
    assert store.is_rate_limited() == (False, None)
    store.record_rate_limit_event("E101", 60.0, "job-a")
    assert store.is_rate_limited() == (True, 48.0)
    assert store.is_rate_limited(error_code="E101") == (True, 48.0)
    assert store.is_rate_limited(error_code="E102") == (False, None)
    clock.advance(seconds=40.5)
    assert store.is_rate_limited("E101") == (True, 7.5)
    clock.advance(seconds=7.5)  # expires_at == now: no longer limited
    assert store.is_rate_limited("E101") == (False, None)


def test_is_rate_limited_takes_the_latest_expiry(store: GlobalLearningStore) -> None:
    store.record_rate_limit_event("E101", 60.0, "job-a")
    store.record_rate_limit_event("E101", 120.0, "job-b")
    store.record_rate_limit_event("E101", 30.0, "job-c")
    assert store.is_rate_limited("E101") == (True, 96.0)


def test_model_filters(store: GlobalLearningStore) -> None:
    store.record_rate_limit_event("E101", 100.0, "job-a")  # no model
    # An event stored without a model does not block a model-specific check.
    assert store.is_rate_limited(model="m1") == (False, None)
    store.record_rate_limit_event("E101", 10.0, "job-a", model="m1")
    assert store.is_rate_limited(model="m1") == (True, 8.0)
    assert store.is_rate_limited() == (True, 80.0)
    assert store.is_rate_limited("E101", "m2") == (False, None)


def test_negative_duration_is_already_expired(store: GlobalLearningStore) -> None:
    store.record_rate_limit_event("E101", -10.0, "job-a")
    (row,) = raw_rows(store, "rate_limit_events")
    assert row["expires_at"] == "2026-11-25T11:59:52.250000+00:00"
    assert row["duration_seconds"] == -10.0
    assert store.is_rate_limited() == (False, None)
    assert store.get_active_rate_limits() == []
    assert store.cleanup_expired_rate_limits() == 1
    assert raw_rows(store, "rate_limit_events") == []


def test_active_rate_limits(store: GlobalLearningStore, clock: FrozenClock) -> None:
    store.record_rate_limit_event("E101", 10.0, "job-a", model="m1")
    store.record_rate_limit_event("E102", 50.0, "job-b")
    store.record_rate_limit_event("E103", 30.0, "job-c", model="m1")

    events = store.get_active_rate_limits()
    assert [e.error_code for e in events] == ["E102", "E103", "E101"]  # latest expiry first
    first = events[0]
    assert first.recorded_at == datetime(2026, 11, 25, 12, 0, 0, 250000, tzinfo=UTC)
    assert first.expires_at == datetime(2026, 11, 25, 12, 0, 40, 250000, tzinfo=UTC)
    assert first.source_job_hash == hash_job("job-b")
    assert (first.model, first.duration_seconds) == (None, 50.0)

    assert [e.error_code for e in store.get_active_rate_limits("m1")] == ["E103", "E101"]
    assert len(store.get_active_rate_limits("")) == 3  # only a truthy model filters
    assert [e.error_code for e in store.get_active_rate_limits(limit=1)] == ["E102"]

    clock.advance(seconds=24)  # E103 (expires at +24 s) and E101 (+8 s) are gone
    assert [e.error_code for e in store.get_active_rate_limits()] == ["E102"]
    assert store.cleanup_expired_rate_limits() == 2
    assert store.cleanup_expired_rate_limits() == 0
    assert [row["error_code"] for row in raw_rows(store, "rate_limit_events")] == ["E102"]


def test_own_job_is_not_excluded(store: GlobalLearningStore) -> None:
    store.record_rate_limit_event("E101", 10.0, "job-a")
    limited, _ = store.is_rate_limited("E101")
    assert limited
