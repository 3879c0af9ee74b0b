"""`heaters export` and `heaters scenes` end to end."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import av
import pytest

from heaters.synthetic import SyntheticVideo
from tests.conftest import cli


@pytest.fixture
def reviewed(home: Path, cut_video: SyntheticVideo) -> Path:
    """Clips 2 and 3 approved and grouped, clip 5 approved, the rest pending."""
    assert cli(home, "ingest", str(cut_video.path)).code == 0
    assert cli(home, "run", "--quiet", "--min-clip-s", "0.3").code == 0
    for args in (["approve", "2"], ["group", "3"], ["approve", "5"]):
        assert cli(home, "review", *args, "--quiet").code == 0
    assert cli(home, "run", "--quiet", "--grace", "0").code == 0
    return home


def _frames_and_duration(path: Path) -> tuple[int, float]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = sum(1 for _ in c.decode(stream))
        duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
    return frames, duration


def test_export_is_frame_accurate_and_skips_unchanged(reviewed: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = cli(reviewed, "export", "--out", str(out), "--json")
    assert res.code == 0, res.stderr
    rows = res.json()
    assert sorted(r["clip_id"] for r in rows) == [2, 3, 5]  # type: ignore[union-attr]
    clips = {c["id"]: c for c in cli(reviewed, "clips", "--json").json()}  # type: ignore[union-attr]
    for r in rows:  # type: ignore[union-attr]
        assert r["status"] == "ok"
        clip = clips[r["clip_id"]]
        frames, duration = _frames_and_duration(Path(r["path"]))
        want = clip["end_frame"] - clip["start_frame"]
        assert abs(frames - want) <= 1
        assert abs(duration - (clip["end_time_s"] - clip["start_time_s"])) <= 1 / 30 + 1e-6
        assert Path(r["path"]).parent == out
    again = cli(reviewed, "export", "--out", str(out), "--json").json()
    assert [r["status"] for r in again] == ["skipped"] * 3  # type: ignore[union-attr]


def test_group_export_joins_grouped_clips(reviewed: Path, tmp_path: Path) -> None:
    res = cli(reviewed, "export", "--group", "--out", str(tmp_path), "--json")
    assert res.code == 0, res.stderr
    groups = sorted(r["clip_ids"] for r in res.json())  # type: ignore[union-attr]
    assert groups == [[2, 3], [5]]
    clips = {c["id"]: c for c in cli(reviewed, "clips", "--json").json()}  # type: ignore[union-attr]
    joined = [r for r in res.json() if r["clip_ids"] == [2, 3]][0]  # type: ignore[union-attr]
    frames, _ = _frames_and_duration(Path(joined["path"]))
    assert abs(frames - (clips[3]["end_frame"] - clips[2]["start_frame"])) <= 1


def test_copy_export_is_fast_and_may_start_early(reviewed: Path, tmp_path: Path) -> None:
    res = cli(reviewed, "export", "--copy", "--video", "1", "--out", str(tmp_path), "--json")
    assert res.code == 0, res.stderr
    clips = {c["id"]: c for c in cli(reviewed, "clips", "--json").json()}  # type: ignore[union-attr]
    for r in res.json():  # type: ignore[union-attr]
        frames, _ = _frames_and_duration(Path(r["path"]))
        assert frames >= clips[r["clip_id"]]["end_frame"] - clips[r["clip_id"]]["start_frame"] - 1


def test_export_one_clip(reviewed: Path, tmp_path: Path) -> None:
    """`--clip` (what the find screen's `e` runs): only the named clips, still by --state."""
    res = cli(reviewed, "export", "--clip", "5", "--out", str(tmp_path), "--json")
    assert res.code == 0, res.stderr
    assert [r["clip_ids"] for r in res.json()] == [[5]]  # type: ignore[union-attr]
    clips = {c["id"]: c for c in cli(reviewed, "clips", "--json").json()}  # type: ignore[union-attr]
    frames, _ = _frames_and_duration(Path(res.json()[0]["path"]))  # type: ignore[index]
    assert abs(frames - (clips[5]["end_frame"] - clips[5]["start_frame"])) <= 1
    pending = cli(reviewed, "export", "--clip", "1", "--out", str(tmp_path), "--json").json()
    assert pending == []  # clip 1 waits for review: not "approved"
    res = cli(reviewed, "export", "--clip", "1", "--clip", "5", "--state", "all", "--out",
              str(tmp_path), "--json")  # fmt: skip
    assert sorted(r["clip_id"] for r in res.json()) == [1, 5]  # type: ignore[union-attr]
    assert [r["status"] for r in res.json() if r["clip_id"] == 5] == ["skipped"]  # type: ignore[union-attr]


def test_export_bad_input(reviewed: Path, tmp_path: Path) -> None:
    assert cli(reviewed, "export", "--state", "sideways").code == 2
    assert cli(reviewed, "export", "--template", "../{title}.mp4").code == 2
    assert cli(reviewed, "export", "--template", "{nope}.mp4").code == 2


def test_scenes_formats(reviewed: Path, cut_video: SyntheticVideo) -> None:
    clips = [
        c for c in cli(reviewed, "clips", "--json").json() if c["state"] not in ("merged", "split")
    ]  # type: ignore[union-attr]
    res = cli(reviewed, "scenes", "1")
    assert res.code == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == len(clips)
    assert rows[0]["Start Frame"] == "1" and rows[-1]["End Frame"] == str(cut_video.frame_count)
    assert int(rows[1]["Start Frame"]) - 1 == clips[1]["start_frame"]
    edl = cli(reviewed, "scenes", "1", "--format", "edl").stdout
    assert edl.startswith("TITLE:") and "FCM: NON-DROP FRAME" in edl
    assert edl.count(" AX ") == len(clips)
    data = cli(reviewed, "scenes", "1", "--format", "json").json()
    assert len(data) == len(clips)  # type: ignore[arg-type]
    assert cli(reviewed, "scenes", "42").code == 2
    assert cli(reviewed, "scenes", "1", "--format", "xml").code == 2
