"""A program written against Marianne's store runs with only the import changed.

The names below are the ones Marianne's modules export (module by module, as the seed's
"Source code in" paths and the contract cite them) and every public method the seed and the
contract document. Missing one breaks someone's import or call, so each is checked.
"""

from __future__ import annotations

import importlib
import inspect
from datetime import UTC, datetime
from pathlib import Path

import pytest

from store import GlobalLearningStore, get_global_store

MODULE_EXPORTS = {
    "store.base": ["GlobalLearningStoreBase", "DEFAULT_GLOBAL_STORE_PATH"],
    "store.models": [
        "DriftMetrics", "EntropyResponseRecord", "EpistemicDriftMetrics", "ErrorRecoveryRecord",
        "EscalationDecisionRecord", "EvolutionEntryInput", "EvolutionTrajectoryEntry",
        "ExecutionRecord", "ExplorationBudgetRecord", "PatternDiscoveryEvent",
        "PatternEntropyMetrics", "PatternRecord", "QuarantineStatus", "RateLimitEvent",
        "SuccessFactors",
    ],
    "store.patterns": ["PatternMixin"],
    "store.patterns_crud": ["PatternCrudMixin", "PatternProvenance"],
    "store.patterns_query": ["PatternQueryMixin"],
    "store.patterns_quarantine": ["PatternQuarantineMixin"],
    "store.patterns_trust": ["PatternTrustMixin"],
    "store.patterns_success_factors": ["PatternSuccessFactorsMixin"],
    "store.patterns_broadcast": ["PatternBroadcastMixin"],
    "store.patterns_lifecycle": [
        "PatternLifecycleMixin", "MIN_OCCURRENCES_FOR_PROMOTION",
        "PROMOTION_EFFECTIVENESS_THRESHOLD", "QUARANTINE_EFFECTIVENESS_THRESHOLD",
        "DEGRADATION_THRESHOLD",
    ],
    "store.executions": ["ExecutionMixin"],
    "store.rate_limits": ["RateLimitMixin"],
    "store.drift": ["DriftMixin"],
    "store.escalation": ["EscalationMixin"],
    "store.budget": ["BudgetMixin", "EntropyResponseConfig", "EntropyTriggerContext"],
    "store.global_store": [
        "GlobalLearningStore", "get_global_store", "GlobalLearningStoreBase",
        "DEFAULT_GLOBAL_STORE_PATH", "PatternMixin", "ExecutionMixin", "RateLimitMixin",
        "DriftMixin", "EscalationMixin", "BudgetMixin", "QuarantineStatus", "PatternRecord",
        "ExecutionRecord", "ErrorRecoveryRecord", "RateLimitEvent", "EscalationDecisionRecord",
        "PatternDiscoveryEvent", "DriftMetrics", "EpistemicDriftMetrics", "SuccessFactors",
        "EvolutionTrajectoryEntry", "ExplorationBudgetRecord", "EntropyResponseRecord",
    ],
}

METHODS = [
    "record_pattern", "record_pattern_application", "update_pattern_effectiveness",
    "recalculate_all_pattern_priorities", "soft_delete_pattern", "get_patterns",
    "get_pattern_by_id", "get_pattern_provenance", "get_quarantined_patterns",
    "get_high_trust_patterns", "get_low_trust_patterns", "get_patterns_for_auto_apply",
    "quarantine_pattern", "validate_pattern", "retire_pattern", "update_quarantine_status",
    "promote_ready_patterns", "calculate_trust_score", "update_trust_score",
    "recalculate_all_trust_scores", "update_success_factors", "get_success_factors",
    "analyze_pattern_why", "get_patterns_with_why", "record_pattern_discovery",
    "check_recent_pattern_discoveries", "get_active_pattern_discoveries",
    "cleanup_expired_pattern_discoveries", "record_outcome", "get_execution_stats",
    "get_recent_executions", "get_similar_executions", "get_optimal_execution_window",
    "assign_workspace_cluster", "get_workspace_cluster", "get_similar_workspaces",
    "record_error_recovery", "get_learned_wait_time", "get_learned_wait_time_with_fallback",
    "get_error_recovery_sample_count", "record_rate_limit_event", "is_rate_limited",
    "get_active_rate_limits", "cleanup_expired_rate_limits",
    "calculate_effectiveness_drift", "calculate_epistemic_drift", "get_drifting_patterns",
    "get_pattern_drift_summary", "get_epistemic_drifting_patterns",
    "get_epistemic_drift_summary", "retire_drifting_patterns", "get_retired_patterns",
    "record_evolution_entry", "record_evolution_cycle", "get_trajectory",
    "get_evolution_history", "get_recurring_issues", "record_escalation_decision",
    "get_escalation_history", "get_similar_escalation", "update_escalation_outcome",
    "get_exploration_budget", "get_exploration_budget_history", "update_exploration_budget",
    "calculate_budget_adjustment", "get_exploration_budget_statistics",
    "check_entropy_response_needed", "trigger_entropy_response",
    "get_last_entropy_response", "get_entropy_response_history",
    "get_entropy_response_statistics", "calculate_pattern_entropy",
    "record_pattern_entropy", "get_pattern_entropy_history", "batch_connection",
    "hash_workspace", "hash_job", "clear_all", "close",
]


@pytest.mark.parametrize("module_name", sorted(MODULE_EXPORTS))
def test_module_exports_the_names_marianne_exports(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = [name for name in MODULE_EXPORTS[module_name] if not hasattr(module, name)]
    assert missing == []


def test_every_documented_method_exists() -> None:
    missing = [name for name in METHODS if not callable(getattr(GlobalLearningStore, name, None))]
    assert missing == []


def test_signatures_keep_marianne_parameter_names() -> None:
    # Callers pass these by keyword; a renamed parameter would break them.
    expected = {
        "record_pattern": ["pattern_type", "pattern_name", "description", "context_tags",
                           "suggested_action", "provenance", "provenance_job_hash",
                           "provenance_sheet_num", "instrument_name"],
        "get_patterns": ["pattern_type", "min_priority", "limit", "context_tags",
                         "quarantine_status", "exclude_quarantined", "min_trust", "max_trust",
                         "include_inactive", "instrument_name", "include_universal"],
        "update_exploration_budget": ["job_hash", "budget_value", "adjustment_type",
                                      "entropy_at_time", "adjustment_reason", "floor",
                                      "ceiling"],
        "record_escalation_decision": ["job_id", "sheet_num", "confidence", "action",
                                       "validation_pass_rate", "retry_count", "guidance",
                                       "outcome_after_action", "model"],
    }
    for method, names in expected.items():
        parameters = list(inspect.signature(getattr(GlobalLearningStore, method)).parameters)
        assert parameters[1 : 1 + len(names)] == names, method


class _MariannesOwnOutcome:
    """Shaped like Marianne's SheetOutcome, defined elsewhere: record_outcome duck-types."""

    job_id = "nightly"
    sheet_id = "nightly-sheet3"
    timestamp = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    execution_duration = 12.5
    final_status = "completed"
    retry_count = 0
    success_without_retry = True
    validation_pass_rate = 0.8


def test_a_marianne_style_program_runs_unchanged(tmp_path: Path) -> None:
    store = get_global_store(tmp_path / "global-learning.db")
    assert get_global_store() is store
    pid = store.record_pattern("validation_failure", "File  Not Created", description="desc")
    assert pid == "5d4dc4465839e7be"
    with store.batch_connection():
        for ok in (True, True, False):
            store.record_pattern_application(pid, "exec-1", ok)
    record = store.get_pattern_by_id(pid)
    assert record is not None and record.id == pid
    assert record.led_to_success_count == 2 and record.led_to_failure_count == 1
    assert store.quarantine_pattern(pid, reason="misleads")
    assert [p.id for p in store.get_quarantined_patterns()] == [pid]
    execution = store.record_outcome(_MariannesOwnOutcome(), tmp_path)
    assert store.get_recent_executions(limit=1)[0].id == execution
    assert store.get_recent_executions(limit=1)[0].confidence_score == pytest.approx(0.9)
    store.close()
