"""Retries end to end (DESIGN.md §8): attempts, last_error and exponential backoff as the runs see
them; the failed state at the limit; `heaters retry` re-opens; a permanently bad item — even one
that kills the worker every time — never blocks the others.

(tests/test_cli.py already covers the attempt limit and `heaters retry` of a video;
tests/store/test_claims.py the backoff maths.)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests import faultkit as fk
from tests.conftest import distinct_copy, free_port


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from heaters.synthetic import make_video

    root = tmp_path_factory.mktemp("retries")
    return make_video(root / "small.mp4", (1.0, 1.2, 0.8), width=160, height=90, seed=9).path


def _video(home: Path, video_id: int) -> tuple:
    with fk.db(home) as conn:
        return conn.execute(
            "SELECT state, attempts, last_error, next_attempt_at FROM source_videos WHERE id = ?",
            (video_id,),
        ).fetchone()


def _once(home: Path) -> dict:
    res = fk.heaters(home, "run", "--once", "--json", "--quiet")
    assert not res.stderr, res.stderr
    data = json.loads(res.stdout)
    # exit 1 exactly when something failed for good in this run (the failures are in the JSON)
    assert res.code == (1 if any(f["final"] for f in data["failures"]) else 0), data
    return data


def _elapse_backoff(home: Path) -> None:
    """Let the backoff pass without waiting for it (the waiting itself is checked first)."""
    with fk.db(home) as conn:
        conn.execute("UPDATE source_videos SET next_attempt_at = ? WHERE id = 1", (time.time(),))
        conn.commit()


def test_backoff_doubles_until_the_limit_and_others_go_on(home: Path, small: Path) -> None:
    fk.make_home(home)
    (home / "config.toml").write_text("retry_base_s = 30\nmin_clip_s = 0.5\n")
    url = f"http://127.0.0.1:{free_port()}/gone.mp4"
    assert fk.heaters(home, "ingest", url, str(small), "--quiet").code == 0

    started = time.time()
    report = _once(home)
    assert report["videos"] == {"new": 1, "spliced": 1}  # the good one did not wait
    state, attempts, error, next_at = _video(home, 1)
    assert (state, attempts) == ("new", 1) and "refused" in error.lower() and "\n" not in error
    assert started + 30 <= next_at <= time.time() + 30  # base * 2**0
    assert _once(home)["claimed"] == {}  # not due during the backoff

    _elapse_backoff(home)
    before = time.time()
    assert _once(home)["claimed"] == {"download": 1}
    state, attempts, _error, next_at = _video(home, 1)
    assert (state, attempts) == ("new", 2)
    assert before + 60 <= next_at <= time.time() + 60  # base * 2**1: doubled

    _elapse_backoff(home)
    _once(home)
    state, attempts, error, next_at = _video(home, 1)
    assert (state, attempts, next_at) == ("download_failed", 3, None)
    status = json.loads(fk.heaters(home, "status", "--json").stdout)
    assert [f["id"] for f in status["failed_videos"]] == [1]
    assert status["clips"] == {"pending_review": 3}


def test_a_bad_clip_fails_alone_and_retry_reopens_it(home: Path, small: Path) -> None:
    """A clip whose frames cannot be read (its range runs past the video) fails its sprite three
    times, backing off, and ends in sprite_failed; its neighbours are ready for review."""
    fk.make_home(home)
    assert fk.heaters(home, "ingest", str(small), "--quiet").code == 0
    assert fk.heaters(home, "run", "--quiet").code == 0
    with fk.db(home) as conn:  # sprites to draw again, and a clip row that lies about its range
        conn.execute("UPDATE clips SET end_frame = end_frame + 500 WHERE id = 3")
        conn.execute("UPDATE clips SET state = 'spliced'")
        conn.execute("DELETE FROM clip_artifacts")
        conn.commit()
    for sprite in (home / "media" / "clips").glob("*/sprite.jpg"):
        sprite.unlink()
    res = fk.heaters(home, "run", "--quiet")  # retry_base_s = 0: all three attempts now
    assert res.code == 1, res.stderr  # clip 3 failed for good: one line per attempt
    assert [line.split(":")[0] for line in res.stderr.splitlines()] == ["clip 3"] * 3
    clips = {c["id"]: c for c in json.loads(fk.heaters(home, "clips", "--json").stdout)}
    assert clips[1]["state"] == clips[2]["state"] == "pending_review"
    bad = clips[3]
    assert bad["state"] == "sprite_failed" and bad["attempts"] == 3
    assert "frame" in bad["last_error"] and "\n" not in bad["last_error"]

    res = fk.heaters(home, "retry", "3", "--clip", "--json")
    assert res.code == 0 and json.loads(res.stdout) == [{"kind": "clip", "id": 3}]
    clips = {c["id"]: c for c in json.loads(fk.heaters(home, "clips", "--json").stdout)}
    assert clips[3]["state"] == "spliced" and clips[3]["attempts"] == 0
    with fk.db(home) as conn:  # the cause fixed, the retried clip goes through
        conn.execute("UPDATE clips SET end_frame = end_frame - 500 WHERE id = 3")
        conn.commit()
    assert fk.heaters(home, "run", "--quiet").code == 0
    assert fk.integrity(home) == []
    states = {c["state"] for c in json.loads(fk.heaters(home, "clips", "--json").stdout)}
    assert states == {"pending_review"}


def test_a_video_that_kills_every_run_ends_failed(home: Path, small: Path, tmp_path: Path) -> None:
    """Poison: splicing video 1 kills the worker, every time. Each expired claim costs it one
    attempt; at the limit it is splicing_failed and video 2 is spliced as if nothing happened."""
    fk.make_home(home)
    second = distinct_copy(small, tmp_path / "second.mp4", 2)  # another file: another video
    assert fk.heaters(home, "ingest", str(small), str(second), "--quiet").code == 0
    for attempt in range(3):
        res = fk.heaters(home, "run", "--quiet", fault="splice.start:1")
        assert res.killed, res.stderr
        assert _video(home, 1)[:2] == ("splicing", attempt)
        fk.wait_for_claims(home)
    res = fk.heaters(home, "run", "--quiet")
    assert res.code == 1 and res.stderr.startswith("video 1: splice failed"), res.stderr
    state, attempts, error, _ = _video(home, 1)
    assert (state, attempts) == ("splicing_failed", 3)
    assert "claim expired" in error or "claim taken back" in error  # the killed run's
    assert _video(home, 2)[:2] == ("spliced", 0)
    res = fk.heaters(home, "retry", "1")
    assert res.code == 0 and "re-opened video 1" in res.stdout
    assert fk.heaters(home, "run", "--quiet").code == 0
    assert _video(home, 1)[:2] == ("spliced", 0)
    assert fk.integrity(home) == []
