"""Export what a list shows, as CSV, JSON or NDJSON: from the console (``:export``) and from
the command line (``marianne-tui export``).

One table shape per screen (``COLUMNS``): the screen's columns with full values instead of
cut cells (ISO times, whole names, both outcome counts) and the row's id first. Rows come
in the screen's order. Patterns and escalations are read again page by page with the
screen's query (all pages, never one unbounded read); the other lists export the rows
their table shows.

Store text is untrusted: control characters are replaced as on screen (``text.clean``),
so an exported file can be printed to a terminal without an escape sequence reaching it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from marianne_tui.text import clean
from marianne_tui.widgets.filter_bar import text_matches

if TYPE_CHECKING:
    from store import (
        DriftRow,
        EscalationDecisionRecord,
        EscalationSort,
        GlobalLearningStore,
        PatternQuery,
        PatternRow,
        QueuedEscalation,
        RateLimitEvent,
    )

FORMATS = ("csv", "json", "ndjson")
#: Rows per read while exporting every page of the patterns list.
EXPORT_PAGE = 500
#: Longest exported text value (a guidance can be long; a document it is not).
TEXT_LIMIT = 20_000

Record = dict[str, Any]

COLUMNS: dict[str, tuple[str, ...]] = {
    "patterns": (
        "id", "status", "drift_retired", "trust", "effectiveness", "priority",
        "applications", "successes", "failures", "last_seen", "name", "type", "instrument",
        "active",
    ),
    "drift": (
        "id", "name", "effectiveness_before", "effectiveness_after", "effectiveness_change",
        "effectiveness_direction", "grounding", "effectiveness_exceeded",
        "belief_before", "belief_after", "belief_change", "belief_direction",
        "belief_entropy", "belief_exceeded", "status", "priority",
    ),
    "escalations": (
        "id", "outcome", "recorded_at", "job_hash", "sheet", "confidence", "action",
        "pass_rate", "retries", "model", "guidance",
    ),
    "rate_limits": (
        "id", "error_code", "model", "job_hash", "expires_at", "recorded_at",
        "duration_seconds",
    ),
}


def _text(value: object) -> str | None:
    return None if value is None else clean(value, TEXT_LIMIT)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def pattern_record(row: PatternRow) -> Record:
    return {
        "id": _text(row.id),
        "status": _text(row.status),
        "drift_retired": row.drift_retired,
        "trust": row.trust,
        "effectiveness": row.effectiveness,
        "priority": row.priority,
        "applications": row.applications,
        "successes": row.successes,
        "failures": row.failures,
        "last_seen": _time(row.last_seen),
        "name": _text(row.name),
        "type": _text(row.pattern_type),
        "instrument": _text(row.instrument),
        "active": row.active,
    }


def drift_record(row: DriftRow) -> Record:
    eff, epi = row.effectiveness, row.epistemic
    return {
        "id": _text(row.pattern_id),
        "name": _text(row.pattern_name),
        "effectiveness_before": eff.effectiveness_before if eff else None,
        "effectiveness_after": eff.effectiveness_after if eff else None,
        "effectiveness_change": (
            round(eff.effectiveness_after - eff.effectiveness_before, 6) if eff else None
        ),
        "effectiveness_direction": _text(eff.drift_direction) if eff else None,
        "grounding": eff.grounding_confidence_avg if eff else None,
        "effectiveness_exceeded": eff.threshold_exceeded if eff else None,
        "belief_before": epi.confidence_before if epi else None,
        "belief_after": epi.confidence_after if epi else None,
        "belief_change": epi.belief_change if epi else None,
        "belief_direction": _text(epi.drift_direction) if epi else None,
        "belief_entropy": epi.belief_entropy if epi else None,
        "belief_exceeded": epi.threshold_exceeded if epi else None,
        "status": _text(row.status),
        "priority": row.priority,
    }


def escalation_record(record: EscalationDecisionRecord) -> Record:
    return {
        "id": _text(record.id),
        "outcome": _text(record.outcome_after_action) or "awaiting",
        "recorded_at": _time(record.recorded_at),
        "job_hash": _text(record.job_hash),
        "sheet": record.sheet_num,
        "confidence": record.confidence,
        "action": _text(record.action),
        "pass_rate": record.validation_pass_rate,
        "retries": record.retry_count,
        "model": _text(record.model),
        "guidance": _text(record.guidance),
    }


def rate_limit_record(event: RateLimitEvent) -> Record:
    return {
        "id": _text(event.id),
        "error_code": _text(event.error_code),
        "model": _text(event.model),
        "job_hash": _text(event.source_job_hash),
        "expires_at": _time(event.expires_at),
        "recorded_at": _time(event.recorded_at),
        "duration_seconds": event.duration_seconds,
    }


# -- reading the rows of a view ----------------------------------------------------------


def all_pattern_rows(store: GlobalLearningStore, query: PatternQuery) -> Iterator[PatternRow]:
    """Every row ``query`` matches (all pages), in its sort order, EXPORT_PAGE at a time."""
    offset = 0
    while True:
        page = store.query_patterns(replace(query, offset=offset, limit=EXPORT_PAGE))
        yield from page.rows
        offset += len(page.rows)
        if not page.rows or offset >= page.matching:
            return


def drift_matches(row: DriftRow, text: str) -> bool:
    """The Drift screen's `/` filter (the pattern's name)."""
    return text_matches(text, (row.pattern_name,))


def escalation_matches(record: EscalationDecisionRecord, text: str, *, stale: bool = False
                       ) -> bool:
    """The Escalations screen's `/` filter (job, action, outcome, guidance, model, and
    "stale" for an awaiting one older than the stale age)."""
    return text_matches(text, (
        record.job_hash, record.action, record.outcome_after_action or "awaiting",
        record.guidance, record.model, "stale" if stale else None,
    ))


def all_queued_escalations(
    store: GlobalLearningStore, stale_age: timedelta, sort: EscalationSort, descending: bool,
    text: str = "",
) -> Iterator[QueuedEscalation]:
    """Every row of the escalation queue (all pages) that ``text`` is found in, in the
    Escalations screen's order (``escalation_queue``: awaiting, stale, decided, sorted
    within each), EXPORT_PAGE at a time."""
    offset = 0
    while True:
        page = store.escalation_queue(stale_age=stale_age, sort=sort, descending=descending,
                                      limit=EXPORT_PAGE, offset=offset, text=text)
        yield from page.rows
        offset += len(page.rows)
        if not page.rows or offset >= page.matching:
            return


def queued_escalation_records(
    store: GlobalLearningStore, stale_age: timedelta, sort: EscalationSort, descending: bool,
    text: str,
) -> list[Record]:
    """The exported rows of the Escalations screen: its queue order, its `/` filter."""
    from store import EscalationGroup

    return [
        escalation_record(row.record)
        for row in all_queued_escalations(store, stale_age, sort, descending, text)
        if escalation_matches(row.record, text, stale=row.group is EscalationGroup.STALE)
    ]


def in_shown_order(items: Iterable[Any], key: Callable[[Any], str],
                   shown: Sequence[str]) -> list[Any]:
    """The ``items`` whose key is in ``shown`` (a table's row keys), in the table's order."""
    by_key = {key(item): item for item in items}
    return [by_key[k] for k in shown if k in by_key]


# -- writing ------------------------------------------------------------------------------


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def write_records(out: TextIO, records: Iterable[Record], columns: Sequence[str],
                  fmt: str) -> int:
    """Write ``records`` to ``out`` in ``fmt``; returns how many rows were written."""
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for record in records:
            writer.writerow([_csv_value(record[column]) for column in columns])
            count += 1
    elif fmt == "ndjson":
        for record in records:
            out.write(json.dumps({c: record[c] for c in columns}, ensure_ascii=False) + "\n")
            count += 1
    elif fmt == "json":
        out.write("[")
        for record in records:
            out.write(",\n " if count else "\n ")
            out.write(json.dumps({c: record[c] for c in columns}, ensure_ascii=False))
            count += 1
        out.write("\n]\n" if count else "]\n")
    else:
        raise ValueError(f"unknown export format {fmt!r} (one of {', '.join(FORMATS)})")
    return count


def render(records: Iterable[Record], columns: Sequence[str], fmt: str) -> str:
    """``write_records`` into a string (tests, small exports)."""
    buffer = io.StringIO()
    write_records(buffer, records, columns, fmt)
    return buffer.getvalue()


def export_path(folder: Path, screen: str, fmt: str, now: datetime) -> Path:
    """A new file in ``folder``: marianne-<screen>-<local time>.<fmt>, never overwriting."""
    stem = f"marianne-{screen.replace('_', '-')}-{now:%Y%m%d-%H%M%S}"
    path = folder / f"{stem}.{fmt}"
    number = 2
    while path.exists():
        path = folder / f"{stem}-{number}.{fmt}"
        number += 1
    return path


def write_file(path: Path, records: Iterable[Record], columns: Sequence[str],
               fmt: str) -> int:
    """Write the export to a new file at ``path`` (exclusive: never clobbers one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8", newline="") as out:
        return write_records(out, records, columns, fmt)
