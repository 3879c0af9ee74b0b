"""Splice benchmark (by hand, not in CI): every detector against the truth, and what it costs.

    python benchmarks/splice.py accuracy [--sets dev montage-a montage-b synthetic heldout]
    python benchmarks/splice.py stress [--detectors ...] [--troubles ...]
    python benchmarks/splice.py speed [--seconds 120] [--repeat 3] [--kinds cuts|mixed] [--with-transnet]

Accuracy sets (frame numbers are decoded-frame indices):
- dev: the six real videos of tests/media, cuts checked by eye (truth.json + truth-addendum.json);
- montage-a / montage-b: montages of real shots (tests/montage.py) joined by hard cuts, dissolves
  and fades through black of 8-24 frames, exact truth; pool "a" chose the constants, pool "b"
  (other videos' shots) checks them. Two montages of 30 joins each, cached in bench-out/;
- synthetic: the lavfi footage with one kind of trouble each (grain, fast pan, shake, brightness
  flicker, one-frame flashes, all at once), 40 cuts and 2 dissolves per video;
- heldout: real footage shipped inside packages on PyPI (street footage, a cartoon and its
  trailer, a film scene, a car-phone call, a square with walkers, two hand-held phone shots),
  truth by eye in benchmarks/heldout.json, fetched once by benchmarks/heldout.py; no constant
  chosen on it.

Stress: the four montages re-encoded with one real-world trouble each (letterbox, pillarbox, a
phone's crop, tiny, dim, washed out, blocky, grain, a logo, white flashes) and four made with
fades through white; nothing there chose a constant.

Detectors: heaters hybrid (default), content, transnetv2; PySceneDetect's ContentDetector,
AdaptiveDetector and ThresholdDetector at their defaults, run as its users run them
(`scenedetect.detect`). Scoring: a hard cut is hit by a boundary within 2 frames (one to one); a
gradual transition by a boundary inside it (+-2); a boundary matching nothing is a false cut
(boundaries inside a transition, or inside truth.json's fade spans, are neither).

Speed: 1280x720 30 fps H.264 montages of real shots (upscaled; libx264 veryfast), one with hard
cuts only and one with a third each of cuts, dissolves and fades, timed against PyAV decoding
every frame with the splice's decoder settings; medians of interleaved runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# As `heaters run` does (heaters/__main__.py): OpenBLAS's idle pool spins beside the decoders.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from heaters.synthetic import SyntheticVideo, make_video, random_shots  # noqa: E402
from tests.montage import MEDIA, Montage, make_montage  # noqa: E402

OUT = ROOT / "bench-out"
HEATERS = ("hybrid", "content", "transnetv2")
PSD = ("psd-content", "psd-adaptive", "psd-threshold")


@dataclass
class Truth:
    """What a video holds: hard cuts, gradual transitions by kind, spans that are no one's."""

    path: Path
    cuts: list[int]
    gradual: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    neutral: list[tuple[int, int]] = field(default_factory=list)


def dev_set() -> list[Truth]:
    truth = json.loads((MEDIA / "truth.json").read_text())["videos"]
    added = json.loads((MEDIA / "truth-addendum.json").read_text())["videos"]
    out = []
    for name, t in sorted(truth.items()):
        fades = [(f - 3, f + 3) for f in t["fade_boundaries"]]
        dissolves = [tuple(d) for d in added.get(name, {}).get("dissolves", [])]
        out.append(
            Truth(
                MEDIA / name,
                t["hard_cuts"],
                {"fade": fades, "dissolve": dissolves},  # type: ignore[dict-item]
                [tuple(s) for s in t["fade_spans"]],  # type: ignore[misc]
            )
        )
    return out


def montage_set(pool: str, seeds: Sequence[int] = (1, 2), fade_level: int = 0) -> list[Truth]:
    """The pool's accuracy montages (cached in bench-out/montage); `fade_level` 255: their
    fades go through white (`make_montage`)."""
    out = []
    for seed in seeds:
        path = OUT / "montage" / f"{'white-' if fade_level else ''}{pool}{seed}.mp4"
        meta = path.with_suffix(".json")
        if path.exists() and meta.exists():
            m = Montage.from_json(meta.read_text())
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            m = make_montage(path, pool, seed=seed, joins=30, fade_level=fade_level)
        out.append(
            Truth(
                path,
                [j.start for j in m.of_kind("cut")],
                {k: [(j.start, j.end) for j in m.of_kind(k)] for k in ("dissolve", "fade")},
            )
        )
    return out


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
    path = OUT / "variants" / f"{name.replace(' ', '-')}-seed{seed}.mp4"
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
    path.parent.mkdir(parents=True, exist_ok=True)
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


def synthetic_set() -> list[Truth]:
    out = []
    for name, effects in VARIANTS.items():
        sv = variant_footage(name, effects)
        # A cut right before a dissolve's first frame is part of it (the footage is made so).
        cuts = [c for c in sv.cuts if not any(a - 2 <= c < b + 2 for a, b in sv.dissolves)]
        out.append(Truth(sv.path, cuts, {"dissolve": list(sv.dissolves)}))  # type: ignore[arg-type]
    return out


def heldout_set() -> list[Truth]:
    """Real footage from packages on PyPI, held out from every choice (benchmarks/heldout.json;
    fetched once into bench-out/heldout by benchmarks/heldout.py)."""
    from benchmarks.heldout import OUT as HELDOUT
    from benchmarks.heldout import TRUTH as HELDOUT_TRUTH

    videos = json.loads(HELDOUT_TRUTH.read_text())["videos"]
    if not all((HELDOUT / name).exists() for name in videos):
        sys.exit("the held-out footage is not here: run `python benchmarks/heldout.py` once")
    return [
        Truth(
            HELDOUT / name,
            v["hard_cuts"],
            {k: [(a, b) for a, b in v.get(k, [])] for k in ("dissolve", "fade") if k in v},
            [(a, b) for a, b in v.get("neutral", [])],
        )
        for name, v in videos.items()
    ]


SETS: dict[str, Callable[[], list[Truth]]] = {
    "dev": dev_set,
    "montage-a": lambda: montage_set("a"),
    "montage-b": lambda: montage_set("b"),
    "synthetic": synthetic_set,
    "heldout": heldout_set,
}


def boundaries(detector: str, path: Path) -> list[int]:
    if detector in PSD:
        import scenedetect
        from scenedetect import AdaptiveDetector, ContentDetector, ThresholdDetector

        make = {
            "psd-content": ContentDetector,
            "psd-adaptive": AdaptiveDetector,
            "psd-threshold": ThresholdDetector,
        }[detector]
        return [s[0].frame_num for s in scenedetect.detect(str(path), make())[1:]]
    from heaters.stages.splice import SpliceParams, run

    return list(run(path, 0, SpliceParams(detector=detector, min_clip_s=0.0)).cuts)


@dataclass
class Tally:
    hard_tp: int = 0
    hard_fn: int = 0
    false: int = 0
    found: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    frames: int = 0

    def add(self, t: Truth, cuts: list[int], tol: int = 2) -> None:
        used: set[int] = set()
        for c in t.cuts:
            near = [f for f in cuts if abs(f - c) <= tol and f not in used]
            if near:
                used.add(min(near, key=lambda f: abs(f - c)))
                self.hard_tp += 1
            else:
                self.hard_fn += 1
        spans = [s for kind in t.gradual.values() for s in kind] + t.neutral
        for kind, items in t.gradual.items():
            self.total[kind] = self.total.get(kind, 0) + len(items)
            hit = sum(any(a - tol <= f <= b + tol for f in cuts) for a, b in items)
            self.found[kind] = self.found.get(kind, 0) + hit
        for f in cuts:
            if f not in used and not any(a - tol <= f <= b + tol for a, b in spans):
                self.false += 1

    @property
    def hard_precision(self) -> float:
        tp = self.hard_tp
        return tp / (tp + self.false) if tp + self.false else 1.0

    @property
    def hard_recall(self) -> float:
        tp = self.hard_tp
        return tp / (tp + self.hard_fn) if tp + self.hard_fn else 1.0

    def row(self, name: str) -> str:
        p, r = self.hard_precision, self.hard_recall
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        grad = [
            f"{self.found.get(k, 0)}/{self.total[k]}" if self.total.get(k) else "-"
            for k in ("dissolve", "fade")
        ]
        fps = self.frames / self.seconds if self.seconds else 0.0
        return (
            f"| {name} | {p:.3f} | {r:.3f} | {f1:.3f} | {self.hard_tp}/{self.hard_tp + self.hard_fn}"
            f" | {grad[0]} | {grad[1]} | {self.false} | {fps:.0f} |"
        )


def frame_count(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def accuracy(sets: Sequence[str], detectors: Sequence[str]) -> None:
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for set_name in sets:
        videos = SETS[set_name]()
        print(f"\n### {set_name}: {len(videos)} videos\n")
        print("| detector | hard P | hard R | hard F1 | hard hits | dissolves | fades |"
              " false cuts | frames/s |")  # fmt: skip
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for det in detectors:
            print(_tally(det, videos).row(det), flush=True)


def _tally(detector: str, videos: Sequence[Truth]) -> Tally:
    """One detector on every video of a set: its hits, misses and time."""
    tally = Tally()
    for t in videos:
        t0 = time.perf_counter()
        cuts = boundaries(detector, t.path)
        tally.seconds += time.perf_counter() - t0
        tally.frames += frame_count(t.path)
        tally.add(t, cuts)
    return tally


# ---- stress ---------------------------------------------------------------------------------

# The accuracy montages (both pools) re-encoded with one real-world trouble each, frame for
# frame (ffmpeg filters that keep every frame), so their truth holds. None of these chose a
# constant: they show where the detectors stand on footage unlike the sets above.
STRESS: dict[str, str | None] = {
    "as is": None,
    "letterbox 2.4:1": "scale=480:200,pad=480:270:0:35",
    "pillarbox 4:3": "scale=360:270,pad=480:270:60:0",
    "phone 9:16 (centre crop)": "crop=152:270,scale=270:480",
    "160x90": "scale=160:90",
    "dim (luma x0.35)": "lutyuv=y='16+(val-16)*0.35'",
    "washed out (contrast x0.4)": (
        "lutyuv=y='126+(val-126)*0.4':u='128+(val-128)*0.4':v='128+(val-128)*0.4'"
    ),
    "blocky (crf 45)": "null",
    "grain +-8": "noise=alls=8:allf=t",
    "grain +-14": "noise=alls=14:allf=t",
    "logo (a white box, 5 % of the picture)": "drawbox=x=20:y=20:w=140:h=50:color=white@1:t=fill",
    "white flashes (1-2 frames)": "flashes",  # made per video: away from its joins
}
# The same montages in the other formats a library meets (no filter, another encoder): what an
# online download (AV1 in WebM), a phone (10-bit HEVC), an editor (ProRes 4:2:2 10-bit) and an
# old camera (MJPEG, full-range 4:2:2) give. The splice reads planar YUV of 8-12 bits where it
# lies, on the 8-bit 4:2:0 grid: these check that its samples cut as 8-bit 4:2:0's do.
FORMATS: dict[str, tuple[str, list[str]]] = {
    "AV1 in WebM (an online download)": (
        "webm", ["-c:v", "libsvtav1", "-crf", "35", "-preset", "10", "-pix_fmt", "yuv420p"]
    ),
    "HEVC 10-bit (a phone)": (
        "mp4", ["-c:v", "libx265", "-crf", "26", "-preset", "fast", "-pix_fmt", "yuv420p10le",
                "-x265-params", "log-level=error"]
    ),
    "ProRes 4:2:2 10-bit (an editor)": (
        "mov", ["-c:v", "prores_ks", "-profile:v", "0", "-pix_fmt", "yuv422p10le"]
    ),
    "MJPEG full range 4:2:2 (an old camera)": (
        "avi", ["-c:v", "mjpeg", "-q:v", "4", "-pix_fmt", "yuvj422p"]
    ),
}  # fmt: skip


def _flashes(t: Truth, every: int = 97, clear: int = 6) -> str:
    """Whole-picture white flashes, one and two frames long in turn, every ~`every` frames and
    at least `clear` frames from any join (a flash on a cut would hide the cut, not test it)."""
    joins = [(c, c + 1) for c in t.cuts] + [s for kind in t.gradual.values() for s in kind]
    frames: list[int] = []
    for f in range(40, frame_count(t.path) - 10, every):
        if all(not (a - clear <= f <= b + clear) for a, b in joins):
            frames += [f] if len(frames) % 2 else [f, f + 1]
    when = "+".join(f"eq(n,{f})" for f in frames)
    return f"drawbox=x=0:y=0:w=iw:h=ih:color=white@1:t=fill:enable='{when}'"


def stress_set(trouble: str) -> list[Truth]:
    """The four accuracy montages with `trouble` applied (cached in bench-out/stress), or, for
    "dip to white", four montages made like them whose fades go through white (cached beside
    them)."""
    import subprocess

    from heaters.stages.tools import ffmpeg_exe

    if trouble == "dip to white":
        return montage_set("a", fade_level=255) + montage_set("b", fade_level=255)
    vf = STRESS.get(trouble, "null")
    crf = "45" if "crf 45" in trouble else "23"
    suffix, codec = FORMATS.get(
        trouble, ("mp4", ["-c:v", "libx264", "-crf", crf, "-pix_fmt", "yuv420p"])
    )
    out = []
    for t in montage_set("a") + montage_set("b"):
        if vf is None:
            out.append(t)
            continue
        slug = "".join(c if c.isalnum() else "-" for c in trouble).strip("-")
        path = OUT / "stress" / f"{t.path.stem}-{slug}.{suffix}"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            filt = _flashes(t) if vf == "flashes" else vf
            cmd = [ffmpeg_exe(), "-v", "error", "-y", "-i", str(t.path), "-vf", filt, *codec,
                   "-an", str(path)]  # fmt: skip
            quiet = {**os.environ, "SVT_LOG": "1"}  # SVT-AV1: errors only
            subprocess.run(cmd, check=True, env=quiet)  # noqa: S603 (argv list)
        out.append(Truth(path, t.cuts, t.gradual, t.neutral))
    return out


def stress(detectors: Sequence[str], troubles: Sequence[str]) -> None:
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("\n| trouble | detector | hard P | hard R | hard F1 | hard hits | dissolves | fades |"
          " false cuts | frames/s |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for trouble in troubles:
        videos = stress_set(trouble)
        for det in detectors:
            print(f"| {trouble} " + _tally(det, videos).row(det), flush=True)


# ---- speed ----------------------------------------------------------------------------------


SPEED_SIZES = {720: (1280, 720), 1080: (1920, 1080)}


def speed_footage(seconds: int, kinds: str, height: int = 720) -> Path:
    """A 30 fps montage of real shots (cached) at 720p or 1080p, about `seconds` long: joins
    every ~3 s, hard cuts only ("cuts") or a third each of cuts, dissolves and fades ("mixed").
    Built at 640x360 and scaled up by ffmpeg (memory), so the picture is softer than native.
    The speed benchmarks of the splice and of the whole pipeline use the same footage."""
    path = OUT / "montage" / f"speed-{height}p-{seconds}s-{kinds}.mp4"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        make_montage(
            path,
            "a",
            joins=max(4, seconds // 3),
            kinds=("cut",) if kinds == "cuts" else ("cut", "dissolve", "fade"),
            seed=11,
            size=(640, 360),
            out_size=SPEED_SIZES[height],
            fps=30,
            piece_len=(60, 120),
        )
    return path


def decode_only(path: Path) -> int:
    import av

    from heaters.stages.splice import configure_decoder

    n = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        configure_decoder(stream)
        for packet in container.demux(stream):
            n += len(packet.decode())
    return n


def decode_segments(path: Path) -> int:
    """Decode only, the way the splice decodes a file this long: keyframe-aligned segments on
    two one-thread decoders (`heaters.stages.segments`), planning included. Faster than PyAV's
    frame threads on two cores, so this, not that, is the physical limit the splice is held to."""
    import av

    from heaters.stages import segments
    from heaters.stages.splice import SEGMENT_MIN_S, SEGMENT_S, configure_decoder

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        starts = segments.plan(path, stream, SEGMENT_S, SEGMENT_MIN_S)
        tb, origin = float(stream.time_base), stream.start_time or 0
    n = 0
    with segments.Segments(
        path,
        starts,
        lambda st: configure_decoder(st, frame_threads=False),
        lambda: lambda frame, past: None,
        lambda a, b: True,
        time_base=tb,
        origin=origin,
    ) as decoded:
        for _ in decoded:
            n += 1
    return n


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def _paired(base: list[tuple[float, float]], runs: list[tuple[float, float]] | None) -> str:
    """The median of the round-by-round ratios base / contender (wall), with its quartiles: a
    run and its round's base share the machine's state of that moment, so a load that comes and
    goes moves both (the ratio of the two medians pairs runs from different moments)."""
    if not runs or len(runs) < 2:
        return "-"
    ratios = [b / r for (b, _), (r, _) in zip(base, runs, strict=True)]
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    return f"{statistics.median(ratios):.3f} ({q1:.3f}-{q3:.3f})"


def speed(seconds: int, repeat: int, kinds: str, with_net: bool, with_psd: bool = True) -> None:
    path = speed_footage(seconds, kinds)
    n = decode_only(path)
    minutes = n / 30 / 60
    contenders: dict[str, Callable[[], object]] = {
        "decode only (PyAV)": lambda: decode_only(path),
        "decode only (segments)": lambda: decode_segments(path),
        "heaters hybrid (default)": lambda: boundaries("hybrid", path),
        "heaters content": lambda: boundaries("content", path),
    }
    if with_psd:  # (three times slower each: without them, three times the rounds an hour)
        contenders["PySceneDetect content"] = lambda: boundaries("psd-content", path)
        contenders["PySceneDetect adaptive"] = lambda: boundaries("psd-adaptive", path)
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in contenders}
    load0 = os.getloadavg()[0]
    order = list(contenders)
    for i in range(repeat):  # the order turns each round: no contender always runs first
        for name in order[i % len(order) :] + order[: i % len(order)]:
            runs[name].append(timed(contenders[name]))
    net = timed(lambda: boundaries("transnetv2", path)) if with_net else None  # once is plenty
    print(f"footage: {path.name}, {n} frames ({minutes:.2f} min of 1280x720 30 fps H.264)")
    print(f"median of {repeat} interleaved runs; load average {load0:.1f} -> "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")  # fmt: skip
    print("| contender | wall s | CPU s | frames/s (wall) | vs decode (wall) | vs decode (CPU) "
          "| vs decode, paired (quartiles) | vs PyAV's decode (wall) |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
            for k, v in runs.items()}  # fmt: skip
    if net is not None:
        rows["heaters transnetv2 (1 run)"] = net
    pyav = rows["decode only (PyAV)"][0]
    # The physical limit: the faster decode-only, in wall time (its CPU beside it).
    base_name = min(("decode only (PyAV)", "decode only (segments)"), key=rows.__getitem__)
    base, cpu_base = rows[base_name]
    for name, (w, c) in rows.items():
        print(f"| {name} | {w:.2f} | {c:.2f} | {n / w:.0f} | {base / w:.3f} | {cpu_base / c:.3f} "
              f"| {_paired(runs[base_name], runs.get(name))} | {pyav / w:.2f} |")  # fmt: skip
    # hybrid = content + the network on blend candidates: their CPU difference, run by run (on
    # footage without candidates it is the machine's noise, so its spread is printed too).
    paired = sorted(
        (h[1] - c[1]) / minutes
        for h, c in zip(runs["heaters hybrid (default)"], runs["heaters content"], strict=True)
    )
    print(f"\nnetwork CPU per minute of footage: hybrid {statistics.median(paired):+.1f} s "
          f"(hybrid - content, run by run: {paired[0]:+.1f} to {paired[-1]:+.1f})")  # fmt: skip
    if net is not None:
        extra_net = net[1] - rows["heaters content"][1]
        print(f"transnetv2 on every frame: {extra_net / minutes:.1f} s")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    acc = sub.add_parser("accuracy")
    acc.add_argument(
        "--sets", nargs="+", default=[s for s in SETS if s != "heldout"], choices=list(SETS)
    )
    acc.add_argument("--detectors", nargs="+", default=[*HEATERS, *PSD])
    st = sub.add_parser("stress")
    st.add_argument("--detectors", nargs="+", default=["hybrid", "content", "psd-adaptive"])
    troubles = [*STRESS, "dip to white", *FORMATS]
    st.add_argument("--troubles", nargs="+", default=troubles, choices=troubles)
    sp = sub.add_parser("speed")
    sp.add_argument("--seconds", type=int, default=120)
    sp.add_argument("--repeat", type=int, default=3)
    sp.add_argument("--kinds", choices=("cuts", "mixed"), default="mixed")
    sp.add_argument("--with-transnet", action="store_true", help="time the network alone too")
    sp.add_argument(
        "--without-pyscenedetect", action="store_true", help="heaters and decode-only only"
    )
    args = ap.parse_args(argv)
    if args.what == "accuracy":
        accuracy(args.sets, args.detectors)
    elif args.what == "stress":
        stress(args.detectors, args.troubles)
    else:
        speed(
            args.seconds,
            args.repeat,
            args.kinds,
            args.with_transnet,
            not args.without_pyscenedetect,
        )


if __name__ == "__main__":
    main()
