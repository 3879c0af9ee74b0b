"""The bad-input corpus: what the internet (and the operator's disk) really hands heaters.

All sources are ingested into one home and run together, as a cron job would meet them: every
bad one ends with a clear one-line reason (or is handled right: odd sizes, rotation, variable frame
rate, hostile titles), and the good ones beside them are processed as if nothing happened. The
HTTP server answers fixed routes, so titles yt-dlp derives from URLs and pages can be hostile.
(tests/test_cli.py has the same kinds of broken files as local paths; here they come over HTTP.)
"""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from heaters.synthetic import SyntheticVideo, ffmpeg_exe, make_video
from tests import faultkit as fk
from tests.conftest import free_port


class _Routes(http.server.BaseHTTPRequestHandler):
    """Fixed answers per raw request path: (status, content type or redirect target, body)."""

    routes: dict[str, tuple[int, str, bytes]] = {}

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, body: bool) -> None:
        status, ctype, data = self.routes.get(self.path, (404, "text/plain", b"not found"))
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", ctype)
            data = b""
        else:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer(True)

    def do_HEAD(self) -> None:
        self._answer(False)


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


LONG = "A very long title " * 200  # 3,600 characters
HOSTILE_TITLE = "../../../etc/passwd &#0; \x1b[2J\x1b]0;pwned\x07 \u202eevil\u202c line\nbreak"
PAGE = "<html><head><title>{}</title></head><body><video src='/v/clip.mp4'></video></body></html>"


@dataclass
class Corpus:
    media: dict[str, Path]
    good: SyntheticVideo
    vfr: SyntheticVideo
    one_shot: SyntheticVideo


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    d = tmp_path_factory.mktemp("corpus")
    good = make_video(d / "good.mp4", (1.0, 1.2, 0.8), width=160, height=90, seed=3)
    vfr = make_video(d / "vfr.mp4", (1.0, 1.0, 1.0), width=160, height=90, seed=6, vfr=True)
    one_shot = make_video(d / "one_shot.mp4", (2.0,), width=160, height=90, seed=4)
    m = {"good": good.path, "vfr": vfr.path, "one_shot": one_shot.path}
    src = "testsrc2=s=160x90:r=30"
    m["one_frame"] = d / "one_frame.mp4"
    _ffmpeg("-f", "lavfi", "-i", src, "-frames:v", "1", "-c:v", "libx264", str(m["one_frame"]))
    m["odd_444"] = d / "odd_444.mp4"
    _ffmpeg("-f", "lavfi", "-i", f"{src},scale=161:91", "-t", "2", "-c:v", "libx264",
            "-pix_fmt", "yuv444p", str(m["odd_444"]))  # fmt: skip
    m["odd_mpeg4"] = d / "odd_mpeg4.mkv"
    _ffmpeg("-f", "lavfi", "-i", f"{src},scale=161:91", "-t", "2", "-c:v", "mpeg4",
            str(m["odd_mpeg4"]))  # fmt: skip
    m["rotated"] = d / "rotated.mp4"
    _ffmpeg("-display_rotation", "90", "-i", str(good.path), "-c", "copy", str(m["rotated"]))
    m["audio"] = d / "audio.m4a"
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=2", "-c:a", "aac", str(m["audio"]))
    data = good.path.read_bytes()
    m["truncated"] = d / "truncated.mp4"
    m["truncated"].write_bytes(data[: len(data) * 2 // 5])
    corrupt = bytearray(data)
    mid = len(data) // 2
    corrupt[mid : mid + 3000] = bytes((i * 37 + 11) % 256 for i in range(3000))
    m["corrupt_middle"] = d / "corrupt_middle.mp4"
    m["corrupt_middle"].write_bytes(bytes(corrupt))
    return Corpus(m, good, vfr, one_shot)


@pytest.fixture(scope="module")
def server(corpus: Corpus) -> Iterator[str]:
    m = corpus.media
    video = "video/mp4"
    routes = {
        "/v/clip.mp4": (200, video, m["good"].read_bytes()),
        "/v/good.mp4": (200, video, m["good"].read_bytes()),
        "/nothing.html": (200, "text/html", b"<html><title>hi</title><body>no video</body></html>"),
        "/notes.mp4": (200, video, b"this is not a video\n" * 50),
        "/empty.mp4": (200, video, b""),
        "/redirect.mp4": (302, "file:///etc/passwd", b""),
        "/long.html": (200, "text/html", PAGE.format(LONG).encode()),
        "/hostile.html": (200, "text/html", PAGE.format(HOSTILE_TITLE).encode()),
        "/v/%C3%9Cn%C3%AFc%C3%B8d%C3%A9%20%F0%9F%8E%AC.mp4": (200, video, m["good"].read_bytes()),
        "/v/%2E%2E%2F%2E%2E%2Fevil%00name%0A.mp4": (200, video, m["good"].read_bytes()),
        # the same path as yt-dlp's requests handler sends it (RFC 3986 6.2.2.2: %2E is '.')
        "/v/..%2F..%2Fevil%00name%0A.mp4": (200, video, m["good"].read_bytes()),
    }
    for name in ("audio", "truncated", "corrupt_middle", "one_frame", "odd_444", "odd_mpeg4",
                 "rotated", "vfr", "one_shot"):  # fmt: skip
        path = m[name]
        routes[f"/m/{path.name}"] = (200, video, path.read_bytes())
    _Routes.routes = routes
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Routes)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@dataclass
class Outcome:
    home: Path
    ids: dict[str, int]
    videos: dict[int, dict]
    clips: dict[int, list[dict]]
    cwd: Path


@pytest.fixture(scope="module")
def outcome(corpus: Corpus, server: str, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    root = tmp_path_factory.mktemp("badrun")
    home = fk.make_home(root / "home")
    (home / "config.toml").write_text("retry_base_s = 600.0\nmin_clip_s = 0.5\n")
    m = corpus.media
    sources = {
        "404": f"{server}/missing.mp4",
        "refused": f"http://127.0.0.1:{free_port()}/video.mp4",
        "html_page": f"{server}/nothing.html",
        "redirect_to_file": f"{server}/redirect.mp4",
        "not_a_video": f"{server}/notes.mp4",
        "zero_bytes": f"{server}/empty.mp4",
        "truncated": f"{server}/m/truncated.mp4",
        "audio_only": f"{server}/m/audio.m4a",
        "corrupt_middle": f"{server}/m/corrupt_middle.mp4",
        "one_frame": f"{server}/m/one_frame.mp4",
        "no_cuts": f"{server}/m/one_shot.mp4",
        "odd_444": f"{server}/m/odd_444.mp4",
        "odd_mpeg4": str(m["odd_mpeg4"]),
        "rotated": f"{server}/m/rotated.mp4",
        "vfr": f"{server}/m/vfr.mp4",
        "long_title": f"{server}/long.html",
        "hostile_title": f"{server}/hostile.html",
        "unicode_title": f"{server}/v/%C3%9Cn%C3%AFc%C3%B8d%C3%A9%20%F0%9F%8E%AC.mp4",
        "dotdot_nul_title": f"{server}/v/%2E%2E%2F%2E%2E%2Fevil%00name%0A.mp4",
        "good_url": f"{server}/v/good.mp4",
        "good_file": str(m["good"]),
    }
    cwd = root / "cwd"  # the run's working folder: nothing may appear here
    cwd.mkdir()
    res = fk.heaters(home, "ingest", *sources.values(), "--json")
    assert res.code == 0, res.stderr
    ids = dict(zip(sources, [r["id"] for r in json.loads(res.stdout)], strict=True))
    run = fk.heaters(home, "run", "--quiet", cwd=cwd)
    # rc 1: items failed for good in this run; one line per failed attempt, even with --quiet
    assert run.code == 1 and "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.splitlines()
    assert lines and all(line.startswith(("video ", "clip ")) for line in lines), lines
    assert any("next attempt at 20" in line for line in lines), lines  # a retry says when
    videos = {v["id"]: v for v in json.loads(fk.heaters(home, "videos", "--json").stdout)}
    clips: dict[int, list[dict]] = {}
    for c in json.loads(fk.heaters(home, "clips", "--json").stdout):
        clips.setdefault(c["source_video_id"], []).append(c)
    return Outcome(home, ids, videos, clips, cwd)


def _v(o: Outcome, name: str) -> dict:
    return o.videos[o.ids[name]]


def _failed(o: Outcome, name: str, state: str, *needles: str) -> None:
    v = _v(o, name)
    error = v["last_error"] or ""
    assert v["state"] == state, (name, v)
    assert all(n in error.lower() for n in needles), (name, error)
    assert "\n" not in error and len(error) <= 500 and "Traceback" not in error
    assert o.clips.get(v["id"], []) == []


def _tiles(o: Outcome, name: str) -> list[dict]:
    """The video was spliced, its clips tile it exactly and have their sprites."""
    v = _v(o, name)
    assert v["state"] == "spliced", (name, v)
    clips = o.clips[v["id"]]
    assert clips[0]["start_frame"] == 0 and clips[-1]["end_frame"] == v["frame_count"]
    for a, b in zip(clips, clips[1:], strict=False):
        assert a["end_frame"] == b["start_frame"] and a["end_time_s"] == b["start_time_s"]
    assert {c["state"] for c in clips} == {"pending_review"}, (name, clips)
    return clips


# ---------------------------------------------------------------- failures, one line each


def test_404_fails_for_good(outcome: Outcome) -> None:
    _failed(outcome, "404", "download_failed", "404")


def test_refused_port_waits_for_a_retry(outcome: Outcome) -> None:
    _failed(outcome, "refused", "new", "refused")
    assert _v(outcome, "refused")["attempts"] == 1


def test_html_page_without_video(outcome: Outcome) -> None:
    _failed(outcome, "html_page", "download_failed", "unsupported url")


def test_redirect_to_a_local_file_is_not_followed(outcome: Outcome) -> None:
    v = _v(outcome, "redirect_to_file")
    assert v["state"] in ("new", "download_failed")
    # urllib says "302"; yt-dlp's requests handler (yt-dlp[default]) refuses the file: scheme
    assert "302" in v["last_error"] or "file:///etc/passwd" in v["last_error"]
    assert v["filepath"] is None


def test_not_a_video(outcome: Outcome) -> None:
    _failed(outcome, "not_a_video", "download_failed", "not a readable video")


def test_zero_bytes_is_retried_later(outcome: Outcome) -> None:
    _failed(outcome, "zero_bytes", "new", "no data (0 bytes)")


def test_audio_only(outcome: Outcome) -> None:
    _failed(outcome, "audio_only", "download_failed", "no video stream")


def test_truncated_mp4_splices_what_decodes(outcome: Outcome, corpus: Corpus) -> None:
    clips = _tiles(outcome, "truncated")
    n = _v(outcome, "truncated")["frame_count"]
    assert 0 < n < corpus.good.frame_count and clips[-1]["end_frame"] == n


# ---------------------------------------------------------------- damaged or odd, still works


def test_corrupt_middle_still_splices(outcome: Outcome, corpus: Corpus) -> None:
    v = _v(outcome, "corrupt_middle")
    assert v["state"] == "spliced", v
    clips = outcome.clips[v["id"]]
    assert clips[0]["start_frame"] == 0 and clips[-1]["end_frame"] == v["frame_count"]
    assert v["frame_count"] >= corpus.good.frame_count * 0.8  # frames after the damage too
    for c in clips:  # a clip in the damaged stretch may lose its sprite, saying why
        assert c["state"] == "pending_review" or (c["last_error"] and "\n" not in c["last_error"])
    assert sum(c["state"] == "pending_review" for c in clips) >= 2


def test_one_frame_video(outcome: Outcome) -> None:
    clips = _tiles(outcome, "one_frame")
    assert [(c["start_frame"], c["end_frame"]) for c in clips] == [(0, 1)]


def test_video_without_cuts_is_one_clip(outcome: Outcome, corpus: Corpus) -> None:
    clips = _tiles(outcome, "no_cuts")
    assert len(clips) == 1 and clips[0]["end_frame"] == corpus.one_shot.frame_count


@pytest.mark.parametrize("name", ["odd_444", "odd_mpeg4"])
def test_odd_dimensions(outcome: Outcome, name: str) -> None:
    _tiles(outcome, name)
    v = _v(outcome, name)
    assert (v["width"], v["height"]) == (161, 91)


def test_rotated_video_is_processed_like_its_original(outcome: Outcome) -> None:
    """Rotation metadata (a phone video) changes nothing about cuts and frames. (Sprites and
    keyframes are drawn as coded, not turned upright: see docs/robustness.md.)"""
    rotated, original = _tiles(outcome, "rotated"), _tiles(outcome, "good_file")
    assert [c["start_frame"] for c in rotated] == [c["start_frame"] for c in original]


def test_variable_frame_rate_times_come_from_timestamps(outcome: Outcome, corpus: Corpus) -> None:
    clips = _tiles(outcome, "vfr")
    times = corpus.vfr.frame_times
    for c in clips:
        assert c["start_time_s"] == pytest.approx(times[c["start_frame"]], abs=1e-3)
    assert [c["start_frame"] for c in clips[1:]] == list(corpus.vfr.cuts)


# ---------------------------------------------------------------- hostile or odd titles


def test_titles_are_one_clean_bounded_line(outcome: Outcome) -> None:
    for name in ("long_title", "hostile_title", "unicode_title", "dotdot_nul_title"):
        v = _v(outcome, name)
        assert v["state"] == "spliced", (name, v)
        title = v["title"]
        assert title and len(title) <= 300, (name, title)
        assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in title), (name, title)
        assert v["filepath"] == f"media/sources/{v['id']}/source.mp4"
    assert _v(outcome, "unicode_title")["title"] == "Ünïcødé 🎬"
    assert _v(outcome, "dotdot_nul_title")["title"].startswith("../../evil")
    listing = fk.heaters(outcome.home, "videos").stdout
    assert len(listing.splitlines()) == len(outcome.videos)  # one line per video, always
    assert "\x1b" not in listing


def test_nothing_is_written_outside_the_home(outcome: Outcome) -> None:
    assert list(outcome.cwd.iterdir()) == []
    allowed = {"config.toml", "heaters.db", "heaters.db-shm", "heaters.db-wal", "media", "run.lock",
               "home.id"}  # fmt: skip
    assert {p.name for p in outcome.home.iterdir()} <= allowed
    for path in (outcome.home / "media").rglob("*"):
        rel = path.relative_to(outcome.home / "media").parts
        assert rel[0] in ("sources", "clips") and all(p.isdigit() for p in rel[1:2]), rel


def test_duplicate_url_is_registered_once(outcome: Outcome, server: str) -> None:
    url = f"{server}/v/good.mp4"
    res = fk.heaters(outcome.home, "ingest", url, url, "--json")
    assert res.code == 0
    rows = json.loads(res.stdout)
    assert {r["id"] for r in rows} == {outcome.ids["good_url"]} and not any(
        r["created"] for r in rows
    )


# ---------------------------------------------------------------- and the rest is unharmed


def test_good_videos_beside_the_bad_are_untouched(outcome: Outcome, corpus: Corpus) -> None:
    for name in ("good_url", "good_file"):
        clips = _tiles(outcome, name)
        assert [c["start_frame"] for c in clips[1:]] == list(corpus.good.cuts)
    problems = fk.integrity(outcome.home)
    assert problems == [], problems
    status = json.loads(fk.heaters(outcome.home, "status", "--json").stdout)
    for row in status["failed_videos"]:
        assert "\n" not in row["last_error"]


# ---------------------------------------------------------------- servers that never finish


class _Slow(http.server.BaseHTTPRequestHandler):
    """`/trickle.mp4`: headers, then one byte every 1.5 s; `/headers.mp4`: one header line every
    1.5 s, never a body; `/endless.mp4`: a body that never ends, as fast as it goes."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        import time

        try:
            if self.path == "/trickle.mp4":
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                for _ in range(400):
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                    time.sleep(1.5)
            elif self.path == "/headers.mp4":
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for i in range(400):
                    self.wfile.write(f"X-Slow-{i}: yes\r\n".encode())
                    self.wfile.flush()
                    time.sleep(1.5)
            elif self.path == "/endless.mp4":
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.end_headers()
                block = bytes(range(256)) * 256
                while True:
                    self.wfile.write(block)
            else:
                self.send_error(404)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def slow_server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_stalled_and_endless_downloads_fail_alone(
    slow_server: str, corpus: Corpus, tmp_path: Path
) -> None:
    """A trickling body, trickling headers and an endless body each end with a one-line reason
    (stalled: retried later; too large: failed for good) and the local file queued behind them
    is processed in the same run."""
    import time

    home = fk.make_home(tmp_path / "home", lease_s=60)
    (home / "config.toml").write_text(
        "retry_base_s = 600.0\nmin_clip_s = 0.5\ndownload_stall_s = 10.0\nmax_source_mb = 1.0\n"
    )
    names = ("trickle.mp4", "headers.mp4", "endless.mp4")
    res = fk.heaters(
        home, "ingest", *(f"{slow_server}/{n}" for n in names), str(corpus.media["good"]), "--json"
    )
    ids = [r["id"] for r in json.loads(res.stdout)]
    started = time.monotonic()
    run = fk.heaters(home, "run", "--quiet", timeout=120)
    took = time.monotonic() - started
    assert run.code == 1 and "Traceback" not in run.stderr, run  # a source failed for good
    assert took < 90, took
    videos = {v["id"]: v for v in json.loads(fk.heaters(home, "videos", "--json").stdout)}
    for vid in ids[:2]:
        v = videos[vid]
        assert (v["state"], v["attempts"]) == ("new", 1), v
        assert "stalled" in v["last_error"] and "\n" not in v["last_error"], v
    endless = videos[ids[2]]
    assert endless["state"] == "download_failed", endless
    assert "larger than the limit" in endless["last_error"], endless
    assert videos[ids[3]]["state"] == "spliced"
    # a stalled download keeps what came (its resume folder), for the next attempt to go on from;
    # the one that failed for good keeps nothing
    for vid in ids[:2]:
        left = [p.name for p in (home / "media" / "sources" / str(vid)).glob("*")]
        assert left in ([], [".tmp-resume"]), left
    assert not list((home / "media" / "sources" / str(ids[2])).glob("*"))
    temps = [p for p in (home / "media").rglob("*") if p.name.startswith(".tmp-")]
    assert all(p.name == ".tmp-resume" for p in temps), temps


def test_ctrl_c_during_a_stalled_download_stops_at_once(slow_server: str, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    home = fk.make_home(tmp_path / "home", lease_s=60)
    assert fk.heaters(home, "ingest", f"{slow_server}/trickle.mp4", "--quiet").code == 0
    env = {**__import__("os").environ, "HEATERS_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "heaters", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list((home / "media" / "sources" / "1").glob(".tmp-*")):
        assert time.monotonic() < deadline and proc.poll() is None, fk.output_of(proc)
        time.sleep(0.1)
    time.sleep(2.0)  # the downloader is running, waiting for bytes
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and time.monotonic() - sent < 2.0, err
    assert len(err.strip().splitlines()) == 1, err
    v = json.loads(fk.heaters(home, "videos", "--json").stdout)[0]
    assert (v["state"], v["attempts"]) == ("new", 0), v
    # only what came of the download stays, for the next run to go on from (HTTP Range)
    left = list((home / "media" / "sources" / "1").iterdir())
    assert [p.name for p in left] in ([], [".tmp-resume"]), left


def test_a_stream_whose_size_changes_midway_is_spliced_to_the_end(tmp_path: Path) -> None:
    """A `.ts` of 320x240 then 640x360 (two broadcasts cut together): every frame is measured
    at the stream's first size, so the whole video is cut into clips, the join among the cuts."""
    parts = []
    for name, size, src in (("a", "320x240", "testsrc2"), ("b", "640x360", "testsrc")):
        part = tmp_path / f"{name}.ts"
        _ffmpeg("-f", "lavfi", "-i", f"{src}=s={size}:r=30", "-t", "2", "-c:v", "libx264",
                "-f", "mpegts", str(part))  # fmt: skip
        parts.append(part.read_bytes())
    video = tmp_path / "changes.ts"
    video.write_bytes(b"".join(parts))
    home = fk.make_home(tmp_path / "home")
    assert fk.heaters(home, "ingest", str(video), "--quiet").code == 0
    res = fk.heaters(home, "run", "--quiet")
    assert res.code == 0, res
    v = json.loads(fk.heaters(home, "videos", "--json").stdout)[0]
    assert v["state"] == "spliced" and v["frame_count"] == 120, v
    clips = json.loads(fk.heaters(home, "clips", "--json").stdout)
    assert [c["state"] for c in clips] == ["pending_review"] * 2, clips
    assert [c["start_frame"] for c in clips] == [0, 60], clips  # the join is a cut
