"""Chapters as cut hints: a clip boundary at each chapter start (setting `chapter_cuts`).

A chapter start is a time; the boundary is the first decoded frame that starts at or after it
(frame timestamps, so variable frame rate is right). A chapter at 0 or past the last frame adds
nothing. The splice gives these boundaries the greatest strength, so merging short shots removes
a detector cut before a chapter start.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

EPS = 1e-3  # a chapter start this close before a frame's time is that frame


def chapter_starts(chapters: Sequence[dict[str, Any]] | None) -> tuple[float, ...]:
    """Start times (seconds) of well-formed chapters, sorted, without repeats."""
    out = set()
    for c in chapters or ():
        t = c.get("start_time") if isinstance(c, dict) else None
        if isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t) and t > 0:
            out.add(float(t))
    return tuple(sorted(out))


def chapter_frames(starts: Sequence[float], frame_times: Sequence[float]) -> list[int]:
    """The frame at which each chapter starts, for those strictly inside the video."""
    n = len(frame_times)
    frames = set()
    for t in starts:
        i = bisect.bisect_left(frame_times, t - EPS)
        if 0 < i < n:
            frames.add(i)
    return sorted(frames)


def with_chapters(
    cuts: list[int], strength: dict[int, float], kinds: dict[int, str], chapters: list[int]
) -> tuple[list[int], dict[int, float], dict[int, str]]:
    """The detector's cuts plus a boundary at each chapter start, the strongest of all (short
    shots merge across a detector cut first)."""
    if not chapters:
        return cuts, strength, kinds
    strength = {**strength, **{f: math.inf for f in chapters}}
    kinds = {**kinds, **{f: "chapter" for f in chapters if f not in kinds}}
    return sorted(set(cuts) | set(chapters)), strength, kinds
