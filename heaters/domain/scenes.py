"""Shot-boundary maths: from per-frame scores to clip boundaries, and from boundaries to clips.

Pure functions (numpy, no I/O) so that the rules that decide where clips start can be tested
exhaustively without media, and re-run on stored scores without decoding (`heaters resplice`):
the splice stage only measures frames (and runs the network where asked) and hands the numbers
here. Hard cuts, fades through black (or white) and dissolves are found by separate rules
(`hard_cuts`, `black_boundaries`, `gradual_boundaries`); `boundaries` combines them per detector.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from heaters.domain.results import ClipSpan

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


# ---- detectors ---------------------------------------------------------------------------------
DETECTORS = ("hybrid", "content", "transnetv2", "pyscenedetect")
DEFAULT_DETECTOR = "hybrid"
# What "threshold" means per detector: a hard cut's stand-out (hybrid, content), the network's
# probability (transnetv2), ContentDetector's own threshold (pyscenedetect).
DEFAULT_THRESHOLD = {"hybrid": 3.0, "content": 3.0, "transnetv2": 0.5, "pyscenedetect": 27.0}
# The scale each detector's threshold is on: a threshold chosen for one detector means the same
# for another of the same scale only (2.5 for hybrid is a strict content, and a loose
# ContentDetector's 2.5 finds a cut in every frame that moves).
THRESHOLD_SCALE = {
    "hybrid": "a hard cut's stand-out",
    "content": "a hard cut's stand-out",
    "transnetv2": "the network's probability",
    "pyscenedetect": "ContentDetector's threshold",
}


def same_scale(a: str | None, b: str | None) -> bool:
    """A threshold set for detector `a` means the same for detector `b` (None: the default)."""
    return THRESHOLD_SCALE.get(a or DEFAULT_DETECTOR) == THRESHOLD_SCALE.get(b or DEFAULT_DETECTOR)


def check_detector(detector: str | None, threshold: float | None) -> None:
    """ValueError (one line) for a detector name or threshold no splice could use."""
    name = detector or DEFAULT_DETECTOR
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r} (choose {', '.join(DETECTORS)})")
    if threshold is None:
        return
    if not math.isfinite(threshold) or threshold <= 0:
        raise ValueError(f"threshold must be a positive number, got {threshold}")
    if name == "transnetv2" and threshold >= 1:
        raise ValueError(f"transnetv2's threshold is a probability below 1, got {threshold}")


# ---- per-frame scores ----------------------------------------------------------------------------
# The splice pass measures every frame once and keeps these columns (float32, one row a frame) next
# to the video, so that `heaters resplice` can cut again without decoding. Changing their meaning
# is a format change: bump SCORES_VERSION.
SCORES_VERSION = 1
COLUMNS = ("pix1", "pix2", "pix3", "hist1", "hist2", "hist3", "luma", "spread", "q", "far", "net")
COL = {name: i for i, name in enumerate(COLUMNS)}


@dataclass(frozen=True)
class CutRules:
    """The constants of the detectors, in one place (recorded with every splice).

    Chosen on pool "a" of the real-shot montages plus `tests/media` (see benchmarks/README.md),
    checked on pool "b" and on the synthetic variants.
    """

    threshold: float = DEFAULT_THRESHOLD[
        "content"
    ]  # a hard cut's change / (its calmer side's usual change + offset)
    window: int = 8  # frames on each side whose median change is "usual"
    offset: float = 2.0  # added to the usual pixel change: a static shot's noise is not news
    floor: float = 8.0  # a hard cut changes the picture by at least this (mean abs, 0-255)
    hist_min: float = 1.5  # ... and its colours stand out at least this much (no flicker cuts)
    colour_jump: float = 50.0  # or: half the colour histogram moves at once (percent),
    colour_sp: float = 1.2  # standing out `threshold` times, and the picture jumps this much
    flash_keep: float = 0.5  # frames i-1 and i+1 (i-2, i+2) still differ by half the change
    black_luma: float = 24.0  # a frame this dark (mean Y, 0-255) ...
    black_spread: float = 10.0  # ... with this little luma spread is black (not a dark scene)
    white_luma: float = 227.0  # a frame this bright with no picture (`flat_spread`) is white ...
    white_fade: float = 0.5  # ... when reached through a frame with at most this share of the
    # picture's spread: a dip to white fades, a camera flash or lightning comes at once
    flat_spread: float = 4.0  # a frame with less luma spread has no picture (a flat field)
    picture_reach: int = 15  # frames around black where a picture (or a blend) is looked for
    q_candidate: float = 0.3  # mid/far below this: the frame looks like a blend of its neighbours
    q_accept: float = 0.2  # ... this low, the classic detector calls it a gradual transition
    blend_far: float = 12.0  # ... if its two ends differ this much (two shots, not a slow move)
    min_region: int = 3  # frames a blend must last to be a transition
    region_gap: int = 0  # ... in a row (brightness flicker makes single frames look blended)
    net_accept: float = 0.3  # the network's transition probability that confirms a candidate
    # A frame whose pixel and colour changes stand out together (their geometric mean) at least
    # this share of `threshold` (the pixels at least `colour_sp`, the colours `hist_min`) but
    # that the rules above do not take (a cut out of a busy shot, under heavy grain) is a hard
    # cut when the network says so (hybrid: at least `net_cut`, TransNetV2's own threshold, on
    # the frame or the two before it).
    net_ask: float = 2 / 3
    net_cut: float = 0.5


@dataclass(frozen=True)
class Boundary:
    """A clip boundary: the first frame of the new clip, what found it and how sure it is."""

    frame: int
    kind: str  # "cut", "fade" or "dissolve"
    strength: float  # >= 1: how far past its acceptance level (ranks boundaries in `tile`)


def side_baselines(
    x: npt.ArrayLike,
    window: int,
    ignore_below: float = 0.5,
    min_kept: int = 3,
    skip: npt.NDArray[np.bool_] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Median of the `window` values before, and of those after, each element (NaN: none).

    Values below `ignore_below` do not count when at least `min_kept` others remain: duplicated
    frames (animation on twos, pulldown) change by ~0 and would otherwise halve the median of a
    busy shot, making every drawing look like a cut. Nor do values where `skip` is True (the
    two changes of a flash: its coming and its going are no motion of the shot), on the same
    terms.
    """
    a = np.asarray(x, dtype=np.float64)
    n = len(a)
    if n == 0 or window <= 0:
        return np.full(n, np.nan), np.full(n, np.nan)
    pad = np.full(window, np.nan)
    # Row i: the `window` values before i, then the `window` after it, gathered at once (the
    # splice calls this a batch of frames at a time: fewer, larger numpy calls).
    reach = np.concatenate([np.arange(window), np.arange(window + 1, 2 * window + 1)])
    sides = np.concatenate([pad, a, pad])[np.arange(n)[:, None] + reach].reshape(n, 2, window)
    ignored = a < ignore_below if skip is None else (a < ignore_below) | skip
    gone = np.concatenate([pad, np.where(ignored, np.nan, a), pad])[np.arange(n)[:, None] + reach]
    kept = gone.reshape(n, 2, window)
    enough = np.sum(~np.isnan(kept), axis=2) >= min_kept
    rows = np.where(enough[..., None], kept, sides).reshape(2 * n, window)
    medians = _nan_median(rows).reshape(n, 2)
    return medians[:, 0], medians[:, 1]


def _nan_median(rows: FloatArray) -> FloatArray:
    """Median of each row's non-NaN values (NaN where none): `np.nanmedian`, several times
    faster on many short rows (sorting puts NaN last; the middle is then an index)."""
    ordered = np.sort(rows, axis=1)
    count = np.sum(~np.isnan(rows), axis=1)
    idx = np.arange(len(rows))
    lo = ordered[idx, np.maximum(count - 1, 0) // 2]  # the two middle values (one if odd)
    hi = ordered[idx, np.minimum(count // 2, rows.shape[1] - 1)]
    return np.where(count > 0, (lo + hi) / 2, np.nan)


def stand_out(
    x: npt.ArrayLike, window: int, offset: float, skip: npt.NDArray[np.bool_] | None = None
) -> FloatArray:
    """How many times each value exceeds the usual change of its *busier* side (plus offset).

    Measured against both sides, a cut from a calm shot into a busy one still stands out against
    the busy one; the start of fast motion inside a shot does not (it is usual after it).
    `skip`: values that are no side's usual change (`side_baselines`).
    """
    a = np.asarray(x, dtype=np.float64)
    before, after = side_baselines(a, window, skip=skip)
    usual = np.nan_to_num(np.fmax(before, after))
    return a / (usual + offset)


def hard_cuts(scores: npt.ArrayLike, rules: CutRules, *, use_net: bool = False) -> list[Boundary]:
    """Frames where the picture jumps once and stays changed: a hard cut.

    A frame is a cut when its change from the previous frame is at least `floor`, the frames
    around it still differ when the cut frame is skipped (a one- or two-frame flash returns to
    the same picture), and either its pixel change stands out `threshold` times against both
    neighbourhoods while its colour histogram stands out too (a brightness swing moves pixels,
    not the luma-centred histogram), or a large part of the colour histogram moves at once,
    standing out as much, while the picture jumps (cuts between shots in constant fast motion,
    where every frame's pixels change a lot). With `use_net`, a doubtful frame
    (`doubtful_cuts`) whose network probability (computed around it by the splice) reaches
    `net_cut` is a cut too. Of adjacent qualifying frames the strongest wins.
    """
    s = np.asarray(scores, dtype=np.float64)
    n = len(s)
    if n == 0:
        return []
    m = _CutMeasures(s, rules)
    ok = m.sure.copy()
    strength = np.where(m.pixel_led, m.sp, 0.0)
    strength = np.maximum(strength, np.where(m.colour_led, m.sh, 0.0)) / rules.threshold
    if use_net:
        net = np.nan_to_num(s[:, COL["net"]], nan=0.0)
        # TransNetV2 marks the outgoing shot's last frame: the cut frame's or one or two before.
        near = net.copy()
        near[1:] = np.maximum(near[1:], net[:-1])
        near[2:] = np.maximum(near[2:], net[:-2])
        agreed = m.doubtful & (near >= rules.net_cut)
        ok |= agreed
        strength = np.where(agreed, m.joint / rules.threshold, strength)
    ok[0] = False
    return [Boundary(i, "cut", float(strength[i])) for i in _peaks(strength, ok)]


def doubtful_cuts(scores: npt.ArrayLike, rules: CutRules) -> list[int]:
    """Frames the classic rules do not call cuts but whose pixel and colour changes stand out
    together (`net_ask`): where `hybrid` asks the network (a cut out of a busy shot moves the
    pixels little more than the shot's own motion did, and its colours a lot)."""
    s = np.asarray(scores, dtype=np.float64)
    if len(s) == 0:
        return []
    return np.flatnonzero(_CutMeasures(s, rules).doubtful).tolist()


class _CutMeasures:
    """What the hard-cut rules look at, per frame (see `hard_cuts`)."""

    def __init__(self, s: FloatArray, rules: CutRules) -> None:
        d1, h1 = s[:, COL["pix1"]], s[:, COL["hist1"]]
        keep = rules.flash_keep
        # The coming and going of a flash (a picture change that returns within two frames) is
        # no motion of the shot: it does not raise either side's usual change.
        flash = (d1 >= rules.floor) & (_straddle(s, "pix") < keep * d1)
        self.sp = sp = stand_out(d1, rules.window, rules.offset, skip=flash)
        self.sh = sh = stand_out(h1, rules.window, 1.0, skip=flash)
        lasts = (d1 >= rules.floor) & ~flash  # a change that stays, by the picture ...
        colours_last = _straddle(s, "hist") >= keep * h1  # ... and by the colours
        self.pixel_led = (sp >= rules.threshold) & (sh >= rules.hist_min)
        self.colour_led = (
            (h1 >= rules.colour_jump)
            & (sh >= rules.threshold)
            & (sp >= rules.colour_sp)
            & colours_last  # (busy shots)
        )
        self.sure = lasts & (self.pixel_led | self.colour_led)
        self.joint = np.sqrt(np.maximum(sp, 0.0) * np.maximum(sh, 0.0))
        doubtful = (
            lasts
            & colours_last
            & ~self.sure
            & (sp >= rules.colour_sp)  # (the colour-led rule's own bars)
            & (sh >= rules.hist_min)
            & (self.joint >= rules.net_ask * rules.threshold)
        )
        doubtful[0] = False
        # A frame next to a sure cut is that cut's, not another.
        beside = self.sure.copy()
        beside[1:] |= self.sure[:-1]
        beside[:-1] |= self.sure[1:]
        self.doubtful = doubtful & ~beside


def _straddle(s: FloatArray, measure: str) -> FloatArray:
    """The least change across the boundary before frame i between frames up to two apart from
    it: (i-3, i), (i-1, i+1), (i-2, i+1) and (i-1, i+2). Large at a cut; small at either end of
    a flash of one or two frames (the pictures around the flash match)."""
    n = len(s)
    two, three = s[:, COL[f"{measure}2"]], s[:, COL[f"{measure}3"]]
    out = np.where(np.arange(n) >= 3, three, np.inf)
    out[:-1] = np.minimum(out[:-1], np.minimum(two[1:], three[1:]))
    out[:-2] = np.minimum(out[:-2], three[2:])
    return out


def _peaks(strength: FloatArray, ok: npt.NDArray[np.bool_]) -> list[int]:
    """The strongest frame of each run of adjacent qualifying frames."""
    peaks: list[int] = []
    for i in np.flatnonzero(ok).tolist():
        if peaks and i - peaks[-1] <= 1:
            if strength[i] > strength[peaks[-1]]:
                peaks[-1] = i
            continue
        peaks.append(i)
    return peaks


def _runs(mask: npt.NDArray[np.bool_], gap: int = 0) -> list[tuple[int, int]]:
    """`[start, end)` runs of True, joining runs separated by at most `gap` False values."""
    runs: list[tuple[int, int]] = []
    for i in np.flatnonzero(mask).tolist():
        if runs and i - runs[-1][1] <= gap:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


def _blank(s: FloatArray, rules: CutRules) -> npt.NDArray[np.bool_]:
    """Frames of black, and of white that a picture fades into or out of (a dip to white)."""
    luma, spread = s[:, COL["luma"]], s[:, COL["spread"]]
    # White must be flatter than black: a bright, misty or overexposed picture can have as
    # little spread as a black frame's noise (video's white is 235: no noise rides on it).
    white = (spread <= rules.flat_spread) & (luma >= rules.white_luma)
    reach = rules.picture_reach
    for a, b in _runs(white):
        into = a > 0 and spread[a - 1] <= rules.white_fade * spread[max(0, a - reach) : a].max()
        out_of = b < len(s) and spread[b] <= rules.white_fade * spread[b : b + reach].max()
        if not (into or out_of):
            white[a:b] = False  # a flash: the picture on both sides is whole
    return ((spread <= rules.black_spread) & (luma <= rules.black_luma)) | white


def black_boundaries(scores: npt.ArrayLike, rules: CutRules) -> list[Boundary]:
    """The edges of each stretch of black (or of white a picture dips into, `_blank`): its
    first frame, and the first frame after it.

    A fade through black becomes: the fading picture, the black hold (its own clip, or joined
    to a neighbour when shorter than the minimum clip length), the next picture. A fade-out at
    the end of the video gives one boundary, at its first black frame. A dip to black between
    frames with no picture at all (a flat field fading) is no shot change and gives nothing.
    """
    s = np.asarray(scores, dtype=np.float64)
    n = len(s)
    dark = _blank(s, rules)
    spread = s[:, COL["spread"]]
    reach = rules.picture_reach
    out: list[Boundary] = []
    for a, b in _runs(dark):
        # A fade dims the picture's spread too: look for a picture a little further away.
        before = spread[max(0, a - reach) : a].max(initial=0.0) > rules.flat_spread
        after = spread[b : b + reach].max(initial=0.0) > rules.flat_spread
        if not (before or after):
            continue
        out += [Boundary(f, "fade", 1.0) for f in (a, b) if 0 < f < n]
    return out


def blend_regions(scores: npt.ArrayLike, rules: CutRules) -> list[tuple[int, int]]:
    """`[start, end)` stretches where pictures look like blends of their neighbours.

    `q` is |2 f(i) - f(i-h) - f(i+h)| / (2 |f(i-h) - f(i+h)|), least over a few h, where the two
    ends differ enough: ~0 inside a dissolve or a fade (the frame is the mix of its ends), ~0.5
    in motion. Slow, smooth change inside a shot (a zoom, a pan over a gradient) looks like a
    blend too, so these are only candidates (see `gradual_boundaries`). Frames with no picture
    (a flat field) are no candidates, and neither are stretches that touch black (or white):
    the edges of the black are the boundaries there (`black_boundaries`).
    """
    s = np.asarray(scores, dtype=np.float64)
    n = len(s)
    q = np.nan_to_num(s[:, COL["q"]], nan=np.inf)
    picture = s[:, COL["spread"]] > rules.flat_spread
    dark = _blank(s, rules)
    reach = rules.picture_reach
    out = []
    for a, b in _runs((q <= rules.q_candidate) & picture, gap=rules.region_gap):
        if b - a < rules.min_region or dark[max(0, a - reach) : min(n, b + reach)].any():
            continue
        out.append((a, b))
    return out


def gradual_boundaries(
    scores: npt.ArrayLike, rules: CutRules, *, use_net: bool, taken: Sequence[int] = ()
) -> list[Boundary]:
    """Dissolves and fades not already at a boundary in `taken` (hard cuts, black edges).

    Each blend region is accepted by the network's probability (`use_net`, where it was
    computed: the splice runs it on candidate regions only) or, without it, by how clean a blend
    it is; the boundary goes where the network peaks (one frame after: it marks a shot's last
    frame), else to the middle of the blend.
    """
    s = np.asarray(scores, dtype=np.float64)
    n = len(s)
    q = np.nan_to_num(s[:, COL["q"]], nan=np.inf)
    net = s[:, COL["net"]]
    near: set[int] = set()
    for f in taken:
        near.update(range(f - 3, f + 4))
    out: list[Boundary] = []
    for a, b in blend_regions(s, rules):
        lo, hi = max(0, a - 3), min(n, b + 3)
        if near.intersection(range(lo, hi)):
            continue
        window = net[lo:hi]
        if use_net and not np.isnan(window).all():
            best = float(np.nanmax(window))
            if best < rules.net_accept:
                continue
            frame = lo + int(np.nanargmax(window)) + 1
            strength = best / rules.net_accept
        else:
            best_q = float(q[a:b].min())
            far = float(s[a:b, COL["far"]].max())
            if best_q > rules.q_accept or far < rules.blend_far:
                continue
            frame = (a + b) // 2
            strength = rules.q_accept / max(best_q, 1e-3)
        out.append(Boundary(min(max(frame, 1), n - 1), "dissolve", strength))
    return out


def net_boundaries(scores: npt.ArrayLike, threshold: float = 0.5) -> list[Boundary]:
    """TransNetV2 alone: one boundary after each peak of its per-frame probability."""
    s = np.asarray(scores, dtype=np.float64)
    p = np.nan_to_num(s[:, COL["net"]], nan=0.0)
    ok = p >= threshold
    return [
        Boundary(i + 1, "net", float(p[i] / threshold)) for i in _peaks(p, ok) if i + 1 < len(p)
    ]


def boundaries(scores: npt.ArrayLike, detector: str, rules: CutRules) -> list[Boundary]:
    """Every clip boundary a detector finds in a video's per-frame scores, in frame order.

    "content": hard cuts, black edges and clean blends, no network. "hybrid": the same, with
    blend candidates and doubtful hard cuts confirmed by the network. "transnetv2": the
    network alone. One boundary per frame; a hard cut wins over a fade or dissolve found at
    the same place.
    """
    s = np.asarray(scores, dtype=np.float64)
    if detector == "transnetv2":
        return net_boundaries(s)
    found = hard_cuts(s, rules, use_net=detector == "hybrid")
    have = {b.frame for b in found}
    for b in black_boundaries(s, rules):
        if not have.intersection(range(b.frame - 2, b.frame + 3)):
            found.append(b)
            have.add(b.frame)
    found += gradual_boundaries(s, rules, use_net=detector == "hybrid", taken=sorted(have))
    return sorted(found, key=lambda b: b.frame)


def detect(scores: npt.ArrayLike, detector: str, threshold: float) -> list[Boundary]:
    """Clip boundaries from a video's per-frame scores (the splice pass's, or stored ones)."""
    if detector == "transnetv2":
        return net_boundaries(scores, threshold)
    return boundaries(scores, detector, CutRules(threshold=threshold))


def spans(
    ranges: Sequence[tuple[int, int]], times: Sequence[float], end_time: float
) -> tuple[ClipSpan, ...]:
    """Clip spans for `[start, end)` frame ranges: times from the decoded frames' timestamps,
    the last clip ending at `end_time` (its last frame's time plus that frame's duration)."""
    n = len(times)
    return tuple(
        ClipSpan(a, b, float(times[a]), float(times[b]) if b < n else float(end_time))
        for a, b in ranges
    )
