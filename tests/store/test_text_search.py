"""Text search in the store: clips score by the probability their tags give the named labels, the
tag rows follow every write and delete of embeddings, and superseded clips never appear."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from heaters.store import search, vectors
from heaters.store.store import Store
from tests.store.vectorlib import embedded_clips

TIE = [("Windsor tie", 0.42), ("suit", 0.2), ("bow tie", 0.1), ("groom", 0.05), ("jersey", 0.03)]
SCOOTER = [("moped", 0.3), ("motor scooter", 0.25), ("crash helmet", 0.05)]
DOG = [("beagle", 0.5), ("basset", 0.3), ("English foxhound", 0.1)]
SHOP = [("library", 0.4), ("restaurant", 0.3), ("bookshop", 0.2)]


def _store(root: Path, tags: list[list[tuple[str, float]]], model: str = "m") -> Store:
    store = Store.open(root)
    rng = np.random.default_rng(0)
    with store.tx() as s:
        embedded_clips(s, len(tags))
        items = [(i + 1, rng.random(8).astype(np.float32), t) for i, t in enumerate(tags)]
        vectors.put_many(s, model, "avg", items)
    return store


def _text(store: Store, weights: dict[str, float], model: str = "m") -> list[tuple[int, float]]:
    with store.tx(write=False) as s:
        return search.text(s, weights, model, 10)


def test_only_the_named_labels_count(tmp_path: Path, backend: str) -> None:
    store = _store(tmp_path, [TIE, SCOOTER, DOG, SHOP])
    scooter = _text(store, {"moped": 1.0, "motor scooter": 1.0})
    assert [c for c, _ in scooter] == [2]  # the confident tie clip does not even appear
    assert scooter[0][1] == pytest.approx(0.55)
    dogs = _text(store, {"beagle": 1.0, "basset": 1.0, "English foxhound": 1.0, "pug": 1.0})
    assert dogs == [(3, pytest.approx(0.9))]
    assert _text(store, {}) == []
    assert _text(store, {"moped": 1.0}, model="other") == []


def test_weights_scale_and_rank(tmp_path: Path, backend: str) -> None:
    store = _store(tmp_path, [[("moped", 0.9)], [("motor scooter", 0.9)], [("moped", 0.2)]])
    hits = _text(store, {"moped": 1.0, "motor scooter": 0.6})
    assert [c for c, _ in hits] == [1, 2, 3]
    assert [round(s, 3) for _, s in hits] == [0.9, 0.54, 0.2]


def test_tag_rows_follow_replacement_and_deletion(tmp_path: Path, backend: str) -> None:
    store = _store(tmp_path, [TIE, SCOOTER])
    with store.tx() as s:  # re-embedding a clip replaces its tags
        vectors.put(s, 1, "m", "avg", np.ones(8, dtype=np.float32), [("moped", 0.7)])
    assert [c for c, _ in _text(store, {"moped": 1.0})] == [1, 2]
    assert _text(store, {"Windsor tie": 1.0}) == []
    with store.tx() as s:
        s.execute(text("DELETE FROM embeddings WHERE clip_id = 2"))
        rows = s.execute(text("SELECT COUNT(*) FROM embedding_tags WHERE clip_id = 2")).scalar()
    assert rows == 0
    assert [c for c, _ in _text(store, {"moped": 1.0})] == [1]


def test_superseded_clips_never_appear(tmp_path: Path, backend: str) -> None:
    store = _store(tmp_path, [SCOOTER, SCOOTER])
    with store.tx() as s:
        s.execute(text("UPDATE clips SET state = 'merged' WHERE id = 1"))
    assert [c for c, _ in _text(store, {"moped": 1.0})] == [2]


def test_migration_backfills_tags_of_existing_embeddings(tmp_path: Path) -> None:
    """A home embedded before the tag table existed is searchable after the upgrade."""
    store = _store(tmp_path, [SCOOTER, DOG])
    with store.tx() as s:
        s.execute(text("DELETE FROM embedding_tags"))
        script = search_migration()
        for statement in script:
            if statement.lstrip().upper().startswith("INSERT"):
                s.execute(text(statement))
    assert [c for c, _ in _text(store, {"beagle": 1.0})] == [2]


def search_migration() -> list[str]:
    from heaters.store.migrations import MIGRATIONS, _split

    (script,) = [m for m in MIGRATIONS if "CREATE TABLE embedding_tags" in m]
    return _split(script)


def test_the_issue_examples_with_the_real_query_matching(tmp_path: Path, backend: str) -> None:
    """The clips of issue 15: a confident tie clip and a library clip no longer top queries they
    have nothing to do with, and "antelope" finds the ibex/gazelle/impala clip."""
    from heaters.stages.text_encoder import query_labels

    albatross = [("albatross", 0.6), ("goose", 0.1), ("drake", 0.05)]
    antelope = [("ibex", 0.3), ("gazelle", 0.25), ("impala", 0.2)]
    bus = [("trolleybus", 0.5), ("passenger car", 0.2), ("streetcar", 0.1)]
    store = _store(tmp_path, [TIE, SCOOTER, SHOP, albatross, antelope, bus, DOG])
    tie, scooter, shop, bird, ante, bus_clip, dog = range(1, 8)

    def top(query: str) -> list[int]:
        return [c for c, _ in _text(store, query_labels(query)[1], model="m")]

    for query in ("scooter", "motorbike", "bridge", "bus", "bicycle", "bird", "racing car"):
        assert tie not in top(query), query
    for query in ("bicycle", "rabbit", "deer", "taxi", "hand", "dice"):
        assert shop not in top(query), query
    assert top("scooter")[0] == scooter and top("motorbike")[0] == scooter
    assert top("antelope") == [ante]
    assert top("bird") == [bird] and top("birds") == [bird]
    assert top("dog") == [dog] and top("a dog on the sofa")[0] == dog
    assert top("bus") == [bus_clip] and set(top("vehicle")) == {scooter, bus_clip}
    assert top("necktie")[0] == tie
