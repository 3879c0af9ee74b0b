"""Splice stage: find the shot boundaries of a video and turn them into clip frame ranges.

One pass of PyAV decoding (threads on) is the whole cost: the default "content" detector reads a
few thousand samples of each decoded frame's Y, U and V planes straight from the decoder's
buffers (strided numpy views, no colour conversion), so it keeps up with the decoder. The scores
are then judged against their own neighbourhood (`heaters.domain.scenes`), which is what keeps
fast motion, grain and flicker from looking like cuts. No database and no clip files: the result
is frame ranges with the decoded frames' own timestamps (variable frame rate is real).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt

from heaters.domain.results import ClipSpan, SpliceResult, StageError
from heaters.domain.scenes import detect_cuts, tile

log = logging.getLogger(__name__)

DETECTORS = ("content", "pyscenedetect")
DEFAULT_THRESHOLD = {"content": 2.5, "pyscenedetect": 27.0}

# Content detector constants (recorded in the result's params with the threshold).
SAMPLE_WIDTH = 160  # Y samples per row: plenty to see a cut, cheap enough to be free
ROW_FACTOR = 2  # sample every ROW_FACTOR-th sampled row only (rows cost memory bandwidth)
WINDOW = 8  # frames on each side whose median change is a frame's "normal" change
FLOOR = 6.0  # minimum mean abs pixel difference (0-255) that can be a cut at all
MIN_JUMP = 1.5  # ... and at least this many times the neighbourhood's usual change
LAGS = 3  # compare each frame with the 1..3 before it: flashes of up to 2 frames are no cut
PROGRESS_EVERY_S = 0.1

U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class SpliceParams:
    """How to splice: detector name, its threshold (None: the detector's default), min clip."""

    detector: str = "content"
    threshold: float | None = None
    min_clip_s: float = 1.0


def run(
    path: Path,
    video_id: int,
    params: SpliceParams,
    on_progress: Callable[[int, int], None] | None = None,
) -> SpliceResult:
    """Detect cuts in `path` and tile it into clips of at least `params.min_clip_s` seconds.

    `on_progress(frames_done, frames_total_estimate)` is called at most ~10 times a second.
    Raises `StageError` (one line) for files that are not videos or decode no frame; a file that
    is truncated or corrupt part-way is spliced as far as it decodes.
    """
    started = time.monotonic()
    if params.detector not in DETECTORS:
        raise StageError(
            f"unknown detector {params.detector!r} (choose from {', '.join(DETECTORS)})"
        )
    if params.min_clip_s < 0 or not math.isfinite(params.min_clip_s):
        raise StageError(f"min_clip_s must be a non-negative number, got {params.min_clip_s}")
    threshold = (
        params.threshold if params.threshold is not None else DEFAULT_THRESHOLD[params.detector]
    )
    if threshold <= 0 or not math.isfinite(threshold):
        raise StageError(f"threshold must be a positive number, got {threshold}")
    _check_file(path)

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as e:
        raise StageError(f"not a readable media file: {_one_line(e)}") from e
    try:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["no"]
            raise StageError(f"no video stream (the file has {'/'.join(kinds)} streams only)")
        stream = container.streams.video[0]
        configure_decoder(stream)
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 30.0
        estimate = _frame_estimate(container, stream, fps)
        if params.detector == "content":
            scorer: _Scorer = _ContentScorer()
        else:
            scorer = _SceneDetectScorer(
                threshold, min_len=min(15, _min_len(params.min_clip_s, fps))
            )
        times, last_duration, skipped = _decode(container, stream, scorer, estimate, on_progress)
    finally:
        container.close()

    n = len(times)
    if n == 0:
        raise StageError("no video frame could be decoded")
    if skipped:
        log.warning("%s: skipped %d undecodable packets", path, skipped)
    min_len = _min_len(params.min_clip_s, fps)
    cuts, strength = scorer.cuts(threshold)
    ranges = tile(cuts, n, min_len, strength)
    end_time = times[-1] + last_duration
    spans = tuple(
        ClipSpan(
            start_frame=a,
            end_frame=b,
            start_time_s=times[a],
            end_time_s=times[b] if b < n else end_time,
        )
        for a, b in ranges
    )
    recorded: dict[str, Any] = {**asdict(params), "threshold": threshold, **scorer.settings()}
    return SpliceResult(
        status="ok",
        video_id=video_id,
        spans=spans,
        cuts=tuple(cuts),
        frame_count=n,
        frame_times=tuple(times),
        detector=params.detector,
        params=recorded,
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def configure_decoder(stream: Any) -> None:
    """Decoder settings of the splice pass (the benchmark's decode-only baseline uses them too).

    Threads on; and no deblocking: the in-loop filter only smooths block edges, which a
    detector that samples every 8th pixel cannot see, and skipping it saves ~10% of H.264
    decoding (more with B-frames and CABAC, nothing on streams encoded without it).
    """
    stream.thread_type = "AUTO"
    stream.codec_context.options = {"skip_loop_filter": "all"}


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


def _one_line(e: BaseException) -> str:
    """An exception as one short line (PyAV messages can carry the file name and a newline)."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:300]


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
) -> tuple[list[float], float, int]:
    """Decode every frame once, feeding the scorer; return frame times, last duration, skips.

    Packets that fail to decode are skipped (a damaged stretch loses frames, not the video); a
    demuxer error ends the pass with what was decoded so far (a truncated download). Times are
    seconds from the stream's start time (pts - start_time; the first timestamp when the
    container has none), the convention `heaters.stages.frames` reads them back with.
    """
    times: list[float] = []
    tb = float(stream.time_base) if stream.time_base else 0.0
    origin: int | None = stream.start_time
    step = 1.0 / float(stream.average_rate) if stream.average_rate else 1 / 30
    last_duration = 0.0
    skipped = 0
    next_report = time.monotonic() + PROGRESS_EVERY_S
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.FFmpegError as e:
            log.warning("demuxing stopped early: %s", _one_line(e))
            break
        try:
            frames = packet.decode()
        except av.FFmpegError:
            skipped += 1
            continue
        for frame in frames:
            pts = frame.pts
            if pts is not None and tb:
                if origin is None:
                    origin = pts  # no start time in the container: the first timestamp
                t = (pts - origin) * tb
            else:
                t = times[-1] + step if times else 0.0
            if times and t <= times[-1]:
                t = times[-1] + 1e-6  # keep time strictly increasing on broken timestamps
            if times:
                step = min(max(t - times[-1], 1e-6), 10.0)
            times.append(t)
            last_duration = frame.duration * tb if frame.duration and tb else step
            scorer.add(frame)
        if on_progress is not None:
            now = time.monotonic()
            if now >= next_report:
                next_report = now + PROGRESS_EVERY_S
                on_progress(len(times), max(estimate, len(times)))
    if on_progress is not None:
        on_progress(len(times), len(times))
    return times, last_duration, skipped


class _Scorer:
    """Consumes decoded frames one by one; afterwards says where the cuts are."""

    def add(self, frame: av.VideoFrame) -> None:
        raise NotImplementedError

    def cuts(self, threshold: float) -> tuple[list[int], dict[int, float]]:
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        raise NotImplementedError


class _ContentScorer(_Scorer):
    """heaters' own detector: sparse YUV samples, two change measures, adaptive threshold.

    Per frame: a strided sample of Y (`SAMPLE_WIDTH` columns) and of U and V (half that), read
    from the decoder's planes without colour conversion, and an 8x8x8 YUV histogram of the
    chroma-grid samples with luma centred on its mean (so brightness flicker barely moves it),
    in two luma bin phases.
    Each frame is compared with the `LAGS` frames before it; the maths that turns these numbers
    into cuts lives in `heaters.domain.scenes.detect_cuts`.
    """

    def __init__(self) -> None:
        self._recent: list[_Sample] = []  # the last LAGS frames, newest first
        self._pix: list[list[float]] = [[] for _ in range(LAGS)]
        self._hist: list[list[float]] = [[] for _ in range(LAGS)]
        self._step = 0
        self._small: tuple[int, int] | None = None

    def _sample(self, frame: av.VideoFrame) -> _Sample:
        """Every `step`-th sample of Y, U and V, read from the decoder's own buffers."""
        if frame.format.name not in ("yuv420p", "yuvj420p"):
            # Rare formats (4:2:2, 10-bit, RGB): one cheap scale+convert to a small 4:2:0 frame.
            if self._small is None:
                w = min(frame.width, SAMPLE_WIDTH * 2)
                h = max(2, round(frame.height * w / max(1, frame.width) / 2) * 2)
                self._small = (w, h)
            frame = frame.reformat(width=self._small[0], height=self._small[1], format="yuv420p")
        if not self._step:
            self._step = max(1, round(frame.width / SAMPLE_WIDTH))
        s = self._step
        w, h = frame.width, frame.height
        cw, ch = (w + 1) // 2, (h + 1) // 2
        py, pu, pv = frame.planes[0], frame.planes[1], frame.planes[2]
        # Rows are sampled half as densely as columns: a row read costs whole cache lines of
        # the frame (memory, not arithmetic, is the price here), extra columns are nearly free.
        r = ROW_FACTOR * s
        y = np.frombuffer(py, np.uint8).reshape(-1, py.line_size)
        u = np.frombuffer(pu, np.uint8).reshape(-1, pu.line_size)[:ch:r, :cw:s]
        v = np.frombuffer(pv, np.uint8).reshape(-1, pv.line_size)[:ch:r, :cw:s]
        ys = np.ascontiguousarray(y[:h:r, :w:s])
        u, v = np.ascontiguousarray(u), np.ascontiguousarray(v)
        # Luma on the chroma grid, shifted so that its mean sits mid-grey (saturating add): a
        # brightness swing then barely moves the histogram.
        yc = np.ascontiguousarray(ys[::2, ::2][: u.shape[0], : u.shape[1]])
        shift = 144.0 - cv2.mean(yc)[0]
        yc = cv2.add(yc, shift) if shift >= 0 else cv2.subtract(yc, -shift)
        fine = cv2.calcHist([yc, u, v], [0, 1, 2], None, [16, 8, 8], [0, 256, 0, 256, 0, 256])
        fine *= 100.0 / u.size
        # Two 8-level luma binnings half a bin apart: a peak that the centring nudges across a
        # bin edge in one (a black-and-white picture whose mean moves) stays put in the other.
        hist = fine.reshape(8, 2, 8, 8).sum(axis=1)
        hist_half = np.concatenate(
            [fine[:1], fine[1:15].reshape(7, 2, 8, 8).sum(axis=1), fine[15:]]
        )
        return _Sample(ys, u, v, hist, hist_half)

    @staticmethod
    def _compare(a: _Sample, b: _Sample) -> tuple[float, float]:
        """(mean abs pixel difference, luma and chroma weighted equally; histogram distance %)."""
        dy = cv2.norm(a.y, b.y, cv2.NORM_L1) / a.y.size
        dc = (cv2.norm(a.u, b.u, cv2.NORM_L1) + cv2.norm(a.v, b.v, cv2.NORM_L1)) / (2 * a.u.size)
        dh = min(
            cv2.norm(a.hist, b.hist, cv2.NORM_L1), cv2.norm(a.hist_half, b.hist_half, cv2.NORM_L1)
        )
        return (dy + dc) / 2, dh / 2

    def add(self, frame: av.VideoFrame) -> None:
        cur = self._sample(frame)
        for k in range(LAGS):
            pix, hist = self._compare(cur, self._recent[k]) if k < len(self._recent) else (0.0, 0.0)
            self._pix[k].append(pix)
            self._hist[k].append(hist)
        self._recent = [cur, *self._recent[: LAGS - 1]]

    def cuts(self, threshold: float) -> tuple[list[int], dict[int, float]]:
        return detect_cuts(
            self._pix,
            self._hist,
            threshold=threshold,
            window=WINDOW,
            floor=FLOOR,
            min_jump=MIN_JUMP,
        )

    def settings(self) -> dict[str, Any]:
        return {
            "sample_width": SAMPLE_WIDTH,
            "row_factor": ROW_FACTOR,
            "window": WINDOW,
            "floor": FLOOR,
            "min_jump": MIN_JUMP,
            "lags": LAGS,
        }


@dataclass(frozen=True)
class _Sample:
    y: U8
    u: U8
    v: U8
    hist: npt.NDArray[np.float32]
    hist_half: npt.NDArray[np.float32]


class _SceneDetectScorer(_Scorer):
    """PySceneDetect's ContentDetector, fed with our decoded frames (same frame indices/times)."""

    def __init__(self, threshold: float, min_len: int) -> None:
        from scenedetect.common import FrameTimecode
        from scenedetect.detectors import ContentDetector
        from scenedetect.scene_manager import compute_downscale_factor

        self._tc = FrameTimecode
        self._compute_downscale = compute_downscale_factor
        self._detector = ContentDetector(threshold=threshold, min_scene_len=min_len)
        self._min_len = min_len
        self._found: list[int] = []
        self._n = 0
        self._size: tuple[int, int] | None = None

    def add(self, frame: av.VideoFrame) -> None:
        if self._size is None:
            factor = max(1.0, self._compute_downscale(frame.width))
            self._size = (max(1, round(frame.width / factor)), max(1, round(frame.height / factor)))
        img = frame.to_ndarray(width=self._size[0], height=self._size[1], format="bgr24")
        tc = self._tc(self._n, 1000.0)
        self._found += [c.frame_num for c in self._detector.process_frame(tc, img)]
        self._n += 1

    def cuts(self, threshold: float) -> tuple[list[int], dict[int, float]]:
        if self._n:
            self._found += [
                c.frame_num for c in self._detector.post_process(self._tc(self._n - 1, 1000.0))
            ]
        return sorted({c for c in self._found if 0 < c < self._n}), {}

    def settings(self) -> dict[str, Any]:
        return {"min_scene_len": self._min_len, "downscale_to": list(self._size or ())}
