"""All pattern methods, composed from the focused pattern mixins (as in Marianne)."""

from __future__ import annotations

from store.patterns_broadcast import PatternBroadcastMixin
from store.patterns_crud import PatternCrudMixin
from store.patterns_lifecycle import PatternLifecycleMixin
from store.patterns_quarantine import PatternQuarantineMixin
from store.patterns_query import PatternQueryMixin
from store.patterns_success_factors import PatternSuccessFactorsMixin
from store.patterns_trust import PatternTrustMixin

__all__ = ["PatternMixin"]


class PatternMixin(
    PatternCrudMixin,
    PatternQueryMixin,
    PatternQuarantineMixin,
    PatternTrustMixin,
    PatternSuccessFactorsMixin,
    PatternBroadcastMixin,
    PatternLifecycleMixin,
):
    """Recording, querying, quarantine lifecycle, trust, "why" analysis and broadcasts."""
