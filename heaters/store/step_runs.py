"""Where the time goes: one row per step batch a run carried out (`step_runs`).

The dispatcher records each executor call: the step, its items, how many failed, the seconds it
took and the seconds of footage it covered. `heaters run --json` sums this run's rows;
`heaters status` sums all of them per stage, per minute of footage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from heaters.store.reads import _rows

if TYPE_CHECKING:  # `status` reads without SQLAlchemy (heaters.store.reads): imported on use
    from sqlmodel import Session

Outcome = str  # ok | partial | failed | interrupted | error


@dataclass(frozen=True)
class StepRun:
    run_id: str
    worker: str
    step: str
    subject: str  # video | clip
    ids: tuple[int, ...]
    started_at: float
    seconds: float
    failed: int
    outcome: Outcome
    error: str | None = None


def outcome_of(items: int, failed: int) -> Outcome:
    """A batch's outcome from its failure count (an executor that raised is "error")."""
    if failed == 0:
        return "ok"
    return "failed" if failed >= items else "partial"


def footage_s(session: Session, subject: str, ids: tuple[int, ...]) -> float:
    """Seconds of video the items cover: a video's duration, a clip's span."""
    from sqlalchemy import text

    if not ids:
        return 0.0
    marks = ",".join(str(int(i)) for i in ids)  # ints claimed by this worker: safe to inline
    if subject == "video":
        sql = f"SELECT COALESCE(SUM(duration_s), 0) FROM source_videos WHERE id IN ({marks})"
    elif subject == "clip":
        sql = f"SELECT COALESCE(SUM(end_time_s - start_time_s), 0) FROM clips WHERE id IN ({marks})"
    else:  # a followed URL's check covers no footage of its own
        return 0.0
    return float(session.execute(text(sql)).scalar_one())


def record(session: Session, run: StepRun) -> None:
    from sqlalchemy import text

    session.execute(
        text(
            "INSERT INTO step_runs (run_id, worker, step, started_at, seconds, items, failed,"
            " footage_s, outcome, error)"
            " VALUES (:r, :w, :s, :t, :sec, :n, :f, :fs, :o, :e)"
        ),
        {
            "r": run.run_id,
            "w": run.worker,
            "s": run.step,
            "t": run.started_at,
            "sec": run.seconds,
            "n": len(run.ids),
            "f": run.failed,
            "fs": footage_s(session, run.subject, run.ids),
            "o": run.outcome,
            "e": run.error,
        },
    )


def totals(db: Any, run_id: str | None = None) -> list[dict[str, Any]]:
    """Per step (table order of first appearance): batches, items, failed, seconds, footage
    seconds and seconds per minute of footage; one run's rows, or all of them. `db`: a session
    or a `heaters.store.reads.Reader`."""
    where, params = ("WHERE run_id = :r", {"r": run_id}) if run_id else ("", {})
    rows = _rows(
        db,
        "SELECT step, COUNT(*), SUM(items), SUM(failed), SUM(seconds), SUM(footage_s),"
        " SUM(CASE WHEN outcome = 'error' THEN 1 ELSE 0 END), MIN(id)"
        f" FROM step_runs {where} GROUP BY step ORDER BY MIN(id)",
        params,
    )
    out = []
    for step, batches, items, failed, seconds, footage, errors, _first in rows:
        minutes = float(footage or 0.0) / 60.0
        out.append(
            {
                "step": str(step),
                "batches": int(batches),
                "items": int(items or 0),
                "failed": int(failed or 0),
                "errors": int(errors or 0),
                "seconds": round(float(seconds or 0.0), 3),
                "footage_s": round(float(footage or 0.0), 3),
                "seconds_per_footage_minute": round(float(seconds) / minutes, 3)
                if minutes > 0
                else None,
            }
        )
    return out
