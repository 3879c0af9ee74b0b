"""`similar` latency and recall at 10k and 100k stored vectors, vs numpy brute force in memory.

Run by hand: `python benchmarks/search.py [--sizes 10000 100000] [--queries 50]`.

The vectors are 1280-d (EfficientNet-Lite0's width), non-negative and clustered like real pooled
CNN features (per-clip noise), L2-normalised. They go through the real store:
`heaters.store.vectors.put_many` (rows in `embeddings`, logged by trigger) and queries through
`heaters.store.vectors.nearest` (exact scan of the process's float32 matrix, caught up from the
change log first; the top k straight from it when it is the search transaction's view). The
reference is numpy brute force over the same float32 matrix held in memory; recall@12 is against
that exact answer. "cold" is the first query
of a process (loads every vector); "catch-up" a query right after 64 more vectors were committed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text

from heaters.store import vectors
from heaters.store.store import Store

DIM = 1280
K = 12


def make_vectors(n: int, members: float, seed: int = 0) -> np.ndarray:
    """Clustered like a clip library: groups of similar shots (cluster sizes ~ geometric, mean
    `members`), each clip its centre plus its own noise."""
    rng = np.random.default_rng(seed)
    n_centres = max(1, round(n / members))
    centres = np.abs(rng.normal(size=(n_centres, DIM))).astype(np.float32)
    weights = rng.exponential(size=n_centres)
    x = centres[rng.choice(n_centres, size=n, p=weights / weights.sum())]
    x += 0.6 * np.abs(rng.normal(size=(n, DIM))).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def add_clips(session: Any, n: int) -> None:
    """Video 1 and its clips 1..n, `embedded`: the rows the benchmark's vectors belong to."""
    session.execute(
        text(
            "INSERT INTO source_videos (id, url, state, created_at, updated_at)"
            " VALUES (1, 'bench://', 'spliced', 0, 0)"
        )
    )
    session.execute(
        text(
            "INSERT INTO clips (id, source_video_id, start_frame, end_frame, start_time_s,"
            " end_time_s, state, created_at, updated_at)"
            " VALUES (:i, 1, :a, :b, 0, 1, 'embedded', 0, 0)"
        ),
        [{"i": i + 1, "a": i * 10, "b": i * 10 + 10} for i in range(n)],
    )


def fill(store: Store, x: np.ndarray) -> float:
    """Insert clips + embeddings through the store's own write path; returns rows/s."""
    started = time.perf_counter()
    with store.tx() as s:
        add_clips(s, len(x))
        for lo in range(0, len(x), 500):  # the embed stage writes in batches too
            batch = [(i + 1, x[i], []) for i in range(lo, min(lo + 500, len(x)))]
            vectors.put_many(s, "bench", "keyframe_multi_avg", batch)
    return len(x) / (time.perf_counter() - started)


def measure(store: Store, x: np.ndarray, queries: int) -> dict[str, float]:
    rng = np.random.default_rng(1)
    picks = rng.integers(0, len(x), queries)
    ours, brute, ours_cpu, brute_cpu, recalls = [], [], [], [], []
    with store.tx(write=False) as s:
        t0 = time.perf_counter()
        vectors.nearest(s, x[0], "bench", K, exclude_clip=1)
        cold = time.perf_counter() - t0
        for q in picks:
            qv = x[q]
            t0, c0 = time.perf_counter(), time.process_time()
            hits = vectors.nearest(s, qv, "bench", K, exclude_clip=int(q) + 1)
            ours.append(time.perf_counter() - t0)
            ours_cpu.append(time.process_time() - c0)
            t0, c0 = time.perf_counter(), time.process_time()
            scores = x @ qv
            scores[q] = -np.inf
            top = np.argpartition(-scores, K)[:K]
            exact = set((top[np.argsort(-scores[top])] + 1).tolist())
            brute.append(time.perf_counter() - t0)
            brute_cpu.append(time.process_time() - c0)
            recalls.append(len(exact & {h.clip_id for h in hits}) / K)
    # 64 more vectors (one embed batch), then a query: the catch-up reads only those
    extra = make_vectors(64, 5.0, seed=2)
    with store.tx() as s:
        n = len(x)
        s.execute(
            text(
                "INSERT INTO clips (id, source_video_id, start_frame, end_frame, start_time_s,"
                " end_time_s, state, created_at, updated_at)"
                " VALUES (:i, 1, :a, :b, 0, 1, 'embedded', 0, 0)"
            ),
            [{"i": n + i + 1, "a": (n + i) * 10, "b": (n + i) * 10 + 10} for i in range(64)],
        )
        vectors.put_many(
            s, "bench", "keyframe_multi_avg", [(n + i + 1, extra[i], []) for i in range(64)]
        )
    with store.tx(write=False) as s:
        t0 = time.perf_counter()
        hits = vectors.nearest(s, extra[0], "bench", K)
        catch_up = time.perf_counter() - t0
        assert hits[0].clip_id == n + 1
    ms = 1000.0
    return {
        "p50": statistics.median(ours) * ms,
        "p95": float(np.percentile(ours, 95)) * ms,
        "np_p50": statistics.median(brute) * ms,
        "cpu_ratio": sum(ours_cpu) / max(sum(brute_cpu), 1e-9),
        "recall": float(np.mean(recalls)),
        "cold": cold * ms,
        "catch_up": catch_up * ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument(
        "--members",
        type=float,
        nargs="+",
        default=[25.0, 5.0],
        help="mean clips per group of similar clips (5: a hard case of near-tied neighbours)",
    )
    args = parser.parse_args()
    print(f"{'vectors':>8} {'group':>6} {'insert/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'numpy p50':>9} "
          f"{'p50 ratio':>9} {'CPU ratio':>9} {'recall@12':>9} {'cold ms':>8} {'catch-up ms':>11}")  # fmt: skip
    for n in args.sizes:
        for members in args.members:
            with tempfile.TemporaryDirectory(prefix="heaters-bench-") as tmp:
                store = Store.open(Path(tmp))
                x = make_vectors(n, members)
                rate = fill(store, x)
                r = measure(store, x, args.queries)
                store.close()
            print(
                f"{n:>8} {members:>6.0f} {rate:>9.0f} {r['p50']:>7.1f} {r['p95']:>7.1f} {r['np_p50']:>9.1f} "
                f"{r['p50'] / r['np_p50']:>8.2f}x {r['cpu_ratio']:>8.2f}x {r['recall']:>9.3f} "
                f"{r['cold']:>8.0f} {r['catch_up']:>11.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
