"""Vector search on a real store: exact order, caught up from the change log, never in the way
of a review write."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event, text

from heaters.store import review, vectors
from heaters.store.store import Store
from tests.store.vectorlib import exact, ids, library, more_clips, review_store


def test_search_is_exact_and_never_returns_the_query(tmp_path: Path, backend: str) -> None:
    store, x = library(tmp_path, 2000)
    with store.tx(write=False) as s:
        for q in range(0, 2000, 97):
            hits = vectors.nearest(s, x[q], "m", 12, exclude_clip=q + 1)
            assert [h.clip_id for h in hits] == exact(x, q, 12)
            assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))


def test_a_search_after_a_write_sees_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """Inserts, replacements and deletes committed by anyone reach a matrix already loaded."""
    monkeypatch.setattr(vectors, "BLOCK", 32)  # many blocks, appends across their edges
    store, x = library(tmp_path, 300)
    other = Store.open(tmp_path)  # another process's connections to the same home
    assert ids(store, x[0], exclude=1) == exact(x, 0, 12)
    with other.tx() as s:  # clip 300 now holds clip 1's own vector: the best match of clip 1
        vectors.put(s, 300, "m", "avg", x[0], [])
    assert ids(store, x[0], 1, exclude=1) == [300]
    with other.tx() as s:
        s.execute(text("DELETE FROM embeddings WHERE clip_id = 300"))
    y = x.copy()
    y[299] = -1.0  # clip 300 has no vector any more: never first
    assert ids(store, x[0], exclude=1) == exact(y, 0, 12, gone={300})
    with other.tx() as s:  # a new clip, a new vector
        more_clips(s, 301, 1)
        vectors.put(s, 301, "m", "avg", x[5] + 1e-4, [])
    assert ids(store, x[5], 2, exclude=6) == [301, *exact(x, 5, 1)]
    with store.tx(write=False) as s:
        top = s.execute(text("SELECT MAX(seq) FROM embedding_changes")).scalar_one()
        path = vectors._db_key(s)
    assert vectors._MATRICES[(path, "m")].watermark == top


def test_uncommitted_writes_do_not_enter_the_matrix(tmp_path: Path, backend: str) -> None:
    store, x = library(tmp_path, 100)
    with pytest.raises(RuntimeError), store.tx() as s:
        vectors.put(s, 50, "m", "avg", x[0], [])
        raise RuntimeError("rolled back")
    assert ids(store, x[0], exclude=1) == exact(x, 0, 12)  # clip 50 keeps its own vector


def test_superseded_and_deleted_never_come_back(tmp_path: Path, backend: str) -> None:
    store, x = library(tmp_path, 200)
    best = ids(store, x[0], 3, exclude=1)
    with store.tx() as s:
        s.execute(text("UPDATE clips SET state = 'merged' WHERE id = :i"), {"i": best[0]})
        s.execute(text("DELETE FROM embeddings WHERE clip_id = :i"), {"i": best[1]})
        in_tx = [h.clip_id for h in vectors.nearest(s, x[0], "m", 12, exclude_clip=1)]
    again = ids(store, x[0], exclude=1)
    for got in (in_tx, again):
        assert best[0] not in got and best[1] not in got and len(got) == 12
    assert again == exact(x, 0, 12, gone={best[0], best[1]})


def test_one_hit_per_clip(tmp_path: Path, backend: str) -> None:
    store, x = library(tmp_path, 50)
    with store.tx() as s:
        vectors.put(s, 2, "m", "other_strategy", x[0], [])
    with store.tx(write=False) as s:
        hits = [h.clip_id for h in vectors.nearest(s, x[0], "m", 50, exclude_clip=1)]
    assert hits[0] == 2 and len(hits) == len(set(hits)) == 49


def test_a_review_action_never_waits_for_index_maintenance(tmp_path: Path, backend: str) -> None:
    """The embed step keeps writing vectors and a search is half-way through catching up (held
    there): review actions still complete, and the embed transactions write rows, nothing else
    (on PostgreSQL: no index to maintain inside the store's writer lock)."""
    store, cfg = review_store(tmp_path, 400)
    rng = np.random.default_rng(0)
    writing, stop = threading.Event(), threading.Event()
    statements: list[str] = []
    writer_thread: list[int] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def _seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() in writer_thread:
            statements.append(" ".join(statement.split()).upper())

    def embed_step() -> None:
        writer_thread.append(threading.get_ident())
        clip = 0
        while not stop.is_set() and clip < 400:
            batch = [(clip + i + 1, rng.random(1280).astype(np.float32), []) for i in range(40)]
            with store.tx() as s:  # like the runner: one write transaction per batch
                vectors.put_many(s, "m", "keyframe_multi_avg", batch)  # type: ignore[arg-type]
            clip += 40
            writing.set()

    catching_up, release = threading.Event(), threading.Event()
    add = vectors._Matrix.add

    def slow_add(self: vectors._Matrix, rows: list[tuple[int, int, bytes]]) -> None:
        catching_up.set()
        release.wait(60)
        add(self, rows)

    searcher_store = Store.open(tmp_path)

    def search() -> None:
        with searcher_store.tx(write=False) as s:
            vectors.nearest(s, np.ones(1280, dtype=np.float32), "m", 12)

    writer = threading.Thread(target=embed_step)
    writer.start()
    assert writing.wait(60)
    vectors._Matrix.add = slow_add  # type: ignore[method-assign]
    try:
        searcher = threading.Thread(target=search)
        searcher.start()
        assert catching_up.wait(60)
        for clip_id in (1, 2, 3):  # each in its own write transaction, as the review screen does
            with store.tx() as s:
                review.append(s, clip_id, "approve", None, cfg, now=100.0)
        assert searcher.is_alive()  # the catch-up is still held: the actions did not wait for it
        stop.set()
    finally:
        release.set()
        vectors._Matrix.add = add  # type: ignore[method-assign]
    searcher.join(60)
    writer.join(60)
    assert not searcher.is_alive() and not writer.is_alive()
    with store.tx(write=False) as s:
        assert [e.clip_id for e in review.pending_events(s)] == [1, 2, 3]
    data = [st for st in statements if not st.startswith(("SELECT PG_", "SET ", "BEGIN"))]
    touched = {st.split()[0] + " " + st.split()[2] for st in data}
    assert touched <= {"SELECT FROM", "DELETE EMBEDDINGS", "INSERT EMBEDDINGS"}, touched
    searcher_store.close()
    store.close()


def test_many_deletes_compact_and_stay_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vectors, "BLOCK", 50)
    store, x = library(tmp_path, 400)
    assert ids(store, x[0], exclude=1) == exact(x, 0, 12)
    gone = set(range(2, 400, 2))  # half the clips lose their vector
    with store.tx() as s:
        s.execute(text(f"DELETE FROM embeddings WHERE clip_id IN ({','.join(map(str, gone))})"))
    assert ids(store, x[0], exclude=1) == exact(x, 0, 12, gone=gone)
    with store.tx(write=False) as s:
        path = str(s.execute(text("PRAGMA database_list")).first()[2])  # type: ignore[index]
    matrix = vectors._MATRICES[(path, "m")]
    assert matrix.size == matrix.live == 400 - len(gone)  # read again without the dead rows


def _no_live_query(*_args: Any) -> set[int]:
    raise AssertionError("a search whose matrix is the caller's view queried its candidates")


def test_a_clip_superseded_after_the_matrix_loaded_leaves_it_and_an_undo_brings_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """Merged, split and restored clips reach a loaded matrix through the change log: the
    search answers from the matrix alone (no query of its candidates after the product)."""
    store, x = library(tmp_path, 200)
    other = Store.open(tmp_path)  # another process's connections to the same home
    best = ids(store, x[0], 3, exclude=1)
    monkeypatch.setattr(vectors, "_live", _no_live_query)
    with other.tx() as s:
        s.execute(text("UPDATE clips SET state = 'merged' WHERE id = :i"), {"i": best[0]})
        s.execute(text("UPDATE clips SET state = 'split' WHERE id = :i"), {"i": best[1]})
    assert ids(store, x[0], exclude=1) == exact(x, 0, 12, gone={best[0], best[1]})
    logged = "SELECT COUNT(*) FROM embedding_changes"
    with other.tx() as s:  # not a supersession (nor split to merged): nothing to log
        before = s.execute(text(logged)).scalar_one()
        s.execute(text("UPDATE clips SET state = 'review_approved' WHERE id = :i"), {"i": best[2]})
        s.execute(text("UPDATE clips SET state = 'merged' WHERE id = :i"), {"i": best[1]})
        assert s.execute(text(logged)).scalar_one() == before
    with other.tx() as s:
        s.execute(text("UPDATE clips SET state = 'split' WHERE id = :i"), {"i": best[1]})
    with other.tx() as s:  # an undo of the merge
        s.execute(text("UPDATE clips SET state = 'embedded' WHERE id = :i"), {"i": best[0]})
    assert ids(store, x[0], exclude=1) == exact(x, 0, 12, gone={best[1]})
    with store.tx(write=False) as s:
        matrix = vectors._MATRICES[(vectors._db_key(s), "m")]
    assert matrix.live == 199  # caught up row by row: the split clip's vector is out
    other.close()
    store.close()


def test_a_matrix_loaded_after_clips_were_superseded_never_holds_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    store, x = library(tmp_path, 200)
    best = ids(store, x[0], 2, exclude=1)
    with store.tx() as s:
        s.execute(text("UPDATE clips SET state = 'merged' WHERE id = :i"), {"i": best[0]})
    vectors._MATRICES.clear()  # a new process: its first search reads every vector
    monkeypatch.setattr(vectors, "_live", _no_live_query)
    assert ids(store, x[0], exclude=1) == exact(x, 0, 12, gone={best[0]})
    with store.tx(write=False) as s:
        assert vectors._MATRICES[(vectors._db_key(s), "m")].live == 199
    store.close()


def test_a_search_in_an_older_snapshot_returns_nothing_it_cannot_see(
    tmp_path: Path, backend: str
) -> None:
    """Another search caught the shared matrix up past a reader's snapshot: the reader still
    gets no clip that its snapshot does not hold (the candidates are checked in its view)."""
    store, x = library(tmp_path, 200)
    with store.tx(write=False) as old:
        before = [h.clip_id for h in vectors.nearest(old, x[0], "m", 12, exclude_clip=1)]
        assert before == exact(x, 0, 12)
        with store.tx() as s:  # committed after `old` began: a new clip with clip 1's vector
            more_clips(s, 201, 1)
            vectors.put(s, 201, "m", "avg", x[0], [])
        assert ids(store, x[0], 1, exclude=1) == [201]  # a newer search moves the matrix on
        again = [h.clip_id for h in vectors.nearest(old, x[0], "m", 12, exclude_clip=1)]
        assert again == before  # clip 201 does not exist in this snapshot
    store.close()
