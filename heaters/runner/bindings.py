"""Each step of the table bound to its stage: what to read, which stage, how its result is written.

One `Binding` per row of `heaters.domain.steps.STEPS` (the table stays pure data); the generic
executor (`heaters.runner.executors.execute`) runs every one of them the same way. To add a step:
its row in the table, a stage module, and its binding here; `BINDINGS` is checked against the
table when this module is imported, so a step without a binding stops the runner at import.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import Session

from heaters import faults
from heaters.domain.chapters import chapter_starts
from heaters.domain.files import FRAME_TIMES, SCORES
from heaters.domain.results import (
    BatchResult,
    ClipOutcome,
    DownloadResult,
    EmbedRequest,
    EmbedResult,
    FrameRequest,
    SpliceResult,
    StageError,
)
from heaters.domain.sources import clean_title
from heaters.domain.steps import STEPS
from heaters.domain.text import counted
from heaters.runner.context import RunContext
from heaters.runner.executors import Binding, Job, Progress, RowResult, check_bindings
from heaters.runner.sources import (
    download_limits,
    probe,
    register_result,
    reschedule_follows,
)
from heaters.settings import ConfigError, resolve_model, ytdlp_params
from heaters.stages import download, embed, keyframes, splice, sprites, tiles
from heaters.stages.atomic import write_bytes
from heaters.stages.frames import size_change
from heaters.stages.tools import ffmpeg_exe
from heaters.store import artifacts, clips, follows, vectors, videos
from heaters.store.tables import Clip, SourceVideo

# ---- follow: re-check followed URLs that are due ---------------------------------------------
# New entries become videos (`new`), which the download step takes in this same pass; the next
# check is `follow_every_h` hours away.


@dataclass(frozen=True)
class FollowCheck:
    follow_id: int
    url: str
    since: str | None
    settings: Any
    limits: download.Limits


def _read_follow(ctx: RunContext, session: Session, ids: list[int], params: None) -> Job | None:
    row = follows.get(session, ids[0])
    if row is None:
        return None
    check = FollowCheck(ids[0], row.url, row.since, ctx.settings, download_limits(ctx))
    return Job(ids, check, f"check follow #{ids[0]}")


def _check_follow(check: FollowCheck, on_progress: Progress) -> dict[str, Any]:
    """yt-dlp's look at the URL. One that fails is retried with backoff (a channel or feed can
    come back: a 404 today, fine tomorrow), then follow_failed until `heaters retry`."""
    try:
        result: dict[str, Any] = probe(check.settings, [check.url], check.limits)[0]
    except ConfigError as exc:
        raise StageError(str(exc), retryable=False) from exc
    if result["kind"] == "error":
        raise StageError(f"checking {check.url}: {result['error']}", retryable=True)
    return result


def _write_follow(ctx: RunContext, job: Job, result: dict[str, Any]) -> list[RowResult]:
    check: FollowCheck = job.inputs

    def write(session: Session) -> str | None:
        now = ctx.clock()
        got = register_result(session, result, since=check.since, follow_id=check.follow_id)
        new = sum(1 for r in got.rows if r["created"])
        follows.checked(
            session, check.follow_id, now, now + ctx.settings.follow_every_h * 3600, new,
            got.title,
        )  # fmt: skip
        return f"follow {check.follow_id}: {new} new video(s) from {check.url}" if new else None

    return [RowResult(check.follow_id, write)]


# ---- download: the file and its probe ---------------------------------------------------------


@dataclass(frozen=True)
class DownloadJob:
    video_id: int
    source: str
    kind: str  # url | file
    folder: Path
    limits: download.Limits
    ydl: dict[str, Any]


def _download_params(ctx: RunContext) -> dict[str, Any]:
    try:
        return ytdlp_params(ctx.settings)  # `heaters run` refused a bad one before any work
    except ConfigError as exc:
        raise StageError(str(exc), retryable=False) from exc


def _read_download(ctx: RunContext, session: Session, ids: list[int], ydl: dict[str, Any]) -> Job:
    video_id = ids[0]
    video = session.get(SourceVideo, video_id)
    assert video is not None
    source, kind = (video.url, "url") if video.url else (video.local_path or "", "file")
    folder = ctx.store.home.source_dir(video_id)
    inputs = DownloadJob(video_id, source, kind, folder, download_limits(ctx), ydl)
    # a killed attempt's temp files go; its resume folder stays (yt-dlp goes on from its .part)
    return Job(ids, inputs, f"download #{video_id}", None, (folder,))


def _download(job: DownloadJob, on_progress: Progress) -> DownloadResult:
    return download.run(
        job.video_id, job.source, job.kind, job.folder, ffmpeg_exe(), on_progress, job.limits,
        job.ydl,
    )  # fmt: skip


def _write_download(ctx: RunContext, job: Job, result: DownloadResult) -> list[RowResult]:
    home = ctx.store.home
    video_id = job.ids[0]

    def write(session: Session) -> None:
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

    return [RowResult(video_id, write)]


def _drop_partial(ctx: RunContext, video_id: int) -> None:
    download.drop_partial(ctx.store.home.source_dir(video_id))


# ---- splice: clip boundaries, per-frame scores, the tile store ---------------------------------


@dataclass(frozen=True)
class SpliceJob:
    video_id: int
    path: Path
    folder: Path
    params: splice.SpliceParams
    tiles: tiles.TileParams


def _splice_params(ctx: RunContext) -> tuple[splice.SpliceParams, tiles.TileParams]:
    s = ctx.settings
    base = splice.SpliceParams(detector=s.detector, threshold=s.threshold, min_clip_s=s.min_clip_s)
    return base, tiles.TileParams(size=s.sprite_tile_width)


def _read_splice(
    ctx: RunContext,
    session: Session,
    ids: list[int],
    params: tuple[splice.SpliceParams, tiles.TileParams],
) -> Job:
    home = ctx.store.home
    video_id = ids[0]
    video = session.get(SourceVideo, video_id)
    assert video is not None
    starts = chapter_starts(video.chapters) if ctx.settings.chapter_cuts else ()
    base, tile_params = params
    folder = home.source_dir(video_id)
    inputs = SpliceJob(
        video_id, home.abs(video.filepath or ""), folder,
        replace(base, chapter_starts=starts), tile_params,
    )  # fmt: skip
    return Job(ids, inputs, f"splice #{video_id}", video.frame_count or None, (folder,))


def _splice(job: SpliceJob, on_progress: Progress) -> SpliceResult:
    """One decode: scene detection, and beside it the tile store every clip's sprite will show
    (no second decode); then the arrays sprites, keyframes and resplice read."""
    tile_writer = tiles.TileWriter(job.folder / tiles.TILES_FILE, job.tiles)
    try:
        try:
            result = splice.run(
                job.path, job.video_id, job.params, on_progress=on_progress, sink=tile_writer
            )
        except StageError:
            raise
        except Exception as exc:
            explained = _explain_splice_failure(job.path, exc)
            if explained is exc:
                raise
            raise explained from exc
        tile_writer.close()
        faults.hit("splice.detected")
        save_splice_arrays(job.folder, result)
    except BaseException:
        tile_writer.abort()
        raise
    return result


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


def merged_note(video_id: int, result: SpliceResult, min_clip_s: float) -> str | None:
    """Say when found cuts were joined (scenes under the minimum length), so that a cut that was
    found and merged never looks like a miss."""
    k = result.merged_cuts
    if k <= 0:
        return None
    return (
        f"video {video_id}: {counted(k, 'cut')} inside scenes under {min_clip_s:g} s joined their"
        f" neighbours ({counted(len(result.spans), 'clip')} from"
        f" {counted(len(set(result.cuts)), 'cut')})"
    )


def _write_splice(ctx: RunContext, job: Job, result: SpliceResult) -> list[RowResult]:
    video_id = job.ids[0]
    min_clip_s = job.inputs.params.min_clip_s

    def write(session: Session) -> str | None:
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
        return merged_note(video_id, result, min_clip_s)

    return [RowResult(video_id, write)]


# ---- sprite, keyframe: the clips of one video through one pass over its frames ------------------


@dataclass(frozen=True)
class FrameJob:
    video_id: int
    source: Path
    folder: Path  # the video's own folder: frame times, the tile store
    fps: float
    requests: list[FrameRequest]
    params: Any  # SpriteParams | KeyframeParams


def _read_frames(step: str, ctx: RunContext, session: Session, ids: list[int], params: Any) -> Job:
    """Clips of one source video (the step claims them per video): one pass over its frames."""
    home = ctx.store.home
    rows = [session.get(Clip, i) for i in ids]
    clip_rows = [c for c in rows if c is not None]
    video = session.get(SourceVideo, clip_rows[0].source_video_id)
    assert video is not None and video.id is not None
    requests = [
        FrameRequest(c.id or 0, c.start_frame, c.end_frame, home.clip_dir(c.id or 0))
        for c in clip_rows
    ]
    inputs = FrameJob(
        video.id, home.abs(video.filepath or ""), home.source_dir(video.id), video.fps or 0.0,
        requests, params,
    )  # fmt: skip
    return Job(
        ids, inputs, f"{step} video #{video.id}", len(requests), tuple(r.out_dir for r in requests)
    )


def _sprite_params(ctx: RunContext) -> sprites.SpriteParams:
    s = ctx.settings
    return sprites.SpriteParams(
        tile_width=s.sprite_tile_width, columns=s.sprite_columns, max_fps=s.sprite_max_fps
    )


def _sprites(job: FrameJob, on_progress: Progress) -> BatchResult:
    """Views into the tile store the splice made (no decode); a video without one (an old home)
    gets sheets drawn from the source as before."""
    frame_times = np.load(job.folder / FRAME_TIMES)
    store = tiles.TileStore.find(job.folder)
    if store is not None and store.count == len(frame_times):
        return sprites.views(
            store, job.video_id, job.requests, frame_times, job.fps, job.params, on_progress
        )
    return sprites.run(
        job.source, job.video_id, job.requests, frame_times, job.fps, job.params, on_progress
    )


def _keyframe_params(ctx: RunContext) -> keyframes.KeyframeParams:
    s = ctx.settings
    return keyframes.KeyframeParams(strategy=s.keyframe_strategy, count=s.keyframe_count)


def _keyframes(job: FrameJob, on_progress: Progress) -> BatchResult:
    frame_times = np.load(job.folder / FRAME_TIMES)
    return keyframes.run(
        job.source, job.video_id, job.requests, frame_times, job.params, on_progress
    )


def _write_artifacts(ctx: RunContext, job: Job, result: BatchResult) -> list[RowResult]:
    home = ctx.store.home

    def row(outcome: ClipOutcome) -> RowResult:
        if outcome.status != "ok":
            return RowResult(outcome.clip_id, error=outcome.error or "failed")

        def write(session: Session) -> None:
            for art in outcome.artifacts:
                artifacts.upsert(session, art, home.rel(art.path))

        return RowResult(outcome.clip_id, write)

    return [row(o) for o in result.outcomes]


# ---- embed: keyframed clips in one batch across videos ----------------------------------------


@dataclass(frozen=True)
class EmbedJob:
    requests: list[EmbedRequest]
    spec: Any  # heaters.stages.models.ModelSpec


def _embed_params(ctx: RunContext) -> Any:
    return resolve_model(ctx.settings)  # a bad [models.NAME] table: ConfigError stops the run


def _read_embed(ctx: RunContext, session: Session, ids: list[int], spec: Any) -> Job:
    home = ctx.store.home
    requests = []
    for clip_id in ids:
        frames = clips.artifacts(session, clip_id, kind="keyframe")
        requests.append(EmbedRequest(clip_id, tuple(home.abs(a.path) for a in frames)))
    total = sum(len(r.keyframe_paths) for r in requests)
    return Job(ids, EmbedJob(requests, spec), f"embed {len(ids)} clips", total)


def _embed(job: EmbedJob, on_progress: Progress) -> EmbedResult:
    result = embed.run(job.requests, job.spec, on_progress=on_progress)
    faults.hit("embed.inferred")
    return result


def _write_embed(ctx: RunContext, job: Job, result: EmbedResult) -> list[RowResult]:
    """Each clip's vector, codes and tags in its own transaction."""
    out = []
    for item in result.items:
        if item.status != "ok":
            out.append(RowResult(item.clip_id, error=item.error or "failed"))
            continue

        def write(session: Session, item: Any = item) -> None:
            vector = np.asarray(item.vector, dtype=np.float32)
            vectors.put(
                session, item.clip_id, result.model, result.strategy, vector, list(item.tags)
            )

        out.append(RowResult(item.clip_id, write))
    return out


# ---- the table's bindings ---------------------------------------------------------------------

BINDINGS: dict[str, Binding] = check_bindings(
    STEPS,
    (
        Binding(
            step="follow",
            mode="each",
            unit="entries",
            read=_read_follow,
            stage=_check_follow,
            write=_write_follow,
            prepare=reschedule_follows,
        ),
        Binding(
            step="download",
            mode="each",
            unit="bytes",
            params=_download_params,
            read=_read_download,
            stage=_download,
            write=_write_download,
            keep=(download.RESUME_DIR,),
            gave_up=_drop_partial,
        ),
        Binding(
            step="splice",
            mode="each",
            unit="frames",
            params=_splice_params,
            read=_read_splice,
            stage=_splice,
            write=_write_splice,
        ),
        Binding(
            step="sprite",
            mode="batch",
            unit="clips",
            params=_sprite_params,
            read=partial(_read_frames, "sprite"),
            stage=_sprites,
            write=_write_artifacts,
        ),
        Binding(
            step="keyframe",
            mode="batch",
            unit="clips",
            params=_keyframe_params,
            read=partial(_read_frames, "keyframe"),
            stage=_keyframes,
            write=_write_artifacts,
        ),
        Binding(
            step="embed",
            mode="batch",
            unit="images",
            params=_embed_params,
            read=_read_embed,
            stage=_embed,
            write=_write_embed,
        ),
    ),
)
