"""Review screen key latency (issue 12.8): each key handled and drawn in <= 50 ms p95 at 160x48.

Run by hand (about a minute per run and variant; nothing else heavy at the same time):

    python benchmarks/review_keys.py [--runs 3] [--against main] [--gap 0.1]
    python benchmarks/review_keys.py --profile [KEY ...]   # cProfile of the UI thread per key

Footage: three real videos from `tests/media` (testvideo.mp4, issue-195-aspect-ratio.mp4,
goldeneye-vfr-drop3.mp4) through the real pipeline (splice, sprites: 16 clips, 320-px tiles at up
to 24 fps). The app runs headless under Pilot at 160x48 with half-block images, playback on and
the 2 s queue poll on, and an operator's session of keys is pressed `--gap` seconds apart, with
`--watch` seconds of looking at the clip before each decision (see `SESSION`). Each key is timed
by `tests/tui/keyclock.py`: from the key event until its action and any database write it
started are done and the next screen update is turned into terminal text. CPU is the UI thread's (what the key costs the screen) and the
process's (including worker threads and playback ticks in that time).

`--against REF` runs the same session on `heaters` as of git REF (exported to a temporary
folder) in alternation with this checkout, each run in its own process on a fresh copy of the
home, and prints both with ratios: one run of this script compares like with like under the same
load.
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MEDIA = ROOT / "tests" / "media"
FOOTAGE = ("testvideo.mp4", "issue-195-aspect-ratio.mp4", "goldeneye-vfr-drop3.mp4")
sys.path.insert(0, str(ROOT / "tests" / "tui"))  # keyclock only (it imports textual, not heaters)

# An operator's session over the first clips: play toggle, approve, step along the tiles in split
# mode and leave it, skip, merge and undo it, approve, split at a tile ten on, help, speed,
# archive, undo, approve, group, and a second round of the same kinds of keys.
SESSION = (
    ["space", "space", "a"]
    + ["right", "right", "right", "shift+right", "left", "right", "left", "escape", "s"]
    + ["m", "u", "a"]
    + ["shift+right", "shift+right", "left", "enter"]
    + ["question_mark", "escape", "x", "d", "u", "a", "g"]
    + ["space", "right", "right", "left", "escape", "s", "question_mark", "escape", "a", "u"]
    + ["x", "x", "a", "s"]
)  # fmt: skip

DECISIONS = {"a", "s", "d", "m", "g", "enter"}
# The operator looks at a clip before deciding on it; arrows, help and undo follow quickly.
WATCH_S = 0.8


def group_of(key: str) -> str:
    """Keys reported together: decisions, undo, split-mode steps, help, play/speed."""
    if key in DECISIONS:
        return "decide (a s d m g enter)"
    if key == "u":
        return "undo (u)"
    if key in ("right", "left", "shift+right", "shift+left", "escape"):
        return "split mode (arrows, esc)"
    if key == "question_mark":
        return "help (?)"
    return "play/speed (space x)"


def build_home(root: Path) -> None:
    """The real pipeline on real footage: download (local), splice, sprites."""
    from heaters.domain.sources import parse_source
    from heaters.runner.context import RunContext
    from heaters.runner.dispatch import run
    from heaters.settings import Settings
    from heaters.store import videos
    from heaters.store.store import Store

    store = Store.open(root)
    with store.tx() as session:
        for name in FOOTAGE:
            videos.register(session, parse_source(str(MEDIA / name)), title=name)
    run(RunContext(store=store, settings=Settings()), once=False)
    store.close()


def child(home: Path, out: Path, gap: float, watch: float) -> None:
    """One session in this process, on whichever `heaters` PYTHONPATH gives."""
    from keyclock import key_latencies

    import heaters
    from heaters.settings import Settings
    from heaters.store.store import Store
    from heaters.tui.launch import make_app

    options: dict[str, Any] = {"images": "halfcell", "autoplay": True}
    if "tune_gc" in inspect.signature(make_app).parameters:
        options["tune_gc"] = True  # as `heaters review` starts it
    app = make_app(Store.open(home), Settings(), **options)
    times = key_latencies(app, SESSION, gap_s=gap, pause_before=dict.fromkeys(DECISIONS, watch))
    out.write_text(
        json.dumps(
            {
                "heaters": heaters.__file__,
                "keys": [
                    [t.key, t.wall, t.ui_cpu, t.cpu, t.handled, t.gc_s, t.saved] for t in times
                ],
            }
        )
    )


def export_ref(ref: str, dest: Path) -> Path:
    """`heaters/` as of git `ref`, in `dest` (for PYTHONPATH)."""
    data = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "heaters"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def run_child(
    code_root: Path, template: Path, work: Path, gap: float, watch: float
) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(dir=work)) / "home"
    shutil.copytree(template, home)
    out = home.parent / "keys.json"
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    subprocess.run(
        [sys.executable, __file__, "--child", str(home), str(out)]
        + ["--gap", str(gap), "--watch", str(watch)],
        check=True,
        env=env,
        cwd=work,
    )
    return json.loads(out.read_text())


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """p50/p95 of wall, UI-thread CPU and process CPU (ms) per key group and overall."""
    from keyclock import p50, p95

    rows: dict[str, list[list[Any]]] = defaultdict(list)
    for r in runs:
        for k in r["keys"]:
            rows[group_of(k[0])].append(k)
            rows["all keys"].append(k)
    table = {}
    for name, ks in rows.items():
        wall, ui, cpu = [k[1] for k in ks], [k[2] for k in ks], [k[3] for k in ks]
        saved = [max(k[1], k[6]) if len(k) > 6 else k[1] for k in ks]
        table[name] = {
            "n": len(ks),
            "wall50": p50(wall) * 1000,
            "wall95": p95(wall) * 1000,
            "saved95": p95(saved) * 1000,
            "ui50": p50(ui) * 1000,
            "ui95": p95(ui) * 1000,
            "cpu50": p50(cpu) * 1000,
            "cpu95": p95(cpu) * 1000,
            "unhandled": sum(1 for k in ks if not k[4]),
        }
    return table


def firsts(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Median over runs of the first `?`, the first decision and the first undo (UI CPU, ms)."""
    from keyclock import p50

    picks: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        seen: set[str] = set()
        for k in r["keys"]:
            name = {"question_mark": "first ?", "u": "first undo"}.get(k[0])
            if k[0] in DECISIONS:
                name = "first decision"
            if name and name not in seen:
                seen.add(name)
                picks[name].append(k[2] * 1000)
    return {name: p50(v) for name, v in picks.items()}


def print_table(results: dict[str, list[dict[str, Any]]]) -> None:
    names = list(results)
    tables = {n: summarise(results[n]) for n in names}
    order = ["all keys", *sorted(k for k in tables[names[-1]] if k != "all keys")]
    cols = " | ".join(
        f"{n} shown p50/p95 | {n} saved p95 | {n} UI CPU p50/p95 | {n} CPU p50/p95" for n in names
    )
    ratios = " shown p95 ratio | UI CPU p95 ratio | CPU p95 ratio |" if len(names) == 2 else ""
    print(f"| keys (n) | {cols} |" + ratios)
    print("| --- |" + " ---: |" * (4 * len(names) + (3 if len(names) == 2 else 0)))
    for group in order:
        cells = []
        for n in names:
            t = tables[n].get(group)
            if t is None:
                cells += ["—"] * 4
                continue
            cells += [
                f"{t['wall50']:.0f} / {t['wall95']:.0f}",
                f"{t['saved95']:.0f}",
                f"{t['ui50']:.0f} / {t['ui95']:.0f}",
                f"{t['cpu50']:.0f} / {t['cpu95']:.0f}",
            ]
        n_keys = tables[names[-1]][group]["n"]
        line = f"| {group} ({n_keys}) | " + " | ".join(cells) + " |"
        if len(names) == 2:
            old, new = tables[names[0]][group], tables[names[1]][group]
            line += "".join(
                f" {new[c] / max(old[c], 1e-9):.2f}x |" for c in ("wall95", "ui95", "cpu95")
            )
        print(line)
    for n in names:
        unhandled = tables[n]["all keys"]["unhandled"]
        f = ", ".join(f"{k} {v:.0f} ms" for k, v in firsts(results[n]).items())
        print(f"- {n}: first-of-session UI CPU (median of runs): {f}; unhandled keys: {unhandled}")


def profile(
    keys: list[str], gap: float, watch: float, template: Path, work: Path, top: int
) -> None:
    """Each key's times, and a cProfile of the UI thread during the chosen keys (this checkout
    only; with no keys, nothing is profiled)."""
    import cProfile

    from keyclock import key_latencies

    from heaters.settings import Settings
    from heaters.store.store import Store
    from heaters.tui.launch import make_app

    home = Path(tempfile.mkdtemp(dir=work)) / "home"
    shutil.copytree(template, home)
    app = make_app(Store.open(home), Settings(), images="halfcell", autoplay=True, tune_gc=True)
    profiles: dict[str, cProfile.Profile] = {k: cProfile.Profile() for k in keys}
    pauses = dict.fromkeys(DECISIONS, watch)
    times = key_latencies(app, SESSION, gap_s=gap, pause_before=pauses, profile=profiles)
    for t in times:
        print(f"{t.key:14s} wall {t.wall * 1000:6.1f}  ui {t.ui_cpu * 1000:6.1f}  "
              f"cpu {t.cpu * 1000:6.1f}  gc {t.gc_s * 1000:5.1f} ms")  # fmt: skip
    for key in keys:
        if key in profiles:
            print(f"\n===== {key}")
            pstats.Stats(profiles[key]).sort_stats("cumulative").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--against", metavar="REF", help="also run heaters as of git REF")
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between keys")
    parser.add_argument(
        "--watch", type=float, default=WATCH_S, help="seconds of looking before a decision"
    )
    parser.add_argument("--profile", nargs="*", metavar="KEY")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--child", nargs=2, metavar=("HOME", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), args.gap, args.watch)
        return
    with tempfile.TemporaryDirectory(prefix="review-keys-") as tmp:
        work = Path(tmp)
        template = work / "template"
        started = time.perf_counter()
        build_home(template)
        print(f"home: {len(FOOTAGE)} videos spliced and sprited in "
              f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
        if args.profile is not None:
            profile(args.profile, args.gap, args.watch, template, work, args.top)
            return
        variants = {"this": ROOT}
        if args.against:
            variants = {args.against: export_ref(args.against, work / "ref"), "this": ROOT}
        results: dict[str, list[dict[str, Any]]] = {n: [] for n in variants}
        load = [os.getloadavg()[0]]
        for i in range(args.runs):
            for name, code in variants.items():
                results[name].append(run_child(code, template, work, args.gap, args.watch))
                load.append(os.getloadavg()[0])
                print(f"run {i + 1}/{args.runs} {name} done (load {load[-1]:.1f})", flush=True)
        print(
            f"\n{len(SESSION)} keys x {args.runs} runs, 160x48, half blocks, playing; "
            f"load average {min(load):.1f}-{max(load):.1f} on {os.cpu_count()} cores; ms\n"
        )
        print_table(results)


if __name__ == "__main__":
    main()
