"""Download stage: fetch a URL with yt-dlp (or take a local file) into the media folder, then probe.

yt-dlp is used through its Python API, never by parsing its output. The stored file's name never
comes from the title (titles are untrusted): it is always `source.<ext>` in the video's folder, and
it appears under that name only once complete (yt-dlp downloads into a private temp folder that
we rename from).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from heaters import faults
from heaters.domain.results import DownloadResult, StageError
from heaters.domain.sources import one_line
from heaters.stages.probe import probe

# on_progress(done_bytes, total_bytes or None)
Progress = Callable[[int, int | None], None]

# Prefer one mp4/H.264 file; else best video+audio merged to mp4 by the bundled ffmpeg.
FORMAT = "bv*[ext=mp4][vcodec^=avc1]+ba[ext=m4a]/b[ext=mp4][vcodec^=avc1]/bv*+ba/b"

_KEEP_META = ("title", "extractor", "extractor_key", "id", "upload_date", "webpage_url", "uploader")
_VIDEO_EXT = {".mp4", ".mkv", ".webm", ".mov", ".m4v", ".avi", ".ts", ".flv", ".mpg", ".mpeg"}


def run(
    video_id: int,
    source: str,
    kind: str,
    dest_dir: Path,
    ffmpeg: str,
    on_progress: Progress | None = None,
) -> DownloadResult:
    """Store the source as `dest_dir/source.<ext>` and probe it."""
    started = time.perf_counter()
    dest_dir.mkdir(parents=True, exist_ok=True)
    if kind == "url":
        path, title, meta = _fetch_url(source, dest_dir, ffmpeg, on_progress)
    else:
        path, title, meta = _take_file(Path(source), dest_dir, on_progress)
    try:
        info = probe(path)
    except BaseException:
        path.unlink(missing_ok=True)  # not a usable video: no file may stay without its row
        raise
    return DownloadResult(
        status="ok",
        video_id=video_id,
        path=path,
        probe=info,
        title=title,
        metadata=meta,
        duration_ms=int((time.perf_counter() - started) * 1000),
    )


def _take_file(
    src: Path, dest_dir: Path, on_progress: Progress | None
) -> tuple[Path, str, dict[str, Any]]:
    if not src.is_file():
        raise StageError(f"local file is gone: {src}", retryable=False)
    ext = src.suffix.lower() if src.suffix.lower() in _VIDEO_EXT else ".bin"
    final = dest_dir / f"source{ext}"
    size = src.stat().st_size
    if not (final.exists() and final.stat().st_size == size):
        tmp = dest_dir / f".tmp-{uuid.uuid4().hex}{ext}"
        try:
            try:
                os.link(src, tmp)  # same filesystem: instant, no extra space
            except OSError:
                shutil.copyfile(src, tmp)
            faults.hit("download.fetched")
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
    if on_progress:
        on_progress(size, size)
    meta = {"extractor": "local", "original_path": str(src)}
    return final, src.stem, meta


def _fetch_url(
    url: str, dest_dir: Path, ffmpeg: str, on_progress: Progress | None
) -> tuple[Path, str | None, dict[str, Any]]:
    import yt_dlp  # slow import: only when a URL is fetched
    from yt_dlp.utils import DownloadError

    work = dest_dir / f".tmp-{uuid.uuid4().hex}"
    work.mkdir()

    def hook(d: dict[str, Any]) -> None:
        if on_progress and d.get("status") in ("downloading", "finished"):
            total = d.get("total_bytes") or d.get("total_bytes_estimate")
            on_progress(int(d.get("downloaded_bytes") or 0), int(total) if total else None)

    params: dict[str, Any] = {
        "format": FORMAT,
        "merge_output_format": "mp4",
        "ffmpeg_location": ffmpeg,
        "outtmpl": {"default": str(work / "source.%(ext)s")},
        "paths": {"home": str(work), "temp": str(work)},
        "noplaylist": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "progress_hooks": [hook],
        "retries": 2,
        "socket_timeout": 30,
        "restrictfilenames": True,
        "logger": _QuietLogger(),
    }
    try:
        with yt_dlp.YoutubeDL(params) as ydl:
            info = ydl.extract_info(url, download=True)
            if info is None:
                raise StageError("yt-dlp returned nothing for this URL", retryable=False)
            clean = ydl.sanitize_info(info)
    except DownloadError as exc:
        shutil.rmtree(work, ignore_errors=True)
        message = one_line(str(exc).removeprefix("ERROR: "), 300)
        if "did not get any data blocks" in message.lower():
            message = "the server sent no data (0 bytes)"
        raise StageError(f"download failed: {message}", retryable=_retryable(message)) from exc
    except StageError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    except Exception as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise StageError(f"download failed: {one_line(str(exc), 300)}") from exc
    try:
        downloads = clean.get("requested_downloads") or []
        got = Path(downloads[0]["filepath"]) if downloads else None
        if got is None or not got.is_file():
            candidates = [p for p in work.iterdir() if p.is_file() and not p.name.endswith(".part")]
            got = candidates[0] if candidates else None
        if got is None:
            raise StageError("yt-dlp reported success but wrote no file")
        final = dest_dir / f"source{got.suffix.lower() or '.mp4'}"
        faults.hit("download.fetched")
        os.replace(got, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta = {k: clean.get(k) for k in _KEEP_META if clean.get(k) is not None}
    return final, clean.get("title"), meta


def _retryable(message: str) -> bool:
    """HTTP 4xx (except 429) and unsupported URLs won't fix themselves; network errors might."""
    lowered = message.lower()
    permanent = ("http error 4", "unsupported url", "not a video", "no video formats")
    return "429" in lowered or not any(p in lowered for p in permanent)


class _QuietLogger:
    """yt-dlp's messages go nowhere: errors reach us as DownloadError, with their text."""

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        pass

    def error(self, msg: str) -> None:
        pass
