"""Keyframe strategies end to end: `heaters config keyframe_strategy uniform` and
`keyframe_count N` give every newly approved clip N evenly spaced keyframes, reported with their
strategy and count, and the embedding uses them."""

from __future__ import annotations

from pathlib import Path

from heaters.synthetic import make_video
from tests.conftest import cli


def test_uniform_keyframes_from_config(tmp_path: Path) -> None:
    home = tmp_path / "home"
    video = make_video(tmp_path / "v.mp4", (1.5, 1.5), seed=5)
    assert cli(home, "ingest", str(video.path)).code == 0
    assert cli(home, "config", "keyframe_strategy", "uniform").code == 0
    assert cli(home, "config", "keyframe_count", "4").code == 0
    assert cli(home, "config", "keyframe_count", "0").code == 2  # refused, nothing written
    assert cli(home, "run", "--quiet").code == 0
    clips = cli(home, "clips", "--json").json()
    for clip in clips:  # type: ignore[union-attr]
        assert cli(home, "review", "approve", str(clip["id"]), "--quiet").code == 0
    res = cli(home, "run", "--grace", "0", "--quiet")
    assert res.code == 0, res.stderr
    for clip in clips:  # type: ignore[union-attr]
        shown = cli(home, "show", str(clip["id"]), "--json").json()
        assert shown["clip"]["state"] == "embedded"  # type: ignore[index]
        kf = [a for a in shown["artifacts"] if a["kind"] == "keyframe"]  # type: ignore[index]
        assert [a["tag"] for a in kf] == ["u1of4", "u2of4", "u3of4", "u4of4"]
        assert {(a["strategy"], a["metadata"]["count"]) for a in kf} == {("uniform", 4)}
        frames = [a["metadata"]["frame"] for a in kf]
        assert frames == sorted(frames) and clip["start_frame"] <= frames[0]
        assert frames[-1] < clip["end_frame"]
