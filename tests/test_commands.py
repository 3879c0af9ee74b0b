"""doctor, config, show, run --lock, --version: the commands that explain heaters."""

from __future__ import annotations

import fcntl
from pathlib import Path

from heaters import __version__
from heaters.synthetic import SyntheticVideo
from tests.conftest import cli


def test_version_and_help_examples(home: Path) -> None:
    res = cli(home, "--version")
    assert res.code == 0 and res.stdout.strip() == f"heaters {__version__}"
    for command in ("ingest", "run", "status", "videos", "clips", "retry", "review", "events",
                    "similar", "search", "doctor", "config", "show", "demo"):  # fmt: skip
        res = cli(home, command, "--help")
        assert res.code == 0, command
        assert "--home" in res.stdout, command


def test_doctor_reports_every_part(home: Path) -> None:
    res = cli(home, "doctor", "--json")
    assert res.code == 0, res.stdout + res.stderr
    names = {c["name"] for c in res.json()}  # type: ignore[union-attr]
    assert {"ffmpeg", "PyAV", "onnxruntime", "SQLite + sqlite-vec", "home folder"} <= names
    assert any(n.startswith("model efficientnet_lite0") for n in names)


def test_doctor_fails_on_an_unusable_home(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = cli(blocker / "home", "doctor", "--json")
    assert res.code == 1
    home_check = [c for c in res.json() if c["name"] == "home folder"][0]  # type: ignore[union-attr]
    assert home_check["ok"] is False and "--home" in home_check["detail"]


def test_config_sets_typed_values_and_flags_override(home: Path, cut_video: SyntheticVideo) -> None:
    assert cli(home, "config", "min_clip_s", "0.3").code == 0
    assert cli(home, "config", "min_clip_s").stdout.strip() == "0.3"
    assert cli(home, "config", "grace_s", "soon").code == 2
    assert cli(home, "config", "no_such_key", "1").code == 2
    assert "min_clip_s = 0.3" in (home / "config.toml").read_text()
    assert cli(home, "ingest", str(cut_video.path)).code == 0
    assert cli(home, "run", "--quiet").code == 0
    clips = cli(home, "clips", "--json").json()
    assert len(clips) == len(cut_video.cuts) + 1  # 0.3 s keeps every shot (shortest is 0.4 s)
    video = cli(home, "videos", "--json").json()[0]  # type: ignore[index]
    assert video["detector_params"]["min_clip_s"] == 0.3


def test_show_tells_everything_about_a_clip(home: Path, cut_video: SyntheticVideo) -> None:
    assert cli(home, "ingest", str(cut_video.path)).code == 0
    assert cli(home, "run", "--quiet").code == 0
    assert cli(home, "review", "approve", "2", "--quiet").code == 0
    res = cli(home, "show", "2", "--json")
    assert res.code == 0, res.stderr
    data = res.json()
    assert data["clip"]["id"] == 2  # type: ignore[index]
    assert [e["action"] for e in data["history"]] == ["approve"]  # type: ignore[index]
    assert [a["kind"] for a in data["artifacts"]] == ["sprite"]  # type: ignore[index]
    assert cli(home, "show", "999").code == 2


def test_run_lock_skips_while_another_run_holds_it(home: Path) -> None:
    assert cli(home, "status").code == 0
    with open(home / "run.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        res = cli(home, "run", "--once", "--lock", "--json")
        assert res.code == 0 and "skipped" in res.json()  # type: ignore[operator]
    res = cli(home, "run", "--once", "--lock", "--json")
    assert res.code == 0 and "passes" in res.json()  # type: ignore[operator]
