"""From what yt-dlp said about URLs to video rows: shared by `heaters ingest` and the follow step.

A probe result (`heaters.stages.probe_child`) is a single video or a playlist of entries; the
entries pass the pure selection (`heaters.domain.entries`: --since, --limit, seen before) and each
becomes its own video row, one row per identity.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session

from heaters.domain.entries import Selection, select
from heaters.domain.sources import InvalidSource, clean_title, parse_source
from heaters.runner.context import RunContext
from heaters.settings import ytdlp_params
from heaters.stages import download
from heaters.store import follows, videos


@dataclass
class Registered:
    """What one URL (or file) became."""

    source: str
    kind: str  # video | playlist | error
    title: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)  # id, source, created, state, key…
    selection: Selection | None = None
    entries: int = 0
    error: str | None = None
    skipped: int = 0  # entries whose URL is not http(s)


def row_dict(row: Any, created: bool, source: str, playlist: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "source": source,
        "created": created,
        "state": row.state,
        "key": row.source_key,
        "title": row.title,
        "playlist": playlist,
        "follow_id": row.follow_id,
    }


def register_result(
    session: Session,
    result: dict[str, Any],
    *,
    since: str | None = None,
    limit: int | None = None,
    follow_id: int | None = None,
) -> Registered:
    """Register the video, or the selected entries of the playlist, `result` describes; a follow's
    entries are all marked seen (those past --limit or before --since too: they never come)."""
    url = result["url"]
    if result["kind"] == "video":
        info = result["video"]
        row, created = videos.register(
            session, parse_source(info["url"]), key=info["key"], meta=info, follow_id=follow_id
        )
        if follow_id is not None:
            follows.mark_seen(session, follow_id, [info["key"]])
        return Registered(url, "video", info.get("title"), [row_dict(row, created, url, None)])
    entries = list(result["entries"])
    seen = follows.seen(session, follow_id) if follow_id is not None else set()
    chosen = select(entries, since, limit, seen)
    out = Registered(url, "playlist", clean_title(result.get("title")), selection=chosen,
                     entries=len(entries))  # fmt: skip
    for entry in chosen.chosen:
        try:
            source = parse_source(entry["url"])
        except InvalidSource:
            out.skipped += 1
            continue
        row, created = videos.register(
            session, source, key=entry["key"], meta=entry, follow_id=follow_id
        )
        out.rows.append(row_dict(row, created, source.value, url))
    if follow_id is not None:
        follows.mark_seen(session, follow_id, [e["key"] for e in entries])
    return out


def probe(ctx_settings: Any, urls: list[str], limits: download.Limits, **kw: Any) -> list[dict]:
    """yt-dlp's view of `urls` (one watched child for all); a scratch folder for its checks."""
    work = Path(tempfile.mkdtemp(prefix="heaters-probe-"))
    try:
        return download.probe_urls(urls, work, ytdlp_params(ctx_settings), limits, **kw)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def download_limits(ctx: RunContext) -> download.Limits:
    """The operator's limits on one download (and on yt-dlp's look at a URL)."""
    s = ctx.settings
    return download.Limits(
        stall_s=s.download_stall_s,
        timeout_s=s.download_timeout_s,
        max_bytes=int(s.max_source_mb * (1 << 20)),
        min_free_bytes=int(s.min_free_mb * (1 << 20)),
    )


def reschedule_follows(ctx: RunContext) -> None:
    with ctx.store.tx() as session:
        follows.reschedule(session, ctx.settings.follow_every_h * 3600)
