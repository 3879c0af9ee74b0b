"""Images/s of heaters' embedding stage vs plain onnxruntime on the same keyframes.

    python benchmarks/embed.py [--images 96] [--batch 16] [--runs 5] [--with-ffmpeg]

Keyframes are 1280x720 JPEGs (quality 90, as the keyframe stage writes them) of FFmpeg test
sources. Three measurements, each the median of `--runs`, the contenders alternating:

- stage: `heaters.stages.embed.run` on clips of 3 keyframes (decode, preprocess, batched
  inference, per-clip averaging and tags);
- plain: what one would write by hand: a default `InferenceSession`, each file opened with Pillow
  at full size, the same crop/resize/scale, one `run` per batch;
- model only: the same preprocessed batches through heaters' session vs a default session.

`--with-ffmpeg` runs a libx264 encode beside the measurements, as `heaters run` does when the
sprite or keyframe stage works next to embedding: that is where intra-op spinning hurts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import onnxruntime as ort
from PIL import Image

from heaters.domain.results import EmbedRequest
from heaters.stages import embed
from heaters.stages.models import EFFICIENTNET_LITE0, image_session, resolve_model_file

SOURCES = ["testsrc2", "mandelbrot", "smptebars", "life", "cellauto", "gradients=n=4", "rgbtestsrc"]


def make_keyframes(directory: Path, count: int) -> list[Path]:
    """`count` distinct 1280x720 JPEGs: frames of several lavfi sources at different times."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    per_source = -(-count // len(SOURCES))
    paths: list[Path] = []
    for k, source in enumerate(SOURCES):
        name, _, opts = source.partition("=")
        spec = f"{name}=size=1280x720:rate=2" + (f":{opts}" if opts else "")
        cmd = [ffmpeg, "-v", "error", "-f", "lavfi", "-i", spec, "-frames:v", str(per_source)]
        cmd += ["-q:v", "3", str(directory / f"s{k}_%03d.jpg")]
        subprocess.run(cmd, check=True)  # noqa: S603
        paths += sorted(directory.glob(f"s{k}_*.jpg"))
    return paths[:count]


def plain_preprocess(path: Path) -> np.ndarray:
    img = Image.open(path).convert("RGB")
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.resize(
        (224, 224), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side)
    )
    x = (np.asarray(img, dtype=np.float32) - 127.0) / 128.0
    return x.transpose(2, 0, 1)


def median_rate(fn: Callable[[], None], images: int, runs: int) -> tuple[float, list[float]]:
    rates = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        rates.append(images / (time.perf_counter() - t0))
    return statistics.median(rates), rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--with-ffmpeg", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        paths = make_keyframes(Path(tmp), args.images)
        n = len(paths)
        requests = [
            EmbedRequest(clip_id=i // 3 + 1, keyframe_paths=tuple(paths[i : i + 3]))
            for i in range(0, n, 3)
        ]
        model_path = str(resolve_model_file(EFFICIENTNET_LITE0.file))
        plain_sess = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
        heaters_sess = image_session(EFFICIENTNET_LITE0)
        batches = [
            np.stack([plain_preprocess(p) for p in paths[i : i + args.batch]])
            for i in range(0, n, args.batch)
        ]

        def stage() -> None:
            embed.run(requests, EFFICIENTNET_LITE0, batch_size=args.batch)

        def plain() -> None:
            for i in range(0, n, args.batch):
                x = np.stack([plain_preprocess(p) for p in paths[i : i + args.batch]])
                plain_sess.run(None, {"input": x})

        def model_heaters() -> None:
            for x in batches:
                heaters_sess.run(["embedding", "logits"], {"input": x})

        def model_plain() -> None:
            for x in batches:
                plain_sess.run(None, {"input": x})

        busy = None
        if args.with_ffmpeg:
            busy = subprocess.Popen(  # noqa: S603
                [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                 "testsrc2=size=1280x720:rate=30", "-t", "600", "-c:v", "libx264",
                 "-preset", "veryfast", "-threads", "1", "-f", "null", "-"]
            )  # fmt: skip
        try:
            for fn in (stage, plain, model_heaters, model_plain):  # warm-up
                fn()
            results: dict[str, list[float]] = {k: [] for k in ("stage", "plain", "mh", "mp")}
            for _ in range(args.runs):  # alternate, so drifting load hits all alike
                for key, fn in (("stage", stage), ("plain", plain), ("mh", model_heaters),
                                ("mp", model_plain)):  # fmt: skip
                    results[key].append(median_rate(fn, n, 1)[0])
        finally:
            if busy is not None:
                busy.terminate()
                busy.wait()

    med = {k: statistics.median(v) for k, v in results.items()}
    load = os.getloadavg()[0]
    print(f"{n} keyframes 1280x720 JPEG, batch {args.batch}, median of {args.runs} runs,")
    print(f"{os.cpu_count()} cores, load average {load:.1f}, ffmpeg beside: {args.with_ffmpeg}")
    print(f"  end to end  heaters stage {med['stage']:6.1f} img/s   plain onnxruntime "
          f"{med['plain']:6.1f} img/s   ratio {med['stage'] / med['plain']:.2f}x")  # fmt: skip
    print(f"  model only  heaters session {med['mh']:6.1f} img/s   default session "
          f"{med['mp']:6.1f} img/s   ratio {med['mh'] / med['mp']:.2f}x")  # fmt: skip
    for k, v in results.items():
        print(f"    {k:5s} " + " ".join(f"{r:6.1f}" for r in v))


if __name__ == "__main__":
    main()
