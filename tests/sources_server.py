"""A media server on 127.0.0.1 for the sources tests: files from a folder, HTTP Range requests
(what yt-dlp's resume sends), a count of the bytes served per path and of the Range headers seen,
and an optional throttle per path (so a download can be killed halfway)."""

from __future__ import annotations

import http.server
import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from heaters.synthetic import SyntheticVideo, ffmpeg_exe, make_video


@dataclass
class MediaServer:
    root: Path
    port: int = 0
    served: Counter[str] = field(default_factory=Counter)  # path -> body bytes sent
    requests: Counter[str] = field(default_factory=Counter)  # path -> GET requests
    ranges: list[tuple[str, str]] = field(default_factory=list)  # (path, Range header)
    throttle: dict[str, int] = field(default_factory=dict)  # path -> bytes per second
    cookies: list[str] = field(default_factory=list)  # Cookie headers received
    # (path, first byte asked, bytes sent) per GET
    sent: list[tuple[str, int, int]] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


def _handler(server: MediaServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve(head=False)

        def _serve(self, head: bool) -> None:
            name = self.path.split("?", 1)[0].lstrip("/")
            path = server.root / name
            if not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
            start, end = 0, len(data)
            wanted = self.headers.get("Range")
            if not head:
                server.requests[name] += 1
            if self.headers.get("Cookie"):
                server.cookies.append(self.headers["Cookie"])
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted or "")
            if match:
                server.ranges.append((name, wanted or ""))
                start = int(match[1])
                end = min(len(data), int(match[2]) + 1) if match[2] else len(data)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
            else:
                self.send_response(200)
            ctype = {
                ".html": "text/html", ".xml": "application/xml", ".rss": "application/rss+xml",
                ".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t",
            }.get(path.suffix, "video/mp4")  # fmt: skip
            self.send_header("Content-Type", ctype)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start))
            self.end_headers()
            if head:
                return
            rate = server.throttle.get(name)
            chunk = 4096 if rate else 65536
            record = [name, start, 0]
            server.sent.append(record)  # type: ignore[arg-type]
            try:
                for at in range(start, end, chunk):
                    block = data[at : min(end, at + chunk)]
                    self.wfile.write(block)
                    server.served[name] += len(block)
                    record[2] += len(block)  # type: ignore[operator]
                    if rate:
                        time.sleep(len(block) / rate)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


@contextmanager
def media_server(root: Path) -> Iterator[MediaServer]:
    root.mkdir(parents=True, exist_ok=True)
    server = MediaServer(root)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.port = int(httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


def small_video(path: Path, seed: int, shots: tuple[float, ...] = (1.0, 1.0)) -> SyntheticVideo:
    """A tiny H.264 video with known cuts (160x90, 30 fps)."""
    return make_video(path, shots, width=160, height=90, seed=seed)


def hls_copy(video: Path, folder: Path, name: str) -> Path:
    """The video as an HLS VOD playlist (`name`.m3u8 and its .ts segments) in `folder`."""
    playlist = folder / f"{name}.m3u8"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-i", str(video), "-c", "copy", "-f", "hls",
         "-hls_time", "1", "-hls_playlist_type", "vod",
         "-hls_segment_filename", str(folder / f"{name}-%03d.ts"), str(playlist)],
        check=True,
    )  # fmt: skip
    return playlist


def page(videos: list[str], title: str = "A channel") -> str:
    """An HTML page yt-dlp's generic extractor reads as a playlist (several <video> elements)."""
    tags = "\n".join(f'<video controls src="{v}"></video>' for v in videos)
    return f"<!doctype html><html><head><title>{title}</title></head><body>\n{tags}\n</body></html>"
