"""Vector search: cosine over an in-process float32 matrix per model, exact or (large libraries)
a principal-component shortlist reranked exactly.

The float vectors live in `embeddings` (the source of truth). Each process that searches keeps,
per database and model, the L2-normalised vectors of live clips (not merged or split) as a numpy
matrix (in blocks of 131,072 rows, so an append never copies it), and catches it up before
every query from `embedding_changes`, a log the database writes by trigger on every insert,
update and delete of an embedding, and for each embedding of a clip that becomes merged or split
or is brought back by an undo (AUTOINCREMENT `seq`: the matrix remembers the last `seq` it
applied, so a search after a committed insert sees it, and a deleted or superseded vector is
dropped). When that watermark is the last change the caller's transaction sees, the matrix is the
caller's view and the top k come from the matrix alone; only a caller whose snapshot differs
(older than the matrix, or holding uncommitted writes) has its candidates checked in SQL.

Why not one exact product at every size: at 100k x 1280-d it is ~19 ms on this machine (two
cores, memory-bound: 512 MB read per query), so no exact full scan meets the 20 ms target. From
TWO_STAGE_MIN live vectors on (60k: below it the product is as fast), a search reads fewer
bytes: stage 1 scores every row in its top dim/2 principal components (a second float32 copy
of 256 MB at 100k x 1280, projected with a basis computed once per process from a sample of
the rows, ~1-2 s, and used for every row caught up later), stage 2 the exact cosine of the
best CANDIDATES (4,000) rows, gathered from the full matrix; the top k are those exact scores,
and if the shortlist cannot fill k hits every row is scored exactly as below the threshold, so a
result is never shorter than an exact search's. At 100k: recall@12 0.997 on the hard benchmark
set, p50 16-19 ms on either store at load ~2 (numpy's exact scan: 19-20 ms), though no faster
than the exact scan while another process holds one of the two cores (`benchmarks/README.md`,
"Similarity search"). The earlier
SimHash/IVF index cost as much with recall@12 0.6-0.97 and retrained inside the embed step's
write transaction. Nothing here writes: writers only insert rows, and the catch-up reads
committed rows on a connection of its own (WAL: readers never wait for a writer, nor a writer
for them). The cost is memory (4 bytes x dim per vector, 512 MB at 100k x 1280, and 2 bytes x
dim more above the threshold) and one full load (~3-5 s at 100k) the first time a process
searches.

PostgreSQL: the same design, whether or not the server has pgvector (`heaters doctor` says which).
The matrix is keyed by server and database, the full load streams through a binary server-side
cursor, and the catch-up runs at REPEATABLE READ without the store's writer lock. pgvector was
measured and not chosen (`benchmarks/README.md`, "Vectors on PostgreSQL"): its exact scan costs
5.5-8x the matrix at 100k; an HNSW index missed the recall target on the hard set (0.94 at
ef_search 800), took 8-17 minutes to build at 100k, and would be maintained inside the embed
step's write transaction, which holds the store-wide writer lock a review action waits for.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from heaters.domain.states import SUPERSEDED
from heaters.store.db import is_pg, sql_list
from heaters.store.tables import now

# What the matrix holds: the vectors of live clips (not merged or split), as of its watermark.
_LIVE_ROWS = f"clip_id NOT IN (SELECT id FROM clips WHERE state IN ({sql_list(SUPERSEDED)}))"
FULL_RELOAD_FRACTION = 0.5  # more changes than this share of the vectors: read them all again
DEAD_FRACTION = 0.25  # more deleted rows than this share of the matrix: read it all again
# Rows per block of the matrix. A block is np.zeros: untouched pages cost no memory, so a block
# much larger than its rows is free, and up to this many vectors one matrix product scores them
# all (many small blocks cost 2-3x: a BLAS call each).
BLOCK = 1 << 17
# Two stages from this many live vectors on (`nearest`): below it the exact product is as fast.
TWO_STAGE_MIN = 60_000
REDUCED_FRACTION = 2  # stage 1 scores dim // this many principal components (640 of 1280)
CANDIDATES = 4_000  # rows stage 1 hands to the exact rerank
BASIS_SAMPLE = 20_000  # rows the principal components are computed from


@dataclass(frozen=True)
class Hit:
    clip_id: int
    score: float  # cosine similarity, -1..1


@dataclass
class _Matrix:
    """One model's vectors in one database, in fixed blocks of BLOCK rows: appending never copies
    what is there (a doubling array would copy 512 MB, and briefly hold twice that, at 100k).
    A block's zero pages take memory only once rows are written into them.
    Row r is block r // BLOCK, slot r % BLOCK; a deleted row keeps its slot with id -1."""

    blocks: list[np.ndarray] = field(default_factory=list)  # each (BLOCK, dim) float32
    ids: list[np.ndarray] = field(default_factory=list)  # each (BLOCK,) int64 embedding id
    clips: list[np.ndarray] = field(default_factory=list)  # each (BLOCK,) int64 clip id
    size: int = 0  # rows used, dead ones included
    live: int = 0
    watermark: int = 0  # the last embedding_changes.seq applied
    row_of: dict[int, int] = field(default_factory=dict)  # embedding id -> row
    dead: list[int] = field(default_factory=list)  # rows dropped since the last full read
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Stage 1 of a two-stage search: each row's coordinates in `basis` (dim x d, orthonormal
    # columns: the vectors' top principal components), block by block like `blocks`.
    basis: np.ndarray | None = None
    reduced: list[np.ndarray] = field(default_factory=list)  # each (BLOCK, d) float32

    def clear(self) -> None:
        """Forget every row (a full read follows). The basis stays: any orthonormal basis
        gives exact reranked scores; the rows read next are projected with it."""
        self.blocks, self.ids, self.clips, self.reduced = [], [], [], []
        self.size = self.live = self.watermark = 0
        self.row_of, self.dead = {}, []

    @property
    def dim(self) -> int | None:
        return int(self.blocks[0].shape[1]) if self.blocks else None

    def drop(self, embedding_id: int) -> None:
        row = self.row_of.pop(embedding_id, None)
        if row is not None:
            b, i = divmod(row, BLOCK)
            self.ids[b][i] = -1
            self.clips[b][i] = -1
            self.dead.append(row)
            self.live -= 1

    def add(self, rows: Sequence[Any]) -> None:
        """Append (embedding id, clip id, float32 bytes) rows (projected, once there is a
        basis, in one product per block touched: one matrix-vector product a row would cost
        ~10 s for a full read of 100k)."""
        start = self.size
        for emb_id, clip_id, blob in rows:
            vector = np.frombuffer(blob, dtype=np.float32)
            if self.dim is not None and vector.shape[0] != self.dim:
                raise ValueError(f"a vector of {vector.shape[0]} values among ones of {self.dim}")
            b, i = divmod(self.size, BLOCK)
            if b == len(self.blocks):
                self.blocks.append(np.zeros((BLOCK, vector.shape[0]), dtype=np.float32))
                self.ids.append(np.full(BLOCK, -1, dtype=np.int64))
                self.clips.append(np.full(BLOCK, -1, dtype=np.int64))
            self.blocks[b][i] = vector
            self.ids[b][i], self.clips[b][i] = emb_id, clip_id
            self.row_of[int(emb_id)] = self.size
            self.size += 1
            self.live += 1
        if self.basis is not None:
            self._project(start, self.size)

    def _project(self, lo: int, hi: int) -> None:
        """Stage-1 coordinates of rows lo..hi-1, in chunks (a block's product at once would
        hold a 670 MB temporary)."""
        assert self.basis is not None
        if self.basis.shape[0] != self.dim:  # another model's width under the same key
            self.basis, self.reduced = None, []
            return
        while lo < hi:
            b, i = divmod(lo, BLOCK)
            j = min(BLOCK, i + 8192, hi - b * BLOCK)
            if b == len(self.reduced):
                self.reduced.append(np.zeros((BLOCK, self.basis.shape[1]), dtype=np.float32))
            self.reduced[b][i:j] = self.blocks[b][i:j] @ self.basis
            lo += j - i

    def make_basis(self) -> None:
        """The top dim // REDUCED_FRACTION principal components (uncentred: the directions
        that carry most of the rows' inner products) of up to BASIS_SAMPLE live rows, and
        every row's coordinates in them. Once per process and model (~2 s at 100k x 1280);
        rows added later are projected with the same basis."""
        dim = self.dim
        assert dim is not None
        live = np.flatnonzero(np.concatenate(self.ids)[: self.size] >= 0)
        rng = np.random.default_rng(0)
        pick = np.sort(rng.choice(live, min(len(live), BASIS_SAMPLE), replace=False))
        sample = self.rows(pick)
        values, vectors = np.linalg.eigh((sample.T @ sample).astype(np.float64))
        keep = np.argsort(-values)[: max(1, dim // REDUCED_FRACTION)]
        self.basis = np.ascontiguousarray(vectors[:, keep], dtype=np.float32)
        self.reduced = []
        self._project(0, self.size)

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """The vectors of these rows (a copy), in their order."""
        if len(self.blocks) == 1:
            return np.asarray(self.blocks[0][rows])
        out = np.empty((len(rows), self.blocks[0].shape[1]), dtype=np.float32)
        for b, mine, slots in _per_block(rows):
            out[mine] = self.blocks[b][slots]
        return out

    def shortlist(self, query: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Stage 1 and 2: the `count` rows scoring best in the reduced space (rows ascending),
        and their exact cosines with `query` (dropped rows: -inf)."""
        assert self.basis is not None
        # The two small products by einsum (one thread): as BLAS calls they cost 2-8 ms each
        # when another process holds one of the two cores (its threads wait for each other).
        rough = self._scan(self.reduced, np.einsum("j,ji->i", query, self.basis))
        n = len(rough)
        rows = np.arange(n) if count >= n else np.argpartition(rough, n - count)[n - count :]
        rows.sort()  # gathered in memory order
        scores = np.einsum("ij,j->i", self.rows(rows), query)
        scores[~np.isfinite(rough[rows])] = -np.inf
        return rows, scores

    def score(self, query: np.ndarray) -> np.ndarray:
        """Cosine of every row with `query` (dropped rows: -inf)."""
        return self._scan(self.blocks, query)

    def _scan(self, blocks: list[np.ndarray], query: np.ndarray) -> np.ndarray:
        """Every used row of `blocks` (the vectors, or their stage-1 coordinates) times `query`,
        dropped rows -inf.

        Nothing else of the row's size is touched: right after the product has streamed the
        whole matrix through the caches, every other 100k-long array read costs ~0.5 ms."""
        used = [min(BLOCK, self.size - b * BLOCK) for b in range(len(blocks))]
        parts = [m[:n] @ query for m, n in zip(blocks, used, strict=True)]
        scores = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if self.dead:
            scores[np.asarray(self.dead, dtype=np.int64)] = -np.inf
        return scores

    def at(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The embedding and clip ids of these rows."""
        if len(self.blocks) == 1:
            return self.ids[0][rows], self.clips[0][rows]
        ids, clips = np.empty(len(rows), np.int64), np.empty(len(rows), np.int64)
        for b, mine, slots in _per_block(rows):
            ids[mine], clips[mine] = self.ids[b][slots], self.clips[b][slots]
        return ids, clips


def _per_block(rows: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """For each block `rows` reach into: the block, which of `rows` lie in it, their slots."""
    blocks, slots = np.divmod(rows, BLOCK)
    for b in np.unique(blocks):
        mine = blocks == b
        yield int(b), mine, slots[mine]


_MATRICES: dict[tuple[str, str], _Matrix] = {}
_MATRICES_LOCK = threading.Lock()


def _db_key(session: Session) -> str:
    """Which database a session reads: its file (SQLite) or its server and name (PostgreSQL;
    the URL without its password). Remembered per engine (one engine, one database): asked
    before every search, where right after a matrix product even this costs ~1-3 ms."""
    engine = cast(Engine, session.get_bind())
    key = _DB_KEYS.get(engine)
    if key is None:
        if is_pg(session):
            key = engine.url.render_as_string(hide_password=True)
        else:
            key = str(session.execute(text("PRAGMA database_list")).first()[2])  # type: ignore[index]
        _DB_KEYS[engine] = key
    return key


_DB_KEYS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def _matrix_for(session: Session, model: str) -> _Matrix:
    key = (_db_key(session), model)  # one matrix per database and model
    with _MATRICES_LOCK:
        return _MATRICES.setdefault(key, _Matrix())


def _catch_up(session: Session, model: str, matrix: _Matrix) -> None:
    """Apply the committed changes since the matrix's watermark (all of them the first time).

    Reads on a connection of its own, in one read transaction: only committed rows, one
    snapshot, and no lock a writer (the review screen, the embed step) would wait for (SQLite:
    a DEFERRED transaction under WAL; PostgreSQL: REPEATABLE READ, without the writer lock).

    The watermark is sound because `seq` order is commit order: SQLite has one writer at a
    time, and on PostgreSQL every write transaction of the store holds the store's writer lock
    (`heaters.store.db`), so no transaction with a lower `seq` can commit after a reader has
    seen a higher one. (A rolled-back insert leaves a gap in `seq`, which costs nothing. Claim
    transactions take that lock shared, but only heartbeat claims: they log nothing.)
    """
    pg = is_pg(session)
    bind = cast(Engine, session.get_bind()).execution_options(sqlite_begin="DEFERRED")
    with bind.connect() as conn, conn.begin():  # (PostgreSQL: REPEATABLE READ, heaters.store.db)
        _catch_up_in(conn, model, matrix, pg)


def _top(conn: Any, model: str) -> int:
    """The last change logged for `model` that `conn` (a connection or session) can see.

    Asked before every search, so on the driver's own connection (in the caller's transaction)
    and, on PostgreSQL, as a prepared statement: SQLAlchemy's statement handling and the
    server's planning were most of its cost (`benchmarks/README.md`, "Vectors on PostgreSQL")."""
    bound = conn.connection() if isinstance(conn, Session) else conn
    driver: Any = bound.connection.driver_connection
    if is_pg(conn):
        row = driver.execute(_TOP_SQL.replace("?", "%s"), (model,), prepare=True).fetchone()
    else:
        row = driver.execute(_TOP_SQL, (model,)).fetchone()
    return int(row[0])


_TOP_SQL = "SELECT COALESCE(MAX(seq), 0) FROM embedding_changes WHERE model = ?"


def _catch_up_in(conn: Any, model: str, matrix: _Matrix, pg: bool) -> None:
    top = _top(conn, model)
    if top == matrix.watermark:
        return
    changed: list[int] = []
    if top > matrix.watermark and matrix.blocks:
        changed = [
            int(r[0])
            for r in conn.execute(
                text(
                    "SELECT DISTINCT embedding_id FROM embedding_changes"
                    " WHERE model = :m AND seq > :w"
                ),
                {"m": model, "w": matrix.watermark},
            )
        ]
    incremental = (
        top > matrix.watermark
        and bool(matrix.blocks)
        and len(changed) <= FULL_RELOAD_FRACTION * max(matrix.live, 1)
    )  # else: first use, a database replaced under the same path, or mostly new
    if incremental:
        for emb_id in changed:
            matrix.drop(emb_id)
        for lo in range(0, len(changed), 500):
            part = changed[lo : lo + 500]
            matrix.add(
                conn.execute(
                    text(
                        "SELECT id, clip_id, vector FROM embeddings"
                        f" WHERE model = :m AND id IN :ids AND {_LIVE_ROWS} ORDER BY id"
                    ).bindparams(bindparam("ids", expanding=True)),
                    {"m": model, "ids": [int(i) for i in part]},
                ).all()
            )
    if not incremental or matrix.size - matrix.live > DEAD_FRACTION * matrix.size:
        matrix.clear()  # (many deleted rows: compacted by reading them all again)
        if pg:  # a server-side cursor in binary: bytea as raw bytes (hex text: ~3x slower)
            psycopg_conn = conn.connection.driver_connection
            with psycopg_conn.cursor(name="heaters_vectors", binary=True) as cur:
                cur.execute(
                    "SELECT id, clip_id, vector FROM embeddings"
                    f" WHERE model = %s AND {_LIVE_ROWS} ORDER BY id",
                    (model,),
                )
                while batch := cur.fetchmany(8192):  # never all the blobs at once
                    matrix.add(batch)
        else:
            result = conn.execution_options(yield_per=8192).execute(
                text(
                    "SELECT id, clip_id, vector FROM embeddings"
                    f" WHERE model = :m AND {_LIVE_ROWS} ORDER BY id"
                ),
                {"m": model},
            )
            for batch in result.partitions():  # never all the blobs at once
                matrix.add(batch)
    matrix.watermark = top


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.maximum(np.linalg.norm(matrix, axis=-1, keepdims=True), 1e-12)
    return np.asarray(matrix / norms, dtype=np.float32)


def put(
    session: Session,
    clip_id: int,
    model: str,
    strategy: str,
    vector: np.ndarray,
    tags: list[tuple[str, float]],
) -> int:
    """Store (or replace) one clip's embedding; returns the embedding id."""
    return put_many(session, model, strategy, [(clip_id, vector, tags)])[0]


def put_many(
    session: Session,
    model: str,
    strategy: str,
    items: list[tuple[int, np.ndarray, list[tuple[str, float]]]],
) -> list[int]:
    """Store (or replace) clips' embeddings, L2-normalised. Rows only: the trigger logs them
    for the searchers, nothing else happens inside the caller's write transaction."""
    if not items:
        return []
    matrix = _normalise(np.stack([np.asarray(v, dtype=np.float32) for _c, v, _t in items]))
    have = session.execute(
        text("SELECT dim FROM embeddings WHERE model = :m LIMIT 1"), {"m": model}
    ).first()
    if have is not None and int(have[0]) != matrix.shape[1]:
        raise ValueError(f"model {model} has dim {have[0]} in this library, not {matrix.shape[1]}")
    json_in = "CAST(:tags AS json)" if is_pg(session) else "json(:tags)"
    ids = []
    for (clip_id, _v, tags), vec in zip(items, matrix, strict=True):
        session.execute(
            text("DELETE FROM embeddings WHERE clip_id = :c AND model = :m AND strategy = :s"),
            {"c": clip_id, "m": model, "s": strategy},
        )
        row = session.execute(
            text(
                "INSERT INTO embeddings (clip_id, model, strategy, dim, vector, tags, created_at)"
                f" VALUES (:c, :m, :s, :d, :v, {json_in}, :t) RETURNING id"
            ),
            {
                "c": clip_id,
                "m": model,
                "s": strategy,
                "d": int(vec.shape[0]),
                "v": vec.astype(np.float32).tobytes(),
                "tags": json.dumps([[label, round(float(p), 4)] for label, p in tags]),
                "t": now(),
            },
        ).first()
        assert row is not None
        ids.append(int(row[0]))
    return ids


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
    return None if row is None else np.frombuffer(row[0], dtype=np.float32).copy()


def nearest(
    session: Session,
    query: np.ndarray,
    model: str,
    k: int = 12,
    exclude_clip: int | None = None,
    video_id: int | None = None,
) -> list[Hit]:
    """The k live clips most similar to `query` (cosine), best first; one hit per clip.

    Every vector of the model is scored: exactly, or from TWO_STAGE_MIN vectors on in its
    principal components, the best CANDIDATES of them then exactly (module docstring). The
    matrix holds live clips' vectors as of its watermark; when that is the last change the
    caller's transaction sees, the matrix is exactly the caller's view and the top k are the
    answer, with no query after the product.
    Otherwise (the caller's snapshot is older than the matrix, which another search caught up,
    or it holds uncommitted writes of its own) the candidates are checked in the caller's
    session (embedding still there, clip not merged or split), widening until k survive.
    """
    query = np.asarray(query, dtype=np.float32)
    query = query / max(float(np.sqrt(query @ query)), 1e-12)  # (_normalise, for one vector)
    if video_id is not None:  # a video's clips are few: score them straight from the rows
        rows = session.execute(
            text(
                "SELECT e.clip_id, e.vector FROM embeddings e JOIN clips c ON c.id = e.clip_id"
                " WHERE e.model = :m AND c.source_video_id = :v"
                f" AND c.state NOT IN ({sql_list(SUPERSEDED)})"
            ),
            {"m": model, "v": video_id},
        ).all()
        return _rank(list(rows), query, k, exclude_clip)
    matrix = _matrix_for(session, model)
    with matrix.lock:
        # Asked in the caller's own transaction first (one cheap query): when the last change it
        # can see is the matrix's watermark, the matrix holds exactly what it can see (seq order
        # is commit order, and a clip merged, split or restored is logged as a change of its
        # embeddings). Else catch up for real, and check the candidates in the caller's view.
        seen = _top(session, model)
        if seen != matrix.watermark:
            _catch_up(session, model, matrix)
        same_view = seen == matrix.watermark
        if not matrix.blocks or matrix.live == 0:
            return []
        if matrix.dim != query.shape[0]:
            raise ValueError(
                f"model {model} has dim {matrix.dim} in this library, not {query.shape[0]}"
            )
        # Ranked under the lock: a catch-up by another thread moves rows (a full read).
        # Large libraries in two stages (module docstring): the exact cosines of a shortlist;
        # when the shortlist cannot fill k hits, every row's exact cosine as before.
        shortlist: np.ndarray | None = None
        if matrix.live >= TWO_STAGE_MIN and matrix.size > CANDIDATES:
            if matrix.basis is None or matrix.basis.shape[0] != matrix.dim:
                matrix.make_basis()
            shortlist, scores = matrix.shortlist(query, CANDIDATES)
        else:
            scores = matrix.score(query)
        want = 2 * k + 8  # the query's own clip, other strategies of a clip: widened if short
        while True:
            n = len(scores)
            take = min(want, n)
            top = np.argpartition(scores, n - take)[n - take :] if take < n else np.arange(n)
            at = top if shortlist is None else shortlist[top]
            order = np.lexsort((at, -scores[top]))  # best first; ties by row: stable
            top, at = top[order], at[order]
            keep = np.isfinite(scores[top])
            top, at = top[keep], at[keep]
            ids, clips = matrix.at(at)
            live = None if same_view else _live(session, [int(i) for i in ids if i >= 0])
            hits: list[Hit] = []
            picked: set[int] = set()
            for pos, emb, clip in zip(top.tolist(), ids.tolist(), clips.tolist(), strict=True):
                if emb < 0 or clip == exclude_clip or clip in picked:
                    continue
                if live is None or emb in live:
                    picked.add(clip)
                    hits.append(Hit(clip, float(scores[pos])))
            if len(hits) >= k:
                return hits[:k]
            if take >= n:
                if shortlist is None:
                    return hits
                shortlist, scores = None, matrix.score(query)  # the shortlist ran short: all rows
                continue
            want *= 4


def _live(session: Session, embedding_ids: list[int]) -> set[int]:
    """Which of these embeddings still exist, of clips not merged or split (caller's view)."""
    if not embedding_ids:
        return set()
    marks = ",".join(str(int(i)) for i in embedding_ids)  # ints we just read: safe to inline
    rows = session.execute(
        text(
            "SELECT e.id FROM embeddings e JOIN clips c ON c.id = e.clip_id"
            f" WHERE e.id IN ({marks}) AND c.state NOT IN ({sql_list(SUPERSEDED)})"
        )
    ).all()
    return {int(r[0]) for r in rows}


def _rank(rows: list[Any], query: np.ndarray, k: int, exclude_clip: int | None) -> list[Hit]:
    rows = [r for r in rows if int(r[0]) != exclude_clip]
    if not rows:
        return []
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    scores = matrix @ query
    hits: list[Hit] = []
    seen: set[int] = set()
    for i in np.argsort(-scores, kind="stable"):
        clip = int(rows[i][0])
        if clip not in seen:
            seen.add(clip)
            hits.append(Hit(clip, float(scores[i])))
    return hits[:k]


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
