"""The dispatcher's first step: commit review actions older than the grace period."""

from __future__ import annotations

from heaters import faults
from heaters.runner.context import RunContext
from heaters.store import review


def commit_due(ctx: RunContext) -> int:
    cfg = review.ReviewConfig(
        home=ctx.store.home, min_clip_s=ctx.settings.min_clip_s, reviewer=ctx.settings.reviewer
    )
    with ctx.store.tx() as session:
        applied = review.commit_due(session, ctx.clock(), ctx.settings.grace_s, cfg)
        if applied:
            faults.hit("commit.tx")
    if applied:
        faults.hit("commit.done")
    return applied
