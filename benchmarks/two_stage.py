"""The matrix's two-stage search against its exact product, per library size: where the
crossover is, and the shortlist's recall@12.

Run by hand: `python benchmarks/two_stage.py [--sizes 10000 20000 40000 100000] [--queries 100]
[--members 25 5] [--fraction 2] [--candidates 4000]`.

The vectors are `benchmarks/search.py`'s (1280-d, clustered, groups of mean 25 and the hard 5),
put straight into `heaters.store.vectors._Matrix` (no database: the store's overhead is
`pg_vectors.py --store --sqlite`'s). Per query: "exact" is the product over every row and the
top 12 (what `nearest` does below `TWO_STAGE_MIN`), "two-stage" the principal-component shortlist
of `--candidates` rows reranked exactly and its top 12 (above it); recall@12 against numpy's
exact answer; "basis" the one-off cost of the principal components and every row's projection.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search import K, make_vectors  # noqa: E402

from heaters.store import vectors  # noqa: E402


def top(scores: np.ndarray, rows: np.ndarray | None, q: int) -> set[int]:
    at = np.arange(len(scores)) if rows is None else rows
    scores = np.where(at == q, -np.inf, scores)
    best = np.argpartition(scores, len(scores) - K)[len(scores) - K :]
    return set(at[best].tolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 20_000, 40_000, 100_000])
    parser.add_argument("--members", type=float, nargs="+", default=[25.0, 5.0])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--fraction", type=int, default=vectors.REDUCED_FRACTION)
    parser.add_argument("--candidates", type=int, default=vectors.CANDIDATES)
    args = parser.parse_args()
    vectors.REDUCED_FRACTION = args.fraction
    print(f"load: {os.getloadavg()}", flush=True)
    for n in args.sizes:
        for members in args.members:
            x = make_vectors(n, members)
            matrix = vectors._Matrix()
            matrix.add([(i + 1, i + 1, x[i].tobytes()) for i in range(n)])
            t0 = time.perf_counter()
            matrix.make_basis()
            basis = time.perf_counter() - t0
            picks = np.random.default_rng(1).integers(0, n, args.queries)
            exact_t, two_t, recalls = [], [], []
            for q in picks:
                t0 = time.perf_counter()
                truth = top(matrix.score(x[q]), None, int(q))
                exact_t.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                rows, scores = matrix.shortlist(x[q], min(args.candidates, n))
                got = top(scores, rows, int(q))
                two_t.append(time.perf_counter() - t0)
                recalls.append(len(got & truth) / K)
            print(
                f"{n:>7} group {members:>3.0f} | exact p50 {statistics.median(exact_t) * 1e3:.2f} ms"
                f" | two-stage p50 {statistics.median(two_t) * 1e3:.2f} ms"
                f" p95 {np.percentile(two_t, 95) * 1e3:.2f} ms"
                f" | recall@12 {np.mean(recalls):.4f} (min {min(recalls):.2f})"
                f" | basis {basis:.1f} s | d {matrix.basis.shape[1] if matrix.basis is not None else 0}"
                f" | load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    print(f"load: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
