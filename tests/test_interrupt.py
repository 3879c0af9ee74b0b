"""Nothing stuck: Ctrl-C or SIGTERM stops `heaters run` within 2 s, gives every claim back with no
attempt charged and removes partial files; after `kill -9` the next run takes the dead run's
claims back at once (the claim records host, boot id and pid), while claims of other hosts keep
their lease.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from heaters.synthetic import make_video
from tests import faultkit as fk


def _start(home: Path, *args: str, fault: str | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "HEATERS_HOME": str(home)}
    env.pop("HEATERS_FAULT_AT", None)
    if fault:
        env["HEATERS_FAULT_AT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "heaters", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _claimed(home: Path) -> int:
    if not (home / "heaters.db").exists():
        return 0
    try:
        with fk.db(home) as conn:
            return int(
                conn.execute(
                    "SELECT (SELECT COUNT(*) FROM source_videos WHERE claimed_by IS NOT NULL)"
                    " + (SELECT COUNT(*) FROM clips WHERE claimed_by IS NOT NULL)"
                ).fetchone()[0]
            )
    except Exception:  # noqa: BLE001 - not created yet
        return 0


def _wait_for_claims(home: Path, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while _claimed(home) == 0:
        assert proc.poll() is None, fk.output_of(proc)
        assert time.monotonic() < deadline, "the run never claimed anything"
        time.sleep(0.05)


def _attempts(home: Path) -> list[int]:
    with fk.db(home) as conn:
        return [
            int(r[0])
            for r in conn.execute(
                "SELECT attempts FROM source_videos UNION ALL SELECT attempts FROM clips"
            )
        ]


@pytest.fixture(scope="module")
def spliced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with one video downloaded and spliced into many clips, sprites still to draw."""
    root = tmp_path_factory.mktemp("interrupt")
    video = make_video(root / "v.mp4", (0.8,) * 12, width=160, height=90, seed=9)
    home = fk.make_home(root / "home", lease_s=120)
    assert fk.heaters(home, "ingest", str(video.path), "--quiet").code == 0
    res = fk.heaters(home, "run", "--once", "--quiet", fault="sprite.start:1:kill")
    assert res.killed
    with fk.db(home) as conn:  # the kill left the sprite claims: hand them back for the base
        conn.execute(
            "UPDATE clips SET state = 'spliced', claimed_by = NULL, claimed_until = NULL,"
            " attempts = 0, last_error = NULL"
        )
        conn.commit()
    return home


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_signal_stops_the_run_and_gives_every_claim_back(
    spliced: Path, tmp_path: Path, sig: signal.Signals, workers: str
) -> None:
    """The stage is stuck (a 60 s sleep inside it, as in native code): the run still ends
    within 2 s, says so in one line, exits 130, and an immediate rerun does the work."""
    home = fk.copy_home(spliced, tmp_path / "home")
    (home / "config.toml").write_text("lease_s = 120.0\nretry_base_s = 0.0\nmin_clip_s = 0.5\n")
    proc = _start(home, "run", "--workers", workers, fault="sprite.start:1:sleep=60")
    _wait_for_claims(home, proc)
    time.sleep(0.3)
    sent = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    took = time.monotonic() - sent
    assert proc.returncode == 130, (out, err)
    assert took < 2.0, took
    assert len(err.strip().splitlines()) == 1 and "interrupted" in err, err
    assert "Traceback" not in err and "RuntimeError" not in err
    assert _claimed(home) == 0 and set(_attempts(home)) == {0}
    assert fk.integrity(home) == []
    res = fk.heaters(home, "run", "--quiet")
    assert res.code == 0 and not res.stderr, res
    states = {c["state"] for c in json.loads(fk.heaters(home, "clips", "--json").stdout)}
    assert states == {"pending_review"}


def test_kill_9_claims_are_taken_back_at_once(spliced: Path, tmp_path: Path) -> None:
    """A long lease, a killed run: the rerun does not wait for the lease (120 s)."""
    home = fk.copy_home(spliced, tmp_path / "home")
    (home / "config.toml").write_text("lease_s = 120.0\nretry_base_s = 0.0\nmin_clip_s = 0.5\n")
    res = fk.heaters(home, "run", "--quiet", fault="sprite.start:1:kill")
    assert res.killed and _claimed(home) > 0
    started = time.monotonic()
    res = fk.heaters(home, "run", "--quiet")
    assert res.code == 0 and not res.stderr, res
    assert time.monotonic() - started < 60
    states = {c["state"] for c in json.loads(fk.heaters(home, "clips", "--json").stdout)}
    assert states == {"pending_review"}
    assert fk.integrity(home) == []


def test_claims_of_another_host_keep_their_lease(spliced: Path, tmp_path: Path) -> None:
    home = fk.copy_home(spliced, tmp_path / "home")
    (home / "config.toml").write_text("lease_s = 120.0\nretry_base_s = 0.0\nmin_clip_s = 0.5\n")
    until = time.time() + 600
    with fk.db(home) as conn:
        first = conn.execute("SELECT MIN(id) FROM clips").fetchone()[0]
        conn.execute(
            "UPDATE clips SET state = 'generating_sprite', claimed_by = ?, claimed_until = ?"
            " WHERE id = ?",
            ("elsewhere:0123456789ab:4242:1:7", until, first),
        )
        conn.commit()
    assert fk.heaters(home, "run", "--once", "--quiet").code == 0
    with fk.db(home) as conn:
        row = conn.execute("SELECT state, claimed_by FROM clips WHERE id = ?", (first,)).fetchone()
    assert row == ("generating_sprite", "elsewhere:0123456789ab:4242:1:7")


def test_claim_owner_is_provably_gone_only_on_this_host() -> None:
    from heaters import owner

    me = owner.worker_id()
    host, boot, pid, start, thread = me.split(":")
    assert not owner.provably_gone(me)
    proc = subprocess.run(["true"], check=True)
    assert proc.returncode == 0
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert owner.provably_gone(f"{host}:{boot}:{dead.pid}:1:1")  # no such process now
    assert owner.provably_gone(f"{host}:{boot}:{pid}:{int(start) + 1}:1")  # pid reused
    assert owner.provably_gone(f"{host}:000000000000:{pid}:{start}:1")  # before a reboot
    assert not owner.provably_gone(f"other-host:{boot}:{dead.pid}:1:1")
    assert not owner.provably_gone(f"{host}:{pid}:{thread}")  # the old form: lease only
    assert not owner.provably_gone(None)


def _ffmpegs_writing_to(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and "ffmpeg" in cmdline.split(" ", 1)[0]:
            found.append(int(entry.name))
    return found


def test_kill_9_of_export_leaves_no_ffmpeg_and_no_temp_files(tmp_path: Path) -> None:
    video = make_video(tmp_path / "long.mp4", (12.0,), width=320, height=180, seed=5)
    home = fk.make_home(tmp_path / "home")
    assert fk.heaters(home, "ingest", str(video.path), "--quiet").code == 0
    assert fk.heaters(home, "run", "--quiet").code == 0
    clip = json.loads(fk.heaters(home, "clips", "--json").stdout)[0]["id"]
    assert fk.heaters(home, "review", "approve", str(clip), "--quiet").code == 0
    assert fk.heaters(home, "run", "--once", "--quiet").code == 0  # commits it (grace 0)
    out = tmp_path / "out"
    proc = _start(home, "export", "--out", str(out), "--quiet")
    deadline = time.monotonic() + 60
    while not list(out.glob(".tmp-*")):
        assert proc.poll() is None and time.monotonic() < deadline, fk.output_of(proc)
        time.sleep(0.02)
    assert _ffmpegs_writing_to(str(out))  # ffmpeg is encoding into the out folder
    proc.kill()
    proc.communicate()  # reaps it and closes its pipes
    time.sleep(0.5)
    assert _ffmpegs_writing_to(str(out)) == []
    res = fk.heaters(home, "export", "--out", str(out), "--json")
    assert res.code == 0, res
    assert [json.loads(res.stdout)[0]["status"]] == ["ok"]
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
