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
    "store": ["GlobalLearningStore", "get_global_store", "_global_store", "_global_store_lock"],
    "store.base": [
        "GlobalLearningStoreBase", "DEFAULT_GLOBAL_STORE_PATH", "SQLParam", "WhereBuilder",
        "_logger",
    ],
    "store.models": [
        "DriftMetrics", "EntropyResponseRecord", "EpistemicDriftMetrics", "ErrorRecoveryRecord",
        "EscalationDecisionRecord", "EvolutionEntryInput", "EvolutionTrajectoryEntry",
        "ExecutionRecord", "ExplorationBudgetRecord", "PatternDiscoveryEvent",
        "PatternEntropyMetrics", "PatternRecord", "QuarantineStatus", "RateLimitEvent",
        "SuccessFactors",
    ],
    "store.patterns": ["PatternMixin"],
    "store.patterns_crud": [
        "PatternCrudMixin", "PatternProvenance", "DECAY_BASE", "DECAY_PERIOD_DAYS",
        "GROUNDING_BASE_WEIGHT", "GROUNDING_SENSITIVITY",
    ],
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


#: Every public method of Marianne's GlobalLearningStore with its parameters after ``self``,
#: as Marianne's source declares them (names, order, defaults, ``*``), annotations left out.
MARIANNE_SIGNATURES = {
    "analyze_pattern_why": "pattern_id",
    "assign_workspace_cluster": "workspace_hash, cluster_id",
    "batch_connection": "",
    "calculate_budget_adjustment": (
        "job_hash, current_entropy, floor=0.05, ceiling=0.5, decay_rate=0.95, boost_amount=0.1, "
        "entropy_threshold=0.3, initial_budget=0.15"
    ),
    "calculate_effectiveness_drift": "pattern_id, window_size=5, drift_threshold=0.2",
    "calculate_epistemic_drift": "pattern_id, window_size=5, drift_threshold=0.15",
    "calculate_pattern_entropy": "",
    "calculate_trust_score": "pattern_id",
    "check_entropy_response_needed": "job_hash, entropy_threshold=0.3, cooldown_seconds=3600",
    "check_recent_pattern_discoveries": (
        "exclude_job_id=None, pattern_type=None, min_effectiveness=0.0, limit=20"
    ),
    "cleanup_expired_pattern_discoveries": "",
    "cleanup_expired_rate_limits": "",
    "clear_all": "",
    "close": "",
    "get_active_pattern_discoveries": "pattern_type=None",
    "get_active_rate_limits": "model=None",
    "get_drifting_patterns": "drift_threshold=0.2, window_size=5, limit=20",
    "get_entropy_response_history": "job_hash=None, limit=50",
    "get_entropy_response_statistics": "job_hash=None",
    "get_epistemic_drift_summary": "",
    "get_epistemic_drifting_patterns": "drift_threshold=0.15, window_size=5, limit=20",
    "get_error_recovery_sample_count": "error_code",
    "get_escalation_history": "job_id=None, action=None, limit=20",
    "get_evolution_history": "last_n=10",
    "get_execution_stats": "",
    "get_exploration_budget": "job_hash=None",
    "get_exploration_budget_history": "job_hash=None, limit=50",
    "get_exploration_budget_statistics": "job_hash=None",
    "get_high_trust_patterns": "threshold=0.7, limit=50",
    "get_last_entropy_response": "job_hash=None",
    "get_learned_wait_time": "error_code, model=None, min_samples=3",
    "get_learned_wait_time_with_fallback": (
        "error_code, static_delay, model=None, min_samples=3, min_confidence=0.7"
    ),
    "get_low_trust_patterns": "threshold=0.3, limit=50",
    "get_optimal_execution_window": "error_code=None, model=None",
    "get_pattern_by_id": "pattern_id",
    "get_pattern_drift_summary": "",
    "get_pattern_entropy_history": "limit=50",
    "get_pattern_provenance": "pattern_id",
    "get_patterns": (
        "pattern_type=None, min_priority=0.01, limit=20, context_tags=None, "
        "quarantine_status=None, exclude_quarantined=False, min_trust=None, max_trust=None, "
        "include_inactive=False, instrument_name=None, include_universal=True"
    ),
    "get_patterns_for_auto_apply": (
        "trust_threshold=0.85, require_validated=True, limit=3, context_tags=None"
    ),
    "get_patterns_with_why": "min_observations=1, limit=20",
    "get_quarantined_patterns": "limit=50",
    "get_recent_executions": "limit=20, workspace_hash=None",
    "get_recurring_issues": "min_occurrences=2, window_cycles=None",
    "get_retired_patterns": "limit=50",
    "get_similar_escalation": (
        "confidence, validation_pass_rate, confidence_tolerance=0.15, pass_rate_tolerance=15.0, "
        "limit=5"
    ),
    "get_similar_executions": "job_hash=None, workspace_hash=None, sheet_num=None, limit=10",
    "get_similar_workspaces": "cluster_id, limit=10",
    "get_success_factors": "pattern_id",
    "get_trajectory": "start_cycle=None, end_cycle=None, limit=50",
    "get_workspace_cluster": "workspace_hash",
    "hash_job": "job_name, config_hash=None",
    "hash_workspace": "workspace_path",
    "is_rate_limited": "error_code=None, model=None",
    "promote_ready_patterns": "",
    "quarantine_pattern": "pattern_id, reason=None",
    "recalculate_all_pattern_priorities": "",
    "recalculate_all_trust_scores": "",
    "record_error_recovery": (
        "error_code, suggested_wait, actual_wait, recovery_success, model=None"
    ),
    "record_escalation_decision": (
        "job_id, sheet_num, confidence, action, validation_pass_rate, retry_count, guidance=None,"
        " outcome_after_action=None, model=None"
    ),
    "record_evolution_cycle": (
        "cycle_number, candidates_generated, candidates_applied, changes_summary, outcome, "
        "learning_snapshot"
    ),
    "record_evolution_entry": (
        "cycle=None, evolutions_completed=None, evolutions_deferred=None, issue_classes=None, "
        "cv_avg=None, implementation_loc=None, test_loc=None, loc_accuracy=None, "
        "research_candidates_resolved=0, research_candidates_created=0, notes='', *, entry=None"
    ),
    "record_outcome": "outcome, workspace_path, model=None, error_codes=None",
    "record_pattern": (
        "pattern_type, pattern_name, description=None, context_tags=None, suggested_action=None, "
        "provenance=None, provenance_job_hash=None, provenance_sheet_num=None, "
        "instrument_name=None"
    ),
    "record_pattern_application": (
        "pattern_id, execution_id, pattern_led_to_success, retry_count_before=0, "
        "retry_count_after=0, application_mode='exploitation', validation_passed=None, "
        "grounding_confidence=None"
    ),
    "record_pattern_discovery": (
        "pattern_id, pattern_name, pattern_type, job_id, effectiveness_score=1.0, "
        "context_tags=None, ttl_seconds=300.0"
    ),
    "record_pattern_entropy": "metrics",
    "record_rate_limit_event": "error_code, duration_seconds, job_id, model=None",
    "retire_drifting_patterns": "drift_threshold=0.2, window_size=5, require_negative_drift=True",
    "retire_pattern": "pattern_id",
    "soft_delete_pattern": "pattern_id",
    "trigger_entropy_response": (
        "job_hash='', entropy_at_trigger=0.0, threshold_used=0.0, *, trigger=None, config=None, "
        "boost_budget=None, revisit_quarantine=None, max_quarantine_revisits=None, "
        "budget_floor=None, budget_ceiling=None, budget_boost_amount=None"
    ),
    "update_escalation_outcome": "escalation_id, outcome_after_action",
    "update_exploration_budget": (
        "job_hash, budget_value, adjustment_type, entropy_at_time=None, adjustment_reason=None, "
        "floor=0.05, ceiling=0.5"
    ),
    "update_pattern_effectiveness": "pattern_id",
    "update_quarantine_status": "pattern_id, new_status",
    "update_success_factors": (
        "pattern_id, validation_types=None, error_categories=None, prior_sheet_status=None, "
        "retry_iteration=0, escalation_was_pending=False, grounding_confidence=None"
    ),
    "update_trust_score": "pattern_id, delta",
    "validate_pattern": "pattern_id",
}


def _rendered(function: object, marianne: str) -> tuple[str, list[inspect.Parameter]]:
    """Our signature in the notation above, and the parameters Marianne's does not have."""
    known = {part.split("=")[0] for part in marianne.split(", ")}
    parts: list[str] = []
    extensions: list[inspect.Parameter] = []
    star = False
    for parameter in inspect.signature(function).parameters.values():  # type: ignore[arg-type]
        if parameter.name == "self":
            continue
        if parameter.name not in known:
            extensions.append(parameter)
            continue
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        if parameter.default is parameter.empty:
            parts.append(parameter.name)
        else:
            parts.append(f"{parameter.name}={parameter.default!r}")
    return ", ".join(parts), extensions


def test_the_list_has_all_79_of_mariannes_methods() -> None:
    assert len(MARIANNE_SIGNATURES) == 79


@pytest.mark.parametrize("method", sorted(MARIANNE_SIGNATURES))
def test_every_signature_is_mariannes_and_extensions_are_keyword_only(method: str) -> None:
    ours, extensions = _rendered(getattr(GlobalLearningStore, method), MARIANNE_SIGNATURES[method])
    assert ours == MARIANNE_SIGNATURES[method]
    for parameter in extensions:
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, parameter.name
        assert parameter.default is not parameter.empty, parameter.name


def test_a_positional_call_in_mariannes_shape_cannot_reach_an_extension() -> None:
    with pytest.raises(TypeError):
        inspect.signature(GlobalLearningStore.get_active_rate_limits).bind(None, "model", 5)
    with pytest.raises(TypeError):
        inspect.signature(GlobalLearningStore.get_active_pattern_discoveries).bind(
            None, "type", 5
        )


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
