"""TODO: being written (see the store issue)."""

from __future__ import annotations

from store.base import GlobalLearningStoreBase


class PatternTrustMixin(GlobalLearningStoreBase):
    pass
