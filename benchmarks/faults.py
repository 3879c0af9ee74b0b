"""The long mode of the crash harness (tests/test_faults.py runs a spread of 32 moments in CI).

Run by hand (several minutes; it starts hundreds of `heaters run` processes):

    python benchmarks/faults.py [--workers 2] [--timer-kills 30] [--timer-signals 20] [--no-disk]
                                [--seed 0]
                                [--phase a|b] [--out bench-out/faults.json]

Three kinds of fault, each followed by a rerun whose store must equal an uninterrupted run's
(same clips, states, artifacts with the same bytes, embeddings; no temp file, no file without a
row, no row without a file; the event log replays):

1. SIGKILL at every named moment an uninterrupted run goes through (`HEATERS_FAULT_TRACE` lists
   them: before/after each stage, each rename, inside and after each result's transaction);
2. SIGKILL from outside at random times (uniform over an uninterrupted run's duration), which
   also lands inside decoding, inference and SQLite's own commit;
3. ENOSPC injected at every rename and every transaction: the run must stop with a one-line
   "disk full" error, charge no attempt, and the rerun must finish the job;
4. SIGINT or SIGTERM at random times: the run must end within 2 s (exit 130, one line), hold
   no claim, charge no attempt and leave no file without its row.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import faultkit as fk  # noqa: E402


@dataclass
class Outcome:
    kind: str
    phase: str
    fault: str
    seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _compare(home: Path, ref: dict) -> list[str]:
    return fk.integrity(home) + fk.diff(fk.snapshot(home), ref)


def kill_at_point(base: Path, ref: dict, work: Path, phase: str, point: str) -> Outcome:
    started = time.perf_counter()
    crashed, resumed = fk.crash_and_resume(base, work, point)
    problems = [] if crashed.killed else [f"not killed (exit {crashed.code})"]
    if resumed.code or resumed.stderr:
        problems.append(f"rerun exit {resumed.code}: {resumed.stderr.strip()[-300:]}")
    problems += _compare(work, ref)
    return Outcome("point", phase, point, time.perf_counter() - started, problems)


def kill_by_timer(base: Path, ref: dict, work: Path, phase: str, delay: float) -> Outcome:
    started = time.perf_counter()
    fk.copy_home(base, work)
    env = {**os.environ, "HEATERS_HOME": str(work)}
    env.pop("HEATERS_FAULT_AT", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "heaters", "run", "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(delay)
    finished = proc.poll() is not None
    if not finished:
        proc.send_signal(signal.SIGKILL)
    proc.communicate()
    fk.wait_for_claims(work)
    resumed = fk.heaters(work, "run", "--quiet")
    problems = []
    if resumed.code or resumed.stderr:
        problems.append(f"rerun exit {resumed.code}: {resumed.stderr.strip()[-300:]}")
    problems += _compare(work, ref)
    label = f"t={delay:.2f}s" + (" (had finished)" if finished else "")
    return Outcome("timer", phase, label, time.perf_counter() - started, problems)


def signal_by_timer(
    base: Path, ref: dict, work: Path, phase: str, delay: float, sig: signal.Signals
) -> Outcome:
    """SIGINT/SIGTERM at a random time: the run ends within 2 s (exit 130, one line), holds no
    claim, charged no attempt, left no file without its row; the rerun finishes the job."""
    started = time.perf_counter()
    fk.copy_home(base, work)
    env = {**os.environ, "HEATERS_HOME": str(work)}
    env.pop("HEATERS_FAULT_AT", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "heaters", "run", "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    problems = []
    finished = proc.poll() is not None
    sent = time.perf_counter()
    if not finished:
        proc.send_signal(sig)
    _, err = proc.communicate()
    took = time.perf_counter() - sent
    if not finished:
        if proc.returncode not in (0, 130) or took > 2.0:
            problems.append(f"stop: exit {proc.returncode} after {took:.2f} s")
        if proc.returncode == 130 and len(err.strip().splitlines()) != 1:
            problems.append(f"stop: stderr {err.strip()[-300:]!r}")
        with fk.db(work) as conn:
            held = conn.execute(
                "SELECT COUNT(*) FROM (SELECT claimed_by, attempts FROM source_videos UNION ALL"
                " SELECT claimed_by, attempts FROM clips)"
                " WHERE claimed_by IS NOT NULL OR attempts > 0"
            ).fetchone()[0]
        if held:
            problems.append(f"{held} rows still claimed or charged an attempt")
        problems += [p for p in fk.integrity(work) if "without a row" in p or "temp file" in p]
    resumed = fk.heaters(work, "run", "--quiet")
    if resumed.code or resumed.stderr:
        problems.append(f"rerun exit {resumed.code}: {resumed.stderr.strip()[-300:]}")
    problems += _compare(work, ref)
    label = f"{sig.name} t={delay:.2f}s" + (" (had finished)" if finished else f" {took:.2f}s")
    return Outcome("signal", phase, label, time.perf_counter() - started, problems)


def disk_full_at(base: Path, ref: dict, work: Path, phase: str, point: str) -> Outcome:
    started = time.perf_counter()
    fk.copy_home(base, work)
    stopped = fk.heaters(work, "run", "--quiet", fault=f"{point}:enospc")
    problems = []
    lines = stopped.stderr.strip().splitlines()
    if stopped.code != 1 or len(lines) != 1 or "disk full" not in lines[0]:
        problems.append(f"stop: exit {stopped.code}, stderr {stopped.stderr.strip()[-300:]!r}")
    with fk.db(work) as conn:
        held = conn.execute(
            "SELECT COUNT(*) FROM (SELECT claimed_by, attempts FROM source_videos UNION ALL"
            " SELECT claimed_by, attempts FROM clips) WHERE claimed_by IS NOT NULL OR attempts > 0"
        ).fetchone()[0]
    if held:
        problems.append(f"{held} rows still claimed or charged an attempt")
    resumed = fk.heaters(work, "run", "--quiet")
    if resumed.code or resumed.stderr:
        problems.append(f"rerun exit {resumed.code}: {resumed.stderr.strip()[-300:]}")
    problems += _compare(work, ref)
    return Outcome("disk", phase, point, time.perf_counter() - started, problems)


def run_duration(base: Path, work: Path) -> float:
    fk.copy_home(base, work)
    started = time.perf_counter()
    assert fk.heaters(work, "run", "--quiet").code == 0
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workers", type=int, default=2, help="fault runs at a time")
    ap.add_argument("--timer-kills", type=int, default=30, help="random-time kills per phase")
    ap.add_argument("--timer-signals", type=int, default=20,
                    help="random-time SIGINT/SIGTERM per phase")  # fmt: skip
    ap.add_argument("--no-disk", action="store_true", help="skip the ENOSPC faults")
    ap.add_argument("--no-points", action="store_true", help="skip the kills at traced points")
    ap.add_argument("--phase", choices=("a", "b"), help="only this phase")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench-out" / "faults.json")
    args = ap.parse_args()
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory(prefix="heaters-faults-") as tmp:
        root = Path(tmp)
        fk.make_media(root / "www")
        with fk.serve(root / "www") as url:
            scenario = fk.build_scenario(root, url, root / "www")
            phases = {
                "a": (scenario.base_a, scenario.ref_a),
                "b": (scenario.base_b, scenario.ref_b),
            }
            if args.phase:
                phases = {args.phase: phases[args.phase]}
            jobs: list[Callable[[Path], Outcome]] = []
            counts: dict[str, int] = {}
            for phase, (base, ref) in phases.items():
                points = fk.trace_points(base)
                duration = run_duration(base, root / f"timing-{phase}")
                counts[f"points {phase}"] = len(points)
                for point, n in [] if args.no_points else points:
                    spec = f"{point}:{n}"
                    jobs.append(
                        lambda w, b=base, r=ref, p=phase, s=spec: kill_at_point(b, r, w, p, s)
                    )
                for _ in range(args.timer_kills):
                    delay = rng.uniform(0.05, duration)
                    jobs.append(
                        lambda w, b=base, r=ref, p=phase, d=delay: kill_by_timer(b, r, w, p, d)
                    )
                for i in range(args.timer_signals):
                    delay = rng.uniform(0.05, duration)
                    sig = signal.SIGINT if i % 2 == 0 else signal.SIGTERM
                    jobs.append(
                        lambda w, b=base, r=ref, p=phase, d=delay, g=sig: signal_by_timer(
                            b, r, w, p, d, g
                        )
                    )
                if not args.no_disk:
                    for point, n in points:
                        if point.endswith((".tx", "atomic.written", "download.fetched")):
                            spec = f"{point}:{n}"
                            jobs.append(
                                lambda w, b=base, r=ref, p=phase, s=spec: disk_full_at(
                                    b, r, w, p, s
                                )
                            )
            print(f"{len(jobs)} fault runs ({counts}), {args.workers} at a time", flush=True)
            started = time.perf_counter()
            outcomes: list[Outcome] = []

            def one(k: int) -> Outcome:
                return jobs[k](root / "runs" / f"{k:04d}")

            with ThreadPoolExecutor(args.workers) as pool:
                for out in pool.map(one, range(len(jobs))):
                    outcomes.append(out)
                    mark = "ok " if out.ok else "FAIL"
                    print(f"{mark} {out.kind:5} {out.phase} {out.fault:28} {out.seconds:5.1f}s"
                          + ("" if out.ok else f"  {out.problems[:3]}"), flush=True)  # fmt: skip
            wall = time.perf_counter() - started

    print()
    print("| fault | phase | runs | passed | median s |")
    print("| --- | --- | ---: | ---: | ---: |")
    for kind in ("point", "timer", "signal", "disk"):
        for phase in ("a", "b"):
            group = [o for o in outcomes if o.kind == kind and o.phase == phase]
            if group:
                med = statistics.median(o.seconds for o in group)
                passed = sum(o.ok for o in group)
                print(f"| {kind} | {phase} | {len(group)} | {passed} | {med:.1f} |")
    failed = [o for o in outcomes if not o.ok]
    print(f"\n{len(outcomes) - len(failed)}/{len(outcomes)} passed in {wall:.0f} s wall")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([asdict(o) for o in outcomes], indent=1))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
