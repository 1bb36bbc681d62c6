"""Opening stores: paths, URLs, schema versions, hashing (contract section 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from store import GlobalLearningStore, StoreOpenError, tables
from store.base import content_hash_for, hash_job, hash_workspace, in_bound_list, pattern_id_for


def test_hash_vectors_from_the_contract(tmp_path: Path) -> None:
    assert hash_job("myjob") == "3be846aefbc4433e"
    assert hash_job("myjob", "cfg") == "f1e66009baa4aaae"
    assert hash_job("my-job") == "3cc5d3c84b82d2cf"
    assert hash_job("myjob", None) == hash_job("myjob", "")
    assert pattern_id_for("validation_failure", "File  Not Created") == "5d4dc4465839e7be"
    assert (
        content_hash_for("validation_failure", "File  Not Created", "desc")
        == "9ce47ab20062eb08e4fef21129295623"
    )
    assert (
        content_hash_for("validation_failure", "File  Not Created", None)
        == "f760f79df58794beb65b04546604c488"
    )
    assert GlobalLearningStore.hash_job("myjob") == "3be846aefbc4433e"


def test_hash_workspace_vector() -> None:
    path = Path("/srv/workspaces/demo")
    if path.resolve() != path:
        pytest.skip("/srv/workspaces/demo is a symlink on this machine")
    assert hash_workspace(path) == "2f9957dc695c6749"


def test_fresh_store_is_stamped_v15(store: GlobalLearningStore) -> None:
    assert store.schema_version == 15
    assert not store.read_only


def test_missing_file_is_refused_without_create(tmp_path: Path) -> None:
    with pytest.raises(StoreOpenError, match="no store at"):
        GlobalLearningStore(tmp_path / "absent.db", create=False)
    assert not (tmp_path / "absent.db").exists()


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database " * 100)
    with pytest.raises(StoreOpenError, match="not a SQLite database"):
        GlobalLearningStore(junk)
    assert junk.read_bytes() == b"not a database " * 100


def test_an_empty_file_is_refused_without_create_and_left_untouched(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(StoreOpenError, match="not a Marianne learning store"):
        GlobalLearningStore(empty, create=False)
    assert empty.read_bytes() == b""
    assert not (tmp_path / "empty.db-wal").exists()


@pytest.mark.parametrize(
    ("bound", "expected"),
    [([], []), (["b"], ["b"]), (["c", "missing", "a", "c"], ["a", "c"]), ([None, "b"], ["b"])],
)
def test_a_bound_list_matches_what_in_matches(
    store: GlobalLearningStore, bound: list[str | None], expected: list[str]
) -> None:
    for name in ("a", "b", "c"):
        with store._connection() as conn:
            conn.execute(tables.patterns.insert().values(
                id=name, pattern_type="t", pattern_name=name, priority_score=0.5,
            ))
    ids = tables.patterns.c.id
    statement = select(ids).where(
        in_bound_list(ids, "ids", postgresql=store.is_postgresql)
    ).order_by(ids)
    with store._connection() as conn:
        assert [row[0] for row in conn.execute(statement, {"ids": bound})] == expected


def test_a_bound_list_is_one_parameter_on_postgresql() -> None:
    """So the statement's text is the same for any length: parsed once, and prepared."""
    ids = tables.patterns.c.id
    statement = select(ids).where(in_bound_list(ids, "ids", postgresql=True))
    compiled = statement.compile(dialect=postgresql.dialect())
    assert list(compiled.params) == ["ids"]
    assert "= ANY (" in str(compiled)
