"""Quick commands: wall and CPU time of `heaters --version`, `status` and `clips`.

Run by hand (about a minute):

    python benchmarks/quick.py [--runs 10] [--home H] [--before CHECKOUT]

Each command runs `--runs` times as a fresh `python -m heaters ...` process (what a shell does),
on a home made by `heaters demo` (made once in bench-out/quick-home unless `--home` is given),
alternating the commands so that a burst of load hits all of them alike. With `--before`, the
same commands also run from another checkout (its folder first on PYTHONPATH, e.g. an older
commit in a `git worktree`), interleaved with these, so both see the same load. Prints the median
wall seconds and the median CPU seconds (user + system of the child process), the interpreter's
own start (`python -c pass`, the floor no command can go under) and the load average.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-out"


def timed(argv: list[str], checkout: Path = ROOT) -> tuple[float, float]:
    """Wall and CPU seconds of one child process (its output discarded, its exit code checked)."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        argv,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=checkout,
    )  # `-m` puts the working folder first on sys.path: run in the checkout measured
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def demo_home(home: Path | None) -> Path:
    if home is not None:
        return home
    home = OUT / "quick-home"
    if not (home / "heaters.db").exists():
        print(f"making a demo home in {home} ...", flush=True)
        cmd = [sys.executable, "-m", "heaters", "demo", "--home", str(home), "--quiet"]
        subprocess.run(cmd, check=True)
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--before", type=Path, default=None, help="another checkout to compare")
    args = parser.parse_args()
    home = demo_home(args.home)
    py = [sys.executable]
    commands = {
        "python -c pass": [*py, "-c", "pass"],
        "heaters --version": [*py, "-m", "heaters", "--version"],
        "heaters status": [*py, "-m", "heaters", "status", "--home", str(home)],
        "heaters status --json": [*py, "-m", "heaters", "status", "--home", str(home), "--json"],
        "heaters clips": [*py, "-m", "heaters", "clips", "--home", str(home)],
    }
    checkouts = {"": ROOT} if args.before is None else {"": ROOT, "before: ": args.before}
    cases = [
        (f"{label}{name}", argv, checkout)
        for name, argv in commands.items()
        for label, checkout in checkouts.items()
        if not (label and name == "python -c pass")
    ]
    for _, argv, checkout in cases:  # warm the page cache and .pyc files
        timed(argv, checkout)
    load_before = os.getloadavg()
    results: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in cases}
    for _ in range(args.runs):
        for name, argv, checkout in cases:
            results[name].append(timed(argv, checkout))
    load_after = os.getloadavg()
    print(f"home: {home}; {args.runs} runs each; load average {load_before[0]:.1f} before,"
          f" {load_after[0]:.1f} after ({os.cpu_count()} cores)")  # fmt: skip
    if args.before is not None:
        print(f"before: {args.before}")
    print(f"{'command':<32} {'wall median s':>14} {'CPU median s':>13} {'wall min s':>11}")
    for name, runs in results.items():
        walls = [w for w, _ in runs]
        cpus = [c for _, c in runs]
        print(
            f"{name:<32} {statistics.median(walls):>14.3f} {statistics.median(cpus):>13.3f}"
            f" {min(walls):>11.3f}"
        )


if __name__ == "__main__":
    main()
