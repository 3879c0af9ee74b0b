"""The dispatcher: one generic loop over the step table (DESIGN.md §8).

Each pass: take back expired claims, commit review actions past their grace period, then for
every step in table order claim due rows and hand them to the generic executor with the step's
binding (`heaters.runner.bindings`) until none is due.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from heaters import interrupt, owner
from heaters.domain.steps import STEPS, Step
from heaters.domain.text import one_line
from heaters.errors import DiskFull, storage_advice, storage_problem
from heaters.runner.backfill import run_backfill
from heaters.runner.bindings import BINDINGS
from heaters.runner.context import Failure, RunContext
from heaters.runner.executors import execute
from heaters.runner.progress import Reporter, Task
from heaters.runner.stopping import abandon, abandon_everything
from heaters.store import claims, step_runs


@dataclass
class RunReport:
    passes: int = 0
    claimed: Counter[str] = field(default_factory=Counter)
    committed: int = 0
    reclaimed: int = 0
    failures: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    failed: Counter[str] = field(default_factory=Counter)  # per step: items that failed
    errors: Counter[str] = field(default_factory=Counter)  # per step: batches that raised

    def merge(self, other: RunReport) -> None:
        self.passes += other.passes
        self.claimed.update(other.claimed)
        self.committed += other.committed
        self.reclaimed += other.reclaimed
        for name, took in other.seconds.items():
            self.seconds[name] += took
        self.failed.update(other.failed)
        self.errors.update(other.errors)

    @property
    def status(self) -> str:
        """ "ok": nothing failed; "retrying": attempts failed and will be retried; "failed": an
        item reached its failed state, or a step's batch raised."""
        if any(f.final for f in self.failures) or any(self.errors.values()):
            return "failed"
        return "retrying" if self.failures or any(self.failed.values()) else "ok"


class _StepTimer:
    """Times one executor call and records it in step_runs (never failing the run for it)."""

    def __init__(self, ctx: RunContext, step: Step, ids: list[int]) -> None:
        self.ctx, self.step, self.ids = ctx, step, ids
        self.started_at = ctx.clock()
        self.t0 = time.monotonic()
        self.seen = len(ctx.failures)

    def done(self, report: RunReport, outcome: str | None = None, error: str | None = None) -> None:
        seconds = time.monotonic() - self.t0
        mine = set(self.ids)
        failed = sum(
            1
            for f in list(self.ctx.failures)[self.seen :]
            if f.step == self.step.name and f.row_id in mine
        )
        report.seconds[self.step.name] += seconds
        report.failed[self.step.name] += failed
        if outcome == "error":
            report.errors[self.step.name] += 1
        run = step_runs.StepRun(
            run_id=self.ctx.run_id,
            worker=self.ctx.worker,
            step=self.step.name,
            subject=self.step.subject,
            ids=tuple(self.ids),
            started_at=self.started_at,
            seconds=seconds,
            failed=failed,
            outcome=outcome or step_runs.outcome_of(len(self.ids), failed),
            error=error,
        )
        try:
            with self.ctx.store.tx() as session:
                step_runs.record(session, run)
        except Exception:  # bookkeeping only: a full disk or a busy database must not stop work
            pass


def commit_reviews(ctx: RunContext) -> int:
    """First step of every pass: apply review actions older than the grace period."""
    from heaters.runner.review_commit import commit_due

    return commit_due(ctx)


def run_pass(ctx: RunContext) -> RunReport:
    report = RunReport(passes=1)
    failed: list[claims.Reclaimed] = []
    with ctx.store.tx() as session:
        report.reclaimed = claims.reclaim_expired(
            session, ctx.clock(), ctx.settings.retry, gone=owner.provably_gone, failed=failed
        )
    for r in failed:  # a row whose every attempt killed its run: failed for good, now
        ctx.failures.append(
            Failure(r.step.subject, r.row_id, r.step.name, r.step.failure, True, r.attempts,
                    r.error, None)
        )  # fmt: skip
    if ctx.settings.runs_step("review"):
        report.committed = commit_reviews(ctx)
    for step in STEPS:
        if step.name in ctx.ran_once:
            continue
        if not ctx.settings.runs_step(step.name):  # a machine role (config `steps`)
            continue
        if step.once_per_run:
            ctx.ran_once.add(step.name)
        binding = BINDINGS[step.name]  # one per step: checked when bindings.py was imported
        if binding.prepare is not None:
            binding.prepare(ctx)
        while True:
            interrupt.check()
            # (a per-video claim picks its video first: under the writer lock, not side by side)
            with ctx.store.tx(claim=not step.per_video) as session:
                ids = claims.claim(session, step, ctx.worker, ctx.clock(), ctx.settings.lease_s)
            if not ids:
                break
            report.claimed[step.name] += len(ids)
            timer = _StepTimer(ctx, step, ids)
            try:
                execute(ctx, step, binding, ids)
            except interrupt.Interrupted:
                timer.done(report, "interrupted")
                released = abandon(ctx, step, ids)
                raise interrupt.Interrupted(released) from None
            except Exception as exc:
                timer.done(report, "error", one_line(str(exc) or type(exc).__name__, 300))
                stop = _disk_full(ctx, step, ids, exc)
                if stop is None:
                    raise
                raise stop from exc
            timer.done(report)
            if step.once_per_run:  # all its due rows were claimed at once: done for this run
                break
    # after `heaters config model NAME`: the clips embedded before get the new model's vector too
    added = run_backfill(ctx) if ctx.settings.runs_step("embed") else 0
    if added:
        report.claimed["backfill"] += added
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
        skip = set(ctx.ran_once) | {s.name for s in STEPS if not ctx.settings.runs_step(s.name)}
        return claims.has_due_work(session, ctx.clock(), frozenset(skip))


# Ctrl-C / SIGTERM: the workers get this long to unwind by themselves (each gives its claims
# back and removes its partial files); then the main thread does it for them and the process ends.
STOP_GRACE_S = 0.8


class RunInterrupted(interrupt.Interrupted):
    """The run stopped on a signal; `released` claims went back uncharged. `forced`: some worker
    did not unwind in time, so the process must end at once (os._exit), not wait for it."""

    def __init__(self, released: int, forced: bool) -> None:
        super().__init__(f"stopped; {released} claimed item(s) given back, no attempt charged")
        self.released = released
        self.forced = forced


class _CheckedTask:
    def __init__(self, task: Task) -> None:
        self._task = task

    def update(self, done: float, total: float | None = None) -> None:
        interrupt.check()  # every stage reports progress as it goes: a place to stop
        self._task.update(done, total)

    def close(self) -> None:
        self._task.close()


@dataclass
class _CheckedReporter:
    inner: Reporter

    def task(self, description: str, total: float | None, unit: str) -> Task:
        return _CheckedTask(self.inner.task(description, total, unit))

    def note(self, message: str) -> None:
        self.inner.note(message)


@contextmanager
def _stop_on_signals() -> Iterator[list[int]]:
    """SIGINT and SIGTERM ask the run to stop (a second one: at once). Only the main thread may
    install handlers; elsewhere (tests, the TUI) the caller handles signals."""
    hits: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield hits
        return

    def handler(signum: int, frame: object) -> None:
        hits.append(signum)
        interrupt.STOP.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield hits
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(ctx: RunContext, *, once: bool = False, workers: int = 1) -> RunReport:
    """`--once`: one pass of every step. Otherwise loop until no step has due work.

    Workers are threads (stages are native-code bound); the calling thread only supervises, so a
    signal is handled at once: workers stop at their next frame, progress report or poll.
    """
    interrupt.STOP.clear()
    ctx = replace(ctx, reporter=_CheckedReporter(ctx.reporter))
    total = RunReport()
    lock = threading.Lock()
    errors: list[BaseException] = []
    released: list[int] = []

    def work() -> None:
        try:
            while True:
                report = run_pass(ctx)
                with lock:
                    total.merge(report)
                if once or (not sum(report.claimed.values()) and not report.committed):
                    if once or not has_due_work(ctx):
                        return
        except interrupt.Interrupted as exc:
            with lock:
                released.append(exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0)
        except BaseException as exc:  # surfaced to the caller after the other workers stop
            with lock:
                errors.append(exc)

    threads = [
        threading.Thread(target=work, name=f"worker-{i}", daemon=True)
        for i in range(max(1, workers))
    ]
    with _stop_on_signals() as hits:
        for thread in threads:
            thread.start()
        deadline: float | None = None
        while any(t.is_alive() for t in threads):
            for thread in threads:
                thread.join(timeout=0.05)
            if interrupt.requested():
                deadline = deadline or time.monotonic() + STOP_GRACE_S
                if time.monotonic() > deadline or len(hits) > 1:
                    raise RunInterrupted(sum(released) + abandon_everything(ctx), forced=True)
    if interrupt.requested():
        raise RunInterrupted(sum(released) + abandon_everything(ctx), forced=False)
    if errors:
        raise errors[0]
    total.failures = list(ctx.failures)
    total.notes = list(ctx.notes)
    return total
