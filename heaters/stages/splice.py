"""Splice stage: find the shot boundaries of a video and turn them into clip frame ranges.

One pass of PyAV decoding is the whole cost (files of 24 s or more in keyframe-aligned segments
on two one-thread decoders: `heaters.stages.segments`). Each decoded frame is measured once from
a few thousand samples of its Y, U and V planes, read straight from the decoder's buffers (strided
numpy views, no colour conversion): changes from the 1-3 frames before it, brightness, spread, and
how much it looks like a blend of the frames 4-12 before and after it (dissolves and fades). These
per-frame scores (`heaters.domain.scenes.COLUMNS`) are the result's `scores`, kept beside the
video so that `heaters resplice` cuts again without decoding; the rules that turn them into clip
boundaries are pure (`heaters.domain.scenes`).

Detectors: "hybrid" (default) = hard cuts and black from the scores, blend candidates and doubtful
hard cuts confirmed by TransNetV2, run only on the frames around them (48x27 thumbnails made from
the same samples); "content" = the same without the network; "transnetv2" = the network on every
frame; "pyscenedetect" = exactly `scenedetect.detect(path, ContentDetector(...))` (its own
decode), for comparison. No database and no clip files: the result is frame ranges with the
decoded frames' own timestamps (variable frame rate is real).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import av
import cv2
import numpy as np
import numpy.typing as npt

from heaters.domain import scenes
from heaters.domain.chapters import chapter_frames, with_chapters
from heaters.domain.results import SpliceResult, StageError
from heaters.domain.scenes import COL, COLUMNS, CutRules, tile
from heaters.domain.text import error_line
from heaters.stages import segments
from heaters.stages.spill import SpilledArrays

log = logging.getLogger(__name__)

# The splice's own threads fill the cores (two decoders and the measuring thread); OpenCV's pool
# on top of them (it splits a batch's larger calls) only spun: ~50 % more CPU for the measuring,
# no gain in wall time. Set once for the process (the tile store's calls are small).
cv2.setNumThreads(1)

DETECTORS, DEFAULT_DETECTOR, DEFAULT_THRESHOLD = (
    scenes.DETECTORS,
    scenes.DEFAULT_DETECTOR,
    scenes.DEFAULT_THRESHOLD,
)

# Measurement constants (recorded in the result's params).
SAMPLE_WIDTH = 160  # Y samples per row: plenty to see a cut, cheap enough to be free
ROW_FACTOR = 2  # sample every ROW_FACTOR-th sampled row only (rows cost memory bandwidth)
LAGS = 3  # compare each frame with the 1..3 before it: flashes of up to 2 frames are no cut
BLEND_H = (4, 8, 12)  # a frame is compared with the mix of the frames h before and after it
FAR_MIN = 8.0  # ... when those two differ at least this much (mean abs, 0-255)
RING = 128  # frames whose samples are kept while looking for candidates (a window + lag)
NET_BLOCK = 500  # frames per network call batch for the "transnetv2" detector
RULES = CutRules()  # the default rules: what the pass looks for candidates with (made once)
PROGRESS_EVERY_S = 0.1
QUEUE_FRAMES = 8  # decoded frames waiting to be measured: memory stays flat
HANDOFF = 4  # frames handed from the decoding thread to the measuring one at a time
BATCH = 32  # frames measured together (numpy's and OpenCV's per-call cost shared by a batch)
SEGMENT_S = 20.0  # beside the tile store: decode in segments of up to this long on two threads
SEGMENT_MIN_S = 2.0  # ... and at least this long (the last ones are short: segments.plan)

U8 = npt.NDArray[np.uint8]


class FrameSink(Protocol):
    """Another consumer of the splice's decoded frames (the tile store): one decode serves both."""

    def start(self, stream: Any) -> None: ...  # the video stream, before the first frame
    def add(self, frame: av.VideoFrame) -> None: ...  # every decoded frame, in order


class SegmentSink(FrameSink, Protocol):
    """A sink whose per-frame work can run on the decoding threads (segmented decoding)."""

    def encoder(self) -> Callable[[av.VideoFrame], bytes]: ...  # one per decoding thread
    def add_encoded(self, data: bytes) -> None: ...  # what `encoder` made, in frame order


@dataclass(frozen=True)
class SpliceParams:
    """How to splice: detector name, its threshold (None: the detector's default), min clip."""

    detector: str = DEFAULT_DETECTOR
    threshold: float | None = None
    min_clip_s: float = 1.0
    # chapter starts (seconds) that must be clip boundaries (setting chapter_cuts; empty: none)
    chapter_starts: tuple[float, ...] = ()


def run(
    path: Path,
    video_id: int,
    params: SpliceParams,
    on_progress: Callable[[int, int], None] | None = None,
    sink: FrameSink | None = None,
) -> SpliceResult:
    """Detect cuts in `path` and tile it into clips of at least `params.min_clip_s` seconds.

    `on_progress(frames_done, frames_total_estimate)` is called at most ~10 times a second;
    `sink` gets every decoded frame after the detector.
    Raises `StageError` (one line) for files that are not videos or decode no frame; a file that
    is truncated or corrupt part-way is spliced as far as it decodes.
    """
    started = time.monotonic()
    threshold = check_params(params)
    _check_file(path)

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as e:
        raise StageError(f"not a readable media file: {error_line(e, 300)}") from e
    try:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["no"]
            raise StageError(f"no video stream (the file has {'/'.join(kinds)} streams only)")
        stream = container.streams.video[0]
        # One decoding thread, as each segment's: the same pixels whatever the path (FFmpeg's
        # frame threads conceal a damaged stretch differently, and lost the last frames of a
        # truncated file), and beside it the measuring (and the tiles) use the second core.
        configure_decoder(stream, frame_threads=False)
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 30.0
        estimate = _frame_estimate(container, stream, fps)
        scorer = _Scorer(net=_net_mode(params.detector), picture=_picture(stream))
        if sink is not None:
            sink.start(stream)
        times, last_duration, skipped = _decode(
            container, stream, scorer, estimate, on_progress, sink, path
        )
    finally:
        container.close()

    n = len(times)
    if n == 0:
        raise StageError("no video frame could be decoded")
    if skipped:
        log.warning("%s: skipped %d undecodable packets", path, skipped)
    min_len = _min_len(params.min_clip_s, fps)
    scores = scorer.finish()
    if params.detector == "pyscenedetect":
        cuts, strength, kinds = _pyscenedetect(path, threshold, n), {}, {}
    else:
        found = scenes.detect(scores, params.detector, threshold)
        cuts = [b.frame for b in found]
        strength = {b.frame: b.strength for b in found}
        kinds = {b.frame: b.kind for b in found}
    chapters = chapter_frames(params.chapter_starts, times)
    cuts, strength, kinds = with_chapters(cuts, strength, kinds, chapters)
    ranges = tile(cuts, n, min_len, strength)
    spans = scenes.spans(ranges, times, times[-1] + last_duration)
    recorded: dict[str, Any] = {**asdict(params), "threshold": threshold, **settings()}
    recorded.pop("chapter_starts")
    if chapters:
        recorded["chapter_cuts"] = chapters  # resplice keeps them
    return SpliceResult(
        status="ok",
        video_id=video_id,
        spans=spans,
        cuts=tuple(cuts),
        kinds=tuple(kinds.get(c, "cut") for c in cuts),
        scores=scores,
        frame_count=n,
        frame_times=tuple(times),
        detector=params.detector,
        params=recorded,
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def configure_decoder(stream: Any, frame_threads: bool = True) -> None:
    """Decoder settings of the splice pass (the benchmarks' decode-only baseline uses the
    default, threads on).

    No deblocking: the in-loop filter only smooths block edges, which a detector that samples
    every 8th pixel cannot see, and skipping it saves ~10% of H.264 decoding (more with
    B-frames and CABAC, nothing on streams encoded without it). `frame_threads=False` decodes
    on one thread: FFmpeg's frame threads cost ~15% more CPU than one thread for the same
    frames (waiting on each other's reference rows, caches). The splice always decodes on one
    thread a decoder (the segments', or one for the whole file): the same pixels on damaged
    input whatever the path (frame threads conceal errors differently, and lost the last frames
    of a truncated file); the benchmarks' decode-only baseline uses the threads.
    """
    if frame_threads:
        stream.thread_type = "AUTO"
    else:
        stream.thread_type, stream.codec_context.thread_count = "NONE", 1
    stream.codec_context.options = {"skip_loop_filter": "all"}


def _picture(stream: Any) -> tuple[tuple[int, int] | None, str | None]:
    """The stream's picture size and pixel format, from its header (None: what the header does
    not say)."""
    ctx = stream.codec_context
    size = (ctx.width, ctx.height) if ctx.width > 0 and ctx.height > 0 else None
    fmt = ctx.format.name if ctx.format is not None else None
    return size, fmt


def _check_file(path: Path) -> None:
    """Fail early, and in plain words, on what PyAV would report obscurely."""
    try:
        size = path.stat().st_size
    except FileNotFoundError as e:
        raise StageError(f"file not found: {path}") from e
    except OSError as e:
        raise StageError(f"cannot read {path}: {e.strerror}") from e
    if not path.is_file():
        raise StageError(f"not a file: {path}")
    if size == 0:
        raise StageError(f"empty file (0 bytes): {path.name}")


def _min_len(min_clip_s: float, fps: float) -> int:
    return max(1, round(min_clip_s * fps))


def _frame_estimate(container: Any, stream: Any, fps: float) -> int:
    """Frames the progress bar expects: the header's count, else duration x rate."""
    if stream.frames:
        return int(stream.frames)
    if stream.duration and stream.time_base:
        return max(1, round(float(stream.duration * stream.time_base) * fps))
    if container.duration:
        return max(1, round(container.duration / 1_000_000 * fps))
    return 0


def _decode(
    container: Any,
    stream: Any,
    scorer: _Scorer,
    estimate: int,
    on_progress: Callable[[int, int], None] | None,
    sink: FrameSink | None = None,
    path: Path | None = None,
) -> tuple[list[float], float, int]:
    """Decode every frame once, feeding the scorer; return frame times, last duration, skips.

    A file of 24 s or more is decoded in keyframe-aligned segments by two one-thread decoders
    (`heaters.stages.segments`), each sampling (and tiling, beside a sink that can work on the
    decoding threads: the tile store) its own frames while this thread measures them in order:
    two one-thread decoders cost what one does and use both cores. When a segment cannot be
    trusted, the rest is decoded from the file's start on one decoder, as a shorter file is:
    on its own thread (`_Frames`), with the scorer measuring on this one (beside it, the
    measuring uses the core the decoder leaves). Packets that fail to decode are
    skipped (a damaged stretch loses frames, not the video); a demuxer error ends the pass with
    what was decoded so far (a truncated download). Times are seconds from the stream's start
    time (pts - start_time; the first timestamp when the container has none), the convention
    `heaters.stages.frames` reads them back with.
    """
    clock = _Clock(stream)
    report = _Reporter(on_progress, estimate)
    done = 0
    segmentable = path is not None and _segmentable(sink)
    starts = segments.plan(path, stream, SEGMENT_S, SEGMENT_MIN_S) if segmentable else []
    if starts and path is not None:
        try:
            done = _decode_segments(path, stream, starts, scorer, sink, clock, report)
            report.end(done)
            return clock.times, clock.last_duration, 0
        except segments.SegmentsFailed as e:
            log.info("%s: decoding on one thread from frame %d (%s)", path, e.done, e)
            done = e.done
    with _Frames(container, stream) as frames:
        for k, frame in enumerate(frames):
            if k < done:
                continue  # already measured from a segment
            clock.add(frame.pts, frame.duration)
            scorer.add(frame)
            if sink is not None:
                sink.add(frame)
            report.frame(len(clock.times))
        skipped = frames.skipped
    report.end(len(clock.times))
    return clock.times, clock.last_duration, skipped


def _segmentable(sink: FrameSink | None) -> bool:
    """The pass can decode in segments beside this sink: none, or one whose per-frame work
    runs on the decoding threads (`SegmentSink`)."""
    return sink is None or callable(getattr(sink, "encoder", None))


def _decode_segments(
    path: Path,
    stream: Any,
    starts: list[int],
    scorer: _Scorer,
    sink: Any,
    clock: _Clock,
    report: _Reporter,
) -> int:
    """The segmented pass: each decoding thread samples and tiles its own frames (while they
    are in its cache); this one measures the samples and stores the tiles, in frame order."""

    def make() -> Callable[[av.VideoFrame, bool], tuple[_Sample, bytes]]:
        # On the decoding thread, while the frame is in its cache; the frames past a segment's
        # end are only compared (by their samples).
        sample = _Sampler(*scorer.picture)
        if sink is None:
            return lambda frame, overlap: (sample(frame), b"")
        encode = sink.encoder()
        return lambda frame, overlap: (sample(frame), b"" if overlap else encode(frame))

    n = 0
    with segments.Segments(
        path,
        starts,
        lambda st: configure_decoder(st, frame_threads=False),
        make,
        _same_sample,
        time_base=float(stream.time_base),
        origin=stream.start_time or 0,
    ) as decoded:
        for d in decoded:
            clock.add(d.pts, d.duration)
            sample, tile = d.made
            scorer.add_sample(sample)
            if sink is not None:
                sink.add_encoded(tile)
            n += 1
            report.frame(n)
    return n


def _same_sample(a: tuple[_Sample, Any], b: tuple[_Sample, Any]) -> bool:
    """The same frame decoded twice (a segment's overlap with the next): the same samples."""
    (sa, _), (sb, _) = a, b
    return sa.shapes == sb.shapes and np.array_equal(sa.pix, sb.pix)


class _Clock:
    """Frame times in seconds from the stream's start, from each frame's pts in order."""

    def __init__(self, stream: Any) -> None:
        self.times: list[float] = []
        self.last_duration = 0.0
        self._tb = float(stream.time_base) if stream.time_base else 0.0
        self._origin: int | None = stream.start_time
        self._step = 1.0 / float(stream.average_rate) if stream.average_rate else 1 / 30

    def add(self, pts: int | None, duration: int | None) -> None:
        times, tb = self.times, self._tb
        if pts is not None and tb:
            if self._origin is None:
                self._origin = pts  # no start time in the container: the first timestamp
            t = (pts - self._origin) * tb
        else:
            t = times[-1] + self._step if times else 0.0
        if times and t <= times[-1]:
            t = times[-1] + 1e-6  # keep time strictly increasing on broken timestamps
        if times:
            self._step = min(max(t - times[-1], 1e-6), 10.0)
        times.append(t)
        self.last_duration = duration * tb if duration and tb else self._step


class _Reporter:
    """Progress at most every `PROGRESS_EVERY_S`."""

    def __init__(self, on_progress: Callable[[int, int], None] | None, estimate: int) -> None:
        self._on, self._estimate = on_progress, estimate
        self._next = time.monotonic() + PROGRESS_EVERY_S

    def frame(self, n: int) -> None:
        if self._on is not None:
            now = time.monotonic()
            if now >= self._next:
                self._next = now + PROGRESS_EVERY_S
                self._on(n, max(self._estimate, n))

    def end(self, n: int) -> None:
        if self._on is not None:
            self._on(n, n)


class _Frames:
    """The decoded frames of one stream, decoded on a background thread, in order.

    A bounded queue (`QUEUE_FRAMES`) keeps memory flat: the decoder waits when the measuring
    falls behind. Frames cross in groups of `HANDOFF`: each crossing wakes the other thread (a
    futex, a context switch, the GIL changing hands); one frame at a time, the splice with its
    tile store made ~8 context switches a frame, against ~6 in groups. Leaving the `with`
    block (normally, on an error or on Ctrl-C in the consumer) stops the decoder thread and
    waits for it, so the container is never closed under it.
    """

    _END = object()

    def __init__(self, container: Any, stream: Any) -> None:
        self._container, self._stream = container, stream
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, QUEUE_FRAMES // HANDOFF))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="splice-decode", daemon=True)
        self.skipped = 0

    def __enter__(self) -> _Frames:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:  # unblock a decoder waiting on a full queue
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.05)

    def __iter__(self) -> Iterator[av.VideoFrame]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield from item

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        group: list[av.VideoFrame] = []
        try:
            packets = self._container.demux(self._stream)
            while not self._stop.is_set():
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except av.FFmpegError as e:
                    log.warning("demuxing stopped early: %s", error_line(e, 300))
                    break
                try:
                    group += packet.decode()
                except av.FFmpegError:
                    self.skipped += 1
                    continue
                if len(group) >= HANDOFF:
                    if not self._put(group):
                        return
                    group = []
        except BaseException as e:  # handed to the consumer (after the frames before it)
            if group:
                self._put(group)
            self._put(e)
            return
        if group and not self._put(group):
            return
        self._put(self._END)


def check_params(params: SpliceParams) -> float:
    """The threshold to use; StageError (one line, not retryable) for unusable parameters."""
    try:
        scenes.check_detector(params.detector, params.threshold)
    except ValueError as e:
        raise StageError(str(e), retryable=False) from e
    if params.min_clip_s < 0 or not math.isfinite(params.min_clip_s):
        raise StageError(
            f"min_clip_s must be a non-negative number, got {params.min_clip_s}", retryable=False
        )
    if params.threshold is not None:
        return params.threshold
    return DEFAULT_THRESHOLD[params.detector]


def settings() -> dict[str, Any]:
    """The measurement and rule constants, recorded with every splice."""
    return {
        "sample_width": SAMPLE_WIDTH,
        "row_factor": ROW_FACTOR,
        "lags": LAGS,
        "blend_h": list(BLEND_H),
        "far_min": FAR_MIN,
        "rules": asdict(RULES),
        "scores_version": scenes.SCORES_VERSION,
    }


def _net_mode(detector: str) -> str:
    return {"hybrid": "candidates", "transnetv2": "all"}.get(detector, "none")


def _pyscenedetect(path: Path, threshold: float, n: int) -> list[int]:
    """Exactly what `scenedetect.detect(path, ContentDetector(threshold))` reports (its own
    decode, its own frame numbers), for comparison with PySceneDetect as its users run it."""
    import scenedetect
    from scenedetect.detectors import ContentDetector

    try:
        found = scenedetect.detect(str(path), ContentDetector(threshold=threshold))
    except Exception as e:  # PySceneDetect wraps OpenCV: its errors have no common base
        raise StageError(f"PySceneDetect failed: {error_line(e, 300)}") from e
    return [s[0].frame_num for s in found[1:] if 0 < s[0].frame_num < n]


_BLANK_ROW = [0.0] * len(COLUMNS)
_BLANK_ROW[COL["q"]], _BLANK_ROW[COL["net"]] = math.inf, math.nan
_TAIL = 2 * max(BLEND_H)  # frames before a batch that its comparisons reach back to
# Frames after a frame (and before it) its hard-cut rules read: the neighbour's stand-out
# window, and the flash check (two frames on) of that window's last frame.
_LAG = RULES.window + 4
_C_PIX = [COL[f"pix{k + 1}"] for k in range(LAGS)]
_C_HIST = [COL[f"hist{k + 1}"] for k in range(LAGS)]
_C_LUMA, _C_SPREAD, _C_Q, _C_FAR = COL["luma"], COL["spread"], COL["q"], COL["far"]


@dataclass(frozen=True)
class _Sample:
    """One frame's strided samples in one flat array (a copy: the decoder reuses its buffers):
    Y, then U, then V, each plane row by row (`shapes` gives each plane's (rows, columns)).
    Copied row by row, the read walks each sampled row of a frame that is still in the cache
    (it was decoded a few frames ago): ~2.7x faster than column by column there, and as fast
    from memory (docs/decisions.md)."""

    pix: U8
    shapes: tuple[tuple[int, int], tuple[int, int]]  # Y's, then U's and V's (rows, columns)
    full_range: bool = False  # the frame's luma spans 0-255 (yuvj420p, or flagged), not 16-235

    def planes(self) -> tuple[U8, U8, U8]:
        """Views of Y, U and V (rows, columns)."""
        (ry, cy), (ru, cu) = self.shapes
        ny, nu = cy * ry, cu * ru
        p = self.pix
        return (
            p[:ny].reshape(ry, cy),
            p[ny : ny + nu].reshape(ru, cu),
            p[ny + nu :].reshape(ru, cu),
        )


# Planar YUV formats sampled where they lie, in the decoder's own planes: bytes a sample (2: 9-16
# bits, little-endian), bits, and how the chroma planes are subsampled across and down. Every
# other format (RGB, packed, semi-planar, big-endian, 4:1:1) is sampled from one conversion a
# frame to a small 4:2:0 picture, which costs as much as decoding it (~1.2 ms at 720p).
_PLANAR: dict[str, tuple[int, int, int, int]] = {
    "yuv420p": (1, 8, 2, 2), "yuvj420p": (1, 8, 2, 2),
    "yuv422p": (1, 8, 2, 1), "yuvj422p": (1, 8, 2, 1),
    "yuv444p": (1, 8, 1, 1), "yuvj444p": (1, 8, 1, 1),
    **{f"yuv{k}p{bits}le": (2, bits, *sub) for bits in (10, 12)
       for k, sub in (("420", (2, 2)), ("422", (2, 1)), ("444", (1, 1)))},
}  # fmt: skip
_420 = _PLANAR["yuv420p"]
_FULL_RANGE = 2  # AVCOL_RANGE_JPEG: luma spans 0-255


class _Sampler:
    """Takes each frame's samples; one per thread that samples.

    `size` and `fmt`: the stream's picture size and pixel format (None: the first frame's).
    Every frame is sampled on the same grid, that of 8-bit 4:2:0 at that size, so that all
    samples compare: a planar YUV frame (`_PLANAR`: 4:2:0, 4:2:2 or 4:4:4, 8 to 12 bits) is
    read where it lies, chroma at the grid's places and deeper samples cut to 8 bits; a frame
    of another size, or another format in such a stream (a stream whose resolution or pixel
    format changes part-way, e.g. joined recordings), is converted to 4:2:0 at the stream's
    size first. Streams of the other formats (RGB, semi-planar) are sampled from one
    conversion of each frame to a small 4:2:0 picture."""

    def __init__(self, size: tuple[int, int] | None = None, fmt: str | None = None) -> None:
        self._size = size
        self._fmt = fmt
        self._small: tuple[int, int] | None = None
        self._full_range = False
        # From the first frame sampled: (rows, columns) sampled per plane, and the steps.
        self._layout: tuple[tuple[tuple[int, int], tuple[int, int]], tuple[int, int]] | None = None

    def __call__(self, frame: av.VideoFrame) -> _Sample:
        """Every `step`-th sample of Y, U and V, read from the decoder's own buffers."""
        name = frame.format.name
        if self._size is None:
            self._size = (frame.width, frame.height)
        if self._fmt is None:
            self._fmt = name
        kind = _PLANAR.get(name)
        if self._fmt not in _PLANAR:
            if self._small is None:
                fw, fh = self._size
                w = min(fw, SAMPLE_WIDTH * 2)
                h = max(2, round(fh * w / max(1, fw) / 2) * 2)
                self._small = (w, h)
            frame = frame.reformat(width=self._small[0], height=self._small[1], format="yuv420p")
            kind = _420
        elif kind is None or (frame.width, frame.height) != self._size:
            # A frame unlike the stream's (its size or pixel format changed part-way).
            frame = frame.reformat(width=self._size[0], height=self._size[1], format="yuv420p")
            kind = _420
        else:
            # yuvj*: FFmpeg's old full-range names; HEVC and others flag the range instead.
            self._full_range = name.startswith("yuvj") or frame.color_range == _FULL_RANGE
        if self._layout is None:
            self._layout = _sample_layout(frame.width, frame.height)
        grid, (s, r) = self._layout
        (ry, ny), (ru, nu) = grid
        size, bits, across, down = kind
        # The chroma planes' steps that land on the 4:2:0 grid's places (2r rows, 2s columns
        # of the picture apart).
        cr, cs = 2 * r // down, 2 * s // across
        dtype = np.uint8 if size == 1 else np.dtype("<u2")
        py, pu, pv = frame.planes[:3]
        y = np.ndarray((ry, ny), dtype, py, 0, (r * py.line_size, s * size))
        u = np.ndarray((ru, nu), dtype, pu, 0, (cr * pu.line_size, cs * size))
        v = np.ndarray((ru, nu), dtype, pv, 0, (cr * pv.line_size, cs * size))
        pix = np.concatenate((y, u, v), axis=None)
        if size == 2:
            pix = (pix >> (bits - 8)).astype(np.uint8)
        return _Sample(pix, grid, self._full_range)


def _sample_layout(
    w: int, h: int
) -> tuple[tuple[tuple[int, int], tuple[int, int]], tuple[int, int]]:
    """(rows, columns) sampled of Y and of U and V, and the steps (s, r): every `s`-th column
    and every `ROW_FACTOR * s`-th row. Rows are sampled half as densely as columns: a row read
    costs whole cache lines of the frame (memory, not arithmetic, is the price here), extra
    columns are nearly free."""
    s = max(1, round(w / SAMPLE_WIDTH))
    r = ROW_FACTOR * s
    cw, ch = (w + 1) // 2, (h + 1) // 2
    return ((-(-h // r), -(-w // s)), (-(-ch // r), -(-cw // s))), (s, r)


_BINS = 8 * 8 * 8  # one histogram's bins (the half-bin one has 9 luma levels: 576)


class _Window:
    """The per-frame arrays the comparisons read, for the last `_TAIL` frames measured and the
    batch after them, in arrays made once (rows = frames): a batch writes its rows in place
    and the tail moves to the front after it (no new arrays a batch: their allocation was a
    tenth of the measuring's CPU)."""

    def __init__(self, first: _Sample) -> None:
        y_shape, uv_shape = first.shapes  # (rows, columns)
        self.ny, self.nu = y_shape[0] * y_shape[1], uv_shape[0] * uv_shape[1]
        self._shapes = (y_shape, uv_shape, uv_shape)
        n = _TAIL + BATCH
        # y, u, v samples (one L1 sum over y, u, u, v, v weighs luma and chroma alike).
        self.pix = np.empty((n, self.ny + 2 * self.nu), np.uint8)
        # Every other sample each way, for the blend comparisons.
        self._flat_shapes = [((a + 1) // 2, (b + 1) // 2) for a, b in self._shapes]
        self.flat = np.empty((n, sum(a * b for a, b in self._flat_shapes)), np.uint8)
        # The 8x8x8 histogram, then the one with luma bins moved half a bin (9 luma levels).
        self.hist = np.empty((n, _BINS + 9 * 64), np.float32)

    @staticmethod
    def _split(block: np.ndarray, shapes: Any) -> list[np.ndarray]:
        """Views of a block of rows (frames) as one (frames, a, b) array per plane, (a, b) its
        shape (rows, columns; no copy)."""
        out, at = [], 0
        for a, b in shapes:
            part = block[:, at : at + a * b].view()
            part.shape = (len(block), a, b)  # raises rather than copies
            out.append(part)
            at += a * b
        return out

    def planes(self, t: int, b: int) -> list[np.ndarray]:
        return self._split(self.pix[t : t + b], self._shapes)

    def u(self, t: int, b: int) -> U8:
        return self.pix[t : t + b, self.ny : self.ny + self.nu]

    def v(self, t: int, b: int) -> U8:
        return self.pix[t : t + b, self.ny + self.nu :]

    def flats(self, t: int, b: int) -> list[np.ndarray]:
        return self._split(self.flat[t : t + b], self._flat_shapes)

    def hists(self, t: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.hist[t : t + b]
        plain, half = rows[:, :_BINS].view(), rows[:, _BINS:].view()
        plain.shape, half.shape = (b, 8, 8, 8), (b, 9, 8, 8)
        return plain, half

    def keep(self, end: int) -> int:
        """Move the last `_TAIL` of rows [0, end) to the front; how many rows that is."""
        k = min(_TAIL, end)
        for a in (self.pix, self.flat, self.hist):
            a[:k] = a[end - k : end]
        return k


def _row_sums(a: U8) -> npt.NDArray[np.int32]:
    """Each row's sum (exact: at most 2^23 samples of 255 fit an int32), ~10x numpy's."""
    return cv2.reduce(a, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()


class _Scorer:
    """Measures decoded frames into the per-frame score columns, a batch of frames at a time.

    Per frame: a strided sample of Y (`SAMPLE_WIDTH` columns) and of U and V (half that), read
    from the decoder's planes without colour conversion (the only per-frame work: the frame's
    memory is read once, while it is fresh). Per batch of `BATCH` frames, in whole-array numpy:
    an 8x8x8 YUV histogram of the chroma-grid samples with luma centred on its mean (so
    brightness flicker barely moves it), in two luma bin phases; luma mean and spread; the
    histogram changes from the 1-3 frames before; the pixel changes (absolute differences and
    their row sums over the batch's rows, OpenCV's SIMD) and the blend test at each distance,
    for all of the batch's frames at once, applied in the order one frame at a time would.
    Batching changes no number: the integer sums, the rounding of the centring shift and of the
    blend mix, and the float L1 sums are those of the per-frame version (`cv2.calcHist`,
    `cv2.add`, `cv2.addWeighted`, `cv2.meanStdDev`, `cv2.norm`; tests/stages/
    test_splice_scores.py holds it as the reference); it saves their per-call cost (~25 small
    calls a frame, which on a loaded core cost as much as reading the samples). With `net`
    ("candidates" or "all") it also makes the network's 48x27 RGB thumbnail from the same
    samples and runs TransNetV2 on the frames around blend candidates and doubtful hard cuts,
    or on all of them.
    """

    def __init__(
        self, net: str = "none", picture: tuple[tuple[int, int] | None, str | None] = (None, None)
    ) -> None:
        self._batch: list[_Sample] = []  # sampled, not yet measured
        self._window: _Window | None = None  # made from the first batch's sample sizes
        self._held = 0  # rows of the window the last batch left (its tail)
        self._out = np.empty((0, len(COLUMNS)))  # scores (float64): rows [0, _n) are done
        self._n = 0
        self.picture = picture  # the size and kind every frame is sampled as (None: the first's)
        self._sampler = _Sampler(*picture)
        self._net_mode = net
        self._full_range = False
        self._ring: list[_Sample] = []  # samples of the last RING frames
        # Thumbnails the network will see: on disk (nearly every frame on dissolve-rich footage).
        self._kept = SpilledArrays()
        self._keep_until = -1
        self._cut_checked = 0  # frames before this were looked at for doubtful hard cuts
        self._doubtful_cuts: list[int] = []  # ... and those that were
        self._net_scores: dict[int, float] = {}
        self._pending: list[npt.NDArray[np.uint8]] = []  # "all": thumbnails not yet scored
        self._pending_from = 0
        if net != "none":
            from heaters.stages import transnet  # onnxruntime: only when the network is used

            self._tn = transnet

    # -- measuring ---------------------------------------------------------------------------

    def add(self, frame: av.VideoFrame) -> None:
        self.add_sample(self._sampler(frame))

    def add_sample(self, sample: _Sample) -> None:
        """The next frame's samples (taken here by `add`, or on a decoding thread)."""
        self._full_range = sample.full_range
        self._batch.append(sample)
        if len(self._batch) >= BATCH:
            self._measure()

    def _measure(self) -> None:
        """Score the frames sampled since the last batch (in order: rows, blends, network)."""
        batch, self._batch = self._batch, []
        if not batch:
            return
        b = len(batch)
        if self._window is None:
            self._window = _Window(batch[0])
        w, t = self._window, self._held
        np.concatenate([s.pix for s in batch], out=w.pix[t : t + b].reshape(-1))
        ys, us, vs = w.planes(t, b)
        y2, u2, v2 = w.pix[t : t + b, : w.ny], w.u(t, b), w.v(t, b)
        # Luma mean and spread exactly as cv2.meanStdDev gives them (integer sums, 1/n scale).
        scale = 1.0 / w.ny
        s1 = _row_sums(y2) * scale
        # y * y: exact in float32 (< 2^16), summed in float64 (exact below 2^53).
        squares = cv2.multiply(y2, y2, dtype=cv2.CV_32F)
        s2 = cv2.reduce(squares, 1, cv2.REDUCE_SUM, dtype=cv2.CV_64F).ravel() * scale
        spread = np.sqrt(np.maximum(s2 - s1 * s1, 0.0))
        # Luma on the chroma grid, shifted so that its mean sits mid-grey (each sample rounded
        # and saturated, as cv2.add applies a scalar): a brightness swing then barely moves the
        # histogram.
        cu, cv_ = us.shape[1], us.shape[2]
        yc = ys[:, ::2, ::2][:, :cu, :cv_].reshape(b, -1)
        shift = 144.0 - _row_sums(yc) * (1.0 / yc.shape[1])
        yc = np.clip(np.rint(yc + shift.astype(np.float32)[:, None]), 0, 255).astype(np.int16)
        # 16x8x8 bins (what calcHist does with even ranges over 0-255), one bincount per batch.
        bins = (yc >> 4) * 64 + (u2 >> 5).astype(np.int16) * 8 + (v2 >> 5)
        bins = bins + (np.arange(b, dtype=np.int32) * 1024)[:, None]
        fine = np.bincount(bins.ravel(), minlength=b * 1024).astype(np.float32)
        fine = fine.reshape(b, 16, 8, 8)
        fine *= np.float32(100.0 / w.nu)
        # Two 8-level luma binnings half a bin apart: a peak that the centring nudges across a
        # bin edge in one (a black-and-white picture whose mean moves) stays put in the other.
        hist, half = w.hists(t, b)
        fine.reshape(b, 8, 2, 8, 8).sum(axis=2, out=hist)
        half[:, 0], half[:, 8] = fine[:, 0], fine[:, 15]
        fine[:, 1:15].reshape(b, 7, 2, 8, 8).sum(axis=2, out=half[:, 1:8])
        # Blends are judged on every other sample each way: a quarter of the work, and a
        # dissolve or fade covers the whole picture.
        for plane, part in zip((ys, us, vs), w.flats(t, b), strict=True):
            np.copyto(part, plane[:, ::2, ::2])
        first = self._n
        rows = self._grow(b)
        rows[:, _C_LUMA], rows[:, _C_SPREAD] = s1, spread
        # Pixel changes from the 1-3 frames before: L1 over y, u, u, v, v (one sum weighs luma
        # and chroma alike: y has ~4x the samples), whole integer sums, so the same numbers as
        # one norm a frame; histogram changes |a - b| in float32 summed in float64, which is
        # cv2.norm's L1 of float32 (exact in any order: 512 terms within 2^-6..2^7).
        weight = w.ny + 4 * w.nu
        for lag in range(1, LAGS + 1):
            lo = max(0, lag - first)  # the batch's first frame with a frame `lag` before it
            if lo >= b:
                continue
            now, back = slice(t + lo, t + b), slice(t + lo - lag, t + b - lag)
            d = cv2.absdiff(w.pix[now], w.pix[back])
            sums = _row_sums(d[:, : w.ny]) + 2 * _row_sums(d[:, w.ny :])
            rows[lo:, _C_PIX[lag - 1]] = sums / weight
            dh = cv2.absdiff(w.hist[now], w.hist[back])
            plain = cv2.reduce(dh[:, :_BINS], 1, cv2.REDUCE_SUM, dtype=cv2.CV_64F).ravel()
            shifted = cv2.reduce(dh[:, _BINS:], 1, cv2.REDUCE_SUM, dtype=cv2.CV_64F).ravel()
            rows[lo:, _C_HIST[lag - 1]] = np.minimum(plain, shifted) / 2
        found = self._blends(first, b, w.flat[: t + b], t)
        if self._net_mode == "candidates":
            # Doubtful hard cuts, each decided once the frames its rules read are measured.
            checked, self._cut_checked = self._cut_checked, max(self._cut_checked, self._n - _LAG)
            cuts = np.full(b, -1, dtype=np.int64)
            for c in self._doubtful(checked, self._cut_checked):
                cuts[c + _LAG - first] = c
                self._doubtful_cuts.append(c)
            self._feed_candidates(first, batch, found, cuts)
        elif self._net_mode == "all":
            self._feed_all(batch)
        self._held = w.keep(t + b)

    def _grow(self, b: int) -> npt.NDArray[np.float64]:
        """Room for b more rows of scores (blank); the new rows."""
        if self._n + b > len(self._out):
            more = np.empty((max(2 * len(self._out), self._n + b), len(COLUMNS)))
            more[: self._n] = self._out[: self._n]
            self._out = more
        rows = self._out[self._n : self._n + b]
        rows[:] = _BLANK_ROW
        self._n += b
        return rows

    def _blends(self, first: int, b: int, flat: U8, t: int) -> npt.NDArray[np.int64]:
        """Score each frame i - h of the batch's reach as a blend of frames i - 2h and i (rows
        of `flat` from t on are the batch's frames); return, per frame i, the blend candidate
        it newly found (-1: none).

        Distances h in increasing order, as one frame at a time would: a frame's q is the
        smallest mid/far over the distances seen so far (its far the first that gave it), and
        frame i found candidate i - h when its h lowered that frame's q to q_candidate or below.
        """
        size = flat.shape[1]
        found = np.full(b, -1, dtype=np.int64)
        q_all, far_all = self._out[:, _C_Q], self._out[:, _C_FAR]
        for h in BLEND_H:
            lo = max(0, 2 * h - first)  # the batch's first frame with one 2h before it
            if lo >= b:
                break
            a = flat[t + lo - 2 * h : t + b - 2 * h]
            cur = flat[t + lo : t + b]
            far = _row_sums(cv2.absdiff(a, cur)) / size
            mix = cv2.addWeighted(a, 0.5, cur, 0.5, 0.0)
            mid = _row_sums(cv2.absdiff(flat[t + lo - h : t + b - h], mix)) / size
            q = mid / np.maximum(far, FAR_MIN)  # (the same where it counts: far >= FAR_MIN)
            target = np.arange(first + lo - h, first + b - h)
            better = (far >= FAR_MIN) & (q < q_all[target])
            q_all[target[better]] = q[better]
            far_all[target[better]] = far[better]
            hit = better & (q <= RULES.q_candidate)
            found[lo:][hit] = target[hit]  # larger h: an earlier frame (the smallest wins)
        return found

    def _thumbnail(self, s: _Sample) -> npt.NDArray[np.uint8]:
        """The network's 48x27 RGB frame, from the samples already taken (no second scale of the
        full frame: that would cost about half a decode)."""
        size = (self._tn.WIDTH, self._tn.HEIGHT)
        sy, su, sv = s.planes()
        y = cv2.resize(sy, size, interpolation=cv2.INTER_AREA)
        if not self._full_range:  # limited range (16-235): stretch as a player would
            y = cv2.convertScaleAbs(y, alpha=255 / 219, beta=-16 * 255 / 219)
        u = cv2.resize(su, size, interpolation=cv2.INTER_AREA)
        v = cv2.resize(sv, size, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(cv2.merge([y, u, v]), cv2.COLOR_YUV2RGB)

    # -- the network ---------------------------------------------------------------------------

    def _feed_all(self, batch: list[_Sample]) -> None:
        for sample in batch:
            self._pending.append(self._thumbnail(sample))
            if len(self._pending) >= NET_BLOCK + 2 * self._tn.CONTEXT:
                self._score_pending(final=False)

    def _feed_candidates(
        self,
        first: int,
        batch: list[_Sample],
        found: npt.NDArray[np.int64],
        cuts: npt.NDArray[np.int64],
    ) -> None:
        """Keep the thumbnails of the frames a centred window around any candidate can read
        (made from the recent frames' samples only then: most frames never need one); which
        candidates the network sees is decided at the end (`_score_regions`).

        `found[j]`: the blend candidate frame `first + j` found, `cuts[j]`: the doubtful hard
        cut known at frame `first + j` (-1: none). The ring of the last `RING` frames' samples
        takes the batch at once; frames are looked at one by one only from the first that has a
        candidate or lies within reach of an earlier one (one call a frame cost a third of the
        measuring on footage without candidates).
        """
        ring = self._ring + batch
        ring_first = first - len(self._ring)  # the video frame of ring[0]
        hits = np.flatnonzero((found >= 0) | (cuts >= 0))
        start = 0 if self._keep_until >= first else int(hits[0]) if len(hits) else len(batch)
        for j in range(start, len(batch)):
            i = first + j
            candidates = [int(c) for c in (found[j], cuts[j]) if c >= 0]
            for candidate in candidates:
                self._keep_around(candidate, i, ring, ring_first)
            if not candidates and i <= self._keep_until:
                self._kept[i] = self._thumbnail(batch[j])
        self._ring = ring[-RING:]

    def _keep_around(self, candidate: int, i: int, ring: list[_Sample], ring_first: int) -> None:
        """Thumbnails for the frames up to `i` a window around `candidate` can read (those the
        ring holds: the last RING up to frame i), and for those to come within its reach."""
        reach = self._tn.WINDOW  # a window centred near the candidate lies within this
        for k in range(max(candidate - reach, i - RING + 1, ring_first), i + 1):
            if k not in self._kept:
                self._kept[k] = self._thumbnail(ring[k - ring_first])
        self._keep_until = max(self._keep_until, candidate + reach)

    def _doubtful(self, lo: int, hi: int) -> list[int]:
        """The doubtful hard cuts (`scenes.doubtful_cuts`) among frames [lo, hi), from the
        scores so far: the same as from the whole video's once frame `hi - 1 + _LAG` is
        measured (or the video has ended), as float32 like the stored scores."""
        moved = np.flatnonzero(self._out[lo:hi, _C_PIX[0]] >= RULES.floor) + lo
        if not any(not self._stands_out_anyway(int(i)) for i in moved):
            return []  # (most batches: no frame moves as a cut must, or only sure cuts do)
        start = max(0, lo - _LAG)
        part = self._out[start : min(self._n, hi + _LAG)].astype(np.float32)
        return [start + f for f in scenes.doubtful_cuts(part, RULES) if lo <= start + f < hi]

    def _stands_out_anyway(self, i: int) -> bool:
        """Frame i's change is `threshold` times even the largest change of the frames around
        it: it stands out at least that much against either side's usual (a median), so it is
        no doubtful cut (a doubtful frame stands out less, `scenes.doubtful_cuts`). A cut in
        calm footage is told in a few microseconds, without the rules' medians."""
        w, d = RULES.window, self._out[: self._n, _C_PIX[0]]
        around = np.concatenate([d[max(0, i - w) : i], d[i + 1 : i + 1 + w]])
        limit = RULES.threshold * (around.max(initial=0.0) + RULES.offset)
        return bool(d[i] >= 1.01 * limit)  # (a margin for the stored scores' float32)

    def _score_pending(self, final: bool) -> None:
        """Score the buffered thumbnails (all but the last `context` frames unless `final`)."""
        ctx, stride = self._tn.CONTEXT, self._tn.STRIDE
        frames = np.stack(self._pending)
        base = self._pending_from  # video frame of frames[0]
        start = base if base == 0 else base + ctx
        stop = base + len(frames) if final else base + len(frames) - ctx
        stop = start + (stop - start) // stride * stride if not final else stop
        if stop <= start:
            return
        probs = self._tn.load_transnet().predict_range(frames, start, stop, offset=base)
        for j, p in enumerate(probs.tolist()):
            self._net_scores[start + j] = p
        keep_from = stop - ctx
        self._pending = self._pending[keep_from - base :]
        self._pending_from = keep_from

    def _score_regions(self, scores: np.ndarray) -> None:
        """One network window (100 frames) centred on each blend region the rules will judge
        (one per half window of a long region), and on each doubtful hard cut. A window's
        predictions are kept for all but its outer 15 frames, so a neighbouring region it
        already covers (the two halves of a fade) costs nothing more."""
        n = len(scores)
        win, half, edge = self._tn.WINDOW, self._tn.WINDOW // 2, 15
        doubtful = [(f - 2, f + 1) for f in self._doubtful_cuts]  # (decided in the pass)
        for a, b in sorted(scenes.blend_regions(scores, RULES) + doubtful):
            lo, hi = max(0, a - 6), min(n, b + 6)
            centre = lo
            while centre < hi:
                part = range(centre, min(hi, centre + half))
                centre += half
                if all(j in self._net_scores for j in part):
                    continue
                mid = min(part.start + half // 2, hi)
                start = min(max(0, mid - half), max(0, n - win))
                idx = np.clip(np.arange(start, start + win), 0, n - 1)
                if not all(int(j) in self._kept for j in idx):
                    break  # thumbnails missing (a candidate seen too late): judge it classically
                net = self._tn.load_transnet()
                probs, _ = net.predict_window(np.stack([self._kept[int(j)] for j in idx]))
                first = start if start == 0 else start + edge
                last = min(n, start + win if start + win >= n else start + win - edge)
                for j in range(first, last):
                    self._net_scores.setdefault(j, float(probs[j - start]))

    def finish(self) -> np.ndarray:
        """The per-frame scores, network probabilities included where they were computed."""
        self._measure()
        if self._net_mode == "candidates":  # the last frames' doubtful cuts
            ring_first = self._n - len(self._ring)
            for c in self._doubtful(self._cut_checked, self._n):
                self._keep_around(c, self._n - 1, self._ring, ring_first)
                self._doubtful_cuts.append(c)
        if self._net_mode == "all" and self._pending:
            self._score_pending(final=True)
        out = self._out[: self._n].astype(np.float32)
        if self._net_mode == "candidates" and self._kept:
            self._score_regions(out)
        self._kept.close()
        for j, p in self._net_scores.items():
            if j < len(out):
                out[j, COL["net"]] = p
        return out
