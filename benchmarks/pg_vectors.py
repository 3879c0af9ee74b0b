"""Vector search on PostgreSQL: pgvector (exact scan, HNSW) against the in-process matrix.

Run by hand: `python benchmarks/pg_vectors.py [--sizes 10000 100000] [--queries 50]
[--ef 40 100 200 400] [--store] [--sqlite]` (needs the `pgserver` wheel: PostgreSQL 16 with pgvector).

The vectors are `benchmarks/search.py`'s (1280-d, clustered, groups of mean 25 and the hard 5).
For each size and set it loads them into a throwaway pgserver cluster (binary COPY into a
`vector(1280)` column) and measures, against numpy's exact top 12:
- "exact": `ORDER BY v <#> q LIMIT 12` with no index (a parallel sequential scan);
- "hnsw ef=N": an HNSW index (vector_ip_ops, m=16, ef_construction=64), build time and, per
  `hnsw.ef_search`, p50 and recall@12;
- with `--store`: the heaters store on that server (rows bulk-inserted; `vectors.nearest`: the
  in-process float32 matrix, caught up from `embedding_changes`), p50, p95, CPU time against
  numpy's, recall and the cold load (the first query: every vector read, and above
  `vectors.TWO_STAGE_MIN` the principal components computed); with `--sqlite` also the heaters
  store on SQLite, filled and queried the same way in the same process, for the comparison of
  the two backends.

All queries of a store run go through one read transaction (`store.tx(write=False)`), one
`vectors.nearest` each; "numpy" is brute force over the same float32 matrix in this process, and
"product" the bare matrix-vector product `x @ q` (the floor of any exact search in memory).
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search import DIM, K, add_clips, make_vectors  # noqa: E402


def copy_binary(ids: np.ndarray, x: np.ndarray) -> bytes:
    """A binary COPY stream of (id bigint, v vector) rows: pgvector's recv format is
    uint16 dim, uint16 unused, dim big-endian float4."""
    n, dim = x.shape
    row = np.dtype(
        [
            ("nf", ">i2"),
            ("l1", ">i4"),
            ("id", ">i8"),
            ("l2", ">i4"),
            ("dim", ">u2"),
            ("unused", ">u2"),
            ("v", ">f4", (dim,)),
        ]
    )
    rows = np.zeros(n, dtype=row)
    rows["nf"], rows["l1"], rows["id"] = 2, 8, ids
    rows["l2"], rows["dim"], rows["v"] = 4 + 4 * dim, dim, x
    return b"PGCOPY\n\xff\r\n\0" + struct.pack(">ii", 0, 0) + rows.tobytes() + struct.pack(">h", -1)


def exact_top(x: np.ndarray, q: int) -> set[int]:
    scores = x @ x[q]
    scores[q] = -np.inf
    top = np.argpartition(-scores, K)[:K]
    return set(top.tolist())


def timed_queries(cur, x: np.ndarray, picks: np.ndarray) -> tuple[float, float]:
    times, recalls = [], []
    for q in picks:
        lit = "[" + ",".join(f"{v:.7g}" for v in x[q]) + "]"
        t0 = time.perf_counter()
        cur.execute(
            "SELECT id FROM bench WHERE id <> %s ORDER BY v <#> %s::vector LIMIT %s",
            (int(q), lit, K),
        )
        got = {int(r[0]) for r in cur.fetchall()}
        times.append(time.perf_counter() - t0)
        recalls.append(len(got & exact_top(x, int(q))) / K)
    return statistics.median(times) * 1000, float(np.mean(recalls))


def bulk_fill(store: Any, x: np.ndarray) -> float:
    """Clips and their embeddings into the store's tables (rows/s). The vectors go in with one
    driver `executemany` (psycopg: pipelined), not `vectors.put_many` (two round trips a row:
    ~50-300 rows/s on this loaded machine, an hour at 100k); the tables' triggers log them as
    always."""
    import time as _t

    started = _t.perf_counter()
    with store.tx() as s:
        add_clips(s, len(x))
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        mark = "%s" if store.engine.dialect.name == "postgresql" else "?"
        for lo in range(0, len(x), 5000):
            cur.executemany(
                "INSERT INTO embeddings (clip_id, model, strategy, dim, vector, tags, created_at)"
                f" VALUES ({mark}, 'bench', 'keyframe_multi_avg', {mark}, {mark}, '[]', 0)",
                [(i + 1, x.shape[1], x[i].tobytes()) for i in range(lo, min(lo + 5000, len(x)))],
            )
        raw.commit()
    finally:
        raw.close()
    rate = len(x) / (_t.perf_counter() - started)
    if store.engine.dialect.name == "postgresql":  # a library at rest, as autovacuum leaves it
        with store.engine.connect() as conn:  # (not racing the queries below)
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    return rate


def store_run(uri: str | None, x: np.ndarray, picks: np.ndarray) -> dict[str, float]:
    """The heaters store on this server (`uri`; None: on SQLite in a temp home):
    `vectors.nearest` over what its tables hold, beside numpy over the same vectors."""
    import psycopg
    from sqlalchemy.engine import make_url

    from heaters.store import vectors
    from heaters.store.store import Store

    if uri is not None:
        name = f"heaters_bench_{len(x)}_{os.getpid()}_{time.monotonic_ns()}"
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        os.environ["HEATERS_DATABASE_URL"] = (
            make_url(uri).set(database=name).render_as_string(hide_password=False)
        )
    else:
        os.environ.pop("HEATERS_DATABASE_URL", None)
    with tempfile.TemporaryDirectory(prefix="heaters-pgbench-") as tmp:
        store = Store.open(Path(tmp))
        assert (store.engine.dialect.name == "postgresql") == (uri is not None)
        rate = bulk_fill(store, x)
        vectors._MATRICES.clear()
        times, cpu, brute, brute_cpu, product, recalls = [], [], [], [], [], []
        with store.tx(write=False) as s:
            t0 = time.perf_counter()
            vectors.nearest(s, x[0], "bench", K, exclude_clip=1)
            cold = time.perf_counter() - t0
            for q in picks:
                t0, c0 = time.perf_counter(), time.process_time()
                hits = vectors.nearest(s, x[q], "bench", K, exclude_clip=int(q) + 1)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                t0, c0 = time.perf_counter(), time.process_time()
                exact = exact_top(x, int(q))  # numpy brute force in memory: the reference
                brute.append(time.perf_counter() - t0)
                brute_cpu.append(time.process_time() - c0)
                t0 = time.perf_counter()
                x @ x[q]
                product.append(time.perf_counter() - t0)
                got = {h.clip_id - 1 for h in hits}
                recalls.append(len(got & exact) / K)
        store.close()
        vectors._MATRICES.clear()  # 512 MB at 100k: not kept for the next run
    ms = 1000.0
    return {
        "insert": rate,
        "p50": statistics.median(times) * ms,
        "p95": float(np.percentile(times, 95)) * ms,
        "np_p50": statistics.median(brute) * ms,
        "product": statistics.median(product) * ms,
        "cpu_ratio": sum(cpu) / max(sum(brute_cpu), 1e-9),
        "recall": float(np.mean(recalls)),
        "cold": cold * ms,
    }


def print_store(label: str, r: dict[str, float]) -> None:
    print(
        f"    store {label}: insert {r['insert']:,.0f}/s p50 {r['p50']:.1f} ms"
        f" p95 {r['p95']:.1f} ms | numpy p50 {r['np_p50']:.1f} ms (product {r['product']:.1f})"
        f" | p50 {r['p50'] / r['np_p50']:.2f}x numpy, CPU {r['cpu_ratio']:.2f}x"
        f" | recall {r['recall']:.3f} | cold {r['cold']:,.0f} ms | load {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def main() -> None:
    import pgserver
    import psycopg

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--members", type=float, nargs="+", default=[25.0, 5.0])
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--ef", type=int, nargs="+", default=[40, 100, 200, 400])
    parser.add_argument("--no-hnsw", action="store_true")
    parser.add_argument("--store", action="store_true", help="also the heaters store on PostgreSQL")
    parser.add_argument("--sqlite", action="store_true", help="also the heaters store on SQLite")
    parser.add_argument("--no-exact", action="store_true", help="skip pgvector's exact scan")
    parser.add_argument(
        "--two-stage-min",
        type=int,
        help="the store's vectors.TWO_STAGE_MIN (two stages from this many vectors on)",
    )
    args = parser.parse_args()
    if args.two_stage_min is not None:
        from heaters.store import vectors

        vectors.TWO_STAGE_MIN = args.two_stage_min
    print(f"load: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="heaters-pgv-") as tmp:
        server = pgserver.get_server(tmp, cleanup_mode="stop")
        uri = server.get_uri()
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        for n in args.sizes:
            for members in args.members:
                x = make_vectors(n, members)
                picks = np.random.default_rng(1).integers(0, n, args.queries)
                line = f"{n:>7} group {members:>3.0f}"
                with psycopg.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
                    cur.execute("DROP TABLE IF EXISTS bench")
                    cur.execute(f"CREATE TABLE bench (id bigint PRIMARY KEY, v vector({DIM}))")
                    t0 = time.perf_counter()
                    with cur.copy("COPY bench (id, v) FROM STDIN (FORMAT BINARY)") as cp:
                        cp.write(copy_binary(np.arange(n), x))
                    cur.execute("ANALYZE bench")
                    line += f" | copy {n / (time.perf_counter() - t0):,.0f}/s"
                    if not args.no_exact:
                        p50, rec = timed_queries(cur, x, picks[: min(len(picks), 20)])
                        line += f" | exact p50 {p50:.1f} ms recall {rec:.3f}"
                    print(line, flush=True)
                    if not args.no_hnsw:
                        cur.execute("SET maintenance_work_mem = '2GB'")
                        t0 = time.perf_counter()
                        cur.execute(
                            "CREATE INDEX ON bench USING hnsw (v vector_ip_ops)"
                            " WITH (m = 16, ef_construction = 64)"
                        )
                        print(f"    hnsw build {time.perf_counter() - t0:.1f} s", flush=True)
                        for ef in args.ef:
                            cur.execute(f"SET hnsw.ef_search = {int(ef)}")
                            p50, rec = timed_queries(cur, x, picks)
                            print(
                                f"    hnsw ef={ef}: p50 {p50:.1f} ms recall {rec:.3f}", flush=True
                            )
                    cur.execute("DROP TABLE bench")
                if args.store:
                    print_store("on PostgreSQL", store_run(uri, x, picks))
                if args.sqlite:
                    print_store("on SQLite", store_run(None, x, picks))
        print(f"load: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
