from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from heaters.domain.results import StageError
from heaters.stages import download
from heaters.synthetic import SyntheticVideo, ffmpeg_exe
from tests.conftest import HttpServer, free_port


def test_local_file_is_linked_and_probed(cut_video: SyntheticVideo, tmp_path: Path) -> None:
    progress: list[tuple[int, int | None]] = []
    result = download.run(
        1,
        str(cut_video.path),
        "file",
        tmp_path / "v1",
        ffmpeg_exe(),
        lambda d, t: progress.append((d, t)),
    )
    assert result.status == "ok" and result.path == tmp_path / "v1" / "source.mp4"
    assert result.path.read_bytes() == cut_video.path.read_bytes()
    assert result.probe.frame_count == cut_video.frame_count
    assert result.probe.fps == pytest.approx(30.0)
    assert (result.probe.width, result.probe.height, result.probe.codec) == (320, 180, "h264")
    assert progress and progress[-1][0] == cut_video.path.stat().st_size
    assert [p.name for p in (tmp_path / "v1").iterdir()] == ["source.mp4"]  # no temp left


def test_url_is_fetched_with_yt_dlp(
    cut_video: SyntheticVideo, http_server: HttpServer, tmp_path: Path
) -> None:
    shutil.copy(cut_video.path, http_server.root / "clip one.mp4")
    seen: list[int] = []
    result = download.run(
        2,
        http_server.url("clip%20one.mp4"),
        "url",
        tmp_path / "v2",
        ffmpeg_exe(),
        lambda d, t: seen.append(d),
    )
    assert result.path.name == "source.mp4"
    assert result.path.read_bytes() == cut_video.path.read_bytes()
    assert result.metadata["extractor"] == "generic"
    assert result.metadata["webpage_url"].endswith("clip%20one.mp4")
    assert result.probe.frame_count == cut_video.frame_count
    assert seen and max(seen) == cut_video.path.stat().st_size
    assert [p.name for p in (tmp_path / "v2").iterdir()] == ["source.mp4"]


def test_404_is_a_permanent_one_line_error(http_server: HttpServer, tmp_path: Path) -> None:
    with pytest.raises(StageError) as info:
        download.run(3, http_server.url("missing.mp4"), "url", tmp_path / "v3", ffmpeg_exe())
    assert "404" in str(info.value) and "\n" not in str(info.value)
    assert info.value.retryable is False
    assert list((tmp_path / "v3").iterdir()) == []


def test_refused_port_is_a_retryable_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/x.mp4"
    with pytest.raises(StageError) as info:
        download.run(4, url, "url", tmp_path / "v4", ffmpeg_exe())
    assert "refused" in str(info.value).lower()
    assert info.value.retryable is True


@pytest.mark.parametrize("kind", ["text", "empty", "audio"])
def test_unusable_files_fail_with_a_reason(
    kind: str, bad_files: dict[str, Path], tmp_path: Path
) -> None:
    expected = {"text": "not a readable video", "empty": "empty", "audio": "no video stream"}[kind]
    with pytest.raises(StageError, match=expected) as info:
        download.run(5, str(bad_files[kind]), "file", tmp_path / "v5", ffmpeg_exe())
    assert info.value.retryable is False


@pytest.fixture
def endless_url() -> object:
    """A body that never ends (no Content-Length), on 127.0.0.1."""
    import http.server
    import threading

    class Endless(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.end_headers()
            block = bytes(range(256)) * 256
            try:
                while True:
                    self.wfile.write(block)
            except (BrokenPipeError, ConnectionResetError):
                pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/endless.mp4"
    httpd.shutdown()
    httpd.server_close()


def test_a_source_that_outgrows_the_free_space_fails_alone(
    endless_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk keeps `min_free_bytes` free: a download that would eat into it stops, is
    charged (retryable: space may be freed), and leaves nothing behind."""
    dest = tmp_path / "v9"
    room = 4 << 20  # pretend 4 MB are free beyond the reserve, whatever the real disk says
    limits = download.Limits(stall_s=30, min_free_bytes=64 << 20)

    def free(folder: Path) -> int:
        used = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
        return limits.min_free_bytes + room - used

    monkeypatch.setattr(download, "_free", free)
    with pytest.raises(StageError) as info:
        download.run(9, endless_url, "url", dest, ffmpeg_exe(), None, limits)
    assert info.value.retryable and "does not fit on the disk" in str(info.value)
    assert list(dest.iterdir()) == []


def test_no_room_at_all_stops_the_run_instead(
    endless_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below the reserve before a byte came: the disk is full, not this source (DiskFull stops
    the run, no attempt charged)."""
    from heaters.errors import DiskFull

    monkeypatch.setattr(download, "_free", lambda folder: 1 << 20)
    with pytest.raises(DiskFull):
        download.run(9, endless_url, "url", tmp_path / "v9", ffmpeg_exe(), None)
