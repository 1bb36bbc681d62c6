"""The opt-in import hook: an unmodified Marianne opens marianne-tui's store, or fails closed.

Each case runs a fresh interpreter that processes the hook's .pth file the way ``site`` does
at start-up. Most use a stand-in for Marianne's package layout (written here: the names and
the way Marianne's callers reach the store, none of its code); one uses Marianne's own
source when the mirror and its dependencies are available.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import fresh_postgres_schema

from marianne_tui import cli_hook
from marianne_tui.__main__ import main as cli_main
from store import GlobalLearningStore

MARIANNE_MIRROR = Path("/work/.mirror/Mzzkc+marianne-ai-compose/repo")
REPO = Path(__file__).resolve().parents[2]


def _stand_in_marianne(root: Path, schema: int = 15) -> Path:
    """Marianne's package layout, with an original store that must never be imported."""
    files = {
        "marianne/__init__.py": "",
        "marianne/learning/__init__.py": "",
        "marianne/learning/store/__init__.py": (
            "raise RuntimeError('the original marianne.learning.store was imported')\n"
        ),
        "marianne/learning/store/base.py": (
            "raise RuntimeError('the original base was imported')\n"
            f"class GlobalLearningStoreBase:\n    SCHEMA_VERSION = {schema}\n"
        ),
        # How Marianne's callers reach the store: the re-exporting module, the default
        # path from the base module, and the singleton accessor.
        "marianne/learning/global_store.py": (
            "from marianne.learning.store import GlobalLearningStore, get_global_store\n"
        ),
        "marianne/hub.py": textwrap.dedent(
            """
            from marianne.learning.global_store import GlobalLearningStore
            from marianne.learning.store.base import DEFAULT_GLOBAL_STORE_PATH

            def open_default():
                return GlobalLearningStore(DEFAULT_GLOBAL_STORE_PATH)
            """
        ),
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _run(code: str, site_dir: Path, python_path: list[Path], home: Path,
         store: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != cli_hook.ENV_VARIABLE}
    env["HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in [*python_path, REPO])
    if store is not None:
        env[cli_hook.ENV_VARIABLE] = store
    prologue = f"import site; site.addsitedir({str(site_dir)!r})\n"
    return subprocess.run(
        [sys.executable, "-c", prologue + textwrap.dedent(code)],
        capture_output=True, text=True, env=env, timeout=120, cwd=home,
    )


@pytest.fixture
def hook_dir(tmp_path: Path) -> Path:
    site_dir = tmp_path / "site-packages"
    assert cli_main(["marianne-hook", "install", "--site-packages", str(site_dir)]) == 0
    return site_dir


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "shared.db")
        return
    with fresh_postgres_schema("h") as url:
        yield url


USE_THE_STORE = """
    import marianne.hub, marianne.learning.global_store as gs
    import marianne.learning.store.models as models, store.models
    assert models is store.models
    store_ = marianne.hub.open_default()
    pid = store_.record_pattern("validation_failure", "written by a conductor")
    assert gs.get_global_store().location == store_.location
    elsewhere = gs.GlobalLearningStore("explicit.db")  # a path given on purpose stays
    print(store_.location, "|", elsewhere.location, "|", pid)
"""


def test_marianne_writes_to_the_named_store(
    tmp_path: Path, hook_dir: Path, shared_store: str
) -> None:
    marianne = _stand_in_marianne(tmp_path / "marianne-src")
    home = tmp_path / "home"
    home.mkdir()
    result = _run(USE_THE_STORE, hook_dir, [marianne], home, shared_store)
    assert result.returncode == 0, result.stderr
    location, elsewhere, pattern_id = (part.strip() for part in result.stdout.split("|"))
    assert elsewhere == "explicit.db"
    assert not (home / ".marianne").exists()  # Marianne's default file was never made
    opened = GlobalLearningStore(shared_store, read_only=True, create=False)
    try:
        assert location == opened.location
        record = opened.get_pattern_by_id(pattern_id)
    finally:
        opened.close()
    assert record is not None and record.pattern_name == "written by a conductor"


def test_without_the_variable_marianne_keeps_its_own_store(
    tmp_path: Path, hook_dir: Path
) -> None:
    marianne = _stand_in_marianne(tmp_path / "marianne-src")
    result = _run("import marianne.learning.store", hook_dir, [marianne], tmp_path, None)
    assert "the original marianne.learning.store was imported" in result.stderr


def test_a_marianne_with_another_schema_fails_closed(tmp_path: Path, hook_dir: Path) -> None:
    marianne = _stand_in_marianne(tmp_path / "marianne-src", schema=16)
    result = _run("import marianne.learning.global_store", hook_dir, [marianne], tmp_path,
                  str(tmp_path / "shared.db"))
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: marianne-tui store hook")
    assert "schema v16" in last
    assert "the original" not in result.stderr  # no fallback to Marianne's own store


def test_a_missing_driver_fails_closed(tmp_path: Path, hook_dir: Path) -> None:
    marianne = _stand_in_marianne(tmp_path / "marianne-src")
    broken = tmp_path / "no-driver"
    (broken / "psycopg").mkdir(parents=True)
    (broken / "psycopg" / "__init__.py").write_text("raise ImportError('no psycopg here')\n")
    result = _run("import marianne.learning.global_store", hook_dir, [broken, marianne],
                  tmp_path, "postgresql+psycopg://marianne@db-host/marianne")
    assert result.returncode != 0
    assert "ImportError: marianne-tui store hook" in result.stderr
    assert "no psycopg here" in result.stderr
    assert "the original" not in result.stderr


def test_install_and_remove_are_one_command_each(tmp_path: Path) -> None:
    site_dir = tmp_path / "site-packages"
    assert cli_main(["marianne-hook", "install", "--site-packages", str(site_dir)]) == 0
    pth = site_dir / cli_hook.PTH_NAME
    assert pth.read_text() == cli_hook.PTH_TEXT
    assert cli_main(["marianne-hook", "remove", "--site-packages", str(site_dir)]) == 0
    assert not pth.exists()
    pth.write_text("import something_else\n")  # not ours: left alone, one-line refusal
    assert cli_main(["marianne-hook", "remove", "--site-packages", str(site_dir)]) == 1
    assert pth.exists()


def _real_marianne(tmp_path: Path) -> Path:
    if not MARIANNE_MIRROR.exists():
        pytest.skip(f"Marianne's source is not at {MARIANNE_MIRROR}")
    root = tmp_path / "marianne-real"
    root.mkdir()
    archive = subprocess.run(
        ["git", f"--git-dir={MARIANNE_MIRROR}", "archive", "HEAD", "src/marianne"],
        capture_output=True, check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    return root / "src"


def test_marianne_itself_opens_the_named_store(tmp_path: Path, hook_dir: Path) -> None:
    marianne = _real_marianne(tmp_path)
    code = """
        from marianne.learning.global_store import GlobalLearningStore, get_global_store
        from marianne.daemon.learning_hub import LearningHub
        import asyncio
        hub = LearningHub()
        asyncio.run(hub.start())
        print("RESULT", hub._store.location, "|", get_global_store().location, "|",
              GlobalLearningStore.__mro__[1].__module__)
        asyncio.run(hub.stop())
    """
    probe = "import marianne.learning.global_store, marianne.daemon.learning_hub"
    plain = _run(probe, hook_dir, [marianne], tmp_path, None)
    if plain.returncode != 0:
        pytest.skip(f"Marianne does not import here: {plain.stderr.strip().splitlines()[-1]}")
    shared = tmp_path / "shared.db"
    result = _run(code, hook_dir, [marianne], tmp_path, str(shared))
    assert result.returncode == 0, result.stderr
    # Marianne logs on stdout too; the hub still logs its own default path, which it no
    # longer opens.
    (line,) = [text for text in result.stdout.splitlines() if text.startswith("RESULT ")]
    hub_location, accessor_location, base_module = line.removeprefix("RESULT ").split(" | ")
    assert hub_location == accessor_location == str(shared)
    assert base_module == "store.global_store"
    assert not (tmp_path / ".marianne" / "global-learning.db").exists()
