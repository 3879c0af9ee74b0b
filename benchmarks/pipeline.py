"""`heaters run` from `downloaded` to `pending_review` against decoding the video once (by hand).

    python benchmarks/pipeline.py [--seconds 120] [--sizes 720 1080] [--kinds cuts mixed]
                                  [--repeat 1] [--footage FILE ...]

Footage: 30 fps H.264 montages of real shots (tests/montage.py, pool "a", built at 640x360 and
scaled up by ffmpeg, libx264 veryfast), hard cuts only ("cuts") or a third each of cuts,
dissolves and fades ("mixed"); cached in bench-out/pipeline/. `--footage` adds any other files.

Per file, in one invocation (ratios from the same run, `--repeat` interleaves more and takes
medians):
- decode once: PyAV decoding every frame with the splice's decoder settings (the in-loop
  deblocking filter skipped: the ratios' base, the stricter one), in this process; and with
  PyAV's defaults (what decoding the video costs any other tool; the run's ratio to it is
  printed too);
- `heaters run`: the real command in a subprocess on a fresh home where the file was ingested
  (its local "download" is a file copy), until every clip is `pending_review`; CPU is the
  child's user + system time, interpreter start and imports included (bytecode cached under
  bench-out/pycache, as an installed package has it);
- where the time goes, each phase alone in this process: the splice without the tile store (one
  decoder), the splice with it as the run does it (two decoders on keyframe-aligned segments,
  each sampling and tiling its own frames) and as it was done before (one decoder, the tiles on
  a thread of their own), the sprite views, and `heaters run` on an empty home (interpreter
  start, imports, opening the store). The rest of the run is the database writes and the
  download copy (and the network's model load on footage with blend candidates).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.splice import SPEED_SIZES, speed_footage  # noqa: E402
from heaters.domain.results import FrameRequest  # noqa: E402
from heaters.stages import splice, sprites, tiles  # noqa: E402


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


PYCACHE = ROOT / "bench-out" / "pycache"


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a `heaters` child: its bytecode cached, as an installed package has
    it (pip compiles it). Some machines set PYTHONDONTWRITEBYTECODE; every start would then
    compile heaters' own ~60 modules again (~0.3 CPU-s), which no user pays."""
    env = {**os.environ, **(extra or {}), "PYTHONPYCACHEPREFIX": str(PYCACHE)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def child(args: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall, CPU) of a subprocess, CPU from its own rusage."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    subprocess.run(args, check=True, env=child_env(env), capture_output=True)
    wall = time.perf_counter() - w0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def decode_once(path: Path, frame_threads: bool = True, defaults: bool = False) -> int:
    """Decode every frame: with the splice's decoder settings, or PyAV's defaults (threads on,
    the in-loop deblocking filter on: what "decoding the video" costs anyone else)."""
    import av

    n = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if defaults:
            stream.thread_type = "AUTO"
        else:
            splice.configure_decoder(stream, frame_threads)
        for packet in container.demux(stream):
            n += len(packet.decode())
    return n


class NoSink:
    """A sink that drops the frames and cannot work on decoding threads: the splice decodes on
    one thread, as beside the one-decoder tile store (the breakdown below subtracts it)."""

    def start(self, stream: object) -> None:
        pass

    def add(self, frame: object) -> None:
        pass


TILE_THREAD: list[float] = []  # CPU seconds of the tile thread itself, per run


def splice_with_tiles(path: Path, out: Path, segmented: bool = True) -> object:
    """The run's pass; `segmented=False`: one decoder, the tiles on the tile thread."""
    writer = tiles.TileWriter(out / tiles.TILES_FILE)
    longest = splice.SEGMENT_S
    splice.SEGMENT_S = longest if segmented else float("inf")  # no plan: one decoder
    try:
        result = splice.run(path, 1, splice.SpliceParams(), sink=writer)
    finally:
        splice.SEGMENT_S = longest
    writer.close()
    if not segmented:
        TILE_THREAD.append(writer.cpu_s)
    return result


def heaters_run(path: Path) -> tuple[float, float, int, float]:
    """(wall, CPU, clips, review latency) of `heaters run` on a fresh home holding only `path`.

    Review latency: then a merge and a split, committed by `run --once --grace 0`; the longest
    time from an action's commit to its new clip being `pending_review` (database timestamps).
    """
    with tempfile.TemporaryDirectory(prefix="pipeline-") as tmp:
        home = Path(tmp) / "home"
        env = child_env({"HEATERS_HOME": str(home), "PYTHONPATH": str(ROOT)})
        heaters = [sys.executable, "-m", "heaters"]

        def cli(*args: str) -> str:
            return subprocess.run([*heaters, *args], check=True, capture_output=True, text=True,
                                  env=env).stdout  # fmt: skip

        cli("ingest", str(path))
        wall, cpu = child([*heaters, "run", "--quiet"], env)
        counts = json.loads(cli("status", "--json")).get("clips", {})
        pending = int(counts.get("pending_review", 0))
        assert pending == sum(int(v) for v in counts.values()), counts
        clips = json.loads(cli("clips", "--json"))
        cli("review", "merge", str(clips[3]["id"]))
        longest = max(clips[5:], key=lambda c: c["end_frame"] - c["start_frame"])
        a, b = longest["start_frame"], longest["end_frame"]
        cli("review", "split", str(longest["id"]), "--frame", str((a + b) // 2))
        cli("run", "--once", "--grace", "0", "--quiet")
        with sqlite3.connect(home / "heaters.db") as db:
            rows = db.execute(
                "SELECT c.state, c.updated_at - e.committed_at FROM clips c"
                " JOIN clip_events e ON e.id = c.origin_event_id"
            ).fetchall()
        assert len(rows) == 3 and all(state == "pending_review" for state, _ in rows), rows
        return wall, cpu, pending, max(lag for _, lag in rows)


def measure(path: Path, repeat: int) -> None:
    rows: dict[str, list[tuple[float, float]]] = {}

    def add(name: str, wall: float, cpu: float) -> None:
        rows.setdefault(name, []).append((wall, cpu))

    frames, clips, store_mb = 0, 0, 0.0
    lags: list[float] = []
    with tempfile.TemporaryDirectory(prefix="pipeline-") as tmp:  # fills the bytecode cache
        env = {"PYTHONPATH": str(ROOT), "HEATERS_HOME": str(Path(tmp) / "home")}
        child([sys.executable, "-m", "heaters", "run", "--quiet"], env)
    for _ in range(repeat):
        w, c, n = timed(lambda: decode_once(path))
        frames = int(n)  # type: ignore[arg-type]
        add("decode once (PyAV, splice settings)", w, c)
        w, c, _ = timed(lambda: decode_once(path, defaults=True))
        add("  decode once, PyAV defaults (deblocking on)", w, c)
        w, c, _ = timed(lambda: decode_once(path, frame_threads=False))
        add("  decode once, one thread (as the run decodes)", w, c)
        w, c, clips, lag = heaters_run(path)
        add("`heaters run`, downloaded -> pending_review", w, c)
        lags.append(lag)
        with tempfile.TemporaryDirectory(prefix="pipeline-") as tmp:
            w, c, res = timed(lambda: splice.run(path, 1, splice.SpliceParams(), sink=NoSink()))
            add("  splice, detector only, one decoder (hybrid)", w, c)
            w, c, _ = timed(lambda: splice_with_tiles(path, Path(tmp), segmented=False))
            add("  splice + tile store, one decoder (before session 9)", w, c)
            w, c, res = timed(lambda: splice_with_tiles(path, Path(tmp)))
            add("  splice + tile store (one pass, two decoders)", w, c)
            store = tiles.TileStore(Path(tmp) / tiles.TILES_FILE)
            store_mb = store.path.stat().st_size / 1e6
            spans = res.spans  # type: ignore[attr-defined]
            reqs = [FrameRequest(i, s.start_frame, s.end_frame, Path(tmp)) for i, s in
                    enumerate(spans)]  # fmt: skip
            times = list(res.frame_times)  # type: ignore[attr-defined]
            w, c, _ = timed(lambda s=store, r=reqs, t=times: sprites.views(s, 1, r, t, 30.0))
            add("  sprite views (all clips)", w, c)
        with tempfile.TemporaryDirectory(prefix="pipeline-") as tmp:
            env = {"PYTHONPATH": str(ROOT), "HEATERS_HOME": str(Path(tmp) / "home")}
            w, c = child([sys.executable, "-m", "heaters", "run", "--quiet"], env)
        add("  `heaters run` with nothing to do (start, imports)", w, c)

    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
           for k, v in rows.items()}  # fmt: skip
    seconds = frames / 30
    base_w, base_c = med["decode once (PyAV, splice settings)"]
    print(f"\n### {path.name}: {frames} frames, {seconds:.0f} s, {clips} clips, "
          f"tile store {store_mb:.1f} MB ({store_mb / seconds * 60:.1f} MB/min)")  # fmt: skip
    print(f"median of {repeat}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print("| phase | wall s | CPU s | CPU / decode | x real time (wall) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, (w, c) in med.items():
        print(f"| {name} | {w:.2f} | {c:.2f} | {c / base_c:.2f} | {seconds / w:.1f} |")
    run_c = med["`heaters run`, downloaded -> pending_review"][1]
    det_c = med["  splice, detector only, one decoder (hybrid)"][1]
    pass_c = med["  splice + tile store (one pass, two decoders)"][1]
    start_c = med["  `heaters run` with nothing to do (start, imports)"][1]
    views_c = med["  sprite views (all clips)"][1]
    rest = run_c - pass_c - start_c - views_c
    one_c = med["  decode once, one thread (as the run decodes)"][1]
    print(f"\nrun CPU {run_c:.2f} s = the pass {pass_c:.2f} (decoding {one_c:.2f} as on one thread"
          f" + measuring {det_c - one_c:.2f} + tiles and the second decoder {pass_c - det_c:.2f})"
          f" + start {start_c:.2f} + views {views_c:.2f} + rest (database, copy) {rest:.2f}")  # fmt: skip
    plain_w, plain_c = med["  decode once, PyAV defaults (deblocking on)"]
    run_w = med["`heaters run`, downloaded -> pending_review"][0]
    print(f"run against PyAV's default decode: CPU {run_c / plain_c:.2f}x, wall"
          f" {plain_w / run_w:.2f}x its frame rate")  # fmt: skip
    tile_s = statistics.median(TILE_THREAD)
    print(f"tiles with one decoder, the tile thread's own CPU: {tile_s / frames * 1000:.2f} ms"
          f" a frame ({tile_s / base_c:.2f}x decode)")  # fmt: skip
    TILE_THREAD.clear()
    print(f"merge and split: new clips pending_review {max(lags):.2f} s after the commit (worst)")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seconds", type=int, default=120)
    ap.add_argument("--sizes", type=int, nargs="+", default=[720, 1080], choices=list(SPEED_SIZES))
    ap.add_argument("--kinds", nargs="+", default=["cuts", "mixed"], choices=["cuts", "mixed"])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--footage", type=Path, nargs="*", default=[])
    args = ap.parse_args(argv)
    files = [speed_footage(args.seconds, k, h) for h in args.sizes for k in args.kinds]
    for path in [*files, *args.footage]:
        measure(path, args.repeat)


if __name__ == "__main__":
    main()
