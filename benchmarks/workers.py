"""Many workers on one library: SQLite against PostgreSQL, 1, 2 and 4 worker processes (by hand).

    python benchmarks/workers.py [--backends sqlite postgres] [--workers 1 2 4] [--repeat 3]
                                 [--rows 2000] [--skip-pipeline] [--database-url URL]

PostgreSQL is a throwaway `pgserver` cluster (PostgreSQL 16, same machine, Unix socket) unless
`--database-url` names a server (each measurement gets a fresh database on it).

- claims/s: a library of `--rows` clips ready for the embed step; N processes (each its own
  interpreter, store and connections, as N `heaters run` on N hosts) loop claim one row
  (`heaters.store.claims.claim` in the runner's claim transaction) then finish it, until none is
  left. Rate = rows / wall time from the moment all N are ready. No stage runs: this is the
  store's own cost of handing out work, the ceiling of any pipeline on it.
- pipeline: the six real videos of `tests/media/` ingested into a fresh library; N concurrent
  `heaters run --grace 0` processes until they all exit (every clip `pending_review`); then
  every clip approved (review actions appended through the store) and N processes again until
  every approved clip is `embedded`. Wall time of each phase (the slowest process), the
  children's CPU time (user + system), clips per wall second.

Medians over `--repeat` runs; the load average before and after is printed (the machine is
shared: compare rows of one run with each other).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

FOOTAGE = sorted((ROOT / "tests" / "media").glob("*.mp4"))
ENV_URL = "HEATERS_DATABASE_URL"


# --- the databases -------------------------------------------------------------------------


class Postgres:
    """A server to make fresh databases on: the one at `url`, or a pgserver cluster."""

    def __init__(self, url: str | None, async_commit: bool = False) -> None:
        self.async_commit = async_commit
        self._server: Any = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if url is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs: no XDG_RUNTIME_DIR
                import pgserver

                self._tmp = tempfile.TemporaryDirectory(prefix="heaters-pg-")
                self._server = pgserver.get_server(self._tmp.name, cleanup_mode="stop")
                url = str(self._server.get_uri())
        self.url = url

    def fresh(self) -> str:
        import psycopg

        name = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
            if self.async_commit:  # commits not waiting for the WAL flush (SQLite's NORMAL)
                conn.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
        base, _, query = self.url.partition("?")
        return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")

    def close(self) -> None:
        if self._server is not None:
            self._server.cleanup()
        if self._tmp is not None:
            self._tmp.cleanup()


@contextmanager
def library(backend: str, pg: Postgres | None) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh home (and, on PostgreSQL, a fresh database): its folder and the environment."""
    with tempfile.TemporaryDirectory(prefix="heaters-workers-") as tmp:
        env = {k: v for k, v in os.environ.items() if k != ENV_URL}
        if backend == "postgres":
            assert pg is not None
            env[ENV_URL] = pg.fresh()
        yield Path(tmp) / "home", env


def open_store(home: Path, env: dict[str, str]) -> Any:
    os.environ.pop(ENV_URL, None)
    if ENV_URL in env:
        os.environ[ENV_URL] = env[ENV_URL]
    from heaters.store.store import Store

    return Store.open(home)


def claim_tx(store: Any) -> Any:
    """The runner's claim transaction (on PostgreSQL claims run side by side where the store
    supports it), else a plain write transaction."""
    try:
        return store.tx(claim=True)
    except TypeError:
        return store.tx()


# --- claims per second ---------------------------------------------------------------------


def _fill_ready(home: Path, env: dict[str, str], rows: int) -> None:
    store = open_store(home, env)
    with store.tx() as s:
        s.execute(
            text(
                "INSERT INTO source_videos (id, url, state, created_at, updated_at)"
                " VALUES (1, 'bench://claims', 'spliced', 0, 0)"
            )
        )
        s.execute(
            text(
                "INSERT INTO clips (id, source_video_id, start_frame, end_frame, start_time_s,"
                " end_time_s, state, created_at, updated_at)"
                " VALUES (:i, 1, :a, :b, 0, 1, 'keyframed', 0, 0)"
            ),
            [{"i": i + 1, "a": 10 * i, "b": 10 * i + 10} for i in range(rows)],
        )
    store.close()


def _claimer(home: str, env: dict[str, str], ready: Any, go: Any, out: Any) -> None:
    from heaters.domain.steps import step_named
    from heaters.store import claims

    store = open_store(Path(home), env)
    step = step_named("embed")
    worker = f"bench-{os.getpid()}"
    with store.tx(write=False) as s:  # connect and warm up before the clock starts
        s.execute(text("SELECT 1"))
    ready.put(1)
    go.wait()
    done = 0
    cpu0 = time.process_time()
    while True:
        with claim_tx(store) as s:
            ids = claims.claim(s, step, worker, time.time(), 300.0, limit=1)
        if not ids:
            break
        with store.tx() as s:
            for row_id in ids:
                claims.finish(s, step, row_id, worker, time.time())
        done += len(ids)
    out.put((done, time.process_time() - cpu0))
    store.close()


def claims_per_second(
    backend: str, pg: Postgres | None, workers: int, rows: int
) -> dict[str, float]:
    with library(backend, pg) as (home, env):
        _fill_ready(home, env, rows)
        ctx = mp.get_context("spawn")
        ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        procs = [
            ctx.Process(target=_claimer, args=(str(home), env, ready, go, out))
            for _ in range(workers)
        ]
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=300)
        t0 = time.perf_counter()
        go.set()
        results = [out.get(timeout=3600) for _ in procs]
        wall = time.perf_counter() - t0
        for p in procs:
            p.join(60)
        total = sum(r[0] for r in results)
        store = open_store(home, env)
        with store.tx(write=False) as s:
            embedded = s.execute(text("SELECT COUNT(*) FROM clips WHERE state = 'embedded'"))
            finished = int(embedded.scalar_one())
        store.close()
        assert total == rows == finished, (total, rows, finished)  # exactly once, none lost
        return {"rate": rows / wall, "cpu_per_claim_ms": 1000 * sum(r[1] for r in results) / rows}


# --- the pipeline --------------------------------------------------------------------------


def heaters(home: Path, env: dict[str, str], *args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "heaters", *args, "--home", str(home)],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        raise RuntimeError(f"heaters {' '.join(args)}: {proc.stderr.strip()[-500:]}")


def concurrent_runs(home: Path, env: dict[str, str], workers: int) -> tuple[float, float]:
    """N `heaters run --grace 0` at once; (wall until the last exits, their CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "heaters",
                "run",
                "--grace",
                "0",
                "--quiet",
                "--home",
                str(home),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(workers)
    ]
    errors = [p.communicate()[1] for p in procs]
    wall = time.perf_counter() - t0
    bad = [
        e.decode(errors="replace")[-500:]
        for p, e in zip(procs, errors, strict=True)
        if p.returncode
    ]
    if bad:
        raise RuntimeError("heaters run failed: " + bad[0])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _states(home: Path, env: dict[str, str]) -> dict[str, int]:
    store = open_store(home, env)
    with store.tx(write=False) as s:
        rows = s.execute(text("SELECT state, COUNT(*) FROM clips GROUP BY state")).all()
    store.close()
    return {str(r[0]): int(r[1]) for r in rows}


def _approve_all(home: Path, env: dict[str, str]) -> int:
    from heaters.store import review

    store = open_store(home, env)
    cfg = review.ReviewConfig(home=store.home, min_clip_s=0.5)
    with store.tx() as s:
        ids = [
            int(r[0])
            for r in s.execute(text("SELECT id FROM clips WHERE state = 'pending_review'")).all()
        ]
        for clip_id in ids:
            review.append(s, clip_id, "approve", None, cfg, now=time.time() - 60)
    store.close()
    return len(ids)


def pipeline(backend: str, pg: Postgres | None, workers: int) -> dict[str, float]:
    with library(backend, pg) as (home, env):
        for path in FOOTAGE:
            heaters(home, env, "ingest", str(path), "--quiet")
        review_wall, review_cpu = concurrent_runs(home, env, workers)
        states = _states(home, env)
        clips = states.get("pending_review", 0)
        approved = _approve_all(home, env)
        embed_wall, embed_cpu = concurrent_runs(home, env, workers)
        embedded = _states(home, env).get("embedded", 0)
        assert embedded == approved, (embedded, approved, _states(home, env))
        return {
            "clips": clips,
            "review_wall": review_wall,
            "review_cpu": review_cpu,
            "embed_wall": embed_wall,
            "embed_cpu": embed_cpu,
            "embedded": embedded,
        }


# --- the table -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--skip-claims", action="store_true")
    parser.add_argument("--database-url", help="a PostgreSQL server to use (default: pgserver)")
    parser.add_argument(
        "--pg-async-commit",
        action="store_true",
        help="PostgreSQL with synchronous_commit = off (like SQLite's synchronous=NORMAL in WAL:"
        " a power cut may lose the last commits, never corrupt)",
    )
    args = parser.parse_args()
    pg = Postgres(args.database_url, args.pg_async_commit) if "postgres" in args.backends else None
    try:
        print(f"load before: {os.getloadavg()}", flush=True)
        if not args.skip_claims:
            print(
                f"claims ({args.rows} rows, one per claim, claim + finish), median of {args.repeat}"
            )
            for backend in args.backends:
                for n in args.workers:
                    runs = [
                        claims_per_second(backend, pg, n, args.rows) for _ in range(args.repeat)
                    ]
                    rates = [r["rate"] for r in runs]
                    cpu = statistics.median(r["cpu_per_claim_ms"] for r in runs)
                    print(
                        f"  {backend:>8} x{n}: {statistics.median(rates):8.0f} claims/s"
                        f" (runs {', '.join(f'{r:.0f}' for r in rates)}), {cpu:.2f} CPU-ms each"
                        f"  load {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
        if not args.skip_pipeline:
            names = ", ".join(p.name for p in FOOTAGE)
            print(f"pipeline on {names}, median of {args.repeat}")
            for backend in args.backends:
                for n in args.workers:
                    runs = [pipeline(backend, pg, n) for _ in range(args.repeat)]
                    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                    print(
                        f"  {backend:>8} x{n}: to pending_review {med['review_wall']:.1f} s"
                        f" ({med['review_cpu']:.1f} CPU-s, {med['clips']:.0f} clips,"
                        f" {med['clips'] / med['review_wall']:.2f} clips/s);"
                        f" to embedded {med['embed_wall']:.1f} s ({med['embed_cpu']:.1f} CPU-s,"
                        f" {med['embedded'] / med['embed_wall']:.2f} clips/s)"
                        f"  load {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
        print(f"load after: {os.getloadavg()}", flush=True)
    finally:
        if pg is not None:
            pg.close()


if __name__ == "__main__":
    main()
