"""Shot-boundary maths: from per-frame change scores to cuts, and from cuts to clips.

Pure functions (numpy, no I/O) so that the rules that decide where clips start can be tested
exhaustively without media: the splice stage only measures frames and hands the numbers here.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def tile(
    cuts: Sequence[int],
    frame_count: int,
    min_len: int,
    scores: Mapping[int, float] | None = None,
) -> list[tuple[int, int]]:
    """Turn cut frames into `[start, end)` ranges that tile `[0, frame_count)` exactly.

    A shot shorter than `min_len` frames is merged into a neighbour, never dropped (clips must
    cover the whole video). The shortest shot is merged first, across the weaker of its two
    boundaries when `scores` (cut frame -> strength) rank them, else into its shorter neighbour,
    else into the previous one. Every range is then at least `min_len` long, unless the whole
    video is shorter, in which case it is one range. Cuts outside `(0, frame_count)` and
    duplicates are ignored; `frame_count <= 0` gives no range.
    """
    if frame_count <= 0:
        return []
    bounds = sorted({c for c in cuts if 0 < c < frame_count})
    points = [0, *bounds, frame_count]
    nxt = {a: b for a, b in zip(points, points[1:], strict=False)}
    prv = {b: a for a, b in zip(points, points[1:], strict=False)}
    heap = [(nxt[a] - a, a) for a in points[:-1]]
    heapq.heapify(heap)
    strength = scores or {}
    while heap:
        length, start = heapq.heappop(heap)
        if start not in nxt or nxt[start] - start != length:
            continue  # stale: this shot was merged since it was pushed
        if length >= min_len or len(nxt) == 1:
            break
        end = nxt[start]
        drop = _boundary_to_drop(start, end, frame_count, prv, nxt, strength)
        left, right = prv[drop], nxt[drop]
        del nxt[drop], prv[drop]
        nxt[left] = right
        if right != frame_count:
            prv[right] = left
        heapq.heappush(heap, (right - left, left))
    return sorted(nxt.items())


def _boundary_to_drop(
    start: int,
    end: int,
    frame_count: int,
    prv: Mapping[int, int],
    nxt: Mapping[int, int],
    strength: Mapping[int, float],
) -> int:
    """Which boundary of the short shot `[start, end)` to remove (merging it into that side)."""
    if start == 0:
        return end
    if end == frame_count:
        return start
    s_left, s_right = strength.get(start), strength.get(end)
    if s_left is not None and s_right is not None and s_left != s_right:
        return start if s_left < s_right else end
    prev_len = start - prv[start]
    next_len = nxt[end] - end
    return end if next_len < prev_len else start


def neighbour_baseline(x: npt.ArrayLike, window: int, ignore_below: float = 0.0) -> FloatArray:
    """Median of the `window` values on each side of every element, the element itself excluded.

    Values below `ignore_below` do not count: a duplicated frame (animation "on twos", pulldown)
    changes by ~0 and would otherwise halve the median of a busy shot, making every real change
    in it look exceptional. Near the ends only the neighbours that exist count; with none left
    the baseline is 0.
    """
    a = np.asarray(x, dtype=np.float64)
    n = len(a)
    if n == 0 or window <= 0:
        return np.zeros(n)
    vals = np.where(a < ignore_below, np.nan, a)
    padded = np.concatenate([np.full(window, np.nan), vals, np.full(window, np.nan)])
    view = np.lib.stride_tricks.sliding_window_view(padded, 2 * window + 1)
    around = np.delete(view, window, axis=1)
    out = np.zeros(n)
    has = ~np.all(np.isnan(around), axis=1)
    if has.any():
        out[has] = np.nanmedian(around[has], axis=1)
    return out


def stand_out(
    x: npt.ArrayLike, window: int, *, ignore_below: float = 0.0, offset: float = 1.0
) -> FloatArray:
    """How many times larger each value is than its neighbourhood's (`x / (baseline + offset)`).

    The offset keeps a static shot, whose baseline is ~0, from turning every small change into
    a huge ratio. Like PySceneDetect's AdaptiveDetector, this is what tells a cut (one frame
    that stands out) from fast motion, grain or flicker (every frame changes a lot).
    """
    a = np.asarray(x, dtype=np.float64)
    return a / (neighbour_baseline(a, window, ignore_below) + offset)


def persistent_change(d: npt.ArrayLike, q: npt.ArrayLike) -> FloatArray:
    """Change into frame i that persists: `min(d[i], q[i], q[i+1])`.

    `d[i]` compares frame i-1 with i, `q[i]` frame i-2 with i. At a cut all three are large
    (every comparison straddles it); a one-frame flash at i gives a large `d[i]` and `d[i+1]`
    but a small `q[i+1]` (frames i-1 and i+1 match) and a small `q[i+2]`, so neither its start
    nor its end scores. The first frame scores 0; the last compares as far as frames exist.
    """
    d = np.asarray(d, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    n = len(d)
    if n == 0:
        return np.zeros(0)
    q_next = np.append(q[1:], np.inf)
    q_here = q.copy()
    q_here[:2] = np.inf  # frames 0 and 1 have no frame two back: do not let that veto a cut
    out = np.minimum(np.minimum(d, q_here), q_next)
    out[0] = 0.0
    return out


def pick_peaks(
    strength: npt.ArrayLike, threshold: float, eligible: npt.ArrayLike | None = None
) -> tuple[list[int], dict[int, float]]:
    """Frames with `strength >= threshold` (and `eligible`), one per run of adjacent frames.

    Of adjacent qualifying frames only the strongest is kept, since a boundary is one frame.
    Returns the frames in order and `strength / threshold` for each (>= 1), which ranks
    boundaries when short shots are merged.
    """
    st = np.asarray(strength, dtype=np.float64)
    ok = st >= threshold
    if eligible is not None:
        ok &= np.asarray(eligible, dtype=bool)
    peaks: list[int] = []
    for i in np.flatnonzero(ok).tolist():
        if peaks and i - peaks[-1] <= 1:
            if st[i] > st[peaks[-1]]:
                peaks[-1] = i
            continue
        peaks.append(i)
    return peaks, {i: float(st[i] / threshold) for i in peaks}


def detect_cuts(
    pix_d: npt.ArrayLike,
    pix_q: npt.ArrayLike,
    hist_d: npt.ArrayLike,
    hist_q: npt.ArrayLike,
    *,
    threshold: float,
    window: int,
    floor: float,
    duplicate_below: float = 0.5,
) -> tuple[list[int], dict[int, float]]:
    """Hard cuts from two per-frame change measures, each taken one and two frames back.

    `pix_*` is a mean absolute pixel difference (0-255): it sees any change, motion included.
    `hist_*` is a colour-histogram distance in percent (0-100): blind to motion, but fooled by
    brightness swings (the caller centres luma to blunt that). A cut is where the geometric
    mean of the two `stand_out` ratios reaches `threshold`, i.e. where both measures agree that
    this frame is exceptional for its neighbourhood, and the pixel change is at least `floor`.
    """
    pix = persistent_change(pix_d, pix_q)
    hist = persistent_change(hist_d, hist_q)
    if len(pix) == 0:
        return [], {}
    r_pix = stand_out(pix, window, ignore_below=duplicate_below)
    r_hist = stand_out(hist, window, ignore_below=duplicate_below)
    combined = np.sqrt(r_pix * r_hist)
    return pick_peaks(combined, threshold, pix >= floor)
