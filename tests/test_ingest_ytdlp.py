"""What heaters hands to yt-dlp (runtime, cookies, options), what doctor says about it, and a
download killed halfway that resumes with an HTTP Range request. Real yt-dlp, servers on
127.0.0.1; YouTube itself is out of reach here, so its needs are checked by what is passed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from heaters.stages import ytdlp
from heaters.synthetic import make_video
from tests.conftest import cli
from tests.sources_server import MediaServer, media_server, small_video

CONFIG = 'detector = "content"\nmin_clip_s = 0.5\ngrace_s = 0.0\nretry_base_s = 0.0\n'


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MediaServer]:
    with media_server(tmp_path / "www") as srv:
        yield srv


@pytest.fixture
def home(tmp_path: Path) -> Path:
    root = tmp_path / "home"
    root.mkdir()
    (root / "config.toml").write_text(CONFIG)
    return root


def _cookie_file(path: Path, name: str, value: str) -> Path:
    path.write_text(
        "# Netscape HTTP Cookie File\n"
        f"127.0.0.1\tFALSE\t/\tFALSE\t{int(time.time()) + 86400}\t{name}\t{value}\n"
    )
    return path


def test_the_deno_runtime_and_the_options_reach_yt_dlp(tmp_path: Path) -> None:
    cookies = _cookie_file(tmp_path / "cookies.txt", "SID", "abc")
    params = ytdlp.params(
        ytdlp.Options(format="b[height<=720]", cookies_file=str(cookies), rate_limit="2M",
                      proxy="socks5://127.0.0.1:9050", retries=4)
    )  # fmt: skip
    deno = ytdlp.deno_path()
    assert deno is not None and os.access(deno, os.X_OK)
    assert params["js_runtimes"] == {"deno": {"path": deno}}
    assert params["cookiefile"] == str(cookies) and params["ratelimit"] == 2 << 20
    assert params["proxy"] == "socks5://127.0.0.1:9050" and params["retries"] == 4
    assert params["format"] == "b[height<=720]" and params["continuedl"] is True
    browser = ytdlp.params(ytdlp.Options(cookies_from_browser="firefox+gnomekeyring:work"))
    assert browser["cookiesfrombrowser"] == ["firefox", "work", "GNOMEKEYRING", None]
    # yt-dlp itself accepts them: it builds its runtime from our path and reports Deno's version
    import yt_dlp

    with yt_dlp.YoutubeDL(ytdlp.from_job(params)) as ydl:
        runtime = ydl._js_runtimes["deno"]
        assert runtime is not None and runtime.info is not None and runtime.info.supported
        assert ydl.params["cookiefile"] == str(cookies)
    assert ytdlp.from_job(browser)["cookiesfrombrowser"] == (
        "firefox",
        "work",
        "GNOMEKEYRING",
        None,
    )


def test_a_runtime_yt_dlp_cannot_use_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "deno"
    fake.write_text("#!/bin/sh\necho 'deno 1.0.0'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(ytdlp, "deno_path", lambda: str(fake))
    info = ytdlp.js_runtime_info()
    assert info.version == "1.0.0" and not info.supported  # yt-dlp wants Deno 2.3 or newer
    monkeypatch.setattr(ytdlp, "deno_path", lambda: None)
    assert ytdlp.js_runtime_info().path is None


def test_doctor_checks_yt_dlp_its_extras_the_runtime_and_the_options(
    home: Path, tmp_path: Path
) -> None:
    res = cli(home, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(res.stdout)}
    assert checks["yt-dlp"]["ok"] and "default extras" in checks["yt-dlp"]["detail"]
    assert checks["JavaScript runtime"]["ok"] and ytdlp.deno_path() in checks[
        "JavaScript runtime"]["detail"]  # fmt: skip
    cookies = _cookie_file(tmp_path / "c.txt", "a", "b")
    assert cli(home, "config", "cookies_file", str(cookies)).code == 0
    cookies.unlink()  # gone since it was set: doctor, ingest and run say so in one line
    res = cli(home, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(res.stdout)}
    assert res.code == 1 and not checks["yt-dlp options"]["ok"]
    assert "no such file" in checks["yt-dlp options"]["detail"]
    for args in (("ingest", "http://127.0.0.1:9/x.mp4"), ("run", "--once")):
        bad = cli(home, *args)
        assert bad.code == 2 and len(bad.stderr.strip().splitlines()) == 1, (args, bad)
        assert "cookies_file" in bad.stderr and "Traceback" not in bad.stderr
    assert cli(home, "videos", "--json").json() == []  # nothing was written
    assert cli(home, "status").code == 0  # the rest of heaters keeps working


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("ytdlp_format", "bv*[height<=720", "not a yt-dlp format"),
        ("cookies_file", "/nonexistent/cookies.txt", "no such file"),
        ("cookies_from_browser", "netscape", "unknown browser"),
        ("cookies_from_browser", "chrome+wallet", "unknown keyring"),
        ("rate_limit", "fast", "500K"),
        ("proxy", "ftp://127.0.0.1:21", "SCHEME://HOST:PORT"),
        ("retries", "many", "wants a int"),
        ("follow_every_h", "-1", ""),
        ("chapter_cuts", "perhaps", "wants a bool"),
    ],
)
def test_bad_yt_dlp_options_are_one_line_and_write_nothing(
    home: Path, key: str, value: str, why: str
) -> None:
    before = (home / "config.toml").read_text()
    res = cli(home, "config", key, "--", value) if value.startswith("-") else cli(
        home, "config", key, value)  # fmt: skip
    assert res.code == 2 and len(res.stderr.strip().splitlines()) == 1, res
    assert why in res.stderr and "Traceback" not in res.stderr
    assert (home / "config.toml").read_text() == before


def test_cookies_from_the_config_are_sent_by_the_download(
    server: MediaServer, home: Path, tmp_path: Path
) -> None:
    small_video(server.root / "members.mp4", 40)
    cookies = _cookie_file(tmp_path / "cookies.txt", "SESSION", "s3cret")
    assert cli(home, "config", "cookies_file", str(cookies)).code == 0
    assert cli(home, "config", "rate_limit", "5M").code == 0
    assert cli(home, "ingest", server.url("members.mp4"), "--quiet").code == 0
    assert cli(home, "run", "--once", "--quiet").code == 0
    assert server.cookies and all("SESSION=s3cret" in c for c in server.cookies)
    assert cli(home, "videos", "--json").json()[0]["state"] == "spliced"  # type: ignore[index]


def test_a_download_killed_halfway_resumes_with_a_range_request(
    server: MediaServer, home: Path
) -> None:
    """`kill -9` of the run in the middle of a download; the next run asks the server only for
    the bytes it lacks (HTTP Range from the .part file) and the file is whole."""
    video = make_video(server.root / "long.mp4", (3.0, 3.0, 3.0), width=320, height=180,
                       seed=41, noise=12)  # fmt: skip
    size = video.path.stat().st_size
    server.throttle["long.mp4"] = max(20_000, size // 8)  # about 8 s for the whole file
    assert cli(home, "ingest", server.url("long.mp4"), "--quiet").code == 0
    env = {**os.environ, "HEATERS_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "heaters", "run", "--once", "--quiet"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    part = home / "media" / "sources" / "1" / ".tmp-resume"
    deadline = time.monotonic() + 120
    had = 0
    while time.monotonic() < deadline and proc.poll() is None:
        parts = list(part.glob("*.part")) if part.is_dir() else []
        had = max((p.stat().st_size for p in parts), default=0)
        if had > size // 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the download ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # the yt-dlp child dies with its parent
    kept = max(p.stat().st_size for p in part.glob("*.part"))
    assert size // 3 < kept < size
    first_run = len(server.sent)
    del server.throttle["long.mp4"]
    res = cli(home, "run", "--once", "--quiet")
    assert res.code == 0, res.stderr
    resumed = [s for s in server.sent[first_run:] if s[0] == "long.mp4" and s[1] > 0]
    assert resumed, server.sent
    start, sent = resumed[-1][1], resumed[-1][2]
    assert start >= kept and start + sent == size  # only the missing bytes came again
    stored = home / "media" / "sources" / "1" / "source.mp4"
    assert stored.read_bytes() == video.path.read_bytes()
    assert not part.exists()
    assert cli(home, "videos", "--json").json()[0]["state"] == "spliced"  # type: ignore[index]


def test_identities_offline() -> None:
    """yt-dlp's own URL matching, no request: a site's video id, else the normalised URL."""
    assert ytdlp.url_key("https://vimeo.com/76979871") == "vimeo:76979871"
    assert ytdlp.url_key("https://youtu.be/dQw4w9WgXcQ") == ytdlp.url_key(
        "https://www.youtube.com/embed/dQw4w9WgXcQ?start=3")  # fmt: skip
    a = ytdlp.url_key("HTTP://127.0.0.1:8000/clips/a.mp4#t=3")
    assert a == "url:http://127.0.0.1:8000/clips/a.mp4"
    assert ytdlp.url_key("http://127.0.0.2:8000/clips/a.mp4") != a  # same file name, other host


def test_which_flat_entries_are_lists_themselves() -> None:
    """A channel's tabs are opened (their videos are the entries); videos and feed items never."""
    from heaters.stages.probe_child import is_list

    tab = {"_type": "url", "ie_key": "YoutubeTab", "url": "https://www.youtube.com/@x/videos"}
    assert is_list(tab, tab["url"])
    video = {"_type": "url", "ie_key": "Youtube", "id": "dQw4w9WgXcQ",
             "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}  # fmt: skip
    assert not is_list(video, video["url"])
    item = {"_type": "url_transparent", "url": "http://127.0.0.1:8000/a.mp4"}
    assert not is_list(item, item["url"])
    listed = {"_type": "url", "url": "https://www.youtube.com/playlist?list=PL0123456789abcdef"}
    assert is_list(listed, listed["url"])
