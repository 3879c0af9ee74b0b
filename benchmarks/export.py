"""Export stage: frame-accurate re-encode vs stream copy vs decoding the same frames.

Run by hand (a few minutes; nothing else heavy at the same time):

    python benchmarks/export.py [--runs 1] [--gop 150]

The video: 2 minutes of 1280x720 30 fps synthetic footage with audio and 11 hard cuts
(`make_video(random_shots(120, 11, seed=1))`), re-encoded with a keyframe every `--gop` frames and
no scene-cut keyframes, so that cuts are not on keyframes (as in downloaded videos). Clips are its
12 true shots. Cached in bench-out/ with its cuts in a `.json` beside it.

Prints wall seconds and CPU seconds (this process plus its ffmpeg children) of:
- `export.run` frame-accurate (libx264 crf 20 veryfast + AAC 128k) of all 12 clips;
- `export.run` with `copy=True` of the same clips (and how many frames early they start);
- decode only: the same ffmpeg seeks and trims into the null muxer (no encoder), i.e. what any
  frame-accurate cut must at least pay to read those frames.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import av

from heaters.stages import export
from heaters.stages.export import ExportItem, ExportParams
from heaters.synthetic import ffmpeg_exe, make_video, random_shots

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-out"
FPS = 30


def ensure_video(gop: int) -> tuple[Path, list[int], list[float]]:
    """The benchmark video, its true cuts and its frame times (JSON sidecar), made once."""
    path = OUT / f"bench-export-120s-1280x720-gop{gop}.mp4"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        m = json.loads(meta.read_text())
        return path, m["cuts"], m["times"]
    OUT.mkdir(exist_ok=True)
    raw = OUT / "bench-export-120s-raw.mp4"
    print(f"rendering {path.name} (~1-2 min) ...", flush=True)
    v = make_video(
        raw, random_shots(120, 11, seed=1), width=1280, height=720, fps=FPS,
        audio=True, preset="ultrafast", seed=1,
    )  # fmt: skip
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-i", str(raw), "-c:v", "libx264", "-preset", "veryfast",
         "-crf", "23", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
         "-c:a", "copy", "-movflags", "+faststart", str(path)],
        check=True,
    )  # fmt: skip
    raw.unlink()
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        times = [float(f.pts * s.time_base) for f in c.decode(s)]
    meta.write_text(json.dumps({"cuts": list(v.cuts), "times": times, "gop": gop}))
    return path, list(v.cuts), times


def cpu_now() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    w, c = time.perf_counter(), cpu_now()
    out = fn()
    return time.perf_counter() - w, cpu_now() - c, out


def decode_only(items: list[ExportItem], fps: float) -> None:
    """The accurate path's seeks and trims, into the null muxer: decoding, no encoding."""
    for it in items:
        args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error"]
        if it.start_frame > 0:
            args += ["-ss", f"{it.start_time_s - min(0.001, 0.25 / fps):.6f}"]
        args += ["-i", str(it.source), "-filter_complex",
                 f"[0:v:0]trim=end_frame={it.end_frame - it.start_frame}[v]",
                 "-map", "[v]", "-f", "null", "-"]  # fmt: skip
        subprocess.run(args, check=True)


def first_frame_time(path: Path) -> float:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return float(s.start_time * s.time_base) if s.start_time is not None else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1, help="runs of each (best kept, alternating)")
    ap.add_argument("--gop", type=int, default=150, help="keyframe interval of the source")
    args = ap.parse_args()
    path, cuts, times = ensure_video(args.gop)
    n = len(times)
    bounds = [0, *cuts, n]
    out = OUT / "export-bench"
    end_s = times[-1] + 1 / FPS

    def items(sub: str) -> list[ExportItem]:
        return [
            ExportItem(f"clip {i}", path, a, b, times[a], times[b] if b < n else end_s,
                       out / sub / f"clip{i:02d}.mp4")
            for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
        ]  # fmt: skip

    load = os.getloadavg()[0]
    print(
        f"video: {path.name}, {n} frames, {len(bounds) - 1} clips, GOP {args.gop}, load {load:.1f}"
    )
    best: dict[str, tuple[float, float]] = {}
    res: dict[str, export.ExportResult] = {}
    for _ in range(args.runs):
        shutil.rmtree(out, ignore_errors=True)
        for name, fn in [
            ("decode only", lambda: decode_only(items("d"), FPS)),
            ("accurate", lambda: export.run(items("a"), ExportParams(), ffmpeg_exe())),
            ("copy", lambda: export.run(items("c"), ExportParams(copy=True), ffmpeg_exe())),
        ]:
            w, c, r = timed(fn)
            if r is not None:
                res[name] = r
                assert all(o.status == "ok" for o in r.outcomes), r.outcomes
            old = best.get(name)
            best[name] = (min(old[0], w), min(old[1], c)) if old else (w, c)
    dw, dc = best["decode only"]
    for name in ("decode only", "accurate", "copy"):
        w, c = best[name]
        print(f"{name:12}: {w:7.2f} s wall {c:7.2f} s CPU   {w / dw:6.2f}x / {c / dc:5.2f}x decode")
    aw, ac = best["accurate"]
    cw, cc = best["copy"]
    print(f"accurate / copy: {aw / cw:.1f}x wall, {ac / cc:.1f}x CPU")
    spans = list(pairwise(bounds))
    acc = res["accurate"].outcomes
    assert all(o.frames == b - a for o, (a, b) in zip(acc, spans, strict=True))
    extra = [o.frames - (b - a) for o, (a, b) in zip(res["copy"].outcomes, spans, strict=True)]
    print(f"accurate: every clip has exactly its frames ({sum(o.frames for o in acc)} frames)")
    print(f"copy: extra frames per clip {extra} (max {max(extra)}, total {sum(extra)})")
    mb = {k: sum(o.path.stat().st_size for o in r.outcomes) / 1e6 for k, r in res.items()}
    print(f"output MB: accurate {mb['accurate']:.1f}, copy {mb['copy']:.1f}")


if __name__ == "__main__":
    main()
