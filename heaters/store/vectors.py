"""Vector index: exact float vectors in `embeddings`, 1024-bit SimHash codes in a sqlite-vec table.

A plain float `vec0` scan costs ~130 ms at 100k x 512-d; a k-NN over binary codes in `vec0` costs
a fraction of that, and re-ranking a few dozen candidates with their exact float vectors restores
the exact order. The random hyperplanes of the SimHash are drawn once per model and stored in the
database, so codes never change under a library upgrade. Each model has its own code table:
vectors of different models never mix.
"""

from __future__ import annotations

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
EXCLUDED_STATES = ("merged", "split")


def _table(model: str) -> str:
    """`vec_<model>`: the model name is ours (registry key), still reduced to [a-z0-9_]."""
    return "vec_" + re.sub(r"[^a-z0-9_]", "_", model.lower())


@dataclass(frozen=True)
class Hit:
    clip_id: int
    score: float  # cosine similarity, -1..1


_CACHE: dict[tuple[str, float], np.ndarray] = {}


def _projection(session: Session, model: str, dim: int) -> np.ndarray:
    """The model's hyperplanes; cached per process, keyed by when it was drawn."""
    row = session.execute(
        text("SELECT dim, bits, created_at FROM vector_indexes WHERE model = :m"),
        {"m": model},
    ).first()
    if row is not None:
        if int(row[0]) != dim:
            raise ValueError(f"model {model} has dim {row[0]} in this library, not {dim}")
        key = (model, float(row[2]))
        if key not in _CACHE:
            blob = session.execute(
                text("SELECT projection FROM vector_indexes WHERE model = :m"), {"m": model}
            ).scalar_one()
            _CACHE[key] = np.frombuffer(blob, dtype=np.float32).reshape(dim, int(row[1]))
        return _CACHE[key]
    rng = np.random.default_rng(zlib.crc32(model.encode()))
    proj = rng.standard_normal((dim, BITS)).astype(np.float32)
    session.execute(
        text(
            "INSERT INTO vector_indexes (model, dim, bits, projection, created_at)"
            " VALUES (:m, :d, :b, :p, :t)"
        ),
        {"m": model, "d": dim, "b": BITS, "p": proj.tobytes(), "t": now()},
    )
    table = _table(model)
    session.execute(
        text(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING vec0("
            f"embedding_id INTEGER PRIMARY KEY, code bit[{BITS}])"
        )
    )
    session.execute(
        text(
            f"CREATE TRIGGER IF NOT EXISTS tr_{table}_delete AFTER DELETE ON embeddings"
            f" WHEN OLD.model = '{model.replace(chr(39), chr(39) * 2)}'"
            f" BEGIN DELETE FROM {table} WHERE embedding_id = OLD.id; END"
        )
    )
    return proj


def code(vector: np.ndarray, proj: np.ndarray) -> bytes:
    return np.packbits((vector.astype(np.float32) @ proj) > 0).tobytes()


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
    matrix = np.stack([np.asarray(v, dtype=np.float32) for _c, v, _t in items])
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    proj = _projection(session, model, matrix.shape[1])
    codes = np.packbits((matrix @ proj) > 0, axis=1)
    ids = []
    for (clip_id, _v, tags), vec, bits in zip(items, matrix, codes, strict=True):
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
                "tags": _tags_json(tags),
                "t": now(),
            },
        ).first()
        assert row is not None
        session.execute(
            text(f"INSERT INTO {_table(model)} (embedding_id, code) VALUES (:i, vec_bit(:b))"),
            {"i": int(row[0]), "b": bits.tobytes()},
        )
        ids.append(int(row[0]))
    return ids


def _tags_json(tags: list[tuple[str, float]]) -> str:
    import json

    return json.dumps([[label, round(float(p), 4)] for label, p in tags])


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
    query = np.asarray(query, dtype=np.float32)
    query = query / max(float(np.linalg.norm(query)), 1e-12)
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
    proj = _projection(session, model, query.shape[0])
    total = session.execute(
        text("SELECT COUNT(*) FROM embeddings WHERE model = :m"), {"m": model}
    ).scalar_one()
    want = max(MIN_CANDIDATES, CANDIDATES_PER_RESULT * (k + 1))
    qcode = code(query, proj)
    while True:
        ids = [
            int(r[0])
            for r in session.execute(
                text(
                    f"SELECT embedding_id FROM {_table(model)}"
                    " WHERE code MATCH vec_bit(:q) AND k = :k"
                ),
                {"q": qcode, "k": min(want, 4096)},
            ).all()
        ]
        rows = _live_vectors(session, ids)
        hits = _rank(rows, query, k, exclude_clip)
        if len(hits) >= k or want >= total or want >= 4096:
            return hits
        want *= 4


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
