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

Every action is one "journalled change" (``_journalled_change``): read the subject's state,
run one of Marianne's own transitions, read the state again, append the journal row. What
differs between patterns and escalations (table, columns, name) is a ``_Subject``.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol, cast

from sqlalchemy import Connection, Row, Table, Text, insert, inspect, literal, select, update
from sqlalchemy import type_coerce as _as

from store import tables
from store.base import GlobalLearningStoreBase
from store.models import QuarantineStatus
from store.readmodels import (
    ActionConflictError,
    ActionPreview,
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
    )


class JournalMixin(GlobalLearningStoreBase):
    """Journalled operator actions on patterns and escalations, and their undo."""

    #: Who acts through this store, as journalled; None: the OS user (default_operator).
    operator: str | None = None
    #: The host journalled with each action; None: this machine's name (this_host).
    operator_host: str | None = None
    #: Whether the journal has its ``host`` column (looked up once; None: not yet).
    _journal_host_column: bool | None = None

    # -- the journal's table ------------------------------------------------------------

    def _journal_has_host(self, conn: Connection) -> bool:
        if self._journal_host_column is None:
            names = {column["name"] for column in inspect(conn).get_columns(_J.name)}
            self._journal_host_column = "host" in names
        return self._journal_host_column

    def _journal_select(self, conn: Connection) -> Any:
        """SELECT of the journal's columns, without ``host`` in a journal that lacks it."""
        if self._journal_has_host(conn):
            return select(_J)
        return select(*(column for column in _J.c if column.name != "host"))

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
                self._journal_host_column = True
            elif not self._journal_has_host(conn):
                # A journal from before the host column: add it in this transaction.
                conn.exec_driver_sql(f"ALTER TABLE {_J.name} ADD COLUMN host TEXT")
                self._journal_host_column = True
            yield conn
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
    ) -> JournalEntry:
        result = conn.execute(
            insert(_J).values(
                acted_at=self._now_local(),
                actor=actor or self.operator or default_operator(),
                host=self.operator_host or this_host(),
                target_kind=kind.value,
                target_id=target_id,
                action=action,
                reason=reason,
                prior_state=dict(prior_state),
                new_state=dict(new_state),
                undoes=undoes,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        row = conn.execute(self._journal_select(conn).where(_J.c.id == int(key[0]))).one()
        return _journal_entry(row)

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
        transitions = cast(_StoreTransitions, self)
        writes: dict[PatternAction, Callable[[], bool]] = {
            PatternAction.QUARANTINE: lambda: transitions.quarantine_pattern(pattern_id, reason),
            PatternAction.VALIDATE: lambda: transitions.validate_pattern(pattern_id),
            PatternAction.RETIRE: lambda: transitions.retire_pattern(pattern_id),
            PatternAction.PENDING: lambda: transitions.update_quarantine_status(
                pattern_id, QuarantineStatus.PENDING
            ),
        }
        return self._journalled_change(
            JournalSubject.PATTERN, pattern_id, action.value, writes[action],
            reason=reason, actor=actor, expected_before=expected_before,
        )

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

    # -- undo and the journal itself ----------------------------------------------------

    def undo_last_action(
        self, *, target_kind: JournalSubject | None = None, actor: str | None = None
    ) -> JournalEntry | None:
        """Restore the prior state of the newest not-yet-undone action (optionally of one
        subject kind). Returns the undone entry, None if there is nothing to undo; raises
        UndoConflictError if the row changed since.

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
        not undone) and the row still holds the state the entry left. Journalled as
        ``undo_last_action`` journals: an "undo" entry that ``undoes`` this one.
        """
        from sqlalchemy import func

        with self._journalled() as conn:
            row = conn.execute(self._journal_select(conn).where(_J.c.id == entry_id)).first()
            if row is None:
                raise UndoConflictError(f"no journal entry {entry_id}")
            entry = _journal_entry(row)
            if entry.action == UNDO_ACTION or entry.undone_at is not None:
                raise UndoConflictError(
                    f"journal entry {entry_id} is an undo or was undone already")
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
            subject = _SUBJECTS[entry.target_kind]
            try:
                _name, current = self._subject_state(conn, subject, entry.target_id)
            except KeyError:
                raise UndoConflictError(
                    f"{entry.target_kind.value} {entry.target_id} no longer exists") from None
            if current != dict(entry.new_state) or not self._restore_state(
                conn, subject, entry.target_id, entry.new_state, entry.prior_state
            ):
                raise UndoConflictError(
                    f"{entry.target_kind.value} {entry.target_id} changed after journal "
                    f"entry {entry_id} ({entry.action}); undoing it would overwrite that "
                    "change")
            conn.execute(update(_J).where(_J.c.id == entry.id).values(
                undone_at=self._now_local()))
            self._append_journal(
                conn, actor=actor, kind=entry.target_kind, target_id=entry.target_id,
                action=UNDO_ACTION, reason=None, prior_state=current,
                new_state=entry.prior_state, undoes=entry.id,
            )
            undone = conn.execute(self._journal_select(conn).where(_J.c.id == entry.id)).one()
            return _journal_entry(undone)
