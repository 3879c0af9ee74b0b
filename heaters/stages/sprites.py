"""Sprites: what the review screen shows of a clip, one picture per sampled frame.

Videos spliced with a tile store (`heaters.stages.tiles`, made in the splice's decode pass) get
views: a clip's sprite lists which tiles of the store it shows (`views`), no pixels, no decode.
Videos without one (spliced before the store existed) keep per-clip sheets drawn from the source.
All clips of one source video are drawn from a single forward decode pass (`frames.SourceReader`):
each wanted frame is scaled once to tile size, staying in YUV, and copied into every sheet that
uses it; a sheet is converted to RGB, encoded and renamed into place as soon as the pass has gone
past its clip's last tile, so memory holds only the sheets of clips under the read position. That
conversion and the JPEG encoding (libjpeg-turbo via Pillow; both release the GIL) run on a worker
thread while decoding goes on.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import av
import av.error
import numpy as np
from av.video.plane import VideoPlane
from av.video.reformatter import VideoReformatter

from heaters.domain.results import (
    ArtifactOut,
    BatchResult,
    ClipOutcome,
    FrameRequest,
)
from heaters.domain.sampling import SpritePlan, sprite_plan, view_plan
from heaters.domain.text import error_line
from heaters.stages.atomic import write_bytes
from heaters.stages.frames import (
    SourceReader,
    check_span,
    encode_jpeg,
    upright,
)
from heaters.stages.tiles import TileStore

SPRITE_FILE = "sprite.jpg"
VIEW_STRATEGY = "tiles"  # a sprite that is a view into the video's tile store (no file of its own)


@dataclass(frozen=True)
class SpriteParams:
    tile_width: int = 320
    columns: int = 10
    max_fps: float = 24.0  # tiles per second of clip, at most (and at most the source's fps)
    max_height: int = 16384  # sheet height limit (px); longer clips are sampled more sparsely
    quality: int = 80  # JPEG quality
    max_tiles: int = 900  # views: every frame of a clip up to this many, else evenly spaced


@dataclass
class _Sheet:
    """One clip's sheet while the pass fills it: a YUV 4:2:0 picture, tiles copied in plane by
    plane, converted to RGB once per sheet (cheaper than converting every tile)."""

    pos: int  # index of the request, for the result order
    request: FrameRequest
    plan: SpritePlan
    picture: av.VideoFrame | None = None
    planes: list[np.ndarray] = field(default_factory=list)  # writable views of `picture`
    filled: list[bool] = field(default_factory=list)

    @property
    def last_frame(self) -> int:
        return self.plan.frames[-1]

    def put(self, tile_index: int, tile: list[np.ndarray], color: _Color) -> None:
        """Copy one tile (its Y, U, V planes, upright) into the sheet."""
        g = self.plan.geometry
        if self.picture is None:
            self.picture = av.VideoFrame(g.width, g.height, color.format)
            self.planes = [_view(pl) for pl in self.picture.planes]
            self.planes[0].fill(color.black)  # empty slots of the last row stay black
            self.planes[1].fill(128)
            self.planes[2].fill(128)
            self.filled = [False] * g.tile_count
        x, y = g.tile_origin(tile_index)
        for k, (dst, view) in enumerate(zip(self.planes, tile, strict=True)):
            d = 1 if k == 0 else 2  # chroma planes are half size both ways
            dst[y // d : y // d + view.shape[0], x // d : x // d + view.shape[1]] = view
        self.filled[tile_index] = True

    def missing(self) -> list[int]:
        if self.picture is None:
            return list(self.plan.frames)
        return [f for f, ok in zip(self.plan.frames, self.filled, strict=True) if not ok]

    def free(self) -> None:
        self.picture, self.planes = None, []


@dataclass(frozen=True)
class _Color:
    """How the source's pictures are coded, so the sheet converts to RGB like the tiles would."""

    format: str  # "yuv420p", or "yuvj420p" for full-range sources that say so in the format
    colorspace: int
    color_range: int
    black: int  # luma of black

    @staticmethod
    def of(frame: av.VideoFrame) -> _Color:
        fmt = "yuvj420p" if frame.format.name.startswith("yuvj") else "yuv420p"
        full = fmt == "yuvj420p" or frame.color_range == 2  # AVCOL_RANGE_JPEG
        return _Color(fmt, frame.colorspace, frame.color_range, 0 if full else 16)


def _view(plane: VideoPlane) -> np.ndarray:
    """A writable (height, width) numpy view of a picture plane (skipping line padding)."""
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]


def run(
    source: Path,
    video_id: int,
    requests: Sequence[FrameRequest],
    frame_times: Sequence[float],
    fps: float,
    params: SpriteParams = SpriteParams(),  # noqa: B008 - frozen dataclass, safe as default
    on_progress: Callable[[int, int], None] | None = None,
) -> BatchResult:
    """Write `sprite.jpg` into each request's `out_dir`; one decode pass over `source`.

    `frame_times[k]` is the timestamp (s) of source frame k (from the splice stage) and `fps` the
    source's nominal rate. Raises StageError when the source cannot be opened; a clip whose
    frames cannot be read gets a failed outcome and the others go on.
    """
    started = time.perf_counter()
    if hasattr(frame_times, "tolist"):  # the runner may pass a numpy array
        frame_times = frame_times.tolist()
    total = len(requests)
    outcomes: dict[int, ClipOutcome] = {}
    done = 0

    def finish(pos: int, outcome: ClipOutcome) -> None:
        nonlocal done
        outcomes[pos] = outcome
        done += 1
        if on_progress is not None:
            on_progress(done, total)

    with SourceReader(source) as reader:
        info = reader.info
        rate = fps if fps and fps > 0 else info.fps  # the nominal rate; the stream knows it too
        sheets: list[_Sheet] = []
        for pos, req in enumerate(requests):
            why = check_span(req.start_frame, req.end_frame, len(frame_times))
            if why is not None:
                finish(pos, _failed(req, why))
                continue
            plan = sprite_plan(
                req.start_frame,
                req.end_frame,
                fps=rate,
                width=info.upright_size[0],
                height=info.upright_size[1],
                frame_times=frame_times,
                tile_width=params.tile_width,
                columns=params.columns,
                max_fps=params.max_fps,
                max_height=params.max_height,
            )
            sheets.append(_Sheet(pos, req, plan))

        users: dict[int, list[tuple[_Sheet, int]]] = defaultdict(list)
        for sheet in sheets:
            for i, f in enumerate(sheet.plan.frames):
                users[f].append((sheet, i))
        # Sheets in the order the pass completes them.
        open_sheets = sorted(sheets, key=lambda s: s.last_frame, reverse=True)
        tile_w = params.tile_width
        tile_h = sheets[0].plan.geometry.tile_height if sheets else 0
        scaled = (tile_h, tile_w) if info.rotation in (90, 270) else (tile_w, tile_h)  # unturned
        scaler = VideoReformatter()
        writes: list[tuple[_Sheet, Future[ArtifactOut]]] = []

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sprite-jpeg") as pool:

            def close_sheet(sheet: _Sheet) -> None:
                missing = sheet.missing()
                if missing:
                    finish(sheet.pos, _failed(sheet.request, _missing_message(missing, sheet.plan)))
                    sheet.free()
                    return
                assert color is not None  # a sheet with all its tiles saw a frame
                writes.append((sheet, pool.submit(_write_sheet, sheet, color, params.quality)))
                # Collect finished writes so that their sheets' memory goes.
                while writes and writes[0][1].done():
                    _collect(*writes.pop(0), finish)

            error: str | None = None
            color: _Color | None = None
            try:
                for k, frame in reader.frames(users.keys(), frame_times):
                    if color is None:
                        color = _Color.of(frame)
                    small = scaler.reformat(frame, *scaled, color.format, interpolation="AREA")
                    tile = [upright(_view(pl), info.rotation) for pl in small.planes]
                    for sheet, i in users[k]:
                        sheet.put(i, tile, color)
                    while open_sheets and open_sheets[-1].last_frame <= k:
                        close_sheet(open_sheets.pop())
            except av.error.FFmpegError as e:
                error = f"decoding stopped: {error_line(e)}"
            while open_sheets:
                sheet = open_sheets.pop()
                if error is not None and sheet.missing():
                    finish(sheet.pos, _failed(sheet.request, error))
                else:
                    close_sheet(sheet)
            for sheet, fut in writes:
                _collect(sheet, fut, finish)

    return BatchResult(
        status="ok",
        video_id=video_id,
        outcomes=tuple(outcomes[i] for i in sorted(outcomes)),
        duration_ms=round((time.perf_counter() - started) * 1000),
    )


def views(
    store: TileStore,
    video_id: int,
    requests: Sequence[FrameRequest],
    frame_times: Sequence[float],
    fps: float,
    params: SpriteParams = SpriteParams(),  # noqa: B008 - frozen dataclass, safe as default
    on_progress: Callable[[int, int], None] | None = None,
) -> BatchResult:
    """Sprites as views into the video's tile store: which tiles each clip shows, no pixels.

    No decode and no file written (the source file is not even opened): a merge's or split's
    new clip is reviewable as soon as its row exists. Requires one tile per decoded frame
    (`store.count == len(frame_times)`); the caller checks.
    """
    started = time.perf_counter()
    if hasattr(frame_times, "tolist"):
        frame_times = frame_times.tolist()
    outcomes = []
    for done, req in enumerate(requests, 1):
        why = check_span(req.start_frame, req.end_frame, min(store.count, len(frame_times)))
        if why is not None:
            outcomes.append(_failed(req, why))
        else:
            frames, times, rate, sparse = view_plan(
                req.start_frame,
                req.end_frame,
                fps=fps,
                frame_times=frame_times,
                max_tiles=params.max_tiles,
            )
            art = ArtifactOut(
                clip_id=req.clip_id,
                kind="sprite",
                strategy=VIEW_STRATEGY,
                tag="",
                path=store.path.resolve(),
                metadata={
                    "layout": "tiles",  # tile k of the store is decoded frame k of the video
                    "tile_width": store.tile_width,
                    "tile_height": store.tile_height,
                    "columns": params.columns,
                    "tile_count": len(frames),
                    "fps": round(rate, 6),
                    "sparse": sparse,
                    "frames": list(frames),
                    "times": [round(t, 6) for t in times],
                },
            )
            outcomes.append(ClipOutcome(clip_id=req.clip_id, status="ok", artifacts=(art,)))
        if on_progress is not None:
            on_progress(done, len(requests))
    return BatchResult(
        status="ok",
        video_id=video_id,
        outcomes=tuple(outcomes),
        duration_ms=round((time.perf_counter() - started) * 1000),
    )


def _write_sheet(sheet: _Sheet, color: _Color, quality: int) -> ArtifactOut:
    """Convert, encode and place one sheet (worker thread); frees its picture."""
    assert sheet.picture is not None
    req, plan, g = sheet.request, sheet.plan, sheet.plan.geometry
    path = req.out_dir / SPRITE_FILE
    rgb = sheet.picture.reformat(
        format="rgb24", src_colorspace=color.colorspace, src_color_range=color.color_range
    ).to_ndarray()
    sheet.free()
    data = encode_jpeg(rgb, quality)
    del rgb
    write_bytes(path, data)
    return ArtifactOut(
        clip_id=req.clip_id,
        kind="sprite",
        strategy="grid",
        tag="",
        path=path.resolve(),
        metadata={
            "tile_width": g.tile_width,
            "tile_height": g.tile_height,
            "columns": g.columns,
            "rows": g.rows,
            "tile_count": g.tile_count,
            "fps": round(plan.fps, 6),
            "sparse": plan.sparse,
            "frames": list(plan.frames),
            "times": [round(t, 6) for t in plan.times],
        },
    )


def _collect(
    sheet: _Sheet, fut: Future[ArtifactOut], finish: Callable[[int, ClipOutcome], None]
) -> None:
    try:
        art = fut.result()
    except (OSError, ValueError, av.error.FFmpegError) as e:
        error = f"cannot write {SPRITE_FILE}: {error_line(e)}"
        finish(sheet.pos, _failed(sheet.request, error))
        return
    finish(sheet.pos, ClipOutcome(clip_id=sheet.request.clip_id, status="ok", artifacts=(art,)))


def _failed(req: FrameRequest, error: str) -> ClipOutcome:
    return ClipOutcome(clip_id=req.clip_id, status="failed", error=error)


def _missing_message(missing: list[int], plan: SpritePlan) -> str:
    return (
        f"could not decode {len(missing)} of {len(plan.frames)} sprite frames"
        f" (first missing: frame {missing[0]})"
    )
