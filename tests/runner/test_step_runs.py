"""Where the time goes: every step batch is recorded with its items, failures, seconds and the
footage it covered; `run --json` shows this run's, `status` all of them; the run's status says
whether anything failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from heaters.synthetic import SyntheticVideo
from tests.conftest import cli


def _by_step(rows: list[dict]) -> dict[str, dict]:
    return {r["step"]: r for r in rows}


def test_run_and_status_show_time_per_step(
    home: Path, cut_video: SyntheticVideo, bad_files: dict[str, Path]
) -> None:
    assert cli(home, "ingest", str(cut_video.path), str(bad_files["text"])).code == 0
    res = cli(home, "run", "--json")
    assert res.code == 1, res.stderr  # the text file failed for good
    data = res.json()
    assert data["status"] == "failed"  # type: ignore[index]
    steps = _by_step(data["steps"])  # type: ignore[index]
    assert list(steps)[:3] == ["download", "splice", "sprite"]
    assert steps["download"]["items"] == 2 and steps["download"]["failed"] == 1
    assert steps["splice"]["items"] == 1 and steps["splice"]["failed"] == 0
    duration = cut_video.frame_count / cut_video.fps
    assert abs(steps["splice"]["footage_s"] - duration) < 0.1
    clips = cli(home, "clips", "--json").json()
    assert steps["sprite"]["items"] == len(clips)  # type: ignore[arg-type]
    assert abs(steps["sprite"]["footage_s"] - duration) < 0.1  # the clips tile the video
    for row in steps.values():
        assert row["seconds"] > 0
        per_minute = row["seconds"] / (row["footage_s"] / 60)
        # both figures are printed rounded to 3 decimals: a few ms of a short step can be 1 % off
        assert row["seconds_per_footage_minute"] == pytest.approx(per_minute, rel=0.01, abs=0.003)

    again = cli(home, "run", "--json").json()  # nothing due: nothing recorded, nothing failed
    assert again["status"] == "ok" and again["steps"] == []  # type: ignore[index]

    status = cli(home, "status", "--json").json()
    assert _by_step(status["time"]) == steps  # type: ignore[index]
    text = cli(home, "status").stdout
    assert "time: download" in text and "s/footage min" in text


def test_a_failed_attempt_that_will_be_retried_says_retrying(home: Path) -> None:
    assert cli(home, "ingest", "http://127.0.0.1:9/nothing-listens.mp4").code == 0
    res = cli(home, "run", "--once", "--json")
    assert res.code == 0, res.stderr
    data = res.json()
    assert data["status"] == "retrying"  # type: ignore[index]
    assert _by_step(data["steps"])["download"]["failed"] == 1  # type: ignore[index]
