"""``PatternQuery.id_prefix`` (what `:jump` searches by): ids that start with the text, on
both backends, with LIKE's wildcards taken literally."""

from __future__ import annotations

from store import GlobalLearningStore, PatternQuery, PatternSort


def _ids(store: GlobalLearningStore, prefix: str) -> list[str]:
    page = store.query_patterns(PatternQuery(id_prefix=prefix, sort=PatternSort.NAME,
                                             descending=False))
    return [row.id for row in page.rows]


def test_id_prefix_keeps_the_ids_that_start_with_it(store: GlobalLearningStore) -> None:
    first = store.record_pattern("retry_pattern", "alpha")
    second = store.record_pattern("retry_pattern", "beta")
    # The shortest prefix that tells the two ids apart.
    length = next(n for n in range(1, 40) if first[:n] != second[:n])
    assert _ids(store, first[:length]) == [first]
    assert _ids(store, second) == [second]
    assert _ids(store, "") == [first, second]
    assert store.query_patterns(PatternQuery(id_prefix=first[:length])).matching == 1


def test_like_wildcards_in_the_prefix_are_literal(store: GlobalLearningStore) -> None:
    store.record_pattern("retry_pattern", "alpha")
    store.record_pattern("retry_pattern", "beta")
    assert _ids(store, "%") == []
    assert _ids(store, "_") == []
    assert _ids(store, "/") == []
