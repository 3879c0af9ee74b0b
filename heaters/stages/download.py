"""Download stage: fetch a URL with yt-dlp (or take a local file) into the media folder, then probe.

yt-dlp is used through its Python API, never by parsing its output, in a child process the stage
watches (`fetch_child`): a server that trickles or never ends, a source larger than the limit or
than the free space, and a Ctrl-C each end it at once, with a one-line reason. The stored file's name never
comes from the title (titles are untrusted): it is always `source.<ext>` in the video's folder, and
it appears under that name only once complete (yt-dlp downloads into a work folder that we rename
from). The work folder has a fixed name (`RESUME_DIR`) and outlives a killed or stalled attempt, so
the next attempt resumes yt-dlp's `.part` file with an HTTP Range request instead of starting again;
a permanent failure removes it.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heaters import faults, interrupt
from heaters.domain.files import temp_name
from heaters.domain.results import DownloadResult, StageError
from heaters.domain.text import one_line
from heaters.errors import DiskFull
from heaters.stages.probe import probe

# on_progress(done_bytes, total_bytes or None)
Progress = Callable[[int, int | None], None]

RESUME_DIR = ".tmp-resume"  # kept between attempts (clear_temps spares it); gc takes it when stale
_VIDEO_EXT = {".mp4", ".mkv", ".webm", ".mov", ".m4v", ".avi", ".ts", ".flv", ".mpg", ".mpeg"}


@dataclass(frozen=True)
class Limits:
    """What one download may take (settings `download_stall_s`, `download_timeout_s`,
    `max_source_mb`, `min_free_mb`): a source that trickles, never ends or cannot fit fails alone
    instead of holding the run (and every video queued behind it) for ever."""

    stall_s: float = 60.0  # no new byte for this long: a retryable failure
    timeout_s: float = 21600.0  # the whole download, however steady
    max_bytes: int = 20480 << 20  # larger: fails for good
    min_free_bytes: int = 256 << 20  # the disk must keep this much free: else retried later


def run(
    video_id: int,
    source: str,
    kind: str,
    dest_dir: Path,
    ffmpeg: str,
    on_progress: Progress | None = None,
    limits: Limits = Limits(),  # noqa: B008 - frozen dataclass, safe as default
    ydl: dict[str, Any] | None = None,
) -> DownloadResult:
    """Store the source as `dest_dir/source.<ext>` and probe it. `ydl`: yt-dlp parameters of the
    operator's options (`heaters.stages.ytdlp.params`)."""
    started = time.perf_counter()
    dest_dir.mkdir(parents=True, exist_ok=True)
    if kind == "url":
        path, title, meta = _fetch_url(source, dest_dir, ffmpeg, on_progress, limits, ydl or {})
    else:
        path, title, meta = _take_file(Path(source), dest_dir, on_progress, limits)
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


class NoRoom(StageError):
    """The source cannot be stored (over max_source_mb, or not enough free space): what came of
    it goes, to give the space back."""


def _mb(n: float) -> str:
    mb = n / (1 << 20)
    return f"{mb:.1f} MB" if mb >= 0.1 or n == 0 else f"{n:.0f} bytes"


def _free(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 1 << 62


def _check_room(size: int, folder: Path, limits: Limits, done: int = 0) -> None:
    """StageError when `size` bytes (of which `done` are already on the disk) cannot be stored."""
    if size > limits.max_bytes:
        raise NoRoom(
            f"source is larger than the limit: {_mb(size)} > max_source_mb {_mb(limits.max_bytes)}"
            " (raise it with heaters config max_source_mb N, then heaters retry)",
            retryable=False,
        )
    free = _free(folder)
    if size - done > free - limits.min_free_bytes:
        raise NoRoom(
            f"source does not fit on the disk: {_mb(size)} needed, {_mb(free)} free"
            f" (min_free_mb {_mb(limits.min_free_bytes)} kept free); will retry",
            retryable=True,
        )


def _take_file(
    src: Path, dest_dir: Path, on_progress: Progress | None, limits: Limits
) -> tuple[Path, str, dict[str, Any]]:
    if not src.is_file():
        raise StageError(f"local file is gone: {src}", retryable=False)
    ext = src.suffix.lower() if src.suffix.lower() in _VIDEO_EXT else ".bin"
    final = dest_dir / f"source{ext}"
    size = src.stat().st_size
    if size > limits.max_bytes:  # the same limit as for URLs, even when a link costs nothing
        _check_room(size, dest_dir, limits)
    if not (final.exists() and final.stat().st_size == size):
        tmp = dest_dir / temp_name(final.name)
        try:
            try:
                os.link(src, tmp)  # same filesystem: instant, no extra space
            except OSError:
                _check_room(size, dest_dir, limits)
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
    url: str,
    dest_dir: Path,
    ffmpeg: str,
    on_progress: Progress | None,
    limits: Limits,
    ydl: dict[str, Any],
) -> tuple[Path, str | None, dict[str, Any]]:
    free = _free(dest_dir)
    if free < limits.min_free_bytes:  # no room for any source: the disk is full, not this URL
        raise DiskFull(
            f"disk full: {_mb(free)} free in {dest_dir.parent.parent}, less than min_free_mb"
            f" {_mb(limits.min_free_bytes)}"
        )
    work = dest_dir / RESUME_DIR
    work.mkdir(exist_ok=True)
    keep = False
    try:
        job = {"mode": "download", "url": url, "ffmpeg": ffmpeg, "ydl": ydl}
        got, title, meta = _file_of(watch(job, work, on_progress, limits), work)
        final = dest_dir / f"source{got.suffix.lower() or '.mp4'}"
        faults.hit("download.fetched")
        os.replace(got, final)
    except StageError as exc:
        # a stall or a dropped connection: the next attempt resumes (no room: the space goes back)
        keep = exc.retryable and not isinstance(exc, NoRoom) and _has_data(work)
        raise
    except (interrupt.Interrupted, KeyboardInterrupt):
        keep = _has_data(work)  # the run stops: what came stays for the next run
        raise
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return final, title, meta


def _has_data(work: Path) -> bool:
    """Something to resume: a non-empty file in the work folder."""
    try:
        return any(p.is_file() and p.stat().st_size > 0 for p in work.rglob("*"))
    except OSError:
        return False


def drop_partial(dest_dir: Path) -> None:
    """The video failed for good: its partial download goes."""
    shutil.rmtree(dest_dir / RESUME_DIR, ignore_errors=True)


def probe_urls(
    urls: list[str],
    work: Path,
    ydl: dict[str, Any],
    limits: Limits = Limits(),  # noqa: B008
    limit: int | None = None,
    since: str | None = None,
) -> list[dict[str, Any]]:
    """Flat extraction of each URL in the watched child: one result per URL (`kind` video,
    playlist or error); nothing is downloaded. `work` is an empty scratch folder."""
    job = {"mode": "probe", "ydl": ydl, "limit": limit, "since": since}
    results: list[dict[str, Any]] = []
    remaining = list(urls)
    while remaining:  # a URL that hangs costs its own answer, not the others'
        got: list[dict[str, Any]] = []
        try:
            watch({**job, "urls": remaining}, work, None, limits, on_result=got.append)
        except StageError as exc:
            stuck = remaining[len(got)]
            got.append({"url": stuck, "kind": "error", "retryable": exc.retryable,
                        "error": str(exc).replace("download stalled", "no answer")})  # fmt: skip
        results += got
        remaining = remaining[len(got) :]
    return results


def _tree_size(folder: Path) -> int:
    total = 0
    for entry in folder.rglob("*"):
        try:
            if entry.is_file():
                total += entry.stat().st_size
        except OSError:
            continue
    return total


def watch(
    job: dict[str, Any],
    work: Path,
    on_progress: Progress | None,
    limits: Limits,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run yt-dlp in a child process (`fetch_child`) and watch it: progress, inactivity, total
    time, size and free space; a Ctrl-C of the run kills it at once. Returns its answer."""
    job = {
        **job,
        "work": str(work),
        "parent": os.getpid(),
        "socket_timeout": min(30.0, limits.stall_s),
    }
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(  # noqa: S603 - an argument list, no shell
            [sys.executable, "-m", "heaters.stages.fetch_child", json.dumps(job)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        try:
            return _follow(proc, work, on_progress, limits, errors, on_result)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def _follow(
    proc: subprocess.Popen[bytes],
    work: Path,
    on_progress: Progress | None,
    limits: Limits,
    errors: Any,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    began = last_data = time.monotonic()
    seen, total, next_size_check = 0, None, 0.0
    result: dict[str, Any] | None = None
    while result is None:
        interrupt.check()  # the run is stopping: the finally kills the child
        ready, _, _ = select.select([fd], [], [], 0.2)
        now = time.monotonic()
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:  # the child ended without an answer
                proc.wait()
                errors.seek(0)
                tail = errors.read()[-2000:].decode("utf-8", "replace").strip().splitlines()
                why = tail[-1] if tail else f"exit status {proc.returncode}"
                raise StageError(f"download failed: the downloader stopped: {one_line(why, 200)}")
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                msg = json.loads(line)
                if "started" in msg or "alive" in msg:
                    last_data = now
                elif "result" in msg:  # a probe's answer for one URL
                    last_data = now
                    if on_result:
                        on_result(
                            msg["result"]
                        )  # yt-dlp is imported: the inactivity clock starts now
                elif "bytes" in msg:
                    if msg["bytes"] > seen:
                        seen, last_data = msg["bytes"], now
                    total = msg.get("total") or total
                    if on_progress:
                        on_progress(seen, total)
                elif "error" in msg:
                    raise StageError(one_line(msg["error"], 300), retryable=msg["retryable"])
                elif "ok" in msg:
                    result = msg["ok"]
        if result is None and now >= next_size_check:
            next_size_check = now + 0.5
            on_disk = _tree_size(work)  # bytes can land before yt-dlp reports them
            if on_disk > seen:
                seen, last_data = on_disk, now
            _check_room(max(total or 0, seen), work, limits, done=on_disk)
            if now - last_data > limits.stall_s:
                raise StageError(
                    f"download stalled: no data for {limits.stall_s:g} s ({_mb(seen)} received;"
                    " download_stall_s); will retry",
                    retryable=True,
                )
            if now - began > limits.timeout_s:
                raise StageError(
                    f"download took longer than download_timeout_s ({limits.timeout_s:g} s,"
                    f" {_mb(seen)} received); will retry",
                    retryable=True,
                )
    return result


def _file_of(result: dict[str, Any], work: Path) -> tuple[Path, str | None, dict[str, Any]]:
    got = Path(result["filepath"]) if result.get("filepath") else None
    if got is None or not got.is_file():
        candidates = [p for p in work.iterdir() if p.is_file() and not p.name.endswith(".part")]
        got = candidates[0] if candidates else None
    if got is None:
        raise StageError("yt-dlp reported success but wrote no file")
    return got, result.get("title"), dict(result.get("meta") or {})
