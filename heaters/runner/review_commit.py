"""The dispatcher's first step: commit review actions older than the grace period."""

from __future__ import annotations

from collections.abc import Callable

from heaters import faults, interrupt
from heaters.runner.context import RunContext
from heaters.store import review


def commit_due(ctx: RunContext) -> int:
    cfg = review.ReviewConfig.of(ctx.store.home, ctx.settings)
    with ctx.store.tx() as session:
        applied = review.commit_due(session, ctx.clock(), ctx.settings.grace_s, cfg)
        if applied:
            faults.hit("commit.tx")
    if applied:
        faults.hit("commit.done")
    return applied


def waiting(ctx: RunContext) -> review.Waiting:
    with ctx.store.tx(write=False) as session:
        return review.waiting(session, ctx.settings.grace_s)


def wait_for_young(
    ctx: RunContext,
    show: Callable[[review.Waiting, float], None],
    sleep: Callable[[float], object] = interrupt.STOP.wait,
) -> bool:
    """Wait until the review actions still in their grace period are due (the operator may add
    more meanwhile: they are waited for too). `show(waiting, seconds_left)` is called about once a
    second. False when nothing was waiting; True when the caller should run again."""
    seen = False
    if not ctx.settings.runs_step("review"):
        return False  # another machine commits the review actions (config `steps`)
    while True:
        w = waiting(ctx)
        if not w.actions or w.last_at is None:
            return seen
        seen = True
        left = w.last_at - ctx.clock()
        if left <= 0:
            return True
        show(w, left)
        if sleep(min(1.0, left)):  # a stop was asked for (SIGINT/SIGTERM)
            raise KeyboardInterrupt
