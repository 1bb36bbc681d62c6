"""What the console needs beyond Marianne's API: paged reads, a change probe, a journal.

Every read here is bounded and done in SQL (a few statements per call), so a console can
refresh a 20,000-pattern store many times a second. Nothing here raises on the legacy or
malformed values that make Marianne's own record reads fail (status ``active``, NULL or
NaN scores, unparsable timestamps): a monitor must keep showing the store it monitors.

The operator journal (``marianne_tui_journal``) is this project's own table. On SQLite it is
created at the first journalled write, never on open, so that opening a Marianne file writes
nothing. Each action and its journal row commit in one transaction; the journal keeps the
exact stored text of the columns the action replaced, so that undo writes the same bytes back.
Journal times (``acted_at``, ``undone_at``) are naive local time, like the pattern timestamps
an action writes, so the two read side by side.
"""

from __future__ import annotations

import getpass
import socket
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from types import MappingProxyType
from typing import Any, Protocol, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Row,
    Select,
    Text,
    and_,
    case,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.types import NullType

from store import tables
from store.base import GlobalLearningStoreBase
from store.metrics import unvouched_score
from store.models import EscalationDecisionRecord, QuarantineStatus
from store.readmodels import (
    HIGH_TRUST,
    LOW_TRUST,
    ActionPreview,
    EscalationOutcome,
    JournalEntry,
    PatternAction,
    PatternPage,
    PatternQuery,
    PatternRow,
    PatternSort,
    StoreOverview,
    TrustBand,
    UndoConflictError,
)

__all__ = [
    "BUDGET_CEILING",
    "BUDGET_FLOOR",
    "DIVERSITY_THRESHOLD",
    "ConsoleMixin",
]

#: Marianne's default exploration-budget bounds (EntropyResponseConfig).
BUDGET_FLOOR = 0.05
BUDGET_CEILING = 0.50
#: Marianne's default entropy-response threshold: below it the population lacks diversity.
DIVERSITY_THRESHOLD = 0.3
#: "Needs attention" also keeps pending patterns the lifecycle is about to quarantine.
QUARANTINE_EFFECTIVENESS_THRESHOLD = 0.35
MIN_APPLICATIONS_FOR_LIFECYCLE = 3

PATTERN_TARGET = "pattern"
ESCALATION_TARGET = "escalation"
UNDO_ACTION = "undo"

_P = tables.patterns
_E = tables.escalation_decisions
_J = tables.operator_journal

#: The columns a pattern action may change, and so the state the journal keeps.
_PATTERN_STATE_COLUMNS = ("quarantine_status", "quarantined_at", "validated_at",
                          "quarantine_reason")
_ESCALATION_STATE_COLUMNS = ("outcome_after_action",)


class _StoreTransitions(Protocol):
    """The transitions other mixins of the composed store provide (and journal through)."""

    def quarantine_pattern(self, pattern_id: str, reason: str | None = None) -> bool: ...

    def validate_pattern(self, pattern_id: str) -> bool: ...

    def retire_pattern(self, pattern_id: str) -> bool: ...

    def update_quarantine_status(self, pattern_id: str, status: QuarantineStatus) -> bool: ...

    def update_escalation_outcome(
        self, escalation_id: str, outcome_after_action: str
    ) -> bool: ...


def default_actor() -> str:
    """``user@host`` of the operator running this process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


# ---------------------------------------------------------------------------------------
# SQL expressions of the patterns list (clamped as PatternRecord clamps when it reads)
# ---------------------------------------------------------------------------------------


def _clamped(column: Any, default: float, upper: float | None) -> ColumnElement[Any]:
    value = func.coalesce(column, default)
    whens: list[tuple[Any, Any]] = [(value < 0.0, 0.0)]
    if upper is not None:
        whens.append((value > upper, upper))
    return case(*whens, else_=value)


# NULL scores (NaN is stored as NULL) read as the column defaults instead of failing.
_status = func.coalesce(_P.c.quarantine_status, QuarantineStatus.PENDING.value)
_trust = _clamped(_P.c.trust_score, 0.5, 1.0)
_effectiveness = _clamped(_P.c.effectiveness_score, 0.5, 1.0)
_priority = _clamped(_P.c.priority_score, 0.5, None)
_successes = func.coalesce(_P.c.led_to_success_count, 0)
_failures = func.coalesce(_P.c.led_to_failure_count, 0)
_applications = _successes + _failures
_active = func.coalesce(type_coerce(_P.c.active, Integer), 1)
_last_seen_text = type_coerce(_P.c.last_seen, Text)
# The scores as stored (a REAL column may hold text), to tell a real score from a clamp.
_stored_scores: tuple[Any, ...] = (
    type_coerce(_P.c.trust_score, NullType()).label("stored_trust"),
    type_coerce(_P.c.effectiveness_score, NullType()).label("stored_effectiveness"),
    type_coerce(_P.c.priority_score, NullType()).label("stored_priority"),
)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _plain(value: str) -> str:
    """The value of a str enum member (``str()`` of one gives its qualified name)."""
    return value.value if isinstance(value, Enum) else value


def _parse_timestamp(raw: Any) -> datetime | None:
    if raw is None:
        return None
    if isinstance(raw, datetime):
        return raw
    try:
        return datetime.fromisoformat(str(raw))
    except ValueError:
        return None


def _contains_text(column: Any, text: str, postgresql: bool) -> ColumnElement[bool]:
    needle = f"%{_escape_like(text)}%"
    if postgresql:
        return cast(ColumnElement[bool], column.ilike(needle, escape="\\"))
    # SQLite's LIKE already ignores ASCII case, and its lower() knows nothing else, so
    # the lower() calls that ilike adds would only double the cost of this filter.
    return cast(ColumnElement[bool], column.like(needle, escape="\\"))


def _pattern_filters(query: PatternQuery, postgresql: bool) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.text:
        conditions.append(
            or_(
                _contains_text(_P.c.pattern_name, query.text, postgresql),
                _contains_text(_P.c.description, query.text, postgresql),
            )
        )
    if query.statuses:
        conditions.append(_status.in_([_plain(status) for status in query.statuses]))
    if query.pattern_type is not None:
        conditions.append(_P.c.pattern_type == query.pattern_type)
    if query.instrument is not None:
        conditions.append(_P.c.instrument_name == query.instrument)
    if query.trust_band is not None:
        band = TrustBand(query.trust_band)
        if band is TrustBand.LOW:
            conditions.append(_trust <= LOW_TRUST)
        elif band is TrustBand.HIGH:
            conditions.append(_trust >= HIGH_TRUST)
        else:
            conditions.append(and_(_trust > LOW_TRUST, _trust < HIGH_TRUST))
    if query.needs_attention:
        conditions.append(
            or_(
                _status == QuarantineStatus.QUARANTINED.value,
                _trust <= LOW_TRUST,
                _priority <= 0.0,
                and_(
                    _status == QuarantineStatus.PENDING.value,
                    _applications >= MIN_APPLICATIONS_FOR_LIFECYCLE,
                    # the stored value, as promote_ready_patterns reads it
                    _P.c.effectiveness_score < QUARANTINE_EFFECTIVENESS_THRESHOLD,
                ),
            )
        )
    if not query.include_inactive:
        conditions.append(_active != 0)
    return conditions


def _stand_in(value: Any, default: float) -> float:
    """A sortable number for a score SQL could not clamp (text such as ``'abc'``)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _unvouched(row: Row[Any]) -> tuple[tuple[str, str], ...]:
    scores = (
        ("trust", row.stored_trust, 1.0),
        ("effectiveness", row.stored_effectiveness, 1.0),
        ("priority", row.stored_priority, None),
    )
    return tuple(
        (name, doubt)
        for name, stored, upper in scores
        if (doubt := unvouched_score(stored, upper)) is not None
    )


def _pattern_row(row: Row[Any]) -> PatternRow:
    successes = int(row.successes)
    failures = int(row.failures)
    return PatternRow(
        id=row.id,
        name=row.pattern_name,
        pattern_type=row.pattern_type,
        status=str(row.status),
        trust=_stand_in(row.trust, 0.5),
        effectiveness=_stand_in(row.effectiveness, 0.5),
        priority=_stand_in(row.priority, 0.5),
        applications=successes + failures,
        successes=successes,
        failures=failures,
        last_seen=_parse_timestamp(row.last_seen),
        instrument=row.instrument_name,
        active=bool(row.active),
        description=row.description,
        unvouched=_unvouched(row),
    )


def _escalation_record(row: Row[Any]) -> EscalationDecisionRecord:
    return EscalationDecisionRecord(
        id=row.id,
        job_hash=row.job_hash,
        sheet_num=row.sheet_num,
        confidence=row.confidence if row.confidence is not None else 0.0,
        action=row.action,
        guidance=row.guidance,
        validation_pass_rate=(
            row.validation_pass_rate if row.validation_pass_rate is not None else 0.0
        ),
        retry_count=row.retry_count,
        outcome_after_action=row.outcome_after_action,
        recorded_at=_parse_timestamp(row.recorded_at) or datetime.min,
        model=row.model,
    )


def _journal_entry(row: Row[Any]) -> JournalEntry:
    return JournalEntry(
        id=int(row.id),
        acted_at=row.acted_at,
        actor=row.actor,
        target_kind=row.target_kind,
        target_id=row.target_id,
        action=row.action,
        reason=row.reason,
        prior_state=MappingProxyType(dict(row.prior_state or {})),
        new_state=MappingProxyType(dict(row.new_state or {})),
        undone_at=row.undone_at,
        undoes=row.undoes,
    )


# ---------------------------------------------------------------------------------------
# The mixin
# ---------------------------------------------------------------------------------------


class ConsoleMixin(GlobalLearningStoreBase):
    """Read-models, change probe and operator journal for the console."""

    # -- reads --------------------------------------------------------------------------

    def _text_order(self, expression: Any) -> Any:
        """Byte order on both backends (SQLite's default; PostgreSQL's locale differs)."""
        return expression.collate("C") if self.is_postgresql else expression

    def _sort_key(self, sort: PatternSort) -> Any:
        keys: dict[PatternSort, Any] = {
            PatternSort.PRIORITY: _priority,
            PatternSort.NAME: self._text_order(_P.c.pattern_name),
            PatternSort.TYPE: self._text_order(_P.c.pattern_type),
            PatternSort.STATUS: self._text_order(_status),
            PatternSort.TRUST: _trust,
            PatternSort.EFFECTIVENESS: _effectiveness,
            PatternSort.APPLICATIONS: _applications,
            PatternSort.SUCCESSES: _successes,
            PatternSort.FAILURES: _failures,
            PatternSort.LAST_SEEN: self._text_order(_last_seen_text),
            PatternSort.INSTRUMENT: self._text_order(_P.c.instrument_name),
        }
        return keys[PatternSort(sort)]

    def query_patterns(self, query: PatternQuery) -> PatternPage:
        """One page of patterns, filtered, sorted and paged in SQL.

        Three statements: the page's ids, their rows, and both counts in one pass. Ties
        in the sort column are broken by id (ascending) so that paging is stable; NULL
        instruments and last-seen times sort last in either direction. Legacy statuses
        (``active``) come back as stored instead of failing the read. Text matching
        folds ASCII case only on SQLite (as SQLite's LIKE does), all case on PostgreSQL.
        """
        conditions = _pattern_filters(query, self.is_postgresql)
        key = self._sort_key(query.sort)
        ordered = key.desc() if query.descending else key.asc()
        # Sorting only (key, id) and fetching the page's rows by id afterwards keeps wide
        # text columns out of the sort: a deep page costs little more than the first.
        page_ids = (
            select(_P.c.id)
            .where(*conditions)
            .order_by(ordered.nulls_last(), self._text_order(_P.c.id).asc())
            .offset(max(0, query.offset))
            .limit(max(0, query.limit))
        )
        page_rows = select(
            _P.c.id,
            _P.c.pattern_name,
            _P.c.pattern_type,
            _status.label("status"),
            _trust.label("trust"),
            _effectiveness.label("effectiveness"),
            _priority.label("priority"),
            _successes.label("successes"),
            _failures.label("failures"),
            _last_seen_text.label("last_seen"),
            _P.c.instrument_name,
            _active.label("active"),
            _P.c.description,
            *_stored_scores,
        )
        matches = and_(*conditions) if conditions else None
        counts_statement = select(
            func.count(),
            func.sum(case((matches, 1), else_=0)) if matches is not None else func.count(),
        ).select_from(_P)
        with self._connection() as conn:
            ids = [row[0] for row in conn.execute(page_ids)]
            by_id = {
                row.id: _pattern_row(row)
                for row in conn.execute(page_rows.where(_P.c.id.in_(ids)))
            } if ids else {}
            total, matching = conn.execute(counts_statement).one()
        return PatternPage(
            rows=tuple(by_id[pattern_id] for pattern_id in ids),
            matching=int(matching or 0),
            total=int(total or 0),
            offset=max(0, query.offset),
        )

    def unvouched_scores(self, pattern_id: str) -> tuple[tuple[str, str], ...]:
        """``PatternRow.unvouched`` for one pattern (for a view built on its record)."""
        with self._connection() as conn:
            row = conn.execute(select(*_stored_scores).where(_P.c.id == pattern_id)).first()
        return () if row is None else _unvouched(row)

    def pattern_types(self, limit: int = 200) -> list[str]:
        """Distinct pattern types, alphabetical (for the type filter)."""
        key = self._text_order(_P.c.pattern_type)
        statement = (
            select(_P.c.pattern_type).group_by(_P.c.pattern_type).order_by(key).limit(limit)
        )
        with self._connection() as conn:
            return [row[0] for row in conn.execute(statement)]

    def pattern_instruments(self, limit: int = 200) -> list[str]:
        """Distinct non-NULL instrument names, alphabetical."""
        key = self._text_order(_P.c.instrument_name)
        statement = (
            select(_P.c.instrument_name)
            .where(_P.c.instrument_name.is_not(None))
            .group_by(_P.c.instrument_name)
            .order_by(key)
            .limit(limit)
        )
        with self._connection() as conn:
            return [row[0] for row in conn.execute(statement)]

    def store_overview(self) -> StoreOverview:
        """The header's numbers in a handful of cheap aggregates.

        ``drift_retired`` counts priority 0 as read (negative stored values clamp to 0,
        as in ``PatternRow.drift_retired``). ``budget`` is the latest row of any job;
        ``diversity`` the latest recorded diversity index (entropy is never computed
        here). Active rate limits compare ``expires_at`` with UTC now as text, as
        Marianne does.
        """
        status_statement = select(
            _status.label("status"),
            func.count().label("patterns"),
            func.sum(case((_priority <= 0.0, 1), else_=0)).label("retired"),
        ).group_by(_status)
        budget = tables.exploration_budget
        history = tables.pattern_entropy_history
        limits = tables.rate_limit_events
        scalars_statement = select(
            select(budget.c.budget_value)
            .order_by(budget.c.recorded_at.desc())
            .limit(1)
            .scalar_subquery(),
            select(history.c.diversity_index)
            .order_by(history.c.calculated_at.desc())
            .limit(1)
            .scalar_subquery(),
            select(func.count())
            .select_from(limits)
            .where(limits.c.expires_at > self._now_utc())
            .scalar_subquery(),
            select(func.count())
            .select_from(_E)
            .where(_E.c.outcome_after_action.is_(None))
            .scalar_subquery(),
        )
        with self._connection() as conn:
            status_rows = conn.execute(status_statement).all()
            budget_value, diversity, rate_limits, pending = conn.execute(
                scalars_statement
            ).one()
        counts = {str(row.status): int(row.patterns) for row in status_rows}
        return StoreOverview(
            location=self.location,
            read_only=self.read_only,
            schema_warning=self.schema_warning,
            status_counts=MappingProxyType(counts),
            drift_retired=sum(int(row.retired or 0) for row in status_rows),
            total_patterns=sum(counts.values()),
            budget=None if budget_value is None else float(budget_value),
            budget_floor=BUDGET_FLOOR,
            budget_ceiling=BUDGET_CEILING,
            diversity=None if diversity is None else float(diversity),
            diversity_threshold=DIVERSITY_THRESHOLD,
            active_rate_limits=int(rate_limits or 0),
            pending_escalations=int(pending or 0),
        )

    def _escalation_select(self) -> Select[Any]:
        return select(
            _E.c.id,
            _E.c.job_hash,
            _E.c.sheet_num,
            _E.c.confidence,
            _E.c.action,
            _E.c.guidance,
            _E.c.validation_pass_rate,
            _E.c.retry_count,
            _E.c.outcome_after_action,
            type_coerce(_E.c.recorded_at, Text).label("recorded_at"),
            _E.c.model,
        )

    def escalations_for_review(self, limit: int = 200) -> list[EscalationDecisionRecord]:
        """Escalations awaiting an outcome first (oldest first), then the rest newest first."""
        pending = _E.c.outcome_after_action.is_(None)
        with self._connection() as conn:
            waiting = conn.execute(
                self._escalation_select()
                .where(pending)
                .order_by(_E.c.recorded_at.asc(), self._text_order(_E.c.id))
                .limit(limit)
            ).all()
            rest = conn.execute(
                self._escalation_select()
                .where(~pending)
                .order_by(_E.c.recorded_at.desc(), self._text_order(_E.c.id))
                .limit(max(0, limit - len(waiting)))
            ).all()
        return [_escalation_record(row) for row in (*waiting, *rest)]

    def pending_escalation_count(self) -> int:
        statement = select(func.count()).select_from(_E).where(
            _E.c.outcome_after_action.is_(None)
        )
        with self._connection() as conn:
            return int(conn.execute(statement).scalar_one())

    # -- change probe -------------------------------------------------------------------

    def change_token(self) -> int:
        """A number that changes whenever any connection commits a write to the store.

        SQLite: ``PRAGMA data_version`` on one kept-open connection (microseconds). That
        counter moves only for commits by *other* connections; the store's own writes go
        through its pool, never through the probe's connection, so they count too.
        PostgreSQL: the revision counter that the store's triggers bump.
        """
        if self.is_postgresql:
            return self._postgresql_revision()
        with self._probe_lock:
            if self._probe_connection is None:
                self._probe_connection = self._open_probe()
                # A reopened probe restarts data_version; the generation keeps the token
                # from repeating an old value after close().
                self._probe_generation = getattr(self, "_probe_generation", 0) + 1
            version = self._probe_connection.execute("PRAGMA data_version").fetchone()[0]
            return int(self._probe_generation) << 32 | int(version)

    def _open_probe(self) -> sqlite3.Connection:
        return self._connect_sqlite()

    def _postgresql_revision(self) -> int:
        revision = tables.store_revision
        with self._connection() as conn:
            counted = getattr(self, "_revision_counted", None)
            if counted is None:
                # Looked up once: a writable open creates the counter, and a store opened
                # read-only keeps whichever source it started with.
                counted = self._revision_counted = self._has_table(conn, revision.name)
            if counted:
                value = conn.execute(
                    select(revision.c.rev).where(revision.c.id == 1)
                ).scalar_one_or_none()
            else:
                # A store never opened writable by this project has no counter; the WAL
                # position moves with every commit (of the whole server: extra refreshes
                # at worst, never a missed one).
                value = conn.exec_driver_sql(
                    "SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn"
                ).scalar_one()
        return int(value or 0)

    # -- the journal's table ------------------------------------------------------------

    def _has_table(self, conn: Connection, name: str) -> bool:
        return bool(inspect(conn).has_table(name))

    def _journal_exists(self, conn: Connection) -> bool:
        if not self._journal_ready and self._has_table(conn, _J.name):
            self._journal_ready = True
        return self._journal_ready

    def _ensure_journal(self, conn: Connection) -> None:
        """Create the journal in the caller's transaction (so a rollback removes it too)."""
        if not self._journal_exists(conn):
            _J.create(conn, checkfirst=True)

    @contextmanager
    def _journalled(self) -> Iterator[Connection]:
        """One transaction for an action and its journal row; refuses read-only stores."""
        self._assert_writable()
        with self._batch() as conn:
            self._ensure_journal(conn)
            yield conn
        self._journal_ready = True

    def _append_journal(
        self,
        conn: Connection,
        *,
        actor: str | None,
        target_kind: str,
        target_id: str,
        action: str,
        reason: str | None,
        prior_state: Mapping[str, Any],
        new_state: Mapping[str, Any],
        undoes: int | None = None,
    ) -> JournalEntry:
        values = {
            "acted_at": self._now_local(),
            "actor": actor or default_actor(),
            "target_kind": target_kind,
            "target_id": target_id,
            "action": action,
            "reason": reason,
            "prior_state": dict(prior_state),
            "new_state": dict(new_state),
            "undoes": undoes,
        }
        result = conn.execute(insert(_J).values(**values))
        key = result.inserted_primary_key
        assert key is not None
        entry_id = int(key[0])
        row = conn.execute(select(_J).where(_J.c.id == entry_id)).one()
        return _journal_entry(row)

    # -- target state (raw stored text, so that undo restores the same bytes) -------------

    def _pattern_state(self, conn: Connection, pattern_id: str) -> tuple[str, dict[str, Any]]:
        columns = [type_coerce(_P.c[name], Text).label(name) for name in _PATTERN_STATE_COLUMNS]
        row = conn.execute(
            select(_P.c.pattern_name, *columns).where(_P.c.id == pattern_id)
        ).first()
        if row is None:
            raise KeyError(f"no pattern with id {pattern_id!r}")
        return row.pattern_name, {name: row._mapping[name] for name in _PATTERN_STATE_COLUMNS}

    def _escalation_state(
        self, conn: Connection, escalation_id: str
    ) -> tuple[str, dict[str, Any]]:
        row = conn.execute(
            select(
                _E.c.job_hash,
                _E.c.sheet_num,
                type_coerce(_E.c.outcome_after_action, Text).label("outcome_after_action"),
            ).where(_E.c.id == escalation_id)
        ).first()
        if row is None:
            raise KeyError(f"no escalation decision with id {escalation_id!r}")
        name = f"sheet {row.sheet_num} of job {row.job_hash}"
        return name, {"outcome_after_action": row.outcome_after_action}

    def _state(self, conn: Connection, kind: str, target_id: str) -> dict[str, Any]:
        if kind == PATTERN_TARGET:
            return self._pattern_state(conn, target_id)[1]
        if kind == ESCALATION_TARGET:
            return self._escalation_state(conn, target_id)[1]
        raise ValueError(f"unknown journal target kind {kind!r}")

    def _restore_state(
        self,
        conn: Connection,
        kind: str,
        target_id: str,
        expected: Mapping[str, Any],
        restored: Mapping[str, Any],
    ) -> bool:
        """Write ``restored`` only if the row still holds ``expected`` (compare and swap)."""
        table = _P if kind == PATTERN_TARGET else _E
        result = conn.execute(
            update(table)
            .where(
                table.c.id == target_id,
                *(
                    type_coerce(table.c[name], Text).is_not_distinct_from(
                        literal(value, Text)
                    )
                    for name, value in expected.items()
                ),
            )
            # Text-typed values bypass the timestamp type, so the stored bytes are exact.
            .values({table.c[name]: literal(value, Text) for name, value in restored.items()})
        )
        return result.rowcount == 1

    # -- operator actions (journalled, undoable) ----------------------------------------

    def _planned_pattern_state(
        self, before: Mapping[str, Any], action: PatternAction, reason: str | None
    ) -> dict[str, Any]:
        """The state each transition writes (contract section 5.7), without writing it."""
        now = self._now_local().isoformat()
        after = dict(before)
        if action is PatternAction.QUARANTINE:
            after.update(quarantine_status=QuarantineStatus.QUARANTINED.value,
                         quarantined_at=now, quarantine_reason=reason)
        elif action is PatternAction.VALIDATE:
            after.update(quarantine_status=QuarantineStatus.VALIDATED.value,
                         validated_at=now, quarantine_reason=None)
        elif action is PatternAction.RETIRE:
            after.update(quarantine_status=QuarantineStatus.RETIRED.value)
        else:
            after.update(quarantine_status=QuarantineStatus.PENDING.value)
        return after

    def preview_pattern_action(
        self, pattern_id: str, action: PatternAction, reason: str | None = None
    ) -> ActionPreview:
        """Before -> after of the columns ``action`` would change. KeyError if unknown."""
        action = PatternAction(action)
        with self._connection() as conn:
            name, before = self._pattern_state(conn, pattern_id)
        after = self._planned_pattern_state(before, action, reason)
        changed = [key for key in _PATTERN_STATE_COLUMNS if after[key] != before[key]]
        return ActionPreview(
            target_kind=PATTERN_TARGET,
            target_id=pattern_id,
            target_name=name,
            action=action.value,
            before=MappingProxyType({key: before[key] for key in changed}),
            after=MappingProxyType({key: after[key] for key in changed}),
        )

    def apply_pattern_action(
        self,
        pattern_id: str,
        action: PatternAction,
        *,
        reason: str | None = None,
        actor: str | None = None,
    ) -> JournalEntry:
        """Quarantine/validate/retire/back-to-pending through Marianne's own transitions,
        journalled with the full prior state, in one transaction. KeyError if unknown.

        ``reason`` is stored as the quarantine reason by QUARANTINE and, for every
        action, in the journal.
        """
        action = PatternAction(action)
        transitions = cast(_StoreTransitions, self)
        with self._journalled() as conn:
            _name, before = self._pattern_state(conn, pattern_id)
            if action is PatternAction.QUARANTINE:
                changed = transitions.quarantine_pattern(pattern_id, reason)
            elif action is PatternAction.VALIDATE:
                changed = transitions.validate_pattern(pattern_id)
            elif action is PatternAction.RETIRE:
                changed = transitions.retire_pattern(pattern_id)
            else:
                changed = transitions.update_quarantine_status(
                    pattern_id, QuarantineStatus.PENDING
                )
            if not changed:
                raise KeyError(f"no pattern with id {pattern_id!r}")
            _name, after = self._pattern_state(conn, pattern_id)
            return self._append_journal(
                conn,
                actor=actor,
                target_kind=PATTERN_TARGET,
                target_id=pattern_id,
                action=action.value,
                reason=reason,
                prior_state=before,
                new_state=after,
            )

    def preview_escalation_outcome(
        self, escalation_id: str, outcome: EscalationOutcome
    ) -> ActionPreview:
        """Before -> after of the outcome. KeyError if unknown, ValueError if not one of
        the four documented outcomes."""
        outcome = EscalationOutcome(outcome)
        with self._connection() as conn:
            name, before = self._escalation_state(conn, escalation_id)
        return ActionPreview(
            target_kind=ESCALATION_TARGET,
            target_id=escalation_id,
            target_name=name,
            action=outcome.value,
            before=MappingProxyType(before),
            after=MappingProxyType({"outcome_after_action": outcome.value}),
        )

    def record_escalation_outcome(
        self,
        escalation_id: str,
        outcome: EscalationOutcome,
        *,
        note: str | None = None,
        actor: str | None = None,
    ) -> JournalEntry:
        """``update_escalation_outcome`` plus a journal row (the note lives in the journal).

        Unlike Marianne's free-text method, only the four EscalationOutcome values are
        accepted (ValueError otherwise). KeyError for an unknown id.
        """
        outcome = EscalationOutcome(outcome)
        transitions = cast(_StoreTransitions, self)
        with self._journalled() as conn:
            _name, before = self._escalation_state(conn, escalation_id)
            if not transitions.update_escalation_outcome(escalation_id, outcome.value):
                raise KeyError(f"no escalation decision with id {escalation_id!r}")
            _name, after = self._escalation_state(conn, escalation_id)
            return self._append_journal(
                conn,
                actor=actor,
                target_kind=ESCALATION_TARGET,
                target_id=escalation_id,
                action=outcome.value,
                reason=note,
                prior_state=before,
                new_state=after,
            )

    def undo_last_action(
        self, *, target_kind: str | None = None, actor: str | None = None
    ) -> JournalEntry | None:
        """Restore the prior state of the newest not-yet-undone action (optionally of one
        target kind: "pattern" or "escalation"). Returns the undone entry, None if there is
        nothing to undo; raises UndoConflictError if the row changed since.

        The undo is journalled itself (action "undo", ``undoes`` = the entry's id); undo
        entries are never undone, so repeated undos walk back through the journal.
        """
        self._assert_writable()
        with self._connection() as conn:
            if not self._journal_exists(conn):
                return None
        with self._journalled() as conn:
            candidates = select(_J).where(
                _J.c.undone_at.is_(None), _J.c.action != UNDO_ACTION
            )
            if target_kind is not None:
                candidates = candidates.where(_J.c.target_kind == target_kind)
            row = conn.execute(candidates.order_by(_J.c.id.desc()).limit(1)).first()
            if row is None:
                return None
            entry = _journal_entry(row)
            try:
                current = self._state(conn, entry.target_kind, entry.target_id)
            except KeyError:
                raise UndoConflictError(
                    f"{entry.target_kind} {entry.target_id} no longer exists; "
                    f"journal entry {entry.id} cannot be undone"
                ) from None
            if current != dict(entry.new_state) or not self._restore_state(
                conn, entry.target_kind, entry.target_id, entry.new_state, entry.prior_state
            ):
                raise UndoConflictError(
                    f"{entry.target_kind} {entry.target_id} changed after journal entry "
                    f"{entry.id} ({entry.action}); undoing it would overwrite that change"
                )
            undone_at = self._now_local()
            marked = conn.execute(
                update(_J)
                .where(_J.c.id == entry.id, _J.c.undone_at.is_(None))
                .values(undone_at=undone_at)
            )
            if marked.rowcount != 1:
                raise UndoConflictError(f"journal entry {entry.id} was undone meanwhile")
            self._append_journal(
                conn,
                actor=actor,
                target_kind=entry.target_kind,
                target_id=entry.target_id,
                action=UNDO_ACTION,
                reason=None,
                prior_state=current,
                new_state=entry.prior_state,
                undoes=entry.id,
            )
            undone = conn.execute(select(_J).where(_J.c.id == entry.id)).one()
            return _journal_entry(undone)

    def journal(self, limit: int = 50, target_id: str | None = None) -> list[JournalEntry]:
        """Newest first."""
        statement = select(_J).order_by(_J.c.id.desc()).limit(limit)
        if target_id is not None:
            statement = statement.where(_J.c.target_id == target_id)
        with self._connection() as conn:
            if not self._journal_exists(conn):
                return []
            return [_journal_entry(row) for row in conn.execute(statement)]
