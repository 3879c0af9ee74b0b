"""Vector index: exact float vectors in `embeddings`, 1024-bit SimHash codes in sqlite-vec.

A plain float `vec0` scan costs ~130 ms at 100k x 512-d. Here each model has a `vec0` table of
binary codes (random hyperplanes, drawn once per model and stored, so codes never change under a
library upgrade), partitioned by coarse centroid (IVF): a query scans the codes of the few
partitions nearest to it, takes the best candidates by Hamming distance, and re-ranks them with
their exact float vectors. Until a model has `TRAIN_AT` vectors there is one partition; the
centroids are (re)trained by spherical k-means each time the count has grown 4x since. Vectors of
different models never mix.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import dataclass

import numpy as np
from sqlalchemy import text
from sqlmodel import Session

from heaters.store.tables import now

BITS = 1024
MIN_CANDIDATES = 64
CANDIDATES_PER_RESULT = 8  # re-ranked exactly: 104 candidates for k=12
TRAIN_AT = 4096  # vectors before the codes are partitioned
RETRAIN_GROWTH = 4  # retrain when the count has grown this much since the last training
TRAIN_SAMPLE = 16384
KMEANS_ITERATIONS = 12


def _table(model: str) -> str:
    """`vec_<model>`: the model name is ours (registry key), still reduced to [a-z0-9_]."""
    return "vec_" + re.sub(r"[^a-z0-9_]", "_", model.lower())


@dataclass(frozen=True)
class Hit:
    clip_id: int
    score: float  # cosine similarity, -1..1


@dataclass(frozen=True)
class _Index:
    projection: np.ndarray  # (dim, BITS)
    centroids: np.ndarray | None  # (nlist, dim), L2-normalised; None: one partition
    trained_count: int

    @property
    def nprobe(self) -> int:
        n = 0 if self.centroids is None else len(self.centroids)
        return max(4, math.ceil(n / 10))


_CACHE: dict[tuple[str, float, float], _Index] = {}


def _index(session: Session, model: str, dim: int) -> _Index:
    """The model's index parameters, cached per process by when they were last written."""
    row = session.execute(
        text("SELECT dim, bits, created_at, trained_at FROM vector_indexes WHERE model = :m"),
        {"m": model},
    ).first()
    if row is None:
        return _create(session, model, dim)
    if int(row[0]) != dim:
        raise ValueError(f"model {model} has dim {row[0]} in this library, not {dim}")
    key = (model, float(row[2]), float(row[3] or 0.0))
    if key not in _CACHE:
        full = session.execute(
            text(
                "SELECT projection, centroids, trained_count FROM vector_indexes WHERE model = :m"
            ),
            {"m": model},
        ).one()
        proj = np.frombuffer(full[0], dtype=np.float32).reshape(dim, int(row[1])).copy()
        cents = None
        if full[1] is not None:
            cents = np.frombuffer(full[1], dtype=np.float32).reshape(-1, dim).copy()
        _CACHE[key] = _Index(proj, cents, int(full[2] or 0))
    return _CACHE[key]


def _create(session: Session, model: str, dim: int) -> _Index:
    rng = np.random.default_rng(zlib.crc32(model.encode()))
    proj = rng.standard_normal((dim, BITS)).astype(np.float32)
    session.execute(
        text(
            "INSERT INTO vector_indexes (model, dim, bits, projection, created_at)"
            " VALUES (:m, :d, :b, :p, :t)"
        ),
        {"m": model, "d": dim, "b": BITS, "p": proj.tobytes(), "t": now()},
    )
    _create_code_table(session, model)
    table = _table(model)
    quoted = model.replace("'", "''")
    session.execute(
        text(
            f"CREATE TRIGGER IF NOT EXISTS tr_{table}_delete AFTER DELETE ON embeddings"
            f" WHEN OLD.model = '{quoted}'"
            f" BEGIN DELETE FROM {table} WHERE embedding_id = OLD.id; END"
        )
    )
    return _Index(proj, None, 0)


def _create_code_table(session: Session, model: str) -> None:
    session.execute(
        text(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {_table(model)} USING vec0("
            f"embedding_id INTEGER PRIMARY KEY, part INTEGER PARTITION KEY, code bit[{BITS}])"
        )
    )


def _normalise(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=-1, keepdims=True), 1e-12)


def _assign(matrix: np.ndarray, index: _Index) -> np.ndarray:
    if index.centroids is None:
        return np.zeros(len(matrix), dtype=np.int64)
    return np.argmax(matrix @ index.centroids.T, axis=1)


def _codes(matrix: np.ndarray, index: _Index) -> np.ndarray:
    if len(matrix) == 1:  # one query: einsum avoids waking BLAS threads (ms under load)
        return np.packbits(np.einsum("d,db->b", matrix[0], index.projection) > 0)[None, :]
    return np.packbits((matrix @ index.projection) > 0, axis=1)


def put(
    session: Session,
    clip_id: int,
    model: str,
    strategy: str,
    vector: np.ndarray,
    tags: list[tuple[str, float]],
) -> int:
    """Store (or replace) one clip's embedding and its code; returns the embedding id."""
    return put_many(session, model, strategy, [(clip_id, vector, tags)])[0]


def put_many(
    session: Session,
    model: str,
    strategy: str,
    items: list[tuple[int, np.ndarray, list[tuple[str, float]]]],
) -> list[int]:
    """Store (or replace) clips' embeddings; codes for the whole batch in one matrix product."""
    if not items:
        return []
    matrix = _normalise(np.stack([np.asarray(v, dtype=np.float32) for _c, v, _t in items]))
    index = _index(session, model, matrix.shape[1])
    codes = _codes(matrix, index)
    parts = _assign(matrix, index)
    ids = []
    for (clip_id, _v, tags), vec, bits, part in zip(items, matrix, codes, parts, strict=True):
        session.execute(
            text("DELETE FROM embeddings WHERE clip_id = :c AND model = :m AND strategy = :s"),
            {"c": clip_id, "m": model, "s": strategy},
        )
        row = session.execute(
            text(
                "INSERT INTO embeddings (clip_id, model, strategy, dim, vector, tags, created_at)"
                " VALUES (:c, :m, :s, :d, :v, json(:tags), :t) RETURNING id"
            ),
            {
                "c": clip_id,
                "m": model,
                "s": strategy,
                "d": int(vec.shape[0]),
                "v": vec.tobytes(),
                "tags": json.dumps([[label, round(float(p), 4)] for label, p in tags]),
                "t": now(),
            },
        ).first()
        assert row is not None
        session.execute(
            text(
                f"INSERT INTO {_table(model)} (embedding_id, part, code)"
                " VALUES (:i, :p, vec_bit(:b))"
            ),
            {"i": int(row[0]), "p": int(part), "b": bits.tobytes()},
        )
        ids.append(int(row[0]))
    _maybe_train(session, model, index)
    return ids


def _maybe_train(session: Session, model: str, index: _Index) -> None:
    count = session.execute(
        text("SELECT COUNT(*) FROM embeddings WHERE model = :m"), {"m": model}
    ).scalar_one()
    if count < TRAIN_AT or count < RETRAIN_GROWTH * max(index.trained_count, 1):
        return
    train(session, model)


def train(session: Session, model: str) -> int:
    """Fit the coarse centroids (spherical k-means) and re-partition every code; returns nlist."""
    rows = session.execute(
        text("SELECT id, vector FROM embeddings WHERE model = :m ORDER BY id"), {"m": model}
    ).all()
    if not rows:
        return 0
    ids = np.array([int(r[0]) for r in rows])
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    nlist = max(8, round(math.sqrt(len(rows)) / 4))
    rng = np.random.default_rng(0)
    sample = matrix[rng.choice(len(matrix), min(TRAIN_SAMPLE, len(matrix)), replace=False)]
    centroids = sample[rng.choice(len(sample), nlist, replace=False)].copy()
    for _ in range(KMEANS_ITERATIONS):
        labels = np.argmax(sample @ centroids.T, axis=1)
        for c in range(nlist):
            members = sample[labels == c]
            if len(members):
                centroids[c] = members.sum(axis=0)
        centroids = _normalise(centroids).astype(np.float32)
    index = _index(session, model, matrix.shape[1])
    trained = _Index(index.projection, centroids, len(rows))
    parts = _assign(matrix, trained)
    codes = _codes(matrix, trained)
    table = _table(model)
    session.execute(text(f"DROP TABLE IF EXISTS {table}"))
    _create_code_table(session, model)
    session.execute(
        text(f"INSERT INTO {table} (embedding_id, part, code) VALUES (:i, :p, vec_bit(:b))"),
        [
            {"i": int(i), "p": int(p), "b": c.tobytes()}
            for i, p, c in zip(ids, parts, codes, strict=True)
        ],
    )
    session.execute(
        text(
            "UPDATE vector_indexes SET centroids = :c, trained_count = :n, trained_at = :t"
            " WHERE model = :m"
        ),
        {"c": centroids.tobytes(), "n": len(rows), "t": now(), "m": model},
    )
    return nlist


def has_any(session: Session, model: str) -> bool:
    """Whether any clip has an embedding for `model` (the review screen's "nothing yet")."""
    row = session.execute(
        text("SELECT 1 FROM embeddings WHERE model = :m LIMIT 1"), {"m": model}
    ).first()
    return row is not None


def vector_of(session: Session, clip_id: int, model: str) -> np.ndarray | None:
    row = session.execute(
        text("SELECT vector FROM embeddings WHERE clip_id = :c AND model = :m ORDER BY id LIMIT 1"),
        {"c": clip_id, "m": model},
    ).first()
    return None if row is None else np.frombuffer(row[0], dtype=np.float32)


def nearest(
    session: Session,
    query: np.ndarray,
    model: str,
    k: int = 12,
    exclude_clip: int | None = None,
    video_id: int | None = None,
) -> list[Hit]:
    """The k live clips most similar to `query` (cosine), best first."""
    query = _normalise(np.asarray(query, dtype=np.float32))
    if video_id is not None:  # a video's clips are few: exact over all of them
        rows = session.execute(
            text(
                "SELECT e.clip_id, e.vector FROM embeddings e JOIN clips c ON c.id = e.clip_id"
                " WHERE e.model = :m AND c.source_video_id = :v"
                " AND c.state NOT IN ('merged', 'split')"
            ),
            {"m": model, "v": video_id},
        ).all()
        return _rank(rows, query, k, exclude_clip)
    has = session.execute(
        text("SELECT 1 FROM vector_indexes WHERE model = :m"), {"m": model}
    ).first()
    if has is None:
        return []
    index = _index(session, model, query.shape[0])
    want = max(MIN_CANDIDATES, CANDIDATES_PER_RESULT * (k + 1))
    qcode = _codes(query[None, :], index)[0].tobytes()
    every = [0] if index.centroids is None else list(range(len(index.centroids)))
    if index.centroids is None:
        parts = every
    else:
        sims = np.einsum("cd,d->c", index.centroids, query)
        parts = np.argsort(-sims)[: index.nprobe].tolist()
    # The k-NN runs once per probed partition: straight on the DB-API cursor, as it is the
    # hot loop of every query (SQLAlchemy's per-statement overhead is ~0.3 ms here).
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    sql = (
        f"SELECT embedding_id, distance FROM {_table(model)}"
        " WHERE code MATCH vec_bit(?) AND k = ? AND part = ?"
    )
    total: int | None = None
    while True:
        found: list[tuple[float, int]] = []
        for part in parts:
            cursor.execute(sql, (qcode, min(want, 4096), int(part)))
            found += [(float(d), int(i)) for i, d in cursor.fetchall()]
        found.sort()
        rows = _live_vectors(session, [i for _d, i in found[:want]])
        hits = _rank(rows, query, k, exclude_clip)
        if len(hits) >= k or want >= 4096:
            return hits
        if total is None:
            total = session.execute(
                text("SELECT COUNT(*) FROM embeddings WHERE model = :m"), {"m": model}
            ).scalar_one()
        if want >= total and len(parts) == len(every):
            return hits
        want *= 4
        parts = every  # widen to every partition rather than miss results


def _live_vectors(session: Session, ids: list[int]) -> list[tuple[int, bytes]]:
    if not ids:
        return []
    marks = ",".join(str(int(i)) for i in ids)  # ints we just read: safe to inline
    return [
        (int(r[0]), r[1])
        for r in session.execute(
            text(
                "SELECT e.clip_id, e.vector FROM embeddings e JOIN clips c ON c.id = e.clip_id"
                f" WHERE e.id IN ({marks}) AND c.state NOT IN ('merged', 'split')"
            )
        ).all()
    ]


def _rank(rows: list, query: np.ndarray, k: int, exclude_clip: int | None) -> list[Hit]:  # type: ignore[type-arg]
    rows = [r for r in rows if int(r[0]) != exclude_clip]
    if not rows:
        return []
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    scores = matrix @ query
    order = np.argsort(-scores)[:k]
    return [Hit(int(rows[i][0]), float(scores[i])) for i in order]


def clips_lacking(session: Session, model: str, limit: int, after_id: int = 0) -> list[int]:
    """Embedded clips with keyframes but no vector of `model` yet (after `heaters config model
    NAME`), by id from `after_id` on: what a backfill embeds."""
    rows = session.execute(
        text(
            "SELECT c.id FROM clips c WHERE c.state = 'embedded' AND c.id > :after"
            " AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.clip_id = c.id AND e.model = :m)"
            " AND EXISTS (SELECT 1 FROM clip_artifacts a WHERE a.clip_id = c.id"
            "  AND a.kind = 'keyframe')"
            " ORDER BY c.id LIMIT :n"
        ),
        {"after": after_id, "m": model, "n": limit},
    ).all()
    return [int(r[0]) for r in rows]
