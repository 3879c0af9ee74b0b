"""Shared fixtures: real media made with ffmpeg, a local HTTP server, and a CLI runner."""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

from heaters.synthetic import SyntheticVideo, ffmpeg_exe, make_video

# The tests choose their database themselves (the `backend` fixture): never an operator's.
os.environ.pop("HEATERS_DATABASE_URL", None)
os.environ.pop("HEATERS_MEDIA_ROOT", None)

# No per-example deadline: on a shared, loaded machine an example's time says nothing (it made
# property tests fail at random with DeadlineExceeded); correctness is what they check.
settings.register_profile("heaters", deadline=None)
settings.load_profile("heaters")

# 10 hard cuts, three shots shorter than one second.
CUT_SHOTS_S = (1.6, 1.2, 0.5, 1.5, 0.6, 1.4, 1.8, 0.4, 1.3, 1.1, 1.5)


BACKENDS = ("sqlite", "postgres")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The store backend of a test: the embedded SQLite, or a fresh database on a real
    PostgreSQL (tests/pgtest.py), named to every `Store.open` and `heaters` child through
    `$HEATERS_DATABASE_URL`."""
    if request.param == "sqlite":
        monkeypatch.delenv("HEATERS_DATABASE_URL", raising=False)
        yield "sqlite"
        return
    from tests import pgtest

    name, url = pgtest.fresh_database()
    monkeypatch.setenv("HEATERS_DATABASE_URL", url)
    try:
        yield "postgres"
    finally:
        pgtest.drop_database(name)


@pytest.fixture
def pg_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The URL of a fresh, migrated database on a real PostgreSQL (not set in the environment)."""
    from tests import pgtest

    name, url = pgtest.fresh_database()
    try:
        yield url
    finally:
        pgtest.drop_database(name)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def cut_video(media_dir: Path) -> SyntheticVideo:
    """A 320x180 30 fps H.264 video with 10 known hard cuts, some shots under 1 s."""
    return make_video(media_dir / "cuts.mp4", CUT_SHOTS_S, seed=7, audio=True)


@pytest.fixture(scope="session")
def second_video(media_dir: Path) -> SyntheticVideo:
    return make_video(media_dir / "second.mp4", (1.5, 1.5, 2.0), seed=11)


@pytest.fixture(scope="session")
def bad_files(media_dir: Path, cut_video: SyntheticVideo) -> dict[str, Path]:
    """Inputs that are not usable videos, each for its own reason."""
    d = media_dir / "bad"
    d.mkdir()
    text = d / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    empty = d / "empty.mp4"
    empty.write_bytes(b"")
    data = cut_video.path.read_bytes()
    truncated = d / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 3])
    audio = d / "audio.m4a"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=300:duration=2",
         "-c:a", "aac", str(audio)],
        check=True,
    )  # fmt: skip
    return {"text": text, "empty": empty, "truncated": truncated, "audio": audio}


@dataclass
class HttpServer:
    root: Path
    port: int

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[HttpServer]:
    """A real HTTP server on 127.0.0.1 (the only network there is), stopped after the test."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HttpServer(root, server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return json.loads(self.stdout)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def cli(
    home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> CliResult:
    """Run the real `heaters` command in a subprocess, as a user would."""
    full_env = {**os.environ, "HEATERS_HOME": str(home), **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "heaters", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def distinct_copy(src: Path, dst: Path, tag: int) -> Path:
    """A copy of an MP4 that is another file by content (a trailing `free` box, which every
    reader skips): heaters registers a file once by its SHA-256, so tests that want several
    videos of the same footage make them distinct this way."""
    import struct

    dst.write_bytes(src.read_bytes() + struct.pack(">I4sQ", 16, b"free", tag))
    return dst


def free_port() -> int:
    """A port nobody listens on (for 'connection refused')."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
