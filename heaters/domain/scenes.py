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


def neighbour_baseline(
    x: npt.ArrayLike, window: int, ignore_below: float = 0.0, min_kept: int = 3
) -> FloatArray:
    """Median of the `window` values on each side of every element, the element itself excluded.

    Values below `ignore_below` do not count: a duplicated frame (animation "on twos", pulldown)
    changes by ~0 and would otherwise halve the median of a busy shot, making every real change
    in it look exceptional. Where fewer than `min_kept` neighbours are left (a static shot: all
    of them are ~0) every neighbour counts again, so that one other large value (the second
    half of a cut's two-frame signature) never becomes the baseline by itself. Near the ends
    only the neighbours that exist count; with none the baseline is 0.
    """
    a = np.asarray(x, dtype=np.float64)
    n = len(a)
    if n == 0 or window <= 0:
        return np.zeros(n)
    pad = np.full(window, np.nan)
    view = np.lib.stride_tricks.sliding_window_view(np.concatenate([pad, a, pad]), 2 * window + 1)
    around = np.delete(view, window, axis=1)
    kept = np.where(around < ignore_below, np.nan, around)
    enough = np.sum(~np.isnan(kept), axis=1) >= min_kept
    around = np.where(enough[:, None], kept, around)
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


def persistent_change(changes: npt.ArrayLike) -> FloatArray:
    """Change across the boundary before frame i that persists: the least of every comparison
    that straddles it.

    `changes[k][i]` compares frame i-k-1 with frame i (k = 0: the previous frame). The boundary
    between frames i-1 and i is straddled by every comparison (a, b) with a < i <= b and
    b - a <= K. At a cut all of them are large; around a flash of up to K-1 frames one of them
    joins the frames before and after it, which match, so neither the flash's start nor its end
    scores. Comparisons reaching before frame 0 or past the end do not exist and are skipped;
    frame 0 scores 0. Pass `stand_out` ratios rather than raw changes: in fast motion a change
    over three frames is naturally larger than over one.
    """
    c = np.atleast_2d(np.asarray(changes, dtype=np.float64))
    lags, n = c.shape
    out = np.full(n, np.inf)
    idx = np.arange(n)
    for k in range(lags):
        lag = k + 1
        for ahead in range(lag):  # comparison (i + ahead - lag, i + ahead)
            vals = np.full(n, np.inf)
            vals[: n - ahead] = c[k, ahead:]
            vals[idx + ahead - lag < 0] = np.inf
            out = np.minimum(out, vals)
    if n:
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
    pix: npt.ArrayLike,
    hist: npt.ArrayLike,
    *,
    threshold: float,
    window: int,
    floor: float,
    min_jump: float = 1.5,
    duplicate_below: float = 0.5,
) -> tuple[list[int], dict[int, float]]:
    """Hard cuts from two per-frame change measures, each taken 1..K frames back.

    `pix[k][i]` is the mean absolute pixel difference (0-255) between frames i-k-1 and i: it
    sees any change, motion included. `hist[k][i]` is a colour-histogram distance in percent
    (0-100): blind to motion, but fooled by brightness swings (the caller centres luma to blunt
    that). Each comparison series is first turned into a `stand_out` ratio against its own
    neighbourhood, then `persistent_change` keeps what all straddling comparisons agree on (no
    flashes). A cut is where the geometric mean of the pixel and histogram ratios reaches
    `threshold` (both measures find the frame exceptional), the pixel change from the previous
    frame is at least `floor` and at least `min_jump` times its neighbourhood's (a histogram
    that jumps while the picture changes as usual is a binning accident, not a cut).
    """
    p = np.atleast_2d(np.asarray(pix, dtype=np.float64))
    h = np.atleast_2d(np.asarray(hist, dtype=np.float64))
    if p.shape[1] == 0:
        return [], {}

    def ratio(c: FloatArray) -> FloatArray:
        return persistent_change(
            [stand_out(row, window, ignore_below=duplicate_below) for row in c]
        )

    combined = np.sqrt(ratio(p) * ratio(h))
    jump = stand_out(p[0], window, ignore_below=duplicate_below)
    return pick_peaks(combined, threshold, (p[0] >= floor) & (jump >= min_jump))
