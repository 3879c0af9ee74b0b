"""Glue between the step table and the stages: read inputs, call the stage, write its result.

Each executor reads what its stage needs in a short read transaction, runs the stage with no
database connection held, and writes the typed result back in one IMMEDIATE transaction. A failure
of one row is recorded on that row (attempts, last_error, backoff) and never stops the others.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
from sqlmodel import Session

from heaters import faults
from heaters.domain.chapters import chapter_starts
from heaters.domain.files import FRAME_TIMES, SCORES
from heaters.domain.results import (
    BatchResult,
    ClipEmbedding,
    ClipOutcome,
    DownloadResult,
    EmbedRequest,
    FrameRequest,
    SpliceResult,
    StageError,
)
from heaters.domain.sources import clean_title
from heaters.domain.steps import Step
from heaters.domain.text import error_text, one_line
from heaters.errors import DiskFull, storage_problem
from heaters.runner.context import Failure, RunContext, keep_alive
from heaters.runner.sources import reschedule_follows, run_follow
from heaters.settings import ConfigError, resolve_model, ytdlp_params
from heaters.stages import download, embed, keyframes, splice, sprites, tiles
from heaters.stages.atomic import clear_temps, write_bytes
from heaters.stages.frames import size_change
from heaters.stages.tools import ffmpeg_exe
from heaters.store import artifacts, claims, clips, vectors, videos
from heaters.store.home import Home
from heaters.store.tables import Clip, SourceVideo

Executor = Callable[[RunContext, Step, list[int]], None]



def record_failure(ctx: RunContext, step: Step, row_id: int, exc: BaseException) -> str:
    """Write a failed attempt on the row; returns the state it went to.

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


def run_download(ctx: RunContext, step: Step, ids: list[int]) -> None:
    home = ctx.store.home
    try:
        ydl = ytdlp_params(ctx.settings)  # `heaters run` refused a bad one before any work
    except ConfigError as exc:
        for video_id in ids:
            record_failure(ctx, step, video_id, StageError(str(exc), retryable=False))
        return
    for video_id in ids:
        with ctx.store.tx(write=False) as session:
            video = session.get(SourceVideo, video_id)
            assert video is not None
            source, kind = (video.url, "url") if video.url else (video.local_path or "", "file")
        task = ctx.reporter.task(f"download #{video_id}", None, "bytes")
        # a killed attempt's temp files; its resume folder stays (yt-dlp goes on from its .part)
        clear_temps(home.source_dir(video_id), keep=(download.RESUME_DIR,))
        try:
            with keep_alive(ctx, step, [video_id]):
                faults.hit("download.start")
                result = download.run(
                    video_id,
                    source,
                    kind,
                    home.source_dir(video_id),
                    ffmpeg_exe(),
                    task.update,
                    _download_limits(ctx),
                    ydl,
                )
        except Exception as exc:
            if record_failure(ctx, step, video_id, exc) == step.failure:
                download.drop_partial(home.source_dir(video_id))
            continue
        finally:
            task.close()

        write = partial(_record_download, home=home, video_id=video_id, result=result)
        _commit_each(ctx, step, [(video_id, None, write)])


def _download_limits(ctx: RunContext) -> download.Limits:
    s = ctx.settings
    return download.Limits(
        stall_s=s.download_stall_s,
        timeout_s=s.download_timeout_s,
        max_bytes=int(s.max_source_mb * (1 << 20)),
        min_free_bytes=int(s.min_free_mb * (1 << 20)),
    )


def _record_download(
    session: Session, *, home: Home, video_id: int, result: DownloadResult
) -> None:
    video = session.get(SourceVideo, video_id)
    assert video is not None
    probe = result.probe
    video.filepath = home.rel(result.path)
    video.title = video.title or clean_title(result.title)
    video.duration_s = probe.duration_s
    video.fps = probe.fps
    video.frame_count = probe.frame_count
    video.width, video.height, video.codec = probe.width, probe.height, probe.codec
    kept = {k: v for k, v in result.metadata.items() if k not in ("description", "chapters")}
    video.source_meta = kept
    videos.apply_meta(video, result.metadata)
    session.add(video)
    session.flush()


def run_splice(ctx: RunContext, step: Step, ids: list[int]) -> None:
    home = ctx.store.home
    settings = ctx.settings
    base = splice.SpliceParams(
        detector=settings.detector, threshold=settings.threshold, min_clip_s=settings.min_clip_s
    )
    tile_params = tiles.TileParams(size=settings.sprite_tile_width)
    for video_id in ids:
        with ctx.store.tx(write=False) as session:
            video = session.get(SourceVideo, video_id)
            assert video is not None
            path = home.abs(video.filepath or "")
            estimate = video.frame_count or 0
            starts = chapter_starts(video.chapters) if settings.chapter_cuts else ()
        params = replace(base, chapter_starts=starts)
        task = ctx.reporter.task(f"splice #{video_id}", estimate or None, "frames")
        clear_temps(home.source_dir(video_id))
        tile_writer: tiles.TileWriter | None = None
        try:
            tile_writer = tiles.TileWriter(
                home.source_dir(video_id) / tiles.TILES_FILE, tile_params
            )
            with keep_alive(ctx, step, [video_id]):
                faults.hit("splice.start")
                try:
                    result = splice.run(
                        path, video_id, params, on_progress=task.update, sink=tile_writer
                    )
                except StageError:
                    raise
                except Exception as exc:
                    explained = _explain_splice_failure(path, exc)
                    if explained is exc:
                        raise
                    raise explained from exc
                tile_writer.close()  # the tiles every clip's sprite will show (no second decode)
            faults.hit("splice.detected")
            save_splice_arrays(home.source_dir(video_id), result)
        except Exception as exc:
            if tile_writer is not None:
                tile_writer.abort()
            record_failure(ctx, step, video_id, exc)
            continue
        finally:
            task.close()

        write = partial(_record_splice, video_id=video_id, result=result)
        _commit_each(ctx, step, [(video_id, None, write)])
        note = merged_note(video_id, result, settings.min_clip_s)
        if note:
            ctx.notes.append(note)
            ctx.reporter.note(note)


def save_splice_arrays(folder: Path, result: SpliceResult) -> None:
    """Frame times (what sprites and keyframes seek by) and per-frame scores (what resplice
    cuts from), each written atomically."""
    for name, array in (
        (FRAME_TIMES, np.asarray(result.frame_times, dtype=np.float64)),
        (SCORES, result.scores),
    ):
        if array is None:
            continue
        buf = io.BytesIO()
        np.save(buf, array)
        write_bytes(folder / name, buf.getvalue())


def merged_note(video_id: int, result: SpliceResult, min_clip_s: float) -> str | None:
    """Say when found cuts were joined (scenes under the minimum length), so that a cut that was
    found and merged never looks like a miss."""
    k = result.merged_cuts
    if k <= 0:
        return None
    cuts = "cut" if k == 1 else "cuts"
    return (
        f"video {video_id}: {k} {cuts} inside scenes under {min_clip_s:g} s joined their"
        f" neighbours ({len(result.spans)} clips from {len(set(result.cuts))} cuts)"
    )


def _explain_splice_failure(path: Path, exc: Exception) -> Exception:
    """A detector error that a retry cannot fix, said plainly: the picture size changes midway.
    Anything else is returned as it is (retried, as transient)."""
    changed = size_change(path)
    if changed is None:
        return exc
    (w1, h1), (w2, h2), at = changed
    return StageError(
        f"the picture size changes midway ({w1}x{h1} to {w2}x{h2} at frame {at}): scene"
        " detection needs one size; re-encode the source to one size (e.g. ffmpeg -vf"
        f" scale={w1}:{h1}) and ingest that",
        retryable=False,
    )


def _record_splice(session: Session, *, video_id: int, result: SpliceResult) -> None:
    video = session.get(SourceVideo, video_id)
    assert video is not None
    videos.insert_spans(session, video_id, result.spans)
    video.frame_count = result.frame_count
    if result.frame_times:
        last = result.spans[-1].end_time_s if result.spans else 0.0
        video.duration_s = max(video.duration_s or 0.0, last)
    video.detector = result.detector
    video.detector_params = {
        **result.params,
        "cuts_found": len(set(result.cuts)),
        "merged_cuts": result.merged_cuts,
    }
    session.add(video)
    session.flush()


def load_frame_times(ctx: RunContext, video_id: int) -> np.ndarray:
    path: Path = ctx.store.home.source_dir(video_id) / FRAME_TIMES
    return np.load(path)


# A per-video batch stage: (source, video_id, requests, frame_times, fps, on_progress) -> BatchResult
BatchStage = Callable[..., BatchResult]


def _sprite_stage(ctx: RunContext) -> BatchStage:
    params = sprites.SpriteParams(
        tile_width=ctx.settings.sprite_tile_width,
        columns=ctx.settings.sprite_columns,
        max_fps=ctx.settings.sprite_max_fps,
    )

    def call(source, video_id, requests, frame_times, fps, on_progress):  # type: ignore[no-untyped-def]
        # Views into the tile store the splice made (no decode); a video without one (an old
        # home) gets sheets drawn from the source as before.
        store = tiles.TileStore.find(ctx.store.home.source_dir(video_id))
        if store is not None and store.count == len(frame_times):
            return sprites.views(store, video_id, requests, frame_times, fps, params, on_progress)
        return sprites.run(source, video_id, requests, frame_times, fps, params, on_progress)

    return call


def _keyframe_stage(ctx: RunContext) -> BatchStage:
    params = keyframes.KeyframeParams(
        strategy=ctx.settings.keyframe_strategy, count=ctx.settings.keyframe_count
    )

    def call(source, video_id, requests, frame_times, fps, on_progress):  # type: ignore[no-untyped-def]
        return keyframes.run(source, video_id, requests, frame_times, params, on_progress)

    return call


def _fail_all(ctx: RunContext, step: Step, ids: list[int], exc: BaseException) -> None:
    """The whole batch failed (source unreadable, model missing): every clip gets the attempt."""
    for clip_id in ids:
        record_failure(ctx, step, clip_id, exc)


def _commit_each(
    ctx: RunContext,
    step: Step,
    outcomes: list[tuple[int, str | None, Callable[[Session], None]]],
) -> None:
    """Per row: record its failure, or write its result and finish its claim in one transaction.

    A claim lost meanwhile (expired and retaken, or yanked by an undo) drops the result.
    """
    for clip_id, error, write in outcomes:
        if error is not None:
            record_failure(ctx, step, clip_id, StageError(error))
            continue
        try:
            with ctx.store.tx() as session:
                write(session)
                claims.finish(session, step, clip_id, ctx.worker, ctx.clock())
                faults.hit(f"{step.name}.tx")
        except claims.ClaimLost:
            continue
        faults.hit(f"{step.name}.done")


def _run_frame_batch(ctx: RunContext, step: Step, ids: list[int], stage: BatchStage) -> None:
    """Clips of one source video through one decode pass; artifacts recorded per clip."""
    home = ctx.store.home
    with ctx.store.tx(write=False) as session:
        rows = [session.get(Clip, i) for i in ids]
        clip_rows = [c for c in rows if c is not None]
        video = session.get(SourceVideo, clip_rows[0].source_video_id)
        assert video is not None and video.id is not None
        source = home.abs(video.filepath or "")
        fps = video.fps or 0.0
        video_id = video.id
    requests = [
        FrameRequest(c.id or 0, c.start_frame, c.end_frame, home.clip_dir(c.id or 0))
        for c in clip_rows
    ]
    for req in requests:
        clear_temps(req.out_dir)  # a killed attempt's half-written images
    task = ctx.reporter.task(f"{step.name} video #{video_id}", len(requests), "clips")
    try:
        with keep_alive(ctx, step, ids):
            frame_times = load_frame_times(ctx, video_id)
            faults.hit(f"{step.name}.start")
            result = stage(source, video_id, requests, frame_times, fps, task.update)
    except Exception as exc:
        _fail_all(ctx, step, ids, exc)
        return
    finally:
        task.close()

    def writer(outcome: ClipOutcome) -> Callable[[Session], None]:
        def write(session: Session) -> None:
            for art in outcome.artifacts:
                artifacts.upsert(session, art, home.rel(art.path))

        return write

    _commit_each(
        ctx,
        step,
        [(o.clip_id, None if o.status == "ok" else (o.error or "failed"), writer(o))
         for o in result.outcomes],
    )  # fmt: skip


def run_sprites(ctx: RunContext, step: Step, ids: list[int]) -> None:
    _run_frame_batch(ctx, step, ids, _sprite_stage(ctx))


def run_keyframes(ctx: RunContext, step: Step, ids: list[int]) -> None:
    _run_frame_batch(ctx, step, ids, _keyframe_stage(ctx))


def run_embed(ctx: RunContext, step: Step, ids: list[int]) -> None:
    """Embed keyframed clips in one batch across videos; vectors + codes + tags in one write."""
    home = ctx.store.home
    spec = resolve_model(ctx.settings)
    with ctx.store.tx(write=False) as session:
        requests = []
        for clip_id in ids:
            frames = clips.artifacts(session, clip_id, kind="keyframe")
            paths = tuple(home.abs(a.path) for a in frames)
            requests.append(EmbedRequest(clip_id, paths))
    total = sum(len(r.keyframe_paths) for r in requests)
    task = ctx.reporter.task(f"embed {len(ids)} clips", total, "images")
    try:
        with keep_alive(ctx, step, ids):
            faults.hit("embed.start")
            result = embed.run(requests, spec, on_progress=task.update)
        faults.hit("embed.inferred")
    except Exception as exc:
        _fail_all(ctx, step, ids, exc)
        return
    finally:
        task.close()

    def writer(item: ClipEmbedding) -> Callable[[Session], None]:
        def write(session: Session) -> None:
            vector = np.asarray(item.vector, dtype=np.float32)
            vectors.put(
                session, item.clip_id, result.model, result.strategy, vector, list(item.tags)
            )

        return write

    _commit_each(
        ctx,
        step,
        [(i.clip_id, None if i.status == "ok" else (i.error or "failed"), writer(i))
         for i in result.items],
    )  # fmt: skip


EXECUTORS: dict[str, Executor] = {
    "follow": run_follow,
    "download": run_download,
    "splice": run_splice,
    "sprite": run_sprites,
    "keyframe": run_keyframes,
    "embed": run_embed,
}

# Run before a step claims: the follows' due times follow the current follow_every_h.
PREPARE: dict[str, Callable[[RunContext], None]] = {"follow": reschedule_follows}
