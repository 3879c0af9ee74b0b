"""Quick commands: wall and CPU time of `heaters --version`, `status` and `clips`.

Run by hand (about a minute):

    python benchmarks/quick.py [--runs 10] [--home H]

Each command runs `--runs` times as a fresh `python -m heaters ...` process (what a shell does),
on a home made by `heaters demo` (made once in bench-out/quick-home unless `--home` is given),
alternating the commands so that a burst of load hits all of them alike. Prints the median wall
seconds and the median CPU seconds (user + system of the child process), the interpreter's own
start (`python -c pass`, the floor no command can go under) and the load average before and after.
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


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one child process (its output discarded, its exit code checked)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
    for argv in commands.values():  # warm the page cache and .pyc files
        timed(argv)
    load_before = os.getloadavg()
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, argv in commands.items():
            results[name].append(timed(argv))
    load_after = os.getloadavg()
    print(f"home: {home}; {args.runs} runs each; load average {load_before[0]:.1f} before,"
          f" {load_after[0]:.1f} after ({os.cpu_count()} cores)")  # fmt: skip
    print(f"{'command':<24} {'wall median s':>14} {'CPU median s':>13} {'wall min s':>11}")
    for name, runs in results.items():
        walls = [w for w, _ in runs]
        cpus = [c for _, c in runs]
        print(
            f"{name:<24} {statistics.median(walls):>14.3f} {statistics.median(cpus):>13.3f}"
            f" {min(walls):>11.3f}"
        )


if __name__ == "__main__":
    main()
