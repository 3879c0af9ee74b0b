"""Synthetic videos with known cuts, made with ffmpeg's lavfi sources.

`heaters demo`, the tests and the benchmarks all need footage whose true shot boundaries are known
to the frame, and nothing may come from the network. Each shot is a different moving lavfi source
(with hue shifts, scrolling and noise so that in-shot motion is real); shots are joined by hard cuts
(`concat`) or by dissolves (`xfade`), so the ground truth is exact by construction.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from heaters.stages.tools import ffmpeg_exe

# Source families of `kinds=`, in `_source` order.
SOURCE_FAMILIES: tuple[str, ...] = (
    "testsrc2",
    "gradients",
    "life",
    "sierpinski",
    "smptehdbars",
    "mandelbrot",
    "rgbtestsrc",
    "noisy colour",
)

# Shot lengths (seconds) of the demo video: 10 hard cuts, several shots shorter than one second.
DEMO_SHOTS_S: tuple[float, ...] = (2.0, 1.5, 0.5, 2.5, 0.7, 1.8, 3.0, 0.4, 2.2, 1.2, 2.0)


@dataclass(frozen=True)
class SyntheticVideo:
    """A made video and its ground truth."""

    path: Path
    fps: int
    width: int
    height: int
    frame_count: int
    cuts: tuple[int, ...]  # first frame of every shot after the first (hard cuts only)
    dissolves: tuple[tuple[int, int], ...] = field(default=())  # [start, end) frames of dissolves
    frame_times: tuple[float, ...] = field(default=())  # presentation time (s) of every frame

    @property
    def all_boundaries(self) -> tuple[int, ...]:
        """Hard cuts plus the middle frame of every dissolve, sorted."""
        mids = [(a + b) // 2 for a, b in self.dissolves]
        return tuple(sorted([*self.cuts, *mids]))


def _source(kind: int, w: int, h: int, fps: int, rng: random.Random) -> str:
    """One lavfi source expression with in-shot motion; `kind` picks the family."""
    seed = rng.randrange(1, 2**31 - 1)
    hue = rng.randrange(0, 360)
    sources = [
        f"testsrc2=s={w}x{h}:r={fps}",
        # gradients picks its colours at random whatever the seed: given here, from the seed,
        # so that the same seed makes the same video (and the rng's later draws are unchanged)
        f"gradients=s={w}x{h}:r={fps}:speed=0.02:seed={seed}"
        f":c0=#{seed & 0xFFFFFF:06x}:c1=#{(seed >> 7) & 0xFFFFFF ^ 0xFFFFFF:06x}",
        f"life=s={w}x{h}:r={fps}:mold=10:ratio=0.2:seed={seed}:life_color=#{rng.randrange(0x1000000):06x}",
        f"sierpinski=s={w}x{h}:r={fps}:seed={seed}:jump=1",
        f"smptehdbars=s={w}x{h}:r={fps}",
        f"mandelbrot=s={w}x{h}:r={fps}",
        f"rgbtestsrc=s={w}x{h}:r={fps}",
        f"color=c=#{rng.randrange(0x1000000):06x}:s={w}x{h}:r={fps},noise=alls=12:allf=t",
    ]
    src = sources[kind % len(sources)]
    scroll = rng.choice([0.0, 0.002, 0.005, -0.004])
    post = f",hue=h={hue}"
    if scroll:
        post += f",scroll=h={scroll}:v={scroll / 2}"
    return f"{src},format=yuv420p{post},setsar=1"


def make_video(
    path: Path,
    shots_s: Sequence[float] = DEMO_SHOTS_S,
    *,
    width: int = 320,
    height: int = 180,
    fps: int = 30,
    dissolve_after: Sequence[int] = (),
    dissolve_frames: int = 15,
    audio: bool = False,
    seed: int = 0,
    crf: int = 23,
    preset: str = "veryfast",
    noise: int = 0,
    pan: float = 0.0,
    shake: int = 0,
    flicker: float = 0.0,
    flashes: Sequence[int] = (),
    vfr: bool = False,
    kinds: Sequence[int] | None = None,
) -> SyntheticVideo:
    """Render `shots_s` as one H.264 mp4 and return where its cuts are.

    `dissolve_after` lists shot indices i whose transition into shot i+1 is a dissolve of
    `dissolve_frames` frames instead of a hard cut.

    The effects imitate what real footage does to a detector without being a cut (the truth is
    unchanged): `noise` (temporal grain strength, 0-100), `pan` (a camera pan over the whole video,
    in frame widths per frame), `shake` (hand-held jitter, in pixels), `flicker` (per-frame
    brightness swing, -1..1), `flashes` (frames lit by a single-frame flash). `vfr` stamps frames
    with durations of 1, 2 and 0.5 frame times in turn: a variable-frame-rate file whose frame
    indices (and so the truth) are unchanged; `frame_times` holds every frame's time.
    `kinds` picks each shot's source family (index into `SOURCE_FAMILIES`) instead of at random.
    """
    rng = random.Random(seed)
    frames = [max(1, round(s * fps)) for s in shots_s]
    if kinds is not None:
        if len(kinds) != len(frames):
            raise ValueError("kinds needs one source family per shot")
        order = list(kinds)
    else:
        order = list(range(len(frames)))
        rng.shuffle(order)
    # Neighbouring shots never share a source family, so every boundary is a real change.
    for i in range(1, len(order)):
        if order[i] % 8 == order[i - 1] % 8:
            order[i] += 1
    inputs: list[str] = []
    for i, n in enumerate(frames):
        src = _source(order[i], width, height, fps, rng)
        inputs += [
            "-f",
            "lavfi",
            "-i",
            f"{src},trim=end_frame={n},setpts=PTS-STARTPTS,settb=1/{fps}",
        ]
    dissolve_set = set(dissolve_after)
    parts: list[str] = []
    cuts: list[int] = []
    dissolves: list[tuple[int, int]] = []
    cur, length = "[0:v]", frames[0]
    for i in range(1, len(frames)):
        out = f"[v{i}]"
        if (
            (i - 1) in dissolve_set
            and frames[i - 1] > dissolve_frames
            and frames[i] > dissolve_frames
        ):
            offset_frames = length - dissolve_frames
            parts.append(
                f"{cur}[{i}:v]xfade=transition=fade:duration={dissolve_frames / fps}"
                f":offset={offset_frames / fps},settb=1/{fps}{out}"
            )
            dissolves.append((offset_frames, offset_frames + dissolve_frames))
            length += frames[i] - dissolve_frames
        else:
            parts.append(f"{cur}[{i}:v]concat=n=2:v=1:a=0,settb=1/{fps}{out}")
            cuts.append(length)
            length += frames[i]
        cur = out
    if not parts:
        parts.append("[0:v]null[v0]")
        cur = "[v0]"
    post = _effects(width, height, fps, noise, pan, shake, flicker, flashes, vfr)
    if post:
        parts.append(f"{cur}{post}[fx]")
        cur = "[fx]"
    graph = ";".join(parts)
    final = cur
    args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *inputs]
    if audio:
        args += [
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:sample_rate=48000:duration={length / fps}",
        ]
    args += ["-filter_complex", graph, "-map", final]
    if audio:
        args += ["-map", f"{len(frames)}:a", "-c:a", "aac", "-b:a", "64k"]
    args += [
        "-frames:v", str(length), *_rate_args(fps, vfr),
        "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
        "-movflags", "+faststart", str(path),
    ]  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    # stdin: not the terminal (ffmpeg reads keys from it: `heaters demo &` would be stopped)
    proc = subprocess.run(  # noqa: S603 (argv list)
        args, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        raise RuntimeError(f"ffmpeg could not render the synthetic video: {' | '.join(tail)}")
    return SyntheticVideo(
        path=path,
        fps=fps,
        width=width,
        height=height,
        frame_count=length,
        cuts=tuple(cuts),
        dissolves=tuple(dissolves),
        frame_times=tuple(_frame_time(n, fps, vfr) for n in range(length)),
    )


def _frame_time(n: int, fps: int, vfr: bool) -> float:
    """Presentation time of frame `n` as `make_video` stamps it."""
    if not vfr:
        return n / fps
    q, r = divmod(n, 3)
    return (q * 7 + r * (r + 1)) / (2 * fps)


def _effects(
    w: int,
    h: int,
    fps: int,
    noise: int,
    pan: float,
    shake: int,
    flicker: float,
    flashes: Sequence[int],
    vfr: bool,
) -> str:
    """The filter chain applied to the joined shots, or "" when there is none."""
    chain: list[str] = []
    if pan:
        chain.append(f"scroll=h={pan}")
    if shake:
        s = shake
        chain.append(
            f"crop=w=iw-{2 * s}:h=ih-{2 * s}"
            f":x='{s}+{s}*sin(n*1.3)*cos(n*0.37)':y='{s}+{s}*cos(n*1.7)*sin(n*0.23)'"
            f",scale={w}:{h}"
        )
    if flicker:
        chain.append(f"eq=brightness='{flicker}*sin(n*0.9)*sin(n*0.131)':eval=frame")
    if noise:
        chain.append(f"noise=alls={noise}:allf=t")
    if flashes:
        when = "+".join(f"eq(n,{n})" for n in flashes)
        chain.append(f"drawbox=x=0:y=0:w=iw:h=ih:color=white@0.7:t=fill:enable='{when}'")
    if vfr:
        # Frames last 1, 2 and 0.5 nominal frame times in turn (in half-frame units: 2, 4, 1):
        # only timestamps, not indices, give the time of a frame.
        chain.append(f"settb=1/{fps * 2},setpts='floor(N/3)*7+mod(N,3)*(mod(N,3)+1)'")
    chain.append("format=yuv420p")
    return ",".join(chain) if len(chain) > 1 else ""


def random_shots(total_s: float, n_cuts: int, seed: int = 0, min_s: float = 0.4) -> list[float]:
    """Shot lengths summing to `total_s` with `n_cuts` cuts, some short: benchmark footage."""
    rng = random.Random(seed)
    weights = [rng.expovariate(1.0) + 0.05 for _ in range(n_cuts + 1)]
    scale = (total_s - min_s * (n_cuts + 1)) / sum(weights)
    return [min_s + w * scale for w in weights]


def _rate_args(fps: int, vfr: bool) -> list[str]:
    """Constant rate, or the filter graph's own timestamps kept exactly (variable rate)."""
    if vfr:
        return ["-fps_mode", "passthrough", "-enc_time_base:v", "filter"]
    return ["-r", str(fps)]
