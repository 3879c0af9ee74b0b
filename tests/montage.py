"""Montages of real shots with exact truth: hard cuts, dissolves and fades through black.

The real videos in `tests/media/` have checked cuts but few of them, and no dissolve. A montage
takes pieces of their shots (never across a known cut or fade) and joins them again, each join a
hard cut, a dissolve or a fade through black of 8-24 frames, then encodes the result with
libx264 — so the truth is exact to the frame while the pictures, motion, grain and compression
are real. Shots are split into two pools by source video so that constants can be chosen on one
pool and checked on the other (`POOLS`).
"""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from heaters.synthetic import ffmpeg_exe

MEDIA = Path(__file__).resolve().parent / "media"
U8 = npt.NDArray[np.uint8]

# (video, first frame, end frame) of whole shots, from truth.json and truth-addendum.json: fade
# spans, dissolves and the frames next to a cut are left out. Pool "a" chose the detector's constants; pool "b" checks them.
POOLS: dict[str, tuple[tuple[str, int, int], ...]] = {
    "a": (
        ("issue-195-aspect-ratio.mp4", 1, 69),
        ("issue-195-aspect-ratio.mp4", 71, 169),
        ("issue-195-aspect-ratio.mp4", 171, 300),
        ("issue-195-aspect-ratio.mp4", 302, 420),
        ("issue-195-aspect-ratio.mp4", 422, 483),
        ("issue-195-aspect-ratio.mp4", 485, 628),
    ),
    "b": (
        ("goldeneye-vfr-drop3.mp4", 1, 59),
        ("goldeneye-vfr-drop3.mp4", 61, 139),
        ("testvideo.mp4", 31, 179),
        ("testvideo.mp4", 242, 299),
        ("testvideo.mp4", 432, 528),
        ("testvideo.mp4", 560, 639),
    ),
}


@dataclass(frozen=True)
class Join:
    """One join of two pieces: `kind` is "cut", "dissolve" or "fade".

    `start` is the first frame that differs from the outgoing piece (for a cut: the first frame
    of the new shot) and `end` the first frame that is wholly the incoming piece; for a cut
    `end == start + 1`.
    """

    kind: str
    start: int
    end: int


@dataclass
class Montage:
    path: Path
    fps: int
    frame_count: int
    joins: list[Join] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Join]:
        return [j for j in self.joins if j.kind == kind]

    def to_json(self) -> str:
        d = asdict(self)
        d["path"] = str(self.path)
        return json.dumps(d)

    @staticmethod
    def from_json(text: str) -> Montage:
        d = json.loads(text)
        return Montage(Path(d["path"]), d["fps"], d["frame_count"], [Join(**j) for j in d["joins"]])


def _shot_frames(video: str, a: int, b: int, size: tuple[int, int]) -> list[U8]:
    """Frames `[a, b)` of a real video, as RGB at `size` (decoded frame index order)."""
    out: list[U8] = []
    with av.open(str(MEDIA / video)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i >= b:
                break
            if i >= a:
                out.append(frame.to_ndarray(width=size[0], height=size[1], format="rgb24"))
    return out


def make_montage(
    out: Path,
    pool: str,
    *,
    joins: int = 24,
    kinds: Sequence[str] = ("cut", "dissolve", "fade"),
    seed: int = 0,
    size: tuple[int, int] = (480, 270),
    fps: int = 25,
    piece_len: tuple[int, int] = (50, 90),
    crf: int = 23,
    out_size: tuple[int, int] | None = None,
    fade_level: int = 0,
) -> Montage:
    """Render a montage of `joins + 1` pieces of the pool's shots; return it with its truth.

    Consecutive pieces come from different shots; a piece is a random stretch of its shot,
    played backwards half of the time (more variety from few shots). Join kinds cycle through
    `kinds` in a shuffled order; a gradual join lasts 8-24 frames (a fade: out, 0-4 black
    frames, in; through white with `fade_level` 255, an editor's "dip to white"). Frames
    stream to the encoder as they are final (`out_size`: scaled there), so a long montage
    needs little memory.
    """
    rng = random.Random(seed)
    shots = [_shot_frames(v, a, b, size) for v, a, b in POOLS[pool]]
    order = list(kinds) * (joins // len(kinds) + 1)
    rng.shuffle(order)
    frames = _Tape(out, size, fps, crf, out_size)
    montage = Montage(out, fps, 0)
    last = -1
    for j in range(joins + 1):
        frames.flush(keep=32)  # no join reaches further back than 24 frames
        k = rng.choice([i for i in range(len(shots)) if i != last])
        last = k
        shot = shots[k]
        n = min(len(shot), rng.randint(*piece_len))
        a = rng.randint(0, len(shot) - n)
        piece = shot[a : a + n]
        if rng.random() < 0.5:
            piece = piece[::-1]
        if j == 0:
            frames.extend(piece)
            continue
        kind = order[j - 1]
        start = len(frames)
        if kind == "cut":
            frames.extend(piece)
            montage.joins.append(Join("cut", start, start + 1))
            continue
        length = rng.randint(8, 24)
        if kind == "dissolve":
            # The last `length` frames of the outgoing piece blend into the incoming piece.
            start = len(frames) - length
            for i in range(length):
                w = (i + 1) / (length + 1)
                mixed = (1 - w) * frames[start + i] + w * piece[min(i, len(piece) - 1)]
                frames[start + i] = mixed.round().astype(np.uint8)
            frames.extend(piece[length:] if len(piece) > length else piece[-1:])
            montage.joins.append(Join("dissolve", start, start + length))
            continue
        hold = rng.randint(0, 4)
        n_out = max(3, (length - hold) // 2)
        n_in = max(3, length - hold - n_out)
        start = len(frames) - n_out
        for i in range(n_out):
            w = 1 - (i + 1) / (n_out + 1)
            frames[start + i] = _toward(frames[start + i], w, fade_level)
        frames.extend(np.full_like(piece[0], fade_level) for _ in range(hold))
        for i in range(n_in):
            w = (i + 1) / (n_in + 1)
            frames.append(_toward(piece[i], w, fade_level))
        frames.extend(piece[n_in:])
        montage.joins.append(Join("fade", start, start + n_out + hold + n_in))
    montage.frame_count = len(frames)
    frames.close()
    out.with_suffix(".json").write_text(montage.to_json())
    return montage


def _toward(frame: U8, w: float, level: int) -> U8:
    """`w` of the picture, the rest a flat `level` (0: black)."""
    return (frame * w + level * (1 - w)).round().astype(np.uint8)


class _Tape:
    """The montage's frames by absolute index; all but the newest are handed to ffmpeg."""

    def __init__(
        self, out: Path, size: tuple[int, int], fps: int, crf: int, out_size: tuple[int, int] | None
    ) -> None:
        w, h = size
        scale = ["-vf", f"scale={out_size[0]}:{out_size[1]}"] if out_size else []
        cmd = [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "-",
            *scale, "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf),
            "-pix_fmt", "yuv420p", str(out),
        ]  # fmt: skip
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)  # noqa: S603 (argv list)
        self._held: list[U8] = []
        self._base = 0  # absolute index of _held[0]
        self._out = out

    def __len__(self) -> int:
        return self._base + len(self._held)

    def __getitem__(self, i: int) -> U8:
        return self._held[i - self._base]

    def __setitem__(self, i: int, frame: U8) -> None:
        self._held[i - self._base] = frame

    def append(self, frame: U8) -> None:
        self._held.append(frame)

    def extend(self, frames: Iterable[U8]) -> None:
        self._held.extend(frames)

    def flush(self, keep: int) -> None:
        assert self._proc.stdin is not None
        cut = max(0, len(self._held) - keep)
        for f in self._held[:cut]:
            self._proc.stdin.write(np.ascontiguousarray(f).tobytes())
        self._held = self._held[cut:]
        self._base += cut

    def close(self) -> None:
        self.flush(keep=0)
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        if self._proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed to encode {self._out}")
