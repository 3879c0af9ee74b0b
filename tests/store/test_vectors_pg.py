"""Vector search on a real PostgreSQL (the `pgserver` wheel: PostgreSQL 16 with pgvector): exact,
caught up from the change log across "machines" (stores with engines of their own), never in the
way of a review write, and never mixing two databases of one server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from heaters.store import vectors
from heaters.store.store import Store
from tests.store.vectorlib import exact, ids, library


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


def _library(root: Path, n: int, seed: int = 0) -> tuple[Store, np.ndarray]:
    store, x = library(root, n, seed)
    assert store.engine.dialect.name == "postgresql"  # not the home's SQLite by mistake
    return store, x


def test_search_is_exact_on_postgres(tmp_path: Path, pg_url: str) -> None:
    store, x = _library(tmp_path, 1500)
    with store.tx(write=False) as s:
        for q in range(0, 1500, 101):
            hits = vectors.nearest(s, x[q], "m", 12, exclude_clip=q + 1)
            assert [h.clip_id for h in hits] == exact(x, q, 12)
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
    assert ids(store, x[0], exclude=1) == exact(x, 0, 12)
    with other.tx() as s:  # clip 300 now holds clip 1's own vector: the best match of clip 1
        vectors.put(s, 300, "m", "avg", x[0], [])
    assert ids(store, x[0], 1, exclude=1) == [300]
    with other.tx() as s:
        s.execute(text("DELETE FROM embeddings WHERE clip_id = 300"))
    assert ids(store, x[0], exclude=1) == exact(x, 0, 12, gone=frozenset({300}))
    matrix = next(m for (where, _m), m in vectors._MATRICES.items() if _dbname(pg_url) in where)
    assert matrix.live == 299 and matrix.size == 301  # caught up row by row, not reloaded
    other.close()
    store.close()


def test_a_search_does_not_wait_for_an_open_write_and_sees_it_once_committed(
    tmp_path: Path, pg_url: str
) -> None:
    store, x = _library(tmp_path, 200)
    assert ids(store, x[0], exclude=1) == exact(x, 0, 12)
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
        assert ids(store, x[0], exclude=1) == exact(x, 0, 12)  # not yet, and no waiting
    finally:
        commit.set()
        thread.join(60)
    assert done.is_set()
    assert ids(store, x[0], 1, exclude=1) == [150]
    store.close()


def test_superseded_and_deleted_never_come_back(tmp_path: Path, pg_url: str) -> None:
    store, x = _library(tmp_path, 200)
    best = ids(store, x[0], 3, exclude=1)
    with store.tx() as s:
        s.execute(text("UPDATE clips SET state = 'merged' WHERE id = :i"), {"i": best[0]})
        s.execute(text("DELETE FROM embeddings WHERE clip_id = :i"), {"i": best[1]})
        in_tx = [h.clip_id for h in vectors.nearest(s, x[0], "m", 12, exclude_clip=1)]
    with pytest.raises(RuntimeError), store.tx() as s:
        vectors.put(s, 50, "m", "avg", x[0], [])
        raise RuntimeError("rolled back")
    again = ids(store, x[0], exclude=1)
    for got in (in_tx, again):
        assert best[0] not in got and best[1] not in got and 50 not in got[:1] and len(got) == 12
    assert again == exact(x, 0, 12, gone=frozenset({best[0], best[1]}))
    store.close()


def test_two_databases_on_one_server_keep_their_own_vectors(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests import pgtest

    first, x = _library(tmp_path / "a", 100, seed=1)
    assert ids(first, x[0], exclude=1) == exact(x, 0, 12)
    name, url = pgtest.fresh_database()
    try:
        monkeypatch.setenv("HEATERS_DATABASE_URL", url)
        second, y = _library(tmp_path / "b", 100, seed=2)
        assert ids(second, y[0], exclude=1) == exact(y, 0, 12)
        assert ids(first, x[0], exclude=1) == exact(x, 0, 12)
        second.close()
    finally:
        pgtest.drop_database(name)
    first.close()


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
    assert ids(store, x[0], exclude=1) == exact(x, 0, 12)  # ...searches exactly all the same
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
