"""A vector library on a real store (SQLite or PostgreSQL, whichever `$HEATERS_DATABASE_URL`
names) and numpy's exact answer for it: shared by tests/store/test_vectors*.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import text
from sqlmodel import Session

from heaters.domain.sources import Source
from heaters.store import review, vectors, videos
from heaters.store.store import Store
from heaters.store.tables import Clip


def embedded_clips(session: Session, n: int) -> None:
    """Video 1 and its clips 1..n, already `embedded` (their vectors are the caller's)."""
    session.execute(
        text(
            "INSERT INTO source_videos (id, url, state, created_at, updated_at)"
            " VALUES (1, 'u', 'spliced', 0, 0)"
        )
    )
    more_clips(session, 1, n)


def more_clips(session: Session, first: int, n: int) -> None:
    """Clips first..first+n-1 of video 1, `embedded`, ten frames each (clip i at 10 * (i - 1))."""
    session.execute(
        text(
            "INSERT INTO clips (id, source_video_id, start_frame, end_frame, start_time_s,"
            " end_time_s, state, created_at, updated_at)"
            " VALUES (:i, 1, :a, :b, 0, 1, 'embedded', 0, 0)"
        ),
        [{"i": i, "a": 10 * (i - 1), "b": 10 * i} for i in range(first, first + n)],
    )


def library(root: Path, n: int, seed: int = 0, dim: int = 64) -> tuple[Store, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.abs(rng.normal(size=(max(1, n // 20), dim))).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n)] + 0.5 * np.abs(rng.normal(size=(n, dim)))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    store = Store.open(root)
    with store.tx() as s:
        embedded_clips(s, n)
        vectors.put_many(s, "m", "avg", [(i + 1, x[i], [("cat", 0.9)]) for i in range(n)])
    return store, x


def exact(
    x: np.ndarray, q: int, k: int, gone: frozenset[int] | set[int] = frozenset()
) -> list[int]:
    scores = x @ x[q]
    scores[q] = -np.inf
    for clip in gone:
        scores[clip - 1] = -np.inf
    return (np.argsort(-scores, kind="stable")[:k] + 1).tolist()


def ids(store: Store, q: np.ndarray, k: int = 12, exclude: int | None = None) -> list[int]:
    with store.tx(write=False) as s:
        return [h.clip_id for h in vectors.nearest(s, q, "m", k, exclude_clip=exclude)]


def review_store(root: Path, n_clips: int) -> tuple[Store, review.ReviewConfig]:
    store = Store.open(root)
    with store.tx() as s:
        video, _ = videos.register(s, Source("url", "https://example.com/v"))
        video.state, video.fps = "spliced", 30.0
        s.add(video)
        for i in range(n_clips):
            s.add(Clip(source_video_id=video.id or 0, start_frame=60 * i,
                       end_frame=60 * i + 60, start_time_s=2.0 * i, end_time_s=2.0 * i + 2,
                       state="pending_review"))  # fmt: skip
    return store, review.ReviewConfig(home=store.home, min_clip_s=0.5)
