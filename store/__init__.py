"""Marianne's Global Learning Store, re-implemented on SQLModel (SQLite or PostgreSQL).

A drop-in for ``marianne.learning.store``: the same classes, methods, records and on-disk
encodings (schema v15), plus frozen read-models, a change probe and an operator journal for
the console. This package never imports a terminal library.
"""

import threading

from store.global_store import *  # noqa: F403
from store.global_store import __all__ as _store_names
from store.readmodels import *  # noqa: F403
from store.readmodels import __all__ as _readmodel_names

__all__ = [*_store_names, *_readmodel_names]

#: The instance ``get_global_store()`` returns, as in Marianne's package (None until asked).
_global_store: GlobalLearningStore | None = None  # noqa: F405
_global_store_lock = threading.Lock()
