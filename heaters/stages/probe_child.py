"""The probe half of the yt-dlp child (`fetch_child`, mode `probe`): what each URL is.

For every URL: a single video (its identity and whatever metadata a flat extraction gives), or a
playlist (a channel, a playlist, an RSS feed, a page with several videos) with its entries, each
with its own identity, URL, title and date. Nothing is downloaded. A URL whose extractor only
returns videos is answered offline (its identity is in the URL). Pages yt-dlp does not read as
playlists get two fallbacks of ours: an Atom feed (`<entry>` links, as YouTube's channel feeds)
and an HTML page of links to videos (`<a href>` to media files or to sites yt-dlp knows).
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from heaters.stages.ytdlp import _extractors, extractor_of, from_job, url_key

MEDIA_EXT = ("mp4", "m4v", "webm", "mkv", "mov", "avi", "ts", "m3u8", "mpd", "flv", "mpg", "mpeg")
ATOM = "{http://www.w3.org/2005/Atom}"
YT = "{http://www.youtube.com/xml/schemas/2015}"
MEDIA = "{http://search.yahoo.com/mrss/}"
MAX_DEPTH = 2  # a channel's tabs are playlists of playlists


def _return_type(url: str) -> str:
    """'video', 'playlist' or 'any' for the first extractor that takes `url` (generic: any)."""
    for ie in _extractors():
        try:
            if ie.suitable(url):
                return getattr(ie, "_RETURN_TYPE", None) or "any"
        except Exception:  # noqa: BLE001
            continue
    return "any"


def _date(info: dict[str, Any]) -> str | None:
    """YYYYMMDD from upload_date, else from a timestamp (UTC)."""
    date = info.get("upload_date") or info.get("release_date")
    if isinstance(date, str) and re.fullmatch(r"\d{8}", date):
        return date
    for key in ("timestamp", "release_timestamp"):
        ts = info.get(key)
        if isinstance(ts, int | float):
            return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y%m%d")
    return None


def _entry_url(entry: dict[str, Any]) -> str | None:
    from yt_dlp.utils import unsmuggle_url

    url = entry.get("url")
    if not url and entry.get("formats"):
        url = entry["formats"][0].get("url")
    if not url:
        url = entry.get("webpage_url")
    if not isinstance(url, str):
        return None
    return unsmuggle_url(url)[0]


def _describe(info: dict[str, Any], url: str) -> dict[str, Any]:
    """What we keep of a video's (flat) info: its identity, URL and metadata."""
    ie_key, vid = info.get("ie_key") or info.get("extractor_key"), info.get("id")
    if ie_key and vid and str(ie_key).lower() not in ("generic", "html5mediaembed"):
        key = f"{str(ie_key).lower()}:{vid}"
    else:
        key = url_key(url)
    chapters = [
        {"start_time": c.get("start_time"), "title": c.get("title")}
        for c in info.get("chapters") or []
        if isinstance(c.get("start_time"), int | float)
    ]
    return {
        "key": key,
        "url": url,
        "title": info.get("title"),
        "uploader": info.get("uploader") or info.get("channel"),
        "upload_date": _date(info),
        "duration": info.get("duration"),
        "description": info.get("description"),
        "chapters": chapters or None,
    }


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.title: str | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)
        self._in_title = tag == "title"

    def handle_data(self, data: str) -> None:
        if self._in_title and self.title is None and data.strip():
            self.title = data.strip()


def _media_path(url: str) -> bool:
    """A link straight to a media file (or an HLS/DASH manifest): one video, nothing to list."""
    return urlsplit(url).path.lower().rsplit(".", 1)[-1] in MEDIA_EXT


def _videoish(url: str) -> bool:
    if urlsplit(url).scheme not in ("http", "https"):
        return False
    path = urlsplit(url).path.lower()
    if path.rsplit(".", 1)[-1] in MEDIA_EXT:
        return True
    return extractor_of(url) is not None and _return_type(url) == "video"


def _fallback(ydl: Any, url: str) -> dict[str, Any] | None:
    """An Atom feed or an HTML page of video links, as a flat playlist; None if neither."""
    with ydl.urlopen(url) as response:
        body = response.read(8 << 20)
        final = response.url
    text = body.decode("utf-8", "replace")
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        root = None
    if root is not None and root.tag == f"{ATOM}feed":
        entries = []
        for item in root.findall(f"{ATOM}entry"):
            links = item.findall(f"{ATOM}link")
            href = next((ln.get("href") for ln in links if ln.get("rel") == "enclosure"), None)
            href = href or next(
                (ln.get("href") for ln in links if ln.get("rel") in (None, "alternate")), None
            )
            if not href:
                continue
            published = item.findtext(f"{ATOM}published") or item.findtext(f"{ATOM}updated")
            ts = None
            if published:
                try:
                    ts = dt.datetime.fromisoformat(published.replace("Z", "+00:00")).timestamp()
                except ValueError:
                    ts = None
            video_id = item.findtext(f"{YT}videoId")
            entries.append(
                {
                    "url": urljoin(final, href),
                    "title": item.findtext(f"{ATOM}title"),
                    "timestamp": ts,
                    "uploader": item.findtext(f"{ATOM}author/{ATOM}name"),
                    "description": item.findtext(f"{MEDIA}group/{MEDIA}description"),
                    **({"ie_key": "Youtube", "id": video_id} if video_id else {}),
                }
            )
        return {"_type": "playlist", "title": root.findtext(f"{ATOM}title"), "entries": entries}
    parser = _Links()
    parser.feed(text)
    found = list(dict.fromkeys(urljoin(final, h) for h in parser.links))
    videos = [u for u in found if _videoish(u)]
    if not videos:
        return None
    return {"_type": "playlist", "title": parser.title, "entries": [{"url": u} for u in videos]}


def is_list(entry: dict[str, Any], url: str) -> bool:
    """Is this flat entry itself a list (a channel's tab, a playlist in a channel's playlists)?
    By the extractor it names (or that takes its URL): one of a site's that returns playlists.
    The generic extractor's entries (feeds, pages) are videos: never opened here."""
    if entry.get("_type") == "playlist":
        return True
    if entry.get("_type") not in ("url", "url_transparent"):
        return False
    key = entry.get("ie_key")
    if key:
        ie = next((e for e in _extractors() if e.ie_key() == key), None)
        kind = (getattr(ie, "_RETURN_TYPE", None) or "any") if ie is not None else "video"
    else:
        kind = _return_type(url) if extractor_of(url) is not None else "video"
    return kind in ("playlist", "any")


def _entries(
    ydl: Any, info: dict[str, Any], alive: Callable[[], None], depth: int, limit: int | None
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in info.get("entries") or []:
        alive()
        if entry is None:
            continue
        url = _entry_url(entry)
        if url is None:
            continue
        nested = is_list(entry, url)
        if nested and depth < MAX_DEPTH:  # a channel's tabs: their videos are the entries
            inner = ydl.extract_info(url, download=False)
            if inner:
                out += _entries(ydl, ydl.sanitize_info(inner), alive, depth + 1, limit)
        elif entry.get("_type") != "playlist":
            out.append(_describe(entry, url))
        if limit is not None and len(out) >= limit:
            break
    return out


def probe_one(
    ydl: Any, url: str, alive: Callable[[], None], limit: int | None, since: str | None
) -> dict[str, Any]:
    from yt_dlp.utils import DownloadError, UnsupportedError

    if _media_path(url) or (extractor_of(url) is not None and _return_type(url) == "video"):
        # one video, by its URL alone: a media file's link, or a site's video page
        return {"kind": "video", "video": {**_describe({}, url), "offline": True}}
    try:
        info = ydl.extract_info(url, download=False)
    except DownloadError as exc:
        if not isinstance(getattr(exc, "exc_info", (None, None))[1], UnsupportedError):
            raise
        info = _fallback(ydl, url)
        if info is None:
            raise
    if info is None:
        raise DownloadError("yt-dlp returned nothing for this URL")
    info = ydl.sanitize_info(info)
    if info.get("_type") != "playlist":
        return {"kind": "video", "video": _describe(info, url)}
    entries = _entries(ydl, info, alive, 1, limit if since is None else None)
    if since is not None:  # entries the flat listing gave no date: ask for their page
        for e in entries:
            if e["upload_date"] is None and not _media_path(e["url"]):
                try:
                    full = ydl.extract_info(e["url"], download=False, process=False)
                    e["upload_date"] = _date(full or {})
                except DownloadError:
                    continue
                alive()
    return {"kind": "playlist", "title": info.get("title"), "entries": entries}


def probe_all(
    job: dict[str, Any],
    alive: Callable[[], None],
    logger: Any,
    answer: Callable[[dict[str, Any]], None],
) -> None:
    """Probe each URL of the job; `answer` each result as soon as it is known (the parent
    restarts us past a URL that hangs, keeping the answers it has)."""
    import yt_dlp

    from heaters.stages.fetch_child import _retryable

    params = {
        **from_job(job.get("ydl") or {}),
        "extract_flat": "in_playlist",
        "skip_download": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "socket_timeout": float(job.get("socket_timeout", 30)),
        "logger": logger(alive),
        "lazy_playlist": False,
    }
    with yt_dlp.YoutubeDL(params) as ydl:
        for url in job["urls"]:
            try:
                answer(
                    {"url": url, **probe_one(ydl, url, alive, job.get("limit"), job.get("since"))}
                )
            except Exception as exc:  # noqa: BLE001 - one line per URL for the parent
                message = str(exc).removeprefix("ERROR: ")
                answer(
                    {"url": url, "kind": "error", "error": message,
                     "retryable": _retryable(message)}
                )  # fmt: skip
