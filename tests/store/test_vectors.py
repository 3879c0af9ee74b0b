"""The vector index on a real store: exact order after re-rank, partitions after training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import text

from heaters.store import vectors
from heaters.store.store import Store


def _library(root: Path, n: int, seed: int = 0) -> tuple[Store, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.abs(rng.normal(size=(n // 20, 64))).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n)] + 0.5 * np.abs(rng.normal(size=(n, 64)))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    store = Store.open(root)
    with store.tx() as s:
        s.execute(
            text(
                "INSERT INTO source_videos (id, url, state, created_at, updated_at) VALUES (1, 'u', 'spliced', 0, 0)"
            )
        )
        s.execute(
            text(
                "INSERT INTO clips (id, source_video_id, start_frame, end_frame, start_time_s, end_time_s,"
                " state, created_at, updated_at) VALUES (:i, 1, :a, :b, 0, 1, 'embedded', 0, 0)"
            ),
            [{"i": i + 1, "a": 10 * i, "b": 10 * i + 10} for i in range(n)],
        )
        vectors.put_many(s, "m", "avg", [(i + 1, x[i], [("cat", 0.9)]) for i in range(n)])
    return store, x


def _exact(x: np.ndarray, q: int, k: int) -> list[int]:
    scores = x @ x[q]
    scores[q] = -np.inf
    return (np.argsort(-scores)[:k] + 1).tolist()


def test_small_library_is_exact_and_never_returns_the_query(tmp_path: Path) -> None:
    store, x = _library(tmp_path, 300)
    with store.tx(write=False) as s:
        for q in range(0, 300, 37):
            hits = vectors.nearest(s, x[q], "m", 12, exclude_clip=q + 1)
            assert [h.clip_id for h in hits] == _exact(x, q, 12)
            assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))


def test_training_partitions_every_code_and_keeps_recall(tmp_path: Path) -> None:
    store, x = _library(tmp_path, vectors.TRAIN_AT + 200)
    with store.tx(write=False) as s:
        parts = s.execute(text("SELECT COUNT(DISTINCT part), COUNT(*) FROM vec_m")).one()
        assert parts[0] > 1 and parts[1] == len(x)
        recall = []
        for q in range(0, len(x), 211):
            got = {h.clip_id for h in vectors.nearest(s, x[q], "m", 12, exclude_clip=q + 1)}
            recall.append(len(got & set(_exact(x, q, 12))) / 12)
    assert np.mean(recall) >= 0.9


def test_superseded_and_deleted_never_come_back(tmp_path: Path) -> None:
    store, x = _library(tmp_path, 200)
    with store.tx() as s:
        best = vectors.nearest(s, x[0], "m", 3, exclude_clip=1)
        s.execute(text("UPDATE clips SET state = 'merged' WHERE id = :i"), {"i": best[0].clip_id})
        s.execute(text("DELETE FROM embeddings WHERE clip_id = :i"), {"i": best[1].clip_id})
        assert s.execute(text("SELECT COUNT(*) FROM vec_m")).scalar_one() == 199
        again = [h.clip_id for h in vectors.nearest(s, x[0], "m", 12, exclude_clip=1)]
    assert best[0].clip_id not in again and best[1].clip_id not in again and len(again) == 12
