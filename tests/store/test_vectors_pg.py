"""Vector search on a real PostgreSQL (the `pgserver` wheel: PostgreSQL 16 with pgvector): exact,
caught up from the change log across "machines" (stores with engines of their own), never in the
way of a review write, and never mixing two databases of one server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event, text

from heaters.domain.sources import Source
from heaters.store import review, vectors, videos
from heaters.store.store import Store
from heaters.store.tables import Clip


@pytest.fixture
def pg_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database on the tests' real PostgreSQL (tests/pgtest.py), named to every store
    the test opens; skipped only when no PostgreSQL can be started here."""
    from tests import pgtest

    try:
        pgtest.server_url()
    except Exception as exc:  # noqa: BLE001 - no pgserver wheel, binaries that cannot run here
        pytest.skip(f"no PostgreSQL for the tests here: {exc}")
    name, url = pgtest.fresh_database()
    monkeypatch.setenv("HEATERS_DATABASE_URL", url)
    try:
        yield url
    finally:
        pgtest.drop_database(name)


def _dbname(url: str) -> str:
    return url.split("?")[0].rsplit("/", 1)[1]


def _open(root: Path) -> Store:
    store = Store.open(root)
    assert store.engine.dialect.name == "postgresql"  # not the home's SQLite by mistake
    return store


def _library(root: Path, n: int, seed: int = 0, dim: int = 64) -> tuple[Store, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.abs(rng.normal(size=(max(1, n // 20), dim))).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n)] + 0.5 * np.abs(rng.normal(size=(n, dim)))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    store = _open(root)
    with store.tx() as s:
        s.execute(
            text(
                "INSERT INTO source_videos (id, url, state, created_at, updated_at)"
                " VALUES (1, 'u', 'spliced', 0, 0)"
            )
        )
        s.execute(
            text(
                "INSERT INTO clips (id, source_video_id, start_frame, end_frame, start_time_s,"
                " end_time_s, state, created_at, updated_at)"
                " VALUES (:i, 1, :a, :b, 0, 1, 'embedded', 0, 0)"
            ),
            [{"i": i + 1, "a": 10 * i, "b": 10 * i + 10} for i in range(n)],
        )
        vectors.put_many(s, "m", "avg", [(i + 1, x[i], [("cat", 0.9)]) for i in range(n)])
    return store, x


def _exact(x: np.ndarray, q: int, k: int, gone: frozenset[int] = frozenset()) -> list[int]:
    scores = x @ x[q]
    scores[q] = -np.inf
    for clip in gone:
        scores[clip - 1] = -np.inf
    return (np.argsort(-scores, kind="stable")[:k] + 1).tolist()


def _ids(store: Store, q: np.ndarray, k: int = 12, exclude: int | None = None) -> list[int]:
    with store.tx(write=False) as s:
        return [h.clip_id for h in vectors.nearest(s, q, "m", k, exclude_clip=exclude)]


def test_search_is_exact_on_postgres(tmp_path: Path, pg_url: str) -> None:
    store, x = _library(tmp_path, 1500)
    with store.tx(write=False) as s:
        for q in range(0, 1500, 101):
            hits = vectors.nearest(s, x[q], "m", 12, exclude_clip=q + 1)
            assert [h.clip_id for h in hits] == _exact(x, q, 12)
            assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))
        stored = vectors.vector_of(s, 7, "m")
        tags = s.execute(text("SELECT label FROM embedding_tags WHERE clip_id = 7")).all()
    assert stored is not None and np.allclose(stored, x[6], atol=1e-6)
    assert [t[0] for t in tags] == ["cat"]  # the tags went in as JSON: text search sees them
    store.close()


def test_another_machines_writes_reach_a_loaded_matrix(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inserts, replacements and deletes committed through another engine (another host's
    `heaters run`) reach a matrix already loaded, incrementally."""
    monkeypatch.setattr(vectors, "BLOCK", 32)  # many blocks, appends across their edges
    store, x = _library(tmp_path / "a", 300)
    other = _open(tmp_path / "b")  # its own home folder, the same database
    assert _ids(store, x[0], exclude=1) == _exact(x, 0, 12)
    with other.tx() as s:  # clip 300 now holds clip 1's own vector: the best match of clip 1
        vectors.put(s, 300, "m", "avg", x[0], [])
    assert _ids(store, x[0], 1, exclude=1) == [300]
    with other.tx() as s:
        s.execute(text("DELETE FROM embeddings WHERE clip_id = 300"))
    assert _ids(store, x[0], exclude=1) == _exact(x, 0, 12, gone=frozenset({300}))
    matrix = next(m for (where, _m), m in vectors._MATRICES.items() if _dbname(pg_url) in where)
    assert matrix.live == 299 and matrix.size == 301  # caught up row by row, not reloaded
    other.close()
    store.close()


def test_a_search_does_not_wait_for_an_open_write_and_sees_it_once_committed(
    tmp_path: Path, pg_url: str
) -> None:
    store, x = _library(tmp_path, 200)
    assert _ids(store, x[0], exclude=1) == _exact(x, 0, 12)
    written, commit, done = threading.Event(), threading.Event(), threading.Event()

    def writer() -> None:
        with store.tx() as s:  # holds the store's writer lock until `commit`
            vectors.put(s, 150, "m", "avg", x[0], [])
            written.set()
            commit.wait(60)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert written.wait(60)
        assert _ids(store, x[0], exclude=1) == _exact(x, 0, 12)  # not yet, and no waiting
    finally:
        commit.set()
        thread.join(60)
    assert done.is_set()
    assert _ids(store, x[0], 1, exclude=1) == [150]
    store.close()


def test_superseded_and_deleted_never_come_back(tmp_path: Path, pg_url: str) -> None:
    store, x = _library(tmp_path, 200)
    best = _ids(store, x[0], 3, exclude=1)
    with store.tx() as s:
        s.execute(text("UPDATE clips SET state = 'merged' WHERE id = :i"), {"i": best[0]})
        s.execute(text("DELETE FROM embeddings WHERE clip_id = :i"), {"i": best[1]})
        in_tx = [h.clip_id for h in vectors.nearest(s, x[0], "m", 12, exclude_clip=1)]
    with pytest.raises(RuntimeError), store.tx() as s:
        vectors.put(s, 50, "m", "avg", x[0], [])
        raise RuntimeError("rolled back")
    again = _ids(store, x[0], exclude=1)
    for got in (in_tx, again):
        assert best[0] not in got and best[1] not in got and 50 not in got[:1] and len(got) == 12
    assert again == _exact(x, 0, 12, gone=frozenset({best[0], best[1]}))
    store.close()


def test_two_databases_on_one_server_keep_their_own_vectors(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests import pgtest

    first, x = _library(tmp_path / "a", 100, seed=1)
    assert _ids(first, x[0], exclude=1) == _exact(x, 0, 12)
    name, url = pgtest.fresh_database()
    try:
        monkeypatch.setenv("HEATERS_DATABASE_URL", url)
        second, y = _library(tmp_path / "b", 100, seed=2)
        assert _ids(second, y[0], exclude=1) == _exact(y, 0, 12)
        assert _ids(first, x[0], exclude=1) == _exact(x, 0, 12)
        second.close()
    finally:
        pgtest.drop_database(name)
    first.close()


def _review_store(root: Path, n_clips: int) -> tuple[Store, review.ReviewConfig]:
    store = _open(root)
    with store.tx() as s:
        video, _ = videos.register(s, Source("url", "https://example.com/v"))
        video.state, video.fps = "spliced", 30.0
        s.add(video)
        for i in range(n_clips):
            s.add(Clip(source_video_id=video.id or 0, start_frame=60 * i,
                       end_frame=60 * i + 60, start_time_s=2.0 * i, end_time_s=2.0 * i + 2,
                       state="pending_review"))  # fmt: skip
    return store, review.ReviewConfig(home=store.home, min_clip_s=0.5)


def test_a_review_action_never_waits_for_index_maintenance(tmp_path: Path, pg_url: str) -> None:
    """As on SQLite: the embed step keeps writing vectors and a search is held half-way through
    its catch-up; review actions still complete, and the embed transactions write rows only (no
    index to maintain inside the store's writer lock)."""
    store, cfg = _review_store(tmp_path, 400)
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

    searcher_store = _open(tmp_path)

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


# --- heaters doctor on PostgreSQL ---------------------------------------------------------------

PG15 = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture
def pg15_without_pgvector() -> Iterator[str]:
    """The system's PostgreSQL 15 (Debian's, no pgvector package), as user postgres (initdb
    refuses root), on a Unix socket in a temp folder."""
    import shutil
    import subprocess
    import tempfile

    if not (PG15 / "initdb").exists() or shutil.which("runuser") is None:
        pytest.skip("no system PostgreSQL 15 here")
    folder = Path(tempfile.mkdtemp(prefix="heaters-pg15-", dir="/tmp"))
    shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", "5433"

    def as_postgres(*args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True)

    try:
        as_postgres(str(PG15 / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
        as_postgres(str(PG15 / "pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log"),
                    "-o", f"-k {folder} -p {port} -c listen_addresses=''", "start")  # fmt: skip
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"the system PostgreSQL 15 cannot start here: {exc.stderr[-200:]!r}")
    try:
        yield f"postgresql://postgres@/postgres?host={folder}&port={port}"
    finally:
        as_postgres(str(PG15 / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def _doctor_line(home: Path) -> str:
    from heaters.doctor import run_checks

    lines = [c for c in run_checks(home) if c.name == "PostgreSQL vectors"]
    assert len(lines) == 1 and lines[0].ok
    return lines[0].detail


def test_doctor_says_when_postgres_has_no_vector_extension_and_that_search_still_works(
    tmp_path: Path, pg15_without_pgvector: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEATERS_DATABASE_URL", pg15_without_pgvector)
    store, x = _library(tmp_path, 300)  # a library on a server without pgvector...
    assert _ids(store, x[0], exclude=1) == _exact(x, 0, 12)  # ...searches exactly all the same
    store.close()
    detail = _doctor_line(tmp_path)
    assert detail.startswith("PostgreSQL 15.") and "has no vector extension" in detail
    assert "exactly in the searching process" in detail and "\n" not in detail


def test_doctor_names_the_vector_extension_where_the_server_has_it(
    tmp_path: Path, pg_url: str
) -> None:
    detail = _doctor_line(tmp_path)
    assert "vector extension" in detail and "available but not used" in detail


def test_doctor_says_nothing_of_postgres_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HEATERS_DATABASE_URL", raising=False)
    from heaters.doctor import run_checks

    assert not [c for c in run_checks(tmp_path) if c.name == "PostgreSQL vectors"]
