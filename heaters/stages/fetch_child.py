"""The yt-dlp download, in a child process the download stage watches (`python -m
heaters.stages.fetch_child '<json>'`).

A socket read that trickles one byte every few seconds, or a server that sends one header line at
a time, blocks inside yt-dlp where no thread can stop it; a process can be killed. The parent
reads progress lines from this child's stdout, enforces the inactivity timeout, the total cap and
the size limits, and kills it (SIGKILL) when one is crossed or the run is interrupted. The child
dies with its parent too (PR_SET_PDEATHSIG), so a `kill -9` of the run leaves no download behind.

Protocol, one JSON object per line on stdout: `{"started": true}` once yt-dlp is imported,
`{"bytes": n, "total": t}` as data arrives (`{"alive": true}` while a listing reads pages), then
`{"ok": {...}}` or `{"error": "...", "retryable": bool}`.

Two modes: `download` (one URL into the work folder; yt-dlp resumes a `.part` file left there by a
killed attempt with an HTTP Range request) and `probe` (flat extraction of each URL: what it is and,
for a playlist, channel, feed or page, its entries; nothing is downloaded).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from heaters.stages.orphans import die_with_parent
from heaters.stages.ytdlp import DEFAULT_FORMAT as FORMAT
from heaters.stages.ytdlp import from_job

KEEP_META = ("title", "extractor", "extractor_key", "id", "upload_date", "webpage_url", "uploader",
             "channel", "duration", "description", "chapters", "timestamp")  # fmt: skip


def _retryable(message: str) -> bool:
    """HTTP 4xx (except 429) and unsupported URLs won't fix themselves; network errors might."""
    lowered = message.lower()
    permanent = ("http error 4", "unsupported url", "not a video", "no video formats")
    return "429" in lowered or not any(p in lowered for p in permanent)


class _QuietLogger:
    """yt-dlp's messages go nowhere (errors reach us as DownloadError, with their text); each one
    is a sign of life for the parent's inactivity clock while a listing reads its pages."""

    def __init__(self, alive: Any = None) -> None:
        self._alive = alive

    def debug(self, msg: str) -> None:
        if self._alive:
            self._alive()

    def info(self, msg: str) -> None:
        self.debug(msg)

    def warning(self, msg: str) -> None:
        self.debug(msg)

    def error(self, msg: str) -> None:
        pass


def main(argv: list[str]) -> int:
    job = json.loads(argv[0])
    die_with_parent(int(job["parent"]))
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # anything else yt-dlp or a library prints goes to stderr, not the protocol

    def send(obj: dict[str, Any]) -> None:
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    import yt_dlp
    from yt_dlp.utils import DownloadError

    send({"started": True})
    if job.get("mode") == "probe":
        from heaters.stages.probe_child import probe_all

        probe_all(job, lambda: send({"alive": True}), _QuietLogger, lambda r: send({"result": r}))
        send({"ok": {}})
        return 0
    work = Path(job["work"])

    def hook(d: dict[str, Any]) -> None:
        if d.get("status") in ("downloading", "finished"):
            total = d.get("total_bytes") or d.get("total_bytes_estimate")
            send({"bytes": int(d.get("downloaded_bytes") or 0), "total": int(total or 0) or None})

    params: dict[str, Any] = {
        "format": FORMAT,
        **from_job(job.get("ydl") or {}),
        "merge_output_format": "mp4",
        "ffmpeg_location": job["ffmpeg"],
        "outtmpl": {"default": str(work / "source.%(ext)s")},
        "paths": {"home": str(work), "temp": str(work)},
        "noplaylist": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "progress_hooks": [hook],
        "socket_timeout": float(job.get("socket_timeout", 30)),
        "restrictfilenames": True,
        "logger": _QuietLogger(),
    }
    try:
        with yt_dlp.YoutubeDL(params) as ydl:
            # resolved first, downloaded only if it is one video: a playlist must not arrive
            # here as one row and fill its folder with every entry
            info = ydl.extract_info(job["url"], download=False, process=False)
            if info is not None and info.get("_type") in ("playlist", "multi_video"):
                send(
                    {
                        "error": "this URL is a playlist, not one video: ingest it again to"
                        " register its entries",
                        "retryable": False,
                    }
                )
                return 0
            if info is not None:
                info = ydl.process_ie_result(info, download=True)
            if info is None:
                send({"error": "yt-dlp returned nothing for this URL", "retryable": False})
                return 0
            clean = ydl.sanitize_info(info)
    except DownloadError as exc:
        message = str(exc).removeprefix("ERROR: ")
        if "did not get any data blocks" in message.lower():
            message = "the server sent no data (0 bytes)"
        send({"error": f"download failed: {message}", "retryable": _retryable(message)})
        return 0
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        send({"error": f"download failed: {exc}", "retryable": True})
        return 0
    downloads = clean.get("requested_downloads") or []
    send(
        {
            "ok": {
                "filepath": downloads[0].get("filepath") if downloads else None,
                "title": clean.get("title"),
                "meta": {k: clean.get(k) for k in KEEP_META if clean.get(k) is not None},
            }
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
