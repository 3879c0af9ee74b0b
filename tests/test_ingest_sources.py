"""Real sources, from the command line as a new user types it (issue 14): pages, feeds and HLS
through real yt-dlp against servers on 127.0.0.1; follows re-checked by `run`; one video one row;
metadata and chapter cuts; `rm`. YouTube itself cannot be reached here: its identities are tested
offline (yt-dlp's own URL matching) and its options by what is passed to yt-dlp."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import cli
from tests.sources_server import MediaServer, hls_copy, media_server, page, small_video

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


def _videos(home: Path) -> list[dict]:
    res = cli(home, "videos", "--json")
    assert res.code == 0, res.stderr
    return res.json()  # type: ignore[return-value]


def _media_files(home: Path) -> list[Path]:
    return sorted(p for p in (home / "media").rglob("*") if p.is_file())


def test_a_page_of_videos_is_a_playlist_registered_flat_then_run(
    server: MediaServer, home: Path
) -> None:
    """Three <video> elements (one of them HLS): three videos, nothing downloaded at ingest; the
    run downloads and splices each."""
    a = small_video(server.root / "a.mp4", 1)
    small_video(server.root / "b.mp4", 2, (0.8, 1.2))
    hls_copy(small_video(server.root / "src-c.mp4", 3).path, server.root, "c")
    (server.root / "page.html").write_text(page(["a.mp4", "b.mp4", "c.m3u8"]))
    res = cli(home, "ingest", server.url("page.html"))
    assert res.code == 0, res.stderr
    assert "3 entries, 3 registered" in res.stdout
    rows = _videos(home)
    assert [r["state"] for r in rows] == ["new"] * 3
    assert [r["url"].rsplit("/", 1)[-1] for r in rows] == ["a.mp4", "b.mp4", "c.m3u8"]
    assert server.requests["a.mp4"] == 0 and server.requests["b.mp4"] == 0  # flat: no download
    assert _media_files(home) == []
    # the same video by its own URL, or the page again: no new row
    again = cli(home, "ingest", server.url("a.mp4"), server.url("page.html"), "--json")
    assert again.code == 0 and not any(r["created"] for r in again.json())  # type: ignore[union-attr]
    run = cli(home, "run", "--once", "--quiet")
    assert run.code == 0, run.stderr
    rows = _videos(home)
    assert [r["state"] for r in rows] == ["spliced"] * 3, rows
    assert rows[0]["frame_count"] == a.frame_count
    assert rows[2]["frame_count"] and rows[2]["filepath"].endswith(".mp4")  # HLS remuxed


def test_feeds_and_link_pages_with_since_and_limit(server: MediaServer, home: Path) -> None:
    for i, name in enumerate(("old.mp4", "mid.mp4", "new.mp4")):
        small_video(server.root / name, 10 + i)
    base = server.url("")
    (server.root / "feed.rss").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>A feed</title>'
        f"<item><title>New one</title><pubDate>Tue, 02 Jan 2024 10:00:00 GMT</pubDate>"
        f'<enclosure url="{base}new.mp4" type="video/mp4"/></item>'
        f"<item><title>Middle</title><pubDate>Mon, 01 May 2023 10:00:00 GMT</pubDate>"
        f"<link>{base}mid.mp4</link></item>"
        f"<item><title>Old one</title><pubDate>Sat, 01 Jan 2022 10:00:00 GMT</pubDate>"
        f'<enclosure url="{base}old.mp4" type="video/mp4"/></item>'
        "</channel></rss>"
    )
    (server.root / "feed.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>An Atom feed</title>"
        f'<entry><title>Atom new</title><link rel="alternate" href="{base}new.mp4"/>'
        "<published>2024-01-02T10:00:00+00:00</published><author><name>Ann</name></author></entry>"
        f'<entry><title>Atom old</title><link rel="alternate" href="{base}old.mp4"/>'
        "<published>2022-01-01T10:00:00+00:00</published></entry></feed>"
    )
    (server.root / "links.html").write_text(
        "<html><head><title>Links</title></head><body>"
        '<a href="old.mp4">old</a> <a href="/mid.mp4">mid</a> <a href="about.html">about</a>'
        "</body></html>"
    )
    limited = cli(home, "ingest", server.url("feed.xml"), "--limit", "1", "--json")
    assert limited.code == 0, limited.stderr
    got = limited.json()
    assert [(r["title"], r["created"]) for r in got] == [("Atom new", True)]  # type: ignore[union-attr]
    res = cli(home, "ingest", server.url("feed.rss"), "--since", "2023-01-01", "--json")
    assert res.code == 0, res.stderr
    got = res.json()
    assert [(r["title"], r["created"]) for r in got] == [("Atom new", False), ("Middle", True)]  # type: ignore[union-attr]
    assert all(r["playlist"] == server.url("feed.rss") for r in got)  # type: ignore[union-attr]
    rows = {r["title"]: r for r in _videos(home)}
    assert rows["Atom new"]["upload_date"] == "20240102" and rows["Atom new"]["uploader"] == "Ann"
    assert rows["Middle"]["upload_date"] == "20230501"
    text = cli(home, "ingest", server.url("feed.rss"), "--since", "2023-01-01")
    assert "3 entries, 0 registered, 2 already registered, 1 before --since" in text.stdout
    links = cli(home, "ingest", server.url("links.html"), "--json")
    assert links.code == 0, links.stderr
    made = [r for r in links.json() if r["created"]]  # type: ignore[union-attr]
    assert [r["source"].rsplit("/", 1)[-1] for r in made] == ["old.mp4"]  # mid: already there
    assert len(_videos(home)) == 3
    bad = cli(home, "ingest", server.url("feed.rss"), "--since", "last tuesday")
    assert bad.code == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_follow_registers_only_new_entries_from_run(server: MediaServer, home: Path) -> None:
    """A followed page that grows between two runs: `run --once` (cron) registers the new entry
    and turns it into clips; a removed video does not come back; unfollow stops it."""
    for i, name in enumerate(("one.mp4", "two.mp4", "three.mp4")):
        small_video(server.root / name, 20 + i)
    listing = server.root / "channel.html"
    listing.write_text(page(["one.mp4", "two.mp4"]))
    res = cli(home, "ingest", server.url("channel.html"), "--follow")
    assert res.code == 0, res.stderr
    assert "following" in res.stdout and "2 registered" in res.stdout
    assert cli(home, "run", "--once", "--quiet").code == 0
    checks = server.requests["channel.html"]
    listing.write_text(page(["one.mp4", "two.mp4", "three.mp4"]))
    quiet = cli(home, "run", "--once")  # not due yet: follow_every_h is 6 by default
    assert quiet.code == 0 and server.requests["channel.html"] == checks
    assert len(_videos(home)) == 2
    assert cli(home, "config", "follow_every_h", "0").code == 0
    run = cli(home, "run", "--once")
    assert run.code == 0, run.stderr
    assert "follow 1: 1 new video(s)" in run.stdout
    rows = _videos(home)
    assert [r["state"] for r in rows] == ["spliced"] * 3
    assert rows[2]["url"].endswith("three.mp4") and rows[2]["follow_id"] == 1
    follows = cli(home, "follows", "--json").json()
    assert follows[0]["videos"] == 3 and follows[0]["last_new"] == 1  # type: ignore[index]
    assert cli(home, "rm", str(rows[2]["id"]), "--yes").code == 0
    again = cli(home, "run", "--once", "--json")
    assert again.code == 0 and again.json()["claimed"].get("follow") == 1  # type: ignore[union-attr]
    assert len(_videos(home)) == 2  # seen before: not registered again
    gone = cli(home, "unfollow", server.url("channel.html"))
    assert gone.code == 0 and "2 video(s) stay" in gone.stdout
    assert cli(home, "follows", "--json").json() == []
    assert cli(home, "unfollow", "1").code == 2
    assert len(_videos(home)) == 2


def test_one_video_one_row(tmp_path: Path, home: Path) -> None:
    """Ten spellings of one YouTube video are one row (offline: yt-dlp's extractor matching
    says so, nothing is requested); a file copied elsewhere is the same file."""
    spellings = [
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://youtu.be/dQw4w9WgXcQ?si=share",
        "https://m.youtube.com/watch?v=dQw4w9WgXcQ&t=42",
        "https://www.youtube.com/shorts/dQw4w9WgXcQ",
        "https://www.youtube.com/embed/dQw4w9WgXcQ",
        "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
        "https://www.youtube.com/live/dQw4w9WgXcQ",
        "https://music.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://www.youtube.com/v/dQw4w9WgXcQ",
        "https://youtube.com/watch?feature=share&v=dQw4w9WgXcQ",
    ]
    res = cli(home, "ingest", *spellings, "--json")
    assert res.code == 0, res.stderr
    rows = res.json()
    assert len({r["id"] for r in rows}) == 1 and rows[0]["key"] == "youtube:dQw4w9WgXcQ"  # type: ignore[index]
    assert cli(home, "ingest", "https://youtu.be/aaaaaaaaaaa", "--json").json()[0]["created"]  # type: ignore[index]
    video = small_video(tmp_path / "here.mp4", 5)
    elsewhere = tmp_path / "copy" / "renamed.mp4"
    elsewhere.parent.mkdir()
    shutil.copy(video.path, elsewhere)
    first = cli(home, "ingest", str(video.path), "--json").json()
    second = cli(home, "ingest", str(elsewhere), "--json").json()
    assert first[0]["created"] and not second[0]["created"]  # type: ignore[index]
    assert first[0]["id"] == second[0]["id"] and first[0]["key"].startswith("sha256:")  # type: ignore[index]
    assert len(_videos(home)) == 3


def test_metadata_and_chapter_cuts(server: MediaServer, home: Path) -> None:
    """A page with schema.org VideoObject data: title, uploader, date, duration, description and
    chapters are kept and shown; with chapter_cuts a clip starts at each chapter."""
    small_video(server.root / "talk.mp4", 7, (1.0, 2.0, 1.0))  # cuts at frames 30 and 90
    ld = {
        "@context": "https://schema.org", "@type": "VideoObject", "name": "A talk",
        "description": "First line\nSecond line", "uploadDate": "2024-03-05T10:00:00Z",
        "duration": "PT4S", "contentUrl": server.url("talk.mp4"),
        "author": {"@type": "Person", "name": "Dana"},
        "hasPart": [
            {"@type": "Clip", "name": "Intro", "startOffset": 0, "endOffset": 2},
            {"@type": "Clip", "name": "Part two", "startOffset": 2, "endOffset": 4},
        ],
    }  # fmt: skip
    (server.root / "talk.html").write_text(
        "<html><head><title>talk</title>"
        f'<script type="application/ld+json">{json.dumps(ld)}</script></head><body></body></html>'
    )
    assert cli(home, "config", "chapter_cuts", "true").code == 0
    res = cli(home, "ingest", server.url("talk.html"), "--json")
    assert res.code == 0, res.stderr
    vid = res.json()[0]["id"]  # type: ignore[index]
    assert cli(home, "run", "--once", "--quiet").code == 0
    detail = cli(home, "videos", str(vid), "--json").json()
    assert detail["title"] == "A talk" and detail["uploader"] == "Dana"  # type: ignore[index]
    assert detail["upload_date"] == "20240305" and detail["state"] == "spliced"  # type: ignore[index]
    assert [c["title"] for c in detail["chapters"]] == ["Intro", "Part two"]  # type: ignore[index]
    assert "Second line" in detail["description"]  # type: ignore[index]
    shown = cli(home, "videos", str(vid))
    assert "uploader: Dana" in shown.stdout and "chapter 0:00:02  Part two" in shown.stdout
    assert "Dana, 2024-03-05" in cli(home, "videos").stdout
    starts = [c["start_frame"] for c in cli(home, "clips", "--video", str(vid), "--json").json()]  # type: ignore[union-attr]
    assert starts == [0, 30, 60, 90], starts  # the chapter at 2 s (frame 60) is a boundary
    clip_ids = [c["id"] for c in cli(home, "clips", "--video", str(vid), "--json").json()]  # type: ignore[union-attr]
    show = cli(home, "show", str(clip_ids[2]), "--no-images")
    assert show.code == 0 and "source: Dana, 2024-03-05, chapter 'Part two'" in show.stdout


def test_rm_removes_everything_and_keeps_the_log_consistent(
    server: MediaServer, home: Path, tmp_path: Path
) -> None:
    keep = small_video(tmp_path / "keep.mp4", 30, (1.0, 1.0, 1.0))
    drop = small_video(tmp_path / "drop.mp4", 31, (1.0, 1.0, 1.0))
    assert cli(home, "ingest", str(keep.path), str(drop.path), "--quiet").code == 0
    assert cli(home, "run", "--once", "--quiet").code == 0
    clip_ids = [c["id"] for c in cli(home, "clips", "--video", "2", "--json").json()]  # type: ignore[union-attr]
    assert cli(home, "review", "approve", str(clip_ids[0]), "--quiet").code == 0
    assert cli(home, "review", "merge", str(clip_ids[2]), "--quiet").code == 0
    assert cli(home, "run", "--once", "--quiet").code == 0  # commits, keyframes, embeds
    assert cli(home, "events", "--check").code == 0
    assert (home / "media" / "sources" / "2").is_dir()
    asked = cli(home, "rm", "2")  # no terminal: refuses without --yes, changes nothing
    assert asked.code == 2 and "--yes" in asked.stderr
    assert len(_videos(home)) == 2
    res = cli(home, "rm", "2", "--yes", "--json")
    assert res.code == 0, res.stderr
    data = res.json()
    assert data["clips"] >= 3 and data["embeddings"] >= 1 and data["events_kept"] == 2  # type: ignore[index]
    assert [v["id"] for v in _videos(home)] == [1]
    assert not (home / "media" / "sources" / "2").exists()
    assert not any((home / "media" / "clips" / str(c)).exists() for c in clip_ids)
    check = cli(home, "events", "--check")
    assert check.code == 0, check.stdout
    assert cli(home, "clips", "--video", "2", "--json").json() == []
    assert cli(home, "rm", "2", "--yes").code == 2  # no such video any more
    assert cli(home, "gc", "--dry-run", "--json").json()["files"] == 0  # type: ignore[index]
    # a row a live run holds: refused
    from tests import faultkit as fk

    with fk.db(home) as conn:
        conn.execute(
            "UPDATE clips SET state = 'keyframing', claimed_by = 'x', claimed_until = 9e18"
            " WHERE id = (SELECT MIN(id) FROM clips WHERE source_video_id = 1)"
        )
        conn.commit()
    busy = cli(home, "rm", "1", "--yes")
    assert busy.code == 2 and "a run is working on clip" in busy.stderr
    assert len(_videos(home)) == 1


def _in_terminal(home: Path, args: list[str], answer: str) -> tuple[int, str]:
    """Run heaters on a pseudo-terminal and answer its question."""
    import os
    import pty
    import select
    import subprocess
    import sys
    import time

    main, child = pty.openpty()
    env = {**os.environ, "HEATERS_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "heaters", *args], stdin=child,
                            stdout=child, stderr=child, env=env, close_fds=True)  # fmt: skip
    os.close(child)
    seen = b""
    deadline = time.monotonic() + 60
    while b"?" not in seen and time.monotonic() < deadline:  # (a read only when there is output:
        # a question without "?" would otherwise leave both sides waiting, past the deadline)
        ready, _, _ = select.select([main], [], [], max(0.0, deadline - time.monotonic()))
        if ready:
            seen += os.read(main, 4096)
    if b"?" not in seen:
        proc.kill()
        proc.wait()
        os.close(main)
        raise AssertionError(f"no question within 60 s: {seen.decode('utf-8', 'replace')!r}")
    os.write(main, answer.encode() + b"\r")
    code = proc.wait(timeout=60)
    try:
        while chunk := os.read(main, 4096):
            seen += chunk
    except OSError:
        pass
    os.close(main)
    return code, seen.decode("utf-8", "replace")


def test_rm_asks_in_a_terminal(home: Path, tmp_path: Path) -> None:
    video = small_video(tmp_path / "v.mp4", 50)
    assert cli(home, "ingest", str(video.path), "--quiet").code == 0
    code, shown = _in_terminal(home, ["rm", "1"], "n")
    assert code == 1 and "remove video 1" in shown and "nothing removed" in shown
    assert len(_videos(home)) == 1
    code, shown = _in_terminal(home, ["rm", "1"], "y")
    assert code == 0 and "removed video 1" in shown
    assert _videos(home) == []


def test_a_follow_that_fails_is_retried_then_failed_then_retried(
    server: MediaServer, home: Path
) -> None:
    small_video(server.root / "ep1.mp4", 60)
    feed = server.root / "empty.rss"
    body = '<?xml version="1.0"?><rss version="2.0"><channel><title>Show</title>{}</channel></rss>'
    feed.write_text(body.format(""))
    res = cli(home, "ingest", server.url("empty.rss"), "--follow")
    assert res.code == 0 and "0 entries" in res.stdout, res
    feed.unlink()  # the feed is gone for a while
    for key, value in (("follow_every_h", "0"), ("max_attempts", "2")):
        assert cli(home, "config", key, value).code == 0
    first = cli(home, "run", "--once")
    assert first.code == 0 and "follow 1: follow failed (attempt 1)" in first.stderr, first
    second = cli(home, "run", "--once")
    assert second.code == 1 and "follow_failed" in second.stderr, second  # failed for good
    shown = cli(home, "follows", "--json").json()[0]  # type: ignore[index]
    assert shown["state"] == "follow_failed" and "404" in shown["last_error"]
    assert cli(home, "run", "--once").code == 0  # a failed follow is left alone
    assert "re-opened follow 1" in cli(home, "retry").stdout
    feed.write_text(body.format(f'<item><title>Ep 1</title><enclosure url="{server.url("ep1.mp4")}"'
                                ' type="video/mp4"/></item>'))  # fmt: skip
    back = cli(home, "run", "--once")
    assert back.code == 0 and "follow 1: 1 new video(s)" in back.stdout, back
    assert [v["title"] for v in _videos(home)] == ["Ep 1"]
    assert cli(home, "follows", "--json").json()[0]["state"] == "following"  # type: ignore[index]
