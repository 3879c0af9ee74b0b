"""The `heaters` command end to end, in subprocesses, as a user runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from heaters.synthetic import SyntheticVideo
from tests.conftest import HttpServer, cli, distinct_copy, free_port


def _clips(home: Path, video_id: int) -> list[dict]:
    res = cli(home, "clips", "--video", str(video_id), "--json")
    assert res.code == 0, res.stderr
    return res.json()  # type: ignore[return-value]


def _assert_tiles_with_cuts(clips: list[dict], video: SyntheticVideo) -> None:
    assert clips[0]["start_frame"] == 0
    assert clips[-1]["end_frame"] == video.frame_count
    for a, b in zip(clips, clips[1:], strict=False):
        assert a["end_frame"] == b["start_frame"]
        assert a["end_time_s"] == b["start_time_s"]
    found = [c["start_frame"] for c in clips[1:]]
    for cut in video.cuts:
        assert min(abs(cut - f) for f in found) <= 1, (cut, found)
    assert len(found) == len(video.cuts)


def test_local_and_http_ingest_splice_at_the_true_cuts(
    home: Path, cut_video: SyntheticVideo, http_server: HttpServer
) -> None:
    shutil.copy(cut_video.path, http_server.root / "cuts.mp4")
    res = cli(home, "ingest", str(cut_video.path), http_server.url("cuts.mp4"), "--json")
    assert res.code == 0, res.stderr
    ids = [r["id"] for r in res.json()]  # type: ignore[union-attr]
    res = cli(home, "run", "--min-clip-s", "0.3", "--quiet")
    assert res.code == 0, res.stderr
    vids = {v["id"]: v for v in cli(home, "videos", "--json").json()}  # type: ignore[union-attr]
    for vid in ids:
        v = vids[vid]
        assert v["state"] == "spliced", v
        assert v["frame_count"] == cut_video.frame_count and v["fps"] == 30
        assert v["detector"] == "hybrid" and v["detector_params"]["min_clip_s"] == 0.3
        _assert_tiles_with_cuts(_clips(home, vid), cut_video)
    # the URL one keeps yt-dlp's metadata
    assert vids[ids[1]]["metadata"]["extractor"] == "generic"
    assert all(c["state"] == "pending_review" for c in _clips(home, ids[0]))


def test_default_min_length_merges_short_scenes_but_tiles(
    home: Path, cut_video: SyntheticVideo
) -> None:
    assert cli(home, "ingest", str(cut_video.path)).code == 0
    assert cli(home, "run", "--quiet").code == 0
    clips = _clips(home, 1)
    assert clips[0]["start_frame"] == 0 and clips[-1]["end_frame"] == cut_video.frame_count
    assert all(c["end_frame"] - c["start_frame"] >= 30 for c in clips)
    found = {c["start_frame"] for c in clips[1:]}
    assert all(min(abs(f - cut) for cut in cut_video.cuts) <= 1 for f in found)


def test_bad_inputs_fail_alone_with_a_clear_error(
    home: Path,
    cut_video: SyntheticVideo,
    second_video: SyntheticVideo,
    bad_files: dict[str, Path],
    http_server: HttpServer,
) -> None:
    shutil.copy(second_video.path, http_server.root / "good.mp4")
    sources = {
        "404": http_server.url("missing.mp4"),
        "refused": f"http://127.0.0.1:{free_port()}/x.mp4",
        **{k: str(p) for k, p in bad_files.items()},
        "good_file": str(cut_video.path),
        "good_url": http_server.url("good.mp4"),
    }
    res = cli(home, "ingest", *sources.values(), "--json")
    assert res.code == 0, res.stderr
    ids = dict(zip(sources, [r["id"] for r in res.json()], strict=True))  # type: ignore[union-attr]
    res = cli(home, "run", "--quiet")
    assert res.code == 1, res.stderr  # items failed for good: exit 1, one line each
    assert all(line.startswith("video ") for line in res.stderr.splitlines()), res.stderr
    vids = {v["id"]: v for v in cli(home, "videos", "--json").json()}  # type: ignore[union-attr]
    assert vids[ids["good_file"]]["state"] == "spliced"
    assert vids[ids["good_url"]]["state"] == "spliced"
    expected = {
        "404": "404",
        "refused": "refused",
        "text": "not a readable video",
        "empty": "empty",
        "audio": "no video stream",
    }
    for key, needle in expected.items():
        v = vids[ids[key]]
        assert needle in (v["last_error"] or "").lower(), (key, v)
        assert "\n" not in v["last_error"]
    # the refused port may work later: it waits for a retry; the rest failed for good
    assert vids[ids["refused"]]["state"] == "new" and vids[ids["refused"]]["attempts"] == 1
    assert vids[ids["404"]]["state"] == "download_failed"
    # a truncated mp4 (its index first, a third of its data) splices the frames that decode:
    # its clips tile exactly those, fewer than the whole video's
    t = vids[ids["truncated"]]
    assert t["state"] == "spliced", t
    cut = _clips(home, ids["truncated"])
    assert cut[0]["start_frame"] == 0
    assert all(a["end_frame"] == b["start_frame"] for a, b in zip(cut, cut[1:], strict=False))
    assert 0 < cut[-1]["end_frame"] == t["frame_count"] < cut_video.frame_count
    status = cli(home, "status", "--json").json()
    assert {f["id"] for f in status["failed_videos"]} >= {ids["404"], ids["text"]}  # type: ignore[index]


def test_attempt_limit_then_retry(home: Path, bad_files: dict[str, Path]) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_text("retry_base_s = 0\n")
    port = free_port()
    assert cli(home, "ingest", f"http://127.0.0.1:{port}/x.mp4").code == 0
    assert cli(home, "run", "--quiet").code == 1  # the third attempt failed it for good
    v = cli(home, "videos", "--json").json()[0]  # type: ignore[index]
    assert v["state"] == "download_failed" and v["attempts"] == 3
    res = cli(home, "retry", "--json")
    assert res.code == 0 and res.json() == [{"kind": "video", "id": 1}]
    assert cli(home, "videos", "--json").json()[0]["state"] == "new"  # type: ignore[index]
    assert cli(home, "retry", "1").code == 2  # nothing failed any more


def test_idempotent_ingest_and_run(home: Path, cut_video: SyntheticVideo) -> None:
    first = cli(home, "ingest", str(cut_video.path), "--json").json()
    again = cli(home, "ingest", str(cut_video.path), "--json").json()
    assert first[0]["id"] == again[0]["id"] and again[0]["created"] is False  # type: ignore[index]
    assert cli(home, "run", "--quiet").code == 0
    before = (_clips(home, 1), cli(home, "videos", "--json").json())
    res = cli(home, "run", "--json")
    assert res.code == 0 and res.json()["claimed"] == {}  # type: ignore[index]
    assert (_clips(home, 1), cli(home, "videos", "--json").json()) == before
    assert len(cli(home, "videos", "--json").json()) == 1  # type: ignore[arg-type]


def test_two_runs_at_once_never_share_a_video(
    home: Path, cut_video: SyntheticVideo, second_video: SyntheticVideo, tmp_path: Path
) -> None:
    paths = []
    for i in range(4):
        p = tmp_path / f"v{i}.mp4"
        distinct_copy(cut_video.path if i % 2 else second_video.path, p, i)
        paths.append(str(p))
    assert cli(home, "ingest", *paths).code == 0
    import os

    env = {**os.environ, "HEATERS_HOME": str(home)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "heaters", "run", "--once", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    import json

    reports = [json.loads(o[0]) for o in outs]
    assert sum(r["claimed"].get("download", 0) for r in reports) == 4
    assert sum(r["claimed"].get("splice", 0) for r in reports) == 4
    vids = cli(home, "videos", "--json").json()
    assert [v["state"] for v in vids] == ["spliced"] * 4  # type: ignore[union-attr]
    for v in vids:  # type: ignore[union-attr]
        clips = _clips(home, v["id"])
        starts = [c["start_frame"] for c in clips]
        assert len(starts) == len(set(starts))  # no duplicate clips from a double splice


def test_bad_usage_exits_2_with_one_line(home: Path) -> None:
    for args in (["ingest", "ftp://example.com/a.mp4"], ["ingest", "/no/such/file.mp4"],
                 ["clips", "--state", "nonsense"], ["run", "--detector", "magic"]):  # fmt: skip
        res = cli(home, *args)
        assert res.code == 2, (args, res)
        assert "Traceback" not in res.stderr
    assert cli(home, "videos", "--json").json() == []


def test_a_home_that_is_a_file_is_bad_input(tmp_path: Path) -> None:
    """A file named as the home (or lying above it) is the operator's mistake: exit 2, one line
    saying so, and the file untouched."""
    f = tmp_path / "notes.txt"
    f.write_text("mine")
    for home, words in ((f, f"home folder {f} is not a folder"),
                        (f / "lib", f"is not a folder ({f} is a file)")):  # fmt: skip
        for args in (["status"], ["videos"], ["run", "--once"], ["ingest", str(f)]):
            res = cli(home, *args)
            assert res.code == 2, (args, res)
            assert words in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert f.read_text() == "mine"


def test_demo_runs_offline(tmp_path: Path) -> None:
    res = cli(tmp_path / "unused", "demo", "--home", str(tmp_path / "demo"), "--json")
    assert res.code == 0, res.stderr
    data = res.json()
    assert data["videos"] == {"spliced": 1}  # type: ignore[index]
    n = len(data["clip_list"])  # type: ignore[index]
    assert n >= 5 and data["clips"] == {"pending_review": n}  # type: ignore[index]
    assert data["clip_list"][-1]["end_frame"] > data["true_cuts"][-1]  # type: ignore[index]


def test_the_demo_s_hints_work_when_pasted(tmp_path: Path) -> None:
    """The commands the demo suggests name its home: pasted into a shell whose HEATERS_HOME is
    another library, they act on the demo's (a resplice there re-cut the wrong videos)."""
    import shlex

    demo = tmp_path / "demo home [x]"  # a space and brackets: quoted, shown as text
    res = cli(tmp_path / "other", "demo", "--home", str(demo))
    assert res.code == 0, res.stderr
    lines = res.stdout.splitlines()
    hint = next(x for x in lines if "keeps every cut" in x)
    resplice = shlex.split(hint[hint.index("(heaters resplice") + 1 : hint.index(" keeps every")])
    status = shlex.split(next(x for x in lines if x.startswith("next: ")).split(", or ", 1)[1])
    assert resplice[:2] == ["heaters", "resplice"] and status[:2] == ["heaters", "status"]
    res = cli(tmp_path / "other", *resplice[1:])
    assert res.code == 0, res.stderr
    assert "0 new" not in res.stdout  # every cut kept: some clips changed
    res = cli(tmp_path / "other", *status[1:], "--json")
    assert res.json()["home"] == str(demo)  # type: ignore[index]
    assert not (tmp_path / "other").exists()


def test_home_before_the_command(home: Path, tmp_path: Path) -> None:
    """`heaters --home DIR COMMAND` uses DIR over $HEATERS_HOME; the command's own --home wins."""
    other = tmp_path / "elsewhere"
    res = cli(tmp_path / "env-home", "--home", str(home), "status", "--json")
    assert res.code == 0, res.stderr
    assert res.json()["home"] == str(home)  # type: ignore[index]
    res = cli(tmp_path / "env-home", "--home", str(home), "status", "--home", str(other), "--json")
    assert res.json()["home"] == str(other)  # type: ignore[index]
    assert not (tmp_path / "env-home").exists()
