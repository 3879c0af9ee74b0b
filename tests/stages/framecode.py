"""Test videos whose every frame shows its own index as a barcode, so a test can read back
exactly which source frame a decoded frame, a sprite tile or a keyframe JPEG came from."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BITS = 12
STRIP = 64  # grey level of the top strip: shows a wrong colour range (56 or 73 instead)


def make_coded_video(
    path: Path,
    n: int,
    *,
    width: int = 192,
    height: int = 108,
    fps: int = 30,
    gop: int = 24,
    durations: Sequence[int] | None = None,
    pix_fmt: str = "yuv420p",
) -> list[float]:
    """H.264 mp4 (B-frames, a keyframe every `gop` frames); frame k shows k. Returns frame times.

    `durations` (in 1/(fps*6) s units, cycled) makes the file variable-frame-rate;
    `pix_fmt="yuvj420p"` makes it full-range.
    """
    tb = Fraction(1, fps * 6)
    times: list[float] = []
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = width, height, pix_fmt
        s.time_base = tb
        s.codec_context.time_base = tb
        s.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": "2"}
        pts = 0
        for k in range(n):
            frame = av.VideoFrame.from_ndarray(code_image(k, width, height), format="rgb24")
            frame = frame.reformat(format=pix_fmt)
            frame.pts = pts
            frame.time_base = tb
            times.append(float(pts * tb))
            out.mux(s.encode(frame))
            pts += durations[k % len(durations)] if durations else 6
        out.mux(s.encode(None))
    return times


def code_image(k: int, width: int, height: int) -> np.ndarray:
    """RGB picture of `k`: BITS vertical bands, white for a 1 bit, black for 0; a grey top strip."""
    img = np.zeros((height, width, 3), np.uint8)
    for b in range(BITS):
        if (k >> b) & 1:
            img[:, b * width // BITS : (b + 1) * width // BITS] = 255
    img[: height // 8] = STRIP  # not part of the code: a known grey, to check colour handling
    return img


def read_code(rgb: np.ndarray) -> int:
    """The index a picture made by `code_image` shows (at any size, after lossy coding)."""
    h, w = rgb.shape[:2]
    gray = rgb.mean(axis=2) if rgb.ndim == 3 else rgb
    rows = gray[h // 4 :]
    k = 0
    for b in range(BITS):
        lo, hi = b * w / BITS, (b + 1) * w / BITS
        band = rows[:, int(lo + (hi - lo) / 4) : int(hi - (hi - lo) / 4)]
        if band.mean() > 128:
            k |= 1 << b
    return k


def decode_times(path: Path) -> list[float]:
    """Timestamps of every decoded frame as the splice stage records them: seconds from the
    stream's start time (or its first timestamp)."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        tb = float(s.time_base)
        times: list[float] = []
        origin = s.start_time
        for f in c.decode(s):
            origin = f.pts if origin is None else origin
            times.append((f.pts - origin) * tb)
        return times


def decode_jpeg(path: Path) -> np.ndarray:
    """Decode a JPEG back with PyAV (proves the file is a valid JPEG)."""
    with av.open(str(path)) as c:
        frame = next(c.decode(c.streams.video[0]))
        return frame.to_ndarray(format="rgb24")
