"""The v15 schema of Marianne's global learning store, declared once as SQLModel tables.

Every table, column, default and index here reproduces the DDL of the store contract
(section 2), so `SQLModel.metadata.create_all` builds a file that Marianne reads as its own.
The column types carry Marianne's on-disk encodings (contract section 3):

* timestamps are ISO-8601 TEXT with a ``T`` separator (``datetime.isoformat()``), never
  SQLAlchemy's ``DateTime``, which writes a space and breaks string comparisons;
* JSON columns are ``json.dumps`` text with the default separators and ASCII escapes;
* booleans are INTEGER 0/1.

On PostgreSQL the same tables are created; REAL becomes DOUBLE PRECISION (PostgreSQL's REAL
is single precision) and timestamp text uses the "C" collation so that ordering and
comparisons follow byte order, exactly as SQLite compares the strings.

Two extra tables belong to this project and Marianne never reads them: the operator journal
(``marianne_tui_journal``) and, on PostgreSQL stores not yet upgraded, the first design's change
counter (``marianne_tui_revision``; ``store.revision`` replaces it with a sequence).
They are kept out of ``MARIANNE_TABLES`` so that opening a Marianne file creates nothing.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, MetaData, String, Table, Text, text
from sqlalchemy import types as sa_types
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlmodel import Field, SQLModel

# ---------------------------------------------------------------------------------------
# Column types
# ---------------------------------------------------------------------------------------


class _TimestampColumnText(sa_types.Text):
    """TEXT that SQLite declares as TIMESTAMP and PostgreSQL compares byte-wise."""

    __visit_name__ = "timestamp_text"


@compiles(_TimestampColumnText, "sqlite")
def _compile_timestamp_sqlite(type_: Any, compiler: Any, **kw: Any) -> str:
    return "TIMESTAMP"


@compiles(_TimestampColumnText, "postgresql")
def _compile_timestamp_postgresql(type_: Any, compiler: Any, **kw: Any) -> str:
    return 'TEXT COLLATE "C"'


@compiles(_TimestampColumnText)
def _compile_timestamp_default(type_: Any, compiler: Any, **kw: Any) -> str:
    return "TEXT"


class _BooleanColumnInteger(sa_types.Integer):
    """INTEGER that SQLite declares as BOOLEAN (the type name Marianne's DDL uses)."""

    __visit_name__ = "boolean_integer"


@compiles(_BooleanColumnInteger, "sqlite")
def _compile_boolean_sqlite(type_: Any, compiler: Any, **kw: Any) -> str:
    return "BOOLEAN"


@compiles(_BooleanColumnInteger)
def _compile_boolean_default(type_: Any, compiler: Any, **kw: Any) -> str:
    return "INTEGER"


def to_iso(value: datetime | str) -> str:
    """Marianne's timestamp text: ``isoformat()``, which drops microseconds when they are 0."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class IsoTimestamp(sa_types.TypeDecorator[datetime]):
    """A timestamp stored as ISO-8601 text; reads back as a (naive or aware) datetime.

    Binding accepts a datetime or an already formatted string, so comparisons against
    stored text stay string comparisons, as in Marianne.
    """

    impl = _TimestampColumnText
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return to_iso(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return value
        return datetime.fromisoformat(value)


class JsonText(sa_types.TypeDecorator[Any]):
    """JSON stored as ``json.dumps`` text (``", "``/``": "`` separators, ASCII escapes)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            return value  # already encoded by the caller
        return json.dumps(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        # Empty text reads like NULL, as Marianne's ``json.loads(value or "[]")`` reads do.
        if value is None or value == "":
            return None
        return json.loads(value)


class FlagInteger(sa_types.TypeDecorator[bool]):
    """A 0/1 flag in a column Marianne declares INTEGER (``active``, ``budget_boosted``...)."""

    impl = sa_types.Integer
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return 1 if value else 0

    def process_result_value(self, value: Any, dialect: Dialect) -> bool | None:
        if value is None:
            return None
        return bool(value)


class IntBool(FlagInteger):
    """A boolean stored as 1/0 in a column Marianne declares BOOLEAN (same encoding)."""

    impl = _BooleanColumnInteger
    cache_ok = True


class Real(sa_types.TypeDecorator[float]):
    """REAL on SQLite, DOUBLE PRECISION elsewhere; NaN is written as NULL on every backend.

    SQLite stores a float NaN as NULL by itself; PostgreSQL would keep the NaN. Writing NULL
    everywhere keeps the contract's NaN behaviour (section 3.4) identical on both.
    """

    impl = sa_types.Double
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa_types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa_types.REAL())
        return dialect.type_descriptor(sa_types.Double())

    def process_bind_param(self, value: Any, dialect: Dialect) -> float | None:
        if value is None:
            return None
        number = float(value)
        return None if math.isnan(number) else number

    def process_result_value(self, value: Any, dialect: Dialect) -> float | None:
        return None if value is None else float(value)


# ---------------------------------------------------------------------------------------
# Column helpers (keep the table classes readable)
# ---------------------------------------------------------------------------------------


def _pk() -> Any:
    # Marianne's "id TEXT PRIMARY KEY" allows NULL in SQLite; nullable=True keeps the DDL
    # free of NOT NULL so PRAGMA table_info matches a file Marianne created.
    return Field(sa_column=Column("id", Text, primary_key=True, nullable=True))


def _col(name: str, type_: Any, *, not_null: bool = False, default: str | None = None,
         unique: bool = False) -> Any:
    return Field(
        sa_column=Column(
            name,
            type_,
            nullable=not not_null,
            server_default=text(default) if default is not None else None,
            unique=unique,
        )
    )


TEXT = Text
INTEGER = sa_types.Integer


# ---------------------------------------------------------------------------------------
# Marianne's thirteen tables, in the order Marianne creates them
# ---------------------------------------------------------------------------------------


class SchemaVersionTable(SQLModel, table=True):
    __tablename__ = "schema_version"

    version: int | None = Field(
        sa_column=Column(
            "version", sa_types.Integer, primary_key=True, autoincrement=False, nullable=True
        )
    )


class ExecutionTable(SQLModel, table=True):
    __tablename__ = "executions"
    __table_args__ = (
        Index("idx_exec_workspace_job", "workspace_hash", "job_hash"),
        Index("idx_exec_status", "status"),
        Index("idx_exec_started", "started_at"),
    )

    id: str | None = _pk()
    workspace_hash: str = _col("workspace_hash", TEXT, not_null=True)
    job_hash: str = _col("job_hash", TEXT, not_null=True)
    sheet_num: int = _col("sheet_num", INTEGER, not_null=True)
    started_at: datetime | None = _col("started_at", IsoTimestamp())
    completed_at: datetime | None = _col("completed_at", IsoTimestamp())
    duration_seconds: float | None = _col("duration_seconds", Real())
    status: str | None = _col("status", TEXT)
    retry_count: int | None = _col("retry_count", INTEGER, default="0")
    success_without_retry: bool | None = _col("success_without_retry", IntBool())
    validation_pass_rate: float | None = _col("validation_pass_rate", Real())
    confidence_score: float | None = _col("confidence_score", Real())
    model: str | None = _col("model", TEXT)
    error_codes: Any = _col("error_codes", JsonText())


class PatternTable(SQLModel, table=True):
    __tablename__ = "patterns"
    __table_args__ = (
        Index("idx_patterns_type", "pattern_type"),
        Index("idx_patterns_priority", text("priority_score DESC")),
        Index("idx_patterns_confirmed", "last_confirmed"),
        Index("idx_patterns_quarantine", "quarantine_status"),
        Index("idx_patterns_trust", "trust_score"),
        Index("idx_patterns_content_hash", "content_hash"),
        Index("idx_patterns_instrument", "instrument_name"),
    )

    id: str | None = _pk()
    pattern_type: str = _col("pattern_type", TEXT, not_null=True)
    pattern_name: str = _col("pattern_name", TEXT, not_null=True)
    description: str | None = _col("description", TEXT)
    occurrence_count: int | None = _col("occurrence_count", INTEGER, default="1")
    first_seen: datetime | None = _col("first_seen", IsoTimestamp())
    last_seen: datetime | None = _col("last_seen", IsoTimestamp())
    last_confirmed: datetime | None = _col("last_confirmed", IsoTimestamp())
    led_to_success_count: int | None = _col("led_to_success_count", INTEGER, default="0")
    led_to_failure_count: int | None = _col("led_to_failure_count", INTEGER, default="0")
    effectiveness_score: float | None = _col("effectiveness_score", Real(), default="0.5")
    variance: float | None = _col("variance", Real(), default="0.0")
    suggested_action: str | None = _col("suggested_action", TEXT)
    context_tags: Any = _col("context_tags", JsonText())
    priority_score: float | None = _col("priority_score", Real(), default="0.5")
    quarantine_status: str | None = _col("quarantine_status", TEXT, default="'pending'")
    provenance_job_hash: str | None = _col("provenance_job_hash", TEXT)
    provenance_sheet_num: int | None = _col("provenance_sheet_num", INTEGER)
    quarantined_at: datetime | None = _col("quarantined_at", IsoTimestamp())
    validated_at: datetime | None = _col("validated_at", IsoTimestamp())
    quarantine_reason: str | None = _col("quarantine_reason", TEXT)
    trust_score: float | None = _col("trust_score", Real(), default="0.5")
    trust_calculation_date: datetime | None = _col("trust_calculation_date", IsoTimestamp())
    success_factors: Any = _col("success_factors", JsonText())
    success_factors_updated_at: datetime | None = _col(
        "success_factors_updated_at", IsoTimestamp()
    )
    active: bool | None = _col("active", FlagInteger(), default="1")
    content_hash: str | None = _col("content_hash", TEXT)
    instrument_name: str | None = _col("instrument_name", TEXT)


class PatternApplicationTable(SQLModel, table=True):
    __tablename__ = "pattern_applications"
    __table_args__ = (
        Index("idx_app_pattern", "pattern_id"),
        Index("idx_app_execution", "execution_id"),
    )

    id: str | None = _pk()
    pattern_id: str | None = _col("pattern_id", TEXT)
    execution_id: str | None = _col("execution_id", TEXT)
    applied_at: datetime | None = _col("applied_at", IsoTimestamp())
    pattern_led_to_success: bool | None = _col("pattern_led_to_success", IntBool())
    retry_count_before: int | None = _col("retry_count_before", INTEGER)
    retry_count_after: int | None = _col("retry_count_after", INTEGER)
    grounding_confidence: float | None = _col("grounding_confidence", Real())


class ErrorRecoveryTable(SQLModel, table=True):
    __tablename__ = "error_recoveries"
    __table_args__ = (
        Index("idx_recovery_code", "error_code"),
        Index("idx_recovery_success", "recovery_success"),
    )

    id: str | None = _pk()
    error_code: str = _col("error_code", TEXT, not_null=True)
    suggested_wait: float | None = _col("suggested_wait", Real())
    actual_wait: float | None = _col("actual_wait", Real())
    recovery_success: bool | None = _col("recovery_success", IntBool())
    recorded_at: datetime | None = _col("recorded_at", IsoTimestamp())
    model: str | None = _col("model", TEXT)
    time_of_day: int | None = _col("time_of_day", INTEGER)


class WorkspaceClusterTable(SQLModel, table=True):
    __tablename__ = "workspace_clusters"

    workspace_hash: str | None = Field(
        sa_column=Column("workspace_hash", Text, primary_key=True, nullable=True)
    )
    cluster_id: str | None = _col("cluster_id", TEXT)
    assigned_at: datetime | None = _col("assigned_at", IsoTimestamp())


class RateLimitEventTable(SQLModel, table=True):
    __tablename__ = "rate_limit_events"
    __table_args__ = (
        Index("idx_rate_limit_code", "error_code"),
        Index("idx_rate_limit_expires", "expires_at"),
        Index("idx_rate_limit_model", "model"),
    )

    id: str | None = _pk()
    error_code: str = _col("error_code", TEXT, not_null=True)
    model: str | None = _col("model", TEXT)
    recorded_at: datetime = _col("recorded_at", IsoTimestamp(), not_null=True)
    expires_at: datetime = _col("expires_at", IsoTimestamp(), not_null=True)
    source_job_hash: str = _col("source_job_hash", TEXT, not_null=True)
    duration_seconds: float = _col("duration_seconds", Real(), not_null=True)


class EscalationDecisionTable(SQLModel, table=True):
    __tablename__ = "escalation_decisions"
    __table_args__ = (
        Index("idx_escalation_job", "job_hash"),
        Index("idx_escalation_action", "action"),
        Index("idx_escalation_confidence", "confidence"),
    )

    id: str | None = _pk()
    job_hash: str = _col("job_hash", TEXT, not_null=True)
    sheet_num: int = _col("sheet_num", INTEGER, not_null=True)
    confidence: float = _col("confidence", Real(), not_null=True)
    action: str = _col("action", TEXT, not_null=True)
    guidance: str | None = _col("guidance", TEXT)
    validation_pass_rate: float = _col("validation_pass_rate", Real(), not_null=True)
    retry_count: int = _col("retry_count", INTEGER, not_null=True)
    outcome_after_action: str | None = _col("outcome_after_action", TEXT)
    recorded_at: datetime = _col("recorded_at", IsoTimestamp(), not_null=True)
    model: str | None = _col("model", TEXT)


class PatternDiscoveryEventTable(SQLModel, table=True):
    __tablename__ = "pattern_discovery_events"
    __table_args__ = (
        Index("idx_pattern_discovery_expires", "expires_at"),
        Index("idx_pattern_discovery_source", "source_job_hash"),
        Index("idx_pattern_discovery_type", "pattern_type"),
    )

    id: str | None = _pk()
    pattern_id: str = _col("pattern_id", TEXT, not_null=True)
    pattern_name: str = _col("pattern_name", TEXT, not_null=True)
    pattern_type: str = _col("pattern_type", TEXT, not_null=True)
    source_job_hash: str = _col("source_job_hash", TEXT, not_null=True)
    recorded_at: datetime = _col("recorded_at", IsoTimestamp(), not_null=True)
    expires_at: datetime = _col("expires_at", IsoTimestamp(), not_null=True)
    effectiveness_score: float = _col("effectiveness_score", Real(), not_null=True)
    context_tags: Any = _col("context_tags", JsonText())


class EvolutionTrajectoryTable(SQLModel, table=True):
    __tablename__ = "evolution_trajectory"
    __table_args__ = (
        Index("idx_trajectory_cycle", "cycle"),
        Index("idx_trajectory_recorded", "recorded_at"),
    )

    id: str | None = _pk()
    cycle: int = _col("cycle", INTEGER, not_null=True, unique=True)
    recorded_at: datetime = _col("recorded_at", IsoTimestamp(), not_null=True)
    evolutions_completed: int = _col("evolutions_completed", INTEGER, not_null=True)
    evolutions_deferred: int = _col("evolutions_deferred", INTEGER, not_null=True)
    issue_classes: Any = _col("issue_classes", JsonText(), not_null=True)
    cv_avg: float = _col("cv_avg", Real(), not_null=True)
    implementation_loc: int = _col("implementation_loc", INTEGER, not_null=True)
    test_loc: int = _col("test_loc", INTEGER, not_null=True)
    loc_accuracy: float = _col("loc_accuracy", Real(), not_null=True)
    research_candidates_resolved: int | None = _col(
        "research_candidates_resolved", INTEGER, default="0"
    )
    research_candidates_created: int | None = _col(
        "research_candidates_created", INTEGER, default="0"
    )
    notes: str | None = _col("notes", TEXT)


class ExplorationBudgetTable(SQLModel, table=True):
    __tablename__ = "exploration_budget"
    __table_args__ = (
        Index("idx_budget_job", "job_hash"),
        Index("idx_budget_recorded", "recorded_at"),
    )

    id: str | None = _pk()
    job_hash: str = _col("job_hash", TEXT, not_null=True)
    recorded_at: datetime = _col("recorded_at", IsoTimestamp(), not_null=True)
    budget_value: float = _col("budget_value", Real(), not_null=True)
    entropy_at_time: float | None = _col("entropy_at_time", Real())
    adjustment_type: str = _col("adjustment_type", TEXT, not_null=True)
    adjustment_reason: str | None = _col("adjustment_reason", TEXT)


class EntropyResponseTable(SQLModel, table=True):
    __tablename__ = "entropy_responses"
    __table_args__ = (
        Index("idx_entropy_response_job", "job_hash"),
        Index("idx_entropy_response_recorded", "recorded_at"),
    )

    id: str | None = _pk()
    job_hash: str = _col("job_hash", TEXT, not_null=True)
    recorded_at: datetime = _col("recorded_at", IsoTimestamp(), not_null=True)
    entropy_at_trigger: float = _col("entropy_at_trigger", Real(), not_null=True)
    threshold_used: float = _col("threshold_used", Real(), not_null=True)
    actions_taken: Any = _col("actions_taken", JsonText(), not_null=True)
    budget_boosted: bool | None = _col("budget_boosted", FlagInteger(), default="0")
    quarantine_revisits: int | None = _col("quarantine_revisits", INTEGER, default="0")
    patterns_revisited: Any = _col("patterns_revisited", JsonText())


class PatternEntropyHistoryTable(SQLModel, table=True):
    __tablename__ = "pattern_entropy_history"
    __table_args__ = (
        Index("idx_entropy_history_calculated", text("calculated_at DESC")),
    )

    id: str | None = _pk()
    calculated_at: datetime = _col("calculated_at", IsoTimestamp(), not_null=True)
    shannon_entropy: float = _col("shannon_entropy", Real(), not_null=True)
    max_possible_entropy: float = _col("max_possible_entropy", Real(), not_null=True)
    diversity_index: float = _col("diversity_index", Real(), not_null=True)
    unique_pattern_count: int = _col("unique_pattern_count", INTEGER, not_null=True)
    effective_pattern_count: int = _col("effective_pattern_count", INTEGER, not_null=True)
    total_applications: int = _col("total_applications", INTEGER, not_null=True)
    dominant_pattern_share: float = _col("dominant_pattern_share", Real(), not_null=True)
    threshold_exceeded: bool | None = _col("threshold_exceeded", FlagInteger(), default="0")


# ---------------------------------------------------------------------------------------
# This project's own tables (Marianne ignores them)
# ---------------------------------------------------------------------------------------


class OperatorJournalTable(SQLModel, table=True):
    """One operator action taken through the console, with what it replaced, for undo."""

    __tablename__ = "marianne_tui_journal"

    id: int | None = Field(
        sa_column=Column("id", sa_types.Integer, primary_key=True, autoincrement=True)
    )
    acted_at: datetime = _col("acted_at", IsoTimestamp(), not_null=True)
    actor: str = _col("actor", TEXT, not_null=True)
    #: where the action ran; NULL in rows journalled before the column existed
    host: str | None = _col("host", TEXT)
    target_kind: str = _col("target_kind", String(32), not_null=True)
    target_id: str = _col("target_id", TEXT, not_null=True)
    action: str = _col("action", String(64), not_null=True)
    reason: str | None = _col("reason", TEXT)
    prior_state: Any = _col("prior_state", JsonText(), not_null=True)
    new_state: Any = _col("new_state", JsonText(), not_null=True)
    undone_at: datetime | None = _col("undone_at", IsoTimestamp())
    undoes: int | None = _col("undoes", sa_types.Integer)
    #: the bulk action the row belongs to (NULL for a single action, and in journals
    #: written before the column existed)
    batch_id: str | None = _col("batch_id", TEXT)


class StoreRevisionTable(SQLModel, table=True):
    """PostgreSQL, first design: the counter its triggers bumped (read on a store not yet
    upgraded, dropped by the upgrade: ``store.revision``)."""

    __tablename__ = "marianne_tui_revision"

    id: int | None = Field(
        sa_column=Column("id", sa_types.Integer, primary_key=True, autoincrement=False)
    )
    rev: int = _col("rev", sa_types.BigInteger, not_null=True, default="0")


def _table(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


schema_version = _table(SchemaVersionTable)
executions = _table(ExecutionTable)
patterns = _table(PatternTable)
pattern_applications = _table(PatternApplicationTable)
error_recoveries = _table(ErrorRecoveryTable)
workspace_clusters = _table(WorkspaceClusterTable)
rate_limit_events = _table(RateLimitEventTable)
escalation_decisions = _table(EscalationDecisionTable)
pattern_discovery_events = _table(PatternDiscoveryEventTable)
evolution_trajectory = _table(EvolutionTrajectoryTable)
exploration_budget = _table(ExplorationBudgetTable)
entropy_responses = _table(EntropyResponseTable)
pattern_entropy_history = _table(PatternEntropyHistoryTable)
operator_journal = _table(OperatorJournalTable)
store_revision = _table(StoreRevisionTable)

#: Marianne's tables in creation order (contract section 2).
MARIANNE_TABLES: tuple[Table, ...] = (
    schema_version,
    executions,
    patterns,
    pattern_applications,
    error_recoveries,
    workspace_clusters,
    rate_limit_events,
    escalation_decisions,
    pattern_discovery_events,
    evolution_trajectory,
    exploration_budget,
    entropy_responses,
    pattern_entropy_history,
)

#: The metadata that holds every table above.
METADATA: MetaData = SQLModel.metadata
