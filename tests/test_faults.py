"""Crash anywhere: `heaters run` is SIGKILLed at named moments of every stage, run again, and the
store it leaves must equal the one an uninterrupted run leaves, with no stray file or row.

The moments come from the fault hook (`heaters.faults`, armed by `HEATERS_FAULT_AT`): before a
stage, after it, before and after every file rename, inside a result's transaction (before its
COMMIT) and after it. `benchmarks/faults.py` runs every moment a run goes through; this test a
spread of them small enough for CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import faultkit as fk

# (phase, point:n). Phase A: download, splice, sprites of two videos (one local, one URL).
# Phase B: commit of review actions (approve, split, archive), sprites of the split clips,
# keyframes, embeddings. atomic.* are renames: frames.npy and scores.npy of each splice, then
# keyframes, in run order (sprites are views into the tile store: no file of their own).
KILL_POINTS = [
    ("a", "download.start:1"),
    ("a", "download.fetched:1"),  # local file linked to its temp name, not renamed yet
    ("a", "download.tx:1"),  # inside the transaction, before COMMIT
    ("a", "download.fetched:2"),  # yt-dlp finished into its temp folder
    ("a", "download.tx:2"),
    ("a", "splice.start:1"),
    ("a", "splice.detected:1"),
    ("a", "atomic.written:1"),  # frames.npy written, not renamed
    ("a", "atomic.renamed:1"),
    ("a", "splice.tx:1"),
    ("a", "sprite.start:1"),
    ("a", "tiles.written:1"),  # the tile store written, not renamed
    ("a", "atomic.renamed:4"),  # the URL video's scores.npy
    ("a", "sprite.tx:1"),
    ("a", "sprite.done:2"),
    ("a", "tiles.written:2"),  # the URL video's tile store
    ("a", "sprite.tx:5"),
    ("b", "commit.tx:1"),  # review actions applied, not committed
    ("b", "commit.done:1"),
    ("b", "sprite.start:1"),  # sprites of the clips the split made
    ("b", "atomic.written:1"),  # the first keyframe
    ("b", "sprite.tx:2"),
    ("b", "keyframe.start:1"),
    ("b", "atomic.written:4"),
    ("b", "atomic.renamed:5"),
    ("b", "keyframe.tx:1"),
    ("b", "atomic.written:9"),
    ("b", "keyframe.tx:3"),
    ("b", "embed.start:1"),
    ("b", "embed.inferred:1"),
    ("b", "embed.tx:1"),
    ("b", "embed.tx:3"),
]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[fk.Scenario]:
    root = tmp_path_factory.mktemp("faults")
    www = root / "www"
    fk.make_media(www)
    with fk.serve(www) as url:
        yield fk.build_scenario(root, url, www)


def _base(scenario: fk.Scenario, phase: str) -> tuple[Path, dict]:
    if phase == "a":
        return scenario.base_a, scenario.ref_a
    return scenario.base_b, scenario.ref_b


def _points_in_code() -> set[str]:
    """Every fault point the code can reach: `faults.hit("name")`, and `f"{step.name}.x"` for
    each step of the table."""
    import ast

    from heaters.domain.steps import STEPS

    found: set[str] = set()
    for path in (Path(__file__).resolve().parents[1] / "heaters").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and ast.unparse(node.func) == "faults.hit"):
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant):
                found.add(str(arg.value))
            elif isinstance(arg, ast.JoinedStr) and ast.unparse(arg.values[0]) == "{step.name}":
                tail = str(arg.values[-1].value)  # type: ignore[attr-defined]
                found |= {f"{s.name}{tail}" for s in STEPS}
    return found


def test_kill_points_exist_and_cover_every_stage() -> None:
    """A renamed fault point fails here (else its crash test would silently never fire), and a
    stage of the step table without any kill point too."""
    from heaters.domain.steps import STEPS

    named = {p.split(":")[0] for _phase, p in KILL_POINTS}
    assert named <= _points_in_code()
    # the follow check writes no files and commits its rows in one transaction (not crash-tested
    # here: the scenario follows nothing)
    steps = {s.name for s in STEPS if s.subject != "follow"}
    assert steps | {"commit", "atomic"} <= {p.split(".")[0] for p in named}
    assert len(set(KILL_POINTS)) == len(KILL_POINTS)


# On PostgreSQL too: a kill inside each stage's result transaction, and mid-write of a file.
PG_KILL_POINTS = {"download.tx:1", "splice.tx:1", "tiles.written:1", "commit.tx:1", "embed.tx:1"}
KILL_CASES = [
    pytest.param(phase, point, backend, id=f"{phase}-{point}-{backend}")
    for phase, point in KILL_POINTS
    for backend in ("sqlite", "postgres")
    if backend == "sqlite" or point in PG_KILL_POINTS
]


@pytest.mark.parametrize(("phase", "point", "backend"), KILL_CASES, indirect=["backend"])
def test_killed_run_resumes_to_the_same_store(
    scenario: fk.Scenario, tmp_path: Path, phase: str, point: str, backend: str
) -> None:
    base, ref = _base(scenario, phase)
    crashed, resumed = fk.crash_and_resume(base, tmp_path / "home", point)
    assert crashed.killed, f"{point} was never reached: {crashed.code} {crashed.stderr[-500:]}"
    assert resumed.code == 0 and not resumed.stderr, resumed.stderr
    home = tmp_path / "home"
    assert fk.integrity(home) == []
    assert fk.diff(fk.snapshot(home), ref) == []


def test_expired_claim_returns_to_its_previous_state(
    scenario: fk.Scenario, tmp_path: Path, backend: str
) -> None:
    """A run killed while splicing leaves its claim; once expired the next run takes it back
    (one attempt counted, the reason recorded), then finishes the work."""
    from heaters.settings import Settings
    from heaters.store import claims
    from heaters.store.store import Store

    home = fk.copy_home(scenario.base_a, tmp_path / "home")
    assert fk.heaters(home, "run", "--quiet", fault="splice.start:1").killed
    with fk.db(home) as conn:
        state, until = conn.execute(
            "SELECT state, claimed_until FROM source_videos WHERE id = 1"
        ).fetchone()
    assert state == "splicing" and until > time.time() - 5
    fk.wait_for_claims(home)
    store = Store.open(home)
    try:
        with store.tx() as session:
            assert claims.reclaim_expired(session, time.time(), Settings().retry) == 1
    finally:
        store.close()
    with fk.db(home) as conn:
        row = conn.execute(
            "SELECT state, attempts, last_error, claimed_by FROM source_videos WHERE id = 1"
        ).fetchone()
    assert row[:2] == ("downloaded", 1) and "claim expired" in row[2] and row[3] is None
    assert fk.heaters(home, "run", "--quiet").code == 0
    assert fk.integrity(home) == [] and fk.diff(fk.snapshot(home), scenario.ref_a) == []


def test_heartbeats_keep_a_long_claim(scenario: fk.Scenario, tmp_path: Path, backend: str) -> None:
    """A splice that lasts several leases: heartbeats keep extending its claim, so a second run
    that starts meanwhile reclaims nothing and never takes that video."""
    home = fk.copy_home(scenario.base_a, tmp_path / "home")
    env = {**os.environ, "HEATERS_HOME": str(home), "HEATERS_FAULT_AT": "splice.start:1:sleep=4"}
    slow = subprocess.Popen(
        [sys.executable, "-m", "heaters", "run", "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen: list[float] = []
        deadline = time.time() + 60
        while time.time() < deadline and len(seen) < 2:
            with fk.db(home) as conn:
                row = conn.execute(
                    "SELECT state, claimed_until FROM source_videos WHERE id = 1"
                ).fetchone()
            if row[0] == "splicing" and (not seen or row[1] > seen[-1] + 0.1):
                seen.append(row[1])
            time.sleep(0.05)
        assert len(seen) == 2, "the claim was never extended"
        other = fk.heaters(home, "run", "--once", "--json")
        assert other.code == 0, other.stderr
        report = json.loads(other.stdout)
        assert report["reclaimed"] == 0 and report["claimed"].get("splice", 0) <= 1
    finally:
        out, err = slow.communicate(timeout=120)
    assert slow.returncode == 0 and not err, err
    assert fk.integrity(home) == [] and fk.diff(fk.snapshot(home), scenario.ref_a) == []


# ------------------------------------------------------------------ disk full / read-only

DISK_FAULTS = [
    ("a", "atomic.written:2:enospc", "disk full"),  # frames.npy of the splice
    ("a", "tiles.written:1:enospc", "disk full"),  # the tile store
    ("a", "splice.tx:1:enospc", "disk full"),  # the result's transaction
    ("b", "commit.tx:1:enospc", "disk full"),  # committing review actions
    ("b", "atomic.written:5:erofs", "read-only file system"),  # a keyframe
]


def _stopped_cleanly(home: Path, res: fk.Run, words: str) -> None:
    """Exit 1 with one line that says why; no claim held (given back, not expired), no attempt
    charged to any item, no temp file, and a log that still replays."""
    assert res.code == 1, (res.code, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    problems = fk.integrity(home)
    assert [p for p in problems if "claimed" in p or "temp" in p or "events" in p] == []
    with fk.db(home) as conn:
        charged = conn.execute(
            "SELECT COUNT(*) FROM (SELECT attempts FROM source_videos"
            " UNION ALL SELECT attempts FROM clips) AS a WHERE attempts > 0"
        ).fetchone()[0]
    assert charged == 0


PG_DISK_FAULTS = {"splice.tx:1:enospc", "commit.tx:1:enospc"}
DISK_CASES = [
    pytest.param(phase, fault, words, backend, id=f"{phase}-{fault}-{backend}")
    for phase, fault, words in DISK_FAULTS
    for backend in ("sqlite", "postgres")
    if backend == "sqlite" or fault in PG_DISK_FAULTS
]


@pytest.mark.parametrize(("phase", "fault", "words", "backend"), DISK_CASES, indirect=["backend"])
def test_disk_full_stops_the_run_and_it_resumes(
    scenario: fk.Scenario, tmp_path: Path, phase: str, fault: str, words: str, backend: str
) -> None:
    base, ref = _base(scenario, phase)
    home = fk.copy_home(base, tmp_path / "home")
    _stopped_cleanly(home, fk.heaters(home, "run", "--quiet", fault=fault), words)
    resumed = fk.heaters(home, "run", "--quiet")  # at once: the claims were given back
    assert resumed.code == 0 and not resumed.stderr, resumed.stderr
    assert fk.integrity(home) == [] and fk.diff(fk.snapshot(home), ref) == []


_TMPFS_SCRIPT = """
set -u
mount -t tmpfs -o size=16m tmpfs "$MNT" || exit 99
cp -a "$BASE" "$MNT/home"
export HEATERS_HOME="$MNT/home"
avail=$(df -k --output=avail "$MNT" | tail -1)
dd if=/dev/zero of="$MNT/filler" bs=1k count=$((avail - FREE_KB)) status=none
"$PY" -m heaters run --quiet >"$OUT/out1" 2>"$OUT/err1"; echo $? >"$OUT/rc1"
cp -a "$MNT/home" "$OUT/full"
rm "$MNT/filler"
"$PY" -m heaters run --quiet >"$OUT/out2" 2>"$OUT/err2"; echo $? >"$OUT/rc2"
cp -a "$MNT/home" "$OUT/home"
"""


@pytest.mark.parametrize("free_kb", [40])
def test_a_really_full_disk(scenario: fk.Scenario, tmp_path: Path, free_kb: int) -> None:
    """The home on a small tmpfs (in a private mount namespace), filled up to `free_kb`: the
    database or a keyframe write hits ENOSPC for real. Skipped where namespaces are off."""
    import shutil

    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1)")
    mnt, out = tmp_path / "mnt", tmp_path / "out"
    mnt.mkdir()
    out.mkdir()
    env = {
        **os.environ,
        "MNT": str(mnt),
        "BASE": str(scenario.base_b),
        "OUT": str(out),
        "FREE_KB": str(free_kb),
        "PY": sys.executable,
    }
    env.pop("HEATERS_FAULT_AT", None)
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", _TMPFS_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode == 99 or not (out / "rc1").exists():
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()[-200:]}")
    run1 = fk.Run(int((out / "rc1").read_text()), "", (out / "err1").read_text())
    _stopped_cleanly(out / "full", run1, "disk full")
    assert (out / "rc2").read_text().strip() == "0", (out / "err2").read_text()
    home = out / "home"
    assert fk.integrity(home) == [] and fk.diff(fk.snapshot(home), scenario.ref_b) == []


def test_fault_specs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from heaters import faults

    assert faults.parse("sprite.tx:2, atomic.written:1:enospc") == [
        faults.Fault("sprite.tx", 2, "kill"),
        faults.Fault("atomic.written", 1, "enospc"),
    ]
    for bad in ("sprite.tx", "sprite.tx:0", "sprite.tx:x", "a:1:explode"):
        with pytest.raises(ValueError):
            faults.parse(bad)
    trace = tmp_path / "trace"
    monkeypatch.setenv(faults.ENV, "p:2:erofs")
    monkeypatch.setenv(faults.TRACE_ENV, str(trace))
    faults.reset()
    try:
        faults.hit("p")  # the first time: nothing
        with pytest.raises(OSError, match="Read-only"):
            faults.hit("p")
        faults.hit("p")
    finally:
        monkeypatch.delenv(faults.ENV)
        monkeypatch.delenv(faults.TRACE_ENV)
        faults.reset()
    assert trace.read_text().split("\n")[:3] == [f"{os.getpid()} p {n}" for n in (1, 2, 3)]
    faults.hit("p")  # unset: a no-op
