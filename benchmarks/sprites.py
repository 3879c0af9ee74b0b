"""Sprite and keyframe stages vs plain decoding, on the 10-minute 1280x720 30 fps benchmark video.

Run by hand (a few minutes; nothing else heavy at the same time):

    python benchmarks/sprites.py [--video PATH] [--skip-old]

Clips are the video's true shots. Prints wall and CPU seconds of: decoding every frame with PyAV
(the baseline, threads on), the sprite stage for all clips (one pass), the keyframe stage for all
clips and for every third clip (one pass each), and the old way (seek per clip, one container per
clip) for comparison. Target: sprite stage <= 1.5x decode-only. The video is cached in bench-out/.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from heaters.domain.results import FrameRequest
from heaters.domain.sampling import sprite_plan
from heaters.stages import keyframes, sprites
from heaters.stages.frames import encode_jpeg
from heaters.synthetic import make_video, random_shots

ROOT = Path(__file__).resolve().parent.parent
VIDEO = ROOT / "bench-out" / "bench-600s-1280x720-30fps-seed0.mp4"


def ensure_video(path: Path) -> tuple[int, list[int]]:
    """The benchmark video and its true cuts (a JSON sidecar), made once."""
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        m = json.loads(meta.read_text())
        return m["frame_count"], m["cuts"]
    print(f"rendering {path.name} (~2 min) ...", flush=True)
    v = make_video(
        path,
        random_shots(600, 60, seed=0),
        width=1280,
        height=720,
        fps=30,
        preset="ultrafast",
        seed=0,
    )
    meta.write_text(json.dumps({"frame_count": v.frame_count, "cuts": list(v.cuts), "fps": v.fps}))
    return v.frame_count, list(v.cuts)


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def decode_only(path: Path) -> list[float]:
    """Every frame decoded, nothing converted: the floor any frame-reading stage stands on."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        return [f.time for f in c.decode(s)]


def old_sprites(path: Path, spans: list[tuple[int, int]], times: list[float], out: Path) -> None:
    """The per-clip way: open, seek to the clip, decode from the keyframe before it, sample."""
    for n, (a, b) in enumerate(spans):
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            cc = s.codec_context
            plan = sprite_plan(a, b, fps=30.0, width=cc.width, height=cc.height, frame_times=times)
            g = plan.geometry
            tile_of = {f: i for i, f in enumerate(plan.frames)}
            sheet = np.zeros((g.height, g.width, 3), np.uint8)
            scaler = VideoReformatter()
            c.seek(int(times[a] / s.time_base), stream=s, backward=True)
            tol = 0.5 / 30
            for f in c.decode(s):
                t = f.time
                if t is None or t < times[a] - tol:
                    continue
                if t >= times[b - 1] + tol:
                    break
                i = tile_of.get(bisect.bisect_left(times, t - tol))
                if i is not None:
                    x, y = g.tile_origin(i)
                    tile = scaler.reformat(
                        f, g.tile_width, g.tile_height, "rgb24", interpolation="AREA"
                    )
                    sheet[y : y + g.tile_height, x : x + g.tile_width] = tile.to_ndarray()
            (out / f"{n}.jpg").write_bytes(encode_jpeg(sheet, 80))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=VIDEO)
    ap.add_argument("--skip-old", action="store_true", help="skip the slow per-clip baseline")
    ap.add_argument("--runs", type=int, default=1, help="decode-only and sprite runs (best kept)")
    args = ap.parse_args()
    frame_count, cuts = ensure_video(args.video)
    bounds = [0, *cuts, frame_count]
    spans = list(zip(bounds[:-1], bounds[1:], strict=True))
    out = ROOT / "bench-out" / "sprites-bench"
    shutil.rmtree(out, ignore_errors=True)

    print(f"video: {args.video.name}, {frame_count} frames, {len(spans)} clips, load {_load()}")
    dw, dc, times = timed(lambda: decode_only(args.video))
    assert len(times) == frame_count, (len(times), frame_count)

    def reqs(sub: str, every: int = 1) -> list[FrameRequest]:
        return [
            FrameRequest(i, a, b, out / sub / str(i))
            for i, (a, b) in enumerate(spans)
            if i % every == 0
        ]

    def report(name: str, w: float, c: float, extra: str = "") -> None:
        print(f"{name:16}: {w:6.2f} s wall  {c:6.2f} s CPU  ratio {w / dw:.2f}x wall, "
              f"{c / dc:.2f}x CPU {extra}")  # fmt: skip

    # Alternate the two runs so that both see the same (shared) machine; keep the best of each.
    sw, sc, res = timed(lambda: sprites.run(args.video, 1, reqs("s"), times, 30.0))
    for _ in range(args.runs - 1):
        w, c, _t = timed(lambda: decode_only(args.video))
        dw, dc = min(dw, w), min(dc, c)
        w, c, res = timed(lambda: sprites.run(args.video, 1, reqs("s"), times, 30.0))
        sw, sc = min(sw, w), min(sc, c)
    print(f"decode only     : {dw:6.2f} s wall  {dc:6.2f} s CPU  ({len(times) / dw:.0f} frames/s)")
    ok = sum(o.status == "ok" for o in res.outcomes)
    tiles = sum(o.artifacts[0].metadata["tile_count"] for o in res.outcomes if o.artifacts)
    mb = sum(o.artifacts[0].path.stat().st_size for o in res.outcomes if o.artifacts) / 1e6
    report("sprite stage", sw, sc, f"({ok}/{len(spans)} ok, {tiles} tiles, {mb:.0f} MB)")

    kw, kc, res = timed(lambda: keyframes.run(args.video, 1, reqs("k"), times))
    ok = sum(o.status == "ok" for o in res.outcomes)
    report("keyframes (all)", kw, kc, f"({ok}/{len(spans)} ok)")
    k3 = reqs("k3", every=3)
    kw, kc, res = timed(lambda: keyframes.run(args.video, 1, k3, times))
    ok = sum(o.status == "ok" for o in res.outcomes)
    report("keyframes (1/3)", kw, kc, f"({ok}/{len(k3)} ok)")

    if not args.skip_old:
        (out / "old").mkdir(parents=True)
        ow, oc, _ = timed(lambda: old_sprites(args.video, spans, times, out / "old"))
        report(
            "seek per clip", ow, oc, f"({ow / len(spans):.2f} s per clip; vs stage {ow / sw:.2f}x)"
        )
    print(f"load after: {_load()}")


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
