"""Let an unmodified Marianne use marianne-tui's store: ``marianne.learning.store`` -> ``store``.

Opt-in twice over. A ``.pth`` file (written and removed by ``marianne-tui marianne-hook``)
calls :func:`activate` at interpreter start-up, and :func:`activate` does nothing unless
``$MARIANNE_LEARNING_STORE_URL`` names a store. Then an import finder, first on
``sys.meta_path``, answers for ``marianne.learning.store`` and its submodules:

* ``marianne.learning.store.<name>`` is this package's ``store.<name>`` (the same module
  object, so classes and records are the same on both names);
* ``marianne.learning.store`` itself is a package made of ``store``'s public names, whose
  ``GlobalLearningStore`` (and ``get_global_store``) open the named store whenever Marianne
  asks for its default file (no path, or ``~/.marianne/global-learning.db``). A path Marianne
  passes on purpose (a cloned conductor's, a test's) is left alone.

It fails closed. When the alias cannot be made (this package or its PostgreSQL driver does
not import, or the installed Marianne declares a schema other than v15), importing
``marianne.learning.store`` raises ImportError with the reason, instead of letting Marianne
fall back to its own local file while the rest of the team writes to the shared store.

This is a top-level module of its own, importing only the standard library, so the ``.pth``
line costs an interpreter next to nothing; ``store`` (and SQLAlchemy) is imported only when
Marianne imports its store.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["ENV_VARIABLE", "PACKAGE", "AliasFinder", "activate", "deactivate"]

#: The variable naming the store (a SQLAlchemy URL, or a file path).
ENV_VARIABLE = "MARIANNE_LEARNING_STORE_URL"
#: The Marianne package this finder stands in for.
PACKAGE = "marianne.learning.store"
#: The schema this package implements; a Marianne declaring another is not aliased.
SUPPORTED_SCHEMA = 15


class AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``marianne.learning.store[.x]`` and loads it from ``store[.x]``."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._package: types.ModuleType | None = None

    # -- finder -------------------------------------------------------------------------

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != PACKAGE and not fullname.startswith(PACKAGE + "."):
            return None
        is_package = fullname == PACKAGE
        spec = importlib.util.spec_from_loader(fullname, self, is_package=is_package)
        return spec

    # -- loader -------------------------------------------------------------------------

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        if spec.name == PACKAGE:
            return self.package()
        self.package()  # checks first, so a refusal names its reason on any submodule
        name = "store" + spec.name[len(PACKAGE):]
        try:
            return importlib.import_module(name)
        except ImportError as error:
            raise ImportError(
                f"{spec.name} is aliased to {name}, which does not exist: {error}"
            ) from error

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the module is an existing one."""

    # -- the package --------------------------------------------------------------------

    def package(self) -> types.ModuleType:
        if self._package is None:
            self._package = _alias_package(self.target)
        return self._package


def _refusal(reason: str) -> ImportError:
    return ImportError(
        f"marianne-tui store hook (${ENV_VARIABLE} is set): {reason}; unset the variable "
        "to use Marianne's own store, or fix the cause"
    )


def _marianne_schema_version() -> int | None:
    """The SCHEMA_VERSION the installed Marianne declares, read from its source, not run."""
    try:
        spec = importlib.util.find_spec("marianne")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        base = Path(location) / "learning" / "store" / "base.py"
        if base.is_file():
            match = re.search(r"^\s*SCHEMA_VERSION\s*=\s*(\d+)", base.read_text(), re.M)
            return int(match.group(1)) if match else None
    return None


def _alias_package(target: str) -> types.ModuleType:
    marianne_schema = _marianne_schema_version()
    if marianne_schema is not None and marianne_schema != SUPPORTED_SCHEMA:
        raise _refusal(
            f"this Marianne uses schema v{marianne_schema}, and marianne-tui's store "
            f"implements v{SUPPORTED_SCHEMA}"
        )
    try:
        store_package = importlib.import_module("store")
        global_store = importlib.import_module("store.global_store")
        base = importlib.import_module("store.base")
        if "://" in target and not target.startswith("sqlite"):
            importlib.import_module("psycopg")
    except ImportError as error:
        raise _refusal(f"cannot import marianne-tui's store: {error}") from error

    default_path = Path(base.DEFAULT_GLOBAL_STORE_PATH).expanduser()
    store_class: Any = global_store.GlobalLearningStore

    def redirected(db_path: Any) -> Any:
        if db_path is None:
            return target
        if isinstance(db_path, str) and "://" in db_path:
            return db_path
        if Path(db_path).expanduser() == default_path:
            return target
        return db_path

    class GlobalLearningStore(store_class):  # type: ignore[misc]
        """``store.GlobalLearningStore``, opening the shared store for Marianne's default."""

        def __init__(self, db_path: Any = None, **options: Any) -> None:
            super().__init__(redirected(db_path), **options)

    GlobalLearningStore.__module__ = PACKAGE
    GlobalLearningStore.__qualname__ = "GlobalLearningStore"

    singleton: dict[str, Any] = {}

    def get_global_store(db_path: Any = None) -> Any:
        """One store per location, as Marianne's accessor; the default is the shared one."""
        location = str(redirected(db_path))
        current = singleton.get("store")
        if current is None or (db_path is not None and singleton.get("location") != location):
            singleton["store"] = GlobalLearningStore(db_path)
            singleton["location"] = location
        return singleton["store"]

    package = types.ModuleType(PACKAGE, doc=f"marianne-tui's store, standing in for {PACKAGE}")
    for source in (store_package, global_store):
        for name, value in vars(source).items():
            if not name.startswith("_"):
                setattr(package, name, value)
    package.GlobalLearningStore = GlobalLearningStore  # type: ignore[attr-defined]
    package.get_global_store = get_global_store  # type: ignore[attr-defined]
    package.SHARED_STORE = target  # type: ignore[attr-defined]
    # A package, so that ``marianne.learning.store.models`` is looked up (by this finder).
    package.__path__ = []
    return package


def activate(environ: dict[str, str] | os._Environ[str] | None = None) -> bool:
    """Install the finder when ``$MARIANNE_LEARNING_STORE_URL`` is set; True if installed."""
    env = os.environ if environ is None else environ
    target = env.get(ENV_VARIABLE, "").strip()
    if not target:
        return False
    deactivate()
    sys.meta_path.insert(0, AliasFinder(target))
    return True


def deactivate() -> None:
    """Remove the finder (modules already imported stay imported)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, AliasFinder)]
