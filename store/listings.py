"""The reads behind the console's lists and header: paged patterns, the overview, escalations.

Every read here is bounded and done in SQL (a few statements per call), so a console can
refresh a 20,000-pattern store many times a second. Nothing here raises on the legacy or
malformed values that make Marianne's own record reads fail (status ``active``, NULL or
NaN scores, unparsable timestamps): a monitor must keep showing the store it monitors.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from enum import Enum
from types import MappingProxyType
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Row,
    Select,
    Text,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy import text as sql_text  # ``text`` is a parameter name here
from sqlalchemy.types import NullType

from store import tables
from store.base import GlobalLearningStoreBase
from store.budget import EntropyResponseConfig
from store.drift_cache import StatusWatch
from store.escalation import escalation_record_from_row, parse_stored_time
from store.metrics import unvouched_score
from store.models import EscalationDecisionRecord, QuarantineStatus
from store.patterns_lifecycle import (
    MIN_OCCURRENCES_FOR_PROMOTION,
    QUARANTINE_EFFECTIVENESS_THRESHOLD,
)
from store.readmodels import (
    HIGH_TRUST,
    LOW_TRUST,
    EscalationGroup,
    EscalationQueue,
    EscalationSort,
    MatchingIds,
    PatternPage,
    PatternQuery,
    PatternRow,
    PatternSort,
    QueuedEscalation,
    StoreOverview,
    TrustBand,
)

__all__ = [
    "BUDGET_CEILING",
    "BUDGET_FLOOR",
    "DIVERSITY_THRESHOLD",
    "ListingsMixin",
]

#: Marianne's default exploration-budget bounds (EntropyResponseConfig).
BUDGET_FLOOR = EntropyResponseConfig.budget_floor
BUDGET_CEILING = EntropyResponseConfig.budget_ceiling
#: Marianne's default entropy-response threshold: below it the population lacks diversity.
DIVERSITY_THRESHOLD = 0.3

_P = tables.patterns
_E = tables.escalation_decisions


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
    if query.id_prefix:
        conditions.append(_P.c.id.startswith(query.id_prefix, autoescape=True))
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
                    _applications >= MIN_OCCURRENCES_FOR_PROMOTION,
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
        last_seen=parse_stored_time(row.last_seen),
        instrument=row.instrument_name,
        active=bool(row.active),
        description=row.description,
        unvouched=_unvouched(row),
    )


def _pattern_row_select() -> Any:
    """The columns ``_pattern_row`` reads (no WHERE yet)."""
    return select(
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


def _index_ranges(column: Any, default: float, upper: float | None) -> tuple[Any, ...]:
    """A clamped score's stored values cut into ranges, in the clamped reading's
    descending order, so that an index on the stored column can serve its sort.

    Each range is (condition, orders_by_value): within a range where every row reads the
    same clamped value (the clamps and the NULL default) only the id orders the rows;
    elsewhere the stored value reads as itself. Every row falls in exactly one range: a
    number compares with the bounds, and what compares as greater than every number
    (SQLite's text, PostgreSQL's NaN) falls in the top range, where the clamp reads it
    exactly as the range does (as itself, or as ``upper``).
    """
    ranges: list[tuple[ColumnElement[bool], bool]] = []
    if upper is None:
        ranges.append((column > default, True))
    else:
        ranges += [(column >= upper, False), (and_(column > default, column < upper), True)]
    ranges += [
        (or_(column == default, column.is_(None)), False),
        (and_(column > 0.0, column < default), True),
        (column <= 0.0, False),
    ]
    return tuple(ranges)


#: The sorts an index can serve when nothing filters the list (clamped as ``_clamped``).
_INDEXED_SORTS = {
    PatternSort.PRIORITY: _index_ranges(_P.c.priority_score, 0.5, None),
    PatternSort.TRUST: _index_ranges(_P.c.trust_score, 0.5, 1.0),
}

#: Pages that end within this many rows read through the index (``_indexed_page_ids``).
INDEXED_ROWS = 1000

#: ``_indexed_page_ids`` by (sort, descending, PostgreSQL?, keyed?): built once, as
#: ``_PAGE_ROWS``.
_INDEXED_PAGES: dict[tuple[PatternSort, bool, bool, bool], Any] = {}
#: PostgreSQL's one statement of an indexed page (``_postgresql_page``) by (sort,
#: descending): built once too.
_POSTGRESQL_PAGES: dict[tuple[PatternSort, bool], Any] = {}

#: The rows of a page, by the page's ids: built once (building and keying the statement
#: cost about a quarter of running it with a page of 200 ids).
_PAGE_ROWS = _pattern_row_select().where(_P.c.id.in_(bindparam("ids", expanding=True)))
_PAGE_COLUMNS = tuple(_PAGE_ROWS.selected_columns)


#: The distinct stored statuses (not NULL), in SQLite's order: one seek of
#: idx_patterns_quarantine per status.
_DISTINCT_STATUSES = sql_text(
    "WITH RECURSIVE seen(status) AS ("
    " SELECT min(quarantine_status) FROM patterns"
    " UNION ALL"
    " SELECT (SELECT min(quarantine_status) FROM patterns WHERE quarantine_status > status)"
    " FROM seen WHERE status IS NOT NULL"
    ") SELECT status FROM seen WHERE status IS NOT NULL"
)


def _indexed_page(
    query: PatternQuery, conditions: list[ColumnElement[bool]], offset: int, limit: int
) -> bool:
    """Whether the page is one that ``_indexed_page_ids`` reads (see ``INDEXED_ROWS``)."""
    return not conditions and query.sort in _INDEXED_SORTS and offset + limit <= INDEXED_ROWS


#: (stored status, patterns) on PostgreSQL, each status counted alone: the distinct
#: statuses (a seek of idx_patterns_quarantine each), then an index range per status and
#: one for NULL. PostgreSQL still visits every entry, but without the GROUP BY's work
#: per row: 0.8 ms instead of 1.1 at 20,000 patterns, 2.6 instead of 4.0 at 100,000. One
#: statement, so a status first stored meanwhile cannot be missed or counted twice.
_POSTGRESQL_STATUS_COUNTS = sql_text(
    "WITH RECURSIVE seen(status) AS ("
    " SELECT min(quarantine_status) FROM patterns"
    " UNION ALL"
    " SELECT (SELECT min(quarantine_status) FROM patterns WHERE quarantine_status > status)"
    " FROM seen WHERE status IS NOT NULL"
    ") SELECT status, (SELECT count(*) FROM patterns WHERE quarantine_status = seen.status)"
    " FROM seen WHERE status IS NOT NULL"
    " UNION ALL SELECT NULL, count(*) FROM patterns WHERE quarantine_status IS NULL"
)


def _postgresql_status_counts(conn: Connection) -> list[tuple[str | None, int]]:
    return [
        (status, int(patterns))
        for status, patterns in conn.execute(_POSTGRESQL_STATUS_COUNTS)
        if patterns
    ]


def _sqlite_status_counts(conn: Connection) -> list[tuple[str | None, int]]:
    """(stored status, patterns) as ``GROUP BY quarantine_status`` gives them, faster.

    SQLite's GROUP BY spends ~60 ns a row of the index (6 ms at 100,000 patterns); a count
    of an index range open at its end ~13 ns. So: the distinct statuses (a seek each),
    then in one statement the patterns, the NULLs, and for each status how many sort
    after it; each status's count is a difference of two of those. A status first
    stored between the two statements is counted, for this one read, with the status
    before it.
    """
    statuses = [row[0] for row in conn.execute(_DISTINCT_STATUSES)]
    counted = select(
        select(func.count()).select_from(_P).scalar_subquery(),
        select(func.count()).where(_P.c.quarantine_status.is_(None)).scalar_subquery(),
        *(
            select(func.count()).where(_P.c.quarantine_status > status).scalar_subquery()
            for status in statuses
        ),
    )
    total, nulls, *after = conn.execute(counted).one()
    rows: list[tuple[str | None, int]] = [(None, nulls)]
    up_to = total - nulls  # the patterns sorting from this status on
    for status, beyond in zip(statuses, after, strict=True):
        rows.append((status, up_to - beyond))
        up_to = beyond
    return [(status, count) for status, count in rows if count > 0]


class ListingsMixin(GlobalLearningStoreBase):
    """Paged, filtered pattern lists, the header's overview and the escalation queue."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: PostgreSQL: the header's status counts, kept until a pattern row moves
        self._status_watch = StatusWatch()
        super().__init__(*args, **kwargs)

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
        if self.is_postgresql:
            return self._postgresql_page(query, conditions)
        # Sorting only (key, id) and fetching the page's rows by id afterwards keeps wide
        # text columns out of the sort: a deep page costs little more than the first. The
        # first pages of an unfiltered list by priority or trust skip that sort altogether.
        page_ids = self._page_ids(query, conditions, max(0, query.offset), max(0, query.limit))
        counts_statement: Any
        if conditions:
            counts_statement = select(
                func.count(), func.sum(case((and_(*conditions), 1), else_=0))
            ).select_from(_P)
        else:
            # One count: SQLite counts a whole table by its pages, far faster than a scan.
            counts_statement = select(func.count()).select_from(_P)
        with self._connection() as conn:
            ids = [row[0] for row in conn.execute(*page_ids)]
            by_id = {
                row.id: _pattern_row(row)
                for row in conn.execute(_PAGE_ROWS, {"ids": ids})
            } if ids else {}
            counts = conn.execute(counts_statement).one()
        total, matching = counts[0], counts[-1]
        return PatternPage(
            # A pattern deleted between the two statements is left out, not a KeyError.
            rows=tuple(by_id[pattern_id] for pattern_id in ids if pattern_id in by_id),
            matching=int(matching or 0),
            total=int(total or 0),
            offset=max(0, query.offset),
        )

    def _postgresql_page(
        self, query: PatternQuery, conditions: list[ColumnElement[bool]]
    ) -> PatternPage:
        """``query_patterns`` on PostgreSQL: the page's ids, their rows and the counts in
        one statement, outside a transaction.

        The three statements of SQLite's path, in a transaction, were five round trips on
        PostgreSQL (``BEGIN`` and ``COMMIT`` are each one) and bound the page's 200 ids as
        as many parameters. Here the ids are still sorted alone (by key and id, as on
        SQLite) and only the page's rows are joined to them, ordered again by the page's
        sort keys (200 rows). A filtered page's counts are the outer row every page row
        joins, so that an empty page still brings them, all from one snapshot; an
        unfiltered page's total is the header's kept status counts (one request more, a
        short one, against a count of every row).
        """
        offset, limit = max(0, query.offset), max(0, query.limit)
        indexed = _indexed_page(query, conditions, offset, limit)
        statement = _POSTGRESQL_PAGES.get((query.sort, query.descending)) if indexed else None
        if statement is None:
            page_ids, _ = self._page_ids(query, conditions, offset, limit, keyed=True)
            page = page_ids.subquery("page")
            order: tuple[Any, ...]
            if indexed:
                key = page.c.key.desc() if query.descending else page.c.key.asc()
                order = (page.c.range, key)
            else:
                key = page.c.sort_key.desc() if query.descending else page.c.sort_key.asc()
                order = (key.nulls_last(),)
            paged = page.join(_P, _P.c.id == page.c.id)
            if conditions:
                counted = select(
                    func.count().label("total"),
                    func.sum(case((and_(*conditions), 1), else_=0)).label("matching"),
                ).select_from(_P).subquery("counts")
                statement = select(*counted.c, *_PAGE_COLUMNS).select_from(
                    counted.outerjoin(paged, true())
                )
            else:
                statement = select(*_PAGE_COLUMNS).select_from(paged)
            statement = statement.order_by(*order, self._text_order(page.c.id).asc())
            if indexed:
                _POSTGRESQL_PAGES[(query.sort, query.descending)] = statement
        parameters = {"offset": offset, "limit": limit, "end": offset + limit}
        with self._reads_connection() as conn:
            if not conditions:
                # The header's kept status counts (``StatusWatch``): counting the rows
                # visits the table page of each one updated since the last VACUUM, 16-19
                # ms a refresh at 100,000 patterns after a few thousand applications.
                total = sum(patterns for _, patterns in self._status_watch.counts(
                    conn, _postgresql_status_counts
                ))
            rows = conn.execute(statement, parameters if indexed else {}).all()
        if conditions:
            total, matching = rows[0][0], rows[0][1]
        else:
            matching = total
        return PatternPage(
            rows=tuple(_pattern_row(row) for row in rows if row.id is not None),
            matching=int(matching or 0),
            total=int(total or 0),
            offset=offset,
        )

    def _page_ids(
        self, query: PatternQuery, conditions: list[ColumnElement[bool]], offset: int,
        limit: int, *, keyed: bool = False,
    ) -> tuple[Select[Any], dict[str, int]]:
        """The statement of the ids matching ``conditions`` in the list's order (see
        ``_ordered_ids``), from ``offset``, at most ``limit``; and its parameters.

        ``keyed`` adds the sort keys beside each id (``range`` and ``key`` for an indexed
        page, ``sort_key`` otherwise), for a statement that joins the page to other rows
        and orders them again. (A ``row_number()`` in the page's order would do as well,
        but a window between the sort and the LIMIT keeps PostgreSQL from sorting only the
        top rows: a page of the whole list by name took 15 ms instead of 10.)
        """
        if _indexed_page(query, conditions, offset, limit):
            built = (query.sort, query.descending, self.is_postgresql, keyed)
            statement = _INDEXED_PAGES.get(built)
            if statement is None:
                statement = _INDEXED_PAGES[built] = self._indexed_page_ids(
                    query.sort, query.descending, keyed=keyed
                )
            return statement, {"offset": offset, "limit": limit, "end": offset + limit}
        ordered = self._ordered_ids(query, conditions, keyed=keyed)
        return ordered.offset(offset).limit(limit), {}

    def _indexed_page_ids(
        self, sort: PatternSort, descending: bool, *, keyed: bool = False
    ) -> Select[Any]:
        """The ids of a page of an unfiltered list whose sort an index serves (issue #7),
        from the ``offset`` parameter, ``limit`` of them (``end`` is their sum).

        Ordering by the clamped score sorts every pattern (27 ms at 100k) for 200 rows.
        Instead each range of ``_index_ranges`` takes, through the index on the stored
        column, at most the rows up to the page's end; one statement (one snapshot)
        joins them and sorts those few. The order is the clamped sort's exactly: ranges
        in order, the stored value (within a range, the clamped one's order) and the id.
        The rows up to the page's end are each looked up for their id, so past
        ``INDEXED_ROWS`` the sort of every pattern is cheaper and is used instead.
        """
        column = _P.c.priority_score if sort is PatternSort.PRIORITY else _P.c.trust_score
        ranges = _INDEXED_SORTS[sort]
        if not descending:
            ranges = ranges[::-1]
        by_id = self._text_order(_P.c.id).asc()
        parts = []
        for number, (condition, by_value) in enumerate(ranges):
            # Within a tie range the key is one constant: only the id orders its rows.
            key = column if by_value else literal(0.0, column.type)
            part = select(literal(number).label("range"), key.label("key"), _P.c.id).where(
                condition
            )
            if by_value:
                # No NULLs here, so no NULLS LAST: PostgreSQL's DESC index puts them first.
                part = part.order_by(column.desc() if descending else column.asc(), by_id)
            else:
                # By ``id || ''``, not the id: ordered by the id itself, SQLite walks the
                # primary key and looks up every pattern to test the range (190 ms at
                # 100k when the range is empty), instead of searching the score's index.
                part = part.order_by(self._text_order(_P.c.id + "").asc())
            # Each part is limited inside its own subquery (a LIMIT on a compound's member
            # is not portable).
            parts.append(select(part.limit(bindparam("end")).subquery()))
        joined = union_all(*parts).subquery()
        joined_key = joined.c.key.desc() if descending else joined.c.key.asc()
        keys = (joined.c.range, joined.c.key) if keyed else ()
        return (
            select(joined.c.id, *keys)
            .order_by(joined.c.range, joined_key, self._text_order(joined.c.id).asc())
            .offset(bindparam("offset"))
            .limit(bindparam("limit"))
        )

    def _ordered_ids(
        self, query: PatternQuery, conditions: list[ColumnElement[bool]], *,
        keyed: bool = False,
    ) -> Select[Any]:
        """The ids matching ``conditions`` in the list's order: ``query``'s sort column,
        NULLs last either way, ties broken by id so that paging is stable."""
        key = self._sort_key(query.sort)
        ordered = key.desc() if query.descending else key.asc()
        keys = (key.label("sort_key"),) if keyed else ()
        return (
            select(_P.c.id, *keys)
            .where(*conditions)
            .order_by(ordered.nulls_last(), self._text_order(_P.c.id).asc())
        )

    # -- marks: which patterns a list's filter matches, and which still exist -------------

    def pattern_ids_matching(self, query: PatternQuery, limit: int) -> MatchingIds:
        """The ids of every pattern ``query`` matches (all pages: its offset and limit are
        ignored), in the list's order, at most ``limit`` of them; and how many match.

        Two statements: the ids (sorted and cut in SQL) and the count.
        """
        conditions = _pattern_filters(query, self.is_postgresql)
        ids_statement = self._page_ids(query, conditions, 0, max(0, limit))
        count_statement = select(func.count()).select_from(_P).where(*conditions)
        with self._connection() as conn:
            ids = tuple(row[0] for row in conn.execute(*ids_statement))
            matching = int(conn.execute(count_statement).scalar_one())
        return MatchingIds(ids=ids, matching=matching)

    def existing_pattern_ids(self, pattern_ids: Iterable[str]) -> frozenset[str]:
        """Those of ``pattern_ids`` the store still holds (500 ids per statement)."""
        wanted = list(dict.fromkeys(pattern_ids))
        found: set[str] = set()
        with self._connection() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                found.update(
                    row[0] for row in conn.execute(select(_P.c.id).where(_P.c.id.in_(chunk)))
                )
        return frozenset(found)

    def patterns_by_id(self, pattern_ids: Iterable[str]) -> tuple[PatternRow, ...]:
        """The list rows of those of ``pattern_ids`` the store holds, in the order asked
        (500 ids per statement; a bulk dialog's guard rails read its marks with it)."""
        wanted = list(dict.fromkeys(pattern_ids))
        found: dict[str, PatternRow] = {}
        with self._connection() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                found.update((row.id, _pattern_row(row)) for row in conn.execute(
                    _pattern_row_select().where(_P.c.id.in_(chunk))))
        return tuple(found[key] for key in wanted if key in found)

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
        Marianne does. A budget or diversity that is no number in [0, 1] (text, NaN, ±Inf)
        is None, with its stored value in ``budget_unvouched`` / ``diversity_unvouched``.
        """
        # Two index-only reads instead of one pass over every pattern row: the count per
        # stored status walks idx_patterns_quarantine (NULL folds into "pending" below, as
        # ``_status`` reads it; see ``_sqlite_status_counts`` and
        # ``_POSTGRESQL_STATUS_COUNTS``; PostgreSQL keeps them until a pattern row moves,
        # ``StatusWatch``), and priority <= 0 is a range of idx_patterns_priority (a
        # NULL priority reads 0.5 and text never compares <= 0, so the clamped reading
        # ``_priority <= 0`` picks exactly these rows).
        budget = tables.exploration_budget
        history = tables.pattern_entropy_history
        limits = tables.rate_limit_events
        # Raw, not through the REAL type: text in these columns (SQLite keeps any) must
        # not fail the whole header; it is shown as unvouched instead.
        # One statement for the other numbers: on PostgreSQL each is a round trip.
        scalars_statement = select(
            select(func.count())
            .select_from(_P)
            .where(_P.c.priority_score <= 0.0)
            .scalar_subquery(),
            select(type_coerce(budget.c.budget_value, NullType()))
            .order_by(budget.c.recorded_at.desc())
            .limit(1)
            .scalar_subquery(),
            select(type_coerce(history.c.diversity_index, NullType()))
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
        with self._reads_connection() as conn:
            status_rows = (
                self._status_watch.counts(conn, _postgresql_status_counts)
                if self.is_postgresql else _sqlite_status_counts(conn)
            )
            retired, budget_value, diversity, rate_limits, pending = conn.execute(
                scalars_statement
            ).one()
        counts: dict[str, int] = {}
        for status, patterns in status_rows:
            shown = QuarantineStatus.PENDING.value if status is None else str(status)
            counts[shown] = counts.get(shown, 0) + int(patterns)
        budget_doubt = unvouched_score(budget_value)
        diversity_doubt = unvouched_score(diversity)
        return StoreOverview(
            location=self.location,
            read_only=self.read_only,
            schema_warning=self.schema_warning,
            status_counts=MappingProxyType(counts),
            drift_retired=int(retired),
            total_patterns=sum(counts.values()),
            budget=None if budget_value is None or budget_doubt else float(budget_value),
            budget_floor=BUDGET_FLOOR,
            budget_ceiling=BUDGET_CEILING,
            diversity=None if diversity is None or diversity_doubt else float(diversity),
            diversity_threshold=DIVERSITY_THRESHOLD,
            active_rate_limits=int(rate_limits or 0),
            pending_escalations=int(pending or 0),
            budget_unvouched=budget_doubt,
            diversity_unvouched=diversity_doubt,
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
        return [escalation_record_from_row(row, tolerant=True) for row in (*waiting, *rest)]

    def pending_escalation_count(self) -> int:
        statement = select(func.count()).select_from(_E).where(
            _E.c.outcome_after_action.is_(None)
        )
        with self._connection() as conn:
            return int(conn.execute(statement).scalar_one())

    # -- the escalation queue: what can still be judged first (issue #10, item 7) -------

    def _escalation_sort_key(self, sort: EscalationSort) -> Any:
        columns: dict[EscalationSort, Any] = {
            EscalationSort.OUTCOME: self._text_order(func.coalesce(_E.c.outcome_after_action,
                                                                   "")),
            EscalationSort.RECORDED: _E.c.recorded_at,
            EscalationSort.JOB: self._text_order(_E.c.job_hash),
            EscalationSort.SHEET: _E.c.sheet_num,
            EscalationSort.CONFIDENCE: _E.c.confidence,
            EscalationSort.ACTION: self._text_order(_E.c.action),
            EscalationSort.PASS_RATE: _E.c.validation_pass_rate,
            EscalationSort.RETRIES: _E.c.retry_count,
            EscalationSort.MODEL: self._text_order(func.coalesce(_E.c.model, "")),
            EscalationSort.GUIDANCE: self._text_order(func.coalesce(_E.c.guidance, "")),
        }
        return columns[sort]

    def escalation_queue(
        self,
        stale_age: timedelta = timedelta(days=7),
        sort: EscalationSort = EscalationSort.RECORDED,
        descending: bool = True,
        limit: int = 200,
        offset: int = 0,
        text: str = "",
    ) -> EscalationQueue:
        """A page of escalations: awaiting an outcome, then stale, then decided.

        An escalation awaiting an outcome is stale when it was recorded before
        ``now - stale_age`` (the store's clock; one recorded exactly at that instant is
        not stale). Within each group rows are sorted by ``sort`` (then newest first, then
        id), all in SQL; ``limit`` is capped at 1000. Counts cover the whole table.

        ``text`` keeps only the escalations it is found in (job hash, action, outcome or
        "awaiting", guidance, model, and "stale" for a stale one), case folded as in
        ``query_patterns``; the page is of those, and ``matching`` counts them all.
        """
        limit = max(0, min(limit, 1000))
        offset = max(0, offset)
        stale_before = self.clock.local() - stale_age
        cutoff = type_coerce(stale_before.isoformat(), Text)
        recorded = type_coerce(_E.c.recorded_at, Text)
        awaiting = _E.c.outcome_after_action.is_(None)
        group = case((and_(awaiting, recorded >= cutoff), 0), (awaiting, 1), else_=2)
        key = self._escalation_sort_key(sort)
        order = [group, key.desc() if descending else key.asc()]
        if sort is not EscalationSort.RECORDED:
            order.append(_E.c.recorded_at.desc())
        order.append(self._text_order(_E.c.id))
        groups = (EscalationGroup.AWAITING, EscalationGroup.STALE, EscalationGroup.DECIDED)
        text = text.strip()
        found = self._escalation_text_filter(text, group)
        with self._connection() as conn:
            counts = dict.fromkeys(range(3), 0)
            matching = 0
            # Grouped over a subquery: PostgreSQL does not see two copies of an expression
            # with bound parameters (the cutoff) as the same GROUP BY expression.
            grouped = select(group.label("grp"), found.label("found")).subquery()
            for number, count, found_count in conn.execute(
                select(grouped.c.grp, func.count(),
                       func.coalesce(func.sum(case((grouped.c.found, 1), else_=0)), 0))
                .group_by(grouped.c.grp)
            ):
                counts[int(number)] = int(count)
                matching += int(found_count)
            rows = conn.execute(
                self._escalation_select().add_columns(group.label("grp")).where(found)
                .order_by(*order).limit(limit).offset(offset)
            ).all() if limit else []
        return EscalationQueue(
            rows=tuple(
                QueuedEscalation(escalation_record_from_row(row, tolerant=True),
                                 groups[int(row.grp)])
                for row in rows
            ),
            awaiting=counts[0],
            stale=counts[1],
            decided=counts[2],
            stale_before=stale_before,
            sort=sort,
            descending=descending,
            offset=offset,
            text=text,
            matching=matching,
        )

    def _escalation_text_filter(self, text: str, group: Any) -> ColumnElement[bool]:
        """Whether ``text`` is in an escalation as the Escalations screen shows it."""
        if not text:
            return true()
        e = _E.c
        found = [
            _contains_text(column, text, self.is_postgresql)
            for column in (e.job_hash, e.action, func.coalesce(e.outcome_after_action,
                                                               "awaiting"),
                           e.guidance, e.model)
        ]
        if text.casefold() in "stale":
            found.append(group == 1)
        return or_(*found)
