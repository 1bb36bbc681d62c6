"""Operator actions, journalled and undoable: preview, apply, record, undo.

The operator journal (``marianne_tui_journal``) is this project's own table. On SQLite it is
created at the first journalled write, never on open, so that opening a Marianne file writes
nothing. Each action and its journal row commit in one transaction; the journal keeps the
exact stored text of the columns the action replaced, so that undo writes the same bytes back.
Journal times (``acted_at``, ``undone_at``) are naive local time, like the pattern timestamps
an action writes, so the two read side by side.

Each row says who acted: the operator (``store.operator``, set from ``--operator NAME``, else
the OS user) and the host the action ran on, in a ``host`` column that journals written
before it existed gain at their next journalled write (older rows keep ``user@host`` in
``actor`` and no host).

A bulk action (``preview_batch_action`` / ``apply_batch_action``) runs one transition per
pattern in one transaction and journals one row per changed pattern, all sharing a
``batch_id`` (a column journals written before it existed gain at their next journalled
write, like ``host``); ``undo_batch`` restores them all at once or none.

Every action is one "journalled change" (``_journalled_change``): read the subject's state,
run one of Marianne's own transitions, read the state again, append the journal row. What
differs between patterns and escalations (table, columns, name) is a ``_Subject``.
"""

from __future__ import annotations

import getpass
import socket
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import Connection, Row, Table, Text, insert, inspect, literal, select, update
from sqlalchemy import type_coerce as _as

from store import tables
from store.base import GlobalLearningStoreBase
from store.models import QuarantineStatus
from store.readmodels import (
    ActionConflictError,
    ActionPreview,
    BatchConflictError,
    BatchItem,
    BatchPreview,
    BatchResult,
    BatchUndoPreview,
    BatchUndoRequiredError,
    EscalationOutcome,
    JournalEntry,
    JournalListing,
    JournalSubject,
    PatternAction,
    UndoConflictError,
)

__all__ = ["UNDO_ACTION", "JournalMixin", "default_operator", "this_host"]

UNDO_ACTION = "undo"

_P = tables.patterns
_E = tables.escalation_decisions
_J = tables.operator_journal
_T = TypeVar("_T")

#: Journal columns added after its first rows were written, with their SQL type: a journal
#: that lacks one reads it as NULL and gains it at its next journalled write.
_LATER_COLUMNS = {"host": "TEXT", "batch_id": "TEXT"}

#: Ids per IN (...) list: below SQLite's old limit of 999 bound parameters.
_ID_CHUNK = 500

#: The status each pattern action leaves (a bulk action skips patterns already there).
_TARGET_STATUS = {
    PatternAction.QUARANTINE: QuarantineStatus.QUARANTINED.value,
    PatternAction.VALIDATE: QuarantineStatus.VALIDATED.value,
    PatternAction.RETIRE: QuarantineStatus.RETIRED.value,
    PatternAction.PENDING: QuarantineStatus.PENDING.value,
}


@dataclass(frozen=True)
class _Subject:
    """What the journal needs to know about one kind of thing an operator acts on."""

    kind: JournalSubject
    table: Table
    #: the columns an action may change, and so the state the journal keeps
    state_columns: tuple[str, ...]
    #: the columns that name the row for a dialog
    name_columns: tuple[str, ...]
    name: Callable[[Row[Any]], str]
    missing: str


_SUBJECTS = {
    JournalSubject.PATTERN: _Subject(
        JournalSubject.PATTERN,
        _P,
        ("quarantine_status", "quarantined_at", "validated_at", "quarantine_reason"),
        ("pattern_name",),
        lambda row: str(row.pattern_name),
        "no pattern with id",
    ),
    JournalSubject.ESCALATION: _Subject(
        JournalSubject.ESCALATION,
        _E,
        ("outcome_after_action",),
        ("job_hash", "sheet_num"),
        lambda row: f"sheet {row.sheet_num} of job {row.job_hash}",
        "no escalation decision with id",
    ),
}


class _StoreTransitions(Protocol):
    """The transitions other mixins of the composed store provide (and journal through)."""

    def quarantine_pattern(self, pattern_id: str, reason: str | None = None) -> bool: ...

    def validate_pattern(self, pattern_id: str) -> bool: ...

    def retire_pattern(self, pattern_id: str) -> bool: ...

    def update_quarantine_status(self, pattern_id: str, status: QuarantineStatus) -> bool: ...

    def update_escalation_outcome(
        self, escalation_id: str, outcome_after_action: str
    ) -> bool: ...


def default_operator() -> str:
    """The OS user running this process (the operator when ``--operator`` is not given)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def this_host() -> str:
    return socket.gethostname()


def _journal_entry(row: Row[Any]) -> JournalEntry:
    return JournalEntry(
        host=getattr(row, "host", None),
        id=int(row.id),
        acted_at=row.acted_at,
        actor=row.actor,
        target_kind=JournalSubject(row.target_kind),
        target_id=row.target_id,
        action=row.action,
        reason=row.reason,
        prior_state=MappingProxyType(dict(row.prior_state or {})),
        new_state=MappingProxyType(dict(row.new_state or {})),
        undone_at=row.undone_at,
        undoes=row.undoes,
        batch_id=getattr(row, "batch_id", None),
    )


def _chunks(ids: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(ids), _ID_CHUNK):
        yield ids[start:start + _ID_CHUNK]


def _unique(ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ids))


class JournalMixin(GlobalLearningStoreBase):
    """Journalled operator actions on patterns and escalations, and their undo."""

    #: Who acts through this store, as journalled; None: the OS user (default_operator).
    operator: str | None = None
    #: The host journalled with each action; None: this machine's name (this_host).
    operator_host: str | None = None
    #: The later columns (_LATER_COLUMNS) the journal lacks (looked up once; None: not yet).
    _journal_missing_columns: frozenset[str] | None = None

    # -- the journal's table ------------------------------------------------------------

    def _journal_lacks(self, conn: Connection, *, look_again: bool = False) -> frozenset[str]:
        if self._journal_missing_columns is None or look_again:
            names = {column["name"] for column in inspect(conn).get_columns(_J.name)}
            self._journal_missing_columns = frozenset(_LATER_COLUMNS) - names
        return self._journal_missing_columns

    def _journal_has_host(self, conn: Connection) -> bool:
        return "host" not in self._journal_lacks(conn)

    def _journal_select(self, conn: Connection) -> Any:
        """SELECT of the journal's columns, without the later ones a journal lacks."""
        lacking = self._journal_lacks(conn)
        if not lacking:
            return select(_J)
        return select(*(column for column in _J.c if column.name not in lacking))

    def _journal_exists(self, conn: Connection) -> bool:
        if not self._journal_ready and inspect(conn).has_table(_J.name):
            self._journal_ready = True
        return self._journal_ready

    @contextmanager
    def _journalled(self) -> Iterator[Connection]:
        """One transaction for an action and its journal row; refuses read-only stores.

        The journal is created in that transaction, so a rollback removes it too.
        """
        self._assert_writable()
        with self._batch() as conn:
            if not self._journal_exists(conn):
                _J.create(conn, checkfirst=True)
                self._journal_missing_columns = frozenset()
            elif self._journal_lacks(conn) and self._journal_lacks(conn, look_again=True):
                # A journal from before these columns (looked at again: another process
                # may have added them since): add them in this transaction.
                for name in sorted(self._journal_lacks(conn)):
                    conn.exec_driver_sql(
                        f"ALTER TABLE {_J.name} ADD COLUMN {name} {_LATER_COLUMNS[name]}"
                    )
                self._journal_missing_columns = frozenset()
            try:
                yield conn
            except BaseException:
                # The rollback takes back any column added above: look again next time.
                self._journal_missing_columns = None
                raise
        self._journal_ready = True

    def _append_journal(
        self,
        conn: Connection,
        *,
        actor: str | None,
        kind: JournalSubject,
        target_id: str,
        action: str,
        reason: str | None,
        prior_state: Mapping[str, Any],
        new_state: Mapping[str, Any],
        undoes: int | None = None,
        batch_id: str | None = None,
    ) -> JournalEntry:
        result = conn.execute(
            insert(_J).values(
                self._journal_values(
                    actor=actor, kind=kind, target_id=target_id, action=action,
                    reason=reason, prior_state=prior_state, new_state=new_state,
                    undoes=undoes, batch_id=batch_id,
                )
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        row = conn.execute(self._journal_select(conn).where(_J.c.id == int(key[0]))).one()
        return _journal_entry(row)

    def _journal_values(
        self,
        *,
        actor: str | None,
        kind: JournalSubject,
        target_id: str,
        action: str,
        reason: str | None,
        prior_state: Mapping[str, Any],
        new_state: Mapping[str, Any],
        undoes: int | None = None,
        batch_id: str | None = None,
    ) -> dict[str, Any]:
        """The values of one journal row (``_append_journal`` inserts one, a batch many)."""
        return {
            "acted_at": self._now_local(),
            "actor": actor or self.operator or default_operator(),
            "host": self.operator_host or this_host(),
            "target_kind": kind.value,
            "target_id": target_id,
            "action": action,
            "reason": reason,
            "prior_state": dict(prior_state),
            "new_state": dict(new_state),
            "undoes": undoes,
            "batch_id": batch_id,
        }

    # -- subject state (raw stored text, so that undo restores the same bytes) ------------

    def _subject_state(
        self, conn: Connection, subject: _Subject, target_id: str
    ) -> tuple[str, dict[str, Any]]:
        """The subject's display name and the stored text of its state columns."""
        table = subject.table
        row = conn.execute(
            select(
                *(table.c[name] for name in subject.name_columns),
                *(_as(table.c[name], Text).label(name) for name in subject.state_columns),
            ).where(table.c.id == target_id)
        ).first()
        if row is None:
            raise KeyError(f"{subject.missing} {target_id!r}")
        return subject.name(row), {name: row._mapping[name] for name in subject.state_columns}

    def _restore_state(
        self,
        conn: Connection,
        subject: _Subject,
        target_id: str,
        expected: Mapping[str, Any],
        restored: Mapping[str, Any],
    ) -> bool:
        """Write ``restored`` only if the row still holds ``expected`` (compare and swap)."""
        table = subject.table
        result = conn.execute(
            update(table)
            .where(
                table.c.id == target_id,
                *(
                    _as(table.c[name], Text).is_not_distinct_from(literal(value, Text))
                    for name, value in expected.items()
                ),
            )
            # Text-typed values bypass the timestamp type, so the stored bytes are exact.
            .values({table.c[name]: literal(value, Text) for name, value in restored.items()})
        )
        return result.rowcount == 1

    # -- the two steps every action shares ----------------------------------------------

    def _preview(
        self,
        kind: JournalSubject,
        target_id: str,
        action: str,
        planned: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        only_changed: bool = True,
    ) -> ActionPreview:
        """Before -> after of the columns ``planned`` would change, without writing."""
        subject = _SUBJECTS[kind]
        with self._connection() as conn:
            name, before = self._subject_state(conn, subject, target_id)
        after = planned(dict(before))
        changed = [
            key for key in subject.state_columns
            if after[key] != before[key] or not only_changed
        ]
        return ActionPreview(
            target_kind=kind,
            target_id=target_id,
            target_name=name,
            action=action,
            before=MappingProxyType({key: before[key] for key in changed}),
            after=MappingProxyType({key: after[key] for key in changed}),
            state=MappingProxyType(dict(before)),
        )

    def _journalled_change(
        self,
        kind: JournalSubject,
        target_id: str,
        action: str,
        write: Callable[[], bool],
        *,
        reason: str | None,
        actor: str | None,
        expected_before: Mapping[str, Any] | None = None,
    ) -> JournalEntry:
        """Run ``write`` (a transition; False = unknown id) and journal it, in one commit.

        With ``expected_before`` (the "before" a confirm dialog showed), the change is
        made only if the row still holds exactly those stored values; otherwise nothing
        is written and ActionConflictError carries the row's state now. The check and the
        write share one transaction, so a concurrent change cannot slip between them.
        """
        subject = _SUBJECTS[kind]
        with self._journalled() as conn:
            _name, before = self._subject_state(conn, subject, target_id)
            if expected_before is not None:
                changed = [
                    key for key, value in expected_before.items() if before.get(key) != value
                ]
                if changed:
                    raise ActionConflictError(
                        f"{kind.value} {target_id} changed since it was shown "
                        f"({', '.join(changed)}); nothing was written",
                        before,
                    )
            if not write():
                raise KeyError(f"{subject.missing} {target_id!r}")
            _name, after = self._subject_state(conn, subject, target_id)
            return self._append_journal(
                conn,
                actor=actor,
                kind=kind,
                target_id=target_id,
                action=action,
                reason=reason,
                prior_state=before,
                new_state=after,
            )

    # -- pattern actions ----------------------------------------------------------------

    def _planned_pattern_state(
        self, before: dict[str, Any], action: PatternAction, reason: str | None
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
        return self._preview(
            JournalSubject.PATTERN, pattern_id, action.value,
            lambda before: self._planned_pattern_state(before, action, reason),
        )

    def apply_pattern_action(
        self,
        pattern_id: str,
        action: PatternAction,
        *,
        reason: str | None = None,
        actor: str | None = None,
        expected_before: Mapping[str, Any] | None = None,
    ) -> JournalEntry:
        """Quarantine/validate/retire/back-to-pending through Marianne's own transitions,
        journalled with the full prior state, in one transaction. KeyError if unknown.

        ``reason`` is stored as the quarantine reason by QUARANTINE and, for every
        action, in the journal. ``expected_before`` (a preview's ``before``) makes it a
        compare-and-set: ActionConflictError if the pattern changed since the preview.
        """
        action = PatternAction(action)
        return self._journalled_change(
            JournalSubject.PATTERN, pattern_id, action.value,
            self._pattern_transition(pattern_id, action, reason),
            reason=reason, actor=actor, expected_before=expected_before,
        )

    def _pattern_transition(
        self, pattern_id: str, action: PatternAction, reason: str | None
    ) -> Callable[[], bool]:
        """Marianne's own transition for ``action`` (False when the id is unknown)."""
        transitions = cast(_StoreTransitions, self)
        writes: dict[PatternAction, Callable[[], bool]] = {
            PatternAction.QUARANTINE: lambda: transitions.quarantine_pattern(pattern_id, reason),
            PatternAction.VALIDATE: lambda: transitions.validate_pattern(pattern_id),
            PatternAction.RETIRE: lambda: transitions.retire_pattern(pattern_id),
            PatternAction.PENDING: lambda: transitions.update_quarantine_status(
                pattern_id, QuarantineStatus.PENDING
            ),
        }
        return writes[action]

    # -- escalation outcomes ------------------------------------------------------------

    def preview_escalation_outcome(
        self, escalation_id: str, outcome: EscalationOutcome
    ) -> ActionPreview:
        """Before -> after of the outcome. KeyError if unknown, ValueError if not one of
        the four documented outcomes."""
        outcome = EscalationOutcome(outcome)
        return self._preview(
            JournalSubject.ESCALATION, escalation_id, outcome.value,
            lambda before: {**before, "outcome_after_action": outcome.value},
            # Shown even when unchanged: recording the same outcome again is a decision too.
            only_changed=False,
        )

    def record_escalation_outcome(
        self,
        escalation_id: str,
        outcome: EscalationOutcome,
        *,
        note: str | None = None,
        actor: str | None = None,
        expected_before: Mapping[str, Any] | None = None,
    ) -> JournalEntry:
        """``update_escalation_outcome`` plus a journal row (the note lives in the journal).

        Unlike Marianne's free-text method, only the four EscalationOutcome values are
        accepted (ValueError otherwise). KeyError for an unknown id. ``expected_before``
        (e.g. ``{"outcome_after_action": None}``) makes it a compare-and-set, as for
        ``apply_pattern_action``.
        """
        outcome = EscalationOutcome(outcome)
        transitions = cast(_StoreTransitions, self)
        return self._journalled_change(
            JournalSubject.ESCALATION, escalation_id, outcome.value,
            lambda: transitions.update_escalation_outcome(escalation_id, outcome.value),
            reason=note, actor=actor, expected_before=expected_before,
        )

    # -- bulk actions: one action on many patterns, one transaction, one batch id --------

    def _pattern_states(
        self, conn: Connection, pattern_ids: Sequence[str]
    ) -> dict[str, tuple[str, dict[str, Any]]]:
        """id -> (name, stored text of the state columns) for the ids that exist."""
        subject = _SUBJECTS[JournalSubject.PATTERN]
        columns = (
            _P.c.id,
            _P.c.pattern_name,
            *(_as(_P.c[name], Text).label(name) for name in subject.state_columns),
        )
        states: dict[str, tuple[str, dict[str, Any]]] = {}
        for chunk in _chunks(pattern_ids):
            for row in conn.execute(select(*columns).where(_P.c.id.in_(chunk))):
                states[row.id] = (
                    subject.name(row),
                    {name: row._mapping[name] for name in subject.state_columns},
                )
        return states

    def _batch_items(
        self,
        states: Mapping[str, tuple[str, dict[str, Any]]],
        pattern_ids: Sequence[str],
        action: PatternAction,
        reason: str | None,
    ) -> tuple[tuple[BatchItem, ...], tuple[str, ...]]:
        items: list[BatchItem] = []
        missing: list[str] = []
        for pattern_id in pattern_ids:
            if pattern_id not in states:
                missing.append(pattern_id)
                continue
            name, before = states[pattern_id]
            skipped = (before["quarantine_status"] or "pending") == _TARGET_STATUS[action]
            after = before if skipped else self._planned_pattern_state(before, action, reason)
            items.append(BatchItem(
                pattern_id=pattern_id, name=name, before=MappingProxyType(dict(before)),
                after=MappingProxyType(dict(after)), skipped=skipped,
            ))
        return tuple(items), tuple(missing)

    def preview_batch_action(
        self, pattern_ids: Sequence[str], action: PatternAction, reason: str | None = None
    ) -> BatchPreview:
        """What ``action`` would do to each of ``pattern_ids``, without writing.

        A pattern whose status already is the action's (e.g. quarantined, for quarantine)
        is skipped: a bulk quarantine does not restamp ``quarantined_at`` or overwrite the
        reason of patterns quarantined before. Ids the store does not hold are listed in
        ``missing``. Duplicate ids count once.
        """
        action = PatternAction(action)
        ids = _unique(pattern_ids)
        with self._connection() as conn:
            states = self._pattern_states(conn, ids)
        items, missing = self._batch_items(states, ids, action, reason)
        return BatchPreview(action=action.value, reason=reason, items=items, missing=missing)

    def apply_batch_action(
        self, preview: BatchPreview, *, actor: str | None = None
    ) -> BatchResult:
        """Apply a previewed bulk action: all of it in one transaction, or nothing.

        Compare-and-set on the whole preview: if any of its patterns (skipped ones too)
        no longer holds the state the preview read, or no longer exists, nothing is
        written and BatchConflictError says which changed and how they are now. Each
        changed pattern goes through Marianne's own transition and gets one journal row;
        the rows share a new ``batch_id``. Skipped patterns get none.
        """
        action = PatternAction(preview.action)
        if not preview.changing:
            return BatchResult(None, action.value, (),
                               tuple(item.pattern_id for item in preview.items),
                               preview.missing)
        ids = [item.pattern_id for item in preview.items]
        batch_id = uuid.uuid4().hex
        with self._journalled() as conn:
            states = self._pattern_states(conn, ids)
            changed: dict[str, Mapping[str, Any] | None] = {}
            for item in preview.items:
                now = states.get(item.pattern_id)
                if now is None or now[1] != dict(item.before):
                    changed[item.pattern_id] = None if now is None else now[1]
            if changed:
                raise BatchConflictError(
                    f"{len(changed)} of the {len(ids)} patterns changed since the preview; "
                    "nothing was written",
                    changed,
                )
            changing = [item.pattern_id for item in preview.changing]
            for pattern_id in changing:
                if not self._pattern_transition(pattern_id, action, preview.reason)():
                    raise KeyError(f"no pattern with id {pattern_id!r}")  # deleted meanwhile
            after = self._pattern_states(conn, changing)
            conn.execute(insert(_J), [
                self._journal_values(
                    actor=actor, kind=JournalSubject.PATTERN, target_id=pattern_id,
                    action=action.value, reason=preview.reason,
                    prior_state=states[pattern_id][1], new_state=after[pattern_id][1],
                    batch_id=batch_id,
                )
                for pattern_id in changing
            ])
        return BatchResult(
            batch_id=batch_id,
            action=action.value,
            applied=tuple(changing),
            skipped=tuple(item.pattern_id for item in preview.skipped),
            missing=preview.missing,
        )

    def _batch_entries(self, conn: Connection, batch_id: str) -> list[JournalEntry]:
        """The batch's actions not undone yet (undo rows excluded), oldest first."""
        if "batch_id" in self._journal_lacks(conn):
            return []
        statement = self._journal_select(conn).where(
            _J.c.batch_id == batch_id, _J.c.undone_at.is_(None), _J.c.action != UNDO_ACTION
        ).order_by(_J.c.id)
        return [_journal_entry(row) for row in conn.execute(statement)]

    def _batch_conflicts(
        self,
        entries: Sequence[JournalEntry],
        states: Mapping[str, tuple[str, dict[str, Any]]],
    ) -> list[str]:
        return [
            entry.target_id for entry in entries
            if entry.target_id not in states
            or states[entry.target_id][1] != dict(entry.new_state)
        ]

    def preview_batch_undo(self, batch_id: str) -> BatchUndoPreview:
        """The entries ``undo_batch(batch_id)`` would restore, their names, and which of
        their patterns moved on since (the undo would then be refused)."""
        with self._connection() as conn:
            if not self._journal_exists(conn):
                return BatchUndoPreview(batch_id, (), MappingProxyType({}))
            entries = self._batch_entries(conn, batch_id)
            states = self._pattern_states(conn, [entry.target_id for entry in entries])
        return BatchUndoPreview(
            batch_id=batch_id,
            entries=tuple(entries),
            names=MappingProxyType({key: name for key, (name, _state) in states.items()}),
            conflicts=tuple(self._batch_conflicts(entries, states)),
        )

    def undo_batch(self, batch_id: str, *, actor: str | None = None) -> tuple[JournalEntry, ...]:
        """Restore the prior state of every not-yet-undone action of a batch, in one
        transaction; returns the entries undone (empty if none was left).

        All or nothing: if any of the patterns changed after the batch (or no longer
        exists), UndoConflictError names them and nothing is written. Each restore is
        journalled as an "undo" row (``undoes`` = the entry); those rows share a batch id
        of their own.
        """
        self._assert_writable()
        with self._connection() as conn:
            if not self._journal_exists(conn):
                return ()
        undo_batch_id = uuid.uuid4().hex
        with self._journalled() as conn:
            entries = self._batch_entries(conn, batch_id)
            if not entries:
                return ()
            ids = [entry.target_id for entry in entries]
            states = self._pattern_states(conn, ids)
            conflicts = self._batch_conflicts(entries, states)
            subject = _SUBJECTS[JournalSubject.PATTERN]
            if not conflicts:
                conflicts = [
                    entry.target_id for entry in entries
                    if not self._restore_state(conn, subject, entry.target_id,
                                               entry.new_state, entry.prior_state)
                ]
            if conflicts:
                names = ", ".join(
                    states[key][0] if key in states else f"{key} (deleted)"
                    for key in conflicts[:5]
                )
                more = f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
                raise UndoConflictError(
                    f"{len(conflicts)} of the batch's {len(entries)} patterns changed after "
                    f"it ({names}{more}); undoing it would overwrite that; nothing was undone"
                )
            entry_ids = [entry.id for entry in entries]
            marked = 0
            for chunk in _chunks(entry_ids):
                marked += conn.execute(
                    update(_J)
                    .where(_J.c.id.in_(chunk), _J.c.undone_at.is_(None))
                    .values(undone_at=self._now_local())
                ).rowcount
            if marked != len(entries):
                raise UndoConflictError(f"batch {batch_id} was undone meanwhile")
            conn.execute(insert(_J), [
                self._journal_values(
                    actor=actor, kind=JournalSubject.PATTERN, target_id=entry.target_id,
                    action=UNDO_ACTION, reason=None, prior_state=states[entry.target_id][1],
                    new_state=entry.prior_state, undoes=entry.id, batch_id=undo_batch_id,
                )
                for entry in entries
            ])
            undone: list[JournalEntry] = []
            for chunk in _chunks(entry_ids):
                statement = self._journal_select(conn).where(_J.c.id.in_(chunk))
                undone.extend(_journal_entry(row) for row in conn.execute(statement))
            return tuple(sorted(undone, key=lambda entry: entry.id))

    # -- undo and the journal itself ----------------------------------------------------

    def undo_last_action(
        self, *, target_kind: JournalSubject | None = None, actor: str | None = None
    ) -> JournalEntry | None:
        """Restore the prior state of the newest not-yet-undone action (optionally of one
        subject kind). Returns the undone entry, None if there is nothing to undo; raises
        UndoConflictError if the row changed since, BatchUndoRequiredError (nothing
        written) if that action is one pattern of a bulk action (see ``undo_batch``).

        The undo is journalled itself (action "undo", ``undoes`` = the entry's id); undo
        entries are never undone, so repeated undos walk back through the journal.
        """
        self._assert_writable()
        with self._connection() as conn:
            if not self._journal_exists(conn):
                return None
        with self._journalled() as conn:
            candidates = self._journal_select(conn).where(
                _J.c.undone_at.is_(None), _J.c.action != UNDO_ACTION
            )
            if target_kind is not None:
                candidates = candidates.where(
                    _J.c.target_kind == JournalSubject(target_kind).value
                )
            row = conn.execute(candidates.order_by(_J.c.id.desc()).limit(1)).first()
            if row is None:
                return None
            entry = _journal_entry(row)
            self._refuse_part_of_batch(conn, entry)
            return self._undo_entry(conn, entry, actor)

    def _refuse_part_of_batch(self, conn: Connection, entry: JournalEntry) -> None:
        """BatchUndoRequiredError if ``entry`` is one pattern of a bulk action: undoing it
        alone would split the batch (``undo_batch`` undoes it whole)."""
        if entry.batch_id is not None:
            count = len(self._batch_entries(conn, entry.batch_id))
            raise BatchUndoRequiredError(
                f"journal entry {entry.id} ({entry.action}) is one of a bulk action on "
                f"{count} pattern(s): undo the batch as a whole",
                entry.batch_id,
                count,
            )

    def _undo_entry(
        self, conn: Connection, entry: JournalEntry, actor: str | None
    ) -> JournalEntry:
        """Restore the state ``entry`` found, in ``conn``'s transaction, and journal the
        undo; returns the entry, undone. UndoConflictError (the caller's transaction then
        rolls back) if the row is gone, no longer holds what the entry left, or the entry
        was undone meanwhile."""
        subject = _SUBJECTS[entry.target_kind]
        try:
            _name, current = self._subject_state(conn, subject, entry.target_id)
        except KeyError:
            raise UndoConflictError(
                f"{entry.target_kind.value} {entry.target_id} no longer exists; "
                f"journal entry {entry.id} cannot be undone"
            ) from None
        if current != dict(entry.new_state) or not self._restore_state(
            conn, subject, entry.target_id, entry.new_state, entry.prior_state
        ):
            raise UndoConflictError(
                f"{entry.target_kind.value} {entry.target_id} changed after journal "
                f"entry {entry.id} ({entry.action}); undoing it would overwrite that "
                "change"
            )
        marked = conn.execute(
            update(_J)
            .where(_J.c.id == entry.id, _J.c.undone_at.is_(None))
            .values(undone_at=self._now_local())
        )
        if marked.rowcount != 1:
            raise UndoConflictError(f"journal entry {entry.id} was undone meanwhile")
        self._append_journal(
            conn,
            actor=actor,
            kind=entry.target_kind,
            target_id=entry.target_id,
            action=UNDO_ACTION,
            reason=None,
            prior_state=current,
            new_state=entry.prior_state,
            undoes=entry.id,
        )
        undone = conn.execute(self._journal_select(conn).where(_J.c.id == entry.id)).one()
        return _journal_entry(undone)

    def journal(self, limit: int = 50, target_id: str | None = None) -> list[JournalEntry]:
        """Newest first."""
        with self._connection() as conn:
            if not self._journal_exists(conn):
                return []
            statement = self._journal_select(conn).order_by(_J.c.id.desc()).limit(limit)
            if target_id is not None:
                statement = statement.where(_J.c.target_id == target_id)
            return [_journal_entry(row) for row in conn.execute(statement)]

    # -- the journal as a list, and undo of one chosen entry (issue 10, item 2) ----------

    def journal_listing(
        self, text: str = "", *, offset: int = 0, limit: int = 200
    ) -> JournalListing:
        """One page of the journal, newest first, with how many entries match in all.

        ``text`` keeps the entries whose operator, host, action, subject id or reason
        contains it (case-insensitive for ASCII). ``undoable`` names the page's entries
        that ``undo_journal_entry`` may restore: not undone, not an undo, and no newer
        such entry on the same row.
        """
        # Imported here so that this block stays apart from the rest of the module.
        from sqlalchemy import func, or_

        with self._connection() as conn:
            if not self._journal_exists(conn):
                return JournalListing((), 0, 0)
            conditions = []
            if text:
                needle = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace(
                    "_", "\\_") + "%"
                searched = [_J.c.actor, _J.c.action, _J.c.target_id, _J.c.reason]
                if self._journal_has_host(conn):
                    searched.append(_J.c.host)
                conditions.append(or_(*(
                    func.lower(column).like(needle.lower(), escape="\\")
                    for column in searched
                )))
            matching = int(conn.execute(
                select(func.count()).select_from(_J).where(*conditions)
            ).scalar_one())
            start = max(0, offset)
            rows = conn.execute(
                self._journal_select(conn).where(*conditions).order_by(_J.c.id.desc())
                .offset(start).limit(max(0, limit))
            ).all()
            entries = tuple(_journal_entry(row) for row in rows)
            targets = sorted({entry.target_id for entry in entries})
            latest: dict[tuple[str, str], int] = {}
            names: dict[str, str] = {}
            for chunk in range(0, len(targets), 500):
                ids = targets[chunk:chunk + 500]
                for kind, target, newest in conn.execute(
                    select(_J.c.target_kind, _J.c.target_id, func.max(_J.c.id))
                    .where(_J.c.target_id.in_(ids), _J.c.undone_at.is_(None),
                           _J.c.action != UNDO_ACTION)
                    .group_by(_J.c.target_kind, _J.c.target_id)
                ):
                    latest[(str(kind), str(target))] = int(newest)
                for subject in _SUBJECTS.values():
                    table = subject.table
                    for row in conn.execute(
                        select(table.c.id, *(table.c[n] for n in subject.name_columns))
                        .where(table.c.id.in_(ids))
                    ):
                        names[str(row.id)] = subject.name(row)
        undoable = frozenset(
            entry.id for entry in entries
            if latest.get((entry.target_kind.value, entry.target_id)) == entry.id
        )
        return JournalListing(entries, matching, start, undoable, MappingProxyType(names))

    def undo_journal_entry(self, entry_id: int, *, actor: str | None = None) -> JournalEntry:
        """Restore the prior state of journal entry ``entry_id``; returns it, undone.

        Raises UndoConflictError, writing nothing, unless the entry is still the latest
        action on its row (not undone, not an undo, no newer action on the row that is
        not undone) and the row still holds the state the entry left; and, like
        ``undo_last_action``, BatchUndoRequiredError (nothing written) if the entry is
        one pattern of a bulk action, which only ``undo_batch`` undoes, whole.
        """
        from sqlalchemy import func

        self._assert_writable()
        with self._connection() as conn:
            if not self._journal_exists(conn):
                raise UndoConflictError(f"no journal entry {entry_id}")
        with self._journalled() as conn:
            row = conn.execute(self._journal_select(conn).where(_J.c.id == entry_id)).first()
            if row is None:
                raise UndoConflictError(f"no journal entry {entry_id}")
            entry = _journal_entry(row)
            if entry.action == UNDO_ACTION or entry.undone_at is not None:
                raise UndoConflictError(
                    f"journal entry {entry_id} is an undo or was undone already")
            self._refuse_part_of_batch(conn, entry)
            newer = conn.execute(
                select(func.count()).select_from(_J).where(
                    _J.c.target_kind == entry.target_kind.value,
                    _J.c.target_id == entry.target_id, _J.c.id > entry.id,
                    _J.c.undone_at.is_(None), _J.c.action != UNDO_ACTION,
                )
            ).scalar_one()
            if newer:
                raise UndoConflictError(
                    f"{entry.target_kind.value} {entry.target_id} has a newer action than "
                    f"journal entry {entry_id}; undo that one first")
            return self._undo_entry(conn, entry, actor)
