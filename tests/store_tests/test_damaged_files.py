"""Nothing is written next to a file that is not a healthy store.

SQLite creates ``-wal`` and ``-shm`` beside a WAL file as soon as any connection reads it,
and a write pragma changes the file itself: a file that is missing, empty, foreign,
truncated or corrupt, or a store with a newer schema, must be looked at without either,
whatever ``create`` and ``read_only`` say.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from store import GlobalLearningStore, StoreOpenError

EVERY_MODE = [
    pytest.param(create, read_only, id=f"create={create}-read_only={read_only}")
    for create in (True, False)
    for read_only in (True, False)
]


def folder_state(folder: Path) -> dict[str, str]:
    return {
        child.name: hashlib.sha256(child.read_bytes()).hexdigest()
        for child in sorted(folder.iterdir())
    }


_made: dict[int, bytes] = {}


def healthy_store_bytes(folder: Path, patterns: int = 150) -> bytes:
    """A real v15 store with enough rows to span many pages, closed and checkpointed."""
    if patterns not in _made:
        path = folder / "source.db"
        store = GlobalLearningStore(path)
        with store.batch_connection():
            for number in range(patterns):
                store.record_pattern(
                    "validation_failure", f"pattern {number}", description="d" * 300
                )
        store.close()
        _made[patterns] = path.read_bytes()
        path.unlink()
    return _made[patterns]


def foreign_sqlite(path: Path, *, wal: bool) -> None:
    connection = sqlite3.connect(path)
    if wal:
        connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE notes (body TEXT)")
    connection.execute("INSERT INTO notes VALUES ('somebody else''s data')")
    connection.commit()
    connection.close()


def truncated(path: Path) -> None:
    data = healthy_store_bytes(path.parent)
    path.write_bytes(data[: len(data) // 2])


def corrupt_schema_page(path: Path) -> None:
    data = healthy_store_bytes(path.parent)
    # Page 1 after the 100-byte file header holds the schema's b-tree.
    path.write_bytes(data[:100] + b"\xa5" * 3000 + data[3100:])


def bad_header(path: Path) -> None:
    data = bytearray(healthy_store_bytes(path.parent))
    data[16:18] = (3).to_bytes(2, "big")  # a page size that is not a power of two
    path.write_bytes(bytes(data))


DAMAGED: dict[str, tuple[Callable[[Path], None], str]] = {
    "not sqlite": (lambda path: path.write_bytes(b"plain text, not SQLite\n" * 50),
                   "is not a SQLite database"),
    "foreign sqlite": (lambda path: foreign_sqlite(path, wal=False),
                       "is not a Marianne learning store"),
    "foreign sqlite in WAL mode": (lambda path: foreign_sqlite(path, wal=True),
                                   "is not a Marianne learning store"),
    "truncated": (truncated, "is truncated"),
    "corrupt schema page": (corrupt_schema_page, "is damaged"),
    "bad header": (bad_header, "is damaged"),
}


@pytest.mark.parametrize(("create", "read_only"), EVERY_MODE)
@pytest.mark.parametrize("damage", sorted(DAMAGED))
def test_a_damaged_or_foreign_file_is_refused_and_nothing_is_written(
    tmp_path: Path, damage: str, create: bool, read_only: bool
) -> None:
    make, message = DAMAGED[damage]
    path = tmp_path / "store.db"
    make(path)
    before = folder_state(tmp_path)
    with pytest.raises(StoreOpenError, match=message):
        GlobalLearningStore(path, create=create, read_only=read_only)
    assert folder_state(tmp_path) == before


@pytest.mark.parametrize(("create", "read_only"), EVERY_MODE)
def test_a_missing_file_is_only_created_when_asked(
    tmp_path: Path, create: bool, read_only: bool
) -> None:
    path = tmp_path / "store.db"
    if create and not read_only:
        GlobalLearningStore(path).close()
        assert path.exists()
        return
    with pytest.raises(StoreOpenError, match="no store at"):
        GlobalLearningStore(path, create=create, read_only=read_only)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("create", "read_only"), EVERY_MODE)
def test_an_empty_file_becomes_a_store_only_when_asked(
    tmp_path: Path, create: bool, read_only: bool
) -> None:
    """An empty file is what SQLite calls a new database: ``create`` builds the store in it,
    as Marianne does; any other open leaves it as it is."""
    path = tmp_path / "store.db"
    path.touch()
    if create and not read_only:
        store = GlobalLearningStore(path)
        assert store.schema_version == 15
        store.close()
        return
    with pytest.raises(StoreOpenError, match="is empty"):
        GlobalLearningStore(path, create=create, read_only=read_only)
    assert folder_state(tmp_path) == {"store.db": hashlib.sha256(b"").hexdigest()}


@pytest.mark.parametrize(("create", "read_only"), EVERY_MODE)
def test_a_newer_schema_is_read_with_nothing_written_beside_it(
    tmp_path: Path, create: bool, read_only: bool
) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(healthy_store_bytes(tmp_path, patterns=5))
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE schema_version SET version = 16")
    raw.close()
    assert sorted(child.name for child in tmp_path.iterdir()) == ["store.db"]
    before = folder_state(tmp_path)

    store = GlobalLearningStore(path, create=create, read_only=read_only)
    try:
        assert store.read_only and store.newer_schema
        assert store.immutable_view  # no -shm to share: read as a snapshot
        assert len(store.get_patterns(min_priority=0, limit=-1)) == 5
        store.change_token()
        assert folder_state(tmp_path) == before
    finally:
        store.close()
    assert folder_state(tmp_path) == before
