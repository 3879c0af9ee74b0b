"""The one generic executor, and the shape of a step's binding to its stage.

For every step the same skeleton: read the stage's inputs in a short read transaction, clear the
temp files a killed attempt left in the rows' folders, open a progress line, run the stage with
heartbeats extending the claims and no database connection held, then per row either record its
failure (attempts, last_error, backoff; a full disk stops the run) or write its result and finish
its claim in one IMMEDIATE transaction. A failure of one row never stops the others; a claim lost
meanwhile (expired and retaken, or yanked by an undo) drops that row's result.

What differs per step (what to read, which stage, how its result is written) is a `Binding`;
the bindings sit next to the step table in `heaters.runner.bindings`, one per step, checked at
import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlmodel import Session

from heaters import faults
from heaters.domain.results import StageError
from heaters.domain.steps import Step
from heaters.domain.text import error_text, one_line
from heaters.errors import DiskFull, storage_problem
from heaters.runner.context import Failure, RunContext, keep_alive
from heaters.stages.atomic import clear_temps
from heaters.store import claims

# A stage's progress callback: (done, total=None); every stage reports as it goes.
Progress = Callable[..., None]


@dataclass(frozen=True)
class Job:
    """One stage call's worth of claimed rows, read from the store: all the stage needs."""

    ids: list[int]  # the rows this call answers for (heartbeats, failures)
    inputs: Any  # the stage's explicit inputs
    label: str  # the progress line ("splice #3")
    total: float | None = None  # progress total in the binding's unit (None: not known)
    folders: tuple[Path, ...] = ()  # the rows' own folders: a killed attempt's temp files go


@dataclass(frozen=True)
class RowResult:
    """One row's share of a stage's result: write it (finishing the claim), or fail the row."""

    row_id: int
    # writes the row's result in the transaction that finishes its claim; may return a note for
    # the operator, shown once that transaction committed
    write: Callable[[Session], str | None] | None = None
    error: str | None = None  # the stage failed this row alone: an attempt is recorded


def _no_params(ctx: RunContext) -> None:
    return None


@dataclass(frozen=True)
class Binding:
    """A step's stage and its glue; `execute` owns the skeleton around them."""

    step: str  # the name of its row in STEPS
    # "each": one stage call per claimed row; "batch": one call for the whole claim (the clips of
    # one video, or an embedding batch)
    mode: Literal["each", "batch"]
    unit: str  # what progress counts (bytes, frames, clips, images, entries)
    # (ctx, session, ids, params) -> Job, inside a short read transaction; None: nothing to do
    read: Callable[[RunContext, Session, list[int], Any], Job | None]
    # (inputs, on_progress) -> result; runs with heartbeats and no database connection held
    stage: Callable[[Any, Progress], Any]
    # (ctx, job, result) -> a RowResult per row of the job, each committed on its own
    write: Callable[[RunContext, Job, Any], list[RowResult]]
    # once per claim, before any row is read: the step's settings (a StageError fails every
    # claimed row, e.g. a bad yt-dlp option; any other error stops the run)
    params: Callable[[RunContext], Any] = _no_params
    keep: tuple[str, ...] = ()  # temp names a new attempt keeps (a download's resume folder)
    # a row reached its failed state for good: drop what was kept for another attempt
    gave_up: Callable[[RunContext, int], None] | None = None
    # before the step claims anything, once per pass (follows' due times follow the settings)
    prepare: Callable[[RunContext], None] | None = None


class BindingError(RuntimeError):
    """The step table and the bindings disagree: a programming error, found at import."""


def check_bindings(steps: Iterable[Step], bindings: Iterable[Binding]) -> dict[str, Binding]:
    """Every step has exactly one binding and every binding names a step; returns them by step.

    Raises BindingError, one line naming the step, otherwise: a step added to the table without
    its binding fails when the runner is imported, not when its first row comes due.
    """
    names = [s.name for s in steps]
    by_step: dict[str, Binding] = {}
    for binding in bindings:
        if binding.step not in names:
            raise BindingError(f"binding {binding.step!r} names no step of the step table")
        if binding.step in by_step:
            raise BindingError(f"step {binding.step!r} has more than one binding")
        by_step[binding.step] = binding
    for name in names:
        if name not in by_step:
            raise BindingError(f"step {name!r} has no binding (heaters/runner/bindings.py)")
    return by_step


def execute(ctx: RunContext, step: Step, binding: Binding, ids: list[int]) -> None:
    """Run `step` on the rows `ids` this worker has just claimed."""
    try:
        params = binding.params(ctx)
    except StageError as exc:
        for row_id in ids:
            record_failure(ctx, step, row_id, exc)
        return
    units = [[i] for i in ids] if binding.mode == "each" else [list(ids)]
    for unit in units:
        with ctx.store.tx(write=False) as session:
            job = binding.read(ctx, session, unit, params)
        if job is None:
            continue
        for folder in job.folders:
            clear_temps(folder, keep=binding.keep)  # a killed attempt's half-written files
        task = ctx.reporter.task(job.label, job.total, binding.unit)
        try:
            with keep_alive(ctx, step, job.ids):
                faults.hit(f"{step.name}.start")
                result = binding.stage(job.inputs, task.update)
        except Exception as exc:
            _fail_all(ctx, step, binding, job.ids, exc)
            continue
        finally:
            task.close()
        commit_each(ctx, step, binding.write(ctx, job, result))


def _fail_all(
    ctx: RunContext, step: Step, binding: Binding, ids: list[int], exc: BaseException
) -> None:
    """The stage call failed as a whole (source unreadable, model missing): every row of it gets
    the attempt."""
    for row_id in ids:
        if record_failure(ctx, step, row_id, exc) == step.failure and binding.gave_up:
            binding.gave_up(ctx, row_id)


def commit_each(ctx: RunContext, step: Step, results: list[RowResult]) -> None:
    """Per row: record its failure, or write its result and finish its claim in one transaction.

    A claim lost meanwhile (expired and retaken, or yanked by an undo) drops the result.
    """
    for row in results:
        if row.error is not None or row.write is None:
            record_failure(ctx, step, row.row_id, StageError(row.error or "failed"))
            continue
        try:
            with ctx.store.tx() as session:
                note = row.write(session)
                claims.finish(session, step, row.row_id, ctx.worker, ctx.clock())
                faults.hit(f"{step.name}.tx")
        except claims.ClaimLost:
            continue
        faults.hit(f"{step.name}.done")
        if note:
            ctx.notes.append(note)
            ctx.reporter.note(note)


def record_failure(ctx: RunContext, step: Step, row_id: int, exc: BaseException) -> str:
    """Write a failed attempt on the row; returns the state it went to ("lost": not ours now).

    A full or read-only disk is not the row's fault: it stops the run (DiskFull) instead.
    """
    if isinstance(exc, DiskFull):
        raise exc
    problem = storage_problem(exc)
    if problem is not None:
        raise DiskFull(one_line(problem, 300)) from exc
    if isinstance(exc, StageError):
        message, retryable = str(exc), exc.retryable
    else:
        message, retryable = f"{type(exc).__name__}: {error_text(exc)}", True
    try:
        with ctx.store.tx() as session:
            state = claims.fail(
                session,
                step,
                row_id,
                ctx.worker,
                one_line(message),
                ctx.clock(),
                ctx.settings.retry,
                retryable,
            )
            attempts, next_at = claims.retry_info(session, step, row_id)
    except claims.ClaimLost:
        return "lost"
    ctx.failures.append(
        Failure(step.subject, row_id, step.name, state, state == step.failure, attempts,
                one_line(message), next_at)
    )  # fmt: skip
    return state
