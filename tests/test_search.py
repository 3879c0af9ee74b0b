"""Similarity and text search end to end, with the real model on real (synthetic) footage."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from heaters.stages.text_encoder import query_labels
from heaters.synthetic import SyntheticVideo, ffmpeg_exe, make_video
from tests.conftest import cli


def _approve_all_and_run(home: Path) -> list[dict]:
    for clip in cli(home, "clips", "--state", "pending_review", "--json").json():  # type: ignore[union-attr]
        assert cli(home, "review", "approve", str(clip["id"]), "--quiet").code == 0
    res = cli(home, "run", "--grace", "0", "--quiet")
    assert res.code == 0, res.stderr
    return cli(home, "clips", "--json").json()  # type: ignore[return-value]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SyntheticVideo, Path]:
    """One video, and a copy of it re-encoded at half resolution: every clip has a twin."""
    root = tmp_path_factory.mktemp("search")
    original = make_video(root / "orig.mp4", (1.5, 1.5, 1.5, 1.5, 1.5), seed=21)
    half = root / "half.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-i", str(original.path), "-vf", "scale=160:90",
         "-c:v", "libx264", "-crf", "28", "-preset", "veryfast", str(half)],
        check=True,
    )  # fmt: skip
    home = root / "home"
    assert cli(home, "ingest", str(original.path), str(half)).code == 0
    assert cli(home, "run", "--quiet").code == 0
    _approve_all_and_run(home)
    return home, original, half


def test_every_clip_finds_its_half_resolution_twin_first(
    library: tuple[Path, SyntheticVideo, Path],
) -> None:
    home, _, _ = library
    clips = cli(home, "clips", "--json").json()
    assert clips and all(c["state"] == "embedded" for c in clips)  # type: ignore[union-attr]
    by_video: dict[int, list[dict]] = {}
    for c in clips:  # type: ignore[union-attr]
        by_video.setdefault(c["source_video_id"], []).append(c)
    a, b = (sorted(v, key=lambda c: c["start_frame"]) for v in by_video.values())
    assert len(a) == len(b) == 5
    for left, right in zip(a, b, strict=True):
        res = cli(home, "similar", str(left["id"]), "-k", "3", "--json")
        assert res.code == 0, res.stderr
        hits = res.json()
        assert hits[0]["clip_id"] == right["id"], hits  # type: ignore[index]
        assert all(h["clip_id"] != left["id"] for h in hits)  # type: ignore[union-attr]
        assert set(hits[0]) >= {
            "clip_id",
            "score",
            "source_video_id",
            "start_time_s",
            "end_time_s",
            "tags",
        }  # type: ignore[index]
        assert 0 < hits[0]["score"] <= 100  # type: ignore[index]
    # --video limits the candidates
    only = cli(
        home, "similar", str(a[0]["id"]), "--video", str(a[0]["source_video_id"]), "--json"
    ).json()
    assert {h["source_video_id"] for h in only} == {a[0]["source_video_id"]}  # type: ignore[union-attr]


def test_tags_and_text_search(library: tuple[Path, SyntheticVideo, Path]) -> None:
    home, _, _ = library
    clips = cli(home, "clips", "--json").json()
    assert all(len(c["tags"]) == 5 for c in clips)  # type: ignore[union-attr]
    label = clips[0]["tags"][0][0]  # type: ignore[index]
    res = cli(home, "search", label, "--json")
    assert res.code == 0, res.stderr
    hits = res.json()
    assert hits and any(label in [t[0] for t in h["tags"]] for h in hits[:2])  # type: ignore[union-attr]
    # every hit carries a label the query names; a query naming no class says so, not guesses
    named = set(query_labels(label)[1])
    assert all(named & {t[0] for t in h["tags"]} for h in hits)  # type: ignore[union-attr]
    res = cli(home, "search", "happy")
    assert res.code == 0 and "no results" in res.stdout and "no ImageNet class" in res.stderr
    assert cli(home, "search", "happy", "--json").json() == []


def test_superseded_clips_never_appear(
    tmp_path: Path, library: tuple[Path, SyntheticVideo, Path]
) -> None:
    home, original, _ = library
    clips = cli(home, "clips", "--json").json()
    first = min(clips, key=lambda c: c["id"])  # type: ignore[union-attr]
    # a new pending clip (split of nothing yet): merge the twin's first two clips into one
    twin = [c for c in clips if c["source_video_id"] != first["source_video_id"]]  # type: ignore[union-attr]
    target = sorted(twin, key=lambda c: c["start_frame"])[1]
    # an embedded clip cannot be merged directly: undo its approval first, then merge
    events = cli(home, "events", "--clip", str(target["id"]), "--json").json()
    assert cli(home, "review", "undo", str(events[0]["id"])).code == 0  # type: ignore[index]
    assert cli(home, "review", "merge", str(target["id"])).code == 0
    assert cli(home, "run", "--grace", "0", "--quiet").code == 0
    superseded = {c["id"] for c in cli(home, "clips", "--json").json() if c["state"] == "merged"}  # type: ignore[union-attr]
    assert len(superseded) == 2
    for c in clips:  # type: ignore[union-attr]
        if c["id"] in superseded:
            continue
        hits = cli(home, "similar", str(c["id"]), "-k", "20", "--json").json()
        assert not superseded & {h["clip_id"] for h in hits}  # type: ignore[union-attr]
    assert cli(home, "events", "--check").code == 0
    merged_clip = [c for c in cli(home, "clips", "--json").json() if c["origin"] == "merge"][0]  # type: ignore[union-attr]
    res = cli(home, "similar", str(merged_clip["id"]))  # pending review: no embedding yet
    assert res.code == 2 and "no efficientnet_lite0 embedding" in res.stderr


def test_bad_requests_exit_2(library: tuple[Path, SyntheticVideo, Path]) -> None:
    home, _, _ = library
    for args in (["similar", "99999"], ["search", "  "], ["similar", "1", "--model", "nope"]):
        res = cli(home, *args)
        assert res.code == 2, (args, res)
        assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr


# ---------------------------------------------------------------- the grid in a terminal

HIT_LINE = re.compile(r"^ *\d+\.\d%  clip (\d+) +video \d+ +\d+\.\d\d-\d+\.\d\ds  .*$")
SGR = re.compile(r"\x1b\[[0-9;]*m")


def on_a_tty(
    home: Path, *args: str, columns: int = 120, pixels: tuple[int, int] = (0, 0)
) -> tuple[int, str]:
    """Run `heaters` with stdout on a real pseudo-terminal (stdin and stderr too), as a shell
    would; returns its exit code and everything it printed, escapes included. `pixels`: the
    window's size in pixels as the terminal reports it (0: unknown, as over a plain pty)."""
    master, slave = os.openpty()
    size = struct.pack("HHHH", 40, columns, *pixels)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
    env = {**os.environ, "HEATERS_HOME": str(home), "TERM": "xterm-256color",
           "COLORTERM": "truecolor"}  # fmt: skip
    for name in ("TMUX", "COLUMNS", "LINES"):  # the size is the terminal's
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "heaters", *args], stdin=slave, stdout=slave, stderr=slave,
        env=env, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            proc.kill()
            raise AssertionError("no output for 120 s")
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(60), b"".join(chunks).decode("utf-8", "replace")


def test_search_and_similar_show_a_thumbnail_grid_on_a_terminal(
    library: tuple[Path, SyntheticVideo, Path],
) -> None:
    home, _, _ = library
    clips = cli(home, "clips", "--json").json()
    first = min(clips, key=lambda c: c["id"])  # type: ignore[union-attr]
    expected = cli(home, "similar", str(first["id"]), "-k", "4", "--json").json()
    ids = [h["clip_id"] for h in expected]  # type: ignore[union-attr]
    assert len(ids) == 4
    code, shown = on_a_tty(home, "similar", str(first["id"]), "-k", "4", "--images", "halfcell")
    assert code == 0, shown
    plain = SGR.sub("", shown)
    assert "\u2580" in plain and "\x1b[38;2;" in shown  # half blocks, in colour
    captions = [int(m) for m in re.findall(r"#(\d+) \d+\.\d%", plain)]
    assert captions == ids  # every hit, best first, each with its id and score
    for hit in expected:  # type: ignore[union-attr]
        assert f"#{hit['clip_id']} {hit['score']:.1f}%" in plain
        assert hit["tags"][0][0] in plain  # its label
    assert not any(HIT_LINE.match(line) for line in plain.splitlines())  # no text listing
    # 120 columns hold four 24-cell thumbnails: the four captions share one line
    assert any(len(re.findall(r"#\d+ ", line)) == 4 for line in plain.splitlines())
    # --no-grid and --images none: the text lines, even on a terminal
    for flag in (("--no-grid",), ("--images", "none")):
        code, shown = on_a_tty(home, "similar", str(first["id"]), "-k", "4", *flag)
        lines = [ln for ln in SGR.sub("", shown).splitlines() if HIT_LINE.match(ln)]
        assert code == 0 and [int(HIT_LINE.match(ln).group(1)) for ln in lines] == ids  # type: ignore[union-attr]
        assert "\u2580" not in shown
    # search draws the grid too (stderr says which classes it searched)
    label = first["tags"][0][0]  # type: ignore[index]
    code, shown = on_a_tty(home, "search", label, "-k", "3", "--images", "halfcell")
    assert code == 0 and "\u2580" in shown and "classes:" in shown
    # --json on a terminal is the JSON document, nothing else
    code, shown = on_a_tty(home, "similar", str(first["id"]), "-k", "4", "--json")
    assert code == 0 and json.loads(shown) == expected


def test_pipes_get_the_text_lines(library: tuple[Path, SyntheticVideo, Path]) -> None:
    home, _, _ = library
    clips = cli(home, "clips", "--json").json()
    first = min(clips, key=lambda c: c["id"])  # type: ignore[union-attr]
    hits = cli(home, "similar", str(first["id"]), "-k", "4", "--json").json()
    expected = [h["clip_id"] for h in hits]  # type: ignore[union-attr]
    for images in ("auto", "halfcell", "tgp"):  # whatever --images says, a pipe gets text
        res = cli(home, "similar", str(first["id"]), "-k", "4", "--images", images)
        lines = res.stdout.splitlines()
        assert res.code == 0 and all(HIT_LINE.match(ln) for ln in lines), res.stdout
        assert [int(HIT_LINE.match(ln).group(1)) for ln in lines] == expected  # type: ignore[union-attr]
        assert "\x1b" not in res.stdout and "\u2580" not in res.stdout
    res = cli(home, "search", "x", "--images", "paint")
    assert res.code == 2 and "unknown --images mode" in res.stderr and res.stdout == ""


def test_graphics_modes_on_a_terminal_that_reports_its_pixel_size(
    library: tuple[Path, SyntheticVideo, Path],
) -> None:
    """tgp sends each picture once and places it with Unicode placeholders (so it sits in the
    grid); sixel draws one clip per row. Where the terminal reports no pixel size, images cannot
    be sized: half blocks, and a line on stderr saying so."""
    home, _, _ = library
    first = min(cli(home, "clips", "--json").json(), key=lambda c: c["id"])  # type: ignore[union-attr]
    args = ("similar", str(first["id"]), "-k", "3", "--images")
    code, shown = on_a_tty(home, *args, "tgp", pixels=(1200, 800))
    plain = SGR.sub("", shown)
    assert (
        code == 0
        and len(set(re.findall(r"\x1b_Gi=(\d+),m=\d,f=100", shown))) == 3
        and "\U0010eeee" in shown
    )
    assert len(re.findall(r"#\d+ \d+\.\d%", plain)) == 3
    assert any(len(re.findall(r"#\d+ ", line)) == 3 for line in plain.splitlines())  # one row
    code, shown = on_a_tty(home, *args, "sixel", pixels=(1200, 800))
    plain = SGR.sub("", shown)
    assert code == 0 and shown.count("\x1bP") == 3 and "\u2580" not in shown
    assert len(re.findall(r"#\d+ \d+\.\d%", plain)) == 3
    code, shown = on_a_tty(home, *args, "tgp")  # no pixel size: textual-image assumes one
    assert code == 0 and "\U0010eeee" in shown and "Traceback" not in shown
    code, shown = on_a_tty(home, *args, "tgp", columns=0)  # no size at all: it cannot draw
    assert code == 0 and "reports no pixel size; drew half blocks" in shown
    assert "\u2580" in shown and "\U0010eeee" not in shown and "Traceback" not in shown
