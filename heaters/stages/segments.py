"""Decoding one video in keyframe-aligned segments on two threads, in order, as one decode would.

Why: H.264 decodes on one thread at ~1 ms a 720p frame, and that thread is the splice's whole
wall time beside the tile store; FFmpeg's frame threads split it but cost ~30 % more CPU (each
frame copies the decoder's context and waits for its references' rows). Two one-thread decoders
on different stretches of the file cost what one does and use both cores.

A segment starts at a keyframe (planned by seeking, `plan`) and holds the frames whose
timestamps lie from that keyframe up to the next segment's. Each worker opens its own container,
seeks, decodes its segment and hands every frame to `make` (the caller's per-frame work: the
detector's samples and the tile, both small), so only those small results wait for their turn,
never decoded pictures. `Segments` yields them in frame order.

Nothing is taken on trust: a segment fails (`SegmentsFailed`, and the caller decodes the rest
from the start of the file on one decoder) when a frame has no timestamp, timestamps do not rise,
a packet does not decode, the demuxer stops, the seek lands elsewhere than the planned keyframe,
or the first frames of a segment differ from the same frames decoded by the segment before it
(each worker decodes `OVERLAP` frames past its end for that check: a stream whose frames after a
keyframe refer to frames before it, an open GOP, shows there).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

OVERLAP = 3  # frames past a segment's end decoded again by the next one, and compared
AHEAD_S = 60.0  # a worker starts a segment at most this far (seconds of footage) past the start
# of the one being read: memory holds the small results of ~AHEAD_S + a segment's seconds. In
# seconds, not segments: the short segments at the end run ahead freely (counted in segments,
# a worker sat idle while the consumer read a long one: ~0.2 core-s of a 2 s 720p pass)
HOLD = 4  # frames a thread decodes before it samples and tiles them: the decoder's code and
# data stay in the core's caches for a run of frames instead of trading places every frame


class SegmentsFailed(Exception):
    """A segment could not be decoded as one pass would; `done` frames were yielded before."""

    def __init__(self, why: str, done: int) -> None:
        super().__init__(why)
        self.done = done


@dataclass(frozen=True)
class Decoded:
    """One frame's timestamps and what the caller's `make` made of it."""

    pts: int
    duration: int | None
    made: Any


@dataclass
class _Segment:
    frames: list[Decoded] = field(default_factory=list)
    after: list[Decoded] = field(default_factory=list)  # the OVERLAP frames past its end
    error: str | None = None


def plan(path: Path, stream: Any, longest_s: float, shortest_s: float) -> list[int]:
    """Keyframe timestamps to start segments at (none: decode in one pass).

    A segment is a quarter of what remains after its start, between `shortest_s` and
    `longest_s` long: long segments while there is much to do (each costs a seek and a decoder
    start), short ones at the end, so that neither thread waits long for the other's last one.
    Each start is the keyframe a backward seek to the nominal time lands on; one that is not
    `shortest_s` after the start before it is left out. `stream` is the caller's (its time
    base, duration and start are read); the seeks are made on a container of this function's
    own, so the caller's stays at the start of the file.
    """
    tb = float(stream.time_base or 0)
    duration = float(stream.duration * tb) if stream.duration and tb else 0.0
    if not duration and stream.container.duration:
        duration = stream.container.duration / 1_000_000
    if not tb or duration < 2 * shortest_s + longest_s:
        return []
    origin = stream.start_time or 0
    starts: list[int] = []
    t = 0.0
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            own = container.streams.video[0]
            while True:
                t += min(longest_s, max(shortest_s, (duration - t) / 4))
                if t > duration - shortest_s:
                    return starts
                container.seek(origin + int(t / tb), stream=own, backward=True)
                packet = next(p for p in container.demux(own) if p.pts is not None)
                last = starts[-1] if starts else origin
                if packet.is_keyframe and (packet.pts - last) * tb >= shortest_s:
                    starts.append(packet.pts)
    except (av.FFmpegError, StopIteration):
        return []


class Segments:
    """The frames of `path`'s first video stream from `workers` one-thread decoders, in order.

    `starts`: keyframe timestamps from `plan`. `configure(stream)` sets each decoder up;
    `make()` gives each worker its own per-frame function (called on the worker's thread, with
    True for the frames decoded past the segment's end, which are only compared). `time_base`
    and `origin` (its start time): the stream's (how far ahead a worker may go is measured in
    seconds of footage).
    Leaving the `with` block stops the workers and waits for them.
    """

    def __init__(
        self,
        path: Path,
        starts: list[int],
        configure: Callable[[Any], None],
        make: Callable[[], Callable[[av.VideoFrame, bool], Any]],
        same: Callable[[Any, Any], bool],
        *,
        time_base: float,
        origin: int = 0,
        workers: int = 2,
    ) -> None:
        self._path = path
        self._bounds: list[tuple[int | None, int | None]] = list(
            zip([None, *starts], [*starts, None], strict=True)
        )
        self._at = [0.0, *((s - origin) * time_base for s in starts)]  # seconds into the file
        self._configure, self._make, self._same = configure, make, same
        self._done: dict[int, _Segment] = {}
        self._next = 0  # the next segment a worker takes
        self._reading = 0  # the segment the consumer is at
        self._cond = threading.Condition()
        self._stop = False
        self._alive = workers  # workers not yet returned (a worker that died took no segment's
        # result with it unnoticed: the consumer stops waiting when none is left)
        self._died = "stopped"  # why the last worker to fail outside a segment did
        self._threads = [
            threading.Thread(target=self._work, name=f"splice-segment-{i}", daemon=True)
            for i in range(workers)
        ]

    def __enter__(self) -> Segments:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        for t in self._threads:
            t.join()

    def __iter__(self) -> Iterator[Decoded]:
        yielded = 0
        before: _Segment | None = None
        for k in range(len(self._bounds)):
            with self._cond:
                self._reading = k
                self._cond.notify_all()
                while k not in self._done and self._alive:
                    self._cond.wait()
                seg = self._done.pop(k, None)
            if seg is None:
                raise SegmentsFailed(f"segment {k}: no worker left ({self._died})", yielded)
            if seg.error is not None:
                raise SegmentsFailed(f"segment {k}: {seg.error}", yielded)
            if before is not None and not self._joins(before.after, seg.frames):
                raise SegmentsFailed(f"segment {k} does not continue segment {k - 1}", yielded)
            for d in seg.frames:
                yield d
                yielded += 1
            before = seg

    def _joins(self, after: list[Decoded], frames: list[Decoded]) -> bool:
        n = min(len(after), len(frames))
        if n == 0:
            return False
        return all(
            a.pts == b.pts and self._same(a.made, b.made)
            for a, b in zip(after[:n], frames[:n], strict=True)
        )

    def _work(self) -> None:
        try:
            self._work_segments()
        except BaseException as e:  # noqa: BLE001 - told to the reader, who decodes on one thread
            self._died = f"{type(e).__name__}: {e}"
        finally:
            with self._cond:
                self._alive -= 1
                self._cond.notify_all()

    def _work_segments(self) -> None:
        make = self._make()
        container = None  # kept from one segment to the next: a seek costs less than an open
        try:
            while True:
                with self._cond:
                    while not self._stop and self._too_far(self._next):
                        self._cond.wait()
                    if self._stop or self._next >= len(self._bounds):
                        return
                    k, self._next = self._next, self._next + 1
                seg = _Segment()
                try:
                    if container is None:
                        container = av.open(str(self._path), metadata_errors="ignore")
                        self._configure(container.streams.video[0])
                    self._decode(container, k, seg, make)
                except Exception as e:  # noqa: BLE001 - the segment fails; the caller decodes again
                    seg.error = f"{type(e).__name__}: {e}"
                    if container is not None:
                        with contextlib.suppress(Exception):
                            container.close()
                        container = None  # a fresh one for the next (the segments after fail)
                with self._cond:
                    self._done[k] = seg
                    self._cond.notify_all()
        finally:
            if container is not None:
                container.close()

    def _too_far(self, k: int) -> bool:
        """Segment k starts too far past the one being read to be decoded yet."""
        return k < len(self._at) and self._at[k] - self._at[self._reading] > AHEAD_S

    def _decode(
        self, container: Any, k: int, seg: _Segment, make: Callable[[av.VideoFrame, bool], Any]
    ) -> None:
        start, end = self._bounds[k]
        stream = container.streams.video[0]
        if start is not None:  # (segment 0 is always a worker's first: its container is fresh)
            container.seek(start, stream=stream, backward=True)  # the decoder is flushed too
        last: int | None = None
        kept = past_end = 0
        held: list[tuple[av.VideoFrame, bool]] = []  # decoded, not yet handed to `make`

        def hand_over() -> None:
            for frame, past in held:
                made = Decoded(frame.pts, frame.duration, make(frame, past))
                (seg.after if past else seg.frames).append(made)
            held.clear()

        for packet in container.demux(stream):
            if self._stop:
                return
            for frame in packet.decode():
                pts = frame.pts
                if pts is None:
                    raise ValueError("a frame without a timestamp")
                if last is not None and pts <= last:
                    raise ValueError("timestamps do not rise")
                last = pts
                if start is not None and pts < start:
                    continue  # leading frames of an open GOP: the segment before has them
                if start is not None and not kept and pts != start:
                    raise ValueError("the seek missed the planned keyframe")
                past = end is not None and pts >= end
                held.append((frame, past))
                if past:
                    past_end += 1
                    if past_end >= OVERLAP:
                        hand_over()
                        return
                else:
                    kept += 1
                if len(held) >= HOLD:
                    hand_over()
        hand_over()
        if end is not None and not seg.after:
            raise ValueError("the stream ended before the next segment")
