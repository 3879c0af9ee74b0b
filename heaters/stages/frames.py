"""One forward pass over a source video that hands out only the frames some clip wants.

Sprites and keyframes of many clips of one video come from a single sequential read: seeking per
clip re-decodes a GOP each time (FACTS.md: ~0.5 s per clip). The reader never converts a frame it
does not hand out, and it saves work on stretches no clip needs in two ways:

- packets are demuxed but *not decoded* until one of them reaches the next wanted time; the packets
  since the last keyframe are kept so that decoding can start from that keyframe (a GOP is all that
  is ever decoded ahead of a wanted frame);
- across a long gap it seeks forward, but only when the stream's index proves that the keyframe it
  lands on is ahead of where reading already is (never backwards, never twice for one target).

Frame k is the k-th decoded frame of the video stream. The reader counts frames, and re-syncs the
count from the frame's timestamp (nearest entry of `frame_times`, within half a frame) whenever they
disagree, e.g. after skipping or seeking. Timestamps are seconds from the stream's start time (or
its first timestamp when the container has none), as the splice stage records them: an MPEG-TS
file starting at 1.4 s has frame 0 at 0.0.
"""

from __future__ import annotations

import bisect
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import av.container
import av.error
import av.video.stream
import numpy as np

from heaters import interrupt
from heaters.domain.results import StageError
from heaters.domain.text import error_line

# Seek only across gaps at least this long (seconds); shorter ones are skipped by not decoding.
SEEK_GAP_S = 10.0


@dataclass(frozen=True)
class SourceInfo:
    """What the stages need to know about the video stream before decoding."""

    width: int  # coded picture size
    height: int
    display_width: int  # width corrected by the sample aspect ratio: what a viewer sees
    fps: float  # average frame rate (nominal)
    frame_count: int  # from the container; 0 when unknown
    rotation: int = 0  # the display matrix's counter-clockwise turn: 0, 90, 180 or 270

    @property
    def upright_size(self) -> tuple[int, int]:
        """(width, height) as players show the picture: aspect corrected, then turned."""
        if self.rotation in (90, 270):
            return self.height, self.display_width
        return self.display_width, self.height


@dataclass
class ReadStats:
    """What a pass did, for benchmarks and tests."""

    packets: int = 0
    decoded_packets: int = 0
    frames: int = 0  # frames out of the decoder
    yielded: int = 0
    seeks: int = 0
    resyncs: int = 0
    errors: int = 0  # packets the decoder rejected


class SourceReader:
    """An opened source video; `frames()` makes the forward pass.

    Raises StageError when the file cannot be opened or has no video stream.
    """

    def __init__(self, source: Path, *, threads: bool = True) -> None:
        self.source = source
        try:
            self._container: av.container.InputContainer = av.open(str(source), mode="r")
        except (av.error.FFmpegError, OSError) as e:
            raise StageError(f"cannot open {source.name}: {error_line(e)}") from e
        if not self._container.streams.video:
            self._container.close()
            raise StageError(f"{source.name} has no video stream")
        self._stream: av.video.stream.VideoStream = self._container.streams.video[0]
        if threads:
            self._stream.thread_type = "AUTO"
        cc = self._stream.codec_context
        sar = self._stream.sample_aspect_ratio or cc.sample_aspect_ratio
        display_width = cc.width
        if sar and sar.numerator > 0 and sar.denominator > 0 and sar != 1:
            display_width = max(2, round(cc.width * sar))
        rate = self._stream.average_rate or self._stream.guessed_rate or Fraction(0)
        self.info = SourceInfo(
            width=cc.width,
            height=cc.height,
            display_width=display_width,
            fps=float(rate),
            frame_count=int(self._stream.frames or 0),
            rotation=display_rotation(source),
        )
        self.stats = ReadStats()

    def __enter__(self) -> SourceReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def frames(
        self, wanted: Iterable[int], frame_times: Sequence[float]
    ) -> Iterator[tuple[int, av.VideoFrame]]:
        """Yield `(index, frame)` for each wanted index, in order, from one forward pass.

        `frame_times[k]` is the timestamp (s) of frame k. Wanted indices the decoder never
        produces (past the end, undecodable) are simply not yielded: the caller checks.
        """
        if hasattr(frame_times, "tolist"):  # a numpy array: plain floats index much faster
            frame_times = frame_times.tolist()
        want = sorted({i for i in wanted if 0 <= i < len(frame_times)})
        if not want:
            return
        stream = self._stream
        cc = stream.codec_context
        tb = stream.time_base or Fraction(1, 90000)
        tbf = float(tb)
        origin: int | None = stream.start_time  # pts of time 0.0, in stream time base
        tol = _half_frame(frame_times, self.info.fps)
        stats = self.stats
        index = _IndexTracker(frame_times, tol)
        pos = 0  # position in `want` of the next frame to hand out
        gop: list[av.Packet] = []  # packets since the last keyframe
        sent = 0  # how many of `gop` the decoder has had
        dirty = False  # the decoder skipped packets since it last restarted
        seeked_for = -1  # the wanted position a seek was made for (one seek per target)
        entries = _index_entries(stream)

        def emit(frames: list[av.VideoFrame]) -> Iterator[tuple[int, av.VideoFrame]]:
            nonlocal pos
            for frame in frames:
                stats.frames += 1
                pts = frame.pts
                k = index.next(None if pts is None or origin is None else (pts - origin) * tbf)
                if k is None:
                    continue
                while pos < len(want) and want[pos] < k:
                    pos += 1  # a wanted frame the decoder never produced
                if pos < len(want) and want[pos] == k:
                    pos += 1
                    stats.yielded += 1
                    yield k, frame

        def decode(packet: av.Packet | None) -> list[av.VideoFrame]:
            try:
                if packet is None:  # drain what the decoder holds, then make it usable again
                    flush = av.Packet()
                    flush.time_base = tb
                    out = cc.decode(flush)
                    cc.flush_buffers()
                    return out
                stats.decoded_packets += 1
                return cc.decode(packet)
            except av.error.EOFError:
                return []
            except av.error.FFmpegError:
                stats.errors += 1
                return []

        demuxer = self._container.demux(stream)
        try:
            for packet in demuxer:
                interrupt.check()  # Ctrl-C: stop within a packet, not at the end of the pass
                if pos >= len(want):
                    return
                if packet.size == 0:  # end of stream: drain
                    yield from emit(decode(None))
                    return
                stats.packets += 1
                if origin is None and packet.pts is not None:
                    origin = packet.pts  # no start time in the container: the first timestamp
                if packet.is_keyframe:
                    if sent < len(gop):
                        dirty = True  # the previous GOP's tail was never decoded
                    gop, sent = [packet], 0
                else:
                    gop.append(packet)
                target = frame_times[want[pos]]
                now = None if packet.pts is None or origin is None else (packet.pts - origin) * tbf
                if now is not None and now < target - tol:
                    # Not needed yet (and the decoder holds nothing wanted). Across a long gap,
                    # jump ahead if that also skips reading.
                    if target - now > SEEK_GAP_S and seeked_for != pos:
                        seeked_for = pos
                        assert origin is not None
                        if _seek_ahead(self._container, stream, entries, now, target, origin):
                            stats.seeks += 1
                            index.lost()
                            gop, sent, dirty = [], 0, False
                    continue
                if dirty and sent == 0:
                    # Restart the decoder cleanly before a GOP that follows skipped packets.
                    yield from emit(decode(None))
                    index.lost()
                    dirty = False
                for p in gop[sent:]:
                    yield from emit(decode(p))
                sent = len(gop)
        finally:
            demuxer.close()
            stats.resyncs += index.resyncs


class _IndexTracker:
    """Frame index of each decoded frame: a count, checked against the timestamps."""

    def __init__(self, frame_times: Sequence[float], tol: float) -> None:
        self.times = frame_times
        self.tol = tol
        self.k = 0  # index the next decoded frame gets if nothing was skipped
        self.known = True  # False after a skip: the count must come from the timestamp
        self.resyncs = 0

    def lost(self) -> None:
        self.known = False

    def next(self, t: float | None) -> int | None:
        k = self.k
        if t is not None and not (
            self.known and k < len(self.times) and abs(self.times[k] - t) <= self.tol
        ):
            found = _nearest(self.times, t, self.tol)
            if found is None:
                if not self.known:
                    return None  # cannot place this frame; wait for one we can
            else:
                if found != k:
                    self.resyncs += 1
                k = found
        elif t is None and not self.known:
            return None
        self.known = True
        self.k = k + 1
        return k


def display_rotation(source: Path) -> int:
    """The counter-clockwise turn (0/90/180/270) players apply to the video (its display matrix,
    phone footage), read from its first decoded frame; 0 when none can be decoded."""
    from heaters.stages.tiles import upright_degrees

    try:
        with av.open(str(source), mode="r") as container:
            for frame in container.decode(video=0):
                return upright_degrees(getattr(frame, "rotation", 0))
    except (av.error.FFmpegError, OSError):
        return 0
    return 0


def upright(picture: np.ndarray, rotation: int) -> np.ndarray:
    """A decoded picture (rows, columns[, channels]) turned as players show it."""
    return np.ascontiguousarray(np.rot90(picture, rotation // 90)) if rotation else picture


def _nearest(times: Sequence[float], t: float, tol: float) -> int | None:
    i = bisect.bisect_left(times, t)
    best = None
    for j in (i - 1, i):
        if 0 <= j < len(times) and abs(times[j] - t) <= tol:
            if best is None or abs(times[j] - t) < abs(times[best] - t):
                best = j
    return best


def _half_frame(frame_times: Sequence[float], fps: float) -> float:
    """Half the shortest plausible frame interval: the tolerance for matching timestamps."""
    n = len(frame_times)
    if n >= 2:
        gaps = sorted(
            frame_times[i + 1] - frame_times[i]
            for i in range(0, n - 1, max(1, n // 2000))
            if frame_times[i + 1] > frame_times[i]
        )
        if gaps:
            return 0.5 * gaps[len(gaps) // 10]
    return 0.5 / fps if fps > 0 else 0.02


def _index_entries(stream: av.video.stream.VideoStream) -> object | None:
    try:
        entries = stream.index_entries
        return entries if len(entries) > 0 else None
    except (AttributeError, av.error.FFmpegError):
        return None


def _seek_ahead(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    entries: object | None,
    now_s: float,
    target_s: float,
    origin: int,
) -> bool:
    """Seek to the keyframe before `target_s` if the index shows it is well ahead of `now_s`.

    Times are seconds from `origin` (a pts in the stream's time base).
    """
    if entries is None:
        return False  # no index: cannot prove the seek goes forward; keep reading
    tb = stream.time_base or Fraction(1, 90000)
    target = origin + int(target_s / tb)
    try:
        i = entries.search_timestamp(target, backward=True)  # type: ignore[attr-defined]
        if i < 0:
            return False
        landing = float((entries[i].timestamp - origin) * tb)  # type: ignore[index]
    except (av.error.FFmpegError, IndexError, AttributeError, TypeError):
        return False
    if landing - now_s < SEEK_GAP_S / 2:
        return False
    try:
        container.seek(target, backward=True, stream=stream)
    except av.error.FFmpegError:
        return False
    return True


def check_span(start_frame: int, end_frame: int, frame_count: int) -> str | None:
    """Why a clip range cannot be read from a video of `frame_count` frames, or None."""
    if start_frame < 0 or end_frame <= start_frame:
        return f"bad frame range [{start_frame}, {end_frame})"
    if end_frame > frame_count:
        return f"frames [{start_frame}, {end_frame}) outside the video ({frame_count} frames)"
    return None


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of an RGB array: Pillow's libjpeg-turbo when present (~10x FFmpeg's mjpeg)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with textual-image
        return _encode_jpeg_av(rgb, quality)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _encode_jpeg_av(rgb: np.ndarray, quality: int) -> bytes:
    """Fallback JPEG encoder (FFmpeg mjpeg); `quality` mapped roughly onto its qscale."""
    h, w = rgb.shape[:2]
    cc = av.CodecContext.create("mjpeg", "w")
    cc.width, cc.height = w, h
    cc.pix_fmt = "yuvj420p"
    cc.time_base = Fraction(1, 25)
    q = str(min(31, max(2, round((100 - quality) / 5))))
    cc.options = {"qmin": q, "qmax": q}
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    packets = cc.encode(frame.reformat(format="yuvj420p")) + cc.encode(None)
    return b"".join(bytes(p) for p in packets)


def size_change(source: Path) -> tuple[tuple[int, int], tuple[int, int], int] | None:
    """(first size, next size, frame index) where the picture size first changes, or None.

    For explaining a failure: a stream whose resolution changes midway (a `.ts` cut from two
    broadcasts) cannot be spliced frame against frame. Decodes until the change (or the end).
    """
    try:
        with av.open(str(source)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            first: tuple[int, int] | None = None
            for i, frame in enumerate(container.decode(stream)):
                interrupt.check()
                size = (frame.width, frame.height)
                if first is None:
                    first = size
                elif size != first:
                    return first, size, i
    except av.error.FFmpegError:
        return None
    return None
