"""Claiming work for a step, finishing it, failing it, and taking back expired claims.

A claim is one `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING id` inside BEGIN IMMEDIATE, so
two runs on one home never take the same row. On PostgreSQL the inner SELECT is `FOR UPDATE SKIP
LOCKED`: claims of many hosts run side by side (a claim transaction, `Store.tx(claim=True)`,
holds the writer lock only shared), each skipping the rows another is taking. Every statement here is generic over the step table:
the table name comes from a fixed mapping, never from input, and all values are bound parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from heaters.domain.states import check_transition
from heaters.domain.steps import STEPS, RetryPolicy, Step
from heaters.domain.text import one_line
from heaters.store.db import is_pg

_TABLE = {"video": "source_videos", "clip": "clips", "follow": "follows"}


class ClaimLost(RuntimeError):
    """Our claim expired and another worker took the row: our result must be dropped."""


def _due(alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return f"({prefix}next_attempt_at IS NULL OR {prefix}next_attempt_at <= :now)"


def claim(
    session: Session, step: Step, worker: str, now: float, lease_s: float, limit: int | None = None
) -> list[int]:
    """Claim up to `limit` due rows for `step` (for per-video steps: clips of one video)."""
    table = _TABLE[step.subject]
    n = limit or step.batch
    params = {
        "ready": step.ready,
        "claim": step.claim,
        "worker": worker,
        "until": now + lease_s,
        "now": now,
        "n": n,
    }
    if step.per_video:
        inner = (
            f"SELECT id FROM clips WHERE state = :ready AND {_due()} AND source_video_id = ("
            f" SELECT source_video_id FROM clips WHERE state = :ready AND {_due()}"
            " ORDER BY source_video_id LIMIT 1)"
            " ORDER BY start_frame LIMIT :n"
        )
    else:
        order = "start_frame" if step.subject == "clip" else "id"
        inner = (
            f"SELECT id FROM {table} WHERE state = :ready AND {_due()} ORDER BY {order} LIMIT :n"
        )
    if is_pg(session):
        inner += " FOR UPDATE SKIP LOCKED"
    sql = (
        f"UPDATE {table} SET state = :claim, claimed_by = :worker, claimed_until = :until,"
        f" updated_at = :now WHERE id IN ({inner}) RETURNING id"
    )
    rows = session.execute(text(sql), params).all()
    return sorted(int(r[0]) for r in rows)


def heartbeat(session: Session, step: Step, ids: list[int], worker: str, until: float) -> int:
    """Extend our claims on `ids`; returns how many we still hold."""
    table = _TABLE[step.subject]
    held = 0
    for row_id in ids:
        result = session.execute(
            text(
                f"UPDATE {table} SET claimed_until = :until WHERE id = :id"
                " AND state = :claim AND claimed_by = :worker"
            ),
            {"until": until, "id": row_id, "claim": step.claim, "worker": worker},
        )
        held += result.rowcount or 0  # type: ignore[attr-defined]
    return held


def finish(
    session: Session, step: Step, row_id: int, worker: str, now: float, state: str | None = None
) -> None:
    """Move a claimed row to its success state; raise ClaimLost if the claim is no longer ours."""
    table = _TABLE[step.subject]
    target = state or step.success
    check_transition(step.subject, step.claim, target)
    result = session.execute(
        text(
            f"UPDATE {table} SET state = :target, claimed_by = NULL, claimed_until = NULL,"
            " attempts = 0, last_error = NULL, next_attempt_at = NULL, updated_at = :now"
            " WHERE id = :id AND state = :claim AND claimed_by = :worker"
        ),
        {"target": target, "now": now, "id": row_id, "claim": step.claim, "worker": worker},
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise ClaimLost(f"{step.subject} {row_id}: claim for {step.name} was lost")


def fail(
    session: Session,
    step: Step,
    row_id: int,
    worker: str,
    error: str,
    now: float,
    policy: RetryPolicy,
    retryable: bool = True,
) -> str:
    """Record a failed attempt: back to `ready` after a backoff, or the failed state at the limit."""
    table = _TABLE[step.subject]
    row = session.execute(
        text(f"SELECT attempts FROM {table} WHERE id = :id AND state = :claim AND claimed_by = :w"),
        {"id": row_id, "claim": step.claim, "w": worker},
    ).first()
    if row is None:
        raise ClaimLost(f"{step.subject} {row_id}: claim for {step.name} was lost")
    attempts = int(row[0]) + 1
    target = step.failure if policy.gives_up(attempts, retryable) else step.ready
    check_transition(step.subject, step.claim, target)
    next_at = None if target == step.failure else now + policy.backoff_s(attempts)
    session.execute(
        text(
            f"UPDATE {table} SET state = :target, claimed_by = NULL, claimed_until = NULL,"
            " attempts = :attempts, last_error = :error, next_attempt_at = :next_at,"
            " updated_at = :now WHERE id = :id"
        ),
        {
            "target": target,
            "attempts": attempts,
            "error": one_line(error),
            "next_at": next_at,
            "now": now,
            "id": row_id,
        },
    )
    return target


def retry_info(session: Session, step: Step, row_id: int) -> tuple[int, float | None]:
    """A row's attempts so far and when it is due again (None: now, or never)."""
    table = _TABLE[step.subject]
    row = session.execute(
        text(f"SELECT attempts, next_attempt_at FROM {table} WHERE id = :id"), {"id": row_id}
    ).first()
    return (int(row[0]), row[1]) if row is not None else (0, None)


def release(session: Session, step: Step, ids: list[int], worker: str, now: float) -> int:
    """Give our unfinished claims back at once, no attempt counted (the run is stopping for a
    reason that is not the row's fault, e.g. a full disk); returns how many went back."""
    table = _TABLE[step.subject]
    check_transition(step.subject, step.claim, step.ready)
    released = 0
    for row_id in ids:
        result = session.execute(
            text(
                f"UPDATE {table} SET state = :ready, claimed_by = NULL, claimed_until = NULL,"
                " updated_at = :now WHERE id = :id AND state = :claim AND claimed_by = :worker"
            ),
            {"ready": step.ready, "now": now, "id": row_id, "claim": step.claim, "worker": worker},
        )
        released += result.rowcount or 0  # type: ignore[attr-defined]
    return released


@dataclass(frozen=True)
class Reclaimed:
    """A row a reclaim sent to its failed state (its claims ran out of attempts)."""

    step: Step
    row_id: int
    attempts: int
    error: str


def held_by(session: Session, process: str) -> list[tuple[Step, int]]:
    """Every row claimed by a worker of `process` (a claim owner up to its thread)."""
    found: list[tuple[Step, int]] = []
    for step in STEPS:
        table = _TABLE[step.subject]
        rows = session.execute(
            text(
                f"SELECT id FROM {table} WHERE state = :claim"
                " AND substr(claimed_by, 1, :n) = :prefix ORDER BY id"
            ),
            {"claim": step.claim, "n": len(process) + 1, "prefix": process + ":"},
        ).all()
        found += [(step, int(r[0])) for r in rows]
    return found


def release_process(session: Session, step: Step, ids: list[int], process: str, now: float) -> int:
    """Like `release`, for rows held by any worker thread of `process` (a run stopping)."""
    table = _TABLE[step.subject]
    check_transition(step.subject, step.claim, step.ready)
    released = 0
    for row_id in ids:
        result = session.execute(
            text(
                f"UPDATE {table} SET state = :ready, claimed_by = NULL, claimed_until = NULL,"
                " updated_at = :now WHERE id = :id AND state = :claim"
                " AND substr(claimed_by, 1, :n) = :prefix"
            ),
            {"ready": step.ready, "now": now, "id": row_id, "claim": step.claim,
             "n": len(process) + 1, "prefix": process + ":"},
        )  # fmt: skip
        released += result.rowcount or 0  # type: ignore[attr-defined]
    return released


def reclaim_expired(
    session: Session,
    now: float,
    policy: RetryPolicy,
    gone: Callable[[str | None], bool] | None = None,
    failed: list[Reclaimed] | None = None,
) -> int:
    """Rows whose claim expired (a killed run) go back to their previous state, one attempt used.

    With `gone` (is this claim's owner provably no longer running?), claims of dead workers are
    taken back at once, lease or not, on the same terms.
    """
    total = 0
    for step in STEPS:
        table = _TABLE[step.subject]
        if gone is not None:
            rows = session.execute(
                text(f"SELECT id, claimed_by FROM {table} WHERE state = :claim"),
                {"claim": step.claim},
            ).all()
            for row_id, owner in rows:
                if not gone(owner):
                    continue
                result = session.execute(
                    text(
                        f"UPDATE {table} SET state = CASE WHEN attempts + 1 >= :max"
                        " THEN :failure ELSE :ready END, attempts = attempts + 1,"
                        " claimed_by = NULL, claimed_until = NULL, next_attempt_at = NULL,"
                        " updated_at = :now, last_error = 'claim taken back: the run holding it"
                        " stopped (killed or crashed) during ' || :name"
                        " WHERE id = :id AND state = :claim AND claimed_by = :owner"
                        " RETURNING id, state, attempts, last_error"
                    ),
                    {"max": policy.max_attempts, "failure": step.failure, "ready": step.ready,
                     "now": now, "name": step.name, "id": row_id, "claim": step.claim,
                     "owner": owner},
                ).all()  # fmt: skip
                total += _note_failed(result, step, failed)
        result = session.execute(
            text(
                f"UPDATE {table} SET state = CASE WHEN attempts + 1 >= :max THEN :failure"
                " ELSE :ready END, attempts = attempts + 1, claimed_by = NULL,"
                " claimed_until = NULL, next_attempt_at = NULL, updated_at = :now,"
                " last_error = 'claim expired: the worker stopped during ' || :name"
                " WHERE state = :claim AND claimed_until < :now"
                " RETURNING id, state, attempts, last_error"
            ),
            {
                "max": policy.max_attempts,
                "failure": step.failure,
                "ready": step.ready,
                "now": now,
                "name": step.name,
                "claim": step.claim,
            },
        ).all()
        total += _note_failed(result, step, failed)
    return total


def _note_failed(rows: Any, step: Step, failed: list[Reclaimed] | None) -> int:
    """Count reclaimed rows; those that reached the failed state go into `failed`."""
    if failed is not None:
        failed += [
            Reclaimed(step, int(r[0]), int(r[2]), str(r[3])) for r in rows if r[1] == step.failure
        ]
    return len(rows)


def has_due_work(session: Session, now: float, skip: frozenset[str] = frozenset()) -> bool:
    """True when some step has a due row (claimed rows of other workers don't count); steps
    named in `skip` (once-per-run steps this run already made) don't count either."""
    for step in STEPS:
        if step.name in skip:
            continue
        table = _TABLE[step.subject]
        row = session.execute(
            text(f"SELECT 1 FROM {table} WHERE state = :ready AND {_due()} LIMIT 1"),
            {"ready": step.ready, "now": now},
        ).first()
        if row:
            return True
    return False


def retry_failed(
    session: Session,
    now: float,
    video_ids: list[int] | None = None,
    clip_ids: list[int] | None = None,
) -> list[tuple[str, int]]:
    """Re-open failed rows with fresh attempts: all of them, or only the ids given."""
    wanted: dict[str, list[int] | None] = {"video": video_ids, "clip": clip_ids, "follow": None}
    everything = video_ids is None and clip_ids is None
    reopened: list[tuple[str, int]] = []
    for step in STEPS:
        table = _TABLE[step.subject]
        sql = f"SELECT id FROM {table} WHERE state = :failure"
        found = [int(r[0]) for r in session.execute(text(sql), {"failure": step.failure}).all()]
        ids = wanted[step.subject]
        for row_id in found:
            if not everything and (ids is None or row_id not in ids):
                continue
            check_transition(step.subject, step.failure, step.ready)
            session.execute(
                text(
                    f"UPDATE {table} SET state = :ready, attempts = 0, next_attempt_at = NULL,"
                    " updated_at = :now WHERE id = :id"
                ),
                {"ready": step.ready, "now": now, "id": row_id},
            )
            reopened.append((step.subject, row_id))
    return reopened
