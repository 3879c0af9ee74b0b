"""The dispatcher: one generic loop over the step table (DESIGN.md §8).

Each pass: take back expired claims, commit review actions past their grace period, then for
every step in table order claim due rows and hand them to the step's executor until none is due.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from heaters.domain.sources import one_line
from heaters.domain.steps import STEPS, Step
from heaters.errors import DiskFull, storage_advice, storage_problem
from heaters.runner.context import RunContext
from heaters.runner.executors import EXECUTORS
from heaters.store import claims


@dataclass
class RunReport:
    passes: int = 0
    claimed: Counter[str] = field(default_factory=Counter)
    committed: int = 0
    reclaimed: int = 0

    def merge(self, other: RunReport) -> None:
        self.passes += other.passes
        self.claimed.update(other.claimed)
        self.committed += other.committed
        self.reclaimed += other.reclaimed


def commit_reviews(ctx: RunContext) -> int:
    """First step of every pass: apply review actions older than the grace period."""
    from heaters.runner.review_commit import commit_due

    return commit_due(ctx)


def run_pass(ctx: RunContext) -> RunReport:
    report = RunReport(passes=1)
    with ctx.store.tx() as session:
        report.reclaimed = claims.reclaim_expired(session, ctx.clock(), ctx.settings.retry)
    report.committed = commit_reviews(ctx)
    for step in STEPS:
        executor = EXECUTORS.get(step.name)
        if executor is None:
            continue
        while True:
            with ctx.store.tx() as session:
                ids = claims.claim(session, step, ctx.worker, ctx.clock(), ctx.settings.lease_s)
            if not ids:
                break
            report.claimed[step.name] += len(ids)
            try:
                executor(ctx, step, ids)
            except Exception as exc:
                stop = _disk_full(ctx, step, ids, exc)
                if stop is None:
                    raise
                raise stop from exc
    return report


def _disk_full(ctx: RunContext, step: Step, ids: list[int], exc: Exception) -> DiskFull | None:
    """A full or read-only disk stops the run: give our unfinished claims back now, without
    counting an attempt (no item is to blame), and say so in one line. None for other errors
    (their claims expire and count, so a row that keeps crashing the run ends up failed)."""
    if isinstance(exc, DiskFull):
        problem = str(exc)
    elif (found := storage_problem(exc)) is not None:
        problem = one_line(found, 300)
    else:
        return None
    try:
        with ctx.store.tx() as session:
            claims.release(session, step, ids, ctx.worker, ctx.clock())
    except Exception:  # too full even for that: the claims expire instead
        pass
    return DiskFull(
        f"{problem} (home {ctx.store.home.root}); {storage_advice(problem)} and run again:"
        " finished work is kept and the rest resumes"
    )


def has_due_work(ctx: RunContext) -> bool:
    with ctx.store.tx(write=False) as session:
        return claims.has_due_work(session, ctx.clock())


def run(ctx: RunContext, *, once: bool = False, workers: int = 1) -> RunReport:
    """`--once`: one pass of every step. Otherwise loop until no step has due work."""
    total = RunReport()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while True:
                report = run_pass(ctx)
                with lock:
                    total.merge(report)
                if once or (not sum(report.claimed.values()) and not report.committed):
                    if once or not has_due_work(ctx):
                        return
        except BaseException as exc:  # surfaced to the caller after the other workers stop
            with lock:
                errors.append(exc)

    if workers <= 1:
        work()
    else:
        threads = [threading.Thread(target=work, name=f"worker-{i}") for i in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return total
