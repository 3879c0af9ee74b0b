"""Splice benchmark (by hand, not in CI): heaters' detector vs decode-only vs PySceneDetect.

    /work/venv/bin/python benchmarks/splice.py            # make (or reuse) the footage, measure
    /work/venv/bin/python benchmarks/splice.py --make-only
    /work/venv/bin/python benchmarks/splice.py --variants # accuracy on footage with effects

The footage is a 10-minute 1280x720 30 fps H.264 video with ~60 known hard cuts and a few
dissolves, rendered once by `heaters.synthetic.make_video` into `bench-out/` (gitignored); its
ground truth is stored beside it. `--variants` instead renders small (320x180, 60 s, 40 cuts)
videos with one effect each (grain, fast pan, shake, strobing brightness, one-frame flashes) and
compares only accuracy, where the two detectors differ most.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from heaters.synthetic import SyntheticVideo, make_video, random_shots

OUT = Path(__file__).resolve().parent.parent / "bench-out"
TOTAL_S = 600.0
N_BOUNDARIES = 64
DISSOLVE_AFTER = (8, 24, 40, 56)
SEED = 1


def footage(preset: str = "ultrafast", out: Path = OUT) -> SyntheticVideo:
    """The benchmark video and its truth, rendered on first use (a few minutes) then cached.

    `preset` is libx264's: "ultrafast" (no B-frames, CAVLC: cheap to decode, like the FACTS
    anchors) or e.g. "veryfast" (B-frames, CABAC: ~2.5x the decoding cost at this bitrate).
    """
    tag = "" if preset == "veryfast" else f"-{preset}"
    name = f"splice-720p-{int(TOTAL_S)}s-{N_BOUNDARIES}b-seed{SEED}{tag}"
    video, truth = out / f"{name}.mp4", out / f"{name}.json"
    if video.exists() and truth.exists():
        t = json.loads(truth.read_text())
        return SyntheticVideo(
            path=video,
            fps=t["fps"],
            width=t["width"],
            height=t["height"],
            frame_count=t["frame_count"],
            cuts=tuple(t["cuts"]),
            dissolves=tuple(tuple(d) for d in t["dissolves"]),  # type: ignore[misc]
        )
    shots = random_shots(TOTAL_S, N_BOUNDARIES, seed=SEED)
    print(f"rendering {video} (a few minutes) ...", file=sys.stderr)
    t0 = time.monotonic()
    tmp = out / f"{name}.tmp.mp4"
    sv = make_video(
        tmp,
        shots,
        width=1280,
        height=720,
        fps=30,
        dissolve_after=DISSOLVE_AFTER,
        seed=SEED,
        preset=preset,
    )
    tmp.replace(video)
    truth.write_text(
        json.dumps(
            {
                "fps": sv.fps,
                "width": sv.width,
                "height": sv.height,
                "frame_count": sv.frame_count,
                "cuts": list(sv.cuts),
                "dissolves": [list(d) for d in sv.dissolves],
            }
        )
    )
    print(f"rendered in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    return footage(preset, out)


@dataclass(frozen=True)
class Timing:
    wall_s: float
    cpu_s: float


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int
    dissolves_found: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score(found: Sequence[int], sv: SyntheticVideo, tol: int = 2) -> Score:
    """Hard-cut precision/recall (a hit is within `tol` frames, one-to-one), dissolves apart.

    A detection inside a dissolve (± tol) is neither a hit nor a false positive on hard cuts: it
    counts towards `dissolves_found` (at most one per dissolve).
    """
    free = sorted(found)
    in_dissolve = [c for c in free if any(a - tol <= c < b + tol for a, b in sv.dissolves)]
    found_dissolves = sum(
        1 for a, b in sv.dissolves if any(a - tol <= c < b + tol for c in in_dissolve)
    )
    hard = [c for c in free if c not in in_dissolve]
    unmatched = list(sv.cuts)
    tp = 0
    for c in hard:
        near = [t for t in unmatched if abs(t - c) <= tol]
        if near:
            unmatched.remove(min(near, key=lambda t: abs(t - c)))
            tp += 1
    return Score(tp=tp, fp=len(hard) - tp, fn=len(unmatched), dissolves_found=found_dissolves)


def timed(fn: Callable[[], object]) -> tuple[Timing, object]:
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return Timing(time.perf_counter() - w0, time.process_time() - c0), out


def decode_only(path: Path) -> int:
    """Every frame decoded by PyAV with the same settings as the splice stage, nothing else."""
    import av

    from heaters.stages.splice import configure_decoder

    n = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        configure_decoder(stream)
        for packet in container.demux(stream):
            for _frame in packet.decode():
                n += 1
    return n


def heaters_cuts(path: Path) -> list[int]:
    from heaters.stages.splice import SpliceParams, run

    return list(run(path, 0, SpliceParams()).cuts)


def pyscenedetect_cuts(path: Path) -> list[int]:
    from scenedetect import ContentDetector, detect

    return [start.frame_num for start, _end in detect(str(path), ContentDetector())[1:]]


def interleaved(
    contenders: dict[str, Callable[[], object]], repeat: int
) -> dict[str, tuple[Timing, object]]:
    """Median wall and CPU time of each contender, runs interleaved (A B C A B C ...).

    The machine is shared: load drifts over minutes, and back-to-back runs of one contender
    would charge the drift to it. The result of each contender's last run is returned too.
    """
    runs: dict[str, list[tuple[Timing, object]]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            runs[name].append(timed(fn))
    return {
        name: (
            Timing(
                statistics.median(t.wall_s for t, _ in rs),
                statistics.median(t.cpu_s for t, _ in rs),
            ),
            rs[-1][1],
        )
        for name, rs in runs.items()
    }


VARIANTS: dict[str, dict[str, object]] = {
    "plain": {},
    "grain": {"noise": 30},
    "fast pan": {"pan": 0.03},
    "shake": {"shake": 10},
    "flicker": {"flicker": 0.15},
    "flashes": {"flashes": tuple(range(37, 1800, 97))},
    "all at once": {
        "noise": 20,
        "pan": 0.02,
        "shake": 6,
        "flicker": 0.1,
        "flashes": tuple(range(53, 1800, 131)),
    },
}


def variant_footage(name: str, effects: dict[str, object], seed: int = 3) -> SyntheticVideo:
    """A 60 s 320x180 video with 40 cuts, 2 dissolves and one kind of trouble (cached)."""
    out = OUT / "variants"
    path = out / f"{name.replace(' ', '-')}-seed{seed}.mp4"
    truth = path.with_suffix(".json")
    if path.exists() and truth.exists():
        t = json.loads(truth.read_text())
        return SyntheticVideo(
            path=path,
            fps=30,
            width=320,
            height=180,
            frame_count=t["frame_count"],
            cuts=tuple(t["cuts"]),
            dissolves=tuple(tuple(d) for d in t["dissolves"]),  # type: ignore[misc]
        )
    sv = make_video(
        path,
        random_shots(60.0, 42, seed=seed + 100),
        seed=seed,
        dissolve_after=(5, 20),
        **effects,  # type: ignore[arg-type]
    )
    truth.write_text(
        json.dumps(
            {
                "frame_count": sv.frame_count,
                "cuts": list(sv.cuts),
                "dissolves": [list(d) for d in sv.dissolves],
            }
        )
    )
    return sv


def variants() -> None:
    print(f"{'variant':14}{'heaters P/R/F1':>22}{'PySceneDetect P/R/F1':>26}")
    totals = {"heaters": [0, 0, 0], "psd": [0, 0, 0]}
    for name, effects in VARIANTS.items():
        sv = variant_footage(name, effects)
        row = f"{name:14}"
        for key, fn in (("heaters", heaters_cuts), ("psd", pyscenedetect_cuts)):
            sc = score(fn(sv.path), sv)
            for i, v in enumerate((sc.tp, sc.fp, sc.fn)):
                totals[key][i] += v
            row += f"{sc.precision:>12.3f}/{sc.recall:.3f}/{sc.f1:.3f}"
        print(row)
    row = f"{'total':14}"
    for key in ("heaters", "psd"):
        tp, fp, fn = totals[key]
        sc = Score(tp=tp, fp=fp, fn=fn, dissolves_found=0)
        row += f"{sc.precision:>12.3f}/{sc.recall:.3f}/{sc.f1:.3f}"
    print(row)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--make-only", action="store_true", help="render the footage and stop")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement (median)")
    ap.add_argument("--variants", action="store_true", help="accuracy on footage with effects")
    ap.add_argument("--preset", default="ultrafast", help="libx264 preset of the footage")
    args = ap.parse_args(argv)
    if args.variants:
        variants()
        return
    sv = footage(args.preset)
    print(
        f"footage: {sv.path.name} ({sv.path.stat().st_size / 1e6:.0f} MB)  "
        f"{sv.width}x{sv.height} {sv.fps} fps  {sv.frame_count} frames  "
        f"{len(sv.cuts)} hard cuts  {len(sv.dissolves)} dissolves"
    )
    if args.make_only:
        return
    n = sv.frame_count
    load0 = os.getloadavg()[0]
    res = interleaved(
        {
            "decode": lambda: decode_only(sv.path),
            "splice": lambda: heaters_cuts(sv.path),
            "psd": lambda: pyscenedetect_cuts(sv.path),
        },
        args.repeat,
    )
    (t_dec, frames), (t_spl, ours), (t_psd, theirs) = res["decode"], res["splice"], res["psd"]
    assert frames == n, f"decoded {frames} frames, expected {n}"
    print(
        f"\nmedian of {args.repeat} interleaved runs; load average {load0:.1f} -> "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print("fps = frames per wall second, cpu = CPU seconds of the whole process (all threads)")
    print(f"{'':24}{'wall s':>8}{'fps':>8}{'cpu s':>8}{'frames/cpu-s':>14}")
    for name, t in (
        ("decode only (PyAV)", t_dec),
        ("heaters splice", t_spl),
        ("PySceneDetect", t_psd),
    ):
        print(f"{name:24}{t.wall_s:8.1f}{n / t.wall_s:8.0f}{t.cpu_s:8.1f}{n / t.cpu_s:14.0f}")
    print(
        f"\nsplice / decode throughput: {t_dec.wall_s / t_spl.wall_s:.2f} wall, "
        f"{t_dec.cpu_s / t_spl.cpu_s:.2f} cpu   (target >= 0.9)"
    )
    print(
        f"splice vs PySceneDetect:    {t_psd.wall_s / t_spl.wall_s:.2f}x wall, "
        f"{t_psd.cpu_s / t_spl.cpu_s:.2f}x cpu   (target >= 2)"
    )
    print(
        f"\nhard cuts (hit within 2 frames)  {'P':>6}{'R':>6}{'F1':>7}{'TP':>5}{'FP':>5}{'FN':>5}  dissolves"
    )
    for name, found in (("heaters content", ours), ("PySceneDetect content", theirs)):
        sc = score(found, sv)  # type: ignore[arg-type]
        print(
            f"{name:32}{sc.precision:6.3f}{sc.recall:6.3f}{sc.f1:7.3f}{sc.tp:5}{sc.fp:5}{sc.fn:5}"
            f"  {sc.dissolves_found}/{len(sv.dissolves)}"
        )


if __name__ == "__main__":
    main()
