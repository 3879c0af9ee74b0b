"""Which source frames a sprite sheet or a keyframe uses, and the sheet's geometry.

Pure maths, no I/O: the stages decode what these functions choose, the runner records the choice,
and the review TUI finds a tile's source frame from the recorded indices. Sampling is by time (the
decoded frames' timestamps), so variable-frame-rate sources get evenly spaced tiles too; without
timestamps a constant rate is assumed.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

# Tolerance for float round-off when a target time lands exactly on a frame's timestamp.
_EPS = 1e-6

# Keyframe strategies: (tag, fraction of the clip's duration) per keyframe. `uniform` has no
# fixed points: `keyframe_count` frames evenly spaced, at the centres of equal slices.
KEYFRAME_TAGS: dict[str, tuple[tuple[str, float], ...]] = {
    "multi": (("25", 0.25), ("50", 0.50), ("75", 0.75)),
    "midpoint": (("50", 0.50),),
    "uniform": (),
}
DEFAULT_KEYFRAME_COUNT = 5
MAX_KEYFRAME_COUNT = 32


def keyframe_points(
    strategy: str, count: int = DEFAULT_KEYFRAME_COUNT
) -> tuple[tuple[str, float], ...]:
    """(tag, fraction of the duration) of each keyframe of a strategy; `count` is for `uniform`
    (frame i of n at (i + 0.5) / n, tag "u<i>of<n>": a file name says which plan made it)."""
    if strategy not in KEYFRAME_TAGS:
        raise ValueError(
            f"unknown keyframe strategy {strategy!r} (known: {', '.join(KEYFRAME_TAGS)})"
        )
    if strategy != "uniform":
        return KEYFRAME_TAGS[strategy]
    if (
        isinstance(count, bool)
        or not isinstance(count, int)
        or not 1 <= count <= MAX_KEYFRAME_COUNT
    ):
        raise ValueError(f"keyframe_count must be a whole number from 1 to {MAX_KEYFRAME_COUNT}")
    return tuple((f"u{i + 1}of{count}", (i + 0.5) / count) for i in range(count))


@dataclass(frozen=True)
class SheetGeometry:
    """Layout of a sprite sheet: tiles left to right, top to bottom, no gaps."""

    tile_width: int
    tile_height: int
    columns: int
    rows: int
    tile_count: int

    @property
    def width(self) -> int:
        return self.columns * self.tile_width

    @property
    def height(self) -> int:
        return self.rows * self.tile_height

    def tile_origin(self, i: int) -> tuple[int, int]:
        """Top-left pixel (x, y) of tile `i`."""
        return (i % self.columns) * self.tile_width, (i // self.columns) * self.tile_height


@dataclass(frozen=True)
class SpritePlan:
    """The tiles of one clip's sheet: source frame indices, their clip-relative sample times."""

    frames: tuple[int, ...]  # absolute source frame per tile, sorted, unique, inside the clip
    times: tuple[float, ...]  # timestamp (s) of each tile's frame
    fps: float  # effective tiles per second of clip
    sparse: bool  # True when the height limit forced a rate below min(source fps, max_fps)
    geometry: SheetGeometry


@dataclass(frozen=True)
class KeyframePick:
    tag: str
    frame: int
    time_s: float


def even(x: float, minimum: int = 2) -> int:
    """Nearest even integer >= `minimum` (yuv420p and JPEG chroma want even sizes)."""
    return max(minimum, 2 * round(x / 2))


def tile_height_for(width: int, height: int, tile_width: int) -> int:
    """Tile height keeping the (display) aspect of a `width` x `height` picture, even."""
    if width <= 0 or height <= 0:
        raise ValueError(f"bad picture size {width}x{height}")
    return even(tile_width * height / width)


def scaled_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    """Size of a picture shrunk (never enlarged) to at most `max_width`, both sides even."""
    if width <= 0 or height <= 0:
        raise ValueError(f"bad picture size {width}x{height}")
    w = max(2, min(width, max_width) // 2 * 2)
    return w, even(w * height / width)


def _clip_times(
    start_frame: int, end_frame: int, fps: float, frame_times: Sequence[float] | None
) -> tuple[Sequence[float], float, float]:
    """The timeline to sample on, the clip's start time and its duration (to the next frame)."""
    if end_frame <= start_frame or start_frame < 0:
        raise ValueError(f"empty or negative clip [{start_frame}, {end_frame})")
    if frame_times is None:
        if fps <= 0:
            raise ValueError("fps must be positive when frame times are not given")
        times: Sequence[float] = [i / fps for i in range(end_frame + 1)]
    else:
        if end_frame > len(frame_times):
            raise ValueError(f"clip end {end_frame} is past the last frame ({len(frame_times)})")
        times = frame_times
    t0 = times[start_frame]
    if end_frame < len(times):
        t1 = times[end_frame]
    else:  # the last clip: its last frame lasts one nominal frame
        step = 1 / fps if fps > 0 else (times[-1] - times[0]) / max(1, len(times) - 1)
        t1 = times[end_frame - 1] + step
    return times, t0, max(t1 - t0, _EPS)


def _frame_at(times: Sequence[float], t: float, start_frame: int, end_frame: int) -> int:
    """The frame on screen at time `t`: the last one starting at or before it, kept in the clip."""
    i = bisect.bisect_right(times, t + _EPS, lo=start_frame, hi=end_frame) - 1
    return min(max(i, start_frame), end_frame - 1)


def sprite_plan(
    start_frame: int,
    end_frame: int,
    *,
    fps: float,
    width: int,
    height: int,
    frame_times: Sequence[float] | None = None,
    tile_width: int = 320,
    columns: int = 10,
    max_fps: float = 24.0,
    max_height: int = 16384,
) -> SpritePlan:
    """Tiles for clip `[start_frame, end_frame)` at min(fps, max_fps) per second of clip.

    When the sheet would be taller than `max_height`, the rate drops so that it fits (`sparse`).
    `width` x `height` is the source's display size, used for the tile aspect only.
    """
    times, t0, duration = _clip_times(start_frame, end_frame, fps, frame_times)
    tile_height = tile_height_for(width, height, tile_width)
    rate = min(fps, max_fps) if fps > 0 else max_fps
    wanted = max(1, math.ceil(duration * rate - 1e-6))
    max_tiles = max(1, max_height // tile_height) * columns
    sparse = wanted > max_tiles
    n = min(wanted, max_tiles)
    step = duration / n if sparse else 1 / rate
    frames: list[int] = []
    for k in range(n):
        f = _frame_at(times, t0 + k * step, start_frame, end_frame)
        if not frames or f != frames[-1]:
            frames.append(f)
    cols = min(columns, len(frames))
    geometry = SheetGeometry(
        tile_width=tile_width,
        tile_height=tile_height,
        columns=cols,
        rows=math.ceil(len(frames) / cols),
        tile_count=len(frames),
    )
    return SpritePlan(
        frames=tuple(frames),
        times=tuple(float(times[f]) for f in frames),
        fps=n / duration if sparse else rate,
        sparse=sparse,
        geometry=geometry,
    )


def view_plan(
    start_frame: int,
    end_frame: int,
    *,
    fps: float,
    frame_times: Sequence[float] | None = None,
    max_tiles: int = 900,
) -> tuple[tuple[int, ...], tuple[float, ...], float, bool]:
    """Which tiles of a video's tile store (one per decoded frame) a clip's sprite shows.

    Every frame while the clip has at most `max_tiles` (on variable-frame-rate footage too: each
    frame can be a split point); a longer clip gets `max_tiles` evenly spaced in time (`sparse`).
    Returns (frames, their timestamps, tiles per second of clip, sparse).
    """
    times, t0, duration = _clip_times(start_frame, end_frame, fps, frame_times)
    n = end_frame - start_frame
    sparse = n > max_tiles
    if not sparse:
        frames = list(range(start_frame, end_frame))
    else:
        step = duration / max_tiles
        frames = []
        for k in range(max_tiles):
            f = _frame_at(times, t0 + k * step, start_frame, end_frame)
            if not frames or f != frames[-1]:
                frames.append(f)
    return (
        tuple(frames),
        tuple(float(times[f]) for f in frames),
        len(frames) / duration,
        sparse,
    )


def keyframe_plan(
    start_frame: int,
    end_frame: int,
    strategy: str,
    *,
    count: int = DEFAULT_KEYFRAME_COUNT,
    fps: float = 0.0,
    frame_times: Sequence[float] | None = None,
) -> tuple[KeyframePick, ...]:
    """Keyframes of a clip: `multi` at 25/50/75 % of its duration, `midpoint` at 50 %, `uniform`
    `count` evenly spaced (see `keyframe_points`)."""
    points = keyframe_points(strategy, count)
    if frame_times is None and fps <= 0:
        fps = 1.0  # only proportions matter then
    times, t0, duration = _clip_times(start_frame, end_frame, fps, frame_times)
    picks = []
    for tag, p in points:
        f = _frame_at(times, t0 + p * duration, start_frame, end_frame)
        picks.append(KeyframePick(tag=tag, frame=f, time_s=float(times[f])))
    return tuple(picks)
