"""Giving work back when a run stops early (Ctrl-C, SIGTERM): claims go back to their ready state
with no attempt charged (stopping is no fault of the item), and the files the unfinished work
left in the rows' own folders go, so that no file is left without its row."""

from __future__ import annotations

import shutil
from pathlib import Path

from heaters import owner
from heaters.domain.steps import Step
from heaters.runner.context import RunContext
from heaters.stages.atomic import clear_temps
from heaters.stages.download import RESUME_DIR
from heaters.store import claims, clips
from heaters.store.tables import SourceVideo


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def _leftovers(ctx: RunContext, step: Step, row_id: int) -> list[Path]:
    """Files in a claimed row's folder that no row refers to (the claim keeps others out)."""
    home = ctx.store.home
    if step.subject not in ("video", "clip"):
        return []  # a followed URL's check writes no files
    folder = home.source_dir(row_id) if step.subject == "video" else home.clip_dir(row_id)
    try:
        entries = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    with ctx.store.tx(write=False) as session:
        if step.subject == "video":
            video = session.get(SourceVideo, row_id)  # a splice's frames.npy goes too
            keep = {video.filepath} if video is not None and video.filepath else set()
        else:
            keep = {a.path for a in clips.artifacts(session, row_id)}
    return [e for e in entries if home.rel(e) not in keep and e.name != RESUME_DIR]


def abandon(ctx: RunContext, step: Step, ids: list[int], *, process: bool = False) -> int:
    """Give back our claims on `ids` (this worker's, or with `process` any thread's of this
    process), removing their unfinished files first; returns how many went back."""
    held = _still_held(ctx, step, ids)
    for row_id in held:
        home = ctx.store.home
        if step.subject == "video":  # a download's resume folder stays: the next run goes on
            clear_temps(home.source_dir(row_id), keep=(RESUME_DIR,))
        elif step.subject == "clip":
            clear_temps(home.clip_dir(row_id))
        for entry in _leftovers(ctx, step, row_id):
            _remove(entry)
    if not held:
        return 0
    with ctx.store.tx() as session:
        if process:
            return claims.release_process(session, step, held, owner.process_id(), ctx.clock())
        return claims.release(session, step, held, ctx.worker, ctx.clock())


def _still_held(ctx: RunContext, step: Step, ids: list[int]) -> list[int]:
    with ctx.store.tx(write=False) as session:
        mine = claims.held_by(session, owner.process_id())
    wanted = set(ids)
    return [i for s, i in mine if s.name == step.name and i in wanted]


def abandon_everything(ctx: RunContext) -> int:
    """The run must end now (its workers did not stop in time): every claim of this process."""
    with ctx.store.tx(write=False) as session:
        mine = claims.held_by(session, owner.process_id())
    released = 0
    for step_name in dict.fromkeys(s.name for s, _ in mine):
        step = next(s for s, _ in mine if s.name == step_name)
        ids = [i for s, i in mine if s.name == step_name]
        released += abandon(ctx, step, ids, process=True)
    return released
