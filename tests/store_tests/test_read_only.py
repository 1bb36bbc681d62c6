"""Read-only the way SQLite can do it, and stores the user cannot write.

An operator usually looks at a conductor's store: a file and a directory owned by someone
else. Tests run as root here, so the parts about "a user who cannot write" run in a
subprocess as ``nobody`` (skipped when that is not possible).
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FrozenClock

import store as store_package
from store import GlobalLearningStore, ReadOnlyStoreError

REPO = Path(store_package.__file__).resolve().parents[1]

#: Run by the unprivileged user: open without create, read, try one write, report.
PROBE = r"""
import json, sqlite3, sys
from store import GlobalLearningStore, ReadOnlyStoreError, StoreError

path, requested, wait = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1"
try:
    store = GlobalLearningStore(path, create=False, read_only=requested)
except StoreError as error:
    print(json.dumps({"open_error": str(error)}), flush=True)
    raise SystemExit
report = {
    "read_only": store.read_only,
    "reason": store.read_only_reason,
    "immutable": store.immutable_view,
    "patterns": len(store.get_patterns(min_priority=0, limit=-1)),
}
try:
    store.record_pattern("validation_failure", "written by an unprivileged user")
    report["write"] = "written"
except ReadOnlyStoreError as error:
    report["write"] = "refused" if isinstance(error, sqlite3.OperationalError) else "odd"
print(json.dumps(report), flush=True)
if wait:
    sys.stdin.readline()
    print(json.dumps({"patterns": len(store.get_patterns(min_priority=0, limit=-1))}), flush=True)
store.close()
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def names(folder: Path) -> list[str]:
    return sorted(child.name for child in folder.iterdir())


def _as_nobody() -> list[str]:
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def _child_environment() -> dict[str, str]:
    paths = sysconfig.get_paths()
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), paths["purelib"], paths["platlib"]]),
    }


@pytest.fixture(scope="module")
def unprivileged_python() -> list[str]:
    """A command line that runs this checkout's Python code as a user who owns nothing."""
    if os.geteuid() != 0:
        return [sys.executable]  # already a user without root's override
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed: cannot run as an unprivileged user")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for interpreter in (sys.executable, f"/usr/bin/python{version}", "/usr/bin/python3"):
        command = [*_as_nobody(), interpreter]
        check = subprocess.run(
            [*command, "-c", f"import sys, store; assert sys.version.startswith('{version}')"],
            env=_child_environment(), capture_output=True, timeout=60,
        )
        if check.returncode == 0:
            return command
    pytest.skip("no Python interpreter that user nobody can run with this checkout")


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder every user can reach (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="marianne-ro-"))
    folder.chmod(0o755)
    yield folder
    for path in (folder, *folder.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(folder)


def conductor_store(folder: Path, patterns: int = 3) -> Path:
    path = folder / "global-learning.db"
    store = GlobalLearningStore(path, clock=FrozenClock())
    for number in range(patterns):
        store.record_pattern("validation_failure", f"pattern {number}")
    store.close()
    assert names(folder) == ["global-learning.db"]
    return path


def unwritable_conductor_store(folder: Path) -> Path:
    """A conductor's store that the unprivileged user cannot write, file or folder (as
    root, ``nobody`` already cannot; as anyone else, permissions take it away)."""
    path = conductor_store(folder)
    if os.geteuid() != 0:
        path.chmod(0o444)
        folder.chmod(0o555)
    return path


def viewer_process(command: list[str], script: str, *args: str) -> subprocess.Popen[str]:
    """``script`` run by ``command`` (the unprivileged Python), talked to by lines."""
    return subprocess.Popen(
        [*command, "-c", script, *args],
        env=_child_environment(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )


def probe(command: list[str], path: Path, *, requested: bool) -> dict[str, object]:
    result = subprocess.run(
        [*command, "-c", PROBE, str(path), "1" if requested else "0", "0"],
        env=_child_environment(), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout)
    return report


@pytest.mark.parametrize("requested", [False, True], ids=["detected", "requested"])
def test_a_store_in_a_directory_the_user_cannot_write(
    unprivileged_python: list[str], shared_folder: Path, requested: bool
) -> None:
    """No -shm to share and none can be made: SQLite reads the file as immutable."""
    path = unwritable_conductor_store(shared_folder)
    before = sha256(path)

    report = probe(unprivileged_python, path, requested=requested)

    assert report == {
        "read_only": True,
        "reason": "opened read-only on request" if requested
        else "the file is not writable by this user",
        "immutable": True,
        "patterns": 3,
        "write": "refused",
    }
    assert names(shared_folder) == ["global-learning.db"]
    assert sha256(path) == before


def test_a_store_in_use_by_its_owner_is_read_live(
    unprivileged_python: list[str], shared_folder: Path
) -> None:
    """With the owner's -shm there, a read-only connection shares it and sees new writes."""
    path = unwritable_conductor_store(shared_folder)
    owner = GlobalLearningStore(path, clock=FrozenClock())
    try:
        owner.get_patterns(min_priority=0)  # keeps a pooled connection, and the -shm
        assert "global-learning.db-shm" in names(shared_folder)
        viewer = viewer_process(unprivileged_python, PROBE, str(path), "0", "1")
        assert viewer.stdout is not None and viewer.stdin is not None
        first = json.loads(viewer.stdout.readline() or "{}")
        owner.record_pattern("validation_failure", "written while the viewer looks")
        viewer.stdin.write("go\n")
        viewer.stdin.flush()
        second = json.loads(viewer.stdout.readline() or "{}")
        _, errors = viewer.communicate(timeout=120)
        assert viewer.returncode == 0, errors
    finally:
        owner.close()
    assert first == {
        "read_only": True,
        "reason": "the file is not writable by this user",
        "immutable": False,
        "patterns": 3,
        "write": "refused",
    }
    assert second == {"patterns": 4}


def test_a_file_the_user_cannot_write_in_a_folder_it_owns(
    unprivileged_python: list[str], shared_folder: Path
) -> None:
    """``chmod 444``: read-only by itself, live (SQLite may make its -shm in the folder)."""
    path = conductor_store(shared_folder)
    if os.geteuid() == 0:
        os.chown(shared_folder, 65534, 65534)
        os.chown(path, 65534, 65534)
    path.chmod(0o444)
    before = sha256(path)

    report = probe(unprivileged_python, path, requested=False)

    assert report == {
        "read_only": True,
        "reason": "the file is not writable by this user",
        "immutable": False,
        "patterns": 3,
        "write": "refused",
    }
    assert sha256(path) == before


def test_a_viewer_never_leaves_its_own_sidecar_files_beside_someone_elses_store(
    unprivileged_python: list[str], shared_folder: Path
) -> None:
    """A folder the viewer may write, a file it may not: a -wal and -shm it made would be
    its own, and the owner's conductor could not write through them afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs a store owned by another user than the one running the test")
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("needs a second unprivileged user (postgres) to own the store")
    path = conductor_store(shared_folder)
    os.chown(path, owner.pw_uid, owner.pw_gid)
    shared_folder.chmod(0o777)
    before = sha256(path)

    report = probe(unprivileged_python, path, requested=False)

    assert report == {
        "read_only": True,
        "reason": "the file is not writable by this user",
        "immutable": True,
        "patterns": 3,
        "write": "refused",
    }
    assert names(shared_folder) == ["global-learning.db"]
    assert sha256(path) == before
    as_owner = [
        "setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--clear-groups",
        unprivileged_python[-1],
    ]
    conductor = subprocess.run(
        [*as_owner, "-c", CONDUCTOR_WRITE, str(path)],
        env=_child_environment(), capture_output=True, text=True, timeout=120,
    )
    assert conductor.returncode == 0, conductor.stderr


#: The owner's conductor writing one row with the plain driver.
CONDUCTOR_WRITE = r"""
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1])
connection.execute("UPDATE patterns SET description = 'still writable'")
connection.commit()
connection.close()
"""


def test_an_immutable_file_opens_read_only_even_for_root(tmp_path: Path) -> None:
    """``chattr +i`` refuses writes to root as well."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    path = conductor_store(tmp_path)
    before = sha256(path)
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"chattr +i not possible here: {made.stderr.strip()}")
    try:
        store = GlobalLearningStore(path, create=False)
        try:
            assert store.read_only
            assert store.read_only_reason == "the file is not writable by this user"
            assert len(store.get_patterns(min_priority=0)) == 3
            with pytest.raises(ReadOnlyStoreError) as refused:
                store.quarantine_pattern(store.get_patterns(min_priority=0)[0].id, "why")
            assert "open read-only" in str(refused.value)
        finally:
            store.close()
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    assert sha256(path) == before


def test_no_caller_can_write_through_a_read_only_connection(tmp_path: Path) -> None:
    """Read-only is enforced in every connection the store makes, not by each method."""
    path = conductor_store(tmp_path)
    before = sha256(path)
    store = GlobalLearningStore(path, read_only=True)
    try:
        with pytest.raises(ReadOnlyStoreError), store._connection() as conn:
            conn.exec_driver_sql("DELETE FROM patterns")
        with pytest.raises(ReadOnlyStoreError), store._batch() as conn:
            conn.exec_driver_sql("UPDATE patterns SET trust_score = 0")
        probe_connection = store._connect_sqlite()
        try:
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                probe_connection.execute("DELETE FROM patterns")
        finally:
            probe_connection.close()
        assert len(store.get_patterns(min_priority=0)) == 3
    finally:
        store.close()
    assert sha256(path) == before


def test_a_writable_store_says_nothing_about_read_only(tmp_path: Path) -> None:
    store = GlobalLearningStore(conductor_store(tmp_path))
    try:
        assert (store.read_only, store.read_only_reason, store.immutable_view) == (
            False, None, False
        )
    finally:
        store.close()


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_postgresql_user_who_may_only_read_opens_read_only(store_url: str) -> None:
    import sqlalchemy

    GlobalLearningStore(store_url, clock=FrozenClock()).close()
    role = f"marianne_reader_{os.getpid()}"
    admin = sqlalchemy.create_engine(store_url)
    try:
        with admin.begin() as conn:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
            conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
            conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
            conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
        url = store_url.replace("postgresql+psycopg://postgres@", f"postgresql+psycopg://{role}@")
        assert role in url
        viewer = GlobalLearningStore(url, create=False)
        try:
            assert viewer.read_only
            assert viewer.read_only_reason == "this database user may not write the store's tables"
            assert viewer.get_patterns(min_priority=0) == []
            with pytest.raises(ReadOnlyStoreError):
                viewer.record_pattern("validation_failure", "refused")
        finally:
            viewer.close()
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.dispose()


#: Run by the unprivileged user: a snapshot view that rereads its file on each line read.
REREAD = r"""
import json, sys
from store import GlobalLearningStore

store = GlobalLearningStore(sys.argv[1], create=False)
def report(**extra):
    count = len(store.get_patterns(min_priority=0, limit=-1))
    print(json.dumps({**extra, "immutable": store.immutable_view, "patterns": count}),
          flush=True)
report()
for _ in sys.stdin:
    report(reread=store.reread_snapshot())
store.close()
"""


def test_a_snapshot_rereads_its_file_and_turns_live_once_the_owner_shares_its_shm(
    unprivileged_python: list[str], shared_folder: Path
) -> None:
    path = unwritable_conductor_store(shared_folder)
    viewer = viewer_process(unprivileged_python, REREAD, str(path))
    assert viewer.stdout is not None and viewer.stdin is not None

    def step() -> dict[str, object]:
        assert viewer.stdin is not None and viewer.stdout is not None
        viewer.stdin.write("go\n")
        viewer.stdin.flush()
        answer: dict[str, object] = json.loads(viewer.stdout.readline() or "{}")
        return answer

    owner = None
    try:
        assert json.loads(viewer.stdout.readline() or "{}") == {"immutable": True,
                                                                "patterns": 3}
        # The conductor writes and closes: its last connection checkpoints into the file.
        writer = GlobalLearningStore(path, clock=FrozenClock())
        writer.record_pattern("validation_failure", "checkpointed while the viewer looks")
        writer.close()
        assert names(shared_folder) == ["global-learning.db"]
        assert step() == {"reread": True, "immutable": True, "patterns": 4}

        # A conductor at work keeps its -shm: the reread view shares it and is live.
        owner = GlobalLearningStore(path, clock=FrozenClock())
        owner.record_pattern("validation_failure", "in the WAL, not yet in the file")
        assert "global-learning.db-shm" in names(shared_folder)
        assert step() == {"reread": True, "immutable": False, "patterns": 5}
        owner.record_pattern("validation_failure", "seen live")
        assert step() == {"reread": False, "immutable": False, "patterns": 6}
    finally:
        # The viewer goes first, so that the owner's close is the last one and cleans up.
        _, errors = viewer.communicate(timeout=120)
        if owner is not None:
            owner.close()
    assert viewer.returncode == 0, errors
    assert names(shared_folder) == ["global-learning.db"]
