"""Keyframes: a few representative JPEG stills per approved clip, input of the embedding stage.

All pending clips of one source video share one forward pass (`frames.SourceReader`), which only
decodes the GOPs that hold a wanted frame. A clip's files are written only once all of its frames
were decoded, so a failed clip leaves no files behind.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av.error
import numpy as np
from av.video.reformatter import VideoReformatter

from heaters.domain.results import (
    ArtifactOut,
    BatchResult,
    ClipOutcome,
    FrameRequest,
    StageError,
)
from heaters.domain.sampling import (
    DEFAULT_KEYFRAME_COUNT,
    KeyframePick,
    keyframe_plan,
    keyframe_points,
    scaled_size,
)
from heaters.domain.text import error_line
from heaters.stages.atomic import write_bytes
from heaters.stages.frames import SourceReader, check_span, encode_jpeg, upright


def keyframe_file(tag: str) -> str:
    return f"kf_{tag}.jpg"


@dataclass(frozen=True)
class KeyframeParams:
    strategy: str = "multi"  # "multi" (25/50/75 %), "midpoint" (50 %) or "uniform" (`count`)
    count: int = DEFAULT_KEYFRAME_COUNT  # frames of `uniform`, evenly spaced
    max_width: int = 1280  # never enlarged beyond the source's display width
    quality: int = 90  # JPEG quality


@dataclass
class _Clip:
    pos: int
    request: FrameRequest
    picks: tuple[KeyframePick, ...]
    images: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> RGB

    @property
    def last_frame(self) -> int:
        return max(p.frame for p in self.picks)


def run(
    source: Path,
    video_id: int,
    requests: Sequence[FrameRequest],
    frame_times: Sequence[float],
    params: KeyframeParams = KeyframeParams(),  # noqa: B008 - frozen dataclass, safe as default
    on_progress: Callable[[int, int], None] | None = None,
) -> BatchResult:
    """Write `kf_<tag>.jpg` files into each request's `out_dir`; one decode pass over `source`.

    Raises StageError when the source cannot be opened (or the strategy is unknown); a clip whose
    frames cannot be read gets a failed outcome and the others go on.
    """
    try:
        keyframe_points(params.strategy, params.count)
    except ValueError as exc:
        raise StageError(str(exc)) from exc
    started = time.perf_counter()
    if hasattr(frame_times, "tolist"):  # the runner may pass a numpy array
        frame_times = frame_times.tolist()
    total = len(requests)
    outcomes: dict[int, ClipOutcome] = {}

    def finish(pos: int, outcome: ClipOutcome) -> None:
        outcomes[pos] = outcome
        if on_progress is not None:
            on_progress(len(outcomes), total)

    with SourceReader(source) as reader:
        info = reader.info
        out_w, out_h = scaled_size(*info.upright_size, params.max_width)
        turned = info.rotation in (90, 270)
        scale_w, scale_h = (out_h, out_w) if turned else (out_w, out_h)  # before turning
        clips: list[_Clip] = []
        for pos, req in enumerate(requests):
            why = check_span(req.start_frame, req.end_frame, len(frame_times))
            if why is not None:
                finish(pos, _failed(req, why))
                continue
            picks = keyframe_plan(
                req.start_frame,
                req.end_frame,
                params.strategy,
                count=params.count,
                fps=info.fps,
                frame_times=frame_times,
            )
            clips.append(_Clip(pos, req, picks))

        users: dict[int, list[_Clip]] = defaultdict(list)
        for clip in clips:
            for f in {p.frame for p in clip.picks}:
                users[f].append(clip)
        open_clips = sorted(clips, key=lambda c: c.last_frame, reverse=True)
        scaler = VideoReformatter()

        def close_clip(clip: _Clip) -> None:
            missing = [p.frame for p in clip.picks if p.frame not in clip.images]
            if missing:
                finish(clip.pos, _failed(clip.request, f"could not decode frame {missing[0]}"))
            else:
                finish(clip.pos, _write_clip(clip, params, out_w, out_h))
            clip.images.clear()

        error: str | None = None
        try:
            for k, frame in reader.frames(users.keys(), frame_times):
                rgb = scaler.reformat(
                    frame,
                    scale_w,
                    scale_h,
                    "rgb24",
                    interpolation="AREA",
                    src_color_range=frame.color_range,  # else full-range sources look washed out
                ).to_ndarray()
                rgb = upright(rgb, info.rotation)  # what players, export and the model see
                for clip in users[k]:
                    clip.images[k] = rgb
                while open_clips and open_clips[-1].last_frame <= k:
                    close_clip(open_clips.pop())
        except av.error.FFmpegError as e:
            error = f"decoding stopped: {error_line(e)}"
        while open_clips:
            clip = open_clips.pop()
            if error is not None:
                finish(clip.pos, _failed(clip.request, error))
            else:
                close_clip(clip)

    return BatchResult(
        status="ok",
        video_id=video_id,
        outcomes=tuple(outcomes[i] for i in sorted(outcomes)),
        duration_ms=round((time.perf_counter() - started) * 1000),
    )


def _write_clip(clip: _Clip, params: KeyframeParams, width: int, height: int) -> ClipOutcome:
    req = clip.request
    arts: list[ArtifactOut] = []
    try:
        for pick in clip.picks:
            path = req.out_dir / keyframe_file(pick.tag)
            write_bytes(path, encode_jpeg(clip.images[pick.frame], params.quality))
            arts.append(
                ArtifactOut(
                    clip_id=req.clip_id,
                    kind="keyframe",
                    strategy=params.strategy,
                    tag=pick.tag,
                    path=path.resolve(),
                    metadata={
                        "frame": pick.frame,
                        "time_s": round(pick.time_s, 6),
                        "width": width,
                        "height": height,
                        "count": len(clip.picks),  # with `strategy`: which plan made the file
                    },
                )
            )
    except (OSError, ValueError) as e:
        return _failed(req, f"cannot write keyframes: {error_line(e)}")
    return ClipOutcome(clip_id=req.clip_id, status="ok", artifacts=tuple(arts))


def _failed(req: FrameRequest, error: str) -> ClipOutcome:
    return ClipOutcome(clip_id=req.clip_id, status="failed", error=error)
