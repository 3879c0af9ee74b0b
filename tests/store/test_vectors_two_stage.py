"""Two-stage vector search (a shortlist in the principal components, reranked exactly) on a real
store, both backends: the thresholds are lowered so that a small library takes that path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from heaters.store import vectors
from heaters.store.store import Store
from tests.store.vectorlib import exact, ids, library, more_clips


@pytest.fixture
def two_stage(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Two stages from 100 vectors on, a shortlist of 200, blocks of 256 rows (several), and
    a count of the searches that fell back to scoring every row exactly."""
    monkeypatch.setattr(vectors, "TWO_STAGE_MIN", 100)
    monkeypatch.setattr(vectors, "CANDIDATES", 200)
    monkeypatch.setattr(vectors, "BLOCK", 256)
    calls = {"full": 0}
    score = vectors._Matrix.score

    def counted(self: vectors._Matrix, query: np.ndarray) -> Any:
        calls["full"] += 1
        return score(self, query)

    monkeypatch.setattr(vectors._Matrix, "score", counted)
    return calls


def _matrix(store: Store) -> vectors._Matrix:
    with store.tx(write=False) as s:
        return vectors._MATRICES[(vectors._db_key(s), "m")]


def test_two_stages_give_the_exact_answer_on_a_clustered_set(
    tmp_path: Path, backend: str, two_stage: dict[str, int]
) -> None:
    store, x = library(tmp_path, 1500)
    for q in range(0, 1500, 61):
        assert ids(store, x[q], exclude=q + 1) == exact(x, q, 12)
    matrix = _matrix(store)
    assert matrix.basis is not None and matrix.basis.shape == (64, 32)
    assert two_stage["full"] == 0  # every answer came from the shortlist
    store.close()


def test_superseded_and_deleted_clips_never_come_back_in_two_stages(
    tmp_path: Path, backend: str, two_stage: dict[str, int]
) -> None:
    store, x = library(tmp_path, 1500)
    best = ids(store, x[0], 3, exclude=1)  # the matrix and its basis, before the changes
    assert _matrix(store).basis is not None
    other = Store.open(tmp_path)
    with other.tx() as s:
        s.execute(text("UPDATE clips SET state = 'merged' WHERE id = :i"), {"i": best[0]})
        s.execute(text("UPDATE clips SET state = 'split' WHERE id = :i"), {"i": best[1]})
        s.execute(text("DELETE FROM embeddings WHERE clip_id = :i"), {"i": best[2]})
    got = ids(store, x[0], exclude=1)
    assert not set(best) & set(got)
    assert got == exact(x, 0, 12, gone=set(best))
    with store.tx(write=False) as s:  # k larger than the shortlist: every row, still exact
        many = [h.clip_id for h in vectors.nearest(s, x[0], "m", 300, exclude_clip=1)]
    assert many == exact(x, 0, 300, gone=set(best)) and two_stage["full"] == 1
    other.close()
    store.close()


def test_a_vector_added_after_the_basis_is_found(
    tmp_path: Path, backend: str, two_stage: dict[str, int]
) -> None:
    store, x = library(tmp_path, 1500)
    assert ids(store, x[7], exclude=8) == exact(x, 7, 12)
    basis = _matrix(store).basis
    rng = np.random.default_rng(5)
    new = np.abs(rng.normal(size=(300, x.shape[1]))).astype(np.float32)  # off every cluster
    new /= np.linalg.norm(new, axis=1, keepdims=True)
    other = Store.open(tmp_path)
    with other.tx() as s:
        more_clips(s, 1501, 300)
        vectors.put_many(s, "m", "avg", [(1501 + i, new[i], []) for i in range(300)])
    both = np.concatenate([x, new])
    for q in (1500, 1650, 1799, 3):
        assert ids(store, both[q], exclude=q + 1) == exact(both, q, 12)
    assert ids(store, new[42], 1) == [1501 + 42]
    matrix = _matrix(store)
    assert matrix.basis is basis and matrix.live == 1800  # projected with the same basis
    assert two_stage["full"] == 0
    other.close()
    store.close()


def test_below_the_threshold_every_row_is_scored(
    tmp_path: Path, backend: str, two_stage: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vectors, "TWO_STAGE_MIN", 2000)
    store, x = library(tmp_path, 1500)
    assert ids(store, x[3], exclude=4) == exact(x, 3, 12)
    assert _matrix(store).basis is None and two_stage["full"] == 1
    store.close()
