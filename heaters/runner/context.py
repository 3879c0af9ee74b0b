"""Everything a run needs, passed explicitly: store, settings, who we are, how to report."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from heaters import owner
from heaters.domain.steps import Step
from heaters.runner.progress import NullReporter, Reporter
from heaters.settings import Settings
from heaters.store import claims
from heaters.store.store import Store


@dataclass(frozen=True)
class Failure:
    """One failed attempt in this run: where the row went and, if it will be retried, when."""

    subject: str  # video | clip
    row_id: int
    step: str
    state: str  # the failed state (for good), or the ready state (retry at next_attempt_at)
    final: bool
    attempts: int
    error: str
    next_attempt_at: float | None


@dataclass
class RunContext:
    store: Store
    settings: Settings
    reporter: Reporter = field(default_factory=NullReporter)
    clock: Callable[[], float] = time.time
    # Every failed attempt of this run (one line each for the operator), appended by any worker.
    failures: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth a line to the operator (merged cuts)
    # Names this run's rows in step_runs (every worker thread of one `heaters run` shares it).
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    ran_once: set[str] = field(default_factory=set)  # once-per-run steps this run has made

    @property
    def worker(self) -> str:
        """Unique per host boot, process and thread: claims are per worker, and a claim of a
        process that provably stopped is taken back at once (`heaters.owner`)."""
        return owner.worker_id()


@contextmanager
def keep_alive(ctx: RunContext, step: Step, ids: list[int]) -> Iterator[None]:
    """Heartbeat: extend our claims every lease/3 while the stage runs, so long work keeps them."""
    worker = ctx.worker
    stop = threading.Event()
    interval = max(0.2, ctx.settings.lease_s / 3)

    def beat() -> None:
        while not stop.wait(interval):
            try:
                with ctx.store.tx(claim=True) as session:
                    claims.heartbeat(session, step, ids, worker, ctx.clock() + ctx.settings.lease_s)
            except Exception:  # a missed beat only shortens the lease
                continue

    thread = threading.Thread(target=beat, name=f"heartbeat-{step.name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
